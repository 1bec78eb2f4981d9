"""The Runs table: per run its date, status, wall time, final test error per arm with a 95 % interval over seeds,
tags and note, and a column for every config field that differs across the listed runs (docs/ARCHITECTURE.md,
"Runs table").

Qt-free, so the Runs pane and ``basin runs --table`` show the same cells. Loading is in two passes so thousands
of runs list without a frozen window: ``load`` yields the manifests first (cheap: one small file per run), then
each run's details (config, metrics, notes), a batch at a time; the pane runs it in a ``workers.background.Task``
and the CLI iterates it. Every file is read through the run folder's owner (bounded, checked); a run that cannot
be read is a row with its one-line problem, never an exception.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

from desktop_app.core.config import ConfigError
from desktop_app.core.config.diff import (
    FieldDiffer,
    differing_fields,
    field_text,
    flatten,
    no_effect,
    run_label,
    short_key,
)
from desktop_app.core.control import RunControl
from desktop_app.core.lab import run_filter
from desktop_app.core.runfolder import RunFolder, RunFolderError, RunInfo, final_test_errors, read_config, read_metrics
from desktop_app.core.runfolder.listing import UNREADABLE, run_dirs, safe_run_info
from desktop_app.core.runfolder.metrics import final_epochs, run_patience
from desktop_app.core.runfolder.notes import Notes, read_notes
from desktop_app.core.runfolder.online import online_final_test_errors
from desktop_app.core.stats import MIN_SEEDS, MeanCI, mean_ci, shown_interval

FIRST_BATCH = 50  # manifests in the first batch: the first rows show after ~50 small reads
BATCH = 200  # manifests per later batch
DETAIL_BATCH = 25  # runs whose config, metrics and notes are read per details batch
STATUSES = ("completed", "running", "stopped", "failed", "diverged", UNREADABLE)
UNFINISHED = ("running", "stopped", "failed", "diverged")
ERROR_NOTE = (f"± is the half-width of the 95 % t interval of the mean over seeds (from {MIN_SEEDS} seeds on; fewer: "
              "the mean and n), not the standard deviation")  # said under every table of these cells (CLI, pane)
READ_ERRORS = (RunFolderError, ConfigError, OSError, ValueError, TypeError, KeyError, RecursionError, MemoryError)


def one_line(text: str) -> str:
    return (text.strip().splitlines() or ["?"])[0][:300]


@dataclass(frozen=True)
class RunDetails:
    """What the second pass reads: the flat config, the final test error per arm over seeds, the notes."""

    flat: dict[str, Any] = field(default_factory=dict)  # core.config.diff.flatten of config.toml ({} if unreadable)
    finals: dict[str, MeanCI] = field(default_factory=dict)  # arm -> final test error over seeds
    epochs: dict[str, int] = field(default_factory=dict)  # arm -> the epoch its finals are at (the least over seeds)
    notes: Notes = Notes()
    problem: str = ""  # one line: what could not be read (config, metrics or notes); the rest is still shown
    fatal: bool = False  # the metrics could not be read: "unreadable", as ``list_runs`` lists it


def run_details(run_dir: Path, arms: Sequence[str] = ()) -> RunDetails:
    """Read one run's config, metrics and notes; never raises (each failure is kept as the row's problem)."""
    folder = RunFolder(run_dir)
    problems: list[str] = []
    fatal = False
    flat: dict[str, Any] = {}
    finals: dict[str, MeanCI] = {}
    epochs: dict[str, int] = {}
    notes = Notes()
    try:
        flat = flatten(read_config(folder))
    except READ_ERRORS as exc:
        problems.append(one_line(str(exc)))
    try:
        rows = read_metrics(folder, arms)
        patience = run_patience(folder)  # early stopping: each unit's selected epoch is its final one
        by_seed = final_test_errors(rows, patience) or online_final_test_errors(folder, arms)  # rows read once
        finals = {arm: mean_ci(list(v.values())) for arm, v in by_seed.items()}
        epochs = {arm: min(v.values()) for arm, v in final_epochs(rows, patience).items() if v}
    except READ_ERRORS as exc:
        problems.insert(0, one_line(str(exc)))
        fatal = True
    try:
        notes = read_notes(folder)
    except READ_ERRORS as exc:
        problems.append(one_line(str(exc)))
    return RunDetails(flat, finals, epochs, notes, "; ".join(problems), fatal)


@dataclass
class RunRow:
    info: RunInfo  # from the manifest (first pass)
    details: RunDetails | None = None  # None until the second pass has read it

    @property
    def path(self) -> Path:
        return self.info.path

    @property
    def problem(self) -> str:
        return (self.details.problem if self.details else "") or self.info.problem

    @property
    def status(self) -> str:
        return self.info.status

    @property
    def notes(self) -> Notes:
        return self.details.notes if self.details else Notes()


# -- batches of the load --------------------------------------------------------------------------------
@dataclass(frozen=True)
class InfosLoaded:
    infos: list[RunInfo]


@dataclass(frozen=True)
class DetailsLoaded:
    details: list[tuple[Path, RunDetails]]


def load(workspace: Path | str, control: RunControl | None = None,
         dirs: Sequence[Path] | None = None) -> Iterator[InfosLoaded | DetailsLoaded]:
    """The two passes as batches: every manifest (first a small batch, so rows show at once), then the details
    of the runs that have a readable manifest. ``control.checkpoint()`` between runs lets a Task stop it."""
    dirs = list(run_dirs(workspace) if dirs is None else dirs)
    infos: list[RunInfo] = []
    batch: list[RunInfo] = []
    size = FIRST_BATCH
    for path in dirs:
        if control is not None:
            control.checkpoint()
        info = safe_run_info(path, metrics=False)
        if info is None:
            continue
        batch.append(info)
        if len(batch) >= size:
            infos += batch
            yield InfosLoaded(batch)
            batch, size = [], BATCH
    if batch:
        infos += batch
        yield InfosLoaded(batch)
    details: list[tuple[Path, RunDetails]] = []
    for info in infos:
        if not info.readable:
            continue
        if control is not None:
            control.checkpoint()
        details.append((info.path, run_details(info.path, info.arms)))
        if len(details) >= DETAIL_BATCH:
            yield DetailsLoaded(details)
            details = []
    if details:
        yield DetailsLoaded(details)


# -- cells ------------------------------------------------------------------------------------------------
def format_date(iso: str) -> str:
    try:
        return datetime.fromisoformat(iso).strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return iso


def format_duration(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return ""
    s = int(round(seconds))
    if s < 60:
        return f"{seconds:.1f} s" if seconds < 10 else f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


def format_error(ci: MeanCI | None) -> str:
    """"12.34 % ± 1.20" (mean and half-width of the 95 % interval, in percent) from ``MIN_SEEDS`` seeds on
    (core.stats.shown_interval); fewer: the mean and how many seeds ("7.10 % (n = 2)"), one seed: the mean."""
    if ci is None or ci.n == 0:
        return ""
    interval = shown_interval(ci)
    if interval is None:
        return f"{100 * ci.mean:.2f} %" + (f" (n = {ci.n})" if ci.n > 1 else "")
    return f"{100 * ci.mean:.2f} % ± {100 * (interval[1] - interval[0]) / 2:.2f}"


@dataclass(frozen=True)
class Column:
    """One column: its header, the kind of value it holds and (for config columns) the dotted field."""

    title: str
    kind: str  # date name status wall seeds error field tags note problem
    key: str = ""  # the arm of an error column, the dotted config field of a field column
    tip: str = ""
    hidden: bool = False  # a field that cannot matter: listed for the column chooser, not shown by default


class RunTable:
    """The rows and the columns they need; grows as ``load``'s batches are added.

    Columns: Name, one per config field that differs across the runs whose config could be read and can matter
    (new keys appear as runs load), one "<arm> test error" per arm seen, Status, Problem (while any row has one),
    Seeds, Wall time, Date, Tags, Note, then the hidden columns of fields that differ but cannot matter.
    """

    def __init__(self) -> None:
        self.rows: list[RunRow] = []
        self._index: dict[Path, int] = {}
        self._arms: list[str] = []
        self._differ = FieldDiffer()
        self._any_problem = False
        self.columns: list[Column] = []
        self._keys: set[str] = set()  # every flat config key of the rows read so far (what filter terms can name)
        self._version = 0  # bumped when rows, details or columns change: the compiled filter is stale
        self._suffixes: tuple[int, dict[int, str]] | None = None  # (version, row -> " (base=1)") see _name_suffix
        self._filter_cache: tuple[tuple[str, int], tuple[run_filter.Filter, list[run_filter.Resolved]]] | None = None
        self._rebuild_columns()

    # -- building -------------------------------------------------------------------------------------
    def add_infos(self, infos: Iterable[RunInfo]) -> tuple[int, bool]:
        """Append rows (a path already listed is replaced); returns (rows added, columns changed)."""
        added = 0
        for info in infos:
            if info.path in self._index:
                self.rows[self._index[info.path]].info = info
                continue
            self._index[info.path] = len(self.rows)
            self.rows.append(RunRow(info))
            added += 1
            for arm in info.arms:
                if arm not in self._arms:
                    self._arms.append(arm)
            self._any_problem |= bool(info.problem)
        return added, self._rebuild_columns()

    def add_details(self, details: Iterable[tuple[Path, RunDetails]]) -> tuple[list[int], bool]:
        """Attach details to their rows; returns (rows changed, columns changed)."""
        changed = []
        for path, d in details:
            i = self._index.get(Path(path))
            if i is None:
                continue
            row = self.rows[i]
            row.details = d
            if d.fatal:  # as list_runs lists it: status "unreadable" with the reason, not openable
                row.info = dataclasses.replace(row.info, status=UNREADABLE, problem=d.problem)
            elif d.finals:  # RunInfo.final_test_error as list_runs gives it (mean over seeds)
                row.info = dataclasses.replace(row.info, final_test_error={a: ci.mean for a, ci in d.finals.items()})
            changed.append(i)
            if d.flat:
                self._differ.add(d.flat)
                self._keys.update(d.flat)
            for arm in d.finals:
                if arm not in self._arms:
                    self._arms.append(arm)
            self._any_problem |= bool(d.problem)
        names = {self.rows[i].info.name for i in changed}  # a namesake's Name cell gains what tells them apart
        seen = set(changed)
        changed += [j for j, r in enumerate(self.rows) if r.info.name in names and j not in seen]
        return changed, self._rebuild_columns()

    def set_notes(self, path: Path, notes: Notes) -> int | None:
        """After the user edited a run's tags or note; the row's index."""
        i = self._index.get(Path(path))
        if i is not None:
            d = self.rows[i].details or RunDetails()
            self.rows[i].details = dataclasses.replace(d, notes=notes)
        return i

    def remove(self, path: Path) -> int | None:
        """Drop a run's row (after it was deleted); columns are recomputed from the rows left."""
        i = self._index.pop(Path(path), None)
        if i is None:
            return None
        del self.rows[i]
        self._index = {r.path: n for n, r in enumerate(self.rows)}
        self._differ = FieldDiffer()
        self._arms = []
        self._keys = set()
        for r in self.rows:
            self._arms += [a for a in r.info.arms if a not in self._arms]
            if r.details and r.details.flat:
                self._differ.add(r.details.flat)
                self._keys.update(r.details.flat)
        self._any_problem = any(r.problem for r in self.rows)
        self._rebuild_columns()
        return i

    def _rebuild_columns(self) -> bool:
        """Name, then the fields that tell the runs apart and can matter (``finetune.lr``, ``units``), then the
        final test errors: what a study is read by comes first (14 columns of thread counts and snapshot settings
        stood before them). Fields that differ but cannot matter follow at the end, hidden unless asked
        (``Column.hidden``, the Runs pane's column chooser)."""
        fields, other = self._differ.fields, self._differ.other_fields
        cols = [Column("Name", "name")]
        cols += [Column(short_key(k, fields), "field", k, f"Config field {k} (differs across the listed runs)")
                 for k in fields]
        cols += [Column(f"{arm} test error", "error", arm,
                        f"Final test error of arm {arm}: mean over seeds; {ERROR_NOTE}. A run that did not finish: "
                        f"at its last completed epoch")
                 for arm in self._arms]
        cols.append(Column("Status", "status"))
        if self._any_problem:  # beside the status it explains (the full text is the row's tooltip)
            cols.append(Column("Problem", "problem", tip="What could not be read in the run folder"))
        cols += [Column("Seeds", "seeds"), Column("Wall time", "wall"), Column("Date", "date"),
                 Column("Tags", "tags"), Column("Note", "note")]
        cols += [Column(k, "field", k, f"Config field {k}: differs across the listed runs but cannot change their "
                        f"numbers ({no_effect(k) or 'not used by these runs'}); shown on request", hidden=True)
                 for k in other if k != "name"]  # (the Name column shows it)
        changed = cols != self.columns
        self.columns = cols
        self._version += 1  # (called after every change of rows or details)
        return changed

    # -- reading --------------------------------------------------------------------------------------
    def row_of(self, path: Path) -> int | None:
        return self._index.get(Path(path))

    def text(self, row: int, col: int) -> str:
        r, c = self.rows[row], self.columns[col]
        info, d = r.info, r.details
        if c.kind == "date":
            return format_date(info.created)
        if c.kind == "name":
            return info.name + self._name_suffix(row)
        if c.kind == "status":
            return info.status + (" (writing)" if info.writer else "")
        if c.kind == "wall":
            return format_duration(info.elapsed_s)
        if c.kind == "seeds":
            return str(info.seeds) if info.readable else ""
        if c.kind == "error":
            return self._error_text(r, c.key)
        if c.kind == "field":
            return field_text(c.key, d.flat[c.key]) if d and c.key in d.flat else ""
        if c.kind == "tags":
            return ", ".join(r.notes.tags)
        if c.kind == "note":
            return r.notes.note.split("\n", 1)[0][:200]
        return r.problem.replace(f"{r.path}/", "")  # the row names the run; the tooltip has the full path

    def _name_suffix(self, row: int) -> str:
        """" (base=1)" when other listed runs have the same name: what tells them apart (``run_label`` over the
        fields that differ among them, the comparison legends' logic), so two seeds' runs are not twins."""
        if self._suffixes is None or self._suffixes[0] != self._version:
            groups: dict[str, list[int]] = {}
            for i, r in enumerate(self.rows):
                if r.details is not None and r.details.flat:
                    groups.setdefault(r.info.name, []).append(i)
            out: dict[int, str] = {}
            for rows in groups.values():
                if len(rows) < 2:
                    continue
                flats = [self.rows[i].details.flat for i in rows]  # type: ignore[union-attr]
                fields = differing_fields(flats)
                for i, flat in zip(rows, flats, strict=True):
                    label = run_label(flat, fields)
                    if label:
                        out[i] = f" ({label})"
            self._suffixes = (self._version, out)
        return self._suffixes[1].get(row, "")

    def _error_text(self, r: RunRow, arm: str) -> str:
        """The final test error of ``arm``; a run that did not finish says at which epoch ("23.10 % (n = 2) ·
        epoch 3 of 10", from its last completed epoch) or that no epoch was completed."""
        d = r.details
        if d is None:
            return ""
        text = format_error(d.finals.get(arm))
        if r.status == "completed":
            return text
        planned = d.flat.get("finetune.epochs")
        of = f" of {planned}" if isinstance(planned, int) else ""
        if arm in d.epochs and (not isinstance(planned, int) or d.epochs[arm] < planned):
            return f"{text} · epoch {d.epochs[arm]}{of}"
        if not text and arm in r.info.arms and r.status in UNFINISHED:
            return "no epoch completed"
        return text

    def sort_key(self, row: int, col: int) -> tuple:
        """Numbers compare as numbers, text as text; empty cells sort after every value."""
        r, c = self.rows[row], self.columns[col]
        value: Any
        if c.kind == "date":
            value = r.info.created
        elif c.kind == "wall":
            value = r.info.elapsed_s
        elif c.kind == "seeds":
            value = r.info.seeds if r.info.readable else None
        elif c.kind == "error":
            ci = r.details.finals.get(c.key) if r.details else None
            value = ci.mean if ci is not None and math.isfinite(ci.mean) else None
        elif c.kind == "field":
            value = r.details.flat.get(c.key) if r.details else None
        else:
            value = self.text(row, col).lower() or None
        if value is None:
            return (2, 0, "")
        if isinstance(value, int | float) and not isinstance(value, bool):
            return (0, float(value), "")
        return (1, 0, str(value).lower())

    def tooltip(self, row: int) -> str:
        r = self.rows[row]
        lines = [str(r.path)]
        if r.problem:
            lines.append(r.problem)
        if r.info.writer:
            lines.append(f"being written by {r.info.writer}")
        if r.notes.note:
            lines.append(r.notes.note[:1000])
        return "\n".join(lines)

    def matches(self, row: int, text: str = "", statuses: Iterable[str] | None = None) -> bool:
        """Filter (``core.lab.run_filter``): every plain word of ``text`` appears (case-insensitive) in some cell,
        the note or the description, and every ``field=value`` term holds; the status is one of ``statuses``
        (None: any). A term whose name names nothing matches no run (``filter_hint`` says so)."""
        r = self.rows[row]
        if statuses is not None and r.status not in set(statuses):
            return False
        flt, resolved = self._compiled(text)
        if flt.empty:
            return True
        flat = r.details.flat if r.details else {}
        for res, term in zip(resolved, flt.terms, strict=True):
            if res.cell is not None:
                if not run_filter.value_matches(res.cell(row), term.value):
                    return False
            elif not any(run_filter.value_matches(flat.get(k), term.value) for k in res.keys):
                return False
        if flt.words:
            hay = " ".join([*(self.text(row, c) for c in range(len(self.columns))), r.notes.note,
                            str(flat.get("description", ""))]).lower()
            return all(w in hay for w in flt.words)
        return True

    def filter_hint(self, text: str) -> str:
        """One line when a term of ``text`` names no config field or column of the listed runs ("" otherwise,
        and while no run's config is read yet): the filter then shows no run, and this says why."""
        flt, resolved = self._compiled(text)
        if not self._keys:
            return ""
        unknown = [t.name for t, res in zip(flt.terms, resolved, strict=True) if not res.known]
        fields, others = self._term_columns()
        known = [*self._keys, *(k.rsplit(".", 1)[-1] for k in self._keys), *fields, *others]
        return run_filter.unknown_hint(unknown, known)

    def _term_columns(self) -> tuple[dict[str, str], dict[str, Any]]:
        """(field column title -> dotted key, other column title -> the row's value), titles lowercased; the
        error columns ("none test error") have spaces and are not terms."""
        fields = {c.title.lower(): c.key for c in self.columns if c.kind == "field"}
        others: dict[str, Any] = {}
        for i, c in enumerate(self.columns):
            if c.kind == "tags":
                others["tags"] = others["tag"] = lambda row: tuple(self.rows[row].notes.tags)
            elif c.kind not in ("field", "error"):
                others[c.title.lower().replace(" ", "_")] = partial(self.text, col=i)
        return fields, others

    def _compiled(self, text: str) -> tuple[run_filter.Filter, list[run_filter.Resolved]]:
        """The parsed filter and what each term names, cached until the text or the table changes (the proxy asks
        once per row)."""
        key = (text, self._version)
        if self._filter_cache is None or self._filter_cache[0] != key:
            flt = run_filter.parse(text)
            fields, others = self._term_columns()
            resolved = [run_filter.resolve(t.name, self._keys, fields, others) for t in flt.terms]
            self._filter_cache = (key, (flt, resolved))
        return self._filter_cache[1]

    def order(self, col: int, descending: bool = False) -> list[int]:
        rows = sorted(range(len(self.rows)), key=lambda i: self.sort_key(i, col), reverse=descending)
        if descending:  # empty cells still last
            empty = [i for i in rows if self.sort_key(i, col)[0] == 2]
            rows = [i for i in rows if self.sort_key(i, col)[0] < 2] + empty
        return rows


def load_table(workspace: Path | str) -> RunTable:
    """The whole table at once (the CLI; the pane loads it in the background)."""
    table = RunTable()
    for batch in load(workspace):
        if isinstance(batch, InfosLoaded):
            table.add_infos(batch.infos)
        else:
            table.add_details(batch.details)
    return table
