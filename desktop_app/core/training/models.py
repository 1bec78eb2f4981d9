"""Networks built from layer specs: MLP and CNN stacks with the inits the papers compare.

A Net is a list of hidden blocks (dense / conv / pool) plus a linear softmax head. Greedy pre-training needs
each block's own Linear/Conv2d and the input that block sees, so blocks are kept separate and ``features``
runs the stack up to a given block.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from desktop_app.core.config import LayerSpec, ModelConfig, check_model_fits, layer_shapes

ACTIVATION_FNS = {"sigmoid": torch.sigmoid, "tanh": torch.tanh, "relu": torch.relu}


class Block(nn.Module):
    """One hidden layer: the affine map (or pooling), then the activation and dropout."""

    def __init__(self, spec: LayerSpec, module: nn.Module, activation: str, dropout: float) -> None:
        super().__init__()
        self.kind = spec.kind
        self.spec = spec
        self.module = module
        self.activation = activation
        self.dropout = dropout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.kind == "pool":
            return self.module(x)
        if self.kind == "dense" and x.dim() > 2:
            x = x.flatten(1)
        h = ACTIVATION_FNS[self.activation](self.module(x))
        if self.dropout > 0:
            h = F.dropout(h, self.dropout, self.training)
        return h


class Net(nn.Module):
    def __init__(self, cfg: ModelConfig, input_shape: tuple[int, int, int], n_classes: int) -> None:
        super().__init__()
        self.input_shape = tuple(input_shape)
        self.n_classes = n_classes
        blocks: list[Block] = []
        shape = tuple(input_shape)  # (C, H, W) or (D,)
        # shapes and size are checked against the limits before any weight is allocated (one ConfigError)
        check_model_fits(cfg, shape, n_classes)
        for spec, out_shape in zip(cfg.layers, layer_shapes(cfg.layers, shape), strict=True):
            if spec.kind == "dense":
                module: nn.Module = nn.Linear(math.prod(shape), spec.units)
            elif spec.kind == "conv":
                module = nn.Conv2d(shape[0], spec.units, spec.kernel, stride=spec.stride)
            else:
                module = nn.MaxPool2d(spec.kernel, stride=spec.stride)
            shape = out_shape
            blocks.append(Block(spec, module, cfg.activation, cfg.dropout))
        self.blocks = nn.ModuleList(blocks)
        self.head = nn.Linear(math.prod(shape), n_classes)

    def features(self, x: torch.Tensor, upto: int) -> torch.Tensor:
        """Output of blocks[0:upto] (upto=0 gives the input itself)."""
        for block in self.blocks[:upto]:
            x = block(x)
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x, len(self.blocks))
        return self.head(x.flatten(1))

    def first_weights(self) -> torch.Tensor:
        """First layer's weight: (units, fan_in) for dense, (channels, in_ch, k, k) for conv."""
        return self.blocks[0].module.weight

    def weight_params(self) -> list[torch.Tensor]:
        """Weights (not biases): what L1/L2 penalties apply to."""
        return [m.weight for m in self.modules() if isinstance(m, nn.Linear | nn.Conv2d)]


def _init_layer(module: nn.Linear | nn.Conv2d, scheme: str, generator: torch.Generator) -> None:
    w = module.weight
    fan_out, fan_in = w.shape[0], w[0].numel()
    if isinstance(module, nn.Conv2d):
        fan_out = w.shape[0] * w[0, 0].numel()
    with torch.no_grad():
        if scheme == "classic":  # Erhan 2010 / LeCun 98: U[-1/sqrt(fan_in), 1/sqrt(fan_in)]
            bound = 1.0 / math.sqrt(fan_in)
            w.uniform_(-bound, bound, generator=generator)
        elif scheme == "glorot":  # Glorot & Bengio 2010: U[+-sqrt(6/(fan_in+fan_out))]
            bound = math.sqrt(6.0 / (fan_in + fan_out))
            w.uniform_(-bound, bound, generator=generator)
        elif scheme == "he":  # He et al. 2015: N(0, 2/fan_in)
            w.normal_(0.0, math.sqrt(2.0 / fan_in), generator=generator)
        elif scheme == "orthogonal":
            flat = torch.randn(w.shape[0], fan_in, generator=generator)
            transpose = flat.shape[0] < flat.shape[1]
            q, r = torch.linalg.qr(flat.T if transpose else flat)
            q = q * torch.sign(torch.diagonal(r)).unsqueeze(0)
            w.copy_((q.T if transpose else q).reshape(w.shape))
        else:
            raise ValueError(f"model.init: must be one of classic, glorot, he, orthogonal; got {scheme!r}")
        if module.bias is not None:
            module.bias.zero_()


def build_model(
    cfg: ModelConfig, input_shape: tuple[int, int, int], n_classes: int, seed: int
) -> Net:
    """Build and initialise a Net; the same seed gives the same weights whatever the arm (pairing)."""
    net = Net(cfg, input_shape, n_classes)
    gen = torch.Generator().manual_seed(int(seed))
    for m in net.modules():
        if isinstance(m, nn.Linear | nn.Conv2d):
            _init_layer(m, cfg.init, gen)
    return net


def penalty(net: Net, l1: float, l2: float) -> torch.Tensor | float:
    """L1 + L2 weight decay added to the fine-tuning loss."""
    if l1 == 0 and l2 == 0:
        return 0.0
    total = torch.zeros((), device=net.head.weight.device)
    for w in net.weight_params():
        if l1:
            total = total + l1 * w.abs().sum()
        if l2:
            total = total + l2 * w.pow(2).sum()
    return total
