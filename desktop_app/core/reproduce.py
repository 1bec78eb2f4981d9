"""`basin reproduce`: the classic claims about pre-training, run on the embedded digits and checked with numbers.

Each claim is a set of experiments (ordinary configs, run by the ordinary engine into ordinary run folders)
plus an evaluation that turns the folders into a verdict with confidence intervals. ``reduced=True`` gives a
small version of every claim for the slow-marked tests; its verdicts are not expected to hold, only to be
computed the same way.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from desktop_app.core import config as config_mod
from desktop_app.core.config import ExperimentConfig, LayerSpec
from desktop_app.core.runs import read_manifest, read_metrics
from desktop_app.core.stats import MeanCI, mean_ci, paired_difference


@dataclass
class ClaimResult:
    name: str
    title: str
    statement: str
    verdict: str  # "reproduced" | "not reproduced" | "mixed"
    markdown: str  # our numbers, as tables and sentences
    numbers: dict = field(default_factory=dict)
    seeds: int = 0
    wall_time_s: float = 0.0
    run_dirs: dict[str, str] = field(default_factory=dict)
    setup: dict[str, str] = field(default_factory=dict)  # experiment label -> one-line description


@dataclass(frozen=True)
class Claim:
    name: str
    title: str
    statement: str
    experiments: Callable[[bool], list[tuple[str, ExperimentConfig]]]
    evaluate: Callable[[dict[str, Path], bool], tuple[str, str, dict]]


# -------------------------------------------------------------------------------------------------------
# Reading run folders
# -------------------------------------------------------------------------------------------------------


def final_by_arm(run_dir: Path, split: str = "test", col: str = "error") -> dict[str, dict[int, float]]:
    """arm -> seed -> metric at the seed's last fine-tuning epoch."""
    last: dict[tuple[str, int], tuple[int, float]] = {}
    for r in read_metrics(run_dir):
        if r["phase"] != "finetune" or r["split"] != split:
            continue
        key, ep = (r["arm"], int(r["seed"])), int(r["epoch"])
        if key not in last or ep >= last[key][0]:
            last[key] = (ep, float(r[col]))
    out: dict[str, dict[int, float]] = {}
    for (arm, seed), (_, v) in last.items():
        out.setdefault(arm, {})[seed] = v
    return out


def curves(run_dir: Path) -> dict[tuple[str, int], dict[str, np.ndarray]]:
    """(arm, seed) -> {"train": nll per epoch, "test": nll per epoch}, epochs ascending."""
    acc: dict[tuple[str, int], dict[str, dict[int, float]]] = {}
    for r in read_metrics(run_dir):
        if r["phase"] == "finetune" and r["split"] in ("train", "test"):
            acc.setdefault((r["arm"], int(r["seed"])), {}).setdefault(r["split"], {})[int(r["epoch"])] = float(r["nll"])
    return {
        k: {s: np.array([v[s][e] for e in sorted(v[s])]) for s in ("train", "test") if s in v} for k, v in acc.items()
    }


def test_nll_at_equal_train_nll(run_dir: Path, skip_epoch0: bool = True) -> tuple[float, dict[str, dict[int, float]]]:
    """Erhan 2010 Fig. 1 in one number per curve: log test NLL where each curve's log train NLL crosses a
    level every curve reaches. Returns (level, arm -> seed -> log10 test NLL at that level)."""
    cs = curves(run_dir)
    lo = 1 if skip_epoch0 else 0
    logs = {k: (np.log10(v["train"][lo:]), np.log10(v["test"][lo:])) for k, v in cs.items() if len(v["train"]) > lo}
    level = max(float(tr.min()) for tr, _ in logs.values())
    out: dict[str, dict[int, float]] = {}
    for (arm, seed), (tr, te) in logs.items():
        # first crossing of the level, linear in log-log between the two epochs around it
        idx = int(np.argmax(tr <= level + 1e-12))
        if idx == 0:
            val = float(te[0])
        else:
            x0, x1, y0, y1 = tr[idx - 1], tr[idx], te[idx - 1], te[idx]
            t = 0.0 if x0 == x1 else (x0 - level) / (x0 - x1)
            val = float(y0 + t * (y1 - y0))
        out.setdefault(arm, {})[seed] = val
    return level, out


