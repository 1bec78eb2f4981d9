"""Evidence of the reproduce claims: each ``eval_*`` turns a claim's run folders into ``rules.Evidence`` (a
Markdown account of the numbers, the numbers, and the paired-seed 95 % intervals its rule judges). Verdicts are
not decided here: each claim's rule (``claims.CLAIMS``, fixed before the runs) decides from the intervals.
Over 400 lines: one reducer per claim, sharing the metric readers at the top; a claim with its own data (output
variance, Figure 1) has its own module.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from desktop_app.core.reproduce.report import fmt_ci, fmt_p
from desktop_app.core.reproduce.rules import Evidence, finite, key, no_interval
from desktop_app.core.runfolder import RunFolder, read_config, read_metrics
from desktop_app.core.runfolder.metrics import read_finals
from desktop_app.core.stats import STUCK_ERROR, MeanCI, mean_ci, paired_difference
from desktop_app.core.stats import plateau_seeds as stats_plateau_seeds
from desktop_app.core.untrusted import is_int


def final_by_arm(run_dir: Path, split: str = "test", col: str = "error") -> dict[str, dict[int, float]]:
    """arm -> seed -> ``col`` of ``split`` at the seed's final fine-tuning epoch (the run folder's one reducer: the
    last epoch, or with early stopping the selected one)."""
    return read_finals(run_dir, split, col)


def curves(run_dir: Path) -> dict[tuple[str, int], dict[str, np.ndarray]]:
    """(arm, seed) -> {"train": nll per epoch, "test": nll per epoch}, epochs ascending."""
    acc: dict[tuple[str, int], dict[str, dict[int, float]]] = {}
    for r in read_metrics(run_dir):
        if r["phase"] == "finetune" and r["split"] in ("train", "test"):
            acc.setdefault((r["arm"], int(r["seed"])), {}).setdefault(r["split"], {})[int(r["epoch"])] = float(r["nll"])
    return {
        k: {s: np.array([v[s][e] for e in sorted(v[s])]) for s in ("train", "test") if s in v} for k, v in acc.items()
    }


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
        diff = fmt_ci(pd.diff, 100) if pd else "-"
        p = fmt_p(pd)
        lines.append(f"| {arm} | {e.n} | {fmt_ci(e, 100)} | {fmt_ci(n, 1, 4)} | {fmt_ci(t, 1, 4)} | {diff} | {p} |")
        numbers[arm] = {
            "test_error": e.mean, "test_error_ci": [e.lo, e.hi], "test_nll": n.mean, "train_nll": t.mean,
            "paired_diff_error": pd.diff.mean if pd else None,
            "paired_diff_error_ci": [pd.diff.lo, pd.diff.hi] if pd else None,
            "paired_t_p": pd.t_pvalue if pd else None,
        }
    return "\n".join(lines), numbers


REGULARISER_LEVELS = (0.1, 0.03, 0.01)  # train NLL levels the test NLL is compared at (rule: claims.CLAIMS)
TINY = 1e-12  # floor of an NLL before log10 (a net that fits every training example exactly)


def at_log_level(tr: np.ndarray, te: np.ndarray, level: float) -> float | None:
    """log10 test NLL where the log10 train NLL curve first crosses ``level`` (log10), linear between the two
    epochs around the crossing; None when the curve never gets there."""
    reached = tr <= level + 1e-12
    if not reached.any():
        return None
    idx = int(np.argmax(reached))
    if idx == 0:
        return float(te[0])
    x0, x1, y0, y1 = tr[idx - 1], tr[idx], te[idx - 1], te[idx]
    t = 0.0 if x0 == x1 else (x0 - level) / (x0 - x1)
    return float(y0 + t * (y1 - y0))


def _log_curves(run_dir: Path, skip_epoch0: bool) -> dict[tuple[str, int], tuple[np.ndarray, np.ndarray]]:
    lo = 1 if skip_epoch0 else 0
    return {k: (np.log10(np.maximum(v["train"][lo:], TINY)), np.log10(np.maximum(v["test"][lo:], TINY)))
            for k, v in curves(run_dir).items() if len(v.get("train", ())) > lo and len(v.get("test", ())) > lo}


def test_nll_at_train_nll(run_dir: Path, level: float, skip_epoch0: bool = True) -> dict[str, dict[int, float]]:
    """Erhan 2010 Fig. 1 at one train NLL ``level``: arm -> seed -> log10 test NLL where that seed's curve first
    reaches it. Seeds whose curve never reaches the level are absent (the rule counts them)."""
    out: dict[str, dict[int, float]] = {}
    for (arm, seed), (tr, te) in _log_curves(run_dir, skip_epoch0).items():
        out.setdefault(arm, {})
        val = at_log_level(tr, te, float(np.log10(level)))
        if val is not None:
            out[arm][seed] = val
    return out


def test_nll_at_equal_train_nll(run_dir: Path, skip_epoch0: bool = True) -> tuple[float, dict[str, dict[int, float]]]:
    """The same at the lowest train NLL every curve reaches: (log10 level, arm -> seed -> log10 test NLL). One
    seed that never fits moves this level for all: the rule judges the fixed REGULARISER_LEVELS instead."""
    logs = _log_curves(run_dir, skip_epoch0)
    level = max(float(tr.min()) for tr, _ in logs.values())
    out: dict[str, dict[int, float]] = {}
    for (arm, seed), (tr, te) in logs.items():
        out.setdefault(arm, {})[seed] = float(at_log_level(tr, te, level))  # type: ignore[arg-type]  # reached
    return level, out


def _diff(by_arm: dict[str, dict[int, float]], arm: str, ref: str = "none") -> MeanCI:
    """Paired difference arm - ref over the seeds both have (no pairs: an empty interval)."""
    pd = paired_difference(by_arm, arm, ref)
    return pd.diff if pd is not None else no_interval()


def eval_regulariser(dirs: dict[str, Path], reduced: bool) -> Evidence:
    """Erhan 2010: lower test error, lower test NLL at matched train NLL, and a final train NLL that is not lower."""
    run = dirs["regulariser"]
    table, numbers = arm_table(run)
    tr = final_by_arm(run, "train", "nll")
    intervals: dict[str, MeanCI] = {}
    pretrained = [a for a in numbers if a != "none"]
    for arm in pretrained:
        intervals[key("test_error_diff", arm)] = _diff(final_by_arm(run), arm)
    lines = [table, "", "Log10 test NLL where each seed's log10 train NLL curve first reaches a fixed level (Erhan "
             "2010 Fig. 1 at matched training fit; lower = better generalisation), over the seeds whose curves reach "
             "it in both arms:", "",
             "| train NLL level | arm | seeds reaching (arm / none / both) | log10 test NLL, arm | log10 test NLL, "
             "none | paired diff (arm - none) |", "| ---: | --- | --- | --- | --- | --- |"]
    numbers["levels"] = {}
    for level in REGULARISER_LEVELS:
        at = test_nll_at_train_nll(run, level)
        none = at.get("none", {})
        for arm in pretrained:
            mine = at.get(arm, {})
            both = sorted(set(mine) & set(none))
            d = _diff(at, arm) if both else no_interval()
            intervals[key("log_test_nll_at_train_nll", arm, f"train NLL {level:g}")] = d
            lines.append(f"| {level:g} | {arm} | {len(mine)} / {len(none)} / {len(both)} of {len(tr.get(arm, {}))} | "
                         f"{fmt_ci(mean_ci([mine[s] for s in both]), 1, 3)} | "
                         f"{fmt_ci(mean_ci([none[s] for s in both]), 1, 3)} | {fmt_ci(d, 1, 3)} |")
            numbers["levels"].setdefault(f"{level:g}", {})[arm] = {
                "seeds_arm": len(mine), "seeds_none": len(none), "seeds_both": len(both),
                "diff": finite(d.mean), "diff_ci": [finite(d.lo), finite(d.hi)]}
    log_tr = {arm: {s: float(np.log10(max(v, TINY))) for s, v in by.items()} for arm, by in tr.items()}
    lines += ["", "| arm | final train NLL (mean [95 % CI]) | log10 final train NLL (mean [95 % CI]) | paired diff in "
              "log10 final train NLL (arm - none) |", "| --- | --- | --- | --- |"]
    for arm in log_tr:
        d = _diff(log_tr, arm) if arm != "none" else None
        if d is not None:
            intervals[key("log_train_nll_diff", arm)] = d
            numbers[arm]["log_train_nll_diff"] = finite(d.mean)
            numbers[arm]["log_train_nll_diff_ci"] = [finite(d.lo), finite(d.hi)]
        lines.append(f"| {arm} | {fmt_ci(mean_ci(list(tr[arm].values())), 1, 4)} | "
                     f"{fmt_ci(mean_ci(list(log_tr[arm].values())), 1, 2)} | {fmt_ci(d, 1, 2) if d else '-'} |")
    return Evidence("\n".join(lines), numbers, intervals)


def _gains(run: Path, seeds: set[int] | None = None) -> dict[str, dict[int, float]]:
    """arm -> seed -> gain of pre-training (none minus arm final test error), on ``seeds`` only if given."""
    err = final_by_arm(run)
    none = err.get("none", {})
    return {arm: {s: none[s] - v for s, v in by.items() if s in none and (seeds is None or s in seeds)}
            for arm, by in err.items() if arm != "none"}


def _gap(run: Path) -> dict[str, MeanCI]:
    return {arm: mean_ci(list(by.values())) for arm, by in _gains(run).items()}


def eval_control(dirs: dict[str, Path], reduced: bool) -> Evidence:
    lines, numbers = [], {}
    for label, run in dirs.items():
        table, nums = arm_table(run)
        lines += [f"**{label}**", "", table, ""]
        numbers[label] = nums
    old_runs, new_runs = dirs["sigmoid-classic-sgd"], dirs["relu-he-adam"]
    old, new = _gains(old_runs), _gains(new_runs)
    lines.append("| arm | gain of pre-training, sigmoid/classic/SGD (points) | gain, ReLU/He/Adam (points) | change of "
                 "the gain (modern - classic, paired by seed) |")
    lines.append("| --- | --- | --- | --- |")
    intervals: dict[str, MeanCI] = {}
    for arm in old:
        if arm in new:
            change = _diff({"new": new[arm], "old": old[arm]}, "new", "old")
            intervals[key("gain_change", arm)] = change
            numbers.setdefault("gain_change", {})[arm] = {"mean": finite(change.mean),
                                                          "ci": [finite(change.lo), finite(change.hi)]}
            lines.append(f"| {arm} | {fmt_ci(mean_ci(list(old[arm].values())), 100)} | "
                         f"{fmt_ci(mean_ci(list(new[arm].values())), 100)} | {fmt_ci(change, 100)} |")
    lines += ["", "Gain = none minus pre-trained test error of the same seed (positive = pre-training helps); its "
              "change pairs seed i of the two recipes (same data order, different init)."]
    return Evidence("\n".join(lines), numbers, intervals)


def plateau_seeds(run: Path) -> set[int]:
    """Seeds whose random-init net ended above STUCK_ERROR test error (``core.stats.plateau_seeds``, the rule the
    Summary panel applies to the same run): its gain is an optimisation failure."""
    return stats_plateau_seeds(final_by_arm(run).get("none", {}))


def _eval_sweep(dirs: dict[str, Path], what: str) -> tuple[list[str], dict, dict[str, dict[str, dict[int, float]]]]:
    """The sweep's table (gain over the seeds that left the plateau, and over all seeds), numbers, and label ->
    arm -> seed -> gain over the seeds that left the plateau."""
    lines = [f"| {what} | arm | plateau seeds of none | gain of pre-training, points, seeds off the plateau (none - "
             "arm, paired, mean [95 % CI]) | gain, all seeds | test error % none (off the plateau) | test error % "
             "arm |",
             "| --- | --- | ---: | --- | --- | --- | --- |"]
    numbers: dict = {}
    kept: dict[str, dict[str, dict[int, float]]] = {}
    stuck_text = []
    for label, run in dirs.items():
        err = final_by_arm(run)
        stuck = plateau_seeds(run)
        off = set(err.get("none", {})) - stuck
        if stuck:
            seeds = ", ".join(map(str, sorted(stuck)))
            stuck_text.append(f"{label}: {len(stuck)} of {len(err.get('none', {}))} seeds ({seeds})")
        kept[label] = _gains(run, off)
        for arm, by in _gains(run).items():
            ci, ci_all = mean_ci(list(kept[label][arm].values())), mean_ci(list(by.values()))
            none_off = mean_ci([v for s, v in err["none"].items() if s in off])
            lines.append(f"| {label} | {arm} | {len(stuck)} | {fmt_ci(ci, 100)} | {fmt_ci(ci_all, 100)} | "
                         f"{fmt_ci(none_off, 100)} | {fmt_ci(mean_ci(list(err[arm].values())), 100)} |")
            numbers.setdefault(label, {})[arm] = {"gain": finite(ci.mean), "gain_ci": [finite(ci.lo), finite(ci.hi)],
                                                  "seeds": ci.n, "gain_all_seeds": ci_all.mean,
                                                  "plateau_seeds": sorted(stuck)}
    lines += ["", f"Plateau seeds: random-init nets that ended above {STUCK_ERROR:.0%} test error (never left the "
              "chance-level plateau of a saturating net within the update budget, Glorot & Bengio 2010; their gain "
              "measures an optimisation failure, so they are left out of the judged gain): "
              + ("; ".join(stuck_text) if stuck_text else "none") + "."]
    return lines, numbers, kept


def eval_width(dirs: dict[str, Path], reduced: bool) -> Evidence:
    lines, numbers, kept = _eval_sweep(dirs, "width")
    labels = list(dirs)
    intervals: dict[str, MeanCI] = {}
    for arm, by in kept[labels[0]].items():
        intervals[key("gain_smallest", labels[0], arm)] = mean_ci(list(by.values()))
    for arm, by in kept[labels[-1]].items():
        intervals[key("gain_largest", labels[-1], arm)] = mean_ci(list(by.values()))
    return Evidence("\n".join(lines), numbers, intervals)


def eval_labels(dirs: dict[str, Path], reduced: bool) -> Evidence:
    lines, numbers, kept = _eval_sweep(dirs, "labelled examples")
    labels = list(dirs)
    intervals: dict[str, MeanCI] = {}
    for arm, by in kept[labels[0]].items():
        intervals[key("gain_fewest", labels[0], arm)] = mean_ci(list(by.values()))
    lines += ["", "| fewer labels | more labels | arm | gain at fewer minus gain at more, points (paired by seed, "
              "seeds off the plateau in both) |", "| --- | --- | --- | --- |"]
    for a, b in zip(labels, labels[1:], strict=False):
        for arm in kept[a]:
            d = _diff({"a": kept[a][arm], "b": kept[b].get(arm, {})}, "a", "b")
            intervals[key("gain_shrinks", f"{a} vs {b}", arm)] = d
            numbers.setdefault("shrinks", {}).setdefault(f"{a} vs {b}", {})[arm] = {
                "mean": finite(d.mean), "ci": [finite(d.lo), finite(d.hi)], "seeds": d.n}
            text = fmt_ci(d, 100)  # below MIN_SEEDS it already says its n ("19.81 (n = 2) (n = 2)")
            lines.append(f"| {a} | {b} | {arm} | {text if '(n = ' in text else f'{text} (n = {d.n})'} |")
    return Evidence("\n".join(lines), numbers, intervals)


def eval_function_space(dirs: dict[str, Path], reduced: bool) -> Evidence:
    from desktop_app.core.analysis import run_to_end
    from desktop_app.core.analysis.function_space import (
        compute_function_space,
        last_epoch_mask,
        load_probe_snapshots,
        nn_arm_purity,
        nn_chance,
        nn_same_arm,
    )
    from desktop_app.core.analysis.store import cached_call

    run = dirs["regulariser"]
    res = run_to_end(cached_call(run, "function_space", compute_function_space, method="pca"))
    # The paper's claim is pre-trained vs random: RBM and DAE nets may well share a region. Each (arm, seed)
    # trajectory keeps its own id so only a net's own trajectory is left out of its neighbours.
    snaps = load_probe_snapshots(run)
    kind = ["random" if a == "none" else "pre-trained" for a in snaps.arms]
    ids = {tk: i for i, tk in enumerate(dict.fromkeys(zip(snaps.arms, snaps.seeds.tolist(), strict=True)))}
    traj = np.array([ids[(a, int(s))] for a, s in zip(snaps.arms, snaps.seeds, strict=True)])
    binary = nn_arm_purity(snaps.outputs, kind, traj)
    binary_last = nn_arm_purity(snaps.outputs, kind, traj, last_epoch_mask(kind, traj, snaps.epochs))
    binary_chance = nn_chance(kind, traj)
    numbers: dict = {"purity": res.purity, "purity_last": res.purity_last, "pretrained_vs_random": binary,
                     "pretrained_vs_random_last": binary_last,
                     "pca_explained_variance": [float(v) for v in res.explained_variance_ratio]}
    lines = ["| grouping | nearest-neighbour purity, all epochs | last epoch only | chance |",
             "| --- | ---: | ---: | ---: |",
             f"| pre-trained (any method) vs random init | {binary:.3f} | {binary_last:.3f} | {binary_chance:.2f} |",
             f"| each arm (none, RBM, DAE) | {res.purity:.3f} | {res.purity_last:.3f} | "
             f"{nn_chance(snaps.arms, snaps.seeds):.2f} |"]
    same = nn_same_arm(snaps.outputs, kind, traj)
    per_seed = {int(s): float(np.nanmean(same[snaps.seeds == s])) for s in sorted(set(snaps.seeds.tolist()))
                if np.isfinite(same[snaps.seeds == s]).any()}
    purity_ci = mean_ci(list(per_seed.values()))
    numbers["pretrained_vs_random_per_seed"] = per_seed
    lines.append(f"| pre-trained vs random init, per seed (mean [95 % CI] over {purity_ci.n} seeds) | "
                 f"{fmt_ci(purity_ci, 1, 3)} | | {binary_chance:.2f} |")
    probe = read_config(RunFolder(run)).data.probe_size
    lines += ["", f"Purity: the fraction of nets (one point per arm, seed and epoch: the softmax outputs on the "
              f"{probe} probe digits) whose nearest neighbour from another trajectory is in "
              "the same group; chance: the purity of nets mixed at random (each net's share of its own group "
              "among the nets of other trajectories, averaged). Erhan et al. saw no "
              "overlap at all between pre-trained and random nets. The first two principal components hold "
              f"{sum(res.explained_variance_ratio):.1%} of the output variance. Per seed: the purity over the points "
              "of that seed's trajectories (every arm), their neighbours sought among all other trajectories."]
    return Evidence("\n".join(lines), numbers, {"purity_per_seed": purity_ci})


TRAJECTORY = "trajectory"  # label prefix of the conv AE stopped after 1, 2, 5 ... epochs (not a configuration)
BOOTSTRAP = 2000  # resamples of the seeds within each configuration, for the correlations' intervals


def _ci_text(c) -> str:
    return f"{c.mean:.3g} [{c.lo:.3g}, {c.hi:.3g}]" if c.n >= 3 else f"{c.mean:.3g} (n = {c.n}: no interval)"


def _corr_ci(groups: dict[str, list[tuple[float, float]]], within: bool, rng: np.random.Generator
             ) -> tuple[float, float, float]:
    """Pearson r between the configurations' mean reconstruction error and mean probe accuracy (``within``:
    centred per architecture first), and its 95 % bootstrap interval: the seeds of every configuration resampled
    with replacement, so the interval says how much the seeds' noise moves r."""
    from desktop_app.core.analysis.pitfall import correlate

    def r_of(means: dict[str, tuple[float, float]]) -> float:
        pts = [(label, rec, acc) for label, (rec, acc) in means.items()]
        return correlate(within_architecture(pts) if within else pts).pearson_r

    point = r_of({k: (float(np.mean([p[0] for p in v])), float(np.mean([p[1] for p in v])))
                  for k, v in groups.items()})
    draws = []
    for _ in range(BOOTSTRAP):
        means = {}
        for k, v in groups.items():
            pick = rng.integers(0, len(v), len(v))
            means[k] = (float(np.mean([v[i][0] for i in pick])), float(np.mean([v[i][1] for i in pick])))
        r = r_of(means)
        if np.isfinite(r):
            draws.append(r)
    if len(draws) < BOOTSTRAP // 2:
        return point, float("nan"), float("nan")
    lo, hi = np.percentile(draws, [2.5, 97.5])
    return point, float(lo), float(hi)


