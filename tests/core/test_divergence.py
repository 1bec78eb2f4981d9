"""Divergence is a status, not a success: a non-finite loss ends its (arm, seed) unit as "diverged", keeps the
last finite checkpoint, says what to lower, and the run exits non-zero while the other units finish."""

import io
import json
import re

import torch

from desktop_app import cli
from desktop_app.core.engine.run import run_experiment
from desktop_app.core.events import EpochMetrics, LogMessage, RunFinished, UnitFinished
from desktop_app.core.runfolder.workspace import read_manifest
from tests.core.test_engine import tiny

DATA = [
    "--set", "data.n_labelled=300", "--set", "data.n_valid=100", "--set", "data.n_test=200",
    "--set", "data.probe_size=20", "--set", "data.n_unlabelled=200", "--set", "device=\"cpu\"",
]


def _all_tensors_finite(run_dir) -> int:
    checked = 0
    for path in run_dir.glob("checkpoints/*/s*/*.pt"):
        state = torch.load(path, weights_only=True)
        for name, tensor in state["model"].items():
            assert torch.isfinite(tensor).all(), f"{path.name}: {name} is not finite"
        checked += 1
    return checked


def test_finetune_divergence_exits_3_and_keeps_finite_checkpoints(tmp_path):
    """lr 10 with momentum 0.99 on a 3 x 500 ReLU net: NaN loss in the first epoch."""
    out = io.StringIO()
    code = cli.main(["run", "quick-demo", "--out", str(tmp_path / "r"), "--quiet", *DATA,
                     "--set", "arms=[\"none\"]", "--set", "seeds.count=1", "--set", "finetune.epochs=3",
                     "--set", "model.activation=\"relu\"",
                     "--set", "model.layers=[{units=500},{units=500},{units=500}]",
                     "--set", "finetune.optimizer=\"momentum\"", "--set", "finetune.lr=10",
                     "--set", "finetune.momentum=0.99", "--set", "finetune.batch_size=10"], out=out)
    assert code == cli.EXIT_DIVERGED == 3
    run = tmp_path / "r"
    manifest = read_manifest(run)
    assert manifest["status"] == "diverged"
    unit = manifest["units"]["none/s0"]
    assert unit["status"] == "diverged"
    for words in ("none seed 0", "epoch 1", "finetune.lr (now 10)", "finetune.momentum (now 0.99)"):
        assert words in unit["message"], (words, unit["message"])
    assert _all_tensors_finite(run) >= 2  # e0000.pt and latest.pt, both from before the divergence
    latest = torch.load(run / "checkpoints" / "none" / "s0" / "latest.pt", weights_only=True)
    assert latest["epoch"] == 0 and latest["stage"] == "finetune"
    assert "diverged (left out above): none/s0" in out.getvalue()
    metrics = (run / "metrics.csv").read_text()
    assert "nan" not in metrics.lower() and "inf" not in metrics.lower()


def test_a_diverged_unit_ends_alone(tmp_path):
    """DAE pre-training at lr 10 on a ReLU net overflows; the "none" units of the same seeds still finish."""
    cfg = tiny(arms=["none", "dae"], **{
        "model.activation": "relu", "model.layers": [{"kind": "dense", "units": 64}] * 2,
        "pretraining.dae.lr": 10.0, "pretraining.dae.noise": "gaussian", "finetune.epochs": 2,
    })
    events = list(run_experiment(cfg, None, tmp_path / "run"))
    finished = {(e.arm, e.seed): e for e in events if isinstance(e, UnitFinished)}
    assert {k: e.status for k, e in finished.items()} == {
        ("none", 0): "completed", ("dae", 0): "diverged", ("none", 1): "completed", ("dae", 1): "diverged"}
    assert "while pre-training" not in finished[("dae", 0)].message
    assert re.search(r": layer \d epoch \d: ", finished[("dae", 0)].message)  # where it diverged
    assert "lower pretraining.dae.lr (now 10)" in finished[("dae", 0)].message
    errors = [e for e in events if isinstance(e, LogMessage) and e.level == "error"]
    assert len(errors) == 2 and all("dae seed" in e.text for e in errors)
    assert [e.epoch for e in events if isinstance(e, EpochMetrics) and e.arm == "none" and e.seed == 1] == [0, 1, 2]
    assert isinstance(events[-1], RunFinished) and events[-1].status == "diverged"
    assert "dae seed 0" in events[-1].message and "dae seed 1" in events[-1].message
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["status"] == "diverged" and set(manifest["units"]) == {"dae/s0", "dae/s1"}
    _all_tensors_finite(tmp_path / "run")


