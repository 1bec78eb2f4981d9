"""RunController: the only bridge between the GUI and the engine.

Runs execute one at a time on a QThread; ``start`` while busy enqueues. A worker QObject living on that
thread iterates the engine's generator and appends every event to a thread-safe buffer; a QTimer on the
GUI thread drains the buffer at ~30 Hz and emits ``eventsReady(list)``, so the GUI gets at most ~30 updates
a second whatever the step rate (Progress events in a batch collapse to the latest one).

Threading rules followed (see DESIGN.md): worker signals connect only to methods of GUI-thread objects,
``thread.finished`` -> ``worker.deleteLater``, torch threads are set inside the worker thread, and
``shutdown`` sets the stop flag and waits with a timeout so no QThread is destroyed while running.
"""

from __future__ import annotations

import threading
import time
import traceback
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QObject, QThread, QTimer, Signal, Slot

from desktop_app.core import config as config_mod
from desktop_app.core.config import ExperimentConfig
from desktop_app.core.control import RunControl
from desktop_app.core.events import Event, LogMessage, Progress, RunFinished

RunFn = Callable[[ExperimentConfig, RunControl, Path], Iterator[Event]]
ResumeFn = Callable[[Path, RunControl], Iterator[Event]]

DRAIN_INTERVAL_MS = 33  # ~30 emissions per second at most


def _engine_run(cfg: ExperimentConfig, control: RunControl, run_dir: Path) -> Iterator[Event]:
    from desktop_app.core.engine import run_experiment

    return run_experiment(cfg, control, run_dir)


def _engine_resume(run_dir: Path, control: RunControl) -> Iterator[Event]:
    from desktop_app.core.engine import resume_experiment

    return resume_experiment(run_dir, control)


@dataclass(frozen=True)
class RunRequest:
    """One queued job: a new run of ``cfg`` into ``run_dir``, or (cfg None) a resume of ``run_dir``."""

    run_dir: Path
    cfg: ExperimentConfig | None = None

    @property
    def is_resume(self) -> bool:
        return self.cfg is None


