"""A comparison opened while another run is shown, in the real window (new-user report, findings 1, 2 and 9): every
view shows the comparison or says in itself which one run it shows; the status bar and the title name the
comparison; Export all writes the comparison's bundle (never the shown run's config); Output variance pools the
compared output-variance runs whatever run is shown, says what it draws, and when it has nothing to draw says why
and keeps none of the previous run's ticks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from desktop_app.core.runfolder.workspace import reproduce_command
from desktop_app.ui.exports import ExportOptions
from desktop_app.ui.main_window import MainWindow
from desktop_app.ui.panels.output_variance import EMPTY_TITLE
from desktop_app.ui.run_store import RunStore
from tests.analysis_runs import OUTPUT_VARIANCE, make_run
from tests.ui.fakes import FakeController

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")

ONE_SEED = {"seeds": {"count": 1}, "finetune": {"epochs": 2, "batch_size": 20}}


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    """A run shown first ("shown", lr 0.05), two runs that differ in width (compared), two seeds' output-variance
    runs of one design (compared)."""
    root = tmp_path_factory.mktemp("follows")
    ov = {k: v for k, v in OUTPUT_VARIANCE.items() if k in ("kind", "output_variance")}
    return {
        "shown": make_run(root / "shown-run", **{**ONE_SEED, "finetune": {**ONE_SEED["finetune"], "lr": 0.05}}),
        "w16": make_run(root / "width-16", **ONE_SEED),
        "w24": make_run(root / "width-24", **ONE_SEED, model={"layers": [{"kind": "dense", "units": 24}]}),
        "ov0": make_run(root / "ov-seed0", seeds={"count": 1, "base": 0}, **ov),
        "ov1": make_run(root / "ov-seed1", seeds={"count": 1, "base": 1}, **ov),
    }


@pytest.fixture
def window(qtbot):
    window = MainWindow(FakeController())
    qtbot.addWidget(window)
    window.resize(1400, 900)
    window.show()
    return window


def test_every_view_shows_the_comparison_or_says_which_run_it_shows(window, runs):
    """Opened a run, then compared two others: Filters, Live metrics, Output variance and the status bar went on
    showing the first run as if it were compared."""
    shown = runs["shown"].name
    assert window.open_run(runs["shown"])
    assert window.progress.phase.text().startswith("Showing '")
    assert window.compare_runs([runs["w16"], runs["w24"]])
    comparison = window.store.comparison
    assert comparison is not None and comparison.labels() == ("units=16", "units=24")

    # the status bar and the window title name the comparison, not the run shown before
    assert window.progress.phase.text() == "Comparing 2 runs: units=16; units=24"
    assert window.windowTitle() == "Basin — Comparing 2 runs: units=16; units=24"

    # every panel draws the comparison, or says in itself (not in a tooltip) which one run it shows
    one_run = []
    for name, panel in window.panel_widgets.items():
        if panel.compares:
            assert panel.comparison() is comparison and panel.run_label.text() == "Comparing 2 runs", name
            assert panel.one_run_note is None
        else:
            note = panel.one_run_note
            assert not note.isHidden(), name
            assert note.text() == f"Shows one run, not the comparison of 2 runs: {shown}, which is not compared."
            one_run.append(name)
    assert "Filters" in one_run and "Output variance" not in one_run
    live_note = window.live_dock.widget().note
    assert not live_note.isHidden() and shown in live_note.text() and "not compared" in live_note.text()

    # Output variance draws the comparison: none of its runs is an output-variance run, and it says so
    ov = window.panel_widgets["Output variance"]
    ov.ensure_current()
    assert ov.result is None and ov.info.text().startswith(
        "None of the 2 compared runs (units=16; units=24) has an output-variance result.")

    # the comparison ends: the notes go, the status bar names the run shown again
    window.end_comparison()
    assert window.panel_widgets["Filters"].one_run_note.isHidden() and live_note.isHidden()
    assert window.progress.phase.text().startswith("Showing '") and "Comparing" not in window.windowTitle()

    # a compared run shown: the note says it is one of them, by its label
    assert window.open_run(runs["w16"])
    assert window.compare_runs([runs["w16"], runs["w24"]])
    assert window.panel_widgets["Filters"].one_run_note.text() == (
        "Shows one run, not the comparison of 2 runs: units=16 (width-16), one of the compared runs.")


def test_export_all_exports_the_comparison_not_the_run_shown(window, runs, tmp_path):
    """Ctrl+E while comparing proposed the shown run's figures/ folder and wrote its config.toml, manifest.json and
    "Reproduce this run headless: basin run <shown run>" into the comparison's bundle."""
    assert window.open_run(runs["shown"])
    assert window.compare_runs([runs["w16"], runs["w24"]])
    dialog = window.export_all_dialog()
    proposed = Path(dialog.folder_edit.text())
    assert proposed == runs["w16"] / "figures" / "comparison-units-16-vs-units-24"
    dialog.reject()

    result = window.export_all(ExportOptions(tmp_path / "bundle", formats=("csv",)))
    assert result is not None and not result.errors
    folder = tmp_path / "bundle"
    readme = (folder / "README.txt").read_text()
    assert runs["shown"].name not in readme  # never the run shown: it is not compared
    assert "Reproduce this run headless" not in readme
    for d in (runs["w16"], runs["w24"]):
        assert str(d.resolve()) in readme and reproduce_command(d) in readme
        for fname in ("config.toml", "manifest.json"):
            assert (folder / "runs" / d.name / fname).read_bytes() == (d / fname).read_bytes()
    assert not (folder / "config.toml").exists() and not (folder / "manifest.json").exists()
    # the panels that show the run shown are left out and named, none of their files is written
    assert "Filters" in result.left_out and not (folder / "filters.csv").exists()
    assert "Left out, they show one run at a time and the run shown is not compared:" in readme
    assert (folder / "curves.csv").exists()
    assert all(runs["shown"].name not in p.read_text() for p in folder.glob("*.csv"))

    # a compared run shown: the panels showing it are exported, and the README says they show that run only
    assert window.open_run(runs["w16"])
    assert window.compare_runs([runs["w16"], runs["w24"]])
    result = window.export_all(ExportOptions(tmp_path / "bundle2", formats=("csv",)))
    assert result is not None and not result.errors and result.left_out == []
    readme = (tmp_path / "bundle2" / "README.txt").read_text()
    assert "Filters (width-16)" in readme.split("Panels that show one compared run only: ")[1].splitlines()[0]
    assert (tmp_path / "bundle2" / "filters.csv").exists() and not (tmp_path / "bundle2" / "config.toml").exists()


