"""Trajectory panel: log test NLL vs log train NLL, one curve per seed, an epoch a point (Erhan 2010, Fig. 1).

Pre-training acting as a regulariser shows as curves that end lower on the test axis at equal or higher
train NLL. Each arm keeps its colour, in TIME_BINS shades from pale (early epochs) to dark (late ones), so where
training is along a curve reads at any number of seeds. Drawing is batched by colour, never one item per seed: an
arm's points are ONE PlotDataItem (the epoch symbols, hover and the CSV read its arrays; a ``connect`` array breaks
it between seeds) and its lines one item per shade (the segments of that stretch of epochs, ``connect`` again), so
2 x 400 curves of 100 points redraw as a dozen items. With a comparison open (docs/ARCHITECTURE.md, "Comparing
runs") every run's arms are drawn, each run in its own line style and each arm in its colour.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QCheckBox, QLabel, QWidget

from desktop_app.core.lab.grouping import seed_text
from desktop_app.core.lab.store import METRIC_NAMES, RunData
from desktop_app.ui.panels.base import (
    FOREGROUND,
    Panel,
    add_legend,
    arm_color,
    arm_label,
    legend_clear_of,
    style_plot,
    style_sample,
)
from desktop_app.ui.panels.compare import STYLE_NAMES, comparison_arms, elide_legend, run_style
from desktop_app.ui.panels.log_axis import LogAxis, decade_ticks  # noqa: F401 - re-exported
from desktop_app.ui.run_store import METRICS, RunStore

# Above this many points an arm is drawn as lines only, on screen and in exports alike: symbols cost ~10x to draw,
# and exported each symbol is drawn alone (2 x 400 seeds x 11 epochs: a 7 s PNG and a 40 s SVG of 17,600 symbol
# paths, against a fraction of a second for the lines; issue 25). At that density the lines show the clouds.
MAX_SYMBOL_POINTS = 4_000
# Above it the lines are also 1 px wide: Qt strokes a wider line with its general path stroker, which drew 2 x 4,400
# points in ~200 ms against ~2 ms at 1 px (the GUI thread's longest stall when a 2 x 400 study opened; issue 25).
# Hundreds of overlapping translucent curves look the same either way.
HOVER_RADIUS_PX = 12.0
TINY = 1e-12  # NLL is > 0; clip so log10 stays finite
# Shades of an arm's colour along training: above MAX_SYMBOL_POINTS the lines alone drew each arm as one flat mass
# (2 x 400 seeds: the last arm drawn covered the first, and nothing said which end of a curve was early). Later
# shades are drawn over earlier ones, of every arm, so late epochs are never buried under another arm's start.
TIME_BINS = 5
PALE, DARK = 0.45, 0.6  # the first shade: the colour at 45 % over white; the last: the colour at 60 % brightness
TITLE = "Test vs train NLL, one curve per seed (pale: early epochs, dark: late)"


@dataclass
class ArmTrajectories:
    """Every point of one arm, seed after seed, as drawn."""

    arm: str
    seeds: np.ndarray  # int (P,)
    epochs: np.ndarray  # int (P,)
    train_nll: np.ndarray  # (P,)
    test_nll: np.ndarray  # (P,)
    connect: np.ndarray  # bool (P,): point i is joined to point i+1 (same seed)
    run: str = ""  # the compared run's label ("" outside a comparison)

    @property
    def x(self) -> np.ndarray:
        return np.log10(np.maximum(self.train_nll, TINY))

    @property
    def y(self) -> np.ndarray:
        return np.log10(np.maximum(self.test_nll, TINY))


def time_shades(colour: QColor, n: int = TIME_BINS) -> list[QColor]:
    """``n`` shades of an arm's colour from pale (early epochs) through the colour itself to dark (late); alpha kept."""
    out = []
    for k in range(n):
        t = k / (n - 1) if n > 1 else 1.0
        if t <= 0.5:  # white -> colour
            f = PALE + (1 - PALE) * t / 0.5
            rgb = [round(255 + (c - 255) * f) for c in colour.getRgb()[:3]]
        else:  # colour -> dark
            g = 1 - (1 - DARK) * (t - 0.5) / 0.5
            rgb = [round(c * g) for c in colour.getRgb()[:3]]
        out.append(QColor(*rgb, colour.alpha()))
    return out