def _fmt_ci(ci: MeanCI, scale: float = 1.0, digits: int = 2) -> str:
    if ci.n == 0:
        return "n/a"
    if math.isnan(ci.lo):
        return f"{ci.mean * scale:.{digits}f}"
    lo, hi = sorted((ci.lo * scale, ci.hi * scale))  # a negative scale swaps the ends
    return f"{ci.mean * scale:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]"


def arm_table(run_dir: Path, reference: str = "none") -> tuple[str, dict]:
    """Markdown table: test error and NLL per arm (mean, 95 % CI) and paired differences to the reference."""
    err = final_by_arm(run_dir, "test", "error")
    nll = final_by_arm(run_dir, "test", "nll")
    tr_nll = final_by_arm(run_dir, "train", "nll")
    lines = [
        "| arm | seeds | test error % (mean [95 % CI]) | test NLL | train NLL | paired diff in test error, points "
        "(arm - none) | p (paired t) |",
        "| --- | ---: | --- | --- | --- | --- | ---: |",
    ]
    numbers: dict = {}
    for arm in err:
        e, n, t = mean_ci(list(err[arm].values())), mean_ci(list(nll[arm].values())), mean_ci(
            list(tr_nll[arm].values()))
        pd = paired_difference(err, arm, reference) if arm != reference else None
        diff = _fmt_ci(pd.diff, 100) if pd else "-"
        p = f"{pd.t_pvalue:.3g}" if pd and not math.isnan(pd.t_pvalue) else "-"
        lines.append(f"| {arm} | {e.n} | {_fmt_ci(e, 100)} | {_fmt_ci(n, 1, 4)} | {_fmt_ci(t, 1, 4)} | {diff} | {p} |")
        numbers[arm] = {
            "test_error": e.mean, "test_error_ci": [e.lo, e.hi], "test_nll": n.mean, "train_nll": t.mean,
            "paired_diff_error": pd.diff.mean if pd else None,
            "paired_diff_error_ci": [pd.diff.lo, pd.diff.hi] if pd else None,
            "paired_t_p": pd.t_pvalue if pd else None,
        }
    return "\n".join(lines), numbers


# -------------------------------------------------------------------------------------------------------
# The experiments
# -------------------------------------------------------------------------------------------------------


def _base(reduced: bool, **over) -> ExperimentConfig:
    """Sigmoid 3-layer net, classic init, 1,000 labelled digits, pre-training on the whole pool (Erhan 2010)."""
    width = 64 if reduced else 500
    d = {
        "name": "reproduce",
        "arms": ["none", "rbm", "dae"],
        "data": {"name": "digits", "n_labelled": 1000, "n_unlabelled": 0, "n_valid": 500, "n_test": 1000,
                 "probe_size": 200, "train_eval_size": 0},
        "model": {"layers": [{"kind": "dense", "units": width}] * 3, "activation": "sigmoid", "init": "classic"},
        "pretraining": {
            "rbm": {"epochs": 2 if reduced else 10, "lr": 0.05, "k": 1, "batch_size": 20, "momentum": 0.5},
            "dae": {"epochs": 2 if reduced else 10, "lr": 0.05, "noise": "masking", "corruption": 0.25,
                    "batch_size": 20},
        },
        # Momentum: with plain SGD a 3-layer sigmoid net from the classic init sits on its initial plateau for
        # tens of thousands of updates (Glorot & Bengio 2010), longer than 1,000 labels give in a short run.
        "finetune": {"optimizer": "momentum", "lr": 0.1, "momentum": 0.9, "batch_size": 10,
                     "epochs": 4 if reduced else 100},
        "seeds": {"count": 2 if reduced else 10, "base": 0},
        "snapshots": {"max_filters": 64, "checkpoint_every": 1000},
        "device": "auto",
    }
    cfg = config_mod.from_dict(d)
    return cfg.with_overrides(over) if over else cfg


def _regulariser_runs(reduced: bool) -> list[tuple[str, ExperimentConfig]]:
    return [("regulariser", replace(_base(reduced), name="reproduce-regulariser"))]


