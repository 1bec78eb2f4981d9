"""Convolutional (denoising) autoencoder pre-training of a conv layer (Masci et al. 2011).

Encoder h = act(conv2d(x~, W, c, stride)) is the network's own conv layer; the decoder is the transposed
convolution with the same (tied) kernel plus one visible bias per input channel, with ``output_padding``
chosen so the reconstruction has the input's exact size for any stride and odd/even image sizes. Alberti et
al. (2017) warn that a low reconstruction error here says little about how separable the features are, which
is why Basin shows a linear probe next to it.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from desktop_app.core.config import CAEConfig
from desktop_app.core.pretraining.autoencoder import DenoisingAutoencoder
from desktop_app.core.pretraining.base import reconstruction_loss_sum


def _pair(v: int | tuple[int, ...]) -> tuple[int, int]:
    if isinstance(v, int):
        return (v, v)
    return (int(v[0]), int(v[1]))


class ConvAEPretrainer(DenoisingAutoencoder):
    """Tied-kernel conv autoencoder trained with Adam (cfg.lr).

    Adam rather than SGD: a shared conv kernel collects gradient from every image position and the scale of
    that gradient varies by orders of magnitude across layers and image sizes, so plain SGD either diverges
    or needs many epochs to move; Adam's per-parameter step sizes make a few epochs enough.
    """

    method: ClassVar[str] = "cae"
    layer_kinds: ClassVar[tuple[str, ...]] = ("conv",)
    module_type: ClassVar[type[nn.Module]] = nn.Conv2d

    def __init__(self, module: nn.Conv2d, activation: str, cfg: CAEConfig | Any, **kwargs: Any) -> None:
        super().__init__(module, activation, cfg, **kwargs)
        if module.groups != 1 or _pair(module.dilation) != (1, 1):
            raise ValueError("cae supports conv layers with groups=1 and dilation=1 only")
        if isinstance(module.padding, str):
            raise ValueError(f"cae needs numeric conv padding, got {module.padding!r}")
        mod_stride = _pair(module.stride)
        if mod_stride != (1, 1) and self.stride != 1 and mod_stride != (self.stride, self.stride):
            raise ValueError(f"stride argument {self.stride} disagrees with the layer's stride {mod_stride}")
        # The layer's own stride wins when it is set; the argument covers layers built with the default.
        self.conv_stride: tuple[int, int] = mod_stride if mod_stride != (1, 1) else (self.stride, self.stride)
        self.padding: tuple[int, int] = _pair(module.padding)  # type: ignore[arg-type]
        self.pool = int(getattr(cfg, "pool", 0))
        self.sparsity = float(getattr(cfg, "sparsity", 0.0))
        self.optimizer = torch.optim.Adam([module.weight, self.hidden_bias, self.visible_bias], lr=float(cfg.lr))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(F.conv2d(x, self.weight, self.hidden_bias, self.conv_stride, self.padding))

    def output_padding(self, in_hw: tuple[int, int], h_hw: tuple[int, int]) -> tuple[int, int]:
        """Rows/cols the transposed conv must add to give back the input size (the conv floored them off)."""
        k = self.weight.shape[-2:]
        out = []
        for d in range(2):
            base = (h_hw[d] - 1) * self.conv_stride[d] - 2 * self.padding[d] + int(k[d])
            out.append(in_hw[d] - base)
        return (out[0], out[1])

    def decode_logits(self, h: torch.Tensor, in_hw: tuple[int, int]) -> torch.Tensor:
        """Pre-sigmoid (or linear) reconstruction of the input size from feature maps ``h``."""
        op = self.output_padding(in_hw, (h.shape[-2], h.shape[-1]))
        return F.conv_transpose2d(h, self.weight, self.visible_bias, self.conv_stride, self.padding, output_padding=op)

    def sparse_code(self, h: torch.Tensor) -> torch.Tensor:
        """Masci et al. (2011): keep only each pool x pool window's maximum, in place, zero elsewhere.

        Max-pooling then unpooling to the recorded positions (``max_unpool2d``) makes the code sparse, so
        each kernel must explain a whole local patch alone and cannot stay a near-identity pixel filter.
        """
        if self.pool <= 1 or min(h.shape[-2:]) < self.pool:
            return h
        pooled, idx = F.max_pool2d(h, self.pool, self.pool, return_indices=True)
        return F.max_unpool2d(pooled, idx, self.pool, self.pool, output_size=h.shape[-2:])

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """Noise-free reconstruction in input space (sigmoid applied for [0,1] inputs), for display."""
        logits = self.decode_logits(self.sparse_code(self.encode(x)), (x.shape[-2], x.shape[-1]))
        return torch.sigmoid(logits) if self.unit_interval_input else logits

    def _objective_sum(self, x_in: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        code = self.sparse_code(self.encode(x_in))
        logits = self.decode_logits(code, (target.shape[-2], target.shape[-1]))
        loss = reconstruction_loss_sum(logits, target, self.unit_interval_input)
        if self.sparsity <= 0:
            return loss, loss
        return loss, loss + self.sparsity * code.abs().sum()

    def _loss_sum(self, x_in: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return self._objective_sum(x_in, target)[0]

    def _input(self, batch: torch.Tensor) -> torch.Tensor:
        if batch.dim() != 4:
            raise ValueError(f"cae expects (B, C, H, W) batches, got shape {tuple(batch.shape)}")
        return batch
