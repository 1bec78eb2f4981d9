"""Units run anywhere: local worker processes and a Dask cluster give exactly the numbers of the sequential
engine at the same thread count; pause, stop, resume and a killed worker keep that true. Real processes and a
real distributed.LocalCluster, tiny nets."""

import csv
import io
import multiprocessing as mp
import os
import signal
import threading

import pytest

from desktop_app import cli
from desktop_app.core.control import RunControl
from desktop_app.core.engine.run import resume_experiment, run_experiment
from desktop_app.core.events import (
    CheckpointSaved,
    EpochMetrics,
    LogMessage,
    Progress,
    RunFinished,
    UnitFinished,
)
from desktop_app.core.execution import make_executor, physical_cores, resolve_workers
from desktop_app.core.runfolder.workspace import read_manifest
from tests.core.test_engine import tiny
from tests.pause import HANG_S, pause_env, quiet, release, wait_paused


def cfg_for(backend: str, workers: int = 2, **over):
    base = {"arms": ["none", "dae"], "seeds.count": 2, "threads": 1, "finetune.epochs": 3,
            "execution.backend": backend, "execution.workers": workers}
    return tiny(**{**base, **over})


def table(run_dir):
    """Every metric row, without wall_s (seconds each unit ran: a measurement that differs between any two runs)."""
    with open(run_dir / "metrics.csv", newline="") as fh:
        return sorted(tuple(v for k, v in r.items() if k != "wall_s") for r in csv.DictReader(fh))


@pytest.fixture(scope="module")
def sequential(tmp_path_factory):
    """The reference: the same units one after another in this process, one torch thread."""
    run_dir = tmp_path_factory.mktemp("seq") / "run"
    events = list(run_experiment(cfg_for("inline"), None, run_dir))
    assert events[-1].status == "completed"
    return run_dir


def test_local_workers_give_the_sequential_numbers(sequential, tmp_path):
    run_dir = tmp_path / "run"
    events = list(run_experiment(cfg_for("local"), None, run_dir))
    assert events[-1].status == "completed", events[-1].message
    assert table(run_dir) == table(sequential)  # every metric of every unit, bit for bit
    finished = [e for e in events if isinstance(e, UnitFinished)]
    assert sorted((e.arm, e.seed, e.status) for e in finished) == [
        ("dae", 0, "completed"), ("dae", 1, "completed"), ("none", 0, "completed"), ("none", 1, "completed")]
    assert any(isinstance(e, LogMessage) and "2 local worker process" in e.text for e in events)
    progress = [e for e in events if isinstance(e, Progress)]
    assert progress and all(p.total_steps == progress[0].total_steps for p in progress)
    assert max(p.done_steps for p in progress) == progress[0].total_steps  # the bar covers every unit
    assert read_manifest(run_dir)["status"] == "completed"
    assert not mp.active_children()  # every worker process ended with the run


def test_units_go_seed_major_with_the_longest_unit_of_each_seed_first(tmp_path):
    """Workers pull the next unit when free: pre-training units before 'none' within each seed, so two workers
    end together, and a stopped run still holds whole pairs (seed 0's units before seed 1's)."""
    cfg = cfg_for("local", workers=1, arms=["none", "dae"])
    events = list(run_experiment(cfg, None, tmp_path / "run"))
    order = [(e.arm, e.seed) for e in events if isinstance(e, UnitFinished)]
    assert order == [("dae", 0), ("none", 0), ("dae", 1), ("none", 1)]


def test_events_stream_live_and_pause_holds_every_worker(tmp_path):
    control = RunControl()
    cfg = cfg_for("local", **{"finetune.epochs": 6})
    seen, paused_at = [], threading.Event()
    t = threading.Thread(target=lambda: seen.extend(_paused_at_epoch_1(cfg, control, tmp_path / "run", paused_at)))
    t.start()
    assert paused_at.wait(HANG_S)
    n = quiet(seen)
    # held, not ended: no unit finished while paused (unpaused, the run's 6-epoch units end in seconds)
    assert t.is_alive() and not any(isinstance(e, UnitFinished | RunFinished) for e in seen[:n])
    control.resume()
    t.join(timeout=HANG_S)
    assert not t.is_alive() and seen[-1].status == "completed"


def _paused_at_epoch_1(cfg, control, run_dir, paused_at):
    for ev in run_experiment(cfg, control, run_dir):
        if isinstance(ev, EpochMetrics) and ev.epoch == 1 and not paused_at.is_set():
            control.pause()  # a unit is still mid-run: its first epoch streamed in before it finished
            paused_at.set()
        yield ev


def test_stop_ends_every_unit_and_resume_finishes_exactly(sequential, tmp_path):
    control = RunControl()
    run_dir = tmp_path / "run"
    events = []
    for ev in run_experiment(cfg_for("local"), control, run_dir):
        events.append(ev)
        if isinstance(ev, CheckpointSaved) and ev.epoch == 1:
            control.stop()
    assert isinstance(events[-1], RunFinished) and events[-1].status == "stopped"
    # stopped while the first two units ran: seed 1's units never started (latency: bench/stop_latency.py)
    completed = [e for e in events if isinstance(e, UnitFinished) and e.status == "completed"]
    assert len(completed) <= 2
    assert not mp.active_children()  # every unit and worker process ended
    assert read_manifest(run_dir)["status"] == "stopped"
    rest = list(resume_experiment(run_dir, workers=2))
    assert rest[-1].status == "completed"
    assert table(run_dir) == table(sequential)


