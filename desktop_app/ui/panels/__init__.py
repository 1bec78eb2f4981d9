"""Live results panels: each reads the RunStore and exports PNG/SVG/CSV.

``PANELS`` maps the dock title to the panel class; ``make_panels(store)`` builds one of each, in the order
the main window should show them.
"""

from __future__ import annotations

from desktop_app.ui.panels.base import Panel
from desktop_app.ui.panels.curves import CurvesPanel
from desktop_app.ui.panels.filters import FiltersPanel
from desktop_app.ui.panels.summary import SummaryPanel
from desktop_app.ui.panels.trajectory import TrajectoryPanel
from desktop_app.ui.run_store import RunStore

PANELS: dict[str, type[Panel]] = {
    "Filters": FiltersPanel,
    "Trajectories": TrajectoryPanel,
    "Curves": CurvesPanel,
    "Summary": SummaryPanel,
}


def make_panels(store: RunStore) -> dict[str, Panel]:
    """One instance of every panel, all reading ``store``."""
    return {name: cls(store) for name, cls in PANELS.items()}


__all__ = ["PANELS", "CurvesPanel", "FiltersPanel", "Panel", "SummaryPanel", "TrajectoryPanel", "make_panels"]