def _control_runs(reduced: bool) -> list[tuple[str, ExperimentConfig]]:
    cfg = _base(reduced, **{"model.activation": "relu", "model.init": "he", "finetune.optimizer": "adam",
                            "finetune.lr": 0.001, "pretraining.dae.lr": 0.01, "seeds.count": 2 if reduced else 5})
    return [("sigmoid-classic-sgd", replace(_base(reduced), name="reproduce-regulariser")),
            ("relu-he-adam", replace(cfg, name="reproduce-modern-control"))]


def _width_runs(reduced: bool) -> list[tuple[str, ExperimentConfig]]:
    widths = (16, 128) if reduced else (25, 50, 500)
    out = []
    for w in widths:
        cfg = _base(reduced, **{"seeds.count": 2 if reduced else 5})
        layers = tuple(LayerSpec("dense", w) for _ in cfg.model.layers)
        out.append((f"width={w}", replace(cfg, name=f"reproduce-width-{w}", model=replace(cfg.model, layers=layers))))
    return out


def _labels_runs(reduced: bool) -> list[tuple[str, ExperimentConfig]]:
    sizes = (100, 500) if reduced else (100, 1000, 0)
    out = []
    for n in sizes:
        over = {"data.n_labelled": n, "seeds.count": 2 if reduced else 5}
        if n == 0 and not reduced:
            # all 3,500 pool labels: 30 epochs = 10,500 updates, the budget 1,000 labels get in 100 epochs
            over["finetune.epochs"] = 30
        cfg = _base(reduced, **over)
        out.append((f"labels={n or 'all'}", replace(cfg, name=f"reproduce-labels-{n or 'all'}")))
    return out


# -------------------------------------------------------------------------------------------------------
# The evaluations
# -------------------------------------------------------------------------------------------------------


def _eval_regulariser(dirs: dict[str, Path], reduced: bool) -> tuple[str, str, dict]:
    run = dirs["regulariser"]
    table, numbers = arm_table(run)
    level, at_level = test_nll_at_equal_train_nll(run)
    tr = final_by_arm(run, "train", "nll")
    lines = [table, "", f"Log-log trajectories (Erhan 2010 Fig. 1): every curve reaches log10 train NLL = {level:.3f}; "
             "log10 test NLL where each curve crosses it (lower = better generalisation at equal training fit):", "",
             "| arm | log10 test NLL at equal train NLL (mean [95 % CI]) | paired diff (arm - none) | final train NLL "
             "paired diff (arm - none) |", "| --- | --- | --- | --- |"]
    signature = []
    for arm in at_level:
        ci = mean_ci(list(at_level[arm].values()))
        pd = paired_difference(at_level, arm) if arm != "none" else None
        pt = paired_difference(tr, arm) if arm != "none" else None
        lines.append(f"| {arm} | {_fmt_ci(ci, 1, 3)} | {_fmt_ci(pd.diff, 1, 3) if pd else '-'} | "
                     f"{_fmt_ci(pt.diff, 1, 4) if pt else '-'} |")
        if pd:
            numbers[arm]["log_test_nll_at_equal_train"] = ci.mean
            numbers[arm]["log_test_nll_at_equal_train_diff"] = pd.diff.mean
            lower_test = pd.diff.hi < 0 if not math.isnan(pd.diff.hi) else pd.diff.mean < 0
            numbers[arm]["lower_test_nll_at_equal_train"] = bool(lower_test)
            signature.append(lower_test)
    helped = [a for a, v in numbers.items() if a != "none" and v["paired_diff_error_ci"]
              and v["paired_diff_error_ci"][1] < 0]
    none_trained = "none" in tr and float(np.mean(list(tr["none"].values()))) < 0.5
    if not none_trained:
        verdict = "not reproduced"
        lines += ["", "The randomly initialised nets did not fit the training set (final train NLL >= 0.5): the "
                  "comparison shows an optimisation effect, not the regulariser signature."]
    elif signature and all(signature) and helped:
        verdict = "reproduced"
    elif any(signature) or helped:
        verdict = "mixed"
    else:
        verdict = "not reproduced"
    lines += ["", f"Arms whose paired test-error difference to `none` has a 95 % CI entirely below 0: "
              f"{', '.join(helped) or 'none'}."]
    return verdict, "\n".join(lines), numbers


def _gap(run: Path) -> dict[str, MeanCI]:
    err = final_by_arm(run)
    return {arm: paired_difference(err, arm).diff for arm in err if arm != "none" and paired_difference(err, arm)}


