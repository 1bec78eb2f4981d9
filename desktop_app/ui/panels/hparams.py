"""HParams panel: final test error per arm against a config field across the compared runs (Erhan 2010's width
and label-size figures), with the one-rule intervals, and a parallel-coordinates view over the fields that differ,
one line per run coloured by its final test error (TensorBoard's HParams, W&B's parallel coordinates).

The numbers come from ``core/lab/hparams.py``; this panel maps them to pixels. It draws the lab's comparison
(docs/ARCHITECTURE.md, "Comparing runs"): a grouped comparison plotted against its group-by field pools each
group's seeds. Exported like every panel (PNG/SVG of both plots, CSV of the numbers drawn).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QFontMetrics
from PySide6.QtWidgets import QComboBox, QWidget

from desktop_app.core.config.diff import short_value
from desktop_app.core.lab.comparison import Comparison
from desktop_app.core.lab.grouping import choosable_fields
from desktop_app.core.lab.hparams import (
    FieldAxis,
    HParamPoint,
    ParallelLine,
    default_field,
    error_range,
    hparam_points,
    parallel_lines,
)
from desktop_app.core.stats import MIN_SEEDS, shown_interval
from desktop_app.ui.panels.base import (
    FOREGROUND,
    Legend,
    NarrowLabel,
    Panel,
    arm_color,
    arm_label,
    show_axis_values,
    style_plot,
)
from desktop_app.ui.panels.compare import RUN_SYMBOLS, comparison_arms, fit_legend_columns
from desktop_app.ui.run_store import METRICS, ONLINE, RunStore

LEGEND_COLUMNS = 6
X_MARGIN = 0.6  # the parallel view's room left of its first axis, in axis spacings (at least) ...
X_MARGIN_MAX = 1.5  # ... and at most: it grows to hold the first field's whole name ("model.layers.0.units (log)")
X_RIGHT = 1.0  # and right of its last (the error axis), whose values are written right of it as every axis's are
COLOURS = pg.colormap.get("viridis")  # low error dark, high error yellow (the error axis says which)
EMPTY_TITLE = "Compare two or more runs (Runs pane → Compare) to plot their final test error against their fields"
# a value label's place beside its point (TextItem anchor y): above it, below it, level with it (the error axis)
ABOVE, BELOW, MIDDLE = 1.0, 0.0, 0.5
Y_MARGIN = 0.08  # the parallel view's room below 0 and above 1, at least (more where a value's label needs it)
VALUE_GAP_PX = 5  # between a value's point and its label (the point's symbol is 6 px wide, the line 2.5 px)
CSV_COLUMNS = ["view", "run", "label", "series", "arm", "field", "value", "x", "n", "mean", "ci_lo", "ci_hi",
               "seeds"]


class HParamsPanel(Panel):
    title = "HParams"
    explanation = ("Final test error per arm against a field that differs between the compared runs (mean with 95 % "
                   "CI from 3 seeds on; fewer: the seeds, marked n), and every run as a line across the fields that "
                   "differ, coloured by its final test error.")
    kinds = (METRICS, ONLINE)  # an online run's final test errors are its last points'
    compares = True

    def __init__(self, store: RunStore, parent: QWidget | None = None) -> None:
        super().__init__(store, parent)
        self.field_box = QComboBox()
        self.field_box.setToolTip("The field on the x axis (a field whose values span a decade or more: log scale)")
        self.arm_box = QComboBox()
        self.arm_box.setToolTip("The arm whose final test error colours the parallel-coordinates lines")
        self.add_tool("x:", self.field_box, "lines:", self.arm_box)
        self.field_box.activated.connect(lambda _i: self.request_refresh())
        self.arm_box.activated.connect(lambda _i: self.request_refresh())
        self.finish_toolbar()
        self.plot = style_plot(self.graphics.addPlot(row=0, col=0), "Final test error", "", "test error (%)")
        self.parallel = style_plot(self.graphics.addPlot(row=0, col=1), "Runs across the fields that differ")
        self.graphics.ci.layout.setColumnStretchFactor(0, 1)
        self.graphics.ci.layout.setColumnStretchFactor(1, 1)
        for plot in (self.plot, self.parallel):
            plot.getAxis("bottom").enableAutoSIPrefix(False)
        self.parallel.hideAxis("left")
        self.parallel.showGrid(x=False, y=False)
        self.parallel.setMouseEnabled(x=False, y=False)
        self.legend = Legend(colCount=LEGEND_COLUMNS, labelTextColor=FOREGROUND, pen=pg.mkPen(200, 200, 200))
        self.graphics.ci.layout.setRowStretchFactor(0, 1)
        self.graphics.addItem(self.legend, row=1, col=0, colspan=2)
        self.note = NarrowLabel("", color="#555555", size="9pt")
        self.graphics.addItem(self.note, row=2, col=0, colspan=2)
        self.field = ""
        self.axis: FieldAxis | None = None
        self.points: list[HParamPoint] = []
        self.axes: list[FieldAxis] = []
        self.lines: list[ParallelLine] = []
        self.arm = ""
        self._items: list[Any] = []
        self._parallel_items: list[Any] = []
        self._value_texts: list[tuple[pg.TextItem, str, int]] = []  # (item, whole text, axis index)
        self._value_places: list[tuple[float, tuple[float, ...]]] = []  # each one's (fraction, sides it may take)
        self.parallel.vb.sigResized.connect(self._label_parallel)
        self.request_refresh()

    # -- choices ---------------------------------------------------------------------------------------
    def select(self, field: str | None = None, arm: str | None = None) -> None:
        """Choose the x field and the parallel-coordinates arm (as the selectors do)."""
        if field is not None:
            self.field_box.setCurrentIndex(max(0, self.field_box.findData(field)))
        if arm is not None:
            self.arm_box.setCurrentIndex(max(0, self.arm_box.findData(arm)))
        self.request_refresh()

    def _fill_choices(self, comparison: Comparison | None) -> None:
        fields = choosable_fields(comparison) if comparison is not None else []
        wanted = self.field_box.currentData() or (default_field(comparison) if comparison is not None else "")
        group_by = comparison.group_by if comparison is not None else ""
        if group_by and group_by != self._group_seen:
            wanted = group_by  # a new grouping: plot the groups against their field
        self._group_seen = group_by
        self._fill(self.field_box, [(f, f) for f in fields], wanted if wanted in fields else default_field(
            comparison) if comparison is not None else "")
        arms = comparison_arms(comparison) if comparison is not None else []
        wanted_arm = self.arm_box.currentData() or next((a for a in arms if a != "none"), arms[0] if arms else "")
        self._fill(self.arm_box, [(arm_label(a), a) for a in arms], wanted_arm)

    _group_seen = ""  # the comparison's group-by field at the last redraw

    @staticmethod
    def _fill(box: QComboBox, items: list[tuple[str, str]], current: str) -> None:
        if [(box.itemText(i), box.itemData(i)) for i in range(box.count())] != items:
            box.blockSignals(True)
            box.clear()
            for text, data in items:
                box.addItem(text, data)
            box.blockSignals(False)
        index = box.findData(current)
        box.setCurrentIndex(index if index >= 0 else (0 if box.count() else -1))

    # -- drawing ---------------------------------------------------------------------------------------
    def refresh(self) -> None:
        comparison = self.comparison()
        self._fill_choices(comparison)
        for item in self._items:
            self.plot.removeItem(item)
        for item in self._parallel_items:
            self.parallel.removeItem(item)
        self._items, self._parallel_items, self._value_texts, self._value_places = [], [], [], []
        self.legend.clear()
        self.field = self.field_box.currentData() or ""
        self.arm = self.arm_box.currentData() or ""
        empty = comparison is None or not self.field
        for plot in (self.plot, self.parallel):
            show_axis_values(plot, not empty)
        (self.parallel.hideAxis if empty else self.parallel.showAxis)("bottom")  # no tick marks under nothing
        if empty:
            self.axis, self.points, self.axes, self.lines = None, [], [], []
            # the title says it short; the note below, which wraps, says it whole (the title was cut at 1400x900)
            self.plot.setTitle("Nothing to plot yet" if comparison is None else
                               "The compared runs' configs do not differ", color=FOREGROUND, size="11pt")
            self.parallel.setTitle("", color=FOREGROUND, size="11pt")
            self.plot.setLabel("bottom", "")
            self.plot.setLabel("left", "")
            self.note.setText(EMPTY_TITLE + "." if comparison is None else "")
            return
        self.plot.setLabel("left", "test error (%)", color=FOREGROUND)
        self.axis, self.points = hparam_points(comparison, self.field)
        self.axes, self.lines = parallel_lines(comparison, self.arm)
        arms = comparison_arms(comparison)
        self._draw_points(arms)
        self._draw_parallel()
        self._fill_legend(arms)

    def _series(self) -> list[str]:
        return list(dict.fromkeys(p.series for p in self.points))

    def _draw_points(self, arms: list[str]) -> None:
        axis = self.axis
        assert axis is not None
        series = self._series()
        small: list[HParamPoint] = []
        for si, name in enumerate(series):
            for arm in arms:
                pts = sorted((p for p in self.points if p.series == name and p.arm == arm), key=lambda p: p.x)
                pts = [p for p in pts if math.isfinite(p.x)]
                if not pts:
                    continue
                colour = arm_color(arm, arms)
                x = np.array([p.x for p in pts])
                mean = np.array([p.ci.mean for p in pts])
                line = pg.PlotDataItem(x, mean, pen=pg.mkPen(colour, width=2), symbol=RUN_SYMBOLS[si % len(
                    RUN_SYMBOLS)], symbolSize=9, symbolBrush=pg.mkBrush(colour), symbolPen=pg.mkPen(FOREGROUND),
                    name=f"{name} · {arm_label(arm)}" if name else arm_label(arm))
                self._add(self.plot, line, self._items)
                shown = [(p, shown_interval(p.ci)) for p in pts]
                with_ci = [(p, iv) for p, iv in shown if iv is not None]
                if with_ci:
                    bars = pg.ErrorBarItem(x=np.array([p.x for p, _ in with_ci]),
                                           y=np.array([p.ci.mean for p, _ in with_ci]),
                                           top=np.array([iv[1] - p.ci.mean for p, iv in with_ci]),
                                           bottom=np.array([p.ci.mean - iv[0] for p, iv in with_ci]),
                                           beam=self._beam(), pen=pg.mkPen(colour, width=1.5))
                    self._add(self.plot, bars, self._items)
                sx = [p.x for p in pts for _ in p.values]
                sy = [v for p in pts for v in p.values.values()]
                dots = pg.ScatterPlotItem(sx, sy, size=5, pen=None, brush=pg.mkBrush(arm_color(arm, arms, 110)))
                self._add(self.plot, dots, self._items)
                small += [p for p in pts if p.ci.n < MIN_SEEDS]
        notes: dict[tuple[float, int], float] = {}  # (x, n) -> the highest mean there: one note per place
        for p in small:
            notes[(p.x, p.ci.n)] = max(notes.get((p.x, p.ci.n), -math.inf), p.ci.mean)
        for (x_at, n), y_at in notes.items():  # no interval below MIN_SEEDS seeds: the seeds, and how many
            text = pg.TextItem(f"n = {n}", color="#555555", anchor=(-0.15, 0.5))
            text.setPos(x_at, y_at)
            self._add(self.plot, text, self._items)
        self.plot.getAxis("bottom").setTicks([axis.ticks()])
        self.plot.setLabel("bottom", f"{axis.key} (log scale)" if axis.log else axis.key, color=FOREGROUND)
        self.plot.setTitle(f"Final test error vs {axis.name}", color=FOREGROUND, size="11pt")
        lo, hi = axis.span()
        pad = 0.08 * ((hi - lo) or 1.0)
        self.plot.setXRange(lo - pad, hi + pad * 2.5, padding=0)  # room for the "n = 2" notes right of points
        self.plot.enableAutoRange(axis=pg.ViewBox.YAxis)
        counts = sorted({p.ci.n for p in self.points})
        few = [n for n in counts if n < MIN_SEEDS]
        self.note.setText(f"Seeds per point: {', '.join(map(str, counts))}" + (
            f" (below {MIN_SEEDS}: no interval, the seeds are shown)" if few else "; bars: 95 % t interval"))

    def _beam(self) -> float:
        lo, hi = self.axis.span() if self.axis is not None else (0.0, 1.0)
        return 0.03 * ((hi - lo) or 1.0)

    def _draw_parallel(self) -> None:
        axes, lines = self.axes, self.lines
        k = len(axes)
        lo, hi = error_range(lines)
        for i in range(k + 1):
            self._add(self.parallel, pg.InfiniteLine(pos=i, angle=90, pen=pg.mkPen("#999999", width=1)),
                      self._parallel_items)
        for i, axis in enumerate(axes):
            for value in axis.values:
                f = axis.fraction(value)
                self._axis_text(i, f, short_value(value), self._value_sides(i, f))
        if math.isfinite(lo):
            for f, v in ((0.0, lo), (1.0, hi)) if hi > lo else ((0.5, lo),):
                self._axis_text(k, f, f"{v:.2f} %", (MIDDLE, BELOW, ABOVE))  # no line leaves the error axis
        xs = np.arange(k + 1, dtype=float)
        for line in lines:
            f = 0.5 if not (math.isfinite(line.error) and hi > lo) else (line.error - lo) / (hi - lo)
            colour = COLOURS.map(f, mode="qcolor") if math.isfinite(line.error) else pg.mkColor("#bbbbbb")
            item = pg.PlotDataItem(xs, np.array(line.fractions), pen=pg.mkPen(colour, width=2.5),
                                   symbol="o", symbolSize=6, symbolBrush=pg.mkBrush(colour), symbolPen=None)
            item.setToolTip(f"{line.label}: {line.error:.2f} % (n = {line.n})")
            self._add(self.parallel, item, self._parallel_items)
        self.parallel.setXRange(-X_MARGIN, k + X_RIGHT, padding=0)
        self.parallel.setYRange(-Y_MARGIN, 1 + Y_MARGIN, padding=0)
        self._label_parallel()
        # short enough to stand whole over the plot in the report's 1100 px figure (it ended "coloured by final test…")
        self.parallel.setTitle(f"Runs across their fields · {arm_label(self.arm)}, colour: final test error",
                               color=FOREGROUND, size="11pt")

    def _axis_text(self, i: int, fraction: float, text: str, sides: tuple[float, ...] = (0.5,)) -> None:
        """A value's label right of axis ``i`` at ``fraction``; ``sides``: where it may sit, in order (ABOVE or BELOW
        the value's point, MIDDLE: level with it), chosen by ``_place_values`` once the plot has its size."""
        item = pg.TextItem(text, color=FOREGROUND, anchor=(-0.08, 0.5), fill=pg.mkBrush(255, 255, 255, 200))
        item.textItem.document().setDocumentMargin(1)
        item.setPos(i, fraction)
        self._add(self.parallel, item, self._parallel_items)
        self._value_texts.append((item, text, i))
        self._value_places.append((fraction, sides))

    def _value_sides(self, i: int, fraction: float) -> tuple[float, ...]:
        """Where the label of a value on field axis ``i`` may sit, best first: on the side its runs' lines do not
        leave towards the next axis (right of the axis, where the label is), so the label does not lie on them."""
        rises = falls = 0
        for line in self.lines:
            if i + 1 < len(line.fractions) and math.isclose(line.fractions[i], fraction, abs_tol=1e-12):
                step = line.fractions[i + 1] - fraction
                rises += step > 1e-9
                falls += step < -1e-9
        return (BELOW, ABOVE) if rises > falls else (ABOVE, BELOW)

    def _place_values(self) -> None:
        """Each axis's value labels beside their points, none over another: labels are placed extremes first (an
        axis's lowest and highest value), then by halving the gaps between those placed; a label that overlaps one
        placed already (values closer than a line of text) tries its other side, and is left out when neither has
        room; the labels kept on that axis then name the values left out in their tooltips (the CSV export has
        every value). Before, every label sat centred on its point, over the lines leaving it, and two close values'
        labels printed over each other."""
        vb = self.parallel.vb
        box = vb.sceneBoundingRect().adjusted(-1, -1, 1, 1)  # the view clips its items
        by_axis: dict[int, list[int]] = {}
        for j, (_item, _text, i) in enumerate(self._value_texts):
            by_axis.setdefault(i, []).append(j)
        for members in by_axis.values():
            members.sort(key=lambda j: self._value_places[j][0])
            placed: list[QRectF] = []
            kept, left_out = [], []
            for j in [members[o] for o in spread_order(len(members))]:
                item, _text, i = self._value_texts[j]
                fraction, sides = self._value_places[j]
                at = vb.mapViewToScene(QPointF(i, fraction))
                size = item.textItem.boundingRect()
                w, h = max(size.width(), 1.0), max(size.height(), 1.0)
                for side in sides:
                    top = at.y() - h / 2 if side == MIDDLE else at.y() - h - VALUE_GAP_PX if side == ABOVE \
                        else at.y() + VALUE_GAP_PX
                    rect = QRectF(at.x() + VALUE_GAP_PX, top, w, h)
                    if box.contains(rect) and not any(rect.intersects(r) for r in placed):
                        item.setAnchor((-VALUE_GAP_PX / w, (at.y() - top) / h))
                        placed.append(rect)
                        kept.append(j)
                        break
                else:
                    left_out.append(j)
            for j in left_out:
                self._value_texts[j][0].setVisible(False)
            left_out.sort(key=lambda j: self._value_places[j][0])
            missing = ", ".join(self._value_texts[j][1] for j in left_out)
            for j in kept:
                item, text, _i = self._value_texts[j]
                item.setVisible(True)
                shown = item.textItem.toPlainText()
                tips = [text] if shown != text else []
                if missing:
                    tips.append(f"Not labelled on this axis (no room between close values): {missing}; the CSV "
                                "export has every value")
                item.setToolTip("\n".join(tips))

    def _label_parallel(self, *_args: object) -> None:
        """Axis names and value labels fitted to the room between two axes (again when the plot resizes): with a
        dozen differing fields the names printed over each other ("batch_sizefinetune.epochs") and a value ran
        into the next axis's. Names that do not fit alternate between two rows and are elided in the middle
        ("pretr…epochs") only when two axis spacings cannot hold them; values are elided at their end (the error
        axis's within the right margin); the CSV export has every whole name and value. The left margin grows (up to
        X_MARGIN_MAX spacings) to hold the first name whole: it was held to one spacing, and the report's width
        figure read "model.... (log)" under its first axis."""
        k = len(self.axes)
        axis = self.parallel.getAxis("bottom")
        names = [a.name + (" (log)" if a.log else "") for a in self.axes] + ["test error"]
        view = self.parallel.vb.width()
        if not self.axes or view <= 0:
            axis.setTicks([[(float(i), n) for i, n in enumerate(names)]] if self.axes else None)
            return
        metrics = QFontMetrics(axis.style.get("tickFont") or axis.font())
        first = metrics.horizontalAdvance(names[0]) + 8  # centred on its axis: half of it left of the axis
        left = X_MARGIN_MAX if 2 * view <= first else first * (k + X_RIGHT) / (2 * view - first)
        left = min(X_MARGIN_MAX, max(X_MARGIN, left))
        room = view / (k + left + X_RIGHT)  # pixels between neighbouring axes
        stagger = any(metrics.horizontalAdvance(n) > room - 8 for n in names)
        apart = 2 * room - 8 if stagger else room - 8  # to the next name in the same row
        # the first and last names stay within the margins (pyqtgraph hides a tick label that leaves its axis)
        widths = [min(apart, 2 * left * room - 8 if i == 0 else 2 * X_RIGHT * room - 8 if i == k else apart)
                  for i in range(k + 1)]
        texts = [metrics.elidedText(n, Qt.TextElideMode.ElideMiddle, max(int(w), 12)) for n, w in zip(names, widths,
                                                                                                      strict=True)]
        axis.setTicks([[(float(i), "\n" + t if stagger and i % 2 else t) for i, t in enumerate(texts)]])
        axis.setHeight(None)  # the automatic height, plus the second row's line when there is one
        if stagger:
            axis.setHeight(axis.maximumHeight() + metrics.lineSpacing())
        (x0, x1), (y0, y1) = self.parallel.vb.viewRange()
        if abs(x0 + left) > 1e-9 or abs(x1 - k - X_RIGHT) > 1e-9:
            self.parallel.setXRange(-left, k + X_RIGHT, padding=0)
        # room for a value's label below the lowest value and above the highest (a line rising from the lowest
        # value has its label below it; 8 % of a 250 px view did not hold one, and it was put over the line)
        need = metrics.lineSpacing() + 4 + VALUE_GAP_PX
        height = self.parallel.vb.height()
        margin = max(Y_MARGIN, need / (height - 2 * need)) if height > 3 * need else Y_MARGIN
        if abs(y0 + margin) > 1e-9 or abs(y1 - 1 - margin) > 1e-9:
            self.parallel.setYRange(-margin, 1 + margin, padding=0)
        for item, text, _axis in self._value_texts:
            shown = metrics.elidedText(text, Qt.TextElideMode.ElideRight, max(int(room - 10), 12))
            item.setText(shown)
            item.setToolTip(text if shown != text else "")
        self._place_values()

    @staticmethod
    def _add(plot: pg.PlotItem, item: Any, items: list[Any]) -> None:
        plot.addItem(item)
        items.append(item)

    def _fill_legend(self, arms: list[str]) -> None:
        shown = list(dict.fromkeys(p.arm for p in self.points))
        for arm in [a for a in arms if a in shown]:
            self.legend.addItem(pg.ScatterPlotItem(symbol="s", size=11, brush=pg.mkBrush(arm_color(arm, arms)),
                                                   pen=pg.mkPen(FOREGROUND)), arm_label(arm))
        for si, name in enumerate(self._series()):
            if name:
                self.legend.addItem(pg.ScatterPlotItem(symbol=RUN_SYMBOLS[si % len(RUN_SYMBOLS)], size=10,
                                                       brush=pg.mkBrush("#777777"), pen=pg.mkPen(FOREGROUND)), name)
        fit_legend_columns(self.legend, self.graphics.width(), LEGEND_COLUMNS)

    def graphics_resized(self) -> None:
        if self.legend.items:
            fit_legend_columns(self.legend, self.graphics.width(), LEGEND_COLUMNS)

    # -- export ----------------------------------------------------------------------------------------
    def data_table(self) -> tuple[list[str], list[list[Any]]]:
        """The points (one row per run or group and arm: mean, the interval drawn, every seed) and the
        parallel-coordinates lines (one row per run and field, with the run's mean final test error)."""
        rows: list[list[Any]] = []
        for p in self.points:
            iv = shown_interval(p.ci)
            seeds = ";".join(f"s{seed}={v!r}" for seed, v in p.values.items())
            rows.append(["points", _name(p.run_dir), p.label, p.series, p.arm, self.field, short_value(p.value),
                         p.x, p.ci.n, p.ci.mean, iv[0] if iv else "", iv[1] if iv else "", seeds])
        for line in self.lines:
            for axis, value, f in zip(self.axes, line.values, line.fractions, strict=False):
                rows.append(["parallel", _name(line.run_dir), line.label, "", self.arm, axis.key, short_value(value),
                             f, line.n, line.error, "", "", ""])
        return list(CSV_COLUMNS), rows


def spread_order(n: int) -> list[int]:
    """0..n-1 in the order value labels are placed: both ends, then the middles of the gaps between those placed,
    level by level (so a crowded axis keeps its range and evenly spread values, not its lowest ones)."""
    if n <= 2:
        return list(range(n))
    order, gaps = [0, n - 1], [(0, n - 1)]
    while gaps:
        lo, hi = gaps.pop(0)
        if hi - lo >= 2:
            mid = (lo + hi) // 2
            order.append(mid)
            gaps += [(lo, mid), (mid, hi)]
    return order


def _name(run_dir: str) -> str:
    return Path(run_dir).name


__all__ = ["HParamsPanel"]
