"""Shapeset: geometry of the rasteriser, balance, per-class differences, determinism and speed."""

from __future__ import annotations

import math

import numpy as np
import torch

from desktop_app.core.config import DataConfig
from desktop_app.core.data import load_data
from desktop_app.core.data.shapeset import ELLIPSE, SQUARE, TRIANGLE, coverage, generate_shapeset


def _one(kind: int, r: float, theta: float = 0.0, aspect: float = 1.0, size: int = 128) -> np.ndarray:
    a = np.array
    return coverage(a([kind]), a([size / 2]), a([size / 2]), a([r]), a([theta]), a([aspect]), size)[0]


def test_rasterised_areas_match_geometry():
    r = 50.0
    assert abs(_one(SQUARE, r).sum() - 2 * r * r) / (2 * r * r) < 0.02
    assert abs(_one(SQUARE, r, theta=0.4).sum() - 2 * r * r) / (2 * r * r) < 0.02
    tri = 3 * math.sqrt(3) / 4 * r * r
    assert abs(_one(TRIANGLE, r, theta=1.0).sum() - tri) / tri < 0.02
    ell = math.pi * r * (0.5 * r)
    assert abs(_one(ELLIPSE, r, theta=0.3, aspect=0.5).sum() - ell) / ell < 0.02


def test_axis_aligned_square_has_sharp_edges_and_antialiased_rotated_edges():
    # circumradius 10*sqrt(2) centred at 32: the square spans exactly pixels 22..41
    sq = _one(SQUARE, 10 * math.sqrt(2), size=64)
    assert sq[22:42, 22:42].min() == 1.0 and sq.sum() == 400.0
    rot = _one(SQUARE, 20.0, theta=0.3, size=64)
    partial = ((rot > 0) & (rot < 1)).sum()
    assert partial > 20  # soft edge pixels from the 2x2 supersampling


def test_shapeset_balanced_in_range_and_distinct_per_class():
    x, y = generate_shapeset(1500, 28, seed=0)
    assert x.shape == (1500, 1, 28, 28) and x.dtype == np.float32
    assert x.min() >= 0.0 and x.max() <= 1.0
    assert np.bincount(y).tolist() == [500, 500, 500]
    # corners are background (the shape's bounding circle stays inside); contrast >= 0.3
    bg = x[:, 0, 0, 0]
    contrast = np.abs(x[:, 0] - bg[:, None, None]).max(axis=(1, 2))
    assert contrast.min() > 0.29
    # normalised foreground mask: its mean area ranks triangle < square < ellipse as geometry says
    mask = np.abs(x[:, 0] - bg[:, None, None]) / contrast[:, None, None]
    area = [mask[y == k].sum(axis=(1, 2)).mean() for k in range(3)]
    assert area[TRIANGLE] < area[SQUARE] < area[ELLIPSE]
    means = [mask[y == k].mean(axis=0) for k in range(3)]
    for i in range(3):
        for j in range(i + 1, 3):
            assert np.abs(means[i] - means[j]).mean() > 0.01


def test_shapeset_loader_is_deterministic_by_split_seed():
    cfg = DataConfig(name="shapeset", shapeset_count=600, n_test=100, n_valid=100, n_labelled=200, probe_size=50)
    a, b = load_data(cfg), load_data(cfg)
    c = load_data(DataConfig(**{**cfg.__dict__, "split_seed": 1}))
    assert a.n_classes == 3 and a.input_shape == (1, 28, 28)
    assert len(a.train_x) == 200 and len(a.unlabelled_x) == 400
    assert torch.equal(a.train_x, b.train_x) and torch.equal(a.test_y, b.test_y)
    assert not torch.equal(a.train_x, c.train_x)


def test_shapeset_image_size():
    x, _ = generate_shapeset(200, 16, seed=2)
    assert x.shape == (200, 1, 16, 16)
