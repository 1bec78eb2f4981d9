"""The declaration machinery: one ``FieldSpec`` beside each config field, and what is derived from it.

A field is declared once, in ``experiment.py``, as ``name: T = spec(default, label=..., help=..., lo=..., hi=...)``.
From that one declaration Basin derives the per-field validation (range, choices, length), the builder's
rows and widget ranges, the tooltips, ``basin run --help-config`` and the limits table of
``docs/SECURITY.md``. See docs/ARCHITECTURE.md, "The one config declaration". Torch-free and Qt-free.
"""

from __future__ import annotations

import dataclasses
import math
import re
import typing
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from desktop_app.core.errors import ConfigError


@dataclass(frozen=True)
class FieldSpec:
    """Everything Basin knows about one config field besides its name, type and default.

    Ranges: ``lo``/``hi`` inclusive unless ``lo_open``/``hi_open``. Strings and tuples: ``min_len``/``max_len``
    (characters or items). ``when=("kind", ("conv", "pool"))``: the field only applies (is checked, and enabled
    in the builder) when the sibling field has one of those values. ``widget`` names a special editor
    (``path``, ``text``, ``layers``, ``arms``); otherwise the type picks it. ``not_shown`` says why the builder
    has no row for the field; ``group`` moves the row to another builder group than its section's.
    ``no_effect`` says why the field cannot change a run's numbers (a thread count, what is recorded): run labels,
    the Runs table's leading columns and ``basin diff`` leave it out unless asked (core/config/diff.py). On a
    section, ``no_effect`` covers every field in it and ``when`` names a top-level field (``("kind",
    ("online",))``; a list field such as ``arms`` must contain one of the values) outside of which the section
    is not used.
    """

    label: str
    help: str
    unit: str = ""
    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    hi_open: bool = False
    choices: tuple[str, ...] = ()
    choice_help: Mapping[str, str] = field(default_factory=dict)
    choice_labels: Mapping[str, str] = field(default_factory=dict)
    min_len: int = 0
    max_len: int | None = None
    unique: bool = False
    item: str = "item"
    when: tuple[str, tuple[str, ...]] | None = None
    widget: str = ""
    step: float | None = None
    special: str = ""
    group: str = ""
    not_shown: str = ""
    no_effect: str = ""

    def range_text(self) -> str:
        """The allowed values as a short text: ``[1, 100000]``, ``(0, 10]``, ``one of a, b``."""
        if self.choices:
            return "one of " + ", ".join(self.choices)
        if self.lo is not None and self.hi is not None:
            if self.lo == self.hi and not (self.lo_open or self.hi_open):
                return _num(self.lo)
            return f"{'(' if self.lo_open else '['}{_num(self.lo)}, {_num(self.hi)}{')' if self.hi_open else ']'}"
        if self.max_len is not None:
            noun = "characters" if self.item == "item" else f"{self.item}s"
            return f"{self.min_len}-{self.max_len} {noun}" if self.min_len else f"at most {self.max_len} {noun}"
        return ""


def _num(v: float) -> str:
    if float(v).is_integer() and abs(v) < 1e15:
        return str(int(v))
    return f"{v:g}"


def spec(default: Any, **kw: Any) -> Any:
    """A dataclass field with its FieldSpec in ``metadata["spec"]`` (the one place a field is described)."""
    return field(default=default, metadata={"spec": FieldSpec(**kw)})


def section(default: Any, *, label: str, help: str = "", group: str = "",  # noqa: A002 - reads best
            no_effect: str = "", when: tuple[str, tuple[str, ...]] | None = None) -> Any:
    """A nested section (a dataclass-typed field): its title and help for the builder group and --help-config;
    ``no_effect`` / ``when`` as on ``FieldSpec`` (what cannot change a run's numbers, when it is used)."""
    return field(default=default, metadata={"spec": FieldSpec(label=label, help=help, group=group,
                                                              no_effect=no_effect, when=when)})


# ---------------------------------------------------------------------------------------------------------
# Walking the declaration
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Declared:
    """One declared leaf field: its dotted path (list items as ``[]``), type, default and spec."""

    path: str
    type: Any
    default: Any
    spec: FieldSpec
    section: str  # dotted path of the enclosing section ("" at top level), list items as "[]"

    @property
    def name(self) -> str:
        return self.path.rsplit(".", 1)[-1]


def _item_class(tp: Any) -> type | None:
    """For ``tuple[SomeDataclass, ...]`` the dataclass, else None."""
    if typing.get_origin(tp) is tuple:
        inner = typing.get_args(tp)[0]
        if dataclasses.is_dataclass(inner):
            return inner
    return None


def walk(cls: type, prefix: str = "") -> Iterator[Declared]:
    """Every declared leaf of ``cls`` in declaration order; a list of dataclasses yields itself and its items."""
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        path = f"{prefix}.{f.name}" if prefix else f.name
        tp = hints[f.name]
        if dataclasses.is_dataclass(tp):
            yield from walk(tp, path)
            continue
        s = f.metadata.get("spec")
        if s is None:
            raise TypeError(f"config field {path} has no spec(); declare it with spec(default, label=..., help=...)")
        yield Declared(path, tp, f.default, s, prefix)
        inner = _item_class(tp)
        if inner is not None:
            yield from walk(inner, f"{path}[]")


