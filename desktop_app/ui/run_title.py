"""Which run is shown: "quick-demo · 30 Nov 2026 07:50 · live" for the window title and every panel's header.

Its own small module (no pyqtgraph) so the main window can name the run before the panels are built.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

from desktop_app.core.runfolder import RunFolder, RunFolderError
from desktop_app.ui.run_store import RunStore

MAX_MANIFEST_BYTES = 1_000_000


def run_caption(store: RunStore) -> str:
    """"name · date · live|replayed" for the run a store holds ("" when it holds none); a live run that has ended
    says how ("· completed", "· stopped"): the headers kept "· live" after the run was over."""
    if not store.run_dir:
        return ""
    folder = Path(store.run_dir)
    name = store.name or folder.name
    state = "replayed" if store.replayed else ("live" if store.status in ("", "running") else str(store.status))
    return f"{name} · {run_date(folder)} · {state}"


def run_date(folder: Path) -> str:
    """When a run started: its folder name's YYYYMMDD-HHMMSS stamp (runs.new_run_dir), else the "created" time in
    its manifest.json (a folder named by hand, `basin run --out`); never the folder's modification time, which
    moves whenever an analysis is cached in it."""
    try:
        when = datetime.strptime(folder.name[:15], "%Y%m%d-%H%M%S")
    except ValueError:
        when = _manifest_created(folder / "manifest.json")
    return when.strftime("%d %b %Y %H:%M") if when else "date unknown"


def _manifest_created(path: Path) -> datetime | None:
    """The manifest's "created" timestamp; None if the file is missing, too big, not JSON or has none."""
    try:
        folder = RunFolder(path.parent)
        created = json.loads(folder.read_text(path, MAX_MANIFEST_BYTES)).get("created")  # checked: never a FIFO
        return datetime.fromisoformat(created) if isinstance(created, str) else None
    except (RunFolderError, OSError, ValueError, AttributeError, UnicodeDecodeError, RecursionError):
        return None
