"""Error-surface panel (Li et al. 2018): the loss on a 2D plane through one checkpoint, as a heatmap with
contours; on the PCA plane of the weight trajectory the trajectory itself is drawn on it.

The surface arrives coarse-to-fine (every 4th grid point first): not-yet-computed points are drawn with the
value of the nearest computed one, so the picture is whole from the first batch and sharpens in place. The CSV
export holds only the grid points computed (a partial surface, while computing or after Cancel, exports fewer rows,
never a NaN row standing for a point not measured; the figure's title says how many points are in).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QFontMetricsF
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFrame,
    QHBoxLayout,
    QScrollArea,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from desktop_app.core.analysis.progress import LandscapeResult
from desktop_app.ui.analysis_protocol import AnalysisRunnerLike
from desktop_app.ui.panels.analysis_base import (
    AnalysisPanel,
    fill_combo,
    no_checkpoints_text,
    no_si_prefix,
    select_data,
)
from desktop_app.ui.panels.base import FOREGROUND, Legend, arm_label, style_plot
from desktop_app.ui.run_store import CHECKPOINTS, RunStore

N_CONTOURS = 6  # few enough to read each level off the colour bar
MAX_EPOCH_LABELS = 12
TINY = 1e-6
DIRECTIONS = (("filter-normalised random", "random"), ("PCA of the trajectory", "pca"))
SIDE_MIN, SIDE_MAX = 200, 320  # px of the controls' column beside the plot
LABEL_GAP = 6  # px between the colour bar's tick labels and its label
# the colour bar's label, longest first: the first that fits the bar's height is shown (the whole one in its tooltip)
COLOUR_LABELS = {
    ("loss", False): ("loss (NLL, nats)", "NLL (nats)", "NLL"),
    ("loss", True): ("loss (NLL, nats), log scale", "NLL (nats), log scale", "NLL, log scale", "NLL (log)"),
    ("error", False): ("error (%)", "error %"),
    ("error", True): ("error (%), log scale", "error %, log scale", "error % (log)"),
}


def filled(grid: np.ndarray) -> np.ndarray:
    """NaN cells take the value of the nearest computed cell (the coarse pass paints the whole plane)."""
    nan = ~np.isfinite(grid)
    if not nan.any() or nan.all():
        return grid.copy()
    from scipy import ndimage  # ~0.2 s: on first use, not while the window starts

    idx = ndimage.distance_transform_edt(nan, return_distances=False, return_indices=True)
    return grid[tuple(idx)]


def pixel_rect(xs: np.ndarray, ys: np.ndarray) -> QRectF:
    """The image rectangle that puts pixel (i, j)'s centre on (xs[i], ys[j])."""
    dx = (xs[-1] - xs[0]) / max(len(xs) - 1, 1)
    dy = (ys[-1] - ys[0]) / max(len(ys) - 1, 1)
    return QRectF(xs[0] - dx / 2, ys[0] - dy / 2, dx * len(xs), dy * len(ys))


def _nice_step(raw: float) -> float:
    mag = 10.0 ** math.floor(math.log10(raw))
    return next(m * mag for m in (1.0, 2.0, 5.0, 10.0) if m * mag >= raw * (1 - 1e-9))


