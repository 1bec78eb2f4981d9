"""LabModel: the lab's state without Qt — the open runs, the run shown, follow-live and replay.

The window subscribes to it (through the adapter in ``ui/run_store.py``) and tests drive it directly, as napari's
QtViewer subscribes to its Qt-free ViewerModel (docs/ARCHITECTURE.md, "The lab model").

- **Open runs**: one ``RunData`` per run folder, keyed by the folder (``runs``). A run stays open while it is shown,
  while it is the live run, or when it was opened with ``open(run_dir, show=False)`` (kept, e.g. for a comparison)
  until ``close``; any other run is dropped when it stops being shown, so memory holds a bounded set.
- **Live run**: the run the controller's events are about (``ingest_live``). Its data keeps filling even while
  another run is shown, so looking back at it costs no replay.
- **Follow-live**: a new live run (a RunStarted) takes over the panels; opening another run stops following, and
  opening the live run follows it again. This is the window's behaviour before the model existed, kept.
- **Comparison**: ``compare(run_dirs)`` keeps several runs open (finished or live: a live run keeps streaming into
  its RunData) as a ``Comparison``, each run labelled by what differs between the configs; Curves, Summary and
  Trajectories overlay it. Showing a run (``open``, ``show``) ends the comparison; follow-live does not.
- **Replay**: ``open`` replays a run folder's events into a fresh RunData (``runfolder.replay``); a failure raises and
  changes nothing. A resumed live run that is not open is first replayed, so its panels show the whole run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from types import MappingProxyType

from desktop_app.core.config import ConfigError
from desktop_app.core.events import Event, RunFinished, RunStarted
from desktop_app.core.lab.comparison import (
    ComparedRun,
    Comparison,
    ConfigReader,
    default_config_reader,
    examples_per_epoch,
    flat_config,
)
from desktop_app.core.lab.emitter import Emitter
from desktop_app.core.lab.grouping import ComparisonView, arrange
from desktop_app.core.lab.store import EVERYTHING, RunData
from desktop_app.core.runfolder.workspace import replay as replay_folder

# What replaying a run folder may raise for a missing, damaged or hostile folder (one line each).
REPLAY_ERRORS = (ConfigError, OSError, ValueError, KeyError)

Replayer = Callable[[Path], Iterator[Event]]
REPLAY_BATCH = 2000  # events ingested per step of ``replay_run`` (a stop is honoured between steps)


def lazy_replay(run_dir: Path) -> Iterator[Event]:
    """The lab's replay: snapshots stay on disk until a panel shows them (``core.runfolder.replay(lazy=True)``)."""
    return replay_folder(run_dir, lazy=True)


@dataclass(frozen=True)
class Preview:
    """``replay_run``'s first units, complete in themselves: shown while the rest of a study is read."""

    data: RunData
    units: int


def replay_run(run_dir: Path | str, replay: Replayer = lazy_replay, preview_units: int = 0
               ) -> Iterator[tuple[int, int] | Preview | RunData]:
    """Replay a folder into a fresh RunData step by step, off the GUI thread: yields (units done, units planned)
    after every batch of events and the RunData last. Nothing else sees the RunData until ``LabModel.open`` is
    given it (``open(run_dir, data=...)``), so building it on another thread is safe.

    ``preview_units``: once that many units are read (units come seed-major, so the first seeds of every arm), a
    ``Preview`` with a separate RunData holding just them is yielded (never touched again here), so the window
    can draw a study's first seeds at once instead of after all of them (issue 25: the panel in view within 2 s).
    """
    data = RunData()
    preview: RunData | None = RunData() if preview_units else None
    planned, seen = 0, set()
    batch: list[Event] = []
    for ev in replay(Path(run_dir)):
        if isinstance(ev, RunStarted):
            planned = len(ev.arms) * len(ev.seeds)
        unit = (getattr(ev, "arm", None), getattr(ev, "seed", None))
        if unit[0] is not None and unit not in seen:
            seen.add(unit)
            if preview is not None and len(seen) > preview_units:
                data.ingest(batch, replayed=True)
                preview.ingest(batch, replayed=True)
                batch = []
                if len(seen) - 1 < planned:
                    yield Preview(preview, len(seen) - 1)
                preview = None
        batch.append(ev)
        if len(batch) >= REPLAY_BATCH and preview is None:
            data.ingest(batch, replayed=True)
            batch = []
            yield len(seen), planned
    data.ingest(batch, replayed=True)
    yield len(seen), planned
    yield data


