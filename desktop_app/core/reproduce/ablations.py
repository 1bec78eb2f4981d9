"""Verdicts of two controls of the regulariser claim (Erhan et al. 2010), each paired with its runs by seed:

- ``eval_bottom_k``: pre-training only the bottom k of the layers (``pretraining.bottom_layers``), k = 0 (the
  regulariser's random-init arm) up to all (its pre-trained arms): does the final test error fall with k, and is
  the final train NLL not lower?
- ``eval_penalties``: L1 or L2 weight penalties on randomly initialised nets instead of pre-training, the strength
  of each chosen on the validation error: does the best penalised net still do worse on test than pre-training?

Kept beside ``verdicts`` (same tables, same paired t-intervals) so that module stays one claim family long. Like
``verdicts`` these only measure: each claim's rule (``claims.CLAIMS``) decides the verdict.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from desktop_app.core.reproduce.report import fmt_ci, fmt_p
from desktop_app.core.reproduce.rules import Evidence, key, no_interval
from desktop_app.core.reproduce.verdicts import TINY, final_by_arm
from desktop_app.core.runfolder import RunFolder, read_config
from desktop_app.core.stats import MeanCI, mean_ci, paired_difference

REGULARISER = "regulariser"  # the label of the regulariser claim's run among a claim's run folders
REFERENCE = "none"


def _ci_list(ci: MeanCI) -> list[float]:
    return [ci.lo, ci.hi]


# ---------------------------------------------------------------------------------------------------------
# Pre-training only the bottom k layers
# ---------------------------------------------------------------------------------------------------------


def bottom_k_finals(dirs: dict[str, Path]) -> dict[str, dict[int, dict[str, dict[int, float]]]]:
    """pre-trained arm -> k -> {"test_error", "train_nll"} -> seed -> final value. k = 0 is the regulariser run's
    random-init arm, k = all its pre-trained arm; the other runs say their k in ``pretraining.bottom_layers``.
    Only arms present at every k any arm has are kept (an arm missing at some k has no monotone trend to judge)."""
    from desktop_app.core.training.greedy import pretrained_layer_count

    out: dict[str, dict[int, dict[str, dict[int, float]]]] = {}
    for label, run in dirs.items():
        cfg = read_config(RunFolder(run))
        err, nll = final_by_arm(run, "test", "error"), final_by_arm(run, "train", "nll")
        for arm in err:
            if arm == REFERENCE:
                continue
            k = pretrained_layer_count(cfg, arm)
            out.setdefault(arm, {})[k] = {"test_error": err[arm], "train_nll": nll.get(arm, {})}
            if label == REGULARISER and REFERENCE in err:
                out[arm][0] = {"test_error": err[REFERENCE], "train_nll": nll.get(REFERENCE, {})}
    ks = set().union(*(set(v) for v in out.values()))
    return {arm: {k: by_k[k] for k in sorted(ks)} for arm, by_k in out.items() if set(by_k) == ks}


def eval_bottom_k(dirs: dict[str, Path], reduced: bool) -> Evidence:
    """Erhan 2010: the more bottom layers pre-trained, the lower the test error, and the final train NLL is not
    lower. Evidence: per arm every step k-1 -> k in test error, and log10 final train NLL from k = 0 to all layers
    (the regulariser claim's ``log_train_nll_diff``: one quantity, one statement, in both claims), paired."""
    finals = bottom_k_finals(dirs)
    lines = ["| arm | k | seeds | test error % (mean [95 % CI]) | step in test error, points (k minus k-1, paired) "
             "| final train NLL | step in train NLL (k minus k-1, paired) |",
             "| --- | ---: | ---: | --- | --- | --- | --- |"]
    numbers: dict = {}
    intervals: dict[str, MeanCI] = {}
    for arm, by_k in finals.items():
        ks = list(by_k)
        rows: dict = {"k": ks, "test_error": [], "test_error_ci": [], "train_nll": [], "train_nll_ci": [],
                      "steps": []}
        for i, k in enumerate(ks):
            e, t = mean_ci(list(by_k[k]["test_error"].values())), mean_ci(list(by_k[k]["train_nll"].values()))
            rows["test_error"].append(e.mean)
            rows["test_error_ci"].append(_ci_list(e))
            rows["train_nll"].append(t.mean)
            rows["train_nll_ci"].append(_ci_list(t))
            step_e = step_t = None
            if i:
                step_e = _paired(by_k, k, ks[i - 1], "test_error")
                step_t = _paired(by_k, k, ks[i - 1], "train_nll")
                intervals[key("test_error_step", arm, f"k={ks[i - 1]} to {k}")] = step_e
                rows["steps"].append({"from": ks[i - 1], "to": k, "test_error_diff": step_e.mean,
                                      "test_error_diff_ci": _ci_list(step_e), "train_nll_diff": step_t.mean,
                                      "train_nll_diff_ci": _ci_list(step_t)})
            lines.append(f"| {arm} | {k} | {e.n} | {fmt_ci(e, 100)} | {fmt_ci(step_e, 100) if step_e else '-'} | "
                         f"{fmt_ci(t, 1, 4)} | {fmt_ci(step_t, 1, 4) if step_t else '-'} |")
        if len(ks) >= 2:
            all_e = _paired(by_k, ks[-1], ks[0], "test_error")
            all_t = _paired(by_k, ks[-1], ks[0], "train_nll")
            logs = {k: {s: float(np.log10(max(v, TINY))) for s, v in by_k[k]["train_nll"].items()}
                    for k in (ks[0], ks[-1])}
            log_t = paired_difference({"all": logs[ks[-1]], "none": logs[ks[0]]}, "all", "none")
            log_ci = log_t.diff if log_t is not None else no_interval()
            intervals[key("log_train_nll_diff", arm)] = log_ci
            rows.update({"overall_test_error_diff": all_e.mean, "overall_test_error_diff_ci": _ci_list(all_e),
                         "overall_train_nll_diff": all_t.mean, "overall_train_nll_diff_ci": _ci_list(all_t),
                         "overall_log_train_nll_diff": log_ci.mean, "overall_log_train_nll_diff_ci": _ci_list(log_ci)})
        numbers[arm] = rows
    lines.append("")
    for arm, r in numbers.items():
        if "overall_test_error_diff" not in r:
            continue
        (e_lo, e_hi), (t_lo, t_hi) = r["overall_test_error_diff_ci"], r["overall_log_train_nll_diff_ci"]
        lines.append(f"- {arm}: from k = {r['k'][0]} to k = {r['k'][-1]} the test error moves "
                     f"{r['overall_test_error_diff'] * 100:+.2f} points [{e_lo * 100:+.2f}, {e_hi * 100:+.2f}] and "
                     f"the log10 final train NLL {r['overall_log_train_nll_diff']:+.2f} [{t_lo:+.2f}, {t_hi:+.2f}].")
    lines += ["", "k = 0 is the regulariser run's random-init arm and the largest k its pre-trained arm (same seeds: "
              "same init of every layer left untrained, same data order); the layers above k keep their random init."]
    return Evidence("\n".join(lines), numbers, intervals)


def _paired(by_k: dict[int, dict[str, dict[int, float]]], k: int, ref: int, metric: str) -> MeanCI:
    pd = paired_difference({"k": by_k[k][metric], "ref": by_k[ref][metric]}, "k", "ref")
    return pd.diff if pd is not None else MeanCI(0, math.nan, math.nan, math.nan, math.nan)


# ---------------------------------------------------------------------------------------------------------
# L1 / L2 penalties instead of pre-training
# ---------------------------------------------------------------------------------------------------------


def penalty_finals(dirs: dict[str, Path]) -> dict[str, dict[float, dict[str, dict[int, float]]]]:
    """penalty ("L1" / "L2") -> strength -> {"valid_error", "test_error"} -> seed -> final value of the random-init
    arm of every run that sets ``model.l1`` or ``model.l2`` (not the regulariser run)."""
    out: dict[str, dict[float, dict[str, dict[int, float]]]] = {}
    for label, run in dirs.items():
        if label == REGULARISER:
            continue
        m = read_config(RunFolder(run)).model
        kind, strength = ("L1", m.l1) if m.l1 else ("L2", m.l2)
        if not strength:
            continue
        valid, test = final_by_arm(run, "valid", "error"), final_by_arm(run, "test", "error")
        out.setdefault(kind, {})[float(strength)] = {"valid_error": valid.get(REFERENCE, {}),
                                                     "test_error": test.get(REFERENCE, {})}
    return out


def best_on_validation(by_strength: dict[float, dict[str, dict[int, float]]]) -> float:
    """The strength with the lowest mean final validation error (the smaller strength on a tie)."""
    return min(sorted(by_strength), key=lambda s: float(np.mean(list(by_strength[s]["valid_error"].values()))))


def eval_penalties(dirs: dict[str, Path], reduced: bool) -> Evidence:
    """Erhan 2010: the best L1 or L2 penalty on randomly initialised nets (strength chosen on validation error)
    does not reach the test error of pre-trained nets. Evidence: for each penalty and each pre-trained arm, the
    paired test-error difference (penalty minus pre-trained)."""
    reg = dirs[REGULARISER]
    reg_test = final_by_arm(reg, "test", "error")
    reg_valid = final_by_arm(reg, "valid", "error")
    pretrained = [a for a in reg_test if a != REFERENCE]
    penalties = penalty_finals(dirs)
    lines = ["| penalty | strength | seeds | validation error % | test error % (mean [95 % CI]) | paired diff in test "
             "error, points (penalty - none) | chosen |", "| --- | ---: | ---: | --- | --- | --- | :---: |"]
    if REFERENCE in reg_test:
        v, t = mean_ci(list(reg_valid[REFERENCE].values())), mean_ci(list(reg_test[REFERENCE].values()))
        lines.append(f"| none | 0 | {t.n} | {fmt_ci(v, 100)} | {fmt_ci(t, 100)} | - | |")
    numbers: dict = {}
    intervals: dict[str, MeanCI] = {}
    compare = ["", "| penalty (best strength) | pre-trained arm | paired diff in test error, points (penalty - arm) | "
               "p (paired t) |", "| --- | --- | --- | ---: |"]
    for kind, by_strength in sorted(penalties.items()):
        best = best_on_validation(by_strength)
        grid = []
        for strength, fin in sorted(by_strength.items()):
            v, t = mean_ci(list(fin["valid_error"].values())), mean_ci(list(fin["test_error"].values()))
            pd_none = paired_difference({"p": fin["test_error"], REFERENCE: reg_test.get(REFERENCE, {})}, "p")
            lines.append(f"| {kind} | {strength:g} | {t.n} | {fmt_ci(v, 100)} | {fmt_ci(t, 100)} | "
                         f"{fmt_ci(pd_none.diff, 100) if pd_none else '-'} | {'yes' if strength == best else ''} |")
            grid.append({"strength": strength, "valid_error": v.mean, "test_error": t.mean,
                         "test_error_ci": _ci_list(t),
                         "diff_to_none": pd_none.diff.mean if pd_none else None,
                         "diff_to_none_ci": _ci_list(pd_none.diff) if pd_none else None})
        numbers[kind] = {"best": best, "grid": grid, "vs": {}}
        chosen = by_strength[best]["test_error"]
        for arm in pretrained:
            pd = paired_difference({"p": chosen, arm: reg_test[arm]}, "p", arm)
            if pd is None:
                continue
            p = fmt_p(pd)
            compare.append(f"| {kind} ({best:g}) | {arm} | {fmt_ci(pd.diff, 100)} | {p} |")
            intervals[key("penalty_minus_pretrained", f"{kind} {best:g}", arm)] = pd.diff
            numbers[kind]["vs"][arm] = {"diff": pd.diff.mean, "diff_ci": _ci_list(pd.diff), "paired_t_p": pd.t_pvalue,
                                        "seeds": list(pd.seeds)}
    lines += compare
    lines += ["", "Each penalty's strength is the one with the lowest mean final validation error over its seeds; its "
              "test error is then compared with each pre-trained arm of the regulariser run on the seeds both have "
              "(same seed: same init and data order)."]
    return Evidence("\n".join(lines), numbers, intervals)
