"""RunController with a fake, fast engine: coalescing, stop, pause, queue order, shutdown."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from desktop_app.core.config import ExperimentConfig
from desktop_app.core.control import RunControl, StopRequested
from desktop_app.core.events import EpochMetrics, Event, LogMessage, Progress, RunFinished, RunStarted
from desktop_app.workers.background import Outbox
from desktop_app.workers.run_controller import RunController
from tests.pause import HANG_MS, HANG_S


class FakeEngine:
    """Yields ``steps`` Progress events (``step_s`` apart) and an EpochMetrics every 100 steps."""

    def __init__(self, steps: int = 2000, step_s: float = 0.0, hold_at: int | None = None) -> None:
        self.steps = steps
        self.step_s = step_s
        self.hold_at = hold_at  # this step waits, after its event, until the test sets ``go`` (``held`` tells it)
        self.held, self.go = threading.Event(), threading.Event()
        self.started: list[str] = []
        self.thread_ids: list[int] = []
        self.torch_threads: list[int] = []

    def run(self, cfg: ExperimentConfig, control: RunControl, run_dir: Path) -> Iterator[Event]:
        import torch

        self.started.append(Path(run_dir).name)
        self.thread_ids.append(threading.get_ident())
        self.torch_threads.append(torch.get_num_threads())
        t0 = time.perf_counter()
        yield RunStarted(str(run_dir), cfg.name, cfg.arms, tuple(cfg.seed_values), "fake", self.steps)
        status = "completed"
        try:
            for i in range(self.steps):
                control.checkpoint()
                if self.step_s:
                    time.sleep(self.step_s)
                yield Progress("none", 0, "finetune", -1, 1 + i // 100, 10, i + 1, self.steps,
                               time.perf_counter() - t0)
                if i % 100 == 99:
                    yield EpochMetrics("none", 0, 1 + i // 100, 1.0, 0.5, 1.0, 0.5, 1.0, 0.5)
                if i == self.hold_at:
                    self.held.set()
                    self.go.wait(HANG_S)
        except StopRequested:
            status = "stopped"
        yield RunFinished(status, str(run_dir), time.perf_counter() - t0)

    def resume(self, run_dir: Path, control: RunControl) -> Iterator[Event]:
        yield from self.run(ExperimentConfig(name="resumed"), control, run_dir)


class Recorder:
    """Collects eventsReady batches with their arrival times (a GUI-thread receiver)."""

    def __init__(self, controller: RunController) -> None:
        self.batches: list[tuple[float, list[Event]]] = []
        self.finished: list[tuple[str, str]] = []
        controller.eventsReady.connect(self.on_events)
        controller.runFinished.connect(self.on_finished)

    def on_events(self, events: list[Event]) -> None:
        self.batches.append((time.perf_counter(), events))

    def on_finished(self, run_dir: str, status: str) -> None:
        self.finished.append((Path(run_dir).name, status))

    @property
    def events(self) -> list[Event]:
        return [ev for _, batch in self.batches for ev in batch]


@pytest.fixture
def make_controller(qtbot):
    made: list[RunController] = []

    def make(engine: FakeEngine) -> tuple[RunController, Recorder]:
        ctrl = RunController(run_fn=engine.run, resume_fn=engine.resume, threads=1)
        made.append(ctrl)
        return ctrl, Recorder(ctrl)

    yield make
    for ctrl in made:
        assert ctrl.shutdown(HANG_MS)


def test_event_buffer_collapses_progress_to_latest() -> None:
    buf = Outbox(collapse=Progress)
    for i in range(5):
        buf.put(Progress("none", 0, "finetune", -1, 1, 1, i, 5, 0.0))
    buf.put(LogMessage("info", "x"))
    buf.put(Progress("none", 0, "finetune", -1, 1, 1, 9, 5, 0.0))
    out = buf.drain()
    assert [type(e).__name__ for e in out] == ["LogMessage", "Progress"]
    assert out[-1].done_steps == 9
    assert buf.drain() == []


def test_coalescing_limits_emissions(qtbot, make_controller, tmp_path) -> None:
    engine = FakeEngine(steps=8_000, step_s=0.00005)
    ctrl, rec = make_controller(engine)
    t0 = time.perf_counter()
    ctrl.start(ExperimentConfig(), tmp_path / "a")
    qtbot.waitUntil(lambda: bool(rec.finished), timeout=HANG_MS)
    elapsed = time.perf_counter() - t0
    # every non-Progress event arrives, in order; emissions stay near 30 per second
    metrics = [ev for ev in rec.events if isinstance(ev, EpochMetrics)]
    assert len(metrics) == 80
    assert isinstance(rec.events[0], RunStarted) and isinstance(rec.events[-1], RunFinished)
    assert len(rec.batches) <= 35 * elapsed + 3, (len(rec.batches), elapsed)
    assert all(sum(isinstance(e, Progress) for e in batch) <= 1 for _, batch in rec.batches)
    # the engine ran off the GUI thread with the requested torch threads
    assert engine.thread_ids[0] != threading.get_ident()
    assert engine.torch_threads == [1]
    assert ctrl.state == "idle" and not ctrl.is_busy()


def test_stop_ends_the_run(qtbot, make_controller, tmp_path) -> None:
    engine = FakeEngine(steps=100_000, step_s=0.001)
    ctrl, rec = make_controller(engine)
    ctrl.start(ExperimentConfig(), tmp_path / "a")
    qtbot.waitUntil(lambda: any(isinstance(e, Progress) for e in rec.events), timeout=HANG_MS)
    ctrl.stop()  # 100 s of work left; the latency itself is measured in bench/stop_latency.py
    qtbot.waitUntil(lambda: bool(rec.finished), timeout=HANG_MS)
    assert rec.finished == [("a", "stopped")]
    assert isinstance(rec.events[-1], RunFinished) and rec.events[-1].status == "stopped"
    assert max(e.done_steps for e in rec.events if isinstance(e, Progress)) < engine.steps  # before its work did


def test_pause_and_resume(qtbot, make_controller, tmp_path) -> None:
    engine = FakeEngine(steps=500, step_s=0.001, hold_at=10)  # paused mid-run on any machine, not after the end
    ctrl, rec = make_controller(engine)
    states: list[str] = []
    ctrl.stateChanged.connect(states.append)
    ctrl.start(ExperimentConfig(), tmp_path / "a")
    qtbot.waitUntil(engine.held.is_set, timeout=HANG_MS)
    ctrl.pause()
    engine.go.set()  # on to the next step, where the pause holds it
    n = -1
    while n != len(rec.events):  # until the events already on their way have come in, however slow the machine
        n = len(rec.events)
        qtbot.wait(500)
    assert not rec.finished and ctrl.state == "paused"  # nothing happens while paused (unpaused: done in 0.5 s)
    ctrl.resume_run()
    qtbot.waitUntil(lambda: bool(rec.finished), timeout=HANG_MS)
    assert rec.finished == [("a", "completed")]
    assert states[:3] == ["running", "paused", "running"] and states[-1] == "idle"


def test_queue_runs_in_order(qtbot, make_controller, tmp_path) -> None:
    engine = FakeEngine(steps=300, step_s=0.0005)
    ctrl, rec = make_controller(engine)
    ctrl.start(ExperimentConfig(), tmp_path / "first")
    ctrl.start(ExperimentConfig(), tmp_path / "second")
    ctrl.resume(tmp_path / "third")
    assert len(ctrl.queued()) == 2
    qtbot.waitUntil(lambda: len(rec.finished) == 3, timeout=HANG_MS)
    assert engine.started == ["first", "second", "third"]
    assert rec.finished == [("first", "completed"), ("second", "completed"), ("third", "completed")]
    started = [Path(e.run_dir).name for e in rec.events if isinstance(e, RunStarted)]
    assert started == ["first", "second", "third"]


def test_engine_exception_becomes_failed_run(qtbot, make_controller, tmp_path) -> None:
    def broken(cfg, control, run_dir):
        yield LogMessage("info", "about to fail")
        raise RuntimeError("boom")

    engine = FakeEngine()
    ctrl, rec = make_controller(engine)
    ctrl._run_fn = broken
    ctrl.start(ExperimentConfig(), tmp_path / "a")
    qtbot.waitUntil(lambda: bool(rec.finished), timeout=HANG_MS)
    assert rec.finished == [("a", "failed")]
    assert "boom" in rec.events[-1].message


def test_shutdown_while_running_leaves_no_thread(qtbot, tmp_path) -> None:
    engine = FakeEngine(steps=100_000, step_s=0.001)
    ctrl = RunController(run_fn=engine.run, resume_fn=engine.resume, threads=1)
    rec = Recorder(ctrl)
    ctrl.start(ExperimentConfig(), tmp_path / "a")
    ctrl.start(ExperimentConfig(), tmp_path / "b")  # queued: must be dropped, not started
    qtbot.waitUntil(lambda: any(isinstance(e, Progress) for e in rec.events), timeout=HANG_MS)
    assert ctrl.shutdown(HANG_MS)  # of 100 s of work (the latency: bench/stop_latency.py)
    assert not ctrl.is_busy() and ctrl.state == "idle"
    assert engine.started == ["a"]
    assert rec.finished == [("a", "stopped")]
    qtbot.wait(50)  # the stale queued `finished` must not restart anything
    assert engine.started == ["a"] and not ctrl.is_busy()