def architecture_differences(by_seed: dict[str, dict[int, tuple[float, float]]]
                             ) -> dict[str, tuple[str, str, MeanCI, MeanCI]]:
    """Per architecture (the label before " noise=") with two or more noise levels: (clean label, noisiest label,
    paired reconstruction-error difference noisiest - clean, probe-accuracy gain of the configuration that
    reconstructs better), each over the seeds both configurations have (seed s: same init and data order). The
    gain is oriented by the mean reconstruction difference: positive = the better reconstruction has the better
    features, what "reconstruction error predicts feature quality" would say."""
    archs: dict[str, list[tuple[float, str]]] = {}
    for label in by_seed:
        arch, _, noise = label.partition(" noise=")
        if noise:
            archs.setdefault(arch, []).append((float(noise), label))
    out = {}
    for arch, members in archs.items():
        if len(members) < 2:
            continue
        clean, noisy = min(members)[1], max(members)[1]
        seeds = sorted(set(by_seed[clean]) & set(by_seed[noisy]))
        d_rec = [by_seed[noisy][s][0] - by_seed[clean][s][0] for s in seeds]
        d_acc = [by_seed[noisy][s][1] - by_seed[clean][s][1] for s in seeds]
        rec = mean_ci(d_rec)
        sign = -1.0 if rec.mean > 0 or not seeds else 1.0  # the clean one reconstructs better: its gain = -d_acc
        out[arch] = (clean, noisy, rec, mean_ci([sign * d for d in d_acc]))
    return out


