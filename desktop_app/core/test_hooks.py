"""A test hook: hold a unit at a named moment, so a test acts on a run there instead of racing it against the clock.

Why: a test that polls for a file and then signals or kills a run fails on a busy machine, where the run has
already ended, or has not yet got there, when the signal lands (issue 23). With both variables set:

    BASIN_TEST_PAUSE_AT=CheckpointSaved     the class name of an event (``core.events``)
    BASIN_TEST_PAUSE_FILE=/tmp/t/paused     a path the test owns

the first unit, over every process that inherits the two variables, whose task yields an event of that class
stops right there (``execution.tasks.run_task``, before the event is passed on): it writes the file (its pid, in
one rename) and waits, holding its unit, until the file is removed. The test meanwhile signals or kills that pid,
or starts what must meet a run in progress, and removes the file to let the unit go on. Only the first arrival
pauses (it claims ``<file>.claimed`` first, with O_EXCL, and that file stays), so a unit started again after its
worker was killed, and the other workers, run through.

Harmless in production: unset, as everywhere outside the tests, the hook is one environment lookup per event.
"""

from __future__ import annotations

import os
import time

PAUSE_AT_ENV = "BASIN_TEST_PAUSE_AT"
PAUSE_FILE_ENV = "BASIN_TEST_PAUSE_FILE"
POLL_S = 0.02  # how often the held unit looks whether the test removed the file


def pause_point(event: object) -> None:
    """Hold this process here while the test's pause file exists, if ``event`` is the named moment's first
    arrival (see the module docstring); else return at once."""
    name = os.environ.get(PAUSE_AT_ENV)
    if not name or type(event).__name__ != name:
        return
    path = os.environ.get(PAUSE_FILE_ENV, "")
    if not path:
        return
    try:
        os.close(os.open(path + ".claimed", os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    except FileExistsError:  # another unit (or this one, before its worker was killed) paused already
        return
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="ascii") as fh:
        fh.write(str(os.getpid()))
    os.replace(tmp, path)  # the test never reads half a pid
    while os.path.exists(path):
        time.sleep(POLL_S)
