"""How a comparison names and groups its runs: the user's label keys and "group by" field (W&B's "group by",
TensorBoard's run regex), applied to the compared runs (docs/ARCHITECTURE.md, "Comparing runs").

``arrange(runs, view)`` turns the compared runs (each with its flat config) into the ``Comparison`` the panels
draw: every run named by the chosen keys (default: the fields that differ and matter), or with ``group_by`` one
entry per value of that field whose data pools its runs' seeds per arm (``PooledRunData``), so Curves and Summary
draw one mean and one box per group value over n = all its runs' seeds. Plain Python: no Qt, no torch.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from desktop_app.core.config.diff import short_key, short_value
from desktop_app.core.lab.comparison import ComparedRun, Comparison, field_sets, unique_labels
from desktop_app.core.lab.store import RunData, Unit, UnitData

# A pooled unit's seed: the seed in its run plus SEED_BLOCK times the run's place in its group, so seed 3 of two
# runs stays two units; the k-th runs of two groups (ordered by their other label keys) pair seed by seed.
SEED_BLOCK = 1_000_000
MISSING = "–"  # the group of runs whose config lacks the field (or cannot be read)


@dataclass(frozen=True)
class ComparisonView:
    """The user's choice for naming and grouping compared runs (kept in QSettings by the window).

    ``label_keys``: the fields that name runs; None = the default (fields that differ and matter), () = the folder
    names. ``group_by``: one field whose values each become one entry ("" = no grouping)."""

    label_keys: tuple[str, ...] | None = None
    group_by: str = ""


def pooled_seed(position: int, seed: int) -> int:
    return position * SEED_BLOCK + seed


def seed_origin(seed: int) -> tuple[int, int]:
    """(place of the run in its group, seed in that run) of a pooled seed."""
    return divmod(int(seed), SEED_BLOCK)


def seed_text(seed: int) -> str:
    """A seed as a reader knows it: "3", or in a group "3 (run 2 of the group)"."""
    place, own = seed_origin(seed)
    return f"{own} (run {place + 1} of the group)" if place else str(own)


class PooledRunData(RunData):
    """The read side of ``RunData`` over several runs' data: every member's unit under a pooled seed
    (``pooled_seed``). The members' UnitData are shared, not copied, and the pool is rebuilt when a member gains a
    unit, so a live member keeps streaming into its group."""

    def __init__(self, members: Sequence[RunData]) -> None:
        self._members = tuple(members)
        self._signature: tuple = ()
        self._pool: dict[Unit, UnitData] = {}
        super().__init__()
        first = self._members[0]
        self.run_dir, self.name, self.kind = first.run_dir, first.name, first.kind
        self.arms = tuple(dict.fromkeys(a for m in self._members for a in m.arms))
        live = [m.status for m in self._members if m.status == "running"]
        self.status = live[0] if live else first.status

    @property
    def _units(self) -> dict[Unit, UnitData]:  # type: ignore[override]
        signature = tuple((id(m._units), len(m._units)) for m in self._members)
        if signature != self._signature:
            self._signature = signature
            self._pool = {(arm, pooled_seed(i, seed)): u for i, m in enumerate(self._members)
                          for (arm, seed), u in m._units.items()}
        return self._pool

    @_units.setter
    def _units(self, _value: dict) -> None:  # RunData.__init__ sets an empty dict: the pool is the members'
        pass

    def final(self, arm: str, seed: int) -> dict[str, float] | None:
        """A pooled unit's final epoch, selected as its own run selects (members may differ in early stopping)."""
        place, own = seed_origin(seed)
        return self._members[place].final(arm, own) if place < len(self._members) else None

    @property
    def seeds(self) -> tuple[int, ...]:  # type: ignore[override]
        return tuple(pooled_seed(i, s) for i, m in enumerate(self._members) for s in m.seeds)

    @seeds.setter
    def seeds(self, _value: tuple[int, ...]) -> None:
        pass


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def value_order(values: Sequence[Any]) -> list[Any]:
    """Distinct values in the order a user reads a sweep: ascending when all are numbers, else first seen."""
    distinct = list(dict.fromkeys(values))
    if distinct and all(_number(v) is not None for v in distinct):
        return sorted(distinct, key=lambda v: float(v))
    return distinct


