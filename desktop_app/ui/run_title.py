"""Which run is shown: "quick-demo · 30 Nov 2026 07:50 · live" for the window title and every panel's header.

Its own small module (no pyqtgraph) so the main window can name the run before the panels are built.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from desktop_app.ui.run_store import RunStore


def run_caption(store: RunStore) -> str:
    """"name · date · live|replayed" for the run a store holds ("" when it holds none)."""
    if not store.run_dir:
        return ""
    folder = Path(store.run_dir)
    name = store.name or folder.name
    return f"{name} · {run_date(folder)} · {'replayed' if store.replayed else 'live'}"


def run_date(folder: Path) -> str:
    """When a run started: from its folder name's YYYYMMDD-HHMMSS stamp (runs.new_run_dir), else the folder's
    modification time."""
    try:
        when = datetime.strptime(folder.name[:15], "%Y%m%d-%H%M%S")
    except ValueError:
        try:
            when = datetime.fromtimestamp(folder.stat().st_mtime)
        except OSError:
            return "date unknown"
    return when.strftime("%d %b %Y %H:%M")
