"""Online panel (Erhan et al. 2010, Fig. 2): online error vs the number of examples seen, on a log axis.

An online run (Experiment type "online") trains every unit on an endless stream, each example seen once; the
online error is the error on the last block of examples, each scored before the net trained on it. One faint
curve per seed, and per arm and depth the mean over seeds with its 95 % interval (``core.stats.mean_ci``).
Depth is the number of hidden layers of the run the units belong to: with "Compare open runs" the other open
online runs (e.g. the 1- and 3-layer runs of ``basin reproduce online``) are drawn too, one line style per depth.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QCheckBox, QComboBox, QLabel, QWidget

from desktop_app.core.config import OnlineConfig
from desktop_app.core.runfolder import RunFolder, RunFolderError, read_config
from desktop_app.core.stats import mean_ci, shown_interval
from desktop_app.ui.panels.base import FOREGROUND, Panel, add_legend, arm_color, arm_label, style_plot, style_sample
from desktop_app.ui.run_store import ONLINE, ONLINE_NAMES, RunStore

SHOWN = {"online error": "online_error", "test error": "test_error"}
DEPTH_STYLES = (Qt.PenStyle.SolidLine, Qt.PenStyle.DashLine, Qt.PenStyle.DotLine, Qt.PenStyle.DashDotLine)
SEED_ALPHA = 70
BAND_ALPHA = 45
FLOOR = 1e-4  # an error of 0 drawn on a log axis
HINT = ("No online points in this run. To record them, choose Experiment type “online” in the Experiment builder "
        "(or the online-demo preset) and Start: every unit trains on a fresh stream of deformed examples.")
WAITING = ("This online run has no evaluation point yet: the first comes after the pre-training and one online-error "
           "block of fine-tuning examples; the curves appear then.")


@dataclass(frozen=True)
class SeedCurve:
    run: str
    depth: int
    arm: str
    seed: int
    examples: np.ndarray  # (P,) int64
    values: np.ndarray  # (P, 3) columns ONLINE_NAMES
    block: int


def _depth(run_dir: str) -> int:
    """Hidden layers of the run's config (0 when it cannot be read, e.g. a folder being replaced)."""
    try:
        return len(read_config(RunFolder(run_dir)).model.layers)
    except (RunFolderError, ValueError, OSError):
        return 0


