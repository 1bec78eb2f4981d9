"""Tile first-layer filters into one mosaic image (pure numpy).

One image for all filters keeps the filters panel cheap: a single ImageItem upload instead of one item per
filter, so 1,000 filters redraw as fast as ten.
"""

from __future__ import annotations

import math

import numpy as np

NORMALISATIONS = ("per-tile", "global")
CHANNEL_MODES = ("mean", "first")


def filters_to_stack(weights: np.ndarray, input_shape: tuple[int, ...] = ()) -> np.ndarray:
    """Filters as (N, C, h, w) float32, keeping every input channel.

    Dense weights (units, fan_in) are reshaped to the input's (C, H, W) (or a square if that does not fit);
    conv kernels (channels, in_ch, k, k) stay as they are.
    """
    w = np.asarray(weights, dtype=np.float32)
    if w.ndim == 4:
        return w
    if w.ndim == 2:
        n, fan_in = w.shape
        shape = tuple(int(s) for s in input_shape)
        if len(shape) == 2:
            shape = (1, *shape)
        if len(shape) != 3 or math.prod(shape) != fan_in:
            side = math.isqrt(fan_in)
            shape = (1, side, side) if side * side == fan_in else (1, 1, fan_in)
        return w.reshape(n, *shape)
    if w.ndim == 3:
        return w[:, None]
    raise ValueError(f"cannot tile filters of shape {w.shape}")


def filters_to_tiles(weights: np.ndarray, input_shape: tuple[int, ...] = (), channels: str = "mean") -> np.ndarray:
    """Filters as 2-D tiles (N, h, w), float32 (see ``filters_to_stack``).

    Several input channels are averaged ("mean") or the first one is shown ("first"), so colour inputs still
    give one grey tile per filter.
    """
    stack = filters_to_stack(weights, input_shape)
    tiles = stack[:, 0] if channels == "first" else stack.mean(axis=1)
    return np.ascontiguousarray(tiles, dtype=np.float32)


def grid_shape(n: int, tile_h: int, tile_w: int) -> tuple[int, int]:
    """(rows, cols) for n tiles so the mosaic comes out roughly square."""
    if n <= 0:
        return 0, 0
    cols = max(1, math.ceil(math.sqrt(n * tile_h / max(tile_w, 1))))
    return math.ceil(n / cols), cols


def normalise(tiles: np.ndarray, mode: str = "per-tile") -> tuple[np.ndarray, tuple[float, float]]:
    """Scale symmetrically around 0: "per-tile" divides each tile by its own max |w| (levels -1..1, shapes
    comparable); "global" keeps the weights as they are with levels +-max |w| (magnitudes comparable)."""
    if mode not in NORMALISATIONS:
        raise ValueError(f"normalisation must be one of {NORMALISATIONS}, not {mode!r}")
    t = np.asarray(tiles, dtype=np.float32)
    if mode == "per-tile":
        scale = np.abs(t).reshape(len(t), -1).max(axis=1) if len(t) else np.zeros(0, np.float32)
        scale = np.where(scale > 0, scale, 1.0).astype(np.float32)
        return t / scale[:, None, None], (-1.0, 1.0)
    m = float(np.abs(t).max()) if t.size else 0.0
    m = m if m > 0 else 1.0
    return t, (-m, m)


def mosaic(tiles: np.ndarray, pad: int = 1, cols: int | None = None, fill: float = np.nan) -> np.ndarray:
    """Tiles (N, h, w) laid out row by row into one float32 C-contiguous (H, W) image, separated by pad
    pixels of ``fill`` (NaN: drawn transparent, so the background shows as a grid)."""
    t = np.asarray(tiles, dtype=np.float32)
    n, h, w = t.shape
    if n == 0:
        return np.zeros((0, 0), dtype=np.float32)
    rows, c = grid_shape(n, h, w) if cols is None else (math.ceil(n / cols), cols)
    cell = np.full((rows * c, h + pad, w + pad), fill, dtype=np.float32)
    cell[:n, :h, :w] = t
    img = cell.reshape(rows, c, h + pad, w + pad).transpose(0, 2, 1, 3).reshape(rows * (h + pad), c * (w + pad))
    return np.ascontiguousarray(img[: rows * (h + pad) - pad, : c * (w + pad) - pad])


def tile_filters(
    weights: np.ndarray,
    input_shape: tuple[int, ...] = (),
    normalisation: str = "per-tile",
    channels: str = "mean",
    pad: int = 1,
) -> tuple[np.ndarray, tuple[float, float], np.ndarray]:
    """Weights -> (mosaic image, levels, normalised tiles): everything the filters panel draws."""
    tiles, levels = normalise(filters_to_tiles(weights, input_shape, channels), normalisation)
    return mosaic(tiles, pad=pad), levels, tiles


def tile_origin(index: int, n: int, tile_h: int, tile_w: int, pad: int = 1) -> tuple[int, int]:
    """(row, col) pixel of tile ``index``'s top-left corner in the mosaic (for hover and tests)."""
    _, cols = grid_shape(n, tile_h, tile_w)
    r, c = divmod(index, cols)
    return r * (tile_h + pad), c * (tile_w + pad)
