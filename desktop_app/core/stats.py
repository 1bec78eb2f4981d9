"""Statistics over seeds: means with t-based 95 % confidence intervals and paired arm differences, and the
bias-corrected moving average the Curves panel smooths with.

Torch-free: the summary panel and `basin reproduce` both use it. Pre-training results are distributions
over seeds (Erhan et al. 2010 used 400), so every number comes with its interval.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np


def _sps():
    """scipy.stats, imported on first use: it takes ~0.5 s and the window must paint before that
    (docs/PERFORMANCE.md, Start-up)."""
    from scipy import stats

    return stats


def preload() -> None:
    """Import scipy.stats now: call it on a background thread (the window's replay of an opened run does), so the
    first Summary drawn after it does not import it on the GUI thread (seconds on a busy machine)."""
    _sps()


def _betacf(a: float, b: float, x: float) -> float:
    """The continued fraction of the regularised incomplete beta function (modified Lentz; Numerical Recipes
    6.4), converged to double precision."""
    tiny, eps = 1e-300, 1e-16
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 100_000):
        m2 = 2 * m
        for aa in (m * (b - m) * x / ((qam + m2) * (a + m2)), -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))):
            d = 1.0 + aa * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + aa / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1.0) < eps:
            break
    return h


def _betainc(a: float, b: float, x: float) -> float:
    """Regularised incomplete beta I_x(a, b) for 0 <= x <= 1."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _betacf(a, b, x) / a
    return 1.0 - front * _betacf(b, a, 1.0 - x) / b


def t_sf(t: float, df: float) -> float:
    """P(T > t) for Student's t with ``df`` degrees of freedom (t >= 0): I_{df/(df+t^2)}(df/2, 1/2) / 2."""
    return 0.5 * _betainc(df / 2.0, 0.5, df / (df + t * t))


@lru_cache(maxsize=4096)
def t_quantile(q: float, df: int) -> float:
    """Student's t quantile for 0.5 <= q < 1, without scipy: an interval over seeds needs only this, and
    importing scipy.stats for it cost ``basin runs --table`` half a second or more (issue 25). Bisection on the
    survival function (``t_sf``, the incomplete beta by its continued fraction) to double precision; cached per
    (q, df). df = 1 and 2 have closed forms."""
    if not 0.5 <= q < 1.0 or df < 1:
        raise ValueError(f"t quantile needs 0.5 <= q < 1 and df >= 1, got q={q}, df={df}")
    if q == 0.5:
        return 0.0
    if df == 1:
        return math.tan(math.pi * (q - 0.5))
    if df == 2:
        return (2 * q - 1) / math.sqrt(2 * q * (1 - q))
    tail = 1.0 - q
    lo, hi = 0.0, 1.0
    while t_sf(hi, df) > tail:
        lo, hi = hi, 2 * hi
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if mid in (lo, hi):
            break
        if t_sf(mid, df) > tail:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


MIN_SEEDS = 3  # an interval is shown from this many values on: the one rule of the table, panels, CLI and report


@dataclass(frozen=True)
class MeanCI:
    n: int
    mean: float
    std: float
    lo: float
    hi: float

    @property
    def half_width(self) -> float:
        return (self.hi - self.lo) / 2

    @property
    def shown(self) -> bool:
        """Whether the interval is shown (``shown_interval``): from ``MIN_SEEDS`` values on, when finite."""
        return shown_interval(self) is not None


def shown_interval(ci: MeanCI) -> tuple[float, float] | None:
    """(lo, hi) of ``ci`` as every number Basin prints or draws shows it, or None: fewer than ``MIN_SEEDS`` values
    (at n = 2 the t interval is the mean ± 12.7 standard deviations: "7.10 % ± 10.16" read as a result) or an
    interval that is not finite. The Runs table, Summary, Online, Output variance, ``basin runs --table`` and the
    reproduce report all ask this one function."""
    if ci.n < MIN_SEEDS or not (np.isfinite(ci.lo) and np.isfinite(ci.hi)):
        return None
    return ci.lo, ci.hi


@dataclass(frozen=True)
class PairedDiff:
    """arm minus reference over the seeds both have: mean, CI, paired t-test and Wilcoxon p-values."""

    arm: str
    reference: str
    seeds: tuple[int, ...]
    diff: MeanCI
    t_pvalue: float
    wilcoxon_pvalue: float


def mean_ci(values: Sequence[float], level: float = 0.95) -> MeanCI:
    x = np.asarray(values, dtype=np.float64)
    n = len(x)
    if n == 0:
        return MeanCI(0, float("nan"), float("nan"), float("nan"), float("nan"))
    mean = float(x.mean())
    if n == 1:
        return MeanCI(1, mean, 0.0, float("nan"), float("nan"))
    std = float(x.std(ddof=1))
    half = float(t_quantile(0.5 + level / 2, n - 1) * std / np.sqrt(n))
    return MeanCI(n, mean, std, mean - half, mean + half)


def paired_difference(
    by_arm: Mapping[str, Mapping[int, float]], arm: str, reference: str = "none", level: float = 0.95
) -> PairedDiff | None:
    """Per-seed differences arm - reference (same seed = same init and data order), or None without pairs."""
    if arm not in by_arm or reference not in by_arm:
        return None
    seeds = tuple(sorted(set(by_arm[arm]) & set(by_arm[reference])))
    if not seeds:
        return None
    d = np.array([by_arm[arm][s] - by_arm[reference][s] for s in seeds])
    ci = mean_ci(d, level)
    t_p = w_p = float("nan")
    if len(d) > 1 and np.any(d != d[0]):
        t_p = float(_sps().ttest_1samp(d, 0.0).pvalue)
        if np.any(d != 0):
            w_p = float(_sps().wilcoxon(d).pvalue)
    return PairedDiff(arm, reference, seeds, ci, t_p, w_p)


STUCK_ERROR = 0.5  # a random-init net ending above this test error never left its initial (chance-level) plateau


def plateau_seeds(errors: Mapping[int, float], scale: float = 1.0) -> set[int]:
    """Seeds whose final test error (seed -> error as a fraction; ``scale`` 100 for percent) is above
    ``STUCK_ERROR``: the net never left the chance-level plateau of a saturating net within its update budget
    (Glorot & Bengio 2010), so a gain measured against it is an optimisation failure. The one rule the reproduce
    claims that leave such seeds out (width, labels, Figure 1) and the Summary panel that says so ask."""
    return {s for s, v in errors.items() if v > STUCK_ERROR * scale}


def leave_out(by_arm: Mapping[str, Mapping[int, float]], seeds: set[int]) -> dict[str, dict[int, float]]:
    """arm -> seed -> value without ``seeds`` (e.g. the reference's ``plateau_seeds``) in any arm: what the paired
    statistics over the remaining seeds are computed from."""
    return {arm: {s: v for s, v in by_seed.items() if s not in seeds} for arm, by_seed in by_arm.items()}


def wilcoxon_min_p(n: int) -> float:
    """The smallest two-sided p the exact Wilcoxon signed-rank test can give with ``n`` nonzero pairs: 2 / 2**n
    (every difference of one sign). With 5 seeds it is 0.0625, so "p < 0.05" is out of reach whatever the data."""
    return min(1.0, 2.0 / 2.0**n) if n > 0 else float("nan")


def box_stats(values: Sequence[float]) -> dict[str, float]:
    """Tukey box: quartiles, whiskers at the most extreme points within 1.5 IQR."""
    x = np.sort(np.asarray(values, dtype=np.float64))
    if len(x) == 0:
        return {}
    q1, med, q3 = (float(v) for v in np.percentile(x, [25, 50, 75]))
    iqr = q3 - q1
    lo_w = float(x[x >= q1 - 1.5 * iqr].min())
    hi_w = float(x[x <= q3 + 1.5 * iqr].max())
    return {"q1": q1, "median": med, "q3": q3, "whisker_lo": lo_w, "whisker_hi": hi_w,
            "min": float(x.min()), "max": float(x.max())}


def ema(values: Sequence[float], weight: float) -> np.ndarray:
    """Bias-corrected exponential moving average, as Adam corrects its moments: s_t = m_t / (1 - w**k) with
    m_t = w m_{t-1} + (1 - w) y_t over the k finite values seen so far. Without the division the first points are
    pulled toward zero (the early-step bias of tensorflow/tensorboard#610); with it the first point is y_0 itself
    and a constant curve stays constant. NaN entries (an epoch a seed has not reached) stay NaN and are skipped.
    ``weight`` in [0, 1): 0 returns the values unchanged."""
    y = np.asarray(values, dtype=np.float64)
    if not 0.0 <= weight < 1.0:
        raise ValueError(f"smoothing weight must be in [0, 1), got {weight}")
    out = np.full(y.shape, np.nan)
    m, k = 0.0, 0
    for i, v in enumerate(y):
        if not np.isfinite(v):
            continue
        m = weight * m + (1.0 - weight) * v
        k += 1
        out[i] = m / (1.0 - weight**k)
    return out
