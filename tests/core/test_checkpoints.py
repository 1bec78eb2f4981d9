"""Checkpoints: listing, safe opening (pickled code refused and never run), model export."""

import json
import os
import shlex
import struct
import sys

import pytest
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from desktop_app.core import config as c
from desktop_app.core.engine.run import run_experiment
from desktop_app.core.runfolder import RunFolder, RunFolderError, read_config, read_manifest
from desktop_app.core.runfolder.workspace import reproduce_command
from desktop_app.core.training import checkpoints
from desktop_app.core.training.checkpoints import (
    CheckpointError,
    export_model,
    list_checkpoints,
    model_shapes,
    open_checkpoint,
    read_resume_state,
    read_weights,
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
W2 = {"b": torch.zeros(3), "w": torch.zeros(2, 3)}
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
    ({**FT, "early_stop": {"best_epoch": 1, "best_error": 0.25}},
     "'early_stop' must hold best_epoch, best_error and best_model"),
    ({**FT, "epoch": 0, "early_stop": {"best_epoch": 1, "best_error": 0.25, "best_model": W}},
     "'early_stop.best_epoch' must be an integer from 1 to the epoch 0, got 1"),
    ({**FT, "epoch": 1, "early_stop": {"best_epoch": 0, "best_error": 1.0, "best_model": {}}},
     "'early_stop.best_epoch' must be set once an epoch is done (epoch 1)"),
    ({**FT, "early_stop": {"best_epoch": 1, "best_error": 1.2345678901234567e300, "best_model": W}},
     "'early_stop.best_error' must be a number from 0 to 1, got 1.2345678901234567e+"),
    ({**FT, "early_stop": {"best_epoch": 1, "best_error": 0.25, "best_model": {"w": [0.0]}}},
     "'early_stop.best_model' must be a state dict of tensors"),
    ({"stage": "pretrain", "model": W, "early_stop": {"best_epoch": 0, "best_error": 1.0, "best_model": {}}},
     "'early_stop' in a pre-training state"),
    # a hostile value is quoted cut at 20 characters; a string error is refused, not compared with numbers
    ({**FT, "early_stop": {"best_epoch": "b" * 30, "best_error": 0.25, "best_model": W}},
     f"'early_stop.best_epoch' must be an integer from 1 to the epoch 2, got {'b' * 20}"),
    ({**FT, "early_stop": {"best_epoch": 1, "best_error": "e" * 30, "best_model": W}},
     f"'early_stop.best_error' must be a number from 0 to 1, got {'e' * 20}"),
    ({**FT, "epoch": 0, "early_stop": {"best_epoch": 0, "best_error": 1.0, "best_model": W}},
     "'early_stop.best_model' must be empty before a best epoch"),
    # the first tensor (in sorted order) that differs: by shape, missing from the best weights, or extra
    ({**FT, "model": W2, "early_stop": {"best_epoch": 1, "best_error": 0.25,
                                        "best_model": {**W2, "w": torch.zeros(3, 2)}}},
     "'early_stop.best_model' does not match 'model' (w: (3, 2) vs (2, 3))"),
    ({**FT, "model": W2, "early_stop": {"best_epoch": 1, "best_error": 0.25, "best_model": W}},
     "'early_stop.best_model' does not match 'model' (b: missing vs (3,))"),
    ({**FT, "model": W2, "early_stop": {"best_epoch": 1, "best_error": 0.25,
                                        "best_model": {**W2, "a": torch.zeros(1)}}},
     "'early_stop.best_model' does not match 'model' (a: (1,) vs missing)"),
    ({**FT, "model": W2, "early_stop": {"best_epoch": 1, "best_error": 0.25,
                                        "best_model": {**W2, "k" * 100: torch.zeros(1)}}},
     f"'early_stop.best_model' does not match 'model' ({'k' * 80}: (1,) vs missing)"),
    ({**FT, "model": W2, "early_stop": {"best_epoch": 1, "best_error": 0.25,
                                        "best_model": {**W2, "w": torch.full((2, 3), float("nan"))}}},
     "'early_stop.best_model' tensor 'w' is not finite weights of the model's type"),
    ({**FT, "model": {"k" * 100: torch.zeros(2)}, "early_stop": {
        "best_epoch": 1, "best_error": 0.25, "best_model": {"k" * 100: torch.full((2,), float("inf"))}}},
     f"'early_stop.best_model' tensor {'k' * 80!r} is not finite weights of the model's type"),
    ({**FT, "model": W2, "early_stop": {"best_epoch": 1, "best_error": 0.25,
                                        "best_model": {**W2, "b": torch.zeros(3, dtype=torch.float64)}}},
     "'early_stop.best_model' tensor 'b' is not finite weights of the model's type"),
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
                                                                       "layers_done": 1},
                                   # early stopping's part at its borders: no best epoch yet at epoch 0, the
                                   # first epoch the best one
                                   {**FT, "epoch": 0, "early_stop": {"best_epoch": 0, "best_error": 1.0,
                                                                     "best_model": {}}},
                                   {**FT, "epoch": 1, "early_stop": {"best_epoch": 1, "best_error": 0.25,
                                                                     "best_model": W}},
                                   # a validation error of exactly 0 (every example right) is a best error
                                   {**FT, "epoch": 1, "early_stop": {"best_epoch": 1, "best_error": 0.0,
                                                                     "best_model": W}}])
