"""Pitfall panel (Alberti et al. 2017): reconstruction error of each pre-trained first layer against how linearly
separable its features are (a linear probe's test accuracy), with raw pixels as the baseline.

If good reconstruction meant good features the points would fall on a line going down to the right of the
baseline; Alberti et al. found no such correlation. One run gives a point per (pre-training arm, seed); "Add
runs…" brings in other run folders (a sweep over noise level or width) so the correlation has a spread to see.

RBM errors (squared) and autoencoder errors (cross-entropy) are different quantities: each kind gets its own
plot (same accuracy axis) and its own correlation; no correlation is ever computed over both.
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
from desktop_app.ui.panels.base import FOREGROUND, Legend, arm_color, arm_label, style_plot
from desktop_app.ui.run_store import PRETRAIN, RunStore

PRETRAIN_ARMS = ("rbm", "dae", "cae")
AE_ARMS = ("dae", "cae")
SYMBOLS = ("o", "t", "d", "s", "h", "p", "star", "t1", "t2", "t3", "+", "x")  # one per added run
MAX_POINT_LABELS = 40
KIND_NAMES = {"squared": "RBM", "cross-entropy": "autoencoders"}
KIND_AXES = {"squared": "RBM reconstruction error (squared, per example)",
             "cross-entropy": "AE reconstruction error (cross-entropy, per example)"}
NEAR = 0.05  # labels of points closer than this fraction of the axes' spans are merged into one


def error_kind(arm: str) -> str:
    """What an arm's reconstruction error measures: an RBM's squared error or an autoencoder's cross-entropy."""
    return "cross-entropy" if arm in AE_ARMS else "squared"


def kind_points(r: PitfallResult) -> dict[str, np.ndarray]:
    """Indices of the points with a reconstruction error, per error kind (in first-seen order)."""
    out: dict[str, list[int]] = {}
    for i, arm in enumerate(r.arms):
        if math.isfinite(float(r.recon_error[i])):
            out.setdefault(error_kind(arm), []).append(i)
    return {k: np.array(v, dtype=int) for k, v in out.items()}


def correlations(r: PitfallResult, idx: np.ndarray) -> tuple[float, float, float, float]:
    """(Pearson r, p, Spearman rho, p) over the points ``idx`` (one error kind); NaN below 3 points or no spread."""
    x, y = r.recon_error[idx], r.probe_accuracy[idx]
    if len(idx) == len(r.labels) and len(kind_points(r)) == 1:  # every point, one kind: the analysis's own numbers
        return r.pearson_r, r.pearson_p, r.spearman_r, r.spearman_p
    if len(idx) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return (float("nan"),) * 4
    from scipy import stats  # lazily: ~0.5 s to import

    pr, pp = stats.pearsonr(x, y)
    sr, sp = stats.spearmanr(x, y)
    return float(pr), float(pp), float(sr), float(sp)


