"""Supervised training helpers shared by the engine and the analyses: the optimizer factory, one fine-tuning
step (with the divergence check), evaluation, probe outputs and the checkpoint byte format.

They live here, below both, so an analysis that trains nets the way a run does (output variance) never
imports the engine (docs/ARCHITECTURE.md: layers inside core).
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from desktop_app.core.config import ConfigError, FinetuneConfig, ModelConfig
from desktop_app.core.events import as_array
from desktop_app.core.training.checkpoint_file import load_checkpoint_file
from desktop_app.core.training.models import Net, penalty

EVAL_BATCH = 1000


class FinetuneDiverged(FloatingPointError):
    """A fine-tuning loss, weight or metric became inf/nan; raised before anything non-finite is written, with
    the epoch and what to lower in the message."""

    def __init__(self, cfg: FinetuneConfig, epoch: int, what: str) -> None:
        advice = f"lower finetune.lr (now {cfg.lr:g})"
        if cfg.optimizer == "momentum":
            advice += f" or finetune.momentum (now {cfg.momentum:g})"
        super().__init__(f"fine-tuning diverged at epoch {epoch} ({what}); {advice}")
        self.epoch = epoch


def make_optimizer(cfg: FinetuneConfig, params, fused: bool = False) -> torch.optim.Optimizer:
    """``fused``: torch's one-pass kernel (a seed batch's stacked tensors, where the per-op loop is memory-bound;
    the same update up to float rounding)."""
    f = True if fused else None
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, fused=f)
    if cfg.optimizer == "momentum":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, fused=f)
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, fused=f)
    raise ConfigError("finetune.optimizer", f"must be one of sgd, momentum, adam; got {cfg.optimizer!r}")


def misplaced_steps(opt: torch.optim.Optimizer) -> list[tuple[dict, torch.Tensor]]:
    """(state, step) of each parameter whose optimizer ``step`` counter is not where torch keeps it for a fresh
    optimizer: on the CPU unless the group is ``capturable`` or ``fused``. A resume state loaded with
    ``map_location=cuda`` puts every ``step`` on the GPU, where the non-capturable Adam reads it back with
    ``.item()`` per parameter per step (a host sync each); a fresh run never does."""
    out = []
    for group in opt.param_groups:
        if group.get("capturable") or group.get("fused"):
            continue
        for p in group["params"]:
            step = opt.state.get(p, {}).get("step")
            if isinstance(step, torch.Tensor) and step.device.type != "cpu":
                out.append((opt.state[p], step))
    return out


def load_optimizer_state(opt: torch.optim.Optimizer, state: dict) -> None:
    """``opt.load_state_dict(state)``, then each ``step`` counter back on the CPU (``misplaced_steps``)."""
    opt.load_state_dict(state)
    for entry, step in misplaced_steps(opt):
        entry["step"] = step.cpu()


LOSS_CHECK_EVERY = 32  # minibatches between loss checks (each reads a scalar: ~3 % of a batch-10 step when done
# every step; docs/PERFORMANCE.md, "Engine overhead"). Between two checks a NaN can reach the weights, but the
# end-of-epoch checks (all_finite, finite metrics) raise before anything of that epoch is written.


def finetune_step(model: Net, opt: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor, model_cfg: ModelConfig,
                  ft: FinetuneConfig, epoch: int, check_loss: bool = True) -> None:
    """One supervised minibatch step; with ``check_loss`` a non-finite loss raises before the step."""
    loss = F.cross_entropy(model(x), y)
    if model_cfg.l1 or model_cfg.l2:  # adding a constant 0 would still cost an op and a backward node per step
        loss = loss + penalty(model, model_cfg.l1, model_cfg.l2)
    if check_loss and not torch.isfinite(loss):
        raise FinetuneDiverged(ft, epoch, f"loss {loss.item()}")
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()


def all_finite(model: Net) -> bool:
    return all(bool(torch.isfinite(p).all()) for p in model.parameters())


@torch.no_grad()
def evaluate(model: Net, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """Mean negative log-likelihood (nats) and classification error on (x, y), eval mode."""
    was_training = model.training
    model.eval()
    nll, wrong = 0.0, 0
    for i in range(0, len(x), EVAL_BATCH):
        logits = model(x[i : i + EVAL_BATCH])
        target = y[i : i + EVAL_BATCH]
        nll += F.cross_entropy(logits, target, reduction="sum").item()
        wrong += (logits.argmax(1) != target).sum().item()
    model.train(was_training)
    n = max(len(x), 1)
    return nll / n, wrong / n


@torch.no_grad()
def probe_outputs(model: Net, x: torch.Tensor) -> np.ndarray:
    was_training = model.training
    model.eval()
    out = torch.softmax(model(x), dim=1)
    model.train(was_training)
    return as_array(out.cpu())


def checkpoint_bytes(state: dict[str, Any]) -> bytes:
    buf = io.BytesIO()
    torch.save(state, buf)
    return buf.getvalue()


def load_checkpoint(path: Path, device: torch.device | str = "cpu") -> dict[str, Any]:
    """Load a Basin checkpoint through ``training.checkpoint_file`` (checked reader, bounded zip, weights_only); what
    the state holds is checked by ``training.checkpoints.read_resume_state`` / ``read_weights``."""
    return load_checkpoint_file(path, device)
