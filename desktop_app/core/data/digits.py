"""The embedded default dataset: 5000 real 28x28 handwritten digits (500 per class) shipped in resources/."""

from __future__ import annotations

from pathlib import Path

from desktop_app.core.config import DataConfig
from desktop_app.core.data.imports import pool_from_npz
from desktop_app.core.data.splits import ImagePool
from desktop_app.core.resources import resource_path


def digits_path() -> Path:
    return resource_path("data", "digits5k.npz")


def load_digits_pool(cfg: DataConfig) -> ImagePool:
    """Read resources/data/digits5k.npz (``images`` (5000, 28, 28) uint8, ``labels`` (5000,) uint8)."""
    return pool_from_npz(digits_path(), field="data.name")
