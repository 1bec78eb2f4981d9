"""Synthetic event streams with KNOWN values for the panel tests (imported by the other test_panels_* files)."""

from __future__ import annotations

import zlib

import numpy as np

from desktop_app.core.events import EpochMetrics, FilterSnapshot, OnlinePoint, PretrainEpoch, RunFinished, RunStarted

ARMS = ("none", "dae")
SEEDS = (0, 1, 2, 3)
EPOCHS = 6  # fine-tuning epochs 0..5
PRETRAIN_EPOCHS = 3
LAYERS = (0, 1)
N_FILTERS = 12
INPUT_SHAPE = (1, 28, 28)
# final test error per seed: a clear outlier in "none" so the box has a whisker/outlier split
FINAL_TEST_ERROR = {"none": (0.10, 0.12, 0.11, 0.30), "dae": (0.08, 0.09, 0.085, 0.07),
                    "rbm": (0.09, 0.095, 0.1, 0.08)}  # rbm: only where a test asks for it (arms=...)


def metric(arm: str, seed: int, epoch: int, name: str) -> float:
    """The known value of one metric (float64, exactly what the events carry)."""
    bonus = 0.2 if arm == "dae" else 0.0
    train = 2.0 * np.exp(-0.5 * epoch) * (1 + 0.1 * seed) + 0.05 + bonus * 0.1
    values = {
        "train_nll": train,
        "valid_nll": train + 0.08 - bonus * 0.2,
        "test_nll": train + 0.1 - bonus * 0.3 + 0.01 * seed,
        "train_error": 0.5 * np.exp(-0.4 * epoch) + 0.01 * seed,
        "valid_error": 0.55 * np.exp(-0.4 * epoch) + 0.012 * seed,
        "test_error": FINAL_TEST_ERROR[arm][SEEDS.index(seed)] + 0.02 * (EPOCHS - 1 - epoch),
    }
    return float(values[name])


def recon(arm: str, seed: int, layer: int, epoch: int) -> float:
    return 10.0 - epoch + 0.5 * seed + 3.0 * layer


def filters(arm: str, seed: int, phase: str, epoch: int) -> np.ndarray:
    """Known first-layer weights: (N_FILTERS, 784), a different pattern per snapshot."""
    rng = np.random.default_rng(zlib.crc32(repr((arm, seed, phase, epoch)).encode()))
    return np.ascontiguousarray(rng.normal(0, 0.1, (N_FILTERS, 784)), dtype=np.float32)


def filter_keys(arm: str) -> list[tuple[str, int]]:
    keys = [("init", 0)]
    if arm != "none":
        keys += [("pretrain", e) for e in range(1, PRETRAIN_EPOCHS + 1)]
    return keys + [("finetune", e) for e in range(EPOCHS)]


def events(run_dir: str = "/synthetic/run", arms=ARMS, seeds=SEEDS, epochs: int = EPOCHS) -> list:
    """A whole run: RunStarted, per unit filters, pre-training and fine-tuning metrics, RunFinished."""
    out: list = [RunStarted(run_dir, "synthetic", tuple(arms), tuple(seeds), "cpu", 100)]
    for seed in seeds:
        for arm in arms:
            for phase, e in filter_keys(arm):
                if phase != "finetune" or e < epochs:
                    out.append(FilterSnapshot(arm, seed, phase, e, filters(arm, seed, phase, e), INPUT_SHAPE))
            if arm != "none":
                for layer in LAYERS:
                    for e in range(1, PRETRAIN_EPOCHS + 1):
                        out.append(PretrainEpoch(arm, seed, layer, e, recon(arm, seed, layer, e)))
            for e in range(epochs):
                out.append(EpochMetrics(arm, seed, e, *(metric(arm, seed, e, n) for n in (
                    "train_nll", "train_error", "valid_nll", "valid_error", "test_nll", "test_error"))))
    out.append(RunFinished("completed", run_dir, 1.0))
    return out


def online_points(arms=ARMS, seeds=SEEDS) -> list:
    """An online run's points for the same units (kind "online"): error falling with the examples seen."""
    return [OnlinePoint(arm, seed, n, 0.5 / (1 + i) + 0.01 * seed, 0.4 / (1 + i) + 0.01 * seed, 1.0 / (1 + i), 100)
            for seed in seeds for arm in arms for i, n in enumerate((100, 300, 1000, 3000))]


def test_synthetic_stream_is_complete():
    evs = events()
    assert sum(isinstance(e, EpochMetrics) for e in evs) == len(ARMS) * len(SEEDS) * EPOCHS
    assert sum(isinstance(e, FilterSnapshot) for e in evs) == len(SEEDS) * (len(filter_keys("none"))
                                                                         + len(filter_keys("dae")))
    assert np.array_equal(filters("dae", 1, "init", 0), filters("dae", 1, "init", 0))
