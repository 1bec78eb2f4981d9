"""Error surfaces: the batched grid evaluator against plain per-point models, directions, PCA, order, cache."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from desktop_app.core import config as c
from desktop_app.core.analysis import AnalysisProgress, run_to_end
from desktop_app.core.analysis import landscape as ls
from desktop_app.core.analysis.store import cached, list_results, load_result
from desktop_app.core.control import RunControl, StopRequested
from desktop_app.core.data import load_data
from desktop_app.core.engine.run import run_experiment
from desktop_app.core.training.models import build_model
from desktop_app.core.training.step import evaluate


def make_tiny_run(run_dir: Path, **over) -> Path:
    """A real run folder from the engine: dense 16, arms none + dae, 2 seeds, 4 fine-tuning epochs."""
    cfg = c.from_dict({
        "name": "tiny-analysis",
        "data": {"n_labelled": 200, "n_valid": 100, "n_test": 200, "probe_size": 30, "n_unlabelled": 200},
        "model": {"layers": [{"kind": "dense", "units": 16}]},
        "arms": ["none", "dae"],
        "finetune": {"epochs": 4, "batch_size": 20},
        "pretraining": {"dae": {"epochs": 1}},
        "seeds": {"count": 2},
        "device": "cpu",
    })
    if over:
        cfg = cfg.with_overrides(over)
    events = list(run_experiment(cfg, None, run_dir))
    assert events[-1].status == "completed", events[-1]
    return run_dir


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> Path:
    return make_tiny_run(tmp_path_factory.mktemp("landscape") / "run")


def plain_eval(cfg, data, params, x, y) -> tuple[float, float]:
    """Independent reference: copy the weights into a fresh model and evaluate it."""
    net = build_model(cfg.model, data.input_shape, data.n_classes, 123)
    net.load_state_dict(params)
    return evaluate(net, x, y)


def test_grid_points_match_a_plain_model(tiny_run):
    res = run_to_end(ls.compute_landscape(tiny_run, "dae", 1, resolution=(9, 7), n_eval=150, direction_seed=5))
    assert res.loss.shape == (7, 9) and res.complete and res.epoch == 4
    cfg = ls.run_config(tiny_run)
    data = load_data(cfg.data)
    center = ls.load_params(tiny_run, "dae", 1, 4)
    d1, d2 = ls.filter_normalized_direction(center, 5), ls.filter_normalized_direction(center, 6)
    x, y = data.train_x[:150], data.train_y[:150]
    rng = np.random.default_rng(0)
    for j, i in zip(rng.integers(0, 7, 6), rng.integers(0, 9, 6), strict=True):
        params = {k: center[k] + float(res.xs[i]) * d1[k] + float(res.ys[j]) * d2[k] for k in center}
        nll, err = plain_eval(cfg, data, params, x, y)
        assert res.loss[j, i] == pytest.approx(nll, rel=1e-4)
        assert res.error[j, i] == pytest.approx(err, abs=1e-9)
    # the centre of a symmetric grid is the checkpoint itself
    nll, _ = plain_eval(cfg, data, center, x, y)
    assert res.loss[3, 4] == pytest.approx(nll, rel=1e-5)


def test_filter_normalized_direction_matches_slice_norms():
    net = build_model(c.ModelConfig(layers=(c.LayerSpec("conv", 4, 3), c.LayerSpec("dense", 7))), (1, 8, 8), 3, 0)
    params = {k: v.detach() for k, v in net.state_dict().items()}
    d = ls.filter_normalized_direction(params, 0)
    for name, w in params.items():
        if w.dim() == 1:
            assert torch.count_nonzero(d[name]) == 0
        else:
            torch.testing.assert_close(d[name].flatten(1).norm(dim=1), w.flatten(1).norm(dim=1), rtol=1e-5, atol=0)
    d_again = ls.filter_normalized_direction(params, 0)
    assert all(torch.equal(d[k], d_again[k]) for k in d)


@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "relu"])
def test_batched_mlp_with_chunks_and_small_batches(activation):
    """Deeper MLP, a memory budget that forces several point batches and example chunks."""
    mc = c.ModelConfig(layers=c.mlp([20, 12]), activation=activation)
    net = build_model(mc, (1, 6, 6), 4, 0).eval()
    center = {k: v.detach().clone() for k, v in net.state_dict().items()}
    center["blocks.1.module.bias"] += 0.3  # non-zero biases ...
    d1, d2 = ls.filter_normalized_direction(center, 1), ls.filter_normalized_direction(center, 2)
    d2["head.bias"] = torch.randn(4)  # ... and a direction with a bias component (as PCA directions have)
    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(50, 1, 6, 6, generator=g), torch.randint(0, 4, (50,), generator=g)
    coefs = np.random.default_rng(1).uniform(-2, 2, (13, 2))
    old = ls.MAX_ROWS_PER_CHUNK
    ls.MAX_ROWS_PER_CHUNK = 16
    try:
        batches = list(ls.evaluate_points(net, center, d1, d2, coefs, x, y, max_points=4))
    finally:
        ls.MAX_ROWS_PER_CHUNK = old
    assert len(batches) == 4
    idx = np.concatenate([b[0] for b in batches])
    nll = np.concatenate([b[1] for b in batches])
    err = np.concatenate([b[2] for b in batches])
    assert np.array_equal(idx, np.arange(13))
    for k in range(13):
        params = {n: center[n] + coefs[k, 0] * d1[n] + coefs[k, 1] * d2[n] for n in center}
        ref = build_model(mc, (1, 6, 6), 4, 9)
        ref.load_state_dict(params)
        ref_nll, ref_err = evaluate(ref, x, y)
        assert nll[k] == pytest.approx(ref_nll, rel=1e-4)
        assert err[k] == pytest.approx(ref_err, abs=1e-9)


def test_conv_nets_use_the_per_point_fallback():
    mc = c.ModelConfig(layers=(c.LayerSpec("conv", 3, 3), c.LayerSpec("pool", kernel=2, stride=2),
                               c.LayerSpec("dense", 8)))
    net = build_model(mc, (1, 8, 8), 3, 0).eval()
    assert not ls.is_mlp(net)
    center = {k: v.detach().clone() for k, v in net.state_dict().items()}
    d1, d2 = ls.filter_normalized_direction(center, 1), ls.filter_normalized_direction(center, 2)
    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(30, 1, 8, 8, generator=g), torch.randint(0, 3, (30,), generator=g)
    coefs = np.array([[0.0, 0.0], [0.5, -0.25], [-1.0, 1.0]])
    _, nll, err = zip(*list(ls.evaluate_points(net, center, d1, d2, coefs, x, y)), strict=True)
    nll = np.concatenate(nll)
    for k, (a, b) in enumerate(coefs):
        ref = build_model(mc, (1, 8, 8), 3, 4)
        ref.load_state_dict({n: center[n] + a * d1[n] + b * d2[n] for n in center})
        assert nll[k] == pytest.approx(evaluate(ref, x, y)[0], rel=1e-4)


def test_pca_directions_and_trajectory_match_numpy(tiny_run):
    res = run_to_end(ls.compute_landscape(tiny_run, "none", 0, directions="pca", resolution=5, n_eval=50))
    epochs = ls.checkpoint_epochs(tiny_run, "none", 0)
    assert list(res.trajectory_epochs) == epochs == [0, 1, 2, 3, 4]
    flat = {e: ls.flatten(ls.load_params(tiny_run, "none", 0, e)).double().numpy() for e in epochs}
    diffs = np.stack([flat[e] - flat[4] for e in epochs])
    m = diffs[:-1]  # the centre's own (zero) row carries no direction
    mc = m - m.mean(0)
    _, s, vt = np.linalg.svd(mc, full_matrices=False)
    np.testing.assert_allclose(res.explained_variance_ratio, (s**2 / (s**2).sum())[:2], rtol=1e-6)
    for i in range(2):
        ref = diffs @ vt[i]
        sign = np.sign(ref[0]) if ref[0] != 0 else 1.0
        np.testing.assert_allclose(res.trajectory[:, i], sign * ref, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(res.trajectory[-1], [0.0, 0.0], atol=1e-12)
    # the default range covers the whole trajectory
    assert res.xs[0] <= res.trajectory[:, 0].min() and res.xs[-1] >= res.trajectory[:, 0].max()
    assert res.ys[0] <= res.trajectory[:, 1].min() and res.ys[-1] >= res.trajectory[:, 1].max()


def test_grid_fills_coarse_to_fine_with_partials(tiny_run):
    items = list(ls.compute_landscape(tiny_run, "none", 0, resolution=9, n_eval=40))
    progress = [it for it in items if isinstance(it, AnalysisProgress)]
    assert progress[0].done == 0 and progress[-1].done == progress[-1].total == 81
    first = next(p.partial for p in progress if p.partial is not None)
    filled = np.isfinite(first.loss)
    coarse = np.zeros((9, 9), bool)
    coarse[::4, ::4] = True
    assert filled[coarse].all() and filled.sum() >= coarse.sum()
    order = ls.coarse_to_fine_order(9, 9)
    assert sorted(order) == list(range(81)) and set(order[:9]) == set(np.flatnonzero(coarse.ravel()))
    assert items[-1].complete


def test_stop_cancels_the_surface(tiny_run):
    control = RunControl()
    gen = ls.compute_landscape(tiny_run, "none", 0, resolution=9, n_eval=40, control=control)
    next(gen)
    control.stop()
    with pytest.raises(StopRequested):
        list(gen)


def test_results_are_cached_in_the_run_folder(tiny_run):
    params = {"arm": "none", "seed": 0, "epoch": 4, "resolution": 5, "n_eval": 40}
    sources = [ls.checkpoint_path(tiny_run, "none", 0, 4)]

    def make():
        return ls.compute_landscape(tiny_run, "none", 0, 4, resolution=5, n_eval=40)

    first = list(cached(tiny_run, "landscape", params, make, sources))
    assert any(isinstance(i, AnalysisProgress) for i in first)
    second = list(cached(tiny_run, "landscape", params, make, sources))
    assert len(second) == 1
    a, b = first[-1], second[0]
    assert type(a) is type(b) and b.arm == "none" and b.epoch == 4 and b.directions == "random"
    for name in ("xs", "ys", "loss", "error", "trajectory", "trajectory_epochs", "explained_variance_ratio"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert load_result(tiny_run, "landscape", {**params, "n_eval": 41}, sources) is None
    assert list_results(tiny_run, "landscape")[0]["params"] == params


def test_cached_call_keys_on_params_and_run_files(tmp_path):
    from desktop_app.core.analysis.store import cached_call, run_sources

    run = make_tiny_run(tmp_path / "run")
    kw = {"arm": "none", "seed": 1, "resolution": 5, "n_eval": 30}
    first = list(cached_call(run, "landscape", ls.compute_landscape, **kw))
    assert len(first) > 1
    again = list(cached_call(run, "landscape", ls.compute_landscape, **kw, control=RunControl()))
    assert len(again) == 1 and np.array_equal(again[0].loss, first[-1].loss)
    assert any(p.name == "e0004.pt" for p in run_sources(run))
    # a run that changes (e.g. resumed with more epochs) invalidates the cache
    (run / "checkpoints" / "none" / "s1" / "e0004.pt").touch()
    assert len(list(cached_call(run, "landscape", ls.compute_landscape, **kw))) > 1


def test_trajectory_pca_chunking_does_not_change_the_answer(tiny_run):
    epochs = ls.checkpoint_epochs(tiny_run, "dae", 0)
    traj = [(e, ls.load_params(tiny_run, "dae", 0, e)) for e in epochs]
    center = traj[-1][1]
    whole = ls.trajectory_pca(traj, center)
    chunked = ls.trajectory_pca(iter(traj), center, chunk=7)
    np.testing.assert_allclose(chunked.coords, whole.coords, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(chunked.explained_variance_ratio, whole.explained_variance_ratio, rtol=1e-9)
    torch.testing.assert_close(ls.flatten(chunked.d1), ls.flatten(whole.d1))
    assert ls.flatten(whole.d1).norm().item() == pytest.approx(1.0, rel=1e-5)
    assert abs(ls.flatten(whole.d1) @ ls.flatten(whole.d2)).item() < 1e-5
    with pytest.raises(ValueError, match="at least 3"):
        ls.trajectory_pca(traj[-2:], center)