def _sort_key(config: Any, keys: Sequence[str]) -> tuple:
    """Runs in a group by their other keys' values (numbers ascending), so the k-th runs of two groups pair up."""
    out: list[tuple[int, float, str]] = []
    for k in keys:
        v = config.get(k) if config else None
        num = _number(v)
        out.append((0, num, "") if num is not None else (1, 0.0, short_value(v) if v is not None else ""))
    return tuple(out)


def telling_order(keys: Sequence[str], configs: Sequence[dict[str, Any] | None]) -> list[str]:
    """``keys`` with the fields that take the most distinct values among ``configs`` first (ties in their order):
    a run's label starts with what tells it from the others. In alphabetical order six runs that differed in a
    swept width and, for one of them, in five more fields were all named "n_labelled=0, batch_size=20,
    finetune.epochs=8, finetune.lr=0.…" once elided to the legend's width."""
    def distinct(key: str) -> int:
        return len({repr(c.get(key)) for c in configs if c})

    return sorted(keys, key=lambda k: -distinct(k))


def choosable_fields(comparison: Comparison) -> list[str]:
    """The fields a user may name or group runs by: those that differ and matter, then the others that differ."""
    return [*comparison.fields, *comparison.other_fields]


def arrange(runs: Sequence[ComparedRun], view: ComparisonView = ComparisonView()) -> Comparison:
    """The comparison of ``runs`` (in the order chosen, each with its flat ``config``) as ``view`` names and
    groups them. Chosen keys that do not differ among these runs are dropped (all dropped: the default keys); a
    ``group_by`` field that does not differ among them leaves the runs ungrouped."""
    runs = [m for r in runs for m in r.runs()]
    dirs = [r.run_dir for r in runs]
    fields, other = field_sets([r.config for r in runs])
    choosable = [*fields, *other]
    default = telling_order(fields, [r.config for r in runs])
    if view.label_keys is None:
        keys = default
    else:
        keys = [k for k in view.label_keys if k in choosable]
        if view.label_keys and not keys:
            keys = default
    group_by = view.group_by if view.group_by in choosable else ""
    common = dict(fields=tuple(fields), other_fields=tuple(other), label_keys=tuple(keys), group_by=group_by,
                  chosen=tuple(dirs))
    if not group_by:
        labels = unique_labels(dirs, [r.config for r in runs], keys)
        return Comparison(tuple(replace(r, label=lab, members=()) for r, lab in zip(runs, labels, strict=True)),
                          **common)
    groups: dict[Any, list[ComparedRun]] = {}
    values = [r.config.get(group_by, MISSING) if r.config else MISSING for r in runs]
    for value in value_order(values):
        groups[value] = [r for r, v in zip(runs, values, strict=True) if v == value]
    inner = [k for k in keys if k != group_by]
    name = short_key(group_by, choosable)
    entries = []
    for value, members in groups.items():
        member_labels = unique_labels([m.run_dir for m in members], [m.config for m in members], inner)
        order = sorted(range(len(members)), key=lambda i: (_sort_key(members[i].config, inner), member_labels[i]))
        members = [replace(members[i], label=member_labels[i], members=()) for i in order]
        text = f"{name}={short_value(value)}" if value is not MISSING else f"{name} {MISSING}"
        if len(members) == 1:
            entries.append(replace(members[0], label=text, members=tuple(members)))
            continue
        n = len({(i, s) for i, m in enumerate(members) for s in (m.data.seeds or [u[1] for u in m.data.units()])})
        data = PooledRunData([m.data for m in members])
        entries.append(ComparedRun(members[0].run_dir, f"{text} ({len(members)} runs, n = {n})", data,
                                   members[0].examples_per_epoch, {}, tuple(members)))
    return Comparison(tuple(entries), **common)


def group_of(comparison: Comparison, run_dir: str) -> ComparedRun | None:
    """The entry (a group, or the run itself) that draws ``run_dir``."""
    return next((r for r in comparison.runs if any(m.run_dir == str(run_dir) for m in r.runs())), None)


__all__ = ["MISSING", "SEED_BLOCK", "ComparisonView", "PooledRunData", "arrange", "choosable_fields", "group_of",
           "pooled_seed", "seed_origin", "seed_text", "telling_order", "value_order"]
