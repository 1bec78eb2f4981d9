"""Deterministic train / valid / test / labelled / unlabelled / probe splits shared by every dataset.

Every loader only produces an :class:`ImagePool` (images, labels and, when the dataset has one, its
official test set); the split rules live here once so that all datasets behave the same way and a
split is a pure function of (pool sizes, DataConfig).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from desktop_app.core.config import ConfigError, DataConfig
from desktop_app.core.config.limits import MAX_DATA_BYTES

Augment = Callable[[torch.Tensor, torch.Generator], torch.Tensor]


@dataclass
class DataSplits:
    """Everything the engine needs from a dataset, as float32 tensors in [0, 1].

    ``train_x`` and ``unlabelled_x`` are prefixes of the same shuffled training pool, so they share
    memory (treat them as read-only).
    """

    name: str
    train_x: torch.Tensor  # labelled fine-tuning set, (N, C, H, W)
    train_y: torch.Tensor  # (N,) int64
    unlabelled_x: torch.Tensor  # pre-training pool, labels hidden, (M, C, H, W)
    valid_x: torch.Tensor
    valid_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    probe_idx: torch.Tensor  # (probe_size,) int64 indices into test_x
    n_classes: int
    input_shape: tuple[int, int, int]  # (C, H, W)
    augment: Augment | None = None  # elastic: fresh deformation of a minibatch; None otherwise


@dataclass
class ImagePool:
    """What a dataset loader returns before splitting.

    ``images`` are (N, C, H, W), either uint8 (0..255) or float32 already in [0, 1]; converting to float
    only after indexing keeps big uint8 sets (MNIST) small in memory.
    """

    images: np.ndarray
    labels: np.ndarray  # (N,) int64
    n_classes: int
    test_images: np.ndarray | None = None  # the dataset's official test set, if it has one
    test_labels: np.ndarray | None = None


@dataclass(frozen=True)
class SplitIndices:
    """Index arrays of one split; ``test`` indexes the official test set when there is one, else the pool."""

    test: np.ndarray
    valid: np.ndarray
    train: np.ndarray  # the whole shuffled training pool
    labelled: np.ndarray  # train[:n_labelled]
    unlabelled: np.ndarray  # train[:n_unlabelled]
    probe: np.ndarray  # indices into the test split (0 .. n_test-1)
    official_test: bool


def split_indices(n_pool: int, n_official_test: int | None, cfg: DataConfig) -> SplitIndices:
    """Shuffle with ``cfg.split_seed`` and cut; raise ConfigError naming the field that asks for too much."""
    rng = np.random.default_rng(cfg.split_seed)
    pool_perm = rng.permutation(n_pool)
    if n_official_test is not None:
        if cfg.n_test > n_official_test:
            raise ConfigError(
                "data.n_test",
                f"must be <= {n_official_test} (images in the official test set), got {cfg.n_test}",
            )
        test = rng.permutation(n_official_test)[: cfg.n_test]
        rest = pool_perm
        after = "valid"
    else:
        if cfg.n_test > n_pool:
            raise ConfigError("data.n_test", f"must be <= {n_pool} (images in the dataset), got {cfg.n_test}")
        test = pool_perm[: cfg.n_test]
        rest = pool_perm[cfg.n_test :]
        after = "test and valid"
    if cfg.n_valid > len(rest):
        left = "images in the training set" if n_official_test is not None else "images left after test"
        raise ConfigError("data.n_valid", f"must be <= {len(rest)} ({left}), got {cfg.n_valid}")
    valid = rest[: cfg.n_valid]
    train = rest[cfg.n_valid :]
    n_train = len(train)
    if n_train == 0:
        raise ConfigError("data.n_valid", f"leaves no training images after {after}; lower data.n_valid")
    for field, n in (("data.n_labelled", cfg.n_labelled), ("data.n_unlabelled", cfg.n_unlabelled)):
        if n > n_train:
            raise ConfigError(field, f"must be <= {n_train} (training images left after {after}), got {n}")
    if cfg.probe_size > cfg.n_test:
        raise ConfigError("data.probe_size", f"must be <= data.n_test ({cfg.n_test}), got {cfg.probe_size}")
    n_lab = cfg.n_labelled or n_train
    n_unl = cfg.n_unlabelled or n_train
    probe = rng.permutation(cfg.n_test)[: cfg.probe_size]
    return SplitIndices(
        test=test,
        valid=valid,
        train=train,
        labelled=train[:n_lab],
        unlabelled=train[:n_unl],
        probe=probe,
        official_test=n_official_test is not None,
    )


def check_split_memory(idx: SplitIndices, image_shape: tuple[int, ...]) -> None:
    """The splits as float32 must fit the data-memory limit (docs/SECURITY.md); checked before converting."""
    rows = max(len(idx.labelled), len(idx.unlabelled)) + len(idx.valid) + len(idx.test)
    need = rows * int(np.prod(image_shape)) * 4
    if need > MAX_DATA_BYTES:
        raise ConfigError(
            "data",
            f"{rows:,} images of {'x'.join(map(str, image_shape))} would take {need / 1024**3:.1f} GiB as float32, "
            f"more than the {MAX_DATA_BYTES / 1024**3:.0f} GiB limit; lower data.n_labelled, data.n_unlabelled "
            "(0 = all) or data.n_test",
        )


def to_float_tensor(images: np.ndarray) -> torch.Tensor:
    """uint8 -> /255, float -> float32; always a fresh float32 tensor."""
    if images.dtype == np.uint8:
        return torch.from_numpy(np.ascontiguousarray(images)).to(torch.float32).div_(255.0)
    return torch.from_numpy(np.array(images, dtype=np.float32, copy=True))


def make_splits(name: str, pool: ImagePool, cfg: DataConfig, augment: Augment | None = None) -> DataSplits:
    """Cut ``pool`` into DataSplits following the rules of :func:`split_indices`."""
    has_test = pool.test_images is not None and pool.test_labels is not None
    idx = split_indices(len(pool.images), len(pool.test_images) if has_test else None, cfg)
    check_split_memory(idx, pool.images.shape[1:])
    test_src_x = pool.test_images if has_test else pool.images
    test_src_y = pool.test_labels if has_test else pool.labels
    n_lab, n_unl = len(idx.labelled), len(idx.unlabelled)
    # One tensor for the training pool prefix that both the labelled and the unlabelled sets use.
    train_pool = to_float_tensor(pool.images[idx.train[: max(n_lab, n_unl)]])
    labels = torch.from_numpy(np.asarray(pool.labels, dtype=np.int64))
    test_labels = torch.from_numpy(np.asarray(test_src_y, dtype=np.int64))
    c, h, w = pool.images.shape[1:]
    return DataSplits(
        name=name,
        train_x=train_pool[:n_lab],
        train_y=labels[torch.from_numpy(idx.labelled)],
        unlabelled_x=train_pool[:n_unl],
        valid_x=to_float_tensor(pool.images[idx.valid]),
        valid_y=labels[torch.from_numpy(idx.valid)],
        test_x=to_float_tensor(test_src_x[idx.test]),
        test_y=test_labels[torch.from_numpy(idx.test)],
        probe_idx=torch.from_numpy(idx.probe.astype(np.int64)),
        n_classes=int(pool.n_classes),
        input_shape=(int(c), int(h), int(w)),
        augment=augment,
    )
