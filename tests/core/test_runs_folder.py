"""The run folder's owner: layout, the writer lock, persistence as a sink and replay as its exact inverse."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from desktop_app.core import config as c
from desktop_app.core.engine.run import resume_experiment, run_experiment
from desktop_app.core.events import (
    CheckpointSaved,
    EpochMetrics,
    FilterSnapshot,
    PretrainEpoch,
    ProbeOutputs,
    RunFinished,
)
from desktop_app.core.runfolder import RunFolder, RunFolderError, RunFolderLocked, is_locked, replay
from desktop_app.core.runfolder.layout import LOCK
from desktop_app.core.runfolder.sink import UNIT_EVENTS
from tests.pause import HANG_S, pause_env, release, wait_paused

REPO = Path(__file__).resolve().parents[2]

TINY = {
    "data": {"n_labelled": 100, "n_valid": 50, "n_test": 100, "probe_size": 10, "n_unlabelled": 100},
    "model": {"layers": [{"kind": "dense", "units": 8}]}, "arms": ["none", "dae"],
    "pretraining": {"dae": {"epochs": 2}}, "finetune": {"epochs": 2, "batch_size": 50},
    "seeds": {"count": 2}, "device": "cpu",
}


def tiny_cfg(**over) -> c.ExperimentConfig:
    return c.from_dict({**TINY, **over})


def _same(a, b) -> bool:
    if type(a) is not type(b):
        return False
    for field in a.__dataclass_fields__:
        x, y = getattr(a, field), getattr(b, field)
        if isinstance(x, np.ndarray):
            if not (x.dtype == y.dtype and np.array_equal(x, y)):
                return False
        elif x != y:
            return False
    return True


def test_replay_is_the_exact_inverse_of_persistence(tmp_path):
    run = tmp_path / "run"
    # per unit, in order (units interleave however the executor ran them; the engine runs the longest unit of a
    # seed first, replay goes seed-major in config order)
    def by_unit(events):
        return sorted((ev for ev in events if isinstance(ev, UNIT_EVENTS)), key=lambda ev: (ev.seed, ev.arm))

    live = by_unit(run_experiment(tiny_cfg(), None, run))
    replayed = by_unit(replay(run))
    assert len(live) == len(replayed) > 0
    assert {type(ev) for ev in live} == {PretrainEpoch, EpochMetrics, FilterSnapshot, ProbeOutputs, CheckpointSaved}
    assert all(_same(a, b) for a, b in zip(live, replayed, strict=True))
    assert not list(run.rglob(".*.tmp"))
    assert not (run / LOCK).exists()  # released at the end
    # metrics.csv is the units' files merged, seed-major with arms in config order
    _header, *merged = (run / "metrics.csv").read_text().splitlines()
    unit_files = [run / "metrics" / f"{arm}_s{seed}.csv" for seed in (0, 1) for arm in ("none", "dae")]
    assert merged == [line for f in unit_files for line in f.read_text().splitlines()[1:]]


def test_paths_stay_inside_and_arm_names_are_checked(tmp_path):
    folder = RunFolder(tmp_path / "run")
    unit = folder.unit("dae", 3)
    assert unit.latest_path == folder.root / "checkpoints" / "dae" / "s3" / "latest.pt"
    assert unit.metrics_path == folder.root / "metrics" / "dae_s3.csv"
    for bad in ("../x", "a/b", "", ".hidden"):
        with pytest.raises(RunFolderError):
            folder.unit(bad, 0)
    with pytest.raises(RunFolderError):
        folder.unit("dae", -1)
    outside = tmp_path / "outside"
    outside.mkdir()
    folder.root.mkdir()
    (folder.root / "snapshots").symlink_to(outside)
    with pytest.raises(RunFolderError, match="leads out of the run folder"):
        folder.save_array(unit.probe_path(0), np.zeros(2))
    with pytest.raises(RunFolderError):
        folder.check_links()
    assert not any(outside.iterdir())


def test_lock_is_exclusive_and_names_the_holder(tmp_path):
    folder = RunFolder(tmp_path / "run")
    with folder.lock() as lock:
        assert json.loads((folder.root / LOCK).read_text())["pid"] == os.getpid()
        assert is_locked(folder.root) is not None
        with pytest.raises(RunFolderLocked, match=f"pid {os.getpid()} on host"):
            folder.lock()
        assert lock.held
    assert not (folder.root / LOCK).exists() and is_locked(folder.root) is None


def test_a_stale_lock_is_taken_over_and_reported(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True)
    folder = RunFolder(tmp_path / "run")
    folder.root.mkdir()
    (folder.root / LOCK).write_text(json.dumps({"pid": int(dead.stdout), "host": socket.gethostname(),
                                                "started": time.time() - 60}))
    (folder.root / ".metrics.csv.abc123.tmp").write_text("half a file")
    assert is_locked(folder.root) is None
    lock = folder.lock()
    assert "stale lock" in lock.stale_message and f"pid {int(dead.stdout)}" in lock.stale_message
    assert lock.removed_temp_files == 1 and not (folder.root / ".metrics.csv.abc123.tmp").exists()
    lock.release()


def test_a_lock_from_another_host_is_refused_with_the_way_out(tmp_path):
    folder = RunFolder(tmp_path / "run")
    folder.root.mkdir()
    (folder.root / LOCK).write_text(json.dumps({"pid": 1, "host": "elsewhere.example", "started": 0}))
    with pytest.raises(RunFolderLocked, match="elsewhere.example.*delete"):
        folder.lock()


def test_engine_refuses_a_locked_folder_and_writes_nothing(tmp_path):
    run = tmp_path / "run"
    with RunFolder(run).lock():
        (ev,) = list(run_experiment(tiny_cfg(), None, run))
        assert isinstance(ev, RunFinished) and ev.status == "refused" and "in use" in ev.message
        assert sorted(p.name for p in run.iterdir()) == [LOCK]
        (ev,) = list(resume_experiment(run))
        assert ev.status == "refused"


def test_a_fresh_run_never_overwrites_a_folder_holding_a_run(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.toml").write_text("name = 'someone else'\n")
    (ev,) = list(run_experiment(tiny_cfg(), None, run))
    assert ev.status == "refused" and "already holds a run" in ev.message
    assert (run / "config.toml").read_text() == "name = 'someone else'\n"


def _cli(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO), "BASIN_WORKSPACE": str(cwd), **(env or {})}
    return subprocess.Popen([sys.executable, "-m", "desktop_app.cli", *args], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_two_cli_runs_into_one_folder_one_fails_at_once(tmp_path):
    """A second run and a resume meet the first while it is held mid-run (``tests.pause``), not whenever a
    race against its speed lets them."""
    cfg_path = tmp_path / "tiny.toml"
    c.save(tiny_cfg(finetune={"epochs": 3, "batch_size": 50}, seeds={"count": 1}), cfg_path)
    out = tmp_path / "shared"
    hold, paused = pause_env(tmp_path, "CheckpointSaved")
    first = _cli("run", str(cfg_path), "--out", str(out), "--quiet", cwd=tmp_path, env=hold)
    try:
        wait_paused(paused, lambda: first.poll() is None, lambda: first.communicate()[1])
        second = _cli("run", str(cfg_path), "--out", str(out), "--quiet", cwd=tmp_path)
        resume = _cli("resume", str(out), "--quiet", cwd=tmp_path)
        _, err2 = second.communicate(timeout=HANG_S)
        _, err3 = resume.communicate(timeout=HANG_S)
        release(paused)
        _, err1 = first.communicate(timeout=HANG_S)
    finally:
        first.kill()
    assert first.returncode == 0, err1
    for proc, err in ((second, err2), (resume, err3)):
        assert proc.returncode == 2, err
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("basin: error:") and "in use" in lines[0], err
    assert c.load(out / "config.toml").finetune.epochs == 3


def test_kill_9_leaves_a_stale_lock_that_resume_takes_over_and_reports(tmp_path):
    cfg_path = tmp_path / "long.toml"
    c.save(tiny_cfg(finetune={"epochs": 3, "batch_size": 50}, seeds={"count": 1}, arms=["none"]), cfg_path)
    out = tmp_path / "killed"
    hold, paused = pause_env(tmp_path, "CheckpointSaved")  # held mid-run, holding the lock, when killed
    proc = _cli("run", str(cfg_path), "--out", str(out), "--quiet", cwd=tmp_path, env=hold)
    try:
        assert wait_paused(paused, lambda: proc.poll() is None, lambda: proc.communicate()[1]) == proc.pid
    finally:
        proc.kill()
        proc.communicate(timeout=HANG_S)
    assert (out / LOCK).exists() and is_locked(out) is None  # left behind, and known to be stale
    resumed = _cli("resume", str(out), "--quiet", cwd=tmp_path)
    first_line = resumed.stderr.readline()  # the warning comes before any training
    resumed.kill()  # it resumes (holding the lock); no need to train on
    resumed.communicate(timeout=HANG_S)
    assert "stale lock" in first_line and f"pid {proc.pid}" in first_line, first_line


def test_an_empty_lock_file_is_live_while_fresh_and_stale_when_old(tmp_path):
    folder = RunFolder(tmp_path / "run")
    folder.root.mkdir()
    (folder.root / LOCK).write_bytes(b"")  # its creator has not written pid and host yet
    with pytest.raises(RunFolderLocked):
        folder.lock()
    os.utime(folder.root / LOCK, (time.time() - 60, time.time() - 60))
    with folder.lock() as lock:
        assert "stale lock" in lock.stale_message
