"""Function-space panel (Erhan et al. 2010, Fig. 5-6): every net at every epoch as the vector of its outputs on
the probe set, embedded jointly in 2D; one trajectory per seed, coloured by arm.

Pre-trained and random-init nets going to different regions is the paper's evidence that pre-training changes
*which* function is learned, not only how fast. The picture can mislead (t-SNE distorts distances), so the
panel also shows the separation measured in the original output space: nearest-neighbour arm purity.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QComboBox, QLabel, QWidget

from desktop_app.core.analysis.function_space import last_epoch_mask, nn_chance
from desktop_app.core.analysis.progress import FunctionSpaceResult
from desktop_app.ui.analysis_protocol import AnalysisRunnerLike
from desktop_app.ui.panels.analysis_base import AnalysisPanel, fill_combo, no_si_prefix, select_data
from desktop_app.ui.panels.base import FOREGROUND, add_legend, arm_color, arm_label, legend_clear_of, style_plot
from desktop_app.ui.run_store import PROBES, RunStore

METHODS = (("t-SNE", "tsne"), ("PCA", "pca"), ("ISOMAP", "isomap"))
METHOD_NAMES = {data: text for text, data in METHODS}


def purity_text(r: FunctionSpaceResult) -> str:
    """The separation numbers as shown in the panel's label, each beside the purity of nets mixed at random (the
    own trajectory is never a neighbour, so with few seeds that is below 1 / arms: 0.20 for 3 arms x 2 seeds)."""
    chance = nn_chance(r.arms, r.seeds)
    chance_last = nn_chance(r.arms, r.seeds, last_epoch_mask(r.arms, r.seeds, r.epochs))
    mixed = f"{chance:.2f}" if f"{chance:.2f}" == f"{chance_last:.2f}" else f"{chance:.2f} / {chance_last:.2f}"
    return (f"Nearest-neighbour arm purity (output space): all epochs {r.purity:.3f}, last epoch "
            f"{r.purity_last:.3f} — 1 = separate regions, {mixed} = mixed at random.")


class FunctionSpacePanel(AnalysisPanel):
    title = "Function space"
    analysis_name = "function_space"
    explanation = ("Each net at each epoch is a point: its outputs on the fixed probe set, embedded in 2D (Erhan "
                   "et al. 2010, Fig. 5-6); pre-trained and random-init nets that never overlap learned different "
                   "functions, not the same one faster.")
    kinds = (PROBES,)

    def __init__(self, store: RunStore, analysis_runner: AnalysisRunnerLike | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(store, analysis_runner, parent)
        self.method_box = QComboBox()
        fill_combo(self.method_box, list(METHODS))
        self.method_box.setToolTip("t-SNE keeps neighbours together (the paper's Fig. 5); ISOMAP keeps geodesic "
                                   "distances (Fig. 6); PCA is linear and fast")
        self.method_box.currentIndexChanged.connect(self._update_actions)
        self.add_tool("Embedding", self.method_box)
        self.finish_toolbar()
        self.purity_label = QLabel("")
        self.purity_label.setWordWrap(True)
        self.purity_label.setToolTip("For every net (arm, seed, epoch): is its nearest neighbour among the other "
                                     "seeds' nets of the same arm? Measured on the raw outputs, not on the picture. "
                                     "Mixed at random: the purity if arms were shuffled (a net's own trajectory is "
                                     "never its neighbour, so with few seeds it is below 1 / number of arms).")
        self.layout().insertWidget(3, self.purity_label)
        self.plot = style_plot(self.graphics.addPlot(row=0, col=0), "Function space", "embedding axis 1 (a.u.)",
                               "embedding axis 2 (a.u.)")
        self.legend = add_legend(self.plot, offset=(-10, 10))
        self.lines: dict[str, pg.PlotDataItem] = {}
        self.starts: dict[str, pg.ScatterPlotItem] = {}
        self.ends: dict[str, pg.ScatterPlotItem] = {}
        no_si_prefix(self.plot)
        self.plot.getViewBox().sigResized.connect(self._keep_legend_clear)
        self.finish_setup()

    def compute_blocker(self) -> str:
        if not any(self.store.unit(a, s).probes for a, s in self.store.units()):
            return "This run has no probe output snapshots (snapshots.probe_outputs)."
        return ""

    def compute_params(self) -> dict[str, Any]:
        return {"method": self.method_box.currentData()}

    def apply_params(self, params: dict[str, Any]) -> None:
        select_data(self.method_box, params.get("method", "tsne"))

    def clear_result(self) -> None:
        for d in (self.lines, self.starts, self.ends):
            for item in d.values():
                self.plot.removeItem(item)
            d.clear()
        self.legend.clear()
        self.purity_label.setText("")
        self.plot.setTitle("Function space: choose an embedding and Compute", color=FOREGROUND, size="11pt")

    def arm_points(self, r: FunctionSpaceResult, arm: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(coords (P, 2), connect (P,), index into the result (P,)) of one arm, seed by seed, epoch order."""
        arms = np.asarray(r.arms)
        idx = np.flatnonzero(arms == arm)
        idx = idx[np.lexsort((r.epochs[idx], r.seeds[idx]))]
        seeds = r.seeds[idx]
        connect = np.zeros(len(idx), dtype=bool)
        connect[:-1] = seeds[1:] == seeds[:-1]
        return r.coords[idx], connect, idx

    def show_result(self, result: object, partial: bool = False) -> None:
        if not isinstance(result, FunctionSpaceResult):
            return
        r = result
        self.clear_result()
        arms = list(dict.fromkeys([a for a in self.store.arms if a in r.arms] + list(r.arms)))
        for arm in arms:
            xy, connect, _ = self.arm_points(r, arm)
            colour = arm_color(arm, arms)
            line = self.plot.plot(xy[:, 0], xy[:, 1], connect=connect, name=arm_label(arm),
                                  pen=pg.mkPen(arm_color(arm, arms, 170), width=1.5), symbol="o", symbolSize=4,
                                  symbolPen=None, symbolBrush=pg.mkBrush(arm_color(arm, arms, 170)))
            first = np.r_[True, ~connect[:-1]]
            last = ~connect
            start = pg.ScatterPlotItem(xy[first, 0], xy[first, 1], symbol="o", size=10, brush=pg.mkBrush(colour),
                                       pen=pg.mkPen(FOREGROUND, width=1))
            end = pg.ScatterPlotItem(xy[last, 0], xy[last, 1], symbol="s", size=10, brush=pg.mkBrush(colour),
                                     pen=pg.mkPen(FOREGROUND, width=1.5))
            for item in (start, end):
                item.setZValue(5)
                self.plot.addItem(item)
            self.lines[arm], self.starts[arm], self.ends[arm] = line, start, end
        grey = pg.mkBrush(200, 200, 200)
        self.legend.addItem(pg.ScatterPlotItem(symbol="o", size=10, brush=grey, pen=pg.mkPen(FOREGROUND)),
                            "start (first epoch)")
        self.legend.addItem(pg.ScatterPlotItem(symbol="s", size=10, brush=grey, pen=pg.mkPen(FOREGROUND)),
                            "end (last epoch)")
        method = METHOD_NAMES.get(r.method, r.method)
        if r.method == "pca":
            ev = np.nan_to_num(r.explained_variance_ratio) * 100
            self.plot.setLabel("bottom", f"PC 1 ({ev[0]:.0f}% of output variance)", color=FOREGROUND)
            self.plot.setLabel("left", f"PC 2 ({ev[1]:.0f}%)", color=FOREGROUND)
        else:
            self.plot.setLabel("bottom", f"{method} axis 1 (a.u.)", color=FOREGROUND)
            self.plot.setLabel("left", f"{method} axis 2 (a.u.)", color=FOREGROUND)
        n_traj = len({(a, int(s)) for a, s in zip(r.arms, r.seeds, strict=True)})
        self.plot.setTitle(f"{method} of {len(r.arms)} nets ({n_traj} trajectories): purity {r.purity:.2f} "
                           f"(all epochs), {r.purity_last:.2f} (last)", color=FOREGROUND, size="11pt")
        self.purity_label.setText(purity_text(r))
        self._keep_legend_clear()

    def _keep_legend_clear(self, *_args: object) -> None:
        """The embedding fills its box, so the legend gets room of its own above or below the points."""
        r = self.result
        if isinstance(r, FunctionSpaceResult) and len(r.coords):
            legend_clear_of(self.plot, self.legend, r.coords[:, 0], r.coords[:, 1])

    def data_table(self) -> tuple[list[str], list[list[Any]]]:
        columns = ["arm", "seed", "epoch", "x", "y", "method", "purity", "purity_last"]
        r = self.result
        if not isinstance(r, FunctionSpaceResult):
            return columns, []
        rows: list[list[Any]] = []
        for arm in self.lines:
            xy, _, idx = self.arm_points(r, arm)
            rows += [[arm, int(r.seeds[i]), int(r.epochs[i]), float(p[0]), float(p[1]), r.method, r.purity,
                      r.purity_last] for i, p in zip(idx, xy, strict=True)]
        return columns, rows
