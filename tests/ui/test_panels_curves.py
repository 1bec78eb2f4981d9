"""Curves panel: mean over seeds and its band equal numpy's on the known values; reconstruction per layer."""

import numpy as np
import pyqtgraph as pg
import pytest

from desktop_app.ui.panels.curves import CurvesPanel
from desktop_app.ui.run_store import RunStore
from tests.ui import test_panels_data as syn


@pytest.fixture
def panel(qtbot):
    store = RunStore()
    store.ingest(syn.events())
    p = CurvesPanel(store)
    qtbot.addWidget(p)
    return p


def known(arm: str, name: str) -> np.ndarray:
    """(seeds, epochs) of a metric."""
    return np.array([[syn.metric(arm, s, e, name) for e in range(syn.EPOCHS)] for s in syn.SEEDS])


def series(panel, plot: str, arm: str, name: str):
    (s,) = [s for s in panel.series if (s.plot, s.arm, s.name) == (plot, arm, name)]
    return s


def test_mean_and_std_band_of_nll(panel):
    assert {(s.arm, s.name) for s in panel.series if s.plot == "metric"} == {
        (a, sp) for a in syn.ARMS for sp in ("train", "test")}
    v = known("dae", "test_nll")
    s = series(panel, "metric", "dae", "test")
    np.testing.assert_array_equal(s.epochs, np.arange(syn.EPOCHS))
    np.testing.assert_allclose(s.mean, v.mean(0))
    np.testing.assert_allclose(s.lo, v.mean(0) - v.std(0, ddof=1))
    np.testing.assert_allclose(s.hi, v.mean(0) + v.std(0, ddof=1))
    assert (s.n == len(syn.SEEDS)).all()
    # the drawn mean line is the item named in the legend, and every series has a band
    (item,) = [i for i in panel.plot.listDataItems() if i.name() == "dae · test"]
    np.testing.assert_allclose(item.getData()[1], v.mean(0))
    fills = [i for i in panel.plot.items if isinstance(i, pg.FillBetweenItem)]
    assert len(fills) == 4
    assert panel.plot.getAxis("left").labelText == "NLL (nats)"
    assert panel.plot.getAxis("bottom").labelText == "epoch"


def test_error_in_percent_with_min_max_band_and_valid_split(panel):
    panel.select(metric="error", splits=("valid",), band="min–max")
    v = 100 * known("none", "valid_error")
    s = series(panel, "metric", "none", "valid")
    np.testing.assert_allclose(s.mean, v.mean(0))
    np.testing.assert_allclose(s.lo, v.min(0))
    np.testing.assert_allclose(s.hi, v.max(0))
    assert panel.plot.getAxis("left").labelText == "classification error (%)"
    panel.select(band="none")
    assert not [i for i in panel.plot.items if isinstance(i, pg.FillBetweenItem)]


def test_reconstruction_error_per_layer(panel):
    names = {(s.arm, s.name) for s in panel.series if s.plot == "recon"}
    assert names == {("dae", "layer 1"), ("dae", "layer 2")}  # "none" does not pre-train
    for layer in syn.LAYERS:
        s = series(panel, "recon", "dae", f"layer {layer + 1}")
        expected = np.array([[syn.recon("dae", sd, layer, e) for e in range(1, syn.PRETRAIN_EPOCHS + 1)]
                             for sd in syn.SEEDS]).mean(0)
        np.testing.assert_array_equal(s.epochs, np.arange(1, syn.PRETRAIN_EPOCHS + 1))
        np.testing.assert_allclose(s.mean, expected)


def test_seeds_still_running_leave_gaps_not_zeros(qtbot):
    store = RunStore()
    evs = syn.events(seeds=(0, 1))
    # drop seed 1's last two epochs of "none": the mean there is seed 0 alone
    from desktop_app.core.events import EpochMetrics

    evs = [e for e in evs if not (isinstance(e, EpochMetrics) and e.arm == "none" and e.seed == 1 and e.epoch >= 4)]
    store.ingest(evs)
    p = CurvesPanel(store)
    qtbot.addWidget(p)
    s = series(p, "metric", "none", "test")
    assert list(s.n) == [2, 2, 2, 2, 1, 1]
    assert s.mean[-1] == pytest.approx(syn.metric("none", 0, 5, "test_nll"))
    assert s.lo[-1] == s.hi[-1] == s.mean[-1]


