"""The Dask backend: the same units as Dask ``distributed`` tasks, on a cluster of one or many machines.

Needs the optional extra ``basin[cluster]`` (dask + distributed). How it works (docs/ARCHITECTURE.md, "Units
and execution"; README, "Many seeds on a cluster"):
- One task per (arm, seed) unit, submitted to a scheduler at ``execution.address`` (``dask scheduler`` /
  ``dask worker`` on the machines), to a cluster object from Python (``dask_jobqueue.SLURMCluster`` ...) or, with
  neither, to a ``LocalCluster`` of ``execution.workers`` processes on this machine.
- The run folder must be on a filesystem every worker shares (the same path on every machine): each unit
  writes its own files there, as in the local backend. Its events stream back live through a Dask
  ``Queue`` (pickled batches, at most ~4 per second per unit); the client forwards them.
- Pause and stop travel through a Dask ``Variable`` that each task polls every 0.25 s.
- A worker that dies (its machine, kill -9, out of memory) loses its task; the scheduler runs it again on
  another worker, where the unit continues from its last checkpoint in the shared folder.
- Within one worker process units run one at a time (the default torch generator is per process); start
  workers with ``--nthreads 1`` and as many ``--nworkers`` as cores.
- Units are handed out the way the local backend does it: no more in flight than the cluster has worker
  threads, the next one submitted when one ends, in the engine's order (longest first within a seed). Submitting
  all at once let the scheduler queue two units on one worker (``worker-saturation`` 1.1 rounds up to 2 tasks
  per 1-thread worker) while another idled at the end of the run. A cluster that grows later (``scale``) gets
  more units in flight as its threads appear; an ``adapt``-ive cluster sees only that demand, so give it a size.
"""

from __future__ import annotations

import pickle
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from desktop_app.core.config import ConfigError
from desktop_app.core.control import PAUSE, RUN, STOP, RunControl
from desktop_app.core.events import Event, LogMessage, UnitFinished
from desktop_app.core.execution.tasks import UnitTask, in_tasks, run_task

POLL_S = 0.05
STATE_POLL_S = 0.25
FLUSH_S = 0.25
STOP_GRACE_S = 0.8
GROW_LOOK_S = 2.0  # how often a run with units still waiting asks the cluster for its thread count
_UNIT_LOCK = threading.Lock()  # one unit at a time per worker process


@dataclass(frozen=True)
class _Started:
    """First item a task sends: which worker runs the unit (a second one means the unit was started again)."""

    arm: str
    seed: int
    worker: str


def _dask_unit(task: UnitTask, queue_name: str, state_name: str) -> str:
    """Runs on a Dask worker: the unit's events go to the run's Queue in batches; returns the unit's status."""
    from distributed import Queue, Variable, get_client, get_worker

    client = get_client()
    queue = Queue(queue_name, client=client)
    state = Variable(state_name, client=client)
    control = RunControl()
    done = threading.Event()

    def follow_state() -> None:  # the client's pause/stop -> this task's RunControl
        while not done.is_set():
            try:
                value = state.get(timeout=5)
            except Exception:  # noqa: BLE001 - scheduler briefly unreachable: keep the last state
                value = None
            if value == STOP:
                control.stop()
                return
            if value == PAUSE:
                control.pause()
            elif value == RUN:
                control.resume()
            done.wait(STATE_POLL_S)

    follower = threading.Thread(target=follow_state, name="basin-state", daemon=True)
    follower.start()
    status = "failed"
    try:
        with _UNIT_LOCK:
            # told at once, not with the first batch: a worker lost before its first flush is still known to have
            # held the unit, so its second start is reported as a restart
            queue.put(pickle.dumps([_Started(task.arm, task.seed, get_worker().address)]))
            batch: list[Event | _Started] = []
            last = time.monotonic()
            for ev in run_task(task, control):
                batch.append(ev)
                if isinstance(ev, UnitFinished):
                    status = ev.status
                now = time.monotonic()
                if isinstance(ev, UnitFinished) or now - last >= FLUSH_S:
                    queue.put(pickle.dumps(batch))
                    batch, last = [], now
            if batch:
                queue.put(pickle.dumps(batch))
    finally:
        done.set()
    return status


