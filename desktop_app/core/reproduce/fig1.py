"""Erhan et al. 2010's Figure 1 at its own scale: 2 x 400 paired seeds, log test NLL against log train NLL after
every pass over the data, without pre-training and with it (docs/ARCHITECTURE.md, "Experiment kinds"; the
Trajectories panel draws the figure).

The rule, fixed before any run (``RULE``, a ``rules.Rule``; the report prints it in the setup), on three
sub-statements:
- S1, regulariser: at train NLL levels ``LEVELS`` each seed's test NLL where its train NLL first reaches the level
  (linear in log-log between epochs); per level the paired difference (dae - none, log10) over the seeds that reach
  it in both arms, 95 % t-interval, judged at the levels with at least ``MIN_PAIRS`` pairs. Holds when every such
  interval is below 0; contradicted where one is above 0.
- S2, overfitting signature: a seed overfits when its last test NLL exceeds its minimum over fine-tuning by more
  than ``RISE`` (relative) while its train NLL kept falling after that minimum; paired difference of the
  indicators (none - dae), 95 % t-interval. Holds when it is above 0; contradicted when below 0.
- S3, two clouds: at the last epoch, AUC = P(a pre-trained seed's test NLL < a random-init seed's), 95 % interval
  (Hanley & McNeil). Holds when the interval is above ``SEPARATED`` (the clouds barely overlap); contradicted when
  it lies below 0.5.
The verdict combines them like every claim's (``rules.VERDICTS``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from desktop_app.core.reproduce.report import fmt_ci
from desktop_app.core.reproduce.rules import CONTRADICTED, HOLDS, NOT_SHOWN, Evidence, Rule, Statement, finite, key
from desktop_app.core.reproduce.verdicts import at_log_level, curves, final_by_arm
from desktop_app.core.stats import STUCK_ERROR, MeanCI, mean_ci, plateau_seeds

LEVELS = (0.1, 0.03, 0.01)  # train NLL levels of S1
MIN_PAIRS = 10  # a level enters S1 when at least this many pairs reach it
RISE = 0.10  # S2: the last test NLL at least 10 % above the seed's minimum
SEPARATED = 0.9  # S3: AUC interval above this = the clouds barely overlap
ARM = "dae"
WHY_ARM = ("DAE (stacked denoising autoencoders, 25 % masking noise): one of the paper's two pre-training methods, "
           "and the cheaper one here (no Gibbs chain); the figure's statements are about pre-training against none, "
           "not about the method.")
RULE = Rule(
    (Statement("log_test_nll_at_train_nll", "S1, regulariser: lower test NLL at equal train NLL (log10 test NLL where "
               "the train NLL curve first reaches the level, dae - none)", "below", 0.0, unit="log10", digits=3),
     Statement("overfit_share_diff", "S2: random-init nets show the overfitting signature more often (last test NLL "
               f"> {1 + RISE:.2f} x its minimum while train NLL fell after it; share none - dae)", "above", 0.0,
               digits=3),
     Statement("auc", "S3: the two clouds barely overlap (AUC = P(a dae seed's last test NLL < a none seed's))",
               "above", SEPARATED, against=0.5, digits=3)),
    "95 % t-intervals over paired seeds (S1, S2; core/stats.py); S1 at each train NLL level "
    f"{', '.join(map(str, LEVELS))} over the pairs reaching it, judged where at least {MIN_PAIRS} pairs do; S3 "
    "a Hanley & McNeil interval of the AUC",
    reported="the share of overfitting seeds per arm, the last epoch's paired train and test NLL, the seeds of each "
             f"arm that never left the chance-level plateau (last test error above {STUCK_ERROR:.0%}), and S3 over "
             "the pairs whose random-init net left it (reported, not judged: the separation without the stuck seeds).",
    margins=f"S3 holds above {SEPARATED} (the clouds barely overlap) and is contradicted below 0.5 (no separation).")


def at_level(train: np.ndarray, test: np.ndarray, level: float) -> float | None:
    """log10 test NLL where the curve's train NLL first reaches ``level`` (linear in log-log), or None: the
    regulariser claim's reducer (``verdicts.at_log_level``), on this claim's raw NLL curves."""
    return at_log_level(np.log10(train), np.log10(test), math.log10(level))


def overfits(train: np.ndarray, test: np.ndarray) -> bool:
    """S2's signature: the last test NLL is more than RISE above the minimum and train NLL fell after it."""
    m = int(np.argmin(test))
    return bool(test[-1] > (1 + RISE) * test[m] and train[-1] < train[m])