def eval_pitfall(dirs: dict[str, Path], reduced: bool) -> Evidence:
    """Per configuration: reconstruction error and linear-probe accuracy over its seeds (mean and 95 % interval
    on both axes); Pearson r across configurations (seed-bootstrap interval); per architecture the paired
    differences between its clean and its noisiest configuration; and the conv AE's trajectory over its epochs."""
    from desktop_app.core.analysis import run_to_end
    from desktop_app.core.analysis.pitfall import correlate, pitfall_points_for_run
    from desktop_app.core.analysis.store import cached_call
    from desktop_app.core.stats import mean_ci

    groups: dict[str, list[tuple[float, float]]] = {}
    by_seed: dict[str, dict[int, tuple[float, float]]] = {}
    trajectory: dict[int, list[tuple[float, float]]] = {}
    points = []
    pixel = float("nan")
    for label, run in dirs.items():
        # cached in the run folder under the key the report figures and the GUI's default-free job use
        res = run_to_end(cached_call(run, "pitfall", pitfall_points_for_run))
        pixel = float(res.pixel_accuracy)
        pairs = [(float(r), float(a)) for r, a in zip(res.recon_error, res.probe_accuracy, strict=True)
                 if np.isfinite(r)]
        if label.startswith(TRAJECTORY):
            trajectory[int(label.rsplit("epochs=", 1)[1])] = pairs
        else:
            groups[label] = pairs
            by_seed[label] = {int(s): (float(r), float(a)) for s, r, a in
                              zip(res.seeds, res.recon_error, res.probe_accuracy, strict=True) if np.isfinite(r)}
            points += [(label, r, a) for r, a in pairs]
    lines = ["| configuration | seeds | reconstruction error (nats per image) | linear probe test accuracy % |",
             "| --- | ---: | ---: | ---: |"]
    for label, pairs in groups.items():
        rec, acc = mean_ci([p[0] for p in pairs]), mean_ci([p[1] * 100 for p in pairs])
        lines.append(f"| {label} | {len(pairs)} | {_ci_text(rec)} | {_ci_text(acc)} |")
    rng = np.random.default_rng(0)
    across = _corr_ci(groups, False, rng)
    within = _corr_ci(groups, True, rng)
    per_seed = correlate(points)
    n_cfg = len(groups)
    lines += ["", f"Raw-pixel baseline probe: {pixel * 100:.2f} %. Intervals are 95 % over seeds (t); the correlations "
              f"are over the {n_cfg} configurations' means, with 95 % intervals from {BOOTSTRAP} bootstrap resamples "
              "of each configuration's seeds.",
              "",
              f"- Across configurations: Pearson r = {across[0]:+.2f} [{across[1]:+.2f}, {across[2]:+.2f}]. Width (or "
              "channel count) moves both numbers at once: a wider layer reconstructs better and gives a probe more "
              "features.",
              f"- Within one architecture (each configuration's means minus its architecture's mean, so only the "
              f"noise level varies): Pearson r = {within[0]:+.2f} [{within[1]:+.2f}, {within[2]:+.2f}].",
              f"- Every seed as its own point ({per_seed.n} points): Pearson r = {per_seed.pearson_r:+.2f}, Spearman "
              f"r = {per_seed.spearman_r:+.2f}.",
              "",
              "A lower reconstruction error would mean better features if r were reliably negative. Across "
              "configurations capacity drives both numbers; within an architecture only the noise level differs:", "",
              "| architecture | compared (paired by seed) | seeds | reconstruction error, noisiest - clean | probe "
              "accuracy gain of the better reconstruction, points |", "| --- | --- | ---: | --- | --- |"]
    intervals: dict[str, MeanCI] = {}
    n_min = min((len(v) for v in groups.values()), default=0)
    intervals["across_r"] = MeanCI(n_min, across[0], math.nan, across[1], across[2])
    arch_numbers = {}
    for arch, (clean, noisy, rec, gain) in architecture_differences(by_seed).items():
        intervals[key("recon_differs", arch)] = rec
        intervals[key("accuracy_gain_of_better_recon", arch)] = gain
        arch_numbers[arch] = {"clean": clean, "noisy": noisy, "recon_diff": finite(rec.mean),
                              "recon_diff_ci": [finite(rec.lo), finite(rec.hi)], "accuracy_gain": finite(gain.mean),
                              "accuracy_gain_ci": [finite(gain.lo), finite(gain.hi)], "seeds": rec.n}
        lines.append(f"| {arch} | {noisy.split(' noise=')[1]} vs {clean.split(' noise=')[1]} noise | {rec.n} | "
                     f"{_ci_text(rec)} | {fmt_ci(gain, 100)} |")
    traj_rows = []
    if trajectory:
        lines += ["", "Conv AE trajectory over its training (the same seeds stopped after more epochs):", "",
                  "| epochs | reconstruction error | probe accuracy % |", "| ---: | ---: | ---: |"]
        for epochs in sorted(trajectory):
            pairs = trajectory[epochs]
            rec, acc = mean_ci([p[0] for p in pairs]), mean_ci([p[1] * 100 for p in pairs])
            lines.append(f"| {epochs} | {_ci_text(rec)} | {_ci_text(acc)} |")
            traj_rows.append([epochs, rec.mean, rec.lo, rec.hi, acc.mean, acc.lo, acc.hi])
        first, last = traj_rows[0], traj_rows[-1]
        lines += ["", f"From {first[0]} to {last[0]} epochs the reconstruction error goes {first[1]:.3g} -> "
                  f"{last[1]:.3g} ({(last[1] - first[1]) / first[1]:+.0%}) and the probe accuracy {first[4]:.2f} -> "
                  f"{last[4]:.2f} % ({last[4] - first[4]:+.2f} points)."]
    numbers = {"n": n_cfg, "pearson_r": across[0], "pearson_ci": [across[1], across[2]],
               "within_pearson_r": within[0], "within_pearson_ci": [within[1], within[2]],
               "per_seed_pearson_r": per_seed.pearson_r, "per_seed_spearman_r": per_seed.spearman_r,
               "pearson_p": per_seed.pearson_p, "spearman_r": per_seed.spearman_r, "spearman_p": per_seed.spearman_p,
               "pixel_accuracy": pixel, "points": [list(p) for p in points], "trajectory": traj_rows,
               "architectures": arch_numbers}
    return Evidence("\n".join(lines), numbers, intervals)


