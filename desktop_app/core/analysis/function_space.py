"""Function space (Erhan et al. 2010, Fig. 5-6): each net at each epoch is the vector of its softmax outputs on
the fixed probe subset; one joint 2D embedding of all of them shows where pre-trained and random nets go.

The embedding is a picture; the separation number is computed in the original output space, where distances
mean something: nearest-neighbour arm purity, excluding a point's own trajectory (its own neighbouring epochs
would make any arm look pure).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from desktop_app.core.analysis.progress import AnalysisProgress, FunctionSpaceResult
from desktop_app.core.control import RunControl
from desktop_app.core.runfolder import RunFolder

METHODS = ("pca", "tsne", "isomap")


@dataclass(frozen=True)
class ProbeSnapshots:
    """Flattened probe outputs of every (arm, seed, epoch) found in a run folder."""

    outputs: np.ndarray  # (M, probe_size * n_classes) float64
    arms: tuple[str, ...]  # (M,)
    seeds: np.ndarray  # (M,) int64
    epochs: np.ndarray  # (M,) int64


def load_probe_snapshots(run_dir: Path, arms: Sequence[str] | None = None, seeds: Sequence[int] | None = None,
                         epochs: Sequence[int] | None = None) -> ProbeSnapshots:
    """Read ``snapshots/<arm>/s<seed>/probe_<epoch>.npy``, sorted by (arm, seed, epoch)."""
    folder = RunFolder(run_dir)
    items = []
    for arm, seed, path in folder.snapshots("probe"):
        epoch = int(path.stem.split("_")[1])
        if (arms is None or arm in arms) and (seeds is None or seed in seeds) and (epochs is None or epoch in epochs):
            items.append((arm, seed, epoch, path))
    if not items:
        raise FileNotFoundError(f"no probe output snapshots in {run_dir}")
    items.sort(key=lambda t: (t[0], t[1], t[2]))
    outputs = np.stack([folder.load_array(p).astype(np.float64).ravel() for *_, p in items])
    return ProbeSnapshots(outputs, tuple(t[0] for t in items), np.array([t[1] for t in items], dtype=np.int64),
                          np.array([t[2] for t in items], dtype=np.int64))


def nn_arm_purity(outputs: np.ndarray, arms: Sequence[str], seeds: Sequence[int],
                  mask: np.ndarray | None = None, block: int = 512) -> float:
    """Fraction of points whose nearest neighbour (Euclidean, among points of other (arm, seed) trajectories)
    has the same arm. ~1 = arms occupy separate regions; ~1/n_arms (balanced) = mixed. NaN if undefined."""
    same = nn_same_arm(outputs, arms, seeds, mask, block)
    same = same[~np.isnan(same)]
    return float(same.mean()) if len(same) else float("nan")


def nn_chance(arms: Sequence[str], seeds: Sequence[int], mask: np.ndarray | None = None) -> float:
    """The purity nets mixed at random would have: per point, the share of its own arm among the points it may
    have as neighbour (those of other (arm, seed) trajectories), averaged. Leaving out the own trajectory makes it
    lower than an arm's share: 3 arms x 2 seeds give 0.2, not 1/3; 3 x 10 give 0.31. NaN if undefined."""
    arm_arr, seed_arr = np.asarray(arms), np.asarray(seeds)
    if mask is not None:
        arm_arr, seed_arr = arm_arr[mask], seed_arr[mask]
    _, arm_idx, per_arm = np.unique(arm_arr, return_inverse=True, return_counts=True)
    pairs = np.stack([arm_idx, np.unique(seed_arr, return_inverse=True)[1]], axis=1) if len(arm_arr) else \
        np.zeros((0, 2), dtype=np.int64)
    _, traj_idx, per_traj = np.unique(pairs, axis=0, return_inverse=True, return_counts=True)
    traj_idx = np.asarray(traj_idx).reshape(-1)
    others = len(arm_arr) - per_traj[traj_idx]
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(others > 0, (per_arm[arm_idx] - per_traj[traj_idx]) / np.maximum(others, 1), np.nan)
    share = share[~np.isnan(share)]
    return float(share.mean()) if len(share) else float("nan")


