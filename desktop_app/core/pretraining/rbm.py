"""Restricted Boltzmann machine pre-training with CD-k or persistent CD (Hinton 2002; Tieleman 2008).

The RBM's weight and hidden bias ARE the network layer's weight and bias (``W`` is hidden x visible, as in
``nn.Linear``), so the DBN-style pre-training leaves its result in the network. Updates are written by hand
(no autograd): the CD "gradient" is not the gradient of any loss, so autograd would only add overhead.

Also here: pure functions for tiny, enumerable RBMs (free energy, exact log partition, exact log-likelihood
and its gradient, the CD estimate). They let the tests check the estimator against the truth and let the
UI monitor exact likelihood on toy models, since reconstruction error is cheap but biased.
"""

from __future__ import annotations

import itertools
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from desktop_app.core.config import RBMConfig
from desktop_app.core.pretraining.base import FiniteWatch, LayerPretrainer, bernoulli, normal

MAX_ENUMERABLE_UNITS = 20  # 2**20 states: about the most that is still quick to enumerate exactly
# Gaussian visible units need a learning rate 1-2 orders of magnitude below binary ones (Hinton's guide,
# sec. 13.2); without it PCD chains diverge to inf at the default lr 0.05. Applied to cfg.lr automatically.
GAUSSIAN_LR_FACTOR = 0.1


# ---------------------------------------------------------------------------------------------------------
# Pure functions (Bernoulli-Bernoulli RBM): energy E(v,h) = -v.b - h.c - h W v
# ---------------------------------------------------------------------------------------------------------


