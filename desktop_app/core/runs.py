"""Run folders: the engine's events persisted, so a past run replays into the panels or resumes.

Layout (all writes atomic, temp + rename):
  config.toml            the ExperimentConfig
  manifest.json          versions, git commit, config hash, seeds, arms, device, status, timings
  metrics.csv            long format: arm, seed, phase, layer, epoch, split, nll, error, recon_error
  metrics/<arm>_s<seed>.csv   the same rows per (arm, seed), rewritten each epoch (what resume and replay read)
  snapshots/<arm>/s<seed>/filters_<phase>_<epoch>.npy and probe_<epoch>.npy
  checkpoints/<arm>/s<seed>/latest.pt (resume state) and e<epoch>.pt (weights along the trajectory)

Torch-free: the UI's run history reads this module.
"""

from __future__ import annotations

import csv
import io
import json
import os
import platform
import shlex
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from desktop_app.core import config as config_mod
from desktop_app.core.atomic import write_bytes_atomic, write_text_atomic
from desktop_app.core.events import (
    AnalysisFinished,
    CheckpointSaved,
    EpochMetrics,
    Event,
    FilterSnapshot,
    PretrainEpoch,
    ProbeOutputs,
    RunFinished,
    RunStarted,
)

METRIC_COLUMNS = ("arm", "seed", "phase", "layer", "epoch", "split", "nll", "error", "recon_error")
SPLITS = ("train", "valid", "test")


def default_workspace() -> Path:
    """Where runs go unless the user picks a folder: the platform's user data dir."""
    env = os.environ.get("BASIN_WORKSPACE")
    if env:
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_data_dir("basin", appauthor=False)) / "runs"


def new_run_dir(workspace: Path, name: str) -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    safe = "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in name)[:40] or "run"
    base = Path(workspace) / f"{stamp}-{safe}"
    path, i = base, 1
    while path.exists():
        path = base.with_name(f"{base.name}-{i}")
        i += 1
    return path


def reproduce_command(run_dir: Path) -> str:
    """The `basin run` command that repeats a run headless, into a new folder beside it (torch-free, so the
    UI can put it on the clipboard)."""
    run_dir = Path(run_dir).resolve()
    return shlex.join(["basin", "run", str(run_dir / "config.toml"), "--out", str(run_dir) + "-rerun"])