def _eval_control(dirs: dict[str, Path], reduced: bool) -> tuple[str, str, dict]:
    lines, numbers = [], {}
    for label, run in dirs.items():
        table, nums = arm_table(run)
        lines += [f"**{label}**", "", table, ""]
        numbers[label] = nums
    old, new = _gap(dirs["sigmoid-classic-sgd"]), _gap(dirs["relu-he-adam"])
    lines.append("| arm | gain of pre-training, sigmoid/classic/SGD (points) | gain, ReLU/He/Adam (points) |")
    lines.append("| --- | --- | --- |")
    shrank = []
    for arm in old:
        if arm in new:
            lines.append(f"| {arm} | {_fmt_ci(old[arm], -100)} | {_fmt_ci(new[arm], -100)} |")
            shrank.append(-new[arm].mean < -old[arm].mean)
    verdict = "reproduced" if shrank and all(shrank) else ("mixed" if any(shrank) else "not reproduced")
    lines += ["", "Gain = none minus pre-trained test error, paired by seed (positive = pre-training helps). The claim "
              "is that the modern recipe shrinks it."]
    return verdict, "\n".join(lines), numbers


STUCK_ERROR = 0.5  # a random-init net ending above this test error never left its initial plateau


def _eval_sweep(dirs: dict[str, Path], what: str) -> tuple[list[str], dict]:
    lines = [f"| {what} | arm | gain of pre-training, points (none - arm, paired, mean [95 % CI]) | test error % none "
             "| test error % arm |", "| --- | --- | --- | --- | --- |"]
    numbers: dict = {}
    stuck: dict[str, tuple[int, int]] = {}
    for label, run in dirs.items():
        err = final_by_arm(run)
        none = list(err.get("none", {}).values())
        if any(v > STUCK_ERROR for v in none):
            stuck[label] = (sum(v > STUCK_ERROR for v in none), len(none))
        for arm, ci in _gap(run).items():
            lines.append(f"| {label} | {arm} | {_fmt_ci(ci, -100)} | {np.mean(list(err['none'].values())) * 100:.2f} "
                         f"| {np.mean(list(err[arm].values())) * 100:.2f} |")
            numbers.setdefault(label, {})[arm] = {"gain": -ci.mean, "gain_ci": [-ci.hi, -ci.lo]}
    if stuck:
        lines += ["", "Random-init nets that ended above 50 % test error (they never left the initial plateau of a "
                  "saturating net within the update budget, Glorot & Bengio 2010; there the gain measures "
                  "optimisation as much as generalisation): "
                  + "; ".join(f"{label}: {k} of {n} seeds" for label, (k, n) in stuck.items()) + "."]
    return lines, numbers


def _eval_width(dirs: dict[str, Path], reduced: bool) -> tuple[str, str, dict]:
    lines, numbers = _eval_sweep(dirs, "width")
    labels = list(dirs)
    small, large = labels[0], labels[-1]
    small_gain = [v["gain"] for v in numbers.get(small, {}).values()]
    large_gain = [v["gain"] for v in numbers.get(large, {}).values()]
    ok_small = bool(small_gain) and max(small_gain) <= 0.005  # does not help (within half a point) or hurts
    ok_large = bool(large_gain) and min(large_gain) > 0
    verdict = "reproduced" if ok_small and ok_large else ("mixed" if ok_small or ok_large else "not reproduced")
    lines += ["", f"Claim: at the smallest width ({small}) pre-training does not help or hurts; at the largest "
              f"({large}) it helps. Small widths: gains {', '.join(f'{g * 100:+.2f}' for g in small_gain)} points; "
              f"large: {', '.join(f'{g * 100:+.2f}' for g in large_gain)} points."]
    return verdict, "\n".join(lines), numbers


def _eval_labels(dirs: dict[str, Path], reduced: bool) -> tuple[str, str, dict]:
    lines, numbers = _eval_sweep(dirs, "labelled examples")
    mean_gain = [float(np.mean([v["gain"] for v in numbers[label].values()])) for label in dirs if label in numbers]
    decreasing = all(a >= b for a, b in zip(mean_gain, mean_gain[1:], strict=False))
    verdict = "reproduced" if mean_gain and decreasing and mean_gain[0] > 0 else (
        "mixed" if mean_gain and mean_gain[0] > 0 else "not reproduced")
    lines += ["", "Claim: the gain of pre-training is largest with few labels and shrinks as labels grow. Mean gain "
              f"over arms by label count: {', '.join(f'{g * 100:+.2f}' for g in mean_gain)} points."]
    return verdict, "\n".join(lines), numbers


