"""Seed statistics checked against scipy and hand computations."""

import numpy as np
import pytest
from scipy import stats as sps

from desktop_app.core.stats import (
    MIN_SEEDS,
    MeanCI,
    box_stats,
    mean_ci,
    paired_difference,
    shown_interval,
    wilcoxon_min_p,
)


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


def tukey(x) -> dict[str, float]:
    """Tukey's box written out: quartiles (numpy's linear interpolation), whiskers at the most extreme data points
    within 1.5 IQR of the box (issue 29: the reference the mutants of box_stats are checked against)."""
    x = sorted(float(v) for v in x)
    q1, med, q3 = np.percentile(x, [25, 50, 75])
    fence_lo, fence_hi = q1 - 1.5 * (q3 - q1), q3 + 1.5 * (q3 - q1)
    return {"q1": q1, "median": med, "q3": q3, "whisker_lo": min(v for v in x if v >= fence_lo),
            "whisker_hi": max(v for v in x if v <= fence_hi), "min": x[0], "max": x[-1]}


@pytest.mark.parametrize("values", [
    [1.0, 4.0, 5.0, 6.0, 9.0],  # points exactly on both fences (4 - 1.5*2 = 1, 6 + 1.5*2 = 9) are inside
    [-0.5, 4.0, 5.0, 6.0, 10.5],  # between 1.5 and 2.5 IQR out on both sides: outliers
    [0.0, 1.0, 2.0, 3.0, 40.0, -30.0, 2.5],
    [7.0],
    list(np.random.default_rng(3).normal(0, 1, 25)) + [6.0, -6.0],
])
def test_box_stats_is_tukeys_box(values):
    assert box_stats(values) == pytest.approx(tukey(values))


def test_box_stats_of_nothing_is_empty():
    assert box_stats([]) == {}


def test_paired_difference_interval_and_p_values_match_scipy():
    by_arm = {"none": {s: 0.1 + 0.01 * s for s in range(6)}, "rbm": {s: 0.08 + 0.013 * s * (-1) ** s for s in range(6)}}
    pd = paired_difference(by_arm, "rbm")
    d = np.array([by_arm["rbm"][s] - by_arm["none"][s] for s in range(6)])
    lo, hi = sps.t.interval(0.95, len(d) - 1, loc=d.mean(), scale=sps.sem(d))
    assert (pd.diff.lo, pd.diff.hi) == (pytest.approx(lo), pytest.approx(hi))
    assert pd.wilcoxon_pvalue == pytest.approx(sps.wilcoxon(d).pvalue)
    assert (pd.arm, pd.reference) == ("rbm", "none")


@pytest.mark.parametrize("n", [1, 2, 3, 5, 8])
def test_wilcoxon_min_p_is_the_exact_tests_smallest_p(n):
    """Every difference of one sign: the exact two-sided signed-rank p, which no data with n pairs goes below."""
    assert wilcoxon_min_p(n) == pytest.approx(sps.wilcoxon(np.arange(1.0, n + 1), method="exact").pvalue)


def test_wilcoxon_min_p_without_pairs_is_nan():
    assert np.isnan(wilcoxon_min_p(0))


def test_seed_statistics_of_float32_values_are_computed_in_float64():
    """Values may come as float32 (a metrics array); quartiles and means are still float64 computations of them."""
    v32 = np.array([0.1, 0.2, 0.3, 0.7, 0.45, 0.9], dtype=np.float32)
    v64 = v32.astype(np.float64)
    assert box_stats(v32) == pytest.approx(tukey(v64), rel=1e-15, abs=0)
    ci = mean_ci(v32)
    assert (ci.mean, ci.std) == (pytest.approx(v64.mean(), rel=1e-15), pytest.approx(v64.std(ddof=1), rel=1e-15))


def test_mean_ci_of_no_value_and_of_one_value():
    none, one = mean_ci([]), mean_ci([0.25])
    assert none.n == 0 and all(np.isnan(v) for v in (none.mean, none.std, none.lo, none.hi))
    assert (one.n, one.mean, one.std) == (1, 0.25, 0.0) and np.isnan(one.lo) and np.isnan(one.hi)


