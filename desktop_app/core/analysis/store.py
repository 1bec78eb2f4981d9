"""Cache of analysis results in the run folder, so reopening a panel does not recompute a 51 x 51 surface.

Each result is ``analyses/<name>-<key>.npz`` (its fields) plus ``<name>-<key>.json`` (parameters, result type),
written and read by the run folder's owner (``core.runfolder.results_cache``): results are rebuilt only through
the allow-list ``core.results.RESULT_TYPES``, never by a name read from the file. ``key`` hashes the analysis
name, its parameters and a fingerprint (name, size, mtime) of the files it read, so a resumed run that adds
checkpoints gets fresh results.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from desktop_app.core.analysis.progress import AnalysisProgress
from desktop_app.core.runfolder import RunFolder, RunFolderError
from desktop_app.core.runfolder import results_cache as cache_files

# the key's one owner is the run folder's (an output-variance run writes its result with the same key)
_fingerprint, cache_key = cache_files.fingerprint, cache_files.cache_key


def save_result(run_dir: Path, name: str, params: dict[str, Any], result: Any,
                sources: Iterable[Path] = ()) -> Path:
    """Write result (one of ``core.results.RESULT_TYPES``) under its key; returns the .npz path."""
    sources = list(sources)
    key = cache_key(name, params, sources)
    return cache_files.write_result(RunFolder(run_dir), name, key, params, result, _fingerprint(sources))


def load_result(run_dir: Path, name: str, params: dict[str, Any], sources: Iterable[Path] = ()) -> Any | None:
    """The cached result for (name, params, sources), or None when absent, unreadable or not an allowed type."""
    try:
        key = cache_key(name, params, list(sources))
    except (TypeError, ValueError, RecursionError):  # params read back from a file may be anything
        return None
    return cache_files.read_result(RunFolder(run_dir), name, key)


def cached(run_dir: Path, name: str, params: dict[str, Any], make: Callable[[], Iterator[Any]],
           sources: Iterable[Path] = ()) -> Iterator[Any]:
    """Yield the cached result if present; else run ``make()``'s generator through, saving its final result."""
    sources = list(sources)
    hit = load_result(run_dir, name, params, sources)
    if hit is not None:
        yield hit
        return
    result = None
    for item in make():
        if not isinstance(item, AnalysisProgress):
            result = item
        yield item
    if result is not None:
        save_result(run_dir, name, params, result, sources)


def run_sources(run_dir: Path) -> list[Path]:
    """Every file an analysis of this run may read (checkpoints, probe snapshots, per-unit metrics, config), so
    a cache key changes whenever the run does (a resumed or still-running run adds files)."""
    folder = RunFolder(run_dir)
    try:
        paths = [folder.config_path] if folder.config_path.exists() else []
        paths += sorted(p for *_, p in folder.checkpoints())
        paths += sorted(p for *_, p in folder.snapshots("probe"))
        paths += sorted(p for *_, p in folder.unit_metric_files())
    except RunFolderError:
        return []
    return paths


def cached_call(run_dir: Path, name: str, fn: Callable[..., Iterator[Any]], /, **params: Any) -> Iterator[Any]:
    """``cached`` for the common case ``fn(run_dir, **params)`` with JSON-serialisable params, keyed on
    ``run_sources``; e.g. ``cached_call(run, "landscape", compute_landscape, arm="dae", seed=0, resolution=51)``.
    ``control`` may be passed and is not part of the key."""
    control = params.pop("control", None)
    extra = {"control": control} if control is not None else {}
    return cached(run_dir, name, params, lambda: fn(run_dir, **params, **extra), run_sources(run_dir))


def list_results(run_dir: Path, name: str | None = None) -> list[dict[str, Any]]:
    """The metadata of every stored result (optionally of one analysis), newest first."""
    try:
        return cache_files.list_metadata(RunFolder(run_dir), name)
    except RunFolderError:
        return []
