"""Window defects fixed in their panels (helper session "fixui"), each on the real panel under pytest-qt: Output
variance redraws when a further seed's run is opened beside the shown one and says what its falls/rises label
measures, as the claim's rule measures it; the error surface's CSV holds only computed grid points; Summary's table
is as tall as its rows; HParams' parallel axis names stay whole at the report's figure size; Trajectories keep their
time colouring above the symbol budget, in a few batched items."""

from __future__ import annotations

import csv
from dataclasses import replace
from pathlib import Path

import numpy as np
import pyqtgraph as pg
import pytest
from PySide6.QtGui import QColor

from desktop_app.core.events import AnalysisFinished, RunStarted
from desktop_app.core.lab.store import RunData
from desktop_app.core.reproduce.output_variance import evaluate
from desktop_app.core.results import AnalysisProgress, LandscapeResult, OutputVarianceResult
from desktop_app.ui.panels.base import arm_label
from desktop_app.ui.panels.landscape import LandscapePanel
from desktop_app.ui.panels.output_variance import OutputVariancePanel
from desktop_app.ui.run_store import RunStore

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")

# -- Output variance ----------------------------------------------------------------------------------------------
ARMS = ("none", "dae")
POSITIONS = np.arange(4)


def ov_result(seed: int, variance: np.ndarray | None = None) -> OutputVarianceResult:
    """One seed's result of a 4-block design: falling with position, with seed-to-seed noise."""
    if variance is None:
        rng = np.random.default_rng(seed)
        variance = 10.0 ** (np.array([[-1.0], [-2.5]]) - 0.4 * POSITIONS + rng.normal(0, 0.3, (2, 4)))
    return OutputVarianceResult(arms=ARMS, positions=POSITIONS, block_start=POSITIONS * 25, variance=variance,
                                block_size=25, resamples=3, resample="pool", seed=seed)


def ov_run(tmp_path: Path, result: OutputVarianceResult) -> tuple[str, RunData]:
    """A replayed output-variance run folder of one seed, as ``LabModel.open`` receives it from a background replay."""
    key = str(tmp_path / f"ov-s{result.seed}")
    run = RunData()
    run.ingest([RunStarted(key, "ov", ARMS, (result.seed,), "cpu", 1, kind="output-variance"),
                AnalysisFinished("output_variance", result)], replayed=True)
    return key, run


def test_output_variance_redraws_when_a_further_seed_is_opened_or_closed(qtbot, tmp_path):
    """`basin reproduce output-variance` writes one run per seed; opening another seed's run beside the shown one
    (kept open, not shown) adds it to the pool at once, closing it takes it out. The model reports those as
    ``runsChanged``, not as a change of the shown run: the panel kept drawing the earlier set."""
    results = [ov_result(s) for s in range(3)]
    store = RunStore()
    panel = OutputVariancePanel(store)
    qtbot.addWidget(panel)
    key0, run0 = ov_run(tmp_path, results[0])
    store.model.open(key0, data=run0)
    assert [r.seed for r in panel.results] == [0] and set(panel.curves) == set(ARMS)
    keys = {}
    for s in (1, 2):
        keys[s], run = ov_run(tmp_path, results[s])
        store.model.open(keys[s], show=False, data=run)
        assert [r.seed for r in panel.results] == list(range(s + 1)), f"seed {s} opened: not drawn"
        assert f"{s + 1} seeds" in panel.plot.titleLabel.text
    logs = np.log10(np.stack([r.variance for r in results]))  # (seed, arm, block), computed here
    numbers = evaluate(results).numbers  # the claim's rule over the same seeds
    for i, arm in enumerate(ARMS):
        np.testing.assert_allclose(panel.curves[arm].yData, 10 ** logs[:, i].mean(axis=0), rtol=1e-9)
        # the label of the seeds' geometric mean says the direction of the rule's mean slope before the last block
        fit = np.mean([np.polyfit(POSITIONS[:-1], logs[s, i, :-1], 1)[0] for s in range(3)])
        assert numbers[arm]["slope_before_last"] == pytest.approx(fit)
        said = f"{'falls' if fit < 0 else 'rises'} for {arm_label(arm)}"
        assert said in panel.info.text(), (said, panel.info.text())
    store.model.close(keys[1])
    assert [r.seed for r in panel.results] == [0, 2]
    assert "2 seeds" in panel.plot.titleLabel.text and "none/1" not in panel.curves
    redraws = panel.redraws
    store.model.open(str(tmp_path / "unrelated"), show=False, data=RunData())  # no output-variance result: no redraw
    assert panel.redraws == redraws and [r.seed for r in panel.results] == [0, 2]


