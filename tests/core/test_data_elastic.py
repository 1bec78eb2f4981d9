"""Elastic + affine augment: shape, range, change, determinism, identity limit, speed."""

from __future__ import annotations

import torch

from desktop_app.core.config import DataConfig
from desktop_app.core.data import ElasticAugment, elastic_affine, load_data
from desktop_app.core.data.elastic import gaussian_kernel1d, smooth_fields


def _batch() -> torch.Tensor:
    return load_data(DataConfig()).train_x[:64]


def test_elastic_dataset_is_the_base_split_plus_an_augment():
    cfg = DataConfig(name="elastic", base="digits", elastic_alpha=20.0)
    s, base = load_data(cfg), load_data(DataConfig())
    assert s.name == "elastic" and isinstance(s.augment, ElasticAugment)
    assert s.augment.alpha == 20.0 and s.augment.sigma == cfg.elastic_sigma
    assert torch.equal(s.train_x, base.train_x) and torch.equal(s.test_y, base.test_y)
    assert base.augment is None


def test_augment_preserves_shape_and_range_and_changes_images():
    x = _batch()
    aug = ElasticAugment(alpha=34.0, sigma=4.0, degrees=10.0, scale=0.1)
    y = aug(x, torch.Generator().manual_seed(0))
    assert y.shape == x.shape and y.dtype == x.dtype
    assert float(y.min()) >= 0.0 and float(y.max()) <= 1.0
    diff = (y - x).abs().mean(dim=(1, 2, 3))
    assert float(diff.min()) > 0.01  # every image moved
    # ink is roughly preserved: a deformation, not an erasure
    assert abs(float(y.sum()) - float(x.sum())) / float(x.sum()) < 0.15


def test_augment_is_deterministic_per_generator_and_differs_across_seeds():
    x = _batch()
    aug = ElasticAugment()
    a = aug(x, torch.Generator().manual_seed(5))
    b = aug(x, torch.Generator().manual_seed(5))
    c = aug(x, torch.Generator().manual_seed(6))
    assert torch.equal(a, b)
    assert float((a - c).abs().mean()) > 1e-3
    g = torch.Generator().manual_seed(5)
    first, second = aug(x, g), aug(x, g)  # a stream: consecutive minibatches get fresh deformations
    assert torch.equal(first, a) and not torch.equal(first, second)


def test_zero_strength_is_identity():
    x = _batch()
    y = elastic_affine(x, torch.Generator().manual_seed(0), alpha=0.0, sigma=4.0, degrees=0.0, scale=0.0)
    assert float((y - x).abs().max()) < 1e-5


def test_affine_rotates_and_scales_about_the_centre():
    t = (torch.arange(28) + 0.5 - 14).float()
    disc = ((t[None, :] ** 2 + t[:, None] ** 2) <= 64).float().expand(32, 1, 28, 28).contiguous()
    g = torch.Generator().manual_seed(1)
    rotated = elastic_affine(disc, g, alpha=0.0, sigma=4.0, degrees=45.0, scale=0.0)
    assert float((rotated - disc).abs().max()) < 0.8  # only edge pixels move for a centred disc
    assert float((rotated - disc).abs().mean()) < 0.02
    bar = torch.zeros(32, 1, 28, 28)
    bar[:, :, 13:15, 4:24] = 1.0
    turned = elastic_affine(bar, torch.Generator().manual_seed(1), alpha=0.0, sigma=4.0, degrees=45.0, scale=0.0)
    assert float((turned - bar).abs().mean()) > 0.01  # an off-axis shape does rotate
    scaled = elastic_affine(disc, g, alpha=0.0, sigma=4.0, degrees=0.0, scale=0.3)
    area = scaled.sum(dim=(1, 2, 3)) / disc[0].sum()
    assert float(area.min()) < 0.9 and float(area.max()) > 1.1  # zoom 1 +/- 0.3 changes the area


def test_smoothing_matches_a_separable_convolution():
    f = torch.rand(3, 2, 20, 17)
    k = gaussian_kernel1d(2.0)
    assert abs(float(k.sum()) - 1.0) < 1e-6 and len(k) == 13
    r = (len(k) - 1) // 2
    flat = f.reshape(-1, 1, 20, 17)
    ref = torch.nn.functional.conv2d(flat, k.view(1, 1, 1, -1), padding=(0, r))
    ref = torch.nn.functional.conv2d(ref, k.view(1, 1, -1, 1), padding=(r, 0)).reshape(f.shape)
    assert torch.allclose(smooth_fields(f, 2.0), ref, atol=1e-6)


def test_augment_keeps_a_256_batch_shape_and_range():
    x = torch.rand(256, 1, 28, 28)
    aug, g = ElasticAugment(), torch.Generator().manual_seed(0)
    y = aug(x, g)
    assert y.shape == x.shape and float(y.min()) >= 0.0 and float(y.max()) <= 1.0
