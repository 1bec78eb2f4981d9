"""The pitfall (Alberti et al. 2017): a low reconstruction error need not mean linearly separable features.

Basin puts the two side by side: each pre-trained first layer's final reconstruction error (from the run's
metrics) against the test accuracy of a linear probe on its features, plus the same probe on raw pixels, and
the correlation across points. The engine saves the pre-trained net as e0000 (before fine-tuning), which is
the net the probe reads.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import torch
from scipy import stats

from desktop_app.core.analysis.landscape import build_net, checkpoint_epochs, load_params, run_config
from desktop_app.core.analysis.progress import AnalysisProgress, Correlation, PitfallResult
from desktop_app.core.control import RunControl
from desktop_app.core.data import load_data
from desktop_app.core.runfolder.workspace import read_metrics
from desktop_app.core.training.greedy import pretrain_targets

PRETRAIN_ARMS = ("rbm", "dae", "cae")


def linear_probe(features_train: np.ndarray, y_train: np.ndarray, features_test: np.ndarray, y_test: np.ndarray,
                 *, max_iter: int = 300, c: float = 1.0) -> float:
    """Test accuracy of a multinomial logistic regression on standardised features: how linearly separable the
    classes are in that representation (max_iter bounded so a probe never stalls the GUI)."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    xtr = np.asarray(features_train, dtype=np.float64).reshape(len(features_train), -1)
    xte = np.asarray(features_test, dtype=np.float64).reshape(len(features_test), -1)
    ytr, yte = np.asarray(y_train), np.asarray(y_test)
    if len(np.unique(ytr)) < 2:
        return float(np.mean(yte == ytr[0])) if len(ytr) else float("nan")
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=max_iter, C=c))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(xtr, ytr)
    return float(model.score(xte, yte))


def correlate(points: Sequence[tuple[str, float, float]]) -> Correlation:
    """Pearson and Spearman r (and two-sided p) between reconstruction error and probe accuracy over
    (label, recon_error, probe_accuracy) points; NaN with fewer than 3 points or a constant column."""
    rec = np.array([p[1] for p in points], dtype=np.float64)
    acc = np.array([p[2] for p in points], dtype=np.float64)
    n = len(rec)
    nan = float("nan")
    if n < 3 or np.ptp(rec) == 0 or np.ptp(acc) == 0:
        return Correlation(n, nan, nan, nan, nan)
    pr = stats.pearsonr(rec, acc)
    sr = stats.spearmanr(rec, acc)
    return Correlation(n, float(pr.statistic), float(pr.pvalue), float(sr.statistic), float(sr.pvalue))


def final_recon_errors(run_dir: Path) -> dict[tuple[str, int, int], float]:
    """(arm, seed, layer) -> reconstruction error at the last pre-training epoch, from the run's metrics."""
    last: dict[tuple[str, int, int], tuple[int, float]] = {}
    for r in read_metrics(run_dir):
        if r.get("phase") != "pretrain" or r.get("recon_error", "") == "":
            continue
        key = (r["arm"], int(r["seed"]), int(r["layer"]))
        epoch = int(r["epoch"])
        if key not in last or epoch >= last[key][0]:
            last[key] = (epoch, float(r["recon_error"]))
    return {k: v for k, (_, v) in last.items()}


@torch.no_grad()
def _features(net: torch.nn.Module, x: torch.Tensor, upto: int, batch: int = 1000) -> np.ndarray:
    """Output of blocks[:upto] in eval mode, flattened: the representation the probe reads."""
    net.eval()
    return torch.cat([net.features(x[i : i + batch], upto).flatten(1) for i in range(0, len(x), batch)]).numpy()


@torch.no_grad()
def pitfall_points_for_run(run_dir: Path, *, n_train: int = 0, n_test: int = 0, max_iter: int = 300,
                           control: RunControl | None = None) -> Iterator[AnalysisProgress | PitfallResult]:
    """For each pre-training arm and seed: the first pre-trained layer's features of the e0000 net (pre-trained,
    not yet fine-tuned) probed on labelled train -> test, against that layer's final reconstruction error.

    n_train / n_test: 0 = the whole labelled training set / test split."""
    run_dir = Path(run_dir)
    cfg = run_config(run_dir)
    data = load_data(cfg.data)
    xtr, ytr = data.train_x[: n_train or None], data.train_y[: n_train or None]
    xte, yte = data.test_x[: n_test or None], data.test_y[: n_test or None]
    recon = final_recon_errors(run_dir)
    units = [(a, s) for a in cfg.arms if a in PRETRAIN_ARMS for s in cfg.seed_values
             if 0 in checkpoint_epochs(run_dir, a, s)]
    total = len(units) + 1
    yield AnalysisProgress("pitfall", 0, total, None)
    pixel_acc = linear_probe(xtr.flatten(1).numpy(), ytr.numpy(), xte.flatten(1).numpy(), yte.numpy(),
                             max_iter=max_iter)
    yield AnalysisProgress("pitfall", 1, total, None)
    labels, arms, seeds, layers, recs, accs = [], [], [], [], [], []
    for i, (arm, seed) in enumerate(units):
        if control is not None:
            control.checkpoint()
        net = build_net(cfg, data, load_params(run_dir, arm, seed, 0), seed)
        targets = pretrain_targets(net, arm)
        if not targets:
            continue
        li = targets[0]
        ftr, fte = _features(net, xtr, li + 1), _features(net, xte, li + 1)
        labels.append(f"{arm}/s{seed}")
        arms.append(arm)
        seeds.append(seed)
        layers.append(li)
        recs.append(recon.get((arm, seed, li), math.nan))
        accs.append(linear_probe(ftr, ytr.numpy(), fte, yte.numpy(), max_iter=max_iter))
        yield AnalysisProgress("pitfall", i + 2, total, None)
    corr = correlate([(lab, r, a) for lab, r, a in zip(labels, recs, accs, strict=True) if math.isfinite(r)])
    yield PitfallResult(
        labels=tuple(labels), arms=tuple(arms), seeds=np.array(seeds, dtype=np.int64),
        layer=np.array(layers, dtype=np.int64), recon_error=np.array(recs, dtype=np.float64),
        probe_accuracy=np.array(accs, dtype=np.float64), pixel_accuracy=pixel_acc, n_train=len(xtr), n_test=len(xte),
        pearson_r=corr.pearson_r, pearson_p=corr.pearson_p, spearman_r=corr.spearman_r, spearman_p=corr.spearman_p,
    )
