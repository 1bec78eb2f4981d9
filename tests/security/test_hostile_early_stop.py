"""A resume state's early-stopping part (``finetune.patience``) is untrusted like the rest of latest.pt: a missing,
out-of-range, mistyped, misshapen or non-finite field is refused by ``basin resume`` with one line naming the file
and the field, before any training (``training.checkpoints.read_resume_state``)."""

from __future__ import annotations

import shutil

import pytest
import torch

from desktop_app.core import config as c
from desktop_app.core.control import RunControl
from desktop_app.core.events import EpochMetrics
from desktop_app.core.runfolder import RunFolder, RunFolderError, read_manifest
from desktop_app.core.training.checkpoints import read_resume_state

from .conftest import TINY
from .test_runfolders import assert_one_line_error, run_cli

PATIENCE = 3


def _config() -> c.ExperimentConfig:
    return c.from_dict({**TINY, "arms": ["none"], "execution": {"backend": "inline"},
                        "finetune": {"epochs": 8, "batch_size": 50, "patience": PATIENCE}})


@pytest.fixture(scope="module")
def stopped_run(tmp_path_factory):
    """A tiny early-stopping run stopped after seed 0's epoch 2: its latest.pt is a fine-tuning state with
    early_stop."""
    from desktop_app.core.engine.run import run_experiment

    cfg = _config()
    path = tmp_path_factory.mktemp("early-stop") / "run"
    control = RunControl()
    for ev in run_experiment(cfg, control, path):
        if isinstance(ev, EpochMetrics) and ev.epoch == 2:
            control.stop()
    assert read_manifest(path)["status"] == "stopped"
    return path


def _damage(state: dict, how: str) -> None:
    es = state["early_stop"]
    name = next(iter(es["best_model"]))
    if how == "missing":
        del state["early_stop"]
    elif how == "not-a-table":
        state["early_stop"] = [1, 2]
    elif how == "epoch-huge":
        es["best_epoch"] = 10**12
    elif how == "epoch-bool":
        es["best_epoch"] = True
    elif how == "epoch-too-far-back":  # the unit would have stopped: best 1 at epoch 2 + patience
        state["epoch"], es["best_epoch"] = PATIENCE + 1, 1
    elif how == "error-nan":
        es["best_error"] = float("nan")
    elif how == "error-above-1":
        es["best_error"] = 7.0
    elif how == "weights-shape":
        es["best_model"][name] = torch.zeros(3, 3)
    elif how == "weights-missing":
        del es["best_model"][name]
    elif how == "weights-inf":
        es["best_model"][name] = torch.full_like(es["best_model"][name], float("inf"))
    elif how == "weights-int":
        es["best_model"][name] = es["best_model"][name].to(torch.int64)


CASES = {"missing": "no 'early_stop' state", "not-a-table": "'early_stop' must hold", "epoch-huge": "best_epoch",
         "epoch-bool": "best_epoch", "epoch-too-far-back": "would have stopped", "error-nan": "best_error",
         "error-above-1": "best_error", "weights-shape": "does not match 'model'",
         "weights-missing": "does not match 'model'", "weights-inf": "not finite weights",
         "weights-int": "not finite weights"}


def _damaged_copy(stopped_run, tmp_path, how: str):
    run = tmp_path / "run"
    shutil.copytree(stopped_run, run)
    latest = run / "checkpoints" / "none" / "s0" / "latest.pt"
    state = torch.load(latest, weights_only=True)
    assert state["stage"] == "finetune" and state["early_stop"]["best_epoch"] >= 1  # what is damaged is real
    _damage(state, how)
    torch.save(state, latest)
    return run, latest


@pytest.mark.parametrize("how", list(CASES))
def test_a_bad_early_stop_state_is_refused_in_one_line_naming_the_file(stopped_run, tmp_path, how):
    run, latest = _damaged_copy(stopped_run, tmp_path, how)
    with pytest.raises(RunFolderError, match=CASES[how]) as info:
        read_resume_state(RunFolder(run).unit("none", 0), patience=PATIENCE)
    assert str(info.value).startswith(str(latest)) and "\n" not in str(info.value)


@pytest.mark.parametrize("how", ["missing", "weights-shape"])
def test_basin_resume_refuses_it_with_exit_2(stopped_run, tmp_path, capsys, how):
    run, _latest = _damaged_copy(stopped_run, tmp_path, how)
    code, _out, err = run_cli(capsys, "resume", str(run), "--quiet")
    assert_one_line_error(code, err, "latest.pt", CASES[how])


def test_the_undamaged_state_resumes(stopped_run, tmp_path, capsys):
    """The control: the same copy, undamaged, is accepted and the run completes."""
    run = tmp_path / "run"
    shutil.copytree(stopped_run, run)
    assert read_resume_state(RunFolder(run).unit("none", 0), patience=PATIENCE)["early_stop"]["best_epoch"] >= 1
    code, _out, err = run_cli(capsys, "resume", str(run), "--quiet")
    assert code == 0, err
    assert read_manifest(run)["status"] == "completed"


def test_the_unit_itself_refuses_a_state_without_its_early_stop_part(stopped_run, tmp_path):
    """The unit reading latest.pt to continue it checks it as ``basin resume`` does (a run resumed from the window,
    or a worker restarting a unit, goes through no CLI): one line naming the file and the missing part."""
    import torch as _torch

    from desktop_app.core.training.unit import prepare_data, train_unit

    run, latest = _damaged_copy(stopped_run, tmp_path, "missing")
    cfg = _config()
    with pytest.raises(RunFolderError) as info:
        list(train_unit(cfg, "none", 0, run, RunControl(), prepare_data(cfg, _torch.device("cpu"))))
    assert str(info.value).startswith(f"{latest}: no 'early_stop' state") and "\n" not in str(info.value)