def _eval_function_space(dirs: dict[str, Path], reduced: bool) -> tuple[str, str, dict]:
    from desktop_app.core.analysis import run_to_end
    from desktop_app.core.analysis.function_space import (
        compute_function_space,
        last_epoch_mask,
        load_probe_snapshots,
        nn_arm_purity,
    )
    from desktop_app.core.analysis.store import cached_call

    run = dirs["regulariser"]
    res = run_to_end(cached_call(run, "function_space", compute_function_space, method="pca"))
    # The paper's claim is pre-trained vs random: RBM and DAE nets may well share a region. Each (arm, seed)
    # trajectory keeps its own id so only a net's own trajectory is left out of its neighbours.
    snaps = load_probe_snapshots(run)
    kind = ["random" if a == "none" else "pre-trained" for a in snaps.arms]
    ids = {key: i for i, key in enumerate(dict.fromkeys(zip(snaps.arms, snaps.seeds.tolist(), strict=True)))}
    traj = np.array([ids[(a, int(s))] for a, s in zip(snaps.arms, snaps.seeds, strict=True)])
    binary = nn_arm_purity(snaps.outputs, kind, traj)
    binary_last = nn_arm_purity(snaps.outputs, kind, traj, last_epoch_mask(kind, traj, snaps.epochs))
    p_pre = float(np.mean([k == "pre-trained" for k in kind]))
    binary_chance = p_pre ** 2 + (1 - p_pre) ** 2
    numbers: dict = {"purity": res.purity, "purity_last": res.purity_last, "pretrained_vs_random": binary,
                     "pretrained_vs_random_last": binary_last,
                     "pca_explained_variance": [float(v) for v in res.explained_variance_ratio]}
    lines = ["| grouping | nearest-neighbour purity, all epochs | last epoch only | chance |",
             "| --- | ---: | ---: | ---: |",
             f"| pre-trained (any method) vs random init | {binary:.3f} | {binary_last:.3f} | {binary_chance:.2f} |",
             f"| each arm (none, RBM, DAE) | {res.purity:.3f} | {res.purity_last:.3f} | "
             f"{1.0 / max(len(set(snaps.arms)), 1):.2f} |"]
    verdict = "reproduced" if binary >= 0.9 else ("mixed" if binary > binary_chance + 0.2 else "not reproduced")
    probe = config_mod.load(run / "config.toml").data.probe_size
    lines += ["", f"Purity: the fraction of nets (one point per arm, seed and epoch: the softmax outputs on the "
              f"{probe} probe digits) whose nearest neighbour from another trajectory is in "
              "the same group; chance assumes groups mixed at random in their proportions. Erhan et al. saw no "
              "overlap at all between pre-trained and random nets. The first two principal components hold "
              f"{sum(res.explained_variance_ratio):.1%} of the output variance."]
    return verdict, "\n".join(lines), numbers


def _pitfall_runs(reduced: bool) -> list[tuple[str, ExperimentConfig]]:
    """One-layer autoencoders of several widths and noise levels (dense DAE) plus conv AEs: >= 12 configs."""
    out = []
    widths = (16, 64) if reduced else (16, 64, 256, 1024)
    noises = (0.0, 0.5) if reduced else (0.0, 0.25, 0.5)
    common = {
        "name": "reproduce-pitfall",
        "data": {"name": "digits", "n_labelled": 1000, "n_valid": 500, "n_test": 1000, "probe_size": 50},
        "finetune": {"epochs": 1, "batch_size": 50},
        "seeds": {"count": 1},
        "snapshots": {"max_filters": 16},
        "device": "auto",
    }
    for w in widths:
        for noise in noises:
            model = {"layers": [{"kind": "dense", "units": w}], "activation": "sigmoid"}
            d = {**common, "arms": ["dae"], "model": model,
                 "pretraining": {"dae": {"epochs": 2 if reduced else 10, "lr": 0.05, "corruption": noise}}}
            out.append((f"dae w={w} noise={noise:g}", config_mod.from_dict(d)))
    if not reduced:
        for ch in (4, 16):
            for noise in (0.0, 0.5):
                d = {**common, "arms": ["cae"],
                     "model": {"layers": [{"kind": "conv", "units": ch, "kernel": 5}], "activation": "sigmoid"},
                     "pretraining": {"cae": {"epochs": 5, "lr": 0.01, "corruption": noise}}}
                out.append((f"cae ch={ch} noise={noise:g}", config_mod.from_dict(d)))
    return out


