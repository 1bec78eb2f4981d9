"""kind = "output-variance" runs Erhan's block-resampling experiment as a run, persisted and replayable."""

import numpy as np

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
