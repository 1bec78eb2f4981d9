"""Registry: method names map to the right classes and bad names fail with the allowed list."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from desktop_app.core.config import ARMS, CAEConfig, DAEConfig, RBMConfig
from desktop_app.core.pretraining import (
    PRETRAINERS,
    ConvAEPretrainer,
    DAEPretrainer,
    LayerPretrainer,
    RBMPretrainer,
    make_pretrainer,
)


def test_registry_covers_every_pretraining_arm() -> None:
    assert set(PRETRAINERS) == {a for a in ARMS if a != "none"}
    for name, cls in PRETRAINERS.items():
        assert cls.method == name and issubclass(cls, LayerPretrainer)
    assert RBMPretrainer.layer_kinds == ("dense",) and DAEPretrainer.layer_kinds == ("dense",)
    assert ConvAEPretrainer.layer_kinds == ("conv",)


@pytest.mark.parametrize(
    ("method", "module", "cfg", "cls"),
    [
        ("rbm", nn.Linear(8, 4), RBMConfig(batch_size=7, epochs=3), RBMPretrainer),
        ("dae", nn.Linear(8, 4), DAEConfig(batch_size=7, epochs=3), DAEPretrainer),
        ("cae", nn.Conv2d(1, 4, 3), CAEConfig(batch_size=7, epochs=3), ConvAEPretrainer),
    ],
)
def test_make_pretrainer_builds_the_right_class(method: str, module: nn.Module, cfg: object, cls: type) -> None:
    gen = torch.Generator().manual_seed(0)
    p = make_pretrainer(method, module, "sigmoid", cfg, unit_interval_input=True, generator=gen, stride=1)
    assert type(p) is cls
    assert p.module is module and p.generator is gen
    assert (p.batch_size, p.epochs) == (7, 3)


def test_unknown_method_names_the_allowed_ones() -> None:
    with pytest.raises(ValueError, match="rbm, dae, cae") as info:
        make_pretrainer(
            "vae", nn.Linear(2, 2), "sigmoid", RBMConfig(), unit_interval_input=True, generator=torch.Generator()
        )
    assert "'vae'" in str(info.value)
