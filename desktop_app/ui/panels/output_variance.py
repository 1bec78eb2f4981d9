"""Output-variance panel (Erhan et al. 2010, Fig. 3): how much the final function changes when one block of
the training stream is resampled, against the block's position in the stream.

Unlike the other analyses this one is a run of its own (Experiment type "output variance" in the builder), so
the panel only shows ``store.analyses["output_variance"]``, live or replayed from the run folder.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QCheckBox, QLabel, QWidget

from desktop_app.core.analysis.progress import OutputVarianceResult
from desktop_app.ui.panels.base import FOREGROUND, Panel, add_legend, arm_color, arm_label, style_plot
from desktop_app.ui.run_store import ANALYSES, RunStore

NAME = "output_variance"
HINT = ("No output-variance result in this run. To measure it, choose Experiment type “output variance” in the "
        "Experiment builder and Start: it trains one net per block position and resample, so keep it small.")
TINY = 1e-30


def verdict(r: OutputVarianceResult) -> str:
    """What this run shows, in the terms of the paper's two claims (stated, not assumed)."""
    trends = []
    for i, arm in enumerate(r.arms):
        ok = np.isfinite(r.variance[i]) & (r.variance[i] > 0)
        if ok.sum() >= 2:
            slope = np.polyfit(r.positions[ok].astype(float), np.log10(r.variance[i][ok]), 1)[0]
            trends.append(f"{arm_label(arm)} {'falls' if slope < 0 else 'rises'}")
    means = {arm: float(np.nanmean(r.variance[i])) for i, arm in enumerate(r.arms)
             if np.isfinite(r.variance[i]).any()}
    text = "Paper: variance falls with block position and is lower for pre-trained nets."
    if trends:
        text += " This run: variance " + ", ".join(trends) + " with position"
    if len(means) > 1:
        text += f"; {arm_label(min(means, key=means.get))} varies least on average"
    return text + "."


class OutputVariancePanel(Panel):
    title = "Output variance"
    explanation = ("Variance of the final nets' outputs when one block of the training stream is resampled, by the "
                   "block's position (Erhan et al. 2010, Fig. 3, found that early examples shape the final function "
                   "more and that pre-trained nets vary less).")
    kinds = (ANALYSES,)

    def __init__(self, store: RunStore, analysis_runner: object | None = None, parent: QWidget | None = None) -> None:
        super().__init__(store, parent)
        self.log_box = QCheckBox("log y")
        self.log_box.setChecked(True)
        self.log_box.setToolTip("Log scale on the variance axis: the arms often differ by orders of magnitude")
        self.log_box.toggled.connect(self._on_log_toggled)
        self.add_tool(self.log_box)
        self.finish_toolbar()
        self.info = QLabel(HINT)
        self.info.setWordWrap(True)
        self.layout().insertWidget(2, self.info)
        self.plot = style_plot(self.graphics.addPlot(row=0, col=0),
                               "Output variance by block position (mean over probe examples and classes)",
                               "position of the resampled block (0 = seen first)",
                               "output variance")
        self.plot.getAxis("left").enableAutoSIPrefix(False)
        self.legend = add_legend(self.plot, offset=(10, 10))
        self.curves: dict[str, pg.PlotDataItem] = {}
        self.result: OutputVarianceResult | None = None
        self.request_refresh()

    def _on_log_toggled(self, on: bool) -> None:
        self.plot.setLogMode(False, on)
        self.request_refresh()

    def refresh(self) -> None:
        r = self.store.analyses.get(NAME)
        self.result = r if isinstance(r, OutputVarianceResult) else None
        for item in self.curves.values():
            self.plot.removeItem(item)
        self.curves.clear()
        self.legend.clear()
        if self.result is None:
            self.info.setText(HINT)
            self.legend.setVisible(False)
            self.plot.setTitle("Output variance by block position: no result yet", color=FOREGROUND, size="11pt")
            return
        r = self.result
        self.legend.setVisible(True)
        self.plot.setLogMode(False, self.log_box.isChecked())
        for i, arm in enumerate(r.arms):
            colour = arm_color(arm, r.arms)
            y = r.variance[i]
            if self.log_box.isChecked():
                y = np.maximum(y, TINY)
            self.curves[arm] = self.plot.plot(r.positions.astype(float), y, name=arm_label(arm), connect="finite",
                                              pen=pg.mkPen(colour, width=2), symbol="o", symbolSize=8,
                                              symbolBrush=pg.mkBrush(colour), symbolPen=pg.mkPen(FOREGROUND))
        self.plot.getAxis("bottom").setTicks([[(float(p), f"{p}\n(ex. {s}–{s + r.block_size - 1})")
                                               for p, s in zip(r.positions, r.block_start, strict=True)]])
        done = np.isfinite(r.variance).sum()
        partial = "" if done == r.variance.size else f" ({done}/{r.variance.size} so far)"
        self.plot.setTitle(f"Blocks of {r.block_size} examples, {r.resamples} resamples each ({r.resample}), "
                           f"seed {r.seed}{partial}", color=FOREGROUND, size="11pt")
        self.plot.setXRange(-0.4, len(r.positions) - 0.6, padding=0)
        self.info.setText(verdict(r))

    def data_table(self) -> tuple[list[str], list[list[Any]]]:
        columns = ["arm", "position", "block_start", "block_size", "variance", "resamples", "resample", "seed"]
        r = self.result
        if r is None:
            return columns, []
        return columns, [[arm, int(p), int(s), r.block_size, float(r.variance[i, j]), r.resamples, r.resample,
                          r.seed] for i, arm in enumerate(r.arms)
                         for j, (p, s) in enumerate(zip(r.positions, r.block_start, strict=True))]
