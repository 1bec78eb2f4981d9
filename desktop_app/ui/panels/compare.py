"""How a comparison looks, the same in every panel that overlays one (Curves, Summary, Trajectories): each run a
line style in the order the user chose the runs, each arm its colour in every run, legends naming runs by what
differs between them (docs/ARCHITECTURE.md, "Comparing runs"). The views that show one run at a time say so while a
comparison is open: ``ui/one_run_note.py``."""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QFontMetrics

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


def _full_text(label: pg.LabelItem) -> str:
    """The label's whole text: what it was given, before ``elide_legend`` shortened it."""
    full = getattr(label, "_basin_full_text", None)
    if full is None or (label.text != full and label.text != getattr(label, "_basin_elided", None)):
        full = label.text  # set anew since (Summary rewrites its "mean" entry)
    label._basin_full_text = full  # type: ignore[attr-defined]
    return full


def elide_legend(legend: pg.LegendItem, width: float | None) -> None:
    """Shorten each entry longer than one column of ``width`` pixels holds to "…" at its end, its whole text in the
    entry's tooltip; ``None``: every entry gets its whole text back."""
    for sample, label in legend.items:
        full = _full_text(label)
        text = full
        if width is not None:
            room = int(min(width, 100_000) - 20 - sample.boundingRect().width() - 30)
            text = QFontMetrics(label.item.font()).elidedText(full, Qt.TextElideMode.ElideRight, max(room, 40))
        if text != label.text:
            label._basin_elided = text  # type: ignore[attr-defined]
            label.setText(text)
        label.setToolTip(full if text != full else "")


ELIDED_COLUMN_PX = 360  # an elided entry keeps at least this much room: two columns of run names at 1280x800


def fit_legend_columns(legend: pg.LegendItem, width: float, most: int, elided_px: float = ELIDED_COLUMN_PX,
                       max_rows: int | None = None) -> int:
    """Give a comparison's row legend as many columns (at most ``most``) as ``width`` pixels hold, at least one:
    with a fixed count, long run names made it wider than the panel, and the plots laid out beside it were pushed
    past the right edge. When no count holds the whole texts (runs named by 200 characters of fields), entries are
    elided to columns of at least ``elided_px``, each with its whole text in its tooltip: the legend stays inside
    the panel and takes few rows from the plots. ``max_rows``: a panel whose plots share a fixed height with the
    legend (Summary) asks for at most that many rows, eliding entries (never below ``elided_px``) rather than
    adding rows. Returns the column count."""
    if not legend.items:
        return legend.columnCount
    elide_legend(legend, None)  # whole texts back: a wider panel, or a new comparison, may hold them
    n = len(legend.items)
    fewest = 1
    if max_rows and width >= 300:
        fewest = max(1, min(most, n, -(-n // max_rows), int((width - 20) // elided_px)))
    for cols in range(min(most, n), fewest - 1, -1):
        legend.setColumnCount(cols)
        if legend.layout.preferredWidth() <= width - 20:
            return cols
    if width < 300:  # not laid out yet; its resize fits it again
        return 1
    cols = fewest if max_rows else max(1, min(most, n, int((width - 20) // elided_px)))
    while True:
        elide_legend(legend, (width - 20) / cols)
        legend.setColumnCount(cols)
        if cols == 1 or legend.layout.preferredWidth() <= width - 20:
            return cols
        cols -= 1


__all__ = ["ELIDED_COLUMN_PX", "RUN_STYLES", "RUN_SYMBOLS", "STYLE_NAMES", "comparison_arms", "elide_legend",
           "fit_legend_columns", "run_style"]
