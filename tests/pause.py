"""Tests hold a run at a named moment (``desktop_app.core.test_hooks``) instead of racing it against the clock.

``pause_env`` gives the variables that make the first unit yielding the named event wait; ``wait_paused`` returns
the pid of the process holding it once it does. The wait's limit is only there so a hang fails instead of
blocking CI: a run that ends without reaching the moment fails at once with its own output. ``quiet`` waits for a
paused run's stream to fall silent (how a test sees that a pause holds) rather than sleeping a guessed time.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from desktop_app.core.test_hooks import PAUSE_AT_ENV, PAUSE_FILE_ENV

HANG_S = 600.0  # far beyond any tiny run on a loaded 2-core machine
HANG_MS = int(HANG_S * 1000)  # the same for Qt waits (qtbot.waitUntil, QThread.wait)


def pause_env(tmp_path: Path, at: str) -> tuple[dict[str, str], Path]:
    """({variable: value}, the pause file) that hold the first unit yielding an event of class ``at``."""
    path = tmp_path / f"pause-at-{at}"
    return {PAUSE_AT_ENV: at, PAUSE_FILE_ENV: str(path)}, path


def wait_paused(path: Path, running: Callable[[], bool], why: Callable[[], str] = lambda: "") -> int:
    """The pid of the process held at ``path``'s moment; fails if ``running()`` turns false first (the run ended
    or died without getting there) or after HANG_S."""
    end = time.monotonic() + HANG_S
    while not path.exists():
        assert running(), f"the run ended before it reached the pause point {path.name}: {why()}"
        assert time.monotonic() < end, f"nothing reached the pause point {path.name} in {HANG_S:.0f} s"
        time.sleep(0.02)
    return int(path.read_text())


def release(path: Path) -> None:
    """Let the held unit go on."""
    path.unlink(missing_ok=True)


def wait_until(condition: Callable[[], bool], what: str) -> None:
    """Return once condition() holds; fail after HANG_S (a hang, not a slow machine)."""
    end = time.monotonic() + HANG_S
    while not condition():
        assert time.monotonic() < end, f"waited {HANG_S:.0f} s for {what}"
        time.sleep(0.02)


def quiet(seen: list) -> int:
    """len(seen) once no item has been added for a second (a paused run's events already on their way have come
    in); waited for however slow the machine, up to HANG_S."""
    end = time.monotonic() + HANG_S
    n = -1
    while n != len(seen):
        assert time.monotonic() < end, "events kept coming while the run was paused"
        n = len(seen)
        time.sleep(1.0)
    return n
