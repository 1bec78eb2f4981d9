"""Curves panel: NLL or error vs epoch per arm (mean over seeds with a band), and pre-training
reconstruction error per layer; with a comparison open, one plot per split overlaying the compared runs.

Seeds vary a lot with and without pre-training (Erhan 2010 used 400), so a single curve misleads: the band
shows the spread; the reconstruction plot shows whether pre-training itself converged. Plot controls: smoothing
by a bias-corrected moving average (``core.stats.ema``; the raw mean stays drawn faintly behind), the x axis by
epoch, labelled examples seen or wall time, log or linear y per plot, and in a comparison the split plots share
their x zoom.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QCheckBox, QComboBox, QDoubleSpinBox, QMenu, QToolButton, QWidget

from desktop_app.core.lab.comparison import Comparison, examples_per_epoch
from desktop_app.core.lab.store import METRIC_NAMES, RunData
from desktop_app.core.stats import ema
from desktop_app.ui.panels.base import (
    FOREGROUND,
    Legend,
    Panel,
    add_legend,
    arm_color,
    arm_label,
    dense,
    legend_clear_of,
    show_axis_values,
    style_plot,
    style_sample,
)
from desktop_app.ui.panels.compare import STYLE_NAMES, comparison_arms, fit_legend_columns, run_style
from desktop_app.ui.panels.log_axis import LogAxis
from desktop_app.ui.panels.pitfall import error_kind
from desktop_app.ui.run_store import METRICS, PRETRAIN, RunStore

SPLITS = ("train", "valid", "test")
SPLIT_STYLE = {"train": Qt.PenStyle.DashLine, "valid": Qt.PenStyle.DotLine, "test": Qt.PenStyle.SolidLine}
LAYER_STYLES = (Qt.PenStyle.SolidLine, Qt.PenStyle.DashLine, Qt.PenStyle.DotLine, Qt.PenStyle.DashDotLine)
LINE_NAMES = {Qt.PenStyle.DashLine: "dashed", Qt.PenStyle.DotLine: "dotted", Qt.PenStyle.SolidLine: "solid"}
METRICS_SHOWN = {"NLL": ("nll", "NLL (nats)", 1.0), "error": ("error", "classification error (%)", 100.0)}
BANDS = ("± std", "min–max", "none")
X_AXES = {"epoch": "epoch", "examples seen": "labelled examples seen", "wall time": "wall time (s)"}
LAYER_SYMBOLS = ("o", "t", "s", "d")  # recon layers in a comparison (the dash pattern names the run there)
ONLINE_TITLE = "Fine-tuning: an online run has no epochs (its curves are in Online error)"
PLOT_TITLES = {"metric": "Fine-tuning", "recon": "Pre-training", "train": "Fine-tuning: train",
               "valid": "Fine-tuning: valid", "test": "Fine-tuning: test"}
COMPARE_LEGEND_COLUMNS = 4  # at most, in the legend row above a comparison's plots
RAW_ALPHA = 70  # the unsmoothed mean, drawn faintly behind the smoothed line
RECON_LABELS = {"squared": "RBM recon. error (squared)", "cross-entropy": "AE recon. error (cross-entropy)",
                "relative": "recon. error ÷ epoch-1 value"}  # per example; short: a comparison's plots are small


@dataclass
class Series:
    """One drawn line: mean over seeds and its band, per epoch."""

    plot: str  # "metric" | "recon"
    arm: str
    name: str  # split ("test") or layer ("layer 1")
    epochs: np.ndarray
    mean: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    n: np.ndarray  # seeds contributing at each epoch
    run: str = ""  # the compared run's label ("" outside a comparison)
    x: np.ndarray | None = None  # the x drawn (epochs, or examples seen); None = epochs
    smooth: np.ndarray | None = None  # the drawn line: the mean smoothed (None = not smoothed)
    scale: float = 1.0  # what mean, lo, hi and smooth were divided by (a recon series made relative: see below)

    def __post_init__(self) -> None:
        if self.x is None:
            self.x = self.epochs.astype(float)

    @property
    def line(self) -> np.ndarray:
        return self.mean if self.smooth is None else self.smooth


def summarise(epochs: np.ndarray, values: np.ndarray, band: str) -> tuple[np.ndarray, ...]:
    """(epochs, mean, lo, hi, n) over the seeds (rows) of ``values``, ignoring NaN gaps (seeds still running).
    An arm with no value yet (a live run still on the arms before it) has no point; its min-max band reduces no
    seeds, hence ``initial`` (without it numpy's min of no seeds raised and the band failed the whole panel)."""
    keep = ~np.all(np.isnan(values), axis=0) if values.size else np.zeros(0, bool)
    epochs, values = epochs[keep], values[:, keep]
    n = np.sum(~np.isnan(values), axis=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.nanmean(values, axis=0)
        if band == "min–max":
            lo, hi = np.nanmin(values, axis=0, initial=np.inf), np.nanmax(values, axis=0, initial=-np.inf)
        elif band == "± std":
            std = np.where(n > 1, np.nanstd(values, axis=0, ddof=1), 0.0)
            # every metric drawn here (NLL, error, reconstruction error) is >= 0: one stuck seed beside fitted ones
            # put mean - std below 0, a value no net can have, so the band stops at 0 (the CSV's band_lo too)
            lo, hi = np.maximum(mean - std, 0.0), mean + std
        else:
            lo, hi = mean.copy(), mean.copy()
    return epochs, mean, lo, hi, n


def recon_matrix(store: RunStore | RunData, arm: str, layer: int) -> tuple[np.ndarray, np.ndarray]:
    """(pre-training epochs 1..E, values (S, E)) of one layer's reconstruction error over an arm's seeds."""
    rows = [store.recon_errors(a, s).get(layer) for a, s in store.units() if a == arm]
    rows = [r for r in rows if r is not None]
    width = max((len(r) for r in rows), default=0)
    values = np.full((len(rows), width), np.nan)
    for i, r in enumerate(rows):
        values[i, : len(r)] = r
    return np.arange(1, width + 1), values


def relative_recon(series: list[Series]) -> str:
    """Make the pre-training series comparable on one axis; returns what their y axis measures.

    An RBM's reconstruction error is a squared error and an autoencoder's a cross-entropy (Pitfall's
    ``error_kind``): on one axis the larger quantity flattened the other and read as "worse". When both kinds are
    shown, each series is divided by its own first epoch's mean (1 = where it started; the exported table says
    so in its unit and keeps the divisor); with one kind, the values stay as measured and the axis names the
    measure."""
    recon = [s for s in series if s.plot == "recon"]
    kinds = {error_kind(s.arm) for s in recon}
    if len(kinds) < 2:
        return RECON_LABELS[kinds.pop()] if kinds else "recon. error (per example)"
    for s in recon:
        first = s.mean[np.isfinite(s.mean)][:1]
        scale = float(first[0]) if len(first) and first[0] > 0 else 1.0
        s.scale = scale
        s.mean, s.lo, s.hi = s.mean / scale, s.lo / scale, s.hi / scale
        if s.smooth is not None:
            s.smooth = s.smooth / scale
    return RECON_LABELS["relative"]


SYMBOLS_UP_TO = 60  # epochs: longer curves are drawn without per-epoch symbols


class SeriesItems:
    """The items of one drawn series (band edges, fill, faint raw mean when smoothed, the line), kept across live
    redraws: updating their data is ~10x cheaper than clearing the plot and adding new items every epoch."""

    def __init__(self, plot: pg.PlotItem, s: Series, pen: Any, colour: Any, name: str, band: bool,
                 symbol: str | None = "o") -> None:
        self.lo = self.hi = self.raw = None
        if band:
            # PlotDataItems with an invisible pen: they follow the plot's log y (a PlotCurveItem does not, and the
            # band was drawn at its raw values on the log scale, far above its line)
            edge = pg.mkPen(None)
            self.lo, self.hi = pg.PlotDataItem(s.x, s.lo, pen=edge), pg.PlotDataItem(s.x, s.hi, pen=edge)
            fill_colour = pg.mkColor(colour)
            fill_colour.setAlpha(45 if not s.run else 30)
            plot.addItem(self.lo)
            plot.addItem(self.hi)
            plot.addItem(pg.FillBetweenItem(self.lo, self.hi, brush=pg.mkBrush(fill_colour)))
        if s.smooth is not None:
            faint = pg.mkColor(colour)
            faint.setAlpha(RAW_ALPHA)
            self.raw = plot.plot(s.x, s.mean, pen=pg.mkPen(faint, width=1, style=pen.style()))
        symbol = symbol if len(s.epochs) <= SYMBOLS_UP_TO else None
        self.line = plot.plot(s.x, s.line, pen=pen, name=name, symbol=symbol, symbolSize=5, symbolPen=None,
                              symbolBrush=pg.mkBrush(colour))  # (CurvesPanel rebuilds the legend: arms, styles)

    def update(self, s: Series) -> None:
        if self.lo is not None:
            self.lo.setData(s.x, s.lo)
            self.hi.setData(s.x, s.hi)  # FillBetweenItem follows its curves' sigPlotChanged
        if self.raw is not None:
            self.raw.setData(s.x, s.mean)
        self.line.setData(s.x, s.line)


def _plot_item() -> pg.PlotItem:
    """A plot whose y axis can be log (LogAxis: labels that never overlap), linear at first."""
    return pg.PlotItem(axisItems={"left": LogAxis("left", log=False)})


class CurvesPanel(Panel):
    title = "Curves"
    explanation = ("Fine-tuning NLL or error per epoch, mean over seeds with a band (std or min-max) per arm, and "
                   "pre-training reconstruction error per layer: how fast each arm learns and how much seeds vary.")
    kinds = (METRICS, PRETRAIN)
    compares = True

    def __init__(self, store: RunStore, parent: QWidget | None = None) -> None:
        super().__init__(store, parent)
        self._blanked: set[str] = set()  # plots drawn empty, their range fixed at 0-1 (``_blank_empty_plots``)
        self.metric_box = QComboBox()
        self.metric_box.addItems(list(METRICS_SHOWN))
        self.metric_box.setToolTip("Negative log-likelihood (what is optimised) or classification error")
        self.split_boxes = {s: QCheckBox(s) for s in SPLITS}
        for split, box in self.split_boxes.items():
            box.setChecked(split in ("train", "test"))
            box.setToolTip(f"Show the {split} split ({LINE_NAMES[SPLIT_STYLE[split]]} lines; in a comparison, "
                           "its own plot)")
        self.band_box = QComboBox()
        self.band_box.addItems(list(BANDS))
        self.band_box.setToolTip("Spread over seeds: mean ± one standard deviation (cut at 0: no NLL or error is "
                                 "negative), or the min-max envelope")
        self.smooth_box = QDoubleSpinBox()
        self.smooth_box.setRange(0.0, 0.99)
        self.smooth_box.setSingleStep(0.1)
        self.smooth_box.setDecimals(2)
        self.smooth_box.setToolTip("Exponential moving average weight (0 = off), bias-corrected so the first epochs "
                                   "are not pulled toward zero; the raw mean stays drawn faintly")
        self.x_box = QComboBox()
        self.x_box.addItems(list(X_AXES))
        self.x_box.setToolTip("Fine-tuning x axis: epochs; labelled examples seen (epoch x the labelled set each "
                              "epoch goes through, from the run's manifest); or wall time, the seconds each unit had "
                              "run at the epoch's end, pre-training included, mean over seeds (recorded since "
                              "this version: older runs have none and draw no line on that axis)")
        self.log_button = QToolButton()
        self.log_button.setText("Log y")
        self.log_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.log_button.setToolTip("Log or linear y axis, per plot")
        self.log_menu = QMenu(self.log_button)
        self.log_button.setMenu(self.log_menu)
        self.log_y: dict[str, bool] = {}
        self.add_tool("Metric", self.metric_box, *self.split_boxes.values(), "Band", self.band_box,
                      "Smoothing", self.smooth_box, "x axis", self.x_box, self.log_button)
        self.finish_toolbar()
        for w in (self.metric_box, self.band_box, self.x_box):
            w.currentIndexChanged.connect(self._on_selection)
        self.smooth_box.valueChanged.connect(self._on_selection)
        for box in self.split_boxes.values():
            box.toggled.connect(self._on_selection)

        self.plot = style_plot(_plot_item(), "Fine-tuning", "epoch", "NLL (nats)")
        self.recon_plot = style_plot(_plot_item(), "Pre-training",
                                     "pre-training epoch", "reconstruction error (per example)")
        self.plots: dict[str, pg.PlotItem] = {"metric": self.plot, "recon": self.recon_plot}
        self.legend = add_legend(self.plot, offset=(-10, 10))
        self.recon_legend = add_legend(self.recon_plot, offset=(-10, 10))
        self.compare_legend = Legend(colCount=COMPARE_LEGEND_COLUMNS, labelTextColor=FOREGROUND,
                                     brush=pg.mkBrush(255, 255, 255), pen=pg.mkPen(200, 200, 200))
        self.legend_corners: dict[str, tuple[int, int]] = {}
        self.series: list[Series] = []
        self._items: list[SeriesItems] = []
        self._layout: tuple = ()
        self._arranged: tuple[str, ...] = ()
        self._examples: dict[str, int] = {}
        self._arrange(("metric", "recon"))
        for plot in (self.plot, self.recon_plot):
            plot.vb.sigResized.connect(self._place_legends)
        self.hover_line = pg.InfiniteLine(angle=90, movable=False, pen=pg.mkPen("#808080", width=1))
        self.hover_text = pg.TextItem(color=FOREGROUND, fill=pg.mkBrush(255, 255, 255, 230),
                                      border=pg.mkPen(200, 200, 200))
        self.hover_text.setZValue(1000)
        self.readout = ""  # what the hover box says now, as plain text ("" = hidden)
        self._hovered: pg.PlotItem | None = None
        self.graphics.scene().sigMouseMoved.connect(self.hover_at)
        self.request_refresh()

    def _on_selection(self, *_args: Any) -> None:
        self.request_refresh()

    def select(self, metric: str | None = None, splits: tuple[str, ...] | None = None, band: str | None = None,
               smoothing: float | None = None, x: str | None = None) -> None:
        """Set the selectors programmatically (tests, scripts)."""
        if metric is not None:
            self.metric_box.setCurrentText(metric)
        if splits is not None:
            for s, box in self.split_boxes.items():
                box.setChecked(s in splits)
        if band is not None:
            self.band_box.setCurrentText(band)
        if smoothing is not None:
            self.smooth_box.setValue(smoothing)
        if x is not None:
            self.x_box.setCurrentText(x)

    def set_log_y(self, key: str, on: bool) -> None:
        """Log (True) or linear y for one plot ("metric", "recon"; in a comparison "train", "valid", "test")."""
        self.log_y[key] = on
        if key in self.plots:
            self.plots[key].setLogMode(y=on)
        for action in self.log_menu.actions():
            if action.data() == key:
                action.setChecked(on)
        self.request_refresh()  # the legend corner depends on the scale

    def _on_log_action(self, on: bool) -> None:
        action = self.sender()
        if isinstance(action, QAction):
            self.set_log_y(str(action.data()), on)

    def arms(self) -> list[str]:
        arms = list(self.store.arms)
        return arms + [a for a, _ in self.store.units() if a not in arms]

    # -- layout ----------------------------------------------------------------------------------------
    def _plot(self, key: str) -> pg.PlotItem:
        if key not in self.plots:
            plot = style_plot(_plot_item(), PLOT_TITLES[key], "epoch", "NLL (nats)")
            self.plots[key] = plot
        return self.plots[key]

    def _arrange(self, keys: tuple[str, ...]) -> None:
        """Put the plots ``keys`` into the layout: the run's two plots side by side, or a comparison's legend on top
        and its plots in one row (two to a row from four plots on). A comparison's split plots share their x range
        (linked zoom)."""
        if keys == self._arranged:
            return
        layout = self.graphics.ci
        layout.clear()
        comparing = keys != ("metric", "recon")
        cols = 2 if not comparing else len(keys) if len(keys) <= 3 else 2  # one row while it fits
        for i in range(3):  # an empty column keeping a stretch took a third of the width, blank
            layout.layout.setColumnStretchFactor(i, 1 if i < cols else 0)
        if not comparing:
            layout.addItem(self.plot, row=0, col=0)
            layout.addItem(self.recon_plot, row=0, col=1)
            layout.layout.setColumnStretchFactor(0, 3)
            layout.layout.setColumnStretchFactor(1, 2)
            self.plot.setXLink(None)
        else:
            layout.addItem(self.compare_legend, row=0, col=0, colspan=cols)
            first = None
            for i, key in enumerate(keys):
                plot = self._plot(key)
                layout.addItem(plot, row=1 + i // cols, col=i % cols)
                if key in SPLITS:
                    plot.setXLink(first)  # (None for the first: unlinks a plot linked before)
                    first = first or plot
        for key in keys:
            self.plots[key].setLogMode(y=self.log_y.get(key, False))
        self.log_menu.clear()
        for key in keys:
            action = QAction(PLOT_TITLES[key], self.log_menu)
            action.setCheckable(True)
            action.setChecked(self.log_y.get(key, False))
            action.setData(key)
            action.toggled.connect(self._on_log_action)
            self.log_menu.addAction(action)
        self._arranged = keys
        self._layout = ()

    # -- data ------------------------------------------------------------------------------------------
    def _x(self, data: RunStore | RunData, run_dir: str, arm: str, epochs: np.ndarray) -> np.ndarray:
        """The x of an arm's fine-tuning epochs: the epochs, labelled examples seen, or the seeds' mean wall time
        (NaN where the run does not say)."""
        axis = self.x_box.currentText()
        if axis == "epoch":
            return epochs.astype(float)
        if axis == "wall time":
            all_epochs, walls, _ = data.metric_matrix(arm, "wall_s")
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # an epoch no seed recorded: NaN
                mean = np.nanmean(walls, axis=0) if walls.size else np.zeros(0)
            return mean[np.searchsorted(all_epochs, epochs)] if len(epochs) else np.zeros(0)
        if run_dir not in self._examples:
            self._examples[run_dir] = examples_per_epoch(run_dir) if run_dir else 0
        n = self._examples[run_dir]
        return epochs * float(n) if n else np.full(len(epochs), np.nan)

    def _series_of(self, data: RunStore | RunData, run_dir: str, arms: list[str], run: str = "") -> list[Series]:
        metric, _, scale = METRICS_SHOWN[self.metric_box.currentText()]
        band = self.band_box.currentText()
        weight = float(self.smooth_box.value())
        out: list[Series] = []
        units = data.units()
        for arm in arms:
            for split in (s for s, box in self.split_boxes.items() if box.isChecked()):
                epochs, values, _ = data.metric_matrix(arm, f"{split}_{metric}")
                e, mean, lo, hi, n = summarise(epochs, values * scale, band)
                if len(e):
                    out.append(Series("metric", arm, split, e, mean, lo, hi, n, run, self._x(data, run_dir, arm, e),
                                      ema(mean, weight) if weight > 0 else None))
            layers = sorted({k for a, s in units if a == arm for k in data.recon_errors(a, s)})
            for layer in layers:
                epochs, values = recon_matrix(data, arm, layer)
                e, mean, lo, hi, n = summarise(epochs, values, band)
                if len(e):
                    out.append(Series("recon", arm, f"layer {layer + 1}", e, mean, lo, hi, n, run, None,
                                      ema(mean, weight) if weight > 0 else None))
        return out

    def _plot_key(self, s: Series) -> str:
        return s.plot if not s.run else (s.name if s.plot == "metric" else "recon")

    # -- drawing ---------------------------------------------------------------------------------------
    def refresh(self) -> None:
        comparison = self.comparison()
        _, label, _ = METRICS_SHOWN[self.metric_box.currentText()]
        band = self.band_box.currentText()
        smoothed = self.smooth_box.value() > 0
        if comparison is None:
            arms = self.arms()
            self.series = self._series_of(self.store, self.store.run_dir, arms)
            self._arrange(("metric", "recon"))
        else:
            arms = comparison_arms(comparison)
            self.series = [s for r in comparison for s in self._series_of(r.data, r.run_dir, arms, r.label)]
            splits = [s for s, box in self.split_boxes.items() if box.isChecked()]
            has_recon = any(s.plot == "recon" for s in self.series)
            self._arrange((*splits, *(("recon",) if has_recon else ())))
        self.recon_label = relative_recon(self.series)
        self.recon_plot.setLabel("left", self.recon_label)
        x_label = X_AXES[self.x_box.currentText()]
        for key, plot in self.plots.items():
            if key != "recon":
                plot.setLabel("left", label)
                plot.setLabel("bottom", x_label)
        layout = (band != "none", smoothed, tuple((s.plot, s.run, s.arm, s.name, len(s.epochs) <= SYMBOLS_UP_TO)
                                                  for s in self.series))
        if layout == self._layout:
            for s, items in zip(self.series, self._items, strict=True):  # live epochs: new data, same items
                items.update(s)
        else:
            self._rebuild(arms, band != "none", comparison)
            self._layout = layout
        self._tick_epochs()
        self._blank_empty_plots()
        self._place_legends()
        # an online run has no fine-tuning epochs: its empty plot says where its curves are (it said nothing)
        online = comparison is None and self.store.kind == "online" and not any(s.plot == "metric" for s in self.series)
        self.plot.setTitle(ONLINE_TITLE if online else PLOT_TITLES["metric"], color=FOREGROUND, size="11pt")

    def _place_legends(self, *_args: object) -> None:
        """Each plot's legend where no curve runs (again when the plot is resized: its room depends on the size)."""
        if self.comparison() is not None:
            return
        for plot, legend, kind in ((self.plot, self.legend, "metric"), (self.recon_plot, self.recon_legend, "recon")):
            pts = [dense(s.x, v) for s in self.series if s.plot == kind for v in (s.line, s.lo, s.hi)]
            xs = np.concatenate([p[0] for p in pts]) if pts else np.zeros(0)
            ys = np.concatenate([p[1] for p in pts]) if pts else np.zeros(0)
            self.legend_corners[kind] = legend_clear_of(plot, legend, xs, ys, only_if_covered=True)

    # -- hover readout -------------------------------------------------------------------------------
    def hover_at(self, scene_pos: Any) -> None:
        """TensorBoard's readout: over a plot, a vertical line at the pointer's x and a box with every shown
        series' value at the drawn point nearest that x (its x said when it is not the pointer's); elsewhere
        nothing."""
        key = next((k for k in self._arranged
                    if self.plots[k].vb.sceneBoundingRect().contains(scene_pos)), None)
        rows: list[str] = []
        if key is not None:
            plot = self.plots[key]
            x, rows = self._readout_rows(key, float(plot.vb.mapSceneToView(scene_pos).x()))
        if not rows:
            self._hide_hover()
            return
        if self._hovered is not plot:
            self._hide_hover()
            plot.vb.addItem(self.hover_line, ignoreBounds=True)  # on the view box: plot.clear() keeps it
            self.graphics.scene().addItem(self.hover_text)  # over the whole figure: the view box clipped the box
            self._hovered = plot
        self.hover_line.setPos(x)
        self.readout = "\n".join(rows)
        self.hover_text.setText(self.readout)
        self._place_hover(scene_pos)
        self.hover_line.show()
        self.hover_text.show()

    def _place_hover(self, scene_pos: Any, gap: float = 12.0) -> None:
        """The readout box beside the pointer, on the side with room, kept whole inside the figure: inside the plot's
        view box it was clipped, a comparison's nine lines cut to one at 1280x800."""
        area = self.graphics.mapToScene(self.graphics.viewport().rect()).boundingRect()
        self.hover_text.setAnchor((0, 0))
        size = self.hover_text.boundingRect()
        w, h = size.width(), size.height()
        x = scene_pos.x() + gap if scene_pos.x() + gap + w <= area.right() else scene_pos.x() - gap - w
        x = max(area.left(), min(x, area.right() - w))
        y = max(area.top(), min(scene_pos.y() + gap, area.bottom() - h))
        self.hover_text.setPos(x, y)

    def _readout_rows(self, key: str, pointer: float) -> tuple[float, list[str]]:
        """(the drawn x nearest the pointer, the box's lines): that x, then each series of plot ``key`` with its
        drawn value (the smoothed line where smoothing is on) at its point nearest the pointer, and that point's
        x where it is not the first line's (a run with fewer epochs, a wall-time axis)."""
        nearest: list[tuple[Series, int]] = []
        for s in self.series:
            if self._plot_key(s) != key or not np.isfinite(s.x).any():
                continue
            nearest.append((s, int(np.nanargmin(np.abs(np.where(np.isfinite(s.x), s.x, np.nan) - pointer)))))
        if not nearest:
            return pointer, []
        x = min((float(s.x[i]) for s, i in nearest), key=lambda v: abs(v - pointer))
        axis = "pre-training epoch" if key == "recon" else X_AXES[self.x_box.currentText()]
        rows = [f"{axis} {x:.6g}"]
        for s, i in nearest:
            name = f"{s.run} · {arm_label(s.arm)} · {s.name}" if s.run else f"{arm_label(s.arm)} · {s.name}"
            at = "" if s.x[i] == x else f" (at {s.x[i]:.6g})"
            rows.append(f"{name}: {s.line[i]:.4g}{at}")
        return x, rows

    def _hide_hover(self) -> None:
        if self._hovered is not None:
            if self.hover_line.scene() is not None:
                self._hovered.vb.removeItem(self.hover_line)
            if self.hover_text.scene() is not None:
                self.hover_text.scene().removeItem(self.hover_text)
            self._hovered = None
        self.readout = ""

    def _blank_empty_plots(self) -> None:
        """A plot with nothing to draw shows no numbers on its axes: with no items pyqtgraph kept the previous run's
        range, so an online run's empty fine-tuning plot showed the last run's epoch ticks (new-user finding)."""
        for key in self._arranged:
            plot = self.plots[key]
            empty = not any(self._plot_key(s) == key and len(s.epochs) for s in self.series)
            show_axis_values(plot, not empty)
            if empty and key not in self._blanked:
                plot.setRange(xRange=(0, 1), yRange=(0, 1), padding=0)  # (turns its auto-range off)
                self._blanked.add(key)
            elif not empty and key in self._blanked:
                plot.enableAutoRange()
                self._blanked.discard(key)

    def _tick_epochs(self) -> None:
        """Integer ticks on short epoch axes (no 1.5 epochs)."""
        for key in self._arranged:
            shown = [s for s in self.series if self._plot_key(s) == key and len(s.epochs)]
            last = max((int(s.epochs.max()) for s in shown), default=0)
            axis = self.plots[key].getAxis("bottom")
            if 0 < last <= 12 and (key == "recon" or self.x_box.currentText() == "epoch"):
                axis.setTickSpacing(1, 1)
            else:
                axis.setTickSpacing()

    def _rebuild(self, arms: list[str], band: bool, comparison: Comparison | None) -> None:
        """New items for every series (selection or set of series changed); legends follow."""
        for key in self._arranged:
            self.plots[key].clear()
        self._items = []
        styles = {r.label: run_style(i) for i, r in enumerate(comparison or ())}
        for s in self.series:
            colour = arm_color(s.arm, arms)
            layer = int(s.name.split()[-1]) - 1 if s.plot == "recon" else 0
            symbol = "o"
            if s.run:
                style = styles[s.run]
                symbol = LAYER_SYMBOLS[layer % len(LAYER_SYMBOLS)] if s.plot == "recon" else "o"
            elif s.plot == "metric":
                style = SPLIT_STYLE[s.name]
            else:
                style = LAYER_STYLES[layer % len(LAYER_STYLES)]
            name = f"{s.run} · {arm_label(s.arm)} · {s.name}" if s.run else f"{arm_label(s.arm)} · {s.name}"
            plot = self.plots[self._plot_key(s)]
            self._items.append(SeriesItems(plot, s, pg.mkPen(colour, width=2, style=style), colour, name, band,
                                           symbol))
        if comparison is None:
            self.compare_legend.clear()
            self._fill_legends(arms)
        else:
            self.legend.clear()
            self.recon_legend.clear()
            self._fill_compare_legend(arms, comparison)

    def _fill_legends(self, arms: list[str]) -> None:
        """One entry per arm (its colour) and one per line style (train dashed, test solid; layer 2 dashed...),
        as drawn; no legend at all for a plot without lines."""
        for legend, kind in ((self.legend, "metric"), (self.recon_legend, "recon")):
            legend.clear()
            shown = [s for s in self.series if s.plot == kind]
            relative = kind == "recon" and any(s.scale != 1.0 for s in shown)
            for arm in dict.fromkeys(s.arm for s in shown):
                label = f"{arm_label(arm)} ({error_kind(arm)})" if relative else arm_label(arm)
                legend.addItem(style_sample(Qt.PenStyle.SolidLine, arm_color(arm, arms)), label)
            names = list(dict.fromkeys(s.name for s in shown))
            if kind == "metric" or len(names) > 1:
                for name in names:
                    style = SPLIT_STYLE[name] if kind == "metric" else \
                        LAYER_STYLES[(int(name.split()[-1]) - 1) % len(LAYER_STYLES)]
                    legend.addItem(style_sample(style), f"{name} ({LINE_NAMES.get(style, 'dash-dot')})")
            legend.setVisible(bool(shown))

    def _fill_compare_legend(self, arms: list[str], comparison: Comparison) -> None:
        """A comparison's legend, in its own row above the plots (it never covers a curve): each run by what
        differs ("lr=0.05") with its line style, then each arm with its colour, then the recon layers' markers."""
        legend = self.compare_legend
        legend.clear()
        for i, r in enumerate(comparison):
            style = run_style(i)
            legend.addItem(style_sample(style), f"{r.label} ({STYLE_NAMES[style]})")
        for arm in dict.fromkeys(s.arm for s in self.series):
            legend.addItem(style_sample(Qt.PenStyle.SolidLine, arm_color(arm, arms)), arm_label(arm))
        layers = list(dict.fromkeys(s.name for s in self.series if s.plot == "recon"))
        if len(layers) > 1:
            for name in layers:
                symbol = LAYER_SYMBOLS[(int(name.split()[-1]) - 1) % len(LAYER_SYMBOLS)]
                legend.addItem(pg.PlotDataItem(pen=None, symbol=symbol, symbolBrush=pg.mkBrush("#555555"),
                                               symbolPen=None), f"recon {name}")
        self._fit_compare_legend()

    def _fit_compare_legend(self) -> None:
        fit_legend_columns(self.compare_legend, self.graphics.width(), COMPARE_LEGEND_COLUMNS)

    def graphics_resized(self) -> None:
        if self.compare_legend.scene() is not None:
            self._fit_compare_legend()

    # -- export ----------------------------------------------------------------------------------------
    def data_table(self) -> tuple[list[str], list[list[Any]]]:
        """The drawn means (and smoothed lines); in a comparison also every seed's values exactly as the runs'
        metrics files hold them (rows "seed": arm, seed, phase, layer, epoch, split, nll, error, recon_error)."""
        if self.comparison() is not None:
            return self._comparison_table()
        columns = ["plot", "arm", "series", "epoch", "mean", "band_lo", "band_hi", "n_seeds", "unit", "x",
                   "smoothed"]
        rows: list[list[Any]] = []
        for s in self.series:
            rows += [[s.plot, s.arm, s.name, int(s.epochs[i]), float(s.mean[i]), float(s.lo[i]), float(s.hi[i]),
                      int(s.n[i]), self._unit(s), float(s.x[i]), float(s.line[i])] for i in range(len(s.epochs))]
        return columns, rows

    def _unit(self, s: Series) -> str:
        metric = METRICS_SHOWN[self.metric_box.currentText()][0]
        if s.plot == "metric":
            return "%" if metric == "error" else "nats"
        if s.scale != 1.0:
            return f"recon ÷ epoch-1 value {s.scale:.6g} ({error_kind(s.arm)})"
        return f"recon (per example, {error_kind(s.arm)})"

    def _comparison_table(self) -> tuple[list[str], list[list[Any]]]:
        comparison = self.comparison()
        assert comparison is not None
        columns = ["run", "label", "row", "arm", "seed", "phase", "layer", "epoch", "split", "nll", "error",
                   "recon_error", "wall_s", "x", "mean", "band_lo", "band_hi", "n_seeds", "smoothed", "unit"]
        splits = [s for s, box in self.split_boxes.items() if box.isChecked()]
        rows: list[list[Any]] = []
        for r in comparison:
            head = [r.name, r.label]
            for arm, seed in r.data.units():
                u = r.data.unit(arm, seed)
                for layer in sorted(u.recon):
                    rows += [[*head, "seed", arm, seed, "pretrain", layer, e + 1, "unlabelled", "", "", float(v),
                              "", "", "", "", "", "", "", ""]
                             for e, v in enumerate(u.recon[layer]) if np.isfinite(v)]
                for i, epoch in enumerate(u.epochs):
                    for split in splits:
                        nll = float(u.metrics[i, METRIC_NAMES.index(f"{split}_nll")])
                        err = float(u.metrics[i, METRIC_NAMES.index(f"{split}_error")])
                        wall = float(u.wall[i]) if np.isfinite(u.wall[i]) else ""
                        rows.append([*head, "seed", arm, seed, "finetune", -1, int(epoch), split, nll, err, "", wall,
                                     "", "", "", "", "", "", ""])
            for s in (s for s in self.series if s.run == r.label):
                phase, layer = ("finetune", -1) if s.plot == "metric" else ("pretrain", int(s.name.split()[-1]) - 1)
                split = s.name if s.plot == "metric" else "unlabelled"
                rows += [[*head, "mean", s.arm, "", phase, layer, int(s.epochs[i]), split, "", "", "", "",
                          float(s.x[i]), float(s.mean[i]), float(s.lo[i]), float(s.hi[i]), int(s.n[i]),
                          float(s.line[i]), self._unit(s)] for i in range(len(s.epochs))]
        return columns, rows
