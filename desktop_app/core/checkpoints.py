"""Checkpoints: list a run's, open one safely, export a model as .pt and .safetensors with its config.

Opening is always ``torch.load(weights_only=True)``: a checkpoint made elsewhere may carry pickled code, and
Basin refuses it with a clear message before anything in it runs.
"""

from __future__ import annotations

import io
import json
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from desktop_app.core import config as config_mod
from desktop_app.core.atomic import write_bytes_atomic
from desktop_app.core.runs import reproduce_command  # noqa: F401 - torch-free home, re-exported here


class CheckpointError(ValueError):
    """A file is not a usable Basin checkpoint; the message says why in one line."""


@dataclass(frozen=True)
class CheckpointInfo:
    arm: str
    seed: int
    phase: str  # "finetune" (e<epoch>.pt; epoch 0 = after pre-training) | "latest" (resume state)
    epoch: int
    path: Path


def list_checkpoints(run_dir: Path) -> list[CheckpointInfo]:
    """Every weights checkpoint of a run, by arm, seed and epoch (resume states excluded)."""
    out = []
    for path in Path(run_dir).glob("checkpoints/*/s*/e*.pt"):
        arm, seed = path.parent.parent.name, int(path.parent.name[1:])
        out.append(CheckpointInfo(arm, seed, "finetune", int(path.stem[1:]), path))
    return sorted(out, key=lambda c: (c.seed, c.arm, c.epoch))


def open_checkpoint(path: Path, device: str | torch.device = "cpu") -> dict[str, Any]:
    """Load and validate a checkpoint: tensors and primitives only, a model state dict and a valid config."""
    path = Path(path)
    try:
        state = torch.load(path, map_location=device, weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"{path}: no such file") from None
    except pickle.UnpicklingError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else "unsupported content"
        raise CheckpointError(
            f"{path.name}: refused: the file holds pickled code or objects, not only tensors ({first[:160]})"
        ) from None
    except (RuntimeError, EOFError, OSError, ValueError) as exc:
        raise CheckpointError(f"{path.name}: not a readable checkpoint ({type(exc).__name__}: {exc})") from None
    if not isinstance(state, dict) or not isinstance(state.get("model"), dict):
        raise CheckpointError(f"{path.name}: not a Basin checkpoint (no 'model' state dict)")
    if not all(isinstance(v, torch.Tensor) for v in state["model"].values()):
        raise CheckpointError(f"{path.name}: the model state holds non-tensor values")
    try:
        state["experiment"] = config_mod.from_toml(str(state.get("config", "")))
    except config_mod.ConfigError as exc:
        raise CheckpointError(f"{path.name}: embedded config is invalid: {exc}") from None
    return state


def export_model(checkpoint: Path, dest: Path) -> tuple[Path, Path]:
    """Write dest.pt (state dict + config + meta) and dest.safetensors (config in its metadata)."""
    from safetensors.torch import save as st_save

    state = open_checkpoint(checkpoint)
    dest = Path(dest)
    base = dest.with_suffix("") if dest.suffix in (".pt", ".safetensors") else dest
    meta = {k: state[k] for k in ("arm", "seed", "phase", "epoch") if k in state}
    model = {k: v.detach().cpu().contiguous() for k, v in state["model"].items()}
    buf = io.BytesIO()
    torch.save({"model": model, "config": state["config"], **meta}, buf)
    pt = base.with_suffix(".pt")
    write_bytes_atomic(pt, buf.getvalue())
    st = base.with_suffix(".safetensors")
    write_bytes_atomic(st, st_save(model, metadata={"config": state["config"], "basin": json.dumps(meta)}))
    return pt, st