def test_a_well_formed_resume_state_is_read_back(tmp_path, state):
    _latest, read = _resume_with(tmp_path, state)
    got = read()
    assert got["stage"] == state["stage"] and torch.equal(got["model"]["w"], W["w"])


def test_a_resume_state_whose_best_epoch_is_past_its_patience_is_refused_with_how_far_back(tmp_path):
    """With finetune.patience 3, a fine-tuning state at epoch 7 whose best epoch is 4 would have stopped at 7: the
    line says how many epochs back (3) and the patience; at best epoch 5 (2 back) it is read."""
    es = {"best_error": 0.25, "best_model": W}
    latest, _ = _resume_with(tmp_path, {**FT, "epoch": 7, "early_stop": {**es, "best_epoch": 4}})
    unit = RunFolder(tmp_path / "run").unit("none", 0)
    with pytest.raises(RunFolderError) as info:
        read_resume_state(unit, patience=3)
    assert str(info.value) == f"{latest}: 'early_stop.best_epoch' 4 is 3 epochs back: the unit would have stopped " \
                              "(finetune.patience 3)"
    _resume_with(tmp_path, {**FT, "epoch": 7, "early_stop": {**es, "best_epoch": 5}})
    assert read_resume_state(unit, patience=3)["early_stop"]["best_epoch"] == 5


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


# -----------------------------------------------------------------------------------------------------
# Opening any checkpoint: one line naming the file for every failure (docs/SECURITY.md)
# -----------------------------------------------------------------------------------------------------