def auc_ci(better: np.ndarray, worse: np.ndarray) -> tuple[float, float, float]:
    """P(better < worse) with ties counted half, and its 95 % interval (Hanley & McNeil 1982)."""
    a, b = np.asarray(better, float), np.asarray(worse, float)
    n1, n2 = len(a), len(b)
    if n1 == 0 or n2 == 0:
        return float("nan"), float("nan"), float("nan")
    less = (a[:, None] < b[None, :]).sum() + 0.5 * (a[:, None] == b[None, :]).sum()
    auc = float(less / (n1 * n2))
    q1, q2 = auc / (2 - auc), 2 * auc**2 / (1 + auc)
    var = (auc * (1 - auc) + (n1 - 1) * (q1 - auc**2) + (n2 - 1) * (q2 - auc**2)) / (n1 * n2)
    half = 1.96 * math.sqrt(max(var, 0.0))
    return auc, max(0.0, auc - half), min(1.0, auc + half)


def evidence(s1: Mapping[float, MeanCI], s2: MeanCI, s3: tuple[float, float, float],
             pairs: int = MIN_PAIRS) -> dict[str, MeanCI]:
    """The intervals ``RULE`` judges: S1 at the levels with at least MIN_PAIRS pairs (the others are reported, not
    judged: a level no pair reaches cannot speak), S2, and S3 as an interval over ``pairs`` seeds."""
    out = {key("log_test_nll_at_train_nll", ARM, f"train NLL {lv:g}"): ci for lv, ci in s1.items()
           if ci.n >= MIN_PAIRS}
    out["overfit_share_diff"] = s2
    out["auc"] = MeanCI(pairs, s3[0], math.nan, s3[1], s3[2])
    return out


def judge(s1: Mapping[float, MeanCI], s2: MeanCI, s3: tuple[float, float, float],
          pairs: int = MIN_PAIRS) -> tuple[str, list[str]]:
    """The verdict of ``RULE`` and one word per sub-statement: "holds" (every interval of it holds),
    "contradicted" (one is) or "not shown"."""
    decision = RULE.decide(evidence(s1, s2, s3, pairs))
    words = []
    for statement in RULE.statements:
        outcomes = [j.outcome for j in decision.judgements if j.statement is statement]
        words.append(HOLDS if outcomes and all(o == HOLDS for o in outcomes)
                     else CONTRADICTED if CONTRADICTED in outcomes else NOT_SHOWN)
    return decision.verdict, words


def evaluate_run(run_dir: Path) -> dict:
    """The numbers of the rule for one Figure 1 run folder."""
    cs = curves(run_dir)
    seeds = sorted({s for a, s in cs if a == "none"} & {s for a, s in cs if a == ARM})
    lo = 1  # epoch 0 (before fine-tuning) is not a point of the paper's curves
    tr = {k: v["train"][lo:] for k, v in cs.items() if len(v.get("train", [])) > lo}
    te = {k: v["test"][lo:] for k, v in cs.items() if len(v.get("test", [])) > lo}
    s1: dict[float, MeanCI] = {}
    for level in LEVELS:
        d = []
        for s in seeds:
            a = at_level(tr.get((ARM, s), np.array([])), te.get((ARM, s), np.array([])), level) \
                if (ARM, s) in tr else None
            b = at_level(tr[("none", s)], te[("none", s)], level) if ("none", s) in tr else None
            if a is not None and b is not None:
                d.append(a - b)
        s1[level] = mean_ci(d)
    both = [s for s in seeds if (ARM, s) in tr and ("none", s) in tr]
    s2 = mean_ci([float(overfits(tr[("none", s)], te[("none", s)])) - float(overfits(tr[(ARM, s)], te[(ARM, s)]))
                  for s in both])
    share = {arm: float(np.mean([overfits(tr[(arm, s)], te[(arm, s)]) for s in both])) if both else float("nan")
             for arm in ("none", ARM)}
    last = {arm: np.array([te[(arm, s)][-1] for s in both]) for arm in ("none", ARM)}
    s3 = auc_ci(last[ARM], last["none"])
    error = final_by_arm(run_dir)
    plateau = {arm: sorted(plateau_seeds({s: v for s, v in error.get(arm, {}).items() if s in both}))
               for arm in ("none", ARM)}
    off = [j for j, s in enumerate(both) if s not in plateau["none"]]
    s3_off = auc_ci(last[ARM][off], last["none"][off]) if off else (math.nan,) * 3
    final_train = mean_ci([math.log10(tr[(ARM, s)][-1]) - math.log10(tr[("none", s)][-1]) for s in both])
    final_test = mean_ci([math.log10(te[(ARM, s)][-1]) - math.log10(te[("none", s)][-1]) for s in both])
    verdict, words = judge(s1, s2, s3, len(both))
    return {"pairs": len(both), "s1": s1, "s2": s2, "share": share, "s3": s3, "final_train": final_train,
            "final_test": final_test, "verdict": verdict, "words": words,
            "plateau": plateau, "s3_off_plateau": s3_off,
            "evidence": evidence(s1, s2, s3, len(both))}


