"""K conv nets of one architecture as one stacked net (grouped convolutions), and the choice of stacked net.

Why grouped convolutions (docs/ARCHITECTURE.md, "Seed batches"; docs/PERFORMANCE.md, "Seed batches"): the K
seeds' kernels are stacked along the output-channel axis and each conv layer runs once with ``groups=K`` on
the seeds' feature maps laid side by side along the channel axis, (B, K*C, H, W); max pooling is per channel,
so it needs nothing; dense layers and the head are one ``baddbmm`` over (K, B, fan_in). Folding the seed
dimension into the batch with ``torch.func.functional_call`` + ``vmap(grad)`` measured slower here (bench/
seed_batch.py, CNN row), so the grouped form with autograd is used, its maps channels-last (faster grouped
convolutions on this CPU than channel-major maps).

Seeds never mix: each group of a grouped convolution sees only its seed's channels, and the loss is the sum
of the seeds' own losses, so each seed's gradient is its own. The parameters are stored in the Net's own
layout with a leading seed dimension, so a seed's optimizer state is one slice of the stacked state. Each
seed draws its dropout masks from its own generator, in the shape and order ``F.dropout`` draws them alone:
``bernoulli_`` fills a tensor in memory order and a unit's conv activations inherit its input's memory format
(a one-channel image batch whose strides read as channels-last gives channels-last feature maps), so the
memory order of each conv activation a unit would have is found once per input layout by running one example
through a seed's own conv and pool layers, and each seed's mask is drawn in that order.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from desktop_app.core.config import FinetuneConfig, ModelConfig
from desktop_app.core.training.dense_step import StackedMLP, StackedNet
from desktop_app.core.training.models import ACTIVATION_FNS, Net


def to_groups(x: torch.Tensor) -> torch.Tensor:
    """(K, B, C, H, W) per-seed maps -> (B, K*C, H, W), seed j's channels at [j*C, (j+1)*C)."""
    k, b = x.shape[0], x.shape[1]
    return x.transpose(0, 1).reshape(b, k * x.shape[2], *x.shape[3:])


