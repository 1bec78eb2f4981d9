"""The real window at study size (issue 25): Open replays in a background Task and the panels show the run when it
ends; closing or quitting while a replay runs ends it cleanly (no thread outlives the window); the Live metrics
table summarises a study per arm; the Filters seed chooser finds a seed among many and says what is not stored."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from desktop_app.core.events import EpochMetrics, RunStarted, UnitFinished
from desktop_app.ui import main_window as main_window_mod
from desktop_app.ui.live_metrics import ARM_COLUMNS, COLUMNS, LiveMetricsTable
from desktop_app.ui.main_window import MainWindow
from desktop_app.ui.panels.filters import FiltersPanel
from desktop_app.ui.run_store import RunStore
from desktop_app.workers.background import _RUNNING, Task
from tests.core.test_study_scale import study
from tests.ui.fakes import FakeController


@pytest.fixture
def window(qtbot):
    w = MainWindow(FakeController(), task_factory=Task)
    qtbot.addWidget(w)
    w.show()
    yield w
    w.close()


def _drained(window) -> bool:
    from desktop_app.ui.panels import base

    return not base._STAGGER.queue and not (base._STAGGER.timer and base._STAGGER.timer.isActive())


def test_open_replays_in_the_background_and_then_shows_the_run(window, qtbot, tmp_path, monkeypatch):
    monkeypatch.setattr(main_window_mod, "PREVIEW_UNITS", 2)
    run_dir = study(tmp_path / "run", 4)
    shown: list[int] = []
    window.store.changed.connect(lambda _c: shown.append(len(window.store.units())))
    assert window.open_run(run_dir) is True  # started, not finished
    assert window.replaying or window.store.run_dir == str(run_dir)
    qtbot.waitUntil(lambda: window.store.run_dir == str(run_dir) and not window.replaying, timeout=60_000)
    assert len(window.store.units()) == 8 and window.store.status == "completed"
    assert shown[0] == 2 and shown[-1] == 8  # the first units were shown while the rest were read
    qtbot.waitUntil(lambda: _drained(window), timeout=30_000)


def test_closing_during_a_replay_stops_and_waits_for_it(window, qtbot, tmp_path, monkeypatch):
    run_dir = study(tmp_path / "run", 2)
    started = threading.Event()
    real = main_window_mod.replay_run

    def endless(path, **_kw):  # a replay that never ends by itself: only a stop ends it
        yield from (item for item in real(path) if not hasattr(item, "units"))
        while True:
            started.set()
            yield (1, 2)

    monkeypatch.setattr(main_window_mod, "replay_run", endless)
    window.open_run(run_dir)
    task = window.replay_task
    assert task is not None
    qtbot.waitUntil(started.is_set, timeout=30_000)
    assert not task.done
    window.close()
    assert task.done and task.stopped and task not in _RUNNING
    assert window.store.run_dir == ""  # the replay never reached the panels
    window.open_run(run_dir)  # after close nothing starts again
    assert window.replay_task is None


def test_quitting_stops_the_runs_table_load_and_the_replay(window, qtbot, tmp_path, monkeypatch):
    """aboutToQuit without a close (the app quitting): ``shutdown_threads`` leaves no thread running."""
    run_dir = study(tmp_path / "run", 2)
    gate = threading.Event()
    real = main_window_mod.replay_run

    def held(path, **_kw):
        gate.wait(30)
        yield from real(path)

    monkeypatch.setattr(main_window_mod, "replay_run", held)
    window.open_run(run_dir)
    window.history.refresh()
    task = window.replay_task
    gate.set()
    window.shutdown_threads()
    assert task.done and not window.history.loading
    assert not [t for t in _RUNNING if t.name in ("replay", "runs-table")]
    window.history.refresh()  # a run ending during the quit starts no new load
    assert not window.history.loading


def test_live_metrics_summarise_a_study_per_arm(qtbot):
    store = RunStore()
    table = LiveMetricsTable(store)
    qtbot.addWidget(table)
    seeds = tuple(range(30))
    events: list = [RunStarted("/w/study", "study", ("none", "dae"), seeds, "cpu", 0)]
    for seed in seeds[:20]:
        for arm in ("none", "dae"):
            err = 0.1 + 0.001 * seed
            events.append(EpochMetrics(arm, seed, 1, 1, 0.1, 1, 0.1, 0.5, err))
            if seed < 15:
                events.append(UnitFinished(arm, seed, "completed" if seed else "diverged"))
    store.ingest(events[:11])  # 5 units: one row each
    assert [table.horizontalHeaderItem(c).text() for c in range(table.columnCount())] == list(COLUMNS)
    assert table.rowCount() == 5
    store.ingest(events[11:])  # 40 units: one row per arm
    assert table.per_arm and table.rowCount() == 2
    assert [table.horizontalHeaderItem(c).text() for c in range(table.columnCount())] == list(ARM_COLUMNS)
    row = [table.item(0, c).text() for c in range(table.columnCount())]
    assert row[:6] == ["none", "20 of 30", "5", "14", "1", "1"]
    assert row[6] == "10.95%" and row[7] == "10.19–11.71%"  # median, 10th-90th percentile of 0.100 .. 0.119


def test_the_filters_seed_chooser_finds_a_seed_and_says_what_is_not_stored(qtbot, tmp_path):
    run_dir = study(tmp_path / "run", 40)
    from desktop_app.core.config import load, save

    cfg = load(run_dir / "config.toml")
    save(cfg.with_overrides({"snapshots.keep_seeds": 10}), run_dir / "config.toml")
    store = RunStore()
    panel = FiltersPanel(store)
    qtbot.addWidget(panel)
    panel.resize(900, 600)
    panel.show()
    store.load_run(run_dir)
    panel.ensure_current()
    assert panel.seed_box.count() == 40 and panel.seed_box.isEditable()
    panel.seed_box.setCurrentText("37")
    panel.refresh()
    assert "seed 37" in panel.titles["left"].text
    assert panel.storage_label.isVisible()
    assert "kept for seeds 0-9 of each arm" in panel.storage_label.text()


def _study_events(seeds: int, epochs: int) -> list:
    """RunStarted and every epoch of 2 x ``seeds`` units; unit (arm, s) at epoch e has train NLL 1 / (1 + e + s / 1000)
    and test NLL twice that (none) or 1.5 x (dae): each value known."""
    events: list = [RunStarted("/w/study", "study", ("none", "dae"), tuple(range(seeds)), "cpu", 0)]
    for seed in range(seeds):
        for arm in ("none", "dae"):
            for epoch in range(epochs):
                train = 1.0 / (1 + epoch + seed / 1000)
                test = train * (2.0 if arm == "none" else 1.5)
                events.append(EpochMetrics(arm, seed, epoch, train, 0.5, train, 0.5, test, 0.1 + seed / 10_000))
    return events


def test_a_study_of_400_seeds_per_arm_draws_and_exports_every_seed(qtbot, tmp_path):
    """Trajectories draws each arm's 400 curves as one item (every point, a break between seeds, lines only above
    the symbol budget); its CSV export holds every seed's every point; Summary draws a dot per seed and pair."""
    import csv

    import numpy as np

    from desktop_app.ui.panels.summary import SummaryPanel
    from desktop_app.ui.panels.trajectory import MAX_SYMBOL_POINTS, TrajectoryPanel

    seeds, epochs = 400, 11
    store = RunStore()
    store.ingest(_study_events(seeds, epochs))
    panel = TrajectoryPanel(store)
    qtbot.addWidget(panel)
    for arm, factor in (("none", 2.0), ("dae", 1.5)):
        x, y = panel.items[arm].getData()
        train = np.array([1.0 / (1 + e + s / 1000) for s in range(seeds) for e in range(epochs)])
        np.testing.assert_allclose(x, np.log10(train))
        np.testing.assert_allclose(y, np.log10(train * factor))
        connect = panel.items[arm].opts["connect"]
        assert np.count_nonzero(~connect) == seeds  # each seed's curve ends once: 400 separate curves
        assert len(x) > MAX_SYMBOL_POINTS and panel.items[arm].opts["symbol"] is None
        assert len(panel.ends[arm].getData()[0]) == seeds
    panel.export_csv(tmp_path / "t.csv")
    with open(tmp_path / "t.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 2 * seeds * epochs
    assert {(r["arm"], int(r["seed"])) for r in rows} == {(a, s) for a in ("none", "dae") for s in range(seeds)}
    summary = SummaryPanel(store)
    qtbot.addWidget(summary)
    assert len(summary.seed_dots.data) == 2 * seeds and len(summary.diff_seeds.data) == seeds


def test_a_panel_behind_a_tab_redraws_when_brought_to_the_front(window, qtbot):
    """Panel docks tabified behind another stay isVisible(): they must still wait for their tab (ten panels redrew
    every change of a study), and redraw when it is brought to the front."""
    window.resize(1400, 900)
    window.show_panel("Trajectories")
    qtbot.waitUntil(lambda: window.current_panel() == "Trajectories", timeout=10_000)
    front, behind = window.panel_widgets["Trajectories"], window.panel_widgets["Curves"]
    assert front.on_screen() and not behind.on_screen() and behind.isVisible()
    before_front, before_behind = front.redraws, behind.redraws
    window.store.ingest(_study_events(3, 2))
    qtbot.waitUntil(lambda: front.redraws > before_front, timeout=10_000)
    qtbot.wait(50)
    assert behind.redraws == before_behind and behind._dirty
    window.show_panel("Curves")
    qtbot.waitUntil(lambda: behind.redraws > before_behind, timeout=10_000)
    assert not behind._dirty and len(behind.series) > 0


def test_the_checkpoints_pane_fills_a_long_list_in_parts(qtbot, tmp_path, monkeypatch):
    """Many checkpoints (a study's 1,600; here 320 in parts of 50): rows() and the row count are whole at once, the
    cells follow a part per turn of the event loop, and end up exactly the rows listed."""
    from desktop_app.core.lab.model import replay_run
    from desktop_app.ui import checkpoints_pane as pane_mod
    from desktop_app.ui.checkpoints_pane import CheckpointsPane

    monkeypatch.setattr(pane_mod, "FILL_ROWS", 50)
    run_dir = study(tmp_path / "run", 80)  # 2 x 80 units, checkpoints e0 and the last each
    store = RunStore()
    pane = CheckpointsPane(store)
    qtbot.addWidget(pane)
    pane.resize(600, 300)
    pane.show()
    store.model.open(run_dir, data=list(replay_run(run_dir))[-1])
    rows = pane.rows()
    assert len(rows) == 320 and pane.table.rowCount() == 320
    assert pane.filling and pane.table.item(319, 0) is None  # the first part only, so far
    assert pane.table.item(49, 0) is not None
    qtbot.waitUntil(lambda: not pane.filling, timeout=30_000)
    cells = [tuple(pane.table.item(r, c).text() for c in range(5)) for r in range(320)]
    assert cells == [(a, str(s), p, str(e), Path(path).name) for a, s, p, e, path in rows]
