"""A completed online run's final nets (new-user report finding 7): an online unit keeps only ``latest.pt``, so the
done units' resume states are listed as phase "final" checkpoints, live and on replay alike, and export through
the checked loader."""

from __future__ import annotations

import shutil

import pytest
import torch

from desktop_app.core.engine.run import run_experiment
from desktop_app.core.events import FINAL_NET, CheckpointSaved
from desktop_app.core.runfolder import RunFolder, read_online, replay
from desktop_app.core.training.checkpoints import export_model, open_checkpoint, read_resume_state
from tests.core.test_online import tiny


@pytest.fixture(scope="module")
def online_run(tmp_path_factory):
    cfg = tiny()
    run_dir = tmp_path_factory.mktemp("online") / "run"
    evs = list(run_experiment(cfg, None, run_dir))
    assert evs[-1].status == "completed"
    return cfg, run_dir, evs


def finals(events) -> list[tuple[str, int, str, int, str]]:
    return sorted((e.arm, e.seed, e.phase, e.epoch, e.path) for e in events if isinstance(e, CheckpointSaved))


def test_each_done_unit_lists_its_final_net_live_and_on_replay(online_run):
    cfg, run_dir, evs = online_run
    folder = RunFolder(run_dir)
    points = read_online(run_dir)  # each unit's evaluation points, all recorded: its last one ends the stream
    want = sorted((arm, seed, FINAL_NET, sum((p.arm, p.seed) == (arm, seed) for p in points),
                   str(folder.unit(arm, seed).latest_path)) for arm in cfg.arms for seed in cfg.seed_values)
    assert all(w[3] >= 2 for w in want)
    assert finals(evs) == want
    assert finals(replay(run_dir)) == want
    for arm, seed, *_ in want:  # what is listed is a done state (read by the one resume-state reader)
        assert read_resume_state(folder.unit(arm, seed))["stage"] == "done"


def test_a_final_net_exports_through_the_checked_loader(online_run, tmp_path):
    cfg, run_dir, _ = online_run
    unit = RunFolder(run_dir).unit("dae", 0)
    pt, st = export_model(unit.latest_path, tmp_path / "final-dae-s0")
    state = read_resume_state(unit)
    for exported in (pt, st):
        got = open_checkpoint(exported)
        assert got["experiment"].kind == "online" and got["arm"] == "dae" and got["seed"] == 0
        assert got["model"].keys() == state["model"].keys()
        assert all(torch.equal(got["model"][k], state["model"][k]) for k in state["model"])


def test_a_unit_whose_stream_is_not_done_lists_no_final_net(online_run, tmp_path):
    cfg, run_dir, _ = online_run
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    online = RunFolder(copy).unit("none", 0).online_path  # its last evaluation point not reached
    online.write_text("".join(online.read_text().splitlines(keepends=True)[:-1]))
    listed = {(arm, seed) for arm, seed, *_ in finals(replay(copy))}
    assert ("none", 0) not in listed and ("dae", 0) in listed


def test_a_standard_run_lists_no_final_net(tmp_path):
    from bench.run_table import write_run

    run_dir = write_run(tmp_path, "std", {})
    unit = RunFolder(run_dir).unit("none", 0)
    unit.latest_path.parent.mkdir(parents=True, exist_ok=True)
    unit.latest_path.write_bytes(b"not read: listing opens no checkpoint")
    assert finals(replay(run_dir)) == []