def _eval_pitfall(dirs: dict[str, Path], reduced: bool) -> tuple[str, str, dict]:
    from desktop_app.core.analysis import run_to_end
    from desktop_app.core.analysis.pitfall import correlate, pitfall_points_for_run
    from desktop_app.core.analysis.store import cached_call

    lines = ["| configuration | reconstruction error (per image, nats) | linear probe test accuracy % | raw pixels % |",
             "| --- | ---: | ---: | ---: |"]
    points = []
    pixel = float("nan")
    for label, run in dirs.items():
        # cached in the run folder under the key the report figures and the GUI's default-free job use
        res = run_to_end(cached_call(run, "pitfall", pitfall_points_for_run))
        for recon, acc in zip(res.recon_error, res.probe_accuracy, strict=True):
            points.append((label, float(recon), float(acc)))
            pixel = float(res.pixel_accuracy)
            lines.append(f"| {label} | {recon:.2f} | {acc * 100:.2f} | {pixel * 100:.2f} |")
    corr = correlate(points)
    within = correlate(_within_architecture(points))
    lines += ["", f"Across {corr.n} configurations: Pearson r = {corr.pearson_r:+.3f} (p = {corr.pearson_p:.3g}), "
              f"Spearman r = {corr.spearman_r:+.3f} (p = {corr.spearman_p:.3g}). Raw-pixel baseline probe: "
              f"{pixel * 100:.2f} %. A lower reconstruction error would mean better features only if r were "
              "strongly negative.",
              "", "Width (or channel count) moves both numbers at once: a wider layer reconstructs better and gives a "
              "probe more features. Within one architecture (each configuration's numbers minus its architecture's "
              f"mean, so only the noise level varies): Pearson r = {within.pearson_r:+.3f} "
              f"(p = {within.pearson_p:.3g}), Spearman r = {within.spearman_r:+.3f} (p = {within.spearman_p:.3g})."]
    numbers = {"n": corr.n, "pearson_r": corr.pearson_r, "pearson_p": corr.pearson_p,
               "spearman_r": corr.spearman_r, "spearman_p": corr.spearman_p, "pixel_accuracy": pixel,
               "within_pearson_r": within.pearson_r, "within_pearson_p": within.pearson_p,
               "within_spearman_r": within.spearman_r, "within_spearman_p": within.spearman_p,
               "points": [list(p) for p in points]}

    def strong(c) -> bool:  # reconstruction error predicts probe accuracy: lower error, higher accuracy
        return c.spearman_r < -0.7 and c.spearman_p < 0.05

    if strong(corr) and strong(within):
        verdict = "not reproduced"
    elif strong(corr):
        verdict = "mixed"  # only across architectures, where capacity drives both
    else:
        verdict = "reproduced"
    return verdict, "\n".join(lines), numbers


def _within_architecture(points: list[tuple[str, float, float]]) -> list[tuple[str, float, float]]:
    """(label, recon, acc) centred within each architecture (the label before " noise="): what is left varies
    with the noise level only. Architectures with a single point carry no within-architecture information."""
    groups: dict[str, list[tuple[str, float, float]]] = {}
    for p in points:
        groups.setdefault(p[0].split(" noise=")[0], []).append(p)
    out = []
    for members in groups.values():
        if len(members) < 2:
            continue
        r0 = float(np.mean([m[1] for m in members]))
        a0 = float(np.mean([m[2] for m in members]))
        out += [(m[0], m[1] - r0, m[2] - a0) for m in members]
    return out


