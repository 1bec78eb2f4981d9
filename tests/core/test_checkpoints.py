"""Checkpoints: listing, safe opening (pickled code refused and never run), model export."""

import os
import shlex

import pytest
import torch
from safetensors import safe_open

from desktop_app.core import config as c
from desktop_app.core.engine.run import run_experiment
from desktop_app.core.runfolder import RunFolder, RunFolderError
from desktop_app.core.runfolder.workspace import reproduce_command
from desktop_app.core.training import checkpoints
from desktop_app.core.training.checkpoints import (
    CheckpointError,
    export_model,
    list_checkpoints,
    open_checkpoint,
    read_resume_state,
    verify_resume_states,
)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    cfg = c.from_dict({
        "data": {"n_labelled": 200, "n_valid": 100, "n_test": 200, "probe_size": 20, "n_unlabelled": 200},
        "model": {"layers": [{"kind": "dense", "units": 8}]}, "arms": ["none", "dae"],
        "pretraining": {"dae": {"epochs": 1}}, "finetune": {"epochs": 2, "batch_size": 50},
        "seeds": {"count": 1}, "device": "cpu",
    })
    path = tmp_path_factory.mktemp("ck") / "run"
    list(run_experiment(cfg, None, path))
    return path


def test_list_and_open(run_dir):
    cks = list_checkpoints(run_dir)
    assert [(k.arm, k.seed, k.epoch) for k in cks] == [("dae", 0, 0), ("dae", 0, 1), ("dae", 0, 2),
                                                        ("none", 0, 0), ("none", 0, 1), ("none", 0, 2)]
    assert {k.phase for k in cks} == {"finetune"}
    state = open_checkpoint(cks[-1].path)
    assert state["epoch"] == 2 and state["experiment"].arms == ("none", "dae")
    assert (state["arm"], state["seed"], state["phase"]) == ("none", 0, "finetune")


class Evil:
    def __reduce__(self):
        return (os.system, (f"touch {shlex.quote(str(Evil.marker))}",))


def test_malicious_pickle_is_refused_and_never_runs(tmp_path):
    Evil.marker = tmp_path / "pwned"
    bad = tmp_path / "evil.pt"
    torch.save({"model": {"w": torch.zeros(1)}, "payload": Evil()}, bad)
    with pytest.raises(CheckpointError) as info:
        open_checkpoint(bad)
    assert "refused" in str(info.value) and "pickled code" in str(info.value)
    assert not Evil.marker.exists()


def test_not_a_checkpoint(tmp_path):
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a zip at all")
    with pytest.raises(CheckpointError):
        open_checkpoint(junk)
    no_model = tmp_path / "nomodel.pt"
    torch.save({"x": torch.ones(2)}, no_model)
    with pytest.raises(CheckpointError, match="no 'model'"):
        open_checkpoint(no_model)


def test_export_model_pt_and_safetensors(run_dir, tmp_path):
    ck = list_checkpoints(run_dir)[-1]
    pt, st = export_model(ck.path, tmp_path / "model")
    original = open_checkpoint(ck.path)["model"]
    loaded = torch.load(pt, weights_only=True)
    assert c.from_toml(loaded["config"]).arms == ("none", "dae")
    assert {k: loaded[k] for k in ("arm", "seed", "phase", "epoch")} == {"arm": "none", "seed": 0, "phase": "finetune",
                                                                         "epoch": 2}
    with safe_open(str(st), framework="pt") as fh:
        assert c.from_toml(fh.metadata()["config"]) == c.from_toml(loaded["config"])
        for key, value in original.items():
            assert torch.equal(fh.get_tensor(key), value)
            assert torch.equal(loaded["model"][key], value)


def test_reproduce_command_names_the_config(run_dir):
    cmd = shlex.split(reproduce_command(run_dir))
    assert cmd[:2] == ["basin", "run"] and cmd[2].endswith("config.toml") and cmd[3] == "--out"


def test_an_exported_safetensors_opens_as_the_checkpoint_it_came_from(run_dir, tmp_path):
    """The .safetensors export reads back (open_checkpoint) with the same weights, config and arm/seed/phase/epoch;
    a damaged one is refused with the reason in the message."""
    ck = list_checkpoints(run_dir)[-1]
    _, st = export_model(ck.path, tmp_path / "model")
    original, again = open_checkpoint(ck.path), open_checkpoint(st)
    assert {k: again[k] for k in ("arm", "seed", "phase", "epoch")} == {"arm": "none", "seed": 0, "phase": "finetune",
                                                                        "epoch": 2}
    assert again["experiment"] == original["experiment"]
    for key, value in original["model"].items():
        assert torch.equal(again["model"][key], value)
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(st.read_bytes()[:40])
    with pytest.raises(CheckpointError, match=r"broken.safetensors: not a readable .safetensors file \(.*header"):
        open_checkpoint(broken)  # safetensors' own reason (a header that is cut short), not a generic word


def _resume_with(tmp_path, state):
    """read_resume_state of a unit whose latest.pt holds ``state`` (written as torch.save writes any state)."""
    unit = RunFolder(tmp_path / "run").unit("none", 0)
    unit.latest_path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, unit.latest_path)
    return unit.latest_path, lambda: read_resume_state(unit)


