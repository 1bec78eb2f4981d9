"""Greedy pre-training of K seeds' layers as one stacked layer: DAE and RBM (CD-k / PCD) of dense layers, the
convolutional autoencoder of conv layers (one grouped convolution, as ``stacked_conv``).

The seed-batch counterpart of ``greedy.greedy_pretrain`` (docs/ARCHITECTURE.md, "Seed batches"). Each seed keeps
its own layer inputs, data order and noise generator (derived from (seed, arm, layer) as there) and its own
``LayerPretrainer``, which draws that seed's corruption and Bernoulli samples from its own generator in the
order it would alone, and which computes the end-of-epoch reconstruction error from the weights written back
into its layer. Only the arithmetic of a minibatch step is stacked, with the weights as (K, hidden, visible)
(dense) or (K, out, in, kh, kw) (conv), so seed i's weights equal what it computes alone up to float
reassociation. ``STACKED_PRETRAINERS`` declares which methods have a stacked step.

Yields (position in ``models``, item): ``LayerStep`` / ``LayerEpoch`` / ``LayerDone`` as ``greedy_pretrain``
yields them for that seed, or a ``PretrainingDiverged`` for a seed that left the stack (the others go on).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import torch
import torch.nn.functional as F

from desktop_app.core.config import ExperimentConfig
from desktop_app.core.control import RunControl
from desktop_app.core.pretraining import PretrainingDiverged, make_pretrainer
from desktop_app.core.pretraining.base import FiniteWatch, bernoulli, corrupt, normal
from desktop_app.core.seedbatch.conv import from_groups, to_groups
from desktop_app.core.seeding import derive_seed
from desktop_app.core.training.greedy import (
    RECON_EVAL_SIZE,
    LayerDone,
    LayerEpoch,
    LayerStep,
    layer_inputs,
    pretrain_targets,
)
from desktop_app.core.training.models import Net

Item = LayerStep | LayerEpoch | LayerDone | PretrainingDiverged


def _per_seed(draw, tensors: torch.Tensor, trainers) -> torch.Tensor:
    """One draw per seed from its own generator, in the shape it draws alone."""
    return torch.stack([draw(t, tr.generator) for t, tr in zip(tensors, trainers, strict=True)])


def _max_abs(t: torch.Tensor) -> torch.Tensor:
    """Each seed's largest magnitude (K,), NaN if any value is NaN, from one pass without an ``abs`` copy."""
    lo, hi = torch.aminmax(t.reshape(t.shape[0], -1), dim=1)
    return torch.maximum(hi, -lo)


class _Stacked:
    """The stacked (W, c) of K layers plus the pre-trainers that own each seed's generator and extras."""

    def __init__(self, trainers: Sequence) -> None:
        self.trainers = list(trainers)
        self.watch = FiniteWatch()  # each step's per-seed checks, read once an epoch (``check``)
        self.W = torch.stack([t.weight.detach() for t in trainers]).contiguous()  # (K, hidden, visible)
        self.c = torch.stack([t.hidden_bias.detach() for t in trainers]).unsqueeze(1).contiguous()
        self.b = torch.stack([t.visible_bias.detach() for t in trainers]).unsqueeze(1).contiguous()

    def tensors(self) -> list[str]:
        return ["W", "c", "b"]

    def keep(self, positions: Sequence[int]) -> None:
        idx = torch.tensor(list(positions), dtype=torch.long, device=self.W.device)
        for name in self.tensors():
            t = getattr(self, name)
            if t is not None:
                setattr(self, name, t.index_select(0, idx).contiguous())
        self.trainers = [self.trainers[j] for j in positions]

    @torch.no_grad()
    def write_back(self) -> None:
        """Each seed's weights into its own layer and pre-trainer (reconstruction error, the net itself)."""
        for j, t in enumerate(self.trainers):
            t.weight.data.copy_(self.W[j])
            t.hidden_bias.data.copy_(self.c[j].reshape(t.hidden_bias.shape))
            t.visible_bias.data.copy_(self.b[j].reshape(t.visible_bias.shape))

    def train_step(self, x: torch.Tensor) -> None:
        """One minibatch of every seed in the stack; the per-seed checks wait on the device for ``check``."""
        self._update(x)
        self.watch.end_step()

    def check(self) -> dict[int, PretrainingDiverged]:
        """{position: the exception its pre-trainer raises alone} for each seed with a non-finite loss or gradient
        since the last check: the first such value, as the check at that step would have found it (one host sync;
        ``FiniteWatch``). The caller drops those seeds (``keep``) before ``write_back``. Until then a seed that
        diverged goes on computing non-finite values in its own slice of the stacked tensors only: every stacked
        operation (batched matmuls, grouped convolutions, per-element optimizer updates) keeps seeds apart."""
        bad = {}
        for j, (_, what, value) in self.watch.first_bad().items():
            try:
                self.trainers[j]._check_finite(value, what)
            except PretrainingDiverged as exc:
                bad[j] = exc
        return bad