class OnlinePanel(Panel):
    title = "Online error"
    explanation = ("Online error (on the last block of a stream of fresh deformed examples, each scored before the "
                   "net trains on it) against examples seen, log axis: if pre-training's advantage survives unlimited "
                   "data it helps optimisation, not only regularisation (Erhan et al. 2010, Fig. 2).")
    kinds = (ONLINE,)

    def __init__(self, store: RunStore, parent: QWidget | None = None) -> None:
        super().__init__(store, parent)
        self.metric_box = QComboBox()
        self.metric_box.addItems(list(SHOWN))
        self.metric_box.setToolTip("Online error on the last block of the stream, or error on the fixed test set")
        self.log_box = QCheckBox("log y")
        self.log_box.setChecked(True)
        self.log_box.setToolTip("Log scale on the error axis (Erhan 2010 plot both axes on a log scale)")
        self.compare_box = QCheckBox("Compare open runs")
        self.compare_box.setChecked(True)
        self.compare_box.setToolTip("Also draw the other open online runs (e.g. another depth), one line style per "
                                    "number of hidden layers")
        self.add_tool("Show", self.metric_box, self.log_box, self.compare_box)
        self.finish_toolbar()
        self.metric_box.currentIndexChanged.connect(self.request_refresh)
        self.log_box.toggled.connect(self.request_refresh)
        self.compare_box.toggled.connect(self.request_refresh)
        self.info = QLabel(HINT)
        self.info.setWordWrap(True)
        self.layout().insertWidget(2, self.info)
        self.plot = style_plot(self.graphics.addPlot(row=0, col=0), "Online error vs examples seen",
                               "examples seen (fine-tuning stream)", "error (%)")
        self.plot.getAxis("left").enableAutoSIPrefix(False)
        self.plot.getAxis("bottom").enableAutoSIPrefix(False)
        self.legend = add_legend(self.plot, offset=(10, -10))  # bottom left: the curves fall from the top left
        self.seed_items: dict[tuple[str, str, int], pg.PlotDataItem] = {}
        self.mean_items: dict[tuple[int, str], pg.PlotDataItem] = {}
        self.curves: list[SeedCurve] = []
        self._depths: dict[str, int] = {}
        self.request_refresh()

    # -- data ----------------------------------------------------------------------------------------------
    def _runs(self) -> list[tuple[str, Any]]:
        """(run_dir, RunData) of the runs drawn: the shown run first, then (compare) the runs kept open beside it."""
        model = self.store.model
        shown = model.shown
        runs = [(shown.run_dir, shown)]
        if self.compare_box.isChecked():
            runs += [(key, data) for key, data in model.runs.items() if data is not shown and model.is_kept(key)]
        return runs

    def collect(self) -> list[SeedCurve]:
        out = []
        for run_dir, data in self._runs():
            units = [u for u in data.units() if len(data.unit(*u).online)]
            if not units:
                continue
            if run_dir not in self._depths or self._depths[run_dir] == 0:
                self._depths[run_dir] = _depth(run_dir)
            for arm, seed in units:
                examples, values = data.online_curve(arm, seed)
                out.append(SeedCurve(run_dir, self._depths[run_dir], arm, seed, examples, values,
                                     data.unit(arm, seed).online_block))
        return out

    # -- drawing -------------------------------------------------------------------------------------------
    def refresh(self) -> None:
        self.plot.clear()
        self.legend.clear()
        self.seed_items.clear()
        self.mean_items.clear()
        self.curves = self.collect()
        log_y = self.log_box.isChecked()
        self.plot.setLogMode(True, log_y)
        if not self.curves:
            self.info.setText(WAITING if self.store.kind == "online" else HINT)
            self.legend.setVisible(False)
            self.plot.setTitle("Online error vs examples seen: no points yet", color=FOREGROUND, size="11pt")
            self._empty_axes(log_y)
            return
        self.legend.setVisible(True)
        col = ONLINE_NAMES.index(SHOWN[self.metric_box.currentText()])
        arms = list(dict.fromkeys(c.arm for c in sorted(self.curves, key=lambda c: c.arm != "none")))
        depths = sorted({c.depth for c in self.curves})
        style = {d: DEPTH_STYLES[i % len(DEPTH_STYLES)] for i, d in enumerate(depths)}

        def shown(v: np.ndarray) -> np.ndarray:
            return np.maximum(v * 100, FLOOR * 100) if log_y else v * 100

        for c in self.curves:  # faint: one per seed
            item = self.plot.plot(c.examples.astype(float), shown(c.values[:, col]),
                                  pen=pg.mkPen(arm_color(c.arm, arms, SEED_ALPHA), width=1, style=style[c.depth]))
            self.seed_items[(c.run, c.arm, c.seed)] = item
        finals = []
        for depth in depths:
            for arm in arms:
                group = [c for c in self.curves if c.depth == depth and c.arm == arm]
                if not group:
                    continue
                x, mean, lo, hi, n = summarise(group, col)
                colour = arm_color(arm, arms)
                if np.any(n > 1):
                    # band edges: invisible lines (with pen=None a PlotDataItem builds no path to fill between)
                    lo_item = pg.PlotDataItem(x, shown(lo), pen=pg.mkPen((0, 0, 0, 0)))
                    hi_item = pg.PlotDataItem(x, shown(hi), pen=pg.mkPen((0, 0, 0, 0)))
                    for it in (lo_item, hi_item):
                        self.plot.addItem(it)
                    fill = pg.mkColor(colour)
                    fill.setAlpha(BAND_ALPHA)
                    self.plot.addItem(pg.FillBetweenItem(lo_item, hi_item, brush=pg.mkBrush(fill)))
                name = f"{arm_label(arm)}, {depth} layer{'s' if depth != 1 else ''}" if depth else arm_label(arm)
                self.mean_items[(depth, arm)] = self.plot.plot(
                    x, shown(mean), pen=pg.mkPen(colour, width=2.5, style=style[depth]), name=name)
                finals.append(f"{name}: {mean[-1] * 100:.2f} % after {int(x[-1]):,} (n={int(n[-1])})")
        if len(depths) > 1:
            for d in depths:
                self.legend.addItem(style_sample(style[d]), f"{d} hidden layer{'s' if d != 1 else ''}")
        xs = np.concatenate([c.examples for c in self.curves]).astype(float)
        self.plot.setXRange(np.log10(xs.min()), np.log10(xs.max()), padding=0.03)  # log mode: ranges in log10
        self.plot.getAxis("bottom").setTicks([log_ticks(xs.min(), xs.max(), count)])
        ys = np.concatenate([shown(c.values[:, col]) for c in self.curves])
        self.plot.getAxis("left").setTicks([log_ticks(ys.min(), ys.max(), "{:g}".format)] if log_y else None)
        # the view fits the recorded curves; a wide interval (few seeds) runs on beyond it instead of squashing them
        lo_y, hi_y = (np.log10(ys.min()), np.log10(ys.max())) if log_y else (0.0, float(ys.max()))
        self.plot.setYRange(lo_y, hi_y, padding=0.05)
        blocks = sorted({c.block for c in self.curves})
        what = self.metric_box.currentText()
        detail = f"last {blocks[0]:,} examples" if what == "online error" and len(blocks) == 1 else "fixed test set"
        self.plot.setTitle(f"{what.capitalize()} ({detail}) vs examples seen; faint: seeds, band: 95 % interval",
                           color=FOREGROUND, size="11pt")
        self.plot.setLabel("left", f"{what} (%)")
        self.info.setText("End of the stream, mean over seeds: " + "; ".join(finals) + ".")

    def _empty_axes(self, log_y: bool) -> None:
        """With no points yet the axes span what is to come (one block to the budget of the shown online run, or
        of the default online section; error 1-100 %), labelled at the decades, instead of a bare 1-10 decade."""
        online = OnlineConfig()
        shown = self.store.model.shown.run_dir if self.store.kind == "online" else None
        if shown:
            try:
                online = read_config(RunFolder(shown)).online
            except (RunFolderError, ValueError, OSError):
                pass
        x0, x1 = float(min(online.block, online.finetune_examples)), float(online.finetune_examples)
        x1 = max(x1, 10 * x0)
        self.plot.setXRange(np.log10(x0), np.log10(x1), padding=0.03)
        self.plot.getAxis("bottom").setTicks([log_ticks(x0, x1, count)])
        self.plot.getAxis("left").setTicks([log_ticks(1.0, 100.0, "{:g}".format)] if log_y else None)
        self.plot.setYRange(*((0.0, 2.0) if log_y else (0.0, 100.0)), padding=0.05)

    def data_table(self) -> tuple[list[str], list[list[Any]]]:
        columns = ["run", "hidden_layers", "arm", "seed", "examples", *ONLINE_NAMES, "block"]
        rows = []
        for c in self.curves:
            for e, v in zip(c.examples, c.values, strict=True):
                rows.append([c.run, c.depth, c.arm, c.seed, int(e), *(float(x) for x in v), c.block])
        return columns, rows


