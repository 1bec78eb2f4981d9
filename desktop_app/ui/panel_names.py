"""The results panels' titles, in the order the window shows them (``ui.panels.PANELS`` maps each to its class).

Kept apart from ``ui.panels`` (which imports pyqtgraph) so the main window can lay out its panel docks and
paint before the panels themselves are built (docs/PERFORMANCE.md, Start-up).
"""

from __future__ import annotations

PANEL_NAMES = ("Filters", "Trajectories", "Curves", "Summary", "HParams", "Online error", "Error surface",
               "Interpolation", "Function space", "Pitfall", "Output variance")
ANALYSIS_PANELS = ("Error surface", "Interpolation", "Function space", "Pitfall", "Output variance")
COMPARISON_PANELS = ("HParams",)  # draw only a comparison of runs (the run shown alone has nothing to plot there)
FIRST_PANEL = "Filters"