class EventBuffer:
    """A lock-protected list the worker appends to and the GUI drains."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: deque[Event] = deque()

    def append(self, ev: Event) -> None:
        with self._lock:
            self._items.append(ev)

    def drain(self) -> list[Event]:
        """Everything buffered, with consecutive-or-not Progress events collapsed to the latest one."""
        with self._lock:
            items = list(self._items)
            self._items.clear()
        last_progress = max((i for i, ev in enumerate(items) if isinstance(ev, Progress)), default=-1)
        return [ev for i, ev in enumerate(items) if not isinstance(ev, Progress) or i == last_progress]

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)


class RunWorker(QObject):
    """Lives on the run thread; iterates one engine generator into the buffer, then quits its thread."""

    def __init__(
        self,
        request: RunRequest,
        control: RunControl,
        buffer: EventBuffer,
        run_fn: RunFn,
        resume_fn: ResumeFn,
        threads: int,
    ) -> None:
        super().__init__()
        self._request = request
        self._control = control
        self._buffer = buffer
        self._run_fn = run_fn
        self._resume_fn = resume_fn
        self._threads = threads

    @Slot()
    def run(self) -> None:
        req, t0, finished = self._request, time.perf_counter(), False
        try:
            self._set_torch_threads()
            events = (
                self._resume_fn(req.run_dir, self._control)
                if req.is_resume
                else self._run_fn(req.cfg, self._control, req.run_dir)  # type: ignore[arg-type]
            )
            for ev in events:
                self._buffer.append(ev)
                finished = finished or isinstance(ev, RunFinished)
        except Exception as exc:  # noqa: BLE001 - report, never kill the thread silently
            self._buffer.append(LogMessage("error", traceback.format_exc()))
            if not finished:
                self._buffer.append(
                    RunFinished("failed", str(req.run_dir), time.perf_counter() - t0, f"{type(exc).__name__}: {exc}")
                )
                finished = True
        if not finished:
            status = "stopped" if self._control.stopped else "completed"
            self._buffer.append(RunFinished(status, str(req.run_dir), time.perf_counter() - t0))
        thread = QThread.currentThread()
        if thread is not None:
            thread.quit()  # thread-safe; makes the thread's exec() return at once

    def _set_torch_threads(self) -> None:
        """torch's intra-op thread count is per thread: set it here, on the run thread."""
        cfg = self._request.cfg
        if cfg is None:
            try:
                cfg = config_mod.load(Path(self._request.run_dir) / "config.toml", validate=False)
            except config_mod.ConfigError:
                cfg = None
        n = (cfg.threads if cfg is not None and cfg.threads > 0 else 0) or self._threads
        if n > 0:
            import torch

            torch.set_num_threads(n)


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
    ) -> None:
        super().__init__(parent)
        self._run_fn = run_fn or _engine_run
        self._resume_fn = resume_fn or _engine_resume
        self._threads = threads
        self._queue: deque[RunRequest] = deque()
        self._buffer = EventBuffer()
        self._thread: QThread | None = None
        self._retired: QThread | None = None
        self._worker: RunWorker | None = None
        self._control: RunControl | None = None
        self._current: RunRequest | None = None
        self._state = "idle"
        self._last_status = ""
        self._timer = QTimer(self)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self._drain)

    # -- queries ---------------------------------------------------------------------------------------
    @property
    def state(self) -> str:
        return self._state

    def is_busy(self) -> bool:
        return self._thread is not None

    def is_paused(self) -> bool:
        return self._state == "paused"

    def current_run_dir(self) -> Path | None:
        return self._current.run_dir if self._current else None

    def queued(self) -> list[RunRequest]:
        return list(self._queue)

    def describe_device(self, choice: str = "auto") -> str:
        """Human name of the device a config's ``device`` choice resolves to (for the status bar)."""
        from desktop_app.core.device import describe_device

        return describe_device(choice)

    # -- commands --------------------------------------------------------------------------------------
    def start(self, cfg: ExperimentConfig, run_dir: Path | str) -> None:
        """Run cfg into run_dir now, or after the runs already queued."""
        self._enqueue(RunRequest(Path(run_dir), cfg))

    def resume(self, run_dir: Path | str) -> None:
        """Continue a stopped run folder in place (queued like ``start``)."""
        self._enqueue(RunRequest(Path(run_dir), None))

    def pause(self) -> None:
        if self._control is not None and self._state == "running":
            self._control.pause()
            self._set_state("paused")

    def resume_run(self) -> None:
        if self._control is not None and self._state == "paused":
            self._control.resume()
            self._set_state("running")

    def stop(self, clear_queue: bool = True) -> None:
        """Stop the current run at its next minibatch (the folder stays resumable); drop the queue."""
        if clear_queue and self._queue:
            self._queue.clear()
            self.queueChanged.emit(0)
        if self._control is not None:
            self._control.stop()
            self._set_state("stopping")

    def shutdown(self, timeout_ms: int = 5000) -> bool:
        """Stop everything and wait for the run thread; True if it ended within the timeout."""
        self.stop(clear_queue=True)
        ok = True
        thread = self._thread
        if thread is not None:
            thread.quit()
            ok = thread.wait(timeout_ms)
            if ok:
                self._finish_thread(thread)
        if ok:
            self._timer.stop()
        return ok

    # -- internals -------------------------------------------------------------------------------------
    def _enqueue(self, req: RunRequest) -> None:
        self._queue.append(req)
        if self._thread is None:
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
        self._control = RunControl()
        threads = self._threads
        if threads is None:
            import torch

            threads = torch.get_num_threads()
        thread = QThread()
        worker = RunWorker(req, self._control, self._buffer, self._run_fn, self._resume_fn, threads)
        worker.moveToThread(thread)
        thread.started.connect(worker.run)
        thread.finished.connect(worker.deleteLater)
        thread.finished.connect(self._on_thread_finished)
        self._thread, self._worker = thread, worker
        self._set_state("running")
        self._timer.start()
        thread.start()

    @Slot()
    def _drain(self) -> None:
        events = self._buffer.drain()
        if not events:
            return
        for ev in events:
            if isinstance(ev, RunFinished):
                self._last_status = ev.status
        self.eventsReady.emit(events)

    @Slot()
    def _on_thread_finished(self) -> None:
        sender = self.sender()
        if sender is not None and sender is self._thread:
            self._finish_thread(self._thread)

    def _finish_thread(self, thread: QThread) -> None:
        if thread is not self._thread:  # already handled (shutdown) or a stale signal
            return
        thread.wait(5000)  # `finished` is emitted just before the thread really ends
        self._drain()
        run_dir = str(self._current.run_dir) if self._current else ""
        status = self._last_status or "completed"
        self._thread, self._worker, self._control, self._current = None, None, None, None
        self._retired = thread  # keep the finished QThread alive until its queued `finished` was delivered
        self._last_status = ""
        self.runFinished.emit(run_dir, status)
        if self._queue:
            self._start_next()
        else:
            self._timer.stop()
            self._set_state("idle")

    def _set_state(self, state: str) -> None:
        if state != self._state:
            self._state = state
            self.stateChanged.emit(state)


__all__ = ["EventBuffer", "RunController", "RunRequest", "RunWorker"]