class DaskExecutor:
    """Runs units on Dask distributed workers (see the module docstring)."""

    name = "dask"

    def __init__(self, address: str = "", cluster=None, client=None, workers: int = 1) -> None:
        self.address = address
        self.cluster = cluster
        self.client = client
        self.workers = max(1, int(workers))

    def describe(self, n_units: int, n_tasks: int) -> str:
        where = self.address or ("the given cluster" if self.cluster or self.client else
                                 f"a local Dask cluster of {self.workers} process(es)")
        return f"{n_units} unit(s){in_tasks(n_units, n_tasks)} on Dask workers at {where}"

    def _connect(self):
        """(client, things to close afterwards)."""
        from distributed import Client, LocalCluster

        if self.client is not None:
            return self.client, []
        if self.cluster is not None:
            client = Client(self.cluster)
            return client, [client]
        if self.address:
            try:
                client = Client(self.address, timeout="20s")
            except OSError as exc:  # refused, unknown host, timed out
                raise ConfigError("execution.address", f"cannot reach a Dask scheduler at {self.address} "
                                  f"({str(exc).splitlines()[0][:160]})") from None
            return client, [client]
        cluster = LocalCluster(n_workers=self.workers, threads_per_worker=1, processes=True,
                               dashboard_address=None)
        client = Client(cluster)
        return client, [client, cluster]

    def run(self, tasks: Sequence[UnitTask], control: RunControl) -> Iterator[Event]:
        from distributed import Queue, Variable

        client, owned = self._connect()
        run_id = uuid.uuid4().hex[:12]
        queue = Queue(f"basin-events-{run_id}", client=client)
        state = Variable(f"basin-state-{run_id}", client=client)
        state.set(RUN)
        sent = RUN
        pending = deque(tasks)
        remaining: dict = {}  # future -> task, the units in flight

        def submit_free_slots() -> None:
            if not pending or sent == STOP:
                return
            slots = max(1, sum(client.nthreads().values()))  # re-read: a cluster may grow while it runs
            while pending and len(remaining) < slots:
                task = pending.popleft()
                future = client.submit(_dask_unit, task, queue.name, state.name, pure=False,
                                       key=f"basin-{run_id}-{task.arm}-s{task.seed}")
                remaining[future] = task

        finished: set[tuple[str, int]] = set()
        started: dict[tuple[str, int], str] = {}
        stop_deadline = None
        next_look = time.monotonic() + GROW_LOOK_S
        try:
            submit_free_slots()
            while True:
                wanted = STOP if control.stopped else PAUSE if control.paused else RUN
                if wanted != sent:
                    state.set(wanted)
                    sent = wanted
                    next_look = 0.0  # resumed: fill the free slots now
                    if wanted == STOP:
                        stop_deadline = time.monotonic() + STOP_GRACE_S
                        pending.clear()
                        client.cancel([f for f in remaining if f.status == "pending"])
                got = False
                for blob in queue.get(batch=True):
                    got = True
                    for ev in pickle.loads(blob):  # batches our own tasks pickled (a trusted cluster)
                        if isinstance(ev, _Started):
                            key = (ev.arm, ev.seed)
                            if key in started:
                                yield LogMessage("warning", f"{ev.arm} seed {ev.seed}: its worker {started[key]} was "
                                                            f"lost; the unit starts again from its last checkpoint on "
                                                            f"{ev.worker}")
                            started[key] = ev.worker
                            continue
                        if isinstance(ev, UnitFinished):
                            finished.add((ev.arm, ev.seed))
                        yield ev
                done = [f for f in remaining if f.done()]
                for f in done:
                    task = remaining.pop(f)
                    if f.status == "error" and task.key not in finished:
                        exc = f.exception()
                        msg = f"{task.label}: the cluster gave up on this unit ({type(exc).__name__}: {exc})"
                        yield LogMessage("error", msg)
                        for key in task.keys:  # every seed of a batch that has not ended on its own
                            if key not in finished:
                                finished.add(key)
                                yield UnitFinished(key[0], key[1], "failed", msg)
                if sent == RUN and pending and (done or time.monotonic() >= next_look):
                    submit_free_slots()  # a unit ended, the run resumed, or a while passed (a growing cluster)
                    next_look = time.monotonic() + GROW_LOOK_S
                if not remaining and not pending and not done and not got:
                    return  # every task ended and its last batch (queued before it returned) is drained
                if stop_deadline is not None and time.monotonic() > stop_deadline:
                    return
                if not got:
                    time.sleep(POLL_S)
        finally:
            try:
                state.set(STOP)
                client.cancel(list(remaining))
                state.delete()
                queue.close()
            except Exception:  # noqa: BLE001 - the cluster may already be gone; nothing left to clean
                pass
            for thing in owned:
                thing.close()
