"""Greedy layer-wise pre-training of a Net's stack, as one generator the engine and the analyses share.

Every layer's randomness is derived from (seed, arm, layer), never from what ran before, so a run resumed
after layer k, or an analysis that pre-trains the same seed again, gets exactly the same weights.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import torch

from desktop_app.core.config import ExperimentConfig
from desktop_app.core.control import RunControl
from desktop_app.core.pretraining import PRETRAINERS, PretrainingDiverged, make_pretrainer
from desktop_app.core.seeding import derive_seed
from desktop_app.core.training.models import Net

EVAL_BATCH = 1000
RECON_EVAL_SIZE = 2000


@dataclass(frozen=True)
class LayerStep:
    """One minibatch of pre-training done."""

    layer: int
    epoch: int


@dataclass(frozen=True)
class LayerEpoch:
    layer: int
    epoch: int
    recon_error: float  # mean per example on (up to) RECON_EVAL_SIZE clean pool examples


@dataclass(frozen=True)
class LayerDone:
    index: int  # position among the pre-trained layers (0 = first)
    layer: int  # index into model.blocks


@torch.no_grad()
def layer_inputs(model: Net, x: torch.Tensor, block: int) -> torch.Tensor:
    """What block ``block`` sees (eval mode: no dropout), flattened for dense blocks; block == len(blocks)
    gives the output of the last hidden block. An empty ``x`` still runs the blocks once, on 0 rows: its result
    has that block's input shape, not ``x``'s."""
    was_training = model.training
    model.eval()
    outs = [model.features(x[i : i + EVAL_BATCH], block) for i in range(0, max(len(x), 1), EVAL_BATCH)]
    model.train(was_training)
    h = torch.cat(outs)
    if block < len(model.blocks) and model.blocks[block].kind == "dense":
        h = h.flatten(1)
    return h.contiguous()


def pretrain_targets(model: Net, method: str, bottom: int = 0) -> list[int]:
    """The blocks greedy pre-training with ``method`` trains, bottom up: every block of the kinds it pre-trains, or
    only the lowest ``bottom`` of them (``pretraining.bottom_layers``; 0 = all). The blocks above keep their
    random init, so (Erhan 2010) pre-training the bottom k of 3 layers is a run with bottom = k."""
    kinds = PRETRAINERS[method].layer_kinds
    targets = [i for i, b in enumerate(model.blocks) if b.kind in kinds]
    return targets[:bottom] if bottom else targets


def pretrained_layer_count(cfg: ExperimentConfig, arm: str) -> int:
    """How many layers ``arm`` pre-trains, from the config alone (progress totals are counted before any net)."""
    if arm == "none":
        return 0
    n = sum(1 for spec in cfg.model.layers if spec.kind in PRETRAINERS[arm].layer_kinds)
    return min(n, cfg.pretraining.bottom_layers) if cfg.pretraining.bottom_layers else n


def greedy_pretrain(
    model: Net,
    arm: str,
    cfg: ExperimentConfig,
    pool: torch.Tensor,
    seed: int,
    control: RunControl | None = None,
    layers_done: int = 0,
) -> Iterator[LayerStep | LayerEpoch | LayerDone]:
    """Pre-train model's layers in place, bottom up (only the bottom ``pretraining.bottom_layers`` when set),
    skipping the first ``layers_done`` (already trained)."""
    section = getattr(cfg.pretraining, arm)
    device = next(model.parameters()).device
    for j, li in enumerate(pretrain_targets(model, arm, cfg.pretraining.bottom_layers)):
        if j < layers_done:
            continue
        block = model.blocks[li]
        inputs = layer_inputs(model, pool, li)
        order_gen = torch.Generator().manual_seed(derive_seed(seed, f"pretrain-order-{arm}", li))
        noise_gen = torch.Generator(device=device).manual_seed(derive_seed(seed, f"pretrain-noise-{arm}", li))
        trainer = make_pretrainer(
            arm,
            block.module,
            cfg.model.activation,
            section,
            unit_interval_input=(li == 0 or cfg.model.activation == "sigmoid"),
            generator=noise_gen,
            stride=block.spec.stride,
        )
        recon_subset = inputs[:RECON_EVAL_SIZE]
        for epoch in range(1, section.epochs + 1):
            perm = torch.randperm(len(inputs), generator=order_gen).to(device)
            for start in range(0, len(inputs), section.batch_size):
                if control is not None:
                    control.checkpoint()
                trainer.step(inputs[perm[start : start + section.batch_size]])
                yield LayerStep(li, epoch)
            try:
                trainer.check()  # the epoch's loss and gradient checks, read back at once (FiniteWatch)
            except PretrainingDiverged as exc:  # say where: the user lowers that layer's rate
                raise PretrainingDiverged(f"layer {li} epoch {epoch}: {exc}") from None
            error = float(trainer.reconstruction_error(recon_subset))
            if not math.isfinite(error):
                raise PretrainingDiverged(f"layer {li} epoch {epoch}: {arm} pre-training diverged (reconstruction "
                                          f"error {error}); lower pretraining.{arm}.lr (now {section.lr:g})")
            yield LayerEpoch(li, epoch, error)
        finish_layer(block.module, arm, cfg.model.activation)
        yield LayerDone(j, li)


def finish_layer(module: torch.nn.Module, arm: str, activation: str) -> None:
    """Hand a pre-trained layer to the net: RBM hidden units are sigmoid, and sigmoid(a) = (1 + tanh(a / 2)) / 2,
    so a tanh net computes the same features (rescaled to [-1, 1]) with half the weights and biases."""
    if arm == "rbm" and activation == "tanh":
        with torch.no_grad():
            module.weight.mul_(0.5)
            module.bias.mul_(0.5)