def nn_same_arm(outputs: np.ndarray, arms: Sequence[str], seeds: Sequence[int],
                mask: np.ndarray | None = None, block: int = 512) -> np.ndarray:
    """Per point (of the masked set): 1.0 when its nearest neighbour among points of other (arm, seed)
    trajectories has the same arm, 0.0 when not, NaN when it has no such neighbour. The purity is its mean; the
    reproduce rule averages it per seed to get an interval over seeds."""
    x = np.asarray(outputs, dtype=np.float64)
    arm_arr = np.asarray(arms)
    seed_arr = np.asarray(seeds)
    if mask is not None:
        x, arm_arr, seed_arr = x[mask], arm_arr[mask], seed_arr[mask]
    n = len(x)
    out = np.full(n, np.nan)
    if n < 2:
        return out
    sq = (x * x).sum(1)
    nn = np.full(n, -1)
    for lo in range(0, n, block):  # row blocks: the full M x M distance matrix can be many GB
        hi = min(lo + block, n)
        dist = sq[lo:hi, None] + sq[None, :] - 2.0 * (x[lo:hi] @ x.T)
        same_traj = (arm_arr[lo:hi, None] == arm_arr[None, :]) & (seed_arr[lo:hi, None] == seed_arr[None, :])
        dist[same_traj] = np.inf
        ok = np.isfinite(dist).any(1)
        nn[lo:hi] = np.where(ok, dist.argmin(1), -1)
    has_other = nn >= 0
    out[has_other] = (arm_arr[nn[has_other]] == arm_arr[has_other]).astype(np.float64)
    return out


def last_epoch_mask(arms: Sequence[str], seeds: Sequence[int], epochs: Sequence[int]) -> np.ndarray:
    """True at each (arm, seed) trajectory's last epoch."""
    last: dict[tuple[str, int], int] = {}
    for a, s, e in zip(arms, seeds, epochs, strict=True):
        last[(a, int(s))] = max(int(e), last.get((a, int(s)), -1))
    return np.array([last[(a, int(s))] == int(e) for a, s, e in zip(arms, seeds, epochs, strict=True)])


def embed(outputs: np.ndarray, method: str = "tsne", *, perplexity: float = 30.0, n_neighbors: int = 10,
          random_state: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """2D coordinates (M, 2) and, for PCA, the explained variance ratios (else NaN)."""
    x = np.asarray(outputs, dtype=np.float64)
    n = len(x)
    ratio = np.full(2, np.nan)
    if n < 3:
        raise ValueError(f"an embedding needs at least 3 nets (points), got {n}")
    if method == "pca":
        from sklearn.decomposition import PCA

        pca = PCA(n_components=2, random_state=random_state)
        coords = pca.fit_transform(x)
        ratio = pca.explained_variance_ratio_.astype(np.float64)
    elif method == "tsne":
        from sklearn.manifold import TSNE

        perp = float(min(perplexity, n - 1))
        coords = TSNE(n_components=2, perplexity=perp, init="pca", random_state=random_state).fit_transform(x)
    elif method == "isomap":
        from sklearn.manifold import Isomap

        coords = Isomap(n_neighbors=int(min(n_neighbors, n - 1)), n_components=2).fit_transform(x)
    else:
        raise ValueError(f"method must be one of {', '.join(METHODS)}; got {method!r}")
    return np.asarray(coords, dtype=np.float64), np.asarray(ratio, dtype=np.float64)


def function_space_of(snaps: ProbeSnapshots, method: str = "tsne", *, perplexity: float = 30.0,
                      n_neighbors: int = 10, random_state: int = 0,
                      control: RunControl | None = None) -> Iterator[AnalysisProgress | FunctionSpaceResult]:
    """Embedding + purity of already-loaded snapshots (the run-folder-free core, for tests and other sources)."""
    yield AnalysisProgress("function_space", 0, 2, None)
    purity = nn_arm_purity(snaps.outputs, snaps.arms, snaps.seeds)
    purity_last = nn_arm_purity(snaps.outputs, snaps.arms, snaps.seeds,
                                last_epoch_mask(snaps.arms, snaps.seeds, snaps.epochs))
    if control is not None:
        control.checkpoint()
    yield AnalysisProgress("function_space", 1, 2, None)
    coords, ratio = embed(snaps.outputs, method, perplexity=perplexity, n_neighbors=n_neighbors,
                          random_state=random_state)
    if control is not None:
        control.checkpoint()
    yield AnalysisProgress("function_space", 2, 2, None)
    yield FunctionSpaceResult(coords=coords, arms=snaps.arms, seeds=snaps.seeds, epochs=snaps.epochs, method=method,
                              purity=purity, purity_last=purity_last, explained_variance_ratio=ratio)


def compute_function_space(run_dir: Path, method: str = "tsne", *, arms: Sequence[str] | None = None,
                           seeds: Sequence[int] | None = None, epochs: Sequence[int] | None = None,
                           perplexity: float = 30.0, n_neighbors: int = 10, random_state: int = 0,
                           control: RunControl | None = None) -> Iterator[AnalysisProgress | FunctionSpaceResult]:
    """Joint embedding of every net at every epoch of a run (optionally filtered by arm / seed / epoch)."""
    snaps = load_probe_snapshots(run_dir, arms, seeds, epochs)
    yield from function_space_of(snaps, method, perplexity=perplexity, n_neighbors=n_neighbors,
                                 random_state=random_state, control=control)