def within_architecture(points: list[tuple[str, float, float]]) -> list[tuple[str, float, float]]:
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


def online_finals(run_dir: Path, column: str = "online_error") -> tuple[int, dict[str, dict[int, float]]]:
    """(examples at the end of the stream, arm -> seed -> ``column`` there) of an online run; units that did not
    reach the common end are left out. ``online_error`` there is the error over the run's ``online.block`` last
    examples, each scored before the net trained on it (the unit records it: ``training.online_unit``)."""
    end, out, _ = _online_end(run_dir, column)
    return end, out


def _online_end(run_dir: Path, column: str) -> tuple[int, dict[str, dict[int, float]], set[int]]:
    """``online_finals`` and the windows (``block``) the end points were recorded over."""
    from desktop_app.core.runfolder import read_online

    points = read_online(run_dir)
    end = max((p.examples for p in points), default=0)
    out: dict[str, dict[int, float]] = {}
    windows = set()
    for p in points:
        if p.examples == end:
            out.setdefault(p.arm, {})[p.seed] = float(getattr(p, column))
            windows.add(p.block)
    return end, out, windows


ONLINE_PAPER_BASE = 60_000  # MNIST training digits the paper's InfiniteMNIST stream deforms
ONLINE_PAPER_WINDOW = 100_000  # the paper's online error: over the last 100,000 examples
DIGITS_TOTAL = 5_000  # the embedded digits (core/data/digits.py); its training pool is what valid and test leave