def sections(cls: type, prefix: str = "") -> Iterator[tuple[str, FieldSpec]]:
    """Every nested section of ``cls`` as (dotted path, its spec)."""
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        if dataclasses.is_dataclass(tp):
            path = f"{prefix}.{f.name}" if prefix else f.name
            yield path, f.metadata["spec"]
            yield from sections(tp, path)


_INDEX = re.compile(r"\[\d*\]")


def template_path(path: str) -> str:
    """``model.layers[3].units`` -> ``model.layers[].units`` (the declared path)."""
    return _INDEX.sub("[]", path)


# ---------------------------------------------------------------------------------------------------------
# Per-field checks, derived from the spec
# ---------------------------------------------------------------------------------------------------------


def check_value(path: str, value: Any, s: FieldSpec) -> ConfigError | None:
    """The one per-field check: choices, numeric range, string length, list length and uniqueness."""
    if isinstance(value, tuple):
        if len(value) < s.min_len:
            if s.choices:
                return ConfigError(path, f"must name at least one of {', '.join(s.choices)}")
            noun = s.item if s.min_len == 1 else f"{s.item}s"
            return ConfigError(path, f"must hold at least {'one' if s.min_len == 1 else s.min_len} {noun}")
        if s.max_len is not None and len(value) > s.max_len:
            return ConfigError(path, f"must hold at most {s.max_len} {s.item}s, got {len(value)}")
        if s.unique and len(set(value)) != len(value):
            return ConfigError(path, f"must not repeat an {s.item}, got {list(value)}")
        return None
    if s.choices:
        if value not in s.choices:
            return ConfigError(path, f"must be one of {', '.join(s.choices)}; got {value!r}")
        return None
    if isinstance(value, str):
        if s.min_len and not value.strip():
            return ConfigError(path, "must not be empty")
        if s.max_len is not None and len(value) > s.max_len:
            return ConfigError(path, f"must be at most {s.max_len} characters, got {len(value)}")
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return range_error(path, value, s)


def range_error(path: str, value: float, s: FieldSpec) -> ConfigError | None:
    if s.lo is None or s.hi is None:
        return None
    if isinstance(value, float) and not math.isfinite(value):
        ok = False
    else:  # ints compare exactly with the float bounds, however large they are
        ok = (value > s.lo if s.lo_open else value >= s.lo) and (value < s.hi if s.hi_open else value <= s.hi)
    if ok:
        return None
    got = f"{value:g}" if isinstance(value, float) else (str(value) if abs(value) < 10**30 else f"{str(value)[:12]}...")
    if s.lo == s.hi and not (s.lo_open or s.hi_open):
        return ConfigError(path, f"must be {_num(s.lo)}, got {got}")
    return ConfigError(path, f"must be in {s.range_text()}, got {got}")


def field_errors(obj: Any, prefix: str = "") -> Iterator[ConfigError]:
    """Check every declared field of a config object against its own spec, in declaration order."""
    hints = typing.get_type_hints(type(obj))
    for f in dataclasses.fields(obj):
        path = f"{prefix}.{f.name}" if prefix else f.name
        value = getattr(obj, f.name)
        if dataclasses.is_dataclass(hints[f.name]):
            yield from field_errors(value, path)
            continue
        s: FieldSpec = f.metadata["spec"]
        if s.when is not None and getattr(obj, s.when[0]) not in s.when[1]:
            continue
        err = check_value(path, value, s)
        if err is not None:
            yield err
            continue
        if isinstance(value, tuple):
            for i, item in enumerate(value):
                if dataclasses.is_dataclass(item):
                    yield from field_errors(item, f"{path}[{i}]")
                elif s.choices and item not in s.choices:
                    yield ConfigError(f"{path}[{i}]", f"must be one of {', '.join(s.choices)}; got {item!r}")
                elif isinstance(item, float) and not math.isfinite(item):
                    yield ConfigError(f"{path}[{i}]", f"must be a finite number, got {item}")


# ---------------------------------------------------------------------------------------------------------
# Generated text: --help-config and the limits table
# ---------------------------------------------------------------------------------------------------------


def _type_word(tp: Any) -> str:
    if typing.get_origin(tp) is tuple:
        inner = typing.get_args(tp)[0]
        return f"list of {getattr(inner, '__name__', str(inner)).replace('Spec', '').lower()}"
    return {bool: "bool", int: "int", float: "float", str: "text"}.get(tp, getattr(tp, "__name__", str(tp)))


def _literal(v: Any) -> str:
    """A default as it is written in TOML."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, tuple | list):
        return "[" + ", ".join(_literal(x) for x in v) + "]"
    if isinstance(v, float):
        return f"{v:g}" if not v.is_integer() else f"{v:.1f}"
    return str(v)


def display_path(path: str) -> str:
    return path.replace("[]", "[i]")


def help_text(cls: type) -> str:
    """Every field: dotted path, type, default, allowed values and unit, then its one-line help."""
    lines = []
    for d in walk(cls):
        default = _literal(d.default)
        if _item_class(d.type) is not None:
            default = f"{len(d.default)} {d.spec.item}s"
        rng = d.spec.range_text()
        unit = f" {d.spec.unit}" if d.spec.unit else ""
        when = f"; only for {d.spec.when[0]} = {' or '.join(d.spec.when[1])}" if d.spec.when else ""
        lines.append(f"{display_path(d.path)}  ({_type_word(d.type)}, default {default}"
                     f"{'; ' + rng + unit if rng else unit}{when})")
        lines.append(f"    {d.spec.help}")
    return "\n".join(lines)
