"""Window defects fixed in their panels (helper session "fixui2"), each checked on the real main window under
pytest-qt at 1400x900 and 1280x800: Output variance's legend covers none of the pooled seeds' curves; HParams'
per-value labels do not overlap each other; Summary's table of a 3-arm claim fits without a sideways scroll bar and a
comparison's table shows all its rows."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
import pytest
from PySide6.QtCore import QRectF

from desktop_app.core.config.diff import short_value
from desktop_app.core.events import AnalysisFinished, RunStarted
from desktop_app.core.lab.store import RunData
from desktop_app.core.results import OutputVarianceResult
from desktop_app.ui.main_window import MainWindow
from desktop_app.ui.panels.base import dense
from tests.ui.test_window_layout import SIZES, _window  # the window at the sizes a user gets

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")

# -- Output variance ----------------------------------------------------------------------------------------------
OV_ARMS = ("none", "rbm", "dae")
OV_POSITIONS = np.arange(5)


def ov_run(tmp_path, seed: int) -> tuple[str, RunData]:
    """One seed's replayed output-variance run (the paper's three arms, five blocks), as a background replay hands it
    to ``LabModel.open``: random init starts highest (the top-left corner, where the legend sat) and falls."""
    rng = np.random.default_rng(seed)
    variance = 10.0 ** (np.array([[-2.9], [-2.7], [-2.8]]) - np.array([[0.12], [0.05], [0.04]]) * OV_POSITIONS
                        + rng.normal(0, 0.04, (3, 5)))
    variance[0] *= 10 ** 0.6  # random init above the pre-trained arms at block 0
    result = OutputVarianceResult(arms=OV_ARMS, positions=OV_POSITIONS, block_start=OV_POSITIONS * 50000,
                                  variance=variance, block_size=50000, resamples=3, resample="deform", seed=seed)
    key = str(tmp_path / f"ov-s{seed}")
    run = RunData()
    run.ingest([RunStarted(key, "ov", OV_ARMS, (seed,), "cpu", 1, kind="output-variance"),
                AnalysisFinished("output_variance", result)], replayed=True)
    return key, run


def drawn_points_under(plot: pg.PlotItem, rect: QRectF) -> list[tuple[str, float, float]]:
    """The points of every curve drawn in ``plot`` (its vertices, symbols included, and points along its segments,
    the dashed interval bounds too) that lie in ``rect`` (scene coordinates)."""
    vb = plot.getViewBox()
    hits = []
    for item in plot.listDataItems():
        x, y = item.getData()  # as drawn (log10 on a log axis)
        if x is None or not len(x):
            continue
        radius = (item.opts.get("symbolSize") or 0) / 2 + 1 if item.opts.get("symbol") else 1
        xs, ys = dense(x, y, per_segment=32)
        for a, b in zip(xs, ys, strict=True):
            if np.isfinite(a) and np.isfinite(b):
                p = vb.mapViewToScene(pg.Point(a, b))
                if rect.adjusted(-radius, -radius, radius, radius).contains(p):
                    hits.append((item.name() or "", float(a), float(b)))
    return hits


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_output_variance_legend_covers_no_pooled_curve(qtbot, tmp_path, size) -> None:
    """Three seeds' output-variance runs open (one shown, two kept beside it, as Run > Compare keeps them): the
    panel draws each seed's thin line, the geometric mean and its dashed 95 % interval per arm. The legend sat in the
    view box's top-left corner, over random init's curves (which start highest); it must cover no drawn point."""
    window = _window(qtbot, size)
    for seed in range(3):
        key, run = ov_run(tmp_path, seed)
        window.lab.open(key, show=seed == 0, data=run)
    assert window.show_panel("Output variance")
    panel = window.panel_widgets["Output variance"]
    panel.ensure_current()
    qtbot.wait(50)
    assert [r.seed for r in panel.results] == [0, 1, 2]
    assert {f"{arm}/{end}" for arm in OV_ARMS for end in ("lo", "hi")} <= set(panel.curves)  # intervals drawn
    legend = panel.legend
    assert len(legend.items) == len(OV_ARMS) and legend.isVisible()
    rect = legend.sceneBoundingRect()
    assert rect.width() > 50 and rect.height() > 10
    view = panel.graphics.viewport().rect()
    assert rect.left() >= 0 and rect.right() <= view.width() + 1 and rect.bottom() <= view.height() + 1  # on screen
    for _sample, label in legend.items:  # every entry whole (not elided) at these sizes
        assert "mean of 3 seeds" in label.text, label.text
    assert drawn_points_under(panel.plot, rect) == []
    panel.log_box.setChecked(False)  # linear y: the same
    panel.ensure_current()
    qtbot.wait(20)
    assert drawn_points_under(panel.plot, panel.legend.sceneBoundingRect()) == []


# -- HParams ------------------------------------------------------------------------------------------------------
# (n_labelled, lr): five label counts within a factor 1.5 at the bottom of a log axis spanning two decades, each run
# at one of two learning rates (the lines leave the first axis up and down)
HP_RUNS = ((100, 0.1), (110, 0.05), (120, 0.1), (135, 0.05), (150, 0.1), (200, 0.05), (1000, 0.1), (10000, 0.05))


def run_folder(path, errors: dict[str, dict[int, float]], **config) -> tuple[str, RunData]:
    """A run folder holding its config.toml (what a comparison reads to name and tell runs apart; ``config``: the
    sections changed from a tiny config, e.g. ``finetune={"lr": 0.05}``) and its replayed data: per arm and seed the
    net before fine-tuning (epoch 0) and one fine-tuning epoch ending at the given test error (a fraction)."""
    from desktop_app.core.config import replace
    from desktop_app.core.events import EpochMetrics, RunFinished
    from tests.ui.test_main_window import tiny_config

    cfg = tiny_config(name=path.name)
    cfg = replace(cfg, **{k: replace(getattr(cfg, k), **v) for k, v in config.items()})
    path.mkdir(parents=True)
    (path / "config.toml").write_text(cfg.to_toml())
    seeds = sorted({seed for by_seed in errors.values() for seed in by_seed})
    run = RunData()
    run.ingest([RunStarted(str(path), path.name, tuple(errors), tuple(seeds), "cpu", len(seeds)),
                *[EpochMetrics(arm, seed, epoch, 1.0, e, 1.0, e, 1.0, e) for arm, by_seed in errors.items()
                  for seed, final in by_seed.items() for epoch, e in ((0, 0.9), (1, final))],
                RunFinished("completed", str(path), 1.0)], replayed=True)
    return str(path), run


def hp_runs(tmp_path) -> tuple[list[str], dict[str, RunData]]:
    """The HP_RUNS folders: two arms, three seeds; test error falls with the label count."""
    dirs, data = [], {}
    for n, lr in HP_RUNS:
        error = 0.5 / np.log10(n)
        errors = {arm: {seed: error * (1.0 if arm == "none" else 0.8) + 0.001 * seed for seed in range(3)}
                  for arm in ("none", "dae")}
        key, run = run_folder(tmp_path / f"labels-{n}", errors, data={"n_labelled": n}, finetune={"lr": lr})
        dirs.append(key)
        data[key] = run
    return dirs, data


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_hparams_value_labels_overlap_neither_each_other_nor_their_lines(qtbot, tmp_path, size) -> None:
    """The parallel view's per-value labels sat centred on their points (over the lines leaving them) and close
    values' labels printed over each other. Now: no two visible labels' rects intersect, no label covers its own
    point, a label lies clear of the lines leaving its point towards the next axis when they all leave one way, and
    a value left unlabelled for want of room is named in the tooltips of its axis's labels."""
    window = _window(qtbot, size)
    dirs, data = hp_runs(tmp_path)
    window.lab.compare(dirs, data)
    assert window.show_panel("HParams")
    panel = window.panel_widgets["HParams"]
    panel.select(field="data.n_labelled", arm="dae")
    panel.ensure_current()
    qtbot.wait(50)
    assert [a.key for a in panel.axes] == ["data.n_labelled", "finetune.lr"] and len(panel.lines) == len(HP_RUNS)
    vb = panel.parallel.vb
    labels = []  # (rect, whole text, axis index, tooltip) of each visible value label
    hidden: dict[int, list[str]] = {}
    for item, text, i in panel._value_texts:
        if item.isVisible():
            labels.append((item.sceneBoundingRect(), text, i, item.toolTip()))
        else:
            hidden.setdefault(i, []).append(text)
    texts = [t for _r, t, _i, _tip in labels]
    assert {"100", "10000", "0.05", "0.1"} <= set(texts), texts  # each axis keeps its ends
    assert len(labels) >= 8, texts
    for a, (ra, ta, _ia, _) in enumerate(labels):
        assert ra.width() > 5 and vb.sceneBoundingRect().adjusted(-1, -1, 1, 1).contains(ra), (ta, ra)
        for rb, tb, _ib, _ in labels[a + 1:]:
            assert not ra.intersects(rb), (ta, tb, ra, rb)
    for rect, text, i, tip in labels:
        if i == len(panel.axes):  # the error axis: no line leaves it rightwards
            continue
        axis = panel.axes[i]
        value = next(v for v in axis.values if short_value(v) == text)
        at = vb.mapViewToScene(pg.Point(i, axis.fraction(value)))
        assert not rect.adjusted(-3, -3, 3, 3).contains(at), (text, rect, at)  # beside its point, not on it
        steps = [ln.fractions[i + 1] - ln.fractions[i] for ln in panel.lines if ln.values[i] == value]
        if all(s > 0 for s in steps) or all(s < 0 for s in steps):
            for ln in panel.lines:
                if ln.values[i] != value:
                    continue
                f0, f1 = ln.fractions[i], ln.fractions[i + 1]
                for t in np.linspace(0, 1, 200):
                    assert not rect.contains(vb.mapViewToScene(pg.Point(i + t, f0 + t * (f1 - f0)))), (text, t)
        for missing in hidden.get(i, []):  # a value left out is named where its axis's labels are
            assert missing in tip, (text, tip, missing)