def correlation_text(r: PitfallResult) -> str:
    """The correlation line shown in the panel's label: one per error kind, never over both."""
    kinds = kind_points(r)
    parts = []
    for kind, idx in kinds.items():
        pr, pp, sr, sp = correlations(r, idx)
        prefix = f"{KIND_NAMES[kind]}: " if len(kinds) > 1 else ""
        if not math.isfinite(pr):
            parts.append(f"{prefix}correlation undefined with {len(idx)} point(s) (needs 3 or more, with spread)")
        else:
            parts.append(f"{prefix}Pearson r = {pr:+.3f} (p = {pp:.3g}), Spearman ρ = {sr:+.3f} (p = {sp:.3g}), "
                         f"n = {len(idx)}")
    if not parts:
        parts.append("Correlation undefined with 0 point(s)")
    text = "; ".join(parts)
    text = text[0].upper() + text[1:] + f"; raw-pixel probe {100 * r.pixel_accuracy:.1f}%."
    if any("undefined" in p for p in parts):
        text += " Add runs from a sweep for a spread."
    if len(kinds) > 1:
        text += " RBM (squared) and autoencoder (cross-entropy) errors are different quantities: each has its plot."
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
        self.clear_button.setToolTip("Drop the runs added with Add runs…: back to this run's points only")
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
        # One plot per error kind, sharing the accuracy axis; self.plot is the first one shown.
        self.kind_plots: dict[str, pg.PlotItem] = {}
        self.legends: dict[str, pg.LegendItem] = {}
        self.baselines: dict[str, pg.InfiniteLine] = {}
        for kind in KIND_AXES:
            plot = style_plot(pg.PlotItem(), "Reconstruction vs separability", KIND_AXES[kind],
                              "linear-probe test accuracy (%)")
            no_si_prefix(plot)
            self.kind_plots[kind] = plot
            self.legends[kind] = Legend(colCount=2, labelTextColor=FOREGROUND)  # under its plot, off the data
            self.baselines[kind] = pg.InfiniteLine(
                angle=0, pen=pg.mkPen("#505050", width=1.5, style=Qt.PenStyle.DashLine), label="raw pixels",
                labelOpts={"position": 0.05, "color": FOREGROUND, "anchors": [(0, 1), (0, 1)]})
        self.kind_plots["cross-entropy"].setYLink(self.kind_plots["squared"])
        self.plot = self.kind_plots["squared"]
        self.legend = self.legends["squared"]
        self.baseline = self.baselines["squared"]
        self.graphics.ci.addItem(self.plot, row=0, col=0)
        self.scatters: dict[str, pg.ScatterPlotItem] = {}
        self.texts: list[pg.TextItem] = []
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
        for plot, legend, baseline in zip(self.kind_plots.values(), self.legends.values(), self.baselines.values(),
                                          strict=True):
            for item in [*self.scatters.values(), *self.texts, baseline]:
                if item.scene() is not None and item.parentItem() is not None and item in plot.items:
                    plot.removeItem(item)
            legend.clear()
        self.scatters.clear()
        self.texts = []
        kinds = self._run_kinds()  # before a result: the axes of the shown run's methods (a CAE run's is not RBM's)
        self._show_plots(kinds)
        self.plot, self.legend, self.baseline = (self.kind_plots[kinds[0]], self.legends[kinds[0]],
                                                 self.baselines[kinds[0]])
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

    def _run_kinds(self) -> list[str]:
        """The error kinds of the shown run's pre-training arms, RBM's first ("squared" when it has none)."""
        kinds = {error_kind(arm) for arm in self.store.arms if arm != "none"}
        return [k for k in KIND_AXES if k in kinds] or ["squared"]

    def _show_plots(self, kinds: list[str]) -> None:
        """Put the plots of ``kinds`` side by side in the layout, each with its legend under it (and only them)."""
        layout = self.graphics.ci
        for item in [*self.kind_plots.values(), *self.legends.values()]:
            if item in layout.items:
                layout.removeItem(item)
        # one y axis for both plots only while both are shown: linked to a plot out of the layout (no size), the
        # AE plot's y range came out as -100..-10
        self.kind_plots["cross-entropy"].setYLink(self.kind_plots["squared"] if len(kinds) > 1 else None)
        for col, kind in enumerate(kinds):
            layout.addItem(self.kind_plots[kind], row=0, col=col)
            layout.addItem(self.legends[kind], row=1, col=col)

    def show_result(self, result: object, partial: bool = False) -> None:
        if not isinstance(result, PitfallResult):
            return
        r = result
        self.clear_result()
        arms = list(dict.fromkeys(r.arms))
        runs = list(dict.fromkeys(k.split(":", 1)[0] for k in self.groups(r) if ":" in k))
        kinds = list(kind_points(r)) or ["squared"]
        self._show_plots(kinds)
        first = kinds[0]  # self.plot / legend / baseline: those of the first plot shown
        self.plot, self.legend, self.baseline = self.kind_plots[first], self.legends[first], self.baselines[first]
        for key, idx in self.groups(r).items():
            run, _, arm = key.rpartition(":")
            plot, legend = self.kind_plots[error_kind(arm)], self.legends[error_kind(arm)]
            symbol = SYMBOLS[(runs.index(run) + 1) % len(SYMBOLS)] if run else SYMBOLS[0]
            scatter = pg.ScatterPlotItem(r.recon_error[idx], 100.0 * r.probe_accuracy[idx], symbol=symbol, size=11,
                                         brush=pg.mkBrush(arm_color(arm, arms, 210)), pen=pg.mkPen(FOREGROUND),
                                         data=[r.labels[i] for i in idx], hoverable=True, tip=_tip)
            plot.addItem(scatter)
            this_run = Path(self.store.run_dir).name if runs else ""
            legend.addItem(scatter, f"{run or this_run}: {arm_label(arm)}" if run or this_run else arm_label(arm))
            self.scatters[key] = scatter
        ys = np.r_[100.0 * r.probe_accuracy, 100.0 * r.pixel_accuracy]
        ys = ys[np.isfinite(ys)]
        y_lo, y_hi = (float(ys.min()), float(ys.max())) if len(ys) else (0.0, 100.0)
        y_pad = max(1.0, 0.15 * (y_hi - y_lo))
        for kind in kinds:
            plot, legend, baseline = self.kind_plots[kind], self.legends[kind], self.baselines[kind]
            idx = kind_points(r).get(kind, np.zeros(0, dtype=int))
            xs = r.recon_error[idx]
            x_lo, x_hi = (float(xs.min()), float(xs.max())) if len(xs) else (0.0, 1.0)
            x_pad = max(0.15 * (x_hi - x_lo), 0.05 * max(abs(x_lo), abs(x_hi)), 1e-6)
            if len(r.labels) <= MAX_POINT_LABELS:
                self._label_points(plot, r, idx, (x_hi - x_lo + 2 * x_pad, y_hi - y_lo + 2 * y_pad))
            baseline.setValue(100.0 * r.pixel_accuracy)
            baseline.label.setFormat(f"raw pixels {100 * r.pixel_accuracy:.1f}%")
            plot.addItem(baseline)
            legend.addItem(pg.PlotDataItem(pen=baseline.pen), "linear probe on raw pixels")
            plot.setXRange(x_lo - x_pad, x_hi + 2 * x_pad, padding=0)  # room for the labels on the right
            plot.setTitle(f"{KIND_NAMES[kind]}: {len(idx)} pre-trained layer(s)", color=FOREGROUND, size="11pt")
        self.plot.setYRange(y_lo - y_pad, y_hi + y_pad, padding=0)
        self.plot.setTitle(f"{self.plot.titleLabel.text}; probe on {r.n_train} train / {r.n_test} test examples",
                       color=FOREGROUND, size="11pt")
        self.corr_label.setText(correlation_text(r))

    def _label_points(self, plot: pg.PlotItem, r: PitfallResult, idx: np.ndarray, spans: tuple[float, float]) -> None:
        """One label per cluster of nearby points ("dae/s0, s1"), so labels never print over each other."""
        clusters: list[list[int]] = []
        for i in sorted(idx, key=lambda i: -float(r.probe_accuracy[i])):
            for c in clusters:
                j = c[0]
                if (abs(r.recon_error[i] - r.recon_error[j]) < NEAR * spans[0]
                        and abs(100 * (r.probe_accuracy[i] - r.probe_accuracy[j])) < NEAR * spans[1]):
                    c.append(int(i))
                    break
            else:
                clusters.append([int(i)])
        for c in clusters:
            names = [self._point_name(r.labels[i]) for i in c]
            text = pg.TextItem(_merge_names(names), color="#404040", anchor=(-0.1, 0.5))
            text.setPos(float(np.mean(r.recon_error[c])), 100.0 * float(np.mean(r.probe_accuracy[c])))
            plot.addItem(text)
            self.texts.append(text)

    def _point_name(self, label: str) -> str:
        run, _, point = label.rpartition(":")
        return run if self.point_text == "run" and run else point

    def data_table(self) -> tuple[list[str], list[list[Any]]]:
        """One row per point; the correlations are those of the point's error kind (never over both kinds)."""
        columns = ["label", "arm", "seed", "layer", "error_kind", "recon_error", "probe_accuracy_pct",
                   "pixel_accuracy_pct", "pearson_r", "pearson_p", "spearman_r", "spearman_p"]
        r = self.result
        if not isinstance(r, PitfallResult):
            return columns, []
        corr = {kind: correlations(r, idx) for kind, idx in kind_points(r).items()}
        nan4 = (float("nan"),) * 4
        return columns, [[lab, arm, int(s), int(layer), error_kind(arm), float(x), 100.0 * float(y),
                          100.0 * r.pixel_accuracy, *corr.get(error_kind(arm), nan4)]
                         for lab, arm, s, layer, x, y in zip(r.labels, r.arms, r.seeds, r.layer, r.recon_error,
                                                             r.probe_accuracy, strict=True)]


def _tip(x: float, y: float, data: object) -> str:
    return f"{data}\nreconstruction error {x:.4g}\nprobe accuracy {y:.2f}%"


def _merge_names(names: list[str]) -> str:
    """"dae/s0", "dae/s1" -> "dae/s0, s1": the shared prefix once."""
    if len(names) == 1:
        return names[0]
    head = names[0].rpartition("/")[0]
    if head and all(n.rpartition("/")[0] == head for n in names):
        return f"{head}/" + ", ".join(n.rpartition("/")[2] for n in names)
    return ", ".join(names)
