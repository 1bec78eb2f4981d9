"""RunController: the only bridge between the GUI and the engine.

Runs execute one at a time, each as a ``Task`` (``workers/background.py``, the one background-work pattern:
a generator on its own QThread, events coalesced on the GUI thread at <= 30 Hz with Progress events collapsed
to the latest, pause/stop through the run's RunControl, shutdown = stop + wait with a timeout). ``start``
while busy enqueues. See docs/ARCHITECTURE.md (workers, threading).
"""

from __future__ import annotations

import time
import traceback
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from PySide6.QtCore import QObject, Signal, Slot

from desktop_app.core import config as config_mod
from desktop_app.core.config import ExperimentConfig
from desktop_app.core.control import RunControl
from desktop_app.core.events import Event, LogMessage, Progress, RunFinished
from desktop_app.workers.background import DRAIN_INTERVAL_MS, Task, set_torch_threads

RunFn = Callable[[ExperimentConfig, RunControl, Path], Iterator[Event]]
ResumeFn = Callable[[Path, RunControl], Iterator[Event]]
CheckFn = Callable[[Sequence[ExperimentConfig]], None]  # raises ConfigError for the first config that cannot run


def _engine_run(cfg: ExperimentConfig, control: RunControl, run_dir: Path) -> Iterator[Event]:
    from desktop_app.core.engine.run import run_experiment

    return run_experiment(cfg, control, run_dir)


def _engine_resume(run_dir: Path, control: RunControl) -> Iterator[Event]:
    from desktop_app.core.engine.run import resume_experiment

    return resume_experiment(run_dir, control)


def _engine_check(configs: Sequence[ExperimentConfig]) -> None:
    """``basin run``'s preflight (core.engine.preflight.check_inputs) for each config, data pools read once."""
    from desktop_app.core.engine.preflight import PoolCache, check_inputs

    pools: PoolCache = {}
    for cfg in configs:
        check_inputs(cfg, pools)


@dataclass(frozen=True)
class RunRequest:
    """One queued job: a new run of ``cfg`` into ``run_dir``, or (cfg None) a resume of ``run_dir``."""

    run_dir: Path
    cfg: ExperimentConfig | None = None
    # the configs whose inputs (data files, device, model fit) are checked before this run's folder exists: its
    # own, or a whole sweep's on its first run (the rest then come after it with nothing to check)
    check: tuple[ExperimentConfig, ...] = ()

    @property
    def is_resume(self) -> bool:
        return self.cfg is None


def run_events(
    request: RunRequest, run_fn: RunFn, resume_fn: ResumeFn, threads: int, control: RunControl,
    check_fn: CheckFn | None = None,
) -> Iterator[Event]:
    """The events of one run (on the task thread): always ends with exactly one RunFinished, even when the
    engine raises (then "failed", after the traceback as a LogMessage).

    A new run's inputs are checked first (``check_fn`` over ``request.check``), as ``basin run`` does: data that
    cannot be read, a missing GPU or a net too big for the images end it as "refused" with ``bad_input`` and the
    one line naming the field, before its folder exists (it left an empty folder behind a failed run). A resume's
    inputs are checked too, from the folder's config, as ``basin resume`` does: the folder is left as it was."""
    t0, finished = time.perf_counter(), False
    try:
        set_torch_threads(_torch_threads(request, threads))
        check = _resume_check(request.run_dir) if request.is_resume else request.check
        if check_fn is not None and check:
            try:
                check_fn(check)
            except config_mod.ConfigError as exc:
                yield RunFinished("refused", str(request.run_dir), time.perf_counter() - t0, str(exc),
                                  bad_input=True)
                return
        events = (
            resume_fn(request.run_dir, control)
            if request.is_resume
            else run_fn(request.cfg, control, request.run_dir)  # type: ignore[arg-type]
        )
        for ev in events:
            finished = finished or isinstance(ev, RunFinished)
            yield ev
    except Exception as exc:  # noqa: BLE001 - report, never kill the thread silently
        yield LogMessage("error", traceback.format_exc())
        if not finished:
            finished = True
            yield RunFinished("failed", str(request.run_dir), time.perf_counter() - t0, f"{type(exc).__name__}: {exc}")
    if not finished:
        status = "stopped" if control.stopped else "completed"
        yield RunFinished(status, str(request.run_dir), time.perf_counter() - t0)


def _resume_check(run_dir: Path) -> tuple[ExperimentConfig, ...]:
    """The config a resume's inputs are checked against: the folder's own; none when it cannot be read (the resume
    then refuses with its own line naming the file)."""
    try:
        return (config_mod.load(Path(run_dir) / "config.toml"),)
    except (config_mod.ConfigError, OSError):
        return ()


def _torch_threads(request: RunRequest, default: int) -> int:
    """The run's ``threads`` setting (a resumed run's from its config.toml), else the controller's default."""
    cfg = request.cfg
    if cfg is None:
        try:
            cfg = config_mod.load(Path(request.run_dir) / "config.toml", validate=False)
        except config_mod.ConfigError:
            cfg = None
    return (cfg.threads if cfg is not None and cfg.threads > 0 else 0) or default