def time_bins(traj: ArmTrajectories, n: int = TIME_BINS) -> list[tuple[np.ndarray, np.ndarray]]:
    """The arm's line segments split into ``n`` stretches of epochs (equal spans of its epoch range; a segment
    belongs to the stretch of the epoch it starts at): per stretch the indices of the points drawn and its
    ``connect`` array (True: joined to the next point drawn), consecutive segments joined into one line so a dash
    pattern runs along it."""
    if not len(traj.epochs):
        return [(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=bool)) for _ in range(n)]
    lo, hi = int(traj.epochs.min()), int(traj.epochs.max())
    which = (traj.epochs - lo) * n // max(hi - lo, 1)  # a segment starts before ``hi``: stretch 0 .. n - 1
    out = []
    for b in range(n):
        starts = traj.connect & (which == b)
        drawn = starts.copy()
        drawn[1:] |= starts[:-1]  # each segment's end point
        idx = np.flatnonzero(drawn)
        out.append((idx, starts[idx]))
    return out


def collect(store: RunStore | RunData, arm: str) -> ArmTrajectories:
    """One arm's (train NLL, test NLL) points from the store, seed by seed (joined in one pass: per-unit array
    operations cost 80 ms for a comparison of two 2 x 400 studies)."""
    pairs = [(s, u) for s, u in ((s, store.unit(a, s)) for a, s in store.units() if a == arm) if len(u.epochs)]
    if not pairs:
        empty = np.zeros(0)
        return ArmTrajectories(arm, empty.astype(np.int64), empty.astype(np.int64), empty, empty, empty.astype(bool))
    units = [u for _, u in pairs]
    lengths = np.array([len(u.epochs) for u in units])
    # the store's seed, not the unit's own: a group's pooled data numbers its members' seeds apart (core.lab.grouping)
    seed_arr = np.repeat(np.array([s for s, _ in pairs], dtype=np.int64), lengths)
    metrics = np.concatenate([u.metrics for u in units])
    epochs = np.concatenate([u.epochs for u in units]).astype(np.int64, copy=False)
    connect = np.zeros(len(seed_arr), dtype=bool)
    connect[:-1] = seed_arr[1:] == seed_arr[:-1]
    return ArmTrajectories(arm, seed_arr, epochs, metrics[:, METRIC_NAMES.index("train_nll")].copy(),
                           metrics[:, METRIC_NAMES.index("test_nll")].copy(), connect)


LogNLLAxis = LogAxis  # (the name its tests and older code use)


