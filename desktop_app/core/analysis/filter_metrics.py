"""Numbers for first-layer filters: how spatially structured they are, and how far fine-tuning moved them.

Structure (issue 17, item 6): the share of each mean-removed filter's spectral energy at spatial frequencies
within ``LOW_CUTOFF`` cycles/pixel of DC. Smooth strokes and edges put most energy there; a checkerboard puts
almost none. For white noise every non-DC frequency bin carries the same expected energy, and the share is a
ratio of independent Gamma variables with one scale (each bin contributes shape 1/2: a conjugate pair shares
one exponential, a self-conjugate bin is chi-square with one degree of freedom), so it is Beta distributed
with mean exactly ``noise_share(h, w)`` = (non-DC bins within the cutoff) / (h*w - 1). Several input channels
add their energies.

Movement (Erhan et al. 2010, "pre-trained first-layer filters move little during fine-tuning"): per unit
||W_end - W_start|| / ||W_start||, start = where fine-tuning begins (after pre-training, or the initialisation
for a random-init arm), end = the last fine-tuning snapshot. Torch-free and Qt-free: the Filters panel, the
reproduce claims and the preset measurement share it (docs/ARCHITECTURE.md, Filter metrics).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from desktop_app.core.tiling import filters_to_stack

LOW_CUTOFF = 0.25  # cycles/pixel: half the Nyquist frequency

Key = tuple[str, int]  # (phase, epoch) of a FilterSnapshot


def _low_mask(h: int, w: int, cutoff: float = LOW_CUTOFF) -> np.ndarray:
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.fftfreq(w)[None, :]
    return np.hypot(fy, fx) <= cutoff + 1e-12


def noise_share(h: int, w: int, cutoff: float = LOW_CUTOFF) -> float:
    """Expected low-frequency share of an h x w white-noise filter (see the module docstring)."""
    if h * w < 2:
        return float("nan")
    return float((int(_low_mask(h, w, cutoff).sum()) - 1) / (h * w - 1))


def low_frequency_share(weights: np.ndarray, input_shape: tuple[int, ...] = (),
                        cutoff: float = LOW_CUTOFF) -> np.ndarray:
    """Per filter: energy within ``cutoff`` of DC over the total, of the mean-removed filter (NaN if flat)."""
    stack = filters_to_stack(weights, input_shape).astype(np.float64)  # (N, C, h, w)
    if stack.shape[0] == 0:
        return np.zeros(0)
    centred = stack - stack.mean(axis=(-2, -1), keepdims=True)
    power = np.abs(np.fft.fft2(centred)) ** 2
    mask = _low_mask(stack.shape[-2], stack.shape[-1], cutoff)
    total = power.sum(axis=(1, 2, 3))
    low = (power * mask).sum(axis=(1, 2, 3))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, low / np.where(total > 0, total, 1.0), np.nan)


@dataclass(frozen=True)
class Structure:
    """Mean low-frequency share over the filters and what white noise of the same size would give."""

    mean: float
    noise: float
    per_filter: np.ndarray


def structure(weights: np.ndarray, input_shape: tuple[int, ...] = ()) -> Structure:
    shares = low_frequency_share(weights, input_shape)
    h, w = filters_to_stack(weights, input_shape).shape[-2:]
    finite = shares[np.isfinite(shares)]
    return Structure(float(finite.mean()) if len(finite) else float("nan"), noise_share(h, w), shares)


def relative_change(start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Per unit (first axis) ||end - start|| / ||start||; NaN where the start is all zeros."""
    a = np.asarray(start, dtype=np.float64).reshape(len(start), -1)
    b = np.asarray(end, dtype=np.float64).reshape(len(end), -1)
    if a.shape != b.shape:
        raise ValueError(f"filter snapshots differ in shape: {a.shape} vs {b.shape}")
    norm = np.linalg.norm(a, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(norm > 0, np.linalg.norm(b - a, axis=1) / np.where(norm > 0, norm, 1.0), np.nan)


def finetune_span(keys: list[Key] | set[Key]) -> tuple[Key, Key] | None:
    """(start, end) snapshot keys of fine-tuning: start = fine-tuning epoch 0 if recorded, else the last
    pre-training epoch, else the initialisation; end = the last fine-tuning epoch. None before it exists."""
    ks = set(keys)
    finetune = sorted(e for p, e in ks if p == "finetune")
    pretrain = sorted(e for p, e in ks if p == "pretrain")
    if 0 in finetune:
        start: Key | None = ("finetune", 0)
    elif pretrain:
        start = ("pretrain", pretrain[-1])
    elif ("init", 0) in ks:
        start = ("init", 0)
    else:
        start = None
    ends = [e for e in finetune if e > 0]
    if start is None or not ends:
        return None
    return start, ("finetune", ends[-1])


def movement(snapshots: Mapping[Key, np.ndarray]) -> np.ndarray | None:
    """Per-unit relative change over fine-tuning from one unit's snapshots {(phase, epoch): weights}."""
    span = finetune_span(set(snapshots))
    if span is None:
        return None
    return relative_change(snapshots[span[0]], snapshots[span[1]])