CLAIMS: dict[str, Claim] = {
    "regulariser": Claim(
        "regulariser", "Pre-training acts as a regulariser (Erhan et al. 2010)",
        "Pre-trained nets reach lower test error and lower test NLL at equal or higher train NLL: the log test NLL "
        "vs log train NLL curves of pre-trained nets lie below those of randomly initialised nets.",
        _regulariser_runs, _eval_regulariser),
    "modern-control": Claim(
        "modern-control", "ReLU, He init and Adam shrink the gap (Glorot 2010/2011, He 2015)",
        "Better units, inits and optimisers close most of the gap that pre-training opened on saturating nets.",
        _control_runs, _eval_control),
    "width": Claim(
        "width", "Small layers: pre-training does not help (Erhan et al. 2010)",
        "With tens of units per layer pre-training spends capacity on modelling the input and does not help or "
        "hurts; with hundreds of units it helps.",
        _width_runs, _eval_width),
    "labels": Claim(
        "labels", "Pre-training matters most with few labels (He, Girshick & Dollar 2019; Glorot 2011)",
        "The gain of pre-training on the whole unlabelled pool is largest with few labelled examples and shrinks "
        "as the labelled set grows.",
        _labels_runs, _eval_labels),
    "function-space": Claim(
        "function-space", "Pre-trained and random nets live in different regions of function space (Erhan et al. 2010)",
        "Embedding every net at every epoch by its outputs on a fixed test set (t-SNE, ISOMAP), pre-trained and "
        "randomly initialised trajectories never overlap.",
        _regulariser_runs, _eval_function_space),
    "pitfall": Claim(
        "pitfall", "Reconstruction error does not predict feature quality (Alberti et al. 2017)",
        "Across autoencoder configurations, a lower reconstruction error does not go with more linearly separable "
        "features: the correlation between reconstruction error and linear-probe accuracy is weak or absent.",
        _pitfall_runs, _eval_pitfall),
}


def run_claim(name: str, out_dir: Path, reduced: bool = False, device: str | None = None,
              on_event: Callable[[object], None] | None = None) -> ClaimResult:
    """Run (or reuse, when a completed folder exists) every experiment of a claim, then evaluate it."""
    from desktop_app.core.engine import resume_experiment, run_experiment
    claim = CLAIMS[name]
    t0 = time.perf_counter()
    dirs: dict[str, Path] = {}
    setup: dict[str, str] = {}
    seeds = 0
    for label, cfg in claim.experiments(reduced):
        if device:
            cfg = replace(cfg, device=device)
        run_dir = Path(out_dir) / ("reduced" if reduced else "full") / _shared_name(cfg, label, name)
        run_dir = _completed_twin(run_dir, cfg.hash()) or run_dir
        manifest = read_manifest(run_dir)
        if manifest.get("status") != "completed" or manifest.get("config_hash") != cfg.hash():
            if manifest.get("config_hash") == cfg.hash():  # interrupted earlier: continue where it stopped
                events = resume_experiment(run_dir)
            else:
                if run_dir.exists():
                    import shutil

                    shutil.rmtree(run_dir)
                events = run_experiment(cfg, None, run_dir)
            for ev in events:
                if on_event:
                    on_event(ev)
            if read_manifest(run_dir).get("status") != "completed":
                raise RuntimeError(f"claim {name}: experiment {label} did not complete; see {run_dir}")
        dirs[label] = run_dir
        setup[label] = describe_setup(cfg)
        seeds = max(seeds, cfg.seeds.count)
    verdict, markdown, numbers = claim.evaluate(dirs, reduced)
    wall = sum(float(read_manifest(d).get("elapsed_s", 0.0)) for d in dirs.values())
    return ClaimResult(name, claim.title, claim.statement, verdict, markdown, numbers, seeds,
                       max(wall, time.perf_counter() - t0) if not wall else wall, {k: str(v) for k, v in dirs.items()},
                       setup)