def _same_weights(a, b):
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_a_safetensors_file_is_recognised_by_its_content_whatever_its_name(run_dir, tmp_path):
    """safetensors is sniffed (an 8-byte little-endian header length from 2 to the header limit, then "{"): an
    export renamed .pt or without a suffix opens as itself; a header length just past the limit, or a ninth byte
    that is not "{", goes to the .pt reader instead."""
    ck = list_checkpoints(run_dir)[-1]
    _, st = export_model(ck.path, tmp_path / "model")
    original = open_checkpoint(ck.path)
    for name in ("renamed.pt", "renamed"):
        (tmp_path / name).write_bytes(st.read_bytes())
        again = open_checkpoint(tmp_path / name)
        _same_weights(again["model"], original["model"])
        assert again["experiment"] == original["experiment"] and again["epoch"] == 2
    # the shortest header, "{}": a safetensors file with no tensors and no metadata, refused for what it lacks
    (tmp_path / "empty.pt").write_bytes(struct.pack("<Q", 2) + b"{}")
    with pytest.raises(CheckpointError) as info:
        open_checkpoint(tmp_path / "empty.pt")
    assert str(info.value) == "empty.pt: not a Basin model (no 'config' in the .safetensors metadata)"
    limit = checkpoints.MAX_SAFETENSORS_HEADER
    (tmp_path / "at_limit.pt").write_bytes(struct.pack("<Q", limit) + b"{}")
    with pytest.raises(CheckpointError) as info:
        open_checkpoint(tmp_path / "at_limit.pt")
    assert str(info.value) == "at_limit.pt: not a readable .safetensors file (bad header length)"
    for name, head in (("past_limit.pt", struct.pack("<Q", limit + 1) + b"{}"),
                       ("no_brace.pt", struct.pack("<Q", 2) + b"[]"), ("one_byte.pt", struct.pack("<Q", 1) + b"{")):
        (tmp_path / name).write_bytes(head)
        with pytest.raises(CheckpointError) as info:
            open_checkpoint(tmp_path / name)
        assert str(info.value).startswith(f"{name}: not a readable checkpoint, truncated or corrupt (")


def _safetensors(header: dict | list, data: bytes = b"") -> bytes:
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + data


F32 = {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}
HOSTILE_SAFETENSORS = {
    "empty": b"",
    "shorter_than_a_length": b"\x02\x00\x00",
    "length_past_the_file": struct.pack("<Q", 5) + b"{}",
    "length_past_the_file_by_8": struct.pack("<Q", 10) + b"{}",
    "not_json": struct.pack("<Q", 3) + b"{x}",
    "not_an_object": struct.pack("<Q", 3) + b"[1]",
    "dtype_not_allowed": _safetensors({"w": {"dtype": "Q99", "shape": [1], "data_offsets": [0, 4]}}, bytes(4)),
    "offsets_past_the_data": _safetensors({"w": F32}, bytes(4)),
    "offsets_overlapping": _safetensors({"w": F32, "v": {**F32, "data_offsets": [4, 12]}}, bytes(12)),
    "shape_against_offsets": _safetensors({"w": {**F32, "shape": [3]}}, bytes(8)),
    "metadata_not_a_map": _safetensors({"__metadata__": ["x"], "w": F32}, bytes(8)),
}


def _reason(data: bytes) -> str:
    """The reason an independent reader gives: Basin's own checks first, else safetensors' (or json's) words."""
    if len(data) < 8 or struct.unpack("<Q", data[:8])[0] > len(data) - 8:
        return "bad header length"
    try:
        header = json.loads(data[8 : 8 + struct.unpack("<Q", data[:8])[0]])
    except ValueError as exc:
        return str(exc)
    if not isinstance(header, dict):
        return "the header is not a JSON object"
    with pytest.raises(SafetensorError) as info:
        st_load(data)
    return str(info.value)


@pytest.mark.parametrize("name", HOSTILE_SAFETENSORS)
def test_a_hostile_safetensors_file_is_refused_in_one_line_naming_it_and_the_reason(tmp_path, name):
    """A header length past the file, a header that is not a JSON object, a dtype not allowed, offsets out of bounds
    or overlapping, a shape its offsets do not hold: one line, the file's name, then the reason (at most 160
    characters of it: safetensors' list of the dtypes it knows runs to ~300)."""
    path = tmp_path / f"{name}.safetensors"
    data = HOSTILE_SAFETENSORS[name]
    path.write_bytes(data)
    with pytest.raises(CheckpointError) as info:
        open_checkpoint(path)
    reason = _reason(data)
    assert str(info.value) == f"{path.name}: not a readable .safetensors file ({reason[:160]})"
    assert "\n" not in str(info.value)
    if name == "dtype_not_allowed":
        assert len(reason) > 160 and "Q99" in reason[:160]


