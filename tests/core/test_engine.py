"""The engine: events, run folder contents, pairing of arms, pause/stop, exact resume, checkpoints."""

import csv
import json
import threading

import numpy as np
import pytest
import torch

from desktop_app.core import config as c
from desktop_app.core.control import RunControl
from desktop_app.core.engine.run import Engine, resume_experiment, run_experiment
from desktop_app.core.events import (
    CheckpointSaved,
    EpochMetrics,
    FilterSnapshot,
    PretrainEpoch,
    ProbeOutputs,
    Progress,
    RunFinished,
    RunStarted,
    UnitFinished,
)
from desktop_app.core.runfolder.workspace import read_manifest
from desktop_app.core.training.step import load_checkpoint
from tests.pause import HANG_S, quiet, wait_until


def tiny(**over) -> c.ExperimentConfig:
    base = c.from_dict(
        {
            "name": "tiny",
            "arms": ["none", "rbm", "dae"],
            "data": {"n_labelled": 300, "n_valid": 100, "n_test": 200, "probe_size": 50, "n_unlabelled": 400},
            "model": {"layers": [{"kind": "dense", "units": 32}]},
            "pretraining": {"rbm": {"epochs": 2, "batch_size": 20}, "dae": {"epochs": 2, "batch_size": 20}},
            "finetune": {"epochs": 3, "batch_size": 20, "lr": 0.1},
            "seeds": {"count": 2},
            "snapshots": {"max_filters": 16},
            "device": "cpu",
        }
    )
    return base.with_overrides(over) if over else base


def collect(cfg, run_dir, control=None):
    return list(run_experiment(cfg, control, run_dir))


def test_events_and_run_folder(tmp_path):
    cfg = tiny()
    events = collect(cfg, tmp_path / "run")
    assert isinstance(events[0], RunStarted) and isinstance(events[-1], RunFinished)
    assert events[-1].status == "completed", events[-1].message
    metrics = [e for e in events if isinstance(e, EpochMetrics)]
    assert len(metrics) == 3 * 2 * (3 + 1)  # arms x seeds x (epoch 0 + 3 epochs)
    pre = [e for e in events if isinstance(e, PretrainEpoch)]
    assert len(pre) == 2 * 2 * 2  # (rbm, dae) x seeds x epochs
    assert all(np.isfinite(e.recon_error) and e.recon_error > 0 for e in pre)
    run = tmp_path / "run"
    for name in ("config.toml", "manifest.json", "metrics.csv"):
        assert (run / name).exists(), name
    assert c.load(run / "config.toml") == cfg
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["status"] == "completed" and manifest["config_hash"] == cfg.hash()
    assert manifest["seeds"] == [0, 1] and manifest["device"].startswith("CPU")
    assert "torch" in manifest["versions"]
    rows = list(csv.DictReader(open(run / "metrics.csv")))
    assert {"arm", "seed", "phase", "epoch", "split", "nll", "error"} <= set(rows[0])
    ft = [r for r in rows if r["phase"] == "finetune"]
    assert len(ft) == 3 * 2 * 4 * 3
    # metrics.csv holds exactly what the events said
    last = [e for e in metrics if e.arm == "dae" and e.seed == 1 and e.epoch == 3][0]
    row = [r for r in ft if r["arm"] == "dae" and r["seed"] == "1" and r["epoch"] == "3" and r["split"] == "test"]
    assert float(row[0]["nll"]) == pytest.approx(last.test_nll) and float(row[0]["error"]) == last.test_error
    # snapshots: first-layer filters after init, each pre-training epoch and each fine-tuning epoch
    snaps = [e for e in events if isinstance(e, FilterSnapshot) and e.arm == "rbm" and e.seed == 0]
    assert [(s.phase, s.epoch) for s in snaps] == [("init", 0), ("pretrain", 1), ("pretrain", 2),
                                                    ("finetune", 1), ("finetune", 2), ("finetune", 3)]
    assert snaps[0].weights.shape == (16, 784) and snaps[0].weights.dtype == np.float32
    assert snaps[0].input_shape == (1, 28, 28)
    probes = [e for e in events if isinstance(e, ProbeOutputs)]
    assert probes[0].outputs.shape == (50, 10)
    np.testing.assert_allclose(probes[0].outputs.sum(1), 1.0, atol=1e-5)
    assert len(list((run / "snapshots" / "rbm" / "s0").glob("filters_*.npy"))) == 6


