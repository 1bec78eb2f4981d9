"""Many real processes on one dead holder's lock: exactly one takes it over, every round (docs/SECURITY.md, one
writer per run folder). Without the takeover guard, 2 of 40 rounds with 6 contenders ended with two holders.

The contenders are separate processes (spawned, so nothing of pytest's state is shared) started together by a
barrier each round; they hold what they got until every contender has tried, so a release can never let a second
one in legitimately. No clocks, no sleeps."""

from __future__ import annotations

import json
import multiprocessing as mp
import socket
import subprocess
import sys
from pathlib import Path

CONTENDERS = 8
ROUNDS = 20


def _contender(root: str, rounds: int, start, tried, released, results) -> None:
    from desktop_app.core.runfolder import RunFolder, RunFolderError

    for r in range(rounds):
        folder = RunFolder(Path(root) / f"round{r}")
        start.wait()
        lock = None
        try:
            lock = folder.lock()
            results.put((r, "held", lock.stale_message))
        except RunFolderError as exc:
            results.put((r, "refused", str(exc)))
        tried.wait()
        if lock is not None:
            lock.release()
        released.wait()


def _dead_pid() -> int:
    """The pid of a process that has exited (reaped), so the lock naming it is stale."""
    out = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                         check=True)
    return int(out.stdout)


def test_many_processes_on_a_stale_lock_give_exactly_one_holder_each_round(tmp_path):
    dead = _dead_pid()
    ctx = mp.get_context("spawn")
    start, tried, released = (ctx.Barrier(CONTENDERS + 1) for _ in range(3))
    results = ctx.Queue()
    procs = [ctx.Process(target=_contender, args=(str(tmp_path), ROUNDS, start, tried, released, results))
             for _ in range(CONTENDERS)]
    for p in procs:
        p.start()
    try:
        holders_per_round = []
        for r in range(ROUNDS):
            run = tmp_path / f"round{r}"
            run.mkdir()
            (run / "config.toml").write_text('name = "x"\n')
            (run / ".basin.lock").write_text(json.dumps({"pid": dead, "host": socket.gethostname(),
                                                         "started": 1.0, "proc_start": ""}))
            start.wait(timeout=300)
            tried.wait(timeout=300)
            got = [results.get(timeout=300) for _ in range(CONTENDERS)]
            assert all(rnd == r for rnd, _, _ in got)
            held = [msg for _, what, msg in got if what == "held"]
            refused = [msg for _, what, msg in got if what == "refused"]
            holders_per_round.append(len(held))
            assert len(held) == 1, (r, got)
            assert "took over a stale lock" in held[0] and f"pid {dead}" in held[0]
            assert all("in use" in msg and "\n" not in msg for msg in refused), refused
            released.wait(timeout=300)
            assert not (run / ".basin.lock").exists()
        assert holders_per_round == [1] * ROUNDS
    except BaseException:
        for barrier in (start, tried, released):  # the contenders stop waiting and exit
            barrier.abort()
        raise
    finally:
        for p in procs:
            p.join(timeout=60)
            if p.is_alive():
                p.kill()
    assert all(p.exitcode == 0 for p in procs)
