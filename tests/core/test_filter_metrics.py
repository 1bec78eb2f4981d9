"""Filter metrics against an independent computation: a direct DFT sum, known shapes, and white noise's theory."""

import math

import numpy as np
import pytest

from desktop_app.core.analysis import filter_metrics as fm


def direct_share(tile: np.ndarray, cutoff: float) -> float:
    """Low-frequency share by the DFT's defining double sum (no np.fft), frequencies folded to [-1/2, 1/2)."""
    h, w = tile.shape
    x = tile.astype(np.float64) - tile.astype(np.float64).mean()
    low = total = 0.0
    for u in range(h):
        for v in range(w):
            coef = sum(x[a, b] * complex(math.cos(-2 * math.pi * (u * a / h + v * b / w)),
                                         math.sin(-2 * math.pi * (u * a / h + v * b / w)))
                       for a in range(h) for b in range(w))
            fu = (u if u < (h + 1) // 2 else u - h) / h
            fv = (v if v < (w + 1) // 2 else v - w) / w
            total += abs(coef) ** 2
            if math.hypot(fu, fv) <= cutoff:
                low += abs(coef) ** 2
    return low / total


def test_matches_the_direct_dft_sum_for_random_conv_and_dense_filters():
    rng = np.random.default_rng(3)
    conv = rng.standard_normal((4, 1, 5, 5)).astype(np.float32)  # snapshots are float32
    got = fm.low_frequency_share(conv)
    assert got == pytest.approx([direct_share(t[0], fm.LOW_CUTOFF) for t in conv], rel=1e-9)
    dense = rng.standard_normal((2, 36)).astype(np.float32)  # (units, fan_in) reshaped to the input's (1, 6, 6)
    got = fm.low_frequency_share(dense, (1, 6, 6))
    assert got == pytest.approx([direct_share(t.reshape(6, 6), fm.LOW_CUTOFF) for t in dense], rel=1e-9)


def test_channels_add_their_energies():
    rng = np.random.default_rng(4)
    w = rng.standard_normal((1, 3, 5, 5)).astype(np.float32)
    x = w[0].astype(np.float64) - w[0].astype(np.float64).mean(axis=(1, 2), keepdims=True)
    energies = [np.sum(c ** 2) for c in x]  # Parseval: total spectral energy / (h*w) = spatial energy
    lows = [direct_share(c, fm.LOW_CUTOFF) * e for c, e in zip(w[0], energies, strict=True)]
    assert fm.low_frequency_share(w)[0] == pytest.approx(sum(lows) / sum(energies), rel=1e-9)


def test_smooth_blob_and_edge_score_high_checkerboard_low():
    i, j = np.mgrid[:5, :5].astype(float)
    blob = np.exp(-((i - 2) ** 2 + (j - 2) ** 2) / (2 * 1.2 ** 2))
    edge = np.tanh((j - 2) + 0.3 * (i - 2))
    checker = (-1.0) ** (i + j)
    shares = fm.low_frequency_share(np.stack([blob, edge, checker])[:, None])
    assert shares[0] > 0.8 and shares[1] > 0.8
    assert shares[2] < 0.02
    assert fm.low_frequency_share(((-1.0) ** np.add.outer(range(6), range(6)))[None, None])[0] == pytest.approx(0)


@pytest.mark.parametrize("h,w,count", [(5, 5, 4), (6, 6, 8), (28, 28, 148)])
def test_white_noise_scores_the_theoretical_share(h, w, count):
    # count = non-DC bins with |f| <= 1/4 cycles/pixel, by hand: 5x5 has (0,±.2),(±.2,0); 6x6 adds the
    # four (±1/6,±1/6) diagonals; 28x28 counts integer (u,v) != 0 with u²+v² <= 7².
    assert count == sum(1 for u in range(-14, 14) for v in range(-14, 14) if 0 < u * u + v * v <= 49) or h != 28
    assert fm.noise_share(h, w) == pytest.approx(count / (h * w - 1))
    noise = np.random.default_rng(5).standard_normal((4000, 1, h, w))
    shares = fm.low_frequency_share(noise)
    # Beta(count/2, (h*w-1-count)/2): the mean of 4000 draws is within 5 standard errors of the theory
    a, b = count / 2, (h * w - 1 - count) / 2
    se = math.sqrt(a * b / ((a + b) ** 2 * (a + b + 1)) / len(shares))
    assert abs(shares.mean() - count / (h * w - 1)) < 5 * se
    s = fm.structure(noise[:10])
    assert s.noise == fm.noise_share(h, w) and s.mean == pytest.approx(shares[:10].mean())


def test_flat_filter_is_nan_not_a_crash():
    assert np.isnan(fm.low_frequency_share(np.ones((1, 1, 5, 5)))[0])


def test_relative_change_per_unit_and_the_finetune_span():
    start = np.array([[3.0, 4.0], [1.0, 0.0], [0.0, 0.0]])
    end = np.array([[3.0, 5.0], [1.0, 2.0], [1.0, 0.0]])
    got = fm.relative_change(start, end)
    assert got[:2] == pytest.approx([1 / 5, 2.0]) and np.isnan(got[2])
    with pytest.raises(ValueError, match="differ in shape"):
        fm.relative_change(start, end[:2])
    assert fm.finetune_span({("init", 0), ("finetune", 1), ("finetune", 4)}) == (("init", 0), ("finetune", 4))
    assert fm.finetune_span({("init", 0), ("pretrain", 1), ("pretrain", 3), ("finetune", 2)}) == (
        ("pretrain", 3), ("finetune", 2))
    assert fm.finetune_span({("init", 0), ("finetune", 0), ("pretrain", 2), ("finetune", 1)})[0] == ("finetune", 0)
    assert fm.finetune_span({("init", 0), ("pretrain", 1)}) is None
    snaps = {("init", 0): start[:2], ("finetune", 3): end[:2]}
    assert fm.movement(snaps) == pytest.approx([0.2, 2.0])
