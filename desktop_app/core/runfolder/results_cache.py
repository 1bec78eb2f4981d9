"""The analysis cache's files: ``analyses/<name>-<key>.npz`` (a result's fields) + ``.json`` (its metadata).

A cached result is rebuilt only through ``core.results.RESULT_TYPES``, an explicit allow-list of frozen
dataclasses whose field types are read from their declarations, never from the file: the JSON names an
allow-list key, every field must be present in the npz with its declared kind (numeric arrays, scalars,
strings), nothing else is called, and pickled objects are refused. A file that does not fit is a cache miss.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import typing
import zipfile
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from desktop_app.core.results import RESULT_TYPES, shape_problem
from desktop_app.core.runfolder.layout import MAX_TEXT_BYTES, RunFolder, RunFolderError

STORE_VERSION = 2
MAX_RESULT_BYTES = 2 * 1024 * 2**20  # all arrays of one cached result, uncompressed
MAX_NDIM = 8


KEY_VERSION = 1  # of the cache key (name, params, source files); the files' format is STORE_VERSION


def fingerprint(sources: Iterable[Path]) -> list[list[Any]]:
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
    blob = json.dumps({"v": KEY_VERSION, "name": name, "params": params, "sources": fingerprint(sources)},
                      sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _kind_of_annotation(tp: Any) -> str:
    if tp is np.ndarray:
        return "array"
    if tp is bool:
        return "bool"
    if tp is int:
        return "int"
    if tp is float:
        return "float"
    if tp is str:
        return "str"
    if typing.get_origin(tp) is tuple and typing.get_args(tp) == (str, ...):
        return "str_tuple"
    raise TypeError(f"result field type {tp!r} cannot be cached")


def declared_kinds(cls: type) -> dict[str, str]:
    """field -> kind, from the dataclass's own annotations."""
    hints = typing.get_type_hints(cls, {"np": np, "ClassVar": typing.ClassVar})
    return {f.name: _kind_of_annotation(hints[f.name]) for f in dataclasses.fields(cls)}


KINDS: dict[str, dict[str, str]] = {name: declared_kinds(cls) for name, cls in RESULT_TYPES.items()}
_TYPE_OF_CLASS = {cls: name for name, cls in RESULT_TYPES.items()}
# store version 1 named the class; the names it could hold, matched as plain strings (never imported)
_LEGACY_CLASS = {f"desktop_app.core.analysis.progress:{cls.__name__}": name for name, cls in RESULT_TYPES.items()}


def result_type_name(result: object) -> str:
    name = _TYPE_OF_CLASS.get(type(result))
    if name is None:
        raise TypeError(f"{type(result).__name__} is not a cacheable result type (core.results.RESULT_TYPES)")
    return name


def write_result(folder: RunFolder, name: str, key: str, params: dict[str, Any], result: object,
                 sources: list[list[Any]]) -> Path:
    """Write the npz, then the JSON (its presence means the pair is complete); returns the npz path."""
    type_name = result_type_name(result)
    if problem := shape_problem(result):  # an analysis that breaks its own type's SHAPES: a bug, not a file's fault
        raise ValueError(f"{type_name} result: {problem}")
    npz_path, json_path = folder.analysis_paths(name, key)
    arrays: dict[str, np.ndarray] = {}
    for field, kind in KINDS[type_name].items():
        value = getattr(result, field)
        arrays[field] = np.array(value, dtype=str) if kind == "str_tuple" else np.asarray(value)
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    folder.write_bytes(npz_path, buf.getvalue())
    meta = {"name": name, "key": key, "params": params, "type": type_name, "fields": KINDS[type_name],
            "sources": sources, "created": datetime.now().isoformat(timespec="seconds"),
            "store_version": STORE_VERSION}
    folder.write_text(json_path, json.dumps(meta, indent=2, sort_keys=True, default=str))
    return npz_path


def read_metadata(folder: RunFolder, path: Path) -> dict[str, Any]:
    """One result's metadata; RunFolderError when unreadable or not an object."""
    text = folder.read_text(path, MAX_TEXT_BYTES)
    try:
        meta = json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        raise RunFolderError(f"{folder.rel(path)}: not valid JSON") from None
    if not isinstance(meta, dict) or not isinstance(meta.get("params", {}), dict):
        raise RunFolderError(f"{folder.rel(path)}: not an analysis result's metadata")
    return meta


def list_metadata(folder: RunFolder, name: str | None = None) -> list[dict[str, Any]]:
    """Metadata of every readable stored result (optionally of one analysis), newest first."""
    out = []
    for p in folder.analysis_metadata_files(name):
        try:
            meta = read_metadata(folder, p)
        except RunFolderError:
            continue
        meta.setdefault("params", {})
        out.append(meta)
    return sorted(out, key=lambda m: str(m.get("created", "")), reverse=True)


def _field(arr: np.ndarray, kind: str) -> Any:
    """One field, converted only if the stored array has the declared kind; ValueError otherwise."""
    if kind == "array":
        if arr.dtype.kind not in "biuf" or arr.ndim > MAX_NDIM:
            raise ValueError("not a numeric array")
        return np.array(arr)
    if kind == "str_tuple":
        if arr.dtype.kind != "U" or arr.ndim != 1:
            raise ValueError("not a list of strings")
        return tuple(str(v) for v in arr)
    if arr.ndim != 0:
        raise ValueError("not a scalar")
    if kind == "str":
        if arr.dtype.kind != "U":
            raise ValueError("not a string")
        return str(arr)
    if kind == "bool":
        if arr.dtype.kind != "b":
            raise ValueError("not a bool")
        return bool(arr)
    if kind == "int":
        if arr.dtype.kind not in "iu":
            raise ValueError("not an integer")
        return int(arr)
    if arr.dtype.kind not in "iuf":  # float
        raise ValueError("not a number")
    return float(arr)


def read_result(folder: RunFolder, name: str, key: str) -> object | None:
    """The result stored under (name, key), rebuilt through the allow-list; None when absent or not valid."""
    try:
        npz_path, json_path = folder.analysis_paths(name, key)
        if not (json_path.is_file() and npz_path.is_file()):
            return None
        meta = read_metadata(folder, json_path)
        type_name = meta.get("type", _LEGACY_CLASS.get(str(meta.get("class", ""))))
        if not isinstance(type_name, str) or type_name not in RESULT_TYPES:
            return None
        kinds = KINDS[type_name]
        kwargs: dict[str, Any] = {}
        with folder.open_file(npz_path, MAX_RESULT_BYTES + 2**20) as (fh, _size):  # a FIFO is a miss, not a hang
            with zipfile.ZipFile(fh) as zf:
                infos = zf.infolist()
                if sum(i.file_size for i in infos) > MAX_RESULT_BYTES:
                    return None
                if {i.filename for i in infos} != {f"{k}.npy" for k in kinds}:
                    return None
            fh.seek(0)
            with np.load(fh, allow_pickle=False) as data:
                for field, kind in kinds.items():
                    kwargs[field] = _field(data[field], kind)
        result = RESULT_TYPES[type_name](**kwargs)
        return None if shape_problem(result) else result  # fields of unequal lengths: a miss, never zipped
    except (RunFolderError, OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, RecursionError):
        return None
