"""What differs between configs: the one owner of flattening, field-by-field diffs and "what names this run".

Comparing runs (the Runs table's hyperparameter columns, a comparison's legend, ``basin diff``) always asks the
same question of the same flat view, so it is answered here once (docs/ARCHITECTURE.md, "Config declaration").
Flat keys are dotted paths (``finetune.lr``); lists of sections (model layers) flatten to ``model.layers.0.units``.
Descriptive fields (name, description, schema version) and the execution section (wall time, not numbers) are
left out of "what differs" so a legend names what changes the results.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from typing import Any

from desktop_app.core.config.experiment import ExperimentConfig
from desktop_app.core.config.io import to_plain

IGNORED_PREFIXES = ("name", "description", "schema_version", "execution.")
_MISSING = object()


def flatten(cfg: ExperimentConfig | dict[str, Any]) -> dict[str, Any]:
    """Dotted path -> leaf value; tuples of plain values stay one leaf (``arms``), lists of sections expand."""
    plain = to_plain(cfg) if dataclasses.is_dataclass(cfg) else cfg
    out: dict[str, Any] = {}

    def walk(value: Any, prefix: str) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(v, f"{prefix}.{k}" if prefix else str(k))
        elif isinstance(value, list) and any(isinstance(v, dict) for v in value):
            out[f"{prefix}.count"] = len(value)
            for i, v in enumerate(value):
                walk(v, f"{prefix}.{i}")
        else:
            out[prefix] = tuple(value) if isinstance(value, list) else value

    walk(plain, "")
    return out


def _ignored(key: str) -> bool:
    return any(key == p or (p.endswith(".") and key.startswith(p)) for p in IGNORED_PREFIXES)


def diff(a: ExperimentConfig | dict[str, Any], b: ExperimentConfig | dict[str, Any],
         include_ignored: bool = False) -> list[tuple[str, Any, Any]]:
    """(field, value in a, value in b) for every field whose values differ, in dotted-path order; a field that
    exists on one side only has ``None`` on the other."""
    fa, fb = flatten(a), flatten(b)
    rows = []
    for key in sorted(set(fa) | set(fb)):
        va, vb = fa.get(key, _MISSING), fb.get(key, _MISSING)
        if va != vb and (include_ignored or not _ignored(key)):
            rows.append((key, None if va is _MISSING else va, None if vb is _MISSING else vb))
    return rows


class FieldDiffer:
    """``differing_fields`` kept up to date one flat config at a time (O(fields) per config, not per table):
    the Runs table adds thousands of runs as they load. A field differs once any config's value (or its absence)
    is not the first config's."""

    def __init__(self) -> None:
        self._first: dict[str, str] | None = None
        self._seen: set[str] = set()
        self._differ: set[str] = set()

    def add(self, flat: dict[str, Any]) -> bool:
        """Take one flat config (``flatten``'s result); True when the set of differing fields grew."""
        values = {k: repr(v) for k, v in flat.items() if not _ignored(k)}
        if self._first is None:
            self._first, self._seen = values, set(values)
            return False
        before = len(self._differ)
        for k in (self._seen | set(values)) - self._differ:
            if values.get(k, _MISSING) != self._first.get(k, _MISSING):
                self._differ.add(k)
        self._seen |= set(values)
        return len(self._differ) > before

    @property
    def fields(self) -> list[str]:
        return sorted(self._differ)


def differing_fields(configs: Iterable[ExperimentConfig | dict[str, Any]]) -> list[str]:
    """The fields (dotted paths, sorted) whose value is not the same in every config; new keys count."""
    differ = FieldDiffer()
    for c in configs:
        differ.add(flatten(c))
    return differ.fields


def short_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, tuple):
        return ",".join(short_value(v) for v in value)
    return str(value)


def short_key(key: str, keys: Sequence[str]) -> str:
    """The last path component when it alone is unambiguous among ``keys`` (``lr``), else the whole path."""
    last = key.rsplit(".", 1)[-1]
    clash = [k for k in keys if k != key and k.rsplit(".", 1)[-1] == last]
    return key if clash or last.isdigit() or last == "count" else last


def _per_item(key: str) -> str:
    """The key with its list index as "*" (``model.layers.1.units`` -> ``model.layers.*.units``)."""
    return ".".join("*" if part.isdigit() else part for part in key.split("."))


def run_label(cfg: ExperimentConfig | dict[str, Any], fields: Sequence[str], fallback: str = "") -> str:
    """What names a run among others: "width=25, lr=0.05" over the differing ``fields``; ``fallback`` (the
    folder name) when nothing differs. A field that differs in several layers is named once: "units=50" when
    the layers agree, "units=50/50/25" when not (a width sweep of a 3-layer net was named
    "model.layers.0.units=50, model.layers.1.units=50, model.layers.2.units=50", wider than the legends)."""
    flat = flatten(cfg)
    groups: dict[str, list[str]] = {}
    for k in fields:
        groups.setdefault(_per_item(k), []).append(k)
    names = list(groups)
    parts = []
    for name, keys in groups.items():
        values = [short_value(flat[k]) for k in keys if k in flat]
        if len(keys) == 1 and values:
            parts.append(f"{short_key(keys[0], fields)}={values[0]}")
        elif values:
            shown = values[0] if len(set(values)) == 1 else "/".join(values)
            parts.append(f"{short_key(name, names)}={shown}")
    return ", ".join(parts) or fallback
