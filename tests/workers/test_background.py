"""Task, the one background-work pattern: coalesced delivery, pause/stop, errors, clean shutdown, GC safety."""

from __future__ import annotations

import gc
import threading
import time

import pytest

from desktop_app.core.control import RunControl
from desktop_app.workers import background
from desktop_app.workers.background import Outbox, Task
from tests.pause import HANG_MS


class Tick:
    """A progress report: the kind of item a task collapses."""

    def __init__(self, i: int) -> None:
        self.i = i


class Recorder:
    """GUI-thread receiver of a task's signals (bound methods, as docs/ARCHITECTURE.md requires)."""

    def __init__(self, task: Task) -> None:
        self.batches: list[tuple[float, list]] = []
        self.ended_at: float | None = None
        self.thread_running_at_end: bool | None = None
        self.task = task
        task.items.connect(self.on_items)
        task.ended.connect(self.on_ended)

    def on_items(self, items: list) -> None:
        self.batches.append((time.perf_counter(), items))

    def on_ended(self) -> None:
        self.ended_at = time.perf_counter()
        self.thread_running_at_end = self.task._thread.isRunning()

    @property
    def items(self) -> list:
        return [x for _, batch in self.batches for x in batch]


def chatty(control: RunControl, n: int = 20_000, every: int = 1000):
    for i in range(n):
        control.checkpoint()
        yield Tick(i)
        if i % every == every - 1:
            yield f"milestone {i}"
            time.sleep(0.002)


def endless(control: RunControl, seen: list):
    i = 0
    while True:
        control.checkpoint()
        time.sleep(0.002)
        seen.append(i)
        i += 1
        yield Tick(i)


def test_outbox_keeps_order_and_only_the_latest_collapsed_item() -> None:
    box = Outbox(collapse=Tick)
    for i in range(1000):
        box.put(Tick(i))
    box.put("a")
    box.put(Tick(1000))
    box.put("b")
    assert len(box) == 3  # the collapsed items were dropped as they came, not held until the drain
    out = box.drain()
    assert [x if isinstance(x, str) else x.i for x in out] == ["a", 1000, "b"]
    assert box.drain() == []


def test_items_are_coalesced_at_30_hz_in_order_and_end_after_the_thread(qtbot) -> None:
    task = Task(chatty, name="chatty", collapse=Tick)
    rec = Recorder(task)
    t0 = time.perf_counter()
    task.start()
    qtbot.waitUntil(lambda: task.done, timeout=HANG_MS)
    elapsed = time.perf_counter() - t0
    milestones = [x for x in rec.items if isinstance(x, str)]
    assert milestones == [f"milestone {i}" for i in range(999, 20_000, 1000)]
    assert len(rec.batches) <= 30 * elapsed + 2, (len(rec.batches), elapsed)
    assert all(sum(isinstance(x, Tick) for x in batch) <= 1 for _, batch in rec.batches)
    assert isinstance(task.last, str) and task.last == "milestone 19999"
    assert rec.thread_running_at_end is False and not task.running
    assert task.error is None and not task.stopped and task.seconds > 0
    assert task not in background._RUNNING


def test_stop_ends_the_generator_normally_within_a_step(qtbot) -> None:
    closed = threading.Event()

    def job(control: RunControl):
        try:
            yield from endless(control, [])
        finally:
            closed.set()  # runs on the task thread when the stop arrives, not at garbage collection

    task = Task(job, name="endless", collapse=Tick)
    rec = Recorder(task)
    task.start()
    qtbot.waitUntil(lambda: bool(rec.items), timeout=HANG_MS)
    task.stop()  # an endless job: ending at all is the behaviour; latency: docs/PERFORMANCE.md, background work
    qtbot.waitUntil(lambda: task.done, timeout=HANG_MS)
    assert closed.is_set() and task.stopped and task.error is None


def test_pause_holds_the_generator_and_resume_continues(qtbot) -> None:
    seen: list[int] = []
    task = Task(lambda control: endless(control, seen), name="pausable")
    task.start()
    qtbot.waitUntil(lambda: len(seen) > 3, timeout=HANG_MS)
    task.pause()
    n = -1
    while n != len(seen):  # the step under way when the pause came ends, however slow the machine; then none
        n = len(seen)
        qtbot.wait(300)  # unpaused, a step takes 2 ms
    assert task.paused
    task.resume()
    qtbot.waitUntil(lambda: len(seen) > n + 3, timeout=HANG_MS)
    task.stop()
    assert task.wait(HANG_MS) and task.done


@pytest.mark.parametrize("exc", [RuntimeError("size mismatch for layer 0"), ValueError("bad field")])
def test_an_exception_is_kept_for_the_owner_and_the_task_still_ends(qtbot, exc) -> None:
    def job(control: RunControl):
        yield Tick(0)
        raise exc

    task = Task(job, name="broken")
    rec = Recorder(task)
    with qtbot.waitSignal(task.ended, timeout=HANG_MS):
        task.start()
    assert task.error is exc and rec.items and not task.stopped


def test_wait_after_stop_is_the_clean_shutdown(qtbot) -> None:
    task = Task(lambda control: endless(control, []), name="shutdown")
    rec = Recorder(task)
    task.start()
    qtbot.waitUntil(lambda: bool(rec.batches), timeout=HANG_MS)
    task.stop()
    assert task.wait(HANG_MS)  # an endless job: ending at all is the behaviour
    assert rec.ended_at is not None and not task._thread.isRunning()  # ended was delivered synchronously
    qtbot.wait(50)  # the thread's queued `finished` arrives later and changes nothing
    assert task.done and rec.ended_at is not None


def test_a_running_task_survives_losing_every_reference(qtbot) -> None:
    seen: list[int] = []
    task = Task(lambda control: endless(control, seen), name="orphan")
    task.start()
    ref = task
    del task
    gc.collect()  # a QThread destroyed while running would abort the process here
    qtbot.waitUntil(lambda: len(seen) > 3, timeout=HANG_MS)
    assert ref in background._RUNNING
    ref.stop()
    assert ref.wait(HANG_MS) and ref not in background._RUNNING


def test_torch_threads_are_set_on_the_task_thread(qtbot) -> None:
    import torch

    seen: dict[str, int] = {}

    def job(control: RunControl):
        seen["task"] = torch.get_num_threads()
        seen["ident"] = threading.get_ident()
        yield 1

    before = torch.get_num_threads()
    task = Task(job, name="threads", threads=2)
    task.start()
    assert task.wait(5000)
    assert seen["task"] == 2 and seen["ident"] != threading.get_ident()
    assert torch.get_num_threads() == before  # the GUI thread's setting is untouched


def test_a_task_starts_once(qtbot) -> None:
    task = Task(lambda control: iter([1]), name="once")
    task.start()
    with pytest.raises(RuntimeError, match="already started"):
        task.start()
    assert task.wait(HANG_MS) and task.last == 1
