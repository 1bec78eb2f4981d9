"""The storage policy (issue 25): ``snapshots.keep_seeds`` and ``snapshots.every`` decide which seeds and epochs
get filters, probe outputs and trajectory checkpoints; every seed keeps its metrics and resume state, so a
stopped study resumes to the same numbers, and the hash of a config that does not use the policy is unchanged."""

import csv

from desktop_app.core import config as c
from desktop_app.core.control import RunControl
from desktop_app.core.engine.run import resume_experiment, run_experiment
from desktop_app.core.events import CheckpointSaved, EpochMetrics, FilterSnapshot, ProbeOutputs
from desktop_app.core.runfolder import RunFolder
from desktop_app.core.training.checkpoints import read_resume_state


def tiny(**over) -> c.ExperimentConfig:
    base = c.from_dict({
        "name": "policy", "arms": ["none", "dae"],
        "data": {"n_labelled": 200, "n_valid": 100, "n_test": 200, "probe_size": 50, "n_unlabelled": 300},
        "model": {"layers": [{"kind": "dense", "units": 16}], "dropout": 0.2},
        "pretraining": {"dae": {"epochs": 1, "batch_size": 20}},
        "finetune": {"epochs": 4, "batch_size": 20, "lr": 0.1},
        "seeds": {"count": 3, "base": 5},
        "snapshots": {"max_filters": 8, "keep_seeds": 1, "every": 2},
        "device": "cpu",
    })
    return base.with_overrides(over) if over else base


def table(path):
    return [(r["arm"], r["seed"], r["phase"], r["layer"], r["epoch"], r["split"], r["nll"], r["error"],
             r["recon_error"]) for r in csv.DictReader(open(path / "metrics.csv"))]


def test_the_policy_keeps_snapshots_for_the_first_seeds_and_resume_stays_exact(tmp_path):
    cfg = tiny()
    straight = list(run_experiment(cfg, None, tmp_path / "straight"))
    assert straight[-1].status == "completed", straight[-1].message
    kept = {(e.arm, e.seed) for e in straight if isinstance(e, FilterSnapshot | ProbeOutputs | CheckpointSaved)}
    assert kept == {("none", 5), ("dae", 5)}  # seed index 0 of 3 (base 5)
    probe_epochs = sorted({e.epoch for e in straight if isinstance(e, ProbeOutputs)})
    assert probe_epochs == [0, 2, 4]  # every 2, with epoch 0 and the last
    assert sorted({e.epoch for e in straight if isinstance(e, CheckpointSaved)}) == [0, 1, 2, 3, 4]
    folder = RunFolder(tmp_path / "straight")
    model_keys = read_resume_state(folder.unit("none", 5))["model"].keys()
    assert {(a, s) for a, s, _ in folder.snapshots()} == {("none", 5), ("dae", 5)}
    assert {(a, s) for a, s, *_ in folder.checkpoints()} == {("none", 5), ("dae", 5)}
    for seed in (5, 6, 7):  # every seed: metrics and a resume state holding its final weights
        for arm in cfg.arms:
            state = read_resume_state(folder.unit(arm, seed))
            assert state["stage"] == "done" and set(state["model"]) == set(model_keys)
            assert bool(state["optimizer"]) == (seed == 5)  # a finished seed without snapshots: no optimizer
    assert len({(r[0], r[1]) for r in table(tmp_path / "straight")}) == 6

    control = RunControl()
    for ev in run_experiment(cfg, control, tmp_path / "resumed"):
        if isinstance(ev, EpochMetrics) and (ev.arm, ev.seed, ev.epoch) == ("dae", 6, 2):
            control.stop()  # a seed without snapshots, mid fine-tuning
    rest = list(resume_experiment(tmp_path / "resumed"))
    assert rest[0].resumed and rest[-1].status == "completed", rest[-1].message
    assert table(tmp_path / "straight") == table(tmp_path / "resumed")
    resumed = RunFolder(tmp_path / "resumed")
    assert sorted(p.name for *_, p in resumed.snapshots()) == sorted(p.name for *_, p in folder.snapshots())


def test_the_policy_at_its_defaults_leaves_the_hash_alone():
    plain = tiny(**{"snapshots.keep_seeds": 0, "snapshots.every": 1})
    d = plain.to_dict()
    del d["snapshots"]["keep_seeds"], d["snapshots"]["every"]
    assert c.from_dict(d).hash() == plain.hash()
    assert tiny().hash() != plain.hash()  # set, the policy is part of what the folder holds
    assert plain.storage_note() == ""
    note = tiny().storage_note()
    assert "seed 5 of each arm" in note and "the fine-tuning epochs between snapshots (one every 2 fine-tuning " \
        "epochs, snapshots.every = 2)" in note
    assert tiny(**{"snapshots.keep_seeds": 10, "seeds.count": 400, "seeds.base": 0}).storage_note().startswith(
        "filters, probe outputs and checkpoints kept for seeds 0-9 of each arm")


def test_a_pinned_hash_from_before_the_policy():
    """quick-demo's hash, taken before the storage policy existed (the preset's own config)."""
    from desktop_app.core.presets import load_preset

    assert load_preset("quick-demo").hash() == PINNED_QUICK_DEMO


PINNED_QUICK_DEMO = "3fd59f7715bc44a0"
