"""The per-minibatch step of the stream experiments (online units, output variance): one owner for "train a
net on a stream of minibatches, scoring each before the step when asked".

A dense-only net runs ``DenseStep``, ``dense_step``'s hand-written step at K = 1: at minibatch 10 about 2-3x
faster than autograd (``bench/online_step.py``, docs/PERFORMANCE.md "Online units"), and without dropout the
step's own forward pass on the weights before the update is the eval-mode score, so scoring costs nothing. Any
other net runs ``PlainStep`` (autograd, ``training.finetune_step``). Both keep the optimizer state in the plain
format, so a checkpoint resumes with either (docs/ARCHITECTURE.md, "Online experiments").
"""

from __future__ import annotations

import torch

from desktop_app.core.config import ExperimentConfig
from desktop_app.core.training.dense_step import StackedMLP, stackable
from desktop_app.core.training.models import Net
from desktop_app.core.training.step import FinetuneDiverged, finetune_step, load_optimizer_state, make_optimizer


@torch.no_grad()
def online_mistakes(model: Net, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Which of a minibatch's examples the net misclassifies before it trains on them (eval mode; bool, on the
    net's device: the caller keeps them there and reads them back once per evaluation point, not per minibatch)."""
    was_training = model.training
    model.eval()
    wrong = model(x).argmax(1) != y
    model.train(was_training)
    return wrong


class PlainStep:
    """Autograd: score a minibatch (eval mode) when asked, then ``training.finetune_step``; any net."""

    def __init__(self, model: Net, cfg: ExperimentConfig, opt_state: dict | None) -> None:
        self.model, self.cfg = model, cfg
        self.opt = make_optimizer(cfg.finetune, model.parameters())
        if opt_state is not None:
            load_optimizer_state(self.opt, opt_state)

    def reseed(self, seed: int) -> None:
        torch.manual_seed(seed)  # the dropout masks of the segment up to the next reseed

    def train_step(self, x: torch.Tensor, y: torch.Tensor, epoch: int, check_loss: bool) -> None:
        finetune_step(self.model, self.opt, x, y, self.cfg.model, self.cfg.finetune, epoch, check_loss=check_loss)

    def score_and_step(self, x: torch.Tensor, y: torch.Tensor, epoch: int, check_loss: bool) -> torch.Tensor:
        wrong = online_mistakes(self.model, x, y)
        self.train_step(x, y, epoch, check_loss)
        return wrong

    def write_to(self, model: Net) -> None:
        """The weights already live in ``model``."""

    def optimizer_state(self) -> dict:
        return self.opt.state_dict()


class DenseStep:
    """``dense_step``'s hand-written step for one dense net (K = 1). The weights live in the stack; ``write_to``
    copies them into the net (evaluation points, the end of a pass). Numbers equal ``PlainStep``'s up to float
    rounding (tests/core/test_online.py)."""

    def __init__(self, model: Net, cfg: ExperimentConfig, opt_state: dict | None) -> None:
        self.template = make_optimizer(cfg.finetune, model.parameters()).state_dict()
        self.stack = StackedMLP([model], cfg.model, cfg.finetune, [opt_state] if opt_state is not None else None)
        self.cfg = cfg
        self.dropout = cfg.model.dropout > 0
        self.generator = torch.Generator(device=next(model.parameters()).device)

    def reseed(self, seed: int) -> None:
        self.generator.manual_seed(seed)

    def train_step(self, x: torch.Tensor, y: torch.Tensor, epoch: int, check_loss: bool) -> None:
        bad = self.stack.step(x.unsqueeze(0), y.unsqueeze(0), [self.generator], check_loss)
        if bad:
            raise FinetuneDiverged(self.cfg.finetune, epoch, f"loss {bad[0]}")

    def score_and_step(self, x: torch.Tensor, y: torch.Tensor, epoch: int, check_loss: bool) -> torch.Tensor:
        scored = self.stack.predict(x.unsqueeze(0)) if self.dropout else None
        self.train_step(x, y, epoch, check_loss)
        logits = scored if scored is not None else self.stack.last_logits
        return logits[0].argmax(1) != y

    def write_to(self, model: Net) -> None:
        self.stack.write_to(0, model)

    def optimizer_state(self) -> dict:
        return self.stack.optimizer_state(0, self.template)


def make_stepper(model: Net, cfg: ExperimentConfig, opt_state: dict | None = None) -> PlainStep | DenseStep:
    """The dense step where the net is dense-only (conv stacks are slower than autograd at K = 1: PERFORMANCE.md,
    "Seed batches of a CNN"), else the autograd step."""
    return (DenseStep if stackable(model) else PlainStep)(model, cfg, opt_state)
