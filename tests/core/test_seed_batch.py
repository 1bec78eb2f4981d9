"""Seed batches (issue 14): K seeds of one arm trained as one stacked net give each seed the numbers it gets
alone (up to float reassociation), write every seed's own unit files and events, resume exactly after a stop,
and let a diverged seed end alone."""

import csv
import io

import pytest
import torch

from desktop_app import cli
from desktop_app.core.config import ConfigError, FinetuneConfig, LayerSpec, ModelConfig
from desktop_app.core.control import RunControl
from desktop_app.core.engine.run import resume_experiment, run_experiment
from desktop_app.core.events import CheckpointSaved, EpochMetrics, LogMessage, RunFinished, UnitFinished
from desktop_app.core.execution import batching
from desktop_app.core.runfolder import RunFolder
from desktop_app.core.training.dense_step import StackedMLP
from desktop_app.core.training.models import build_model
from desktop_app.core.training.step import finetune_step, load_checkpoint, make_optimizer
from tests.core.test_engine import tiny

SEEDS = [3, 4, 5, 6]


def table(run_dir):
    with open(run_dir / "metrics.csv", newline="") as fh:
        return {(r["arm"], r["seed"], r["phase"], r["layer"], r["epoch"], r["split"]): r for r in csv.DictReader(fh)}


def batch_cfg(k: int, backend: str = "inline", **over):
    base = {"arms": ["none", "dae"], "seeds.count": 4, "threads": 1, "finetune.epochs": 3,
            "execution.backend": backend, "execution.workers": 2, "execution.seed_batch": k,
            "model.layers": [{"kind": "dense", "units": 32}] * 2}
    return tiny(**{**base, **over})


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "adam"])
@pytest.mark.parametrize("extras", [{}, {"dropout": 0.3, "l1": 1e-4, "l2": 1e-3, "activation": "tanh"},
                                    {"activation": "relu", "dropout": 0.5}, {"l2": 1e-2}])
def test_stacked_step_is_each_nets_own_step(optimizer, extras):
    """Same init, minibatches and dropout generators: the stacked weights and optimizer state equal K nets
    trained one by one with finetune_step (torch.optim, F.dropout on the default generator)."""
    mc = ModelConfig(layers=(LayerSpec("dense", 30),) * 2, **extras)
    ft = FinetuneConfig(optimizer=optimizer, lr=1e-3 if optimizer == "adam" else 0.05)
    gen = torch.Generator().manual_seed(0)
    x, y = torch.rand(200, 1, 8, 8, generator=gen), torch.randint(0, 10, (200,), generator=gen)
    batches = [[(s * 10 + k * 7) % 190 for k in range(len(SEEDS))] for s in range(25)]
    nets, opts = train_alone(mc, ft, (1, 8, 8), x, y, batches)
    stacked = StackedMLP([build_model(mc, (1, 8, 8), 10, s) for s in SEEDS], mc, ft)
    gens = [torch.Generator().manual_seed(100 + s) for s in SEEDS]
    for starts in batches:
        xs = torch.stack([x[i : i + 10] for i in starts])
        ys = torch.stack([y[i : i + 10] for i in starts])
        assert stacked.step(xs, ys, gens, check_loss=True) == {}
    assert_each_seed_matches(stacked, nets, opts, build_model(mc, (1, 8, 8), 10, 0), rtol=1e-5, atol=1e-6)


def train_alone(mc, ft, shape, x, y, batches):
    """The reference: each seed's net trained by itself with finetune_step on its minibatches (seed k starts at
    ``starts[k]`` of each entry of ``batches``), dropout from the default generator seeded 100 + seed."""
    nets = [build_model(mc, shape, 10, s) for s in SEEDS]
    opts = [make_optimizer(ft, n.parameters()) for n in nets]
    for k, (net, opt) in enumerate(zip(nets, opts, strict=True)):
        torch.manual_seed(100 + SEEDS[k])
        for starts in batches:
            i = starts[k]
            finetune_step(net, opt, x[i : i + 10], y[i : i + 10], mc, ft, 1)
    return nets, opts


def assert_each_seed_matches(stacked, nets, opts, probe, rtol: float, atol: float) -> None:
    """Seed k of the stack holds net k's weights and (in the single-unit format) optimizer k's state."""
    for k, (net, opt) in enumerate(zip(nets, opts, strict=True)):
        stacked.write_to(k, probe)
        for a, b in zip(probe.parameters(), net.parameters(), strict=True):
            torch.testing.assert_close(a, b, rtol=rtol, atol=atol)
        mine, ref = stacked.optimizer_state(k, opt.state_dict()), opt.state_dict()
        assert mine["param_groups"] == ref["param_groups"]
        assert mine["state"].keys() == ref["state"].keys()
        for i, entry in ref["state"].items():
            assert mine["state"][i].keys() == entry.keys()
            for key, v in entry.items():
                torch.testing.assert_close(mine["state"][i][key], v, rtol=rtol, atol=atol)


