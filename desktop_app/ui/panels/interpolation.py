"""1D interpolation panel (Goodfellow, Vinyals & Saxe 2015): loss and error along a straight line in weight space.

init -> solution asks whether training could have gone straight down (a monotone fall means no barrier on the
direct path); pretrained solution -> random-init solution of the same seed asks whether the two arms end in one
basin or in two separated by a bump.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QSpinBox, QWidget

from desktop_app.core.analysis.progress import InterpolationResult
from desktop_app.ui.analysis_protocol import AnalysisRunnerLike
from desktop_app.ui.panels.analysis_base import (
    AnalysisPanel,
    fill_combo,
    no_checkpoints_text,
    no_si_prefix,
    select_data,
)
from desktop_app.ui.panels.base import (
    FOREGROUND,
    add_legend,
    arm_color,
    arm_label,
    dense,
    place_legend,
    style_plot,
    style_sample,
)
from desktop_app.ui.run_store import CHECKPOINTS, RunStore

MODES = (("init → solution", "init_to_solution"),
         ("pretrained solution → random-init solution", "pretrained_to_random"))
REFERENCE_ARM = "none"
SPLIT_STYLES = {"train": Qt.PenStyle.DashLine, "test": Qt.PenStyle.SolidLine}  # the colour is the arm's


class InterpolationPanel(AnalysisPanel):
    title = "Interpolation"
    analysis_name = "interpolation"
    explanation = ("Loss and error along the straight line between two nets, alpha 0 to 1, extended to [-0.5, 1.5] "
                   "(Goodfellow et al. 2015): init → solution shows whether the direct path only goes down; "
                   "pretrained → random solution shows whether a barrier separates the two arms' basins.")
    kinds = (CHECKPOINTS,)

    def __init__(self, store: RunStore, analysis_runner: AnalysisRunnerLike | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(store, analysis_runner, parent)
        self.mode_box = QComboBox()
        fill_combo(self.mode_box, list(MODES))
        self.mode_box.setToolTip("init → solution: the arm's e0000 checkpoint (its pre-trained or random start) to "
                                 "its last one. pretrained → random: a pre-trained arm's solution to the random-init "
                                 "arm's solution of the same seed.")
        self.arm_box, self.seed_box = QComboBox(), QComboBox()
        self.arm_box.setToolTip("The arm at alpha = 0")
        self.seed_box.setToolTip("The seed (both ends share it)")
        self.n_eval_spin = QSpinBox()
        self.n_eval_spin.setRange(0, 1_000_000)
        self.n_eval_spin.setSingleStep(500)
        self.n_eval_spin.setValue(2000)
        self.n_eval_spin.setSpecialValueText("all")
        self.n_eval_spin.setToolTip("Training examples the train curve is evaluated on (the test curve uses the "
                                    "whole test split)")
        self.points_spin = QSpinBox()
        self.points_spin.setRange(5, 401)
        self.points_spin.setValue(41)
        self.points_spin.setToolTip("Points on alpha in [-0.5, 1.5]; 41 puts points exactly on 0 and 1")
        self.mode_box.currentIndexChanged.connect(self.update_selectors)
        self.arm_box.currentIndexChanged.connect(self._on_arm_changed)
        self.seed_box.currentIndexChanged.connect(self._update_actions)
        self.add_tool("Path", self.mode_box, "Arm", self.arm_box, "Seed", self.seed_box, "Points", self.points_spin,
                      "Train eval n", self.n_eval_spin)
        self.finish_toolbar()

        self.loss_plot = style_plot(self.graphics.addPlot(row=0, col=0), "Loss along the path",
                                    "alpha (0 = start, 1 = end)", "NLL (nats)")
        self.error_plot = style_plot(self.graphics.addPlot(row=0, col=1), "Error along the path",
                                     "alpha (0 = start, 1 = end)", "classification error (%)")
        self.curves: dict[tuple[str, str], pg.PlotDataItem] = {}
        self.legends = []
        for plot, quantity in ((self.loss_plot, "loss"), (self.error_plot, "error")):
            legend = add_legend(plot, offset=(-10, 10))
            for split in ("train", "test"):
                self.curves[(quantity, split)] = plot.plot(pen=pg.mkPen(FOREGROUND, width=2, style=SPLIT_STYLES[split]),
                                                           symbol="o", symbolSize=4, symbolPen=None,
                                                           symbolBrush=FOREGROUND)
                shape = "dashed" if split == "train" else "solid"
                legend.addItem(style_sample(SPLIT_STYLES[split]), f"{split} ({shape})")
            legend.setVisible(False)  # shown with a result (no empty legend)
            self.legends.append(legend)
            for alpha, text in ((0.0, "start"), (1.0, "end")):
                line = pg.InfiniteLine(alpha, angle=90, pen=pg.mkPen("#606060", width=1, style=Qt.PenStyle.DashLine),
                                       label=text, labelOpts={"position": 0.04, "color": FOREGROUND})
                plot.addItem(line)
        for plot in (self.loss_plot, self.error_plot):
            no_si_prefix(plot)
        self.finish_setup()

    # -- selectors ---------------------------------------------------------------------------------
    def _units(self) -> list[tuple[str, int]]:
        return [(a, s) for a, s in self.store.units()
                if any(phase == "finetune" for phase, _, _ in self.store.checkpoints(a, s))]

    def update_selectors(self) -> None:
        units = self._units()
        arms = list(dict.fromkeys(a for a, _ in units))
        if self.mode_box.currentData() == "pretrained_to_random":
            arms = [a for a in arms if a != REFERENCE_ARM]
        fill_combo(self.arm_box, [(arm_label(a), a) for a in arms])
        self._on_arm_changed()

    def _on_arm_changed(self) -> None:
        arm = self.arm_box.currentData()
        seeds = [s for a, s in self._units() if a == arm]
        if self.mode_box.currentData() == "pretrained_to_random":
            seeds = [s for s in seeds if (REFERENCE_ARM, s) in self._units()]
        fill_combo(self.seed_box, [(str(s), s) for s in seeds])
        self._update_actions()

    def compute_blocker(self) -> str:
        if self.arm_box.currentData() is None or self.seed_box.currentData() is None:
            if self.mode_box.currentData() == "pretrained_to_random" and self.store.kind != "online":
                return "Needs a pre-training arm and the 'none' arm with checkpoints of the same seed."
            return no_checkpoints_text(self.store)
        return ""

    def compute_params(self) -> dict[str, Any]:
        return {"arm": self.arm_box.currentData(), "seed": int(self.seed_box.currentData()),
                "mode": self.mode_box.currentData(), "reference_arm": REFERENCE_ARM,
                "n_points": self.points_spin.value(), "alpha_range": [-0.5, 1.5], "n_eval": self.n_eval_spin.value()}

    def apply_params(self, params: dict[str, Any]) -> None:
        select_data(self.mode_box, params.get("mode", "init_to_solution"))
        self.update_selectors()
        select_data(self.arm_box, params.get("arm"))
        self._on_arm_changed()
        select_data(self.seed_box, params.get("seed"))
        self.points_spin.setValue(int(params.get("n_points", 41)))
        self.n_eval_spin.setValue(int(params.get("n_eval", 2000)))

    # -- drawing -----------------------------------------------------------------------------------
    def clear_result(self) -> None:
        for item in self.curves.values():
            item.setData([], [])
        for legend in self.legends:
            legend.setVisible(False)
        self.loss_plot.setTitle("Loss along the path: choose a path and Compute", color=FOREGROUND, size="11pt")

    def series(self, r: InterpolationResult) -> dict[tuple[str, str], np.ndarray]:
        """The y values drawn: NLL, and error in %."""
        return {("loss", "train"): r.train_loss, ("loss", "test"): r.test_loss,
                ("error", "train"): 100.0 * r.train_error, ("error", "test"): 100.0 * r.test_error}

    def show_result(self, result: object, partial: bool = False) -> None:
        if not isinstance(result, InterpolationResult):
            return
        r = result
        arm = self.result_params.get("arm") or self.arm_box.currentData() or ""
        colour = arm_color(arm, list(self.store.arms)) if arm else pg.mkColor(FOREGROUND)
        for key, y in self.series(r).items():
            self.curves[key].setData(r.alphas, y, connect="finite")
            self.curves[key].setPen(pg.mkPen(colour, width=2, style=SPLIT_STYLES[key[1]]))
            self.curves[key].setSymbolBrush(colour)
        for (plot, quantity), legend in zip(((self.loss_plot, "loss"), (self.error_plot, "error")), self.legends,
                                            strict=True):
            pts = [dense(r.alphas, y) for (q, _split), y in self.series(r).items() if q == quantity]
            place_legend(plot, legend, np.concatenate([p[0] for p in pts]), np.concatenate([p[1] for p in pts]))
            legend.setVisible(True)
        self.loss_plot.setTitle(f"Loss: alpha 0 = {r.start}, alpha 1 = {r.end}", color=FOREGROUND, size="11pt")
        self.error_plot.setTitle(f"Error (train: {r.n_train_eval}, test: {r.n_test} examples)", color=FOREGROUND,
                                 size="11pt")

    def data_table(self) -> tuple[list[str], list[list[Any]]]:
        columns = ["alpha", "train_loss", "test_loss", "train_error_pct", "test_error_pct", "start", "end"]
        r = self.result
        if not isinstance(r, InterpolationResult):
            return columns, []
        s = self.series(r)
        return columns, [[float(a), float(s[("loss", "train")][i]), float(s[("loss", "test")][i]),
                          float(s[("error", "train")][i]), float(s[("error", "test")][i]), r.start, r.end]
                         for i, a in enumerate(r.alphas)]
