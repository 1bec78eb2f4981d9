"""The contract every greedy layer-wise pre-trainer follows, plus the small helpers they share.

A pre-trainer wraps one layer of the network (an ``nn.Linear`` or ``nn.Conv2d``) and updates that layer's own
weight and bias in place, so that when pre-training ends the network already holds the pre-trained weights
and no copy step can be forgotten. Extra parameters (visible biases, momentum buffers, persistent chains) stay
in the pre-trainer because the network never uses them after pre-training.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from desktop_app.core.config import ACTIVATIONS, NOISES

Layer = nn.Linear | nn.Conv2d


def activation_fn(name: str):
    """The encoder non-linearity; the same one the network uses, so pre-trained features match fine-tuning."""
    if name == "sigmoid":
        return torch.sigmoid
    if name == "tanh":
        return torch.tanh
    if name == "relu":
        return F.relu
    raise ValueError(f"activation must be one of {', '.join(ACTIVATIONS)}; got {name!r}")


def uniform(shape: torch.Size | tuple[int, ...], like: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """U[0,1) drawn on the generator's device, then moved: a CPU generator then also drives CUDA layers."""
    return torch.rand(shape, generator=generator, device=generator.device, dtype=like.dtype).to(like.device)


def normal(shape: torch.Size | tuple[int, ...], like: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """N(0,1) on the generator's device, moved to ``like``'s device (see ``uniform``)."""
    return torch.randn(shape, generator=generator, device=generator.device, dtype=like.dtype).to(like.device)


def bernoulli(p: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Binary samples with probabilities ``p`` (same dtype/device as ``p``)."""
    return (uniform(p.shape, p, generator) < p).to(p.dtype)


def corrupt(x: torch.Tensor, noise: str, level: float, generator: torch.Generator) -> torch.Tensor:
    """Denoising corruption: "masking" zeroes each input with probability ``level`` (Vincent et al. 2008);
    "gaussian" adds N(0, level^2). Returns a new tensor; ``x`` is untouched because it is also the target."""
    if noise == "masking":
        if level <= 0:
            return x.clone()
        keep = uniform(x.shape, x, generator) >= level
        return x * keep.to(x.dtype)
    if noise == "gaussian":
        if level <= 0:
            return x.clone()
        return x + level * normal(x.shape, x, generator)
    raise ValueError(f"noise must be one of {', '.join(NOISES)}; got {noise!r}")


def reconstruction_loss_sum(logits: torch.Tensor, target: torch.Tensor, unit_interval: bool) -> torch.Tensor:
    """Sum over batch and units of the decoder loss.

    unit_interval: sigmoid decoder + cross-entropy, computed from the pre-sigmoid ``logits`` for numerical
    stability (saturated units would give log(0) otherwise); else a linear decoder + squared error.
    """
    if unit_interval:
        return F.binary_cross_entropy_with_logits(logits, target, reduction="sum")
    return ((logits - target) ** 2).sum()


class PretrainingDiverged(FloatingPointError):
    """The reconstruction error became inf/nan: the learning rate is too large for this layer's input scale.

    Raised instead of carrying on, so NaN weights never reach the network's fine-tuning phase. ``step``: the step
    (from 0, since the last check) whose value was not finite, when a deferred ``check`` found it.
    """

    step: int = 0


class FiniteWatch:
    """Values that must stay finite (losses, gradient norms), kept on their device and read back together.

    Reading a GPU value back to Python (``float(loss)``) waits for every queued kernel: two or three such reads
    per minibatch keep the GPU idle between steps. A watch writes each value into a device buffer instead (no
    host sync) and ``first_bad`` reads the buffer once, e.g. at the end of an epoch, to find the first value that
    was not finite, with what it was and at which step: the same value, and so the same message, a check at the
    step would have given. Each entry holds one value per stacked seed (width K; 1 alone)."""

    def __init__(self) -> None:
        self._buf: torch.Tensor | None = None
        self._what: list[str] = []
        self._step: list[int] = []
        self.steps = 0  # steps ended since the last read

    def add(self, value: torch.Tensor, what: str) -> None:
        v = value.detach().reshape(-1)
        n = len(self._what)
        if self._buf is not None and n and self._buf.shape[1] != v.numel():
            raise ValueError(f"a watch entry of {v.numel()} values after entries of {self._buf.shape[1]}")
        if self._buf is None or n == len(self._buf) or self._buf.shape[1] != v.numel() or \
                self._buf.device != v.device:
            # float64: every float32 value, inf and nan exactly as they are (the message prints the value)
            grown = torch.empty((max(64, 2 * n), v.numel()), dtype=torch.float64, device=v.device)
            if self._buf is not None and n:
                grown[:n].copy_(self._buf[:n])
            self._buf = grown
        self._buf[n].copy_(v)
        self._what.append(what)
        self._step.append(self.steps)

    def end_step(self) -> None:
        self.steps += 1

    def first_bad(self) -> dict[int, tuple[int, str, float]]:
        """{column (seed position): (step, what, value)} of each column's first non-finite value since the last
        read, then forget them: one host sync when all were finite, two when some were not."""
        n, buf = len(self._what), self._buf
        what, step = self._what, self._step
        self._what, self._step, self.steps = [], [], 0
        if n == 0 or buf is None:
            return {}
        rows = buf[:n]
        if bool(torch.isfinite(rows).all()):
            return {}
        out: dict[int, tuple[int, str, float]] = {}
        for i, row in enumerate(rows.tolist()):
            for j, value in enumerate(row):
                if j not in out and not math.isfinite(value):
                    out[j] = (step[i], what[i], value)
        return out


class LayerPretrainer(ABC):
    """One layer's unsupervised pre-training: the engine calls ``train_step`` per minibatch."""

    method: ClassVar[str]
    layer_kinds: ClassVar[tuple[str, ...]]
    module_type: ClassVar[type[nn.Module]]

    def __init__(
        self,
        module: Layer,
        activation: str,
        cfg: Any,
        *,
        unit_interval_input: bool,
        generator: torch.Generator,
        stride: int = 1,
    ) -> None:
        if not isinstance(module, self.module_type):
            raise TypeError(f"{self.method} pre-trains {self.module_type.__name__} layers; got {type(module).__name__}")
        if module.bias is None:
            raise ValueError(f"{self.method} needs a layer with a bias (its hidden bias); got bias=False")
        self.act = activation_fn(activation)
        self.module = module
        self.activation = activation
        self.cfg = cfg
        self.unit_interval_input = bool(unit_interval_input)
        self.generator = generator
        self.stride = int(stride)
        self.batch_size: int = int(cfg.batch_size)
        self.epochs: int = int(cfg.epochs)
        self.watch = FiniteWatch()  # the checks of ``step``, read by ``check``

    @property
    def weight(self) -> torch.Tensor:
        return self.module.weight

    @property
    def hidden_bias(self) -> torch.Tensor:
        assert self.module.bias is not None
        return self.module.bias

    def _prepare(self, batch: torch.Tensor) -> torch.Tensor:
        """Match the layer's device and dtype so callers can hand over any loaded tensor."""
        w = self.module.weight
        return batch.to(device=w.device, dtype=w.dtype)

    def _check_finite(self, value: float, what: str = "reconstruction error") -> float:
        if not math.isfinite(value):
            raise PretrainingDiverged(
                f"{self.method} pre-training diverged ({what} {value}); "
                f"lower pretraining.{self.method}.lr (now {self.cfg.lr:g})"
            )
        return value

    def _guard(self, value: torch.Tensor, what: str, watch: FiniteWatch | None) -> None:
        """Check ``value`` now (``watch`` None: a host sync, and the step stops before its update) or leave it to
        the watch (read by ``check``)."""
        if watch is None:
            self._check_finite(float(value), what)
        else:
            watch.add(value, what)

    def train_step(self, batch: torch.Tensor) -> float:
        """One minibatch update checked at once (host syncs: it stops before a non-finite update reaches the
        weights); returns the batch SUM of per-example reconstruction error. The training loops use ``step``."""
        return float(self._update(batch, None))

    def step(self, batch: torch.Tensor) -> None:
        """One minibatch update whose finiteness checks wait on the device until ``check`` (no host sync): the
        training loops call ``check`` once an epoch. A step after a non-finite value still updates (the values
        stay non-finite); ``check`` then raises with the first of them, as ``train_step`` would have."""
        self._update(batch, self.watch)
        self.watch.end_step()

    def check(self) -> None:
        """PretrainingDiverged for the first non-finite value of the steps since the last check (its ``step``
        attribute: which of those steps, from 0); one host sync."""
        bad = self.watch.first_bad().get(0)
        if bad is not None:
            step, what, value = bad
            try:
                self._check_finite(value, what)
            except PretrainingDiverged as exc:
                exc.step = step
                raise

    @abstractmethod
    def _update(self, batch: torch.Tensor, watch: FiniteWatch | None) -> torch.Tensor:
        """One minibatch update, its checks through ``_guard``; returns the batch SUM of per-example
        reconstruction error (a detached 0-d tensor on the layer's device)."""

    @abstractmethod
    def _error_sum(self, batch: torch.Tensor) -> float:
        """Sum over ``batch`` of per-example reconstruction error, deterministic (no noise, no sampling)."""

    @torch.no_grad()
    def reconstruction_error(self, data: torch.Tensor, batch_size: int = 1000) -> float:
        """Mean per-example reconstruction error over ``data`` with no corruption or sampling, in batches so
        a large data set never needs one huge activation tensor. A batch size below 1 is a caller's mistake
        (its batches would be empty and the mean a silent 0): ValueError."""
        n = int(data.shape[0])
        if n == 0:
            raise ValueError("reconstruction_error needs at least one example")
        if batch_size < 1:
            raise ValueError(f"reconstruction_error needs a batch size of at least 1; got {batch_size!r}")
        total = 0.0
        for start in range(0, n, batch_size):
            total += self._error_sum(self._prepare(data[start : start + batch_size]))
        return total / n