def test_metrics_match_an_independent_evaluation(tmp_path):
    """Test NLL/error in metrics equal a plain re-evaluation of the saved final checkpoint."""
    from desktop_app.core.data import load_data
    from desktop_app.core.training.models import build_model

    cfg = tiny(arms=["none"], **{"seeds.count": 1})
    events = collect(cfg, tmp_path / "run")
    final = [e for e in events if isinstance(e, EpochMetrics)][-1]
    ck = load_checkpoint(tmp_path / "run" / "checkpoints" / "none" / "s0" / "e0003.pt")
    data = load_data(cfg.data)
    net = build_model(cfg.model, data.input_shape, data.n_classes, seed=0)
    net.load_state_dict(ck["model"])
    net.eval()
    with torch.no_grad():
        logits = net(data.test_x)
        nll = torch.nn.functional.cross_entropy(logits, data.test_y).item()
        err = (logits.argmax(1) != data.test_y).float().mean().item()
    assert final.test_nll == pytest.approx(nll, rel=1e-5)
    assert final.test_error == pytest.approx(err)


def test_arms_are_paired_by_seed(tmp_path):
    events = collect(tiny(), tmp_path / "run")
    init = {(e.arm, e.seed): e.weights for e in events if isinstance(e, FilterSnapshot) and e.phase == "init"}
    np.testing.assert_array_equal(init[("none", 0)], init[("rbm", 0)])
    np.testing.assert_array_equal(init[("none", 0)], init[("dae", 0)])
    assert not np.array_equal(init[("none", 0)], init[("none", 1)])
    # same seed, same arm, fresh run: identical numbers (determinism on CPU)
    again = collect(tiny(arms=["none"]), tmp_path / "again")
    a = [e for e in events if isinstance(e, EpochMetrics) and e.arm == "none"]
    b = [e for e in again if isinstance(e, EpochMetrics)]
    assert a == b


def test_pretraining_changes_first_layer_and_none_does_not(tmp_path):
    events = collect(tiny(), tmp_path / "run")
    snaps = {(e.arm, e.phase, e.epoch): e.weights for e in events if isinstance(e, FilterSnapshot) and e.seed == 0}
    assert not np.allclose(snaps[("rbm", "init", 0)], snaps[("rbm", "pretrain", 2)])
    assert not np.allclose(snaps[("dae", "init", 0)], snaps[("dae", "pretrain", 2)])
    epoch0 = {e.arm: e for e in events if isinstance(e, EpochMetrics) and e.seed == 0 and e.epoch == 0}
    assert epoch0["rbm"].test_nll != epoch0["none"].test_nll


def test_stop_takes_effect_within_one_minibatch(tmp_path):
    cfg = tiny(arms=["none"], **{"finetune.batch_size": 1, "seeds.count": 1})
    control = RunControl()
    engine = Engine(cfg, control, tmp_path / "run", resume=False)
    at_stop = None
    events = []
    for ev in engine.events():
        events.append(ev)
        if isinstance(ev, Progress) and ev.phase == "finetune" and at_stop is None:
            control.stop()
            at_stop = engine.done_steps
    assert events[-1].status == "stopped"
    assert engine.done_steps - at_stop <= 1
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["status"] == "stopped"


