"""One dense training step (issue 24): new runs of dense nets fine-tune with the hand-written step of
``training.dense_step`` (K = 1 included), record it in the manifest, and match the autograd reference up to float
rounding; a run made before (no "step" in its manifest) resumes with autograd, exactly."""

import csv
import json

import pytest

from desktop_app.core.control import RunControl
from desktop_app.core.engine.run import resume_experiment, run_experiment
from desktop_app.core.events import CheckpointSaved, LogMessage
from desktop_app.core.runfolder import workspace as runs
from tests.core.test_engine import tiny


def metrics(run_dir):
    with open(run_dir / "metrics.csv", newline="") as fh:
        return {(r["arm"], r["seed"], r["phase"], r["layer"], r["epoch"], r["split"]): r for r in csv.DictReader(fh)}


def cfg(**over):
    return tiny(**{"arms": ["none", "dae"], "finetune.optimizer": "momentum", **over})


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The autograd reference run (execution.step = autograd), never stopped."""
    run_dir = tmp_path_factory.mktemp("ref") / "run"
    events = list(run_experiment(cfg(**{"execution.step": "autograd"}), None, run_dir))
    assert events[-1].status == "completed", events[-1].message
    return run_dir


def test_new_dense_runs_use_the_dense_step_and_match_autograd(reference, tmp_path):
    events = list(run_experiment(cfg(), None, tmp_path / "run"))
    assert events[-1].status == "completed", events[-1].message
    assert runs.read_manifest(tmp_path / "run")["step"] == "dense"
    assert runs.read_manifest(reference)["step"] == "autograd"
    a, b = metrics(reference), metrics(tmp_path / "run")
    assert a.keys() == b.keys()
    differ = 0
    for key, row in a.items():
        for col in ("nll", "error", "recon_error"):
            if row.get(col):
                assert float(b[key][col]) == pytest.approx(float(row[col]), rel=1e-4, abs=1e-6), (key, col)
                differ += row[col] != b[key][col]
    assert differ > 0  # two implementations: equal up to float rounding, not bit for bit


def test_conv_nets_keep_the_autograd_step(tmp_path):
    conv = tiny(**{"arms": ["none"], "seeds.count": 1, "finetune.epochs": 1,
                   "model.layers": [{"kind": "conv", "units": 4, "kernel": 3}, {"kind": "dense", "units": 8}]})
    events = list(run_experiment(conv, None, tmp_path / "conv"))
    assert events[-1].status == "completed", events[-1].message
    assert runs.read_manifest(tmp_path / "conv")["step"] == "autograd"


def test_a_run_made_before_the_dense_step_resumes_with_autograd_exactly(reference, tmp_path):
    """Stopped after the first fine-tuning checkpoint, its manifest made to predate the field: resume logs the
    step and gives the never-stopped autograd run's numbers bit for bit."""
    run_dir, control = tmp_path / "run", RunControl()
    for ev in run_experiment(cfg(**{"execution.step": "autograd", "execution.backend": "inline"}), control, run_dir):
        if isinstance(ev, CheckpointSaved) and ev.phase == "finetune" and ev.epoch == 1:
            control.stop()
    assert runs.read_manifest(run_dir)["status"] == "stopped"
    manifest = json.loads((run_dir / "manifest.json").read_text())
    del manifest["step"]
    (run_dir / "manifest.json").write_text(json.dumps(manifest))
    # the config a legacy run holds has no execution.step: drop it so the run's config is the default "auto"
    text = (run_dir / "config.toml").read_text().replace('step = "autograd"\n', "")
    (run_dir / "config.toml").write_text(text)
    events = list(resume_experiment(run_dir, backend="inline", force=True))
    assert events[-1].status == "completed", events[-1].message
    assert any(isinstance(e, LogMessage) and "autograd step this run was made with" in e.text for e in events)
    a, b = metrics(reference), metrics(run_dir)
    assert a.keys() == b.keys()
    for key, row in a.items():
        assert {k: row[k] for k in ("nll", "error", "recon_error")} == \
            {k: b[key][k] for k in ("nll", "error", "recon_error")}, key
