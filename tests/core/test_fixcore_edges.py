"""Edge cases of core that used to give a plausible wrong answer instead of the right one or a refusal: a batch
size of 0 (a mean of 0.0), an empty set's layer inputs (the input's shape), and a unit stopped before its first
pre-training minibatch (reported as fine-tuning)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from desktop_app.core import config as c
from desktop_app.core.control import RunControl, StopRequested
from desktop_app.core.events import Progress
from desktop_app.core.pretraining import PRETRAINERS, make_pretrainer
from desktop_app.core.seedbatch.batch import train_seed_batch
from desktop_app.core.training.greedy import layer_inputs
from desktop_app.core.training.models import build_model
from desktop_app.core.training.unit import prepare_data, train_unit
from tests.core.test_engine import tiny


# -- 1. a batch size below 1 -------------------------------------------------------------------------------------
@pytest.mark.parametrize("method", list(PRETRAINERS))
def test_reconstruction_error_refuses_a_batch_size_below_one(method):
    """batch_size 0 used to slice empty batches and return 0.0 (a perfect reconstruction); every pre-trainer's
    evaluator (the one in the base class) now raises, and batch size 1 is the whole-set mean."""
    dense = "dense" in PRETRAINERS[method].layer_kinds
    module = nn.Linear(12, 5) if dense else nn.Conv2d(1, 3, 3)
    g = torch.Generator().manual_seed(0)
    data = torch.rand((6, 12) if dense else (6, 1, 5, 5), generator=g)
    trainer = make_pretrainer(method, module, "sigmoid", getattr(c.PretrainingConfig(), method),
                              unit_interval_input=True, generator=g)
    whole = trainer.reconstruction_error(data)
    assert whole > 0
    assert trainer.reconstruction_error(data, batch_size=1) == pytest.approx(whole, rel=1e-6)
    for bad in (0, -1):
        with pytest.raises(ValueError) as exc:
            trainer.reconstruction_error(data, batch_size=bad)
        assert str(exc.value) == f"reconstruction_error needs a batch size of at least 1; got {bad}"


# -- 3. an empty set's layer inputs ------------------------------------------------------------------------------
CNN = c.from_dict({"model": {"layers": [{"kind": "conv", "units": 3, "kernel": 3}, {"kind": "pool", "kernel": 2},
                                        {"kind": "dense", "units": 7}, {"kind": "dense", "units": 5}]}})


@pytest.mark.parametrize("block", range(5))
def test_layer_inputs_of_an_empty_set_have_the_blocks_input_shape(block):
    """0 rows of what block ``block`` sees (an image for conv/pool, a flat vector for dense, the last hidden output
    for block == len(blocks)), with the trailing shape and dtype of the same call on a non-empty set; it used to be
    ``x[:0]``, the input's shape, whatever the block."""
    model = build_model(CNN.model, (1, 9, 9), 4, 0)
    x = torch.rand(3, 1, 9, 9, generator=torch.Generator().manual_seed(1))
    full, empty = layer_inputs(model, x, block), layer_inputs(model, x[:0], block)
    assert empty.shape == (0, *full.shape[1:]) and empty.dtype == full.dtype
    if block in (2, 3, 4):
        assert full.dim() == 2  # dense blocks (and the last hidden output) see flat vectors, not (1, 9, 9) images


# -- 4. stopped before the first pre-training minibatch ----------------------------------------------------------
def _cfg(**over):
    return tiny(**{"arms": ["dae"], "data.n_labelled": 40, "data.n_valid": 20, "data.n_test": 20,
                   "data.probe_size": 5, "data.n_unlabelled": 40, "pretraining.dae.epochs": 1,
                   "finetune.epochs": 1, "snapshots.filters": False, "snapshots.probe_outputs": False,
                   "model.layers": [{"kind": "dense", "units": 6}, {"kind": "dense", "units": 6}], **over})


