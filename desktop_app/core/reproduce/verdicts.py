"""Verdict statistics of the reproduce claims: each ``eval_*`` turns a claim's run folders into
(verdict, Markdown account of the numbers, numbers), with paired-seed confidence intervals.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from desktop_app.core.reproduce.report import fmt_ci, verdict_from
from desktop_app.core.runfolder import RunFolder, read_config, read_metrics
from desktop_app.core.runfolder.metrics import final_values
from desktop_app.core.stats import MeanCI, mean_ci, paired_difference


def final_by_arm(run_dir: Path, split: str = "test", col: str = "error") -> dict[str, dict[int, float]]:
    """arm -> seed -> ``col`` of ``split`` at the seed's last fine-tuning epoch (the run folder's one reducer)."""
    return final_values(read_metrics(run_dir), split, col)


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
        p = f"{pd.t_pvalue:.3g}" if pd and not math.isnan(pd.t_pvalue) else "-"
        lines.append(f"| {arm} | {e.n} | {fmt_ci(e, 100)} | {fmt_ci(n, 1, 4)} | {fmt_ci(t, 1, 4)} | {diff} | {p} |")
        numbers[arm] = {
            "test_error": e.mean, "test_error_ci": [e.lo, e.hi], "test_nll": n.mean, "train_nll": t.mean,
            "paired_diff_error": pd.diff.mean if pd else None,
            "paired_diff_error_ci": [pd.diff.lo, pd.diff.hi] if pd else None,
            "paired_t_p": pd.t_pvalue if pd else None,
        }
    return "\n".join(lines), numbers


def eval_regulariser(dirs: dict[str, Path], reduced: bool) -> tuple[str, str, dict]:
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
        lines.append(f"| {arm} | {fmt_ci(ci, 1, 3)} | {fmt_ci(pd.diff, 1, 3) if pd else '-'} | "
                     f"{fmt_ci(pt.diff, 1, 4) if pt else '-'} |")
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


def eval_control(dirs: dict[str, Path], reduced: bool) -> tuple[str, str, dict]:
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
            lines.append(f"| {arm} | {fmt_ci(old[arm], -100)} | {fmt_ci(new[arm], -100)} |")
            shrank.append(-new[arm].mean < -old[arm].mean)
    verdict = verdict_from(shrank)
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
            lines.append(f"| {label} | {arm} | {fmt_ci(ci, -100)} | {np.mean(list(err['none'].values())) * 100:.2f} "
                         f"| {np.mean(list(err[arm].values())) * 100:.2f} |")
            numbers.setdefault(label, {})[arm] = {"gain": -ci.mean, "gain_ci": [-ci.hi, -ci.lo]}
    if stuck:
        lines += ["", "Random-init nets that ended above 50 % test error (they never left the initial plateau of a "
                  "saturating net within the update budget, Glorot & Bengio 2010; there the gain measures "
                  "optimisation as much as generalisation): "
                  + "; ".join(f"{label}: {k} of {n} seeds" for label, (k, n) in stuck.items()) + "."]
    return lines, numbers


def eval_width(dirs: dict[str, Path], reduced: bool) -> tuple[str, str, dict]:
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


def eval_labels(dirs: dict[str, Path], reduced: bool) -> tuple[str, str, dict]:
    lines, numbers = _eval_sweep(dirs, "labelled examples")
    mean_gain = [float(np.mean([v["gain"] for v in numbers[label].values()])) for label in dirs if label in numbers]
    decreasing = all(a >= b for a, b in zip(mean_gain, mean_gain[1:], strict=False))
    verdict = "reproduced" if mean_gain and decreasing and mean_gain[0] > 0 else (
        "mixed" if mean_gain and mean_gain[0] > 0 else "not reproduced")
    lines += ["", "Claim: the gain of pre-training is largest with few labels and shrinks as labels grow. Mean gain "
              f"over arms by label count: {', '.join(f'{g * 100:+.2f}' for g in mean_gain)} points."]
    return verdict, "\n".join(lines), numbers


def eval_function_space(dirs: dict[str, Path], reduced: bool) -> tuple[str, str, dict]:
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
    probe = read_config(RunFolder(run)).data.probe_size
    lines += ["", f"Purity: the fraction of nets (one point per arm, seed and epoch: the softmax outputs on the "
              f"{probe} probe digits) whose nearest neighbour from another trajectory is in "
              "the same group; chance assumes groups mixed at random in their proportions. Erhan et al. saw no "
              "overlap at all between pre-trained and random nets. The first two principal components hold "
              f"{sum(res.explained_variance_ratio):.1%} of the output variance."]
    return verdict, "\n".join(lines), numbers


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


def eval_pitfall(dirs: dict[str, Path], reduced: bool) -> tuple[str, str, dict]:
    """Per configuration: reconstruction error and linear-probe accuracy over its seeds (mean and 95 % interval
    on both axes); Pearson r across configurations and within each architecture with seed-bootstrap intervals;
    and the conv AE's trajectory over its training epochs."""
    from desktop_app.core.analysis import run_to_end
    from desktop_app.core.analysis.pitfall import correlate, pitfall_points_for_run
    from desktop_app.core.analysis.store import cached_call
    from desktop_app.core.stats import mean_ci

    groups: dict[str, list[tuple[float, float]]] = {}
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
              "A lower reconstruction error would mean better features if r were reliably negative (its interval "
              "below zero) within architectures as well as across them."]
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
               "pixel_accuracy": pixel, "points": [list(p) for p in points], "trajectory": traj_rows}

    def predicts(r: tuple[float, float, float]) -> bool:  # lower error reliably goes with higher accuracy
        return bool(np.isfinite(r[2]) and r[2] < 0 and r[0] < -0.5)

    if predicts(across) and predicts(within):
        verdict = "not reproduced"
    elif predicts(across):
        verdict = "mixed"  # only across architectures, where capacity drives both
    else:
        verdict = "reproduced"
    return verdict, "\n".join(lines), numbers


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
    reach the common end are left out."""
    from desktop_app.core.runfolder import read_online

    points = read_online(run_dir)
    end = max((p.examples for p in points), default=0)
    out: dict[str, dict[int, float]] = {}
    for p in points:
        if p.examples == end:
            out.setdefault(p.arm, {})[p.seed] = float(getattr(p, column))
    return end, out


def eval_online(dirs: dict[str, Path], reduced: bool) -> tuple[str, str, dict]:
    """Erhan 2010 Fig. 2: per depth, does pre-training's advantage in online error persist at the end of the
    stream? Paired seeds (same seed = same init and stream in every arm); the 95 % interval of the paired
    difference must lie below zero."""
    lines = ["| hidden layers | examples seen | arm | online error % at the end (mean [95 % CI]) | test error % | "
             "paired diff in online error, points (arm - none) | p (paired t) |",
             "| ---: | ---: | --- | --- | --- | --- | ---: |"]
    numbers: dict = {}
    persists: dict[str, list[bool]] = {}
    for label, run in dirs.items():
        end, online = online_finals(run, "online_error")
        _, test = online_finals(run, "test_error")
        depth = label.split("=")[-1]
        numbers[label] = {"examples": end}
        for arm in online:
            e, t = mean_ci(list(online[arm].values())), mean_ci(list(test[arm].values()))
            pd = paired_difference(online, arm, "none") if arm != "none" else None
            diff = fmt_ci(pd.diff, 100) if pd else "-"
            p = f"{pd.t_pvalue:.3g}" if pd and not math.isnan(pd.t_pvalue) else "-"
            lines.append(f"| {depth} | {end:,} | {arm} | {fmt_ci(e, 100)} | {fmt_ci(t, 100)} | {diff} | {p} |")
            numbers[label][arm] = {
                "online_error": e.mean, "online_error_ci": [e.lo, e.hi], "test_error": t.mean,
                "paired_diff_online_error": pd.diff.mean if pd else None,
                "paired_diff_online_error_ci": [pd.diff.lo, pd.diff.hi] if pd else None,
                "paired_t_p": pd.t_pvalue if pd else None,
            }
            if pd is not None:
                persists.setdefault(label, []).append(bool(pd.diff.hi < 0))
    lines.append("")
    for label, flags in persists.items():
        arms = [a for a in numbers[label] if a not in ("none", "examples")]
        said = ", ".join(f"{a} {'persists' if ok else 'does not persist'}" for a, ok in zip(arms, flags, strict=True))
        lines.append(f"- {label}: pre-training's advantage at the end of the stream (interval of the paired "
                     f"difference entirely below 0): {said}.")
    labels = list(dirs)
    if len(labels) >= 2:  # Erhan 2010: without pre-training the deeper net does worse than the shallow one
        shallow, deep = online_finals(dirs[labels[0]])[1].get("none", {}), online_finals(dirs[labels[-1]])[1].get(
            "none", {})
        pd = paired_difference({"deep": deep, "shallow": shallow}, "deep", "shallow")
        if pd is not None:
            numbers["deep_minus_shallow_none"] = {"mean": pd.diff.mean, "ci": [pd.diff.lo, pd.diff.hi]}
            lines.append(f"- Without pre-training, {labels[-1]} minus {labels[0]} online error: "
                         f"{fmt_ci(pd.diff, 100)} points (paper: the deeper net does worse, > 0).")
    deepest = persists.get(labels[-1], []) if labels else []
    if deepest and all(deepest):
        verdict = "reproduced"
    elif any(any(f) for f in persists.values()):
        verdict = "mixed"
    else:
        verdict = "not reproduced"
    lines += ["", f"Claim: for the deepest net ({labels[-1] if labels else '-'}) every pre-trained arm keeps a lower "
              "online error than random init at the end of the stream."]
    return verdict, "\n".join(lines), numbers


def filter_numbers(run_dir: Path) -> dict[str, dict[int, dict[str, float]]]:
    """arm -> seed -> {"change": mean per-unit ||W_end - W_start|| / ||W_start|| over fine-tuning, "structure":
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
        out.setdefault(arm, {})[seed] = {
            "change": float(np.nanmean(filter_metrics.relative_change(start, end))),
            "structure": shape.mean, "structure_noise": shape.noise}
    return out


def eval_filters_move(dirs: dict[str, Path], reduced: bool) -> tuple[str, str, dict]:
    """Erhan 2010: pre-trained first-layer filters move less during fine-tuning than random-init ones."""
    nums = filter_numbers(dirs["regulariser"])
    change = {arm: {s: v["change"] for s, v in by_seed.items()} for arm, by_seed in nums.items()}
    shape = {arm: {s: v["structure"] for s, v in by_seed.items()} for arm, by_seed in nums.items()}
    noise = next((v["structure_noise"] for by_seed in nums.values() for v in by_seed.values()), float("nan"))
    lines = ["| arm | seeds | relative change of first-layer units over fine-tuning (mean [95 % CI]) | paired diff "
             "(arm - none) | p (paired t) | low-frequency share at the end | paired diff (arm - none) |",
             "| --- | ---: | --- | --- | ---: | --- | --- |"]
    numbers: dict = {"structure_white_noise": noise}
    moved_less = []
    for arm in sorted(change, key=lambda a: (a != "none", a)):
        c, s = mean_ci(list(change[arm].values())), mean_ci(list(shape[arm].values()))
        pd = paired_difference(change, arm) if arm != "none" else None
        ps = paired_difference(shape, arm) if arm != "none" else None
        p = f"{pd.t_pvalue:.3g}" if pd and not math.isnan(pd.t_pvalue) else "-"
        lines.append(f"| {arm} | {c.n} | {fmt_ci(c, 1, 3)} | {fmt_ci(pd.diff, 1, 3) if pd else '-'} | {p} | "
                     f"{fmt_ci(s, 1, 3)} | {fmt_ci(ps.diff, 1, 3) if ps else '-'} |")
        numbers[arm] = {"change": c.mean, "change_ci": [c.lo, c.hi], "structure": s.mean,
                        "change_diff": pd.diff.mean if pd else None,
                        "change_diff_ci": [pd.diff.lo, pd.diff.hi] if pd else None,
                        "paired_t_p": pd.t_pvalue if pd else None}
        if pd:
            moved_less.append(pd.diff.hi < 0 if not math.isnan(pd.diff.hi) else pd.diff.mean < 0)
    verdict = verdict_from(moved_less)
    lines += ["", "Per unit ||W_end - W_start|| / ||W_start|| of the snapshotted first-layer units, start = after "
              "pre-training (random init: the initialisation), end = the last fine-tuning epoch, averaged over the "
              f"units of each seed. Low-frequency share: white-noise filters give {noise:.3f} "
              "(docs/ARCHITECTURE.md, Filter metrics)."]
    return verdict, "\n".join(lines), numbers
