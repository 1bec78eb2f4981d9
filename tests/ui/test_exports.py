"""Exports: the Export dialog, a panel's Export button, File > Export all (a run's figure bundle) and
Copy CLI command. Every output is opened: PNG decodes at the requested size, SVG parses with <path>s, CSV
equals the panel's data_table(), and PNG/SVG carry the run's manifest."""

from __future__ import annotations

import csv
import json
import os
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtGui import QGuiApplication, QImage, QKeySequence

from desktop_app.core.config import ExperimentConfig
from desktop_app.core.runfolder.workspace import reproduce_command
from desktop_app.ui.export_dialog import ExportDialog
from desktop_app.ui.exports import MANIFEST_KEY, RUN_KEY, ExportOptions, export_panel
from desktop_app.ui.main_window import MainWindow
from desktop_app.ui.panels import ANALYSIS_PANELS, PANELS
from desktop_app.ui.run_store import RunStore
from tests.ui import test_panels_data as syn
from tests.ui.fakes import FakeController


def make_run_folder(parent: Path, status: str = "completed") -> Path:
    """A run folder with the files a bundle copies (config.toml, manifest.json)."""
    run_dir = parent / "20260101-000000-synthetic"
    run_dir.mkdir(parents=True)
    (run_dir / "config.toml").write_text(ExperimentConfig(name="synthetic").to_toml(), encoding="utf-8")
    manifest = {"name": "synthetic", "status": status, "arms": list(syn.ARMS), "seeds": list(syn.SEEDS),
                "created": "2026-01-01T00:00:00", "config_hash": "abc123", "versions": {"python": "3.11"}}
    (run_dir / "manifest.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    return run_dir


@pytest.fixture
def run_dir(qapp) -> Path:
    return make_run_folder(Path(os.environ["BASIN_WORKSPACE"]))


@pytest.fixture
def window(qtbot, run_dir) -> MainWindow:
    store = RunStore()
    win = MainWindow(FakeController(), store=store)
    qtbot.addWidget(win)
    store.ingest(syn.events(str(run_dir)), replayed=True)
    return win


def assert_csv_equals_table(path: Path, panel) -> None:
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    columns, data = panel.data_table()
    assert rows[0] == list(columns)
    assert len(rows) - 1 == len(data)
    for got, want in zip(rows[1:], data, strict=True):
        for g, w in zip(got, want, strict=True):
            if isinstance(w, float | np.floating):
                assert (g == "nan" and np.isnan(w)) or float(g) == float(w)
            else:
                assert g == str(w)


def svg_root(path: Path) -> ET.Element:
    root = ET.parse(path).getroot()
    assert root.tag.endswith("svg")
    assert any(e.tag.endswith("path") for e in root.iter())
    return root


def test_export_all_writes_the_run_bundle(window, run_dir, tmp_path, qtbot):
    """From the dialog, one panel per turn of the event loop (all at once froze the window for 8.5 s): other events
    are handled between panels (a 0 ms timer keeps ticking), under a progress dialog, until the bundle is written."""
    from PySide6.QtCore import QTimer

    from tests.pause import HANG_MS

    dialog = window.export_all_dialog()
    assert dialog.isVisible() and dialog.folder_edit.text() == str(run_dir / "figures")
    out = tmp_path / "bundle"
    dialog.set_values(folder=out, formats=("png", "svg", "csv"), width=700, dpi=200)
    ticks: list[str] = []
    timer = QTimer()
    timer.timeout.connect(lambda: ticks.append(window.export_progress.labelText()))
    timer.start(0)
    window.last_bundle = None
    dialog.accept()
    assert window.last_bundle is None and window.export_progress.isVisible()  # under way, not done in the click
    qtbot.waitUntil(lambda: window.last_bundle is not None, timeout=HANG_MS)
    timer.stop()
    drawn = {t for t in ticks if t.startswith("Exporting ") and t != "Exporting the panels…"}
    assert len(drawn) >= len(window.export_panels()) - 1  # the loop ran while nearly every panel was drawn
    assert not window.export_progress.isVisible()

    manifest_text = (run_dir / "manifest.json").read_text(encoding="utf-8")
    assert window.last_bundle is not None and not window.last_bundle.errors
    panels = window.export_panels()
    assert set(PANELS) <= set(panels)
    # analyses never computed are skipped, and said to be: no empty figures, no header-only CSVs
    skipped = window.last_bundle.skipped
    # a standard run records no online points; HParams draws only a comparison
    assert set(skipped) == {*ANALYSIS_PANELS, "Online error", "HParams"}
    assert not any(p.stem in {"error-surface", "interpolation", "function-space", "pitfall", "output-variance"}
                   for p in out.iterdir())
    assert all(n in (out / "README.txt").read_text(encoding="utf-8") for n in skipped)
    assert "skipped (no result yet): HParams, Online error, Error surface" in window.log.toPlainText()
    for name, panel in panels.items():
        if name in skipped:
            continue
        stem = out / "".join(ch if ch.isalnum() else "-" for ch in name.lower())
        img = QImage(str(stem.with_suffix(".png")))
        assert not img.isNull() and img.width() == 700 and img.height() > 100, name
        assert round(img.dotsPerMeterX() * 0.0254) == 200
        assert json.loads(img.text(MANIFEST_KEY)) == json.loads(manifest_text)
        root = svg_root(stem.with_suffix(".svg"))
        meta = [e for e in root.iter() if e.tag.endswith("metadata") and e.get("id") == MANIFEST_KEY]
        assert meta and json.loads(meta[0].text) == json.loads(manifest_text)
        assert_csv_equals_table(stem.with_suffix(".csv"), panel)
    assert (out / "config.toml").read_bytes() == (run_dir / "config.toml").read_bytes()
    assert (out / "manifest.json").read_text(encoding="utf-8") == manifest_text
    readme = (out / "README.txt").read_text(encoding="utf-8")
    assert reproduce_command(run_dir) in readme
    assert not [p for p in out.iterdir() if p.name.startswith(".") or p.suffix == ".tmp"]  # atomic writes


def test_one_panels_figure_carries_its_one_runs_manifest_not_a_comparisons_list(window, run_dir, tmp_path):
    """A panel exported alone (the panel's Export button: no metadata handed in) embeds its run's manifest.json as
    written and the run's folder name; a list of compared runs is only for a comparison's figures."""
    panel = window.panel_widgets["Curves"]
    assert panel.export_run_dirs() == [str(run_dir)]
    (svg,) = export_panel(panel, ExportOptions(tmp_path, ("svg",)))
    meta = {e.get("id"): e.text for e in svg_root(svg).iter() if e.tag.endswith("metadata")}
    assert meta[MANIFEST_KEY] == (run_dir / "manifest.json").read_text(encoding="utf-8")
    assert meta[RUN_KEY] == run_dir.name


def test_export_all_action_has_shortcut_and_tooltip(window):
    actions = {a.text(): a for a in window.file_menu.actions()}
    for text, key in (("Export all…", "Ctrl+E"), ("Open checkpoint…", "Ctrl+Shift+O"),
                      ("Export model…", "Ctrl+Shift+E")):
        assert actions[text].shortcut() == QKeySequence(key)
        assert key in actions[text].toolTip() and actions[text].statusTip()
    copy = window.copy_command_action
    assert copy in window.run_menu.actions() and copy.shortcut() == QKeySequence("Ctrl+Shift+C")


def test_panel_export_button_opens_the_dialog(qtbot, run_dir, tmp_path):
    store = RunStore()
    store.ingest(syn.events(str(run_dir)), replayed=True)
    panel = PANELS["Trajectories"](store)
    qtbot.addWidget(panel)
    panel.export_button.click()
    dialog = panel.export_dialog
    assert isinstance(dialog, ExportDialog) and dialog.isVisible()
    assert dialog.stem_edit.text() == "trajectories"
    dialog.set_values(folder=tmp_path, formats=("png", "csv"), width=512, dpi=0)
    dialog.accept()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["trajectories.csv", "trajectories.png"]
    img = QImage(str(tmp_path / "trajectories.png"))
    assert img.width() == 512 and img.height() > 100
    assert assert_csv_equals_table(tmp_path / "trajectories.csv", panel) is None


def test_dialog_validates_and_remembers(qtbot, tmp_path):
    dialog = ExportDialog(None, "Export", stem="x")
    qtbot.addWidget(dialog)
    ok = dialog.buttons.buttons()[0]
    dialog.set_values(folder=tmp_path, formats=())
    assert not ok.isEnabled()
    dialog.set_values(formats=("svg",), width=1234, dpi=300)
    assert ok.isEnabled()
    dialog.stem_edit.setText("")
    assert not ok.isEnabled()
    dialog.stem_edit.setText("y")
    dialog.accept()
    again = ExportDialog(None, "Export")
    qtbot.addWidget(again)
    assert again.formats() == ("svg",) and again.width_spin.value() == 1234 and again.dpi_spin.value() == 300
    assert again.folder_edit.text() == str(tmp_path) and again.stem() is None


def test_hidden_panel_exports_current_data_at_a_sane_size(window, run_dir, tmp_path):
    """A panel behind another tab defers its redraw; the export redraws it first and lays it out full size (into a
    folder made for it, its parents too, named after the panel when no name is given, carrying its one run's
    manifest as it is on disk)."""
    curves = window.panel_widgets["Curves"]
    options = ExportOptions(tmp_path / "figures" / "today", ("png", "csv"), width=900, dpi=0)
    (png, csv_path) = export_panel(curves, options)
    assert (png, csv_path) == (tmp_path / "figures" / "today" / "curves.png", png.with_suffix(".csv"))
    assert QImage(str(png)).text(MANIFEST_KEY) == (run_dir / "manifest.json").read_text(encoding="utf-8")
    img = QImage(str(png))
    assert img.width() == 900 and img.height() >= 900 * 250 // 900
    assert_csv_equals_table(csv_path, curves)


def test_copy_cli_command_from_run_menu_and_history(window, run_dir):
    clipboard = QGuiApplication.clipboard()
    clipboard.setText("")
    window.copy_command_action.trigger()
    assert clipboard.text() == reproduce_command(run_dir)

    clipboard.setText("")
    window.history.refresh()
    assert window.history.wait_loaded()
    window.history.select_path(run_dir)
    menu = window.history.build_context_menu()
    action = next(a for a in menu.actions() if a.text() == "Copy CLI command")
    assert action.isEnabled()
    action.trigger()
    assert clipboard.text() == reproduce_command(run_dir)
    assert "basin run" in clipboard.text() and str(run_dir / "config.toml") in clipboard.text()


def test_copy_cli_command_without_a_run_is_disabled(qtbot):
    win = MainWindow(FakeController())
    qtbot.addWidget(win)
    assert not win.copy_command_action.isEnabled()
    assert win.copy_cli_command() == ""


def test_export_size_comes_from_the_dialog_not_the_dock(qtbot, run_dir, tmp_path):
    """A squeezed dock (today's 1600x359 trajectories.png) and a tall one export the same figure: width x
    width/aspect from the dialog, the same layout scaled to the width (fonts and legends with it)."""
    store = RunStore()
    store.ingest(syn.events(str(run_dir)), replayed=True)
    panel = PANELS["Trajectories"](store)
    qtbot.addWidget(panel)
    panel.show()
    images = []
    for i, dock_size in enumerate([(1600, 359), (500, 700)]):
        panel.resize(*dock_size)
        qtbot.wait(20)
        before = panel.graphics.ci.geometry()
        (png,) = export_panel(panel, ExportOptions(tmp_path, ("png",), width=1200, dpi=0, aspect=1.5), f"t{i}")
        assert panel.graphics.ci.geometry() == before  # the screen layout is put back
        images.append(QImage(str(png)))
    assert [(im.width(), im.height()) for im in images] == [(1200, 800), (1200, 800)]
    same = sum(images[0].pixel(x, y) == images[1].pixel(x, y) for x in range(0, 1200, 7) for y in range(0, 800, 7))
    assert same / ((1200 // 7 + 1) * (800 // 7 + 1)) > 0.99
    (big,) = export_panel(panel, ExportOptions(tmp_path, ("png",), width=2400, dpi=0, aspect=2.0), "big")
    assert (QImage(str(big)).width(), QImage(str(big)).height()) == (2400, 1200)
    for aspect in (2.0, 1.0):  # the SVG too: its size at the dialog's aspect
        (svg,) = export_panel(panel, ExportOptions(tmp_path, ("svg",), aspect=aspect), f"v{aspect}")
        width, height = map(float, ET.parse(svg).getroot().get("viewBox").split()[2:])
        assert width / height == pytest.approx(aspect, rel=1e-3)


def test_single_panel_dialog_defaults_to_the_run_folder(qtbot, run_dir):
    store = RunStore()
    store.ingest(syn.events(str(run_dir)), replayed=True)
    panel = PANELS["Curves"](store)
    qtbot.addWidget(panel)
    panel.export_button.click()
    assert panel.export_dialog.folder_edit.text() == str(run_dir / "figures")
    assert panel.export_dialog.options().aspect == pytest.approx(1.6)


def test_a_panel_without_a_run_exports_without_a_manifest(qtbot, tmp_path):
    """Nothing opened: the figure is written, and carries no run's manifest (there is none to name)."""
    panel = PANELS["Curves"](RunStore())
    qtbot.addWidget(panel)
    (svg,) = export_panel(panel, ExportOptions(tmp_path, ("svg",)), "empty")
    root = ET.parse(svg).getroot()
    assert svg.stat().st_size > 0 and not [e for e in root.iter() if e.get("id") == MANIFEST_KEY]
