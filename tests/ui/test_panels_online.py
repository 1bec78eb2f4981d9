"""The Online error panel draws exactly an online run's recorded points, and its CSV export equals them."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from desktop_app.core.engine.run import run_experiment
from desktop_app.core.runfolder import read_online
from desktop_app.ui.panels import OnlinePanel
from desktop_app.ui.run_store import RunStore
from tests.core.test_online import tiny
from tests.pause import HANG_MS


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Two real online runs of 1 and 2 hidden layers, two paired seeds each."""
    out = {}
    for depth in (1, 2):
        cfg = tiny(arms=["none", "dae"], **{"seeds.count": 2, "online.eval_points": 4})
        cfg = cfg.with_overrides({"model.layers": [{"kind": "dense", "units": 16}] * depth})
        run_dir = tmp_path_factory.mktemp("online") / f"d{depth}"
        evs = list(run_experiment(cfg, None, run_dir))
        assert evs[-1].status == "completed"
        out[depth] = run_dir
    return out


def test_the_panel_draws_exactly_the_recorded_points(qtbot, runs, tmp_path):
    store = RunStore()
    store.load_run(runs[2])
    panel = OnlinePanel(store)
    qtbot.addWidget(panel)
    panel.compare_box.setChecked(False)
    points = read_online(runs[2])
    assert len(panel.seed_items) == 4  # 2 arms x 2 seeds
    for (_run, arm, seed), item in panel.seed_items.items():
        mine = [p for p in points if (p.arm, p.seed) == (arm, seed)]
        assert np.array_equal(item.xData, [p.examples for p in mine])
        np.testing.assert_allclose(item.yData, [p.online_error * 100 for p in mine])
    # the mean line of an arm is the mean over its seeds at every point
    for (_depth, arm), item in panel.mean_items.items():
        per_seed = np.array([[p.online_error for p in points if (p.arm, p.seed) == (arm, s)] for s in (0, 1)])
        np.testing.assert_allclose(item.yData, per_seed.mean(axis=0) * 100)
    assert set(panel.mean_items) == {(2, "none"), (2, "dae")}

    panel.metric_box.setCurrentText("test error")
    for (_run, arm, seed), item in panel.seed_items.items():
        np.testing.assert_allclose(item.yData, [p.test_error * 100 for p in points if (p.arm, p.seed) == (arm, seed)])

    # CSV: one row per recorded point, equal to the run folder's numbers
    with open(panel.export_csv(tmp_path / "online.csv"), newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == len(points)
    got = sorted((r["arm"], int(r["seed"]), int(r["examples"]), float(r["online_error"]), float(r["test_error"]),
                  float(r["test_nll"]), int(r["block"]), int(r["hidden_layers"])) for r in rows)
    want = sorted((p.arm, p.seed, p.examples, p.online_error, p.test_error, p.test_nll, p.block, 2) for p in points)
    assert got == want
    assert panel.export_png(tmp_path / "online.png", width=800).stat().st_size > 0
    assert panel.export_svg(tmp_path / "online.svg").stat().st_size > 0


def test_open_runs_of_another_depth_get_their_own_mean(qtbot, runs):
    store = RunStore()
    store.load_run(runs[2])
    store.model.open(runs[1], show=False)
    panel = OnlinePanel(store)
    qtbot.addWidget(panel)
    assert set(panel.mean_items) == {(1, "none"), (1, "dae"), (2, "none"), (2, "dae")}
    assert len(panel.data_table()[1]) == len(read_online(runs[1])) + len(read_online(runs[2]))
    assert "1 layer" in panel.info.text() and "2 layers" in panel.info.text()
    panel.compare_box.setChecked(False)
    assert set(panel.mean_items) == {(2, "none"), (2, "dae")}


def test_live_points_redraw_the_panel(qtbot, runs):
    from desktop_app.core.runfolder import replay

    store = RunStore()
    panel = OnlinePanel(store)
    qtbot.addWidget(panel)
    assert not panel.seed_items and "No online points" in panel.info.text()
    store.ingest(list(replay(runs[1])))
    panel.flush()
    qtbot.waitUntil(lambda: len(panel.seed_items) == 4, timeout=HANG_MS)


def test_with_no_points_the_axes_show_the_decades_to_come(qtbot):
    """An empty panel spans one block to the fine-tuning budget (the default online section with no online run)
    and 1-100 % error, labelled at the decades (a bare log axis would span 1-10 with no label)."""
    from desktop_app.core.config import OnlineConfig

    panel = OnlinePanel(RunStore())
    qtbot.addWidget(panel)
    online = OnlineConfig()
    (x0, x1), (y0, y1) = panel.plot.viewRange()
    assert x0 <= np.log10(online.block) < np.log10(online.finetune_examples) <= x1
    assert y0 <= 0.0 and y1 >= 2.0  # 1 % .. 100 % in log10
    bottom = [label for _pos, label in panel.plot.getAxis("bottom")._tickLevels[0]]
    left = [label for _pos, label in panel.plot.getAxis("left")._tickLevels[0]]
    assert "1k" in bottom and "100k" in bottom and {"1", "10", "100"} <= set(left)


def test_the_reports_online_figures_draw_both_errors_against_examples_seen(qtbot, runs, tmp_path):
    """The online claim's report shows the online error and the test error against examples seen, every depth in
    one panel (report_figures)."""
    from desktop_app.core.reproduce.report import ClaimResult
    from desktop_app.report_figures import _online

    result = ClaimResult("online", "o", "s", "inconclusive", "",
                         run_dirs={"layers=1": str(runs[1]), "layers=2": str(runs[2])})
    paths = _online(result, tmp_path)
    assert [p.name for p in paths] == ["online.png", "online-test-error.png"]
    assert paths[0].read_bytes() != paths[1].read_bytes()  # another curve: the test error, not the online error
    for p in paths:
        with open(p.with_suffix(".csv"), newline="") as fh:
            assert len(list(csv.DictReader(fh))) == len(read_online(runs[1])) + len(read_online(runs[2]))