def test_a_safetensors_file_without_basins_config_is_refused_and_its_unit_is_read_only_when_well_typed(
        run_dir, tmp_path):
    """The config is what makes tensors a Basin model: without it, one line naming the file. The unit's
    arm/seed/phase/epoch (the "basin" metadata) are optional, each kept only with its type (not a bool for a
    number); unreadable metadata is no unit at all."""
    weights = {"w": torch.ones(2, 3)}
    path = tmp_path / "x.safetensors"
    for meta in ({}, {"basin": json.dumps({"arm": "none", "seed": 0})}):
        path.write_bytes(st_save(weights, metadata=meta or None))
        with pytest.raises(CheckpointError) as info:
            open_checkpoint(path)
        assert str(info.value) == "x.safetensors: not a Basin model (no 'config' in the .safetensors metadata)"
    config = (run_dir / "config.toml").read_text()
    cases = [
        ({"config": config}, {}),
        ({"config": config, "basin": "not json"}, {}),
        ({"config": config, "basin": "[1, 2]"}, {}),
        ({"config": config, "basin": json.dumps({"arm": 1, "seed": True, "phase": None, "epoch": "2"})}, {}),
        ({"config": config, "basin": json.dumps({"arm": "dae", "seed": 3, "phase": "finetune", "epoch": 2})},
         {"arm": "dae", "seed": 3, "phase": "finetune", "epoch": 2}),
    ]
    for meta, unit in cases:
        path.write_bytes(st_save(weights, metadata=meta))
        state = open_checkpoint(path)
        assert {k: state[k] for k in ("arm", "seed", "phase", "epoch") if k in state} == unit
        assert state["config"] == config and state["experiment"] == c.from_toml(config)
        _same_weights(state["model"], weights)


def test_a_checkpoint_that_is_no_file_or_no_basin_model_is_refused_in_one_line_naming_it(run_dir, tmp_path):
    cases = {"missing.pt": "no such file", "folder.pt": "refused: a folder, not a regular file"}
    (tmp_path / "folder.pt").mkdir()
    torch.save({"config": "x = 1"}, tmp_path / "no_model.pt")
    cases["no_model.pt"] = "not a Basin checkpoint (no 'model' state dict)"
    torch.save({"model": {"w": torch.zeros(2)}}, tmp_path / "no_config.pt")
    cases["no_config.pt"] = "not a Basin model (no 'config' in the checkpoint)"
    torch.save({"model": {"w": torch.zeros(2)}, "config": b"arms = 1"}, tmp_path / "bytes_config.pt")
    cases["bytes_config.pt"] = "not a Basin model (no 'config' in the checkpoint)"
    torch.save({"model": {"w": torch.zeros(2)}, "config": "arms = ["}, tmp_path / "bad_config.pt")
    with pytest.raises(c.ConfigError) as bad:
        c.from_toml("arms = [")
    cases["bad_config.pt"] = f"embedded config is invalid: {bad.value}"
    if sys.platform == "linux":  # a regular file (as fstat says) whose read fails: /proc/self/mem at address 0
        (tmp_path / "eio.pt").symlink_to("/proc/self/mem")
        cases["eio.pt"] = "cannot read (Input/output error)"
    for name, reason in cases.items():
        with pytest.raises(CheckpointError) as info:
            open_checkpoint(tmp_path / name)
        assert str(info.value) == f"{name}: {reason}"


