"""Pitfall panel (Alberti et al. 2017): reconstruction error of each pre-trained first layer against how linearly
separable its features are (a linear probe's test accuracy), with raw pixels as the baseline.

If good reconstruction meant good features the points would fall on a line going down to the right of the
baseline; Alberti et al. found no such correlation. One run gives a point per (pre-training arm, seed); "Add
runs…" brings in other run folders (a sweep over noise level or width) so the correlation has a spread to see.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog, QLabel, QPushButton, QSpinBox, QWidget

from desktop_app.core.analysis.progress import PitfallResult
from desktop_app.ui import settings as settings_mod
from desktop_app.ui.analysis_protocol import AnalysisRunnerLike
from desktop_app.ui.panels.analysis_base import AnalysisPanel, no_si_prefix
from desktop_app.ui.panels.base import FOREGROUND, add_legend, arm_color, arm_label, style_plot
from desktop_app.ui.run_store import PRETRAIN, RunStore

PRETRAIN_ARMS = ("rbm", "dae", "cae")
AE_ARMS = ("dae", "cae")
SYMBOLS = ("o", "t", "d", "s", "h", "p")
MAX_POINT_LABELS = 40


def correlation_text(r: PitfallResult) -> str:
    """The correlation line shown in the panel's label."""
    n = int(np.isfinite(r.recon_error).sum())
    if not math.isfinite(r.pearson_r):
        return f"Correlation undefined with {n} point(s) (needs 3 or more, with spread); add runs from a sweep."
    text = (f"Pearson r = {r.pearson_r:+.3f} (p = {r.pearson_p:.3g}), Spearman ρ = {r.spearman_r:+.3f} "
            f"(p = {r.spearman_p:.3g}), n = {n}; raw-pixel probe {100 * r.pixel_accuracy:.1f}%.")
    if "rbm" in r.arms and any(a in AE_ARMS for a in r.arms):
        text += " Caution: this mixes RBM (squared) and autoencoder (cross-entropy) errors, which are not comparable."
    return text