def describe_setup(cfg: ExperimentConfig) -> str:
    """One line saying what an experiment trains: the setup a reader needs to judge the numbers."""
    m, d, f, pt = cfg.model, cfg.data, cfg.finetune, cfg.pretraining
    names = [f"{spec.kind} {spec.units}" + (f" (k{spec.kernel})" if spec.kind == "conv" else "") for spec in m.layers]
    layers = f"{len(names)} x {names[0]}" if len(set(names)) == 1 and len(names) > 1 else ", ".join(names)
    parts = [f"hidden layers {layers}; {m.activation}, {m.init} init"]
    methods = {"rbm": f"RBM CD-{pt.rbm.k}, {pt.rbm.epochs} epochs/layer, lr {pt.rbm.lr:g}",
               "dae": f"DAE {pt.dae.noise} {pt.dae.corruption:g}, {pt.dae.epochs} epochs/layer, lr {pt.dae.lr:g}",
               "cae": f"conv AE {pt.cae.noise} {pt.cae.corruption:g}, {pt.cae.epochs} epochs/layer, lr {pt.cae.lr:g}"}
    parts.append("arms " + ", ".join(cfg.arms) + "".join(f"; {methods[a]}" for a in cfg.arms if a in methods))
    opt = f.optimizer + (f" {f.momentum:g}" if f.optimizer == "momentum" else "")
    parts.append(f"fine-tuning {opt}, lr {f.lr:g}, batch {f.batch_size}, {f.epochs} epochs")
    parts.append(f"{d.n_labelled or 'all'} labelled {d.name}, pre-training on "
                 f"{d.n_unlabelled or 'every training image'}; {cfg.seeds.count} paired seed(s)")
    return "; ".join(parts)


def _completed_twin(run_dir: Path, config_hash: str) -> Path | None:
    """A completed folder of the same experiment under another claim's name (width=500 is labels=1000: the
    config hash leaves out the name), so one experiment runs once however many claims use it."""
    if read_manifest(run_dir).get("status") == "completed" or not run_dir.parent.is_dir():
        return None
    for other in sorted(run_dir.parent.glob(f"*-{config_hash[:8]}")):
        m = read_manifest(other)
        if other != run_dir and m.get("status") == "completed" and m.get("config_hash") == config_hash:
            return other
    return None


def _shared_name(cfg: ExperimentConfig, label: str, claim: str) -> str:
    """Claims that share an experiment (regulariser = control's sigmoid arm) share its folder."""
    return f"{cfg.name}-{cfg.hash()[:8]}"


def iter_claims(names: list[str]) -> Iterator[Claim]:
    for n in names:
        yield CLAIMS[n]


def render_report(results: list[ClaimResult], reduced: bool = False, notes: list[str] | None = None) -> str:
    """docs/RESULTS.md: per claim the paper's statement, our numbers, seeds, wall time and run folders."""
    import platform

    head = [
        "# Results: does Basin reproduce the classic claims?",
        "",
        "Generated by `basin reproduce all" + (" --reduced" if reduced else "") + " --report docs/RESULTS.md` on "
        f"{platform.machine()} ({time.strftime('%Y-%m-%d')}), figures drawn by the app's panels. Data: the embedded "
        "5,000 real MNIST digits "
        "(3,500 train pool, 500 valid, 1,000 test). Every number is over paired seeds (seed i of every arm shares "
        "init and data order); intervals are 95 % t-intervals over seeds. Wall time is the sum of the elapsed "
        "times in the manifests of a claim's runs (runs shared between claims count for each; several runs may "
        "have shared the 2 cores, so it is an upper bound for one run alone). In the window, the `reproduce-*` "
        "presets run the same experiments (same config hash) for watching a claim live.",
        "",
        *[line for note in notes or [] for line in (note, "")],
        "| claim | verdict | seeds | wall time |",
        "| --- | --- | ---: | ---: |",
    ]
    head += [f"| {r.title} | **{r.verdict}** | {r.seeds} | {r.wall_time_s / 60:.1f} min |" for r in results]
    body = []
    for r in results:
        body += ["", f"## {r.title}", "", f"**Paper:** {r.statement}", ""]
        if r.setup:
            body += ["**Setup:**", ""] + [f"- {label}: {text}" for label, text in r.setup.items()] + [""]
        body += [f"**Verdict:** {r.verdict}.", "",
                 r.markdown, "", f"Seeds: {r.seeds}. Wall time on this 2-core CPU: {r.wall_time_s / 60:.1f} min. "
                 "Run folders: " + ", ".join(f"`{Path(d).name}`" for d in r.run_dirs.values()) + "."]
        for fig in r.numbers.get("_figures", []):
            body += ["", f"![{r.name}]({fig})"]
    return "\n".join(head + body) + "\n"
