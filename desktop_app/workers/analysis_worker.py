"""AnalysisRunner: the only bridge between the analysis panels and the (torch) analysis computations.

``start(name, run_dir, params)`` queues one analysis and returns its ``AnalysisJob`` handle (a GUI-thread
QObject with the job's own signals, so several panels can share one runner). Jobs run one at a time on a
QThread; the worker iterates ``JOBS[name](run_dir, params, control)`` (``store.cached_call`` around the core
compute function) into a lock-protected buffer, and a GUI-thread QTimer drains it at most ~20 times a second,
keeping only the latest progress item. The job's outcome (finished / failed / cancelled) is emitted once its
thread has ended, so a listener never sees a result while a thread is still running.

Threading rules followed (DESIGN.md): worker signals connect only to GUI-thread methods, ``thread.finished``
-> ``worker.deleteLater``, torch threads are set inside the worker thread, no BlockingQueuedConnection,
``shutdown`` stops and waits with a timeout.
"""

from __future__ import annotations

import itertools
import threading
import traceback
from collections import deque
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QThread, QTimer, Signal, Slot

from desktop_app.core.analysis.progress import AnalysisProgress
from desktop_app.core.control import RunControl, StopRequested
from desktop_app.workers.analysis_jobs import JOBS, JobFn

DRAIN_INTERVAL_MS = 50  # <= 20 progress updates per second
_ids = itertools.count(1)


class AnalysisJob(QObject):
    """Handle of one requested analysis; lives on the GUI thread.

    Signals: progress(AnalysisProgress), finished(result), failed(str message), cancelled().
    ``state``: "queued" | "running" | "finished" | "failed" | "cancelled".
    """

    progress = Signal(object)
    finished = Signal(object)
    failed = Signal(str)
    cancelled = Signal()

    def __init__(self, runner: AnalysisRunner, name: str, run_dir: Path, params: dict[str, Any]) -> None:
        super().__init__(runner)
        self.runner = runner
        self.id = next(_ids)
        self.name = name
        self.run_dir = run_dir
        self.params = dict(params)
        self.state = "queued"
        self.result: object | None = None
        self.error = ""

    @property
    def done(self) -> bool:
        return self.state in ("finished", "failed", "cancelled")

    def cancel(self) -> None:
        self.runner.cancel(self)


class _Outbox:
    """What the worker produced since the last drain: the latest progress item and the outcome."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._progress: AnalysisProgress | None = None
        self._outcome: tuple[str, Any] | None = None  # ("finished", result) | ("failed", msg) | ("cancelled", None)

    def put_progress(self, item: AnalysisProgress) -> None:
        with self._lock:
            self._progress = item

    def put_outcome(self, kind: str, value: Any) -> None:
        with self._lock:
            self._outcome = (kind, value)

    def take_progress(self) -> AnalysisProgress | None:
        with self._lock:
            item, self._progress = self._progress, None
            return item

    def take_outcome(self) -> tuple[str, Any] | None:
        with self._lock:
            return self._outcome


class _AnalysisWorker(QObject):
    """Lives on the job's thread; runs the job generator through, then quits the thread."""

    def __init__(self, fn: JobFn, run_dir: Path, params: dict[str, Any], control: RunControl, outbox: _Outbox,
                 threads: int) -> None:
        super().__init__()
        self._fn, self._run_dir, self._params = fn, run_dir, params
        self._control, self._outbox, self._threads = control, outbox, threads

    @Slot()
    def run(self) -> None:
        result, have_result = None, False
        try:
            if self._threads > 0:
                import torch

                torch.set_num_threads(self._threads)  # per thread: set it on this one
            for item in self._fn(self._run_dir, dict(self._params), self._control):
                if isinstance(item, AnalysisProgress):
                    self._outbox.put_progress(item)
                else:
                    result, have_result = item, True
            if self._control.stopped:
                self._outbox.put_outcome("cancelled", None)
            elif have_result:
                self._outbox.put_outcome("finished", result)
            else:
                self._outbox.put_outcome("failed", "the analysis ended without a result")
        except StopRequested:
            self._outbox.put_outcome("cancelled", None)
        except Exception as exc:  # noqa: BLE001 - report to the panel, never kill the thread silently
            traceback.print_exc()
            self._outbox.put_outcome("failed", f"{type(exc).__name__}: {exc}")
        thread = QThread.currentThread()
        if thread is not None:
            thread.quit()


