"""The real window at study size (issue 25): Open replays in a background Task and the panels show the run when it
ends; closing or quitting while a replay runs ends it cleanly (no thread outlives the window); the Live metrics
table summarises a study per arm; the Filters seed chooser finds a seed among many and says what is not stored."""

from __future__ import annotations

import threading

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
