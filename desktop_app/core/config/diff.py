"""What differs between configs: the one owner of flattening, field-by-field diffs and "what names this run".

Comparing runs (the Runs table's hyperparameter columns, a comparison's legend, ``basin diff``) always asks the
same question of the same flat view, so it is answered here once (docs/ARCHITECTURE.md, "Config declaration").
Flat keys are dotted paths (``finetune.lr``); lists of sections (model layers) flatten to ``model.layers.0.units``.
Fields that cannot change a run's numbers are left out of "what differs" so a legend names what changes the results:
what cannot matter is declared once beside the field (``no_effect`` on its spec or section: the name, thread
counts, snapshots, the execution section) and what is unused follows from its ``when`` (a dense layer's kernel,
momentum with plain SGD, the RBM settings of a run without an RBM arm).
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Iterable, Sequence
from typing import Any

from desktop_app.core.config.experiment import FIELDS, SECTIONS, ExperimentConfig
from desktop_app.core.config.io import to_plain

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


# -- what cannot matter: read from the declaration (FieldSpec.no_effect, FieldSpec.when), never listed here -------
def _template(key: str) -> str:
    """``model.layers.0.units`` -> ``model.layers[].units`` (the declared path of a flat key)."""
    return re.sub(r"\.\d+(?=\.|$)", "[]", key)


def _item_key(key: str) -> bool:
    """A field of one list item (``model.layers.2.units``): its absence from a config is its list's count."""
    return any(part.isdigit() for part in key.split("."))


def _list_count(key: str) -> bool:
    """The synthetic ``<list>.count`` flatten adds for a list of sections (``model.layers.count``)."""
    if not key.endswith(".count"):
        return False
    items = _template(key[: -len(".count")]) + "[]."
    return any(path.startswith(items) for path in FIELDS)


@functools.lru_cache(maxsize=4096)
def no_effect(key: str) -> str:
    """Why the flat field ``key`` cannot change a run's numbers ("" when it can): its declaration's or an
    enclosing section's ``no_effect`` (a thread count, the snapshots, the execution section, the name)."""
    template = _template(key)
    parts = template.split(".")
    for i in range(1, len(parts)):
        sec = SECTIONS.get(".".join(parts[:i]))
        if sec is not None and sec.no_effect:
            return sec.no_effect
    d = FIELDS.get(template)
    return d.spec.no_effect if d is not None else ""


def _allowed(value: Any, values: tuple[str, ...]) -> bool:
    if isinstance(value, tuple | list):
        return any(v in values for v in value)
    return value in values


def applies(key: str, flat: dict[str, Any]) -> bool:
    """Whether ``key`` is used by the config ``flat``: its declaration's ``when`` (a dense layer's kernel and
    stride, momentum with plain SGD) and its sections' (the RBM settings without an RBM arm, the online section of
    a standard run). A value the condition needs that ``flat`` lacks counts as used."""
    template = _template(key)
    parts = template.split(".")
    for i in range(1, len(parts)):
        sec = SECTIONS.get(".".join(parts[:i]))
        if sec is not None and sec.when is not None and sec.when[0] in flat \
                and not _allowed(flat[sec.when[0]], sec.when[1]):
            return False
    d = FIELDS.get(template)
    if d is not None and d.spec.when is not None:
        sibling = f"{key.rsplit('.', 1)[0]}.{d.spec.when[0]}" if "." in key else d.spec.when[0]
        if sibling in flat and not _allowed(flat[sibling], d.spec.when[1]):
            return False
    return True


def diff(a: ExperimentConfig | dict[str, Any], b: ExperimentConfig | dict[str, Any],
         include_ignored: bool = False) -> list[tuple[str, Any, Any]]:
    """(field, value in a, value in b) for every field whose values differ, in dotted-path order; a field that
    exists on one side only has ``None`` on the other. Without ``include_ignored``, fields that cannot matter are
    left out: declared ``no_effect``, or used by neither side (a dense layer's kernel)."""
    fa, fb = flatten(a), flatten(b)
    rows = []
    for key in sorted(set(fa) | set(fb)):
        va, vb = fa.get(key, _MISSING), fb.get(key, _MISSING)
        if va == vb:
            continue
        if not include_ignored and (no_effect(key) or not any(
                v is not _MISSING and applies(key, f) for v, f in ((va, fa), (vb, fb)))):
            continue
        rows.append((key, None if va is _MISSING else va, None if vb is _MISSING else vb))
    return rows


class FieldDiffer:
    """``differing_fields`` kept up to date one flat config at a time (O(fields) per config, not per table):
    the Runs table adds thousands of runs as they load.

    ``fields``: what tells the runs apart and can matter: a field's value differs between two configs that use it,
    or a (non-list-item) field is missing from some config; a list item's absence is its list's count.
    ``other_fields``: fields whose values differ but cannot matter (``no_effect``, or differing only where unused);
    the Runs table offers them as hidden columns."""

    def __init__(self) -> None:
        self._ref: dict[str, str] = {}  # key -> repr of its first value in a config that uses it
        self._raw: dict[str, str] = {}  # key -> repr of its first value at all
        self._union: set[str] = set()
        self._common: set[str] | None = None
        self._differ: set[str] = set()
        self._other: set[str] = set()

    def add(self, flat: dict[str, Any]) -> bool:
        """Take one flat config (``flatten``'s result); True when either set of differing fields grew."""
        before = len(self._differ) + len(self._other)
        for k, v in flat.items():
            r = repr(v)
            if self._raw.setdefault(k, r) != r and k not in self._differ:
                self._other.add(k)
            if no_effect(k) or not applies(k, flat):
                continue
            if self._ref.setdefault(k, r) != r:
                self._differ.add(k)
        keys = set(flat)
        if self._common is None:
            self._common = keys
        else:
            for k in (self._union ^ keys) | (self._common - keys):
                if _item_key(k):
                    continue
                (self._other if no_effect(k) else self._differ).add(k)
            self._common &= keys
        self._union |= keys
        self._other -= self._differ
        return len(self._differ) + len(self._other) > before

    @property
    def fields(self) -> list[str]:
        return sorted(self._differ)

    @property
    def other_fields(self) -> list[str]:
        return sorted(self._other - self._differ)


def differing_fields(configs: Iterable[ExperimentConfig | dict[str, Any]]) -> list[str]:
    """The fields (dotted paths, sorted) that tell the configs apart and can matter (``FieldDiffer.fields``)."""
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


def field_text(key: str, value: Any) -> str:
    """A flat field's value as the builder names it: a declared special value by its word ("all training images"
    for ``data.n_unlabelled = 0``, which the Runs table showed as "0"), else ``short_value``."""
    d = FIELDS.get(_template(key))
    if d is not None and d.spec.special and isinstance(value, int | float) and not isinstance(value, bool) \
            and value == d.spec.lo:
        return d.spec.special
    return short_value(value)


def short_key(key: str, keys: Sequence[str]) -> str:
    """The last path component when it alone is unambiguous among ``keys`` (``lr``), else the whole path; never
    a bare "name" (``data.name`` stood as a "name" column beside the run's Name)."""
    if _list_count(key):  # model.layers.count -> "layers" (a depth sweep is "layers=3")
        return key[: -len(".count")].rsplit(".", 1)[-1]
    last = key.rsplit(".", 1)[-1]
    clash = [k for k in keys if k != key and k.rsplit(".", 1)[-1] == last]
    return key if clash or last.isdigit() or last in ("count", "name") else last


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