@pytest.mark.parametrize("optimizer", ["momentum", "adam"])
def test_per_seed_states_restart_a_stack_exactly(optimizer):
    """What a batch writes per seed (weights + single-unit optimizer state) rebuilds the same stack: the
    continued steps are bit for bit those of the stack that never stopped (exact resume of a batch)."""
    mc = ModelConfig(layers=(LayerSpec("dense", 20),) * 2)
    ft = FinetuneConfig(optimizer=optimizer, lr=1e-3 if optimizer == "adam" else 0.05)
    gen = torch.Generator().manual_seed(2)
    xs, ys = torch.rand(10, 4, 10, 16, generator=gen), torch.randint(0, 10, (10, 4, 10), generator=gen)
    restarted_stack(StackedMLP, mc, ft, (16,), xs, ys, 5, 10)


def restarted_stack(cls, mc, ft, shape, xs, ys, stop: int, end: int):
    """A stack stepped to ``stop``, rebuilt from what it writes per seed (weights + single-unit optimizer state),
    then both stepped to ``end``: asserts they stay bit for bit equal; returns (the original, the rebuilt)."""
    first = cls([build_model(mc, shape, 10, s) for s in SEEDS], mc, ft)
    for i in range(stop):
        first.step(xs[i], ys[i], None, check_loss=True)
    nets = [build_model(mc, shape, 10, 0) for _ in SEEDS]
    states = []
    for k, net in enumerate(nets):
        first.write_to(k, net)
        states.append(first.optimizer_state(k, make_optimizer(ft, net.parameters()).state_dict()))
    assert all(s["state"] for s in states)
    again = cls(nets, mc, ft, opt_states=states)
    for i in range(stop, end):
        first.step(xs[i], ys[i], None, check_loss=True)
        again.step(xs[i], ys[i], None, check_loss=True)
    for a, b in zip(first.params(), again.params(), strict=True):
        assert torch.equal(a, b)
    return first, again


def test_a_seed_with_a_non_finite_loss_leaves_the_stack_and_the_others_go_on():
    mc, ft = ModelConfig(layers=(LayerSpec("dense", 20),)), FinetuneConfig(optimizer="momentum", lr=0.05)
    nets = [build_model(mc, (16,), 10, s) for s in SEEDS]
    with torch.no_grad():
        nets[1].head.bias.fill_(float("inf"))
    stacked = StackedMLP(nets, mc, ft)
    ref = [build_model(mc, (16,), 10, s) for s in (SEEDS[0], SEEDS[2], SEEDS[3])]
    ref_opts = [make_optimizer(ft, n.parameters()) for n in ref]
    x, y = torch.rand(4, 10, 16), torch.randint(0, 10, (4, 10))
    bad = stacked.step(x, y, None, check_loss=True)
    assert list(bad) == [1] and stacked.k == 3
    for j, (net, opt) in enumerate(zip(ref, ref_opts, strict=True)):
        finetune_step(net, opt, x[[0, 2, 3][j]], y[[0, 2, 3][j]], mc, ft, 1)
    stacked.step(x[[0, 2, 3]], y[[0, 2, 3]], None, check_loss=True)
    for net, opt in zip(ref, ref_opts, strict=True):
        finetune_step(net, opt, x[[0, 2, 3][ref.index(net)]], y[[0, 2, 3][ref.index(net)]], mc, ft, 1)
    probe = build_model(mc, (16,), 10, 0)
    for j, net in enumerate(ref):
        stacked.write_to(j, probe)
        for a, b in zip(probe.parameters(), net.parameters(), strict=True):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


@pytest.fixture(scope="module")
def alone(tmp_path_factory):
    """The reference: 4 seeds x 2 arms as plain units with the autograd step, one after another."""
    run_dir = tmp_path_factory.mktemp("alone") / "run"
    events = list(run_experiment(batch_cfg(1, **{"execution.step": "autograd"}), None, run_dir))
    assert events[-1].status == "completed", events[-1].message
    return run_dir