def consume_in_thread(events: list, *args, **kw) -> threading.Thread:
    t = threading.Thread(target=lambda: events.extend(run_experiment(*args, **kw)))
    t.start()
    return t


def test_a_killed_worker_restarts_its_unit_from_its_checkpoint(sequential, tmp_path, monkeypatch):
    """The first unit to save a checkpoint is held there (``tests.pause``) and its worker killed: mid-unit, on a
    machine of any speed."""
    hold, paused = pause_env(tmp_path, "CheckpointSaved")
    for k, v in hold.items():
        monkeypatch.setenv(k, v)  # the spawned workers inherit it
    run_dir = tmp_path / "run"
    events = []
    t = consume_in_thread(events, cfg_for("local"), None, run_dir)
    try:
        pid = wait_paused(paused, t.is_alive)
        assert pid in {p.pid for p in mp.active_children()}  # a worker process, holding its unit
        os.kill(pid, signal.SIGKILL)
    finally:
        release(paused)
        t.join(HANG_S)
    assert not t.is_alive()
    warnings = [e for e in events if isinstance(e, LogMessage) and e.level == "warning"]
    assert any(f"pid {pid}" in e.text and "starts again from its last checkpoint" in e.text for e in warnings)
    assert events[-1].status == "completed", events[-1].message
    assert table(run_dir) == table(sequential)


def test_a_diverged_unit_in_a_worker_ends_alone(tmp_path):
    cfg = cfg_for("local", **{"model.activation": "relu", "model.layers": [{"kind": "dense", "units": 64}] * 2,
                              "pretraining.dae.lr": 10.0, "pretraining.dae.noise": "gaussian"})
    events = list(run_experiment(cfg, None, tmp_path / "run"))
    status = {(e.arm, e.seed): e.status for e in events if isinstance(e, UnitFinished)}
    assert status == {("none", 0): "completed", ("dae", 0): "diverged", ("none", 1): "completed",
                      ("dae", 1): "diverged"}
    assert events[-1].status == "diverged"
    assert set(read_manifest(tmp_path / "run")["units"]) == {"dae/s0", "dae/s1"}


def test_cli_workers_flag(sequential, tmp_path, capsys):
    out = tmp_path / "r"
    cfg_path = tmp_path / "cfg.toml"
    cfg_path.write_text(cfg_for("auto", workers=0).to_toml())
    code = cli.main(["run", str(cfg_path), "--out", str(out), "--quiet", "--workers", "2"], out=io.StringIO())
    assert code == 0
    assert table(out) == table(sequential)
    assert read_manifest(out)["status"] == "completed"
    assert "on 2 local worker process(es)" in capsys.readouterr().err


def test_worker_counts(monkeypatch):
    assert physical_cores() >= 1
    monkeypatch.setenv("BASIN_WORKERS", "3")
    assert resolve_workers(0) == 3 and resolve_workers(5) == 5
    ex = cfg_for("auto", workers=0).execution
    assert make_executor(ex, n_units=4).name == "local"
    assert make_executor(ex, n_units=1).name == "inline"
    monkeypatch.setenv("BASIN_WORKERS", "1")
    assert make_executor(ex, n_units=4).name == "inline"


def test_dask_local_cluster_gives_the_sequential_numbers(sequential, tmp_path):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        cfg = cfg_for("dask", **{"execution.address": cluster.scheduler_address})
        events = list(run_experiment(cfg, None, tmp_path / "run"))
    assert events[-1].status == "completed", events[-1].message
    assert table(tmp_path / "run") == table(sequential)
    metrics = [e for e in events if isinstance(e, EpochMetrics)]
    assert len(metrics) == 2 * 2 * 4  # events streamed back from the workers: every unit's every epoch
    assert any(isinstance(e, LogMessage) and "Dask workers" in e.text for e in events)


def test_dask_worker_killed_mid_unit_reruns_it_from_its_checkpoint(sequential, tmp_path, monkeypatch):
    """The first unit to save a checkpoint is held there (``tests.pause``) and its Dask worker process killed."""
    distributed = pytest.importorskip("distributed")
    from desktop_app.core.execution.cluster import DaskExecutor

    hold, paused = pause_env(tmp_path, "CheckpointSaved")
    for k, v in hold.items():
        monkeypatch.setenv(k, v)  # the cluster's worker processes (and a nanny's restarted one) inherit it
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        address = {pid: addr for addr, pid in client.run(os.getpid).items()}  # a nanny restarts a killed one
        events = []
        t = consume_in_thread(events, cfg_for("dask"), None, tmp_path / "run", executor=DaskExecutor(client=client))
        try:
            pid = wait_paused(paused, t.is_alive)
            killed = address[pid]
            os.kill(pid, signal.SIGKILL)
        finally:
            release(paused)
            t.join(HANG_S)
        assert not t.is_alive()
    lost = [e for e in events if isinstance(e, LogMessage) and e.level == "warning" and killed in e.text]
    assert lost and "starts again from its last checkpoint" in lost[0].text
    assert events[-1].status == "completed", events[-1].message
    assert table(tmp_path / "run") == table(sequential)
