"""A bool where an untrusted file must hold an integer: Python's ``True`` is an ``int`` (1), so a plain
``isinstance(v, int)`` took a hostile ``true`` as a 1-class model, epoch 1, one pre-trained layer or pid 1. Every
such reader now refuses it through the one shared test, ``core.untrusted.is_int``."""

from __future__ import annotations

import json
import socket

import pytest
import torch

from desktop_app.core import config as c
from desktop_app.core.runfolder import RunFolder, RunFolderError
from desktop_app.core.runfolder.lock import read_lock
from desktop_app.core.runfolder.manifest import ManifestError, parse_manifest
from desktop_app.core.training.checkpoints import model_shapes
from desktop_app.core.untrusted import is_int
from tests.core.test_checkpoints import W, _resume_with  # the same hostile latest.pt writer

DENSE_8 = c.from_dict({"model": {"layers": [{"kind": "dense", "units": 8}]}, "arms": ["none"]})


def test_is_int_takes_integers_and_refuses_bools_and_other_numbers():
    assert all(is_int(v) for v in (0, 1, -3, 10**30))
    assert not any(is_int(v) for v in (True, False, 1.0, "1", None, [1], torch.tensor(1)))


@pytest.mark.parametrize(("input_shape", "n_classes"), [
    ([28, 28], True), ([28, 28], False), ([True, 28], 10), ([28, False], 10), ([28, 28], 0), ([28, 28], -3),
])
def test_a_manifests_bool_or_non_positive_data_shape_is_refused_in_one_line_naming_the_manifest(
        tmp_path, input_shape, n_classes):
    """n_classes = true used to build a 1-class model (false, and 0, were taken as "not recorded"); each is now out of
    range, in the message this check always gave, naming the manifest and both fields."""
    folder = RunFolder(tmp_path / "run")
    with pytest.raises(RunFolderError) as info:
        model_shapes(folder, DENSE_8, {"input_shape": input_shape, "n_classes": n_classes})
    assert str(info.value) == \
        f"{folder.manifest_path}: input_shape {str(input_shape)[:60]} / n_classes {n_classes} are out of range"
    assert "\n" not in str(info.value)


def test_a_manifests_data_shape_at_the_bottom_of_the_range_is_taken():
    """The lowest counts in range still build the model: one class, one input value."""
    shapes = model_shapes(RunFolder("run"), DENSE_8, {"input_shape": [1], "n_classes": 1})
    assert sorted(shapes.values()) == [(1,), (1, 8), (8,), (8, 1)]  # head (1, 8) and (1,), dense (8, 1) and (8,)


def test_a_manifest_file_with_a_bool_integer_is_refused_naming_the_file_and_the_field():
    """The manifest reader's field checks are the same shared test (``is_int``)."""
    for field, value in (("n_classes", True), ("input_shape", [28, True]), ("patience", False)):
        with pytest.raises(ManifestError) as info:
            parse_manifest(json.dumps({field: value}), "run/manifest.json")
        assert str(info.value).startswith(f"run/manifest.json: field {field!r} must be")




@pytest.mark.parametrize(("state", "why"), [
    ({"stage": "finetune", "model": W, "epoch": True, "optimizer": {}}, "'epoch' must be a non-negative integer"),
    ({"stage": "done", "model": W, "epoch": False, "optimizer": {}}, "'epoch' must be a non-negative integer"),
    ({"stage": "pretrain", "model": W, "layers_done": True}, "'layers_done' must be an integer"),
])
def test_a_resume_state_with_a_bool_epoch_or_layer_count_is_refused_naming_the_file(tmp_path, state, why):
    latest, read = _resume_with(tmp_path, state)
    with pytest.raises(RunFolderError) as info:
        read()
    assert str(info.value) == f"{latest}: {why}"