def stream_base(run_dir: Path) -> int:
    """How many base images an online run's stream deforms: its labelled set, as the manifest recorded it."""
    from desktop_app.core.runfolder import read_manifest

    sizes = read_manifest(run_dir).get("sizes")
    n = sizes.get("labelled") if isinstance(sizes, dict) else None
    return n if is_int(n) and n > 0 else 0


def eval_online(dirs: dict[str, Path], reduced: bool) -> Evidence:
    """Erhan 2010 Fig. 2: per depth and pre-trained arm, the paired difference in online error at the end of the
    stream (same seed = same init and stream in every arm), the online error over the run's window (the full claim's
    is the paper's last 100,000 examples); and, without pre-training, deep minus shallow."""
    lines = ["| hidden layers | examples seen | arm | online error % at the end (mean [95 % CI]) | test error % | "
             "paired diff in online error, points (arm - none) | p (paired t) |",
             "| ---: | ---: | --- | --- | --- | --- | ---: |"]
    numbers: dict = {}
    intervals: dict[str, MeanCI] = {}
    windows: set[int] = set()
    for label, run in dirs.items():
        end, online, window = _online_end(run, "online_error")
        windows |= window
        _, test = online_finals(run, "test_error")
        depth = label.split("=")[-1]
        numbers[label] = {"examples": end}
        for arm in online:
            e, t = mean_ci(list(online[arm].values())), mean_ci(list(test[arm].values()))
            pd = paired_difference(online, arm, "none") if arm != "none" else None
            diff = fmt_ci(pd.diff, 100) if pd else "-"
            p = fmt_p(pd)
            lines.append(f"| {depth} | {end:,} | {arm} | {fmt_ci(e, 100)} | {fmt_ci(t, 100)} | {diff} | {p} |")
            numbers[label][arm] = {
                "online_error": e.mean, "online_error_ci": [e.lo, e.hi], "test_error": t.mean,
                "paired_diff_online_error": pd.diff.mean if pd else None,
                "paired_diff_online_error_ci": [pd.diff.lo, pd.diff.hi] if pd else None,
                "paired_t_p": pd.t_pvalue if pd else None,
            }
            if pd is not None:
                intervals[key("online_error_diff", label, arm)] = pd.diff
    labels = list(dirs)
    numbers["window"] = sorted(windows)
    shown = " and ".join(f"{w:,}" for w in sorted(windows)) or "no"
    lines += ["", f"Online error: the error over the last {shown} examples of each unit's stream, each example scored "
              f"just before the net trained on it (the paper's window: the last {ONLINE_PAPER_WINDOW:,})."]
    if len(labels) >= 2:  # Erhan 2010: without pre-training the deeper net does worse than the shallow one
        shallow, deep = online_finals(dirs[labels[0]])[1].get("none", {}), online_finals(dirs[labels[-1]])[1].get(
            "none", {})
        d = _diff({"deep": deep, "shallow": shallow}, "deep", "shallow")
        intervals[key("deeper_none_worse", f"{labels[-1]} - {labels[0]}")] = d
        numbers["deep_minus_shallow_none"] = {"mean": finite(d.mean), "ci": [finite(d.lo), finite(d.hi)]}
        lines += ["", f"Without pre-training, {labels[-1]} minus {labels[0]} online error: {fmt_ci(d, 100)} points "
                  "(paper: the deeper net does worse, > 0)."]
    data = read_config(RunFolder(dirs[labels[0]])).data if labels else None
    if data is not None:
        base = stream_base(dirs[labels[0]]) or data.n_labelled or (
            DIGITS_TOTAL - data.n_valid - data.n_test if data.name == "digits" else ONLINE_PAPER_BASE - data.n_valid)
        end = max((v["examples"] for v in numbers.values() if isinstance(v, dict) and "examples" in v), default=0)
        numbers["stream_base"] = {"data": data.name, "base_images": base, "examples_per_base_image": end / base}
        if data.name != "mnist":
            lines += ["", f"Setting: the reduced (digits) version. The stream deforms {base:,} base {data.name} "
                      f"images, each deformed about {end / base:,.0f} times over {end:,} examples, and the online "
                      "error at the end is close to a training error; the paper's InfiniteMNIST deforms 60,000 MNIST "
                      f"digits and measures online error over the last {ONLINE_PAPER_WINDOW:,} examples. The rule is "
                      "the same; whether the advantage survives unlimited data is tested only by the MNIST version."]
        else:
            lines += ["", f"Setting: the stream deforms {base:,} MNIST training digits (the paper's InfiniteMNIST: "
                      f"{ONLINE_PAPER_BASE:,}), each base digit drawn about {end / base:.3g} times over {end:,} "
                      "examples, every time freshly deformed."]
    return Evidence("\n".join(lines), numbers, intervals)


