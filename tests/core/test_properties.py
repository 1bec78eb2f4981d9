"""The promises Basin's science rests on, each held by a test of the property itself (issue 29), not by two
implementations that happen to agree:

- pairing: seed i of every arm fine-tunes on the same minibatches in the same order, in a unit and in a seed batch
  (and a seed in a batch sees what it sees alone);
- resume: a unit or a seed batch stopped after an epoch and resumed ends bit for bit where the unstopped one
  ends, with optimizer state (momentum buffers, Adam moments and step counts) carried across the stop;
- greedy pre-training: layer k is trained on the output of layer k-1 as TRAINED (not as initialised).

Each test was checked to fail on the hand mutation that breaks its promise (docs/TESTING.md lists them).
"""

from __future__ import annotations

import pytest
import torch

from desktop_app.core.control import RunControl, StopRequested
from desktop_app.core.events import (
    CheckpointSaved,
    EpochMetrics,
    PhaseStarted,
    PretrainEpoch,
    Progress,
    UnitFinished,
)
from desktop_app.core.pretraining import PretrainingDiverged
from desktop_app.core.seedbatch.batch import train_seed_batch
from desktop_app.core.training import greedy, unit
from desktop_app.core.training.dense_step import StackedMLP
from desktop_app.core.training.models import build_model
from desktop_app.core.training.step import load_checkpoint
from desktop_app.core.training.unit import prepare_data, train_unit, unit_dir
from tests.core.test_engine import tiny

SEEDS = (0, 1)


def small(**over):
    base = {"arms": ["none", "dae"], "seeds.count": len(SEEDS), "finetune.epochs": 2,
            "data.n_labelled": 120, "data.n_valid": 40, "data.n_test": 40, "data.probe_size": 10,
            "data.n_unlabelled": 60, "pretraining.dae.epochs": 1, "model.layers": [{"kind": "dense", "units": 16}],
            "snapshots.filters": False, "snapshots.probe_outputs": False}
    return tiny(**{**base, **over})


@pytest.fixture(scope="module")
def splits():
    from desktop_app.core.data import load_data

    return load_data(small().data)


def unit_data(cfg, splits):
    return prepare_data(cfg, torch.device("cpu"), splits)


def ended(events, status="completed"):
    done = [e for e in events if isinstance(e, UnitFinished)]
    assert done and all(e.status == status for e in done), [e.message for e in done]


# -- pairing of the data order -----------------------------------------------------------------------------
def plain_minibatches(monkeypatch, cfg, splits, arm, seed, run_dir) -> list[torch.Tensor]:
    """The inputs of every fine-tuning step of one unit, in order (a spy around the real step)."""
    seen: list[torch.Tensor] = []
    real = unit.finetune_step

    def spy(model, opt, x, y, *args, **kwargs):
        seen.append(x.clone())
        return real(model, opt, x, y, *args, **kwargs)

    monkeypatch.setattr(unit, "finetune_step", spy)
    ended(list(train_unit(cfg, arm, seed, run_dir, RunControl(), unit_data(cfg, splits))))
    monkeypatch.setattr(unit, "finetune_step", real)
    return seen


def batch_minibatches(monkeypatch, cfg, splits, arm, seeds, run_dir) -> dict[int, list[torch.Tensor]]:
    """Seed -> the inputs of its every fine-tuning step in a seed batch (the stacked step's slice of that seed)."""
    seen: dict[int, list[torch.Tensor]] = {s: [] for s in seeds}
    real = StackedMLP.step

    def spy(self, x, y, *args, **kwargs):
        assert x.shape[0] == len(seeds)  # nobody diverges here: seed j of the stack is seeds[j]
        for j, s in enumerate(seeds):
            seen[s].append(x[j].clone())
        return real(self, x, y, *args, **kwargs)

    monkeypatch.setattr(StackedMLP, "step", spy)
    ended(list(train_seed_batch(cfg, arm, list(seeds), run_dir, RunControl(), unit_data(cfg, splits))))
    monkeypatch.setattr(StackedMLP, "step", real)
    return seen


def same_batches(a: list[torch.Tensor], b: list[torch.Tensor]) -> bool:
    return len(a) == len(b) and all(torch.equal(x, y) for x, y in zip(a, b, strict=True))


def rows(x: torch.Tensor) -> list[bytes]:
    return sorted(r.numpy().tobytes() for r in x.flatten(1))


def assert_each_epoch_is_one_pass(batches: list[torch.Tensor], train_x: torch.Tensor, per_epoch: int) -> None:
    """Every epoch's minibatches hold every labelled example exactly once (a permutation of the set)."""
    assert len(batches) % per_epoch == 0 and batches
    for e in range(0, len(batches), per_epoch):
        assert rows(torch.cat(batches[e : e + per_epoch])) == rows(train_x)