def test_output_variance_label_judges_the_claims_range(qtbot, tmp_path):
    """The falls/rises label measures what the claim's rule judges: the slope of log10 variance before the last block
    (``core.reproduce.output_variance.evaluate``'s slope_before_last), not over every block. Here random init falls
    over blocks 0-2 and jumps at the last block (the slope over every block rises: the old label said "rises");
    the direction over every block is said where it differs."""
    variance = np.array([[1e-1, 1e-2, 1e-3, 1e0],    # none: falls, then the last block's jump
                         [1e-3, 1e-3 * 2, 1e-3 * 4, 1e-3 * 5]])  # dae: rises throughout, lower on average
    result = ov_result(0, variance)
    numbers = evaluate([result]).numbers
    x = POSITIONS[:-1].astype(float)
    for i, arm in enumerate(ARMS):  # the rule's numbers against numpy's own fit
        assert numbers[arm]["slope_before_last"] == pytest.approx(np.polyfit(x, np.log10(variance[i, :-1]), 1)[0])
    assert numbers["none"]["slope_before_last"] < 0 < numbers["none"]["slope"]
    assert numbers["dae"]["slope_before_last"] > 0 and numbers["dae"]["slope"] > 0
    store = RunStore()
    panel = OutputVariancePanel(store)
    qtbot.addWidget(panel)
    key, run = ov_run(tmp_path, result)
    store.model.open(key, data=run)
    text = panel.info.text()
    assert "over blocks 0–2 (every block but the last: the range the claim judges)" in text
    assert "variance falls for none (random init), rises for dae" in text
    assert "with the last block: rises for none (random init)." not in text  # (not the end: the level follows)
    assert "; with the last block: rises for none (random init);" in text
    assert "lowest mean log10 variance: dae" in text


def test_output_variance_label_while_blocks_are_computed(qtbot, tmp_path):
    """A live result with the last block not computed yet: the judged range is still blocks 0-2 (the design's last
    block is left out, not the last one computed so far), and no level is compared before every block is in."""
    variance = np.array([[1e-1, 1e-2, 1e-3, np.nan], [1e-3, 2e-3, np.nan, np.nan]])
    store = RunStore()
    panel = OutputVariancePanel(store)
    qtbot.addWidget(panel)
    key, run = ov_run(tmp_path, ov_result(0, variance))
    store.model.open(key, data=run)
    text = panel.info.text()
    assert "variance falls for none (random init), rises for dae" in text
    assert "with the last block" not in text and "lowest mean" not in text


def read_csv(path: Path) -> tuple[list[str], list[list[str]]]:
    with open(path, newline="") as fh:
        rows = list(csv.reader(fh))
    return rows[0], rows[1:]


# -- Error surface ------------------------------------------------------------------------------------------------
def bowl(done_every: int = 1) -> LandscapeResult:
    """A 9 x 7 loss bowl; with ``done_every`` > 1 only every that-many-th point (flat order) is computed, the others
    NaN as a partial result of the coarse-to-fine pass has them."""
    xs, ys = np.linspace(-1.0, 1.0, 9), np.linspace(-0.6, 0.6, 7)
    x, y = np.meshgrid(xs, ys)
    loss = 0.2 + x**2 + 2 * y**2
    error = np.clip(loss / 4, 0, 1)
    missing = np.arange(loss.size).reshape(loss.shape) % done_every != 0
    loss[missing] = error[missing] = np.nan
    return LandscapeResult(xs, ys, loss, error, np.zeros((0, 2)), np.zeros(0, dtype=np.int64), np.full(2, np.nan),
                           "random", "dae", 0, 10, "train", 500)


