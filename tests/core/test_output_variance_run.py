"""kind = "output-variance" runs Erhan's block-resampling experiment as a run, persisted and replayable."""

import numpy as np
import pytest

from desktop_app.core import config as c
from desktop_app.core.engine.run import run_experiment
from desktop_app.core.events import AnalysisFinished, Progress, RunFinished
from desktop_app.core.runfolder import workspace as runs


def test_output_variance_run_and_replay(tmp_path):
    cfg = c.from_dict({
        "kind": "output-variance",
        "arms": ["none", "dae"],
        "data": {"n_labelled": 200, "n_valid": 50, "n_test": 100, "probe_size": 20, "n_unlabelled": 200},
        "model": {"layers": [{"kind": "dense", "units": 8}]},
        "pretraining": {"dae": {"epochs": 1}},
        "finetune": {"batch_size": 10, "epochs": 1},
        "output_variance": {"n_blocks": 2, "resamples": 2, "resample": "pool"},
        "device": "cpu",
    })
    events = list(run_experiment(cfg, None, tmp_path / "ov"))
    assert isinstance(events[-1], RunFinished) and events[-1].status == "completed", events[-1].message
    assert any(isinstance(e, Progress) for e in events)
    (done,) = [e for e in events if isinstance(e, AnalysisFinished)]
    res = done.result
    assert res.variance.shape == (2, 2) and np.all(np.isfinite(res.variance)) and np.all(res.variance >= 0)
    (again,) = [e for e in runs.replay(tmp_path / "ov") if isinstance(e, AnalysisFinished)]
    np.testing.assert_array_equal(again.result.variance, res.variance)


def _ov_config(backend: str) -> c.ExperimentConfig:
    return c.from_dict({
        "kind": "output-variance", "arms": ["none", "rbm"],
        "data": {"n_labelled": 120, "n_valid": 30, "n_test": 60, "probe_size": 10, "n_unlabelled": 100},
        "model": {"layers": [{"kind": "dense", "units": 6}]},
        "pretraining": {"rbm": {"epochs": 1}},
        "finetune": {"batch_size": 10, "epochs": 1},
        "output_variance": {"n_blocks": 2, "resamples": 2, "resample": "pool"},
        "execution": {"backend": backend, "workers": 2}, "device": "cpu",
    })


def test_output_variance_units_run_in_worker_processes_with_the_one_process_numbers(tmp_path):
    """Output variance is (arm, seed) units on the executors (issue 24): on two worker processes, each arm a unit
    writing its own row, the merged result equals the one-process experiment for the same seed exactly; a
    resumed (completed) unit is not recomputed."""
    from desktop_app.core.experiments.output_variance import UNIT_NAME, output_variance_experiment
    from desktop_app.core.runfolder import RunFolder
    from desktop_app.core.runfolder.results_cache import list_metadata

    cfg = _ov_config("local")
    events = list(run_experiment(cfg, None, tmp_path / "ov"))
    assert events[-1].status == "completed", events[-1].message
    (done,) = [e for e in events if isinstance(e, AnalysisFinished)]
    ov = cfg.output_variance
    *_, alone = output_variance_experiment(cfg, ov.n_blocks, ov.resamples, arms=cfg.arms, seed=cfg.seeds.base,
                                           resample=ov.resample)
    np.testing.assert_array_equal(done.result.variance, alone.variance)
    assert done.result.arms == ("none", "rbm")
    units = list_metadata(RunFolder(tmp_path / "ov"), UNIT_NAME)
    assert sorted(m["params"]["arm"] for m in units) == ["none", "rbm"]
    manifest = runs.read_manifest(tmp_path / "ov")
    assert manifest["device_type"] == "cpu"  # the kind pins its device: the manifest says where it ran
    from desktop_app.core.engine.run import resume_experiment

    again = list(resume_experiment(tmp_path / "ov", backend="inline"))
    assert again[-1].status == "completed"
    progress = [e for e in again if isinstance(e, Progress)]
    assert progress and all(e.unit_done_steps == 4 for e in progress)  # only the end: nothing recomputed
    (done2,) = [e for e in again if isinstance(e, AnalysisFinished)]
    np.testing.assert_array_equal(done2.result.variance, alone.variance)


def test_an_output_variance_run_may_stream_every_training_image(tmp_path):
    """data.n_valid = 0 (as the claim's MNIST version sets it): no validation split is held out or scored, the
    deformed stream's base is the whole training pool, and the run completes with a finite variance per block."""
    from desktop_app.core.runfolder import read_manifest

    cfg = c.from_dict({
        "kind": "output-variance", "arms": ["none"],
        "data": {"name": "elastic", "base": "digits", "n_labelled": 0, "n_valid": 0, "n_test": 100,
                 "probe_size": 20},
        "model": {"layers": [{"kind": "dense", "units": 6}]},
        "finetune": {"batch_size": 10},
        "output_variance": {"n_blocks": 3, "resamples": 2, "resample": "deform", "stream_examples": 300},
        "device": "cpu",
    })
    events = list(run_experiment(cfg, None, tmp_path / "ov"))
    assert isinstance(events[-1], RunFinished) and events[-1].status == "completed", events[-1].message
    sizes = read_manifest(tmp_path / "ov")["sizes"]
    assert sizes["valid"] == 0 and sizes["labelled"] == 5000 - 100  # every digit but the test ones streams
    (done,) = [e for e in events if isinstance(e, AnalysisFinished)]
    assert done.result.variance.shape == (1, 3) and np.all(np.isfinite(done.result.variance))
    assert done.result.block_size == 100 and done.result.resample == "deform"
    with pytest.raises(c.ConfigError, match=r"data\.n_valid"):  # a standard run scores a validation split
        cfg.with_overrides({"kind": "standard"}).validate()