def count(v: float) -> str:
    """An example count as a short label: 500, 2k, 1M."""
    for div, unit in ((1e6, "M"), (1e3, "k")):
        if v >= div:
            return f"{v / div:g}{unit}"
    return f"{v:g}"


def log_ticks(lo: float, hi: float, label) -> list[tuple[float, str]]:
    """Ticks at 1, 2 and 5 times powers of ten within [lo, hi] (positions in log10, as a log axis wants them);
    only the powers of ten when the range spans more than two decades, so labels never overlap."""
    lo, hi = max(lo, 1e-12), max(hi, 1e-12)
    steps = (1,) if np.log10(hi / lo) > 2.5 else (1, 2, 5)
    ticks = []
    for k in range(int(np.floor(np.log10(lo))), int(np.ceil(np.log10(hi))) + 1):
        for m in steps:
            v = m * 10.0**k
            if lo / 1.05 <= v <= hi * 1.05:
                ticks.append((float(np.log10(v)), label(v)))
    return ticks


def summarise(group: list[SeedCurve], col: int) -> tuple[np.ndarray, ...]:
    """(examples, mean, lo, hi, n) over the seeds of one arm and depth at every point some seed has recorded;
    lo / hi are the 95 % interval of the mean (the mean itself where fewer than ``MIN_SEEDS`` seeds have the
    point: core.stats.shown_interval)."""
    x = np.unique(np.concatenate([c.examples for c in group]))
    mean, lo, hi, n = (np.zeros(len(x)) for _ in range(4))
    for i, e in enumerate(x):
        vals = [float(c.values[c.examples == e, col][0]) for c in group if np.any(c.examples == e)]
        ci = mean_ci(vals)
        mean[i], n[i] = ci.mean, ci.n
        lo[i], hi[i] = shown_interval(ci) or (ci.mean, ci.mean)
    lo = np.maximum(lo, 0.0)
    return x.astype(float), mean, lo, hi, n
