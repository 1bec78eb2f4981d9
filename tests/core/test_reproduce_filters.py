"""The "filters move little" claim's numbers equal a recomputation from the run folder's saved snapshots."""

import numpy as np
import pytest

from desktop_app.core.events import FilterSnapshot
from desktop_app.core.reproduce import CLAIMS
from desktop_app.core.reproduce.verdicts import eval_filters_move
from desktop_app.core.runfolder import replay
from desktop_app.core.stats import mean_ci
from tests.analysis_runs import make_run


def test_claim_numbers_equal_a_recomputation_from_the_snapshots(tmp_path):
    run = make_run(tmp_path / "run", seeds={"count": 3})
    snaps: dict = {}
    for ev in replay(run):
        if isinstance(ev, FilterSnapshot):
            snaps.setdefault((ev.arm, ev.seed), {})[(ev.phase, ev.epoch)] = ev.weights.astype(np.float64)
    change: dict = {}
    absolute: dict = {}
    for (arm, seed), s in snaps.items():
        # dae: fine-tuning starts after its one pre-training epoch; none: at the initialisation; both end at 3
        a, b = s[("pretrain", 1) if arm == "dae" else ("init", 0)], s[("finetune", 3)]
        change.setdefault(arm, {})[seed] = float(np.mean(np.linalg.norm(b - a, axis=1) / np.linalg.norm(a, axis=1)))
        absolute.setdefault(arm, {})[seed] = float(np.mean(np.linalg.norm(b - a, axis=1)))
    ev = eval_filters_move({"regulariser": run}, True)
    markdown, numbers = ev.markdown, ev.numbers
    for arm in ("none", "dae"):
        assert numbers[arm]["change"] == pytest.approx(mean_ci(list(change[arm].values())).mean, rel=1e-6)
        assert numbers[arm]["absolute"] == pytest.approx(mean_ci(list(absolute[arm].values())).mean, rel=1e-6)
    outcomes = []
    for col, truth in (("change", change), ("absolute", absolute)):
        d = [truth["dae"][s] - truth["none"][s] for s in range(3)]
        assert numbers["dae"][f"{col}_diff"] == pytest.approx(np.mean(d), rel=1e-6)
        lo, hi = numbers["dae"][f"{col}_diff_ci"]
        assert lo < np.mean(d) < hi
        name = {"change": "relative_change_diff[dae]", "absolute": "absolute_change_diff[dae]"}[col]
        assert (ev.intervals[name].lo, ev.intervals[name].hi) == (lo, hi)
        outcomes.append("holds" if hi < 0 else "contradicted" if lo > 0 else "not shown")
    verdict = CLAIMS["filters-move"].rule.decide(ev.intervals).verdict
    expected = {("holds", "holds"): "reproduced", ("contradicted", "contradicted"): "not reproduced"}
    assert verdict == expected.get(tuple(outcomes), "mixed" if set(outcomes) == {"holds", "contradicted"}
                                   else "not reproduced" if "contradicted" in outcomes else "inconclusive")
    assert "| dae | 3 |" in markdown and numbers["structure_white_noise"] == pytest.approx(148 / 783)
    assert CLAIMS["filters-move"].evaluate is eval_filters_move
