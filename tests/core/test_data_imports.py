"""npz and image-folder imports: accepted layouts, scaling, official test sets, and clear errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from desktop_app.core.config import ConfigError, DataConfig
from desktop_app.core.data import load_data
from desktop_app.core.data.imports import pool_from_npz

SMALL = {"n_test": 20, "n_valid": 20, "n_labelled": 30, "probe_size": 10}


def _npz(tmp_path: Path, name: str = "d.npz", **arrays) -> Path:
    p = tmp_path / name
    np.savez(p, **arrays)
    return p


def _err(cfg: DataConfig) -> ConfigError:
    with pytest.raises(ConfigError) as err:
        load_data(cfg)
    return err.value


def test_npz_uint8_nhw_is_scaled_and_split(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (100, 5, 7), dtype=np.uint8)
    y = np.arange(100) % 4
    p = _npz(tmp_path, x=x, y=y)
    s = load_data(DataConfig(name="npz", path=str(p), **SMALL))
    assert s.input_shape == (1, 5, 7) and s.n_classes == 4
    assert len(s.train_x) == 30 and len(s.unlabelled_x) == 60 and len(s.test_x) == 20
    # every loaded image is one of the file's images /255, with its label
    lookup = {row.tobytes(): lab for row, lab in zip(x, y, strict=True)}
    for img, lab in zip(s.train_x, s.train_y, strict=True):
        assert lookup[(img[0].numpy() * 255).round().astype(np.uint8).tobytes()] == int(lab)


def test_npz_alternative_keys_nchw_float_and_flattened(tmp_path):
    x = np.random.default_rng(1).random((80, 3, 4, 4)).astype(np.float64)
    p = _npz(tmp_path, images=x, labels=np.arange(80) % 2)
    pool = pool_from_npz(p)
    assert pool.images.shape == (80, 3, 4, 4) and pool.images.dtype == np.float32
    assert np.allclose(pool.images, x)
    flat = _npz(tmp_path, "flat.npz", x=np.random.default_rng(2).random((80, 36)), y=np.zeros(80))
    s = load_data(DataConfig(name="npz", path=str(flat), **SMALL))
    assert s.input_shape == (1, 6, 6) and s.n_classes == 1 and s.train_y.dtype == torch.int64


def test_npz_official_test_set(tmp_path):
    x = np.full((60, 4, 4), 10, np.uint8)
    xt = np.full((25, 4, 4), 200, np.uint8)
    p = _npz(tmp_path, x=x, y=np.arange(60) % 3, x_test=xt, y_test=np.arange(25) % 5)
    s = load_data(DataConfig(name="npz", path=str(p), **SMALL))
    assert torch.allclose(s.test_x, torch.full((20, 1, 4, 4), 200 / 255))
    assert torch.allclose(s.valid_x, torch.full((20, 1, 4, 4), 10 / 255))
    assert len(s.unlabelled_x) == 40 and s.n_classes == 5  # labels up to 4 in the test set


@pytest.mark.parametrize(
    ("arrays", "needle"),
    [
        ({"a": np.zeros((10, 4, 4)), "b": np.zeros(10)}, "expected arrays 'x' (or 'images')"),
        ({"x": np.full((10, 4, 4), 2.0), "y": np.zeros(10)}, "must lie in [0, 1]"),
        ({"x": np.full((10, 4, 4), -0.5), "y": np.zeros(10)}, "must lie in [0, 1]"),
        ({"x": np.zeros((10, 4, 4), np.uint8), "y": np.zeros(9)}, "10 images but 9 labels"),
        ({"x": np.zeros((10, 15), np.uint8), "y": np.zeros(10)}, "D to be a square"),
        ({"x": np.zeros((10, 2, 2, 2, 2), np.uint8), "y": np.zeros(10)}, "expected images (N, H, W)"),
        ({"x": np.zeros((10, 4, 4), np.int32), "y": np.zeros(10)}, "uint8 (0..255) or float"),
        ({"x": np.zeros((10, 4, 4), np.uint8), "y": np.full(10, 0.5)}, "labels must be integers"),
        ({"x": np.zeros((10, 4, 4), np.uint8), "y": -np.ones(10, int)}, "labels must be >= 0"),
        (
            {
                "x": np.zeros((10, 4, 4), np.uint8),
                "y": np.zeros(10),
                "x_test": np.zeros((5, 3, 3), np.uint8),
                "y_test": np.zeros(5),
            },
            "x_test images are (1, 3, 3) but x images are (1, 4, 4)",
        ),
        ({"x": np.zeros((10, 4, 4), np.uint8), "y": np.zeros(10), "x_test": np.zeros((5, 4, 4))}, "together"),
    ],
)
def test_npz_bad_contents_name_data_path(tmp_path, arrays, needle):
    p = _npz(tmp_path, **arrays)
    e = _err(DataConfig(name="npz", path=str(p), **SMALL))
    assert e.field == "data.path" and needle in e.message, e.message


def test_npz_missing_or_corrupt_file(tmp_path):
    e = _err(DataConfig(name="npz", path=str(tmp_path / "nope.npz"), **SMALL))
    assert e.field == "data.path" and "not found" in e.message
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"this is not a zip file")
    e = _err(DataConfig(name="npz", path=str(bad), **SMALL))
    assert e.field == "data.path" and "not a readable .npz" in e.message


# ---------------------------------------------------------------------------------------------------------
# image folder
# ---------------------------------------------------------------------------------------------------------

try:
    from PIL import Image
except ImportError:  # pragma: no cover - Pillow comes with the app's dependencies
    Image = None
needs_pil = pytest.mark.skipif(Image is None, reason="Pillow not installed")


def _write_images(root: Path, classes: dict[str, int], size: tuple[int, int] = (8, 6)) -> None:
    """``classes`` name -> count; image k of class c has a constant grey level 10 * (index of c) + k."""
    for ci, (cname, count) in enumerate(sorted(classes.items())):
        (root / cname).mkdir(parents=True, exist_ok=True)
        for k in range(count):
            grey = 10 * ci + k
            if k % 3 == 0:  # some RGB PNGs, converted to grey on load
                im = Image.new("RGB", size, (grey, grey, grey))
                im.save(root / cname / f"{k:03d}.png")
            elif k % 3 == 1:
                Image.new("L", size, grey).save(root / cname / f"{k:03d}.png")
            else:
                Image.new("L", size, grey).save(root / cname / f"{k:03d}.jpg", quality=100)


@needs_pil
def test_image_folder_loads_grey_images_with_sorted_class_labels(tmp_path):
    _write_images(tmp_path / "set", {"cat": 25, "ant": 25, "bee": 25})
    (tmp_path / "set" / "notes.txt").write_text("ignored")
    s = load_data(DataConfig(name="image-folder", path=str(tmp_path / "set"), **SMALL))
    assert s.n_classes == 3 and s.input_shape == (1, 6, 8)  # PIL size is (W, H)
    assert len(s.train_x) == 30 and len(s.unlabelled_x) == 35
    for x, y in zip(s.test_x, s.test_y, strict=True):
        grey = float(x.mean()) * 255  # ant -> 0, bee -> 1, cat -> 2; grey = 10 * label + k, k < 25
        assert 10 * int(y) - 1 <= grey <= 10 * int(y) + 25
        assert float(x.std()) < 1e-6


@needs_pil
def test_image_folder_train_test_layout(tmp_path):
    _write_images(tmp_path / "set" / "train", {"a": 30, "b": 30})
    _write_images(tmp_path / "set" / "test", {"a": 12, "b": 12})
    s = load_data(DataConfig(name="image-folder", path=str(tmp_path / "set"), **SMALL))
    assert len(s.unlabelled_x) == 40  # 60 training images - 20 valid; test comes from test/
    assert s.test_y.tolist().count(0) + s.test_y.tolist().count(1) == 20


@needs_pil
def test_image_folder_odd_size_names_the_file_and_both_sizes(tmp_path):
    _write_images(tmp_path / "set", {"a": 5, "b": 5})
    Image.new("L", (9, 9), 0).save(tmp_path / "set" / "b" / "zzz.png")
    e = _err(DataConfig(name="image-folder", path=str(tmp_path / "set"), **SMALL))
    assert e.field == "data.path" and "zzz.png" in e.message and "9x9" in e.message and "8x6" in e.message


@needs_pil
def test_image_folder_structure_errors(tmp_path):
    e = _err(DataConfig(name="image-folder", path=str(tmp_path / "missing"), **SMALL))
    assert e.field == "data.path" and "not a folder" in e.message
    (tmp_path / "flat").mkdir()
    Image.new("L", (4, 4), 0).save(tmp_path / "flat" / "x.png")
    e = _err(DataConfig(name="image-folder", path=str(tmp_path / "flat"), **SMALL))
    assert "no sub-folders" in e.message
    _write_images(tmp_path / "holey", {"a": 3})
    (tmp_path / "holey" / "b").mkdir()
    e = _err(DataConfig(name="image-folder", path=str(tmp_path / "holey"), **SMALL))
    assert "holds no PNG or JPEG" in e.message and "holey/b" in e.message.replace("\\", "/")
    _write_images(tmp_path / "broken", {"a": 3})
    (tmp_path / "broken" / "a" / "zz.png").write_bytes(b"not a png")
    e = _err(DataConfig(name="image-folder", path=str(tmp_path / "broken"), **SMALL))
    assert "zz.png" in e.message and "not a readable image" in e.message