class AnalysisRunner(QObject):
    """Runs analyses one at a time off the GUI thread; see the module docstring.

    Signals (also emitted by each job's handle): progress(AnalysisProgress), finished(result), failed(str),
    cancelled(), busyChanged(bool).
    """

    progress = Signal(object)
    finished = Signal(object)
    failed = Signal(str)
    cancelled = Signal()
    busyChanged = Signal(bool)

    def __init__(self, parent: QObject | None = None, jobs: dict[str, JobFn] | None = None,
                 threads: int | None = None, interval_ms: int = DRAIN_INTERVAL_MS) -> None:
        super().__init__(parent)
        self.jobs: dict[str, JobFn] = dict(JOBS if jobs is None else jobs)
        self._threads = threads
        self._queue: deque[AnalysisJob] = deque()
        self._job: AnalysisJob | None = None
        self._thread: QThread | None = None
        self._retired: QThread | None = None
        self._worker: _AnalysisWorker | None = None
        self._control: RunControl | None = None
        self._outbox = _Outbox()
        self._busy = False
        self._timer = QTimer(self)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self._drain)

    # -- queries ---------------------------------------------------------------------------------------
    def names(self) -> list[str]:
        return list(self.jobs)

    def is_busy(self) -> bool:
        return self._thread is not None

    def current(self) -> AnalysisJob | None:
        return self._job

    def queued(self) -> list[AnalysisJob]:
        return list(self._queue)

    # -- commands --------------------------------------------------------------------------------------
    def start(self, name: str, run_dir: Path | str, params: dict[str, Any] | None = None) -> AnalysisJob:
        """Queue analysis ``name`` of ``run_dir`` with JSON-serialisable ``params``; returns its handle."""
        if name not in self.jobs:
            raise KeyError(f"unknown analysis {name!r}; known: {', '.join(self.jobs)}")
        job = AnalysisJob(self, name, Path(run_dir), params or {})
        self._queue.append(job)
        if self._thread is None:
            self._start_next()
        return job

    def cancel(self, job: AnalysisJob | None = None) -> None:
        """Cancel ``job`` (default: the running one): a queued job at once, a running one at its next
        checkpoint (within one batch of grid points); ``cancelled`` follows when its thread has ended."""
        job = job or self._job
        if job is None or job.done:
            return
        if job in self._queue:
            self._queue.remove(job)
            self._conclude(job, "cancelled", None)
        elif job is self._job and self._control is not None:
            self._control.stop()

    def cancel_all(self) -> None:
        for job in list(self._queue):
            self.cancel(job)
        self.cancel()

    def shutdown(self, timeout_ms: int = 5000) -> bool:
        """Cancel everything and wait for the running job's thread; True if it ended within the timeout."""
        self.cancel_all()
        thread = self._thread
        ok = True
        if thread is not None:
            ok = thread.wait(timeout_ms)
            if ok:
                self._finish_thread(thread)
        if ok:
            self._timer.stop()
        return ok

    # -- internals -------------------------------------------------------------------------------------
    def _start_next(self) -> None:
        if not self._queue:
            self._timer.stop()
            if self._busy:
                self._busy = False
                self.busyChanged.emit(False)
            return
        job = self._queue.popleft()
        threads = self._threads
        if threads is None:
            import torch

            threads = torch.get_num_threads()
        self._job, self._control, self._outbox = job, RunControl(), _Outbox()
        job.state = "running"
        thread = QThread()
        worker = _AnalysisWorker(self.jobs[job.name], job.run_dir, job.params, self._control, self._outbox, threads)
        worker.moveToThread(thread)
        thread.started.connect(worker.run)
        thread.finished.connect(worker.deleteLater)
        thread.finished.connect(self._on_thread_finished)
        self._thread, self._worker = thread, worker
        if not self._busy:
            self._busy = True
            self.busyChanged.emit(True)
        self._timer.start()
        thread.start()

    @Slot()
    def _drain(self) -> None:
        item = self._outbox.take_progress()
        if item is not None and self._job is not None and not (self._control and self._control.stopped):
            self._job.progress.emit(item)
            self.progress.emit(item)

    @Slot()
    def _on_thread_finished(self) -> None:
        if self.sender() is self._thread and self._thread is not None:
            self._finish_thread(self._thread)

    def _finish_thread(self, thread: QThread) -> None:
        if thread is not self._thread:  # already handled by shutdown, or a stale signal
            return
        thread.wait(5000)  # `finished` is emitted just before the thread really ends
        self._drain()
        job, outbox = self._job, self._outbox
        self._thread, self._worker, self._control, self._job = None, None, None, None
        self._retired = thread  # keep the QThread alive until its queued `finished` was delivered
        outcome = outbox.take_outcome() or ("failed", "the analysis thread ended without a result")
        if job is not None:
            self._conclude(job, *outcome)
        if self._thread is None:  # a listener may have started the next job already
            self._start_next()

    def _conclude(self, job: AnalysisJob, kind: str, value: Any) -> None:
        job.state = kind
        if kind == "finished":
            job.result = value
            job.finished.emit(value)
            self.finished.emit(value)
        elif kind == "failed":
            job.error = str(value)
            job.failed.emit(str(value))
            self.failed.emit(str(value))
        else:
            job.cancelled.emit()
            self.cancelled.emit()
        job.setParent(None)  # a finished job (and its result) lives only as long as someone holds the handle


__all__ = ["AnalysisJob", "AnalysisRunner"]
