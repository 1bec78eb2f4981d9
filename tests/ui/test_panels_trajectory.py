"""Trajectory panel: one item per arm holding log10 of the known NLLs, seeds separated, hover, live."""

import numpy as np
import pytest
from PySide6.QtCore import QPointF

from desktop_app.core.events import EpochMetrics
from desktop_app.ui.panels.trajectory import TrajectoryPanel
from desktop_app.ui.run_store import RunStore
from tests.ui import test_panels_data as syn


@pytest.fixture
def panel(qtbot):
    store = RunStore()
    store.ingest(syn.events())
    p = TrajectoryPanel(store)
    qtbot.addWidget(p)
    return p


def known(arm: str, name: str) -> np.ndarray:
    return np.array([syn.metric(arm, s, e, name) for s in syn.SEEDS for e in range(syn.EPOCHS)])


def test_one_item_per_arm_with_log_values_and_seed_breaks(panel):
    assert set(panel.items) == set(syn.ARMS)
    for arm in syn.ARMS:
        x, y = panel.items[arm].getData()
        np.testing.assert_allclose(x, np.log10(known(arm, "train_nll")))
        np.testing.assert_allclose(y, np.log10(known(arm, "test_nll")))
        connect = panel.items[arm].opts["connect"]
        expected = np.ones(len(syn.SEEDS) * syn.EPOCHS, bool)
        expected[syn.EPOCHS - 1 :: syn.EPOCHS] = False  # no line from one seed's last epoch to the next seed
        np.testing.assert_array_equal(connect, expected)
        ex, _ = panel.ends[arm].getData()  # one end marker per seed, at its last epoch
        np.testing.assert_allclose(ex, np.log10([syn.metric(arm, s, syn.EPOCHS - 1, "train_nll") for s in syn.SEEDS]))
    labels = [label.text for _, label in panel.legend.items]
    assert labels == ["none (random init)", "dae"]
    assert "log" in panel.plot.getAxis("bottom").labelText and "NLL" in panel.plot.getAxis("left").labelText


def test_hover_reports_the_nearest_point(panel, qtbot):
    panel.resize(900, 600)
    panel.show()
    qtbot.waitExposed(panel)
    panel.plot.vb.autoRange()  # the range the user sees (otherwise updated lazily on the next paint)
    x = np.log10(syn.metric("dae", 2, 3, "train_nll"))
    y = np.log10(syn.metric("dae", 2, 3, "test_nll"))
    text = panel.hover_at(x, y)
    assert text.startswith("dae, seed 2, epoch 3: train NLL ")
    assert f"{syn.metric('dae', 2, 3, 'test_nll'):.4f}" in text
    assert panel.hover_label.text() == text
    mx, my = panel.marker.getData()
    assert (mx[0], my[0]) == pytest.approx((x, y))
    # the mouse path: scene position of the point -> same text
    scene = panel.plot.vb.mapViewToScene(QPointF(x, y))
    panel.hover_label.setText("")
    panel._on_mouse_moved((scene,))
    assert panel.hover_label.text() == text
    assert panel.hover_at(x + 100, y + 100) == ""  # far from everything: nothing


def test_live_epochs_extend_the_curves(panel):
    before = len(panel.items["none"].getData()[0])
    panel.store.ingest([EpochMetrics("none", 1, syn.EPOCHS, 0.3, 0.1, 0.4, 0.1, 0.5, 0.1)])
    x, y = panel.items["none"].getData()
    assert len(x) == before + 1
    assert np.log10(0.3) in x and np.log10(0.5) in y


def test_symbols_drop_above_the_point_budget(panel, monkeypatch):
    assert panel.items["dae"].opts["symbol"] == "o"
    monkeypatch.setattr("desktop_app.ui.panels.trajectory.MAX_SYMBOL_POINTS", 5)
    panel.refresh()
    assert panel.items["dae"].opts["symbol"] is None


def test_log_axes_label_round_nats_at_any_zoom(qtbot):
    from desktop_app.ui.panels.trajectory import LogNLLAxis

    axis = LogNLLAxis("bottom")
    # less than a decade (0.21 .. 0.305 nats): round linear steps, labelled in nats, no SI prefix
    (level,) = axis.tickValues(np.log10(0.21), np.log10(0.305), 800)
    nats = 10 ** np.array(level[1])
    assert len(nats) >= 5 and nats.min() >= 0.21 - 1e-9 and nats.max() <= 0.305 + 1e-9
    steps = np.diff(nats)
    np.testing.assert_allclose(steps, steps[0], rtol=1e-6)
    assert axis.tickStrings(level[1], 1.0, 0.0)[:2] == ["0.21", "0.22"]
    # several decades: decade ticks 0.1, 1, 10 are among the labels
    levels = axis.tickValues(-1.2, 1.3, 800)
    values = [v for _, vs in levels for v in vs]
    labels = axis.tickStrings(values, 1.0, 0.0)
    assert {"0.1", "1", "10"} <= set(labels)


@pytest.mark.parametrize("size", [600, 300, 150, 80, 40])
def test_log_ticks_thin_out_on_a_short_axis(size):
    """Tick labels of a log axis never sit closer than the space a label needs (issue 15: 1/0.9/0.8/0.7 printed
    over each other on a 170 px axis)."""
    from desktop_app.ui.panels.trajectory import decade_ticks

    lo, hi, gap = np.log10(0.2), np.log10(2.5), 22.0
    ticks = decade_ticks(lo, hi, size, gap)
    assert ticks and all(lo <= t <= hi for t in ticks)
    px = np.asarray(ticks) * size / (hi - lo)
    assert len(ticks) == 1 or np.diff(px).min() >= gap - 1e-9
    if size >= 600:
        assert len(ticks) >= 9  # a tall axis keeps the 2-9 minors