# -- Summary ------------------------------------------------------------------------------------------------------
def claim_errors(plateau: bool) -> dict[str, dict[int, float]]:
    """A 3-arm claim over 10 seeds: the regulariser claim's numbers (every pre-trained seed below its random-init
    seed: the Wilcoxon p at its floor, "0.002 (min. at n = 10)"), or with ``plateau`` the labels claim's, random init
    stuck above 50 % on four seeds (each arm gets its row over the other seeds)."""
    rng = np.random.default_rng(7)
    none = {s: 0.16 + 0.02 * rng.standard_normal() for s in range(10)}
    if plateau:
        none.update({s: 0.91 for s in range(4)})
    return {"none": none, **{arm: {s: v - 0.09 + 0.003 * rng.standard_normal() for s, v in none.items()}
                             for arm in ("rbm", "dae")}}


def table_fits(window: MainWindow, panel, sideways: bool = False) -> None:
    """The Summary table at the window's size: no sideways scroll (unless ``sideways``: a comparison's Run column
    and its paired header naming the first run take a column's width more), every row in view, every cell whole."""
    t = panel.table
    header = t.horizontalHeader()
    assert window.height() == 800 and window.width() == 1280  # nothing forced the window larger
    if not sideways:
        assert header.length() <= t.viewport().width(), (header.length(), t.viewport().width())
        assert not t.horizontalScrollBar().isVisible()
    assert not t.verticalScrollBar().isVisible()
    last = t.rowCount() - 1
    assert t.rowViewportPosition(last) + t.rowHeight(last) <= t.viewport().height(), (t.rowCount(), t.height())
    for c in range(t.columnCount()):
        if not t.isColumnHidden(c):
            assert header.sectionSize(c) >= t.sizeHintForColumn(c), c  # no cell cut or elided
            text = t.horizontalHeaderItem(c).text()  # on two lines or one; its tooltip on one
            assert t.horizontalHeaderItem(c).toolTip().startswith(text.replace("\n", " ")), c