def test_paired_difference_at_another_level_and_with_a_constant_difference():
    by_arm = {"none": {s: 0.2 - 0.01 * s for s in range(5)}, "dae": {s: 0.15 + 0.02 * s * s for s in range(5)}}
    pd = paired_difference(by_arm, "dae", level=0.9)
    d = np.array([by_arm["dae"][s] - by_arm["none"][s] for s in range(5)])
    lo, hi = sps.t.interval(0.9, len(d) - 1, loc=d.mean(), scale=sps.sem(d))
    assert (pd.diff.lo, pd.diff.hi) == (pytest.approx(lo), pytest.approx(hi))
    # every seed 0.05 better: no spread, so no test statistic (the interval is the point itself)
    constant = paired_difference({"none": {s: 0.2 for s in range(5)}, "dae": {s: 0.15 for s in range(5)}}, "dae")
    assert np.isnan(constant.t_pvalue) and np.isnan(constant.wilcoxon_pvalue)
    assert constant.diff.mean == pytest.approx(-0.05)


@pytest.mark.parametrize("df", [1, 2, 3, 4, 7, 19, 30, 99, 399, 799, 5000])
@pytest.mark.parametrize("q", [0.5, 0.75, 0.9, 0.95, 0.975, 0.995, 0.9995])
def test_t_quantile_matches_scipy(df, q):
    from desktop_app.core.stats import t_quantile

    assert t_quantile(q, df) == pytest.approx(sps.t.ppf(q, df), rel=1e-11, abs=1e-12)


def test_t_quantile_refuses_what_it_does_not_compute():
    from desktop_app.core.stats import t_quantile

    for q, df in ((0.4, 5), (1.0, 5), (0.975, 0)):
        with pytest.raises(ValueError):
            t_quantile(q, df)


def test_an_interval_over_seeds_does_not_import_scipy():
    """``basin runs --table`` computes intervals only: scipy (0.5 s or more to import) stays out of it (issue 25)."""
    import subprocess
    import sys

    code = ("import sys; from desktop_app.core.stats import mean_ci; ci = mean_ci([0.1, 0.12, 0.11, 0.13]); "
            "print(ci.lo, ci.hi, 'scipy' in sys.modules)")
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True,
                         timeout=120)
    lo, hi, imported = out.stdout.split()
    x = [0.1, 0.12, 0.11, 0.13]
    want = sps.t.interval(0.95, 3, loc=np.mean(x), scale=sps.sem(x))
    assert (float(lo), float(hi)) == (pytest.approx(want[0]), pytest.approx(want[1]))
    assert imported == "False"


def test_mean_ci_counts_its_values():
    for n in (2, 3, 7):
        assert mean_ci(np.linspace(0.1, 0.2, n)).n == n


def test_two_differing_pairs_get_scipys_p_values():
    """Two seeds are enough for a t-test and a Wilcoxon test (wide, but computed); only one pair, or a constant
    difference, has none."""
    pd = paired_difference({"none": {0: 0.20, 1: 0.30}, "dae": {0: 0.15, 1: 0.29}}, "dae")
    d = np.array([0.15 - 0.20, 0.29 - 0.30])
    assert pd.t_pvalue == pytest.approx(sps.ttest_1samp(d, 0.0).pvalue)
    assert pd.wilcoxon_pvalue == pytest.approx(sps.wilcoxon(d).pvalue)
    one = paired_difference({"none": {0: 0.2}, "dae": {0: 0.1}}, "dae")
    assert np.isnan(one.t_pvalue) and np.isnan(one.wilcoxon_pvalue)


