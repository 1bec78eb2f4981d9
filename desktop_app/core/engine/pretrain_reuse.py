"""Reusing another run's pre-training when it is the same, bit for bit (docs/ARCHITECTURE.md, "Reusing
pre-training").

The labels claims pre-train the same nets on the same unlabelled pool at every label count: only fine-tuning
differs. Pre-training is a function of the pre-trained arm's settings, the model, the seed, the unlabelled images
and the numerics (device type, threads, torch version), nothing else (``training.greedy``: randomness from (seed,
purpose, layer)). So a unit of a new run whose *pre-training fingerprint* equals that of a unit of a completed run
beside it starts where that unit's fine-tuning started: its weights after pre-training (the donor's epoch-0
checkpoint) become the new unit's resume state at the end of pre-training, with the donor's pre-training rows and
first-layer filter snapshots. The unit then continues as a run stopped right after pre-training does, a path whose
exactness the resume tests hold; the test of this module compares a reused unit's every number with one that
pre-trained itself. Nothing is reused on any doubt (the donor unreadable, not beside this run, another fingerprint,
its epoch-0 checkpoint missing); the manifest records what was reused and the unit's wall time leaves it out.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from desktop_app.core.config import ConfigError, ExperimentConfig
from desktop_app.core.data import DataSplits, load_data
from desktop_app.core.runfolder import RunFolder, RunFolderError, read_config
from desktop_app.core.runfolder.metrics import read_csv, rows_to_csv
from desktop_app.core.runfolder.workspace import read_manifest
from desktop_app.core.training.checkpoint_file import CheckpointError, load_checkpoint_file
from desktop_app.core.training.greedy import pretrained_layer_count
from desktop_app.core.training.step import checkpoint_bytes

PRETRAIN_PHASES = ("init", "pretrain")  # the filter snapshots a unit writes before fine-tuning


def settings_fingerprint(cfg: ExperimentConfig, arm: str, device_type: str, torch_version: str) -> str:
    """What a pre-trained arm's weights depend on besides the images: the arm's settings, which layers are
    pre-trained, the model (its init is drawn from the seed) and the numerics."""
    d = cfg.to_dict()
    what = {"arm": arm, "section": d["pretraining"][arm], "bottom_layers": cfg.pretraining.bottom_layers,
            "model": d["model"], "threads": cfg.threads, "device_type": device_type, "torch": torch_version}
    return hashlib.sha256(json.dumps(what, sort_keys=True, default=str).encode()).hexdigest()


def data_fingerprint(splits: DataSplits) -> str:
    """The unlabelled pool pre-training reads (its images, in order), with the shapes the model is built for."""
    h = hashlib.sha256(json.dumps([list(splits.input_shape), int(splits.n_classes)]).encode())
    pool = splits.unlabelled_x.detach().cpu().contiguous().numpy()
    h.update(str(pool.shape).encode() + str(pool.dtype).encode())
    h.update(memoryview(pool).cast("B"))
    return h.hexdigest()


def reuse_pretraining(run_dir: Path, cfg: ExperimentConfig, splits: DataSplits, device_type: str,
                      donors: Sequence[Path]) -> tuple[list[tuple[str, int, str]], list[str]]:
    """Give each pre-trained (arm, seed) unit of ``run_dir`` that has not started (no resume state) the
    pre-training of the same unit of the first donor whose fingerprint matches; returns ((arm, seed, donor name)
    seeded, one line per donor passed over saying why)."""
    torch_version = torch.__version__
    arms = [a for a in cfg.arms if a != "none"]
    todo = {(a, s) for a in arms for s in cfg.seed_values
            if not RunFolder(run_dir).unit(a, s).latest_path.exists()}
    seeded: list[tuple[str, int, str]] = []
    skipped: list[str] = []
    here = None
    for donor in donors:
        if not todo:
            break
        opened = _open_donor(Path(run_dir), Path(donor))
        if isinstance(opened, str):
            skipped.append(f"{Path(donor).name}: {opened}")
            continue
        dcfg, manifest = opened
        versions = manifest.get("versions")
        theirs_torch = str(versions.get("torch", "")) if isinstance(versions, dict) else ""
        same = [a for a in arms if a in dcfg.arms and settings_fingerprint(cfg, a, device_type, torch_version)
                == settings_fingerprint(dcfg, a, str(manifest.get("device_type", "")), theirs_torch)]
        if not same:
            skipped.append(f"{Path(donor).name}: other pre-training settings, model or numerics")
            continue
        here = here or data_fingerprint(splits)
        try:
            theirs = data_fingerprint(load_data(dcfg.data))
        except (ConfigError, RunFolderError, OSError, ValueError) as exc:  # its data moved or unreadable: not used
            skipped.append(f"{Path(donor).name}: its data cannot be read ({str(exc).splitlines()[0][:200]})")
            continue
        if theirs != here:
            skipped.append(f"{Path(donor).name}: another unlabelled pool")
            continue
        for arm, seed in sorted(todo):
            if arm in same and seed in dcfg.seed_values and _seed_unit(Path(run_dir), cfg, Path(donor), arm, seed):
                seeded.append((arm, seed, Path(donor).name))
                todo.discard((arm, seed))
    return seeded, skipped


def _open_donor(run_dir: Path, donor: Path) -> tuple[ExperimentConfig, dict[str, Any]] | str:
    """The donor's config and manifest, each read once; or why it is passed over."""
    if donor.resolve().parent != run_dir.resolve().parent or donor.resolve() == run_dir.resolve():
        return "not a run folder beside this one"
    try:
        manifest = read_manifest(donor)
        if manifest.get("status") != "completed":
            return f"its status is {manifest.get('status', 'unknown')!r}, not completed"
        return read_config(RunFolder(donor), validate=True), manifest
    except (RunFolderError, ConfigError, OSError, ValueError) as exc:
        return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def _seed_unit(run_dir: Path, cfg: ExperimentConfig, donor: Path, arm: str, seed: int) -> bool:
    """Write the unit's resume state at the end of pre-training, its pre-training rows and its filter snapshots
    from the donor's unit; False (nothing written) when the donor's unit lacks any of them."""
    src, dst = RunFolder(donor).unit(arm, seed), RunFolder(run_dir).unit(arm, seed)
    try:
        state = load_checkpoint_file(src.run.check_inside(src.checkpoint_path(0)))
        rows = [r for r in read_csv(src.run, src.metrics_path) if r.get("phase") == "pretrain"]
    except (CheckpointError, RunFolderError, OSError, ValueError):
        return False
    if not (isinstance(state, dict) and state.get("epoch") == 0 and isinstance(state.get("model"), dict)):
        return False
    layers = pretrained_layer_count(cfg, arm)
    done = {(r.get("layer"), r.get("epoch")) for r in rows}
    epochs = getattr(cfg.pretraining, arm).epochs
    if len({layer for layer, _ in done}) != layers or len(done) != layers * epochs:
        return False  # the donor's rows do not cover its pre-training: its unit is not taken
    snaps = [p for p in sorted(src.snapshots_dir.glob("filters_*.npy"))
             if p.name.split("_")[1] in PRETRAIN_PHASES] if src.snapshots_dir.is_dir() else []
    for p in snaps:
        dst.run.write_bytes(dst.snapshots_dir / p.name, src.run.check_inside(p).read_bytes())
    dst.run.write_text(dst.metrics_path, rows_to_csv(rows))
    dst.write_latest(checkpoint_bytes({
        "stage": "pretrain", "layers_done": layers, "model": state["model"], "arm": arm, "seed": seed,
        "config": cfg.to_toml(), "wall_s": 0.0, "torch_rng": torch.get_rng_state(),
        "pretraining_from": donor.name}))
    return True


__all__ = ["data_fingerprint", "reuse_pretraining", "settings_fingerprint"]