def settled(panel) -> bool:
    """A comparison's plots hold the height they claim (applied after the resize under way) and lay it out."""
    g = panel.graphics
    claim = getattr(panel, "_plots_claim", lambda: panel.plots_min_height)()  # (none before the fix: a fixed claim)
    return (panel.plots_min_height == claim and g.minimumHeight() == panel.plots_min_height
            and g.viewport().height() == g.height() and g.ci.geometry().height() == g.height())


@pytest.mark.parametrize("plateau", [False, True], ids=["regulariser", "labels-plateau"])
def test_summary_table_of_a_3_arm_claim_fits_at_1280x800(qtbot, tmp_path, plateau) -> None:
    """A 3-arm claim's run at 1280x800: its table scrolled sideways by about a column (890 px of columns in 844 px;
    with the plateau rows' "none (random init), off the plateau" 926 px). Now headers wider than their numbers go on
    two lines, the rows over the seeds off the plateau say so under their arm, and the table fits."""
    window = _window(qtbot, (1280, 800))
    key, run = run_folder(tmp_path / "claim", claim_errors(plateau))
    window.lab.open(key, data=run)
    assert window.show_panel("Summary")
    panel = window.panel_widgets["Summary"]
    panel.ensure_current()
    qtbot.wait(50)
    t = panel.table
    assert t.rowCount() == (6 if plateau else 3)
    assert t.item(1, 9).text() == ("–" if plateau else "0.002 (min. at n = 10)")  # the widest cell of a claim's table
    if plateau:
        assert [t.item(r, 1).text() for r in (1, 3, 5)] == ["↳ off the plateau"] * 3
    table_fits(window, panel)
    assert min(p.vb.height() for p in (panel.box_plot, panel.diff_plot)) >= 100


