"""The run folder's one owner: its layout, safe paths, the writer lock, persistence and replay.

Everything else asks this package for run-folder paths and never spells them itself (docs/ARCHITECTURE.md,
"Run folder"). Torch-free, so the UI reads it; it imports no analysis (cached results are rebuilt through the
allow-list in ``core.results``).

  layout         RunFolder (paths, safe resolution, bounded reads, atomic writes), UnitFolder, RunFolderError
  lock           RunLock (O_EXCL lock file, pid + host, stale locks taken over and reported), is_locked
  manifest       read_manifest (typed), update_manifest (never rewrites one it could not read), ManifestError
  metrics        checked CSV rows, final_test_errors
  online         an online run's per-unit curve files (OnlineSink, read_online)
  sink           RunSink / UnitSink: events -> files
  replay         replay: files -> events (the exact inverse of the sink), read_config
  results_cache  the analyses/ cache files, rebuilt only through core.results.RESULT_TYPES
  listing        list_runs / RunInfo: every readable run, and unreadable ones with the reason
"""

from __future__ import annotations

from desktop_app.core.runfolder.layout import RunFolder, RunFolderError, UnitFolder
from desktop_app.core.runfolder.listing import RunInfo, list_runs, run_info
from desktop_app.core.runfolder.lock import LockInfo, RunFolderLocked, RunLock, is_locked
from desktop_app.core.runfolder.manifest import ManifestError, read_manifest, update_manifest
from desktop_app.core.runfolder.metrics import final_test_errors, read_metrics
from desktop_app.core.runfolder.online import OnlineSink, read_online
from desktop_app.core.runfolder.replay import read_config, replay
from desktop_app.core.runfolder.sink import RunSink, UnitSink

__all__ = [
    "LockInfo", "ManifestError", "OnlineSink", "RunFolder", "RunFolderError", "RunFolderLocked", "RunInfo", "RunLock",
    "RunSink", "UnitFolder", "UnitSink", "final_test_errors", "is_locked", "list_runs", "read_config", "read_manifest",
    "read_metrics", "read_online", "replay", "run_info", "update_manifest",
]