class RunController(QObject):
    """Start, queue, pause, resume, stop and shut down runs; emits their events in coalesced batches.

    Signals:
      eventsReady(list[Event])  a batch of events, at most ~30 per second, in engine order
      stateChanged(str)         "idle" | "running" | "paused" | "stopping"
      queueChanged(int)         number of runs waiting behind the current one
      runFinished(str, str)     (run_dir, status) after the run's last events were emitted
    """

    eventsReady = Signal(object)
    stateChanged = Signal(str)
    queueChanged = Signal(int)
    runFinished = Signal(str, str)

    def __init__(
        self,
        parent: QObject | None = None,
        run_fn: RunFn | None = None,
        resume_fn: ResumeFn | None = None,
        threads: int | None = None,
        interval_ms: int = DRAIN_INTERVAL_MS,
        check_fn: CheckFn | None = None,
    ) -> None:
        super().__init__(parent)
        self._run_fn = run_fn or _engine_run
        self._resume_fn = resume_fn or _engine_resume
        # the engine's preflight goes with the engine; an injected run function checks what it is told to
        self._check_fn = check_fn or (_engine_check if run_fn is None else None)
        self._threads = threads
        self._interval_ms = interval_ms
        self._queue: deque[RunRequest] = deque()
        self._task: Task | None = None
        self._current: RunRequest | None = None
        self._state = "idle"
        self._last_status = ""

    # -- queries ---------------------------------------------------------------------------------------
    @property
    def state(self) -> str:
        return self._state

    def is_busy(self) -> bool:
        return self._task is not None

    def is_paused(self) -> bool:
        return self._state == "paused"

    def current_run_dir(self) -> Path | None:
        return self._current.run_dir if self._current else None

    def queued(self) -> list[RunRequest]:
        return list(self._queue)

    def check_files(self, cfg: ExperimentConfig) -> config_mod.ConfigError | None:
        """Whether the files cfg's data come from are there (core.data.registry.check_files: stats only, cheap
        enough for every builder edit); the ConfigError naming data.path when not."""
        from desktop_app.core.data.registry import check_files

        try:
            check_files(cfg.data)
        except config_mod.ConfigError as exc:
            return exc
        except OSError as exc:  # a path the system will not even look up (too long, no permission)
            return config_mod.ConfigError("data.path", f"{cfg.data.path[:200]}: cannot be looked at ({exc.strerror})")
        return None

    def describe_device(self, choice: str = "auto") -> str:
        """Human name of the device a config's ``device`` choice resolves to (for the status bar)."""
        from desktop_app.core.training.device import describe_device

        return describe_device(choice)

    # -- commands --------------------------------------------------------------------------------------
    def start(self, cfg: ExperimentConfig, run_dir: Path | str,
              check: Sequence[ExperimentConfig] | None = None) -> None:
        """Run cfg into run_dir now, or after the runs already queued. Its inputs are checked on the run's thread
        before its folder exists: ``check`` names the configs to check (default: cfg; a sweep passes all its
        variants with its first run and () with the others). A refusal drops the queued runs it checked."""
        self._enqueue(RunRequest(Path(run_dir), cfg, (cfg,) if check is None else tuple(check)))

    def resume(self, run_dir: Path | str) -> None:
        """Continue a stopped run folder in place (queued like ``start``)."""
        self._enqueue(RunRequest(Path(run_dir), None))

    def pause(self) -> None:
        if self._task is not None and self._state == "running":
            self._task.pause()
            self._set_state("paused")

    def resume_run(self) -> None:
        if self._task is not None and self._state == "paused":
            self._task.resume()
            self._set_state("running")

    def stop(self, clear_queue: bool = True) -> None:
        """Stop the current run at its next minibatch (the folder stays resumable); drop the queue."""
        if clear_queue and self._queue:
            self._queue.clear()
            self.queueChanged.emit(0)
        if self._task is not None:
            self._task.stop()
            self._set_state("stopping")

    def shutdown(self, timeout_ms: int = 5000) -> bool:
        """Stop everything and wait for the run thread; True if it ended within the timeout."""
        self.stop(clear_queue=True)
        return self._task.wait(timeout_ms) if self._task is not None else True

    # -- internals -------------------------------------------------------------------------------------
    def _enqueue(self, req: RunRequest) -> None:
        self._queue.append(req)
        if self._task is None:
            self._start_next()
        else:
            self.queueChanged.emit(len(self._queue))

    def _start_next(self) -> None:
        if not self._queue:
            self._set_state("idle")
            return
        req = self._queue.popleft()
        self.queueChanged.emit(len(self._queue))
        self._current = req
        threads = self._threads
        if threads is None:
            import torch

            threads = torch.get_num_threads()
        task = Task(partial(run_events, req, self._run_fn, self._resume_fn, threads, check_fn=self._check_fn),
                    name="run", collapse=Progress, interval_ms=self._interval_ms)
        task.items.connect(self._on_events)
        task.ended.connect(self._on_ended)
        self._task = task
        self._set_state("running")
        task.start()

    @Slot(object)
    def _on_events(self, events: list[Event]) -> None:
        for ev in events:
            if isinstance(ev, RunFinished):
                self._last_status = ev.status
                if ev.status == "refused" and ev.bad_input and self._current is not None:
                    self._drop_checked(self._current)
        self.eventsReady.emit(events)

    def _drop_checked(self, refused: RunRequest) -> None:
        """A sweep's first run was refused for its inputs: the other variants it checked do not start either."""
        others = [c for c in refused.check if c is not refused.cfg]
        if not others:
            return
        kept = [r for r in self._queue if not any(r.cfg is c for c in others)]
        if len(kept) != len(self._queue):
            self._queue = deque(kept)
            self.queueChanged.emit(len(self._queue))

    @Slot()
    def _on_ended(self) -> None:
        if self.sender() is not self._task:  # a stale signal
            return
        run_dir = str(self._current.run_dir) if self._current else ""
        status = self._last_status or "completed"
        self._task, self._current, self._last_status = None, None, ""
        self.runFinished.emit(run_dir, status)
        if self._queue:
            self._start_next()
        else:
            self._set_state("idle")

    def _set_state(self, state: str) -> None:
        if state != self._state:
            self._state = state
            self.stateChanged.emit(state)


__all__ = ["RunController", "RunRequest", "run_events"]
