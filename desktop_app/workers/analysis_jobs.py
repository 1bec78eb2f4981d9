"""The analyses the AnalysisRunner can run, by name: each a function ``(run_dir, params, control) -> Iterator``
of ``AnalysisProgress`` items ending with the result. Most are ``store.cached_call`` around a core compute
function, so a second request (or a reopened run) is served from the run folder. Compute modules are imported
lazily: they import torch, and the registry itself is read by the GUI thread.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from desktop_app.core.analysis.progress import AnalysisProgress, PitfallResult
from desktop_app.core.analysis.store import cached_call, run_sources, save_result
from desktop_app.core.control import RunControl

JobFn = Callable[[Path, dict[str, Any], RunControl], Iterator[Any]]

COMPUTE_FUNCTIONS: dict[str, str] = {
    "landscape": "desktop_app.core.analysis.landscape:compute_landscape",
    "interpolation": "desktop_app.core.analysis.interpolation:compute_interpolation",
    "function_space": "desktop_app.core.analysis.function_space:compute_function_space",
    "pitfall": "desktop_app.core.analysis.pitfall:pitfall_points_for_run",
}


def compute_function(name: str) -> Callable[..., Iterator[Any]]:
    """The core generator function behind an analysis name (imports its module, hence maybe torch)."""
    module, attr = COMPUTE_FUNCTIONS[name].split(":")
    return getattr(importlib.import_module(module), attr)


def cached_job(name: str) -> JobFn:
    """``cached_call(run_dir, name, fn, **params, control=control)``: computed once per run state and params."""

    def job(run_dir: Path, params: dict[str, Any], control: RunControl) -> Iterator[Any]:
        return cached_call(run_dir, name, compute_function(name), **params, control=control)

    return job


def pitfall_job(run_dir: Path, params: dict[str, Any], control: RunControl) -> Iterator[Any]:
    """The pitfall over this run plus ``params["extra_runs"]`` (other run folders, e.g. a noise or width sweep):
    each run's points are cached in its own folder; the correlation is recomputed over all of them."""
    params = dict(params)
    extra = [Path(p) for p in params.pop("extra_runs", ()) or ()]
    if not extra:
        yield from cached_job("pitfall")(run_dir, params, control)
        return
    folders = [Path(run_dir), *[p for p in extra if p.resolve() != Path(run_dir).resolve()]]
    results: list[tuple[str, PitfallResult]] = []
    for i, folder in enumerate(folders):
        control.checkpoint()
        result = None
        for item in cached_job("pitfall")(folder, params, control):
            if isinstance(item, AnalysisProgress):
                yield AnalysisProgress("pitfall", i * 100 + round(100 * item.fraction), 100 * len(folders), None)
            else:
                result = item
        if result is not None:
            results.append((folder.name if i else "", result))
    merged = merge_pitfall(results)
    # Also under this run's key (with the extra runs in the params), so reopening the run shows the merged plot;
    # keyed on this run's files only: a later change in an added run shows after the next Compute.
    save_result(run_dir, "pitfall", {**params, "extra_runs": [str(p) for p in extra]}, merged, run_sources(run_dir))
    yield merged


def merge_pitfall(results: list[tuple[str, PitfallResult]]) -> PitfallResult:
    """One PitfallResult over several runs' points (labels prefixed by the run folder name, except the first
    run's), correlation over every point with a finite reconstruction error; pixel baseline of the first run."""
    from desktop_app.core.analysis.pitfall import correlate

    first = results[0][1]
    labels = tuple(f"{run}:{lab}" if run else lab for run, r in results for lab in r.labels)
    recon = np.concatenate([r.recon_error for _, r in results])
    acc = np.concatenate([r.probe_accuracy for _, r in results])
    corr = correlate([(lab, float(a), float(b)) for lab, a, b in zip(labels, recon, acc, strict=True)
                      if math.isfinite(a)])
    return replace(
        first, labels=labels, arms=tuple(a for _, r in results for a in r.arms),
        seeds=np.concatenate([r.seeds for _, r in results]), layer=np.concatenate([r.layer for _, r in results]),
        recon_error=recon, probe_accuracy=acc, pearson_r=corr.pearson_r, pearson_p=corr.pearson_p,
        spearman_r=corr.spearman_r, spearman_p=corr.spearman_p,
    )


JOBS: dict[str, JobFn] = {
    "landscape": cached_job("landscape"),
    "interpolation": cached_job("interpolation"),
    "function_space": cached_job("function_space"),
    "pitfall": pitfall_job,
}