@pytest.mark.parametrize("error", [RecursionError, ValueError, TypeError])
def test_an_embedded_config_the_parser_cannot_use_is_one_line_naming_the_checkpoint(tmp_path, monkeypatch, error):
    """Whatever a hostile embedded config makes the parser raise beyond a ConfigError (a recursion, a number
    tomllib will not convert, a type it trips on), opening the checkpoint is one line naming the file and what
    happened, never a traceback."""
    def parser_fails(_text):
        raise error("deep inside the parser")

    torch.save({"model": {"w": torch.zeros(2)}, "config": "arms = ['none']"}, tmp_path / "odd.pt")
    monkeypatch.setattr(checkpoints.config_mod, "from_toml", parser_fails)
    with pytest.raises(CheckpointError) as info:
        open_checkpoint(tmp_path / "odd.pt")
    assert str(info.value) == f"odd.pt: embedded config is unusable ({error.__name__})"


SAFETENSORS_LENGTHS = {  # bytes -> the reason: Basin's own header-length check first, then json's
    # eight bytes of length 0 and nothing else: the length is in range, and json reads an empty header
    "a_length_and_nothing_else": (struct.pack("<Q", 0), "Expecting value: line 1 column 1 (char 0)"),
    # 2**64 - 1 (negative if read as a signed number): past any file
    "a_length_of_2_to_the_64_minus_1": (b"\xff" * 8 + b"{}", "bad header length"),
}


@pytest.mark.parametrize("name", SAFETENSORS_LENGTHS)
def test_a_safetensors_header_length_at_its_edges_is_one_line_with_its_reason(tmp_path, name):
    """A file of just its 8-byte length (0: a header of nothing, which json refuses) and a length of 2**64 - 1 (out
    of range only when read unsigned, as the format says): one line naming the file and the reason."""
    data, reason = SAFETENSORS_LENGTHS[name]
    assert _reason(data) == reason  # the test's independent reader agrees
    path = tmp_path / f"{name}.safetensors"
    path.write_bytes(data)
    with pytest.raises(CheckpointError) as info:
        open_checkpoint(path)
    assert str(info.value) == f"{path.name}: not a readable .safetensors file ({reason})"


def test_a_checkpoint_opens_onto_the_device_asked(run_dir, tmp_path):
    """Both readers (.pt, .safetensors) put the tensors where they are asked ("meta" standing in for a GPU)."""
    ck = list_checkpoints(run_dir)[-1]
    _, st = export_model(ck.path, tmp_path / "model")
    for path in (ck.path, st):
        assert {v.device.type for v in open_checkpoint(path, "meta")["model"].values()} == {"meta"}
        assert {v.device.type for v in open_checkpoint(path)["model"].values()} == {"cpu"}


@pytest.mark.parametrize(("dest", "written"), [
    ("model", ("model.pt", "model.safetensors")),
    ("model.pt", ("model.pt", "model.safetensors")),
    ("model.safetensors", ("model.pt", "model.safetensors")),
    ("net.v1.pt", ("net.v1.pt", "net.v1.safetensors")),
    ("net-0.5", ("net-0.5.pt", "net-0.5.safetensors")),
])
def test_an_export_keeps_the_name_given_and_reads_back_as_the_checkpoint(run_dir, tmp_path, dest, written):
    """The name asked for, less a .pt or .safetensors suffix, gets both suffixes (a dotted name keeps its dots);
    each file reads back with the checkpoint's weights, config and unit."""
    ck = list_checkpoints(run_dir)[-1]
    original = open_checkpoint(ck.path)
    paths = export_model(ck.path, tmp_path / dest)
    assert paths == tuple(tmp_path / name for name in written)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(written)
    for path in paths:
        again = open_checkpoint(path)
        _same_weights(again["model"], original["model"])
        assert again["config"] == original["config"]
        assert {k: again[k] for k in ("arm", "seed", "phase", "epoch")} == {"arm": "none", "seed": 0,
                                                                            "phase": "finetune", "epoch": 2}


# -----------------------------------------------------------------------------------------------------
# read_weights: what the analyses read (a unit's weights at an epoch), checked as resume checks its state
# -----------------------------------------------------------------------------------------------------