def _stopped(events) -> list[Progress]:
    """The Progress events of a run driven until it raises StopRequested."""
    seen = []
    with pytest.raises(StopRequested):
        for ev in events:
            seen.append(ev)
    return [ev for ev in seen if isinstance(ev, Progress)]


def _stopped_control() -> RunControl:
    control = RunControl()
    control.stop()  # the first control.checkpoint() raises: the one before the first pre-training minibatch
    return control


@pytest.mark.parametrize("batch", [False, True], ids=["unit", "seed-batch"])
def test_a_unit_stopped_before_its_first_pretraining_minibatch_reports_pretrain(tmp_path, batch):
    """Its last Progress (what the window and ``basin run`` show where the stop landed) is layer 0's pre-training at
    epoch 0 with no minibatch done; it used to say "finetune", the phase the unit had not reached. A seed batch
    (DAE is stacked) reports each of its seeds the same way."""
    cfg = _cfg()
    data = prepare_data(cfg, torch.device("cpu"))
    events = train_seed_batch(cfg, "dae", [0, 1], tmp_path / "run", _stopped_control(), data) if batch else \
        train_unit(cfg, "dae", 0, tmp_path / "run", _stopped_control(), data)
    last = {ev.seed: ev for ev in _stopped(events)}
    assert sorted(last) == ([0, 1] if batch else [0])
    for ev in last.values():
        assert (ev.phase, ev.layer, ev.epoch, ev.epochs, ev.done_steps) == ("pretrain", 0, 0, 1, 0)


def test_a_resumed_unit_stopped_before_its_next_layers_first_minibatch_reports_that_layer(tmp_path):
    """Stopped once layer 0's pre-training is saved, resumed and stopped again at once: the unit is about to
    pre-train layer 1, and says so (with layer 0's minibatches counted as done)."""
    cfg = _cfg()
    data = prepare_data(cfg, torch.device("cpu"))
    control = RunControl()
    with pytest.raises(StopRequested):
        for ev in train_unit(cfg, "dae", 0, tmp_path / "run", control, data):
            if type(ev).__name__ == "PretrainEpoch" and ev.layer == 0:
                control.stop()  # layer 0's resume state is written before layer 1's first minibatch
    (ev,) = _stopped(train_unit(cfg, "dae", 0, tmp_path / "run", _stopped_control(), data))[-1:]
    per_layer = 40 // cfg.pretraining.dae.batch_size
    assert (ev.phase, ev.layer, ev.epoch, ev.done_steps) == ("pretrain", 1, 0, per_layer)



def test_a_resumed_bottom_k_unit_with_its_k_layers_done_stopped_at_once_reports_finetune(tmp_path):
    """pretraining.bottom_layers = 1 of 2 dense layers, the unit left once layer 0's pre-training is saved (closed
    at fine-tuning's PhaseStarted, so its resume state is pre-training's, layers_done 1): resumed and stopped before
    its first minibatch, it has nothing left to pre-train, never names layer 1 (which a run pre-training every
    layer would do next), and counts layer 0's minibatches only."""
    cfg = _cfg(**{"pretraining.bottom_layers": 1})
    data = prepare_data(cfg, torch.device("cpu"))
    first = train_unit(cfg, "dae", 0, tmp_path / "run", RunControl(), data)
    seen = []
    for ev in first:
        seen.append(ev)
        if type(ev).__name__ == "PhaseStarted" and ev.phase == "finetune":
            break
    first.close()  # like an abandoned run: the pending resume state goes to disk
    assert [ev.layer for ev in seen if type(ev).__name__ == "PretrainEpoch"] == [0]
    resumed = _stopped(train_unit(cfg, "dae", 0, tmp_path / "run", _stopped_control(), data))
    per_layer = 40 // cfg.pretraining.dae.batch_size
    assert [(ev.phase, ev.epoch) for ev in resumed] == [("finetune", 0), ("finetune", 1)]  # fine-tuning from 0
    assert (resumed[-1].layer, resumed[-1].epoch, resumed[-1].done_steps) == (-1, 1, per_layer)