@pytest.fixture(scope="module")
def batched(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("batched") / "run"
    events = list(run_experiment(batch_cfg(4), None, run_dir))
    assert events[-1].status == "completed", events[-1].message
    return run_dir, events


def test_a_batch_of_4_gives_each_seed_its_own_numbers_and_files(alone, batched):
    run_dir, events = batched
    a, b = table(alone), table(run_dir)
    assert a.keys() == b.keys()
    for key, row in a.items():
        for col in ("nll", "recon_error"):
            if row[col]:
                assert float(b[key][col]) == pytest.approx(float(row[col]), rel=1e-4), key
    for arm in ("none", "dae"):
        for seed in range(4):
            unit_a, unit_b = RunFolder(alone).unit(arm, seed), RunFolder(run_dir).unit(arm, seed)
            assert unit_b.metrics_path.exists()
            for epoch in (1, 3):
                wa = load_checkpoint(unit_a.checkpoint_path(epoch))["model"]
                wb = load_checkpoint(unit_b.checkpoint_path(epoch))["model"]
                assert wa.keys() == wb.keys()
                for name in wa:
                    torch.testing.assert_close(wb[name], wa[name], rtol=1e-4, atol=1e-5)
            assert load_checkpoint(unit_b.latest_path)["stage"] == "done"
            assert sorted(p.name for p in unit_b.snapshots_dir.iterdir()) == \
                sorted(p.name for p in unit_a.snapshots_dir.iterdir())
    finished = [(e.arm, e.seed, e.status) for e in events if isinstance(e, UnitFinished)]
    assert sorted(finished) == sorted((arm, s, "completed") for arm in ("none", "dae") for s in range(4))
    assert len({arm for arm, _, _ in finished[:4]}) == 1 and finished[3][1] == 3  # a batch, its key seed last
    per_unit = {(e.arm, e.seed) for e in events if isinstance(e, EpochMetrics)}
    assert len(per_unit) == 8
    assert len([e for e in events if isinstance(e, CheckpointSaved)]) == 8 * 4  # epochs 0-3 of every unit
    assert any(isinstance(e, LogMessage) and "seed batches: 4 seeds" in e.text for e in events)


def test_a_batch_stopped_midway_resumes_exactly_in_worker_processes(batched, tmp_path):
    """Batches of 2 on two local worker processes, stopped after a seed's epoch-1 checkpoint, then resumed in
    batches of 4 inline: the same numbers, bit for bit, as the batched run that was never stopped (the SGD state
    is the weights; every epoch's randomness comes from its seed)."""
    control = RunControl()
    run_dir = tmp_path / "run"
    events = []
    for ev in run_experiment(batch_cfg(2, "local"), control, run_dir):
        events.append(ev)
        if isinstance(ev, CheckpointSaved) and ev.epoch == 1 and not control.stopped:
            control.stop()
    assert isinstance(events[-1], RunFinished) and events[-1].status == "stopped"
    said = [e.text for e in events if isinstance(e, LogMessage)]
    assert any("8 unit(s) in 4 task(s) on 2 local worker process(es)" in t for t in said), said
    stopped = {(e.arm, e.seed) for e in events if isinstance(e, UnitFinished) and e.status == "stopped"}
    assert stopped
    rest = list(resume_experiment(run_dir, seed_batch=4, backend="inline"))
    assert rest[-1].status == "completed", rest[-1].message
    ref, got = table(batched[0]), table(run_dir)
    assert got.keys() == ref.keys()
    for key, row in ref.items():
        assert got[key]["nll"] == row["nll"] and got[key]["recon_error"] == row["recon_error"], key


def test_diverging_seeds_end_diverged_as_they_do_alone(tmp_path):
    """lr 10, momentum 0.99, ReLU: some seeds diverge in fine-tuning and leave the batch, the others complete;
    every seed ends (status, epoch, cause) as it does alone."""
    over = {"arms": ["none"], "model.activation": "relu", "finetune.optimizer": "momentum", "finetune.lr": 10.0,
            "finetune.momentum": 0.99, "finetune.batch_size": 10, "model.layers": [{"kind": "dense", "units": 64}] * 3}
    ends = []
    for k in (1, 4):
        events = list(run_experiment(batch_cfg(k, **over), None, tmp_path / f"k{k}"))
        assert events[-1].status == "diverged"
        ends.append({(e.arm, e.seed): (e.status, e.message.split(" (")[0]) for e in events
                     if isinstance(e, UnitFinished)})
    assert ends[1] == ends[0]
    assert {status for status, _ in ends[1].values()} == {"diverged", "completed"}


def test_auto_and_the_memory_check(monkeypatch):
    cpu = torch.device("cpu")
    assert batching.resolve_seed_batch(batch_cfg(0), cpu, (1, 28, 28), 10) == batching.AUTO_CPU
    assert batching.resolve_seed_batch(batch_cfg(0, **{"seeds.count": 2}), cpu, (1, 28, 28), 10) == 2
    assert batching.resolve_seed_batch(batch_cfg(3), cpu, (1, 28, 28), 10) == 3
    conv = batch_cfg(4, **{"arms": ["none"], "model.layers": [{"kind": "conv", "units": 4, "kernel": 5}]})
    assert batching.resolve_seed_batch(conv, cpu, (1, 28, 28), 10) == 4  # stacked as grouped convolutions
    need = batching.batch_bytes(batch_cfg(4), 4, (1, 28, 28), 10)
    monkeypatch.setattr(batching, "available_bytes", lambda device: need)
    with pytest.raises(ConfigError, match=r"execution\.seed_batch.*4 seeds.*MB") as err:
        batching.check_memory(batch_cfg(4), 4, cpu, (1, 28, 28), 10)
    assert "\n" not in str(err.value)
    batching.check_memory(batch_cfg(4), 2, cpu, (1, 28, 28), 10)  # half of it fits
    # auto shrinks to what fits: 80 % of four seeds' bytes holds three
    assert batching.resolve_seed_batch(batch_cfg(0), cpu, (1, 28, 28), 10) == 3


def test_cli_seed_batch_flag(alone, tmp_path, capsys):
    out = tmp_path / "r"
    cfg_path = tmp_path / "cfg.toml"
    cfg_path.write_text(batch_cfg(1).to_toml())
    code = cli.main(["run", str(cfg_path), "--out", str(out), "--seed-batch", "2"], out=io.StringIO())
    assert code == 0
    a, b = table(alone), table(out)
    assert all(float(b[k]["nll"]) == pytest.approx(float(r["nll"]), rel=1e-4) for k, r in a.items() if r["nll"])
    assert "seed batches: 2 seeds" in capsys.readouterr().err
    bad = cli.main(["run", str(cfg_path), "--out", str(tmp_path / "bad"), "--seed-batch", "-1"], out=io.StringIO())
    assert bad == 2
    assert "execution.seed_batch" in capsys.readouterr().err


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_a_batch_on_cuda_gives_each_seed_its_own_numbers(tmp_path):
    """On a GPU (dropout off: a lone unit's CUDA dropout uses the fused kernel, a batch per-seed generators)."""
    cfgs = [batch_cfg(k, **{"device": "cuda"}) for k in (1, 4)]
    runs = [tmp_path / "alone", tmp_path / "batched"]
    for cfg, run_dir in zip(cfgs, runs, strict=True):
        assert list(run_experiment(cfg, None, run_dir))[-1].status == "completed"
    a, b = table(runs[0]), table(runs[1])
    for key, row in a.items():
        if row["nll"]:
            assert float(b[key]["nll"]) == pytest.approx(float(row["nll"]), rel=1e-4), key


@pytest.mark.parametrize(("arm", "over"), [
    ("dae", {}),
    ("dae", {"model.activation": "tanh", "pretraining.dae.noise": "gaussian", "pretraining.dae.corruption": 0.3,
             "pretraining.dae.lr": 0.001}),
    ("dae", {"model.activation": "relu", "pretraining.dae.lr": 0.01}),
    ("rbm", {}),
    ("rbm", {"pretraining.rbm.k": 2, "pretraining.rbm.persistent": True}),
    ("rbm", {"model.activation": "tanh", "pretraining.rbm.persistent": True}),
])
def test_stacked_pretraining_is_each_seeds_own(arm, over):
    """Per-seed corruption / Bernoulli (and Gaussian) samples from each seed's own generator: the stacked layers,
    their reconstruction errors and the items each seed gets equal greedy_pretrain's for that seed alone."""
    from desktop_app.core.seedbatch.pretrain import stacked_greedy_pretrain
    from desktop_app.core.training.greedy import greedy_pretrain

    cfg = batch_cfg(4, **{"arms": [arm], f"pretraining.{arm}.batch_size": 10, **over})
    pool = torch.rand(120, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    alone, alone_items = [], []
    for s in SEEDS:
        net = build_model(cfg.model, (1, 28, 28), 10, s)
        alone_items.append([i for i in greedy_pretrain(net, arm, cfg, pool, s)])
        alone.append(net)
    nets = [build_model(cfg.model, (1, 28, 28), 10, s) for s in SEEDS]
    items = list(stacked_greedy_pretrain(nets, arm, cfg, pool, SEEDS))
    assert_pretrained_alike(items, nets, alone, alone_items)


def assert_pretrained_alike(items, nets, alone, alone_items) -> list[list]:
    """Stacked pre-training's items and weights, seed by seed, equal each seed's own pre-training (reconstruction
    errors and weights to float reassociation); returns each seed's stacked items."""
    from desktop_app.core.training.greedy import LayerEpoch

    per_seed = []
    for p, (net, ref) in enumerate(zip(nets, alone, strict=True)):
        got = [i for q, i in items if q == p]
        assert [type(i) for i in got] == [type(i) for i in alone_items[p]]
        for a, b in zip(got, alone_items[p], strict=True):
            if isinstance(a, LayerEpoch):
                assert (a.layer, a.epoch) == (b.layer, b.epoch)
                assert a.recon_error == pytest.approx(b.recon_error, rel=1e-4)
        for a, b in zip(net.parameters(), ref.parameters(), strict=True):
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
        per_seed.append(got)
    return per_seed


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "adam"])
def test_seeds_left_in_a_stack_keep_their_own_weights_and_optimizer_state(optimizer):
    """A seed that leaves (``keep``) takes nothing from the others: the seeds kept hold exactly the weights and
    single-unit optimizer state they had, and step on as a stack built from them alone would."""
    mc = ModelConfig(layers=(LayerSpec("dense", 12),) * 2)
    ft = FinetuneConfig(optimizer=optimizer, lr=1e-3 if optimizer == "adam" else 0.05)
    gen = torch.Generator().manual_seed(5)
    xs, ys = torch.rand(6, 3, 10, 16, generator=gen), torch.randint(0, 10, (6, 3, 10), generator=gen)
    nets = [build_model(mc, (16,), 10, s) for s in (1, 2, 3)]
    # built as a batch starting at epoch 0 builds it: from each unit's fresh (empty) optimizer state
    stack = StackedMLP(nets, mc, ft, opt_states=[make_optimizer(ft, n.parameters()).state_dict() for n in nets])
    for i in range(3):
        stack.step(xs[i], ys[i], None, check_loss=True)

    def seed_state(st, k):
        net = build_model(mc, (16,), 10, 0)
        st.write_to(k, net)
        return net, st.optimizer_state(k, make_optimizer(ft, net.parameters()).state_dict())

    before = [seed_state(stack, k) for k in (0, 2)]
    stack.keep([0, 2])
    rebuilt = StackedMLP([net for net, _ in before], mc, ft, opt_states=[s for _, s in before])
    for j, (net, state) in enumerate(before):
        now, now_state = seed_state(stack, j)
        for a, b in zip(now.parameters(), net.parameters(), strict=True):
            assert torch.equal(a, b)
        for i, entry in state["state"].items():
            for key, v in entry.items():
                assert torch.equal(torch.as_tensor(now_state["state"][i][key]), torch.as_tensor(v)), (j, i, key)
    alone = StackedMLP([before[1][0]], mc, ft, opt_states=[before[1][1]])  # a stack of one: seed 2 by itself
    for i in range(3, 6):
        stack.step(xs[i][[0, 2]], ys[i][[0, 2]], None, check_loss=True)
        rebuilt.step(xs[i][[0, 2]], ys[i][[0, 2]], None, check_loss=True)
        alone.step(xs[i][[2]], ys[i][[2]], None, check_loss=True)
    for a, b, c in zip(stack.params(), rebuilt.params(), alone.params(), strict=True):
        assert torch.equal(a, b)
        torch.testing.assert_close(a[1:], c, rtol=1e-6, atol=1e-7)
    stack.keep([])  # every seed left (all diverged in one epoch): an empty stack, not an error
    assert all(p.shape[0] == 0 for p in stack.params())