def test_error_surface_csv_holds_only_computed_points(qtbot, tmp_path):
    """While the surface is computing the panel draws a partial result (points not computed yet filled from their
    neighbours); its CSV has a row for each computed point with its values and none for the others (it wrote them as
    NaN rows, read as values by anything that loads the file). The finished surface exports every point."""
    store = RunStore()
    panel = LandscapePanel(store)
    qtbot.addWidget(panel)
    partial = bowl(done_every=4)
    panel._on_progress(AnalysisProgress("landscape", 16, 63, partial))  # the job's progress slot
    assert panel.result is partial and "16/63 points so far" in panel.plot.titleLabel.text
    columns, rows = read_csv(panel.export_csv(tmp_path / "partial.csv"))
    assert columns == ["kind", "x", "y", "loss", "error_pct", "epoch"]
    grid = [r for r in rows if r[0] == "grid"]
    j, i = np.nonzero(np.isfinite(partial.loss))  # row by row, y outer
    assert len(grid) == 16 == len(j)
    np.testing.assert_array_equal([[float(v) for v in r[1:5]] for r in grid],
                                  np.column_stack([partial.xs[i], partial.ys[j], partial.loss[j, i],
                                                   100 * partial.error[j, i]]))
    assert not any("nan" in cell.lower() for r in rows for cell in r)
    assert [r[0] for r in rows if r[0] != "grid"] == ["centre"]
    complete = bowl()
    panel._on_finished(complete)
    _columns, rows = read_csv(panel.export_csv(tmp_path / "done.csv"))
    assert len([r for r in rows if r[0] == "grid"]) == complete.loss.size


# -- Summary ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("size", [(1400, 900), (1280, 800)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_summary_table_of_a_three_arm_claim_shows_every_row(qtbot, size):
    """Three arms, random init on the plateau for seeds 2 and 3: six rows (each arm over every seed and over the seeds
    off the plateau), all visible in the real window at both sizes, no vertical scrolling (capped at 130 px, the
    table showed three rows and scrolled), and the plots keep room for their boxes."""
    from desktop_app.core.events import EpochMetrics
    from desktop_app.ui.main_window import MainWindow
    from tests.ui import test_panels_data as syn
    from tests.ui.fakes import FakeController

    arms = ("none", "rbm", "dae")
    stuck = {("none", 2, syn.EPOCHS - 1), ("none", 3, syn.EPOCHS - 1)}
    events = [replace(e, test_error=0.6) if isinstance(e, EpochMetrics) and (e.arm, e.seed, e.epoch) in stuck else e
              for e in syn.events(arms=arms)]
    window = MainWindow(FakeController())
    qtbot.addWidget(window)
    window.resize(*size)
    window.show()
    qtbot.waitExposed(window)
    window.store.ingest(events)
    assert window.show_panel("Summary")
    panel = window.panel_widgets["Summary"]
    panel.ensure_current()
    qtbot.wait(50)
    table = panel.table
    assert table.rowCount() == 6 and panel.plateau == {"": [2, 3]}
    last = table.rowViewportPosition(5) + table.rowHeight(5)
    assert last <= table.viewport().height(), (size, last, table.viewport().height())
    assert not table.verticalScrollBar().isVisible()
    assert table.height() <= table.maximumHeight() and table.minimumHeight() == table.maximumHeight()
    assert min(p.vb.height() for p in (panel.box_plot, panel.diff_plot)) >= 100


# -- Trajectories -------------------------------------------------------------------------------------------------
def nll(arm: str, seed: int, epoch: int) -> tuple[float, float]:
    """(train, test) NLL of one epoch: falling, each seed on its own curve, the arms apart."""
    train = 2.3 * np.exp(-epoch / (4 + seed % 7)) + (0.05 if arm == "dae" else 0.3) * (1 + seed / 400)
    return train, train + 0.05 + 0.01 * epoch * (1 + seed % 3)


