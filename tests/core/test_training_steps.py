"""The fine-tuning optimizers do the textbook updates with the configured rates, written out here by hand (issue 29:
mutants of ``training.make_optimizer`` that dropped Adam's rate survived because every test used Adam's default)."""

from __future__ import annotations

import os
import shlex

import numpy as np
import pytest
import torch

from desktop_app.core.config import ConfigError, FinetuneConfig
from desktop_app.core.training.step import load_checkpoint, make_optimizer


def steps(opt_cfg: FinetuneConfig, grads: list[torch.Tensor], fused: bool = False) -> tuple[torch.Tensor, object]:
    p = torch.nn.Parameter(torch.tensor([0.5, -1.0, 2.0], dtype=torch.float64))
    opt = make_optimizer(opt_cfg, [p], fused=True) if fused else make_optimizer(opt_cfg, [p])  # a unit's call
    for g in grads:
        p.grad = g.clone()
        opt.step()
    return p.detach(), opt


G1, G2 = torch.tensor([0.2, -0.4, 1.0], dtype=torch.float64), torch.tensor([-0.1, 0.3, 0.5], dtype=torch.float64)
P0 = torch.tensor([0.5, -1.0, 2.0], dtype=torch.float64)


def test_sgd_is_p_minus_lr_g():
    p, _ = steps(FinetuneConfig(optimizer="sgd", lr=0.3), [G1, G2])
    torch.testing.assert_close(p, P0 - 0.3 * G1 - 0.3 * G2, rtol=1e-15, atol=1e-15)


def test_momentum_accumulates_a_velocity():
    p, _ = steps(FinetuneConfig(optimizer="momentum", lr=0.3, momentum=0.7), [G1, G2])
    v1 = G1
    v2 = 0.7 * v1 + G2
    torch.testing.assert_close(p, P0 - 0.3 * v1 - 0.3 * v2, rtol=1e-14, atol=1e-15)


