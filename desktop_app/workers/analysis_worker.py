"""AnalysisRunner: the only bridge between the analysis panels and the (torch) analysis computations.

``start(name, run_dir, params)`` queues one analysis and returns its ``AnalysisJob`` handle (a GUI-thread
QObject with the job's own signals, so several panels can share one runner). Jobs run one at a time, each as a
``Task`` (``workers/background.py``, the one background-work pattern): the task iterates
``JOBS[name](run_dir, params, control)`` (``store.cached_call`` around the core compute function) on its own
thread, and its items reach the GUI thread at most ~20 times a second with only the latest progress item kept.
The job's outcome (finished / failed / cancelled) is emitted once its thread has ended, so a listener never
sees a result while a thread is still running. See docs/ARCHITECTURE.md (workers, threading).
"""

from __future__ import annotations

import itertools
import traceback
from collections import deque
from functools import partial
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal, Slot

from desktop_app.core.analysis.progress import AnalysisProgress
from desktop_app.core.config import ConfigError
from desktop_app.core.errors import one_line
from desktop_app.core.runfolder import RunFolderError
from desktop_app.workers.analysis_jobs import JOBS, JobFn
from desktop_app.workers.background import Task

# A run-folder file or config an analysis cannot use (a wrong-typed or truncated e*.pt, a FIFO): docs/SECURITY.md
# wants one line naming the file, not a traceback and an exception class name.
BAD_INPUT = (RunFolderError, ConfigError)

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
        self._interval_ms = interval_ms
        self._queue: deque[AnalysisJob] = deque()
        self._job: AnalysisJob | None = None
        self._task: Task | None = None
        self._result: tuple[Any] | None = None  # (last non-progress item,) of the running job
        self._busy = False

    # -- queries ---------------------------------------------------------------------------------------
    def names(self) -> list[str]:
        return list(self.jobs)

    def is_busy(self) -> bool:
        return self._task is not None

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
        if self._task is None:
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
        elif job is self._job and self._task is not None:
            self._task.stop()

    def cancel_all(self) -> None:
        for job in list(self._queue):
            self.cancel(job)
        self.cancel()

    def shutdown(self, timeout_ms: int = 5000) -> bool:
        """Cancel everything and wait for the running job's thread; True if it ended within the timeout."""
        self.cancel_all()
        return self._task.wait(timeout_ms) if self._task is not None else True

    # -- internals -------------------------------------------------------------------------------------
    def _start_next(self) -> None:
        if not self._queue:
            if self._busy:
                self._busy = False
                self.busyChanged.emit(False)
            return
        job = self._queue.popleft()
        threads = self._threads
        if threads is None:
            import torch

            threads = torch.get_num_threads()
        job.state = "running"
        task = Task(partial(self.jobs[job.name], job.run_dir, dict(job.params)), name=f"analysis-{job.name}",
                    threads=threads, collapse=AnalysisProgress, interval_ms=self._interval_ms)
        task.items.connect(self._on_items)
        task.ended.connect(self._on_ended)
        self._job, self._task, self._result = job, task, None
        if not self._busy:
            self._busy = True
            self.busyChanged.emit(True)
        task.start()

    @Slot(object)
    def _on_items(self, items: list[Any]) -> None:
        latest = None
        for item in items:
            if isinstance(item, AnalysisProgress):
                latest = item
            else:
                self._result = (item,)
        job, task = self._job, self._task
        if latest is not None and job is not None and task is not None and not task.stopped:
            job.progress.emit(latest)
            self.progress.emit(latest)

    @Slot()
    def _on_ended(self) -> None:
        task, job, result = self._task, self._job, self._result
        if self.sender() is not task or task is None:  # a stale signal
            return
        self._task, self._job, self._result = None, None, None
        if isinstance(task.error, BAD_INPUT):  # a file of the run that cannot be used: its one line, no traceback
            outcome: tuple[str, Any] = ("failed", one_line(str(task.error)))
        elif task.error is not None:
            traceback.print_exception(task.error)
            outcome = ("failed", f"{type(task.error).__name__}: {task.error}")
        elif task.stopped:
            outcome = ("cancelled", None)
        elif result is not None:
            outcome = ("finished", result[0])
        else:
            outcome = ("failed", "the analysis ended without a result")
        if job is not None:
            self._conclude(job, *outcome)
        if self._task is None:  # a listener may have started the next job already
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
