"""RunData: one run's results as numpy arrays, the data every panel reads (plain Python: no Qt, no torch).

Events go in through ``ingest`` (live from the engine, or a run folder replayed); both paths fill the same arrays.
Everything is keyed by (arm, seed) and, within a unit, by epoch, so ingesting the same event twice (replaying a
folder that is still being written, then following it live) overwrites rather than duplicates, and events of
different units may arrive interleaved (units trained in parallel).

Data layout per unit (``data.unit(arm, seed)`` -> ``UnitData``):
  epochs            int64 (n,)     fine-tuning epochs with metrics, ascending (0 = before fine-tuning)
  metrics           float64 (n, 6) columns ``METRIC_NAMES`` (train/valid/test nll and error)
  wall              float64 (n,)   seconds the unit had run at each epoch's end (NaN: not recorded)
  recon             {layer: float64 (n_epochs,)} pre-training reconstruction error, index epoch-1 (NaN gaps)
  filters           [(phase, epoch, float32 array | StoredArray)] first-layer weights, in arrival order
  filter_input_shape (C, H, W) of the network input, to tile dense filters
  probes            {epoch: float32 (probe_size, n_classes) | StoredArray} softmax outputs on the probe subset
  checkpoints       [(phase, epoch, path)]
  online            {examples: (online_error, test_error, test_nll)} an online run's points (kind "online")

Snapshots (filters, probe outputs) that are on disk are held as ``StoredArray`` references, read when a panel asks
for them (``filters``, ``probe_outputs``) through a small per-run cache of the last ``SNAPSHOT_CACHE`` arrays: a
replayed study (``replay(lazy=True)``) and a live one (whose snapshot files the unit wrote before its event) keep
memory bounded by the cache, not by the number of units x epochs (2 x 400 units held 3.3 GB of snapshots).

Run-level analysis results (``AnalysisFinished``, e.g. the output-variance experiment) are kept in ``analyses`` by
name (the latest wins) and reported as kind "analyses". Each ``ingest`` reports one ``StoreChange`` to the
``changed`` emitter's callbacks. The lab model (``core/lab/model.py``) holds one RunData per open run.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from desktop_app.core.events import (
    AnalysisFinished,
    CheckpointSaved,
    EpochMetrics,
    Event,
    FilterSnapshot,
    LogMessage,
    OnlinePoint,
    PhaseStarted,
    PretrainEpoch,
    ProbeOutputs,
    Progress,
    RunFinished,
    RunStarted,
    UnitFinished,
)
from desktop_app.core.lab.emitter import Emitter
from desktop_app.core.runfolder.layout import RunFolder, RunFolderError, StoredArray
from desktop_app.core.runfolder.metrics import FIRST_TRAINED_EPOCH, select_epoch

METRIC_NAMES = ("train_nll", "train_error", "valid_nll", "valid_error", "test_nll", "test_error")
Unit = tuple[str, int]

# What changed, as reported by StoreChange.kinds.
RUN, METRICS, PRETRAIN, FILTERS, PROBES, CHECKPOINTS, STATUS, PROGRESS, LOG, ANALYSES, ONLINE = (
    "run", "metrics", "pretrain", "filters", "probes", "checkpoints", "status", "progress", "log", "analyses", "online",
)
ONLINE_NAMES = ("online_error", "test_error", "test_nll")
SNAPSHOT_CACHE = 256  # snapshot arrays a run keeps in memory (most recently read or received); the rest stay on disk


@dataclass(frozen=True)
class StoreChange:
    """Which kinds of data changed, for which units.

    ``kinds`` contains "run" when the data was reset to a new run, or another run is shown (everything changed).
    """

    kinds: frozenset[str]
    units: frozenset[Unit]

    def touches(self, *kinds: str) -> bool:
        return RUN in self.kinds or any(k in self.kinds for k in kinds)


EVERYTHING = StoreChange(frozenset({RUN}), frozenset())


@dataclass
class UnitData:
    """Everything held for one (arm, seed)."""

    arm: str
    seed: int
    epochs: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    metrics: np.ndarray = field(default_factory=lambda: np.zeros((0, len(METRIC_NAMES))))
    wall: np.ndarray = field(default_factory=lambda: np.zeros(0))
    recon: dict[int, np.ndarray] = field(default_factory=dict)
    filters: list[tuple[str, int, np.ndarray | StoredArray]] = field(default_factory=list)
    filter_input_shape: tuple[int, ...] = ()
    probes: dict[int, np.ndarray | StoredArray] = field(default_factory=dict)
    checkpoints: list[tuple[str, int, str]] = field(default_factory=list)
    online: dict[int, tuple[float, float, float]] = field(default_factory=dict)
    online_block: int = 0

    def column(self, name: str) -> np.ndarray:
        """One metric over epochs, e.g. ``column("test_nll")``; aligned with ``epochs``."""
        return self.metrics[:, METRIC_NAMES.index(name)].copy()

    def latest(self) -> dict[str, float] | None:
        """The last epoch's metrics as {"epoch": e, "train_nll": ..., ...}, or None before any epoch."""
        if not len(self.epochs):
            return None
        row = {"epoch": float(self.epochs[-1])}
        row.update({n: float(v) for n, v in zip(METRIC_NAMES, self.metrics[-1], strict=True)})
        return row

    def final(self, patience: int = 0) -> dict[str, float] | None:
        """The final epoch's metrics, as ``latest`` gives them: the last epoch's, or with early stopping
        (``patience`` > 0) the selected epoch's (``runfolder.metrics.select_epoch``, the rule every reducer uses). Never
        epoch 0, the untrained net's evaluation (as ``runfolder.metrics.final_values``: a unit stopped before its first
        epoch ended has no final value; Summary showed its ~90 % error beside the report's "n/a"). An online unit has
        no epochs: its last evaluation point's test error and NLL (the stream's end once done; "epoch" is the point's
        number), the other metrics NaN, so Summary and HParams show an online run (they were empty)."""
        if not len(self.epochs) and self.online:
            _, test_error, test_nll = self.online[max(self.online)]
            return {"epoch": float(len(self.online)), **dict.fromkeys(METRIC_NAMES, float("nan")),
                    "test_error": float(test_error), "test_nll": float(test_nll)}
        if not patience:
            trained = self.epochs >= FIRST_TRAINED_EPOCH
            return self.latest() if len(self.epochs) and trained[-1] else None
        epoch = select_epoch(self.epochs.tolist(), self.column("valid_error").tolist())
        if epoch is None:
            return None
        i = int(np.flatnonzero(self.epochs == epoch)[0])
        return {"epoch": float(epoch), **{n: float(v) for n, v in zip(METRIC_NAMES, self.metrics[i], strict=True)}}

    # -- updates ---------------------------------------------------------------------------------------
    def set_epoch(self, epoch: int, values: tuple[float, ...], wall_s: float | None = None) -> None:
        wall = np.nan if wall_s is None else float(wall_s)
        if not len(self.epochs) or epoch > self.epochs[-1]:  # the usual case, live or replayed: append (np.insert
            self.epochs = np.concatenate((self.epochs, (epoch,)))  # cost 8 of a 2 x 400 study's 20 s replay)
            self.metrics = np.concatenate((self.metrics, np.asarray(values, dtype=np.float64)[None, :]))
            self.wall = np.concatenate((self.wall, (wall,)))
            return
        hit = np.flatnonzero(self.epochs == epoch)
        if len(hit):
            self.metrics[hit[0]] = values
            self.wall[hit[0]] = wall
            return
        pos = int(np.searchsorted(self.epochs, epoch))
        self.epochs = np.insert(self.epochs, pos, epoch)
        self.metrics = np.insert(self.metrics, pos, np.asarray(values, dtype=np.float64), axis=0)
        self.wall = np.insert(self.wall, pos, wall)

    def set_recon(self, layer: int, epoch: int, value: float) -> None:
        arr = self.recon.get(layer, np.zeros(0))
        if len(arr) < epoch:
            arr = np.concatenate([arr, np.full(epoch - len(arr), np.nan)])
        arr[epoch - 1] = value
        self.recon[layer] = arr

    def add_filters(self, phase: str, epoch: int, weights: np.ndarray | StoredArray,
                    input_shape: tuple[int, ...]) -> None:
        self.filters = [f for f in self.filters if (f[0], f[1]) != (phase, epoch)]
        self.filters.append((phase, epoch, weights))
        if input_shape:
            self.filter_input_shape = tuple(input_shape)

    def add_checkpoint(self, phase: str, epoch: int, path: str) -> None:
        self.checkpoints = [c for c in self.checkpoints if (c[0], c[1]) != (phase, epoch)]
        self.checkpoints.append((phase, epoch, path))


