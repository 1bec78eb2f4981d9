"""What the denoising (dense) and convolutional autoencoders share: noise, visible bias, the training step.

Both corrupt the input, encode with the network's own layer, decode with the tied weights plus a visible bias
owned here, and minimise the batch mean of the per-example reconstruction loss. Subclasses say how to shape
the input, which optimizer to use and how to compute the loss.
"""

from __future__ import annotations

import math
from abc import abstractmethod
from typing import Any

import torch
from torch import nn

from desktop_app.core.config import NOISES
from desktop_app.core.pretraining.base import FiniteWatch, Layer, LayerPretrainer, corrupt


class DenoisingAutoencoder(LayerPretrainer):
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
        super().__init__(
            module, activation, cfg, unit_interval_input=unit_interval_input, generator=generator, stride=stride
        )
        if cfg.noise not in NOISES:
            raise ValueError(f"{self.method} noise must be one of {', '.join(NOISES)}; got {cfg.noise!r}")
        self.noise = str(cfg.noise)
        self.corruption = float(cfg.corruption)
        w = module.weight
        self.visible_bias = nn.Parameter(torch.zeros(w.shape[1], dtype=w.dtype, device=w.device))

    def corrupt(self, x: torch.Tensor) -> torch.Tensor:
        return corrupt(x, self.noise, self.corruption, self.generator)

    @abstractmethod
    def _input(self, batch: torch.Tensor) -> torch.Tensor:
        """The batch in the shape the encoder takes (flattened for dense, 4-D for conv)."""

    @abstractmethod
    def _loss_sum(self, x_in: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Sum over batch and units of the reconstruction loss of ``x_in`` against ``target``."""

    def _objective_sum(self, x_in: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(reconstruction loss sum, what is minimised); they differ when a subclass adds a penalty."""
        loss = self._loss_sum(x_in, target)
        return loss, loss

    def _update(self, batch: torch.Tensor, watch: FiniteWatch | None) -> torch.Tensor:
        x = self._input(self._prepare(batch))
        x_tilde = self.corrupt(x)
        try:
            with torch.enable_grad():
                self.optimizer.zero_grad(set_to_none=True)
                loss_sum, objective = self._objective_sum(x_tilde, x)
                self._guard(objective.detach(), "reconstruction error", watch)  # at once: before the step
                error = loss_sum.detach()  # the reconstruction error; a penalty is not part of it
                (objective / x.shape[0]).backward()
                params = self.optimizer.param_groups[0]["params"]
                self._guard(nn.utils.clip_grad_norm_(params, math.inf), "gradient norm", watch)
                self.optimizer.step()
        finally:
            # Leave no gradients on the network's parameters: fine-tuning must start from clean .grad fields.
            self.optimizer.zero_grad(set_to_none=True)
        return error

    @torch.no_grad()
    def _error_sum(self, batch: torch.Tensor) -> float:
        x = self._input(batch)
        return float(self._loss_sum(x, x))
