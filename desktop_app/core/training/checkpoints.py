"""Checkpoints: list a run's, open one safely, export a model as .pt and .safetensors with its config, and check
a run's resume states before a resume trusts them.

Opening is always ``training.checkpoint_file`` (the checked reader, the zip directory bounded, then
``torch.load(weights_only=True)``) or safetensors, which holds only tensors: a checkpoint made elsewhere may carry
pickled code, a compressed bomb or be a FIFO, and Basin refuses each with a clear message before anything in it
runs or is allocated. What a state must hold is checked here, the same way for resume and the analyses
(``read_resume_state``, ``read_weights``). Every failure is one line naming the file.
"""

from __future__ import annotations

import io
import json
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from desktop_app.core import config as config_mod
from desktop_app.core.atomic import write_bytes_atomic
from desktop_app.core.config.limits import MAX_PARAMETERS
from desktop_app.core.runfolder import RunFolder, RunFolderError, UnitFolder
from desktop_app.core.training.checkpoint_file import (
    MAX_CHECKPOINT_BYTES,
    CheckpointError,
    check_model_state,
    load_checkpoint_file,
    parameter_count,
)
from desktop_app.core.untrusted import UnreadableFile, is_int, open_regular

SAFETENSORS_SUFFIX = ".safetensors"
MAX_SAFETENSORS_HEADER = 100 * 2**20
STAGES = ("pretrain", "finetune", "done")
MAX_CLASSES = 100_000
MAX_INPUT_VALUES = 10**8


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


def _is_safetensors(path: Path, head: bytes) -> bool:
    """safetensors: an 8-byte little-endian header length, then a JSON header."""
    if path.suffix == SAFETENSORS_SUFFIX:
        return True
    return len(head) >= 9 and head[8:9] == b"{" and 2 <= struct.unpack("<Q", head[:8])[0] <= MAX_SAFETENSORS_HEADER


def _load_safetensors(path: Path, data: bytes, device: str | torch.device) -> dict[str, Any]:
    """A Basin-exported .safetensors (config in its metadata), from its bytes (read by the checked reader), as the
    same dict a .pt checkpoint gives."""
    from safetensors import SafetensorError
    from safetensors.torch import load as st_load

    try:
        if len(data) < 8 or struct.unpack("<Q", data[:8])[0] > min(MAX_SAFETENSORS_HEADER, len(data) - 8):
            raise ValueError("bad header length")
        header = json.loads(data[8 : 8 + struct.unpack("<Q", data[:8])[0]])
        if not isinstance(header, dict):
            raise ValueError("the header is not a JSON object")
        model = {k: v.to(device) for k, v in st_load(data).items()}
    except (SafetensorError, OSError, ValueError, RuntimeError, RecursionError) as exc:
        raise CheckpointError(f"{path.name}: not a readable .safetensors file ({str(exc)[:160]})") from None
    metadata = header.get("__metadata__") or {}
    if not isinstance(metadata, dict) or not isinstance(metadata.get("config"), str):
        raise CheckpointError(f"{path.name}: not a Basin model (no 'config' in the .safetensors metadata)")
    state: dict[str, Any] = {"model": model, "config": metadata["config"]}
    try:
        meta = json.loads(metadata.get("basin", "{}"))
    except (json.JSONDecodeError, RecursionError, TypeError):
        meta = {}
    if isinstance(meta, dict):
        for key, typ in (("arm", str), ("phase", str), ("seed", int), ("epoch", int)):
            if isinstance(meta.get(key), typ) and not isinstance(meta.get(key), bool):
                state[key] = meta[key]
    return state


