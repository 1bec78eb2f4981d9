"""The Curves panel's smoothing: a bias-corrected EMA, checked against the weighted average it is by definition."""

import numpy as np
import pytest

from desktop_app.core.stats import ema


def reference(y: np.ndarray, w: float) -> np.ndarray:
    """s_t = sum_k w^(t-k) y_k / sum_k w^(t-k): the EMA's weights, normalised to sum to one (what Adam's 1 - w^t
    correction does), computed directly rather than by the recurrence."""
    out = []
    for t in range(len(y)):
        weights = w ** np.arange(t, -1, -1, dtype=float)
        out.append(float(np.dot(weights, y[: t + 1]) / weights.sum()))
    return np.array(out)


@pytest.mark.parametrize("w", [0.0, 0.3, 0.6, 0.9, 0.99])
def test_ema_equals_the_normalised_weighted_average(w):
    y = np.random.default_rng(0).normal(2.0, 1.0, 40)
    np.testing.assert_allclose(ema(y, w), reference(y, w), rtol=1e-12, atol=1e-12)


def test_no_early_step_bias_toward_zero():
    """tensorflow/tensorboard#610: an uncorrected EMA starts at (1 - w) y_0. Corrected, the first point is y_0 and a
    constant curve stays constant (to rounding)."""
    y = np.full(10, 2.5)
    np.testing.assert_allclose(ema(y, 0.9), y, rtol=1e-14)  # an uncorrected EMA starts at 0.25
    assert ema([7.0, 1.0], 0.95)[0] == 7.0
    assert ema([1.0, 3.0], 0.5)[1] == pytest.approx((0.5 * 1 + 3) / 1.5)


def test_gaps_stay_gaps_and_bad_weights_are_refused():
    out = ema([1.0, np.nan, 3.0], 0.5)
    assert np.isnan(out[1]) and out[0] == 1.0 and out[2] == pytest.approx((0.5 * 1 + 3) / 1.5)
    with pytest.raises(ValueError, match="smoothing"):
        ema([1.0], 1.0)


def test_float32_values_are_smoothed_in_float64():
    """A metrics array may be float32; the recurrence still runs in float64 (float32 would round every step)."""
    y32 = np.random.default_rng(1).normal(0.3, 0.1, 50).astype(np.float32)
    out = ema(y32, 0.9)
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, ema(y32.astype(np.float64), 0.9))
