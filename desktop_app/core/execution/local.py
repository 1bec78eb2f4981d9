"""The local backend: up to ``workers`` units at once, each in its own worker process on this machine.

Why processes: at minibatch 10 a second torch thread in one process buys ~1.3x, two one-thread processes ~2x
(issue 13's measurements), and a unit's randomness lives in its process (the default torch generator).

How (docs/ARCHITECTURE.md, "Units and execution"):
- Worker processes start with the ``spawn`` method (no fork of a process that holds threads or Qt) and live
  for the whole run, taking one unit at a time from the parent over their own pipe.
- Each unit persists its own files in its worker (``core.training.unit``); the events travel back over the same pipe
  as they happen, and the parent forwards them (live panels, progress) and writes only run-level files.
- Pause and stop reach the workers through one shared integer (``control.SharedStateControl``): no lock a
  killed worker could leave held. Every worker has its own pipe, so a worker killed mid-message breaks only
  that pipe.
- A worker that dies while it holds a unit (kill -9, out of memory) is replaced; its unit starts again on
  another worker from its last checkpoint (``latest.pt``), which gives the same final numbers.
"""

from __future__ import annotations

import multiprocessing as mp
import signal
import time
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import wait

from desktop_app.core.control import PAUSE, RUN, STOP, RunControl, SharedStateControl
from desktop_app.core.events import Event, LogMessage, UnitFinished
from desktop_app.core.execution.tasks import UnitTask, in_tasks, run_task

POLL_S = 0.05  # how often the parent looks at its RunControl while it waits for events
STOP_GRACE_S = 0.8  # after a stop, how long running units get to report before their workers are ended
MAX_RESTARTS = 3  # a unit whose worker dies this many times is reported failed instead of started again