def open_checkpoint(path: Path, device: str | torch.device = "cpu") -> dict[str, Any]:
    """Load and validate a checkpoint (.pt, or a Basin-exported .safetensors): tensors and primitives only, a
    model state dict of at most MAX_PARAMETERS values and a valid config (as ``state["experiment"]``). Read
    through the checked reader: a FIFO, a device or a compressed .pt is refused before anything is allocated."""
    path = Path(path)
    try:
        with open_regular(path, MAX_CHECKPOINT_BYTES) as (fh, _size):
            head = fh.read(9)
            data = fh.read() if _is_safetensors(path, head) else None
            if data is not None:
                data = head + data
    except UnreadableFile as exc:
        raise CheckpointError(f"{path.name}: {exc.reason}") from None
    except OSError as exc:
        raise CheckpointError(f"{path.name}: cannot read ({exc.strerror or exc})") from None
    state = _load_safetensors(path, data, device) if data is not None else load_checkpoint_file(path, device)
    check_model_state(state, path.name)
    if not isinstance(state.get("config"), str):  # without it, an empty TOML would read as the default experiment
        raise CheckpointError(f"{path.name}: not a Basin model (no 'config' in the checkpoint)")
    try:
        state["experiment"] = config_mod.from_toml(state["config"])
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
    # the suffixes are appended to the name: with_suffix would cut a dotted name ("net-0.5" -> "net-0.pt")
    base = dest.with_suffix("") if dest.suffix in (".pt", SAFETENSORS_SUFFIX) else dest
    meta = {k: state[k] for k in ("arm", "seed", "phase", "epoch") if k in state}
    model = {k: v.detach().cpu().contiguous() for k, v in state["model"].items()}
    buf = io.BytesIO()
    torch.save({"model": model, "config": state["config"], **meta}, buf)
    pt = base.with_name(base.name + ".pt")
    write_bytes_atomic(pt, buf.getvalue())
    st = base.with_name(base.name + SAFETENSORS_SUFFIX)
    write_bytes_atomic(st, st_save(model, metadata={"config": state["config"], "basin": json.dumps(meta)}))
    return pt, st


# -----------------------------------------------------------------------------------------------------
# Resume states (checkpoints/<arm>/s<seed>/latest.pt)
# -----------------------------------------------------------------------------------------------------


def read_resume_state(unit: UnitFolder, device: str | torch.device = "cpu", patience: int = 0
                      ) -> dict[str, Any] | None:
    """A unit's resume state, None when it has none; RunFolderError (one line naming the file) when unusable.
    The one way ``latest.pt`` is read (``basin resume``'s check and the unit continuing it). With early stopping
    (``patience`` > 0, the run's ``finetune.patience``) a fine-tuning state must carry its ``early_stop`` part."""
    path = unit.latest_path
    if not path.exists() and not path.is_symlink():
        return None
    unit.run.check_inside(path)
    try:
        state = load_checkpoint_file(path, device)
    except CheckpointError as exc:
        raise RunFolderError(f"{path}: {str(exc).removeprefix(path.name + ': ')}") from None
    problem = _resume_state_problem(state) or _early_stop_problem(state, patience)
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
    if parameter_count(state["model"]) > MAX_PARAMETERS:
        return f"{parameter_count(state['model']):,} parameters, more than the limit of {MAX_PARAMETERS:,}"
    if state["stage"] != "pretrain":
        if not is_int(state.get("epoch")) or state["epoch"] < 0:
            return "'epoch' must be a non-negative integer"
        if not isinstance(state.get("optimizer"), dict):
            return "no 'optimizer' state"
    elif not is_int(state.get("layers_done", 0)):
        return "'layers_done' must be an integer"
    return ""


MAX_BEST_ERROR = 1.0  # a validation error is a fraction


def _early_stop_problem(state: dict[str, Any], patience: int) -> str:
    """What is wrong with a resume state's ``early_stop`` part ("" when nothing): the best-validation epoch so far (0
    = none yet; from 1 to the state's epoch, and within ``patience`` of it while fine-tuning goes on), its validation
    error (a fraction) and its weights (the model's tensor names and shapes, finite floating-point values)."""
    es = state.get("early_stop")
    if es is None:
        return "no 'early_stop' state (the run's finetune.patience is set)" if patience and \
            state["stage"] == "finetune" else ""
    if state["stage"] == "pretrain":
        return "'early_stop' in a pre-training state"
    if not isinstance(es, dict) or set(es) != {"best_epoch", "best_error", "best_model"}:
        return "'early_stop' must hold best_epoch, best_error and best_model"
    best, err, weights, epoch = es["best_epoch"], es["best_error"], es["best_model"], state["epoch"]
    if not is_int(best) or not (epoch >= 1 and 1 <= best <= epoch or best == 0):
        return f"'early_stop.best_epoch' must be an integer from 1 to the epoch {epoch}, got {str(best)[:20]}"
    if best == 0 and epoch >= 1:
        return f"'early_stop.best_epoch' must be set once an epoch is done (epoch {epoch})"
    if patience and state["stage"] == "finetune" and best and epoch - best >= patience:
        return f"'early_stop.best_epoch' {best} is {epoch - best} epochs back: the unit would have stopped " \
               f"(finetune.patience {patience})"
    if not isinstance(err, float | int) or isinstance(err, bool) or not 0.0 <= err <= MAX_BEST_ERROR:
        return f"'early_stop.best_error' must be a number from 0 to 1, got {str(err)[:20]}"
    if not isinstance(weights, dict) or not all(isinstance(v, torch.Tensor) for v in weights.values()):
        return "'early_stop.best_model' must be a state dict of tensors"
    if best == 0:
        return "" if not weights else "'early_stop.best_model' must be empty before a best epoch"
    want = {k: tuple(v.shape) for k, v in state["model"].items()}
    got = {k: tuple(v.shape) for k, v in weights.items()}
    if got != want:
        key = (sorted(set(got) ^ set(want)) or [k for k in want if got[k] != want[k]])[0]
        return f"'early_stop.best_model' does not match 'model' ({str(key)[:80]}: {got.get(key, 'missing')} vs " \
               f"{want.get(key, 'missing')})"
    model = state["model"]
    bad = next((k for k, v in weights.items() if v.dtype != model[k].dtype
                or (v.is_floating_point() and not bool(torch.isfinite(v).all()))), None)
    if bad is not None:
        return f"'early_stop.best_model' tensor {str(bad)[:80]!r} is not finite weights of the model's type"
    return ""


