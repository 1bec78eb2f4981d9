"""Datasets for Basin: every set becomes float32 tensors in [0, 1] with fixed, seed-determined splits.

``load_data(cfg.data)`` is the one entry point the engine uses; ``DATASET_LOADERS`` is the registry
keyed by ``DataConfig.name``.
"""

from desktop_app.core.data.elastic import ElasticAugment, elastic_affine
from desktop_app.core.data.idx import DownloadError, download_files, parse_idx, read_idx
from desktop_app.core.data.registry import DATASET_LOADERS, load_data
from desktop_app.core.data.splits import DataSplits, ImagePool, SplitIndices, make_splits, split_indices

__all__ = [
    "DATASET_LOADERS",
    "DataSplits",
    "DownloadError",
    "ElasticAugment",
    "ImagePool",
    "SplitIndices",
    "download_files",
    "elastic_affine",
    "load_data",
    "make_splits",
    "parse_idx",
    "read_idx",
    "split_indices",
]