def git_commit() -> str:
    """The source tree's commit, if it is a git checkout with git available."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=5,
        )
        return out.stdout.strip() if out.returncode == 0 else ""
    except (OSError, subprocess.SubprocessError):
        return ""


def package_versions() -> dict[str, str]:
    from importlib import metadata

    versions = {"python": sys.version.split()[0], "platform": platform.platform()}
    for pkg in ("basin", "torch", "numpy", "scikit-learn", "PySide6-Essentials", "pyqtgraph"):
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            continue
    return versions


# -----------------------------------------------------------------------------------------------------
# Writing
# -----------------------------------------------------------------------------------------------------


def _rows_to_csv(rows: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=METRIC_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _fmt(row.get(k, "")) for k in METRIC_COLUMNS})
    return buf.getvalue()


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return repr(v)
    return str(v)


class RunWriter:
    """Persists the engine's events into a run folder."""

    def __init__(self, run_dir: Path) -> None:
        self.dir = Path(run_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self._unit_rows: dict[tuple[str, int], list[dict[str, Any]]] = {}

    # manifest / config ------------------------------------------------------------------------------
    def write_config(self, cfg: config_mod.ExperimentConfig) -> None:
        write_text_atomic(self.dir / "config.toml", cfg.to_toml())

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        write_text_atomic(self.dir / "manifest.json", json.dumps(manifest, indent=2, sort_keys=True))

    def update_manifest(self, **changes: Any) -> None:
        manifest = read_manifest(self.dir)
        manifest.update(changes)
        self.write_manifest(manifest)

    # metrics -----------------------------------------------------------------------------------------
    def load_unit(self, arm: str, seed: int, keep_finetune_upto: int, keep_pretrain_layers: int) -> None:
        """On resume: keep only the rows a checkpoint covers (later ones are recomputed identically)."""
        rows = _read_csv(self.dir / "metrics" / f"{arm}_s{seed}.csv")
        kept = [
            r
            for r in rows
            if (r["phase"] == "finetune" and int(r["epoch"]) <= keep_finetune_upto)
            or (r["phase"] == "pretrain" and int(r["layer"]) < keep_pretrain_layers)
        ]
        self._unit_rows[(arm, seed)] = kept
        self._flush_unit(arm, seed)

    def add_rows(self, arm: str, seed: int, rows: list[dict[str, Any]]) -> None:
        self._unit_rows.setdefault((arm, seed), []).extend(rows)
        self._flush_unit(arm, seed)

    def _flush_unit(self, arm: str, seed: int) -> None:
        rows = self._unit_rows[(arm, seed)]
        write_text_atomic(self.dir / "metrics" / f"{arm}_s{seed}.csv", _rows_to_csv(rows))

    def write_merged_metrics(self) -> None:
        """metrics.csv: every unit's rows, seed-major (the order the engine runs them)."""
        rows: list[dict[str, Any]] = []
        for path in sorted((self.dir / "metrics").glob("*.csv"), key=_unit_sort_key(self.dir)):
            rows.extend(_read_csv(path))
        write_text_atomic(self.dir / "metrics.csv", _rows_to_csv(rows))

    # arrays ----------------------------------------------------------------------------------------
    def save_array(self, rel: str, arr: np.ndarray) -> None:
        buf = io.BytesIO()
        np.save(buf, np.ascontiguousarray(arr, dtype=np.float32))
        write_bytes_atomic(self.dir / rel, buf.getvalue())


def _unit_sort_key(run_dir: Path):
    try:
        cfg = config_mod.load(run_dir / "config.toml", validate=False)
        arms = list(cfg.arms)
    except config_mod.ConfigError:
        arms = []

    def key(path: Path) -> tuple[int, int, str]:
        arm, _, seed = path.stem.rpartition("_s")
        return (int(seed) if seed.isdigit() else 0, arms.index(arm) if arm in arms else len(arms), arm)

    return key


# -----------------------------------------------------------------------------------------------------
# Reading
# -----------------------------------------------------------------------------------------------------


def _read_csv(path: Path) -> list[dict[str, str]]:
    if not path.exists():
        return []
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def read_manifest(run_dir: Path) -> dict[str, Any]:
    path = Path(run_dir) / "manifest.json"
    if not path.exists():
        return {}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return {}


def read_metrics(run_dir: Path) -> list[dict[str, str]]:
    """All metric rows: the per-unit files (complete even for a run that was stopped)."""
    run_dir = Path(run_dir)
    unit_files = sorted((run_dir / "metrics").glob("*.csv"), key=_unit_sort_key(run_dir))
    if unit_files:
        rows: list[dict[str, str]] = []
        for path in unit_files:
            rows.extend(_read_csv(path))
        return rows
    return _read_csv(run_dir / "metrics.csv")


@dataclass(frozen=True)
class RunInfo:
    path: Path
    name: str
    created: str
    status: str
    arms: tuple[str, ...]
    seeds: int
    final_test_error: dict[str, float]  # arm -> mean over seeds of the last epoch's test error
    config_hash: str


def final_test_errors(rows: list[dict[str, str]]) -> dict[str, dict[int, float]]:
    """arm -> seed -> test error at that seed's last fine-tuning epoch."""
    last: dict[tuple[str, int], tuple[int, float]] = {}
    for r in rows:
        if r["phase"] != "finetune" or r["split"] != "test":
            continue
        key, epoch = (r["arm"], int(r["seed"])), int(r["epoch"])
        if key not in last or epoch >= last[key][0]:
            last[key] = (epoch, float(r["error"]))
    out: dict[str, dict[int, float]] = {}
    for (arm, seed), (_, err) in last.items():
        out.setdefault(arm, {})[seed] = err
    return out


def run_info(run_dir: Path) -> RunInfo | None:
    run_dir = Path(run_dir)
    manifest = read_manifest(run_dir)
    if not manifest:
        return None
    finals = final_test_errors(read_metrics(run_dir))
    return RunInfo(
        path=run_dir,
        name=manifest.get("name", run_dir.name),
        created=manifest.get("created", ""),
        status=manifest.get("status", "unknown"),
        arms=tuple(manifest.get("arms", ())),
        seeds=len(manifest.get("seeds", ())),
        final_test_error={arm: float(np.mean(list(v.values()))) for arm, v in finals.items()},
        config_hash=manifest.get("config_hash", ""),
    )


def list_runs(workspace: Path) -> list[RunInfo]:
    """Runs in a workspace folder, newest first."""
    workspace = Path(workspace)
    if not workspace.is_dir():
        return []
    infos = [run_info(p) for p in workspace.iterdir() if p.is_dir() and (p / "manifest.json").exists()]
    return sorted((i for i in infos if i is not None), key=lambda i: i.created, reverse=True)


def _snapshot_files(run_dir: Path) -> list[tuple[str, int, Path]]:
    out = []
    for path in (run_dir / "snapshots").glob("*/s*/*.npy"):
        arm, seed = path.parent.parent.name, int(path.parent.name[1:])
        out.append((arm, seed, path))
    return out


def replay(run_dir: Path) -> Iterator[Event]:
    """The run's events as the engine emitted them (per unit order), rebuilt from the folder."""
    run_dir = Path(run_dir)
    manifest = read_manifest(run_dir)
    cfg = config_mod.load(run_dir / "config.toml", validate=False)
    yield RunStarted(
        run_dir=str(run_dir),
        name=cfg.name,
        arms=tuple(cfg.arms),
        seeds=tuple(cfg.seed_values),
        device=manifest.get("device", "cpu"),
        total_steps=0,
        resumed=False,
    )
    rows = read_metrics(run_dir)
    input_shape = tuple(manifest.get("input_shape", ()))
    snaps: dict[tuple[str, int], list[Path]] = {}
    for arm, seed, path in _snapshot_files(run_dir):
        snaps.setdefault((arm, seed), []).append(path)
    units = sorted({(r["arm"], int(r["seed"])) for r in rows} | set(snaps), key=lambda u: (
        u[1], cfg.arms.index(u[0]) if u[0] in cfg.arms else 99))
    phase_order = {"init": 0, "pretrain": 1, "finetune": 2}
    for arm, seed in units:
        for path in sorted(snaps.get((arm, seed), []), key=_snap_key(phase_order)):
            stem = path.stem
            if stem.startswith("filters_"):
                _, phase, epoch = stem.split("_")
                yield FilterSnapshot(arm, seed, phase, int(epoch), np.load(path), input_shape)
            elif stem.startswith("probe_"):
                yield ProbeOutputs(arm, seed, int(stem.split("_")[1]), np.load(path))
        unit_rows = [r for r in rows if r["arm"] == arm and int(r["seed"]) == seed]
        for r in unit_rows:
            if r["phase"] == "pretrain":
                yield PretrainEpoch(arm, seed, int(r["layer"]), int(r["epoch"]), float(r["recon_error"]))
        by_epoch: dict[int, dict[str, tuple[float, float]]] = {}
        for r in unit_rows:
            if r["phase"] == "finetune":
                by_epoch.setdefault(int(r["epoch"]), {})[r["split"]] = (float(r["nll"]), float(r["error"]))
        for epoch in sorted(by_epoch):
            m = by_epoch[epoch]
            if all(s in m for s in SPLITS):
                yield EpochMetrics(arm, seed, epoch, *m["train"], *m["valid"], *m["test"])
        for ck in sorted((run_dir / "checkpoints" / arm / f"s{seed}").glob("e*.pt")):
            yield CheckpointSaved(arm, seed, "finetune", int(ck.stem[1:]), str(ck))
    yield from _replay_analyses(run_dir)
    yield RunFinished(
        status=manifest.get("status", "unknown"),
        run_dir=str(run_dir),
        elapsed_s=float(manifest.get("elapsed_s", 0.0)),
        message="replayed",
    )


RUN_ANALYSES = ("output_variance",)  # analyses that are the result of a run itself (kind = output-variance)


def _replay_analyses(run_dir: Path) -> Iterator[Event]:
    from desktop_app.core.analysis.store import list_results, load_result

    for name in RUN_ANALYSES:
        for meta in list_results(run_dir, name)[:1]:
            result = load_result(run_dir, name, meta.get("params", {}))
            if result is not None:
                yield AnalysisFinished(name, result)


def _snap_key(phase_order: dict[str, int]):
    def key(path: Path) -> tuple[int, int, int]:
        parts = path.stem.split("_")
        if parts[0] == "filters":
            return (0, phase_order.get(parts[1], 9), int(parts[2]))
        return (1, 0, int(parts[1]))

    return key


def now_iso() -> str:
    return datetime.now().astimezone().isoformat(timespec="seconds")