def test_adam_uses_the_configured_rate_and_bias_corrected_moments():
    lr, b1, b2, eps = 0.05, 0.9, 0.999, 1e-8  # not Adam's default rate (1e-3)
    p, _ = steps(FinetuneConfig(optimizer="adam", lr=lr), [G1, G2])
    m = v = torch.zeros(3, dtype=torch.float64)
    want = P0.clone()
    for t, g in enumerate((G1, G2), start=1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        want = want - lr * (m / (1 - b1**t)) / ((v / (1 - b2**t)).sqrt() + eps)
    torch.testing.assert_close(p, want, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name", ["sgd", "momentum", "adam"])
def test_the_fused_kernel_only_when_asked(name):
    """A unit steps with torch's reference loop; the fused one-pass kernel is the seed batch's, asked for."""
    _, plain = steps(FinetuneConfig(optimizer=name, lr=0.01), [G1])
    _, fused = steps(FinetuneConfig(optimizer=name, lr=0.01), [G1], fused=True)
    assert not plain.defaults.get("fused") and fused.defaults.get("fused") is True


def test_an_unknown_optimizer_names_the_field():
    with pytest.raises(ConfigError) as info:
        make_optimizer(FinetuneConfig(optimizer="lbfgs", lr=0.1), [torch.nn.Parameter(torch.zeros(1))])
    assert info.value.field == "finetune.optimizer" and "lbfgs" in str(info.value)


class _Evil:
    def __reduce__(self):
        return (os.system, (f"touch {shlex.quote(str(_Evil.marker))}",))


def test_load_checkpoint_refuses_pickled_code(tmp_path):
    _Evil.marker = tmp_path / "pwned"
    bad = tmp_path / "evil.pt"
    torch.save({"model": {}, "payload": _Evil()}, bad)
    with pytest.raises(Exception, match="(?i)weights_only|unpickl|unsupported"):
        load_checkpoint(bad)
    assert not _Evil.marker.exists()


def test_a_divergence_says_its_epoch_and_what_to_lower():
    from desktop_app.core.training.step import FinetuneDiverged

    exc = FinetuneDiverged(FinetuneConfig(optimizer="momentum", lr=0.5, momentum=0.95), 4, "loss nan")
    assert exc.epoch == 4 and isinstance(exc, FloatingPointError)
    assert str(exc) == ("fine-tuning diverged at epoch 4 (loss nan); lower finetune.lr (now 0.5) or "
                        "finetune.momentum (now 0.95)")
    assert str(FinetuneDiverged(FinetuneConfig(optimizer="adam", lr=0.001), 1, "non-finite weights")) == (
        "fine-tuning diverged at epoch 1 (non-finite weights); lower finetune.lr (now 0.001)")


def test_step_counters_off_the_cpu_are_found_in_every_group_but_the_fused_and_capturable():
    """A resume state loaded onto a GPU leaves Adam's step counters there ("meta" stands in for the GPU); a group
    whose kernel keeps them on the device (fused, capturable) is left alone, and the groups after it are still
    looked at."""
    from desktop_app.core.training.step import misplaced_steps

    params = [torch.nn.Parameter(torch.rand(3)) for _ in range(3)]
    unused = torch.nn.Parameter(torch.rand(2))  # no gradient yet: no state at all
    opt = torch.optim.Adam([{"params": [params[0]]}, {"params": [params[1]]}, {"params": [params[2], unused]}],
                           lr=0.1)
    for p in params:
        p.grad = torch.ones(3)
    opt.step()
    assert unused not in opt.state
    for p in params:
        opt.state[p]["step"] = torch.tensor(1.0, device="meta")
    opt.param_groups[0]["fused"] = True
    opt.param_groups[1]["capturable"] = True
    found = misplaced_steps(opt)
    assert len(found) == 1 and found[0][0] is opt.state[params[2]]
    opt.param_groups[0]["fused"] = False
    assert [entry is opt.state[params[0]] for entry, _ in misplaced_steps(opt)] == [True, False]


@pytest.mark.parametrize("l1, l2", [(0.0, 0.0), (0.0, 0.2), (0.05, 0.0), (0.05, 0.2)])
def test_a_fine_tuning_step_descends_cross_entropy_plus_each_penalty_asked(l1, l2):
    """One SGD step on the mean cross-entropy plus l1 * sum |W| + l2 * sum W^2 over the layers' weights (not the
    biases), whichever of the two is set."""
    from desktop_app.core.training.models import build_model
    from desktop_app.core.training.step import finetune_step
    from tests.core.test_engine import tiny

    cfg = tiny(**{"model.layers": [{"kind": "dense", "units": 5}], "model.activation": "tanh", "model.l1": l1,
                  "model.l2": l2})
    net = build_model(cfg.model, (1, 3, 3), 4, seed=1)
    x = torch.rand(6, 1, 3, 3, generator=torch.Generator().manual_seed(2))
    y = torch.tensor([0, 1, 2, 3, 0, 1])
    before = {k: v.detach().clone() for k, v in net.named_parameters()}
    params = {k: v.detach().clone().requires_grad_(True) for k, v in before.items()}
    hidden = torch.tanh(x.flatten(1) @ params["blocks.0.module.weight"].T + params["blocks.0.module.bias"])
    loss = torch.nn.functional.cross_entropy(hidden @ params["head.weight"].T + params["head.bias"], y)
    for name in ("blocks.0.module.weight", "head.weight"):
        loss = loss + l1 * params[name].abs().sum() + l2 * params[name].pow(2).sum()
    loss.backward()
    ft = FinetuneConfig(optimizer="sgd", lr=0.5)
    finetune_step(net, make_optimizer(ft, net.parameters()), x, y, cfg.model, ft, epoch=1)
    for name, p in net.named_parameters():
        torch.testing.assert_close(p.detach(), before[name] - 0.5 * params[name].grad, rtol=1e-5, atol=1e-6)


def test_a_non_finite_loss_stops_the_step_before_it_changes_anything():
    from desktop_app.core.training.models import build_model
    from desktop_app.core.training.step import FinetuneDiverged, finetune_step
    from tests.core.test_engine import tiny

    cfg = tiny(**{"model.layers": [{"kind": "dense", "units": 5}]})
    net = build_model(cfg.model, (1, 3, 3), 4, seed=1)
    before = [p.detach().clone() for p in net.parameters()]
    x = torch.full((2, 1, 3, 3), float("nan"))
    ft = FinetuneConfig(optimizer="sgd", lr=0.5)
    with pytest.raises(FinetuneDiverged) as exc:  # checked by default
        finetune_step(net, make_optimizer(ft, net.parameters()), x, torch.tensor([0, 1]), cfg.model, ft, epoch=7)
    assert str(exc.value) == "fine-tuning diverged at epoch 7 (loss nan); lower finetune.lr (now 0.5)"
    assert all(torch.equal(a, b.detach()) for a, b in zip(before, net.parameters(), strict=True))


def test_a_checkpoint_is_loaded_onto_the_device_asked(tmp_path):
    """("meta" stands in for a GPU: the tensors land where the caller asks, not where they were saved.)"""
    from desktop_app.core.training.step import checkpoint_bytes

    (tmp_path / "c.pt").write_bytes(checkpoint_bytes({"model": {"w": torch.ones(2)}, "epoch": 3}))
    assert load_checkpoint(tmp_path / "c.pt")["model"]["w"].device.type == "cpu"
    state = load_checkpoint(tmp_path / "c.pt", "meta")
    assert state["model"]["w"].device.type == "meta" and state["epoch"] == 3


def _dropout_net(seed: int = 1):
    """A small dense net with dropout, so that an evaluation in training mode would differ from eval mode."""
    from desktop_app.core.training.models import build_model
    from tests.core.test_engine import tiny

    cfg = tiny(**{"model.layers": [{"kind": "dense", "units": 6}], "model.activation": "tanh",
                  "model.dropout": 0.5})
    return build_model(cfg.model, (1, 3, 3), 4, seed=seed)


def _by_hand(net, x):
    """The net's logits in eval mode, written out: tanh(x W1^T + b1), then the linear head, in one batch."""
    with torch.no_grad():
        hidden = torch.tanh(x.flatten(1) @ net.blocks[0].module.weight.T + net.blocks[0].module.bias)
        return hidden @ net.head.weight.T + net.head.bias


@pytest.mark.parametrize("start_training", [True, False])
def test_evaluate_is_the_mean_nll_and_error_over_the_whole_set_in_eval_mode(start_training):
    """``evaluate`` runs the set in chunks of EVAL_BATCH: its NLL and error equal F.cross_entropy and the argmax
    mistakes of the whole set in one batch (2345 examples: two full chunks and a short one), in eval mode (no
    dropout), and the net is left in the mode it was in. A single example and an empty set are means too."""
    from desktop_app.core.training.step import EVAL_BATCH, evaluate

    net = _dropout_net()
    net.train(start_training)
    g = torch.Generator().manual_seed(3)
    n = 2 * EVAL_BATCH + 345
    x, y = torch.rand(n, 1, 3, 3, generator=g), torch.randint(0, 4, (n,), generator=g)
    logits = _by_hand(net, x).double()
    for m in (n, 1):
        nll, err = evaluate(net, x[:m], y[:m])
        assert nll == pytest.approx(float(torch.nn.functional.cross_entropy(logits[:m], y[:m])), rel=1e-5)
        assert err == pytest.approx(float((logits[:m].argmax(1) != y[:m]).double().mean()), rel=1e-12)
        assert all(mod.training == start_training for mod in net.modules())
        if m == n:
            assert 0.3 < err < 1 and nll > 1  # an untrained net on random labels: neither number is trivial
    assert evaluate(net, x[:0], y[:0]) == (0.0, 0.0)


@pytest.mark.parametrize("start_training", [True, False])
def test_probe_outputs_are_the_softmax_of_the_net_in_eval_mode(start_training):
    """The probe snapshot: one row of class probabilities per probe image, softmax of the eval-mode logits, as a
    float32 array, with the net left in the mode it was in."""
    from desktop_app.core.training.step import probe_outputs

    net = _dropout_net()
    net.train(start_training)
    x = torch.rand(7, 1, 3, 3, generator=torch.Generator().manual_seed(4))
    out = probe_outputs(net, x)
    assert isinstance(out, np.ndarray) and out.dtype == np.float32 and out.shape == (7, 4)
    np.testing.assert_allclose(out, torch.softmax(_by_hand(net, x).double(), 1).numpy(), rtol=1e-5, atol=1e-7)
    assert all(mod.training == start_training for mod in net.modules())
