"""Seed statistics checked against scipy and hand computations."""

import numpy as np
import pytest
from scipy import stats as sps

from desktop_app.core.stats import box_stats, mean_ci, paired_difference


def test_mean_ci_matches_scipy_t_interval():
    x = [0.021, 0.025, 0.019, 0.030, 0.024, 0.022]
    ci = mean_ci(x)
    lo, hi = sps.t.interval(0.95, len(x) - 1, loc=np.mean(x), scale=sps.sem(x))
    assert ci.mean == pytest.approx(np.mean(x))
    assert (ci.lo, ci.hi) == (pytest.approx(lo), pytest.approx(hi))
    assert ci.std == pytest.approx(np.std(x, ddof=1))
    assert np.isnan(mean_ci([1.0]).lo)


def test_paired_difference_uses_common_seeds():
    by_arm = {"none": {0: 0.10, 1: 0.12, 2: 0.11, 3: 0.5}, "rbm": {0: 0.08, 1: 0.11, 2: 0.08}}
    pd = paired_difference(by_arm, "rbm")
    assert pd.seeds == (0, 1, 2)
    d = np.array([-0.02, -0.01, -0.03])
    assert pd.diff.mean == pytest.approx(d.mean())
    assert pd.t_pvalue == pytest.approx(sps.ttest_1samp(d, 0).pvalue)
    assert paired_difference(by_arm, "dae") is None


def test_box_stats():
    b = box_stats([1, 2, 3, 4, 100])
    assert b["median"] == 3 and b["q1"] == 2 and b["q3"] == 4
    assert b["whisker_hi"] == 4 and b["max"] == 100
