"""The Runs filter's language, one owner for the Runs pane and anything else that filters runs the same way.

A filter is words and ``field=value`` terms, all AND-ed: ``wide lr=0.05 kind=online``. A plain word must appear
(case-insensitive) in some cell of the run's row, its note or its description. A term names a config field by
its dotted path (``seeds.base``, ``model.layers.0.units``), by the title of the table column that shows it
(``lr``, ``units``, ``layers``), or by the end of a dotted path (``rbm.lr``); the other columns (``status``,
``seeds``, ``tags``...) by their title. Numbers compare as numbers (``0.1`` is ``1e-1``, ``25`` is ``25.0``), other
values as text, case-insensitive; a list field (``arms``) matches its whole value or any one item. The plain word
search the pane had before read ``lr=0.1`` as a word no cell contains, so every term matched nothing, silently:
a name that names no field now comes back as a hint (``Filter.unknown``), with the nearest known names.

Qt-free and independent of the table: ``RunTable`` resolves the names against its columns and config keys.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from desktop_app.core.config.diff import short_value

_SPACED_EQUALS = re.compile(r"\s*=\s*")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.*-]*$")
MAX_FILTER_CHARS = 2000  # a pasted page is cut here (each row is tested against every term)


@dataclass(frozen=True)
class Term:
    name: str  # as typed, lowercased
    value: str  # as typed (stripped)


@dataclass(frozen=True)
class Filter:
    words: tuple[str, ...] = ()  # lowercased
    terms: tuple[Term, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.words and not self.terms


def parse(text: str) -> Filter:
    """Words and ``name=value`` terms (``lr = 0.1`` is ``lr=0.1``); a token whose left side is not a name
    (``=x``, ``a+b=c``) stays a plain word."""
    text = _SPACED_EQUALS.sub("=", (text or "")[:MAX_FILTER_CHARS].strip())
    words: list[str] = []
    terms: list[Term] = []
    for token in text.split():
        name, sep, value = token.partition("=")
        if sep and value and _NAME.match(name):
            terms.append(Term(name.lower(), value))
        else:
            words.append(token.lower())
    return Filter(tuple(words), tuple(terms))


def _number(text: str) -> float | None:
    try:
        x = float(text)
    except ValueError:
        return None
    return x if math.isfinite(x) else None


def value_matches(value: Any, wanted: str) -> bool:
    """Whether a config value (or a cell's text) is ``wanted``: numbers as numbers, booleans as true/false, a tuple
    by its whole value ("none,rbm") or any item, anything else as text, case-insensitive."""
    if value is None:
        return False
    if isinstance(value, tuple | list):
        return value_matches(short_value(tuple(value)), wanted) or any(value_matches(v, wanted) for v in value)
    if isinstance(value, bool):
        return wanted.lower() == str(value).lower()
    if isinstance(value, int | float):
        x = _number(wanted)
        return x is not None and math.isclose(float(value), x, rel_tol=1e-9, abs_tol=0.0)
    text = str(value).strip()
    if text.lower() == wanted.lower():
        return True
    a, b = _number(text), _number(wanted)  # a cell's text ("25", "3"), not a config value
    return a is not None and b is not None and math.isclose(a, b, rel_tol=1e-9, abs_tol=0.0)


@dataclass(frozen=True)
class Resolved:
    """What a term's name stands for: config keys (a run matches when any of them holds the value) or a column's
    cell (``cell``: the row's text getter)."""

    keys: tuple[str, ...] = ()
    cell: Callable[[int], str] | None = None

    @property
    def known(self) -> bool:
        return bool(self.keys) or self.cell is not None


def resolve(name: str, config_keys: Iterable[str], field_columns: Mapping[str, str],
            other_columns: Mapping[str, Callable[[int], str]]) -> Resolved:
    """A term's name, in this order: a dotted config key; the title of a field column (``lr`` for
    ``finetune.lr``); the title of another column (``status``); the end of dotted keys (``rbm.lr``, ``base``).
    ``field_columns``: lowercased title -> dotted key; ``other_columns``: lowercased title -> cell text."""
    keys = list(config_keys)
    lowered = {k.lower(): k for k in keys}
    if name in lowered:
        return Resolved((lowered[name],))
    if name in field_columns:
        return Resolved((field_columns[name],))
    if name in other_columns:
        return Resolved(cell=other_columns[name])
    pattern = re.compile(r"(^|\.)" + re.escape(name).replace(r"\*", r"\d+") + "$")
    return Resolved(tuple(k for k in keys if pattern.search(k.lower())))


def unknown_hint(names: Iterable[str], known: Iterable[str]) -> str:
    """One line for the names that name nothing: "no field or column 'lrr' (did you mean lr?)"."""
    names = list(dict.fromkeys(names))
    if not names:
        return ""
    pool = sorted(set(known))
    close = [m for n in names for m in difflib.get_close_matches(n, pool, n=2, cutoff=0.6)]
    quoted = ", ".join(f"'{n}'" for n in names)
    text = f"no config field or column {quoted} in the listed runs: matches nothing"
    if close:
        text += f" (did you mean {', '.join(dict.fromkeys(close))}?)"
    return text
