"""Panel: the base of every live results panel (header, toolbar, plots, PNG/SVG/CSV export).

A panel reads the RunStore only; it redraws on ``store.changed`` when the change touches its data, and
defers the redraw while the main window shows but the panel is hidden (a tab behind another), so many
panels cost nothing until looked at. A visible panel redraws live at a rate its own redraw cost sets, so a
slow panel lags a little instead of freezing the window.
"""

from __future__ import annotations

import csv
import io
import math
import time
import zlib
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar
from xml.sax.saxutils import escape

import numpy as np
import pyqtgraph as pg
from pyqtgraph.exporters import ImageExporter, SVGExporter
from PySide6.QtCore import QBuffer, QByteArray, QEvent, QIODevice, QObject, QRectF, Qt, QTimer
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QMessageBox, QPushButton, QVBoxLayout, QWidget

from desktop_app.core.atomic import write_bytes_atomic, write_text_atomic
from desktop_app.core.lab.comparison import Comparison
from desktop_app.ui.one_run_note import OneRunNote
from desktop_app.ui.panels.flow import flow_container
from desktop_app.ui.run_store import RUN, RunStore, StoreChange
from desktop_app.ui.run_title import run_caption

FOREGROUND = "#202020"
BACKGROUND = "w"
# Tableau 10: readable on white, distinct for the few arms an experiment has. "none" (random init) is
# always orange so it looks the same in every panel and every run.
PALETTE = ((31, 119, 180), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75), (227, 119, 194),
           (127, 127, 127), (188, 189, 34), (23, 190, 207))
RANDOM_COLOR = (255, 127, 14)
DEFAULT_SIZE = (900, 600)
# Exports never depend on the dock's shape: the plots are laid out at EXPORT_LAYOUT_WIDTH x (that / aspect) scene
# pixels, where fonts, legends and markers have their on-screen size, and rendered at the export width, so they
# scale with it (a 1800 px PNG has twice the on-screen font size, the same proportions as a 900 px one).
EXPORT_LAYOUT_WIDTH = 900
DEFAULT_EXPORT_WIDTH = 1600
DEFAULT_ASPECT = 1.6
# Live redraws of a visible panel happen on the ticks of a shared LIVE_INTERVAL_S clock, and a panel whose redraw
# takes t seconds waits at least REDRAW_BUDGET * t (capped) between redraws, so redrawing never takes more than
# ~1/REDRAW_BUDGET of the GUI thread (bench/ui_latency.py measures the result).
LIVE_INTERVAL_S = 1.0
MAX_LIVE_INTERVAL_S = 3.0
REDRAW_BUDGET = 10.0


class _Stagger:
    """Visible panels waiting to draw a newly shown run, drawn one per turn of the event loop: at study size each
    panel's redraw takes a few hundred ms, and drawing four in one go blocked the window for their sum (the
    window sets ``Panel.stagger``; a panel drawn alone, e.g. in a test, redraws at once)."""

    def __init__(self) -> None:
        self.queue: list[Panel] = []
        self.timer: QTimer | None = None

    def add(self, panel: Panel) -> None:
        """Queue a panel; the one on screen (not a tab behind another) goes first."""
        if panel not in self.queue:
            if not panel.visibleRegion().isEmpty():
                self.queue.insert(0, panel)
            else:
                self.queue.append(panel)
        if self.timer is None:
            self.timer = QTimer()
            self.timer.setSingleShot(True)
            self.timer.timeout.connect(self._next)
        if not self.timer.isActive():
            self.timer.start(0)

    def _next(self) -> None:
        if not self.queue:
            return
        panel = self.queue.pop(0)
        try:
            panel.request_refresh()
        except RuntimeError:  # the panel was deleted meanwhile
            pass
        if self.queue and self.timer is not None:
            self.timer.start(0)


_STAGGER = _Stagger()