def test_read_weights_is_the_epochs_checkpoint_checked_against_the_configs_model(run_dir):
    folder = RunFolder(run_dir)
    expected = model_shapes(folder, read_config(folder), read_manifest(folder))
    assert expected is not None
    for arm in ("none", "dae"):
        unit = folder.unit(arm, 0)
        for epoch in (0, 1, 2):
            want = open_checkpoint(unit.checkpoint_path(epoch))["model"]
            assert {k: tuple(v.shape) for k, v in want.items()} == expected
            for got in (read_weights(unit, epoch, expected), read_weights(unit, epoch), read_weights(unit, epoch,
                                                                                                    device="cpu")):
                _same_weights(got, want)
                assert {v.device.type for v in got.values()} == {"cpu"}
    assert {v.device.type for v in read_weights(folder.unit("none", 0), 1, expected, "meta").values()} == {"meta"}
    one, two = read_weights(folder.unit("none", 0), 1), read_weights(folder.unit("none", 0), 2)
    assert any(not torch.equal(one[k], two[k]) for k in expected)  # each epoch's own weights


EXPECTED = {"w": (2, 3), "b": (3,)}
HOSTILE_WEIGHTS = [
    ({"model": {"w": torch.zeros(2, 3), "b": torch.zeros(3, dtype=torch.int64)}}, "tensor 'b' is not floating-point "
                                                                                   "weights"),
    ({"model": {"w": torch.zeros(2, 3), "b": torch.zeros(3), "i" * 100: torch.zeros(1, dtype=torch.int32)}},
     f"tensor {'i' * 80!r} is not floating-point weights"),  # a hostile name is cut at 80 characters
    ({"model": {"w": torch.zeros(3, 2), "b": torch.zeros(3)}},
     "does not match the config's model (w: checkpoint (3, 2), config (2, 3))"),
    ({"model": {"w": torch.zeros(2, 3)}}, "does not match the config's model (b: checkpoint missing, config (3,))"),
    ({"model": {"w": torch.zeros(2, 3), "b": torch.zeros(3), "a": torch.zeros(1)}},
     "does not match the config's model (a: checkpoint (1,), config missing)"),
    ({"model": {"w": torch.zeros(2, 3), "b": torch.zeros(3), "k" * 100: torch.zeros(1)}},
     f"does not match the config's model ({'k' * 80}: checkpoint (1,), config missing)"),
    ({"model": [torch.zeros(2, 3)]}, "not a Basin checkpoint (no 'model' state dict)"),
    ({"model": {"w": [0.0]}}, "the model state holds non-tensor values"),
]


@pytest.mark.parametrize(("state", "reason"), HOSTILE_WEIGHTS)
def test_a_hostile_weights_checkpoint_is_refused_in_one_line_naming_the_file(tmp_path, state, reason):
    unit = RunFolder(tmp_path / "run").unit("none", 0)
    path = unit.checkpoint_path(3)
    path.parent.mkdir(parents=True)
    torch.save(state, path)
    with pytest.raises(RunFolderError) as info:
        read_weights(unit, 3, EXPECTED)
    assert str(info.value) == f"{path}: {reason}"


def test_an_unreadable_weights_checkpoint_is_one_line_naming_the_file_once(tmp_path):
    unit = RunFolder(tmp_path / "run").unit("none", 0)
    path = unit.checkpoint_path(1)
    with pytest.raises(RunFolderError) as info:
        read_weights(unit, 1)
    assert str(info.value) == f"{path}: no such file"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"PK\x03\x04" + bytes(200))
    with pytest.raises(RunFolderError) as info:
        read_weights(unit, 1)
    text = str(info.value)
    assert text.startswith(f"{path}: not a readable checkpoint, truncated or corrupt (") and \
        text.count("e0001.pt") == 1 and "\n" not in text
    torch.save({"model": {"w": torch.zeros(2, 3)}}, path)  # shapes unchecked without expected ones
    _same_weights(read_weights(unit, 1), {"w": torch.zeros(2, 3)})


