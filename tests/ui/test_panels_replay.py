"""A tiny real run, replayed from its folder: the panels show the folder's numbers."""

import numpy as np
import pytest

from desktop_app.core import tiling
from desktop_app.core.config import from_dict
from desktop_app.core.engine.run import run_experiment
from desktop_app.core.runfolder import workspace as runs
from desktop_app.ui.panels import make_panels
from desktop_app.ui.run_store import RunStore
from tests.pause import HANG_MS


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    cfg = from_dict({"data": {"n_labelled": 200, "n_valid": 100, "n_test": 200, "probe_size": 30,
                              "n_unlabelled": 200},
                     "model": {"layers": [{"kind": "dense", "units": 16}]}, "arms": ["none", "dae"],
                     "finetune": {"epochs": 3, "batch_size": 20}, "pretraining": {"dae": {"epochs": 1}},
                     "seeds": {"count": 2}, "device": "cpu"})
    path = tmp_path_factory.mktemp("panels") / "run"
    events = list(run_experiment(cfg, None, path))
    assert events[-1].status == "completed"
    return path


@pytest.fixture
def panels(qtbot, run_dir):
    store = RunStore()
    store.load_run(run_dir)
    ps = make_panels(store)
    for p in ps.values():
        qtbot.addWidget(p)
    return ps


def test_panels_show_the_folders_numbers(panels, run_dir):
    rows = runs.read_metrics(run_dir)
    ft = [r for r in rows if r["phase"] == "finetune"]

    def col(arm, split, key):
        return np.array([float(r[key]) for r in ft if r["arm"] == arm and r["split"] == split])

    traj = panels["Trajectories"]
    for arm in ("none", "dae"):
        x, y = traj.items[arm].getData()
        np.testing.assert_allclose(x, np.log10(col(arm, "train", "nll")))
        np.testing.assert_allclose(y, np.log10(col(arm, "test", "nll")))

    finals = runs.final_test_errors(rows)
    summary = panels["Summary"]
    for s in summary.summaries:
        assert s.values == pytest.approx({k: 100 * v for k, v in finals[s.arm].items()})

    curves = panels["Curves"]
    (recon,) = [s for s in curves.series if s.plot == "recon"]
    expected = np.mean([float(r["recon_error"]) for r in rows if r["phase"] == "pretrain"])
    assert recon.arm == "dae" and recon.mean == pytest.approx([expected])
    (test,) = [s for s in curves.series if (s.plot, s.arm, s.name) == ("metric", "none", "test")]
    assert test.mean == pytest.approx(col("none", "test", "nll").reshape(2, -1).mean(0))

    filters = panels["Filters"]
    assert filters.timeline == [("init", 0), ("pretrain", 1), ("finetune", 1), ("finetune", 2), ("finetune", 3)]
    w = np.load(run_dir / "snapshots" / "dae" / "s0" / "filters_finetune_0003.npy")
    img, levels, _ = tiling.tile_filters(w, (1, 28, 28), "per-tile")
    np.testing.assert_array_equal(filters.images["left"].image, img)
    assert filters.images["left"].image.shape == img.shape and w.shape == (16, 784)


def test_window_shows_a_past_run_while_a_live_one_trains_then_follows_it_again(qtbot, run_dir):
    """The window subscribes to the lab model: opening a run stops following live, opening the live run resumes."""
    from desktop_app.core.events import EpochMetrics, RunStarted
    from desktop_app.ui.main_window import MainWindow
    from tests.ui.fakes import FakeController

    ctrl = FakeController()
    window = MainWindow(ctrl)
    qtbot.addWidget(window)
    live = "/synthetic/live"
    ctrl.eventsReady.emit([RunStarted(live, "live", ("none",), (0,), "cpu", 10),
                           EpochMetrics("none", 0, 0, 2.0, 0.9, 2.1, 0.9, 2.2, 0.9)])
    assert window.store.run_dir == live and window.lab.showing_live
    assert window.open_run(run_dir)
    assert window.store.run_dir == str(run_dir) and not window.lab.follow_live
    traj = window.panel_widgets["Trajectories"]
    traj.flush()
    shown = traj.items["none"].getData()[0].copy()
    ctrl.eventsReady.emit([EpochMetrics("none", 0, 1, 1.0, 0.5, 1.1, 0.5, 1.2, 0.5)])
    traj.flush()
    np.testing.assert_array_equal(traj.items["none"].getData()[0], shown)  # the past run stays on screen
    assert window.store.unit("none", 0).epochs.tolist() == [0, 1, 2, 3]
    assert window.open_run(live)  # back to the live run: no replay, every live epoch is there
    assert window.lab.follow_live and window.store.unit("none", 0).epochs.tolist() == [0, 1]
    traj.flush()
    np.testing.assert_allclose(traj.items["none"].getData()[0], np.log10([2.0, 1.0]))


def test_store_delivers_the_models_changes_on_the_gui_thread(qtbot):
    """The model calls back on whichever thread drives it; panels get ``changed`` on the GUI thread."""
    import threading

    from PySide6.QtCore import QThread
    from PySide6.QtWidgets import QApplication

    from desktop_app.core.events import EpochMetrics, RunStarted

    store = RunStore()
    threads = []
    store.changed.connect(lambda change: threads.append((QThread.currentThread(), change.kinds)))
    feeder = threading.Thread(target=store.model.ingest, args=([
        RunStarted("/synthetic/t", "t", ("none",), (0,), "cpu", 1),
        EpochMetrics("none", 0, 0, 1.0, 0.5, 1.0, 0.5, 1.0, 0.5)],))
    feeder.start()
    feeder.join()
    qtbot.waitUntil(lambda: bool(threads), timeout=HANG_MS)
    assert threads == [(QApplication.instance().thread(), {"run", "metrics"})]
    store.ingest([EpochMetrics("none", 0, 1, 1.0, 0.5, 1.0, 0.5, 1.0, 0.5)])  # on the GUI thread: at once
    assert threads[-1][1] == {"metrics"} and store.unit("none", 0).epochs.tolist() == [0, 1]


def test_store_relays_which_run_is_shown_open_and_live(qtbot, run_dir):
    """What the title bar and a run comparison subscribe to, as Qt signals."""
    from desktop_app.core.events import RunFinished, RunStarted

    store = RunStore()
    shown, opened, live = [], [], []
    store.shownChanged.connect(shown.append)
    store.runsChanged.connect(opened.append)
    store.liveChanged.connect(lambda d, active: live.append((d, active)))
    store.model.ingest_live([RunStarted("/synthetic/live", "live", ("none",), (0,), "cpu", 1)])
    store.model.open(run_dir, show=False)
    store.load_run(run_dir)
    store.model.ingest_live([RunFinished("completed", "/synthetic/live", 1.0)])
    assert shown == ["/synthetic/live", str(run_dir)] and store.run_dir == str(run_dir)
    assert opened[-1] == ("/synthetic/live", str(run_dir))
    assert live == [("/synthetic/live", True), ("/synthetic/live", False)]