def test_trajectories_above_the_symbol_budget_keep_arm_and_time_colours(qtbot):
    """2 x 400 seeds x 11 epochs (8,800 points, over MAX_SYMBOL_POINTS): every segment of every curve is drawn once,
    in its arm's hue, paler for earlier epochs (one flat colour per arm before, the last arm drawn covering the
    first), in a few items batched by colour whatever the number of seeds (never one per seed). The segments and
    epochs are computed here from the known values, not read from the panel's arrays."""
    from desktop_app.core.events import EpochMetrics
    from desktop_app.ui.panels.base import arm_color
    from desktop_app.ui.panels.trajectory import MAX_SYMBOL_POINTS, TrajectoryPanel

    arms, seeds, epochs = ("none", "dae"), range(400), 11
    assert len(seeds) * epochs > MAX_SYMBOL_POINTS
    events: list = [RunStarted("/fig1", "fig1", arms, tuple(seeds), "cpu", 0)]
    events += [EpochMetrics(a, s, e, nll(a, s, e)[0], 0.1, nll(a, s, e)[1], 0.1, nll(a, s, e)[1], 0.1)
               for a in arms for s in seeds for e in range(epochs)]
    store = RunStore()
    store.ingest(events)
    panel = TrajectoryPanel(store)
    qtbot.addWidget(panel)

    def key(a, s, e):  # a segment's start and end, log10 as drawn
        return tuple(np.round(np.log10([*nll(a, s, e), *nll(a, s, e + 1)]), 9))

    expected = {key(a, s, e): (a, e) for a in arms for s in seeds for e in range(epochs - 1)}
    drawn: dict[tuple, QColor] = {}
    lined = [item for item in panel.plot.listDataItems()
             if isinstance(item, pg.PlotDataItem) and item.opts["pen"] is not None and item.xData is not None]
    for item in lined:
        x, y, joined = item.xData, item.yData, np.asarray(item.opts["connect"])
        colour = pg.mkPen(item.opts["pen"]).color()
        for i in np.flatnonzero(joined[:-1]):
            seg = tuple(np.round([x[i], y[i], x[i + 1], y[i + 1]], 9))
            assert seg not in drawn, "a segment drawn twice"
            drawn[seg] = colour
    assert set(drawn) == set(expected)  # every segment of every seed, and nothing between seeds
    assert len(lined) <= 2 * 6  # batched by colour: a handful of items per arm, not one per seed
    for arm in arms:
        hue = arm_color(arm, arms).hsvHue()
        by_epoch = {}
        for seg, colour in drawn.items():
            a, e = expected[seg]
            if a == arm:
                assert abs(colour.hsvHue() - hue) <= 2, (arm, e, colour.getRgb())  # the arm's own colour
                by_epoch.setdefault(e, set()).add(colour.lightness())
        assert all(len(v) == 1 for v in by_epoch.values())  # one shade per epoch, whatever the seed
        shades = [by_epoch[e].pop() for e in range(epochs - 1)]
        assert shades == sorted(shades, reverse=True) and shades[0] > shades[-1]  # paler early, darker late
        assert len(set(shades)) >= 4


# -- HParams (the report's width figure) and Summary's group labels (its label-size figure) -----------------------
def width_sweep(qtbot, widths=(25, 50, 500)):
    """The width claim's three runs (three hidden layers of 25, 50 and 500 units), replayed from known events; the
    configs read by the model's own reader hook, so the comparison names its fields as for real folders."""
    from desktop_app.core.config import LayerSpec
    from desktop_app.core.config import replace as cfg_replace
    from desktop_app.core.lab.model import LabModel
    from tests.ui import test_panels_data as syn
    from tests.ui.test_main_window import tiny_config

    configs, events = {}, {}
    for w in widths:
        key = f"/runs/width-{w}"
        cfg = tiny_config(name="reproduce-width")
        configs[key] = cfg_replace(cfg, model=cfg_replace(cfg.model, layers=(LayerSpec("dense", w),) * 3))
        events[key] = syn.events(key, arms=("none", "rbm", "dae"))
    store = RunStore(model=LabModel(replay=lambda path: iter(events[str(path)]),
                                    read_config=lambda path: configs[str(path)]))
    store.load_run(next(iter(configs)))
    store.model.compare(list(configs))
    return store


def test_hparams_parallel_axis_names_whole_in_the_reports_figure(qtbot, tmp_path):
    """The report's width figure (HParams of the three width runs, laid out for export at 900 px) cut the first
    axis's name to "model.... (log)": the left margin was held to one axis spacing. It now grows to hold the name;
    every name is whole, drawn (pyqtgraph drops a label leaving its axis) and clear of its row's neighbours."""
    from desktop_app.report_figures import SIZE
    from desktop_app.ui.panels.hparams import HParamsPanel
    from tests.ui.test_window_layout import _text_rects

    panel = HParamsPanel(width_sweep(qtbot))
    qtbot.addWidget(panel)
    panel.resize(*SIZE)
    panel.show()
    qtbot.waitExposed(panel)
    names = ["model.layers.0.units (log)", "model.layers.1.units (log)", "model.layers.2.units (log)", "test error"]
    with panel._export_layout():  # the figure's layout (as export_png draws it)
        axis = panel.parallel.getAxis("bottom")
        ticks = sorted(axis._tickLevels[0])
        assert [text.strip() for _, text in ticks] == names
        rects = sorted(_text_rects(axis), key=lambda r: r.left())
        assert len(rects) == len(ticks)
        for row in (rects[0::2], rects[1::2]):  # two rows of names, alternating
            assert not any(a.adjusted(1, 0, -1, 0).intersects(b) for a, b in zip(row, row[1:], strict=False))
        (x0, _x1), _ = panel.parallel.vb.viewRange()
        assert x0 < -0.6  # the margin grew for the first name
    assert panel.export_png(tmp_path / "hparams.png", width=1100).stat().st_size > 0
    assert "…" not in panel.parallel.titleLabel.item.toPlainText()  # the title stands whole too