DENSE_8 = c.from_dict({"model": {"layers": [{"kind": "dense", "units": 8}]}, "arms": ["none"]})


def test_model_shapes_are_the_configs_model_for_the_manifests_data(tmp_path):
    """The names and shapes of the net the config builds for the recorded data: a dense layer of 8 over 28 x 28 to
    10 classes (and to exactly MAX_CLASSES); None when the manifest does not record the data's shape."""
    folder = RunFolder(tmp_path / "run")
    for manifest in ({}, {"input_shape": [28, 28]}, {"n_classes": 10}, {"input_shape": [], "n_classes": 10}):
        assert model_shapes(folder, DENSE_8, manifest) is None
    for n in (10, checkpoints.MAX_CLASSES):
        shapes = model_shapes(folder, DENSE_8, {"input_shape": [28, 28], "n_classes": n})
        assert sorted(shapes.values(), key=len) == [(8,), (n,), (8, 784), (n, 8)]


@pytest.mark.parametrize(("input_shape", "n_classes"), [
    ([28.0, 28], 10), (["28"], 10), ((28, 28), 10), ([28, 28], 10.0), ([0, 28], 10), ([-1, 28], 10),
    ([28, 28], checkpoints.MAX_CLASSES + 1), ([28, 28], 10**25), ([10**5, 10**4], 10),
    ([2**32, 2**32], 10),  # 2**64 values: an int64 product wraps to 0, a float64 one does not
    (list(range(1, 40)), 10),
])
def test_a_manifests_data_shape_out_of_range_is_refused_in_one_line_naming_the_manifest(tmp_path, input_shape,
                                                                                          n_classes):
    folder = RunFolder(tmp_path / "run")
    with pytest.raises(RunFolderError) as info:
        model_shapes(folder, DENSE_8, {"input_shape": input_shape, "n_classes": n_classes})
    shown = {10**25: "1" + "0" * 19}.get(n_classes, n_classes)  # at most 20 characters of each, 60 of the shape
    assert str(info.value) == \
        f"{folder.manifest_path}: input_shape {str(input_shape)[:60]} / n_classes {shown} are out of range"


def test_a_data_shape_the_configs_model_cannot_take_is_refused_with_the_first_120_characters_of_why(tmp_path):
    """10**8 input values (the limit itself) are in range, but a dense layer over them is 800 million weights: the
    config's own refusal (137 characters) is quoted, cut at 120."""
    from desktop_app.core.training.models import build_model

    folder = RunFolder(tmp_path / "run")
    with pytest.raises(c.ConfigError) as why:
        build_model(DENSE_8.model, (10**4, 10**4), 10, 0)
    assert len(str(why.value)) > 120
    with pytest.raises(RunFolderError) as info:
        model_shapes(folder, DENSE_8, {"input_shape": [10**4, 10**4], "n_classes": 10})
    assert str(info.value) == (f"{folder.manifest_path}: input_shape [10000, 10000] / n_classes 10 do not fit the "
                               f"config's model ({str(why.value)[:120]})")


def test_a_weights_checkpoint_linked_out_of_the_run_folder_is_refused(tmp_path):
    """As for latest.pt: e<epoch>.pt must stay inside the run folder, even as a link to a good checkpoint (the unit's
    checkpoint_path checks it)."""
    outside = tmp_path / "elsewhere.pt"
    torch.save({"model": {"w": torch.zeros(2, 3)}}, outside)
    folder = RunFolder(tmp_path / "run")
    unit = folder.unit("none", 0)
    path = unit.checkpoint_path(1)
    path.parent.mkdir(parents=True)
    path.symlink_to(outside)
    with pytest.raises(RunFolderError) as info:
        read_weights(unit, 1)
    assert str(info.value).startswith(f"{folder.rel(path)}: refused: it leads out of the run folder ")
    assert "\n" not in str(info.value)
