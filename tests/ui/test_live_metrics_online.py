"""An online run in the Live metrics table and the progress line: examples seen, online and test error per unit
(not "–" under epoch columns), and evaluation points (not "fine-tuning epoch k/n") while it trains."""

from __future__ import annotations

import io

import numpy as np
import pytest

from desktop_app.cli import ProgressPrinter
from desktop_app.core.engine.run import run_experiment
from desktop_app.core.events import PhaseStarted, Progress, RunFinished, RunStarted
from desktop_app.core.runfolder import read_online
from desktop_app.ui.live_metrics import COLUMNS, ONLINE_COLUMNS, LiveMetricsTable
from desktop_app.ui.progress import ProgressWidget
from desktop_app.ui.run_store import RunStore
from tests.core.test_online import tiny


@pytest.fixture(scope="module")
def online_run(tmp_path_factory):
    """A real online run (arms none + dae, one seed) and the events it emitted."""
    run_dir = tmp_path_factory.mktemp("online") / "run"
    events = list(run_experiment(tiny(), None, run_dir))
    assert events[-1].status == "completed"
    return run_dir, events


def cells(table: LiveMetricsTable) -> list[list[str]]:
    return [[table.item(r, c).text() for c in range(table.columnCount())] for r in range(table.rowCount())]


def test_live_metrics_show_each_online_units_last_point(qtbot, online_run):
    run_dir, events = online_run
    store = RunStore()
    table = LiveMetricsTable(store)
    qtbot.addWidget(table)
    store.ingest(events[:1])  # RunStarted: the columns are the online ones before any point arrives
    assert [table.horizontalHeaderItem(c).text() for c in range(table.columnCount())] == list(ONLINE_COLUMNS)
    store.ingest(events[1:])  # live, as the run controller delivers them
    last = {}
    for p in read_online(run_dir):
        last[(p.arm, p.seed)] = p
    want = [[arm, str(seed), f"{p.examples:,}", f"{100 * p.online_error:.2f}%", f"{p.test_nll:.4f}",
             f"{100 * p.test_error:.2f}%"] for (arm, seed), p in last.items()]
    got = cells(table)
    assert [row[:6] for row in got] == want
    assert got[0][6] == "–" and got[1][6].startswith("L1 ")  # "none" has no pre-training; dae's reconstruction
    assert "the error on the last 100 of them" in table.toolTip()  # the online-error block of tiny()

    store.load_run(run_dir)  # the same run replayed from its folder reads the same
    assert [row[:6] for row in cells(table)] == want


def test_a_standard_run_keeps_the_epoch_columns(qtbot):
    store = RunStore()
    table = LiveMetricsTable(store)
    qtbot.addWidget(table)
    store.ingest([RunStarted("/r", "demo", ("none",), (0,), "cpu", 10)])
    assert [table.horizontalHeaderItem(c).text() for c in range(table.columnCount())] == list(COLUMNS)


def test_progress_words_an_online_unit_by_evaluation_points(qtbot, online_run):
    _run_dir, events = online_run
    started = events[0]
    assert started.kind == "online"
    w = ProgressWidget()
    qtbot.addWidget(w)
    w.ingest([started, PhaseStarted("dae", 0, "pretrain", 0, 1), Progress("dae", 0, "pretrain", 0, 1, 1, 5, 90, 1.0)])
    assert w.phase.text() == "pre-training layer 1 on the stream · arm dae · seed 0"
    w.ingest([PhaseStarted("dae", 0, "finetune", -1, 5), Progress("dae", 0, "finetune", -1, 3, 5, 60, 90, 2.0)])
    assert w.phase.text() == "online fine-tuning to evaluation point 3/5 · arm dae · seed 0"
    w.ingest([RunStarted("/s", "demo", ("none",), (0,), "cpu", 10),
              Progress("none", 0, "finetune", -1, 3, 5, 6, 10, 1.0)])
    assert w.phase.text() == "fine-tuning epoch 3/5 · arm none · seed 0"  # the next (standard) run: epochs again


def test_basin_run_bar_words_an_online_unit_by_evaluation_points(online_run):
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    printer = ProgressPrinter(Tty(), quiet=False)
    seen = []
    for ev in online_run[1]:
        if isinstance(ev, RunFinished):
            break
        printer.handle(ev)
        if isinstance(ev, Progress) and ev.phase == "finetune":
            seen.append(printer._bar.tasks[0].description)
    printer.close()
    assert seen and all("online fine-tuning to evaluation point " in d and "/5" in d for d in seen)
    assert not any("epoch" in d for d in seen)


def test_the_reconstruction_column_is_not_clipped(qtbot, online_run):
    """Three layers' reconstruction errors fit their column at the window's width (they were cut to "L3 ...")."""
    store = RunStore()
    table = LiveMetricsTable(store)
    qtbot.addWidget(table)
    table.resize(960, 200)
    table.show()
    store.ingest(online_run[1])
    last = table.columnCount() - 1
    text = table.item(1, last).text()  # dae: "L1 ..., L2 ..."
    assert text.count("L") == 2
    assert table.columnWidth(last) >= table.fontMetrics().horizontalAdvance(text) + 6


