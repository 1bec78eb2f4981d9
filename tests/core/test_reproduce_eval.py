"""Pieces of the reproduce evaluations that decide verdicts: checked on known numbers."""

import numpy as np
from scipy import stats

from desktop_app.core.reproduce import report, verdicts
from desktop_app.core.stats import MeanCI


def test_within_architecture_removes_the_width_confound():
    # across widths: lower error, higher accuracy (capacity); within a width: no relation at all
    pts = [("dae w=16 noise=0", 190.0, 0.60), ("dae w=16 noise=0.5", 180.0, 0.60), ("dae w=16 noise=0.25", 185.0, 0.61),
           ("dae w=64 noise=0", 140.0, 0.86), ("dae w=64 noise=0.5", 130.0, 0.87), ("dae w=64 noise=0.25", 135.0, 0.86),
           ("cae ch=4 noise=0", 100.0, 0.95)]  # a lone architecture: no within-architecture information
    within = verdicts.within_architecture(pts)
    assert [p[0] for p in within] == [p[0] for p in pts[:6]]
    np.testing.assert_allclose([p[1] for p in within], [5, -5, 0, 5, -5, 0])
    np.testing.assert_allclose([p[2] for p in within], [-1 / 300, -1 / 300, 2 / 300, -1 / 300, 2 / 300, -1 / 300],
                               atol=1e-12)
    across = stats.spearmanr([p[1] for p in pts], [p[2] for p in pts]).statistic
    assert across < -0.9


def test_negated_interval_keeps_low_end_first():
    ci = MeanCI(n=5, mean=-0.76, std=0.1, lo=-0.99, hi=-0.53)
    assert report.fmt_ci(ci, -100) == "76.00 [53.00, 99.00]"


def test_final_by_arm_is_the_last_finetune_value_of_each_column(tmp_path):
    """The one reducer (runs.final_test_errors) gives every split and column the reproduce tables use."""
    from desktop_app.core.runs import final_test_errors, read_metrics
    from tests.analysis_runs import make_run

    run = make_run(tmp_path / "run")
    rows = [r for r in read_metrics(run) if r["phase"] == "finetune"]
    for split, col in (("test", "error"), ("test", "nll"), ("train", "nll")):
        expected: dict[str, dict[int, float]] = {}
        for r in sorted((r for r in rows if r["split"] == split), key=lambda r: int(r["epoch"])):
            expected.setdefault(r["arm"], {})[int(r["seed"])] = float(r[col])
        assert verdicts.final_by_arm(run, split, col) == expected
        assert set(expected) == {"none", "dae"} and all(len(v) == 2 for v in expected.values())
    assert verdicts.final_by_arm(run) == final_test_errors(read_metrics(run))
    assert verdicts.final_by_arm(run, "train", "nll") != verdicts.final_by_arm(run, "test", "nll")