class StackedDAE(_Stacked):
    """Tied-weight denoising autoencoders, plain SGD on the batch mean (``DAEPretrainer``'s step, by hand)."""

    def __init__(self, trainers: Sequence) -> None:
        super().__init__(trainers)
        t0 = trainers[0]
        self.lr, self.unit_interval = float(t0.cfg.lr), t0.unit_interval_input
        self.activation = t0.activation

    @torch.no_grad()
    def _update(self, x: torch.Tensor) -> None:
        """One SGD step of every seed. The weight update is folded into one product over stacked factors,
        ``W -= lr [h | da]^T [dz | xt]`` (= lr (h^T dz + da^T xt), the tied weights' two terms), so W is read and
        written once and no W-sized gradient, sum or ``abs`` copy is made (issue 25: the step spent about half
        its time outside its matrix products). The watch holds each seed's loss and the largest magnitude of
        the gradient's factors dz and da (exactly the terms of the biases' gradients); a weight gradient that
        overflows from finite factors leaves W non-finite, which ``check`` finds before the weights are used."""
        x = x.reshape(x.shape[0], x.shape[1], -1)
        n = x.shape[1]
        t0 = self.trainers[0]
        xt = _per_seed(lambda t, g: corrupt(t, t0.noise, t0.corruption, g), x, self.trainers)
        h = self._act_(torch.baddbmm(self.c, xt, self.W.transpose(1, 2)))
        z = torch.baddbmm(self.b, h, self.W)
        if self.unit_interval:
            loss = F.binary_cross_entropy_with_logits(z, x, reduction="none").sum((1, 2))
            dz = torch.sigmoid_(z).sub_(x)  # z is not needed after the loss
        else:
            loss = ((z - x) ** 2).sum((1, 2))
            dz = z.sub_(x).mul_(2)
        self.watch.add(loss, "reconstruction error")
        dz.div_(n)
        da = self._act_grad(torch.bmm(dz, self.W.transpose(1, 2)), h)
        self.watch.add(torch.maximum(_max_abs(dz), _max_abs(da)), "gradient")
        self.W.baddbmm_(torch.cat((h, da), 1).transpose(1, 2), torch.cat((dz, xt), 1), alpha=-self.lr)
        self.c.add_(da.sum(1, keepdim=True), alpha=-self.lr)
        self.b.add_(dz.sum(1, keepdim=True), alpha=-self.lr)

    def check(self) -> dict[int, PretrainingDiverged]:
        """As ``_Stacked.check``, plus each seed's weights: the one place a weight gradient that overflowed from
        finite factors shows before ``write_back`` (a non-finite weight stays non-finite under SGD)."""
        self.watch.add(torch.stack([_max_abs(t) for t in (self.W, self.c, self.b)]).amax(0), "weights")
        return super().check()

    def _act_(self, a: torch.Tensor) -> torch.Tensor:
        """The activation in place (``a`` is a fresh product)."""
        return {"sigmoid": torch.sigmoid_, "tanh": torch.tanh_, "relu": torch.relu_}[self.activation](a)

    def _act_grad(self, g: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        if self.activation == "sigmoid":
            return g * (1 - h) * h
        if self.activation == "tanh":
            return g * (1 - h * h)
        return g * (h > 0)


class StackedRBM(_Stacked):
    """CD-k / PCD with momentum (``RBMPretrainer``'s step, stacked), per-seed Bernoulli / Gaussian samples."""

    def __init__(self, trainers: Sequence) -> None:
        super().__init__(trainers)
        t0 = trainers[0]
        self.k, self.gaussian, self.persistent = t0.k, t0.gaussian_visible, t0.persistent
        self.lr, self.momentum = t0.lr, t0.momentum
        self.vW, self.vc, self.vb = torch.zeros_like(self.W), torch.zeros_like(self.c), torch.zeros_like(self.b)
        self.chain: torch.Tensor | None = None

    def tensors(self) -> list[str]:
        return ["W", "c", "b", "vW", "vc", "vb", "chain"]

    def _hidden(self, v: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(torch.baddbmm(self.c, v, self.W.transpose(1, 2)))

    def _visible_mean(self, h: torch.Tensor) -> torch.Tensor:
        pre = torch.baddbmm(self.b, h, self.W)
        return pre if self.gaussian else torch.sigmoid(pre)

    def _sample_h(self, p: torch.Tensor) -> torch.Tensor:
        return _per_seed(bernoulli, p, self.trainers)

    @torch.no_grad()
    def _update(self, x: torch.Tensor) -> None:
        v0 = x.reshape(x.shape[0], x.shape[1], -1)
        ph0 = self._hidden(v0)
        h0 = self._sample_h(ph0)
        error = ((v0 - self._visible_mean(h0)) ** 2).sum((1, 2))
        self.watch.add(error, "reconstruction error")
        if self.persistent:
            if self.chain is None:
                self.chain = torch.stack([t._init_chain(v) for t, v in zip(self.trainers, v0, strict=True)])
            h = self._sample_h(self._hidden(self.chain))
        else:
            h = h0
        mean_v = v = None
        for step in range(self.k):
            pre = torch.baddbmm(self.b, h, self.W)
            if self.gaussian:
                mean_v = pre
                v = pre + _per_seed(lambda t, g: normal(t.shape, t, g), pre, self.trainers)
            else:
                mean_v = torch.sigmoid(pre)
                v = _per_seed(bernoulli, mean_v, self.trainers)
            if step < self.k - 1:
                h = self._sample_h(self._hidden(v))
        h_neg = self._hidden(mean_v)
        if self.persistent:
            self.chain = v
        n_pos, n_neg = v0.shape[1], mean_v.shape[1]
        gW = torch.bmm(ph0.transpose(1, 2), v0).div_(n_pos).sub_(torch.bmm(h_neg.transpose(1, 2), mean_v).div_(n_neg))
        gb = v0.mean(1, keepdim=True) - mean_v.mean(1, keepdim=True)
        gc = ph0.mean(1, keepdim=True) - h_neg.mean(1, keepdim=True)
        total = gW.abs().sum((1, 2)) + gb.abs().sum((1, 2)) + gc.abs().sum((1, 2))
        self.watch.add(total, "gradient")
        for vel, grad, name in ((self.vW, gW, "W"), (self.vb, gb, "b"), (self.vc, gc, "c")):
            vel.mul_(self.momentum).add_(grad, alpha=self.lr)
            getattr(self, name).add_(vel)

    @torch.no_grad()
    def write_back(self) -> None:
        super().write_back()  # the RBM's visible bias is a plain tensor: copied in place as well


class StackedCAE(_Stacked):
    """Tied-kernel conv autoencoders (``ConvAEPretrainer``'s step) as one grouped convolution: the K kernels along
    the output channels, ``groups=K``; the decoder is the grouped transposed convolution with the same tensor
    (its (K*out, in, kh, kw) layout is what ``conv_transpose2d`` takes for K groups), Masci's max-pool-unpool
    and the L1 code penalty act per channel, hence per seed. Autograd and torch's fused Adam on the stacked
    tensors (per-element state = per-seed state; a fresh Adam per layer, as each seed's pre-trainer has)."""

    def __init__(self, trainers: Sequence) -> None:
        self.trainers = list(trainers)
        self.watch = FiniteWatch()
        t0 = trainers[0]
        with torch.no_grad():
            self.W = torch.stack([t.weight.detach() for t in trainers]).contiguous()  # (K, out, in, kh, kw)
            self.c = torch.stack([t.hidden_bias.detach() for t in trainers]).contiguous()  # (K, out)
            self.b = torch.stack([t.visible_bias.detach() for t in trainers]).contiguous()  # (K, in)
        self.t0, self.lr = t0, float(t0.cfg.lr)
        self._new_optimizer(None)

    def _new_optimizer(self, state: dict | None) -> None:
        for name in self.tensors():
            getattr(self, name).requires_grad_()
        self.opt = torch.optim.Adam([self.W, self.c, self.b], lr=self.lr, fused=True)
        if state is not None:
            self.opt.load_state_dict(state)

    def keep(self, positions: Sequence[int]) -> None:
        state = self.opt.state_dict()
        idx = torch.tensor(list(positions), dtype=torch.long, device=self.W.device)
        with torch.no_grad():
            for name in self.tensors():
                setattr(self, name, getattr(self, name).detach().index_select(0, idx).contiguous())
        for entry in state["state"].values():
            for key, v in entry.items():
                if isinstance(v, torch.Tensor) and v.dim() > 0:
                    entry[key] = v.index_select(0, idx.to(v.device)).contiguous()
        self.trainers = [self.trainers[j] for j in positions]
        self._new_optimizer(state)

    def _objective(self, xt: torch.Tensor, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per seed (K,): the reconstruction loss sum and what is minimised (``ConvAEPretrainer._objective_sum``)."""
        t0, k = self.t0, xt.shape[0]
        w = self.W.flatten(0, 1)
        xg = to_groups(xt).contiguous(memory_format=torch.channels_last)  # faster grouped convs (as StackedCNN)
        h = t0.act(F.conv2d(xg, w, self.c.flatten(), t0.conv_stride, t0.padding, groups=k))
        code = t0.sparse_code(h)
        op = t0.output_padding((x.shape[-2], x.shape[-1]), (h.shape[-2], h.shape[-1]))
        logits = F.conv_transpose2d(code, w, self.b.flatten(), t0.conv_stride, t0.padding, output_padding=op,
                                    groups=k)
        target = to_groups(x)
        if t0.unit_interval_input:
            per = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
        else:
            per = (logits - target) ** 2
        loss = from_groups(per, k).flatten(1).sum(1)
        if t0.sparsity <= 0:
            return loss, loss
        return loss, loss + t0.sparsity * from_groups(code.abs(), k).flatten(1).sum(1)

    def _update(self, x: torch.Tensor) -> None:
        t0 = self.t0
        xt = _per_seed(lambda t, g: corrupt(t, t0.noise, t0.corruption, g), x, self.trainers)
        with torch.enable_grad():
            _, objective = self._objective(xt, x)
            self.watch.add(objective.detach(), "reconstruction error")
            (objective / x.shape[1]).sum().backward()
        grads = [p.grad for p in (self.W, self.c, self.b)]
        # each seed's total L2 norm as clip_grad_norm_ takes it alone (the norm of the per-tensor norms): in float32
        # it overflows once a value passes ~1.8e19, where a largest |value| would still be finite
        norms = torch.stack([torch.linalg.vector_norm(g.flatten(1), dim=1) for g in grads])
        self.watch.add(torch.linalg.vector_norm(norms, dim=0), "gradient norm")
        self.opt.step()
        for p in (self.W, self.c, self.b):
            p.grad = None


STACKED_PRETRAINERS = {"dae": StackedDAE, "rbm": StackedRBM, "cae": StackedCAE}


def _layer_inputs(models: Sequence[Net], pool: torch.Tensor, li: int) -> torch.Tensor:
    """(K, n, ...) inputs of block ``li`` for each seed. Block 0 sees the pool itself, the same for every seed: one
    copy, expanded to K (a view, stride 0), where stacking made K copies of the pool."""
    if li == 0:
        one = layer_inputs(models[0], pool, 0)
        return one.unsqueeze(0).expand(len(models), *one.shape)
    return torch.stack([layer_inputs(m, pool, li) for m in models])


def _keep(stacked, keep: list[int], members: list, inputs: torch.Tensor, order_gens: list) -> tuple[list, torch.Tensor,
                                                                                                   list]:
    """Drop the seeds not in ``keep`` (positions) from the stack and from every per-seed list."""
    stacked.keep(keep)
    return [members[q] for q in keep], _rows(inputs, keep), [order_gens[q] for q in keep]


def _rows(inputs: torch.Tensor, keep: list[int]) -> torch.Tensor:
    """``inputs[keep]`` without copying a shared (expanded) layer-0 pool."""
    if inputs.stride(0) == 0:
        return inputs[:1].expand(len(keep), *inputs.shape[1:])
    return inputs[keep]


def stacked_greedy_pretrain(models: Sequence[Net], arm: str, cfg: ExperimentConfig, pool: torch.Tensor,
                            seeds: Sequence[int], control: RunControl | None = None,
                            layers_done: int = 0) -> Iterator[tuple[int, Item]]:
    """Pre-train every model's layers in place, bottom up, the seeds stacked (see the module docstring)."""
    section = getattr(cfg.pretraining, arm)
    device = next(models[0].parameters()).device
    alive = list(range(len(models)))
    for j, li in enumerate(pretrain_targets(models[0], arm, cfg.pretraining.bottom_layers)):
        if j < layers_done:
            continue
        if not alive:
            return
        inputs = _layer_inputs([models[p] for p in alive], pool, li)
        order_gens = [torch.Generator().manual_seed(derive_seed(seeds[p], f"pretrain-order-{arm}", li)) for p in alive]
        trainers = [make_pretrainer(
            arm, models[p].blocks[li].module, cfg.model.activation, section,
            unit_interval_input=(li == 0 or cfg.model.activation == "sigmoid"),
            generator=torch.Generator(device=device).manual_seed(derive_seed(seeds[p], f"pretrain-noise-{arm}", li)),
            stride=models[p].blocks[li].spec.stride) for p in alive]
        stacked = STACKED_PRETRAINERS[arm](trainers)
        members = list(alive)  # positions in models, in stack order
        n = inputs.shape[1]
        for epoch in range(1, section.epochs + 1):
            perms = torch.stack([torch.randperm(n, generator=g) for g in order_gens]).to(device)
            for start in range(0, n, section.batch_size):
                if control is not None:
                    control.checkpoint()
                idx = perms[:, start : start + section.batch_size]
                x = inputs[torch.arange(len(members), device=device).unsqueeze(1), idx]
                stacked.train_step(x)
                for p in members:
                    yield p, LayerStep(li, epoch)
            bad = stacked.check()  # the epoch's checks, read back at once: seeds that diverged leave here
            if bad:
                keep = [q for q in range(len(members)) if q not in bad]
                for q in sorted(bad):
                    yield members[q], PretrainingDiverged(f"layer {li} epoch {epoch}: {bad[q]}")
                    alive.remove(members[q])
                members, inputs, order_gens = _keep(stacked, keep, members, inputs, order_gens)
                if not members:
                    return
            stacked.write_back()
            keep = []
            for q, (p, t) in enumerate(zip(members, stacked.trainers, strict=True)):
                error = float(t.reconstruction_error(inputs[q, :RECON_EVAL_SIZE]))
                if not math.isfinite(error):
                    yield p, PretrainingDiverged(f"layer {li} epoch {epoch}: {arm} pre-training diverged "
                                                 f"(reconstruction error {error}); lower pretraining.{arm}.lr (now "
                                                 f"{section.lr:g})")
                    alive.remove(p)
                    continue
                keep.append(q)
                yield p, LayerEpoch(li, epoch, error)
            if len(keep) < len(members):
                members, inputs, order_gens = _keep(stacked, keep, members, inputs, order_gens)
                if not members:
                    return
        for p in members:
            if arm == "rbm" and cfg.model.activation == "tanh":  # as greedy_pretrain: sigmoid RBM -> tanh net
                with torch.no_grad():
                    models[p].blocks[li].module.weight.mul_(0.5)
                    models[p].blocks[li].module.bias.mul_(0.5)
            yield p, LayerDone(j, li)
