"""Function space: purity on synthetic clusters, PCA against numpy's SVD, embeddings of a real run."""

from __future__ import annotations

import numpy as np
import pytest

from desktop_app.core.analysis import function_space as fs
from desktop_app.core.analysis import run_to_end
from tests.core.test_analysis_landscape import make_tiny_run


def clusters(offset: float, seed: int = 0) -> fs.ProbeSnapshots:
    """2 arms x 3 seeds x 5 epochs in 40 dims; arm 'b' shifted by ``offset``."""
    rng = np.random.default_rng(seed)
    rows, arms, seeds, epochs = [], [], [], []
    for arm, shift in (("a", 0.0), ("b", offset)):
        for s in range(3):
            start = rng.normal(size=40)
            for e in range(5):
                rows.append(start + 0.05 * e + shift)
                arms.append(arm)
                seeds.append(s)
                epochs.append(e)
    return fs.ProbeSnapshots(np.array(rows), tuple(arms), np.array(seeds), np.array(epochs))


def test_purity_separated_vs_mixed():
    sep = clusters(20.0)
    assert fs.nn_arm_purity(sep.outputs, sep.arms, sep.seeds) == 1.0
    mask = fs.last_epoch_mask(sep.arms, sep.seeds, sep.epochs)
    assert mask.sum() == 6 and np.all(sep.epochs[mask] == 4)
    assert fs.nn_arm_purity(sep.outputs, sep.arms, sep.seeds, mask) == 1.0
    # mixed: arm labels independent of position; average over many draws is about one half
    vals = []
    for seed in range(40):
        mixed = clusters(0.0, seed)
        vals.append(fs.nn_arm_purity(mixed.outputs, mixed.arms, mixed.seeds))
    assert 0.35 < np.mean(vals) < 0.65
    # row blocks give the same answer as one block
    assert fs.nn_arm_purity(mixed.outputs, mixed.arms, mixed.seeds, block=4) == vals[-1]


def test_purity_excludes_the_own_trajectory():
    # two trajectories of arm a far apart, each next to a trajectory of arm b: own-epoch neighbours would
    # give purity 1, excluding them gives 0
    x = np.array([[0.0], [0.01], [0.1], [0.11], [10.0], [10.01], [10.1], [10.11]])
    arms = ["a", "a", "b", "b", "a", "a", "b", "b"]
    seeds = [0, 0, 0, 0, 1, 1, 1, 1]
    assert fs.nn_arm_purity(x, arms, seeds) == 0.0


def test_pca_matches_numpy_svd_up_to_sign():
    snaps = clusters(3.0)
    res = run_to_end(fs.function_space_of(snaps, "pca"))
    xc = snaps.outputs - snaps.outputs.mean(0)
    u, s, _ = np.linalg.svd(xc, full_matrices=False)
    ref = u[:, :2] * s[:2]
    for i in range(2):
        sign = np.sign(ref[:, i] @ res.coords[:, i])
        np.testing.assert_allclose(res.coords[:, i], sign * ref[:, i], rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(res.explained_variance_ratio, (s**2 / (s**2).sum())[:2], rtol=1e-6)
    assert res.purity == 1.0 and res.arms == snaps.arms


@pytest.mark.parametrize("method", ["tsne", "isomap"])
def test_manifold_methods_on_few_points(method):
    snaps = clusters(20.0)
    small = fs.ProbeSnapshots(snaps.outputs[::6], snaps.arms[::6], snaps.seeds[::6], snaps.epochs[::6])
    a = run_to_end(fs.function_space_of(small, method, perplexity=30.0, n_neighbors=10))
    b = run_to_end(fs.function_space_of(small, method, perplexity=30.0, n_neighbors=10))
    assert a.coords.shape == (5, 2) and np.isfinite(a.coords).all()
    np.testing.assert_array_equal(a.coords, b.coords)  # fixed random_state
    assert np.isnan(a.explained_variance_ratio).all()


def test_function_space_of_a_run(tmp_path):
    run = make_tiny_run(tmp_path / "run")
    res = run_to_end(fs.compute_function_space(run, "pca"))
    assert res.coords.shape == (2 * 2 * 5, 2)
    assert set(res.arms) == {"none", "dae"} and set(res.seeds.tolist()) == {0, 1}
    assert sorted(set(res.epochs.tolist())) == [0, 1, 2, 3, 4]
    snaps = fs.load_probe_snapshots(run)
    assert snaps.outputs.shape == (20, 30 * 10)
    assert res.purity == pytest.approx(fs.nn_arm_purity(snaps.outputs, snaps.arms, snaps.seeds))
    only = fs.load_probe_snapshots(run, arms=["dae"], epochs=[4])
    assert only.arms == ("dae", "dae") and list(only.epochs) == [4, 4]
    with pytest.raises(ValueError, match="method"):
        run_to_end(fs.compute_function_space(run, "umap"))


def test_chance_purity_by_hand_and_against_random_outputs():
    """The purity of nets mixed at random: by hand (3 arms x 2 seeds: a net's candidates are the 5 other
    trajectories, one of them its arm's: 0.2, not the 1/3 the panel and report printed), and as the mean purity of
    outputs drawn at random (each net's nearest neighbour is then a uniform draw among its candidates)."""
    arms = ["none", "none", "rbm", "rbm", "dae", "dae"]
    assert fs.nn_chance(arms, [0, 1, 0, 1, 0, 1]) == pytest.approx(0.2)
    # unbalanced, 2 epochs per trajectory: a (2 traj), b (1 traj): a's points 2/4 (2 of a's other trajectory among
    # 4 candidates), b's points 0/4
    arms2, seeds2 = ["a"] * 4 + ["b"] * 2, [0, 0, 1, 1, 0, 0]
    assert fs.nn_chance(arms2, seeds2) == pytest.approx((4 * 0.5 + 2 * 0.0) / 6)
    mask = np.array([False, True, False, True, False, True])
    assert fs.nn_chance(arms2, seeds2, mask) == pytest.approx((2 * 0.5 + 0.0) / 3)
    assert np.isnan(fs.nn_chance(["a", "a"], [0, 0]))  # one trajectory: no candidates
    rng = np.random.default_rng(0)
    arms3 = [a for a in ("none", "rbm", "dae") for _ in range(4 * 3)]  # 3 arms x 4 seeds x 3 epochs
    seeds3 = [s for _ in range(3) for s in range(4) for _ in range(3)]
    draws = [fs.nn_arm_purity(rng.normal(size=(len(arms3), 10)), arms3, seeds3) for _ in range(400)]
    expected = fs.nn_chance(arms3, seeds3)
    assert expected == pytest.approx((12 - 3) / (36 - 3))
    assert np.mean(draws) == pytest.approx(expected, abs=0.02)  # ~5 standard errors