def arm_color(arm: str, arms: Sequence[str], alpha: int = 255) -> QColor:
    """The arm's colour, the same in every panel: "none" orange, the others in run order."""
    if arm == "none":
        rgb = RANDOM_COLOR
    else:
        others = [a for a in arms if a != "none"]
        i = others.index(arm) if arm in others else zlib.crc32(arm.encode())
        rgb = PALETTE[i % len(PALETTE)]
    return QColor(*rgb, alpha)


def arm_label(arm: str) -> str:
    return "none (random init)" if arm == "none" else arm


def labelled(text: str, widget: QWidget) -> QWidget:
    """``text`` and ``widget`` side by side in one box (they wrap together in a FlowLayout)."""
    box = QWidget()
    row = QHBoxLayout(box)
    row.setContentsMargins(0, 0, 0, 0)
    row.setSpacing(4)
    row.addWidget(QLabel(text))
    row.addWidget(fit_contents(widget))
    return box


def fit_contents(widget: QWidget) -> QWidget:
    """A combo box sized to its longest item as items come and go (the default sizes it once, often empty)."""
    if isinstance(widget, QComboBox):
        widget.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
    return widget


class NarrowLabel(pg.LabelItem):
    """A label that claims no width of its own (only its height), so a long text never widens its column."""

    def updateMin(self) -> None:  # noqa: N802 - pyqtgraph override
        super().updateMin()
        height = self.itemRect().height()
        self.setMinimumWidth(0)
        self._sizeHint[Qt.SizeHint.MinimumSize] = (0, height)
        self._sizeHint[Qt.SizeHint.PreferredSize] = (0, height)
        self.updateGeometry()


class PlotTitle(NarrowLabel):
    """A plot's title that claims no width and elides its text ("…") to the width the plot gets, the whole text
    in its tooltip. pyqtgraph's title claims its text's width: a long title ("autoencoders: 4 pre-trained
    layer(s); probe on 200 train / 200 test examples", an error surface's run, seed and grid) widened its plot
    past the panel at 1280 px, pushing the neighbour plot's title, x label and legend, or the colour bar, off
    the right edge. ``text`` stays the whole title."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.full_text = ""
        self._fitted_to = -1.0

    def setText(self, text: str, **args: Any) -> None:  # noqa: N802 - pyqtgraph override
        self.full_text = text
        self._fitted_to = -1.0
        super().setText(text, **args)
        self._fit()

    def _fit(self) -> None:
        width = self.size().width()
        if width <= 0 or width == self._fitted_to:
            return
        self._fitted_to = width
        full = self.full_text
        super().setText(full)
        # (a title with markup, such as Summary's "<br>" note, is not cut: a cut could fall inside a tag)
        if self.item.boundingRect().width() > width and len(full) > 1 and "<" not in full:
            lo, hi = 0, len(full)  # the longest prefix that fits with "…" (binary search: a handful of layouts)
            while lo < hi:
                mid = (lo + hi + 1) // 2
                super().setText(full[:mid].rstrip() + "…")
                if self.item.boundingRect().width() <= width:
                    lo = mid
                else:
                    hi = mid - 1
            super().setText(full[:lo].rstrip() + "…")
        self.text = full
        self.setToolTip(full if self.item.toPlainText() != full else "")

    def resizeEvent(self, ev: Any) -> None:  # noqa: N802 - Qt override
        self._fit()
        super().resizeEvent(ev)


def elided_title(plot: pg.PlotItem) -> PlotTitle:
    """Put a :class:`PlotTitle` in place of ``plot``'s own title label (same place, options and text)."""
    old = plot.titleLabel
    if isinstance(old, PlotTitle):
        return old
    new = PlotTitle(old.text, parent=plot, **old.opts)
    new.setVisible(old.isVisible())
    plot.layout.removeItem(old)
    old.setParentItem(None)
    if old.scene() is not None:
        old.scene().removeItem(old)
    plot.layout.addItem(new, 0, 1)
    plot.titleLabel = new
    return new


def show_axis_values(plot: pg.PlotItem, shown: bool) -> None:
    """Numbers on a plot's bottom and left axes, or none: an empty plot's axes showed ticks of nothing (the
    previous run's epochs, or 0-1)."""
    for side in ("bottom", "left"):
        plot.getAxis(side).setStyle(showValues=shown)