@pytest.mark.parametrize("arm", ["dae", "rbm"])
def test_seeds_left_in_a_stacked_pretraining_keep_their_own_state_and_step_on_unchanged(arm):
    """A seed that leaves a stacked pre-training (``keep``, after its divergence) takes nothing from the others:
    the seeds kept hold their own slice of every stacked tensor (the RBM's momentum velocities and persistent
    chain included) and their own generators, so they step on exactly as if no seed had left, and their weights
    are written back into their own layers."""
    from desktop_app.core.config import DAEConfig, RBMConfig
    from desktop_app.core.pretraining import make_pretrainer
    from desktop_app.core.seedbatch.pretrain import StackedDAE, StackedRBM

    cfg = DAEConfig(lr=0.1) if arm == "dae" else RBMConfig(lr=0.1, k=2, persistent=True, momentum=0.5)
    stack_of = {"dae": StackedDAE, "rbm": StackedRBM}[arm]
    xs = torch.rand(3, 3, 5, 6, generator=torch.Generator().manual_seed(7))  # (steps, seeds, batch, visible)

    def layer(s: int) -> torch.nn.Linear:
        lin = torch.nn.Linear(6, 4)
        with torch.no_grad():  # seed s's own initial weights, the same in both stacks
            lin.weight.copy_(0.5 * torch.randn(4, 6, generator=torch.Generator().manual_seed(s)))
            lin.bias.zero_()
        return lin

    def trainers():
        return [make_pretrainer(arm, layer(s), "sigmoid", cfg, unit_interval_input=True,
                                generator=torch.Generator().manual_seed(10 + s)) for s in range(3)]

    left, whole = stack_of(trainers()), stack_of(trainers())
    for i in range(2):
        left.train_step(xs[i])
        whole.train_step(xs[i])
    assert left.check() == {} and whole.check() == {}  # the epoch's check, after which the caller drops seeds
    kept_trainers = [left.trainers[0], left.trainers[2]]
    before = {name: getattr(left, name).clone() for name in left.tensors()}
    left.keep([0, 2])
    assert left.trainers == kept_trainers
    for name in left.tensors():
        assert torch.equal(getattr(left, name), before[name][[0, 2]]), name
    left.train_step(xs[2][[0, 2]])
    whole.train_step(xs[2])
    for name in whole.tensors():
        torch.testing.assert_close(getattr(left, name), getattr(whole, name)[[0, 2]], rtol=1e-6, atol=1e-7,
                                   msg=name)
    single = stack_of(trainers()[2:])  # a stack of one seed (the last one left of a batch) is that seed's own
    for i in range(3):
        single.train_step(xs[i][[2]])
    for name in whole.tensors():
        torch.testing.assert_close(getattr(single, name), getattr(whole, name)[[2]], rtol=1e-6, atol=1e-7, msg=name)
    left.write_back()
    for j, t in enumerate(kept_trainers):
        assert torch.equal(t.weight, left.W[j]) and torch.equal(t.hidden_bias, left.c[j].reshape(-1))
        assert torch.equal(t.visible_bias.reshape(-1), left.b[j].reshape(-1))
    left.keep([])  # every seed diverged in one epoch: an empty stack, not an error
    assert left.trainers == [] and all(getattr(left, name).shape[0] == 0 for name in left.tensors())


