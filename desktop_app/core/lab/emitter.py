"""Emitter: a plain-Python callback list, so the lab model can be observed without Qt (docs/ARCHITECTURE.md).

The model calls ``emit`` on the thread that drives it; a Qt adapter (``ui/run_store.py``) turns the callbacks into
signals delivered on the GUI thread, as napari's QtViewer subscribes to its Qt-free ViewerModel.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Callback = Callable[..., Any]


class Emitter:
    """``connect(callback)``, ``disconnect(callback)``, ``emit(*args)``; callbacks run in connection order."""

    def __init__(self) -> None:
        self._callbacks: list[Callback] = []

    def connect(self, callback: Callback) -> Callback:
        if callback not in self._callbacks:
            self._callbacks.append(callback)
        return callback

    def disconnect(self, callback: Callback) -> None:
        if callback in self._callbacks:
            self._callbacks.remove(callback)

    def emit(self, *args: Any) -> None:
        for callback in list(self._callbacks):  # a callback may disconnect itself
            callback(*args)

    def __len__(self) -> int:
        return len(self._callbacks)