def _worker_main(conn, state, gpu: int | None = None) -> None:
    """A worker process: run the units the parent sends, stream their events back, exit on None or EOF. ``gpu``:
    the CUDA device this worker is pinned to (its units resolve auto / cuda to ``cuda:gpu``)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle (it stops the units)
    if gpu is not None:
        from desktop_app.core.training.device import pin_gpu

        pin_gpu(gpu)
    control = SharedStateControl(state)
    while True:
        try:
            task = conn.recv()
        except (EOFError, OSError):
            return
        if task is None:
            return
        try:
            for ev in run_task(task, control):
                conn.send(ev)
        except (BrokenPipeError, OSError):  # the parent is gone
            return


@dataclass
class _Worker:
    process: mp.process.BaseProcess
    conn: object
    task: UnitTask | None = None
    started: float = field(default_factory=time.monotonic)
    device: str = "cpu"


class LocalExecutor:
    """Runs units in ``workers`` spawned processes; see the module docstring."""

    name = "local"

    def __init__(self, workers: int, devices: Sequence[str] = ()) -> None:
        self.workers = max(1, int(workers))
        self.devices = tuple(devices)  # worker i's device ("cuda:i" pins it to that GPU); () = all "cpu"
        self._ctx = mp.get_context("spawn")

    def describe(self, n_units: int, n_tasks: int) -> str:
        n = min(self.workers, n_tasks)  # a seed batch is one task: more workers than tasks would idle
        gpus = sorted({d for d in self.devices[:n] if d.startswith("cuda")})
        where = f", one per GPU ({', '.join(gpus)})" if gpus and len(gpus) == n else \
            f" on GPUs {', '.join(gpus)}" if gpus else ""
        return f"{n_units} unit(s){in_tasks(n_units, n_tasks)} on {n} local worker process(es){where}"

    # -- process management ------------------------------------------------------------------------------
    def _next_device(self, workers: list[_Worker]) -> str:
        """The device of the next worker started: the planned one with the fewest live workers on it (a worker
        that died is replaced on its own GPU)."""
        if not self.devices:
            return "cpu"
        live = [w.device for w in workers]
        return min(self.devices, key=lambda d: (live.count(d) - self.devices.count(d), self.devices.index(d)))

    def _start_worker(self, state, device: str = "cpu") -> _Worker:
        parent_conn, child_conn = self._ctx.Pipe(duplex=True)
        gpu = int(device.split(":")[1]) if device.startswith("cuda:") else None
        proc = self._ctx.Process(target=_worker_main, args=(child_conn, state, gpu), daemon=True,
                                 name="basin-unit-worker")
        proc.start()
        child_conn.close()  # the parent keeps only its end: EOF as soon as the worker dies
        return _Worker(proc, parent_conn, device=device)

    @staticmethod
    def _end(workers: list[_Worker], grace_s: float) -> None:
        """grace_s > 0: ask the workers to exit and wait that long; 0: end them at once (after a stop, their
        units have saved all they will: every file is written atomically)."""
        if grace_s > 0:
            for w in workers:
                try:
                    w.conn.send(None)
                except (BrokenPipeError, OSError):
                    pass
            deadline = time.monotonic() + grace_s
            for w in workers:
                w.process.join(max(0.0, deadline - time.monotonic()))
        for w in workers:
            if w.process.is_alive():
                w.process.terminate()
                w.process.join(1.0)
            if w.process.is_alive():
                w.process.kill()
                w.process.join(1.0)
            w.conn.close()

    # -- the run -------------------------------------------------------------------------------------------
    def run(self, tasks: Sequence[UnitTask], control: RunControl) -> Iterator[Event]:
        state = self._ctx.RawValue("i", RUN)
        pending: deque[UnitTask] = deque(tasks)
        restarts: dict[tuple[str, int], int] = {}
        finished: set[tuple[str, int]] = set()  # units that reported their end (a seed batch reports one per seed)
        workers: list[_Worker] = []
        n_workers = min(self.workers, len(tasks))
        stop_deadline = None
        try:
            while pending or any(w.task is not None for w in workers):
                # the user's control -> the workers' shared state
                if control.stopped and state.value != STOP:
                    state.value = STOP
                    pending.clear()
                    stop_deadline = time.monotonic() + STOP_GRACE_S
                elif not control.stopped:
                    state.value = PAUSE if control.paused else RUN
                if stop_deadline is not None and time.monotonic() > stop_deadline:
                    return  # units that did not answer in time are ended with their workers (finally)
                # idle workers take the next units (not while paused: a new unit would only wait)
                if state.value == RUN:
                    while len(workers) < n_workers and pending:
                        workers.append(self._start_worker(state, self._next_device(workers)))
                    for w in list(workers):
                        if w.task is None and pending:
                            task = pending.popleft()
                            try:
                                w.conn.send(task)
                                w.task = task
                            except (BrokenPipeError, OSError):  # died while idle: replaced next round
                                pending.appendleft(task)
                                workers.remove(w)
                                w.conn.close()
                busy = [w for w in workers if w.task is not None]
                if not busy:
                    time.sleep(POLL_S)
                    continue
                ready = wait([w.conn for w in busy] + [w.process.sentinel for w in busy], timeout=POLL_S)
                for w in busy:
                    if w.conn not in ready and w.process.sentinel not in ready:
                        continue
                    died = False
                    try:
                        while w.conn.poll():
                            ev = w.conn.recv()
                            if isinstance(ev, UnitFinished):
                                finished.add((ev.arm, ev.seed))
                                if w.task is not None and (ev.arm, ev.seed) == w.task.key:
                                    w.task = None
                            yield ev
                    except (EOFError, OSError):
                        died = True
                    if died or (w.process.sentinel in ready and not w.process.is_alive()):
                        yield from self._lost(w, workers, pending, restarts, state, finished)
        finally:
            stopping = state.value == STOP or control.stopped
            state.value = STOP
            self._end(workers, grace_s=0.0 if stopping else 2.0)

    def _lost(self, w: _Worker, workers: list[_Worker], pending: deque[UnitTask],
              restarts: dict[tuple[str, int], int], state, finished: set[tuple[str, int]]) -> Iterator[Event]:
        """A worker died: drop it; its unit (if any) goes back to the front of the queue, or fails after
        MAX_RESTARTS deaths."""
        w.process.join(1.0)
        workers.remove(w)
        w.conn.close()
        task = w.task
        if task is None or state.value == STOP:
            return
        code = w.process.exitcode
        n = restarts.get(task.key, 0) + 1
        restarts[task.key] = n
        if n > MAX_RESTARTS:
            msg = f"{task.label}: its worker process died {n} times (last exit code {code}); giving up on this unit"
            yield LogMessage("error", msg)
            for arm, seed in task.keys:  # every seed of a batch that has not ended on its own
                if (arm, seed) not in finished:
                    yield UnitFinished(arm, seed, "failed", msg)
            return
        yield LogMessage("warning", f"{task.label}: its worker process (pid {w.process.pid}) ended with exit code "
                                    f"{code}; the unit starts again from its last checkpoint on another worker")
        pending.appendleft(task)