def test_copy_cli_command_copies_the_compared_runs_not_the_run_shown(window, runs):
    """Ctrl+Shift+C while comparing copied the command of the run shown before, which is not compared."""
    from PySide6.QtGui import QGuiApplication

    clipboard = QGuiApplication.clipboard()
    assert window.open_run(runs["shown"])
    assert window.compare_runs([runs["w16"], runs["w24"]])
    clipboard.setText("")
    assert window.copy_command_action.isEnabled()
    window.copy_command_action.trigger()
    assert clipboard.text().splitlines() == [reproduce_command(runs["w16"]), reproduce_command(runs["w24"])]
    assert "2 compared runs" in window.statusBar().currentMessage()
    window.end_comparison()
    window.copy_command_action.trigger()
    assert clipboard.text() == reproduce_command(runs["shown"])


def geometric_mean(*run_dirs: Path) -> np.ndarray:
    """(arm, block): 10 ** mean over the runs of log10 variance, from each run folder replayed on its own."""
    logs = []
    for d in run_dirs:
        store = RunStore()
        store.load_run(d)
        logs.append(np.log10(store.analyses["output_variance"].variance))
    return 10 ** np.mean(logs, axis=0)


def test_comparing_output_variance_runs_pools_them_whatever_run_is_shown(window, runs):
    """Comparing the two seeds' runs while another run was shown said "No output-variance result in this run"; the
    title then claimed a 95 % interval at n = 2, where none is drawn."""
    assert window.open_run(runs["shown"])
    assert window.compare_runs([runs["ov0"], runs["ov1"]])
    panel = window.panel_widgets["Output variance"]
    panel.ensure_current()
    assert [r.seed for r in panel.results] == [0, 1]
    assert sorted(panel.export_run_dirs()) == sorted(str(runs[k]) for k in ("ov0", "ov1"))
    mean = geometric_mean(runs["ov0"], runs["ov1"])
    for i, arm in enumerate(panel.result.arms):
        np.testing.assert_allclose(panel.curves[arm].yData, mean[i], rtol=1e-9)
    title = panel.plot.titleLabel.text
    assert title.endswith("2 seeds, geometric mean (no interval below 3)")
    assert "95 %" not in title and "interval (dashed)" not in title
    assert "(Geometric mean of 2 seeds.)" in panel.info.text()
    assert window.current_panel() == "Output variance"  # the comparing panel that has something to draw

    # a compared run of another kind is named as left out, the seeds are still pooled
    assert window.compare_runs([runs["ov0"], runs["ov1"], runs["w16"]])
    panel.ensure_current()
    assert [r.seed for r in panel.results] == [0, 1]
    assert panel.info.text().endswith(f"Not pooled: {window.store.comparison.find(runs['w16']).label} "
                                      "(no output-variance result).")


def test_output_variance_without_a_result_says_why_and_drops_the_previous_ticks(window, runs):
    """The empty panel kept the previous run's y ticks and "ex. 0–…" block labels and said "No output-variance
    result in this run" for a comparison."""
    window.show_panel("Output variance")
    panel = window.panel_widgets["Output variance"]
    assert window.open_run(runs["ov0"])
    panel.ensure_current()
    bottom, left = panel.plot.getAxis("bottom"), panel.plot.getAxis("left")
    assert any("ex. 0" in text for _, text in bottom._tickLevels[0])
    assert bottom.style["showValues"] and left.style["showValues"]

    assert window.open_run(runs["shown"])
    panel.ensure_current()
    assert panel.result is None and panel.curves == {} and panel.data_table()[1] == []
    assert bottom._tickLevels is None and not bottom.style["showValues"] and not left.style["showValues"]
    assert panel.plot.titleLabel.text == EMPTY_TITLE
    assert panel.info.text().startswith(f"'{runs['shown'].name}' is a standard run: it has no output-variance "
                                        "result.")
    window.end_comparison()
    assert window.open_run(runs["ov1"])  # opened one after the other: one seed drawn, and how to pool is said
    panel.ensure_current()
    assert [r.seed for r in panel.results] == [1]
    assert "One seed: to pool seeds, compare their runs" in panel.info.text()