def filter_numbers(run_dir: Path) -> dict[str, dict[int, dict[str, float]]]:
    """arm -> seed -> {"change": mean per-unit ||W_end - W_start|| / ||W_start|| over fine-tuning, "absolute": mean
    per-unit ||W_end - W_start||, "start_norm": mean per-unit ||W_start||, "structure":
    low-frequency share of the last first-layer snapshot, "structure_noise"}, from the two snapshots per unit
    that ``filter_metrics.finetune_span`` picks (only those are read)."""
    from desktop_app.core.analysis import filter_metrics
    from desktop_app.core.runfolder import read_manifest
    from desktop_app.core.runfolder.layout import parse_snapshot_name

    folder = RunFolder(run_dir)
    input_shape = tuple(int(v) for v in read_manifest(run_dir).get("input_shape", ()))
    paths: dict[tuple[str, int], dict[tuple[str, int], Path]] = {}
    for arm, seed, path in folder.snapshots("filters"):
        _, phase, epoch = parse_snapshot_name(path.stem)  # type: ignore[misc]  # listed ones parse
        paths.setdefault((arm, seed), {})[(phase, epoch)] = path
    out: dict[str, dict[int, dict[str, float]]] = {}
    for (arm, seed), by_key in sorted(paths.items()):
        span = filter_metrics.finetune_span(set(by_key))
        if span is None:
            continue
        start, end = (folder.load_array(by_key[k]) for k in span)
        shape = filter_metrics.structure(end, input_shape)
        a = np.asarray(start, dtype=np.float64).reshape(len(start), -1)
        b = np.asarray(end, dtype=np.float64).reshape(len(end), -1)
        out.setdefault(arm, {})[seed] = {
            "change": float(np.nanmean(filter_metrics.relative_change(start, end))),
            "absolute": float(np.linalg.norm(b - a, axis=1).mean()) if a.shape == b.shape else float("nan"),
            "start_norm": float(np.linalg.norm(a, axis=1).mean()),
            "structure": shape.mean, "structure_noise": shape.noise}
    return out