def test_an_interval_is_shown_from_three_finite_values_on():
    assert MIN_SEEDS == 3
    assert shown_interval(MeanCI(3, 0.5, 0.1, 0.25, 0.75)) == (0.25, 0.75)
    assert shown_interval(MeanCI(2, 0.5, 0.1, 0.25, 0.75)) is None  # n = 2: mean +- 12.7 sd, never shown
    for lo, hi in ((np.nan, 0.75), (0.25, np.nan), (-np.inf, 0.75), (0.25, np.inf), (np.nan, np.nan)):
        assert shown_interval(MeanCI(5, 0.5, 0.1, lo, hi)) is None, (lo, hi)
    ci = mean_ci([0.1, 0.2, 0.4])
    assert shown_interval(ci) == (ci.lo, ci.hi) and ci.shown


@pytest.mark.parametrize(("a", "b", "x", "where"), [
    (1.0, 3.0, 0.5, "d before the loop: 1 - (a + b) x / (a + 1) = 0"),
    (1.0, 2.0, 0.75, "d at the first step: 1 + aa d = 0"),
    (7.0, 7.0, 0.8, "c at the first step's odd term: 1 + aa / c = 0"),
])
def test_the_continued_fraction_passes_a_vanishing_lentz_denominator(a, b, x, where):
    """Modified Lentz replaces a denominator that is exactly 0 by 1e-300 and goes on (Numerical Recipes 6.4).
    ``_betainc`` calls the fraction only below (a + 1) / (a + b + 2), where the first d stays positive, but the
    fraction is I_x(a, b)'s for any x < 1: at these (a, b, x) d or c is exactly 0 in double precision, and the
    result must still be the incomplete beta, here a binomial tail for integer a, b (written out) and scipy's."""
    import math

    from scipy.special import betainc

    from desktop_app.core.stats import _betacf

    n = int(a + b - 1)  # I_x(a, b) = P(Binomial(a + b - 1, x) >= a) for integer a, b
    tail = sum(math.comb(n, j) * x**j * (1 - x) ** (n - j) for j in range(int(a), n + 1))
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x))
    value = front * _betacf(a, b, x) / a
    assert value == pytest.approx(tail, rel=1e-13), where
    assert value == pytest.approx(betainc(a, b, x), rel=1e-13), where


def test_plateau_seeds_are_those_above_half_error_in_either_unit():
    """A seed is stuck strictly above 50 % test error: exactly 50 % is not (fractions by default, percent with
    scale 100, as the Summary panel passes)."""
    from desktop_app.core.stats import STUCK_ERROR, plateau_seeds

    assert STUCK_ERROR == 0.5
    assert plateau_seeds({0: 0.5, 1: 0.5000001, 2: 0.12, 3: 0.9}) == {1, 3}
    assert plateau_seeds({0: 50.0, 1: 50.001, 2: 12.0, 3: 0.9}, scale=100.0) == {1}
    assert plateau_seeds({}) == set()


def test_leave_out_drops_the_seeds_from_every_arm_and_keeps_the_rest():
    from desktop_app.core.stats import leave_out

    by_arm = {"none": {0: 0.6, 1: 0.1, 2: 0.2}, "dae": {0: 0.3, 1: 0.09, 3: 0.05}}
    assert leave_out(by_arm, {0, 3}) == {"none": {1: 0.1, 2: 0.2}, "dae": {1: 0.09}}
    assert leave_out(by_arm, set()) == by_arm


@pytest.mark.parametrize("df", [1, 3, 30, 399, 5000])
def test_t_sf_matches_scipy_from_t_0_to_infinity(df):
    """P(T > t) against scipy over the whole range: exactly 1/2 at t = 0 and 0 at t = infinity (the incomplete beta's
    ends, x = 1 and x = 0), and near 1/2 for a small t, where I_x(df/2, 1/2) must be taken as 1 - I_{1-x}(1/2, df/2)
    (the fraction converges slowly and loses digits for x close to 1)."""
    import math

    from desktop_app.core.stats import t_sf

    assert t_sf(0.0, df) == 0.5 and t_sf(math.inf, df) == 0.0
    for t in (1e-3, 1e-2, 0.1, 0.5, 1.0, 2.0, 5.0, 20.0):
        assert t_sf(t, df) == pytest.approx(sps.t.sf(t, df), rel=1e-9), t
