"""Denoising autoencoder: corruption statistics, the tied-weights update against references, learning."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from desktop_app.core.config import DAEConfig
from desktop_app.core.pretraining.base import PretrainingDiverged, corrupt
from desktop_app.core.pretraining.dae import DAEPretrainer


def prototypes(n: int, dim: int, seed: int, binary: bool = True) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    protos = (torch.rand(4, dim, generator=g) < 0.4).float() if binary else torch.randn(4, dim, generator=g)
    x = protos[torch.randint(0, 4, (n,), generator=g)]
    if binary:
        return (x - (torch.rand(n, dim, generator=g) < 0.03).float()).abs()
    return x + 0.1 * torch.randn(n, dim, generator=g)


def test_masking_zeroes_the_configured_fraction() -> None:
    x = torch.ones(1000, 100)
    for level in (0.1, 0.25, 0.5):
        out = corrupt(x, "masking", level, torch.Generator().manual_seed(0))
        zero_frac = float((out == 0).float().mean())
        assert zero_frac == pytest.approx(level, abs=0.01)  # binomial sd ~0.0016 for 1e5 draws
        assert set(out.unique().tolist()) <= {0.0, 1.0}
    assert torch.equal(x, torch.ones(1000, 100))  # the clean target is untouched
    a = corrupt(x, "masking", 0.25, torch.Generator().manual_seed(3))
    b = corrupt(x, "masking", 0.25, torch.Generator().manual_seed(3))
    assert torch.equal(a, b)


def test_gaussian_noise_has_the_configured_scale() -> None:
    x = torch.full((500, 200), 0.5)
    out = corrupt(x, "gaussian", 0.3, torch.Generator().manual_seed(1))
    noise = out - x
    assert float(noise.mean()) == pytest.approx(0.0, abs=0.005)
    assert float(noise.std()) == pytest.approx(0.3, rel=0.02)
    with pytest.raises(ValueError, match="masking, gaussian"):
        corrupt(x, "salt", 0.3, torch.Generator())


def _reference_update(
    x: torch.Tensor,
    x_tilde: torch.Tensor,
    W: torch.Tensor,
    c: torch.Tensor,
    b: torch.Tensor,
    lr: float,
    activation: str,
    unit_interval: bool,
) -> tuple[tuple[torch.Tensor, ...], float, tuple[torch.Tensor, ...]]:
    """Autograd on the loss written out by hand, and the tied-weights gradient derived by hand."""
    act = {"sigmoid": torch.sigmoid, "tanh": torch.tanh, "relu": torch.relu}[activation]
    Wr, cr, br = (t.detach().clone().requires_grad_(True) for t in (W, c, b))
    h = act(x_tilde @ Wr.T + cr)
    out = h @ Wr + br
    if unit_interval:
        r = 1 / (1 + torch.exp(-out))
        per_example = -(x * torch.log(r) + (1 - x) * torch.log(1 - r)).sum(1)
    else:
        per_example = ((out - x) ** 2).sum(1)
    per_example.mean().backward()
    new = tuple((p - lr * p.grad).detach() for p in (Wr, cr, br))
    # Hand derivation: d_out = dL/d(pre-decoder); W collects a decoder term and an encoder term.
    with torch.no_grad():
        n = x.shape[0]
        d_out = (torch.sigmoid(out) - x) if unit_interval else 2 * (out - x)
        d_h = d_out @ Wr.T
        d_pre = d_h * {"sigmoid": h * (1 - h), "tanh": 1 - h**2, "relu": (h > 0).to(h.dtype)}[activation]
        manual = ((h.T @ d_out + d_pre.T @ x_tilde) / n, d_pre.mean(0), d_out.mean(0))
    for auto, hand in zip((Wr.grad, cr.grad, br.grad), manual, strict=True):
        torch.testing.assert_close(auto, hand, atol=1e-12, rtol=1e-9)
    return new, float(per_example.detach().sum()), manual


@pytest.mark.parametrize(
    ("activation", "unit_interval", "noise"),
    [("sigmoid", True, "masking"), ("tanh", False, "gaussian"), ("relu", True, "masking")],
)
def test_tied_weight_update_matches_reference(activation: str, unit_interval: bool, noise: str) -> None:
    torch.manual_seed(0)
    layer = nn.Linear(12, 7).double()
    x = prototypes(16, 12, seed=2).double()
    cfg = DAEConfig(lr=0.3, noise=noise, corruption=0.3, batch_size=16)
    gen = torch.Generator().manual_seed(5)
    dae = DAEPretrainer(layer, activation, cfg, unit_interval_input=unit_interval, generator=gen)
    with torch.no_grad():
        dae.visible_bias.normal_(0, 0.1)
    W0, c0, b0 = (t.detach().clone() for t in (layer.weight, layer.bias, dae.visible_bias))
    twin = torch.Generator().manual_seed(5)
    x_tilde = corrupt(x, noise, 0.3, twin)  # the same noise the pre-trainer draws
    (W1, c1, b1), ref_loss, _ = _reference_update(x, x_tilde, W0, c0, b0, 0.3, activation, unit_interval)
    loss = dae.train_step(x)
    assert loss == pytest.approx(ref_loss, rel=1e-9)
    torch.testing.assert_close(layer.weight.detach(), W1, atol=1e-6, rtol=0)
    torch.testing.assert_close(layer.bias.detach(), c1, atol=1e-6, rtol=0)
    torch.testing.assert_close(dae.visible_bias.detach(), b1, atol=1e-6, rtol=0)
    assert (layer.weight.detach() - W0).abs().max() > 1e-3  # the update is not trivially zero
    assert layer.weight.grad is None and layer.bias.grad is None


def _fit(dae: DAEPretrainer, data: torch.Tensor) -> list[float]:
    errors = [dae.reconstruction_error(data)]
    for _ in range(dae.epochs):
        for s in range(0, len(data), dae.batch_size):
            dae.train_step(data[s : s + dae.batch_size])
        errors.append(dae.reconstruction_error(data, batch_size=100))
    return errors


def test_reconstruction_error_falls_and_weights_change_in_place() -> None:
    torch.manual_seed(0)
    data = prototypes(400, 64, seed=3)
    layer = nn.Linear(64, 32)
    weight_obj, start = layer.weight, layer.weight.detach().clone()
    cfg = DAEConfig(epochs=5, lr=0.1, noise="masking", corruption=0.25, batch_size=20)
    dae = DAEPretrainer(layer, "sigmoid", cfg, unit_interval_input=True, generator=torch.Generator().manual_seed(1))
    errors = _fit(dae, data)
    assert layer.weight is weight_obj and not torch.equal(layer.weight.detach(), start)
    assert errors[-1] < 0.5 * errors[0], errors
    assert all(b <= a * 1.02 for a, b in zip(errors, errors[1:], strict=False)), errors


def test_linear_decoder_for_real_valued_input() -> None:
    torch.manual_seed(0)
    data = prototypes(400, 30, seed=4, binary=False)
    cfg = DAEConfig(epochs=5, lr=0.01, noise="gaussian", corruption=0.2, batch_size=20)
    layer = nn.Linear(30, 20)
    dae = DAEPretrainer(layer, "tanh", cfg, unit_interval_input=False, generator=torch.Generator().manual_seed(2))
    errors = _fit(dae, data)
    assert errors[-1] < 0.5 * errors[0], errors


def test_rejects_bad_noise_and_conv_layers() -> None:
    gen = torch.Generator()
    with pytest.raises(ValueError, match="masking, gaussian"):
        DAEPretrainer(nn.Linear(3, 2), "sigmoid", DAEConfig(noise="pepper"), unit_interval_input=True, generator=gen)
    with pytest.raises(TypeError):
        DAEPretrainer(nn.Conv2d(1, 2, 3), "sigmoid", DAEConfig(), unit_interval_input=True, generator=gen)
    with pytest.raises(ValueError, match="sigmoid, tanh, relu"):
        DAEPretrainer(nn.Linear(3, 2), "gelu", DAEConfig(), unit_interval_input=True, generator=gen)


def test_divergence_raises_before_nan_reaches_the_weights() -> None:
    g = torch.Generator().manual_seed(0)
    data = torch.relu(torch.randn(400, 50, generator=g) @ torch.randn(50, 300, generator=g) * 0.3)
    layer = nn.Linear(300, 300)
    cfg = DAEConfig(lr=0.1, noise="masking", corruption=0.25, batch_size=20)
    dae = DAEPretrainer(layer, "tanh", cfg, unit_interval_input=False, generator=g)
    with pytest.raises(PretrainingDiverged, match=r"pretraining\.dae\.lr"):
        for _ in range(5):
            for s in range(0, len(data), 20):
                dae.train_step(data[s : s + 20])
    assert torch.isfinite(layer.weight).all() and torch.isfinite(layer.bias).all()


def test_a_non_finite_step_waits_for_the_epochs_check_and_names_the_reconstruction_error() -> None:
    """``step`` (the training loops') never syncs with the device: a non-finite reconstruction error is only read
    by ``check``, which names it, the step it came from and the rate to lower; ``train_step`` raises at once,
    before the update."""
    layer = nn.Linear(6, 4)
    cfg = DAEConfig(lr=0.1, noise="masking", corruption=0.25, batch_size=2)
    dae = DAEPretrainer(layer, "tanh", cfg, unit_interval_input=False, generator=torch.Generator().manual_seed(0))
    good, bad = torch.rand(2, 6), torch.full((2, 6), float("nan"))
    dae.step(good)
    dae.step(bad)  # no exception yet
    with pytest.raises(PretrainingDiverged) as exc:
        dae.check()
    assert str(exc.value) == "dae pre-training diverged (reconstruction error nan); lower pretraining.dae.lr (now 0.1)"
    assert exc.value.step == 1
    fresh = nn.Linear(6, 4)
    before = fresh.weight.detach().clone()
    dae = DAEPretrainer(fresh, "tanh", cfg, unit_interval_input=False, generator=torch.Generator().manual_seed(0))
    with pytest.raises(PretrainingDiverged, match=r"^dae pre-training diverged \(reconstruction error nan\)"):
        dae.train_step(bad)
    assert torch.equal(fresh.weight, before)


def test_a_finite_error_with_an_overflowing_gradient_is_caught_and_named() -> None:
    """One pixel at 1e19: the squared error (1e38) is still a float32, its gradient's norm is not. The gradient
    norm is the second thing checked, at once in ``train_step`` and at the epoch's check in ``step``."""
    x = torch.zeros(2, 6)
    x[0, 0] = 1e19
    cfg = DAEConfig(lr=0.1, noise="gaussian", corruption=0.0, batch_size=2)
    for at_once in (True, False):
        torch.manual_seed(0)
        dae = DAEPretrainer(nn.Linear(6, 4), "tanh", cfg, unit_interval_input=False,
                            generator=torch.Generator().manual_seed(0))
        if not at_once:
            dae.step(x)  # no host sync, no exception: the watch holds the value
        with pytest.raises(PretrainingDiverged) as exc:
            dae.train_step(x) if at_once else dae.check()
        assert str(exc.value) == "dae pre-training diverged (gradient norm inf); lower pretraining.dae.lr (now 0.1)"


@pytest.mark.parametrize(("activation", "unit_interval"), [("sigmoid", True), ("tanh", False)])
def test_the_reconstruction_error_is_the_clean_inputs_mean_loss_in_any_evaluation_batch(activation: str,
                                                                                      unit_interval: bool) -> None:
    """``reconstruction_error``: the mean over examples of each CLEAN example's loss (no corruption, no draw from
    the generator), written out in float64 with h = act(W x + c) and the tied decoder W^T h + b: cross-entropy of
    sigmoid(W^T h + b) for inputs in [0, 1], squared error of W^T h + b otherwise. Images are flattened, any
    loaded dtype is taken in the layer's, the evaluation batch changes nothing, and an empty set is refused."""
    layer = nn.Linear(12, 5).double()
    gen = torch.Generator().manual_seed(3)
    dae = DAEPretrainer(layer, activation, DAEConfig(noise="masking", corruption=0.5, batch_size=4),
                        unit_interval_input=unit_interval, generator=gen)
    with torch.no_grad():
        dae.visible_bias.copy_(torch.linspace(-0.5, 0.5, 12))
    x = torch.rand(7, 1, 3, 4, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    if not unit_interval:
        x = 3 * x - 1
    flat = x.reshape(7, 12)
    with torch.no_grad():
        pre = flat @ layer.weight.T + layer.bias
        h = 1 / (1 + torch.exp(-pre)) if activation == "sigmoid" else torch.tanh(pre)
        out = h @ layer.weight + dae.visible_bias
        if unit_interval:
            r = 1 / (1 + torch.exp(-out))
            per_example = -(flat * torch.log(r) + (1 - flat) * torch.log(1 - r)).sum(1)
        else:
            per_example = ((out - flat) ** 2).sum(1)
    expect = float(per_example.mean())
    state = gen.get_state()
    for batch_size in (1, 3, 7, 1000):
        assert dae.reconstruction_error(x, batch_size=batch_size) == pytest.approx(expect, rel=1e-12)
    assert dae.reconstruction_error(x.float()) == pytest.approx(expect, rel=1e-6)  # float32 data, float64 layer
    assert torch.equal(gen.get_state(), state)
    with pytest.raises(ValueError) as exc:
        dae.reconstruction_error(x[:0])
    assert str(exc.value) == "reconstruction_error needs at least one example"
