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


def test_the_report_prints_a_paired_p_value_only_where_it_prints_the_interval():
    """One rule for intervals and tests (MIN_SEEDS): at 2 paired seeds no p-value beside the refused interval."""
    from desktop_app.core.stats import paired_difference

    none = {0: 0.10, 1: 0.12, 2: 0.11}
    dae = {0: 0.08, 1: 0.09, 2: 0.10}
    two = paired_difference({"none": {s: none[s] for s in (0, 1)}, "dae": {s: dae[s] for s in (0, 1)}}, "dae")
    three = paired_difference({"none": none, "dae": dae}, "dae")
    assert report.fmt_p(two) == "-" and report.fmt_p(None) == "-"
    expected = stats.ttest_rel([dae[s] for s in range(3)], [none[s] for s in range(3)]).pvalue
    assert report.fmt_p(three) == f"{expected:.3g}"


def test_final_by_arm_is_the_last_finetune_value_of_each_column(tmp_path):
    """The one reducer (runs.final_test_errors) gives every split and column the reproduce tables use."""
    from desktop_app.core.runfolder.workspace import final_test_errors, read_metrics
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


def _groups(noise: float, slope: float, seed: int = 0):
    """Two widths x three noise levels, 3 seeds each: accuracy = base(width) + slope * recon + seed noise."""
    rng = np.random.default_rng(seed)
    out = {}
    for w, base_rec, base_acc in ((16, 190.0, 0.6), (64, 140.0, 0.86)):
        for j, lvl in enumerate((0, 0.25, 0.5)):
            rec = base_rec - 5.0 * j
            out[f"dae w={w} noise={lvl}"] = [(rec + rng.normal(0, 0.1), base_acc + slope * (rec - base_rec)
                                               + rng.normal(0, noise)) for _ in range(3)]
    return out


def test_pitfall_correlations_carry_seed_bootstrap_intervals():
    rng = np.random.default_rng(1)
    # within each width, lower reconstruction error goes with higher accuracy, far above the seeds' noise
    r, lo, hi = verdicts._corr_ci(_groups(noise=1e-4, slope=-0.01), True, rng)
    assert r < -0.95 and lo <= r <= hi < 0
    # the same relation drowned in seed noise: the interval says r could be anything
    r, lo, hi = verdicts._corr_ci(_groups(noise=0.2, slope=-0.01), True, rng)
    assert lo < 0 < hi
    # across widths the capacity confound gives a strong negative r whatever happens within a width
    r, lo, hi = verdicts._corr_ci(_groups(noise=1e-4, slope=0.0), False, rng)
    assert r < -0.9 and hi < 0
