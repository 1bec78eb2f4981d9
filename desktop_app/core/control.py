"""RunControl: how a caller pauses, resumes or stops a running engine (thread-safe, torch-free).

The engine calls ``checkpoint()`` between minibatches, so requests take effect within one minibatch.
"""

from __future__ import annotations

import threading
import time


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
        if self._running.is_set():  # the per-minibatch case: two flag reads, no lock
            return
        while not self._running.wait(timeout=0.1):
            if self._stop.is_set():
                raise StopRequested
        if self._stop.is_set():
            raise StopRequested


RUN, PAUSE, STOP = 0, 1, 2


class SharedStateControl(RunControl):
    """A RunControl read from one shared integer (RUN, PAUSE or STOP) that another process writes.

    A worker process sees its parent's pause and stop through it. A plain shared integer has no lock, so a
    worker killed at any instant can never leave the parent (or the other workers) blocked.
    """

    def __init__(self, value) -> None:  # value: multiprocessing RawValue("i") or anything with a .value int
        super().__init__()
        self._value = value

    def pause(self) -> None:
        self._value.value = PAUSE

    def resume(self) -> None:
        self._value.value = RUN

    def stop(self) -> None:
        self._value.value = STOP

    @property
    def stopped(self) -> bool:
        return self._value.value == STOP

    @property
    def paused(self) -> bool:
        return self._value.value == PAUSE

    def checkpoint(self) -> None:
        state = self._value.value
        while state == PAUSE:
            time.sleep(0.05)
            state = self._value.value
        if state == STOP:
            raise StopRequested
