"""Denoising autoencoder pre-training of a dense layer (Vincent et al. 2008), tied weights.

Encoder h = act(W x~ + c) uses the network's own layer (W, c) and activation, so the features learnt are
exactly the ones fine-tuning starts from. The decoder reuses W^T (tied weights, as in the SdA of Erhan et al.
2010) plus a visible bias b owned here. Inputs in [0,1] get a sigmoid decoder and cross-entropy against the
clean input; other inputs a linear decoder and squared error.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from desktop_app.core.config import NOISES, DAEConfig
from desktop_app.core.pretraining.base import LayerPretrainer, corrupt, reconstruction_loss_sum


class DAEPretrainer(LayerPretrainer):
    """Plain SGD (cfg.lr) on the batch-mean of the per-example loss, over [W, c, b]."""

    method: ClassVar[str] = "dae"
    layer_kinds: ClassVar[tuple[str, ...]] = ("dense",)
    module_type: ClassVar[type[nn.Module]] = nn.Linear

    def __init__(
        self,
        module: nn.Linear,
        activation: str,
        cfg: DAEConfig | Any,
        *,
        unit_interval_input: bool,
        generator: torch.Generator,
        stride: int = 1,
    ) -> None:
        super().__init__(
            module,
            activation,
            cfg,
            unit_interval_input=unit_interval_input,
            generator=generator,
            stride=stride,
        )
        if cfg.noise not in NOISES:
            raise ValueError(f"dae noise must be one of {', '.join(NOISES)}; got {cfg.noise!r}")
        self.noise = str(cfg.noise)
        self.corruption = float(cfg.corruption)
        w = module.weight
        self.visible_bias = nn.Parameter(torch.zeros(w.shape[1], dtype=w.dtype, device=w.device))
        self.optimizer = torch.optim.SGD([module.weight, self.hidden_bias, self.visible_bias], lr=float(cfg.lr))

    def corrupt(self, x: torch.Tensor) -> torch.Tensor:
        return corrupt(x, self.noise, self.corruption, self.generator)

    def decode_logits(self, h: torch.Tensor) -> torch.Tensor:
        """Pre-sigmoid (or linear) reconstruction W^T h + b."""
        return h @ self.weight + self.visible_bias

    def _loss_sum(self, x_in: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        h = self.act(F.linear(x_in, self.weight, self.hidden_bias))
        return reconstruction_loss_sum(self.decode_logits(h), target, self.unit_interval_input)

    def train_step(self, batch: torch.Tensor) -> float:
        x = self._prepare(batch).reshape(batch.shape[0], -1)
        x_tilde = self.corrupt(x)
        try:
            with torch.enable_grad():
                self.optimizer.zero_grad(set_to_none=True)
                loss_sum = self._loss_sum(x_tilde, x)
                error = self._check_finite(float(loss_sum.detach()))  # checked before the step: no NaN in W
                (loss_sum / x.shape[0]).backward()
                params = self.optimizer.param_groups[0]["params"]
                self._check_finite(float(nn.utils.clip_grad_norm_(params, math.inf)), "gradient norm")
                self.optimizer.step()
        finally:
            # Leave no gradients on the network's parameters: fine-tuning must start from clean .grad fields.
            self.optimizer.zero_grad(set_to_none=True)
        return error

    @torch.no_grad()
    def _error_sum(self, batch: torch.Tensor) -> float:
        x = batch.reshape(batch.shape[0], -1)
        return float(self._loss_sum(x, x))