W = {"w": torch.zeros(2, 3)}
FT = {"stage": "finetune", "model": W, "epoch": 2, "optimizer": {}}
HOSTILE_RESUME_STATES = [
    ([1, 2, 3], "not a Basin resume state"),
    ({**FT, "stage": "begin"}, "stage must be one of pretrain, finetune, done"),
    ({**FT, "model": {"w": [1.0, 2.0]}}, "no 'model' state dict of tensors"),
    ({**FT, "model": [torch.zeros(2)]}, "no 'model' state dict of tensors"),
    ({**FT, "epoch": -1}, "'epoch' must be a non-negative integer"),
    ({**FT, "epoch": "2"}, "'epoch' must be a non-negative integer"),
    ({**FT, "stage": "done", "epoch": None}, "'epoch' must be a non-negative integer"),
    ({k: v for k, v in FT.items() if k != "optimizer"}, "no 'optimizer' state"),
    ({**FT, "optimizer": [1]}, "no 'optimizer' state"),
    ({"stage": "pretrain", "model": W, "layers_done": "1"}, "'layers_done' must be an integer"),
]


@pytest.mark.parametrize(("state", "reason"), HOSTILE_RESUME_STATES)
def test_a_hostile_resume_state_is_refused_naming_the_file_and_what_is_wrong(tmp_path, state, reason):
    """Every check of a resume state read from latest.pt, each with the exact line a user reads: the file, then the
    field and the problem."""
    latest, read = _resume_with(tmp_path, state)
    with pytest.raises(RunFolderError) as info:
        read()
    assert str(info.value) == f"{latest}: {reason}"


@pytest.mark.parametrize("state", [FT, {**FT, "epoch": 0}, {**FT, "stage": "done"},
                                   {"stage": "pretrain", "model": W}, {"stage": "pretrain", "model": W,
                                                                       "layers_done": 1}])
def test_a_well_formed_resume_state_is_read_back(tmp_path, state):
    _latest, read = _resume_with(tmp_path, state)
    got = read()
    assert got["stage"] == state["stage"] and torch.equal(got["model"]["w"], W["w"])


def test_a_resume_state_may_hold_exactly_the_parameter_limit(tmp_path, monkeypatch):
    """The limit is inclusive: a model of MAX_PARAMETERS values resumes, one more is refused with both counts."""
    monkeypatch.setattr(checkpoints, "MAX_PARAMETERS", 1000)
    _latest, read = _resume_with(tmp_path, {**FT, "model": {"w": torch.zeros(10, 90), "b": torch.zeros(100)}})
    assert read()["model"]["w"].shape == (10, 90)
    latest, read = _resume_with(tmp_path, {**FT, "model": {"w": torch.zeros(10, 90), "b": torch.zeros(101)}})
    with pytest.raises(RunFolderError) as info:
        read()
    assert str(info.value) == f"{latest}: 1,001 parameters, more than the limit of 1,000"


def test_verify_resume_states_names_the_manifest_whose_data_shape_is_out_of_range(tmp_path):
    folder = RunFolder(tmp_path / "run")
    cfg = c.from_dict({"model": {"layers": [{"kind": "dense", "units": 8}]}, "arms": ["none"]})
    with pytest.raises(RunFolderError) as info:
        verify_resume_states(folder, cfg, {"input_shape": [0, 28], "n_classes": 10})
    assert str(info.value) == f"{folder.manifest_path}: input_shape [0, 28] / n_classes 10 are out of range"


def test_a_resume_state_names_its_unit_its_run_and_the_time_it_ran(run_dir):
    """latest.pt opens like any checkpoint (to export a unit's final weights): it names its arm and seed, carries
    the run's config, and the seconds the unit had run when it was written (a resumed unit's clock goes on from
    there), no fewer than its last metrics row's."""
    import csv

    for arm in ("none", "dae"):
        unit = RunFolder(run_dir).unit(arm, 0)
        state = open_checkpoint(unit.latest_path)
        assert (state["arm"], state["seed"], state["stage"], state["epoch"]) == (arm, 0, "done", 2)
        assert state["experiment"].arms == ("none", "dae") and state["experiment"].finetune.epochs == 2
        with open(unit.metrics_path, newline="") as fh:
            last_wall = max(float(r["wall_s"]) for r in csv.DictReader(fh) if r["wall_s"])
        assert isinstance(state["wall_s"], float) and state["wall_s"] >= last_wall > 0


def test_an_unreadable_resume_state_is_one_line_naming_the_file_once(tmp_path):
    """Garbage bytes in latest.pt: the loader's reason follows the file's full path, the file not named twice."""
    unit = RunFolder(tmp_path / "run").unit("none", 0)
    unit.latest_path.parent.mkdir(parents=True)
    unit.latest_path.write_bytes(b"PK\x03\x04" + bytes(200))
    with pytest.raises(RunFolderError) as info:
        read_resume_state(unit)
    text = str(info.value)
    assert text.startswith(f"{unit.latest_path}: not a readable checkpoint, truncated or corrupt (") and \
        text.count("latest.pt") == 1 and "\n" not in text
