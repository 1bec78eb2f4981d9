"""Tiny real run folders for the analysis runner and panel tests (a few seconds on one CPU thread)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from desktop_app.core.config import from_dict
from desktop_app.core.engine.run import run_experiment

TINY: dict[str, Any] = {
    "data": {"n_labelled": 200, "n_valid": 100, "n_test": 200, "probe_size": 30, "n_unlabelled": 200},
    "model": {"layers": [{"kind": "dense", "units": 16}]}, "arms": ["none", "dae"],
    "finetune": {"epochs": 3, "batch_size": 20}, "pretraining": {"dae": {"epochs": 1}}, "seeds": {"count": 2},
    "device": "cpu",
}
OUTPUT_VARIANCE: dict[str, Any] = {**TINY, "kind": "output-variance",
                                   "output_variance": {"n_blocks": 3, "resamples": 2, "resample": "pool"}}


def make_run(path: Path, **overrides: Any) -> Path:
    """Run the tiny config (``overrides`` replace top-level sections) into ``path``; returns it."""
    events = list(run_experiment(from_dict({**TINY, **overrides}), None, path))
    assert events[-1].status == "completed", events[-1]
    return path


def run_events(path: Path, **overrides: Any) -> list:
    """The events of a tiny run, for tests that feed a store live."""
    return list(run_experiment(from_dict({**TINY, **overrides}), None, path))


def finish(qtbot, job, timeout=30_000):
    """Wait for an analysis job of the real AnalysisRunner; its result (the test fails if it did not finish)."""
    qtbot.waitUntil(lambda: job.state in ("finished", "failed", "cancelled"), timeout=timeout)
    assert job.state == "finished", job.error
    return job.result