def test_a_lock_file_whose_pid_is_a_bool_reads_as_unreadable_not_as_pid_1(tmp_path):
    """pid true was pid 1 (init: always alive), so a hostile lock file held the folder for good; an unreadable lock
    reads as pid 0, which the staleness rules already handle."""
    folder = RunFolder(tmp_path / "run")
    folder.root.mkdir()
    folder.lock_path.write_text(json.dumps({"pid": True, "host": socket.gethostname(), "started": 1.0}))
    info = read_lock(folder)
    assert info is not None and info.pid == 0 and info.host == "?"
    folder.lock_path.write_text(json.dumps({"pid": 4242, "host": "elsewhere", "started": 1.0}))
    assert read_lock(folder).pid == 4242  # the same file with an integer pid is read as it says


def test_an_online_resume_state_whose_position_is_a_bool_is_refused_naming_the_file(tmp_path):
    """An online unit's ``examples`` must be one of its evaluation points; with a block and minibatch of 1 the first
    point is 1, so ``true`` used to pass as that point."""
    from desktop_app.core.control import RunControl
    from desktop_app.core.training.online_unit import OnlineUnitRun
    from desktop_app.core.training.unit import prepare_data

    cfg = c.from_dict({
        "kind": "online", "arms": ["none"], "device": "cpu",
        "data": {"name": "digits", "n_labelled": 20, "n_valid": 10, "n_test": 20, "probe_size": 5},
        "model": {"layers": [{"kind": "dense", "units": 4}]}, "finetune": {"batch_size": 1},
        "online": {"pretrain_examples": 10, "finetune_examples": 10, "block": 1, "eval_points": 3},
    })
    run = OnlineUnitRun(cfg, "none", 0, tmp_path / "run", RunControl(), prepare_data(cfg, torch.device("cpu")))
    assert run.points[0] == 1
    state = {"stage": "finetune", "model": W, "epoch": 0, "optimizer": {}, "ring": torch.zeros(1, dtype=torch.bool)}
    run.unit.latest_path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({**state, "examples": 1}, run.unit.latest_path)
    assert run._load_latest()["examples"] == 1  # the same state at the integer point is read as it says
    torch.save({**state, "examples": True}, run.unit.latest_path)
    with pytest.raises(RunFolderError) as info:
        run._load_latest()
    assert str(info.value) == f"{run.unit.latest_path}: 'examples' is not an evaluation point of this config"


def test_is_number_takes_ints_and_floats_and_refuses_bools():
    from desktop_app.core.untrusted import is_number

    assert all(is_number(v) for v in (0, -3, 2.5, float("nan"), 10**400))  # ranges are the caller's to check
    assert not any(is_number(v) for v in (True, False, "1", None, [1.0], torch.tensor(1.0)))


@pytest.mark.parametrize("wall", [True, 10**400, float("nan"), float("inf"), -1.0, "12", 2e9],
                         ids=["true", "10**400", "nan", "inf", "-1", "a string", "2e9"])
def test_a_resume_states_hostile_wall_time_is_not_believed(tmp_path, wall):
    """latest.pt's wall_s carries a unit's time over a resume. ``true`` was 1 s, and 10**400 crashed the resume with
    OverflowError (math.isfinite of a huge int); each now counts as no time before (0 s), as a missing one does."""
    from desktop_app.core.control import RunControl
    from desktop_app.core.training.models import build_model
    from desktop_app.core.training.unit import UnitRun, prepare_data

    cfg = c.from_dict({"arms": ["none"], "device": "cpu", "seeds": {"count": 1},
                       "data": {"n_labelled": 40, "n_valid": 20, "n_test": 40, "probe_size": 10, "n_unlabelled": 40},
                       "model": {"layers": [{"kind": "dense", "units": 4}]}, "finetune": {"epochs": 3}})
    data = prepare_data(cfg, torch.device("cpu"))
    model = build_model(cfg.model, data.splits.input_shape, data.splits.n_classes, 0).state_dict()
    for value, before in ((12.5, 12.5), (wall, 0.0)):  # the same state with a plain time is read as it says
        run = UnitRun(cfg, "none", 0, tmp_path / "run", RunControl(), data)
        latest = RunFolder(tmp_path / "run").unit("none", 0).latest_path
        latest.parent.mkdir(parents=True, exist_ok=True)
        torch.save({"stage": "pretrain", "model": model, "layers_done": 0, "wall_s": value}, latest)
        list(run.begin())
        assert run._wall_before == before