def test_legend_names_arms_and_line_styles_as_drawn(panel):
    """One legend entry per arm (its colour) and per split (its dash pattern, as drawn): train dashed."""
    from PySide6.QtCore import Qt

    entries = {label.text: sample.item for sample, label in panel.legend.items}
    assert set(entries) == {*(("none (random init)" if a == "none" else a) for a in syn.ARMS),
                            "train (dashed)", "test (solid)"}
    assert entries["train (dashed)"].opts["pen"].style() == Qt.PenStyle.DashLine
    (train_line,) = [i for i in panel.plot.listDataItems() if i.name() == "dae · train"]
    assert train_line.opts["pen"].style() == Qt.PenStyle.DashLine
    assert entries["dae"].opts["pen"].color() == train_line.opts["pen"].color()
    recon = {label.text for _, label in panel.recon_legend.items}
    assert recon == {"dae", "layer 1 (solid)", "layer 2 (dashed)"}
    panel.select(splits=())
    assert not panel.legend.isVisible()  # no empty legend


def test_the_plots_fill_the_panels_width(qtbot, panel):
    """The fine-tuning and pre-training plots share the whole width (a third of it stayed blank on the right, on
    screen and in the exported PNG)."""
    panel.resize(1000, 500)
    panel.show()
    qtbot.waitExposed(panel)
    panel.ensure_current()
    qtbot.wait(50)
    width = panel.graphics.ci.geometry().width()
    assert panel.recon_plot.geometry().right() >= 0.95 * width
    assert panel.plot.geometry().width() > panel.recon_plot.geometry().width()  # fine-tuning is the wider one


def test_bands_follow_log_y(panel):
    """With log y the ± std band is drawn around its line on the log scale (it stayed at its raw values, which the
    log axis read as powers of ten: far above the curves, and the y range stretched to hold it)."""
    panel.set_log_y("metric", True)
    panel.ensure_current()
    fills = [i for i in panel.plot.items if isinstance(i, pg.FillBetweenItem)]
    assert fills
    lows = [s.lo[np.isfinite(s.lo)] for s in panel.series if s.plot == "metric"]
    highs = [s.hi[np.isfinite(s.hi)] for s in panel.series if s.plot == "metric"]
    low, high = np.log10(min(v.min() for v in lows)), np.log10(max(v.max() for v in highs))
    for fill in fills:
        rect = fill.path().boundingRect()
        assert low - 1e-6 <= rect.top() and rect.bottom() <= high + 1e-6, (rect, low, high)


def test_log_y_tick_labels_never_overlap_on_a_short_axis(qtbot):
    """Issue 27: with log y, pyqtgraph labelled every minor tick ("0.03, 0.04, ... 0.9") and they printed over each
    other on screen and in exports (15 overlaps on a 70 px axis over 0.04-0.12). Curves' and Output variance's y
    axes are LogAxis: the ticks thinned to what the axis holds."""
    from PySide6.QtGui import QImage, QPainter

    from desktop_app.ui.panels import make_panel
    from desktop_app.ui.panels.log_axis import LogAxis
    from desktop_app.ui.run_store import RunStore

    panel = make_panel("Curves", RunStore(), None)
    qtbot.addWidget(panel)
    for plot in panel.plots.values():
        assert isinstance(plot.getAxis("left"), LogAxis)
    view = pg.GraphicsLayoutWidget()
    qtbot.addWidget(view)
    view.resize(300, 110)
    plot = view.addPlot(axisItems={"left": LogAxis("left")})
    plot.setLogMode(y=True)
    plot.plot([1, 2, 3], [0.04, 1, 0.12])
    view.show()
    qtbot.waitExposed(view)
    image = QImage(8, 8, QImage.Format.Format_ARGB32)
    painter = QPainter(image)
    try:
        specs = plot.getAxis("left").generateDrawSpecs(painter)
    finally:
        painter.end()
    rects = sorted((r for r, _f, text in specs[2] if text), key=lambda r: r.top())
    assert rects
    for a, b in zip(rects, rects[1:], strict=False):
        assert not a.adjusted(1, 1, -1, -1).intersects(b), (a, b)


def test_rbm_and_autoencoder_reconstruction_errors_are_not_one_scale(qtbot):
    """An RBM's squared error and a DAE's cross-entropy shared one axis as if one quantity: shown together, each
    is divided by its own epoch-1 mean and the axis and legend say so; shown alone, an arm keeps its values and
    the axis names its measure."""
    store = RunStore()
    store.ingest(syn.events(arms=("none", "rbm", "dae")))
    p = CurvesPanel(store)
    qtbot.addWidget(p)
    p.refresh()
    for arm in ("rbm", "dae"):
        s = series(p, "recon", arm, "layer 1")
        raw = np.array([[syn.recon(arm, sd, 0, e) for e in range(1, syn.PRETRAIN_EPOCHS + 1)]
                        for sd in syn.SEEDS]).mean(0)
        np.testing.assert_allclose(s.mean, raw / raw[0])
        np.testing.assert_allclose(s.scale, raw[0])
    assert "epoch-1" in p.recon_plot.getAxis("left").labelText
    assert {label.text for _, label in p.recon_legend.items} >= {"rbm (squared)", "dae (cross-entropy)"}
    columns, rows = p.data_table()
    units = {r[columns.index("unit")] for r in rows if r[0] == "recon"}
    assert all("epoch-1" in u for u in units)
    alone = RunStore()
    alone.ingest(syn.events(arms=("none", "dae")))
    q = CurvesPanel(alone)
    qtbot.addWidget(q)
    q.refresh()
    assert series(q, "recon", "dae", "layer 1").scale == 1.0
    assert "cross-entropy" in q.recon_plot.getAxis("left").labelText


