"""Opening a run folder for writing: a fresh run into an empty folder, or a resume of the run it holds.

Both take the folder's lock first (``lock``), so every check below and every write after it is made by the
one writer. A resume reads the manifest strictly and compares ``config.toml`` with the config hash the run
started with: an edited config is refused, naming both hashes, unless forced; a forced resume records the change
in the manifest (``config_changes``) and carries on with the edited config.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from desktop_app.core import config as config_mod
from desktop_app.core.runfolder.layout import MANIFEST, RunFolder, RunFolderError
from desktop_app.core.runfolder.lock import RunLock
from desktop_app.core.runfolder.manifest import read_manifest, write_manifest
from desktop_app.core.runfolder.metrics import read_metrics
from desktop_app.core.runfolder.replay import read_config


def open_new(folder: RunFolder) -> RunLock:
    """Lock a folder for a fresh run; refused when it already holds a run (its files are never overwritten)."""
    lock = folder.lock()
    if folder.is_run():
        lock.release()
        raise RunFolderError(f"{folder.root} already holds a run; pick a new folder or resume it")
    return lock


def open_resume(folder: RunFolder, force: bool = False) -> tuple[RunLock, config_mod.ExperimentConfig,
                                                                  dict[str, Any]]:
    """Lock a folder to resume it: (lock, config, manifest); RunFolderError (one line) when it cannot be."""
    lock = folder.lock()
    try:
        manifest = read_manifest(folder)
        if not manifest:
            raise RunFolderError(f"{folder.root / MANIFEST}: missing: not a run Basin can resume")
        cfg = read_config(folder, validate=True)
        read_metrics(folder, cfg.arms)  # every unit's rows are checked before any is rewritten
        recorded, current = manifest.get("config_hash", ""), cfg.hash()
        if recorded and recorded != current:
            if not force:
                raise RunFolderError(
                    f"{folder.config_path}: edited since the run started (config hash {current}, the manifest "
                    f"has {recorded}); resume with --force to continue with the edited config")
            changes = list(manifest.get("config_changes", []))
            changes.append({"from_hash": recorded, "to_hash": current,
                            "at": datetime.now().astimezone().isoformat(timespec="seconds")})
            manifest.update(config_hash=current, config_changes=changes)
            write_manifest(folder, manifest)
        return lock, cfg, manifest
    except BaseException:
        lock.release()
        raise
