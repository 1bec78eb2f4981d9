"""Checkpoints: list a run's, open one safely, export a model as .pt and .safetensors with its config, and check
a run's resume states before a resume trusts them.

Opening is always ``torch.load(weights_only=True)`` (or safetensors, which holds only tensors): a checkpoint made
elsewhere may carry pickled code, and Basin refuses it with a clear message before anything in it runs. Every
failure is one line naming the file.
"""

from __future__ import annotations

import io
import json
import pickle
import struct
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from desktop_app.core import config as config_mod
from desktop_app.core.atomic import write_bytes_atomic
from desktop_app.core.runfolder import RunFolder, RunFolderError, UnitFolder

SAFETENSORS_SUFFIX = ".safetensors"
MAX_SAFETENSORS_HEADER = 100 * 2**20
STAGES = ("pretrain", "finetune", "done")
MAX_CLASSES = 100_000
MAX_INPUT_VALUES = 10**8


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
    return [CheckpointInfo(arm, seed, "finetune", epoch, path)
            for arm, seed, epoch, path in RunFolder(run_dir).checkpoints()]


def _is_safetensors(path: Path) -> bool:
    """safetensors: an 8-byte little-endian header length, then a JSON header."""
    if path.suffix == SAFETENSORS_SUFFIX:
        return True
    try:
        with open(path, "rb") as fh:
            head = fh.read(9)
    except OSError:
        return False
    return len(head) == 9 and head[8:9] == b"{" and 2 <= struct.unpack("<Q", head[:8])[0] <= MAX_SAFETENSORS_HEADER


def _load_safetensors(path: Path, device: str | torch.device) -> dict[str, Any]:
    """A Basin-exported .safetensors (config in its metadata) as the same dict a .pt checkpoint gives."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt", device=str(device)) as fh:
            metadata = fh.metadata() or {}
            model = {k: fh.get_tensor(k) for k in fh.keys()}
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"{path.name}: not a readable .safetensors file ({str(exc)[:160]})") from None
    if "config" not in metadata:
        raise CheckpointError(f"{path.name}: not a Basin model (no 'config' in the .safetensors metadata)")
    state: dict[str, Any] = {"model": model, "config": metadata["config"]}
    try:
        meta = json.loads(metadata.get("basin", "{}"))
    except (json.JSONDecodeError, RecursionError):
        meta = {}
    if isinstance(meta, dict):
        for key, typ in (("arm", str), ("phase", str), ("seed", int), ("epoch", int)):
            if isinstance(meta.get(key), typ) and not isinstance(meta.get(key), bool):
                state[key] = meta[key]
    return state


def _torch_load(path: Path, device: str | torch.device) -> Any:
    try:
        return torch.load(path, map_location=device, weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise CheckpointError(f"{path}: is a folder, not a checkpoint") from None
    except pickle.UnpicklingError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else "unsupported content"
        raise CheckpointError(
            f"{path.name}: refused: the file holds pickled code or objects, not only tensors ({first[:160]})"
        ) from None
    except (RuntimeError, EOFError, OSError, ValueError, zipfile.BadZipFile, struct.error, KeyError,
            IndexError, TypeError, AttributeError, RecursionError) as exc:
        first = (str(exc).strip().splitlines() or [""])[0]
        raise CheckpointError(f"{path.name}: not a readable checkpoint, truncated or corrupt "
                              f"({type(exc).__name__}: {first[:160]})") from None


def open_checkpoint(path: Path, device: str | torch.device = "cpu") -> dict[str, Any]:
    """Load and validate a checkpoint (.pt, or a Basin-exported .safetensors): tensors and primitives only, a
    model state dict and a valid config (as ``state["experiment"]``)."""
    path = Path(path)
    if path.is_file() and _is_safetensors(path):
        state = _load_safetensors(path, device)
    else:
        state = _torch_load(path, device)
    if not isinstance(state, dict) or not isinstance(state.get("model"), dict):
        raise CheckpointError(f"{path.name}: not a Basin checkpoint (no 'model' state dict)")
    if not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state["model"].items()):
        raise CheckpointError(f"{path.name}: the model state holds non-tensor values")
    try:
        state["experiment"] = config_mod.from_toml(str(state.get("config", "")))
    except config_mod.ConfigError as exc:
        raise CheckpointError(f"{path.name}: embedded config is invalid: {exc}") from None
    except (RecursionError, ValueError, TypeError) as exc:
        raise CheckpointError(f"{path.name}: embedded config is unusable ({type(exc).__name__})") from None
    return state


def export_model(checkpoint: Path, dest: Path) -> tuple[Path, Path]:
    """Write dest.pt (state dict + config + meta) and dest.safetensors (config in its metadata)."""
    from safetensors.torch import save as st_save

    state = open_checkpoint(checkpoint)
    dest = Path(dest)
    base = dest.with_suffix("") if dest.suffix in (".pt", SAFETENSORS_SUFFIX) else dest
    meta = {k: state[k] for k in ("arm", "seed", "phase", "epoch") if k in state}
    model = {k: v.detach().cpu().contiguous() for k, v in state["model"].items()}
    buf = io.BytesIO()
    torch.save({"model": model, "config": state["config"], **meta}, buf)
    pt = base.with_suffix(".pt")
    write_bytes_atomic(pt, buf.getvalue())
    st = base.with_suffix(SAFETENSORS_SUFFIX)
    write_bytes_atomic(st, st_save(model, metadata={"config": state["config"], "basin": json.dumps(meta)}))
    return pt, st


# -----------------------------------------------------------------------------------------------------
# Resume states (checkpoints/<arm>/s<seed>/latest.pt)
# -----------------------------------------------------------------------------------------------------


def read_resume_state(unit: UnitFolder, device: str | torch.device = "cpu") -> dict[str, Any] | None:
    """A unit's resume state, None when it has none; RunFolderError (one line naming the file) when unusable."""
    path = unit.latest_path
    if not path.exists() and not path.is_symlink():
        return None
    unit.run.check_inside(path)
    try:
        state = _torch_load(path, device)
    except CheckpointError as exc:
        raise RunFolderError(f"{path}: {str(exc).removeprefix(path.name + ': ')}") from None
    problem = _resume_state_problem(state)
    if problem:
        raise RunFolderError(f"{path}: {problem}")
    return state