@pytest.mark.parametrize("penalty", ["l1", "l2"])
def test_a_seed_whose_weight_penalty_overflows_leaves_the_stack(penalty):
    """The loss a seed is checked on is its cross-entropy plus its own l1 sum |W| or l2 sum W^2 (as
    ``finetune_step`` checks it): a seed whose penalty overflows float32 leaves with loss +inf while its
    cross-entropy is finite, a large but finite penalty does not, and the other seeds go on."""
    mc = ModelConfig(layers=(LayerSpec("dense", 4),), **{penalty: 1e-3})
    ft = FinetuneConfig(optimizer="adam", lr=1e-3)
    nets = [build_model(mc, (6,), 10, s) for s in (1, 2, 3)]
    with torch.no_grad():  # weights from input 0, which is always 0 below: they change no activation
        # seed 1: sum |w| = 8e38, sum w^2 = 4e40 overflow float32; seed 2: 1e26, 4e26 are finite (its w^3 is not)
        next(nets[1].parameters())[:, 0] = 2e38 if penalty == "l1" else 1e20
        next(nets[2].parameters())[:, 0] = 2.5e25 if penalty == "l1" else 1e13
    stack = StackedMLP(nets, mc, ft)
    gen = torch.Generator().manual_seed(4)
    x, y = torch.rand(3, 5, 6, generator=gen), torch.randint(0, 10, (3, 5), generator=gen)
    x[..., 0] = 0.0
    assert stack.step(x, y, None, check_loss=True) == {1: float("inf")}
    assert stack.k == 2


