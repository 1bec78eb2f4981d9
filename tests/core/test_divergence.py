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