def from_groups(h: torch.Tensor, k: int) -> torch.Tensor:
    """The inverse of ``to_groups``: (B, K*C, H, W) -> (K, B, C, H, W)."""
    b = h.shape[0]
    return h.reshape(b, k, h.shape[1] // k, *h.shape[2:]).transpose(0, 1)


class StackedCNN(StackedNet):
    """The stacked parameters of K nets with conv, pool and dense layers, trained with autograd and torch's fused
    optimizer on the stacked tensors; ``step`` trains all K on their own minibatches."""

    layer_kinds = ("conv", "pool", "dense")
    auto_cpu = 4  # the best K of bench/seed_batch.py's CNN row on this CPU (docs/PERFORMANCE.md, "Seed batches")

    def __init__(self, nets: Sequence[Net], model_cfg: ModelConfig, ft: FinetuneConfig,
                 opt_states: Sequence[dict] | None = None) -> None:
        if not nets or not all(b.kind in self.layer_kinds for n in nets for b in n.blocks):
            raise ValueError("StackedCNN needs one or more nets of conv, pool and dense layers")
        self.model_cfg, self.ft = model_cfg, ft
        self.specs = [b.spec for b in nets[0].blocks]
        self.act = ACTIVATION_FNS[model_cfg.activation]
        self.dropout = float(model_cfg.dropout)
        self._orders: dict[tuple, list[tuple[int, ...]]] = {}  # input strides -> memory order per conv activation
        with torch.no_grad():
            self._params = [torch.stack([p.detach() for p in ps]).contiguous().requires_grad_()
                            for ps in zip(*[list(n.parameters()) for n in nets], strict=True)]
        self._new_optimizer(self._stack_states(opt_states) if opt_states is not None else None)

    def params(self) -> list[torch.Tensor]:
        return self._params

    def _set_params(self, params: list[torch.Tensor]) -> None:
        self._params = [p.requires_grad_() for p in params]

    def _to_seed(self, i: int, t: torch.Tensor, k: int) -> torch.Tensor:
        return t[k].clone()

    def _from_seeds(self, i: int, ts: Sequence[torch.Tensor]) -> torch.Tensor:
        return torch.stack(list(ts))

    @torch.no_grad()
    def write_to(self, k: int, net: Net) -> None:
        """Copy seed k's parameters into ``net`` (evaluation, snapshots, checkpoints use a plain Net)."""
        for p, s in zip(net.parameters(), self._params, strict=True):
            p.copy_(s[k])

    # -- the step ----------------------------------------------------------------------------------------
    @torch.no_grad()
    def _conv_orders(self, x: torch.Tensor) -> list[tuple[int, ...]]:
        """The memory order (dims of (C, H, W), outermost first) of every conv activation a unit computes from a
        minibatch laid out like ``x`` (one seed's (B, C, H, W)), from one example through seed 0's own layers."""
        key = (tuple(x.shape[1:]), x.stride())
        if key not in self._orders:
            h, orders, params = x[:1], [], iter(self._params)
            for spec in self.specs:
                if spec.kind == "dense":
                    break
                if spec.kind == "pool":
                    h = F.max_pool2d(h, spec.kernel, spec.stride)
                    continue
                w, b = next(params), next(params)
                h = self.act(F.conv2d(h, w[0], b[0], stride=spec.stride))
                strides = h.stride()
                orders.append(tuple(sorted((1, 2, 3), key=lambda d: -strides[d])))  # noqa: B023 (used at once)
            self._orders[key] = orders
        return self._orders[key]

    def _mask(self, a: torch.Tensor, k: int, generators: Sequence[torch.Generator],
              order: tuple[int, ...] | None) -> torch.Tensor:
        """Seed j's mask drawn as ``F.dropout`` draws it alone (``bernoulli_(1 - p)`` of its activation's shape,
        in its memory ``order`` for conv maps, scaled by 1 / (1 - p)), returned per seed: (K, B, ...)."""
        shape = from_groups(a, k).shape if a.dim() == 4 else a.shape
        perm = (0, 1, *(d + 1 for d in order)) if order is not None else tuple(range(len(shape)))
        mask = torch.empty([shape[d] for d in perm], dtype=a.dtype, device=a.device)
        for j in range(k):
            mask[j].bernoulli_(1 - self.dropout, generator=generators[j])
        inverse = sorted(range(len(perm)), key=lambda d: perm[d])
        return mask.permute(inverse).contiguous().div_(1 - self.dropout)

    def forward(self, x: torch.Tensor, masks: list[torch.Tensor] | None,
                generators: Sequence[torch.Generator] | None) -> torch.Tensor:
        """Logits (K, B, classes) of x (K, B, ...); fills ``masks`` (per seed, per dropout layer) when it is an
        empty list and applies them when given (a forward redone after seeds left the stack)."""
        k = x.shape[0]
        draw = masks is not None and not masks
        orders = iter(self._conv_orders(x[0]) if draw and x.dim() == 5 else ())
        # channels-last grouped maps: ~1.3x faster grouped convolutions on this CPU than (B, K*C, H, W)-contiguous
        h = to_groups(x).contiguous(memory_format=torch.channels_last) if x.dim() == 5 else x
        params = iter(self._params)
        n_mask = 0
        for spec in self.specs:
            if spec.kind == "pool":
                h = F.max_pool2d(h, spec.kernel, spec.stride)
                continue
            w, b = next(params), next(params)
            order = None
            if spec.kind == "conv":
                h = self.act(F.conv2d(h, w.flatten(0, 1), b.flatten(), stride=spec.stride, groups=k))
                order = next(orders, None)
            else:
                if h.dim() == 4:  # grouped maps -> (K, B, C*H*W), each seed flattened as Net flattens it
                    h = h.reshape(h.shape[0], k, -1).transpose(0, 1)
                h = self.act(torch.baddbmm(b.unsqueeze(1), h.flatten(2), w.transpose(1, 2)))
            if self.dropout > 0:
                if draw:
                    masks.append(self._mask(h, k, generators, order))
                mask = masks[n_mask]
                n_mask += 1
                h = h * (to_groups(mask) if h.dim() == 4 else mask)
        w, b = next(params), next(params)
        if h.dim() == 4:
            h = h.reshape(h.shape[0], k, -1).transpose(0, 1)
        return torch.baddbmm(b.unsqueeze(1), h.flatten(2), w.transpose(1, 2))

    def _losses(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Each seed's loss, as ``finetune_step`` computes it alone: mean cross-entropy + L1/L2 of the weights."""
        loss = -torch.log_softmax(z, 2).gather(2, y.unsqueeze(2)).mean((1, 2))
        l1, l2 = self.model_cfg.l1, self.model_cfg.l2
        if l1 or l2:
            for w in self._params[0::2]:  # every Linear / Conv2d weight (Net.weight_params)
                flat = w.flatten(1)
                if l1:
                    loss = loss + l1 * flat.abs().sum(1)
                if l2:
                    loss = loss + l2 * flat.pow(2).sum(1)
        return loss

    def step(self, x: torch.Tensor, y: torch.Tensor, generators: Sequence[torch.Generator] | None,
             check_loss: bool) -> dict[int, float]:
        """One minibatch per seed: x (K, B, ...) and y (K, B); ``generators`` draw each seed's dropout masks.

        With ``check_loss`` a seed whose loss is not finite leaves the batch before the update (as a unit's
        step raises before its update); returns {its position before removal: its loss}."""
        masks: list[torch.Tensor] | None = [] if self.dropout > 0 else None
        with torch.enable_grad():
            loss = self._losses(self.forward(x, masks, generators), y)
            bad: dict[int, float] = {}
            if check_loss:
                finite = torch.isfinite(loss.detach())
                if not bool(finite.all()):
                    bad = {int(j): float(loss[j].detach()) for j in torch.nonzero(~finite).flatten()}
                    keep = [j for j in range(x.shape[0]) if j not in bad]
                    self.keep(keep)
                    if not keep:
                        return bad
                    idx = torch.tensor(keep, dtype=torch.long, device=x.device)
                    x, y = x.index_select(0, idx), y.index_select(0, idx)
                    masks = None if masks is None else [m.index_select(0, idx) for m in masks]
                    loss = self._losses(self.forward(x, masks, None), y)
            loss.sum().backward()
        self.opt.step()
        for p in self._params:
            p.grad = None
        return bad


STACKED_NETS: tuple[type[StackedNet], ...] = (StackedMLP, StackedCNN)  # the first that fits is the fastest


def stacked_class(kinds: Sequence[str]) -> type[StackedNet] | None:
    """The stacked net for a net with these layer kinds (None: no stacked step, the seeds run one by one)."""
    for cls in STACKED_NETS:
        if all(kind in cls.layer_kinds for kind in kinds):
            return cls
    return None


__all__ = ["STACKED_NETS", "StackedCNN", "from_groups", "stacked_class", "to_groups"]