def test_online_panel_waits_for_the_first_point_of_an_online_run(qtbot):
    """An online run that has just started is not told to "choose Experiment type online" (it is one)."""
    from desktop_app.ui.panels import OnlinePanel
    from desktop_app.ui.panels.online import HINT, WAITING

    store = RunStore()
    panel = OnlinePanel(store)
    qtbot.addWidget(panel)
    store.ingest([RunStarted("/o", "online-demo", ("none",), (0,), "cpu", 10, kind="online")])
    panel.ensure_current()
    assert panel.info.text() == WAITING
    store.ingest([RunStarted("/s", "quick-demo", ("none",), (0,), "cpu", 10)])
    panel.ensure_current()
    assert panel.info.text() == HINT


def test_summary_shows_an_online_runs_final_test_errors_live_and_replayed(qtbot):
    """An online run has no epochs: Summary (and HParams) were empty for it though its nets end with a test error
    (Live metrics showed it, the report judges it). Its final test error is the last evaluation point's, for each
    unit, as the report's table reads it, and Summary redraws as points arrive."""
    from desktop_app.core.events import OnlinePoint
    from desktop_app.core.lab.hparams import final_test_errors
    from desktop_app.ui.panels.summary import SummaryPanel

    store = RunStore()
    panel = SummaryPanel(store)
    qtbot.addWidget(panel)
    store.ingest([RunStarted("/o", "online-demo", ("none", "dae"), (0, 1, 2), "cpu", 10, kind="online")])
    errors = {("none", 0): 0.021, ("none", 1): 0.019, ("none", 2): 0.020,
              ("dae", 0): 0.015, ("dae", 1): 0.016, ("dae", 2): 0.014}
    store.ingest([OnlinePoint(a, s, 100, 0.5, 0.5, 2.0, 100) for a, s in errors])  # an earlier point
    store.ingest([OnlinePoint(a, s, 1000, 0.03, e, 0.07, 100) for (a, s), e in errors.items()])
    assert final_test_errors(store) == {a: {s: pytest.approx(100 * e) for (b, s), e in errors.items() if b == a}
                                        for a in ("none", "dae")}
    assert store.final("dae", 1)["epoch"] == 2.0 and store.final("dae", 1)["test_nll"] == pytest.approx(0.07)
    panel.ensure_current()
    rows = {s.arm: s for s in panel.summaries}
    assert rows["dae"].values == pytest.approx({0: 1.5, 1: 1.6, 2: 1.4})
    assert rows["dae"].diff is not None and rows["dae"].diff.diff.mean == pytest.approx(-0.5)  # paired: dae - none


def test_the_runs_list_and_table_give_an_online_runs_final_test_errors(online_run):
    """`basin runs`, `basin runs --table` and the Runs pane read a run's final test error from its epoch rows; an
    online run writes none, so its cells were empty. Each unit's is its last evaluation point's."""
    from desktop_app.core.lab.run_table import run_details
    from desktop_app.core.runfolder import list_runs

    run_dir, events = online_run
    last: dict = {}
    for ev in events:
        if type(ev).__name__ == "OnlinePoint":
            last[(ev.arm, ev.seed)] = ev.test_error
    want = {arm: np.mean([e for (a, _), e in last.items() if a == arm]) for arm in ("none", "dae")}
    (info,) = [i for i in list_runs(run_dir.parent) if i.path == run_dir]
    assert info.final_test_error == pytest.approx(want)
    details = run_details(run_dir)
    assert {a: ci.mean for a, ci in details.finals.items()} == pytest.approx(want) and not details.problem


def test_curves_says_an_online_run_has_no_epochs(qtbot):
    """An online run's Curves showed an empty fine-tuning plot that said nothing (a new user's finding)."""
    from desktop_app.core.events import EpochMetrics, OnlinePoint
    from desktop_app.ui.panels.curves import ONLINE_TITLE, CurvesPanel

    store = RunStore()
    panel = CurvesPanel(store)
    qtbot.addWidget(panel)
    # a 40-epoch run shown first: the online run's empty plot kept its 0-40 epoch ticks (a new user's finding)
    store.ingest([RunStarted("/s40", "long", ("none",), (0,), "cpu", 10)]
                 + [EpochMetrics("none", 0, e, 0.5, 0.1, 0.5, 0.1, 0.5, 0.1) for e in range(41)])
    panel.resize(900, 600)
    panel.show()
    panel.ensure_current()
    qtbot.waitUntil(lambda: panel.plot.viewRange()[0][1] >= 40)
    assert panel.plot.getAxis("bottom").style["showValues"]
    store.ingest([RunStarted("/o", "online-demo", ("none",), (0,), "cpu", 10, kind="online"),
                  OnlinePoint("none", 0, 100, 0.2, 0.1, 0.3, 100)])
    panel.ensure_current()
    assert panel.plot.titleLabel.text == ONLINE_TITLE
    qtbot.waitUntil(lambda: panel.plot.viewRange()[0][1] <= 1)
    assert not panel.plot.getAxis("bottom").style["showValues"]
    assert not panel.plot.getAxis("left").style["showValues"]
    store.ingest([RunStarted("/s", "quick-demo", ("none",), (0,), "cpu", 10),
                  EpochMetrics("none", 0, 1, 0.5, 0.1, 0.5, 0.1, 0.5, 0.1)])
    panel.ensure_current()
    assert panel.plot.titleLabel.text == "Fine-tuning"
    assert panel.plot.getAxis("bottom").style["showValues"] and panel.plot.vb.autoRangeEnabled()[0]
