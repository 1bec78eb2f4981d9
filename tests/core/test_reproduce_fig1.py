"""The Figure 1 claim's rule (issue 25), fed synthetic results at its boundaries, and its pieces against
independent computations."""

import math

import numpy as np
import pytest
from scipy import stats as sps

from desktop_app.core.reproduce import fig1
from desktop_app.core.stats import MeanCI


def ci(n, lo, hi):
    return MeanCI(n, (lo + hi) / 2, 1.0, lo, hi)


GOOD_S1 = {0.1: ci(50, -0.3, -0.1), 0.03: ci(40, -0.2, -0.01), 0.01: ci(5, 0.1, 0.5)}  # 0.01: too few pairs


NS = "not shown"  # the shared rule vocabulary (core/reproduce/rules.py): holds / contradicted / not shown


@pytest.mark.parametrize("s1, s2, s3, verdict, words", [
    (GOOD_S1, ci(400, 0.01, 0.1), (0.95, 0.91, 0.99), "reproduced", ["holds"] * 3),
    # an S1 interval touching 0 is not below it
    ({0.1: ci(50, -0.3, 0.0)}, ci(400, 0.01, 0.1), (0.95, 0.91, 0.99), "inconclusive", [NS, "holds", "holds"]),
    # one part contradicted while the others hold: mixed (the verdict table says which)
    ({0.1: ci(50, 0.001, 0.2)}, ci(400, 0.01, 0.1), (0.95, 0.91, 0.99), "mixed",
     ["contradicted", "holds", "holds"]),
    # no level with enough pairs: S1 cannot hold
    ({0.1: ci(9, -0.3, -0.1)}, ci(400, 0.01, 0.1), (0.95, 0.91, 0.99), "inconclusive", [NS, "holds", "holds"]),
    (GOOD_S1, ci(400, -0.1, -0.01), (0.95, 0.91, 0.99), "mixed", ["holds", "contradicted", "holds"]),
    (GOOD_S1, ci(400, 0.0, 0.1), (0.95, 0.91, 0.99), "inconclusive", ["holds", NS, "holds"]),
    (GOOD_S1, ci(400, 0.01, 0.1), (0.95, 0.90, 0.99), "inconclusive", ["holds", "holds", NS]),  # at SEPARATED
    (GOOD_S1, ci(400, 0.01, 0.1), (0.7, 0.5, 0.8), "inconclusive", ["holds", "holds", NS]),  # touching 0.5
    (GOOD_S1, ci(400, 0.01, 0.1), (0.3, 0.2, 0.49), "mixed", ["holds", "holds", "contradicted"]),
    ({0.1: ci(50, 0.001, 0.2)}, ci(400, -0.1, -0.01), (0.3, 0.2, 0.49), "not reproduced", ["contradicted"] * 3),
])
def test_the_rule_at_its_boundaries(s1, s2, s3, verdict, words):
    assert fig1.judge(s1, s2, s3) == (verdict, words)


def test_at_level_interpolates_in_log_log_and_says_when_never_reached():
    train, test = np.array([1.0, 0.1, 0.01]), np.array([1.0, 0.5, 0.4])
    assert fig1.at_level(train, test, 1.0) == pytest.approx(0.0)
    # train NLL 10^-1.5 lies halfway between epochs 2 and 3 in log space
    assert fig1.at_level(train, test, 10**-1.5) == pytest.approx((math.log10(0.5) + math.log10(0.4)) / 2)
    assert fig1.at_level(train, test, 0.001) is None


def test_overfitting_signature():
    assert fig1.overfits(np.array([1.0, 0.5, 0.1]), np.array([1.0, 0.5, 0.6]))  # 20 % above its minimum
    assert not fig1.overfits(np.array([1.0, 0.5, 0.1]), np.array([1.0, 0.5, 0.54]))  # only 8 %
    assert not fig1.overfits(np.array([1.0, 0.5, 0.6]), np.array([1.0, 0.5, 0.6]))  # train NLL rose too


def test_auc_is_the_mann_whitney_statistic():
    rng = np.random.default_rng(0)
    a, b = rng.normal(0, 1, 40), rng.normal(0.8, 1, 50)
    auc, lo, hi = fig1.auc_ci(a, b)
    u = sps.mannwhitneyu(b, a).statistic  # pairs where b > a, i.e. a below b
    assert auc == pytest.approx(u / (40 * 50))
    assert lo < auc < hi and 0.05 < hi - lo < 0.4


def test_plateau_seeds_are_counted_and_the_clouds_compared_without_them(tmp_path):
    """A random-init seed stuck at chance sits at the figure's upper right: the report counts it per arm and gives
    S3's AUC over the pairs whose random-init net left the plateau (the judged S3 keeps every pair)."""
    from tests.core.test_reproduce_evidence import SEEDS, curves_run

    rng = np.random.default_rng(1)
    curves = {"none": {}, "dae": {}}
    for s in SEEDS:
        curves["dae"][s] = {"train": list(np.geomspace(1.0, 0.002, 6)), "test": [0.3 + 0.01 * s] * 6}
        if s == 0:  # stuck: test NLL at log 10, far above every dae seed
            curves["none"][s] = {"train": [2.3] * 6, "test": [2.3] * 6}
        else:  # off the plateau: test NLL 0.28-0.33, interleaved with the dae seeds'
            curves["none"][s] = {"train": list(np.geomspace(2.0, 0.01, 6)), "test": [0.28 + 0.02 * rng.random()] * 6}
    errors = {"none": {0: 0.9, 1: 0.1, 2: 0.1, 3: 0.1}, "dae": dict.fromkeys(SEEDS, 0.08)}
    r = fig1.evaluate_run(curves_run(tmp_path / "fig1", curves, errors))
    assert r["plateau"] == {"none": [0], "dae": []}
    last = {a: np.array([curves[a][s]["test"][-1] for s in SEEDS]) for a in curves}
    assert r["s3"][0] == pytest.approx(fig1.auc_ci(last["dae"], last["none"])[0])
    off = [1, 2, 3]
    u = sps.mannwhitneyu(last["none"][off], last["dae"][off]).statistic  # dae below none, counted independently
    assert r["s3_off_plateau"][0] == pytest.approx(u / 9) and r["s3_off_plateau"][0] < r["s3"][0]
    ev = fig1.eval_fig1({"fig1": tmp_path / "fig1"}, False)
    assert "none 1 of 4, dae 0 of 4" in ev.markdown and ev.numbers["plateau_seeds"]["none"] == [0]
