"""The pitfall: the linear probe on separable vs noise features, correlations equal scipy's, a real run."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats

from desktop_app.core.analysis import landscape as ls
from desktop_app.core.analysis import pitfall as pf
from desktop_app.core.analysis import run_to_end
from desktop_app.core.data import load_data
from tests.core.test_analysis_landscape import make_tiny_run


def test_probe_separable_vs_noise():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 4, 400)
    centers = rng.normal(size=(4, 20)) * 5
    feats = centers[y] + rng.normal(size=(400, 20))
    assert pf.linear_probe(feats[:300], y[:300], feats[300:], y[300:]) > 0.97
    noise = rng.normal(size=(400, 20))
    acc = pf.linear_probe(noise[:300], y[:300], noise[300:], y[300:])
    assert abs(acc - 0.25) < 0.15


def test_correlation_equals_scipy():
    rng = np.random.default_rng(1)
    rec, acc = rng.random(9), rng.random(9)
    corr = pf.correlate([(f"p{i}", r, a) for i, (r, a) in enumerate(zip(rec, acc, strict=True))])
    pr, sr = stats.pearsonr(rec, acc), stats.spearmanr(rec, acc)
    assert corr.n == 9
    assert corr.pearson_r == pr.statistic and corr.pearson_p == pr.pvalue
    assert corr.spearman_r == sr.statistic and corr.spearman_p == sr.pvalue
    too_few = pf.correlate([("a", 1.0, 0.5), ("b", 2.0, 0.7)])
    assert math.isnan(too_few.pearson_r) and too_few.n == 2


def test_pitfall_points_of_a_run(tmp_path):
    run = make_tiny_run(tmp_path / "run")
    res = run_to_end(pf.pitfall_points_for_run(run, max_iter=100))
    assert res.labels == ("dae/s0", "dae/s1") and list(res.layer) == [0, 0]
    recon = pf.final_recon_errors(run)
    assert list(res.recon_error) == [recon[("dae", 0, 0)], recon[("dae", 1, 0)]]
    assert np.all((res.probe_accuracy > 0) & (res.probe_accuracy <= 1)) and 0 < res.pixel_accuracy <= 1
    assert res.n_train == 200 and res.n_test == 200
    assert math.isnan(res.pearson_r)  # two points: no correlation claimed
    assert res.points()[0] == ("dae/s0", res.recon_error[0], res.probe_accuracy[0])
    # independent features: sigmoid(x W^T + b) of the e0000 (pre-trained, not fine-tuned) checkpoint
    cfg = ls.run_config(run)
    data = load_data(cfg.data)
    p = ls.load_params(run, "dae", 1, 0)
    feats = [torch.sigmoid(x.flatten(1) @ p["blocks.0.module.weight"].T + p["blocks.0.module.bias"]).numpy()
             for x in (data.train_x, data.test_x)]
    ref = pf.linear_probe(feats[0], data.train_y.numpy(), feats[1], data.test_y.numpy(), max_iter=100)
    assert res.probe_accuracy[1] == pytest.approx(ref, abs=1e-9)
    pix = pf.linear_probe(data.train_x.flatten(1).numpy(), data.train_y.numpy(), data.test_x.flatten(1).numpy(),
                          data.test_y.numpy(), max_iter=100)
    assert res.pixel_accuracy == pytest.approx(pix, abs=1e-9)
