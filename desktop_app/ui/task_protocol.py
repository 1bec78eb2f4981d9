"""What the UI needs to run a job in the background (the Runs table's load), injected by the composition root.

The job runner is ``workers.background.Task`` (Basin's one background-work pattern); the UI never imports the
workers package (it imports torch), so it types against ``TaskLike`` and receives the class as a factory.
Without one (a widget built on its own, e.g. in a test) ``InlineTask`` runs the job on the calling thread at
``start()``: the same items in the same order, blocking.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Protocol

from PySide6.QtCore import QObject, Signal

from desktop_app.core.control import RunControl, StopRequested


class TaskLike(Protocol):
    items: Any  # Signal(list): what the job yielded since the last delivery, in order
    ended: Any  # Signal(): the job has ended, after its last items

    @property
    def done(self) -> bool: ...

    @property
    def stopped(self) -> bool: ...

    error: BaseException | None

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def wait(self, timeout_ms: int = 5000) -> bool: ...


TaskFactory = Callable[..., TaskLike]  # factory(fn, name=...) where fn(control) yields items


class InlineTask(QObject):
    """``TaskLike`` on the calling thread: ``start()`` runs the job to its end (one ``items`` per yielded item)."""

    items = Signal(object)
    ended = Signal()

    def __init__(self, fn: Callable[[RunControl], Iterator[Any]], name: str = "task", **_kw: Any) -> None:
        super().__init__()
        self.name = name
        self.control = RunControl()
        self.error: BaseException | None = None
        self._fn = fn
        self._done = False

    @property
    def done(self) -> bool:
        return self._done

    @property
    def stopped(self) -> bool:
        return self.control.stopped

    def start(self) -> None:
        try:
            for item in self._fn(self.control):
                self.items.emit([item])
        except StopRequested:
            self.control.stop()
        except Exception as exc:  # noqa: BLE001 - reported through ``error``, as Task does
            self.error = exc
        self._done = True
        self.ended.emit()

    def stop(self) -> None:
        self.control.stop()

    def wait(self, timeout_ms: int = 5000) -> bool:
        return True