@dataclass(frozen=True)
class ArmSummary:
    """``RunData.arm_summary``: an arm's units at a glance."""

    arm: str
    planned: int  # seeds the run has for this arm
    started: int  # units with any data
    running: int
    done: int
    failed: int  # diverged or failed
    measured: int  # units with at least one fine-tuning epoch
    epoch: int  # median latest fine-tuning epoch (-1: none yet)
    test_error: tuple[float, float, float]  # 10 %, 50 %, 90 % quantiles of the latest test error over units
    test_nll: float  # median latest test NLL


class RunData:
    """Results of one run as numpy arrays; ``changed`` calls back with a ``StoreChange`` after each ingest."""

    def __init__(self) -> None:
        self.changed = Emitter()
        self._units: dict[Unit, UnitData] = {}
        self._order: tuple[tuple[str, ...], list[Unit]] | None = None  # (arms, units()) until a unit is added
        self.run_dir: str = ""
        self.name: str = ""
        self.arms: tuple[str, ...] = ()
        self.seeds: tuple[int, ...] = ()
        self.device: str = ""
        self.kind: str = "standard"  # the config's kind (RunStarted): "online" runs record points, not epochs
        self.patience: int = 0  # finetune.patience (RunStarted): > 0 = a unit's final epoch is its selected one
        self.status: str = ""  # "" | "running" | "completed" | "stopped" | "failed" | ...
        self.replayed: bool = False
        self.total_steps: int = 0
        self.progress: Progress | None = None
        self.phase: PhaseStarted | None = None
        self.analyses: dict[str, object] = {}  # analysis name -> result dataclass (core.analysis.progress)
        self.unit_status: dict[Unit, str] = {}  # (arm, seed) -> how the unit ended (UnitFinished), while live
        self.snapshot_problem: str = ""  # the last snapshot file that could not be read (one line), "" if none
        self._cache: dict[Path, np.ndarray] = {}  # StoredArray path -> array, least recently used first
        self._folder: RunFolder | None = None

    def __repr__(self) -> str:
        return f"RunData({self.run_dir!r}, status={self.status!r}, units={len(self._units)})"

    # -- reading ---------------------------------------------------------------------------------------
    def units(self) -> list[Unit]:
        """(arm, seed) pairs with data, in the run's arm order then seed order."""
        arms = tuple(self.arms)
        if self._order is None or self._order[0] != arms:  # sorted once per new unit (panels ask many times)
            order = {a: i for i, a in enumerate(arms)}
            self._order = (arms, sorted(self._units, key=lambda u: (order.get(u[0], len(order)), u[0], u[1])))
        return list(self._order[1])

    def unit(self, arm: str, seed: int) -> UnitData:
        """The unit's data (an empty UnitData if nothing arrived yet; not inserted)."""
        return self._units.get((arm, seed)) or UnitData(arm, seed)

    def final(self, arm: str, seed: int) -> dict[str, float] | None:
        """The unit's final epoch's metrics (``UnitData.final`` under this run's early stopping), None before one."""
        return self.unit(arm, seed).final(self.patience)

    def has_data(self) -> bool:
        return bool(self._units)

    def curve(self, arm: str, seed: int, name: str) -> tuple[np.ndarray, np.ndarray]:
        """(epochs, values) of one metric for one unit."""
        u = self.unit(arm, seed)
        return u.epochs.copy(), u.column(name)

    def metric_matrix(self, arm: str, name: str) -> tuple[np.ndarray, np.ndarray, list[int]]:
        """One metric for every seed of an arm: (epochs (E,), values (S, E) with NaN gaps, seeds); ``name`` is one
        of METRIC_NAMES or "wall_s" (seconds the unit had run at each epoch's end, NaN where not recorded)."""
        seeds = sorted(s for a, s in self._units if a == arm)
        all_epochs = sorted({int(e) for s in seeds for e in self._units[(arm, s)].epochs})
        epochs = np.asarray(all_epochs, dtype=np.int64)
        values = np.full((len(seeds), len(epochs)), np.nan)
        col = None if name == "wall_s" else METRIC_NAMES.index(name)
        for i, s in enumerate(seeds):
            u = self._units[(arm, s)]
            values[i, np.searchsorted(epochs, u.epochs)] = u.wall if col is None else u.metrics[:, col]
        return epochs, values, seeds

    def recon_errors(self, arm: str, seed: int) -> dict[int, np.ndarray]:
        """layer -> reconstruction error per pre-training epoch (index epoch-1)."""
        return {k: v.copy() for k, v in self.unit(arm, seed).recon.items()}

    def filters(self, arm: str, seed: int, phase: str | None = None) -> list[tuple[str, int, np.ndarray]]:
        """The unit's filter snapshots as arrays (those on disk read now; an unreadable one is left out and named
        in ``snapshot_problem``)."""
        out = []
        for ph, epoch, w in self.unit(arm, seed).filters:
            if phase is None or ph == phase:
                arr = self._array(w)
                if arr is not None:
                    out.append((ph, epoch, arr))
        return out

    def probe_outputs(self, arm: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """(epochs (E,), outputs (E, probe_size, n_classes)) for one unit; empty arrays if none."""
        probes = self.unit(arm, seed).probes
        arrays = {int(e): self._array(probes[e]) for e in sorted(probes)}
        arrays = {e: a for e, a in arrays.items() if a is not None}
        epochs = np.asarray(sorted(arrays), dtype=np.int64)
        if not len(epochs):
            return epochs, np.zeros((0, 0, 0), dtype=np.float32)
        return epochs, np.stack([arrays[int(e)] for e in epochs])

    def arm_summary(self, arm: str) -> ArmSummary:
        """One arm's units in a few numbers (the Live metrics table of a study: 2 x 400 rows say nothing):
        how many are running, done, failed, and the quantiles of their latest test error and NLL."""
        units = [u for (a, _s), u in self._units.items() if a == arm]
        done = failed = running = 0
        for u in units:
            status = self.unit_status.get((arm, u.seed))
            if status == "completed":
                done += 1
            elif status is not None:
                failed += 1
            elif self.status == "running":
                running += 1
            elif self.status == "completed":
                done += 1  # a replayed run: its units' ends are not events
        last = np.asarray([u.metrics[-1] for u in units if len(u.epochs)]).reshape(-1, len(METRIC_NAMES))
        epochs = np.asarray([u.epochs[-1] for u in units if len(u.epochs)])
        err, nll = last[:, METRIC_NAMES.index("test_error")], last[:, METRIC_NAMES.index("test_nll")]
        q = (lambda v, p: float(np.nanquantile(v, p)) if len(v) else float("nan"))  # noqa: E731
        planned = sum(1 for _s in self.seeds) if arm in self.arms else len(units)
        return ArmSummary(arm, planned, len(units), running, done, failed, len(last),
                          int(np.median(epochs)) if len(epochs) else -1,
                          (q(err, 0.1), q(err, 0.5), q(err, 0.9)), q(nll, 0.5))

    def held_snapshots(self) -> int:
        """Snapshot arrays held in memory now (the cache plus arrays with no file behind them)."""
        held = sum(isinstance(w, np.ndarray) for u in self._units.values() for *_, w in u.filters)
        held += sum(isinstance(p, np.ndarray) for u in self._units.values() for p in u.probes.values())
        return held + len(self._cache)

    def _array(self, value: np.ndarray | StoredArray) -> np.ndarray | None:
        if isinstance(value, np.ndarray):
            return value
        arr = self._cache.pop(value.path, None)
        if arr is None:
            try:
                arr = value.load()
            except RunFolderError as exc:
                self.snapshot_problem = str(exc)
                return None
        self._remember(value.path, arr)
        return arr

    def _remember(self, path: Path, arr: np.ndarray) -> None:
        self._cache[path] = arr
        while len(self._cache) > SNAPSHOT_CACHE:
            del self._cache[next(iter(self._cache))]

    def _stored(self, arr: np.ndarray | StoredArray, path_of) -> np.ndarray | StoredArray:
        """A live snapshot whose file the unit has written (``path_of(run_folder)``): kept as a StoredArray with
        the array in the cache, so a live study holds at most SNAPSHOT_CACHE arrays. Without a file: the array.
        One ``stat`` per event; the path is checked against links when it is read back."""
        if not isinstance(arr, np.ndarray) or not self.run_dir:
            return arr
        try:
            if self._folder is None or str(self._folder.root) != self.run_dir:
                self._folder = RunFolder(self.run_dir)
            path = path_of(self._folder)
            if not path.is_file():
                return arr
        except (RunFolderError, OSError):
            return arr
        self._remember(path, arr)
        return StoredArray(self._folder, path)

    def checkpoints(self, arm: str, seed: int) -> list[tuple[str, int, str]]:
        return list(self.unit(arm, seed).checkpoints)

    def online_curve(self, arm: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """An online unit's points: (examples (P,) int64 ascending, values (P, 3) columns ``ONLINE_NAMES``)."""
        pts = self.unit(arm, seed).online
        examples = np.asarray(sorted(pts), dtype=np.int64)
        values = np.asarray([pts[int(e)] for e in examples], dtype=np.float64).reshape(len(examples), 3)
        return examples, values

    def online_block(self) -> int:
        """The online-error block size of the run's points (0 before any)."""
        return max((u.online_block for u in self._units.values()), default=0)

    # -- writing ---------------------------------------------------------------------------------------
    def ingest(self, events: Iterable[Event], replayed: bool = False) -> StoreChange | None:
        """Apply a batch of events; reports (and returns) one StoreChange for the batch, None if nothing changed."""
        kinds: set[str] = set()
        units: set[Unit] = set()
        for ev in events:
            kind = self._apply(ev, replayed)
            if kind:
                kinds.add(kind)
                unit = (getattr(ev, "arm", None), getattr(ev, "seed", None))
                if unit[0] is not None:
                    units.add(unit)  # type: ignore[arg-type]
        if not kinds:
            return None
        change = StoreChange(frozenset(kinds), frozenset(units))
        self.changed.emit(change)
        return change

    def _reset(self, ev: RunStarted) -> None:
        self._units = {}
        self._order = None
        self.run_dir, self.name, self.device, self.kind = ev.run_dir, ev.name, ev.device, ev.kind
        self.patience = ev.patience
        self.arms, self.seeds = tuple(ev.arms), tuple(ev.seeds)
        self.total_steps = ev.total_steps
        self.progress = None
        self.phase = None
        self.analyses = {}
        self.snapshot_problem = ""
        self.unit_status = {}
        self._cache = {}

    def _u(self, arm: str, seed: int) -> UnitData:
        key = (arm, int(seed))
        if key not in self._units:
            self._units[key] = UnitData(arm, int(seed))
            self._order = None
        return self._units[key]

    def _apply(self, ev: Event, replayed: bool) -> str | None:  # noqa: C901 - one branch per event type
        if isinstance(ev, RunStarted):
            same = ev.run_dir and ev.run_dir == self.run_dir
            if not same:
                self._reset(ev)
            else:  # a resumed or followed run: keep what we have, refresh the header
                self.arms, self.seeds, self.device, self.kind = tuple(ev.arms), tuple(ev.seeds), ev.device, ev.kind
                self.patience = ev.patience
                self.total_steps = ev.total_steps or self.total_steps
            self.replayed = replayed
            self.status = "running" if not replayed else self.status
            return RUN
        if isinstance(ev, EpochMetrics):
            self._u(ev.arm, ev.seed).set_epoch(ev.epoch, tuple(getattr(ev, n) for n in METRIC_NAMES), ev.wall_s)
            return METRICS
        if isinstance(ev, PretrainEpoch):
            self._u(ev.arm, ev.seed).set_recon(ev.layer, ev.epoch, ev.recon_error)
            return PRETRAIN
        if isinstance(ev, FilterSnapshot):
            weights = self._stored(ev.weights,
                                   lambda f: f.snapshot_file(ev.arm, ev.seed, "filters", ev.epoch, ev.phase))
            self._u(ev.arm, ev.seed).add_filters(ev.phase, ev.epoch, weights, ev.input_shape)
            return FILTERS
        if isinstance(ev, ProbeOutputs):
            outputs = self._stored(ev.outputs, lambda f: f.snapshot_file(ev.arm, ev.seed, "probe", ev.epoch))
            self._u(ev.arm, ev.seed).probes[ev.epoch] = outputs
            return PROBES
        if isinstance(ev, CheckpointSaved):
            self._u(ev.arm, ev.seed).add_checkpoint(ev.phase, ev.epoch, ev.path)
            return CHECKPOINTS
        if isinstance(ev, OnlinePoint):
            u = self._u(ev.arm, ev.seed)
            u.online[int(ev.examples)] = (float(ev.online_error), float(ev.test_error), float(ev.test_nll))
            u.online_block = int(ev.block)
            return ONLINE
        if isinstance(ev, PhaseStarted):
            self.phase = ev
            return PROGRESS
        if isinstance(ev, Progress):
            self.progress = ev
            return PROGRESS
        if isinstance(ev, RunFinished):
            self.status = ev.status
            return STATUS
        if isinstance(ev, UnitFinished):
            self.unit_status[(ev.arm, int(ev.seed))] = ev.status
            return STATUS
        if isinstance(ev, LogMessage):
            return LOG
        if isinstance(ev, AnalysisFinished):
            self.analyses[ev.name] = ev.result
            return ANALYSES
        return None


__all__ = [
    "ANALYSES", "ArmSummary", "CHECKPOINTS", "EVERYTHING", "FILTERS", "LOG", "METRICS", "METRIC_NAMES", "ONLINE",
    "ONLINE_NAMES", "PRETRAIN", "PROBES",
    "PROGRESS", "RUN", "STATUS", "RunData", "StoreChange", "Unit", "UnitData",
]