def _resume_state_problem(state: Any) -> str:
    if not isinstance(state, dict):
        return "not a Basin resume state"
    if state.get("stage") not in STAGES:
        return f"stage must be one of {', '.join(STAGES)}"
    if not isinstance(state.get("model"), dict) or not all(isinstance(v, torch.Tensor)
                                                            for v in state["model"].values()):
        return "no 'model' state dict of tensors"
    if state["stage"] != "pretrain":
        if not isinstance(state.get("epoch"), int) or state["epoch"] < 0:
            return "'epoch' must be a non-negative integer"
        if not isinstance(state.get("optimizer"), dict):
            return "no 'optimizer' state"
    elif not isinstance(state.get("layers_done", 0), int):
        return "'layers_done' must be an integer"
    return ""


def verify_resume_states(folder: RunFolder, cfg: config_mod.ExperimentConfig, manifest: dict[str, Any]) -> None:
    """Before a resume trusts them: every unit's latest.pt loads and its tensors match the model the config
    builds (names and shapes). RunFolderError names the first file that does not."""
    from desktop_app.core.training.models import build_model

    input_shape, n_classes = manifest.get("input_shape"), manifest.get("n_classes")
    expected: dict[str, tuple[int, ...]] | None = None
    if input_shape and n_classes:
        if n_classes > MAX_CLASSES or any(n <= 0 for n in input_shape) or \
                int(torch.tensor(input_shape, dtype=torch.float64).prod()) > MAX_INPUT_VALUES:
            raise RunFolderError(f"{folder.manifest_path}: input_shape {input_shape[:8]} / n_classes {n_classes} "
                                 f"are out of range")
        try:
            model = build_model(cfg.model, tuple(input_shape), int(n_classes), 0)
        except (ValueError, RuntimeError, config_mod.ConfigError) as exc:
            raise RunFolderError(f"{folder.manifest_path}: input_shape {input_shape} / n_classes {n_classes} do "
                                 f"not fit the config's model ({str(exc).splitlines()[0][:120]})") from None
        expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    for seed in cfg.seed_values:
        for arm in cfg.arms:
            unit = folder.unit(arm, seed)
            state = read_resume_state(unit)
            if state is None or expected is None:
                continue
            got = {k: tuple(v.shape) for k, v in state["model"].items()}
            if got != expected:
                diff = sorted(set(got) ^ set(expected)) or [k for k in expected if got[k] != expected[k]]
                key = diff[0]
                raise RunFolderError(
                    f"{unit.latest_path}: does not match the config's model ({key}: checkpoint "
                    f"{got.get(key, 'missing')}, config {expected.get(key, 'missing')})")
