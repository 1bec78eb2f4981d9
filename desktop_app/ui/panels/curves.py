"""Curves panel: NLL or error vs epoch per arm (mean over seeds with a band), and pre-training
reconstruction error per layer.

Seeds vary a lot with and without pre-training (Erhan 2010 used 400), so a single curve misleads: the band
shows the spread; the reconstruction plot shows whether pre-training itself converged.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QCheckBox, QComboBox, QWidget

from desktop_app.ui.panels.base import (
    Panel,
    add_legend,
    arm_color,
    arm_label,
    dense,
    place_legend,
    style_plot,
    style_sample,
)
from desktop_app.ui.run_store import METRICS, PRETRAIN, RunStore

SPLITS = ("train", "valid", "test")
SPLIT_STYLE = {"train": Qt.PenStyle.DashLine, "valid": Qt.PenStyle.DotLine, "test": Qt.PenStyle.SolidLine}
LAYER_STYLES = (Qt.PenStyle.SolidLine, Qt.PenStyle.DashLine, Qt.PenStyle.DotLine, Qt.PenStyle.DashDotLine)
LINE_NAMES = {Qt.PenStyle.DashLine: "dashed", Qt.PenStyle.DotLine: "dotted", Qt.PenStyle.SolidLine: "solid"}
METRICS_SHOWN = {"NLL": ("nll", "NLL (nats)", 1.0), "error": ("error", "classification error (%)", 100.0)}
BANDS = ("± std", "min–max", "none")


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


def summarise(epochs: np.ndarray, values: np.ndarray, band: str) -> tuple[np.ndarray, ...]:
    """(epochs, mean, lo, hi, n) over the seeds (rows) of ``values``, ignoring NaN gaps (seeds still running)."""
    keep = ~np.all(np.isnan(values), axis=0) if values.size else np.zeros(0, bool)
    epochs, values = epochs[keep], values[:, keep]
    n = np.sum(~np.isnan(values), axis=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.nanmean(values, axis=0)
        if band == "min–max":
            lo, hi = np.nanmin(values, axis=0), np.nanmax(values, axis=0)
        elif band == "± std":
            std = np.where(n > 1, np.nanstd(values, axis=0, ddof=1), 0.0)
            lo, hi = mean - std, mean + std
        else:
            lo, hi = mean.copy(), mean.copy()
    return epochs, mean, lo, hi, n


def recon_matrix(store: RunStore, arm: str, layer: int) -> tuple[np.ndarray, np.ndarray]:
    """(pre-training epochs 1..E, values (S, E)) of one layer's reconstruction error over an arm's seeds."""
    rows = [store.recon_errors(a, s).get(layer) for a, s in store.units() if a == arm]
    rows = [r for r in rows if r is not None]
    width = max((len(r) for r in rows), default=0)
    values = np.full((len(rows), width), np.nan)
    for i, r in enumerate(rows):
        values[i, : len(r)] = r
    return np.arange(1, width + 1), values


SYMBOLS_UP_TO = 60  # epochs: longer curves are drawn without per-epoch symbols


class SeriesItems:
    """The items of one drawn series (band edges, fill, mean line), kept across live redraws: updating their
    data is ~10x cheaper than clearing the plot and adding new items every epoch."""

    def __init__(self, plot: pg.PlotItem, s: Series, pen: Any, colour: Any, name: str, band: bool) -> None:
        self.lo = self.hi = None
        if band:
            self.lo, self.hi = pg.PlotCurveItem(s.epochs, s.lo, pen=None), pg.PlotCurveItem(s.epochs, s.hi, pen=None)
            fill_colour = pg.mkColor(colour)
            fill_colour.setAlpha(45)
            plot.addItem(self.lo)
            plot.addItem(self.hi)
            plot.addItem(pg.FillBetweenItem(self.lo, self.hi, brush=pg.mkBrush(fill_colour)))
        symbol = "o" if len(s.epochs) <= SYMBOLS_UP_TO else None
        self.line = plot.plot(s.epochs, s.mean, pen=pen, name=name, symbol=symbol, symbolSize=5, symbolPen=None,
                              symbolBrush=pg.mkBrush(colour))  # (CurvesPanel rebuilds the legend: arms, styles)

    def update(self, s: Series) -> None:
        if self.lo is not None:
            self.lo.setData(s.epochs, s.lo)
            self.hi.setData(s.epochs, s.hi)  # FillBetweenItem follows its curves' sigPlotChanged
        self.line.setData(s.epochs, s.mean)


class CurvesPanel(Panel):
    title = "Curves"
    explanation = ("Fine-tuning NLL or error per epoch, mean over seeds with a band (std or min-max) per arm, and "
                   "pre-training reconstruction error per layer: how fast each arm learns and how much seeds vary.")
    kinds = (METRICS, PRETRAIN)

    def __init__(self, store: RunStore, parent: QWidget | None = None) -> None:
        super().__init__(store, parent)
        self.metric_box = QComboBox()
        self.metric_box.addItems(list(METRICS_SHOWN))
        self.metric_box.setToolTip("Negative log-likelihood (what is optimised) or classification error")
        self.split_boxes = {s: QCheckBox(s) for s in SPLITS}
        for split, box in self.split_boxes.items():
            box.setChecked(split in ("train", "test"))
            box.setToolTip(f"Show the {split} split ({LINE_NAMES[SPLIT_STYLE[split]]} lines)")
        self.band_box = QComboBox()
        self.band_box.addItems(list(BANDS))
        self.band_box.setToolTip("Spread over seeds: mean ± one standard deviation, or the min-max envelope")
        self.add_tool("Metric", self.metric_box, *self.split_boxes.values(), "Band", self.band_box)
        self.finish_toolbar()
        for w in (self.metric_box, self.band_box):
            w.currentIndexChanged.connect(self._on_selection)
        for box in self.split_boxes.values():
            box.toggled.connect(self._on_selection)

        self.plot = style_plot(self.graphics.addPlot(row=0, col=0), "Fine-tuning", "epoch", "NLL (nats)")
        self.recon_plot = style_plot(self.graphics.addPlot(row=0, col=1), "Pre-training",
                                     "pre-training epoch", "reconstruction error (per example)")
        self.graphics.ci.layout.setColumnStretchFactor(0, 3)
        self.graphics.ci.layout.setColumnStretchFactor(1, 2)
        self.legend = add_legend(self.plot, offset=(-10, 10))
        self.recon_legend = add_legend(self.recon_plot, offset=(-10, 10))
        self.legend_corners: dict[str, tuple[int, int]] = {}
        self.series: list[Series] = []
        self._items: list[SeriesItems] = []
        self._layout: tuple = ()
        self.request_refresh()

    def _on_selection(self, *_args: Any) -> None:
        self.request_refresh()

    def select(self, metric: str | None = None, splits: tuple[str, ...] | None = None, band: str | None = None) -> None:
        """Set the selectors programmatically (tests, scripts)."""
        if metric is not None:
            self.metric_box.setCurrentText(metric)
        if splits is not None:
            for s, box in self.split_boxes.items():
                box.setChecked(s in splits)
        if band is not None:
            self.band_box.setCurrentText(band)

    def arms(self) -> list[str]:
        arms = list(self.store.arms)
        return arms + [a for a, _ in self.store.units() if a not in arms]

    def refresh(self) -> None:
        metric, label, scale = METRICS_SHOWN[self.metric_box.currentText()]
        band = self.band_box.currentText()
        arms = self.arms()
        self.plot.setLabel("left", label)
        self.series = []
        for arm in arms:
            for split in (s for s, box in self.split_boxes.items() if box.isChecked()):
                epochs, values, _ = self.store.metric_matrix(arm, f"{split}_{metric}")
                e, mean, lo, hi, n = summarise(epochs, values * scale, band)
                if len(e):
                    self.series.append(Series("metric", arm, split, e, mean, lo, hi, n))
            layers = sorted({k for a, s in self.store.units() if a == arm for k in self.store.recon_errors(a, s)})
            for layer in layers:
                epochs, values = recon_matrix(self.store, arm, layer)
                e, mean, lo, hi, n = summarise(epochs, values, band)
                if len(e):
                    self.series.append(Series("recon", arm, f"layer {layer + 1}", e, mean, lo, hi, n))
        layout = (band != "none", tuple((s.plot, s.arm, s.name, len(s.epochs) <= SYMBOLS_UP_TO) for s in self.series))
        if layout == self._layout:
            for s, items in zip(self.series, self._items, strict=True):  # live epochs: new data, same items
                items.update(s)
        else:
            self._rebuild(arms, band != "none")
            self._layout = layout
        for plot, kind in ((self.plot, "metric"), (self.recon_plot, "recon")):
            last = max((int(s.epochs.max()) for s in self.series if s.plot == kind and len(s.epochs)), default=0)
            axis = plot.getAxis("bottom")
            if 0 < last <= 12:
                axis.setTickSpacing(1, 1)  # epochs are integers: no 1.5 ticks on short runs
            else:
                axis.setTickSpacing()
        for plot, legend, kind in ((self.plot, self.legend, "metric"), (self.recon_plot, self.recon_legend, "recon")):
            pts = [dense(s.epochs, v) for s in self.series if s.plot == kind for v in (s.mean, s.lo, s.hi)]
            xs = np.concatenate([p[0] for p in pts]) if pts else np.zeros(0)
            ys = np.concatenate([p[1] for p in pts]) if pts else np.zeros(0)
            self.legend_corners[kind] = place_legend(plot, legend, xs, ys)

    def _rebuild(self, arms: list[str], band: bool) -> None:
        """New items for every series (selection or set of series changed); legends follow."""
        self.plot.clear()
        self.recon_plot.clear()
        self._items = []
        for s in self.series:
            colour = arm_color(s.arm, arms)
            if s.plot == "metric":
                plot, style = self.plot, SPLIT_STYLE[s.name]
            else:
                plot, style = self.recon_plot, LAYER_STYLES[(int(s.name.split()[-1]) - 1) % len(LAYER_STYLES)]
            items = SeriesItems(plot, s, pg.mkPen(colour, width=2, style=style), colour,
                                f"{arm_label(s.arm)} · {s.name}", band)
            self._items.append(items)
        self._fill_legends(arms)

    def _fill_legends(self, arms: list[str]) -> None:
        """One entry per arm (its colour) and one per line style (train dashed, test solid; layer 2 dashed...),
        as drawn; no legend at all for a plot without lines."""
        for legend, kind in ((self.legend, "metric"), (self.recon_legend, "recon")):
            legend.clear()
            shown = [s for s in self.series if s.plot == kind]
            for arm in dict.fromkeys(s.arm for s in shown):
                legend.addItem(style_sample(Qt.PenStyle.SolidLine, arm_color(arm, arms)), arm_label(arm))
            names = list(dict.fromkeys(s.name for s in shown))
            if kind == "metric" or len(names) > 1:
                for name in names:
                    style = SPLIT_STYLE[name] if kind == "metric" else \
                        LAYER_STYLES[(int(name.split()[-1]) - 1) % len(LAYER_STYLES)]
                    legend.addItem(style_sample(style), f"{name} ({LINE_NAMES.get(style, 'dash-dot')})")
            legend.setVisible(bool(shown))

    def data_table(self) -> tuple[list[str], list[list[Any]]]:
        columns = ["plot", "arm", "series", "epoch", "mean", "band_lo", "band_hi", "n_seeds", "unit"]
        metric, label, _ = METRICS_SHOWN[self.metric_box.currentText()]
        rows: list[list[Any]] = []
        for s in self.series:
            unit = ("%" if metric == "error" else "nats") if s.plot == "metric" else "recon (per example)"
            rows += [[s.plot, s.arm, s.name, int(s.epochs[i]), float(s.mean[i]), float(s.lo[i]), float(s.hi[i]),
                      int(s.n[i]), unit] for i in range(len(s.epochs))]
        return columns, rows
