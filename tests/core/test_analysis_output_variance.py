"""Output variance vs block position: shapes, finiteness, and zero variance when nothing is resampled."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from desktop_app.core import config as c
from desktop_app.core.analysis import AnalysisProgress, run_to_end
from desktop_app.core.experiments.output_variance import output_variance_experiment


def tiny() -> c.ExperimentConfig:
    return c.from_dict({
        "data": {"n_labelled": 120, "n_valid": 50, "n_test": 100, "probe_size": 20, "n_unlabelled": 100},
        "model": {"layers": [{"kind": "dense", "units": 12}]},
        "arms": ["none", "dae"],
        "pretraining": {"dae": {"epochs": 1, "batch_size": 20}},
        "finetune": {"epochs": 1, "batch_size": 10, "lr": 0.2},
        "seeds": {"count": 1},
        "device": "cpu",
    })


def test_variances_have_the_right_shape_and_are_positive():
    items = list(output_variance_experiment(tiny(), n_blocks=3, resamples=2))
    res = items[-1]
    assert res.arms == ("none", "dae") and res.resample == "pool"
    assert res.variance.shape == (2, 3) and np.isfinite(res.variance).all() and (res.variance > 0).all()
    assert res.block_size == 20 and list(res.block_start) == [0, 20, 40]
    partials = [i.partial for i in items if isinstance(i, AnalysisProgress) and i.partial is not None]
    assert len(partials) == 6 and np.isnan(partials[0].variance).sum() == 5
    assert items[-2].done == items[-2].total == 12


def test_resampling_nothing_gives_zero_variance():
    res = run_to_end(output_variance_experiment(tiny(), n_blocks=2, resamples=2, resample="none", arms=["none"]))
    assert res.variance.shape == (1, 2)
    np.testing.assert_array_equal(res.variance, 0.0)


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="resample"):
        run_to_end(output_variance_experiment(tiny(), resample="shuffle"))
    with pytest.raises(ValueError, match="elastic"):
        run_to_end(output_variance_experiment(tiny(), resample="deform"))


def elastic() -> c.ExperimentConfig:
    return tiny().with_overrides({"data.name": "elastic", "data.base": "digits", "data.n_labelled": 60})


def test_an_elastic_stream_can_be_longer_than_the_labelled_set():
    """The endless deformed stream: 3 passes over 60 images, deterministic per seed; resampling nothing still
    gives variance 0 (the stream itself is the same for every net)."""
    run = lambda resample: run_to_end(output_variance_experiment(  # noqa: E731
        elastic(), n_blocks=3, resamples=2, arms=["none"], resample=resample, stream_size=180))
    res = run("deform")
    assert res.resample == "deform" and res.block_size == 60 and list(res.block_start) == [0, 60, 120]
    assert (res.variance > 0).all()
    np.testing.assert_array_equal(run("deform").variance, res.variance)
    np.testing.assert_array_equal(run("none").variance, 0.0)


def test_a_redeformed_block_changes_only_its_own_examples():
    from desktop_app.core.data import load_data
    from desktop_app.core.data.stream import OnlineStream
    from desktop_app.core.experiments.output_variance import _Redeformed

    data = load_data(elastic().data)
    base = OnlineStream(data.train_x, data.train_y, data.augment, 0, "variance")
    resampled = _Redeformed(base, 70, 130, seed=7)
    bx, by = (t.clone() for t in base.take(50, 100))
    rx, ry = resampled.take(50, 100)
    assert torch.equal(ry, by)  # the same base images, so the same labels
    assert torch.equal(rx[:20], bx[:20]) and torch.equal(rx[80:], bx[80:])
    assert all(not torch.equal(rx[i], bx[i]) for i in range(20, 80))
    assert torch.equal(base.take(50, 100)[0], bx)  # the base stream is not altered by a resample
