"""Task: Basin's one background-work pattern, a generator on its own QThread (docs/ARCHITECTURE.md, workers).

Every job that must not block the GUI thread (a training run, an analysis, opening or exporting a checkpoint)
is a generator function ``fn(control)`` run by a ``Task``:

- the generator runs on the task's own QThread; each item it yields goes into a lock-protected ``Outbox``;
- a GUI-thread QTimer drains the outbox at most every ``interval_ms`` (default 33 ms, <= 30 Hz) and emits
  ``items(list)``; items of the ``collapse`` types (progress reports) are reduced to the latest one, all other
  items arrive in order;
- ``pause`` / ``resume`` / ``stop`` act through the ``RunControl`` the generator receives (it calls
  ``control.checkpoint()`` between small steps, so a stop takes effect within one step and the generator still
  ends normally: its ``finally`` blocks run on the task thread);
- ``ended`` is emitted once the thread has really ended, after the last items were delivered; then ``error``
  (the exception that ended the generator, if any), ``stopped`` and ``seconds`` tell how it went;
- ``wait(timeout_ms)`` after ``stop()`` is the clean shutdown: a module-level set keeps every running task
  referenced, so no QThread is destroyed while running (that aborts the process).

Threading rules followed (docs/ARCHITECTURE.md): the thread's ``finished`` connects to a method of this
GUI-thread object, never to a lambda; nothing uses BlockingQueuedConnection; ``set_torch_threads`` runs inside
the task thread (torch's thread count is per thread).

Why not superqt's GeneratorWorker (measured; docs/PERFORMANCE.md, "Background work"): it runs on Qt's global
thread pool (2 threads on a 2-core machine, so a checkpoint open waits for a running training run and analysis
to end), its ``run`` swaps the process-global warnings state from the worker thread (two overlapping workers
leave ``warnings.showwarning`` pointing at a finished worker), a RuntimeError raised by the job (torch's usual
error type) ends it with neither ``errored`` nor ``finished``, its ``quit`` abandons the generator at a yield
(the engine's ``finally`` would run at garbage collection, on whatever thread) and it emits one cross-thread
signal per yielded item instead of coalescing.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from PySide6.QtCore import QObject, QThread, QTimer, Signal, Slot

from desktop_app.core.control import RunControl, StopRequested

DRAIN_INTERVAL_MS = 33  # <= 30 deliveries per second
TaskFn = Callable[[RunControl], Iterator[Any]]

_RUNNING: set[Task] = set()  # every started, not yet ended task: a running QThread is never garbage-collected
_DROPPED = object()


def set_torch_threads(n: int) -> None:
    """torch's intra-op thread count is per thread: call this on the thread that computes (n <= 0: leave it)."""
    if n > 0:
        import torch

        torch.set_num_threads(n)


class Outbox:
    """What the task thread produced since the last drain; items of the ``collapse`` types keep only the latest.

    A collapsed item is dropped when the next one arrives (not at drain time), so a fast progress reporter
    holds one item, not thousands.
    """

    def __init__(self, collapse: type | tuple[type, ...] = ()) -> None:
        self._lock = threading.Lock()
        self._items: list[Any] = []
        self._collapse = collapse
        self._latest: int | None = None  # index of the latest collapsible item in _items

    def put(self, item: Any) -> None:
        with self._lock:
            if self._collapse and isinstance(item, self._collapse):
                if self._latest is not None:
                    self._items[self._latest] = _DROPPED
                self._latest = len(self._items)
            self._items.append(item)

    def drain(self) -> list[Any]:
        """Everything put since the last drain, in order, with collapsible items reduced to the latest one."""
        with self._lock:
            items, self._items, self._latest = self._items, [], None
        return [item for item in items if item is not _DROPPED]

    def __len__(self) -> int:
        with self._lock:
            return sum(item is not _DROPPED for item in self._items)


class _TaskThread(QThread):
    """A QThread whose ``run`` is one call of ``body`` (no event loop: nothing is posted to this thread)."""

    def __init__(self, body: Callable[[], None], name: str) -> None:
        super().__init__()
        self._body = body
        self.setObjectName(name)

    def run(self) -> None:
        self._body()


class Task(QObject):
    """One generator on its own thread; see the module docstring.

    Signals: ``items(list)`` coalesced items in order, at most one emission per ``interval_ms``;
    ``ended()`` once the thread has ended, after the last ``items``.
    """

    items = Signal(object)
    ended = Signal()

    def __init__(
        self,
        fn: TaskFn,
        *,
        name: str = "task",
        threads: int = 0,
        collapse: type | tuple[type, ...] = (),
        interval_ms: int = DRAIN_INTERVAL_MS,
    ) -> None:
        super().__init__()
        self.name = name
        self.control = RunControl()
        self.error: BaseException | None = None
        self.seconds = 0.0
        self.last: Any = None  # the last item delivered
        self._fn, self._threads = fn, threads
        self._outbox = Outbox(collapse)
        self._thread: _TaskThread | None = None
        self._done = False
        self._timer = QTimer(self)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self._drain)

    # -- queries ---------------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._thread is not None and not self._done

    @property
    def done(self) -> bool:
        return self._done

    @property
    def stopped(self) -> bool:
        return self.control.stopped

    @property
    def paused(self) -> bool:
        return self.control.paused

    # -- commands --------------------------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError(f"task {self.name!r} was already started")
        self._thread = _TaskThread(self._body, f"basin-{self.name}")
        self._thread.finished.connect(self._on_thread_finished)
        _RUNNING.add(self)
        self._timer.start()
        self._thread.start()

    def pause(self) -> None:
        self.control.pause()

    def resume(self) -> None:
        self.control.resume()

    def stop(self) -> None:
        """Ask the generator to stop at its next ``control.checkpoint()``; ``ended`` follows."""
        self.control.stop()

    def wait(self, timeout_ms: int = 5000) -> bool:
        """Wait for the thread (call ``stop`` first to make it quick); on success deliver the last items and
        ``ended`` now. True if the thread has ended (or never started)."""
        if self._thread is None or self._done:
            return True
        if not self._thread.wait(timeout_ms):
            return False
        self._finish()
        return True

    # -- internals -------------------------------------------------------------------------------------
    def _body(self) -> None:
        """Runs on the task thread: iterate the generator into the outbox; never raises."""
        t0 = time.perf_counter()
        try:
            set_torch_threads(self._threads)
            gen = self._fn(self.control)
            try:
                for item in gen:
                    self._outbox.put(item)
            finally:
                close = getattr(gen, "close", None)
                if close is not None:
                    close()
        except StopRequested:
            self.control.stop()
        except Exception as exc:  # noqa: BLE001 - the owner reports it; never kill the thread silently
            self.error = exc
        self.seconds = time.perf_counter() - t0

    @Slot()
    def _drain(self) -> None:
        items = self._outbox.drain()
        if items:
            self.last = items[-1]
            self.items.emit(items)

    @Slot()
    def _on_thread_finished(self) -> None:
        if not self._done and self._thread is not None:
            self._thread.wait(5000)  # `finished` is emitted just before the thread really ends
            self._finish()

    def _finish(self) -> None:
        if self._done:
            return
        self._done = True
        self._timer.stop()
        self._drain()
        _RUNNING.discard(self)
        self.ended.emit()


__all__ = ["DRAIN_INTERVAL_MS", "Outbox", "Task", "TaskFn", "set_torch_threads"]
