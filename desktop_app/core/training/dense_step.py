"""K dense nets of one architecture as one stacked net: the fine-tuning step of a seed batch.

Why a hand-written step (docs/ARCHITECTURE.md, "Seed batches"; bench/seed_batch.py): at minibatch 10 a unit's
step is a handful of small matrix products whose cost is dominated by moving the weights through memory and
by autograd and optimizer bookkeeping. Here the weights carry a leading seed dimension, stored (K, fan_in,
fan_out) so the forward pass is one ``baddbmm`` per layer, the backward pass is written out (no autograd
graph), and plain SGD folds the update into the weight-gradient product (``W.baddbmm_(h^T, g, alpha=-lr)``),
which reads and writes each weight once instead of writing a gradient and reading it back; momentum folds the
same way into its buffer (``buf.baddbmm_(h^T, g, beta=mu)``, then ``W -= lr buf``). Adam and SGD with L1/L2 get
explicit gradients and torch's fused optimizer on the stacked tensors. All this state is per element, hence
per seed, and is split back into each seed's ``optimizer.state_dict()`` in the single-unit
format, so a seed's checkpoint resumes alone or in any batch.

Seeds never mix: the loss is the sum of the seeds' losses, so each seed's gradient is its own. Each seed keeps
its own dropout masks, drawn from its own generator exactly as ``F.dropout`` draws them on the CPU
(``bernoulli_(1 - p)`` of the activation's shape, scaled by ``1 / (1 - p)``).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from desktop_app.core.config import FinetuneConfig, ModelConfig
from desktop_app.core.training.models import Net
from desktop_app.core.training.step import make_optimizer


def stackable(net: Net) -> bool:
    """Dense stacks have the hand-written step here (``stacked_conv.stacked_class`` picks one for any net)."""
    return all(b.kind in StackedMLP.layer_kinds for b in net.blocks)


def _linears(net: Net) -> list[torch.nn.Linear]:
    return [b.module for b in net.blocks] + [net.head]


class StackedNet:
    """What every stacked net shares: its parameters carry a leading seed dimension (in a layout the subclass
    chooses), one optimizer steps them all, and each seed's optimizer state goes to and from the single-unit
    ``optimizer.state_dict()`` format, so a seed's checkpoint resumes alone or in any batch.

    A subclass declares ``layer_kinds`` (the layer kinds it stacks; ``stacked_conv.STACKED_NETS`` picks the
    first class whose kinds hold every layer of a net) and ``auto_cpu`` (the K that ``execution.seed_batch =
    auto`` uses on a CPU, from ``bench/seed_batch.py``), and implements ``params``, ``_set_params``,
    ``_to_seed``, ``_from_seeds``, ``write_to`` and ``step``."""

    layer_kinds: tuple[str, ...] = ()
    auto_cpu: int = 1
    ft: FinetuneConfig
    opt: torch.optim.Optimizer | _FoldedMomentum | None

    @property
    def k(self) -> int:
        return self.params()[0].shape[0]

    def params(self) -> list[torch.Tensor]:
        """The stacked tensors in the order of ``Net.parameters()``, so optimizer state indices match."""
        raise NotImplementedError

    def _set_params(self, params: list[torch.Tensor]) -> None:
        raise NotImplementedError

    def _to_seed(self, i: int, t: torch.Tensor, k: int) -> torch.Tensor:
        """Param i's stacked tensor (or state tensor of its shape) -> seed k's, in the Net's own layout."""
        raise NotImplementedError

    def _from_seeds(self, i: int, ts: Sequence[torch.Tensor]) -> torch.Tensor:
        """The inverse of ``_to_seed``: every seed's tensor of param i (Net layout) -> the stacked tensor."""
        raise NotImplementedError

    # -- optimizer state <-> the single-unit format ----------------------------------------------------
    def _stack_states(self, states: Sequence[dict]) -> dict:
        stacked: dict = {"param_groups": states[0]["param_groups"], "state": {}}
        for i in range(len(self.params())):
            per = [s["state"].get(i, s["state"].get(str(i), {})) for s in states]
            entry = {}
            for key, v in per[0].items():
                if isinstance(v, torch.Tensor) and v.dim() > 0:
                    entry[key] = self._from_seeds(i, [p[key] for p in per]).contiguous()
                else:
                    entry[key] = v.clone() if isinstance(v, torch.Tensor) else v
            if entry:
                stacked["state"][i] = entry
        return stacked

    def optimizer_state(self, k: int, template: dict) -> dict:
        """Seed k's optimizer state in the format of ``make_optimizer(ft, net.parameters()).state_dict()``
        (``template`` is such a dict: it gives the param groups)."""
        state: dict = {}
        if self.opt is not None:
            full = self.opt.state_dict()["state"]
            for i, entry in full.items():
                # a scalar (Adam's step) goes to the CPU, where torch's unfused optimizer keeps it
                state[i] = {key: (self._to_seed(i, v, k) if isinstance(v, torch.Tensor) and v.dim() > 0
                                  else v.detach().cpu().clone() if isinstance(v, torch.Tensor) else v)
                            for key, v in entry.items()}
        return {"state": state, "param_groups": template["param_groups"]}

    def keep(self, positions: Sequence[int]) -> None:
        """Keep only these seeds (a diverged seed leaves the batch; the others go on unchanged)."""
        idx = torch.tensor(list(positions), dtype=torch.long, device=self.params()[0].device)
        old = self.opt.state_dict() if self.opt is not None else None
        self._set_params([p.detach().index_select(0, idx).contiguous() for p in self.params()])
        if old is not None:
            for entry in old["state"].values():
                for key, v in entry.items():
                    if isinstance(v, torch.Tensor) and v.dim() > 0:
                        entry[key] = v.index_select(0, idx.to(v.device)).contiguous()
            self._new_optimizer(old)

    def _new_optimizer(self, state: dict | None) -> None:
        """torch's fused (one-pass) optimizer on the stacked tensors: per-element state is per-seed state. The
        state loaded from a single-unit format says ``fused: None``; the groups are set back to fused."""
        self.opt = make_optimizer(self.ft, self.params(), fused=True)
        if state is not None:
            self.opt.load_state_dict(state)
            for group in self.opt.param_groups:
                group["fused"], group["foreach"] = True, None