def eval_fig1(dirs: dict[str, Path], reduced: bool) -> Evidence:
    """The claim's evaluation: one run folder (label "fig1") of none and dae over paired seeds."""
    (run_dir,) = dirs.values()
    r = evaluate_run(run_dir)
    lines = [f"{r['pairs']} paired seeds. Pre-trained arm: {WHY_ARM}", "",
             "| sub-statement | numbers (95 % interval) | |", "|---|---|---|"]
    s1 = "; ".join(f"train NLL {lv}: {fmt_ci(ci, digits=3)} (n = {ci.n})" for lv, ci in r["s1"].items())
    lines.append(f"| S1: lower test NLL at equal train NLL (dae - none, log10) | {s1} | {r['words'][0]} |")
    lines.append(f"| S2: overfitting signature, share none - dae | {fmt_ci(r['s2'], digits=3)} (none "
                 f"{r['share']['none']:.1%}, dae {r['share'][ARM]:.1%}) | {r['words'][1]} |")
    auc, lo, hi = r["s3"]
    lines.append(f"| S3: AUC of the last test NLL (dae below none) | {auc:.3f} [{lo:.3f}, {hi:.3f}] | "
                 f"{r['words'][2]} |")
    lines += ["", f"Last epoch, paired dae - none (log10): train NLL {fmt_ci(r['final_train'], digits=3)}, test NLL "
              f"{fmt_ci(r['final_test'], digits=3)}."]
    n_none, n_arm = len(r["plateau"]["none"]), len(r["plateau"][ARM])
    a_off, lo_off, hi_off = r["s3_off_plateau"]
    lines += ["", f"Plateau seeds (last test error above {STUCK_ERROR:.0%}: the net never left the chance-level "
              f"plateau of a saturating net within its fine-tuning epochs, Glorot & Bengio 2010): none {n_none} of "
              f"{r['pairs']}, {ARM} {n_arm} of {r['pairs']}. They sit at the figure's upper right (train and test NLL "
              "near ln 10 = 2.3 nats, chance over 10 classes), so S3 is also given without them: over the "
              f"{r['pairs'] - n_none} pairs whose random-init net left the plateau, S3's AUC is "
              + (f"{a_off:.3f} [{lo_off:.3f}, {hi_off:.3f}]" if math.isfinite(a_off) else "not defined")
              + " (reported, not judged; S1 already leaves out the levels a plateau seed never reaches)."]
    numbers = {"pairs": r["pairs"], "auc": [finite(v) for v in r["s3"]], "words": r["words"],
               "s1": {str(k): [v.n, finite(v.mean), finite(v.lo), finite(v.hi)] for k, v in r["s1"].items()},
               "s2": [r["s2"].n, finite(r["s2"].mean), finite(r["s2"].lo), finite(r["s2"].hi)],
               "plateau_seeds": r["plateau"], "auc_off_plateau": [finite(v) for v in r["s3_off_plateau"]]}
    return Evidence("\n".join(lines), numbers, r["evidence"])