def style_plot(plot: pg.PlotItem, title: str = "", x: str = "", y: str = "") -> pg.PlotItem:
    """Dark axes and labels on the white background (pyqtgraph's global default is white on black); a title
    that elides rather than widening the plot (:class:`PlotTitle`)."""
    elided_title(plot)
    for name in ("left", "bottom", "right", "top"):
        axis = plot.getAxis(name)
        axis.setPen(pg.mkPen(FOREGROUND))
        axis.setTextPen(pg.mkPen(FOREGROUND))
    if title:
        plot.setTitle(title, color=FOREGROUND, size="11pt")
    if x:
        plot.setLabel("bottom", x, color=FOREGROUND)
    if y:
        plot.setLabel("left", y, color=FOREGROUND)
    plot.showGrid(x=True, y=True, alpha=0.15)
    return plot


class Legend(pg.LegendItem):
    """A legend that draws nothing while it has no entries: pyqtgraph paints an empty legend's frame, a stray
    little box on a plot with nothing to name yet (before Compute, or a plot whose legend a comparison moved)."""

    def paint(self, p, *args) -> None:
        if self.items:
            super().paint(p, *args)


def add_legend(plot: pg.PlotItem, **kwargs: Any) -> Legend:
    """The plot's legend (a ``Legend``), anchored in its view box as ``PlotItem.addLegend`` would."""
    if plot.legend is None:
        plot.legend = Legend(labelTextColor=FOREGROUND, brush=pg.mkBrush(255, 255, 255, 200),
                             pen=pg.mkPen(200, 200, 200), **kwargs)
        plot.legend.setParentItem(plot.vb)
    return plot.legend


def style_sample(style: Qt.PenStyle, colour: Any = "#555555") -> pg.PlotDataItem:
    """A legend sample for a line style ("train" dashed, "test" solid) in a neutral colour: arms keep colours,
    splits and layers are told apart by the dash pattern, and the legend shows it as drawn."""
    return pg.PlotDataItem(pen=pg.mkPen(colour, width=2, style=style))


CORNERS = ((1, 0), (0, 0), (1, 1), (0, 1))  # legend anchors to try, in order: top-right, top-left, bottom-...


