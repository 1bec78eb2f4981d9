"""Method name -> pre-trainer class, so the engine and CLI pick a method from the config's arm name."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from desktop_app.core.pretraining.base import LayerPretrainer
from desktop_app.core.pretraining.cae import ConvAEPretrainer
from desktop_app.core.pretraining.dae import DAEPretrainer
from desktop_app.core.pretraining.rbm import RBMPretrainer

PRETRAINERS: dict[str, type[LayerPretrainer]] = {
    "rbm": RBMPretrainer,
    "dae": DAEPretrainer,
    "cae": ConvAEPretrainer,
}


def make_pretrainer(
    method: str,
    module: nn.Linear | nn.Conv2d,
    activation: str,
    cfg: Any,
    *,
    unit_interval_input: bool,
    generator: torch.Generator,
    stride: int = 1,
) -> LayerPretrainer:
    """Build the pre-trainer for ``method``; ValueError names the allowed methods."""
    try:
        cls = PRETRAINERS[method]
    except (KeyError, TypeError):
        raise ValueError(f"pre-training method must be one of {', '.join(PRETRAINERS)}; got {method!r}") from None
    return cls(module, activation, cfg, unit_interval_input=unit_interval_input, generator=generator, stride=stride)