class StackedMLP(StackedNet):
    """The stacked weights of K nets and their optimizer; ``step`` trains all K on their own minibatches."""

    layer_kinds = ("dense",)
    auto_cpu = 4  # bench/seed_batch.py (docs/PERFORMANCE.md, "Seed batches")

    def __init__(self, nets: Sequence[Net], model_cfg: ModelConfig, ft: FinetuneConfig,
                 opt_states: Sequence[dict] | None = None) -> None:
        if not nets or not all(stackable(n) for n in nets):
            raise ValueError("StackedMLP needs one or more dense-only nets")
        self.model_cfg, self.ft = model_cfg, ft
        self.activation = model_cfg.activation
        self.dropout = float(model_cfg.dropout)
        # plain SGD and momentum fold their update into the weight-gradient product (no gradient tensor)
        self.fold = ft.optimizer if ft.optimizer in ("sgd", "momentum") and not (model_cfg.l1 or model_cfg.l2) \
            else None
        with torch.no_grad():
            self.weights = [torch.stack([lin.weight.detach().t() for lin in ls]).contiguous()
                            for ls in zip(*[_linears(n) for n in nets], strict=True)]
            self.biases = [torch.stack([lin.bias.detach() for lin in ls]).unsqueeze(1).contiguous()
                           for ls in zip(*[_linears(n) for n in nets], strict=True)]
        self.opt = None
        self.last_logits: torch.Tensor | None = None
        if self.fold != "sgd":
            self._new_optimizer(self._stack_states(opt_states) if opt_states is not None else None)

    def params(self) -> list[torch.Tensor]:
        """In the order of ``Net.parameters()`` (weight, bias per layer), so optimizer state indices match."""
        return [t for pair in zip(self.weights, self.biases, strict=True) for t in pair]

    def _set_params(self, params: list[torch.Tensor]) -> None:
        self.weights, self.biases = params[0::2], params[1::2]

    def _to_seed(self, i: int, t: torch.Tensor, k: int) -> torch.Tensor:
        """Weights are stored (K, fan_in, fan_out), biases (K, 1, fan_out)."""
        return t[k].t().clone() if i % 2 == 0 else t[k, 0].clone()

    def _from_seeds(self, i: int, ts: Sequence[torch.Tensor]) -> torch.Tensor:
        return torch.stack([x.t() for x in ts]) if i % 2 == 0 else torch.stack(list(ts)).unsqueeze(1)

    @torch.no_grad()
    def write_to(self, k: int, net: Net) -> None:
        """Copy seed k's weights into ``net`` (evaluation, snapshots, checkpoints use a plain Net)."""
        for lin, w, b in zip(_linears(net), self.weights, self.biases, strict=True):
            lin.weight.copy_(w[k].t())
            lin.bias.copy_(b[k, 0])

    def _new_optimizer(self, state: dict | None) -> None:
        if self.fold == "momentum":
            self.opt = _FoldedMomentum(self.params())
            if state is not None:
                self.opt.load_state_dict(state)
            return
        super()._new_optimizer(state)

    # -- the step ----------------------------------------------------------------------------------------
    def _act(self, z: torch.Tensor) -> torch.Tensor:
        if self.activation == "sigmoid":
            return torch.sigmoid_(z)
        if self.activation == "tanh":
            return torch.tanh_(z)
        return torch.relu_(z)

    def _act_grad(self, g: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        """Gradient through the activation, from its output ``a`` (as torch's own backward computes it)."""
        if self.activation == "sigmoid":
            return g * (1 - a) * a
        if self.activation == "tanh":
            return g * (1 - a * a)
        return g * (a > 0)

    def _penalty(self) -> torch.Tensor:
        l1, l2 = self.model_cfg.l1, self.model_cfg.l2
        total = torch.zeros(self.k, device=self.weights[0].device)
        for w in self.weights:
            if l1:
                total = total + l1 * w.abs().sum((1, 2))
            if l2:
                total = total + l2 * w.pow(2).sum((1, 2))
        return total

    @torch.no_grad()
    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """Eval-mode logits (no dropout) of every seed on its own inputs: x (K, B, ...) -> (K, B, classes)."""
        h = x.reshape(x.shape[0], x.shape[1], -1)
        for li in range(len(self.weights) - 1):
            h = self._act(torch.baddbmm(self.biases[li], h, self.weights[li]))
        return torch.baddbmm(self.biases[-1], h, self.weights[-1])

    @torch.no_grad()
    def step(self, x: torch.Tensor, y: torch.Tensor, generators: Sequence[torch.Generator] | None,
             check_loss: bool) -> dict[int, float]:
        """One minibatch per seed: x (K, B, ...) and y (K, B); ``generators`` draw each seed's dropout masks.

        With ``check_loss`` a seed whose loss is not finite leaves the batch before the update (as a unit's
        step raises before its update); returns {its position before removal: its loss}."""
        k, batch = x.shape[0], x.shape[1]
        h = x.reshape(k, batch, -1)
        inputs, acts, masks = [h], [], []
        n_hidden = len(self.weights) - 1
        for li in range(n_hidden):
            a = self._act(torch.baddbmm(self.biases[li], h, self.weights[li]))
            acts.append(a)
            if self.dropout > 0:
                mask = torch.empty_like(a)
                for j in range(k):
                    mask[j].bernoulli_(1 - self.dropout, generator=generators[j])
                mask.div_(1 - self.dropout)
                masks.append(mask)
                h = a * mask
            else:
                h = a
            inputs.append(h)
        z = torch.baddbmm(self.biases[-1], h, self.weights[-1])
        self.last_logits = z  # before the update: without dropout, the eval-mode outputs an online unit scores
        bad: dict[int, float] = {}
        if check_loss:
            logp = torch.log_softmax(z, 2)
            loss = -logp.gather(2, y.unsqueeze(2)).mean((1, 2))
            if self.model_cfg.l1 or self.model_cfg.l2:
                loss = loss + self._penalty()
            finite = torch.isfinite(loss)
            if not bool(finite.all()):
                bad = {int(j): float(loss[j]) for j in torch.nonzero(~finite).flatten()}
                keep = [j for j in range(k) if j not in bad]
                if not keep:
                    self.keep([])
                    return bad
                self.keep(keep)
                idx = torch.tensor(keep, dtype=torch.long, device=x.device)
                z, y = z.index_select(0, idx), y.index_select(0, idx)
                inputs = [t.index_select(0, idx) for t in inputs]
                acts = [t.index_select(0, idx) for t in acts]
                masks = [t.index_select(0, idx) for t in masks]
        g = torch.softmax(z, 2)
        g.scatter_add_(2, y.unsqueeze(2), torch.full_like(g[..., :1], -1.0))
        g.div_(batch)  # cross_entropy's mean over the minibatch, per seed
        for li in range(n_hidden, -1, -1):
            w, b = self.weights[li], self.biases[li]
            g_below = torch.bmm(g, w.transpose(1, 2)) if li > 0 else None  # with the weights before the update
            if self.fold == "sgd":  # W - lr * x^T g, in one pass over W
                w.baddbmm_(inputs[li].transpose(1, 2), g, alpha=-self.ft.lr)
                b.add_(g.sum(1, keepdim=True), alpha=-self.ft.lr)
            elif self.fold == "momentum":  # buf = mu * buf + x^T g in one pass; W -= lr * buf (torch SGD's rule)
                bw, bb = self.opt.buffers(li)
                bw.baddbmm_(inputs[li].transpose(1, 2), g, beta=self.ft.momentum)
                w.add_(bw, alpha=-self.ft.lr)
                bb.mul_(self.ft.momentum).add_(g.sum(1, keepdim=True))
                b.add_(bb, alpha=-self.ft.lr)
            else:
                gw = torch.bmm(inputs[li].transpose(1, 2), g)
                if self.model_cfg.l1:
                    gw.add_(torch.sign(w), alpha=self.model_cfg.l1)
                if self.model_cfg.l2:
                    gw.add_(w, alpha=2 * self.model_cfg.l2)
                w.grad, b.grad = gw, g.sum(1, keepdim=True)
            if g_below is not None:
                if masks:
                    g_below = g_below * masks[li - 1]
                g = self._act_grad(g_below, acts[li - 1])
        if self.fold is None:
            self.opt.step()
            for p in self.params():
                p.grad = None
        return bad


class _FoldedMomentum:
    """The momentum buffers of a StackedMLP whose step folds the update into the gradient product, with torch
    SGD's ``state_dict`` layout (no state before the first step, then one ``momentum_buffer`` per parameter)."""

    def __init__(self, params: list[torch.Tensor]) -> None:
        self.params = params
        self.bufs: list[torch.Tensor] | None = None

    def buffers(self, layer: int) -> tuple[torch.Tensor, torch.Tensor]:
        if self.bufs is None:  # zeros: the first step gives buf = grad, as torch's clone of the first gradient
            self.bufs = [torch.zeros_like(p) for p in self.params]
        return self.bufs[2 * layer], self.bufs[2 * layer + 1]

    def state_dict(self) -> dict:
        state = {} if self.bufs is None else {i: {"momentum_buffer": b} for i, b in enumerate(self.bufs)}
        return {"state": state, "param_groups": []}

    def load_state_dict(self, state: dict) -> None:
        entries = state["state"]
        if entries:
            self.bufs = [entries[i]["momentum_buffer"].clone().contiguous() for i in range(len(self.params))]