def free_energy(v: torch.Tensor, W: torch.Tensor, b: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """F(v) = -v.b - sum_j softplus(c_j + W_j v), one value per row of ``v``; p(v) = exp(-F(v)) / Z."""
    return -(v @ b) - F.softplus(v @ W.T + c).sum(dim=-1)


def _hidden_free_energy(h: torch.Tensor, W: torch.Tensor, b: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """The same with the roles swapped: F(h) = -h.c - sum_i softplus(b_i + (h W)_i)."""
    return -(h @ c) - F.softplus(h @ W + b).sum(dim=-1)


def _all_states(n: int, like: torch.Tensor) -> torch.Tensor:
    """All 2**n binary vectors, (2**n, n)."""
    if n > MAX_ENUMERABLE_UNITS:
        raise ValueError(f"exact RBM quantities enumerate 2**n states; n = {n} exceeds {MAX_ENUMERABLE_UNITS}")
    rows = list(itertools.product((0.0, 1.0), repeat=n))
    return torch.tensor(rows, dtype=like.dtype, device=like.device).reshape(2**n, n)


def _f64(*ts: torch.Tensor) -> tuple[torch.Tensor, ...]:
    return tuple(t.detach().to(torch.float64) for t in ts)


def exact_log_partition(W: torch.Tensor, b: torch.Tensor, c: torch.Tensor) -> float:
    """log Z by enumerating the smaller layer's states (the other layer sums out analytically)."""
    W, b, c = _f64(W, b, c)
    n_hid, n_vis = W.shape
    if n_vis <= n_hid:
        return float(torch.logsumexp(-free_energy(_all_states(n_vis, W), W, b, c), dim=0))
    return float(torch.logsumexp(-_hidden_free_energy(_all_states(n_hid, W), W, b, c), dim=0))


def exact_log_likelihood(data: torch.Tensor, W: torch.Tensor, b: torch.Tensor, c: torch.Tensor) -> float:
    """Mean over rows of ``data`` of log p(v), in nats."""
    (d,) = _f64(data)
    W, b, c = _f64(W, b, c)
    return float((-free_energy(d, W, b, c)).mean()) - exact_log_partition(W, b, c)


def _model_expectations(
    W: torch.Tensor, b: torch.Tensor, c: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Exact E_model[h v^T], E_model[v], E_model[h] by enumerating the smaller layer."""
    n_hid, n_vis = W.shape
    if n_vis <= n_hid:
        v = _all_states(n_vis, W)
        p = torch.softmax(-free_energy(v, W, b, c), dim=0)
        ph = torch.sigmoid(v @ W.T + c)
        return (p[:, None] * ph).T @ v, p @ v, p @ ph
    h = _all_states(n_hid, W)
    p = torch.softmax(-_hidden_free_energy(h, W, b, c), dim=0)
    pv = torch.sigmoid(h @ W + b)
    return (p[:, None] * h).T @ pv, p @ pv, p @ h


def exact_ll_gradient(
    data: torch.Tensor, W: torch.Tensor, b: torch.Tensor, c: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Gradient of the mean log-likelihood w.r.t. (W, b, c): data expectations minus model expectations."""
    (d,) = _f64(data)
    W64, b64, c64 = _f64(W, b, c)
    ph = torch.sigmoid(d @ W64.T + c64)
    m_hv, m_v, m_h = _model_expectations(W64, b64, c64)
    n = d.shape[0]
    dW = ph.T @ d / n - m_hv
    db = d.mean(0) - m_v
    dc = ph.mean(0) - m_h
    return dW.to(W.dtype), db.to(W.dtype), dc.to(W.dtype)


def _gibbs(
    h: torch.Tensor,
    W: torch.Tensor,
    b: torch.Tensor,
    c: torch.Tensor,
    k: int,
    generator: torch.Generator,
    gaussian_visible: bool = False,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """k alternating Gibbs steps from hidden samples ``h``.

    Returns (visible mean of the last step, hidden probabilities driven by that mean, visible sample of the
    last step). Intermediate steps sample; the last step uses means/probabilities for the negative statistics
    (Hinton's practical guide, sec. 3), which lowers the variance of the estimate; the visible sample is what
    a persistent chain keeps.
    """
    mean_v = v = h.new_zeros((h.shape[0], W.shape[1]))
    for step in range(k):
        pre = h @ W + b
        if gaussian_visible:
            mean_v = pre
            v = pre + normal(pre.shape, pre, generator)
        else:
            mean_v = torch.sigmoid(pre)
            v = bernoulli(mean_v, generator)
        if step < k - 1:
            h = bernoulli(torch.sigmoid(v @ W.T + c), generator)
    ph_neg = torch.sigmoid(mean_v @ W.T + c)
    return mean_v, ph_neg, v


@torch.no_grad()
def cd_gradient(
    data: torch.Tensor,
    W: torch.Tensor,
    b: torch.Tensor,
    c: torch.Tensor,
    k: int,
    generator: torch.Generator,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The CD-k estimate of the LL gradient (dW, db, dc), averaged over the rows of ``data``."""
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    ph0 = torch.sigmoid(data @ W.T + c)
    h0 = bernoulli(ph0, generator)
    v_neg, h_neg, _ = _gibbs(h0, W, b, c, k, generator)
    n = data.shape[0]
    return (ph0.T @ data - h_neg.T @ v_neg) / n, (data - v_neg).mean(0), (ph0 - h_neg).mean(0)


# ---------------------------------------------------------------------------------------------------------
# The layer pre-trainer
# ---------------------------------------------------------------------------------------------------------


class RBMPretrainer(LayerPretrainer):
    """CD-k / PCD training of the RBM whose (W, c) are a dense layer's weight and bias.

    Hidden units are always Bernoulli (sigmoid). Visible units are Bernoulli when the layer input lies in
    [0,1]; otherwise (tanh/relu layers below) they are unit-variance Gaussian with a linear mean, the usual
    choice for real-valued input (Hinton's guide, sec. 13.2); their effective learning rate is then
    ``cfg.lr * GAUSSIAN_LR_FACTOR`` because the unbounded visible states make full-size steps diverge.
    SGD with classical momentum on batch-averaged statistics: v <- m v + lr g; theta <- theta + v.
    """

    method: ClassVar[str] = "rbm"
    layer_kinds: ClassVar[tuple[str, ...]] = ("dense",)
    module_type: ClassVar[type[nn.Module]] = nn.Linear

    def __init__(
        self,
        module: nn.Linear,
        activation: str,
        cfg: RBMConfig | Any,
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
        if int(cfg.k) < 1:
            raise ValueError(f"rbm k must be >= 1, got {cfg.k}")
        self.k = int(cfg.k)
        self.gaussian_visible = not self.unit_interval_input
        self.lr = float(cfg.lr) * (GAUSSIAN_LR_FACTOR if self.gaussian_visible else 1.0)
        self.momentum = float(cfg.momentum)
        self.persistent = bool(cfg.persistent)
        w = module.weight
        # Visible bias starts at zero: initialising it from one small first batch would give log(0) for
        # pixels that are always off in that batch.
        self.visible_bias = torch.zeros(w.shape[1], dtype=w.dtype, device=w.device)
        self._vel_W = torch.zeros_like(w)
        self._vel_b = torch.zeros_like(self.visible_bias)
        self._vel_c = torch.zeros_like(self.hidden_bias)
        self.chain: torch.Tensor | None = None  # PCD fantasy particles (visible states), batch_size x visible

    def _hidden_probs(self, v: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(v @ self.weight.T + self.hidden_bias)

    def _visible_mean(self, h: torch.Tensor) -> torch.Tensor:
        pre = h @ self.weight + self.visible_bias
        return pre if self.gaussian_visible else torch.sigmoid(pre)

    def _init_chain(self, v0: torch.Tensor) -> torch.Tensor:
        """Fantasy particles start at (binarised) data, tiled to batch_size: a cheap start near the data."""
        reps = -(-self.batch_size // v0.shape[0])
        start = v0.repeat(reps, 1)[: self.batch_size]
        return start.clone() if self.gaussian_visible else bernoulli(start.clamp(0, 1), self.generator)

    @torch.no_grad()
    def _update(self, batch: torch.Tensor, watch: FiniteWatch | None) -> torch.Tensor:
        v0 = self._prepare(batch).reshape(batch.shape[0], -1)
        W, b, c = self.weight.data, self.visible_bias, self.hidden_bias.data
        g = self.generator
        ph0 = self._hidden_probs(v0)
        h0 = bernoulli(ph0, g)
        # Monitoring: squared error of the mean-field reconstruction one Gibbs step from the data.
        error = ((v0 - self._visible_mean(h0)) ** 2).sum()
        self._guard(error, "reconstruction error", watch)
        if self.persistent:
            if self.chain is None:
                self.chain = self._init_chain(v0)
            h_start = bernoulli(self._hidden_probs(self.chain), g)
        else:
            h_start = h0
        v_neg, h_neg, v_last = _gibbs(h_start, W, b, c, self.k, g, self.gaussian_visible)
        if self.persistent:
            self.chain = v_last
        n_pos, n_neg = v0.shape[0], v_neg.shape[0]
        grad_W = ph0.T @ v0 / n_pos - h_neg.T @ v_neg / n_neg
        grad_b = v0.mean(0) - v_neg.mean(0)
        grad_c = ph0.mean(0) - h_neg.mean(0)
        self._guard(grad_W.abs().sum() + grad_b.abs().sum() + grad_c.abs().sum(), "gradient", watch)
        for vel, grad, param in (
            (self._vel_W, grad_W, W),
            (self._vel_b, grad_b, b),
            (self._vel_c, grad_c, c),
        ):
            vel.mul_(self.momentum).add_(grad, alpha=self.lr)
            param.add_(vel)
        return error

    @torch.no_grad()
    def _error_sum(self, batch: torch.Tensor) -> float:
        v = batch.reshape(batch.shape[0], -1)
        recon = self._visible_mean(self._hidden_probs(v))
        return float(((v - recon) ** 2).sum())

    def log_likelihood(self, data: torch.Tensor) -> float:
        """Exact mean log-likelihood for tiny Bernoulli RBMs (<= 20 units in one layer)."""
        return exact_log_likelihood(self._prepare(data), self.weight, self.visible_bias, self.hidden_bias)