def read_weights(unit: UnitFolder, epoch: int, expected: dict[str, tuple[int, ...]] | None = None,
                 device: str | torch.device = "cpu") -> dict[str, torch.Tensor]:
    """The model state of weights checkpoint ``e<epoch>.pt`` (what the analyses read), with the checks resume
    makes: read through the checked reader, a dict of named floating-point tensors within the parameter limit,
    and (given ``expected``, from ``model_shapes``) the names and shapes of the model the run's config builds.
    RunFolderError names the file."""
    path = unit.checkpoint_path(epoch)
    try:
        state = load_checkpoint_file(path, device)
        model = check_model_state(state, path.name)
    except CheckpointError as exc:
        raise RunFolderError(f"{path}: {str(exc).removeprefix(path.name + ': ')}") from None
    bad = next((k for k, v in model.items() if not v.is_floating_point()), None)
    if bad is not None:
        raise RunFolderError(f"{path}: tensor {bad[:80]!r} is not floating-point weights")
    if expected is not None:
        _check_shapes(path, model, expected)
    return model


def _check_shapes(path: Path, model: dict[str, torch.Tensor], expected: dict[str, tuple[int, ...]]) -> None:
    got = {k: tuple(v.shape) for k, v in model.items()}
    if got != expected:
        diff = sorted(set(got) ^ set(expected)) or [k for k in expected if got[k] != expected[k]]
        key = diff[0]
        raise RunFolderError(f"{path}: does not match the config's model ({key[:80]}: checkpoint "
                             f"{got.get(key, 'missing')}, config {expected.get(key, 'missing')})")


def verify_resume_states(folder: RunFolder, cfg: config_mod.ExperimentConfig, manifest: dict[str, Any]) -> None:
    """Before a resume trusts them: every unit's latest.pt loads and its tensors match the model the config
    builds (names and shapes). RunFolderError names the first file that does not."""
    expected = model_shapes(folder, cfg, manifest)
    for seed in cfg.seed_values:
        for arm in cfg.arms:
            unit = folder.unit(arm, seed)
            state = read_resume_state(unit, patience=cfg.finetune.patience)
            if state is not None and expected is not None:
                _check_shapes(unit.latest_path, state["model"], expected)


def model_shapes(folder: RunFolder, cfg: config_mod.ExperimentConfig,
                 manifest: dict[str, Any]) -> dict[str, tuple[int, ...]] | None:
    """Tensor names and shapes of the model the run's config builds for the data its manifest records (None when
    the manifest does not record the data's shape); RunFolderError when those are out of range."""
    from desktop_app.core.training.models import build_model

    input_shape, n_classes = manifest.get("input_shape"), manifest.get("n_classes")
    if input_shape is None or input_shape == [] or n_classes is None:
        return None
    if not isinstance(input_shape, list) or not all(is_int(n) for n in input_shape) or \
            not is_int(n_classes) or not 1 <= n_classes <= MAX_CLASSES or any(n <= 0 for n in input_shape) or \
            int(torch.tensor(input_shape, dtype=torch.float64).prod()) > MAX_INPUT_VALUES:
        raise RunFolderError(f"{folder.manifest_path}: input_shape {str(input_shape)[:60]} / n_classes "
                             f"{str(n_classes)[:20]} are out of range")
    try:
        model = build_model(cfg.model, tuple(input_shape), int(n_classes), 0)
    except (ValueError, RuntimeError, config_mod.ConfigError) as exc:
        raise RunFolderError(f"{folder.manifest_path}: input_shape {input_shape} / n_classes {n_classes} do "
                             f"not fit the config's model ({str(exc).splitlines()[0][:120]})") from None
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}