def _compared_summary(qtbot, tmp_path, arms: tuple[str, ...]):
    """The window at 1280x800 comparing two runs of ``arms`` (lr 0.1 and 0.05, the claim's errors shifted by 0.01
    in the second), Summary in front and settled: (window, panel)."""
    window = _window(qtbot, (1280, 800))
    dirs, data = [], {}
    for lr, shift in ((0.1, 0.0), (0.05, 0.01)):
        errors = {arm: {s: v + shift for s, v in by_seed.items()}
                  for arm, by_seed in claim_errors(False).items() if arm in arms}
        key, data[key] = run_folder(tmp_path / f"lr{lr}", errors, finetune={"lr": lr})
        dirs.append(key)
    window.lab.compare(dirs, data)
    assert window.show_panel("Summary")
    panel = window.panel_widgets["Summary"]
    panel.ensure_current()
    qtbot.waitUntil(lambda: settled(panel), timeout=5000)
    return window, panel


def test_summary_table_of_a_comparison_shows_its_rows_at_1280x800(qtbot, tmp_path) -> None:
    """Two compared runs of two arms at 1280x800: the table sat at its 100 px floor (three of its four rows, the
    fourth scrolled) under the plots' fixed claim, made for a three-row legend. The plots now keep what their legend
    and axes need plus 100 px of view, and the table gets the rest: every row in view, the window still 800 px."""
    window, panel = _compared_summary(qtbot, tmp_path, ("none", "dae"))
    assert panel.table.rowCount() == 4
    table_fits(window, panel, sideways=True)
    assert min(p.vb.height() for p in (panel.box_plot, panel.diff_plot)) >= 100


def test_summary_comparison_of_3_arms_keeps_the_window_and_the_plots(qtbot, tmp_path) -> None:
    """Two compared runs of three arms (six rows) at 1280x800: the table gets the room the plots do not need (it
    showed 4½ rows: the tabbed Runs / Checkpoints dock below held 162 px, its tables' 70 px Qt minimum; a table may
    now shrink to its header and one row, and the dock to 142 px), the plots keep 100 px of view, the window stays
    1280x800 (asked for more, it grew to 868 px)."""
    window, panel = _compared_summary(qtbot, tmp_path, ("none", "rbm", "dae"))
    t = panel.table
    assert t.rowCount() == 6 and (window.width(), window.height()) == (1280, 800)
    shown = sum(t.rowViewportPosition(r) + t.rowHeight(r) <= t.viewport().height() for r in range(6))
    assert shown == 6, (shown, t.height())
    assert min(p.vb.height() for p in (panel.box_plot, panel.diff_plot)) >= 100
