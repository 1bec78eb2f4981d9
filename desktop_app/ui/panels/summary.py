"""Summary panel: final test error per arm as box plots with mean and 95 % CI, and the paired difference
(pre-trained minus random init, same seed) with its interval.

Pre-training results are distributions over seeds (Erhan 2010: box plots over 400 seeds), and seed i of
two arms shares its data order, so the paired difference is the sharpest test of whether pre-training
helps. Several run folders (a sweep's variants) show as groups side by side via ``set_groups``. With a comparison
open (docs/ARCHITECTURE.md, "Comparing runs") each arm is a group of its runs side by side, each run's boxes in its
own line style, and the difference plot shows each run minus the first run, same arm, paired over the seeds both
runs have.

The numbers agree with the reproduce report's for the same run folder: the same final values (``RunData.final``,
the selected epoch under early stopping), the same intervals (``core.stats``). Where the random-init arm has seeds
that never left the chance-level plateau (``core.stats.plateau_seeds``), the table adds each arm over the other
seeds, the subset the width and labels claims judge their gains on, and the box plot's title names those seeds.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, QObject, QPointF, Qt, QTimer
from PySide6.QtGui import QFont, QFontMetrics
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QSizePolicy,
    QTableWidget,
    QTableWidgetItem,
    QWidget,
)

from desktop_app.core.lab.comparison import Comparison
from desktop_app.core.lab.hparams import final_test_errors
from desktop_app.core.lab.store import RunData
from desktop_app.core.stats import (
    MIN_SEEDS,
    STUCK_ERROR,
    MeanCI,
    PairedDiff,
    box_stats,
    leave_out,
    mean_ci,
    paired_difference,
    plateau_seeds,
    shown_interval,
    wilcoxon_min_p,
)
from desktop_app.ui.panels.base import (
    FOREGROUND,
    Legend,
    Panel,
    arm_color,
    arm_label,
    style_plot,
    style_sample,
)
from desktop_app.ui.panels.compare import comparison_arms, fit_legend_columns, run_style
from desktop_app.ui.run_store import METRICS, ONLINE, RunStore

REFERENCE = "none"
ALL_SEEDS, OFF_PLATEAU = "all", "off plateau"  # which seeds a row is over (data_table's seeds_kept)
COMPARE_LEGEND_COLUMNS = 6  # at most, in the legend row under a comparison's plots
# The legend row shares the plots' fixed height: six runs, their arms and the mean in two columns took five rows and
# left the box plot 69 px at 1280x800. At most three rows, entries elided to no less than this (runs are named by the
# field that tells them apart first; tooltips and the table give whole names).
SUMMARY_LEGEND_ROWS = 3
SUMMARY_ELIDED_PX = 160
BOX_WIDTH = 0.5
OFF_SHIFT = 0.3  # the difference over the seeds off the plateau, right of the arm's own
# Fewer seeds than this: intervals and p-values are not shown as results (a t-interval from 2 seeds spans tens
# of points and a Wilcoxon p cannot go below 0.5); the seeds themselves are.
BOX_TITLE = "Final test error over seeds"
TABLE_COLUMNS = ("Group", "Arm", "Seeds", "Mean test error", "95 % CI", "Median", f"Minus {REFERENCE} (paired)",
                 "95 % CI of diff", "p (t)", "p (Wilcoxon)")
# Headers wider than their numbers, on two lines when that is what makes the columns fit the table's width (each
# header's tooltip has it on one line): on one line a 3-arm claim's table was 890 px wide in the 844 px it has at
# 1280x800 and scrolled sideways by about a column. A table that scrolls sideways either way keeps one line (the row
# of height is worth more to a comparison's table than a shorter scroll).
WRAPPED_HEADERS = {"Mean test error": "Mean test\nerror", "95 % CI of diff": "95 % CI\nof diff"}

# an arm's row over the seeds off the plateau, under the arm's own row: ", off the plateau" after "none (random init)"
# made the arm column 216 px wide (the labels claim's table scrolled sideways at 1280x800); its tooltip names the arm
OFF_PLATEAU_ARM = "↳ off the plateau"
PAIRED_HEADER_PX = 110  # a comparison's reference run named in the paired column's header up to this width


def paired_header(reference: str, metrics: QFontMetrics) -> tuple[str, str]:
    """The paired difference's column header on one line and on two: "Minus <reference> (paired)"; a long reference
    label (runs named by several fields) is "the first run" (the Run column and the header's tooltip name it): the
    column was as wide as the label, 244 px for "n_labelled=100, epochs=100"."""
    if metrics.horizontalAdvance(reference) > PAIRED_HEADER_PX:
        return "Minus the first run (paired)", "Minus the first\nrun (paired)"
    return f"Minus {reference} (paired)", f"Minus {reference}\n(paired)"


@dataclass
class ArmSummary:
    """Statistics of one arm in one group, as drawn (test error in %)."""

    group: str
    arm: str
    x: float
    values: dict[int, float]  # seed -> final test error (%)
    box: dict[str, float]
    ci: MeanCI
    diff: PairedDiff | None
    run: str = ""  # the compared run's label ("" outside a comparison)
    run_index: int = 0  # its place in the comparison (0 = the reference run)
    seeds_kept: str = ALL_SEEDS  # OFF_PLATEAU: a table row over the seeds whose random-init net left the plateau


def arm_summary(group: str, arm: str, x: float, by_arm: dict[str, dict[int, float]],
                seeds_kept: str = ALL_SEEDS) -> ArmSummary:
    """One arm's row over the seeds in ``by_arm`` (arm -> seed -> final test error %): its box, mean with CI, and
    its paired difference to random init."""
    values = by_arm.get(arm, {})
    v = list(values.values())
    diff = paired_difference(by_arm, arm, REFERENCE) if arm != REFERENCE else None
    return ArmSummary(group, arm, x, values, box_stats(v), mean_ci(v), diff, seeds_kept=seeds_kept)


class CategoryAxis(pg.AxisItem):
    """The arm axis: a tick whose text starts with a line break is a label only (a group's name centred under its
    group, on the second line), drawn without a tick mark or grid line of its own."""

    def generateDrawSpecs(self, p: Any) -> Any:  # noqa: N802 - pyqtgraph override
        specs = super().generateDrawSpecs(p)
        view = self.linkedView()
        only = [v for level in getattr(self, "_tickLevels", None) or () for v, text in level if text.startswith("\n")]
        if specs is None or view is None or not only:
            return specs
        axis_spec, tick_specs, text_specs = specs
        at = [self.mapFromScene(view.mapViewToScene(QPointF(v, 0.0))).x() for v in only]
        kept = [t for t in tick_specs if all(abs(t[1].x() - x) > 0.5 for x in at)]
        return axis_spec, kept, text_specs


def final_errors(store: RunStore | RunData) -> dict[str, dict[int, float]]:
    """arm -> seed -> test error (%) at that seed's last fine-tuning epoch (the latest one while running); the one
    owner is ``core.lab.hparams.final_test_errors`` (the HParams panel reads the same numbers)."""
    return final_test_errors(store)


SUMMARY_PLOTS_MIN_PX = 315
# The table is as tall as its rows up to this many (three arms, each with its row over the seeds off the plateau;
# two compared runs of three arms), then it scrolls: capped at 130 px, a 3-arm claim's six rows scrolled in a box of
# three at 1280x800. A comparison's table was let shrink to 100 px (three rows) under its plots' SUMMARY_PLOTS_MIN_PX
# and scrolled; it keeps its rows too now (the docks below give way, as they do for the plots).
COMPARE_EXPLANATION = ("Final test error per arm and run over seeds (box: quartiles, whiskers 1.5 IQR, both from 3 "
                       "seeds on; dots: seeds; diamond: mean with 95 % CI from 3 seeds on) and the paired difference "
                       "to the first run (same arm and seed): below zero, lower error.")  # no longer than the other
FIELD_NAME = re.compile(r"[A-Za-z_][\w.]*=")  # "labels=" in a group label "labels=10000"
TABLE_MAX_ROWS = 6
TABLE_MIN_PX = 100  # the header and two rows: a comparison's table gives way down to this at the most
BOX_MIN_PX = 100  # a comparison's box plot keeps this much view under its legend rows (issue 27)
# What a comparison's plots and table share at the least: the room the window has for them at 1280x800 with the docks
# below at their smallest (the plots' old fixed claim, made for a three-row legend, and the table's floor). More,
# and the window grew past the screen (868 px tall at 1280x800).
COMPARE_BUDGET_PX = SUMMARY_PLOTS_MIN_PX + TABLE_MIN_PX


DIFF_TITLE_PX = 290  # the paired-difference title's room in an export (its column of the 900 px layout: ~306 px)


def diff_title(reference: str | None) -> str:
    """The paired-difference plot's title. In a comparison (each arm minus the same arm of the reference run) it
    names the reference run when the whole title fits the plot's column in an export: "Paired difference: run −
    <label>, same arm" was cut even in a 1600 px PNG (the export lays the figure out 900 px wide and scales it),
    and with a long label (runs named by several differing fields) the title says "the first run" (the legend
    lists the runs in order; the table's "Minus <label>" column names it in full)."""
    if reference is None:
        return f"Paired difference: arm − {REFERENCE}"
    title = f"Paired difference vs {reference}"
    font = QFont()
    font.setPointSizeF(11)
    return title if QFontMetrics(font).horizontalAdvance(title) <= DIFF_TITLE_PX else \
        "Paired difference vs the first run"


class SummaryPanel(Panel):
    title = "Summary"
    explanation = ("Final test error per arm over seeds (box: quartiles, whiskers 1.5 IQR, both from 3 seeds on; "
                   "dots: seeds; diamond: mean with 95 % CI from 3 seeds on) and the paired difference to random "
                   "init (same seed): below zero, pre-training helped.")
    kinds = (METRICS, ONLINE)  # an online run's final test errors are its last points'
    compares = True

    def __init__(self, store: RunStore, parent: QWidget | None = None) -> None:
        super().__init__(store, parent)
        self.finish_toolbar()
        self.groups: dict[str, RunStore] = {"": store}
        self.box_plot = style_plot(self.graphics.addPlot(row=0, col=0, axisItems={"bottom": CategoryAxis("bottom")}),
                                   BOX_TITLE, "arm", "test error (%)")
        self.diff_plot = style_plot(self.graphics.addPlot(row=0, col=1, axisItems={"bottom": CategoryAxis("bottom")}),
                                    f"Paired difference: arm − {REFERENCE}", "arm", "Δ test error (pp)")  # pp: points
        self.graphics.ci.layout.setColumnStretchFactor(0, 3)
        self.graphics.ci.layout.setColumnStretchFactor(1, 2)
        for plot in (self.box_plot, self.diff_plot):  # x is a category axis (arms, runs): no "arm (x0.001)"; y in
            plot.getAxis("bottom").enableAutoSIPrefix(False)  # % or points: "-300 (x0.001)" for -0.3 pp misread
            plot.getAxis("left").enableAutoSIPrefix(False)
        # the legend has its own row under the plots: inside the box plot it covered a whisker and seed dots
        # at 1280x800 and its last entry was cut at the plot's edge
        self.legend = Legend(colCount=COMPARE_LEGEND_COLUMNS, labelTextColor=FOREGROUND, pen=pg.mkPen(200, 200, 200))
        self.compare_legend = Legend(colCount=COMPARE_LEGEND_COLUMNS, labelTextColor=FOREGROUND,
                                     pen=pg.mkPen(200, 200, 200))
        self.table = QTableWidget(0, len(TABLE_COLUMNS))
        self.table.setHorizontalHeaderLabels(list(TABLE_COLUMNS))
        # each header on one line and on two (``_fit_headers`` shows the one that fits)
        self._headers = [(c, WRAPPED_HEADERS.get(c, c)) for c in TABLE_COLUMNS]
        for c, name in enumerate(TABLE_COLUMNS):
            self.table.horizontalHeaderItem(c).setToolTip(name)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.verticalHeader().setDefaultSectionSize(QFontMetrics(self.table.font()).lineSpacing() + 8)
        self.table.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
        self.table.installEventFilter(self)  # its width decides whether the sideways scroll bar takes a row's height
        self.table.setToolTip("Mean with t-based 95 % CI over seeds; paired difference over the seeds both arms "
                              "have, with a paired t-test and a Wilcoxon signed-rank test. Where random init ended "
                              f"above {STUCK_ERROR:.0%} test error on some seeds (it never left the chance-level "
                              "plateau), rows 'off the plateau' give each arm over the other seeds, as the reproduce "
                              "report's width and labels claims judge the gain")
        self.layout().addWidget(self.table)
        # the plots keep room for a box with its whiskers under a comparison's legend rows: the bottom docks give
        # way (at 1280x800 the box plot was squashed to 20-40 px under a long-label legend)
        self.summaries: list[ArmSummary] = []
        self.off_plateau: list[ArmSummary] = []  # table rows only (not drawn): each arm over the seeds off the plateau
        self.plateau: dict[str, list[int]] = {}  # group -> its random-init seeds on the plateau
        self._group_finals: dict[str, dict[str, dict[int, float]]] = {}
        self.small_n_note = ""
        self.plateau_note = ""
        self._make_items()
        self.request_refresh()

    # -- sweeps ------------------------------------------------------------------------------------
    def set_groups(self, groups: Mapping[str, RunStore]) -> None:
        """Show several stores (a sweep's variants, label -> store) as groups; ``{}`` goes back to the own store."""
        for label, s in self.groups.items():
            if s is not self.store and groups.get(label) is not s:
                s.changed.disconnect(self.on_store_changed)
        new = dict(groups) or {"": self.store}
        for label, s in new.items():
            if s is not self.store and self.groups.get(label) is not s:
                s.changed.connect(self.on_store_changed)
        self.groups = new
        self.request_refresh()

    # -- drawing -----------------------------------------------------------------------------------
    def compute(self) -> list[ArmSummary]:
        comparison = self.comparison()
        if comparison is not None:
            return self._compare(comparison)
        out: list[ArmSummary] = []
        x = 0.0
        self._group_finals = {}
        for label, store in self.groups.items():
            by_arm = self._group_finals[label] = final_errors(store)
            arms = list(store.arms) + [a for a in by_arm if a not in store.arms]
            for arm in arms:
                if arm not in by_arm:
                    continue
                out.append(arm_summary(label, arm, x, by_arm))
                x += 1
            x += 0.6  # a gap between groups
        return out

    def compute_off_plateau(self) -> tuple[list[ArmSummary], dict[str, list[int]]]:
        """Outside a comparison, per group whose random-init arm ended above ``STUCK_ERROR`` test error on some seeds
        (``core.stats.plateau_seeds``, the reproduce report's rule): each arm over the other seeds (its mean, and its
        paired difference to random init), and group -> those seeds. The report's width and labels claims judge
        their gains over these seeds; the drawn rows keep every seed (what the regulariser claim's table reads)."""
        rows: list[ArmSummary] = []
        stuck_by_group: dict[str, list[int]] = {}
        if self.comparison() is not None:
            return rows, stuck_by_group
        for label, by_arm in self._group_finals.items():
            stuck = plateau_seeds(by_arm.get(REFERENCE, {}), scale=100.0)  # Summary's errors are in percent
            if not stuck:
                continue
            stuck_by_group[label] = sorted(stuck)
            kept = leave_out(by_arm, stuck)
            rows += [arm_summary(label, s.arm, s.x, kept, OFF_PLATEAU) for s in self.summaries if s.group == label]
        return rows, stuck_by_group

    def table_rows(self) -> list[ArmSummary]:
        """The table's rows: every drawn row, each followed by its row over the seeds off the plateau (if any)."""
        extra = {(s.group, s.arm): s for s in self.off_plateau}
        out = []
        for s in self.summaries:
            out.append(s)
            if (s.group, s.arm) in extra and not s.run:
                out.append(extra[(s.group, s.arm)])
        return out

    def _compare(self, comparison: Comparison) -> list[ArmSummary]:
        """Each arm a group of its runs side by side (the first run is the reference): mean with CI per run, and
        each later run minus the reference run over the seeds both have (same seed: same init and data order)."""
        finals = [final_errors(r.data) for r in comparison]
        reference = comparison.runs[0].label
        out: list[ArmSummary] = []
        x = 0.0
        for arm in comparison_arms(comparison):
            ref = finals[0].get(arm)
            for i, (r, by_arm) in enumerate(zip(comparison, finals, strict=True)):
                if arm not in by_arm:
                    continue
                values = by_arm[arm]
                v = list(values.values())
                diff = paired_difference({r.label: values, reference: ref}, r.label, reference) \
                    if i > 0 and ref else None
                out.append(ArmSummary(arm_label(arm), arm, x, values, box_stats(v), mean_ci(v), diff, r.label, i))
                x += 1
            x += 0.6
        return out

    def _make_items(self) -> None:
        """The plot items, made once and updated on every redraw (re-adding items each epoch costs ~5x more)."""
        self.boxes = pg.BarGraphItem(x=[], y0=[], height=[], width=BOX_WIDTH)
        self.lines = pg.PlotDataItem(connect="pairs", pen=pg.mkPen(FOREGROUND, width=1.5))
        self.seed_dots = pg.ScatterPlotItem(size=6, pen=pg.mkPen("w", width=0.5))
        self.ci_bars = pg.ErrorBarItem(x=np.zeros(0), y=np.zeros(0), beam=0.1, pen=pg.mkPen(FOREGROUND, width=1.5))
        self.mean_dots = pg.PlotDataItem(pen=None, symbol="d", symbolSize=10, symbolBrush=pg.mkBrush(FOREGROUND),
                                         symbolPen=None)
        for item in (self.boxes, self.lines, self.seed_dots, self.ci_bars, self.mean_dots):
            self.box_plot.addItem(item)
        self.diff_plot.addItem(pg.InfiniteLine(pos=0, angle=0,
                                               pen=pg.mkPen(FOREGROUND, width=1, style=Qt.PenStyle.DashLine)))
        self.diff_bars = pg.ErrorBarItem(x=np.zeros(0), y=np.zeros(0), beam=0.15, pen=pg.mkPen(FOREGROUND, width=1.5))
        self.diff_dots = pg.PlotDataItem(pen=None, symbol="d", symbolSize=11, symbolPen=pg.mkPen(FOREGROUND))
        self.diff_seeds = pg.ScatterPlotItem(size=6, pen=pg.mkPen("w", width=0.5))  # each seed's own difference
        # beside each arm's difference, the same over the seeds off the plateau (hollow), where some seeds are on it
        self.off_bars = pg.ErrorBarItem(x=np.zeros(0), y=np.zeros(0), beam=0.1,
                                        pen=pg.mkPen(FOREGROUND, width=1.2, style=Qt.PenStyle.DashLine))
        self.off_dots = pg.PlotDataItem(pen=None, symbol="d", symbolSize=10, symbolBrush=pg.mkBrush(255, 255, 255),
                                        symbolPen=pg.mkPen(FOREGROUND, width=1.5))
        self.diff_plot.addItem(self.diff_bars)
        self.diff_plot.addItem(self.diff_seeds)
        self.diff_plot.addItem(self.diff_dots)
        self.diff_plot.addItem(self.off_bars)
        self.diff_plot.addItem(self.off_dots)
        self._legend_arms: tuple | None = None
        self._diff_title = ""
        self.numbered = False  # a comparison's boxes are labelled 1, 2, 3 (the legend says which run) when too narrow
        self.box_plot.vb.sigResized.connect(self._on_box_resized)
        self._full_ticks: dict[int, list[tuple[float, str]]] = {}  # plot -> its ticks before group labels were fitted
        for plot in (self.box_plot, self.diff_plot):
            plot.vb.sigResized.connect(partial(self._fit_group_labels, plot))
            plot.vb.sigXRangeChanged.connect(partial(self._fit_group_labels, plot))

    def refresh(self) -> None:
        self.summaries = self.compute()
        self.off_plateau, self.plateau = self.compute_off_plateau()
        comparison = self.comparison()
        all_arms = comparison_arms(comparison) if comparison is not None else \
            list(dict.fromkeys(s.arm for s in self.summaries))
        self.numbered = comparison is not None and not self._run_labels_fit(comparison)
        runs = [f"{i + 1}: {r.label}" if self.numbered else r.label for i, r in enumerate(comparison or ())]
        off = any(s.diff is not None for s in self.off_plateau)
        if (all_arms, runs, off) != self._legend_arms:
            self._show_legend(all_arms, runs, comparison is not None, off)
        reference = comparison.runs[0].label if comparison is not None else REFERENCE
        self._diff_title = diff_title(reference if comparison is not None else None)
        self.diff_plot.setTitle(self._diff_title, color=FOREGROUND, size="11pt")  # elided on screen if narrow
        self.diff_plot.setLabel("bottom", "run" if comparison is not None else "arm", color=FOREGROUND)
        self.box_plot.setLabel("bottom", "run" if comparison is not None else "arm", color=FOREGROUND)
        # the caption says what the paired difference is: vs random init, or vs the first run in a comparison (it
        # said "to random init" beside "Paired difference vs the first run")
        caption = self.explanation if comparison is None else COMPARE_EXPLANATION
        if self.header.text() != caption:
            self.header.setText(caption)
            self.header.setToolTip(caption)
        first = "Run" if comparison is not None else "Group"
        self._headers[0] = (first, first)
        self._headers[6] = paired_header(reference, QFontMetrics(self.table.horizontalHeader().font()))
        self.table.horizontalHeaderItem(0).setToolTip(first)
        self.table.horizontalHeaderItem(6).setToolTip(f"Minus {reference} (paired): over the seeds both have")
        for _sample, label in self.active_legend().items:
            if label.text.startswith("mean"):
                label.setText(self._mean_label(), color=FOREGROUND)
        self._draw_boxes(all_arms)
        self._draw_diffs(all_arms)
        self._fit_tick_rows()
        self._fill_table()

    def active_legend(self) -> pg.LegendItem:
        """The legend in use, in its own row under the plots (it covers no data and is not clipped by the box
        plot's width): the arms', or for a comparison the one that also names the runs."""
        return self.compare_legend if self.compare_legend.scene() is not None else self.legend

    def _show_legend(self, all_arms: list[str], runs: list[str], comparing: bool, off: bool = False) -> None:
        layout = self.graphics.ci
        legend, other = (self.compare_legend, self.legend) if comparing else (self.legend, self.compare_legend)
        if other.scene() is not None:
            layout.removeItem(other)
        other.setVisible(False)
        if legend.scene() is None:
            layout.addItem(legend, row=1, col=0, colspan=2)
        legend.setVisible(True)
        legend.clear()
        for arm in all_arms:
            sample = pg.ScatterPlotItem(symbol="s", size=11, brush=pg.mkBrush(arm_color(arm, all_arms, 150)),
                                        pen=pg.mkPen(arm_color(arm, all_arms), width=1.5))
            legend.addItem(sample, arm_label(arm))
        for i, text in enumerate(runs):  # (the sample shows the run's line style)
            legend.addItem(style_sample(run_style(i)), text)
        if all_arms:
            legend.addItem(self.mean_dots, self._mean_label())
        if off:
            legend.addItem(self.off_dots, "off the plateau")
        self._legend_arms = (all_arms, runs, off)
        fit_legend_columns(legend, self.graphics.width(), COMPARE_LEGEND_COLUMNS, SUMMARY_ELIDED_PX,
                           SUMMARY_LEGEND_ROWS)
        # a comparison's legend rows take height: the plots keep room for a box with its whiskers (the bottom docks
        # give way; at 1280x800 the box plot was squashed to 20-40 px), the table what they do not need
        claim = self._plots_claim() if comparing else 0
        if claim == self.plots_min_height:
            self.set_compact(self.compact)
        else:  # a redraw can run inside the plots' resize (``_on_box_resized``): a minimum changed there resized
            # them again, nested, and the outer resize then laid the view out at its older size (11 px short)
            QTimer.singleShot(0, self, partial(self._claim_plots_height, claim))

    def set_compact(self, compact: bool) -> None:
        super().set_compact(compact)
        self._fit_table_height()

    def _fit_table_height(self) -> None:
        """The table as tall as its header and rows, up to TABLE_MAX_ROWS (then it scrolls), plus the sideways scroll
        bar when its columns are wider than it is. It gives that height up while another view needs the window's
        height (``compact``)."""
        t = self.table
        shown = min(t.rowCount(), TABLE_MAX_ROWS)
        header = t.horizontalHeader()
        self._fit_headers(t.width() - 2 * t.frameWidth() - (t.verticalScrollBar().sizeHint().width()
                                                               if t.rowCount() > shown else 0))
        height = 2 * t.frameWidth() + max(header.height(), header.sizeHint().height())
        height += sum(t.rowHeight(r) for r in range(shown))
        room = t.width() - 2 * t.frameWidth()
        if t.rowCount() > shown:
            room -= t.verticalScrollBar().sizeHint().width()
        if header.length() > room:
            height += t.horizontalScrollBar().sizeHint().height()
        floor = height
        if self.comparison() is not None:  # the rows the plots' claim leaves room for (three or more)
            floor = min(height, max(TABLE_MIN_PX, COMPARE_BUDGET_PX - self.plots_min_height))
        floor = 0 if self.compact else floor
        if (t.minimumHeight(), t.maximumHeight()) != (floor, height):
            t.setMinimumHeight(floor)
            t.setMaximumHeight(height)

    def _fit_headers(self, room: int) -> None:
        """Each header on one line, or on two where that makes the columns fit ``room`` (WRAPPED_HEADERS): the
        columns are as wide as their header or their widest cell, whichever is wider."""
        t, header = self.table, self.table.horizontalHeader()

        def width(texts: list[str]) -> int:
            metrics = QFontMetrics(header.font())
            pad = header.sectionSizeHint(1) - metrics.horizontalAdvance(t.horizontalHeaderItem(1).text())
            return sum(max(max(metrics.horizontalAdvance(line) for line in text.split("\n")) + pad,
                           t.sizeHintForColumn(c)) for c, text in enumerate(texts) if not t.isColumnHidden(c))

        one, two = [h[0] for h in self._headers], [h[1] for h in self._headers]
        texts = two if width(one) > room >= width(two) else one
        for c, text in enumerate(texts):
            if t.horizontalHeaderItem(c).text() != text:
                t.horizontalHeaderItem(c).setText(text)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt override
        if watched is getattr(self, "table", None) and event.type() == QEvent.Type.Resize:  # (None while built)
            self._fit_table_height()
        return super().eventFilter(watched, event)

    def _on_comparison(self, comparison: object) -> None:
        """The room a comparison needs is claimed at once, even behind another tab (the redraw waits for the tab):
        claimed only when the tab is brought to the front, the window kept the docks' heights and squashed the
        plots to 80 px at 1280x800."""
        self.plots_min_height = SUMMARY_PLOTS_MIN_PX if comparison is not None else 0  # until its legend is drawn
        self.set_compact(self.compact)
        super()._on_comparison(comparison)

    def graphics_resized(self) -> None:
        if self.active_legend().scene() is not None:
            fit_legend_columns(self.active_legend(), self.graphics.width(), COMPARE_LEGEND_COLUMNS,
                               SUMMARY_ELIDED_PX, SUMMARY_LEGEND_ROWS)
        legend = self.active_legend()
        rows = -(-len(legend.items) // max(legend.columnCount, 1))
        if self.comparison() is not None and rows != self._legend_rows:
            # its legend took another number of rows: the plots' claim follows, once this resize has been delivered
            QTimer.singleShot(0, self, self._claim_plots_height)
        self._legend_rows = rows

    _legend_rows = 0  # the comparison legend's rows when the plots last resized

    def _claim_plots_height(self, claim: int | None = None) -> None:
        """The plots' claim (``_plots_claim`` when None; 0 outside a comparison) applied, outside any resize."""
        if claim is None:
            claim = self._plots_claim() if self.comparison() is not None else 0
        if claim != self.plots_min_height:
            self.plots_min_height = claim
            self.set_compact(self.compact)

    def _plots_claim(self) -> int:
        """The height a comparison's plots keep: what their titles, axes and legend rows need at the least (the
        plot layout's minimum: its views' own minimum is 0) plus BOX_MIN_PX of view, SUMMARY_PLOTS_MIN_PX at most. A
        fixed SUMMARY_PLOTS_MIN_PX, made for a three-row legend, left a two-run comparison's table 100 px at 1280x800;
        what the plots do not need goes to the table (``_fit_table_height``)."""
        chrome = self.graphics.ci.effectiveSizeHint(Qt.SizeHint.MinimumSize).height()
        return min(SUMMARY_PLOTS_MIN_PX, math.ceil(chrome) + BOX_MIN_PX)

    def _run_labels_fit(self, comparison: Comparison) -> bool:
        """Whether each run's label fits under its box at the plot's current width (else boxes are numbered)."""
        n = sum(len(r.data.arms) for r in comparison) + 0.6 * len(comparison_arms(comparison)) + 1.4
        per_box = self.box_plot.vb.width() / max(n, 1.0)
        metrics = QFontMetrics(self.font())
        return max(metrics.horizontalAdvance(r.label) for r in comparison) + 8 <= per_box

    def _on_box_resized(self, *_args: object) -> None:
        comparison = self.comparison()
        if comparison is not None and self.numbered == self._run_labels_fit(comparison):
            self.request_refresh()  # labels under the boxes <-> numbers

    def _ticks(self, items: list[ArmSummary], xs: list[float]) -> list[tuple[float, str]]:
        """Arm names; with groups, each group's label once, on a second line centred under the group (long sweep
        labels under every arm would overlap): under its middle arm, or for an even number of arms a label-only tick
        ("\n" + label, see ``CategoryAxis``) half-way between the middle two. Under the right one of two, as before,
        the last group's label had half the room it needed at the plot's edge ("labels=…" in the report's figure).
        In a comparison the run's label under each box (its number when the labels would overlap) and the arm under
        its group."""
        ticks = []
        for i, (s, x) in enumerate(zip(items, xs, strict=True)):
            first = (str(s.run_index + 1) if self.numbered else s.run) if s.run else s.arm
            if not s.group:
                ticks.append((x, first))
                continue
            members = [j for j, o in enumerate(items) if o.group == s.group]
            middle = members[len(members) // 2]
            ticks.append((x, f"{first}\n{s.group}" if i == middle and len(members) % 2 else f"{first}\n "))
            if i == middle and not len(members) % 2:
                ticks.append(((xs[members[len(members) // 2 - 1]] + x) / 2, f"\n{s.group}"))
        return sorted(ticks, key=lambda t: t[0])

    def _set_ticks(self, plot: pg.PlotItem, ticks: list[tuple[float, str]]) -> None:
        self._full_ticks[id(plot)] = ticks
        self._fit_group_labels(plot)

    def _fit_group_labels(self, plot: pg.PlotItem, *_args: object) -> None:
        """Each group label (the arm under a comparison's runs) elided to the room it has: half-way to the next
        group label on each side and inside the axis (again when the plot resizes). pyqtgraph drops a tick label
        that leaves its axis, and took the run number above with it: the paired differences of six runs showed
        no "none (random init)" and no "4" under the first arm at 1400x900 and in a 1600 px export."""
        full = self._full_ticks.get(id(plot), [])
        axis = plot.getAxis("bottom")
        (x0, x1), _ = plot.vb.viewRange()
        width = plot.vb.width()
        if not full or width <= 0 or x1 <= x0:
            axis.setTicks([full] if full else None)
            return
        px = width / (x1 - x0)
        metrics = QFontMetrics(axis.style.get("tickFont") or axis.font())
        centres = [x for x, text in full if text.partition("\n")[2].strip()]
        ticks = []
        for x, text in full:
            first, _, group = text.partition("\n")
            if group.strip():
                gaps = [abs(c - x) for c in centres if c != x] + [2 * (x - x0), 2 * (x1 - x)]
                room = int(min(gaps) * px) - 8
                if metrics.horizontalAdvance(group) > room:  # the values alone before eliding: "labels=1…" under
                    group = FIELD_NAME.sub("", group)  # 100, 1000 and 10000 told them apart by nothing ("10000")
                group = metrics.elidedText(group, Qt.TextElideMode.ElideRight, max(room, 12))
                text = f"{first}\n{group}"
            ticks.append((x, text))
        axis.setTicks([ticks])

    def _fit_tick_rows(self) -> None:
        """Room under the x axes for the second tick line when groups are shown."""
        grouped = any(s.group for s in self.summaries)
        for plot in (self.box_plot, self.diff_plot):
            plot.getAxis("bottom").setStyle(tickTextHeight=40 if grouped else 18)
            plot.getAxis("bottom").setHeight(62 if grouped else None)

    def _draw_boxes(self, all_arms: list[str]) -> None:
        ss = self.summaries
        x = np.array([s.x for s in ss], dtype=float)
        colours = [arm_color(s.arm, all_arms) for s in ss]
        # quartiles and whiskers from MIN_SEEDS seeds on, as the interval: a box drawn from 2 seeds (its "quartiles"
        # interpolated between them) looked like a measured spread; fewer seeds show their dots and mean only
        boxed = [(s, c) for s, c in zip(ss, colours, strict=True) if len(s.values) >= MIN_SEEDS]
        # pyqtgraph 0.14 fails on an empty pens list: no boxes = no per-box pens
        self.boxes.setOpts(x=np.array([s.x for s, _ in boxed], dtype=float),
                           y0=np.array([s.box["q1"] for s, _ in boxed], dtype=float),
                           height=np.array([s.box["q3"] - s.box["q1"] for s, _ in boxed], dtype=float),
                           brushes=[arm_color(s.arm, all_arms, alpha=90) for s, _ in boxed] or None,
                           pens=[pg.mkPen(c, width=1.5 if not s.run else 2.0, style=run_style(s.run_index))
                                 for s, c in boxed] or None)
        half = BOX_WIDTH / 2
        seg = []  # medians, whiskers and caps as one line item of (x0, y0)-(x1, y1) pairs
        for s, _ in boxed:
            b = s.box
            seg += [(s.x - half, b["median"]), (s.x + half, b["median"]),
                    (s.x, b["q3"]), (s.x, b["whisker_hi"]), (s.x, b["q1"]), (s.x, b["whisker_lo"]),
                    (s.x - half / 2, b["whisker_hi"]), (s.x + half / 2, b["whisker_hi"]),
                    (s.x - half / 2, b["whisker_lo"]), (s.x + half / 2, b["whisker_lo"])]
        pts = np.array(seg, dtype=float).reshape(-1, 2)
        self.lines.setData(pts[:, 0], pts[:, 1], connect="pairs" if len(pts) else "all")
        # every seed as a dot, spread sideways (deterministically) so equal values stay visible
        sx, sy, sb = [], [], []
        for s, c in zip(ss, colours, strict=True):
            n = len(s.values)
            offsets = np.linspace(-0.15, 0.15, n) if n > 1 else np.zeros(1)
            sx += list(s.x + offsets)
            sy += list(s.values.values())
            sb += [pg.mkBrush(c)] * n
        self.seed_dots.setData(sx, sy, brush=sb)
        # mean and 95 % CI beside the box (the interval only from MIN_SEEDS seeds on; never below 0 % error)
        ok = [s for s in ss if np.isfinite(s.ci.lo) and s.ci.n >= MIN_SEEDS]
        self.ci_bars.setData(x=np.array([s.x + half + 0.12 for s in ok]), y=np.array([s.ci.mean for s in ok]),
                             top=np.array([s.ci.hi - s.ci.mean for s in ok]),
                             bottom=np.array([s.ci.mean - max(0.0, s.ci.lo) for s in ok]))
        few = sorted({s.ci.n for s in ss if s.ci.n < MIN_SEEDS})
        self.small_n_note = (f"n = {', '.join(map(str, few))}: not enough seeds for a box or an interval"
                             if few else "")
        self.plateau_note = self._plateau_text()
        notes = "<br>".join(n for n in (self.small_n_note, self.plateau_note) if n)
        note = f"<br><span style='font-size:9pt'>{notes}</span>" if notes else ""
        self.box_plot.setTitle(f"{BOX_TITLE}{note}", color=FOREGROUND, size="11pt")
        self.mean_dots.setData(np.array([s.x + half + 0.12 for s in ss]), np.array([s.ci.mean for s in ss]))
        self._set_ticks(self.box_plot, self._ticks(ss, [s.x for s in ss]))
        if not ss:
            return
        margin = 1.0 if any(s.group for s in ss) else 0.6  # room for the first group's label
        self.box_plot.setXRange(float(x.min()) - margin, float(x.max()) + 0.8, padding=0)
        ys = [v for s in ss for v in (s.box["min"], s.box["max"]) if np.isfinite(v)]
        ys += [v for s in ok for v in (max(0.0, s.ci.lo), s.ci.hi)]
        lo, hi = min(ys), max(ys)
        span = (hi - lo) or max(abs(hi), 1.0)
        self.box_plot.setYRange(max(0.0, lo - 0.05 * span), hi + 0.08 * span, padding=0)  # an error is >= 0 %

    def _draw_diffs(self, all_arms: list[str]) -> None:
        diffs = [s for s in self.summaries if s.diff is not None]
        x = np.arange(len(diffs), dtype=float)
        mean = np.array([s.diff.diff.mean for s in diffs], dtype=float)
        lo = np.array([s.diff.diff.lo for s in diffs], dtype=float)
        hi = np.array([s.diff.diff.hi for s in diffs], dtype=float)
        enough = np.array([s.diff.diff.n >= MIN_SEEDS for s in diffs], dtype=bool)
        ok = np.isfinite(lo) & np.isfinite(hi) & enough
        self.diff_bars.setData(x=x[ok], y=mean[ok], top=(hi - mean)[ok], bottom=(mean - lo)[ok])
        self.diff_dots.setData(x, mean, symbolBrush=[pg.mkBrush(arm_color(s.arm, all_arms)) for s in diffs])
        sx, sy, sb = [], [], []
        for i, s in enumerate(diffs):
            ref = self._reference_values(s)
            d = [s.values[seed] - ref[seed] for seed in s.diff.seeds if seed in ref and seed in s.values]
            sx += list(i + (np.linspace(-0.12, 0.12, len(d)) if len(d) > 1 else np.zeros(len(d))))
            sy += d
            sb += [pg.mkBrush(arm_color(s.arm, all_arms, 160))] * len(d)
        self.diff_seeds.setData(sx, sy, brush=sb)
        off = {(s.group, s.arm): s.diff.diff for s in self.off_plateau if s.diff is not None}
        shown = [(i + OFF_SHIFT, off[(s.group, s.arm)]) for i, s in enumerate(diffs) if (s.group, s.arm) in off]
        self.off_dots.setData([x for x, _ in shown], [d.mean for _, d in shown])
        bars = [(x, d) for x, d in shown if shown_interval(d) is not None]
        self.off_bars.setData(x=np.array([x for x, _ in bars]), y=np.array([d.mean for _, d in bars]),
                              top=np.array([d.hi - d.mean for _, d in bars]),
                              bottom=np.array([d.mean - d.lo for _, d in bars]))
        if diffs:
            self.diff_plot.setXRange(-0.7, len(diffs) - 0.3, padding=0)
        self._set_ticks(self.diff_plot, self._ticks(diffs, [float(i) for i in range(len(diffs))]))

    def _reference_values(self, s: ArmSummary) -> dict[int, float]:
        for o in self.summaries:
            if s.run and o.arm == s.arm and o.run_index == 0:  # a comparison: the same arm in the first run
                return o.values
            if not s.run and o.group == s.group and o.arm == REFERENCE:
                return o.values
        return {}

    def _plateau_text(self) -> str:
        """The plateau seeds in a few words (the table's tooltip says the rest)."""
        if not self.plateau:
            return ""
        where = "; ".join(f"{group + ' ' if group else ''}seed{'s' if len(seeds) > 1 else ''} "
                          f"{', '.join(map(str, seeds))}" for group, seeds in self.plateau.items())
        text = f"on the plateau (random init > {STUCK_ERROR:.0%}): {where}"
        font = QFont()
        font.setPointSizeF(9)
        room = self.box_plot.width()
        if room > 0 and QFontMetrics(font).horizontalAdvance(text) > room:  # a title with markup is never elided
            count = sum(len(seeds) for seeds in self.plateau.values())
            total = sum(len(by_arm.get(REFERENCE, {})) for by_arm in self._group_finals.values())
            text = f"on the plateau (random init > {STUCK_ERROR:.0%}): {count} of {total} seeds"
        return text

    def _mean_label(self) -> str:
        return "mean ± 95 % CI" if any(s.ci.n >= MIN_SEEDS for s in self.summaries) else "mean"

    def _fill_table(self) -> None:
        rows = self.table_rows()
        self.table.setRowCount(len(rows))
        self.table.setColumnHidden(0, not any(s.group for s in rows))
        for r, s in enumerate(rows):
            d = s.diff.diff if s.diff is not None else None
            off = s.seeds_kept == OFF_PLATEAU
            unpaired = "– (n = 0)" if off and s.arm != REFERENCE else "–"  # every pair on the plateau
            cells = [s.run or s.group or "–", OFF_PLATEAU_ARM if off else arm_label(s.arm), str(s.ci.n),
                     f"{s.ci.mean:.2f} %" if s.ci.n else "–",
                     _interval(s.ci.lo, s.ci.hi, s.ci.n), f"{s.box['median']:.2f} %" if s.box else "–",
                     f"{d.mean:+.2f} pp (n={d.n})" if d else unpaired,
                     _interval(d.lo, d.hi, d.n, "pp") if d else unpaired,
                     _p(s.diff.t_pvalue, d.n) if s.diff and d else "–",
                     _wilcoxon(s.diff.wilcoxon_pvalue, d.n) if s.diff and d else "–"]
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if c == 1 and off:
                    seeds = ", ".join(map(str, self.plateau.get(s.group, ())))
                    item.setToolTip(f"{arm_label(s.arm)} without seeds {seeds}: random init ended above "
                                    f"{STUCK_ERROR:.0%} test error there (it never left the chance-level plateau, "
                                    "so a gain against it is an optimisation failure). The reproduce report's width "
                                    "and labels claims judge the gain of pre-training (random init minus arm) over "
                                    "these seeds.")
                elif text.startswith("– (n ="):
                    item.setToolTip(f"n = {s.ci.n}: not enough seeds for an interval or a p-value (3 or more)")
                elif c == 9 and s.diff and d and _wilcoxon_floor(s.diff.wilcoxon_pvalue, d.n):
                    item.setToolTip(_wilcoxon_tip(s.diff.wilcoxon_pvalue, d.n))
                elif c == 4 and s.ci.n >= MIN_SEEDS and s.ci.lo < 0:
                    item.setToolTip(f"t-interval [{s.ci.lo:.2f}, {s.ci.hi:.2f}] %: shown and drawn from 0 % (an "
                                    "error rate is never negative); the reproduce report prints it as computed")
                self.table.setItem(r, c, item)
        self._fit_table_height()

    def data_table(self) -> tuple[list[str], list[list[Any]]]:
        """One row per table row: the drawn rows over every seed (seeds_kept "all") and, where random init has seeds
        on the plateau, each arm over the others ("off plateau"); plateau_seeds names the group's plateau seeds."""
        columns = ["group", "arm", "n", "values", "q1", "median", "q3", "whisker_lo", "whisker_hi", "min", "max",
                   "mean", "std", "ci_lo", "ci_hi", "diff_reference", "diff_n", "diff_mean", "diff_ci_lo",
                   "diff_ci_hi", "t_pvalue", "wilcoxon_pvalue", "run", "seeds_kept", "plateau_seeds"]
        rows: list[list[Any]] = []
        for s in self.table_rows():
            b, d = s.box, s.diff
            values = ";".join(f"s{seed}={v!r}" for seed, v in s.values.items())
            box = [b.get(k, "") for k in ("q1", "median", "q3", "whisker_lo", "whisker_hi", "min", "max")]
            row: list[Any] = [s.group, s.arm, s.ci.n, values, *box, s.ci.mean, s.ci.std, s.ci.lo, s.ci.hi]
            if d is None:
                row += ["", "", "", "", "", "", ""]
            else:
                row += [d.reference, d.diff.n, d.diff.mean, d.diff.lo, d.diff.hi, d.t_pvalue, d.wilcoxon_pvalue]
            plateau = "" if s.run else ";".join(map(str, self.plateau.get(s.group, ())))
            rows.append([*row, s.run, s.seeds_kept, plateau])
        return columns, rows


def _interval(lo: float, hi: float, n: int, unit: str = "%") -> str:
    if n < MIN_SEEDS or not (np.isfinite(lo) and np.isfinite(hi)):
        return f"– (n = {n})"
    if unit == "%":
        lo = max(0.0, lo)  # an error rate is never below 0 %
    return f"[{lo:.2f}, {hi:.2f}] {unit}"


def _p(p: float, n: int) -> str:
    if n < MIN_SEEDS:
        return f"– (n = {n})"
    return "–" if not np.isfinite(p) else (f"{p:.3f}" if p >= 0.001 else f"{p:.1e}")


def _wilcoxon_floor(p: float, n: int) -> bool:
    """Whether p is the smallest the exact test can give with n seeds (every paired difference on one side)."""
    return n >= MIN_SEEDS and bool(np.isfinite(p)) and p <= wilcoxon_min_p(n) * (1 + 1e-9)


def _wilcoxon(p: float, n: int) -> str:
    """The p-value, and when it is the smallest the test can give with n seeds, that it is (short: the table's last
    column; the cell's tooltip says it in full)."""
    return _p(p, n) + (f" (min. at n = {n})" if _wilcoxon_floor(p, n) else "")


def _wilcoxon_tip(p: float, n: int) -> str:
    return (f"{_p(p, n)} is the smallest p a Wilcoxon signed-rank test can give with n = {n} paired seeds (every "
            "difference on one side): only more seeds can give a smaller one.")
