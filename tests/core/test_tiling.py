"""tiling: filters -> one mosaic image (pure numpy)."""

import numpy as np
import pytest

from desktop_app.core import tiling


def test_dense_filters_take_the_input_shape_and_tile_row_by_row():
    w = np.arange(5 * 12, dtype=np.float32).reshape(5, 12) - 30  # 5 filters of a (1, 3, 4) input
    tiles = tiling.filters_to_tiles(w, (1, 3, 4))
    assert tiles.shape == (5, 3, 4)
    img = tiling.mosaic(tiles, pad=1)
    rows, cols = tiling.grid_shape(5, 3, 4)
    assert (rows, cols) == (3, 2)  # 3-high, 4-wide tiles: fewer columns keep the mosaic square
    assert img.shape == (rows * 4 - 1, cols * 5 - 1)
    assert img.dtype == np.float32 and img.flags.c_contiguous
    for i in range(5):
        r, c = tiling.tile_origin(i, 5, 3, 4)
        assert np.array_equal(img[r : r + 3, c : c + 4], tiles[i])
    assert np.isnan(img[3, :]).all()  # padding row between tile rows
    assert np.isnan(img[8:, 5:]).all()  # the empty sixth cell


def test_normalisation_is_symmetric_around_zero():
    tiles = np.stack([np.full((2, 2), 0.5), np.array([[-2.0, 1.0], [0.0, 0.5]])]).astype(np.float32)
    per_tile, levels = tiling.normalise(tiles, "per-tile")
    assert levels == (-1.0, 1.0)
    np.testing.assert_allclose(per_tile[0], 1.0)
    np.testing.assert_allclose(per_tile[1], tiles[1] / 2.0)
    glob, levels = tiling.normalise(tiles, "global")
    assert levels == (-2.0, 2.0)
    np.testing.assert_array_equal(glob, tiles)
    with pytest.raises(ValueError):
        tiling.normalise(tiles, "bogus")


def test_conv_kernels_use_mean_or_first_input_channel():
    w = np.random.default_rng(0).normal(size=(8, 3, 5, 5)).astype(np.float32)
    np.testing.assert_allclose(tiling.filters_to_tiles(w, (), "mean"), w.mean(axis=1), rtol=1e-6)
    np.testing.assert_array_equal(tiling.filters_to_tiles(w, (), "first"), w[:, 0])


def test_unknown_input_shape_falls_back_to_a_square():
    w = np.zeros((3, 49), dtype=np.float32)
    assert tiling.filters_to_tiles(w, (1, 28, 28)).shape == (3, 7, 7)


def test_a_thousand_filters_make_one_image():
    w = np.random.default_rng(1).normal(size=(1000, 784)).astype(np.float32)
    img, levels, tiles = tiling.tile_filters(w, (1, 28, 28), "global")
    rows, cols = tiling.grid_shape(1000, 28, 28)
    assert img.shape == (rows * 29 - 1, cols * 29 - 1)
    assert levels == (-float(np.abs(w).max()), float(np.abs(w).max()))
