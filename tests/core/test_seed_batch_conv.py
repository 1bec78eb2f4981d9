"""Seed batches of conv nets (issue 14 item 1): K seeds of a CNN stacked as grouped convolutions give each seed
its own numbers (fine-tuning with momentum and Adam, conv-AE pre-training with Masci's pool and sparsity, dropout
masks), write every seed's own unit files and events, and a stopped batch resumes exactly."""

import pytest
import torch

from desktop_app.core.config import FinetuneConfig, LayerSpec, ModelConfig
from desktop_app.core.control import RunControl
from desktop_app.core.engine.run import resume_experiment, run_experiment
from desktop_app.core.events import CheckpointSaved, EpochMetrics, FilterSnapshot, RunFinished, UnitFinished
from desktop_app.core.execution import batching
from desktop_app.core.runfolder import RunFolder
from desktop_app.core.seedbatch.conv import StackedCNN, from_groups, stacked_class, to_groups
from desktop_app.core.training.dense_step import StackedMLP
from desktop_app.core.training.models import build_model
from desktop_app.core.training.step import finetune_step, load_checkpoint, make_optimizer
from tests.core.test_engine import tiny
from tests.core.test_seed_batch import (
    SEEDS,
    assert_each_seed_matches,
    assert_pretrained_alike,
    restarted_stack,
    table,
    train_alone,
)

CNN = [{"kind": "conv", "units": 4, "kernel": 5}, {"kind": "pool", "units": 4, "kernel": 2, "stride": 2},
       {"kind": "conv", "units": 6, "kernel": 3, "stride": 2}, {"kind": "dense", "units": 16}]


def conv_cfg(k: int, **over):
    base = {"arms": ["none", "cae"], "seeds.count": 4, "threads": 1, "finetune.epochs": 2, "finetune.batch_size": 20,
            "execution.backend": "inline", "execution.seed_batch": k, "model.layers": CNN, "model.activation": "relu",
            "model.init": "he", "data.n_labelled": 120, "data.n_unlabelled": 120, "data.n_test": 100,
            "pretraining.cae.epochs": 1, "pretraining.cae.batch_size": 20, "pretraining.cae.pool": 2,
            "pretraining.cae.sparsity": 0.001, "pretraining.cae.corruption": 0.3}
    return tiny(**{**base, **over})


def test_grouped_layout_round_trips():
    x = torch.rand(3, 5, 2, 4, 4)
    h = to_groups(x)
    assert h.shape == (5, 6, 4, 4)
    assert torch.equal(h[:, 2:4], x[1])  # seed 1's channels sit together
    assert torch.equal(from_groups(h, 3), x)


@pytest.mark.parametrize(("optimizer", "extras", "channels_last"), [
    ("momentum", {}, False),
    ("adam", {"dropout": 0.3, "l1": 1e-4, "l2": 1e-3, "activation": "tanh"}, False),
    ("sgd", {"dropout": 0.5, "activation": "relu"}, True),
    ("momentum", {"l2": 1e-2}, False),
])
def test_stacked_cnn_step_is_each_nets_own_step(optimizer, extras, channels_last):
    """Same init, minibatches and dropout generators: the stacked parameters and optimizer state equal K nets
    trained one by one with finetune_step (torch.optim, F.dropout on the default generator). Channels-last
    images (as the data sets' one-channel arrays read) give a unit channels-last feature maps, whose dropout
    masks bernoulli_ fills in that memory order: the stack draws them in the same order."""
    layers = (LayerSpec("conv", 4, 3), LayerSpec("pool", 4, 2, 2), LayerSpec("conv", 5, 3, 2), LayerSpec("dense", 12))
    mc = ModelConfig(layers=layers, **extras)
    ft = FinetuneConfig(optimizer=optimizer, lr=1e-3 if optimizer == "adam" else 0.05)
    gen = torch.Generator().manual_seed(0)
    x, y = torch.rand(200, 2, 14, 14, generator=gen), torch.randint(0, 10, (200,), generator=gen)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    batches = [[(s * 10 + k * 7) % 190 for k in range(len(SEEDS))] for s in range(15)]
    nets, opts = train_alone(mc, ft, (2, 14, 14), x, y, batches)
    assert stacked_class([s.kind for s in layers]) is StackedCNN
    stacked = StackedCNN([build_model(mc, (2, 14, 14), 10, s) for s in SEEDS], mc, ft)
    gens = [torch.Generator().manual_seed(100 + s) for s in SEEDS]
    for starts in batches:
        idx = torch.tensor([list(range(i, i + 10)) for i in starts])  # as a seed batch gathers its minibatches
        xs, ys = x[idx], y[idx]
        assert xs[0].stride() == x[:10].stride()
        assert stacked.step(xs, ys, gens, check_loss=True) == {}
    assert_each_seed_matches(stacked, nets, opts, build_model(mc, (2, 14, 14), 10, 0), rtol=1e-4, atol=1e-5)