def test_a_stack_of_no_nets_is_refused_and_a_seeds_optimizer_state_is_a_snapshot():
    """No nets: refused with the reason. The optimizer state handed out for one seed (what its unit saves,
    possibly later) is a copy: the stack's next steps do not change it, Adam's step count included."""
    mc = ModelConfig(layers=(LayerSpec("dense", 5),))
    ft = FinetuneConfig(optimizer="adam", lr=1e-3)
    with pytest.raises(ValueError, match="^StackedMLP needs one or more dense-only nets$"):
        StackedMLP([], mc, ft)
    stack = StackedMLP([build_model(mc, (6,), 10, s) for s in (1, 2)], mc, ft)
    gen = torch.Generator().manual_seed(2)
    x, y = torch.rand(2, 4, 6, generator=gen), torch.randint(0, 10, (2, 4), generator=gen)
    stack.step(x, y, None, check_loss=True)
    template = make_optimizer(ft, build_model(mc, (6,), 10, 0).parameters()).state_dict()
    saved = stack.optimizer_state(1, template)
    copy = {i: {key: v.clone() for key, v in entry.items()} for i, entry in saved["state"].items()}
    assert all(float(entry["step"]) == 1.0 for entry in copy.values())
    stack.step(x, y, None, check_loss=True)
    for i, entry in copy.items():
        for key, v in entry.items():
            assert torch.equal(saved["state"][i][key], v), (i, key)


@pytest.mark.parametrize("gaussian", [False, True])
def test_a_stacked_rbms_reconstruction_error_uses_its_units_visible_mean(gaussian):
    """The error the divergence watch reads is measured against the visible mean of the seed's own units:
    sigmoid(hW + b) for binary units (finite even when hW + b is huge), hW + b itself for Gaussian ones (whose
    squared error then overflows and is named, before any gradient is)."""
    from desktop_app.core.config import RBMConfig
    from desktop_app.core.pretraining import make_pretrainer
    from desktop_app.core.seedbatch.pretrain import StackedRBM

    trainer = make_pretrainer("rbm", torch.nn.Linear(6, 4), "sigmoid" if not gaussian else "relu",
                              RBMConfig(lr=0.01, k=1), unit_interval_input=not gaussian,
                              generator=torch.Generator().manual_seed(1))
    stack = StackedRBM([trainer])
    stack.b.fill_(1e20 if gaussian else 3e38)  # finite; its square overflows float32
    stack.train_step(torch.rand(1, 5, 6, generator=torch.Generator().manual_seed(2)))
    bad = stack.check()
    if gaussian:
        assert list(bad) == [0] and "reconstruction error" in str(bad[0])
    else:
        assert bad == {}


