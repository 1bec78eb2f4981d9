"""Split rules and the embedded digits set: sizes, disjointness, determinism, errors naming fields."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from desktop_app.core import config as config_mod
from desktop_app.core.config import ConfigError, DataConfig
from desktop_app.core.data import DATASET_LOADERS, ImagePool, load_data, make_splits, split_indices
from desktop_app.core.data.digits import load_digits_pool


def test_registry_covers_every_configurable_dataset():
    assert set(DATASET_LOADERS) == set(config_mod.DATASETS)


def test_unknown_dataset_names_data_name():
    with pytest.raises(ConfigError) as err:
        load_data(DataConfig(name="cifar"))
    assert err.value.field == "data.name"


def test_digits_pool_is_5000_balanced_images():
    pool = load_digits_pool(DataConfig())
    assert pool.images.shape == (5000, 1, 28, 28) and pool.images.dtype == np.uint8
    assert pool.n_classes == 10 and pool.test_images is None
    assert np.bincount(pool.labels, minlength=10).tolist() == [500] * 10
    assert pool.images.max() > 200  # real ink, not an empty file


def test_digits_default_splits_have_the_asked_sizes_and_ranges():
    s = load_data(DataConfig())
    assert s.name == "digits" and s.n_classes == 10 and s.input_shape == (1, 28, 28) and s.augment is None
    assert s.train_x.shape == (1000, 1, 28, 28) and s.train_y.shape == (1000,)
    assert s.unlabelled_x.shape == (3500, 1, 28, 28)  # 5000 - 1000 test - 500 valid
    assert s.valid_x.shape == (500, 1, 28, 28) and s.test_x.shape == (1000, 1, 28, 28)
    for t in (s.train_x, s.unlabelled_x, s.valid_x, s.test_x):
        assert t.dtype == torch.float32 and float(t.min()) >= 0.0 and float(t.max()) <= 1.0
    for y in (s.train_y, s.valid_y, s.test_y):
        assert y.dtype == torch.int64 and int(y.min()) >= 0 and int(y.max()) <= 9
    assert s.probe_idx.dtype == torch.int64 and s.probe_idx.shape == (200,)
    assert len(set(s.probe_idx.tolist())) == 200 and int(s.probe_idx.max()) < 1000
    # labelled = first 1000 of the training pool, unlabelled = whole pool: labelled is its prefix
    assert torch.equal(s.unlabelled_x[:1000], s.train_x)
    # a shuffled split: every class is present in the labelled set, roughly 100 each
    counts = torch.bincount(s.train_y, minlength=10)
    assert int(counts.min()) > 60 and int(counts.max()) < 140


def test_split_indices_are_disjoint_and_match_the_tensors():
    cfg = DataConfig(n_labelled=300, n_unlabelled=2000)
    idx = split_indices(5000, None, cfg)
    test, valid, train = set(idx.test.tolist()), set(idx.valid.tolist()), set(idx.train.tolist())
    assert len(test) == 1000 and len(valid) == 500 and len(train) == 3500
    assert not (test & valid) and not (test & train) and not (valid & train)
    assert test | valid | train == set(range(5000))
    assert idx.labelled.tolist() == idx.train[:300].tolist()
    assert idx.unlabelled.tolist() == idx.train[:2000].tolist()

    pool = load_digits_pool(cfg)
    s = make_splits("digits", pool, cfg)
    as_float = torch.from_numpy(pool.images.astype(np.float32) / 255)
    assert torch.allclose(s.test_x, as_float[idx.test])
    assert torch.allclose(s.valid_x, as_float[idx.valid])
    assert torch.allclose(s.train_x, as_float[idx.labelled])
    assert torch.allclose(s.unlabelled_x, as_float[idx.unlabelled])
    assert s.train_y.tolist() == pool.labels[idx.labelled].tolist()
    assert s.test_y.tolist() == pool.labels[idx.test].tolist()

    # no image content shared between test, valid and training pool either
    def keys(t: torch.Tensor) -> set[bytes]:
        return {row.numpy().tobytes() for row in t}

    assert not keys(s.test_x) & keys(s.unlabelled_x) and not keys(s.valid_x) & keys(s.unlabelled_x)


def test_splits_are_deterministic_in_split_seed():
    a, b = load_data(DataConfig(split_seed=3)), load_data(DataConfig(split_seed=3))
    c = load_data(DataConfig(split_seed=4))
    for name in ("train_x", "train_y", "valid_x", "test_x", "test_y", "probe_idx"):
        assert torch.equal(getattr(a, name), getattr(b, name))
    assert not torch.equal(a.test_y, c.test_y) and not torch.equal(a.train_y, c.train_y)
    assert not torch.equal(a.probe_idx, c.probe_idx)


def test_zero_means_all_and_explicit_sizes():
    s = load_data(DataConfig(n_labelled=0, n_unlabelled=100, n_valid=200, n_test=300, probe_size=50))
    assert len(s.train_x) == 4500 and len(s.unlabelled_x) == 100
    assert len(s.valid_x) == 200 and len(s.test_x) == 300 and len(s.probe_idx) == 50


@pytest.mark.parametrize(
    ("overrides", "field", "limit"),
    [
        ({"n_labelled": 5000}, "data.n_labelled", "3500"),
        ({"n_unlabelled": 3501}, "data.n_unlabelled", "3500"),
        ({"n_test": 6000, "probe_size": 10}, "data.n_test", "5000"),
        ({"n_valid": 4500}, "data.n_valid", "4000"),
        ({"n_valid": 4000}, "data.n_valid", "no training images"),
        ({"n_test": 100, "probe_size": 101}, "data.probe_size", "100"),
    ],
)
def test_too_large_sizes_name_the_field(overrides, field, limit):
    with pytest.raises(ConfigError) as err:
        load_data(replace(DataConfig(), **overrides))
    assert err.value.field == field
    assert limit in err.value.message
    if field == "data.n_labelled":
        assert err.value.message == "must be <= 3500 (training images left after test and valid), got 5000"


def test_official_test_set_is_used_for_test_and_pool_for_valid():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (300, 1, 4, 4), dtype=np.uint8)
    labels = np.arange(300) % 3
    test_images = rng.integers(0, 256, (50, 1, 4, 4), dtype=np.uint8)
    test_labels = np.arange(50) % 3
    pool = ImagePool(images, labels.astype(np.int64), 3, test_images, test_labels.astype(np.int64))
    cfg = DataConfig(n_test=40, n_valid=100, n_labelled=150, probe_size=10, split_seed=1)
    idx = split_indices(300, 50, cfg)
    s = make_splits("toy", pool, cfg)
    assert idx.official_test and len(idx.train) == 200
    assert torch.allclose(s.test_x, torch.from_numpy(test_images[idx.test] / 255).float())
    assert s.test_y.tolist() == test_labels[idx.test].tolist()
    assert set(idx.valid.tolist()).isdisjoint(idx.train.tolist())
    assert len(s.train_x) == 150 and len(s.unlabelled_x) == 200 and len(s.valid_x) == 100
    with pytest.raises(ConfigError) as err:
        make_splits("toy", pool, replace(cfg, n_test=51))
    assert err.value.field == "data.n_test" and "official test set" in err.value.message
    with pytest.raises(ConfigError) as err:
        make_splits("toy", pool, replace(cfg, n_labelled=201))
    assert err.value.field == "data.n_labelled" and "<= 200" in err.value.message