def _move_to(qtbot, p: CurvesPanel, plot: pg.PlotItem, x: float, y: float) -> None:
    """A real mouse move over the plot's view at data point (x, y): QTest's event on the graphics view's viewport,
    through the scene's own mouse handling (sigMouseMoved)."""
    scene_pos = plot.vb.mapViewToScene(pg.Point(x, y))
    qtbot.mouseMove(p.graphics.viewport(), p.graphics.mapFromScene(scene_pos))


def _hover_until(qtbot, p: CurvesPanel, plot: pg.PlotItem, where, done) -> None:
    """Hover at ``where(view range)`` until ``done()``. A real mouse move first; when its readout has not come (on a
    busy machine the offscreen platform at times delivered no move at all: a 2 s timeout failed about 1 run in 5
    under two busy loops, with or without this round's changes), the scene's own signal is sent with the point,
    the range read again, as the scene sends it for a move."""
    def moved() -> bool:
        x, y = where(plot.vb.viewRange())
        _move_to(qtbot, p, plot, x, y)
        if not done():
            p.graphics.scene().sigMouseMoved.emit(plot.vb.mapViewToScene(pg.Point(x, y)))
        return done()
    qtbot.waitUntil(moved, timeout=30_000)


def test_hover_reads_out_every_shown_runs_value_at_the_hovered_epoch(qtbot, panel):
    """As TensorBoard does: over a plot, a box lists each shown series' drawn value at the epoch nearest the
    pointer (read here against the known metrics); over the pre-training plot its layers; off the plots nothing."""
    panel.resize(1200, 600)
    panel.show()
    qtbot.waitExposed(panel)
    panel.refresh()
    qtbot.wait(20)
    _hover_until(qtbot, panel, panel.plot, lambda r: (3.2, sum(r[1]) / 2),
                 lambda: panel.readout.startswith("epoch 3\n"))
    (x0, x1), (y0, y1) = panel.plot.vb.viewRange()
    lines = panel.readout.splitlines()
    assert lines[0] == "epoch 3"
    expected = {f"{'none (random init)' if arm == 'none' else arm} · {split}": known(arm, f"{split}_nll")[:, 3].mean()
                for arm in syn.ARMS for split in ("train", "test")}
    got = dict(line.split(": ") for line in lines[1:])
    assert set(got) == set(expected)
    for name, value in expected.items():
        assert float(got[name]) == pytest.approx(value, rel=1e-3)
    assert panel.hover_text.isVisible() and panel.hover_line.value() == 3
    area = panel.graphics.mapToScene(panel.graphics.viewport().rect()).boundingRect()
    assert area.contains(panel.hover_text.sceneBoundingRect())
    _hover_until(qtbot, panel, panel.plot,  # bottom right: the box stays whole
                 lambda r: (r[0][1] - 0.05 * (r[0][1] - r[0][0]), r[1][0] + 0.03 * (r[1][1] - r[1][0])),
                 lambda: panel.hover_line.value() != 3)
    assert panel.readout and area.contains(panel.hover_text.sceneBoundingRect()), panel.hover_text.sceneBoundingRect()
    _hover_until(qtbot, panel, panel.recon_plot, lambda r: (1.9, sum(r[1]) / 2),
                 lambda: panel.readout.startswith("pre-training epoch 2"))
    layer2 = np.mean([syn.recon("dae", sd, 1, 2) for sd in syn.SEEDS])
    assert f"dae · layer 2: {layer2:.4g}" in panel.readout.splitlines()
    def off_the_plots() -> bool:  # over the title: the box goes (the scene's signal when no move came, as above)
        centre = panel.plot.titleLabel.sceneBoundingRect().center()
        qtbot.mouseMove(panel.graphics.viewport(), panel.graphics.mapFromScene(centre))
        if panel.readout:
            panel.graphics.scene().sigMouseMoved.emit(centre)
        return panel.readout == ""
    qtbot.waitUntil(off_the_plots, timeout=30_000)
    assert panel.hover_text.scene() is None
