"""What the HParams panel draws (docs/ARCHITECTURE.md, "Comparing runs"): final test error against a config field
across the compared runs, and a parallel-coordinates view over the fields that differ, as TensorBoard's HParams
and W&B offer. Erhan et al.'s width and label-size figures are the first view (error vs units, vs n_labelled).

Plain Python over a ``Comparison`` (no Qt): the panel only maps these numbers to pixels. Intervals follow the one
rule (``core.stats.shown_interval``: none below ``MIN_SEEDS`` seeds); a field whose positive values span a decade
or more is drawn on a log axis.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from desktop_app.core.config.diff import run_label, short_key, short_value
from desktop_app.core.lab.comparison import ComparedRun, Comparison
from desktop_app.core.lab.grouping import MISSING, choosable_fields, value_order
from desktop_app.core.stats import MeanCI, mean_ci

LOG_RATIO = 10.0  # a positive numeric field whose largest value is this many times its smallest: log axis
# Which seeds a run drew (how many, from which base) is the sample the interval is over, not a setting: runs that
# differ only there are one line of the plot, and the parallel coordinates have no axis for it (a variant stopped at
# 2 seeds was a line of its own, and "seeds.count" an axis beside the swept fields).
SAMPLE_SECTIONS = ("seeds.",)


def is_setting(key: str) -> bool:
    """Whether ``key`` is a setting of the runs (an HParams axis or series), not their sample of seeds."""
    return not key.startswith(SAMPLE_SECTIONS)


def final_test_errors(data: Any) -> dict[str, dict[int, float]]:
    """arm -> seed -> test error (%) at that seed's final fine-tuning epoch (the latest one while running; with early
    stopping the selected one, ``RunData.final``); ``data`` is a ``RunData`` or anything with its ``units()`` /
    ``final()`` (the window's RunStore)."""
    out: dict[str, dict[int, float]] = {}
    for arm, seed in data.units():
        latest = data.final(arm, seed)
        if latest is not None:
            out.setdefault(arm, {})[seed] = 100.0 * latest["test_error"]
    return out


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


@dataclass(frozen=True)
class FieldAxis:
    """One config field as an axis: its distinct values in reading order, numeric (linear or log) or categorical.
    ``position`` is where a value sits on the axis (log10 of it on a log axis, its index for categories);
    ``fraction`` the same scaled to 0..1 (the parallel-coordinates view)."""

    key: str
    name: str
    values: tuple[Any, ...]
    numeric: bool
    log: bool

    def position(self, value: Any) -> float:
        if self.numeric:
            v = _number(value)
            if v is None:
                return float("nan")
            return math.log10(v) if self.log else v
        return float(self.values.index(value)) if value in self.values else float("nan")

    def span(self) -> tuple[float, float]:
        pos = [self.position(v) for v in self.values]
        pos = [p for p in pos if math.isfinite(p)]
        return (min(pos), max(pos)) if pos else (0.0, 1.0)

    def fraction(self, value: Any) -> float:
        lo, hi = self.span()
        p = self.position(value)
        return 0.5 if hi == lo else (p - lo) / (hi - lo)

    def ticks(self) -> list[tuple[float, str]]:
        """(position, text) of every value on the axis."""
        return [(self.position(v), short_value(v)) for v in self.values if math.isfinite(self.position(v))]


def field_axis(key: str, values: Sequence[Any], names: Sequence[str] = ()) -> FieldAxis:
    """The axis of ``key`` over ``values`` (one per run; MISSING for a run without it)."""
    distinct = value_order([v for v in values])
    numbers = [_number(v) for v in distinct]
    numeric = bool(distinct) and all(n is not None for n in numbers)
    positive = [n for n in numbers if n is not None and n > 0]
    log = numeric and len(positive) == len(numbers) and len(positive) > 1 and max(positive) / min(positive) \
        >= LOG_RATIO
    return FieldAxis(key, short_key(key, names or (key,)), tuple(distinct), numeric, log)


@dataclass(frozen=True)
class HParamPoint:
    """One arm of one run (or of one group) at its value of the field: its seeds' final test errors (%)."""

    run_dir: str
    label: str  # the run's (or group's) label in the comparison
    series: str  # what else tells it apart from runs at the same value ("" when nothing)
    arm: str
    value: Any
    x: float  # ``FieldAxis.position(value)``
    values: dict[int, float]
    ci: MeanCI


def entries_for(comparison: Comparison, key: str) -> list[ComparedRun]:
    """The entries drawn against ``key``: the groups when the comparison is grouped by ``key`` (their seeds
    pooled), else each run."""
    return list(comparison.runs) if comparison.group_by and comparison.group_by == key else list(
        comparison.members())


def _value(entry: ComparedRun, key: str) -> Any:
    config = entry.config or (entry.members[0].config if entry.members else {})
    return config.get(key, MISSING) if config else MISSING


def series_keys(entries: Sequence[ComparedRun], key: str, label_keys: Sequence[str]) -> list[str]:
    """The label keys that tell apart runs at the same value of ``key``: each of their value combinations is one
    line across the x values ("lr=0.1" and "lr=0.05" over widths); none when every value has one run (a plain
    sweep is one line per arm)."""
    by_value: dict[str, list[ComparedRun]] = {}
    for e in entries:
        if not e.members:
            by_value.setdefault(repr(_value(e, key)), []).append(e)
    return [k for k in label_keys if k != key and is_setting(k) and any(
        len({repr(e.config.get(k, MISSING)) for e in same}) > 1 for same in by_value.values())]


def hparam_points(comparison: Comparison, key: str) -> tuple[FieldAxis, list[HParamPoint]]:
    """The axis of ``key`` and one point per (entry, arm) with seeds, in the comparison's order."""
    entries = entries_for(comparison, key)
    names = choosable_fields(comparison)
    axis = field_axis(key, [_value(e, key) for e in entries], names)
    others = series_keys(entries, key, comparison.label_keys)
    points: list[HParamPoint] = []
    for e in entries:
        value = _value(e, key)
        series = run_label(dict(e.config), others) if e.config and others and not e.members else ""
        for arm, by_seed in final_test_errors(e.data).items():
            points.append(HParamPoint(e.run_dir, e.label, series, arm, value, axis.position(value), dict(by_seed),
                                      mean_ci(list(by_seed.values()))))
    return axis, points


def default_field(comparison: Comparison) -> str:
    """The field the plot starts on: the one runs are grouped by, else the label key (else the field that differs)
    with the most distinct values among the runs: the swept one (a width sweep run at two learning rates is
    plotted against width)."""
    if comparison.group_by:
        return comparison.group_by
    keys = [k for k in (list(comparison.label_keys) or choosable_fields(comparison)) if is_setting(k)]
    runs = comparison.members()

    def distinct(key: str) -> int:
        return len({repr(r.config.get(key, MISSING)) for r in runs if r.config})

    return max(keys, key=distinct) if keys else ""


@dataclass(frozen=True)
class ParallelLine:
    """One run in the parallel-coordinates view: its value of every field, and its arm's mean final test error."""

    run_dir: str
    label: str
    values: tuple[Any, ...]
    error: float  # mean final test error (%) of the arm over its seeds (NaN: no seed finished an epoch)
    n: int
    fractions: tuple[float, ...]  # 0..1 on each axis, the error axis last


def parallel_lines(comparison: Comparison, arm: str) -> tuple[list[FieldAxis], list[ParallelLine]]:
    """Axes over the fields that differ and matter (one per field; a field that differs in several layers once
    per layer; not the seeds drawn, ``is_setting``), and one line per compared run for ``arm``; the last fraction
    is the error on its own axis (low error at the bottom)."""
    runs = list(comparison.members())
    keys = [k for k in comparison.fields if is_setting(k)]
    names = choosable_fields(comparison)
    axes = [field_axis(k, [r.config.get(k, MISSING) if r.config else MISSING for r in runs], names) for k in keys]
    errors = []
    for r in runs:
        v = list(final_test_errors(r.data).get(arm, {}).values())
        errors.append((float(np.mean(v)) if v else float("nan"), len(v)))
    finite = [e for e, _ in errors if math.isfinite(e)]
    lo, hi = (min(finite), max(finite)) if finite else (0.0, 1.0)
    lines = []
    for r, (err, n) in zip(runs, errors, strict=True):
        values = tuple(r.config.get(k, MISSING) if r.config else MISSING for k in keys)
        fractions = [a.fraction(v) for a, v in zip(axes, values, strict=True)]
        fractions.append(0.5 if hi == lo else (err - lo) / (hi - lo))
        lines.append(ParallelLine(r.run_dir, r.label, values, err, n, tuple(fractions)))
    return axes, lines


def error_range(lines: Sequence[ParallelLine]) -> tuple[float, float]:
    finite = [ln.error for ln in lines if math.isfinite(ln.error)]
    return (min(finite), max(finite)) if finite else (float("nan"), float("nan"))


__all__ = ["LOG_RATIO", "FieldAxis", "HParamPoint", "ParallelLine", "default_field", "entries_for", "error_range",
           "field_axis", "final_test_errors", "hparam_points", "is_setting", "parallel_lines", "series_keys"]
