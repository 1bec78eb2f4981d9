"""What a run's storage policy left out, as the panels say it (``ExperimentConfig.storage_note``).

A study keeps filters, probe outputs and trajectory checkpoints for its first seeds only (``snapshots.keep_seeds``),
so the Filters panel lists only those seeds and the analyses that read snapshots or checkpoints (function space,
pitfall, error surface) work on them; each says so rather than showing an empty or partial result unexplained.
"""

from __future__ import annotations

from desktop_app.core.config import ConfigError
from desktop_app.core.runfolder import RunFolder, RunFolderError, read_config

_NOTES: dict[str, str] = {}  # run folder -> its note (a run's config does not change)


def storage_note(run_dir: str) -> str:
    """What the run's storage policy leaves out ("" when it keeps everything, or the config cannot be read)."""
    if not run_dir:
        return ""
    if run_dir not in _NOTES:
        try:
            _NOTES[run_dir] = read_config(RunFolder(run_dir)).storage_note()
        except (ConfigError, RunFolderError, OSError):
            _NOTES[run_dir] = ""
    return _NOTES[run_dir]
