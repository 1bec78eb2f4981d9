"""The workspace (where run folders go) and a run's provenance (versions, git commit, the command that
repeats it).

The run folder itself (layout, lock, persistence, replay, listing) has one owner, ``core.runfolder``; its
reading API is re-exported here for the callers that predate it. Torch-free: the UI reads this module.
"""

from __future__ import annotations

import os
import platform
import shlex
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from desktop_app.core.runfolder import (  # noqa: F401 - re-exported for older callers
    RunFolder,
    RunFolderError,
    RunInfo,
    final_test_errors,
    list_runs,
    read_manifest,
    read_metrics,
    replay,
    run_info,
)
from desktop_app.core.runfolder.layout import CONFIG
from desktop_app.core.runfolder.metrics import COLUMNS as METRIC_COLUMNS  # noqa: F401
from desktop_app.core.runfolder.metrics import SPLITS  # noqa: F401


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
    return shlex.join(["basin", "run", str(run_dir / CONFIG), "--out", str(run_dir) + "-rerun"])


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


def now_iso() -> str:
    return datetime.now().astimezone().isoformat(timespec="seconds")



class RunWriter:
    """The engine's and a unit's writes into a run folder, through its owner (``core.runfolder``): every path
    checked to stay inside, every write atomic, an unreadable manifest never rewritten."""

    def __init__(self, run_dir: Path) -> None:
        from desktop_app.core.runfolder.sink import RunSink

        self.dir = Path(run_dir)
        self.folder = RunFolder(self.dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self._sink = RunSink(self.folder)
        self._unit_rows: dict[tuple[str, int], list[dict[str, Any]]] = {}
        self._dirty: set[tuple[str, int]] = set()  # units whose rows were added but not yet written

    def write_config(self, cfg: Any) -> None:
        self._sink.write_config(cfg)

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        self._sink.write_manifest(manifest)

    def update_manifest(self, **changes: Any) -> None:
        self._sink.update_manifest(**changes)

    def load_unit(self, arm: str, seed: int, keep_finetune_upto: int, keep_pretrain_layers: int) -> None:
        """On resume: keep only the rows a checkpoint covers (later ones are recomputed identically)."""
        unit = self._sink.unit(arm, seed)
        unit.resume(keep_finetune_upto, keep_pretrain_layers)
        self._dirty.discard((arm, int(seed)))
        self._unit_rows[(arm, int(seed))] = unit._rows

    def add_rows(self, arm: str, seed: int, rows: list[dict[str, Any]], flush: bool = True) -> None:
        """Add a unit's metrics rows; ``flush=False`` leaves the file as it is until ``flush_rows`` (a unit writes
        its rows together with its resume state, ``training.unit.UnitRun.flush``)."""
        unit = self._sink.unit(arm, seed)
        unit._rows.extend(rows)
        if flush:
            unit._flush()
        else:
            self._dirty.add((arm, int(seed)))

    def flush_rows(self, arm: str, seed: int) -> None:
        """Write the unit's metrics file if rows were added since it was last written."""
        key = (arm, int(seed))
        if key in self._dirty:
            self._dirty.discard(key)
            self._sink.unit(arm, seed)._flush()

    def write_merged_metrics(self) -> None:
        self._sink.merge_metrics()

    def save_array(self, rel: str, arr: Any) -> None:
        self.folder.save_array(self.folder.path(*Path(rel).parts), arr)