class TrajectoryPanel(Panel):
    title = "Trajectories"
    explanation = ("Test NLL against train NLL, log-log, one curve per seed and a point per epoch (Erhan et al. "
                   "2010, Fig. 1): pre-training acts as a regulariser when its curves end lower in test NLL at "
                   "equal or higher train NLL.")
    kinds = (METRICS,)
    compares = True

    def __init__(self, store: RunStore, parent: QWidget | None = None) -> None:
        super().__init__(store, parent)
        self.points_box = QCheckBox("Epoch points")
        self.points_box.setChecked(True)
        self.points_box.setToolTip(f"Mark every epoch (arms with more than {MAX_SYMBOL_POINTS:,} points are drawn "
                                   "as lines only, to stay fast)")
        self.points_box.toggled.connect(lambda _on: self.request_refresh())
        self.add_tool(self.points_box)
        self.finish_toolbar()
        self.hover_label = QLabel("Hover a point to read its arm, seed, epoch and NLLs.")
        self.layout().addWidget(self.hover_label)

        # data are log10 values; the axes label them in nats
        axes = {"bottom": LogNLLAxis("bottom"), "left": LogNLLAxis("left")}
        self.plot = style_plot(self.graphics.addPlot(row=0, col=0, axisItems=axes), TITLE,
                               "train NLL (nats, log scale)", "test NLL (nats, log scale)")
        self.legend = add_legend(self.plot, offset=(-10, 10))
        self.items: dict[str, pg.PlotDataItem] = {}  # per arm (and run): every point, the epoch symbols
        self.lines: dict[str, list[pg.PlotDataItem]] = {}  # per arm (and run): its lines, one item per shade
        self.ends: dict[str, pg.ScatterPlotItem] = {}
        self.data: dict[str, ArmTrajectories] = {}
        self._legend_layout: tuple = ()
        self.marker = pg.ScatterPlotItem(size=12, pen=pg.mkPen(FOREGROUND, width=2), brush=None)
        self.marker.setZValue(10)
        self.plot.addItem(self.marker)
        self.plot.vb.sigResized.connect(self._place_legend)
        self._proxy = pg.SignalProxy(self.plot.scene().sigMouseMoved, rateLimit=30, slot=self._on_mouse_moved)
        self.request_refresh()

    def arms(self) -> list[str]:
        arms = list(self.store.arms)
        return arms + [a for a, _ in self.store.units() if a not in arms]

    def _groups(self) -> list[tuple[str, str, int, RunStore | RunData]]:
        """(key, run label, run index, data) of every run drawn: the shown run, or each compared run."""
        comparison = self.comparison()
        if comparison is None:
            return [("", "", 0, self.store)]
        return [(r.label, r.label, i, r.data) for i, r in enumerate(comparison)]

    def refresh(self) -> None:
        comparison = self.comparison()
        arms = comparison_arms(comparison) if comparison is not None else self.arms()
        wanted = {}
        for _key, run, index, data in self._groups():
            for arm in arms:
                if comparison is None or any(a == arm for a, _ in data.units()):
                    wanted[f"{run}\x1f{arm}" if run else arm] = (run, index, data, arm)
        layout = tuple(wanted)
        for key in [k for k in self.items if k not in wanted]:
            self.plot.removeItem(self.items.pop(key))
            self.plot.removeItem(self.ends.pop(key))
            for item in self.lines.pop(key):
                self.plot.removeItem(item)
        self.data = {}
        for key, (run, index, data, arm) in wanted.items():
            traj = collect(data, arm)
            traj.run = run
            self.data[key] = traj
            n_seeds = len(np.unique(traj.seeds))
            colour = arm_color(arm, arms, alpha=220 if n_seeds <= 10 else 90)
            if key not in self.items:  # (the legend is refilled below: arms, then runs)
                self.items[key] = self.plot.plot(name=f"{run} · {arm_label(arm)}" if run else arm_label(arm))
                self.lines[key] = [pg.PlotDataItem() for _ in range(TIME_BINS)]
                for b, item in enumerate(self.lines[key]):
                    item.setZValue(-1 + b / TIME_BINS)  # later epochs over earlier ones, of every arm
                    self.plot.addItem(item)
                self.ends[key] = pg.ScatterPlotItem(size=9, symbol="s", pen=pg.mkPen(FOREGROUND, width=0.8))
                self.ends[key].setZValue(5)
                self.plot.addItem(self.ends[key])
            x, y = traj.x, traj.y
            symbols = self.points_box.isChecked() and len(x) <= MAX_SYMBOL_POINTS
            style = run_style(index) if run else Qt.PenStyle.SolidLine
            width = 1.0 if len(x) > MAX_SYMBOL_POINTS else 1.2 if not run else 1.6  # (MAX_SYMBOL_POINTS)
            self.items[key].setData(x, y, connect=traj.connect, pen=None, symbol="o" if symbols else None,
                                    symbolSize=4, symbolPen=None, symbolBrush=pg.mkBrush(colour))
            for item, shade, (idx, joined) in zip(self.lines[key], time_shades(colour), time_bins(traj), strict=True):
                item.setData(x[idx], y[idx], connect=joined, pen=pg.mkPen(shade, width=width, style=style))
            last = ~traj.connect  # the last point of each seed: where training ended
            self.ends[key].setData(x[last], y[last], brush=pg.mkBrush(arm_color(arm, arms)))
        if layout != self._legend_layout:
            self._fill_legend(arms)
            self._legend_layout = layout
        self._place_legend()
        self.marker.setData([], [])

    def _place_legend(self, *_args: object) -> None:
        """The legend goes to the corner the curves cross least, with room made above or below the curves when
        they cross every corner (again when the plot resizes). It sat top-right, over where every seed starts.
        Entries longer than the plot is wide (runs named by many fields) are elided, their whole text in the tooltip:
        the legend ran past the plot's left edge, each run's name cut at its start."""
        width = self.plot.vb.width()
        if width >= 100:  # (not laid out yet: the resize places it again)
            elide_legend(self.legend, width - 20)
            self.legend.layout.invalidate()  # the frame follows the texts only when asked (pyqtgraph sizes it on add)
            hint = self.legend.layout.preferredSize()
            self.legend.setGeometry(0, 0, hint.width(), hint.height())
        xs = np.concatenate([d.x for d in self.data.values()]) if self.data else np.zeros(0)
        ys = np.concatenate([d.y for d in self.data.values()]) if self.data else np.zeros(0)
        legend_clear_of(self.plot, self.legend, xs, ys, only_if_covered=True)

    def _fill_legend(self, arms: list[str]) -> None:
        """Arms by colour; in a comparison also each run by its line style, named by what differs."""
        self.legend.clear()
        comparison = self.comparison()
        shown = list(dict.fromkeys(arm for key, d in self.data.items() for arm in [key.split("\x1f")[-1]]))
        for arm in shown:  # (a line in the arm's own colour: its item draws only the points)
            self.legend.addItem(style_sample(Qt.PenStyle.SolidLine, arm_color(arm, arms)), arm_label(arm))
        for i, r in enumerate(comparison or ()):
            self.legend.addItem(style_sample(run_style(i)), f"{r.label} ({STYLE_NAMES[run_style(i)]})")

    # -- hover -------------------------------------------------------------------------------------
    def _on_mouse_moved(self, args: tuple) -> None:
        pos = args[0]
        if not self.plot.sceneBoundingRect().contains(pos):
            return
        view = self.plot.vb.mapSceneToView(pos)
        self.hover_at(view.x(), view.y())

    def hover_at(self, x: float, y: float) -> str:
        """Show the point nearest to (x, y) (view coordinates: log10 NLLs) within a few pixels; returns the text."""
        px, py = self.plot.vb.viewPixelSize()
        best: tuple[float, str, int] | None = None
        for key, data in self.data.items():
            if not len(data.x):
                continue
            d = np.hypot((data.x - x) / max(px, 1e-12), (data.y - y) / max(py, 1e-12))
            i = int(np.argmin(d))
            if best is None or d[i] < best[0]:
                best = (float(d[i]), key, i)
        if best is None or best[0] > HOVER_RADIUS_PX:
            self.marker.setData([], [])
            return ""
        _, key, i = best
        data = self.data[key]
        arm = data.arm
        who = f"{data.run}, {arm_label(arm)}" if data.run else arm_label(arm)
        text = (f"{who}, seed {seed_text(data.seeds[i])}, epoch {data.epochs[i]}: "
                f"train NLL {data.train_nll[i]:.4f}, test NLL {data.test_nll[i]:.4f}")
        self.hover_label.setText(text)
        self.marker.setData([data.x[i]], [data.y[i]])
        return text

    def data_table(self) -> tuple[list[str], list[list[Any]]]:
        columns = ["arm", "seed", "epoch", "train_nll", "test_nll", "log10_train_nll", "log10_test_nll"]
        comparing = self.comparison() is not None
        if comparing:
            columns = ["run", *columns]
        rows: list[list[Any]] = []
        for d in self.data.values():
            x, y = d.x, d.y
            head = [d.run] if comparing else []
            rows += [[*head, d.arm, int(d.seeds[i]), int(d.epochs[i]), float(d.train_nll[i]), float(d.test_nll[i]),
                      float(x[i]), float(y[i])] for i in range(len(x))]
        return columns, rows
