"""The seed batch's greedy pre-training driver (``stacked_greedy_pretrain``, issue 29) when seeds leave it: a seed
whose pre-training diverges reports the divergence it reports alone, the others go on exactly as alone, and each
layer above is trained on each remaining seed's own trained output of the layer below. Dense (DAE) and conv (CAE)
stacks: the driver is one for both, so the dense case lives here with the conv one rather than in the dense
seed-batch tests."""

import pytest
import torch

from desktop_app.core.pretraining import PretrainingDiverged
from desktop_app.core.seedbatch.pretrain import _rows, stacked_greedy_pretrain
from desktop_app.core.training.greedy import LayerDone, LayerEpoch, greedy_pretrain, pretrain_targets
from desktop_app.core.training.models import build_model
from tests.core.test_engine import tiny
from tests.core.test_seed_batch import SEEDS
from tests.core.test_seed_batch_conv import conv_cfg

# arm -> (config, input shape); three dense targets so that a layer is pre-trained after two seeds left
CASES = {
    "dae": (lambda: tiny(**{"arms": ["dae"], "model.layers": [{"kind": "dense", "units": 12}] * 3,
                             "model.activation": "sigmoid", "pretraining.dae.epochs": 2,
                             "pretraining.dae.batch_size": 10, "pretraining.dae.lr": 0.5}), (1, 6, 6)),
    "cae": (lambda: conv_cfg(4, **{"arms": ["cae"], "pretraining.cae.epochs": 2}), (1, 28, 28)),
}


def net_of(cfg, shape, seed: int, poison: dict[int, int]):
    """Seed ``seed``'s net; in the target ``poison[seed]`` (its index among the arm's targets) one NaN weight, so
    that seed's pre-training of that layer diverges in its first epoch, alone as in the stack."""
    net = build_model(cfg.model, shape, 10, seed)
    if seed in poison:
        li = pretrain_targets(net, cfg.arms[0])[poison[seed]]
        with torch.no_grad():
            net.blocks[li].module.weight.view(-1)[0] = float("nan")
    return net


def alone_items(net, arm, cfg, pool, seed) -> list:
    """greedy_pretrain's items for one seed, ending with the PretrainingDiverged it raises (if it does)."""
    items = []
    try:
        for item in greedy_pretrain(net, arm, cfg, pool, seed):
            items.append(item)
    except PretrainingDiverged as exc:
        items.append(exc)
    return items


@pytest.mark.parametrize("arm", list(CASES))
def test_a_seed_that_diverges_leaves_the_stacked_pretraining_and_the_others_go_on_as_alone(arm):
    """Seed 4 diverges in the first layer (whose input, the pool, the stack shares as one expanded copy), seed 6
    in the second (whose inputs are each seed's own): each gets the same items and the same divergence message
    as alone, its lower layers trained as alone; seeds 3 and 5 get every item and every weight they get alone,
    so each layer above a departure was fed each remaining seed's own trained output of the layer below."""
    make, shape = CASES[arm]
    cfg = make()
    poison = {SEEDS[1]: 0, SEEDS[3]: 1}
    pool = torch.rand(60, *shape, generator=torch.Generator().manual_seed(1))
    alone = [net_of(cfg, shape, s, poison) for s in SEEDS]
    expected = [alone_items(net, arm, cfg, pool, s) for net, s in zip(alone, SEEDS, strict=True)]
    nets = [net_of(cfg, shape, s, poison) for s in SEEDS]
    items = list(stacked_greedy_pretrain(nets, arm, cfg, pool, SEEDS))
    targets = pretrain_targets(nets[0], arm)
    for p, seed in enumerate(SEEDS):
        got = seed_items(items, p)
        assert_as_alone(got, expected[p], seed)
        if seed in poison:
            assert str(got[-1]).startswith(f"layer {targets[poison[seed]]} epoch 1: "), seed
        trained = targets[:poison[seed]] if seed in poison else targets  # a diverged layer keeps what it had
        for li in trained:
            for a, b in zip(nets[p].blocks[li].module.parameters(), alone[p].blocks[li].module.parameters(),
                            strict=True):
                torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5, msg=f"seed {seed} layer {li}")
    done = {p for p, i in items if isinstance(i, LayerDone) and i.layer == targets[-1]}
    assert done == {0, 2}  # seeds 3 and 5 finished every layer
    assert len(targets) == {"dae": 3, "cae": 2}[arm]  # dense: the top layer pre-trained after both others left


def test_the_rows_kept_of_a_shared_pool_stay_one_copy():
    """Layer 0's inputs are one copy of the pool expanded to K seeds: the seeds left keep a view of it (a
    60000-example pool is not copied K times when a seed leaves); a layer's own per-seed inputs keep the rows
    asked for, in that order."""
    pool = torch.rand(5, 3, 4)
    shared = pool.unsqueeze(0).expand(4, *pool.shape)
    kept = _rows(shared, [0, 2, 3])
    assert kept.shape == (3, 5, 3, 4) and kept.stride(0) == 0 and kept.data_ptr() == pool.data_ptr()
    assert all(torch.equal(row, pool) for row in kept)
    own = torch.rand(4, 5, 3, 4)
    assert torch.equal(_rows(own, [3, 1]), own[[3, 1]])
    assert _rows(shared, []).shape == (0, 5, 3, 4)



def seed_items(items, p) -> list:
    return [i for q, i in items if q == p]


