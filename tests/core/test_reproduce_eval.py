"""Pieces of the reproduce evaluations that decide verdicts: checked on known numbers."""

import numpy as np
from scipy import stats

from desktop_app.core import reproduce
from desktop_app.core.stats import MeanCI


def test_within_architecture_removes_the_width_confound():
    # across widths: lower error, higher accuracy (capacity); within a width: no relation at all
    pts = [("dae w=16 noise=0", 190.0, 0.60), ("dae w=16 noise=0.5", 180.0, 0.60), ("dae w=16 noise=0.25", 185.0, 0.61),
           ("dae w=64 noise=0", 140.0, 0.86), ("dae w=64 noise=0.5", 130.0, 0.87), ("dae w=64 noise=0.25", 135.0, 0.86),
           ("cae ch=4 noise=0", 100.0, 0.95)]  # a lone architecture: no within-architecture information
    within = reproduce._within_architecture(pts)
    assert [p[0] for p in within] == [p[0] for p in pts[:6]]
    np.testing.assert_allclose([p[1] for p in within], [5, -5, 0, 5, -5, 0])
    np.testing.assert_allclose([p[2] for p in within], [-1 / 300, -1 / 300, 2 / 300, -1 / 300, 2 / 300, -1 / 300],
                               atol=1e-12)
    across = stats.spearmanr([p[1] for p in pts], [p[2] for p in pts]).statistic
    assert across < -0.9


def test_negated_interval_keeps_low_end_first():
    ci = MeanCI(n=5, mean=-0.76, std=0.1, lo=-0.99, hi=-0.53)
    assert reproduce._fmt_ci(ci, -100) == "76.00 [53.00, 99.00]"
