"""Error surfaces (Li et al. 2018): the loss on a 2D plane through a checkpoint, fast enough to explore.

A 51 x 51 grid is 2,601 forward passes. For an MLP they are batched: K grid points at a time, each layer's K
weight matrices ``W + a_k D1 + b_k D2`` are built with one (K, 3) x (3, in*out) matmul and applied with one
``baddbmm`` over (K, N, in) activations. The first layer's input is shared by every point, so its three
products (x W^T, x D1^T, x D2^T) are computed once and only combined per point. Conv nets fall back to one
``torch.func.functional_call`` per point (correct, not fast).

Also home of the small helpers that read nets back from a run folder (used by ``interpolation`` too).
Over 400 lines because the batched MLP grid and the conv fallback must stay side by side: the tests hold one
against the other point by point.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from desktop_app.core import config as config_mod
from desktop_app.core.analysis.progress import AnalysisProgress, LandscapeResult
from desktop_app.core.control import RunControl
from desktop_app.core.data import DataSplits, load_data
from desktop_app.core.runfolder import RunFolder, read_config, read_manifest
from desktop_app.core.runfolder.layout import CONFIG, MANIFEST
from desktop_app.core.training.checkpoints import model_shapes, read_weights
from desktop_app.core.training.models import ACTIVATION_FNS, Net, build_model

Params = dict[str, torch.Tensor]
DEFAULT_MEMORY_MB = 1024
MAX_POINTS_PER_BATCH = 64
MAX_ROWS_PER_CHUNK = 4096


# ---------------------------------------------------------------------------------------------------------
# Reading nets back from a run folder
# ---------------------------------------------------------------------------------------------------------


def checkpoint_path(run_dir: Path, arm: str, seed: int, epoch: int) -> Path:
    return RunFolder(run_dir).unit(arm, seed).checkpoint_path(epoch)


def checkpoint_epochs(run_dir: Path, arm: str, seed: int) -> list[int]:
    """Fine-tuning epochs with a saved checkpoint (e0000 = before fine-tuning), ascending."""
    return RunFolder(run_dir).unit(arm, seed).checkpoint_epochs()


def resolve_epoch(run_dir: Path, arm: str, seed: int, epoch: int | None) -> int:
    """``None`` or -1 means the last saved epoch; FileNotFoundError names what is missing."""
    epochs = checkpoint_epochs(run_dir, arm, seed)
    if not epochs:
        raise FileNotFoundError(f"no checkpoints for arm {arm!r} seed {seed} in {run_dir}")
    if epoch is None or epoch < 0:
        return epochs[-1]
    if epoch not in epochs:
        raise FileNotFoundError(f"no checkpoint for arm {arm!r} seed {seed} epoch {epoch}; saved: {epochs}")
    return epoch


def run_config(run_dir: Path) -> config_mod.ExperimentConfig:
    return read_config(RunFolder(run_dir))


def load_params(run_dir: Path, arm: str, seed: int, epoch: int) -> Params:
    """The checkpoint's state_dict as float32 CPU tensors, checked as resume checks its states (the checked reader,
    named tensors, and the names and shapes of the model the run's config builds): RunFolderError names the file."""
    folder = RunFolder(run_dir)
    model = read_weights(folder.unit(arm, seed), epoch, _expected_shapes(folder), "cpu")
    return {k: v.detach().to(torch.float32) for k, v in model.items()}


def _expected_shapes(folder: RunFolder) -> dict[str, tuple[int, ...]] | None:
    """The run's model's tensor shapes, computed once per state of its config and manifest (an analysis reads
    dozens of checkpoints of one run)."""
    stamps = tuple(_mtime(folder.root / name) for name in (CONFIG, MANIFEST))
    return _shapes_of(str(folder.root), stamps)


def _mtime(path: Path) -> int:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return 0


@functools.lru_cache(maxsize=8)
def _shapes_of(root: str, _stamps: tuple[int, ...]) -> dict[str, tuple[int, ...]] | None:
    folder = RunFolder(root)
    return model_shapes(folder, read_config(folder), read_manifest(folder))