def assert_as_alone(got, want, seed) -> None:
    """One seed's stacked items against its greedy_pretrain items (the divergence by its message)."""
    assert [type(i) for i in got] == [type(i) for i in want], seed
    for a, b in zip(got, want, strict=True):
        if isinstance(a, LayerEpoch):
            assert (a.layer, a.epoch) == (b.layer, b.epoch)
            assert a.recon_error == pytest.approx(b.recon_error, rel=1e-4), (seed, a)
        elif isinstance(a, PretrainingDiverged):
            assert str(a) == str(b), seed
        else:
            assert a == b, seed


@pytest.mark.parametrize(("seeds", "layers_done"), [(SEEDS[2:3], 0), (SEEDS[2:3], 1), (SEEDS[:3], 1)])
def test_a_group_of_one_seed_and_seeds_resumed_after_their_first_layer_pretrain_as_alone(seeds, layers_done):
    """A group of one seed (the only one of its batch resumed at its layer) pre-trains as that seed alone, and a
    batch resumed in pre-training (``layers_done`` = 1: the bottom layer was trained before the stop) skips that
    layer and trains each layer above on each seed's own output, as greedy_pretrain resumed alone does."""
    cfg, shape = CASES["dae"][0](), CASES["dae"][1]
    pool = torch.rand(60, *shape, generator=torch.Generator().manual_seed(2))
    alone = [build_model(cfg.model, shape, 10, s) for s in seeds]
    expected = [list(greedy_pretrain(net, "dae", cfg, pool, s, layers_done=layers_done))
                for net, s in zip(alone, seeds, strict=True)]
    nets = [build_model(cfg.model, shape, 10, s) for s in seeds]
    items = list(stacked_greedy_pretrain(nets, "dae", cfg, pool, seeds, layers_done=layers_done))
    for p, seed in enumerate(seeds):
        got = seed_items(items, p)
        assert_as_alone(got, expected[p], seed)
        assert [i.layer for i in got if isinstance(i, LayerDone)] == [0, 1, 2][layers_done:]
        untouched = build_model(cfg.model, shape, 10, seed).blocks[0].module.weight
        assert torch.equal(nets[p].blocks[0].module.weight, untouched) == (layers_done == 1)
        for a, b in zip(nets[p].parameters(), alone[p].parameters(), strict=True):
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def test_a_seed_whose_evaluation_error_overflows_leaves_after_its_epoch_and_the_others_go_on():
    """Every minibatch's checks finite, the epoch's reconstruction error not: seed 5's first layer passes on one
    input ~4e18 (a relu net), so each Gaussian-RBM minibatch error of layer 2 (a float32 sum over 10 examples,
    ~1.6e38) is finite and the sum over the 60 examples evaluated overflows. That seed leaves after the epoch's
    errors (the message it gets alone), the seeds after it in the stack still get their epoch, and seeds 3, 4
    and 6 pre-train layers 2 and 3 as alone."""
    cfg = tiny(**{"arms": ["rbm"], "model.layers": [{"kind": "dense", "units": 12}] * 3, "model.activation": "relu",
                  "pretraining.rbm.epochs": 2, "pretraining.rbm.batch_size": 10, "pretraining.rbm.lr": 1e-4})
    shape = (1, 6, 6)
    pool = torch.rand(60, *shape, generator=torch.Generator().manual_seed(3))

    def net_of(seed):
        net = build_model(cfg.model, shape, 10, seed)
        if seed == SEEDS[2]:
            with torch.no_grad():  # unit 0 of layer 1: 2.2e17 * (sum of the 36 pixels) ~ 4e18
                net.blocks[0].module.weight[0] = 2.2e17
                net.blocks[0].module.bias[0] = 0.0
        return net

    alone = [net_of(s) for s in SEEDS]
    expected = [alone_items(net, "rbm", cfg, pool, s) for net, s in zip(alone, SEEDS, strict=True)]
    nets = [net_of(s) for s in SEEDS]
    items = list(stacked_greedy_pretrain(nets, "rbm", cfg, pool, SEEDS))
    for p, seed in enumerate(SEEDS):
        assert_as_alone(seed_items(items, p), expected[p], seed)
        trained = [0] if seed == SEEDS[2] else [0, 1, 2]
        for li in trained:
            for a, b in zip(nets[p].blocks[li].module.parameters(), alone[p].blocks[li].module.parameters(),
                            strict=True):
                torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5, msg=f"seed {seed} layer {li}")
    diverged = expected[2][-1]
    assert str(diverged) == "layer 1 epoch 1: rbm pre-training diverged (reconstruction error inf); lower " \
                           "pretraining.rbm.lr (now 0.0001)"


def test_each_seeds_largest_magnitude_counts_its_negative_values_and_its_nans():
    """The stacked dense pre-trainers' checks read each seed's largest |value| (``_max_abs``, one pass without an
    abs copy): against abs().amax per seed, a seed whose largest magnitude is negative (down to -inf) is read by
    it, and a NaN anywhere in a seed gives NaN for that seed only."""
    from desktop_app.core.seedbatch.pretrain import _max_abs

    t = torch.tensor([[[0.5, -3.0], [2.0, 1.0]], [[-float("inf"), 1.0], [0.0, 2.0]], [[1.0, float("nan")],
                                                                                     [-5.0, 4.0]]])
    got = _max_abs(t)
    assert torch.equal(got[:2], t[:2].abs().flatten(1).amax(1)) and got[:2].tolist() == [3.0, float("inf")]
    assert torch.isnan(got[2])