def test_a_dropout_stacks_predictions_are_each_seeds_own_eval_mode_logits():
    """``predict`` (what an online unit with dropout scores its mistakes on, before its step) gives every seed the
    logits its own net gives in eval mode, without dropout, on that seed's own inputs; the step's own logits, with
    dropout, are not them. Two hidden layers of distinct widths, 10 classes and K != B: no layer, bias or axis can
    stand in for another."""
    mc = ModelConfig(layers=(LayerSpec("dense", 12), LayerSpec("dense", 7)), dropout=0.5, activation="tanh")
    ft = FinetuneConfig(optimizer="momentum", lr=0.1)
    gen = torch.Generator().manual_seed(6)
    xs, ys = torch.rand(3, 3, 5, 1, 4, 4, generator=gen), torch.randint(0, 10, (3, 3, 5), generator=gen)
    stack = StackedMLP([build_model(mc, (1, 4, 4), 10, s) for s in (1, 2, 3)], mc, ft)
    gens = [torch.Generator().manual_seed(20 + s) for s in (1, 2, 3)]
    for i in range(2):  # trained weights and biases, each seed's its own
        stack.step(xs[i], ys[i], gens, check_loss=True)
    nets = [build_model(mc, (1, 4, 4), 10, 0) for _ in range(3)]
    for k, net in enumerate(nets):
        stack.write_to(k, net)
        net.eval()
    scored = stack.predict(xs[2])
    assert scored.shape == (3, 5, 10)
    for k, net in enumerate(nets):
        torch.testing.assert_close(scored[k], net(xs[2][k]), rtol=1e-5, atol=1e-6)
    stack.step(xs[2], ys[2], gens, check_loss=True)
    assert (stack.last_logits - scored).abs().amax() > 0.01  # the step's logits: with dropout


def stacked_and_alone_checks(arm, cfg, seeds, x, chain=None):
    """One step of ``seeds`` (a list of functions, each setting up one seed's fresh pre-trainer) as a stack and each
    alone, on x (K, n, visible); returns ({position: the stack's report}, {position: the seed's own check alone})
    as messages. ``chain``: each seed's persistent chain to start from, in both."""
    from desktop_app.core.pretraining import PretrainingDiverged, make_pretrainer
    from desktop_app.core.seedbatch.pretrain import STACKED_PRETRAINERS

    def trainers():
        made = []
        for s, setup in enumerate(seeds):
            lin = torch.nn.Linear(x.shape[2], 4)
            with torch.no_grad():
                lin.weight.copy_(0.3 * torch.randn(4, x.shape[2], generator=torch.Generator().manual_seed(s)))
                lin.bias.zero_()
            t = make_pretrainer(arm, lin, "tanh", cfg, unit_interval_input=False,
                                generator=torch.Generator().manual_seed(10 + s))
            with torch.no_grad():
                setup(t)
            if chain is not None:
                t.chain = chain.clone()
            made.append(t)
        return made

    stack = STACKED_PRETRAINERS[arm](trainers())
    if chain is not None:
        stack.chain = torch.stack([t.chain for t in stack.trainers])
    stack.train_step(x)
    stacked = {q: str(exc) for q, exc in stack.check().items()}
    alone = {}
    for q, t in enumerate(trainers()):
        t.step(x[q])
        try:
            t.check()
        except PretrainingDiverged as exc:
            alone[q] = str(exc)
    return stacked, alone


def test_a_stacked_daes_divergence_is_each_seeds_own():
    """Each seed of a stacked DAE (Gaussian input: the squared error) leaves for what it leaves alone, with the
    words its own pre-trainer says: a reconstruction error that overflows float32 ((z - x)^2 of 1e20, not 2 (z - x)),
    but not one whose cube would (1e15), nor one that only (z + x) would make overflow (input and reconstruction
    1e19); a gradient that overflows from a finite error is named the gradient (alone its norm is)."""
    from desktop_app.core.config import DAEConfig

    def visible_bias(v):
        return lambda t: t.visible_bias.fill_(v)

    def gradient_overflows(t):  # input 0, tanh(0) = 0: the error is 30 x 1^2, dz W^T = 6 x 0.4 x 3e38
        t.visible_bias.fill_(1.0)
        t.weight[0] = 3e38

    x = torch.rand(5, 5, 6, generator=torch.Generator().manual_seed(3))
    x[3], x[4] = 1e19, 0.0
    seeds = [lambda t: None, visible_bias(1e15), visible_bias(-1e20), visible_bias(1e19), gradient_overflows]
    stacked, alone = stacked_and_alone_checks("dae", DAEConfig(lr=0.1), seeds, x)
    assert alone.keys() == {2, 4} and stacked.keys() == {2, 4}
    assert stacked[2] == alone[2] == ("dae pre-training diverged (reconstruction error inf); lower "
                                      "pretraining.dae.lr (now 0.1)")
    assert stacked[4] == "dae pre-training diverged (gradient inf); lower pretraining.dae.lr (now 0.1)"
    assert alone[4].startswith("dae pre-training diverged (gradient norm ")


