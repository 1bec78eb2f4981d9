"""The analyses' result types: frozen dataclasses of numpy arrays and scalars, never tensors.

They live below both the analyses (which compute them) and the run folder (which caches and replays them), so
reading a run folder never imports an analysis. ``RESULT_TYPES`` is the allow-list the run folder's analysis
cache rebuilds results through: a cached file names one of these keys, never a class or a function. Each type's
``SHAPES`` names the dimensions its arrays share, so a cached file whose fields disagree in length is refused
(``shape_problem``) before a panel zips them together.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np


@dataclass(frozen=True)
class AnalysisProgress:
    """Progress of a long computation (an analysis, an output-variance unit's passes): ``done`` of ``total``
    work units of ``name``; ``partial`` is a result-so-far (or None)."""

    name: str
    done: int
    total: int
    partial: object | None = None

    @property
    def fraction(self) -> float:
        return self.done / self.total if self.total else 1.0


@dataclass(frozen=True)
class LandscapeResult:
    """loss[j, i] = L(center + xs[i] d1 + ys[j] d2) (row-major: y down the rows); NaN where not yet computed."""

    xs: np.ndarray  # (nx,) float64
    ys: np.ndarray  # (ny,) float64
    loss: np.ndarray  # (ny, nx) float64, mean NLL in nats
    error: np.ndarray  # (ny, nx) float64, classification error in [0, 1]
    trajectory: np.ndarray  # (T, 2) float64 checkpoints projected on the plane; (0, 2) for random directions
    trajectory_epochs: np.ndarray  # (T,) int64
    explained_variance_ratio: np.ndarray  # (2,) float64 of the PCA directions; NaN for random ones
    directions: str  # "random" | "pca"
    arm: str
    seed: int
    epoch: int
    split: str
    n_eval: int

    SHAPES: ClassVar[dict[str, str]] = {"xs": "nx", "ys": "ny", "loss": "ny nx", "error": "ny nx",
                                        "trajectory": "T 2", "trajectory_epochs": "T", "explained_variance_ratio": "2"}

    @property
    def complete(self) -> bool:
        return bool(np.isfinite(self.loss).all())


@dataclass(frozen=True)
class InterpolationResult:
    """Curves along alphas; alpha 0 is ``start`` (arm/seed/epoch), alpha 1 is ``end``."""

    alphas: np.ndarray  # (n,) float64
    train_loss: np.ndarray  # (n,) float64, mean NLL on the first n_train_eval labelled training examples
    train_error: np.ndarray  # (n,) float64
    test_loss: np.ndarray  # (n,) float64, on the whole test split
    test_error: np.ndarray  # (n,) float64
    mode: str
    start: str  # "arm/s<seed>/e<epoch>"
    end: str
    n_train_eval: int
    n_test: int

    SHAPES: ClassVar[dict[str, str]] = {"alphas": "n", "train_loss": "n", "train_error": "n", "test_loss": "n",
                                        "test_error": "n"}


@dataclass(frozen=True)
class FunctionSpaceResult:
    coords: np.ndarray  # (M, 2) float64 embedding
    arms: tuple[str, ...]  # (M,) arm label of each point
    seeds: np.ndarray  # (M,) int64
    epochs: np.ndarray  # (M,) int64
    method: str
    purity: float  # nearest-neighbour arm purity over all points (original output space)
    purity_last: float  # the same over each trajectory's last epoch only
    explained_variance_ratio: np.ndarray  # (2,) float64 for PCA; NaN otherwise

    SHAPES: ClassVar[dict[str, str]] = {"coords": "M 2", "arms": "M", "seeds": "M", "epochs": "M",
                                        "explained_variance_ratio": "2"}


@dataclass(frozen=True)
class Correlation:
    n: int
    pearson_r: float
    pearson_p: float
    spearman_r: float
    spearman_p: float


@dataclass(frozen=True)
class PitfallResult:
    labels: tuple[str, ...]  # (P,) "arm/s<seed>"
    arms: tuple[str, ...]  # (P,)
    seeds: np.ndarray  # (P,) int64
    layer: np.ndarray  # (P,) int64 block index whose features are probed
    recon_error: np.ndarray  # (P,) float64 final pre-training reconstruction error of that layer
    probe_accuracy: np.ndarray  # (P,) float64 linear-probe test accuracy on its features
    pixel_accuracy: float  # the same probe on raw pixels
    n_train: int
    n_test: int
    pearson_r: float
    pearson_p: float
    spearman_r: float
    spearman_p: float

    SHAPES: ClassVar[dict[str, str]] = {"labels": "P", "arms": "P", "seeds": "P", "layer": "P", "recon_error": "P",
                                        "probe_accuracy": "P"}

    def points(self) -> list[tuple[str, float, float]]:
        return [(lab, float(r), float(a)) for lab, r, a in zip(self.labels, self.recon_error, self.probe_accuracy,
                                                                   strict=True)]


@dataclass(frozen=True)
class OutputVarianceResult:
    arms: tuple[str, ...]  # (A,)
    positions: np.ndarray  # (B,) int64 block index 0 .. n_blocks-1 (0 = seen first)
    block_start: np.ndarray  # (B,) int64 index in the stream of each block's first example
    variance: np.ndarray  # (A, B) float64 variance over resamples, averaged over probe examples and classes; NaN
    # where not yet computed
    block_size: int
    resamples: int
    resample: str  # "pool" | "deform" | "none"
    seed: int

    SHAPES: ClassVar[dict[str, str]] = {"arms": "A", "positions": "B", "block_start": "B", "variance": "A B"}


def shape_problem(result: object) -> str:
    """Which field of ``result`` disagrees with its type's ``SHAPES`` (a named dimension of another length than in
    the fields before it, a fixed size or a number of dimensions not declared), or "" when none does."""
    sizes: dict[str, int] = {}
    for field, dims in getattr(type(result), "SHAPES", {}).items():
        value = getattr(result, field)
        shape = (len(value),) if isinstance(value, tuple) else np.shape(value)
        names = dims.split()
        if len(shape) != len(names):
            return f"{field} has {len(shape)} dimension(s), not {len(names)} ({dims})"
        for name, n in zip(names, shape, strict=True):
            want = int(name) if name.isdigit() else sizes.setdefault(name, n)
            if n != want:
                return f"{field} has {n} along {name}, not {want}"
    return ""


RESULT_TYPES: dict[str, type] = {
    "landscape": LandscapeResult,
    "interpolation": InterpolationResult,
    "function_space": FunctionSpaceResult,
    "pitfall": PitfallResult,
    "output_variance": OutputVarianceResult,
}