def test_summary_group_labels_centred_and_whole_in_the_reports_figure(qtbot):
    """The report's label-size figure (Summary with a group per run) put each group's label under the right one of
    its two pre-trained arms in the paired-difference plot; the last group's label had half the room it needed at
    the plot's edge and read "labels=…". Now centred under the group (a label-only tick, no tick mark or grid line of
    its own), whole, in both plots."""
    from desktop_app.report_figures import SIZE
    from desktop_app.ui.panels.summary import SummaryPanel
    from tests.ui import test_panels_data as syn
    from tests.ui.test_window_layout import _text_rects

    stores = {}
    for label in ("labels=100", "labels=1000", "labels=all"):
        stores[label] = RunStore()
        stores[label].ingest(syn.events(f"/runs/{label}", arms=("none", "rbm", "dae")))
    panel = SummaryPanel(stores["labels=100"])
    qtbot.addWidget(panel)
    panel.set_groups(stores)
    panel.resize(*SIZE)
    panel.show()
    qtbot.waitExposed(panel)
    with panel._export_layout():  # the figure's layout (as export_png draws it)
        for plot, arms in ((panel.box_plot, ("none", "rbm", "dae")), (panel.diff_plot, ("rbm", "dae"))):
            axis = plot.getAxis("bottom")
            ticks = sorted(axis._tickLevels[0])
            groups = [(x, text.partition("\n")[2]) for x, text in ticks if text.partition("\n")[2].strip()]
            assert [g for _, g in groups] == list(stores), groups  # whole, not elided
            arm_x = [x for x, text in ticks if text.partition("\n")[0]]
            assert [text.partition("\n")[0] for x, text in ticks if x in arm_x] == list(arms) * 3
            for k, (x, _g) in enumerate(groups):  # centred under its group's arms
                assert x == pytest.approx(np.mean(arm_x[k * len(arms):(k + 1) * len(arms)]))
            assert len(_text_rects(axis)) == len(ticks)  # every label drawn
            marks = _tick_marks(axis)
            assert len(marks) == len(arm_x)  # a tick mark (and grid line) per arm, none under a label-only tick


def _tick_marks(axis) -> list:
    """The tick marks an axis would draw now (pyqtgraph's draw specs)."""
    from PySide6.QtGui import QImage, QPainter

    image = QImage(8, 8, QImage.Format.Format_ARGB32)
    painter = QPainter(image)
    try:
        return axis.generateDrawSpecs(painter)[1]
    finally:
        painter.end()


def test_group_labels_too_long_for_the_paired_difference_plot_keep_their_values(qtbot) -> None:
    """The labels-mnist figure: four groups of two arms in the narrower paired-difference plot read "labels=1…" under
    100, 1,000 and 10,000 alike. A label that does not fit drops its field names first ("10000"); the box plot beside
    keeps the whole "labels=10000"."""
    from desktop_app.report_figures import SIZE
    from desktop_app.ui.panels.summary import SummaryPanel
    from tests.ui import test_panels_data as syn

    names = ("labels=100", "labels=1000", "labels=10000", "labels=50000")
    stores = {}
    for label in names:
        stores[label] = RunStore()
        stores[label].ingest(syn.events(f"/runs/{label}", arms=("none", "rbm", "dae")))
    panel = SummaryPanel(stores[names[0]])
    qtbot.addWidget(panel)
    panel.set_groups(stores)
    panel.resize(*SIZE)
    panel.show()
    qtbot.waitExposed(panel)
    with panel._export_layout():
        def groups(plot):
            return [t.partition("\n")[2] for _, t in sorted(plot.getAxis("bottom")._tickLevels[0])
                    if t.partition("\n")[2].strip()]
        assert groups(panel.box_plot) == list(names)
        assert groups(panel.diff_plot) == ["100", "1000", "10000", "50000"]