class PitfallPanel(AnalysisPanel):
    title = "Pitfall"
    analysis_name = "pitfall"
    explanation = ("Reconstruction error of each pre-trained first layer against the test accuracy of a linear "
                   "probe on its features (Alberti et al. 2017): a low reconstruction error need not mean more "
                   "separable features than the raw pixels (dashed line).")
    kinds = (PRETRAIN,)

    def __init__(self, store: RunStore, analysis_runner: AnalysisRunnerLike | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(store, analysis_runner, parent)
        self.extra_runs: list[str] = []
        self.point_text = "point"  # what names each point: "point" (arm/seed) or "run" (its run's label)
        self.n_train_spin, self.n_test_spin = QSpinBox(), QSpinBox()
        for spin, what in ((self.n_train_spin, "labelled training"), (self.n_test_spin, "test")):
            spin.setRange(0, 1_000_000)
            spin.setSingleStep(500)
            spin.setSpecialValueText("all")
            spin.setToolTip(f"The probe uses the first n {what} examples (all = the whole split)")
        self.add_button = QPushButton("Add runs…")
        self.add_button.setToolTip("Include other run folders (e.g. a sweep over noise level or width): one point "
                                   "per pre-training arm and seed of each")
        self.add_button.clicked.connect(self._add_runs_dialog)
        self.clear_button = QPushButton("Clear added")
        self.clear_button.clicked.connect(self.clear_extra_runs)
        self.runs_label = QLabel("this run only")
        self.add_tool("Probe train n", self.n_train_spin, "test n", self.n_test_spin, self.add_button,
                      self.clear_button, self.runs_label)
        self.finish_toolbar()
        self.corr_label = QLabel("")
        self.corr_label.setWordWrap(True)
        self.corr_label.setToolTip("Correlation between reconstruction error and probe accuracy over the points "
                                   "with a reconstruction error. RBM errors (squared) and autoencoder errors "
                                   "(cross-entropy) are in different units: compare within one method.")
        self.layout().insertWidget(3, self.corr_label)
        self.plot = style_plot(self.graphics.addPlot(row=0, col=0), "Reconstruction vs separability",
                               "final reconstruction error per example (RBM: squared, AE: cross-entropy)",
                               "linear-probe test accuracy (%)")
        self.legend = add_legend(self.plot, offset=(-10, -10))
        self.scatters: dict[str, pg.ScatterPlotItem] = {}
        self.texts: list[pg.TextItem] = []
        self.baseline = pg.InfiniteLine(angle=0, pen=pg.mkPen("#505050", width=1.5, style=Qt.PenStyle.DashLine),
                                        label="raw pixels", labelOpts={"position": 0.05, "color": FOREGROUND,
                                                                       "anchors": [(0, 1), (0, 1)]})
        no_si_prefix(self.plot)
        self.finish_setup()

    # -- selectors ---------------------------------------------------------------------------------
    def add_runs(self, folders: list[str | Path]) -> None:
        for f in folders:
            f = str(Path(f))
            if f not in self.extra_runs and f != str(Path(self.store.run_dir)):
                self.extra_runs.append(f)
        self._show_runs()

    def clear_extra_runs(self) -> None:
        self.extra_runs = []
        self._show_runs()

    def _show_runs(self) -> None:
        n = len(self.extra_runs)
        self.runs_label.setText(f"this run + {n} more" if n else "this run only")
        self.runs_label.setToolTip("\n".join(self.extra_runs))
        self.clear_button.setEnabled(bool(n))

    def _add_runs_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Add a run folder to the pitfall plot",
                                                  str(settings_mod.workspace()))
        if folder:
            self.add_runs([folder])

    def compute_blocker(self) -> str:
        if not any(a in PRETRAIN_ARMS for a in self.store.arms) and not self.extra_runs:
            return "Needs a pre-training arm (RBM, DAE or CAE) in this run, or runs added."
        return ""

    def compute_params(self) -> dict[str, Any]:
        params: dict[str, Any] = {"n_train": self.n_train_spin.value(), "n_test": self.n_test_spin.value(),
                                  "max_iter": 300}
        if self.extra_runs:
            params["extra_runs"] = list(self.extra_runs)
        return params

    def apply_params(self, params: dict[str, Any]) -> None:
        self.n_train_spin.setValue(int(params.get("n_train", 0)))
        self.n_test_spin.setValue(int(params.get("n_test", 0)))
        self.extra_runs = [str(p) for p in params.get("extra_runs", [])]
        self._show_runs()

    # -- drawing -----------------------------------------------------------------------------------
    def clear_result(self) -> None:
        for item in self.scatters.values():
            self.plot.removeItem(item)
        self.scatters.clear()
        for t in self.texts:
            self.plot.removeItem(t)
        self.texts = []
        if self.baseline.scene() is not None:
            self.plot.removeItem(self.baseline)
        self.legend.clear()
        self.corr_label.setText("")
        self.plot.setTitle("Reconstruction vs separability: Compute to probe the pre-trained layers",
                           color=FOREGROUND, size="11pt")

    def groups(self, r: PitfallResult) -> dict[str, np.ndarray]:
        """Point indices per legend group: the arm, with the run folder for added runs ("run:arm")."""
        out: dict[str, list[int]] = {}
        for i, (lab, arm) in enumerate(zip(r.labels, r.arms, strict=True)):
            run = lab.split(":", 1)[0] if ":" in lab else ""
            out.setdefault(f"{run}:{arm}" if run else arm, []).append(i)
        return {k: np.array(v, dtype=int) for k, v in out.items()}

    def show_result(self, result: object, partial: bool = False) -> None:
        if not isinstance(result, PitfallResult):
            return
        r = result
        self.clear_result()
        arms = list(dict.fromkeys(r.arms))
        runs = list(dict.fromkeys(k.split(":", 1)[0] for k in self.groups(r) if ":" in k))
        for key, idx in self.groups(r).items():
            run, _, arm = key.rpartition(":")
            symbol = SYMBOLS[(runs.index(run) + 1) % len(SYMBOLS)] if run else SYMBOLS[0]
            scatter = pg.ScatterPlotItem(r.recon_error[idx], 100.0 * r.probe_accuracy[idx], symbol=symbol, size=11,
                                         brush=pg.mkBrush(arm_color(arm, arms, 210)), pen=pg.mkPen(FOREGROUND),
                                         data=[r.labels[i] for i in idx], hoverable=True, tip=_tip)
            self.plot.addItem(scatter)
            this_run = Path(self.store.run_dir).name if runs else ""
            self.legend.addItem(scatter, f"{run or this_run}: {arm_label(arm)}" if run or this_run else arm_label(arm))
            self.scatters[key] = scatter
        if len(r.labels) <= MAX_POINT_LABELS:
            for lab, x, y in zip(r.labels, r.recon_error, r.probe_accuracy, strict=True):
                if math.isfinite(x):
                    run, _, point = lab.rpartition(":")
                    text = pg.TextItem(run if self.point_text == "run" and run else point, color="#404040",
                                       anchor=(-0.1, 0.5))
                    text.setPos(float(x), 100.0 * float(y))
                    self.plot.addItem(text)
                    self.texts.append(text)
        self.baseline.setValue(100.0 * r.pixel_accuracy)
        self.baseline.label.setFormat(f"raw pixels {100 * r.pixel_accuracy:.1f}%")
        self.plot.addItem(self.baseline)
        self.legend.addItem(pg.PlotDataItem(pen=self.baseline.pen), "linear probe on raw pixels")
        self.plot.setTitle(f"{len(r.labels)} pre-trained layers: probe on {r.n_train} train / {r.n_test} test "
                           "examples", color=FOREGROUND, size="11pt")
        self.corr_label.setText(correlation_text(r))
        ys = np.r_[100.0 * r.probe_accuracy, 100.0 * r.pixel_accuracy]
        ys = ys[np.isfinite(ys)]
        if len(ys):
            pad = max(1.0, 0.15 * float(np.ptp(ys)))
            self.plot.setYRange(float(ys.min()) - pad, float(ys.max()) + pad, padding=0)
        xs = r.recon_error[np.isfinite(r.recon_error)]
        if len(xs):
            pad = max(0.15 * float(np.ptp(xs)), 0.05 * float(np.abs(xs).max()), 1e-6)
            self.plot.setXRange(float(xs.min()) - pad, float(xs.max()) + 2 * pad, padding=0)  # room for labels

    def data_table(self) -> tuple[list[str], list[list[Any]]]:
        columns = ["label", "arm", "seed", "layer", "recon_error", "probe_accuracy_pct", "pixel_accuracy_pct",
                   "pearson_r", "pearson_p", "spearman_r", "spearman_p"]
        r = self.result
        if not isinstance(r, PitfallResult):
            return columns, []
        return columns, [[lab, arm, int(s), int(layer), float(x), 100.0 * float(y), 100.0 * r.pixel_accuracy,
                          r.pearson_r, r.pearson_p, r.spearman_r, r.spearman_p]
                         for lab, arm, s, layer, x, y in zip(r.labels, r.arms, r.seeds, r.layer, r.recon_error,
                                                             r.probe_accuracy, strict=True)]


def _tip(x: float, y: float, data: object) -> str:
    return f"{data}\nreconstruction error {x:.4g}\nprobe accuracy {y:.2f}%"