def test_a_stacked_rbms_divergence_is_each_seeds_own():
    """Each seed of a stacked RBM (Gaussian visible units, persistent chains) leaves for what it leaves alone,
    with the same words and value: only its own non-finite values count (a seed with a NaN input makes no other
    seed's gradient NaN), its squared reconstruction error (1e20 from the data: inf, not -inf; input and
    reconstruction 1e19: finite), and its gradient's |gW| + |gb| + |gc| (inf + inf + 1: inf, not NaN)."""
    from desktop_app.core.config import RBMConfig

    def visible_bias(v):
        return lambda t: t.visible_bias.fill_(v)

    def gradient_overflows(t):
        # the data (1e38) drive hidden unit 0 on (and no other); its reconstruction is exactly the data (error 0),
        # while the chain, at 0, keeps every hidden unit off: gW = 5e38 / 5 - 0 and gb = 1e38 - 0 overflow
        t.weight.zero_()
        t.weight[0] = 1e38
        t.hidden_bias.fill_(-1e30)

    x = torch.rand(5, 5, 6, generator=torch.Generator().manual_seed(4))
    x[1, 2, 3] = float("nan")
    x[3], x[4] = 1e19, 1e38
    seeds = [lambda t: None, lambda t: None, visible_bias(1e20), visible_bias(1e19), gradient_overflows]
    cfg = RBMConfig(lr=0.05, k=1, persistent=True, batch_size=5)
    stacked, alone = stacked_and_alone_checks("rbm", cfg, seeds, x, chain=torch.zeros(5, 6))
    lower = "; lower pretraining.rbm.lr (now 0.05)"
    assert alone == {1: "rbm pre-training diverged (reconstruction error nan)" + lower,
                     2: "rbm pre-training diverged (reconstruction error inf)" + lower,
                     4: "rbm pre-training diverged (gradient inf)" + lower}
    assert stacked == alone


def test_a_seed_leaves_with_its_own_cross_entropy_and_a_stack_all_of_whose_seeds_diverge_is_empty():
    """A seed whose cross-entropy overflows (its true class's logit -3e38, the others' 3e38) leaves reporting the
    loss its unit reports alone (inf: the message is finetune_step's); when every seed's loss is non-finite at
    once, all leave and the stack is empty (not an error)."""
    from desktop_app.core.training.step import FinetuneDiverged

    mc, ft = ModelConfig(layers=(LayerSpec("dense", 8),)), FinetuneConfig(optimizer="adam", lr=1e-3)
    nets = [build_model(mc, (6,), 10, s) for s in (1, 2, 3)]
    with torch.no_grad():
        nets[1].head.bias.fill_(3e38)
        nets[1].head.bias[0] = -3e38
    gen = torch.Generator().manual_seed(8)
    x, y = torch.rand(3, 4, 6, generator=gen), torch.randint(1, 10, (3, 4), generator=gen)
    y[1] = 0
    stack = StackedMLP(nets, mc, ft)
    bad = stack.step(x, y, None, check_loss=True)
    assert bad == {1: float("inf")} and stack.k == 2
    with pytest.raises(FinetuneDiverged) as alone:
        finetune_step(nets[1], make_optimizer(ft, nets[1].parameters()), x[1], y[1], mc, ft, 1)
    assert str(FinetuneDiverged(ft, 1, f"loss {bad[1]}")) == str(alone.value)
    every = StackedMLP([nets[1], nets[1]], mc, ft)
    assert every.step(x[[1, 1]], y[[1, 1]], None, check_loss=True) == {0: float("inf"), 1: float("inf")}
    assert every.k == 0 and all(p.shape[0] == 0 for p in every.params())


def test_the_seeds_left_when_one_leaves_a_dropout_stack_step_with_their_own_masks():
    """Dropout on: when seed 1's loss is not finite at a step, the seeds kept take that step's update through their
    own dropout masks (drawn before the check from their own generators), as each unit steps alone."""
    mc = ModelConfig(layers=(LayerSpec("dense", 9),) * 2, dropout=0.4, activation="relu")
    ft = FinetuneConfig(optimizer="sgd", lr=1.0)
    nets = [build_model(mc, (6,), 10, s) for s in (1, 2, 3)]
    with torch.no_grad():
        nets[1].head.bias.fill_(float("inf"))
    gen = torch.Generator().manual_seed(9)
    x, y = torch.rand(3, 5, 6, generator=gen), torch.randint(0, 10, (3, 5), generator=gen)
    stack = StackedMLP(nets, mc, ft)
    gens = [torch.Generator().manual_seed(30 + s) for s in (1, 2, 3)]
    assert list(stack.step(x, y, gens, check_loss=True)) == [1] and stack.k == 2
    probe = build_model(mc, (6,), 10, 0)
    for j, k in enumerate((0, 2)):
        ref = build_model(mc, (6,), 10, (1, 2, 3)[k])
        torch.manual_seed(30 + (1, 2, 3)[k])
        finetune_step(ref, make_optimizer(ft, ref.parameters()), x[k], y[k], mc, ft, 1)
        stack.write_to(j, probe)
        for a, b in zip(probe.parameters(), ref.parameters(), strict=True):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