def test_per_seed_states_restart_a_conv_stack_exactly():
    """Each seed's weights + single-unit Adam state rebuild the same stack: the continued steps are bit for bit
    those of the stack that never stopped; a seed with a non-finite loss leaves and the others go on."""
    mc = ModelConfig(layers=(LayerSpec("conv", 3, 3), LayerSpec("pool", 3, 2, 2), LayerSpec("dense", 8)))
    ft = FinetuneConfig(optimizer="adam", lr=1e-3)
    gen = torch.Generator().manual_seed(2)
    xs, ys = torch.rand(10, 4, 6, 1, 10, 10, generator=gen), torch.randint(0, 10, (10, 4, 6), generator=gen)
    first, again = restarted_stack(StackedCNN, mc, ft, (1, 10, 10), xs, ys, 5, 8)
    with torch.no_grad():
        again.params()[-1][1].fill_(float("inf"))  # seed 1's head bias
    assert list(again.step(xs[8], ys[8], None, check_loss=True)) == [1] and again.k == 3
    first.keep([0, 2, 3])
    first.step(xs[8][[0, 2, 3]], ys[8][[0, 2, 3]], None, check_loss=True)
    for a, b in zip(first.params(), again.params(), strict=True):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("over", [
    {},
    {"model.activation": "sigmoid", "pretraining.cae.noise": "gaussian", "pretraining.cae.pool": 0,
     "pretraining.cae.sparsity": 0.0, "pretraining.cae.epochs": 2},
])
def test_stacked_cae_is_each_seeds_own(over):
    """Per-seed corruption from each seed's own generator, Masci pooling and the L1 code penalty per seed: the
    stacked conv layers, their reconstruction errors and the items each seed gets equal greedy_pretrain's."""
    from desktop_app.core.seedbatch.pretrain import stacked_greedy_pretrain
    from desktop_app.core.training.greedy import LayerEpoch, greedy_pretrain

    cfg = conv_cfg(4, **{"arms": ["cae"], **over})
    pool = torch.rand(60, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    alone, alone_items = [], []
    for s in SEEDS:
        net = build_model(cfg.model, (1, 28, 28), 10, s)
        alone_items.append(list(greedy_pretrain(net, "cae", cfg, pool, s)))
        alone.append(net)
    nets = [build_model(cfg.model, (1, 28, 28), 10, s) for s in SEEDS]
    items = list(stacked_greedy_pretrain(nets, "cae", cfg, pool, SEEDS))
    for got in assert_pretrained_alike(items, nets, alone, alone_items):
        assert sum(isinstance(i, LayerEpoch) for i in got) == 2 * cfg.pretraining.cae.epochs  # both conv layers


OPTIMIZERS = {"momentum": {"finetune.optimizer": "momentum", "finetune.lr": 0.02},
              "adam": {"finetune.optimizer": "adam", "finetune.lr": 1e-3, "model.dropout": 0.2, "arms": ["cae"]}}


@pytest.fixture(scope="module", params=list(OPTIMIZERS))
def pair(request, tmp_path_factory):
    """The same CNN run (arms none + cae, 4 seeds) as plain units and as one batch of 4 per arm."""
    runs = []
    for k in (1, 4):
        run_dir = tmp_path_factory.mktemp(f"{request.param}-k{k}") / "run"
        events = list(run_experiment(conv_cfg(k, **OPTIMIZERS[request.param]), None, run_dir))
        assert events[-1].status == "completed", events[-1].message
        runs.append((run_dir, events))
    return request.param, runs


def test_a_conv_batch_of_4_gives_each_seed_its_own_numbers_and_files(pair):
    _, ((alone, alone_events), (run_dir, events)) = pair
    a, b = table(alone), table(run_dir)
    assert a.keys() == b.keys() and any(r["recon_error"] for r in a.values())
    for key, row in a.items():
        for col in ("nll", "recon_error"):
            if row[col]:
                assert float(b[key][col]) == pytest.approx(float(row[col]), rel=1e-4), key
    for arm in {key[0] for key in a}:
        for seed in range(4):
            unit_a, unit_b = RunFolder(alone).unit(arm, seed), RunFolder(run_dir).unit(arm, seed)
            wa = load_checkpoint(unit_a.latest_path)
            wb = load_checkpoint(unit_b.latest_path)
            assert wb["stage"] == "done"
            for name in wa["model"]:
                torch.testing.assert_close(wb["model"][name], wa["model"][name], rtol=1e-4, atol=1e-5)
            assert wa["optimizer"]["state"].keys() == wb["optimizer"]["state"].keys()
            names = sorted(p.name for p in unit_a.snapshots_dir.iterdir())
            assert sorted(p.name for p in unit_b.snapshots_dir.iterdir()) == names
            assert any(n.startswith("filters_pretrain") for n in names) == (arm == "cae")
    kinds = [(type(e).__name__, getattr(e, "arm", ""), getattr(e, "seed", -1)) for e in alone_events
             if isinstance(e, EpochMetrics | FilterSnapshot | CheckpointSaved | UnitFinished)]
    got = [(type(e).__name__, getattr(e, "arm", ""), getattr(e, "seed", -1)) for e in events
           if isinstance(e, EpochMetrics | FilterSnapshot | CheckpointSaved | UnitFinished)]
    assert sorted(got) == sorted(kinds)  # every unit gets the events it gets alone
    finished = [(e.arm, e.seed) for e in events if isinstance(e, UnitFinished)]
    assert finished[3][1] == 3 and len({arm for arm, _ in finished[:4]}) == 1  # a batch, its key seed last


def test_a_conv_batch_stopped_midway_resumes_exactly(pair, tmp_path):
    """Stopped after a seed's epoch-1 checkpoint, resumed in batches of 4: the same numbers, bit for bit, as the
    stacked run that never stopped (the optimizer state goes through each seed's single-unit format)."""
    name, (_, (ref_dir, _)) = pair
    control = RunControl()
    run_dir = tmp_path / "run"
    events = []
    for ev in run_experiment(conv_cfg(4, **OPTIMIZERS[name]), control, run_dir):
        events.append(ev)
        if isinstance(ev, CheckpointSaved) and ev.epoch == 1 and ev.arm == "cae" and not control.stopped:
            control.stop()
    assert isinstance(events[-1], RunFinished) and events[-1].status == "stopped"
    rest = list(resume_experiment(run_dir, seed_batch=4, backend="inline"))
    assert rest[-1].status == "completed", rest[-1].message
    ref, got = table(ref_dir), table(run_dir)
    assert got.keys() == ref.keys()
    for key, row in ref.items():
        assert got[key]["nll"] == row["nll"] and got[key]["recon_error"] == row["recon_error"], key


def test_conv_nets_resolve_to_a_stacked_batch():
    cpu = torch.device("cpu")
    assert stacked_class(["dense"]) is StackedMLP
    assert batching.resolve_seed_batch(conv_cfg(4), cpu, (1, 28, 28), 10) == 4
    assert batching.resolve_seed_batch(conv_cfg(0), cpu, (1, 28, 28), 10) == StackedCNN.auto_cpu
    need = batching.batch_bytes(conv_cfg(4), 4, (1, 28, 28), 10, 200)
    assert need > batching.batch_bytes(conv_cfg(4), 1, (1, 28, 28), 10, 200) > 4 * 4 * 28 * 28 * 200


def test_seeds_left_in_a_stacked_cae_keep_their_own_weights_and_adam_state_and_step_on_unchanged():
    """A seed that leaves a stacked CAE (``keep``, after its divergence) takes nothing from the others: the seeds
    kept hold their own slice of the kernels, biases and Adam moments (the step counts go on), draw their
    corruption from their own generators, and step on exactly as the stack that lost no seed; a stack of one is
    that seed alone, and every seed leaving leaves an empty stack, not an error."""
    from desktop_app.core.config import CAEConfig
    from desktop_app.core.pretraining import make_pretrainer
    from desktop_app.core.seedbatch.pretrain import StackedCAE

    cfg = CAEConfig(lr=0.01, pool=2, sparsity=0.01, corruption=0.2)
    xs = torch.rand(4, 3, 5, 2, 8, 8, generator=torch.Generator().manual_seed(7))  # (steps, seeds, batch, C, H, W)

    def layer(s: int) -> torch.nn.Conv2d:
        conv = torch.nn.Conv2d(2, 3, 3)
        with torch.no_grad():  # seed s's own initial kernels, of its own scale, the same in every stack
            conv.weight.copy_((0.2 + s) * torch.randn(3, 2, 3, 3, generator=torch.Generator().manual_seed(s)))
            conv.bias.fill_(0.1 * s)
        return conv

    def trainers(seeds=(0, 1, 2)):
        return [make_pretrainer("cae", layer(s), "relu", cfg, unit_interval_input=True,
                                generator=torch.Generator().manual_seed(10 + s)) for s in seeds]

    def adam(stack) -> list[dict[str, torch.Tensor]]:
        return [{key: v.clone() for key, v in entry.items()} for entry in stack.opt.state_dict()["state"].values()]

    left, whole = StackedCAE(trainers()), StackedCAE(trainers())
    for i in range(2):
        left.train_step(xs[i])
        whole.train_step(xs[i])
    assert left.check() == {} and whole.check() == {}
    kept_trainers = [left.trainers[0], left.trainers[2]]
    before, moments = {name: getattr(left, name).detach().clone() for name in left.tensors()}, adam(left)
    left.keep([0, 2])
    assert left.trainers == kept_trainers
    for name in left.tensors():
        assert torch.equal(getattr(left, name), before[name][[0, 2]]), name
    now = adam(left)
    assert [entry.keys() for entry in now] == [entry.keys() for entry in moments]
    for entry, old in zip(now, moments, strict=True):
        assert float(entry["step"]) == float(old["step"]) == 2.0
        for key in ("exp_avg", "exp_avg_sq"):
            assert torch.equal(entry[key], old[key][[0, 2]]), key
    for i in (2, 3):
        left.train_step(xs[i][[0, 2]])
        whole.train_step(xs[i])
    for name in whole.tensors():
        torch.testing.assert_close(getattr(left, name), getattr(whole, name)[[0, 2]], rtol=1e-5, atol=1e-6,
                                   msg=name)
    single = StackedCAE(trainers((2,)))  # a stack of one seed (the last one left of a batch) is that seed's own
    for i in range(4):
        single.train_step(xs[i][[2]])
    for name in whole.tensors():
        torch.testing.assert_close(getattr(single, name), getattr(whole, name)[[2]], rtol=1e-5, atol=1e-6, msg=name)
    left.keep([])  # every seed diverged in one epoch: an empty stack, not an error
    assert left.trainers == [] and all(getattr(left, name).shape[0] == 0 for name in left.tensors())



def assert_stack_steps_as_alone(mc, ft, shape, seeds, y, steps) -> None:
    """Each seed's net stepped alone with finetune_step (dropout from the default generator seeded 100 + seed)
    and the stack of them stepped on the same minibatches (seed k's at ``starts[k]`` of ``x`` in each step of
    ``steps``, a list of (x, starts)) end with the same weights and optimizer state."""
    nets = [build_model(mc, shape, 10, s) for s in seeds]
    opts = [make_optimizer(ft, n.parameters()) for n in nets]
    for k, (net, opt) in enumerate(zip(nets, opts, strict=True)):
        torch.manual_seed(100 + seeds[k])
        for x, starts in steps:
            finetune_step(net, opt, x[starts[k] : starts[k] + 10], y[starts[k] : starts[k] + 10], mc, ft, 1)
    stacked = StackedCNN([build_model(mc, shape, 10, s) for s in seeds], mc, ft)
    gens = [torch.Generator().manual_seed(100 + s) for s in seeds]
    for x, starts in steps:
        idx = torch.tensor([list(range(i, i + 10)) for i in starts])  # as a seed batch gathers its minibatches
        assert stacked.step(x[idx], y[idx], gens, check_loss=True) == {}
    assert_each_seed_matches(stacked, nets, opts, build_model(mc, shape, 10, 0), rtol=1e-4, atol=1e-5)


def test_a_conv_stack_fed_minibatches_of_two_layouts_draws_each_layouts_dropout_masks():
    """A unit's conv activations take its input's memory layout, and bernoulli_ fills a dropout mask in that
    order: a stack fed channels-last minibatches, then channel-major ones (the same images, wider than high),
    draws each seed's masks in the order that seed draws them alone for each layout, so its steps stay each
    net's own."""
    mc = ModelConfig(layers=(LayerSpec("conv", 4, 3), LayerSpec("pool", 4, 2, 2), LayerSpec("dense", 12)),
                     dropout=0.5, activation="relu")
    gen = torch.Generator().manual_seed(3)
    x, y = torch.rand(60, 2, 10, 13, generator=gen), torch.randint(0, 10, (60,), generator=gen)
    layouts = (x.contiguous(memory_format=torch.channels_last), x)
    steps = [(layouts[s // 3], [(s * 10 + k * 7) % 50 for k in range(len(SEEDS))]) for s in range(6)]
    assert_stack_steps_as_alone(mc, FinetuneConfig(optimizer="sgd", lr=0.05), (2, 10, 13), SEEDS, y, steps)


@pytest.mark.parametrize(("pool", "seeds", "top"), [
    ((3, 1), SEEDS[:1], (LayerSpec("dense", 8),)), ((2, 3), SEEDS[:3], ())])
def test_conv_nets_whose_pools_overlap_or_leave_gaps_step_as_alone(pool, seeds, top):
    """Max pools whose stride is not their window (overlapping: a 3-wide window moved by 1, the default stride;
    gapped: a 2-wide window moved by 3), the map after them just wide enough for the next conv, with dropout: each
    seed's masks are drawn in the order of its own activations (found by running its own layers as they are), and
    a stack of one seed (the last one left of a batch) steps as that seed alone; the head reads a dense layer or,
    with none, each seed's own conv maps flattened."""
    mc = ModelConfig(layers=(LayerSpec("conv", 3, 3), LayerSpec("pool", 3, *pool), LayerSpec("conv", 4, 3), *top),
                     dropout=0.3, activation="relu")
    gen = torch.Generator().manual_seed(4)
    x, y = torch.rand(40, 1, 10, 10, generator=gen), torch.randint(0, 10, (40,), generator=gen)
    steps = [(x, [(s * 10 + k * 7) % 30 for k in range(len(seeds))]) for s in range(3)]
    assert_stack_steps_as_alone(mc, FinetuneConfig(optimizer="momentum", lr=0.05), (1, 10, 10), seeds, y, steps)


def cae_trainers(scales, cfg, stride: int = 1):
    """One CAE pre-trainer per seed of a (3 -> 4 channels, 3 x 3) conv layer above the first (squared error), seed
    s's kernels of scale ``scales[s]``; fresh modules each call, so two calls give the same seeds twice."""
    from desktop_app.core.pretraining import make_pretrainer

    out = []
    for s, scale in enumerate(scales):
        conv = torch.nn.Conv2d(3, 4, 3, stride=stride)
        with torch.no_grad():
            conv.weight.copy_(scale * torch.randn(4, 3, 3, 3, generator=torch.Generator().manual_seed(s)))
            conv.bias.fill_(0.01 * s)
        out.append(make_pretrainer("cae", conv, "relu", cfg, unit_interval_input=False,
                                   generator=torch.Generator().manual_seed(20 + s)))
    return out


def test_a_stacked_cae_step_is_each_seeds_own_adam_step_on_small_gradients_and_oblong_maps():
    """Seeds of different scales on inputs ~1e-6 (gradients near Adam's eps, so the step depends on the
    gradient's scale: the objective is divided by the minibatch size, as alone) and on 9 x 12 maps with a stride
    2 layer (the decoder's output padding differs between height and width): each seed's kernels and biases
    after 4 stacked steps are what its own pre-trainer makes of the same minibatches."""
    from desktop_app.core.config import CAEConfig
    from desktop_app.core.seedbatch.pretrain import StackedCAE

    cfg = CAEConfig(lr=0.01, corruption=0.2)
    xs = 1e-6 * torch.rand(4, 3, 5, 3, 9, 12, generator=torch.Generator().manual_seed(8))  # (steps, seeds, batch, ...)
    alone, stacked = cae_trainers((0.5, 1.0, 2.0), cfg, stride=2), StackedCAE(cae_trainers((0.5, 1.0, 2.0), cfg, 2))
    for x in xs:
        for j, t in enumerate(alone):
            t.step(x[j])
        stacked.train_step(x)
    assert stacked.check() == {}
    stacked.write_back()
    for j, t in enumerate(alone):
        got = stacked.trainers[j]
        for a, b in ((got.weight, t.weight), (got.hidden_bias, t.hidden_bias), (got.visible_bias, t.visible_bias)):
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-9)
    assert not torch.equal(alone[0].weight, cae_trainers((0.5,), cfg, 2)[0].weight)  # it did move


@pytest.mark.parametrize("hidden_bias", [1e18, 1e36])
def test_a_stacked_cae_seed_whose_gradient_overflows_leaves_with_the_message_it_gets_alone(hidden_bias):
    """A seed whose codes are huge (hidden bias 1e36 or 1e18, kernels 1e-30): its reconstruction error is finite,
    the norm of its kernels' gradient is not (at 1e36 the gradient itself overflows; at 1e18 every value is finite,
    but their L2 norm overflows float32, and alone the pre-trainer stops on that norm). Stacked, it is found at the
    epoch's check with the words its pre-trainer uses alone (the gradient norm, which the user reads with the
    advice to lower the rate); the other seed passes."""
    from desktop_app.core.config import CAEConfig
    from desktop_app.core.pretraining import PretrainingDiverged
    from desktop_app.core.seedbatch.pretrain import StackedCAE

    cfg = CAEConfig(lr=0.01)

    def trainers():
        ts = cae_trainers((0.3, 0.3), cfg)
        with torch.no_grad():
            ts[1].weight.fill_(1e-30)
            ts[1].hidden_bias.fill_(hidden_bias)
        return ts

    x = torch.rand(2, 5, 3, 8, 8, generator=torch.Generator().manual_seed(9))
    alone = trainers()[1]
    alone.step(x[1])
    with pytest.raises(PretrainingDiverged) as exc:
        alone.check()
    assert str(exc.value) == "cae pre-training diverged (gradient norm inf); lower pretraining.cae.lr (now 0.01)"
    stacked = StackedCAE(trainers())
    stacked.train_step(x)
    bad = stacked.check()
    assert list(bad) == [1] and str(bad[1]) == str(exc.value)


def test_a_conv_seed_with_a_non_finite_loss_leaves_and_the_others_keep_their_dropout_masks():
    """With dropout, a seed whose loss is not finite leaves before the update, and the step of the others is redone
    with the masks they drew (from their own generators, as alone): the seeds kept, stepped on without it, hold
    what their nets alone hold. No nets at all: refused with the reason."""
    with pytest.raises(ValueError, match="^StackedCNN needs one or more nets of conv, pool and dense layers$"):
        StackedCNN([], ModelConfig(layers=(LayerSpec("conv", 2, 3),)), FinetuneConfig())
    mc = ModelConfig(layers=(LayerSpec("conv", 3, 3), LayerSpec("pool", 3, 2, 2), LayerSpec("dense", 8)),
                     dropout=0.4, activation="relu")
    ft = FinetuneConfig(optimizer="momentum", lr=0.05)
    gen = torch.Generator().manual_seed(6)
    x, y = torch.rand(40, 1, 10, 10, generator=gen), torch.randint(0, 10, (40,), generator=gen)
    batches = [[(s * 10 + k * 7) % 30 for k in range(len(SEEDS))] for s in range(3)]
    kept = [0, 2, 3]
    nets = [build_model(mc, (1, 10, 10), 10, SEEDS[k]) for k in kept]
    opts = [make_optimizer(ft, n.parameters()) for n in nets]
    for net, opt, k in zip(nets, opts, kept, strict=True):
        torch.manual_seed(100 + SEEDS[k])
        for starts in batches:
            finetune_step(net, opt, x[starts[k] : starts[k] + 10], y[starts[k] : starts[k] + 10], mc, ft, 1)
    stacked_nets = [build_model(mc, (1, 10, 10), 10, s) for s in SEEDS]
    with torch.no_grad():
        stacked_nets[1].head.bias.fill_(float("inf"))
    stacked = StackedCNN(stacked_nets, mc, ft)
    gens = [torch.Generator().manual_seed(100 + s) for s in SEEDS]
    for i, starts in enumerate(batches):
        idx = torch.tensor([list(range(j, j + 10)) for j in starts])
        if i == 0:
            bad = stacked.step(x[idx], y[idx], gens, check_loss=True)
            assert list(bad) == [1] and stacked.k == 3
            gens = [gens[k] for k in kept]
        else:
            assert stacked.step(x[idx[kept]], y[idx[kept]], gens, check_loss=True) == {}
    assert_each_seed_matches(stacked, nets, opts, build_model(mc, (1, 10, 10), 10, 0), rtol=1e-4, atol=1e-5)
