"""Convolutional autoencoder: the decoder gives back the input size, learning works, weights change in place."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from desktop_app.core.config import CAEConfig, DAEConfig
from desktop_app.core.pretraining.cae import ConvAEPretrainer


def bar_images(n: int, size: int, seed: int) -> torch.Tensor:
    """(n, 1, size, size) images in [0,1]: one or two horizontal/vertical bars each."""
    g = torch.Generator().manual_seed(seed)
    x = torch.zeros(n, 1, size, size)
    for i in range(n):
        for _ in range(int(torch.randint(1, 3, (1,), generator=g))):
            pos = int(torch.randint(0, size - 1, (1,), generator=g))
            if bool(torch.rand(1, generator=g) < 0.5):
                x[i, 0, pos : pos + 2, :] = 1.0
            else:
                x[i, 0, :, pos : pos + 2] = 1.0
    return x


@pytest.mark.parametrize("stride", [1, 2, 3])
@pytest.mark.parametrize("size", [(12, 12), (13, 13), (11, 14)])
@pytest.mark.parametrize("kernel", [3, 4])
def test_reconstruction_has_the_input_shape(stride: int, size: tuple[int, int], kernel: int) -> None:
    layer = nn.Conv2d(2, 3, kernel, stride=stride)
    cae = ConvAEPretrainer(
        layer, "relu", CAEConfig(), unit_interval_input=False, generator=torch.Generator().manual_seed(0)
    )
    x = torch.rand(5, 2, *size)
    out = cae.reconstruct(x)
    assert out.shape == x.shape
    loss = cae.train_step(x)
    assert loss > 0
    # The encoder is exactly the network's own layer.
    torch.testing.assert_close(cae.encode(x), F.relu(layer(x)))


def test_stride_argument_is_used_for_default_layers_and_checked_against_the_layer() -> None:
    gen = torch.Generator()
    cae = ConvAEPretrainer(
        nn.Conv2d(1, 2, 3), "sigmoid", CAEConfig(), unit_interval_input=True, generator=gen, stride=2
    )
    assert cae.conv_stride == (2, 2)
    assert cae.reconstruct(torch.rand(2, 1, 10, 9)).shape == (2, 1, 10, 9)
    cae = ConvAEPretrainer(
        nn.Conv2d(1, 2, 3, stride=2), "sigmoid", CAEConfig(), unit_interval_input=True, generator=gen
    )
    assert cae.conv_stride == (2, 2)
    with pytest.raises(ValueError, match="stride"):
        ConvAEPretrainer(
            nn.Conv2d(1, 2, 3, stride=2), "sigmoid", CAEConfig(), unit_interval_input=True, generator=gen, stride=3
        )
    with pytest.raises(TypeError, match="Conv2d"):
        ConvAEPretrainer(nn.Linear(4, 2), "sigmoid", CAEConfig(), unit_interval_input=True, generator=gen)


@pytest.mark.parametrize(
    ("stride", "lr", "epochs", "ratio"),
    # Stride 2 learns slower: each pixel is covered by an uneven number of kernel positions.
    [(1, 0.01, 5, 0.5), (2, 0.03, 10, 0.6)],
)
def test_reconstruction_error_falls_and_weight_changes_in_place(
    stride: int, lr: float, epochs: int, ratio: float
) -> None:
    torch.manual_seed(0)
    data = bar_images(96, 12, seed=1)
    layer = nn.Conv2d(1, 8, 5, stride=stride)
    weight_obj, start = layer.weight, layer.weight.detach().clone()
    cfg = CAEConfig(epochs=epochs, lr=lr, noise="masking", corruption=0.1, batch_size=16)
    cae = ConvAEPretrainer(layer, "sigmoid", cfg, unit_interval_input=True, generator=torch.Generator().manual_seed(2))
    errors = [cae.reconstruction_error(data)]
    for _ in range(cae.epochs):
        total = sum(cae.train_step(data[s : s + cae.batch_size]) for s in range(0, len(data), cae.batch_size))
        assert total > 0
        errors.append(cae.reconstruction_error(data, batch_size=40))
    assert layer.weight is weight_obj
    assert (layer.weight.detach() - start).abs().max() > 1e-2
    assert errors[-1] < ratio * errors[0], errors
    assert layer.weight.grad is None


def test_gaussian_noise_and_linear_decoder_learn() -> None:
    torch.manual_seed(0)
    data = bar_images(64, 10, seed=3) * 2 - 1  # not in [0,1]: linear decoder + squared error
    cfg = CAEConfig(epochs=5, lr=0.01, noise="gaussian", corruption=0.1, batch_size=16)
    cae = ConvAEPretrainer(
        nn.Conv2d(1, 6, 3), "tanh", cfg, unit_interval_input=False, generator=torch.Generator().manual_seed(4)
    )
    before = cae.reconstruction_error(data)
    for _ in range(cae.epochs):
        for s in range(0, len(data), cae.batch_size):
            cae.train_step(data[s : s + cae.batch_size])
    assert cae.reconstruction_error(data) < 0.5 * before


def test_max_pool_keeps_each_window_maximum_in_place_and_zero_elsewhere() -> None:
    cae = ConvAEPretrainer(nn.Conv2d(1, 2, 3), "relu", CAEConfig(pool=2), unit_interval_input=True,
                           generator=torch.Generator().manual_seed(0))
    h = torch.rand(3, 2, 5, 6, generator=torch.Generator().manual_seed(1))
    code = cae.sparse_code(h)
    expect = torch.zeros_like(h)  # by hand: the maximum of every full 2x2 window, at its own position
    for b in range(3):
        for c in range(2):
            for r in range(0, 4, 2):
                for q in range(0, 6, 2):
                    win = h[b, c, r : r + 2, q : q + 2]
                    i = int(win.argmax())
                    expect[b, c, r + i // 2, q + i % 2] = win.max()
    assert torch.equal(code, expect)  # the odd last row is dropped like the network's own pooling
    assert torch.equal(ConvAEPretrainer(nn.Conv2d(1, 2, 3), "relu", CAEConfig(pool=0), unit_interval_input=True,
                                        generator=torch.Generator()).sparse_code(h), h)


def test_pooled_cae_learns_and_sparsity_is_not_part_of_the_reported_error() -> None:
    torch.manual_seed(0)
    data = bar_images(96, 12, seed=1)
    errors = {}
    for sparsity in (0.0, 0.05):
        layer = nn.Conv2d(1, 8, 5)
        torch.nn.init.normal_(layer.weight, std=0.1, generator=torch.Generator().manual_seed(3))
        cfg = CAEConfig(epochs=5, lr=0.01, corruption=0.3, batch_size=16, pool=2, sparsity=sparsity)
        cae = ConvAEPretrainer(layer, "relu", cfg, unit_interval_input=True, generator=torch.Generator().manual_seed(2))
        before = cae.reconstruction_error(data)
        batch, gen = data[:16], cae.generator
        params = cae.optimizer.param_groups[0]["params"]  # kernel, hidden and visible biases
        start, state = [q.detach().clone() for q in params], gen.get_state()
        reported = cae.train_step(batch)
        with torch.no_grad():  # the first step again from the same weights and the same corruption
            after = [q.detach().clone() for q in params]
            for q, v in zip(params, start, strict=True):
                q.copy_(v)
            gen.set_state(state)
            loss, objective = cae._objective_sum(cae.corrupt(batch), batch)
            for q, v in zip(params, after, strict=True):
                q.copy_(v)
        assert reported == pytest.approx(float(loss), rel=1e-5)
        assert (float(objective) > float(loss)) == (sparsity > 0)
        for _ in range(cae.epochs):
            for s in range(0, len(data), cae.batch_size):
                cae.train_step(data[s : s + cae.batch_size])
        errors[sparsity] = cae.reconstruction_error(data)
        assert errors[sparsity] < 0.6 * before, (sparsity, before, errors[sparsity])
    # the penalty only pulls codes down: the same start reconstructs less well but still learns
    assert errors[0.05] > errors[0.0]


@pytest.mark.parametrize("unit_interval", [True, False])
def test_reconstruct_is_the_tied_decoder_of_the_sparse_code(unit_interval: bool) -> None:
    """reconstruct(x), written out: act(conv(x)) -> keep each pool window's maximum -> conv_transpose with the same
    kernel and the visible bias -> sigmoid for [0,1] input (logits unbounded, so a missing sigmoid shows)."""
    layer = nn.Conv2d(1, 3, 3)
    with torch.no_grad():
        layer.weight.mul_(8.0)  # large logits: a sigmoid visibly changes them
    cae = ConvAEPretrainer(layer, "sigmoid", CAEConfig(pool=2), unit_interval_input=unit_interval,
                           generator=torch.Generator().manual_seed(1))
    x = torch.rand(2, 1, 8, 8, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        h = torch.sigmoid(F.conv2d(x, layer.weight, layer.bias))
        pooled, idx = F.max_pool2d(h, 2, 2, return_indices=True)
        code = F.max_unpool2d(pooled, idx, 2, 2, output_size=h.shape[-2:])
        logits = F.conv_transpose2d(code, layer.weight, cae.visible_bias)
        want = torch.sigmoid(logits) if unit_interval else logits
    torch.testing.assert_close(cae.reconstruct(x), want, rtol=1e-5, atol=1e-6)
    assert (logits.abs() > 1).any()


def test_the_stride_argument_covers_a_layer_built_with_the_default() -> None:
    """A conv layer built with stride 1 is encoded at stride 1 unless the pre-trainer is told another stride (the
    layer's own stride wins when it has one)."""
    x = torch.rand(2, 1, 9, 9)
    for stride, side in ((None, 7), (2, 4), (3, 3)):
        layer = nn.Conv2d(1, 3, 3)
        extra = {} if stride is None else {"stride": stride}
        cae = ConvAEPretrainer(layer, "sigmoid", CAEConfig(), unit_interval_input=True,
                               generator=torch.Generator().manual_seed(0), **extra)
        want = torch.sigmoid(F.conv2d(x, layer.weight, layer.bias, stride=stride or 1))
        assert want.shape[-2:] == (side, side)
        torch.testing.assert_close(cae.encode(x), want, rtol=0, atol=0)


def test_the_sparsity_penalty_is_minimised_but_not_reported_as_reconstruction_error() -> None:
    """What Adam minimises is the reconstruction loss plus sparsity * sum |code|; the reconstruction error the run
    reports (and its divergence check reads) is the loss alone, the same as the unpenalised twin's."""
    x = torch.rand(3, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    layer = nn.Conv2d(1, 2, 3)
    penalised = ConvAEPretrainer(layer, "relu", CAEConfig(sparsity=0.5), unit_interval_input=False,
                                 generator=torch.Generator().manual_seed(0))
    plain = ConvAEPretrainer(layer, "relu", CAEConfig(sparsity=0.0), unit_interval_input=False,
                             generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        loss, objective = penalised._objective_sum(x, x)
        code = torch.relu(F.conv2d(x, layer.weight, layer.bias))
        torch.testing.assert_close(objective, loss + 0.5 * code.abs().sum())
        assert float(code.abs().sum()) > 0
        assert penalised.reconstruction_error(x) == plain.reconstruction_error(x) == pytest.approx(float(loss) / 3)


def test_a_batch_that_is_not_four_dimensional_is_refused_with_its_shape() -> None:
    cae = ConvAEPretrainer(nn.Conv2d(1, 2, 3), "relu", CAEConfig(), unit_interval_input=False,
                           generator=torch.Generator().manual_seed(0))
    with pytest.raises(ValueError) as exc:
        cae.train_step(torch.rand(2, 9, 9))
    assert str(exc.value) == "cae expects (B, C, H, W) batches, got shape (2, 9, 9)"


@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("padding", [1, 2])
def test_a_padded_layer_reconstructs_the_input_size(stride: int, padding: int) -> None:
    layer = nn.Conv2d(1, 2, 5, stride=stride, padding=padding)
    cae = ConvAEPretrainer(layer, "relu", CAEConfig(), unit_interval_input=False,
                           generator=torch.Generator().manual_seed(0))
    x = torch.rand(2, 1, 11, 12)
    assert cae.reconstruct(x).shape == x.shape


def test_a_layer_with_groups_dilation_or_named_padding_is_refused_with_the_reason() -> None:
    gen = torch.Generator()
    for layer in (nn.Conv2d(2, 2, 3, groups=2), nn.Conv2d(1, 2, 3, dilation=2), nn.Conv2d(1, 2, 3, dilation=(1, 2))):
        with pytest.raises(ValueError, match="^cae supports conv layers with groups=1 and dilation=1 only$"):
            ConvAEPretrainer(layer, "relu", CAEConfig(), unit_interval_input=False, generator=gen)
    with pytest.raises(ValueError, match="^cae needs numeric conv padding, got 'same'$"):
        ConvAEPretrainer(nn.Conv2d(1, 2, 3, padding="same"), "relu", CAEConfig(), unit_interval_input=False,
                         generator=gen)


def test_a_layer_padded_unevenly_encodes_and_reconstructs_like_the_layer() -> None:
    layer = nn.Conv2d(1, 2, 3, padding=(2, 0))
    cae = ConvAEPretrainer(layer, "relu", CAEConfig(), unit_interval_input=False,
                           generator=torch.Generator().manual_seed(0))
    x = torch.rand(3, 1, 9, 8, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(cae.encode(x), F.relu(layer(x)))  # rows padded by 2, columns not at all
    h = F.relu(layer(x))
    expect = F.conv_transpose2d(h, layer.weight, cae.visible_bias, 1, (2, 0))  # stride 1: no output padding
    assert expect.shape == x.shape
    torch.testing.assert_close(cae.decode_logits(h, (9, 8)), expect)


def test_a_config_without_pool_or_sparsity_trains_a_plain_cae() -> None:
    """The pre-trainer takes any config with the DAE's fields; pool and sparsity then default to off."""
    cae = ConvAEPretrainer(nn.Conv2d(1, 2, 3), "relu", DAEConfig(lr=0.01), unit_interval_input=False,
                           generator=torch.Generator().manual_seed(0))
    h = torch.rand(2, 2, 4, 4, generator=torch.Generator().manual_seed(1))
    assert torch.equal(cae.sparse_code(h), h)  # no pooling
    x = torch.rand(2, 1, 6, 6, generator=torch.Generator().manual_seed(2))
    loss, objective = cae._objective_sum(x, x)
    assert loss.item() > 0 and torch.equal(loss, objective)  # no sparsity penalty


@pytest.mark.parametrize("shape", [(2, 1, 2, 2), (2, 1, 4, 3)])
def test_max_pool_also_sparsifies_a_single_channel_map_as_small_as_the_window(shape: tuple[int, ...]) -> None:
    """The size check looks at the map's height and width only: one channel (fewer than the pool size) and a map
    exactly one window high are pooled too."""
    cae = ConvAEPretrainer(nn.Conv2d(1, 1, 3), "relu", CAEConfig(pool=2), unit_interval_input=True,
                           generator=torch.Generator().manual_seed(0))
    h = torch.rand(*shape, generator=torch.Generator().manual_seed(3)) + 0.1
    code = cae.sparse_code(h)
    expect = torch.zeros_like(h)
    for b in range(shape[0]):
        for r in range(0, shape[2] - 1, 2):
            for q in range(0, shape[3] - 1, 2):
                win = h[b, 0, r : r + 2, q : q + 2]
                i = int(win.argmax())
                expect[b, 0, r + i // 2, q + i % 2] = win.max()
    assert torch.equal(code, expect)