def _view_values(plot: pg.PlotItem, xs: np.ndarray, ys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Data (xs, ys) in the view's coordinates (log10 on a log axis), finite points only."""
    xs, ys = np.asarray(xs, float).ravel(), np.asarray(ys, float).ravel()
    log_x, log_y = plot.ctrl.logXCheck.isChecked(), plot.ctrl.logYCheck.isChecked()
    with np.errstate(divide="ignore", invalid="ignore"):
        u = np.log10(xs) if log_x else xs
        v = np.log10(ys) if log_y else ys
    ok = np.isfinite(u) & np.isfinite(v)
    return u[ok], v[ok]


def _corner_counts(plot: pg.PlotItem, legend: pg.LegendItem, u: np.ndarray, v: np.ndarray) -> dict | None:
    """How many points (view coordinates) fall where the legend would sit, per corner; None if unknown."""
    box = plot.getViewBox().boundingRect()
    size = legend.boundingRect()
    if not len(u) or box.width() < 10 or box.height() < 10:
        return None
    (x0, x1), (y0, y1) = plot.getViewBox().viewRange()
    lo_u, hi_u = (u.min(), u.max()) if u.max() > u.min() else (x0, x1)  # one x (one epoch): where the view has it
    lo_v, hi_v = (v.min(), v.max()) if v.max() > v.min() else (y0, y1)
    fu = (u - lo_u) / ((hi_u - lo_u) or 1.0)  # 0 left .. 1 right (the view's padding makes the corner a bit larger)
    fv = (hi_v - v) / ((hi_v - lo_v) or 1.0)  # 0 top .. 1 bottom
    w = min(1.0, (size.width() + 20) / box.width())
    h = min(1.0, (size.height() + 20) / box.height())
    return {c: int(np.count_nonzero(((fu >= 1 - w) if c[0] else (fu <= w)) & ((fv >= 1 - h) if c[1] else (fv <= h))))
            for c in CORNERS}


def place_legend(plot: pg.PlotItem, legend: pg.LegendItem, xs: np.ndarray, ys: np.ndarray) -> tuple[int, int]:
    """Anchor ``legend`` in the corner of ``plot`` that the data (xs, ys in data coordinates; lines should be
    sampled densely) crosses least, so it does not cover curves. Returns the chosen (x, y) anchor (0 = left/top).
    """
    counts = _corner_counts(plot, legend, *_view_values(plot, xs, ys))
    if counts is None:
        return _anchor_legend(legend, CORNERS[0])
    return _anchor_legend(legend, min(CORNERS, key=counts.__getitem__))


def legend_clear_of(plot: pg.PlotItem, legend: pg.LegendItem, xs: np.ndarray, ys: np.ndarray,
                    only_if_covered: bool = False) -> tuple[int, int]:
    """``place_legend`` for data that reach every corner (a scatter has points in every corner; curves that fall
    from one corner to the opposite one): the chosen corner is then kept clear by widening the y range on the
    legend's side by the legend's height, so the legend never covers a point at the plot's current size. With
    ``only_if_covered`` the y range is left to auto-range when the corner is clear anyway. Call it again when the
    plot is resized."""
    u, v = _view_values(plot, xs, ys)
    counts = _corner_counts(plot, legend, u, v)
    if counts is None:
        return _anchor_legend(legend, CORNERS[0])
    corner = _anchor_legend(legend, min(CORNERS, key=counts.__getitem__))
    if only_if_covered and counts[corner] == 0:
        plot.enableAutoRange(axis=pg.ViewBox.YAxis)
        return corner
    box, size = plot.getViewBox().boundingRect(), legend.boundingRect()
    lo, hi = float(v.min()), float(v.max())
    span = (hi - lo) or 1.0
    pad = 0.05 * span  # the data's own margin
    h = min(0.6, (size.height() + 24) / box.height())  # the legend's share of the view, plus its offset
    room = (span + 2 * pad) * h / (1 - h)
    if corner[1]:  # legend at the bottom
        plot.setYRange(lo - pad - room, hi + pad, padding=0)
    else:
        plot.setYRange(lo - pad, hi + pad + room, padding=0)
    return corner


def _anchor_legend(legend: pg.LegendItem, corner: tuple[int, int]) -> tuple[int, int]:
    offset = (-10 if corner[0] else 10, -10 if corner[1] else 10)
    legend.anchor(itemPos=corner, parentPos=corner, offset=offset)
    return corner


def dense(x: np.ndarray, y: np.ndarray, per_segment: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """Points along a polyline (for ``place_legend``: a line crosses a corner even between its points)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    if len(x) < 2:
        return x, y
    t = np.linspace(0, 1, per_segment, endpoint=False)
    xs = (x[:-1, None] + (x[1:] - x[:-1])[:, None] * t).ravel()
    ys = (y[:-1, None] + (y[1:] - y[:-1])[:, None] * t).ravel()
    return np.append(xs, x[-1]), np.append(ys, y[-1])


def add_widgets(layout, widgets: tuple[QWidget | str, ...], fit=lambda w: w) -> None:
    """Append widgets to a row; a label text is kept on one line with the widget after it (``labelled``)."""
    items = list(widgets)
    while items:
        w = items.pop(0)
        if isinstance(w, str) and items and isinstance(items[0], QWidget):
            layout.addWidget(labelled(w, items.pop(0)))
        else:
            layout.addWidget(QLabel(w) if isinstance(w, str) else fit(w))


class Panel(QWidget):
    """Header sentence, toolbar row, a pyqtgraph layout; subclasses implement ``refresh`` and ``data_table``.

    Subclasses set ``title``, ``explanation`` (one sentence: what it shows and why it matters) and
    ``kinds`` (the StoreChange kinds that trigger a redraw).
    """

    title: ClassVar[str] = "Panel"
    explanation: ClassVar[str] = ""
    kinds: ClassVar[tuple[str, ...]] = ()
    compares: ClassVar[bool] = False  # draws the lab's comparison when one is open (docs/ARCHITECTURE.md)
    names_runs: ClassVar[bool] = True  # a comparing panel that names runs by their labels: the "Names & groups" menu

    def __init__(self, store: RunStore, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.store = store
        self._dirty = False
        self.redraws = 0  # how many times refresh() ran (tests and the benchmark read it)
        self.stagger = False  # the window sets it: a newly shown run redraws the visible panels one per turn
        self._last_refresh = -1e9  # perf_counter() at the end of the last redraw
        self._last_cost = 0.0  # seconds the last redraw took
        self._refresh_timer = QTimer(self)
        self._refresh_timer.setSingleShot(True)
        self._refresh_timer.setTimerType(Qt.TimerType.PreciseTimer)  # panels due together fire together
        self._refresh_timer.timeout.connect(self._refresh_due)

        self.header = QLabel(self.explanation)
        self.header.setWordWrap(True)
        self.header.setToolTip(self.explanation)
        self.header.setStyleSheet("font-style: italic;")
        self.tools, self.toolbar = flow_container()  # selectors wrap onto a second line in a narrow dock
        self.run_label = QLabel("")
        self.run_label.setObjectName("panelRun")
        self.run_label.setToolTip("The run these figures show: name, start date, live or replayed from its folder")
        self.run_label.setStyleSheet("color: #555;")
        self.toolbar_row = QHBoxLayout()
        self.toolbar_row.setContentsMargins(0, 0, 0, 0)
        self.toolbar_row.addWidget(self.tools, 1)
        self.toolbar_row.addWidget(self.run_label, 0, Qt.AlignmentFlag.AlignTop)
        self.export_button = QPushButton("Export…")
        self.export_button.setToolTip("Save this panel as PNG and SVG (the plots) and CSV (the data drawn)")
        self.export_dialog: Any = None  # the last ExportDialog opened by the button (tests drive it)
        self.last_export: list[Path] = []
        self.export_button.clicked.connect(self._export_dialog)
        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setBackground(BACKGROUND)
        self.graphics.setToolTip(self.explanation)
        self.graphics.installEventFilter(self)  # its resizes: graphics_resized (a tab shown keeps the panel's size)

        # a panel that shows one run at a time says so while a comparison is open (which run, whether compared)
        self.one_run_note = OneRunNote(store) if not self.compares else None
        top = QWidget()
        top_layout = QVBoxLayout(top)
        top_layout.setContentsMargins(0, 0, 0, 0)
        top_layout.setSpacing(2)
        top_layout.addWidget(self.header)
        if self.one_run_note is not None:
            top_layout.addWidget(self.one_run_note)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(top)
        layout.addLayout(self.toolbar_row)
        layout.addWidget(self.graphics, 1)
        self.setToolTip(self.explanation)
        store.changed.connect(self.on_store_changed)
        store.changed.connect(self._update_run_label)
        if self.compares:
            store.comparisonChanged.connect(self._on_comparison)
            store.comparedChanged.connect(self._on_compared_changed)
        self._update_run_label()

    # -- building ----------------------------------------------------------------------------------
    def add_tool(self, *widgets: QWidget | str) -> None:
        """Append widgets (or a label text) to the toolbar; a label text stays on one line with the widget
        after it when the toolbar wraps."""
        add_widgets(self.toolbar, widgets, fit_contents)

    def finish_toolbar(self) -> None:
        """Put the export button at the right end, after the run's name; call once after adding the selectors. A
        panel that ``compares`` also gets the "Names & groups" menu (shown while a comparison is open)."""
        if self.compares and self.names_runs:
            from desktop_app.ui.comparison_view import ComparisonViewButton

            self.view_button = ComparisonViewButton(self.store)
            self.toolbar.addWidget(self.view_button)
        self.toolbar_row.addWidget(self.export_button, 0, Qt.AlignmentFlag.AlignTop)

    def _update_run_label(self, _change: object = None) -> None:
        comparison = self.comparison()
        if comparison is not None:
            runs = len(comparison.run_dirs)
            self.run_label.setText(f"Comparing {runs} runs" + (f" in {len(comparison)} groups" if
                                                                comparison.group_by else ""))
            self.run_label.setToolTip("\n".join(f"{r.label}: {m.run_dir}" for r in comparison for m in r.runs()))
        else:
            self.run_label.setText(run_caption(self.store))

    def comparison(self) -> Comparison | None:
        """The comparison this panel draws: the lab's, for a panel that ``compares``; else None."""
        return self.store.comparison if self.compares else None

    def export_run_dirs(self) -> list[str]:
        """The run folders this panel's figures come from (the compared runs, or the run shown)."""
        comparison = self.comparison()
        if comparison is not None:
            return list(comparison.run_dirs)
        return [self.store.run_dir] if self.store.run_dir else []

    def _on_comparison(self, _comparison: object) -> None:
        self._update_run_label()
        self.request_refresh()

    def _on_compared_changed(self, _run_dir: str, change: StoreChange) -> None:
        if self.comparison() is not None:
            self.on_store_changed(change)

    # -- updates ---------------------------------------------------------------------------------
    def on_store_changed(self, change: StoreChange) -> None:
        if not change.touches(*self.kinds):
            return
        if self.stagger and RUN in change.kinds and self.on_screen():
            _STAGGER.add(self)  # another run shown: one visible panel per turn of the event loop
            return
        if self.on_screen():
            self._throttled_refresh()
        else:
            self.request_refresh()

    def on_screen(self) -> bool:
        """Shown, not a tab behind another. A panel dock tabified behind another stays ``isVisible()`` (Qt clips it
        to nothing rather than hiding it), so every panel redrew every change: ten panels on opening a study."""
        return self.isVisible() and not self.visibleRegion().isEmpty()

    def request_refresh(self) -> None:
        """Redraw now, or when shown if the main window is up and this panel is hidden behind a tab."""
        if self.window().isVisible() and not self.on_screen():
            self._dirty = True
            return
        self._refresh_timer.stop()
        self._dirty = False
        t0 = time.perf_counter()
        self.refresh()
        self._last_refresh = time.perf_counter()
        self._last_cost = self._last_refresh - t0
        self.redraws += 1

    def _refresh_due(self) -> None:
        """A throttled live redraw is due: at once, or (``stagger``) queued behind the other panels due now, so a
        study's panels (each a few hundred ms at 800 units) do not block the window for their sum."""
        if self.stagger:
            _STAGGER.add(self)
        else:
            self.request_refresh()

    def refresh_interval(self) -> float:
        """Seconds between live redraws: at least LIVE_INTERVAL_S, and long enough that redrawing takes at most
        1/REDRAW_BUDGET of the GUI thread's time (a slow panel redraws less often instead of freezing the window)."""
        return min(MAX_LIVE_INTERVAL_S, max(LIVE_INTERVAL_S, REDRAW_BUDGET * self._last_cost))

    def _throttled_refresh(self) -> None:
        """Live store changes: redraw at the next tick of a clock shared by every panel, once the panel's own
        interval has passed. Panels due together redraw in one pass and the window paints once, so the GUI
        thread is busy in one short burst per tick instead of one per panel."""
        if self._refresh_timer.isActive():
            return
        now = time.perf_counter()
        due = max(now, self._last_refresh + self.refresh_interval())
        due = math.ceil(due / LIVE_INTERVAL_S) * LIVE_INTERVAL_S
        self._refresh_timer.start(max(1, round((due - now) * 1000)))

    def flush(self) -> None:
        """Run a throttled redraw now (a run just finished: show its final state without waiting)."""
        if self._refresh_timer.isActive():
            self._refresh_timer.stop()
            self._refresh_due()

    def hideEvent(self, event) -> None:  # noqa: N802 - Qt override
        if self._refresh_timer.isActive():  # a pending redraw waits for the panel to show again
            self._refresh_timer.stop()
            self._dirty = True
        super().hideEvent(event)

    def showEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().showEvent(event)
        if self._dirty:
            self.request_refresh()

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt override
        """A tab brought to the front gets no showEvent (it was never hidden, see ``on_screen``) but is painted:
        a redraw deferred while it was behind runs right after this paint."""
        super().paintEvent(event)
        if self._dirty:
            QTimer.singleShot(0, self._refresh_if_dirty)

    def _refresh_if_dirty(self) -> None:
        if self._dirty:
            self.request_refresh()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt override
        if watched is self.graphics and event.type() == QEvent.Type.Resize:
            self.graphics_resized()
        return super().eventFilter(watched, event)

    plots_min_height = 0  # px the plots keep (Summary: room for its boxes under a comparison's legend)
    compact = False  # set_compact(True): the minimum given up

    def set_compact(self, compact: bool) -> None:
        """Give up the plots' minimum height while another view needs the window's height (the Runs table in
        front): the panels share one tabbed dock, whose minimum is the largest of theirs."""
        self.compact = compact
        self.graphics.setMinimumHeight(0 if compact else self.plots_min_height)

    def graphics_resized(self) -> None:
        """The plots' view changed size (the panel resized, or laid out when its tab was first shown): what fits
        its width (a comparison's legend columns) is fitted again here, not in the panel's resizeEvent, which a
        tab shown at the size it had does not get."""

    def refresh(self) -> None:
        """Rebuild the plots from the store."""
        raise NotImplementedError

    def data_table(self) -> tuple[list[str], list[list[Any]]]:
        """(columns, rows) of exactly the data drawn, for ``export_csv``."""
        raise NotImplementedError

    # -- export ------------------------------------------------------------------------------------
    def ensure_current(self) -> None:
        """Run a redraw deferred while hidden or throttled: an export must show (and tabulate) the latest data."""
        if self._dirty or self._refresh_timer.isActive():
            self._refresh_timer.stop()
            self._dirty = False
            self.refresh()
            self.redraws += 1

    def has_result(self) -> bool:
        """Whether there is anything to export: a drawn table with rows (an analysis not computed has none)."""
        self.ensure_current()
        return bool(self.data_table()[1])

    @contextmanager
    def _export_layout(self, aspect: float | None = None) -> Iterator[pg.GraphicsLayout]:
        """The exported item laid out at EXPORT_LAYOUT_WIDTH x (EXPORT_LAYOUT_WIDTH / aspect), whatever shape the
        dock has (never shown, squeezed, a tab behind another); the on-screen layout is put back afterwards."""
        self.ensure_current()
        item = self.graphics.ci
        old = item.geometry()
        aspect = aspect or DEFAULT_ASPECT
        item.setGeometry(QRectF(0, 0, EXPORT_LAYOUT_WIDTH, EXPORT_LAYOUT_WIDTH / aspect))
        item.layout.activate()
        # legends inside a plot ignore the view's transformations (a fixed on-screen size): an export renders the
        # scene scaled to its width, so they came out at about half the axis text's size in a 1600 px PNG
        ignores = pg.QtWidgets.QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations
        legends = [i for i in (item.scene().items() if item.scene() else ())
                   if isinstance(i, pg.LegendItem) and i.flags() & ignores]
        for legend in legends:
            legend.setFlag(ignores, False)
        try:
            yield item
        finally:
            for legend in legends:
                legend.setFlag(ignores, True)
            if old.width() >= 2 and old.height() >= 2:
                item.setGeometry(old)

    def export_png(self, path: str | Path, width: int | None = None, dpi: float | None = None,
                   metadata: Mapping[str, str] | None = None, aspect: float | None = None) -> Path:
        """PNG of the plots, ``width`` x ``width / aspect`` pixels (DEFAULT_EXPORT_WIDTH, DEFAULT_ASPECT) whatever
        the panel's shape on screen; ``dpi`` is written into the file's metadata, and ``metadata`` as PNG text
        chunks (the run's manifest travels with the figure)."""
        with self._export_layout(aspect) as item:
            exporter = ImageExporter(item)
            exporter.params["width"] = int(width or DEFAULT_EXPORT_WIDTH)  # the height follows the layout's aspect
            exporter.params["antialias"] = True
            exporter.params["background"] = QColor("white")
            image = exporter.export(toBytes=True)
        for key, value in (metadata or {}).items():
            image.setText(key, value)
        if dpi:
            dpm = round(dpi / 0.0254)
            image.setDotsPerMeterX(dpm)
            image.setDotsPerMeterY(dpm)
        data = QByteArray()
        buf = QBuffer(data)
        buf.open(QIODevice.OpenModeFlag.WriteOnly)
        if not image.save(buf, "PNG"):
            raise OSError(f"could not encode PNG for {path}")
        buf.close()
        write_bytes_atomic(Path(path), bytes(data.data()))
        return Path(path)

    def export_svg(self, path: str | Path, metadata: Mapping[str, str] | None = None,
                   aspect: float | None = None) -> Path:
        """SVG of the plots (vector: curves stay sharp in a paper) at the export layout's size and ``aspect``;
        ``metadata`` goes into <metadata> elements."""
        with self._export_layout(aspect) as item:
            data = bytes(SVGExporter(item).export(toBytes=True))
        if metadata:
            data = _svg_with_metadata(data, metadata)
        write_bytes_atomic(Path(path), data)
        return Path(path)

    def export_csv(self, path: str | Path) -> Path:
        """CSV of ``data_table()``: the numbers behind what is drawn."""
        self.ensure_current()
        columns, rows = self.data_table()
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows([[_cell(v) for v in row] for row in rows])
        write_text_atomic(Path(path), buf.getvalue())
        return Path(path)

    def export(self, path: str | Path) -> Path:
        """Export by file extension: .png, .svg or .csv."""
        suffix = Path(path).suffix.lower()
        if suffix == ".png":
            return self.export_png(path)
        if suffix == ".svg":
            return self.export_svg(path)
        if suffix == ".csv":
            return self.export_csv(path)
        raise ValueError(f"unknown export format {suffix!r} (use .png, .svg or .csv)")

    def _export_dialog(self) -> None:
        """The Export dialog (formats, PNG width and DPI, folder); exports when accepted, non-blocking."""
        from desktop_app.ui.export_dialog import ExportDialog

        runs = self.export_run_dirs()
        folder = Path(runs[0]) / "figures" if runs else None  # beside the (first) run's files
        dialog = ExportDialog(self, f"Export {self.title}", stem=self.title.lower().replace(" ", "-"), folder=folder)
        dialog.accepted.connect(self._on_export_accepted)
        self.export_dialog = dialog
        dialog.open()

    def _on_export_accepted(self) -> None:
        from desktop_app.ui.exports import export_panel

        dialog = self.export_dialog
        try:
            self.last_export = export_panel(self, dialog.options(), dialog.stem())
        except (OSError, ValueError) as exc:
            QMessageBox.warning(self, "Export failed", f"{self.title}: {exc}")


def _svg_with_metadata(data: bytes, metadata: Mapping[str, str]) -> bytes:
    """Insert one <metadata id=key> element per entry right after the <svg ...> opening tag."""
    text = data.decode("utf-8")
    start = text.find("<svg")
    end = text.find(">", start) + 1
    if start < 0 or end <= 0:
        return data
    quote = {'"': "&quot;"}
    elements = "".join(f'\n<metadata id="{escape(k, quote)}">{escape(v)}</metadata>' for k, v in metadata.items())
    return (text[:end] + elements + text[end:]).encode("utf-8")


def _cell(v: Any) -> Any:
    if isinstance(v, float | np.floating):
        return repr(float(v))
    if isinstance(v, np.integer):
        return int(v)
    return v
