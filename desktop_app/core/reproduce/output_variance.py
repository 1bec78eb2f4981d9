"""The output-variance claim (Erhan et al. 2010, Fig. 3): evaluation of its runs, one run folder per seed.

Each run (kind "output-variance") holds, for one seed, the variance of the final nets' probe outputs when one
block of the training stream is resampled, per arm and block position. Seed s of every arm shares the init and
the stream, so arms are paired by seed. Variances span orders of magnitude, so the statistics are on log10:
per seed and arm the least-squares slope of log10 variance against block position (negative = early blocks
matter more), over every block and over every block but the last, and the mean log10 variance over positions
(paired pre-trained minus none: negative = pre-trained nets vary less), each with a 95 % t-interval over seeds
(docs/ARCHITECTURE.md, "Output variance"). The claim's rule (``claims.CLAIMS``) judges the random-init slope before
the last block (the paper's main curve) and the pre-trained differences. Why not the last block: Erhan et al.
(2010, JMLR, Sec. 8.2) see both their nets "more influenced by the last examples used for optimization", because
stochastic gradient at a constant learning rate weighs the most recent examples more, an effect they set apart
from the early examples' greater influence; the slope over every block, which mixes the two, is reported.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from desktop_app.core.reproduce.report import fmt_ci
from desktop_app.core.reproduce.rules import Evidence, key
from desktop_app.core.results import OutputVarianceResult
from desktop_app.core.runfolder import RunFolder
from desktop_app.core.runfolder.results_cache import list_metadata, read_result
from desktop_app.core.stats import MeanCI, mean_ci, paired_difference

NAME = "output_variance"


def read_variance(run_dir: Path) -> OutputVarianceResult:
    """The output-variance result an output-variance run saved (ValueError naming the folder when absent)."""
    folder = RunFolder(run_dir)
    for meta in list_metadata(folder, NAME)[:1]:
        key = meta.get("key")
        result = read_result(folder, NAME, key) if isinstance(key, str) else None
        if isinstance(result, OutputVarianceResult):
            return result
    raise ValueError(f"{run_dir}: no output-variance result (did the run complete?)")


def slope(positions: np.ndarray, log_variance: np.ndarray) -> float:
    """Least-squares slope of log10 variance against block position (per block; < 0: early blocks matter more)."""
    x = positions.astype(np.float64)
    x = x - x.mean()
    return float((x * (log_variance - log_variance.mean())).sum() / (x * x).sum())


MIN_BLOCKS_BEFORE_LAST = 2  # a slope needs two positions: the judged slope needs at least 3 blocks


def evaluate(results: list[OutputVarianceResult]) -> Evidence:
    """The claim's evidence from one result per seed (same arms and blocks in each): per arm the slope of log10
    variance against block position (over every block, and over every block but the last: the judged one, absent
    with fewer than 3 blocks), and per pre-trained arm the paired difference in mean log10 variance."""
    if not results:
        raise ValueError("no output-variance runs to evaluate")
    arms, positions = results[0].arms, results[0].positions
    if any(r.arms != arms or len(r.positions) != len(positions) for r in results):
        raise ValueError("the output-variance runs differ in arms or blocks; they cannot be pooled")
    logs = {arm: {r.seed: np.log10(np.maximum(r.variance[i], np.finfo(float).tiny)) for r in results}
            for i, arm in enumerate(arms)}
    slopes = {arm: {s: slope(positions, v) for s, v in by_seed.items()} for arm, by_seed in logs.items()}
    early = len(positions) - 1 >= MIN_BLOCKS_BEFORE_LAST
    before_last = {arm: {s: slope(positions[:-1], v[:-1]) for s, v in by_seed.items()} if early else {}
                   for arm, by_seed in logs.items()}
    level = {arm: {s: float(v.mean()) for s, v in by_seed.items()} for arm, by_seed in logs.items()}
    block = results[0].block_size
    head = " | ".join(f"block {int(p)} (ex. {int(p) * block:,}-)" for p in positions)
    lines = [f"Output variance (mean over probe examples and classes of the variance over {results[0].resamples} "
             f"resamples of one block of {block:,} examples), log10, mean [95 % CI] over {len(results)} seed(s):", "",
             f"| arm | {head} | slope per block (log10) | slope before the last block | paired diff in mean log10 "
             "variance (arm - none) |",
             "| --- |" + " --- |" * (len(positions) + 3)]
    numbers: dict = {"positions": [int(p) for p in positions], "block_size": int(block), "seeds": len(results)}
    intervals: dict[str, MeanCI] = {}
    for arm in arms:
        cells = [fmt_ci(mean_ci([v[j] for v in logs[arm].values()]), 1, 2) for j in range(len(positions))]
        sl = mean_ci(list(slopes[arm].values()))
        bl = mean_ci(list(before_last[arm].values())) if early else None
        pd = paired_difference(level, arm, "none") if arm != "none" else None
        lines.append(f"| {arm} | {' | '.join(cells)} | {fmt_ci(sl, 1, 3)} | {fmt_ci(bl, 1, 3) if bl else '-'} | "
                     f"{fmt_ci(pd.diff, 1, 2) if pd else '-'} |")
        if arm == "none" and bl is not None:  # the paper's main curve; the pre-trained slopes are shown, not judged
            intervals[key("slope_before_last", arm)] = bl
        numbers[arm] = {
            "log10_variance": [float(np.mean([v[j] for v in logs[arm].values()])) for j in range(len(positions))],
            "slope": sl.mean, "slope_ci": [sl.lo, sl.hi],
            "slope_before_last": bl.mean if bl else None, "slope_before_last_ci": [bl.lo, bl.hi] if bl else None,
            "paired_diff_log10_variance": pd.diff.mean if pd else None,
            "paired_diff_ci": [pd.diff.lo, pd.diff.hi] if pd else None,
        }
        if pd is not None:
            intervals[key("log_variance_diff", arm)] = pd.diff
    lines.append("")
    rising = [a for a in arms if slopes[a] and mean_ci(list(slopes[a].values())).lo > 0]
    if rising:
        lines.append(f"- Variance rises with position (slope interval above 0) for {', '.join(rising)}: the last "
                     "blocks shape the final function most, the recency of SGD at a constant learning rate rather "
                     "than the paper's early commitment to a basin.")
    if len(positions) > 2:
        jump = [a for a in arms if a not in rising and numbers[a]["log10_variance"][-1]
                > numbers[a]["log10_variance"][-2]]
        if jump:
            lines.append(f"- The last block's mean variance is above the one before it for {', '.join(jump)}: at a "
                         "constant learning rate the final updates always leave their mark (recency), on top of the "
                         "early blocks' lasting effect, as Erhan et al. saw for both their nets.")
    return Evidence("\n".join(lines), numbers, intervals)


def eval_output_variance(dirs: dict[str, Path], reduced: bool) -> Evidence:
    """The claim's evaluation: one run folder per seed (labels "seed=0", "seed=1", ...)."""
    return evaluate([read_variance(d) for d in dirs.values()])