def _poisoned_unit(tmp_path, monkeypatch, minibatch: int | None = None, test_image: bool = False):
    """A "none" unit of 40 fine-tuning minibatches a epoch (120 labelled examples in 3s, one epoch) whose data has a
    NaN pixel in one training example of ``minibatch`` of epoch 1 (outside the train-evaluation subset), or in
    one test image; returns (cfg, data, events), the Progress interval at 0 (a Progress per minibatch, no clock)."""
    import dataclasses

    from desktop_app.core.control import RunControl
    from desktop_app.core.data import load_data
    from desktop_app.core.seeding import derive_seed
    from desktop_app.core.training import unit as unit_mod

    monkeypatch.setattr(unit_mod, "PROGRESS_INTERVAL_S", 0.0)
    cfg = tiny(arms=["none"], **{"data.n_labelled": 120, "data.train_eval_size": 30, "finetune.epochs": 1,
                                 "finetune.batch_size": 3, "finetune.optimizer": "momentum"})
    splits = load_data(cfg.data)
    if minibatch is not None:
        order = torch.randperm(120, generator=torch.Generator().manual_seed(derive_seed(0, "finetune-order", 1)))
        victim = next(int(i) for i in order[minibatch * 3 : (minibatch + 1) * 3] if i >= 30)
        x = splits.train_x.clone()
        x[victim].view(-1)[0] = float("nan")
        splits = dataclasses.replace(splits, train_x=x)
    if test_image:
        x = splits.test_x.clone()
        x[7].view(-1)[0] = float("nan")
        splits = dataclasses.replace(splits, test_x=x)
    data = unit_mod.prepare_data(cfg, torch.device("cpu"), splits)
    events = list(unit_mod.train_unit(cfg, "none", 0, tmp_path / "run", RunControl(), data))
    end = events[-1]
    assert isinstance(end, UnitFinished) and end.status == "diverged", end
    return cfg, data, events


def _advice(cfg) -> str:
    return f"lower finetune.lr (now {cfg.finetune.lr:g}) or finetune.momentum (now {cfg.finetune.momentum:g})"


def test_a_non_finite_loss_is_caught_at_the_next_checked_minibatch(tmp_path, monkeypatch):
    """The loss is read every LOSS_CHECK_EVERY minibatches from each epoch's first (a host sync each, issue 25). A
    NaN pixel in one training example of minibatch 5 poisons the weights there; the check at minibatch 32 stops the
    unit before that step, as diverged at epoch 1 with the loss and what to lower, minibatches 0 to 31 run (counted
    by a Progress each)."""
    from desktop_app.core.events import Progress
    from desktop_app.core.training.step import LOSS_CHECK_EVERY

    assert LOSS_CHECK_EVERY == 32
    cfg, _data, events = _poisoned_unit(tmp_path, monkeypatch, minibatch=5)
    assert f"none seed 0: fine-tuning diverged at epoch 1 (loss nan); {_advice(cfg)}; " in events[-1].message
    assert max(e.done_steps for e in events if isinstance(e, Progress)) == 32


def test_weights_poisoned_after_the_last_check_are_caught_at_the_epochs_end(tmp_path, monkeypatch):
    """Poisoned at minibatch 39, the last of the epoch and not a checked one: the epoch's end finds the weights
    non-finite before evaluating them, and says so."""
    cfg, _data, events = _poisoned_unit(tmp_path, monkeypatch, minibatch=39)
    assert f"none seed 0: fine-tuning diverged at epoch 1 (non-finite weights); {_advice(cfg)}; " in events[-1].message
    assert [e.epoch for e in events if isinstance(e, EpochMetrics)] == [0]


def test_a_non_finite_evaluation_names_the_train_and_test_nll(tmp_path, monkeypatch):
    """Finite weights whose test NLL is not finite (here one test image with a NaN pixel, at the epoch-0
    evaluation): the unit ends diverged at that epoch, its message giving both NLLs, the train one as evaluated
    here on the same initial net."""
    from desktop_app.core.training.models import build_model
    from desktop_app.core.training.step import evaluate

    cfg, data, events = _poisoned_unit(tmp_path, monkeypatch, test_image=True)
    net = build_model(cfg.model, data.splits.input_shape, data.splits.n_classes, 0)
    train_nll = evaluate(net, *data.train_eval)[0]
    assert f"none seed 0: fine-tuning diverged at epoch 0 (train NLL {train_nll}, test NLL nan); {_advice(cfg)}; " \
        in events[-1].message
    assert not [e for e in events if isinstance(e, EpochMetrics)]
