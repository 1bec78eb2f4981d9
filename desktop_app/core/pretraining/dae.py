"""Denoising autoencoder pre-training of a dense layer (Vincent et al. 2008), tied weights.

Encoder h = act(W x~ + c) uses the network's own layer (W, c) and activation, so the features learnt are
exactly the ones fine-tuning starts from. The decoder reuses W^T (tied weights, as in the SdA of Erhan et al.
2010) plus a visible bias b owned here. Inputs in [0,1] get a sigmoid decoder and cross-entropy against the
clean input; other inputs a linear decoder and squared error.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from desktop_app.core.config import DAEConfig
from desktop_app.core.pretraining.autoencoder import DenoisingAutoencoder
from desktop_app.core.pretraining.base import reconstruction_loss_sum


class DAEPretrainer(DenoisingAutoencoder):
    """Plain SGD (cfg.lr) on the batch-mean of the per-example loss, over [W, c, b]."""

    method: ClassVar[str] = "dae"
    layer_kinds: ClassVar[tuple[str, ...]] = ("dense",)
    module_type: ClassVar[type[nn.Module]] = nn.Linear

    def __init__(self, module: nn.Linear, activation: str, cfg: DAEConfig | Any, **kwargs: Any) -> None:
        super().__init__(module, activation, cfg, **kwargs)
        self.optimizer = torch.optim.SGD([module.weight, self.hidden_bias, self.visible_bias], lr=float(cfg.lr))

    def _input(self, batch: torch.Tensor) -> torch.Tensor:
        return batch.reshape(batch.shape[0], -1)

    def decode_logits(self, h: torch.Tensor) -> torch.Tensor:
        """Pre-sigmoid (or linear) reconstruction W^T h + b."""
        return h @ self.weight + self.visible_bias

    def _loss_sum(self, x_in: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        h = self.act(F.linear(x_in, self.weight, self.hidden_bias))
        return reconstruction_loss_sum(self.decode_logits(h), target, self.unit_interval_input)