def test_pause_blocks_and_resume_continues(tmp_path):
    cfg = tiny(arms=["none"], **{"seeds.count": 1})
    control = RunControl()
    engine = Engine(cfg, control, tmp_path / "run", resume=False)
    events = []
    control.pause()
    t = threading.Thread(target=lambda: events.extend(engine.events()))
    t.start()
    # the unit got as far as a paused unit gets (its initial filters, then its first minibatch's checkpoint)
    wait_until(lambda: any(isinstance(e, FilterSnapshot) for e in events), "the unit's initial filters")
    quiet(events)
    assert t.is_alive() and engine.done_steps == 0  # nothing moves while paused
    assert not any(isinstance(e, RunFinished) for e in events)
    control.resume()
    t.join(timeout=HANG_S)
    assert not t.is_alive()
    assert events[-1].status == "completed"


def test_resume_is_exact(tmp_path):
    cfg = tiny(arms=["none", "dae"], **{"finetune.epochs": 4, "seeds.count": 1, "model.dropout": 0.2})
    straight = collect(cfg, tmp_path / "straight")
    control = RunControl()
    part = []
    for ev in run_experiment(cfg, control, tmp_path / "resumed"):
        part.append(ev)
        if isinstance(ev, EpochMetrics) and ev.arm == "dae" and ev.epoch == 2:
            control.stop()
    assert part[-1].status == "stopped"
    rest = list(resume_experiment(tmp_path / "resumed"))
    assert rest[0].resumed and rest[-1].status == "completed"

    def table(path):
        return [
            (r["arm"], r["seed"], r["phase"], r["layer"], r["epoch"], r["split"], r["nll"], r["error"],
             r["recon_error"])
            for r in csv.DictReader(open(path / "metrics.csv"))
        ]

    assert table(tmp_path / "straight") == table(tmp_path / "resumed")
    finals = [e for e in straight if isinstance(e, EpochMetrics)][-1]
    assert finals == [e for e in rest if isinstance(e, EpochMetrics)][-1]


def test_checkpoints_hold_only_tensors_and_primitives(tmp_path):
    events = collect(tiny(arms=["none"], **{"seeds.count": 1}), tmp_path / "run")
    saved = [e for e in events if isinstance(e, CheckpointSaved)]
    assert [e.epoch for e in saved] == [0, 1, 2, 3]
    latest = torch.load(tmp_path / "run" / "checkpoints" / "none" / "s0" / "latest.pt", weights_only=True)
    assert latest["stage"] == "done" and latest["epoch"] == 3
    assert set(latest) >= {"model", "optimizer", "epoch", "torch_rng", "config"}
    assert c.from_toml(latest["config"]).name == "tiny"


def test_bad_config_fails_cleanly(tmp_path):
    cfg = c.from_dict({"data": {"n_labelled": 99999}, "device": "cpu"}, validate=False)
    events = collect(cfg, tmp_path / "run")
    assert events[-1].status == "failed"
    assert "data.n_labelled" in events[-1].message


def test_elapsed_time_survives_a_killed_process(tmp_path):
    """The manifest holds the time of every finished unit while the run goes on, and a resume adds to it."""
    cfg = tiny(**{"arms": ["none", "dae"], "seeds.count": 1})
    run_dir = tmp_path / "run"
    events = run_experiment(cfg, RunControl(), run_dir)
    first_done = False
    for ev in events:  # stop consuming (as if the process were killed) once the second unit is under way
        first_done = first_done or isinstance(ev, UnitFinished)
        if first_done and isinstance(ev, EpochMetrics):
            break
    recorded = read_manifest(run_dir)["elapsed_s"]  # written when the first unit finished
    assert recorded > 0 and read_manifest(run_dir)["status"] == "running"
    events.close()
    before = read_manifest(run_dir)["elapsed_s"]
    for _ in resume_experiment(run_dir):
        pass
    after = read_manifest(run_dir)
    assert after["status"] == "completed" and after["elapsed_s"] > before >= recorded
