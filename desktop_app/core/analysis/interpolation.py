"""1D linear interpolation (Goodfellow, Vinyals & Saxe 2015): loss along (1 - a) theta0 + a theta1.

Two paths a user compares: init -> solution (does the loss fall monotonically from e0000 to the last epoch?)
and pretrained solution -> random-init solution of the same seed (is there a barrier between the basins the two
arms end in?). Reuses the batched plane evaluator: theta0 + a (theta1 - theta0) is a plane with one direction.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

from desktop_app.core.analysis.landscape import (
    DEFAULT_MEMORY_MB,
    build_net,
    eval_subset,
    evaluate_points,
    load_params,
    resolve_epoch,
    run_config,
)
from desktop_app.core.analysis.progress import AnalysisProgress, InterpolationResult
from desktop_app.core.control import RunControl
from desktop_app.core.data import load_data

MODES = ("init_to_solution", "pretrained_to_random")


def interpolation_endpoints(run_dir: Path, arm: str, seed: int, mode: str,
                            reference_arm: str = "none") -> tuple[tuple[str, int], tuple[str, int]]:
    """((arm, epoch) of theta0, (arm, epoch) of theta1) for a mode."""
    if mode == "init_to_solution":
        return (arm, resolve_epoch(run_dir, arm, seed, 0)), (arm, resolve_epoch(run_dir, arm, seed, None))
    if mode == "pretrained_to_random":
        if arm == reference_arm:
            raise ValueError(f"pretrained_to_random needs a pre-training arm other than {reference_arm!r}")
        return (arm, resolve_epoch(run_dir, arm, seed, None)), (reference_arm,
                                                                resolve_epoch(run_dir, reference_arm, seed, None))
    raise ValueError(f"mode must be one of {', '.join(MODES)}; got {mode!r}")


@torch.no_grad()
def compute_interpolation(
    run_dir: Path,
    arm: str,
    seed: int,
    *,
    mode: str = "init_to_solution",
    reference_arm: str = "none",
    n_points: int = 41,
    alpha_range: tuple[float, float] = (-0.5, 1.5),
    n_eval: int = 2000,
    memory_mb: int = DEFAULT_MEMORY_MB,
    control: RunControl | None = None,
) -> Iterator[AnalysisProgress | InterpolationResult]:
    """Loss and error along the segment, on the train-eval subset and on the test split.

    The default 41 points on [-0.5, 1.5] put alpha exactly on 0 and 1 (step 0.05)."""
    if n_points < 2:
        raise ValueError(f"n_points must be >= 2, got {n_points}")
    run_dir = Path(run_dir)
    (arm0, e0), (arm1, e1) = interpolation_endpoints(run_dir, arm, seed, mode, reference_arm)
    cfg = run_config(run_dir)
    data = load_data(cfg.data)
    theta0 = load_params(run_dir, arm0, seed, e0)
    theta1 = load_params(run_dir, arm1, seed, e1)
    net = build_net(cfg, data, theta0, seed)
    direction = {k: theta1[k] - theta0[k] for k in theta0}
    zero = {k: torch.zeros_like(v) for k, v in theta0.items()}
    alphas = np.linspace(alpha_range[0], alpha_range[1], n_points)
    coefs = np.stack([alphas, np.zeros_like(alphas)], axis=1)
    curves: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    sizes = {}
    total = 2 * n_points
    done = 0
    yield AnalysisProgress("interpolation", 0, total, None)
    for split in ("train", "test"):
        x, y = eval_subset(data, split, n_eval if split == "train" else 0)
        sizes[split] = len(x)
        loss, err = np.full(n_points, np.nan), np.full(n_points, np.nan)
        for idx, nll, e in evaluate_points(net, theta0, direction, zero, coefs, x, y, control=control,
                                           memory_mb=memory_mb):
            loss[idx], err[idx] = nll, e
            done += len(idx)
            yield AnalysisProgress("interpolation", done, total, None)
        curves[split] = (loss, err)
    yield InterpolationResult(
        alphas=alphas,
        train_loss=curves["train"][0], train_error=curves["train"][1],
        test_loss=curves["test"][0], test_error=curves["test"][1],
        mode=mode, start=f"{arm0}/s{seed}/e{e0:04d}", end=f"{arm1}/s{seed}/e{e1:04d}",
        n_train_eval=sizes["train"], n_test=sizes["test"],
    )
