"""Pick the torch device from the config: auto uses CUDA when present, else the CPU."""

from __future__ import annotations

import torch

from desktop_app.core.config import ConfigError


def resolve_device(choice: str) -> torch.device:
    if choice == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if choice == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError("device", "cuda was asked for but no CUDA GPU is available; use auto or cpu")
        return torch.device("cuda")
    if choice == "cpu":
        return torch.device("cpu")
    raise ConfigError("device", f"must be one of auto, cpu, cuda; got {choice!r}")


def describe_device(choice: str = "auto") -> str:
    """A human name for the status bar: the GPU's name, or CPU with its thread count."""
    try:
        dev = resolve_device(choice)
    except ConfigError:
        return "CPU (CUDA unavailable)"
    if dev.type == "cuda":
        return f"GPU: {torch.cuda.get_device_name(dev)}"
    return f"CPU ({torch.get_num_threads()} threads)"
