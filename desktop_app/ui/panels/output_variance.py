"""Output-variance panel (Erhan et al. 2010, Fig. 3): how much the final function changes when one block of
the training stream is resampled, against the block's position in the stream.

Unlike the other analyses this one is a run of its own (Experiment type "output variance" in the builder), so
the panel shows ``store.analyses["output_variance"]``, live or replayed from the run folder. An output-variance run
trains one seed; ``basin reproduce output-variance`` writes one run per seed. Comparing such runs (whatever run is
shown: the panel ``compares``) pools their seeds, as do other output-variance runs kept open beside the shown one:
a thin line per seed and, per arm, the geometric mean over seeds with its 95 % t-interval (dashed, from
``core.stats.MIN_SEEDS`` seeds on), the statistics the claim's verdict uses. Runs of another design (arms, blocks)
are left out and named. With nothing to draw the panel says why and drops the previous run's ticks.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QCheckBox, QLabel, QWidget

from desktop_app.core.analysis.progress import OutputVarianceResult
from desktop_app.core.reproduce.output_variance import MIN_BLOCKS_BEFORE_LAST, slope
from desktop_app.core.stats import MIN_SEEDS, MeanCI, mean_ci, shown_interval
from desktop_app.ui.panels.base import FOREGROUND, Legend, Panel, arm_color, arm_label, style_plot
from desktop_app.ui.panels.compare import fit_legend_columns
from desktop_app.ui.panels.log_axis import LogAxis
from desktop_app.ui.run_store import ANALYSES, RunStore

NAME = "output_variance"
HINT = ("To measure it, choose Experiment type “output variance” in the Experiment builder and Start: it trains one "
        "net per block position and resample, so keep it small. To pool seeds, compare their runs (Runs pane).")
EMPTY_TITLE = "Output variance by block position: nothing to draw"
TINY = 1e-30
LEGEND_COLUMNS = 3  # at most (one entry per arm): one row under the plot for the paper's three arms


def verdict(r: OutputVarianceResult) -> str:
    """What this run shows, in the terms of the paper's two claims (stated, not assumed), measured as the claim's rule
    measures them (``core.reproduce.output_variance``): per arm the direction of the least-squares slope of log10
    variance against block position over every block but the last (the range the rule judges; over every block when
    there are fewer than 3), with the direction over every block where it differs (the last block's rise under a
    constant learning rate, which the rule reports apart), and the arm with the lowest mean log10 variance (the
    rule's paired difference compares the same means). Blocks not computed yet (a live run) are left out."""
    positions = np.asarray(r.positions)
    judged = len(positions) - 1 >= MIN_BLOCKS_BEFORE_LAST
    head = positions[:-1] if judged else positions
    trends, whole, levels = [], [], {}
    for i, arm in enumerate(r.arms):
        done = np.isfinite(r.variance[i])
        logs = np.log10(np.maximum(np.where(done, r.variance[i], 1.0), np.finfo(float).tiny))
        sel = done & np.isin(positions, head)
        if sel.sum() >= 2:
            direction = _direction(slope(positions[sel], logs[sel]))
            trends.append(f"{direction} for {arm_label(arm)}")
            with_last = _direction(slope(positions[done], logs[done])) if done.sum() > sel.sum() else direction
            if with_last != direction:
                whole.append(f"{with_last} for {arm_label(arm)}")
        if done.all():
            levels[arm] = float(logs.mean())
    text = "Paper: variance falls with block position and is lower for pre-trained nets."
    if trends:
        span = (f"blocks {int(head[0])}–{int(head[-1])} (every block but the last: the range the claim judges)"
                if judged else "every block (with fewer than 3 blocks the claim judges no slope)")
        text += f" This run, over {span}: variance " + ", ".join(trends)
        if whole:
            text += "; with the last block: " + ", ".join(whole)
    if len(levels) > 1:
        text += f"; lowest mean log10 variance: {arm_label(min(levels, key=levels.__getitem__))}"
    return text + "."


def _direction(s: float) -> str:
    return "falls" if s < 0 else "rises" if s > 0 else "is flat"


class OutputVariancePanel(Panel):
    title = "Output variance"
    explanation = ("Variance of the final nets' outputs when one block of the training stream is resampled, by the "
                   "block's position (Erhan et al. 2010, Fig. 3, found that early examples shape the final function "
                   "more and that pre-trained nets vary less).")
    kinds = (ANALYSES,)
    compares = True  # comparing output-variance runs pools their seeds, whatever run is shown
    names_runs = False  # drawn by seed, not under the runs' labels: no "Names & groups" menu

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
        self.plot = style_plot(self.graphics.addPlot(row=0, col=0, axisItems={"left": LogAxis("left", log=False)}),
                               "Output variance by block position (mean over probe examples and classes)",
                               "position of the resampled block (0 = seen first)",
                               "output variance")
        self.plot.getAxis("left").enableAutoSIPrefix(False)
        # the legend has its own row under the plot: inside the view box it lay over the seeds' curves (the pooled
        # means start in a top corner and the thin per-seed lines and the interval fill the rest)
        self.legend = Legend(colCount=LEGEND_COLUMNS, labelTextColor=FOREGROUND, pen=pg.mkPen(200, 200, 200))
        self.graphics.ci.addItem(self.legend, row=1, col=0)
        self.plot.legend = self.legend  # named curves are entered in it as the plot adds them
        self.curves: dict[str, pg.PlotDataItem] = {}
        self.result: OutputVarianceResult | None = None
        self.results: list[OutputVarianceResult] = []  # the seeds drawn: this run's and the pooled ones
        self.sources: list[str] = []  # the run folders drawn (the compared runs pooled, or the run shown)
        self.left_out = ""  # the compared runs not pooled and why ("" when none)
        store.runsChanged.connect(self._on_runs_changed)
        self.request_refresh()

    def _on_runs_changed(self, _runs: object) -> None:
        """A run was opened beside the shown one or closed: a further seed's run joins the pool, a closed one leaves
        it. The model reports that as ``runsChanged``, not as a change of the shown run's data, so the panel kept
        drawing the earlier set of seeds until something else redrew it."""
        if (self.comparison() is None and self.result is not None
                and [id(r) for r in self._pooled(self.result)] != [id(r) for r in self.results]):
            self.request_refresh()

    def _on_log_toggled(self, on: bool) -> None:
        self.plot.setLogMode(False, on)
        self.request_refresh()

    def _pooled(self, r: OutputVarianceResult) -> list[OutputVarianceResult]:
        """r and the results of the other kept-open runs of the same design (other seeds), by seed."""
        model = self.store.model
        out = {r.seed: r}
        for key, data in model.runs.items():
            other = getattr(data, "analyses", {}).get(NAME)
            if (isinstance(other, OutputVarianceResult) and model.is_kept(key) and other.seed not in out
                    and _same_design(other, r) and np.isfinite(other.variance).all()):
                out[other.seed] = other
        return [out[s] for s in sorted(out)]

    def _compared(self) -> tuple[OutputVarianceResult | None, list[OutputVarianceResult], list[str], str]:
        """(the first compared output-variance run's result, the results pooled with it by seed, their run folders,
        the compared runs left out and why) of the open comparison: the first run's design, and every other complete
        run of that design and another seed."""
        comparison = self.comparison()
        assert comparison is not None
        pooled: dict[int, tuple[OutputVarianceResult, str]] = {}
        left: list[str] = []
        first: OutputVarianceResult | None = None  # the first pooled run: its design is the comparison's
        for m in comparison.members():
            r = m.data.analyses.get(NAME)
            why = ("no output-variance result" if not isinstance(r, OutputVarianceResult) else
                   "" if first is None else
                   "another design" if not _same_design(r, first) else
                   f"seed {r.seed} again" if r.seed in pooled else
                   "not every block computed" if not np.isfinite(r.variance).all() else "")
            if why:
                left.append(f"{m.label or m.name} ({why})")
            else:
                pooled[r.seed] = (r, m.run_dir)  # type: ignore[union-attr]
                first = first or r
        chosen = [pooled[s] for s in sorted(pooled)]
        note = f"Not pooled: {'; '.join(left)}." if left and chosen else ""
        return first, [r for r, _ in chosen], [d for _, d in chosen], note

    def why_empty(self) -> str:
        """Why there is nothing to draw, naming the runs looked at (the previous run's figure is gone too)."""
        comparison = self.comparison()
        if comparison is not None:
            return (f"None of the {len(comparison.run_dirs)} compared runs ({'; '.join(comparison.labels())}) has an "
                    f"output-variance result. {HINT}")
        if not self.store.run_dir:
            return f"No run is shown. Open an output-variance run. {HINT}"
        name, kind = Path(self.store.run_dir).name, self.store.kind or "standard"
        if kind == "output-variance":
            return (f"'{name}' has no output-variance result yet: its first block is still being computed, or it "
                    "stopped before one was.")
        return (f"'{name}' is {'an' if kind[0] in 'aeiou' else 'a'} {kind} run: it has no output-variance result. "
                f"{HINT}")

    def export_run_dirs(self) -> list[str]:
        """The run folders drawn: in a comparison the compared runs pooled, not those left out."""
        return list(self.sources) if self.comparison() is not None else super().export_run_dirs()

    def _clear_axes(self, empty: bool) -> None:
        """Without a result no tick values: the previous run's variances and block ranges ("ex. 0–49999") went."""
        for side in ("left", "bottom"):
            self.plot.getAxis(side).setStyle(showValues=not empty)
        if empty:
            self.plot.getAxis("bottom").setTicks(None)

    def refresh(self) -> None:
        if self.comparison() is not None:
            self.result, self.results, self.sources, self.left_out = self._compared()
        else:
            shown = self.store.analyses.get(NAME)
            self.result = shown if isinstance(shown, OutputVarianceResult) else None
            self.results = self._pooled(self.result) if self.result is not None else []
            self.sources, self.left_out = ([self.store.run_dir] if self.results else []), ""
        for item in self.curves.values():
            self.plot.removeItem(item)
        self.curves.clear()
        self.legend.clear()
        self._clear_axes(self.result is None)
        if self.result is None:
            self.info.setText(self.why_empty())
            self.legend.setVisible(False)
            self.plot.setTitle(EMPTY_TITLE, color=FOREGROUND, size="11pt")
            return
        r = self.result
        self.legend.setVisible(True)
        self.plot.setLogMode(False, self.log_box.isChecked())
        x = r.positions.astype(float)
        for i, arm in enumerate(r.arms):
            colour = arm_color(arm, r.arms)
            pen = {"pen": pg.mkPen(colour, width=2), "symbol": "o", "symbolSize": 8,
                   "symbolBrush": pg.mkBrush(colour), "symbolPen": pg.mkPen(FOREGROUND)}
            if len(self.results) < 2:
                self.curves[arm] = self.plot.plot(x, self._y(r.variance[i]), name=arm_label(arm), connect="finite",
                                                  **pen)
                continue
            faint = pg.mkColor(colour)
            faint.setAlpha(90)
            for res in self.results:  # one thin line per seed under the mean
                self.curves[f"{arm}/{res.seed}"] = self.plot.plot(x, self._y(res.variance[i]), connect="finite",
                                                                  pen=pg.mkPen(faint, width=1))
            mean, lo, hi = geometric_mean_ci([res.variance[i] for res in self.results])
            self.curves[arm] = self.plot.plot(x, self._y(mean), name=f"{arm_label(arm)} (mean of "
                                              f"{len(self.results)} seeds)", connect="finite", **pen)
            for end, band in (("lo", lo), ("hi", hi)):
                self.curves[f"{arm}/{end}"] = self.plot.plot(x, self._y(band), connect="finite",
                                                             pen=pg.mkPen(colour, width=1, style=Qt.PenStyle.DashLine))
        self.plot.getAxis("bottom").setTicks([[(float(p), f"{p}\n(ex. {s}–{s + r.block_size - 1})")
                                               for p, s in zip(r.positions, r.block_start, strict=True)]])
        done = np.isfinite(r.variance).sum()
        partial = "" if done == r.variance.size else f" ({done}/{r.variance.size} so far)"
        seeds = seeds_drawn(len(self.results), r.seed)
        self.plot.setTitle(f"{r.block_size}-example blocks, {r.resamples} resamples ({r.resample}), "
                           f"{seeds}{partial}", color=FOREGROUND, size="11pt")
        self.plot.setXRange(-0.4, len(r.positions) - 0.6, padding=0)
        if len(self.results) > 1:  # the verdict of the seeds' geometric mean
            r = replace(r, variance=np.stack([geometric_mean_ci([res.variance[i] for res in self.results])[0]
                                              for i in range(len(r.arms))]))
        pooled = (f" (Geometric mean of {len(self.results)} seeds.)" if len(self.results) > 1 else
                  " One seed: to pool seeds, compare their runs (Runs pane).")
        self.info.setText(verdict(r) + pooled + (f" {self.left_out}" if self.left_out else ""))
        self.graphics_resized()

    def graphics_resized(self) -> None:
        """As many legend columns as the plot's width holds (entries elided, whole names in tooltips, when even one
        column does not)."""
        fit_legend_columns(self.legend, self.graphics.width(), LEGEND_COLUMNS)

    def _y(self, y: np.ndarray) -> np.ndarray:
        return np.maximum(y, TINY) if self.log_box.isChecked() else y

    def data_table(self) -> tuple[list[str], list[list[Any]]]:
        """Every seed drawn (the pooled runs too), one row per arm, block and seed, with the arm's curve drawn over
        the seeds at that block: the geometric mean over the seeds and its 95 % interval (blank below MIN_SEEDS
        seeds, where the panel draws none); with one seed the curve is that seed's variance."""
        columns = ["arm", "position", "block_start", "block_size", "variance", "resamples", "resample", "seed",
                   "seeds_geo_mean", "seeds_ci_lo", "seeds_ci_hi", "n_seeds"]
        if self.result is None:
            return columns, []
        results = self.results or [self.result]
        rows: list[list[Any]] = []
        for i, arm in enumerate(self.result.arms):
            cis = log_cis([res.variance[i] for res in results])
            summary = []
            for c in cis:
                iv = shown_interval(c)
                summary.append([float(10.0 ** c.mean), float(10.0 ** iv[0]) if iv else "",
                                float(10.0 ** iv[1]) if iv else "", len(results)])
            rows += [[arm, int(p), int(s), r.block_size, float(r.variance[i, j]), r.resamples, r.resample, r.seed,
                      *summary[j]] for r in results
                     for j, (p, s) in enumerate(zip(r.positions, r.block_start, strict=True))]
        return columns, rows


def seeds_drawn(n: int, seed: int) -> str:
    """The title's account of what is drawn for ``n`` seeds: the interval only where one is drawn (from MIN_SEEDS)."""
    if n < 2:
        return f"seed {seed}"
    if n < MIN_SEEDS:
        return f"{n} seeds, geometric mean (no interval below {MIN_SEEDS})"
    return f"{n} seeds, geometric mean, 95 % interval (dashed)"


def _same_design(a: OutputVarianceResult, b: OutputVarianceResult) -> bool:
    """Two seeds' results that can be pooled: the same arms, blocks and block size."""
    return a.arms == b.arms and a.variance.shape == b.variance.shape and a.block_size == b.block_size


def log_cis(rows: list[np.ndarray]) -> list[MeanCI]:
    """Per block: the mean and t-interval of log10 variance over seeds (variances span orders of magnitude;
    core.reproduce.output_variance judges on the same scale)."""
    logs = np.log10(np.maximum(np.stack(rows), TINY))
    return [mean_ci(list(logs[:, j])) for j in range(logs.shape[1])]


def geometric_mean_ci(rows: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per block: 10 ** (mean, lo, hi) of ``log_cis`` (lo = hi = mean below MIN_SEEDS seeds: no band drawn)."""
    cis = log_cis(rows)
    bounds = [shown_interval(c) or (c.mean, c.mean) for c in cis]
    return (10.0 ** np.array([c.mean for c in cis]), 10.0 ** np.array([b[0] for b in bounds]),
            10.0 ** np.array([b[1] for b in bounds]))
