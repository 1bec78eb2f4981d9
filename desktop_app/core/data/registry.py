"""The dataset registry: ``DataConfig.name`` -> loader returning DataSplits, and :func:`load_data`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from desktop_app.core.config import ConfigError, DataConfig
from desktop_app.core.data.digits import load_digits_pool
from desktop_app.core.data.elastic import ElasticAugment
from desktop_app.core.data.idx import FASHION_MNIST, MNIST, check_idx_files, load_idx_pool
from desktop_app.core.data.imports import check_image_folder, check_npz_file, load_image_folder_pool, load_npz_pool
from desktop_app.core.data.shapeset import load_shapeset_pool
from desktop_app.core.data.splits import DataSplits, ImagePool, make_splits

PoolLoader = Callable[[DataConfig], ImagePool]
Loader = Callable[[DataConfig], DataSplits]


def _split(name: str, pool_loader: PoolLoader) -> Loader:
    def load(cfg: DataConfig) -> DataSplits:
        return make_splits(name, pool_loader(cfg), cfg)

    load.__name__ = f"load_{name.replace('-', '_')}"
    load.__doc__ = f"Load the {name!r} image pool and split it by cfg."
    return load


def load_elastic(cfg: DataConfig) -> DataSplits:
    """The base set (``cfg.base``) split as usual, plus a fresh elastic + affine deformation per minibatch."""
    if cfg.base == "elastic" or cfg.base not in DATASET_LOADERS:
        allowed = ", ".join(k for k in DATASET_LOADERS if k != "elastic")
        raise ConfigError("data.base", f"must be one of {allowed}; got {cfg.base!r}")
    base = DATASET_LOADERS[cfg.base](replace(cfg, name=cfg.base))
    return replace(base, name=cfg.name, augment=ElasticAugment.from_config(cfg))


POOL_LOADERS: dict[str, PoolLoader] = {
    "digits": load_digits_pool,
    "shapeset": load_shapeset_pool,
    "mnist": lambda cfg: load_idx_pool(cfg, MNIST),
    "fashion-mnist": lambda cfg: load_idx_pool(cfg, FASHION_MNIST),
    "npz": load_npz_pool,
    "image-folder": load_image_folder_pool,
}

DATASET_LOADERS: dict[str, Loader] = {
    "digits": _split("digits", POOL_LOADERS["digits"]),
    "shapeset": _split("shapeset", POOL_LOADERS["shapeset"]),
    "elastic": load_elastic,
    **{name: _split(name, POOL_LOADERS[name]) for name in ("mnist", "fashion-mnist", "npz", "image-folder")},
}


# The cheap part of each loader's input check: whether its files are there (stats only, no read, no download).
# Sets made in memory (digits, shapeset) have nothing to look for.
FILE_CHECKS: dict[str, Callable[[DataConfig], object]] = {
    "mnist": lambda cfg: check_idx_files(cfg, MNIST),
    "fashion-mnist": lambda cfg: check_idx_files(cfg, FASHION_MNIST),
    "npz": lambda cfg: check_npz_file(cfg.path),
    "image-folder": check_image_folder,
}


def check_files(cfg: DataConfig) -> None:
    """ConfigError (naming data.path) when the files a config's data come from are not there, and no download
    may fetch them; the window's builder says so on every edit, before Start's full check reads them."""
    source = cfg.base if cfg.name == "elastic" else cfg.name
    check = FILE_CHECKS.get(source)
    if check is not None:
        check(replace(cfg, name=source))


def load_pool(cfg: DataConfig) -> ImagePool:
    """The image pool a config's data come from (the base set for elastic), before splitting: what
    :func:`desktop_app.core.engine.preflight.check_inputs` measures without converting anything to float."""
    source = cfg.base if cfg.name == "elastic" else cfg.name
    loader = POOL_LOADERS.get(source)
    if loader is None:
        field = "data.base" if cfg.name == "elastic" else "data.name"
        raise ConfigError(field, f"must be one of {', '.join(POOL_LOADERS)}; got {source!r}")
    return loader(replace(cfg, name=source))


def load_data(cfg: DataConfig) -> DataSplits:
    """Load and split the dataset ``cfg.name``; every user-facing problem is a ConfigError."""
    loader = DATASET_LOADERS.get(cfg.name)
    if loader is None:
        raise ConfigError("data.name", f"must be one of {', '.join(DATASET_LOADERS)}; got {cfg.name!r}")
    return loader(cfg)
