"""AnalysisRunner: real analyses off the GUI thread, results cached, quick cancel, queue, failures, shutdown."""

import time

import numpy as np
import pytest
from PySide6.QtCore import QThread

from desktop_app.core.analysis.progress import AnalysisProgress, InterpolationResult, LandscapeResult
from desktop_app.core.analysis.store import list_results
from desktop_app.workers.analysis_worker import AnalysisRunner
from tests.analysis_runs import make_run
from tests.pause import HANG_MS

SMALL = {"arm": "dae", "seed": 0, "resolution": 7, "n_eval": 100}


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return make_run(tmp_path_factory.mktemp("worker") / "run")


def slow_job(run_dir, params, control):
    """Never ends on its own: a long computation that checks the control between small steps."""
    i = 0
    while True:
        control.checkpoint()
        time.sleep(0.005)
        i += 1
        yield AnalysisProgress("slow", i, 10**9, None)


def chatty_job(run_dir, params, control):
    """10,000 progress items as fast as possible, then a result: the GUI must not see them all."""
    for i in range(10_000):
        yield AnalysisProgress("chatty", i, 10_000, None)
        if i % 100 == 0:
            time.sleep(0.001)
    yield params["answer"]


def broken_job(run_dir, params, control):
    yield AnalysisProgress("broken", 0, 1, None)
    raise ValueError("no checkpoints for arm 'x'")


@pytest.fixture
def runner(qtbot):
    r = AnalysisRunner(threads=1, jobs=None)
    r.jobs.update({"slow": slow_job, "chatty": chatty_job, "broken": broken_job})
    yield r
    assert r.shutdown(HANG_MS)


def wait_done(qtbot, job, timeout=HANG_MS):
    qtbot.waitUntil(lambda: job.state in ("finished", "failed", "cancelled"), timeout=timeout)


def test_landscape_runs_off_thread_with_partials_and_is_cached(qtbot, runner, run_dir):
    seen = []
    job = runner.start("landscape", run_dir, SMALL)
    job.progress.connect(seen.append)
    with qtbot.waitSignal(job.finished, timeout=30_000) as blocker:
        pass
    result = blocker.args[0]
    assert isinstance(result, LandscapeResult) and result.complete and result.loss.shape == (7, 7)
    assert not runner.is_busy() and job.state == "finished" and job.result is result
    assert all(isinstance(p, AnalysisProgress) for p in seen)
    assert [m["params"]["resolution"] for m in list_results(run_dir, "landscape")] == [7]

    again = runner.start("landscape", run_dir, SMALL)
    wait_done(qtbot, again)
    assert again.state == "finished"
    np.testing.assert_array_equal(again.result.loss, result.loss)
    assert len(list_results(run_dir, "landscape")) == 1  # served from the cache, not recomputed


def test_interpolation_through_the_runner(qtbot, runner, run_dir):
    job = runner.start("interpolation", run_dir, {"arm": "dae", "seed": 1, "n_points": 9, "n_eval": 100})
    wait_done(qtbot, job)
    assert job.state == "finished", job.error
    r = job.result
    assert isinstance(r, InterpolationResult) and len(r.alphas) == 9 and np.isfinite(r.test_loss).all()


def test_cancel_is_quick_and_leaves_no_thread(qtbot, runner, run_dir):
    job = runner.start("slow", run_dir, {})
    with qtbot.waitSignal(job.progress, timeout=HANG_MS):
        pass
    assert runner.is_busy()
    thread = runner._task._thread
    with qtbot.waitSignal(job.cancelled, timeout=HANG_MS):  # an endless job; latency: docs/PERFORMANCE.md
        job.cancel()
    assert job.state == "cancelled" and not runner.is_busy() and not thread.isRunning()


def test_a_real_landscape_cancels_within_a_batch(qtbot, runner, run_dir):
    job = runner.start("landscape", run_dir, {**SMALL, "resolution": 101, "n_eval": 0, "direction_seed": 5})
    with qtbot.waitSignal(job.progress, timeout=HANG_MS):
        pass
    t0 = time.perf_counter()
    runner.cancel()
    wait_done(qtbot, job, HANG_MS)
    assert job.state in ("cancelled", "finished") and time.perf_counter() - t0 < 60.0, job.state
    if job.state == "cancelled":  # a cancelled surface is never cached
        assert not [m for m in list_results(run_dir, "landscape") if m["params"].get("direction_seed") == 5]


def test_jobs_queue_and_a_queued_job_cancels_at_once(qtbot, runner, run_dir):
    first = runner.start("slow", run_dir, {})
    second = runner.start("chatty", run_dir, {"answer": 42})
    third = runner.start("chatty", run_dir, {"answer": 7})
    assert first.state == "running" and second.state == third.state == "queued"
    third.cancel()
    assert third.state == "cancelled" and runner.queued() == [second]
    first.cancel()
    wait_done(qtbot, second)
    assert second.state == "finished" and second.result == 42
    qtbot.waitUntil(lambda: not runner.is_busy())


def test_progress_is_coalesced(qtbot, runner, run_dir):
    seen = []
    t0 = time.perf_counter()
    job = runner.start("chatty", run_dir, {"answer": "done"})
    job.progress.connect(seen.append)
    wait_done(qtbot, job)
    elapsed = time.perf_counter() - t0
    assert job.result == "done"
    assert len(seen) <= elapsed * 20 + 2 < 10_000


def test_failure_is_reported_with_the_message(qtbot, runner, run_dir):
    job = runner.start("broken", run_dir, {})
    with qtbot.waitSignal(runner.failed, timeout=HANG_MS) as blocker:
        pass
    assert "no checkpoints for arm 'x'" in blocker.args[0] and job.state == "failed"
    with pytest.raises(KeyError):
        runner.start("no-such-analysis", run_dir, {})


def test_shutdown_stops_a_running_job(qtbot, run_dir):
    runner = AnalysisRunner(threads=1, jobs={"slow": slow_job})
    job = runner.start("slow", run_dir, {})
    with qtbot.waitSignal(job.progress, timeout=HANG_MS):
        pass
    thread = runner._task._thread
    assert runner.shutdown(HANG_MS)
    assert job.state == "cancelled" and not thread.isRunning() and not runner.is_busy()
    assert isinstance(thread, QThread)
