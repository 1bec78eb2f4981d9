"""Shapeset: generated greyscale triangles, squares and ellipses (in the spirit of Erhan & Glorot's
Shapeset-3x2), so experiments can run on a task whose difficulty is known and needs no download.

Each image shows one shape of random position, size, rotation and grey level on a background of a
different grey level. Rasterisation is vectorised: inside-tests evaluated on a 2x2 supersampled pixel
grid for a whole chunk of images at once, then box-filtered (cheap antialiasing).
"""

from __future__ import annotations

import numpy as np

from desktop_app.core.config import DataConfig
from desktop_app.core.data.splits import ImagePool

SHAPE_NAMES = ("triangle", "square", "ellipse")
TRIANGLE, SQUARE, ELLIPSE = range(3)
MIN_CONTRAST = 0.3  # |foreground - background| grey level
RADIUS_RANGE = (0.2, 0.4)  # bounding-circle radius as a fraction of the image side
_CHUNK = 1024  # images rasterised at once (bounds memory: chunk * (2*side)^2 floats per temporary)


def coverage(
    kind: np.ndarray,
    cx: np.ndarray,
    cy: np.ndarray,
    radius: np.ndarray,
    theta: np.ndarray,
    aspect: np.ndarray,
    size: int,
    supersample: int = 2,
) -> np.ndarray:
    """Fraction of each pixel covered by each shape, (N, size, size) float32 in [0, 1].

    ``radius`` is the shape's circumradius in pixels (the ellipse's semi-major axis), ``theta`` its
    rotation in radians, ``aspect`` the ellipse's minor/major ratio (ignored for other shapes). Pixel
    (i, j) spans [j, j+1) x [i, i+1) in (x, y).
    """
    s = supersample
    t = (np.arange(size * s, dtype=np.float32) + 0.5) / s
    n = len(kind)
    inside = np.empty((n, size * s, size * s), dtype=bool)
    for shape in (TRIANGLE, SQUARE, ELLIPSE):
        sel = np.flatnonzero(kind == shape)
        if len(sel):
            inside[sel] = _inside(shape, t, cx[sel], cy[sel], radius[sel], theta[sel], aspect[sel])
    return inside.reshape(n, size, s, size, s).mean(axis=(2, 4), dtype=np.float32)


def _inside(
    shape: int,
    t: np.ndarray,
    cx: np.ndarray,
    cy: np.ndarray,
    radius: np.ndarray,
    theta: np.ndarray,
    aspect: np.ndarray,
) -> np.ndarray:
    """Inside-test of one shape kind on the sample grid ``t`` x ``t``, (n, len(t), len(t)) bool."""
    f32 = np.float32
    dx = t[None, None, :] - cx.astype(f32)[:, None, None]
    dy = t[None, :, None] - cy.astype(f32)[:, None, None]
    c = np.cos(theta).astype(f32)[:, None, None]
    sn = np.sin(theta).astype(f32)[:, None, None]
    u = c * dx + sn * dy  # shape-local coordinates (the grid rotated by -theta)
    v = c * dy - sn * dx
    r = radius.astype(f32)[:, None, None]
    if shape == SQUARE:  # circumradius r -> half side r / sqrt(2)
        return np.maximum(np.abs(u), np.abs(v)) <= r / f32(np.sqrt(2.0))
    if shape == ELLIPSE:
        b = r * aspect.astype(f32)[:, None, None]
        return (u / r) ** 2 + (v / b) ** 2 <= 1.0
    # Equilateral triangle, centroid at the origin: inside all three edges, each at distance r / 2.
    d = v  # edge with its outward normal at 90 degrees
    for phi in (np.pi / 2 + 2 * np.pi / 3, np.pi / 2 + 4 * np.pi / 3):
        d = np.maximum(d, f32(np.cos(phi)) * u + f32(np.sin(phi)) * v)
    return d <= r / 2


def generate_shapeset(count: int, size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Images (count, 1, size, size) float32 in [0, 1] and labels (count,) int64, classes balanced."""
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(count) % len(SHAPE_NAMES)).astype(np.int64)
    radius = rng.uniform(*RADIUS_RANGE, count) * size
    cx = rng.uniform(radius, size - radius)  # the whole bounding circle stays inside the image
    cy = rng.uniform(radius, size - radius)
    axis_aligned = rng.random(count) < 0.5  # half of the squares are axis-aligned, half rotated
    theta = rng.uniform(0.0, 2 * np.pi, count)
    theta = np.where((labels == SQUARE) & axis_aligned, 0.0, theta)
    aspect = rng.uniform(0.5, 1.0, count)
    lo = rng.uniform(0.0, 1.0 - MIN_CONTRAST, count)
    hi = rng.uniform(lo + MIN_CONTRAST, 1.0)
    bright_shape = rng.random(count) < 0.5
    fg = np.where(bright_shape, hi, lo).astype(np.float32)
    bg = np.where(bright_shape, lo, hi).astype(np.float32)

    images = np.empty((count, 1, size, size), dtype=np.float32)
    for start in range(0, count, _CHUNK):
        sl = slice(start, min(start + _CHUNK, count))
        cov = coverage(labels[sl], cx[sl], cy[sl], radius[sl], theta[sl], aspect[sl], size)
        images[sl, 0] = bg[sl, None, None] + (fg[sl] - bg[sl])[:, None, None] * cov
    np.clip(images, 0.0, 1.0, out=images)
    return images, labels


def load_shapeset_pool(cfg: DataConfig) -> ImagePool:
    images, labels = generate_shapeset(cfg.shapeset_count, cfg.image_size, cfg.split_seed)
    return ImagePool(images=images, labels=labels, n_classes=len(SHAPE_NAMES))