def eval_filters_move(dirs: dict[str, Path], reduced: bool) -> Evidence:
    """Erhan 2010: pre-trained first-layer filters move less during fine-tuning than random-init ones, judged on
    both the relative change (||W_end - W_start|| / ||W_start||) and the absolute change (||W_end - W_start||):
    the start norms differ several-fold between arms, so the relative change alone can say "less" by its
    denominator."""
    nums = filter_numbers(dirs["regulariser"])
    cols = ("change", "absolute", "start_norm", "structure")
    per = {c: {arm: {s: v[c] for s, v in by_seed.items()} for arm, by_seed in nums.items()} for c in cols}
    noise = next((v["structure_noise"] for by_seed in nums.values() for v in by_seed.values()), float("nan"))
    lines = ["| arm | seeds | first-layer norm at the start | relative change (mean [95 % CI]) | paired diff (arm - "
             "none) | absolute change | paired diff (arm - none) | low-frequency share at the end | paired diff |",
             "| --- | ---: | --- | --- | --- | --- | --- | --- | --- |"]
    numbers: dict = {"structure_white_noise": noise}
    intervals: dict[str, MeanCI] = {}
    for arm in sorted(per["change"], key=lambda a: (a != "none", a)):
        ci = {c: mean_ci(list(per[c][arm].values())) for c in cols}
        d = {c: _diff(per[c], arm) for c in ("change", "absolute", "structure")} if arm != "none" else {}
        lines.append(f"| {arm} | {ci['change'].n} | {fmt_ci(ci['start_norm'], 1, 3)} | {fmt_ci(ci['change'], 1, 3)} | "
                     f"{fmt_ci(d['change'], 1, 3) if d else '-'} | {fmt_ci(ci['absolute'], 1, 3)} | "
                     f"{fmt_ci(d['absolute'], 1, 3) if d else '-'} | {fmt_ci(ci['structure'], 1, 3)} | "
                     f"{fmt_ci(d['structure'], 1, 3) if d else '-'} |")
        numbers[arm] = {"change": ci["change"].mean, "change_ci": [ci["change"].lo, ci["change"].hi],
                        "absolute": ci["absolute"].mean, "start_norm": ci["start_norm"].mean,
                        "structure": ci["structure"].mean,
                        "change_diff": d["change"].mean if d else None,
                        "change_diff_ci": [d["change"].lo, d["change"].hi] if d else None,
                        "absolute_diff": d["absolute"].mean if d else None,
                        "absolute_diff_ci": [d["absolute"].lo, d["absolute"].hi] if d else None}
        if d:
            intervals[key("relative_change_diff", arm)] = d["change"]
            intervals[key("absolute_change_diff", arm)] = d["absolute"]
    lines += ["", "Per unit of the snapshotted first-layer units, start = after pre-training (random init: the "
              "initialisation), end = the last fine-tuning epoch, averaged over the units of each seed: the norm "
              "||W_start||, the relative change ||W_end - W_start|| / ||W_start|| and the absolute change "
              f"||W_end - W_start||. Low-frequency share: white-noise filters give {noise:.3f} "
              "(docs/ARCHITECTURE.md, Filter metrics)."]
    return Evidence("\n".join(lines), numbers, intervals)
