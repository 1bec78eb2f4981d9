"""Live redraw throttle: a visible panel fed a fast event stream redraws at its own pace, never drops the
last state, and a pending redraw waits while the panel is hidden."""

from types import SimpleNamespace

import numpy as np

from desktop_app.ui.panels import base
from desktop_app.ui.panels.curves import CurvesPanel
from desktop_app.ui.run_store import RunStore
from tests.pause import HANG_MS
from tests.ui import test_panels_data as syn


def _shown_panel(qtbot) -> CurvesPanel:
    panel = CurvesPanel(RunStore())
    qtbot.addWidget(panel)
    panel.resize(600, 400)
    panel.show()
    qtbot.waitExposed(panel)
    return panel


def _epoch_batches() -> list[list]:
    """The synthetic run cut into one batch per fine-tuning epoch (what the run controller emits live)."""
    evs = syn.events()
    head = [ev for ev in evs if type(ev).__name__ != "EpochMetrics"]
    by_epoch: dict[int, list] = {}
    for ev in evs:
        if type(ev).__name__ == "EpochMetrics":
            by_epoch.setdefault(ev.epoch, []).append(ev)
    return [head] + [by_epoch[e] for e in sorted(by_epoch)]


def test_fast_stream_redraws_less_often_and_ends_on_the_last_state(qtbot, monkeypatch):
    monkeypatch.setattr(base, "LIVE_INTERVAL_S", 0.3)
    panel = _shown_panel(qtbot)
    before = panel.redraws
    batches = _epoch_batches()
    for batch in batches:  # all within a few ms: far faster than the interval
        panel.store.ingest(batch)
    # nothing is drawn at once; one redraw on the next tick of the shared clock draws the last state
    assert panel.redraws == before
    assert panel._refresh_timer.isActive()
    qtbot.waitUntil(lambda: not panel._refresh_timer.isActive(), timeout=HANG_MS)
    assert panel.redraws == before + 1
    test = [s for s in panel.series if (s.plot, s.arm, s.name) == ("metric", "dae", "test")][0]
    want = np.array([[syn.metric("dae", s, e, "test_nll") for e in range(syn.EPOCHS)] for s in syn.SEEDS])
    np.testing.assert_allclose(test.mean, want.mean(0))


def test_panels_due_together_share_the_clock_tick(qtbot, monkeypatch):
    monkeypatch.setattr(base, "LIVE_INTERVAL_S", 1.0)
    a, b = _shown_panel(qtbot), _shown_panel(qtbot)
    a._last_refresh = b._last_refresh = -1e9  # both last drew long ago
    clock = [100.2]  # the panels' clock, stepped by the test: no machine is too slow for 100 ms between two calls
    monkeypatch.setattr(base, "time", SimpleNamespace(perf_counter=lambda: clock[0]))
    a.store.ingest(_epoch_batches()[0])
    clock[0] = 100.3
    b.store.ingest(_epoch_batches()[0])
    # scheduled 100 ms apart, due at the same tick (101.0)
    assert (a._refresh_timer.interval(), b._refresh_timer.interval()) == (800, 700)
    assert a._refresh_timer.isActive() and b._refresh_timer.isActive()


def test_slow_redraws_wait_longer(qtbot):
    panel = _shown_panel(qtbot)
    panel._last_cost = 0.2
    assert panel.refresh_interval() == base.REDRAW_BUDGET * 0.2
    panel._last_cost = 10.0
    assert panel.refresh_interval() == base.MAX_LIVE_INTERVAL_S
    panel._last_cost = 0.0
    assert panel.refresh_interval() == base.LIVE_INTERVAL_S


def test_flush_and_hide(qtbot, monkeypatch):
    monkeypatch.setattr(base, "LIVE_INTERVAL_S", 5.0)
    panel = _shown_panel(qtbot)
    batches = _epoch_batches()
    panel.store.ingest(batches[0])
    panel.store.ingest(batches[1])
    assert panel._refresh_timer.isActive()
    panel.flush()  # a run finished: draw now
    assert not panel._refresh_timer.isActive()
    assert {len(s.epochs) for s in panel.series if s.plot == "metric"} == {1}
    panel.store.ingest(batches[2])
    assert panel._refresh_timer.isActive()
    panel.hide()  # hidden: the pending redraw becomes a redraw-on-show
    assert not panel._refresh_timer.isActive() and panel._dirty
    panel.show()
    qtbot.waitExposed(panel)
    assert {len(s.epochs) for s in panel.series if s.plot == "metric"} == {2}
