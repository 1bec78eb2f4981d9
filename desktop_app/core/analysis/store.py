"""Cache of analysis results in the run folder, so reopening a panel does not recompute a 51 x 51 surface.

Each result is ``analyses/<name>-<key>.npz`` (its arrays and scalars) plus ``<name>-<key>.json`` (parameters,
field kinds, result class), both written atomically; the JSON is written last, so its presence means the
pair is complete. ``key`` hashes the analysis name, its parameters and a fingerprint (name, size, mtime) of
the files it read, so a resumed run that adds checkpoints gets fresh results.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import io
import json
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from desktop_app.core.analysis.progress import AnalysisProgress
from desktop_app.core.atomic import write_bytes_atomic, write_text_atomic

STORE_VERSION = 1
ALLOWED_MODULE_PREFIX = "desktop_app.core.analysis."


def _fingerprint(sources: Iterable[Path]) -> list[list[Any]]:
    out = []
    for p in sorted(Path(s) for s in sources):
        try:
            st = p.stat()
            out.append([p.name, st.st_size, st.st_mtime_ns])
        except OSError:
            out.append([p.name, -1, -1])
    return out


def cache_key(name: str, params: dict[str, Any], sources: Iterable[Path] = ()) -> str:
    """Stable 16-hex-digit key of (name, params, source files); params must be JSON-serialisable."""
    blob = json.dumps({"v": STORE_VERSION, "name": name, "params": params, "sources": _fingerprint(sources)},
                      sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _paths(run_dir: Path, name: str, key: str) -> tuple[Path, Path]:
    base = Path(run_dir) / "analyses" / f"{name}-{key}"
    return base.with_suffix(".npz"), base.with_suffix(".json")


def _kind(value: Any) -> str:
    if isinstance(value, np.ndarray):
        return "array"
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | np.integer):
        return "int"
    if isinstance(value, float | np.floating):
        return "float"
    if isinstance(value, str):
        return "str"
    if isinstance(value, tuple) and all(isinstance(v, str) for v in value):
        return "str_tuple"
    raise TypeError(f"cannot store a field of type {type(value).__name__}")


def save_result(run_dir: Path, name: str, params: dict[str, Any], result: Any,
                sources: Iterable[Path] = ()) -> Path:
    """Write result (a frozen dataclass of arrays and scalars) under its key; returns the .npz path."""
    sources = list(sources)
    key = cache_key(name, params, sources)
    npz_path, json_path = _paths(run_dir, name, key)
    arrays: dict[str, np.ndarray] = {}
    kinds: dict[str, str] = {}
    for f in dataclasses.fields(result):
        value = getattr(result, f.name)
        kinds[f.name] = _kind(value)
        if kinds[f.name] == "str_tuple":
            arrays[f.name] = np.array(value, dtype=str)
        elif kinds[f.name] != "none":
            arrays[f.name] = np.asarray(value)
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    write_bytes_atomic(npz_path, buf.getvalue())
    cls = type(result)
    meta = {"name": name, "key": key, "params": params, "class": f"{cls.__module__}:{cls.__qualname__}",
            "fields": kinds, "sources": _fingerprint(sources), "created": datetime.now().isoformat(timespec="seconds"),
            "store_version": STORE_VERSION}
    write_text_atomic(json_path, json.dumps(meta, indent=2, sort_keys=True, default=str))
    return npz_path


def load_result(run_dir: Path, name: str, params: dict[str, Any], sources: Iterable[Path] = ()) -> Any | None:
    """The cached result for (name, params, sources), or None when absent or unreadable."""
    npz_path, json_path = _paths(run_dir, name, cache_key(name, params, list(sources)))
    if not (json_path.exists() and npz_path.exists()):
        return None
    try:
        meta = json.loads(json_path.read_text(encoding="utf-8"))
        module_name, qualname = meta["class"].split(":")
        if not module_name.startswith(ALLOWED_MODULE_PREFIX):
            return None
        cls = getattr(importlib.import_module(module_name), qualname)
        kwargs: dict[str, Any] = {}
        with np.load(npz_path, allow_pickle=False) as data:
            for field_name, kind in meta["fields"].items():
                if kind == "none":
                    kwargs[field_name] = None
                    continue
                arr = data[field_name]
                kwargs[field_name] = {
                    "array": lambda a: np.array(a),
                    "bool": lambda a: bool(a),
                    "int": lambda a: int(a),
                    "float": lambda a: float(a),
                    "str": lambda a: str(a),
                    "str_tuple": lambda a: tuple(str(v) for v in a),
                }[kind](arr)
        return cls(**kwargs)
    except (OSError, ValueError, KeyError, TypeError, AttributeError, ImportError, json.JSONDecodeError):
        return None


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
    run_dir = Path(run_dir)
    patterns = ("config.toml", "checkpoints/*/*/e*.pt", "snapshots/*/*/probe_*.npy", "metrics/*.csv")
    return [p for pattern in patterns for p in sorted(run_dir.glob(pattern))]


def cached_call(run_dir: Path, name: str, fn: Callable[..., Iterator[Any]], /, **params: Any) -> Iterator[Any]:
    """``cached`` for the common case ``fn(run_dir, **params)`` with JSON-serialisable params, keyed on
    ``run_sources``; e.g. ``cached_call(run, "landscape", compute_landscape, arm="dae", seed=0, resolution=51)``.
    ``control`` may be passed and is not part of the key."""
    control = params.pop("control", None)
    extra = {"control": control} if control is not None else {}
    return cached(run_dir, name, params, lambda: fn(run_dir, **params, **extra), run_sources(run_dir))


def list_results(run_dir: Path, name: str | None = None) -> list[dict[str, Any]]:
    """The metadata of every stored result (optionally of one analysis), newest first."""
    folder = Path(run_dir) / "analyses"
    out = []
    for p in folder.glob(f"{name or '*'}-*.json"):
        try:
            out.append(json.loads(p.read_text(encoding="utf-8")))
        except (OSError, json.JSONDecodeError):
            continue
    return sorted(out, key=lambda m: m.get("created", ""), reverse=True)
