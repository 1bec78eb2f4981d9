"""RunControl: how a caller pauses, resumes or stops a running engine (thread-safe, torch-free).

The engine calls ``checkpoint()`` between minibatches, so requests take effect within one minibatch.
"""

from __future__ import annotations

import threading


class StopRequested(Exception):
    """Raised inside the engine when stop() was called; the engine turns it into RunFinished('stopped')."""


class RunControl:
    def __init__(self) -> None:
        self._stop = threading.Event()
        self._running = threading.Event()
        self._running.set()

    def pause(self) -> None:
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    def stop(self) -> None:
        self._stop.set()
        self._running.set()  # wake a paused engine so it can see the stop

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    def checkpoint(self) -> None:
        """Block while paused; raise StopRequested once stop() was called."""
        if self._stop.is_set():
            raise StopRequested
        while not self._running.wait(timeout=0.1):
            if self._stop.is_set():
                raise StopRequested
        if self._stop.is_set():
            raise StopRequested