def nice_levels(lo: float, hi: float, most: int, log: bool = False) -> np.ndarray:
    """At most ``most`` round values strictly inside (lo, hi) (1, 2 or 5 times a power of ten apart): contour
    levels and colour-bar ticks a reader can name. With ``log``, lo / hi are log10 of the quantity: round values of
    the quantity itself (0.5, 1, 2, 5 over decades), returned as log10."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return np.array([])
    a, b = (10.0 ** lo, 10.0 ** hi) if log else (lo, hi)
    if log and hi - lo >= 1.0:
        values = [m * 10.0 ** k for k in range(math.floor(lo), math.ceil(hi) + 1) for m in (1, 2, 5)]
        values = [v for v in values if a < v < b]
        while len(values) > most:
            values = values[::2]
    else:
        step = _nice_step((b - a) / (most + 1))
        values = [v for v in np.arange(math.ceil(a / step) * step, b, step) if a < v < b]
        while len(values) > most:
            step = _nice_step(step * 1.1)
            values = [v for v in np.arange(math.ceil(a / step) * step, b, step) if a < v < b]
    out = np.asarray(values, dtype=float)
    return np.log10(out) if log else out


class LandscapePanel(AnalysisPanel):
    title = "Error surface"
    analysis_name = "landscape"
    explanation = ("Loss around one trained net on a 2D plane of weight space (Li et al. 2018): filter-normalised "
                   "random directions show the basin's width, the PCA plane of the weight trajectory shows the path "
                   "training took into it.")
    kinds = (CHECKPOINTS,)

    def __init__(self, store: RunStore, analysis_runner: AnalysisRunnerLike | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(store, analysis_runner, parent)
        self.arm_box, self.seed_box, self.epoch_box = QComboBox(), QComboBox(), QComboBox()
        self.arm_box.setToolTip("The arm whose net the plane goes through")
        self.seed_box.setToolTip("The seed of that net")
        self.epoch_box.setToolTip("The checkpoint at the centre of the plane (the last one = the solution)")
        self.directions_box = QComboBox()
        fill_combo(self.directions_box, list(DIRECTIONS))
        self.directions_box.setToolTip("Random: Gaussian directions rescaled filter by filter to the weights' norms "
                                       "(comparable across nets). PCA: the top two principal directions of the "
                                       "checkpoints' path, with the path drawn on the plane.")
        self.grid_spin = QSpinBox()
        self.grid_spin.setRange(11, 101)
        self.grid_spin.setValue(41)
        self.grid_spin.setToolTip("Points per axis: a 51 x 51 grid is 2,601 evaluations of the net")
        self.range_spin = QDoubleSpinBox()
        self.range_spin.setRange(0.0, 100.0)
        self.range_spin.setSingleStep(0.25)
        self.range_spin.setSpecialValueText("auto")
        self.range_spin.setValue(0.0)
        self.range_spin.setToolTip("Half-width of the plane in direction units; auto = ±1 for random directions, "
                                   "the trajectory plus a margin for PCA")
        self.n_eval_spin = QSpinBox()
        self.n_eval_spin.setRange(0, 1_000_000)
        self.n_eval_spin.setSingleStep(500)
        self.n_eval_spin.setValue(2000)
        self.n_eval_spin.setSpecialValueText("all")
        self.n_eval_spin.setToolTip("Examples each grid point is evaluated on (the first n of the split); "
                                    "fewer = faster, noisier")
        self.split_box = QComboBox()
        self.split_box.addItems(["train", "test"])
        self.split_box.setToolTip("Evaluate the loss on labelled training examples or on the test split")
        for w in (self.arm_box, self.seed_box):
            w.currentIndexChanged.connect(self._on_unit_changed)
        for w in (self.epoch_box, self.directions_box, self.split_box):
            w.currentIndexChanged.connect(self._update_actions)
        self.add_tool("Arm", self.arm_box, "Seed", self.seed_box, "Epoch", self.epoch_box, "Directions",
                      self.directions_box, "Grid", self.grid_spin, "Range ±", self.range_spin, "Eval n",
                      self.n_eval_spin, "Split", self.split_box)
        self.finish_toolbar()
        self.quantity_box = QComboBox()
        self.quantity_box.addItem("loss (NLL)", "loss")
        self.quantity_box.addItem("error (%)", "error")
        self.quantity_box.setToolTip("What the colours show: the loss (NLL) or the classification error over the grid")
        self.log_box = QCheckBox("log10 colour scale")
        self.log_box.setChecked(True)
        self.log_box.setToolTip("Colour by log10 of the value: shows the shape of the basin floor, not only walls")
        self.contour_box = QCheckBox("Contours")
        self.contour_box.setChecked(True)
        self.contour_box.setToolTip("Draw contour lines of the surface over its colours")
        for w in (self.quantity_box, self.log_box, self.contour_box):
            (w.currentIndexChanged if isinstance(w, QComboBox) else w.toggled).connect(self._redraw)
        self.add_display("Colour", self.quantity_box, self.log_box, self.contour_box)
        self._controls_beside_the_plot()

        self.plot = style_plot(self.graphics.addPlot(row=0, col=0), "Error surface",
                               "direction 1 (alpha)", "direction 2 (beta)")
        # Both directions are in the same weight-space units: one unit is as long along alpha as along beta, so
        # the basin's true shape shows (a stretched plot would draw a round basin as a valley).
        self.plot.setAspectLocked(True, ratio=1.0)
        # The legend sits under the plot, never on the surface (which fills the whole plot area).
        self.legend = Legend(colCount=3, labelTextColor=FOREGROUND)
        self.graphics.ci.addItem(self.legend, row=1, col=0)
        self.image = pg.ImageItem(axisOrder="row-major")
        self.plot.addItem(self.image)
        self.cmap = pg.colormap.get("viridis")
        self.colorbar = pg.ColorBarItem(values=(0, 1), colorMap=self.cmap, interactive=False, pen=FOREGROUND)
        self.colorbar.setImageItem(self.image, insert_in=self.plot)
        self.colorbar.axis.enableAutoSIPrefix(False)
        self.colorbar.axis.setPen(pg.mkPen(FOREGROUND))
        self.colorbar.axis.setTextPen(pg.mkPen(FOREGROUND))
        self._tick_texts: list[str] = []  # the colour bar's tick labels, as drawn
        self.plot.vb.sigResized.connect(self._fit_colour_label)
        self.isocurves = []
        for _ in range(N_CONTOURS):
            iso = pg.IsocurveItem(level=0, pen=pg.mkPen(255, 255, 255, 150, width=1), axisOrder="row-major")
            iso.setParentItem(self.image)
            iso.setPos(0.5, 0.5)  # isocurve vertices sit on pixel corners; the values belong to pixel centres
            iso.setZValue(5)
            self.isocurves.append(iso)
        self.path_item = self.plot.plot(pen=pg.mkPen("#e8e8e8", width=2),
                                        symbol="o", symbolSize=6, symbolBrush=pg.mkBrush("#ffffff"),
                                        symbolPen=pg.mkPen(FOREGROUND))
        self.path_item.setZValue(10)
        self.center_item = pg.ScatterPlotItem(symbol="star", size=16, brush=pg.mkBrush("#d62728"),
                                              pen=pg.mkPen("w"))
        self.center_item.setZValue(11)
        self.plot.addItem(self.center_item)
        self.epoch_labels: list[pg.TextItem] = []
        self.shown: np.ndarray = np.zeros((0, 0), dtype=np.float32)  # the image drawn (filled, maybe log10)
        no_si_prefix(self.plot)
        self.finish_setup()

    def _controls_beside_the_plot(self) -> None:
        """The explanation, selectors, Compute row and status in a column left of the plot instead of above it.

        The surface is drawn 1:1 (both directions in the same units), so it is as tall as the plot is and the
        plot's width beyond that is empty: at 1280x800 four rows of text and controls above it left it about 180 px
        tall. Beside it they cost only width it had to spare. The column scrolls when the panel is shorter than it."""
        layout = self.layout()
        for w in (self.header, self.actions, self.status, self.graphics):
            layout.removeWidget(w)
        layout.removeItem(self.toolbar_row)
        for w in (self.tools, self.run_label, self.export_button):
            self.toolbar_row.removeWidget(w)
        side = QWidget()
        column = QVBoxLayout(side)
        column.setContentsMargins(0, 0, 0, 0)
        self.run_label.setWordWrap(True)
        head = QHBoxLayout()
        head.addWidget(self.run_label, 1)
        head.addWidget(self.export_button, 0, Qt.AlignmentFlag.AlignTop)
        column.addLayout(head)
        for w in (self.header, self.tools, self.actions, self.status):
            column.addWidget(w)
        column.addStretch(1)
        boxes = [w for w in self.tools.children() + self.actions.children() if isinstance(w, QWidget)]
        width = max(SIDE_MIN, min(SIDE_MAX, max(w.sizeHint().width() for w in boxes)))
        self.controls = QScrollArea()
        self.controls.setObjectName("surfaceControls")
        self.controls.setFrameShape(QFrame.Shape.NoFrame)
        self.controls.setWidgetResizable(True)
        self.controls.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.controls.setWidget(side)
        side.setFixedWidth(width)
        self.controls.setFixedWidth(width + self.controls.verticalScrollBar().sizeHint().width())
        body = QHBoxLayout()
        body.addWidget(self.controls)
        body.addWidget(self.graphics, 1)
        layout.addLayout(body, 1)

    # -- selectors ---------------------------------------------------------------------------------
    def _units_with_checkpoints(self) -> list[tuple[str, int]]:
        return [(a, s) for a, s in self.store.units() if self._epochs(a, s)]

    def _epochs(self, arm: str, seed: int) -> list[int]:
        return sorted({e for phase, e, _ in self.store.checkpoints(arm, seed) if phase == "finetune"})

    def update_selectors(self) -> None:
        units = self._units_with_checkpoints()
        arms = list(dict.fromkeys(a for a, _ in units))
        fill_combo(self.arm_box, [(arm_label(a), a) for a in arms])
        arm = self.arm_box.currentData()
        fill_combo(self.seed_box, [(str(s), s) for a, s in units if a == arm])
        self._fill_epochs()
        self._update_actions()

    def _fill_epochs(self) -> None:
        arm, seed = self.arm_box.currentData(), self.seed_box.currentData()
        epochs = self._epochs(arm, seed) if arm is not None and seed is not None else []
        fill_combo(self.epoch_box, [("last", -1)] + [(f"{e}" + (" (init)" if e == 0 else ""), e) for e in epochs])

    def _on_unit_changed(self) -> None:
        arm = self.arm_box.currentData()
        fill_combo(self.seed_box, [(str(s), s) for a, s in self._units_with_checkpoints() if a == arm])
        self._fill_epochs()
        self._update_actions()

    def compute_blocker(self) -> str:
        arm, seed = self.arm_box.currentData(), self.seed_box.currentData()
        if arm is None or seed is None:
            return no_checkpoints_text(self.store)
        if self.directions_box.currentData() == "pca" and len(self._epochs(arm, seed)) < 4:
            return "PCA directions need at least 4 checkpoints (the centre and 3 more); use random directions."
        return ""

    def compute_params(self) -> dict[str, Any]:
        r = self.range_spin.value()
        epoch = self.epoch_box.currentData()
        return {"arm": self.arm_box.currentData(), "seed": int(self.seed_box.currentData()),
                "epoch": None if epoch is None or epoch < 0 else int(epoch),
                "directions": self.directions_box.currentData(), "resolution": self.grid_spin.value(),
                "xrange": [-r, r] if r > 0 else None, "yrange": [-r, r] if r > 0 else None,
                "n_eval": self.n_eval_spin.value(), "split": self.split_box.currentText()}

    def apply_params(self, params: dict[str, Any]) -> None:
        select_data(self.arm_box, params.get("arm"))
        self._on_unit_changed()
        select_data(self.seed_box, params.get("seed"))
        self._fill_epochs()
        epoch = params.get("epoch")
        select_data(self.epoch_box, -1 if epoch is None else epoch)
        select_data(self.directions_box, params.get("directions", "random"))
        self.grid_spin.setValue(int(params.get("resolution", self.grid_spin.value())))
        xr = params.get("xrange")
        self.range_spin.setValue(float(xr[1]) if xr else 0.0)
        self.n_eval_spin.setValue(int(params.get("n_eval", self.n_eval_spin.value())))
        self.split_box.setCurrentText(str(params.get("split", "train")))

    # -- drawing -----------------------------------------------------------------------------------
    def clear_result(self) -> None:
        self.image.clear()
        self.shown = np.zeros((0, 0), dtype=np.float32)
        for iso in self.isocurves:
            iso.setData(None)
        self.path_item.setData([], [])
        self.center_item.setData([], [])
        self.legend.clear()
        self._clear_labels()
        self.plot.setTitle("Error surface: choose a checkpoint and Compute", color=FOREGROUND, size="11pt")

    def _clear_labels(self) -> None:
        for t in self.epoch_labels:
            self.plot.removeItem(t)
        self.epoch_labels = []

    def _redraw(self) -> None:
        if isinstance(self.result, LandscapeResult):
            self.show_result(self.result)

    def displayed(self, r: LandscapeResult) -> np.ndarray:
        """The grid as coloured: loss or error (%), optionally log10; NaN where not computed yet."""
        values = r.loss if self.quantity_box.currentData() == "loss" else 100.0 * r.error
        if self.log_box.isChecked():
            values = np.log10(np.maximum(values, TINY))
        return np.asarray(values, dtype=np.float64)

    def show_result(self, result: object, partial: bool = False) -> None:
        if not isinstance(result, LandscapeResult):
            return
        r = result
        values = self.displayed(r)
        finite = values[np.isfinite(values)]
        if not len(finite):
            return
        self.shown = np.ascontiguousarray(filled(values), dtype=np.float32)
        lo, hi = float(finite.min()), float(finite.max())
        hi = hi if hi > lo else lo + 1e-6
        self.image.setImage(self.shown, levels=(lo, hi), autoLevels=False)
        self.image.setRect(pixel_rect(r.xs, r.ys))
        self.colorbar.setLevels(values=(lo, hi))
        log = self.log_box.isChecked()
        show_contours = self.contour_box.isChecked() and not partial
        levels = nice_levels(lo, hi, N_CONTOURS, log)
        for i, iso in enumerate(self.isocurves):
            iso.setData(self.shown if show_contours and i < len(levels) else None,
                        float(levels[i]) if i < len(levels) else 0.0)
        # The colour bar's ticks are the contour levels, round values of the quantity itself (not its log10): they
        # fell on 0.846, 0.624 when they split the range evenly.
        ticks = [(float(v), _level_text(10.0 ** v if log else v)) for v in levels]
        self.colorbar.axis.setTicks([ticks])
        self._tick_texts = [text for _v, text in ticks]
        self._fit_colour_label()
        self._draw_trajectory(r)
        if r.directions == "pca":
            ev = np.nan_to_num(r.explained_variance_ratio) * 100
            self.plot.setLabel("bottom", f"PCA direction 1 (alpha, weight-space units; {ev[0]:.0f}% of the path's "
                                         "variance)", color=FOREGROUND)
            self.plot.setLabel("left", f"PCA direction 2 (beta; {ev[1]:.0f}%)", color=FOREGROUND)
        else:
            self.plot.setLabel("bottom", "direction 1 (alpha, filter-normalised units)", color=FOREGROUND)
            self.plot.setLabel("left", "direction 2 (beta, filter-normalised units)", color=FOREGROUND)
        n = np.isfinite(r.loss).sum()
        done = "" if n == r.loss.size else f", {n}/{r.loss.size} points so far"
        # short enough to stand whole beside the controls at 1280x800 (the title elides, whole in its tooltip)
        self.plot.setTitle(f"{arm_label(r.arm)}, seed {r.seed}, epoch {r.epoch}: {r.split} loss, n = {r.n_eval}, "
                           f"{len(r.xs)} x {len(r.ys)} grid{done}", color=FOREGROUND, size="11pt")
        self.plot.setRange(xRange=(r.xs[0], r.xs[-1]), yRange=(r.ys[0], r.ys[-1]), padding=0.02)

    def _fit_colour_label(self) -> None:
        """The colour bar's label beside its tick labels, never on them, and no longer than the bar.

        pyqtgraph's ColorBarItem fixes its axis at 45 px whatever the tick labels, so a label such as "0.65" ran
        under the axis label; the axis width is set here from the tick labels drawn, and the label is the longest
        wording that fits the bar's height (the whole one in the tooltip)."""
        axis = self.colorbar.axis
        key = (self.quantity_box.currentData(), self.log_box.isChecked())
        names = COLOUR_LABELS.get(key, ("",))
        room = axis.geometry().height()
        shown = next((n for n in names if _text_width(axis, n) + 8 <= room), names[-1])
        if axis.labelText != shown:
            axis.setLabel(shown, color=FOREGROUND)
        axis.label.setToolTip(names[0])
        widest = max((_text_width(axis, t) for t in self._tick_texts), default=0.0)
        text_left = max(0, axis.style["tickLength"]) + axis.style["tickTextOffset"][0]
        # pyqtgraph puts the rotated label at x = width - its height + 5 (resizeEvent)
        width = math.ceil(text_left + widest + LABEL_GAP + axis.label.boundingRect().height() - 5)
        if axis.fixedWidth != width:  # (not width(): the layout applies a new one later)
            axis.setWidth(width)

    def _draw_trajectory(self, r: LandscapeResult) -> None:
        self._clear_labels()
        self.center_item.setData([0.0], [0.0])
        self.legend.clear()
        self.legend.addItem(self.center_item, f"centre: epoch {r.epoch}")
        if self.contour_box.isChecked():
            self.legend.addItem(pg.PlotDataItem(pen=pg.mkPen("#9a9a9a", width=1)), "contours at the colour bar's ticks")
        if r.directions != "pca" or not len(r.trajectory):
            self.path_item.setData([], [])
            return
        self.legend.addItem(self.path_item, "trajectory (checkpoints)")
        t = r.trajectory
        self.path_item.setData(t[:, 0], t[:, 1])
        step = max(1, int(np.ceil(len(t) / MAX_EPOCH_LABELS)))
        for i in range(0, len(t), step):
            label = pg.TextItem(f"e{int(r.trajectory_epochs[i])}", color="#ffffff", anchor=(-0.15, 1.1))
            label.setPos(float(t[i, 0]), float(t[i, 1]))
            label.setZValue(12)
            self.plot.addItem(label)
            self.epoch_labels.append(label)

    def data_table(self) -> tuple[list[str], list[list[Any]]]:
        """One row per computed grid point (row by row, y outer, as the image is drawn), the centre star (its epoch:
        the checkpoint the plane goes through) and, on the PCA plane, each checkpoint of the trajectory. The error is
        in % as the colours show it (it was exported as a fraction under a bare "error"); the contour levels are the
        colour bar's ticks, round values of the quantity, not data. Points not computed yet (NaN in the result: a
        partial surface while computing or after Cancel) have no row: the picture fills them from their neighbours,
        the file holds only what was measured."""
        columns = ["kind", "x", "y", "loss", "error_pct", "epoch"]
        r = self.result
        if not isinstance(r, LandscapeResult):
            return columns, []
        rows: list[list[Any]] = []
        for j, y in enumerate(r.ys):
            for i, x in enumerate(r.xs):
                if not np.isnan(r.loss[j, i]):
                    rows.append(["grid", float(x), float(y), float(r.loss[j, i]), 100.0 * float(r.error[j, i]), ""])
        rows.append(["centre", 0.0, 0.0, "", "", int(r.epoch)])
        if r.directions == "pca":
            for (x, y), e in zip(r.trajectory, r.trajectory_epochs, strict=True):
                rows.append(["trajectory", float(x), float(y), "", "", int(e)])
        return columns, rows


def _text_width(axis: pg.AxisItem, text: str) -> float:
    """Width of ``text`` in the axis's tick font, measured as pyqtgraph measures its tick labels."""
    font = axis.style["tickFont"] or axis.font()
    return QFontMetricsF(font).boundingRect(QRectF(0, 0, 100, 100), Qt.AlignmentFlag.AlignCenter, text).width()


def _level_text(v: float) -> str:
    """A contour level for the colour bar: 3 significant digits, no exponent for everyday values."""
    return f"{v:.3g}" if 1e-3 <= abs(v) < 1e4 or v == 0 else f"{v:.2e}"