def build_net(cfg: config_mod.ExperimentConfig, data: DataSplits, params: Params | None = None, seed: int = 0) -> Net:
    net = build_model(cfg.model, data.input_shape, data.n_classes, seed)
    if params is not None:
        net.load_state_dict(params)
    return net.eval()


def eval_subset(data: DataSplits, split: str, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The fixed evaluation subset: the first n examples of the labelled training set (or of the test set)."""
    if split == "train":
        x, y = data.train_x, data.train_y
    elif split == "test":
        x, y = data.test_x, data.test_y
    else:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    n = len(x) if n <= 0 else min(n, len(x))
    return x[:n].contiguous(), y[:n].contiguous()


# ---------------------------------------------------------------------------------------------------------
# Directions
# ---------------------------------------------------------------------------------------------------------


def filter_normalized_direction(params: Params, seed: int) -> Params:
    """Li et al. 2018: Gaussian direction, each neuron's row (dense) / filter's out-channel (conv) rescaled to the
    norm of the same slice of the weights, so the plot's scale is comparable across nets; biases get zero."""
    gen = torch.Generator().manual_seed(int(seed))
    out: Params = {}
    for name, w in params.items():
        if w.dim() <= 1:
            out[name] = torch.zeros_like(w)
            continue
        d = torch.randn(w.shape, generator=gen, dtype=torch.float32)
        w_norm = w.flatten(1).norm(dim=1)
        d_norm = d.flatten(1).norm(dim=1)
        scale = w_norm / (d_norm + 1e-10)
        out[name] = d * scale.view(-1, *([1] * (w.dim() - 1)))
    return out


def flatten(params: Params) -> torch.Tensor:
    return torch.cat([v.reshape(-1) for v in params.values()])


def unflatten(vec: torch.Tensor, like: Params) -> Params:
    out: Params = {}
    i = 0
    for name, v in like.items():
        out[name] = vec[i : i + v.numel()].view_as(v).clone()
        i += v.numel()
    return out


@dataclass(frozen=True)
class TrajectoryPCA:
    d1: Params
    d2: Params
    coords: np.ndarray  # (T, 2) float64: (theta_e - center) projected on d1, d2
    epochs: np.ndarray  # (T,) int64
    explained_variance_ratio: np.ndarray  # (2,) float64


def trajectory_pca(trajectory: Iterable[tuple[int, Params]], center: Params, chunk: int = 1 << 20) -> TrajectoryPCA:
    """Li et al. 2018: PCA of (theta_e - center) over the saved epochs (centred like sklearn's PCA); the top two
    components span the plane, and every checkpoint is projected onto it (center at (0, 0)).

    ``trajectory`` may be a lazy iterable: rows are kept as float32 (T x P) and every reduction runs in float64
    over column chunks, so 50 epochs of a 2.8M-weight net need ~0.6 GB, not several."""
    c = flatten(center)
    epochs_list, rows_list = [], []
    for e, p in trajectory:
        epochs_list.append(e)
        rows_list.append(flatten(p) - c)
    epochs = np.array(epochs_list, dtype=np.int64)
    rows = torch.stack(rows_list)
    del rows_list
    informative = torch.nonzero(rows.abs().amax(dim=1) > 0).flatten()
    if len(informative) < 3:
        raise ValueError(f"PCA directions need at least 3 checkpoints besides the centre, got {len(informative)}; "
                         "save more epochs (snapshots.checkpoint_every) or use random directions")
    n_params = rows.shape[1]
    spans = [(s, min(s + chunk, n_params)) for s in range(0, n_params, chunk)]

    def centred(lo: int, hi: int) -> torch.Tensor:
        blk = rows[informative, lo:hi].to(torch.float64)
        return blk - blk.mean(0, keepdim=True)

    # (T, P) with T small: eigen-decompose the T x T Gram matrix instead of an SVD over P columns.
    gram = torch.zeros(len(informative), len(informative), dtype=torch.float64)
    for lo, hi in spans:
        blk = centred(lo, hi)
        gram += blk @ blk.T
    evals, evecs = torch.linalg.eigh(gram)
    order = torch.argsort(evals, descending=True)
    evals, evecs = evals[order].clamp_min(0), evecs[:, order[:2]]
    dirs = torch.cat([centred(lo, hi).T @ evecs for lo, hi in spans])  # (P, 2)
    dirs = dirs / dirs.norm(dim=0, keepdim=True).clamp_min(1e-30)
    coords = torch.zeros(rows.shape[0], 2, dtype=torch.float64)
    for lo, hi in spans:
        coords += rows[:, lo:hi].to(torch.float64) @ dirs[lo:hi]
    sign = torch.where(coords[0] < 0, -1.0, 1.0).to(torch.float64)  # deterministic: first checkpoint at >= 0
    dirs, coords = dirs * sign, coords * sign
    total = float(evals.sum())
    ratio = (evals[:2] / total).numpy() if total > 0 else np.full(2, np.nan)
    return TrajectoryPCA(
        d1=unflatten(dirs[:, 0].to(torch.float32), center),
        d2=unflatten(dirs[:, 1].to(torch.float32), center),
        coords=coords.numpy().astype(np.float64),
        epochs=epochs,
        explained_variance_ratio=np.asarray(ratio, dtype=np.float64),
    )


# ---------------------------------------------------------------------------------------------------------
# Evaluating many points of a plane
# ---------------------------------------------------------------------------------------------------------


def is_mlp(net: Net) -> bool:
    return all(b.kind == "dense" for b in net.blocks)


def _dense_layers(net: Net, p: Params) -> list[tuple[torch.Tensor, torch.Tensor]]:
    names = [f"blocks.{i}.module" for i in range(len(net.blocks))] + ["head"]
    return [(p[f"{n}.weight"], p[f"{n}.bias"]) for n in names]


class _BatchedMLP:
    """Loss and error of K points ``center + a d1 + b d2`` at once (see the module docstring)."""

    def __init__(self, net: Net, center: Params, d1: Params, d2: Params, x: torch.Tensor, y: torch.Tensor,
                 memory_mb: int, max_points: int) -> None:
        self.act = ACTIVATION_FNS[net.blocks[0].activation] if len(net.blocks) else None
        self.act_name = net.blocks[0].activation if len(net.blocks) else "none"
        layers = list(zip(_dense_layers(net, center), _dense_layers(net, d1), _dense_layers(net, d2), strict=True))
        x = x.reshape(len(x), -1).to(torch.float32)
        self.y = y
        self.n = len(x)
        (w0, b0), (dw1, db1), (dw2, db2) = layers[0]
        self.first = (w0, b0, dw1, db1, dw2, db2)
        self.rest = []  # (S (3, in*out), Sb (3, out), in, out)
        for (w, b), (u, ub), (v, vb) in layers[1:]:
            s = torch.stack([w.T, u.T, v.T]).reshape(3, -1).contiguous()
            sb = torch.stack([b, ub, vb]).contiguous()
            self.rest.append((s, sb, w.shape[1], w.shape[0]))
        widths = [w0.shape[0]] + [o for *_, o in self.rest]
        self.w_max = max(widths)
        self.max_inout = max([s.shape[1] for s, *_ in self.rest], default=1)
        budget = memory_mb * 2**20
        self.rows = min(self.n, MAX_ROWS_PER_CHUNK)
        per_point = 4 * (2 * self.rows * self.w_max + self.max_inout + self.w_max)
        self.k_max = int(max(1, min(max_points, budget // per_point)))
        self.chunks = [(i, min(i + self.rows, self.n)) for i in range(0, self.n, self.rows)]
        # First-layer products for every chunk: (3, rows * w1) each; shared by all grid points.
        self.x = x
        self.first_cache: list[torch.Tensor] | None = None
        if 3 * self.n * w0.shape[0] * 4 <= budget // 4:
            self.first_cache = [self._first_products(a, b) for a, b in self.chunks]
        self.buf_a = torch.empty(self.k_max * self.rows * self.w_max)
        self.buf_b = torch.empty(self.k_max * self.rows * self.w_max)
        self.buf_w = torch.empty(self.k_max * self.max_inout)
        self.buf_bias = torch.empty(self.k_max * self.w_max)

    def _first_products(self, lo: int, hi: int) -> torch.Tensor:
        w0, b0, dw1, db1, dw2, db2 = self.first
        xs = self.x[lo:hi]
        return torch.stack([torch.addmm(b0, xs, w0.T), torch.addmm(db1, xs, dw1.T),
                            torch.addmm(db2, xs, dw2.T)]).reshape(3, -1)

    def _activate(self, z: torch.Tensor) -> None:
        if self.act_name == "sigmoid":
            z.sigmoid_()
        elif self.act_name == "tanh":
            z.tanh_()
        elif self.act_name == "relu":
            z.relu_()
        else:  # pragma: no cover - models only knows these three
            z.copy_(self.act(z))

    def evaluate(self, coefs: torch.Tensor, control: RunControl | None) -> tuple[np.ndarray, np.ndarray]:
        """coefs: (K, 2) of (a, b), K <= k_max; returns mean NLL and error per point (float64)."""
        k = coefs.shape[0]
        c = torch.cat([torch.ones(k, 1), coefs.to(torch.float32)], dim=1).contiguous()  # (K, 3)
        nll = torch.zeros(k, dtype=torch.float64)
        wrong = torch.zeros(k, dtype=torch.float64)
        w1 = self.first[0].shape[0]
        for ci, (lo, hi) in enumerate(self.chunks):
            rows = hi - lo
            prod = self.first_cache[ci] if self.first_cache is not None else self._first_products(lo, hi)
            h = self.buf_a[: k * rows * w1].view(k, rows * w1)
            torch.mm(c, prod, out=h)
            h = h.view(k, rows, w1)
            self._activate(h)
            bufs = (self.buf_b, self.buf_a)
            for li, (s, sb, fan_in, fan_out) in enumerate(self.rest):
                if control is not None:
                    control.checkpoint()
                wk = self.buf_w[: k * fan_in * fan_out].view(k, fan_in * fan_out)
                torch.mm(c, s, out=wk)
                bk = self.buf_bias[: k * fan_out].view(k, fan_out)
                torch.mm(c, sb, out=bk)
                z = bufs[li % 2][: k * rows * fan_out].view(k, rows, fan_out)
                torch.baddbmm(bk.unsqueeze(1), h, wk.view(k, fan_in, fan_out), out=z)
                if li < len(self.rest) - 1:
                    self._activate(z)
                h = z
            logits = h  # (K, rows, classes)
            target = self.y[lo:hi]
            lse = torch.logsumexp(logits, dim=2)
            picked = logits.gather(2, target.view(1, rows, 1).expand(k, rows, 1)).squeeze(2)
            nll += (lse - picked).sum(1, dtype=torch.float64)
            wrong += (logits.argmax(2) != target.view(1, rows)).sum(1).to(torch.float64)
        return (nll / self.n).numpy(), (wrong / self.n).numpy()


class _PerPoint:
    """Fallback for conv nets: one functional_call per point; only needs to be correct."""

    def __init__(self, net: Net, center: Params, d1: Params, d2: Params, x: torch.Tensor, y: torch.Tensor,
                 batch: int = 1000) -> None:
        self.net, self.center, self.d1, self.d2, self.x, self.y, self.batch = net.eval(), center, d1, d2, x, y, batch
        self.k_max = 1

    def evaluate(self, coefs: torch.Tensor, control: RunControl | None) -> tuple[np.ndarray, np.ndarray]:
        nll, err = [], []
        for a, b in coefs.tolist():
            if control is not None:
                control.checkpoint()
            params = {n: self.center[n] + a * self.d1[n] + b * self.d2[n] for n in self.center}
            total, wrong = 0.0, 0.0
            for i in range(0, len(self.x), self.batch):
                logits = torch.func.functional_call(self.net, params, (self.x[i : i + self.batch],))
                t = self.y[i : i + self.batch]
                total += F.cross_entropy(logits, t, reduction="sum").item()
                wrong += (logits.argmax(1) != t).sum().item()
            nll.append(total / len(self.x))
            err.append(wrong / len(self.x))
        return np.array(nll, dtype=np.float64), np.array(err, dtype=np.float64)


def make_plane_evaluator(net: Net, center: Params, d1: Params, d2: Params, x: torch.Tensor, y: torch.Tensor,
                         memory_mb: int = DEFAULT_MEMORY_MB, max_points: int = MAX_POINTS_PER_BATCH):
    """An object with ``k_max`` and ``evaluate(coefs (K, 2), control) -> (nll (K,), error (K,))``."""
    if is_mlp(net):
        return _BatchedMLP(net, center, d1, d2, x, y, memory_mb, max_points)
    return _PerPoint(net, center, d1, d2, x, y)


@torch.no_grad()
def evaluate_points(net: Net, center: Params, d1: Params, d2: Params, coefs: np.ndarray, x: torch.Tensor,
                    y: torch.Tensor, *, control: RunControl | None = None, memory_mb: int = DEFAULT_MEMORY_MB,
                    max_points: int = MAX_POINTS_PER_BATCH) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Yield (indices, nll, error) batch by batch for the points ``center + coefs[i,0] d1 + coefs[i,1] d2``,
    in the order given."""
    ev = make_plane_evaluator(net, center, d1, d2, x, y, memory_mb, max_points)
    coefs_t = torch.as_tensor(np.asarray(coefs, dtype=np.float64)).to(torch.float32)
    for start in range(0, len(coefs_t), ev.k_max):
        if control is not None:
            control.checkpoint()
        idx = np.arange(start, min(start + ev.k_max, len(coefs_t)))
        nll, err = ev.evaluate(coefs_t[start : start + ev.k_max], control)
        yield idx, nll, err


def coarse_to_fine_order(ny: int, nx: int) -> np.ndarray:
    """Flat (row-major) grid indices: every 4th point of both axes first, then every 2nd, then the rest, so a
    partial surface is already a coarse picture of the whole."""
    jj, ii = np.meshgrid(np.arange(ny), np.arange(nx), indexing="ij")
    level = np.where((jj % 4 == 0) & (ii % 4 == 0), 0, np.where((jj % 2 == 0) & (ii % 2 == 0), 1, 2))
    flat = level.ravel()
    return np.concatenate([np.flatnonzero(flat == lv) for lv in range(3)])


# ---------------------------------------------------------------------------------------------------------
# The surface analysis
# ---------------------------------------------------------------------------------------------------------


def surface_on_grid(net: Net, center: Params, d1: Params, d2: Params, xs: np.ndarray, ys: np.ndarray,
                    x: torch.Tensor, y: torch.Tensor, template: LandscapeResult, *,
                    control: RunControl | None = None, memory_mb: int = DEFAULT_MEMORY_MB,
                    max_points: int = MAX_POINTS_PER_BATCH, name: str = "landscape",
                    ) -> Iterator[AnalysisProgress | LandscapeResult]:
    """Fill ``template``'s grids coarse-to-fine, yielding progress with a partial result after every batch."""
    ny, nx = len(ys), len(xs)
    order = coarse_to_fine_order(ny, nx)
    jj, ii = np.unravel_index(order, (ny, nx))
    coefs = np.stack([xs[ii], ys[jj]], axis=1)
    loss = np.full(ny * nx, np.nan)
    error = np.full(ny * nx, np.nan)
    total = len(order)
    done = 0
    yield AnalysisProgress(name, 0, total, None)
    for idx, nll, err in evaluate_points(net, center, d1, d2, coefs, x, y, control=control, memory_mb=memory_mb,
                                         max_points=max_points):
        loss[order[idx]] = nll
        error[order[idx]] = err
        done += len(idx)
        partial = replace(template, loss=loss.reshape(ny, nx).copy(), error=error.reshape(ny, nx).copy())
        yield AnalysisProgress(name, done, total, partial)
    yield replace(template, loss=loss.reshape(ny, nx), error=error.reshape(ny, nx))


def _grid_shape(resolution: int | tuple[int, int]) -> tuple[int, int]:
    nx, ny = (resolution, resolution) if isinstance(resolution, int) else resolution
    if nx < 2 or ny < 2:
        raise ValueError(f"resolution must be at least 2 x 2, got {nx} x {ny}")
    return int(nx), int(ny)


def _auto_range(values: np.ndarray, margin: float = 0.25) -> tuple[float, float]:
    lo, hi = min(0.0, float(values.min())), max(0.0, float(values.max()))
    span = max(hi - lo, 1e-3)
    return lo - margin * span, hi + margin * span


@torch.no_grad()
def compute_landscape(
    run_dir: Path,
    arm: str,
    seed: int,
    epoch: int | None = None,
    *,
    directions: str = "random",
    resolution: int | tuple[int, int] = 51,
    xrange: tuple[float, float] | None = None,
    yrange: tuple[float, float] | None = None,
    n_eval: int = 2000,
    split: str = "train",
    direction_seed: int = 0,
    memory_mb: int = DEFAULT_MEMORY_MB,
    control: RunControl | None = None,
) -> Iterator[AnalysisProgress | LandscapeResult]:
    """The loss/error surface around checkpoint (arm, seed, epoch) of a run (epoch None = last).

    directions: "random" (filter-normalised, seeded by direction_seed; default range [-1, 1]) or "pca" (top two
    PCA directions of the weight trajectory; default range covers the projected trajectory with a margin).
    """
    run_dir = Path(run_dir)
    epoch = resolve_epoch(run_dir, arm, seed, epoch)
    cfg = run_config(run_dir)
    data = load_data(cfg.data)
    center = load_params(run_dir, arm, seed, epoch)
    net = build_net(cfg, data, center, seed)
    x, y = eval_subset(data, split, n_eval)
    nx, ny = _grid_shape(resolution)
    if directions == "random":
        d1 = filter_normalized_direction(center, direction_seed)
        d2 = filter_normalized_direction(center, direction_seed + 1)
        traj, traj_epochs, ratio = np.zeros((0, 2)), np.zeros(0, dtype=np.int64), np.full(2, np.nan)
        xr, yr = xrange or (-1.0, 1.0), yrange or (-1.0, 1.0)
    elif directions == "pca":
        epochs = checkpoint_epochs(run_dir, arm, seed)
        trajectory = ((e, center if e == epoch else load_params(run_dir, arm, seed, e)) for e in epochs)
        pca = trajectory_pca(trajectory, center)
        d1, d2 = pca.d1, pca.d2
        traj, traj_epochs, ratio = pca.coords, pca.epochs, pca.explained_variance_ratio
        xr = xrange or _auto_range(traj[:, 0])
        yr = yrange or _auto_range(traj[:, 1])
    else:
        raise ValueError(f"directions must be 'random' or 'pca', got {directions!r}")
    xs = np.linspace(xr[0], xr[1], nx)
    ys = np.linspace(yr[0], yr[1], ny)
    template = LandscapeResult(
        xs=xs, ys=ys, loss=np.full((ny, nx), np.nan), error=np.full((ny, nx), np.nan),
        trajectory=np.asarray(traj, dtype=np.float64), trajectory_epochs=np.asarray(traj_epochs, dtype=np.int64),
        explained_variance_ratio=np.asarray(ratio, dtype=np.float64), directions=directions, arm=arm,
        seed=int(seed), epoch=int(epoch), split=split, n_eval=len(x),
    )
    yield from surface_on_grid(net, center, d1, d2, xs, ys, x, y, template, control=control, memory_mb=memory_mb)


def landscape_flops(net: Net, n_examples: int) -> int:
    """Forward-pass FLOPs of one grid point as the benchmark counts them: 2 * N * sum(in * out) over dense
    layers (multiply-adds of every layer, including the first, whose products the batched path shares)."""
    total = 0
    for m in [b.module for b in net.blocks if b.kind == "dense"] + [net.head]:
        total += m.in_features * m.out_features
    return 2 * n_examples * total


def param_count(params: Params) -> int:
    return int(sum(math.prod(v.shape) for v in params.values()))