class LabEvents:
    """The model's callbacks. ``changed(StoreChange)``: the shown run's data changed, or another run is shown
    (kinds contains "run"); ``shown(run_dir)``: another run is shown ("" = none); ``runs(tuple[str, ...])``: the
    open runs changed; ``live(run_dir, active)``: the live run started (active) or finished;
    ``comparison(Comparison | None)``: a comparison started, changed or ended; ``compared(run_dir, StoreChange)``:
    the data of a compared run changed."""

    def __init__(self) -> None:
        self.changed = Emitter()
        self.shown = Emitter()
        self.runs = Emitter()
        self.live = Emitter()
        self.comparison = Emitter()
        self.compared = Emitter()


class LabModel:
    """The open runs (``runs``), the run shown (``shown``), the live run and follow-live; see the module doc."""

    def __init__(self, replay: Replayer = lazy_replay, read_config: ConfigReader = default_config_reader) -> None:
        self.events = LabEvents()
        self._replay = replay
        self._read_config = read_config
        self._comparison: Comparison | None = None
        self._view = ComparisonView()
        self._compare_kept: set[str] = set()  # runs kept open only because they are compared
        self._compare_hooks: dict[str, tuple[RunData, Callable]] = {}
        self._runs: dict[str, RunData] = {}
        self._kept: set[str] = set()
        self._shown = RunData()
        self._shown_key = ""
        self._live = ""
        self._live_active = False
        self.follow_live = True

    # -- reading ---------------------------------------------------------------------------------------
    @property
    def shown(self) -> RunData:
        """The run the panels show (an empty RunData when none)."""
        return self._shown

    @property
    def shown_dir(self) -> str:
        """The folder of the run shown ("" when none, or for events without a folder)."""
        return self._shown_key

    @property
    def live_dir(self) -> str:
        """The folder of the last run the controller started ("" before any)."""
        return self._live

    @property
    def live_active(self) -> bool:
        """True between the live run's RunStarted and its RunFinished."""
        return self._live_active

    @property
    def showing_live(self) -> bool:
        return bool(self._live) and self._shown_key == self._live

    @property
    def runs(self) -> Mapping[str, RunData]:
        """Open runs by folder, in the order they were opened (read-only)."""
        return MappingProxyType(self._runs)

    def run(self, run_dir: Path | str) -> RunData | None:
        return self._runs.get(str(run_dir))

    def is_kept(self, run_dir: Path | str) -> bool:
        return str(run_dir) in self._kept

    @property
    def comparison(self) -> Comparison | None:
        """The runs compared (None when no comparison is open)."""
        return self._comparison

    # -- opening and showing ---------------------------------------------------------------------------
    def open(self, run_dir: Path | str, show: bool = True, data: RunData | None = None) -> RunData:
        """Replay a run folder and show it (``show=False``: keep it open beside the shown run until ``close``).
        ``data``: the folder already replayed (``replay_run`` on a background thread), used instead of replaying.

        The live run while it is being written is not replayed: its data already holds every event. Raises one of
        ``REPLAY_ERRORS`` for a folder that cannot be replayed, and then nothing changes."""
        key = str(run_dir)
        live = self._runs.get(key)
        if live is not None and key == self._live and self._live_active:
            data = live
        else:
            if data is None:
                data = RunData()
                data.ingest(self._replay(Path(run_dir)), replayed=True)
            if not show:  # kept before ``runs`` reports it: a listener sees it kept (Output variance pools kept seeds)
                self._kept.add(key)
            self._add(key, data)
        if show:
            self.follow_live = key == self._live
            self._set_shown(key, data)
            self.end_comparison()
        else:
            self._kept.add(key)
            self._prune()
        return data

    def show(self, run_dir: Path | str) -> RunData:
        """Show a run that is open (KeyError if it is not); following the live run iff it is the live run."""
        key = str(run_dir)
        data = self._runs[key]
        self.follow_live = key == self._live
        self._set_shown(key, data)
        self.end_comparison()
        return data

    # -- comparing ---------------------------------------------------------------------------------------
    def compare(self, run_dirs: Sequence[Path | str], replayed: Mapping[str, RunData] | None = None) -> Comparison:
        """Open two or more runs side by side (in this order, duplicates dropped) and make them the comparison; the
        shown run does not change. ``replayed``: folders already replayed in the background (``replay_run``). A
        folder that cannot be replayed raises one of ``REPLAY_ERRORS`` and nothing changes (the comparison open
        before stays)."""
        replayed = replayed or {}
        keys = list(dict.fromkeys(str(d) for d in run_dirs))
        if len(keys) < 2:
            raise ValueError(f"a comparison needs two runs or more, got {len(keys)}")
        kept_before = set(self._kept)
        try:
            for key in keys:
                if key in self._runs:  # already open (shown, live or kept): compare that data, no second replay
                    self._kept.add(key)
                else:
                    self.open(key, show=False, data=replayed.get(key))
        except REPLAY_ERRORS:
            self._kept = kept_before
            self._prune()
            raise
        wanted = set(keys)
        old_only = self._compare_kept - wanted
        self._compare_kept = (self._compare_kept & wanted) | (wanted - kept_before)
        self._kept -= old_only
        self._set_comparison(keys)
        self._prune()
        return self._comparison  # type: ignore[return-value]

    def end_comparison(self) -> None:
        """Close the comparison: its runs that were opened for it close (unless shown or live)."""
        if self._comparison is None:
            return
        self._kept -= self._compare_kept
        self._compare_kept = set()
        self._set_comparison([])
        self._prune()

    def _set_comparison(self, keys: list[str]) -> None:
        for data, hook in self._compare_hooks.values():
            data.changed.disconnect(hook)
        self._compare_hooks = {}
        if not keys:
            self._comparison = None
            self.events.comparison.emit(None)
            return
        runs = []
        for key in keys:
            data = self._runs[key]
            hook = partial(self._on_compared_change, key)
            data.changed.connect(hook)
            self._compare_hooks[key] = (data, hook)
            runs.append(ComparedRun(key, "", data, examples_per_epoch(key, self._read_config),
                                    flat_config(key, self._read_config)))
        self._comparison = arrange(runs, self._view)
        self.events.comparison.emit(self._comparison)

    @property
    def comparison_view(self) -> ComparisonView:
        """How comparisons name and group their runs (``core/lab/grouping.py``); kept for later comparisons."""
        return self._view

    def set_comparison_view(self, view: ComparisonView) -> None:
        """Name and group the compared runs as ``view`` says (the open comparison is redrawn; configs are not
        read again)."""
        if view == self._view:
            return
        self._view = view
        if self._comparison is not None:
            self._comparison = arrange(self._comparison.members(), view)
            self.events.comparison.emit(self._comparison)

    def _on_compared_change(self, key: str, change: object) -> None:
        self.events.compared.emit(key, change)

    def close(self, run_dir: Path | str) -> None:
        """Close an open run; closing the shown run shows none (the live run keeps its data while it is live)."""
        key = str(run_dir)
        self._kept.discard(key)
        if self._comparison is not None and key in self._comparison.run_dirs:
            rest = [k for k in self._comparison.run_dirs if k != key]
            self._compare_kept.discard(key)
            if len(rest) >= 2:
                self._set_comparison(rest)
            else:
                self.end_comparison()
        if key == self._shown_key:
            self.clear()
        else:
            self._prune()

    def clear(self) -> None:
        """Show no run."""
        self._set_shown("", RunData())

    # -- events ----------------------------------------------------------------------------------------
    def ingest(self, events: Iterable[Event], replayed: bool = False) -> None:
        """Events for the shown run; a RunStarted shows its run (opening it when needed). Replays and tools use
        this; the controller's feed goes through ``ingest_live``."""
        target, batch = self._shown, []
        for ev in events:
            if isinstance(ev, RunStarted):
                self._apply(target, batch, replayed)
                target, batch = self._run_for(ev.run_dir), []
                self._set_shown(ev.run_dir, target, notify=False)  # its RunStarted reports "run"
            batch.append(ev)
        self._apply(target, batch, replayed)

    def ingest_live(self, events: Iterable[Event]) -> None:
        """The controller's events. They always reach the live run's data; the panels show them while following.
        A RunStarted makes its run the live one and takes over the panels (follow-live). A RunFinished for another
        folder (a run refused before it started) is no run's status and is dropped here (the log still shows it)."""
        target = self._runs.get(self._live) if self._live else (self._shown if self.follow_live else None)
        batch: list[Event] = []
        for ev in events:
            if isinstance(ev, RunStarted):
                self._flush(target, batch)
                target, batch = self._start_live(ev), []
            elif isinstance(ev, RunFinished) and ev.run_dir and ev.run_dir != self._live:
                continue  # a run that never started (refused before its RunStarted): no run's status changes
            elif isinstance(ev, RunFinished) and ev.run_dir == self._live and self._live_active:
                self._live_active = False
                batch.append(ev)
                self._flush(target, batch)
                batch = []
                self.events.live.emit(self._live, False)
                continue
            batch.append(ev)
        self._flush(target, batch)

    def _flush(self, target: RunData | None, batch: list[Event]) -> None:
        if target is None or not batch:
            return
        if self.follow_live and self._live and target is self._runs.get(self._live) and target is not self._shown:
            self._set_shown(self._live, target)
        self._apply(target, batch)

    def _apply(self, target: RunData, batch: list[Event], replayed: bool = False) -> None:
        """Ingest into one run's data; report the change when that run is the one shown."""
        change = target.ingest(batch, replayed) if batch else None
        if change is not None and target is self._shown:
            self.events.changed.emit(change)

    def _start_live(self, ev: RunStarted) -> RunData:
        key = ev.run_dir
        known = bool(key) and key in self._runs
        data = self._runs[key] if known else RunData()
        if not known and ev.resumed and key:
            try:  # the engine re-emits only what follows the checkpoint: show the run's history too
                data.ingest(self._replay(Path(key)), replayed=True)
            except REPLAY_ERRORS:
                pass  # the live events still arrive; the history shows when the folder is opened
        self._live, self._live_active = key, True
        if key:
            self._add(key, data)
        self.follow_live = True
        self._set_shown(key, data, notify=False)  # its RunStarted reports "run"
        self.events.live.emit(key, True)
        return data

    # -- bookkeeping -----------------------------------------------------------------------------------
    def _run_for(self, key: str) -> RunData:
        """The open run of a folder, or a new one (a RunStarted without a folder always starts afresh)."""
        if key and key in self._runs:
            return self._runs[key]
        data = RunData()
        if key:
            self._add(key, data)
        return data

    def _add(self, key: str, data: RunData) -> None:
        old = self._runs.get(key)
        if old is data:
            return
        self._runs[key] = data
        if old is not None and old is self._shown:
            self._set_shown(key, data)
        if old is not None and key in self._compare_hooks:  # a compared run replayed afresh: compare the new data
            self._set_comparison(list(self._comparison.run_dirs))  # type: ignore[union-attr]
        self.events.runs.emit(tuple(self._runs))

    def _set_shown(self, key: str, data: RunData, notify: bool = True) -> None:
        if data is not self._shown:
            self._shown, self._shown_key = data, key
            if notify:
                self.events.changed.emit(EVERYTHING)
            self.events.shown.emit(key)
        self._prune()

    def _prune(self) -> None:
        keep = {self._shown_key, self._live} | self._kept
        dropped = [k for k in self._runs if k not in keep]
        for k in dropped:
            del self._runs[k]
        if dropped:
            self.events.runs.emit(tuple(self._runs))


__all__ = ["REPLAY_ERRORS", "LabEvents", "LabModel", "Preview", "lazy_replay", "replay_run"]