def test_seed_i_of_every_arm_sees_the_same_minibatches_in_a_unit(monkeypatch, splits, tmp_path):
    cfg = small(arms=["none", "dae", "rbm"], **{"pretraining.rbm.epochs": 1})
    seen = {(arm, s): plain_minibatches(monkeypatch, cfg, splits, arm, s, tmp_path / "run")
            for arm in cfg.arms for s in SEEDS}
    per_epoch = -(-len(splits.train_x) // cfg.finetune.batch_size)
    for s in SEEDS:
        assert_each_epoch_is_one_pass(seen[("none", s)], splits.train_x, per_epoch)
        for arm in ("dae", "rbm"):
            assert same_batches(seen[("none", s)], seen[(arm, s)]), (arm, s)
    # the order is the seed's own: seeds differ, and so do two epochs of one seed
    assert not same_batches(seen[("none", 0)], seen[("none", 1)])
    first, second = seen[("none", 0)][:per_epoch], seen[("none", 0)][per_epoch : 2 * per_epoch]
    assert not same_batches(first, second)


def test_seed_i_of_every_arm_sees_the_same_minibatches_in_a_seed_batch(monkeypatch, splits, tmp_path):
    """In a batch too; and seed i in a batch sees exactly what seed i sees alone (so a batched arm stays paired
    with an arm whose seeds ran alone)."""
    cfg = small()
    seeds = (3, 5)
    batched = {arm: batch_minibatches(monkeypatch, cfg, splits, arm, seeds, tmp_path / arm) for arm in cfg.arms}
    per_epoch = -(-len(splits.train_x) // cfg.finetune.batch_size)
    for s in seeds:
        assert_each_epoch_is_one_pass(batched["none"][s], splits.train_x, per_epoch)
        assert same_batches(batched["none"][s], batched["dae"][s]), s
        alone = plain_minibatches(monkeypatch, cfg, splits, "none", s, tmp_path / "alone")
        assert same_batches(batched["none"][s], alone), s
    assert not same_batches(batched["none"][3], batched["none"][5])


def test_seed_i_of_every_arm_sees_the_same_deformed_minibatches(monkeypatch, tmp_path):
    """On the elastic set every minibatch is freshly deformed; the deformations are the seed's own too, so the
    arms stay paired (and every example is deformed: no minibatch row is an undeformed training image)."""
    from desktop_app.core.data import load_data

    cfg = small(**{"data.name": "elastic", "finetune.epochs": 1})
    splits = load_data(cfg.data)
    assert splits.augment is not None
    seen = {arm: plain_minibatches(monkeypatch, cfg, splits, arm, 0, tmp_path / "run") for arm in cfg.arms}
    assert same_batches(seen["none"], seen["dae"])
    plain = set(rows(splits.train_x))
    assert not plain & set(rows(torch.cat(seen["none"])))
    other = plain_minibatches(monkeypatch, cfg, splits, "none", 1, tmp_path / "run")
    assert not same_batches(seen["none"], other)


def test_each_fine_tuning_epochs_deformations_come_from_the_seeds_own_stream(tmp_path):
    """The elastic deformations of epoch e are drawn from a generator seeded derive_seed(seed, "augment", e),
    fresh each epoch: the seed's own in every arm, and a resumed unit's the unstopped one's. Checked where they are
    drawn: the generator handed to the first minibatch's deformation of each epoch is a fresh one so seeded."""
    import dataclasses

    from desktop_app.core.data import load_data
    from desktop_app.core.seeding import derive_seed

    cfg = small(**{"data.name": "elastic", "finetune.epochs": 2, "finetune.batch_size": 40, "arms": ["none"]})
    splits = load_data(cfg.data)
    states: list[torch.Tensor] = []

    def spy(x, generator):
        states.append(generator.get_state())
        return splits.augment(x, generator)

    data = unit_data(cfg, dataclasses.replace(splits, augment=spy))
    ended(list(train_unit(cfg, "none", 1, tmp_path / "run", RunControl(), data)))
    assert len(states) == 2 * 3  # 120 labelled examples in minibatches of 40, 2 epochs
    for epoch in (1, 2):
        want = torch.Generator().manual_seed(derive_seed(1, "augment", epoch)).get_state()
        assert torch.equal(states[3 * (epoch - 1)], want), epoch

# -- exact resume with optimizer state -----------------------------------------------------------------------
def final_state(run_dir, arm, seed) -> dict:
    return load_checkpoint(unit_dir(run_dir, "checkpoints", arm, seed) / "latest.pt")


def assert_same_state(a: dict, b: dict) -> None:
    assert a["stage"] == b["stage"] == "done"
    assert a["model"].keys() == b["model"].keys()
    for k in a["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), k
    sa, sb = a["optimizer"]["state"], b["optimizer"]["state"]
    assert sa.keys() == sb.keys() and sa
    for i in sa:
        assert sa[i].keys() == sb[i].keys()
        for key in sa[i]:
            assert torch.equal(torch.as_tensor(sa[i][key]), torch.as_tensor(sb[i][key])), (i, key)


def straight_then_stopped(cfg, splits, tmp_path, batch: bool, epoch: int | None = None, arm: str = "none",
                          stop=None) -> list:
    """The resume tests' first half: ``cfg`` run to its end into ``straight`` (its events returned), and again into
    ``resumed``, stopped after fine-tuning epoch ``epoch`` (or at the first event ``stop`` accepts)."""
    stop = stop or (lambda ev: isinstance(ev, EpochMetrics) and ev.epoch == epoch)
    straight = list(run_units(cfg, splits, tmp_path / "straight", RunControl(), batch, arm))
    ended(straight)
    control = RunControl()
    with pytest.raises(StopRequested):
        for ev in run_units(cfg, splits, tmp_path / "resumed", control, batch, arm):
            if stop(ev):
                control.stop()
    return straight


def run_units(cfg, splits, run_dir, control, batch: bool, arm: str = "none"):
    data = unit_data(cfg, splits)
    if batch:
        yield from train_seed_batch(cfg, arm, list(SEEDS), run_dir, control, data)
    else:
        for s in SEEDS:
            yield from train_unit(cfg, arm, s, run_dir, control, data)


@pytest.mark.parametrize("batch", [False, True], ids=["unit", "seed-batch"])
@pytest.mark.parametrize("optimizer", ["momentum", "adam"])
def test_a_stopped_run_resumes_exactly_with_its_optimizer_state(splits, tmp_path, optimizer, batch):
    """Stopped after epoch 1 (between two minibatches of epoch 2) and resumed: the same weights, optimizer state
    and metrics, bit for bit, as the run never stopped. Momentum buffers and Adam's moments and step count only
    come back from the checkpoint (plain SGD has no state, which is why this needs its own test)."""
    lr = 1e-3 if optimizer == "adam" else 0.05
    cfg = small(arms=["none"], **{"finetune.optimizer": optimizer, "finetune.lr": lr, "finetune.epochs": 3,
                                  "model.dropout": 0.2})
    straight = straight_then_stopped(cfg, splits, tmp_path, batch, 1)
    for s in SEEDS[: 2 if batch else 1]:
        stopped = final_state(tmp_path / "resumed", "none", s)
        assert stopped["stage"] == "finetune" and stopped["epoch"] == 1 and stopped["optimizer"]["state"]
    rest = list(run_units(cfg, splits, tmp_path / "resumed", RunControl(), batch))
    ended(rest)
    for s in SEEDS:
        assert_same_state(final_state(tmp_path / "straight", "none", s), final_state(tmp_path / "resumed", "none", s))
    last = {(e.seed, e.epoch): e for e in straight if isinstance(e, EpochMetrics)}
    again = {(e.seed, e.epoch): e for e in rest if isinstance(e, EpochMetrics)}
    for key in [(s, e) for s in SEEDS for e in (2, 3)]:
        a, b = last[key], again[key]
        assert (a.train_nll, a.valid_nll, a.test_nll, a.test_error) == (b.train_nll, b.valid_nll, b.test_nll,
                                                                         b.test_error), key


@pytest.mark.parametrize("batch", [False, True], ids=["unit", "seed-batch"])
def test_a_run_stopped_between_pretrained_layers_resumes_exactly(splits, tmp_path, batch):
    """Stopped while layer 2 pre-trains (layer 1 done and saved): the resumed run pre-trains layer 2 only, from
    the saved layer 1, ends bit for bit where the unstopped run ends, and its progress counts every minibatch of
    the unit once (the layer done before the stop included)."""
    cfg = small(arms=["dae"], **{"finetune.optimizer": "momentum", "finetune.lr": 0.05, "finetune.epochs": 1,
                                 "pretraining.dae.epochs": 2, "pretraining.dae.batch_size": 20,
                                 "model.layers": [{"kind": "dense", "units": 16}, {"kind": "dense", "units": 12}]})
    straight_then_stopped(cfg, splits, tmp_path, batch, arm="dae",
                          stop=lambda ev: isinstance(ev, PretrainEpoch) and ev.layer == 1 and ev.epoch == 1)
    for s in SEEDS[: 2 if batch else 1]:
        stopped = final_state(tmp_path / "resumed", "dae", s)
        assert stopped["stage"] == "pretrain" and stopped["layers_done"] == 1
    rest = list(run_units(cfg, splits, tmp_path / "resumed", RunControl(), batch, "dae"))
    ended(rest)
    assert {(e.seed, e.layer) for e in rest if isinstance(e, PretrainEpoch)} <= {(s, 1) for s in SEEDS} | \
        ({(1, 0)} if not batch else set())  # seed 1 of the unit path had not started before the stop
    for s in SEEDS:
        assert_same_state(final_state(tmp_path / "straight", "dae", s), final_state(tmp_path / "resumed", "dae", s))
        last = [e for e in rest if isinstance(e, Progress) and e.seed == s][-1]
        assert last.done_steps == last.total_steps
        # the rows of the layer cut short were dropped and written again once: the metrics equal the straight run's
        assert metric_rows(tmp_path / "resumed", s) == metric_rows(tmp_path / "straight", s)


def metric_rows(run_dir, seed: int) -> list[tuple]:
    """A dae unit's metrics rows without their wall time, in file order."""
    import csv

    from desktop_app.core.runfolder import RunFolder

    with open(RunFolder(run_dir).unit("dae", seed).metrics_path, newline="") as fh:
        return [tuple(v for k, v in r.items() if k != "wall_s") for r in csv.DictReader(fh)]


@pytest.mark.parametrize("batch", [False, True], ids=["unit", "seed-batch"])
def test_a_run_stopped_in_its_first_pretrained_layer_resumes_with_its_rows_once(splits, tmp_path, batch):
    """Stopped after layer 1's first pre-training epoch (no layer done, its row written at the stop): the resumed
    unit drops that row, pre-trains the layer again, and its metrics equal the unstopped run's."""
    cfg = small(arms=["dae"], **{"finetune.epochs": 1, "pretraining.dae.epochs": 2, "pretraining.dae.batch_size": 20,
                                 "model.layers": [{"kind": "dense", "units": 16}, {"kind": "dense", "units": 12}]})
    straight_then_stopped(cfg, splits, tmp_path, batch, arm="dae",
                          stop=lambda ev: isinstance(ev, PretrainEpoch) and ev.layer == 0 and ev.epoch == 1)
    assert any(r[2] == "pretrain" for r in metric_rows(tmp_path / "resumed", 0))  # the cut-short row is on disk
    ended(list(run_units(cfg, splits, tmp_path / "resumed", RunControl(), batch, "dae")))
    for s in SEEDS:
        assert metric_rows(tmp_path / "resumed", s) == metric_rows(tmp_path / "straight", s)


# -- greedy pre-training feeds each layer the trained layer below -----------------------------------------------
ACT = {"tanh": torch.tanh, "sigmoid": torch.sigmoid, "relu": torch.relu}


@pytest.mark.parametrize("arm,activation", [("dae", "tanh"), ("rbm", "tanh"), ("dae", "sigmoid")])
def test_each_layer_is_pretrained_on_the_output_of_the_trained_layer_below(monkeypatch, arm, activation):
    """Every minibatch layer 1 (and 2) trains on is a set of rows of act(W h + b) computed here with the FINAL
    weights of the layer below (which nothing changes after it is done; an RBM under tanh after its halving), and
    each epoch passes over every pool example once. With the untrained layer below the rows would differ."""
    cfg = small(arms=[arm], **{"model.activation": activation, f"pretraining.{arm}.epochs": 2,
                               f"pretraining.{arm}.batch_size": 16,
                               "model.layers": [{"kind": "dense", "units": 12}, {"kind": "dense", "units": 10},
                                                {"kind": "dense", "units": 8}]})
    net = build_model(cfg.model, (1, 8, 8), 10, seed=4)
    init = {k: v.clone() for k, v in net.state_dict().items()}
    pool = torch.rand(50, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    seen: dict[int, list[torch.Tensor]] = {}
    noise_seeds: dict[int, int] = {}
    real = greedy.make_pretrainer

    def spy(method, module, *args, **kwargs):
        trainer = real(method, module, *args, **kwargs)
        layer = next(i for i, b in enumerate(net.blocks) if b.module is module)
        noise_seeds[layer] = kwargs["generator"].initial_seed()
        step = trainer.step

        def recorded(x):
            seen.setdefault(layer, []).append(x.clone())
            return step(x)

        trainer.step = recorded
        return trainer

    monkeypatch.setattr(greedy, "make_pretrainer", spy)
    done = [i.layer for i in greedy.greedy_pretrain(net, arm, cfg, pool, seed=4) if isinstance(i, greedy.LayerDone)]
    assert done == [0, 1, 2]
    act = ACT[activation]
    h = pool.flatten(1)
    h_init = h
    orders = []
    for layer in range(3):
        per_epoch = -(-len(pool) // 16)
        assert len(seen[layer]) == 2 * per_epoch
        for e in range(0, len(seen[layer]), per_epoch):
            got = torch.cat(seen[layer][e : e + per_epoch])
            dist = torch.cdist(got, h, compute_mode="donot_use_mm_for_euclid_dist")
            match = dist.argmin(1)
            orders.append(tuple(match.tolist()))
            assert torch.equal(match.sort().values, torch.arange(len(pool))), (layer, e)  # one pass over the pool
            assert float(dist.min(1).values.max()) < 1e-5, (layer, e)
        if layer > 0:  # the test can tell trained from untrained inputs
            assert float((h - h_init).abs().max()) > 1e-3
        w, b = net.blocks[layer].module.weight.detach(), net.blocks[layer].module.bias.detach()
        h = act(h @ w.T + b)
        h_init = act(h_init @ init[f"blocks.{layer}.module.weight"].T + init[f"blocks.{layer}.module.bias"])
    # each layer draws its own order and noise, from (seed, arm, layer): no two layers (or epochs) share an order
    assert len(set(orders)) == len(orders) == 6
    assert len(set(noise_seeds.values())) == 3


@pytest.mark.parametrize("arm,activation", [("dae", "tanh"), ("dae", "sigmoid"), ("rbm", "tanh"), ("rbm", "sigmoid")])
def test_greedy_layers_are_told_their_input_range_and_count_their_steps(monkeypatch, arm, activation):
    """Each layer's pre-trainer is told its inputs lie in [0, 1] exactly when they do (pixels; sigmoid units below:
    cross-entropy reconstruction and binary visible units), and every minibatch step is reported with its layer
    and epoch (the progress bar and the resume counts rest on them)."""
    cfg = small(arms=[arm], **{"model.activation": activation, f"pretraining.{arm}.epochs": 2,
                               f"pretraining.{arm}.batch_size": 20,
                               "model.layers": [{"kind": "dense", "units": 12}, {"kind": "dense", "units": 10}]})
    net = build_model(cfg.model, (1, 8, 8), 10, seed=2)
    pool = torch.rand(50, 1, 8, 8, generator=torch.Generator().manual_seed(3))
    told: dict[int, bool] = {}
    ranges: dict[int, tuple[float, float]] = {}
    real = greedy.make_pretrainer

    def spy(method, module, *args, **kwargs):
        layer = next(i for i, b in enumerate(net.blocks) if b.module is module)
        told[layer] = kwargs["unit_interval_input"]
        h = greedy.layer_inputs(net, pool, layer)
        ranges[layer] = (float(h.min()), float(h.max()))
        return real(method, module, *args, **kwargs)

    monkeypatch.setattr(greedy, "make_pretrainer", spy)
    items = list(greedy.greedy_pretrain(net, arm, cfg, pool, seed=2))
    for layer, (lo, hi) in ranges.items():
        assert told[layer] == (lo >= 0.0 and hi <= 1.0), (layer, lo, hi)
    assert told == {0: True, 1: activation == "sigmoid"}
    steps = [(i.layer, i.epoch) for i in items if isinstance(i, greedy.LayerStep)]
    assert steps == [(layer, e) for layer in (0, 1) for e in (1, 2) for _ in range(3)]  # 50 examples, batches of 20


@pytest.mark.parametrize("arm,activation", [("rbm", "tanh"), ("rbm", "sigmoid"), ("dae", "tanh")])
def test_a_pretrained_layer_handed_to_the_net_computes_what_its_pretrainer_learned(arm, activation):
    """An RBM's hidden units are sigmoid(W x + b); a tanh net gets W/2 and b/2, so its layer computes
    tanh((W x + b) / 2) = 2 sigmoid(W x + b) - 1, the same features rescaled to [-1, 1]. Other layers are handed
    over as trained. (The weights are read at the layer's last epoch, before the hand-over.)"""
    cfg = small(arms=[arm], **{"model.activation": activation, f"pretraining.{arm}.epochs": 1,
                               "model.layers": [{"kind": "dense", "units": 12}]})
    net = build_model(cfg.model, (1, 8, 8), 10, seed=5)
    pool = torch.rand(40, 1, 8, 8, generator=torch.Generator().manual_seed(6))
    module = net.blocks[0].module
    trained = None
    for item in greedy.greedy_pretrain(net, arm, cfg, pool, seed=5):
        if isinstance(item, greedy.LayerEpoch):
            trained = (module.weight.detach().clone(), module.bias.detach().clone())
        if isinstance(item, greedy.LayerDone):
            break
    w, b = trained
    x = pool.flatten(1)
    with torch.no_grad():
        handed = ACT[activation](x @ module.weight.T + module.bias)
    learned = x @ w.T + b
    if arm == "rbm" and activation == "tanh":
        torch.testing.assert_close(handed, 2 * torch.sigmoid(learned) - 1, rtol=1e-5, atol=1e-6)
    else:
        torch.testing.assert_close(handed, ACT[activation](learned), rtol=0, atol=0)


def test_greedy_pretraining_draws_nothing_from_the_global_generator():
    """Every layer's order and noise come from (seed, arm, layer): the global torch generator's state (whatever
    ran before in this process) changes nothing."""
    cfg = small(arms=["dae"], **{"pretraining.dae.epochs": 1,
                                 "model.layers": [{"kind": "dense", "units": 12}, {"kind": "dense", "units": 10}]})
    pool = torch.rand(40, 1, 8, 8, generator=torch.Generator().manual_seed(7))
    weights = []
    for global_seed in (0, 1):
        net = build_model(cfg.model, (1, 8, 8), 10, seed=8)
        torch.manual_seed(global_seed)
        list(greedy.greedy_pretrain(net, "dae", cfg, pool, seed=8))
        weights.append([p.detach().clone() for p in net.parameters()])
    for a, b in zip(*weights, strict=True):
        assert torch.equal(a, b)


@pytest.mark.parametrize("where", ["check", "reconstruction"])
def test_a_diverged_layer_names_its_layer_its_epoch_and_the_rate_to_lower(monkeypatch, where):
    """The pre-trainer's own divergence (its epoch check) and a non-finite reconstruction error both stop greedy
    pre-training with a message saying which layer and epoch, and (the reconstruction) which rate to lower."""
    cfg = small(arms=["dae"], **{"pretraining.dae.epochs": 2, "pretraining.dae.lr": 0.25,
                                 "model.layers": [{"kind": "dense", "units": 12}, {"kind": "dense", "units": 10}]})
    net = build_model(cfg.model, (1, 8, 8), 10, seed=3)
    pool = torch.rand(30, 1, 8, 8, generator=torch.Generator().manual_seed(3))
    real = greedy.make_pretrainer

    def spy(method, module, *args, **kwargs):
        trainer = real(method, module, *args, **kwargs)
        if module is net.blocks[1].module:  # layer 1 goes wrong in its second epoch
            epochs = iter(range(1, 10))
            if where == "check":
                def check():
                    if next(epochs) == 2:
                        raise PretrainingDiverged("dae loss is nan at step 3")
                trainer.check = check
            else:
                error = trainer.reconstruction_error
                trainer.reconstruction_error = lambda x: float("nan") if next(epochs) == 2 else error(x)
        return trainer

    monkeypatch.setattr(greedy, "make_pretrainer", spy)
    with pytest.raises(PretrainingDiverged) as exc:
        list(greedy.greedy_pretrain(net, "dae", cfg, pool, seed=3))
    assert str(exc.value) == {
        "check": "layer 1 epoch 2: dae loss is nan at step 3",
        "reconstruction": "layer 1 epoch 2: dae pre-training diverged (reconstruction error nan); lower "
                          "pretraining.dae.lr (now 0.25)"}[where]


def test_each_pretrained_layer_and_the_fine_tuning_announce_their_phase_once(splits, tmp_path):
    """The window's and the CLI's phase lines: one PhaseStarted per pre-trained layer, before that layer's first
    epoch, then one for fine-tuning."""
    cfg = small(arms=["dae"], **{"pretraining.dae.epochs": 2, "finetune.epochs": 1,
                                 "model.layers": [{"kind": "dense", "units": 16}, {"kind": "dense", "units": 8}]})
    events = list(train_unit(cfg, "dae", 3, tmp_path / "run", RunControl(), unit_data(cfg, splits)))
    ended(events)
    marks = [("start", e.phase, e.layer, e.epochs) if isinstance(e, PhaseStarted) else ("epoch", e.layer, e.epoch)
             for e in events if isinstance(e, PhaseStarted | PretrainEpoch)]
    assert marks == [("start", "pretrain", 0, 2), ("epoch", 0, 1), ("epoch", 0, 2),
                     ("start", "pretrain", 1, 2), ("epoch", 1, 1), ("epoch", 1, 2), ("start", "finetune", -1, 1)]
    assert {(e.arm, e.seed) for e in events if isinstance(e, PhaseStarted | PretrainEpoch)} == {("dae", 3)}


def test_a_unit_stopped_after_its_epoch_0_evaluation_resumes_from_that_state(splits, tmp_path):
    """A resume state written at fine-tuning epoch 0 (pre-trained, evaluated, not yet stepped) is a fine-tuning
    state like any other: the resumed unit starts at epoch 1, neither pre-training again nor evaluating epoch 0 a
    second time (one row per layer, epoch and split in the unit's metrics file)."""
    import csv

    from desktop_app.core.runfolder import RunFolder

    cfg = small(arms=["dae"], **{"finetune.epochs": 2, "finetune.optimizer": "momentum"})
    control = RunControl()
    with pytest.raises(StopRequested):
        for ev in train_unit(cfg, "dae", 1, tmp_path / "run", control, unit_data(cfg, splits)):
            if isinstance(ev, EpochMetrics) and ev.epoch == 0:
                control.stop()
    state = final_state(tmp_path / "run", "dae", 1)
    assert (state["stage"], state["epoch"]) == ("finetune", 0)
    rest = list(train_unit(cfg, "dae", 1, tmp_path / "run", RunControl(), unit_data(cfg, splits)))
    ended(rest)
    assert [e.epoch for e in rest if isinstance(e, EpochMetrics)] == [1, 2]
    assert not [e for e in rest if isinstance(e, PretrainEpoch)]  # its layers were pre-trained before the stop
    with open(RunFolder(tmp_path / "run").unit("dae", 1).metrics_path, newline="") as fh:
        rows = [(r["phase"], r["epoch"], r["split"]) for r in csv.DictReader(fh)]
    assert sorted(rows) == sorted([("pretrain", "1", "unlabelled")] + [("finetune", str(e), s) for e in (0, 1, 2)
                                                                      for s in ("train", "valid", "test")])

@pytest.mark.parametrize("arm", ["none", "dae"])
def test_each_fine_tuning_epochs_dropout_masks_start_from_the_seeds_own_stream(splits, tmp_path, monkeypatch, arm):
    """Dropout draws from torch's default generator, which a unit reseeds at every fine-tuning epoch with
    derive_seed(seed, "dropout", epoch) (the seed batch seeds its per-seed generators the same way): seed i draws the
    same masks in every arm, on any path, and a resumed unit the masks of an unstopped one. Checked where the masks
    are drawn: the generator's state at each epoch's first training-mode dropout is a fresh generator's so seeded."""
    import torch.nn.functional as F

    from desktop_app.core.seeding import derive_seed

    states: list[torch.Tensor] = []
    real = F.dropout

    def spy(x, p=0.5, training=True, inplace=False):
        if training:
            states.append(torch.get_rng_state())
        return real(x, p, training, inplace)

    monkeypatch.setattr(F, "dropout", spy)
    cfg = small(arms=[arm], **{"finetune.epochs": 3, "finetune.batch_size": 40, "model.dropout": 0.2})
    ended(list(train_unit(cfg, arm, 1, tmp_path / "run", RunControl(), unit_data(cfg, splits))))
    assert len(states) == 3 * 3  # 120 labelled examples in minibatches of 40, one dropout layer, 3 epochs
    for epoch in (1, 2, 3):
        want = torch.Generator().manual_seed(derive_seed(1, "dropout", epoch)).get_state()
        assert torch.equal(states[3 * (epoch - 1)], want), epoch

def test_a_units_metrics_file_holds_each_evaluation_as_its_event_reported(splits, tmp_path):
    """Every EpochMetrics is three rows of the unit's metrics file (train, valid, test), fine-tuning layer -1, the
    numbers as the event carried them and its wall time, which the event carries too (seconds since the unit
    began, growing)."""
    import csv

    from desktop_app.core.runfolder import RunFolder

    cfg = small(arms=["none"], **{"finetune.epochs": 2})
    events = list(train_unit(cfg, "none", 1, tmp_path / "run", RunControl(), unit_data(cfg, splits)))
    ended(events)
    metrics = [e for e in events if isinstance(e, EpochMetrics)]
    assert [e.epoch for e in metrics] == [0, 1, 2]
    walls = [e.wall_s for e in metrics]
    assert all(isinstance(w, float) for w in walls) and 0 < walls[0] <= walls[1] <= walls[2]
    want = [("none", "1", "finetune", "-1", str(e.epoch), split, repr(nll), repr(err), "", repr(e.wall_s))
            for e in metrics for split, nll, err in (("train", e.train_nll, e.train_error),
                                                     ("valid", e.valid_nll, e.valid_error),
                                                     ("test", e.test_nll, e.test_error))]
    with open(RunFolder(tmp_path / "run").unit("none", 1).metrics_path, newline="") as fh:
        reader = csv.DictReader(fh)
        assert reader.fieldnames == ["arm", "seed", "phase", "layer", "epoch", "split", "nll", "error", "recon_error",
                                     "wall_s"]
        assert [tuple(r.values()) for r in reader] == want
    # every epoch's weights checkpoint (checkpoint_every 1), announced with its phase, epoch and file
    saved = [(e.phase, e.epoch, e.path) for e in events if isinstance(e, CheckpointSaved)]
    folder = unit_dir(tmp_path / "run", "checkpoints", "none", 1)
    assert saved == [("finetune", k, str(folder / f"e{k:04d}.pt")) for k in (0, 1, 2)]
    assert [load_checkpoint(folder / f"e{k:04d}.pt")["epoch"] for k in (0, 1, 2)] == [0, 1, 2]

def test_every_minibatch_reports_its_phase_layer_and_epoch(splits, tmp_path, monkeypatch):
    """With the progress interval at 0 (no clock involved) every minibatch, pre-training and fine-tuning, sends a
    Progress naming the unit, the phase, the layer (-1: fine-tuning) and the 1-based epoch of how many, counting
    the unit's minibatches one by one up to its total; each fine-tuning evaluation (epoch 0 included) sends one
    more where it stands."""
    monkeypatch.setattr(unit, "PROGRESS_INTERVAL_S", 0.0)
    cfg = small(arms=["dae"], **{"pretraining.dae.epochs": 2, "pretraining.dae.batch_size": 25, "finetune.epochs": 2,
                                 "finetune.batch_size": 40,
                                 "model.layers": [{"kind": "dense", "units": 16}, {"kind": "dense", "units": 8}]})
    events = list(train_unit(cfg, "dae", 3, tmp_path / "run", RunControl(), unit_data(cfg, splits)))
    ended(events)
    # 60 unlabelled examples in minibatches of 25: 3 a pre-training epoch; 120 labelled in 40s: 3 a fine-tuning one
    want = [("pretrain", layer, epoch, 2) for layer in (0, 1) for epoch in (1, 2) for _ in range(3)]
    want += [("finetune", -1, 0, 2)] + [("finetune", -1, epoch, 2) for epoch in (1, 2) for _ in range(4)]
    done = [*range(1, 13), 12, 13, 14, 15, 15, 16, 17, 18, 18]
    got = [e for e in events if isinstance(e, Progress)]
    assert [(e.phase, e.layer, e.epoch, e.epochs) for e in got] == want
    assert [e.done_steps for e in got] == done and {(e.arm, e.seed) for e in got} == {("dae", 3)}
    assert {e.total_steps for e in got} == {18} == {unit.unit_steps(cfg, "dae", 120, 60)}


def test_a_pass_over_n_examples_is_n_over_the_batch_size_rounded_up():
    assert [unit.minibatches(n, 10) for n in (0, 1, 9, 10, 11, 20, 21)] == [0, 1, 1, 1, 2, 2, 3]


def test_a_unit_resumed_in_fine_tuning_counts_every_minibatch_once(splits, tmp_path):
    """Stopped after fine-tuning epoch 1 of a pre-trained unit and resumed: the resumed unit counts the layers
    pre-trained and the epoch done before the stop (its progress ends at its total, not short of it nor past it)
    and announces its fine-tuning as its own (arm and seed)."""
    cfg = small(arms=["dae"], **{"finetune.epochs": 3, "pretraining.dae.epochs": 2})
    control = RunControl()
    with pytest.raises(StopRequested):
        for ev in train_unit(cfg, "dae", 1, tmp_path / "run", control, unit_data(cfg, splits)):
            if isinstance(ev, EpochMetrics) and ev.epoch == 1:
                control.stop()
    assert final_state(tmp_path / "run", "dae", 1)["epoch"] == 1
    rest = list(train_unit(cfg, "dae", 1, tmp_path / "run", RunControl(), unit_data(cfg, splits)))
    ended(rest)
    assert [e for e in rest if isinstance(e, PhaseStarted)] == [PhaseStarted("dae", 1, "finetune", -1, 3)]
    progress = [e for e in rest if isinstance(e, Progress)]
    per_epoch = unit.minibatches(cfg.data.n_labelled, cfg.finetune.batch_size)
    assert progress[-1].done_steps == progress[-1].total_steps == unit.unit_steps(
        cfg, "dae", cfg.data.n_labelled, cfg.data.n_unlabelled)
    assert all(e.done_steps > progress[-1].total_steps - 2 * per_epoch for e in progress)  # epoch 1 counted


def test_a_pretraining_state_without_a_layer_count_resumes_from_the_first_layer(splits, tmp_path):
    """A pre-training resume state may leave out layers_done (the resume check accepts it: none done yet); the unit
    continuing it pre-trains every layer, the first included."""
    from desktop_app.core.runfolder import RunFolder

    cfg = small(arms=["dae"], **{"finetune.epochs": 1,
                                 "model.layers": [{"kind": "dense", "units": 16}, {"kind": "dense", "units": 8}]})
    data = unit_data(cfg, splits)
    net = build_model(cfg.model, splits.input_shape, splits.n_classes, 1)
    latest = RunFolder(tmp_path / "run").unit("dae", 1).latest_path
    latest.parent.mkdir(parents=True)
    torch.save({"stage": "pretrain", "model": net.state_dict()}, latest)
    events = list(train_unit(cfg, "dae", 1, tmp_path / "run", RunControl(), data))
    ended(events)
    assert sorted({e.layer for e in events if isinstance(e, PretrainEpoch)}) == [0, 1]


def test_a_deep_unit_resumed_in_fine_tuning_keeps_every_pretrained_layers_rows(splits, tmp_path):
    """A fine-tuning state counts every layer as pre-trained, however deep the net (the config allows 100 layers):
    a 64-layer unit stopped after fine-tuning epoch 1 and resumed keeps the pre-training rows of all 64."""
    import csv

    from desktop_app.core.runfolder import RunFolder

    cfg = small(arms=["dae"], **{"finetune.epochs": 2, "pretraining.dae.batch_size": 60,
                                 "model.layers": [{"kind": "dense", "units": 2}] * 64})
    control = RunControl()
    with pytest.raises(StopRequested):
        for ev in train_unit(cfg, "dae", 1, tmp_path / "run", control, unit_data(cfg, splits)):
            if isinstance(ev, EpochMetrics) and ev.epoch == 1:
                control.stop()
    ended(list(train_unit(cfg, "dae", 1, tmp_path / "run", RunControl(), unit_data(cfg, splits))))
    with open(RunFolder(tmp_path / "run").unit("dae", 1).metrics_path, newline="") as fh:
        layers = sorted(int(r["layer"]) for r in csv.DictReader(fh) if r["phase"] == "pretrain")
    assert layers == list(range(64))


@pytest.mark.parametrize("start_training", [True, False])
def test_what_each_layer_sees_is_the_blocks_below_in_eval_mode(start_training):
    """``greedy.layer_inputs``, what greedy pre-training feeds layer k: the blocks below k applied to the input in
    eval mode (no dropout), written out with torch's functional ops on the whole set at once (1234 images: one
    full EVAL_BATCH chunk and a short one), flattened for a dense block only; k = len(blocks) gives the last
    block's output. The net is left in the mode it was in; an empty set gives no rows."""
    import torch.nn.functional as F

    layers = [{"kind": "conv", "units": 3, "kernel": 3}, {"kind": "pool", "kernel": 2, "stride": 2},
              {"kind": "dense", "units": 5}, {"kind": "dense", "units": 4}]
    cfg = tiny(**{"model.layers": layers,
                  "model.activation": "sigmoid", "model.dropout": 0.5})
    net = build_model(cfg.model, (1, 8, 8), 10, seed=4)
    net.train(start_training)
    n = greedy.EVAL_BATCH + 234
    x = torch.rand(n, 1, 8, 8, generator=torch.Generator().manual_seed(6))
    conv, d1, d2 = net.blocks[0].module, net.blocks[2].module, net.blocks[3].module
    with torch.no_grad():
        seen = [x]
        seen.append(torch.sigmoid(F.conv2d(x, conv.weight, conv.bias)))
        seen.append(F.max_pool2d(seen[1], 2, 2))
        seen.append(torch.sigmoid(seen[2].reshape(n, -1) @ d1.weight.T + d1.bias))
        seen.append(torch.sigmoid(seen[3] @ d2.weight.T + d2.bias))
    seen[2] = seen[2].reshape(n, -1)  # block 2 is dense: it sees the pooled maps flattened
    for k, expect in enumerate(seen):
        got = greedy.layer_inputs(net, x, k)
        assert got.shape == expect.shape, k
        torch.testing.assert_close(got, expect, rtol=1e-5, atol=1e-6)
        assert got.is_contiguous()
        assert all(mod.training == start_training for mod in net.modules())
        assert len(greedy.layer_inputs(net, x[:0], k)) == 0  # an empty set: no rows, not an error
