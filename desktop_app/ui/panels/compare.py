"""How a comparison looks, the same in every panel that overlays one (Curves, Summary, Trajectories): each run a
line style in the order the user chose the runs, each arm its colour in every run, legends naming runs by what
differs between them (docs/ARCHITECTURE.md, "Comparing runs")."""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import Qt

from desktop_app.core.lab.comparison import Comparison

RUN_STYLES = (Qt.PenStyle.SolidLine, Qt.PenStyle.DashLine, Qt.PenStyle.DotLine, Qt.PenStyle.DashDotLine,
              Qt.PenStyle.DashDotDotLine)
STYLE_NAMES = {Qt.PenStyle.SolidLine: "solid", Qt.PenStyle.DashLine: "dashed", Qt.PenStyle.DotLine: "dotted",
               Qt.PenStyle.DashDotLine: "dash-dot", Qt.PenStyle.DashDotDotLine: "dash-dot-dot"}
RUN_SYMBOLS = ("o", "t", "s", "d", "+")  # scatter markers per run, where lines are not drawn (Summary)


def run_style(index: int) -> Qt.PenStyle:
    """The line style of the ``index``-th run of a comparison (cycling after five runs)."""
    return RUN_STYLES[index % len(RUN_STYLES)]


def comparison_arms(comparison: Comparison) -> list[str]:
    """Every arm of every compared run, in first-seen order: one colour list for all runs, so an arm keeps its
    colour whichever run it is in."""
    arms: list[str] = []
    for r in comparison:
        for arm in [*r.data.arms, *(a for a, _ in r.data.units())]:
            if arm not in arms:
                arms.append(arm)
    return arms


def fit_legend_columns(legend: pg.LegendItem, width: float, most: int) -> int:
    """Give a comparison's row legend as many columns (at most ``most``) as ``width`` pixels hold, at least one:
    with a fixed count, long run names made it wider than the panel, and the plots laid out beside it were pushed
    past the right edge. Returns the column count."""
    if not legend.items:
        return legend.columnCount
    cols = min(most, len(legend.items))
    while True:
        legend.setColumnCount(cols)
        if cols == 1 or legend.layout.preferredWidth() <= width - 20:
            return cols
        cols -= 1


__all__ = ["RUN_STYLES", "RUN_SYMBOLS", "STYLE_NAMES", "comparison_arms", "fit_legend_columns", "run_style"]
