"""The Runs pane as a hyperparameter table: Compare / Diff / Load on a selection, differing config fields as
columns, sort and filter, tags and notes stored in the run folder, delete to the trash (issue 16)."""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path

import pytest
from PySide6.QtCore import QPoint

from bench.run_table import write_run
from desktop_app.core.runfolder import RunFolder
from desktop_app.core.runfolder.notes import read_notes
from desktop_app.ui.run_history import RunHistory
from desktop_app.workers.background import Task


def sweep(workspace: Path, lrs=(0.01, 0.05, 0.1)) -> list[Path]:
    return [write_run(workspace, f"lr{i}", {"finetune": {"lr": lr}}, errors={"none": [0.1 + i / 10] * 3,
                                                                             "dae": [0.2] * 3})
            for i, lr in enumerate(lrs)]


@pytest.fixture
def pane_on(qtbot):
    def make(workspace: Path) -> RunHistory:
        pane = RunHistory(workspace, task_factory=Task)  # the real background load, as the app composes it
        qtbot.addWidget(pane)
        pane.resize(1200, 500)
        pane.show()
        assert pane.wait_loaded()
        return pane

    return make


def test_compare_emits_the_selected_run_folders(pane_on, qtbot, tmp_path):
    dirs = sweep(tmp_path)
    pane = pane_on(tmp_path)
    assert not pane.compare_button.isEnabled()
    pane.select_path(dirs[0])
    assert pane.selected_run_dirs() == [dirs[0]] and not pane.compare_button.isEnabled()
    assert pane.open_button.isEnabled() and pane.folder_button.isEnabled()
    pane.select_paths(dirs[:2])
    assert sorted(pane.selected_run_dirs()) == sorted(dirs[:2]) and pane.compare_button.isEnabled()
    # two selected: Open / Resume / Show folder would act on one of them, which is unclear
    assert not pane.open_button.isEnabled() and not pane.resume_button.isEnabled()
    assert not pane.folder_button.isEnabled()
    with qtbot.waitSignal(pane.compare_requested) as sig:
        pane.compare_button.click()
    assert sorted(sig.args[0]) == sorted(dirs[:2])
    # picked one by one (ctrl-click): handed on in the order picked, whatever the table's order; the first picked
    # is the comparison's reference (a new user picked 1,000 labels then 10,000 and got 10,000 as the reference)
    from PySide6.QtCore import QItemSelectionModel

    model = pane.table.selectionModel()
    model.clearSelection()
    flags = QItemSelectionModel.SelectionFlag.Select | QItemSelectionModel.SelectionFlag.Rows
    rows = {pane._row(pane.proxy.index(r, 0)).info.path: r for r in range(pane.proxy.rowCount())}
    picks = sorted(dirs[:3], key=lambda d: -rows[d])  # bottom to top
    for d in picks:
        model.select(pane.proxy.index(rows[d], 0), flags)
    assert pane.selected_run_dirs() == picks
    model.select(pane.proxy.index(rows[picks[1]], 0), QItemSelectionModel.SelectionFlag.Deselect
                 | QItemSelectionModel.SelectionFlag.Rows)
    assert pane.selected_run_dirs() == [picks[0], picks[2]]
    pane.select_paths([dirs[1], dirs[0]])
    assert pane.selected_run_dirs() == [dirs[1], dirs[0]]
    menu = pane.build_context_menu()
    assert next(a for a in menu.actions() if a.text() == "Compare").isEnabled()


def test_a_new_differing_key_becomes_a_column(pane_on, tmp_path):
    dirs = sweep(tmp_path)
    pane = pane_on(tmp_path)
    titles = pane.column_titles()
    assert "lr" in titles and "units" not in titles
    assert [pane.cell(d, "lr") for d in dirs] == ["0.01", "0.05", "0.1"]
    assert pane.cell(dirs[1], "none test error") == "20.00 % ± 0.00" and pane.cell(dirs[0], "Status") == "completed"
    wide = write_run(tmp_path, "wide", {"model": {"layers": [{"kind": "dense", "units": 100}]}})
    pane.refresh()
    assert pane.wait_loaded()
    assert "units" in pane.column_titles()
    assert pane.cell(wide, "units") == "100" and pane.cell(dirs[0], "units") == "25"
    assert pane.cell(wide, "lr") == "0.1"
    # the header the view shows is the model's
    model = pane.table.model()
    shown = [model.headerData(i, pane.table.horizontalHeader().orientation()) for i in range(model.columnCount())]
    assert shown == pane.column_titles()


def test_sort_and_filter(pane_on, tmp_path):
    dirs = sweep(tmp_path, (0.2, 0.01, 0.05))
    stopped = write_run(tmp_path, "stopped-one", {"finetune": {"lr": 0.1}}, status="stopped")
    pane = pane_on(tmp_path)
    col = pane.column_titles().index("lr")
    pane.table.sortByColumn(col, pane.table.horizontalHeader().sortIndicatorOrder().AscendingOrder)
    assert [i.path for i in pane.visible_runs()] == [dirs[1], dirs[2], stopped, dirs[0]]
    pane.table.sortByColumn(col, pane.table.horizontalHeader().sortIndicatorOrder().DescendingOrder)
    assert [i.path for i in pane.visible_runs()] == [dirs[0], stopped, dirs[2], dirs[1]]
    pane.set_filter("0.05")
    assert [i.path for i in pane.visible_runs()] == [dirs[2]]
    pane.set_filter("", "stopped")
    assert [i.path for i in pane.visible_runs()] == [stopped]
    assert "1 shown" in pane.workspace_label.text()
    pane.set_filter("")
    assert len(pane.visible_runs()) == 4


def test_tags_and_note_round_trip_through_the_folder(pane_on, tmp_path):
    dirs = sweep(tmp_path)
    pane = pane_on(tmp_path)
    pane.select_path(dirs[1])
    dialog = pane.edit_notes()
    hostile = 'ünï [b]x[/b] <i>y</i> "quote"\nsecond line'
    dialog.tags_edit.setText(" baseline,  wide ,baseline")
    dialog.note_edit.setPlainText(hostile)
    dialog.accept()
    assert read_notes(RunFolder(dirs[1])).tags == ("baseline", "wide")
    assert read_notes(RunFolder(dirs[1])).note == hostile
    assert pane.cell(dirs[1], "Tags") == "baseline, wide" and pane.cell(dirs[1], "Note").startswith("ünï [b]")
    col = next(i for i, c in enumerate(pane.model.table.columns) if c.kind == "tags")
    shown = pane.table.horizontalHeader().sectionSize(col)
    assert shown >= pane.table.fontMetrics().horizontalAdvance("baseline, wide")  # whole, not "baseli…"
    pane.set_filter("second line")  # the whole note is searched
    assert [i.path for i in pane.visible_runs()] == [dirs[1]]
    pane.set_filter("")
    # a fresh pane reads them back from the folder
    again = pane_on(tmp_path)
    assert again.cell(dirs[1], "Tags") == "baseline, wide"
    # a refused note (a control character) is a dialog and changes nothing on disk
    pane.select_path(dirs[1])
    dialog = pane.edit_notes()
    dialog.note_edit.setPlainText("bell\x07")
    dialog.accept()
    assert pane.last_message_box is not None and "control character" in pane.last_message_box.text()
    pane.last_message_box.close()
    assert read_notes(RunFolder(dirs[1])).note == hostile
    # a hostile notes file from elsewhere: the run is still listed, with the problem
    (dirs[0] / "notes.json").write_text(json.dumps({"tags": ["x" * 500]}))
    (dirs[2] / "notes.json").write_bytes(b"\x00" * 70_000)
    pane.refresh()
    assert pane.wait_loaded()
    assert "notes.json" in pane.cell(dirs[0], "Problem") and pane.cell(dirs[0], "lr") == "0.01"
    assert "notes.json" in pane.cell(dirs[2], "Problem") and "limit" in pane.cell(dirs[2], "Problem")


def test_a_broken_run_folder_is_a_row_with_its_problem(pane_on, tmp_path):
    dirs = sweep(tmp_path)
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "manifest.json").write_text('{"arms": 5}')
    (dirs[0] / "metrics" / "none_s1.csv").write_text("arm,seed\nnone,zero\n")
    pane = pane_on(tmp_path)
    broken = tmp_path / "broken"
    assert pane.cell(broken, "Status") == "unreadable" and "'arms'" in pane.cell(broken, "Problem")
    assert "'arms'" in pane.tooltip(broken)
    assert "not a Basin metrics file" in pane.cell(dirs[0], "Problem") and pane.cell(dirs[0], "lr") == "0.01"
    pane.select_path(broken)
    assert not pane.open_button.isEnabled() and not pane.compare_button.isEnabled()
    assert pane.delete_button.isEnabled()  # an unreadable run can still go to the trash


@pytest.fixture
def trash_home(tmp_path, monkeypatch):
    """A private system trash. send2trash reads XDG_DATA_HOME once, when first imported, so its cached paths are
    pointed here too (otherwise the trash of whichever test imported it first is used)."""
    import send2trash.plat_other as plat

    home = tmp_path / "xdg"
    home.mkdir()
    monkeypatch.setenv("XDG_DATA_HOME", str(home))
    monkeypatch.setattr(plat, "XDG_DATA_HOME", os.fsencode(home))
    monkeypatch.setattr(plat, "HOMETRASH_B", os.fsencode(home / "Trash"))
    monkeypatch.setattr(plat, "HOMETRASH", str(home / "Trash"))
    return home / "Trash"


def test_delete_goes_to_the_trash_only_after_confirmation(pane_on, tmp_path, trash_home, monkeypatch):
    ws = tmp_path / "ws"
    ws.mkdir()
    dirs = sweep(ws)
    pane = pane_on(ws)
    asked = []
    monkeypatch.setattr(pane, "confirm_delete", lambda runs: asked.append([r.path for r in runs]) or False)
    pane.select_paths(dirs[:2])
    assert pane.delete_selected() == [] and len(asked) == 1 and sorted(asked[0]) == sorted(dirs[:2])
    assert all(d.is_dir() for d in dirs)  # cancelled: nothing moved
    monkeypatch.setattr(pane, "confirm_delete", lambda runs: True)
    pane.select_paths(dirs[:2])
    moved = pane.delete_selected()
    assert sorted(moved) == sorted(dirs[:2])
    assert not dirs[0].exists() and not dirs[1].exists() and dirs[2].is_dir()
    assert {p.name for p in (trash_home / "files").iterdir()} == {"lr0", "lr1"}
    assert (trash_home / "files" / "lr0" / "config.toml").is_file()  # recoverable, whole
    assert [i.path for i in pane.runs()] == [dirs[2]] and "lr" not in pane.column_titles()  # one run: nothing differs


def test_delete_refuses_a_run_being_written(pane_on, tmp_path, trash_home, monkeypatch):
    ws = tmp_path / "ws"
    ws.mkdir()
    dirs = sweep(ws)
    pane = pane_on(ws)
    monkeypatch.setattr(pane, "confirm_delete", lambda runs: True)
    pane.set_busy_runs({str(dirs[0])})
    pane.select_path(dirs[0])
    assert not pane.delete_button.isEnabled()
    assert pane.delete_selected() == [] and dirs[0].is_dir()
    assert "being written" in pane.last_message_box.text()
    pane.last_message_box.close()
    pane.set_busy_runs(set())
    lock = RunFolder(dirs[1]).lock()  # another writer (this process) holds the lock
    try:
        pane.select_path(dirs[1])
        assert pane.delete_selected() == [] and dirs[1].is_dir()
        assert pane.last_message_box is not None
        pane.last_message_box.close()
    finally:
        lock.release()


def test_diff_and_load_into_builder(pane_on, qtbot, tmp_path):
    from desktop_app.core.config.diff import diff
    from desktop_app.core.runfolder import read_config

    dirs = sweep(tmp_path)
    pane = pane_on(tmp_path)
    pane.select_paths(dirs[:2])
    dialog = pane.show_diff()
    expected = diff(read_config(RunFolder(dirs[0])), read_config(RunFolder(dirs[1])))
    assert [(dialog.cell(i, 0), dialog.cell(i, 1), dialog.cell(i, 2)) for i in range(len(expected))] == \
        [("finetune.lr", "0.01", "0.05")]
    assert dialog.summary.text() == "1 field differs"  # not "1 fields differ"
    dialog.close()
    pane.select_path(dirs[2])
    assert not pane.diff_button.isEnabled()
    builder_cfg = read_config(RunFolder(dirs[0]))
    pane.builder_config = lambda: builder_cfg
    pane.select_path(dirs[2])
    assert pane.diff_button.isEnabled()
    dialog = pane.show_diff()
    assert [dialog.cell(0, i) for i in range(3)] == ["finetune.lr", "0.1", "0.01"]
    dialog.close()
    with qtbot.waitSignal(pane.load_config_requested) as sig:
        pane.load_button.click()
    assert sig.args[0] == read_config(RunFolder(dirs[2]))


def test_the_window_loads_a_past_config_into_the_builder_and_diffs_against_it(qtbot, tmp_path):
    from desktop_app.core.runfolder import read_config
    from desktop_app.ui.main_window import MainWindow
    from tests.ui.fakes import FakeController

    dirs = sweep(tmp_path)
    window = MainWindow(FakeController(), task_factory=Task)
    qtbot.addWidget(window)
    window.set_workspace(tmp_path)
    window.show()
    history = window.history
    assert history.wait_loaded() and len(history.runs()) == 3
    history.select_path(dirs[0])
    history.load_button.click()
    assert window.builder.config() == read_config(RunFolder(dirs[0]))
    assert any("Loaded the config of run" in line for line in window.log.plain_lines())
    history.select_path(dirs[2])
    assert history.diff_button.isEnabled()  # one run: against the builder
    dialog = history.show_diff()
    assert [dialog.cell(0, i) for i in range(3)] == ["finetune.lr", "0.1", "0.01"]
    dialog.close()
    window.close()
    assert not history.loading


def test_columns_can_be_hidden_shown_reordered_and_pinned(pane_on, tmp_path):
    """Issue 27: the differing fields that matter come right after the name; fields that cannot matter (threads,
    snapshots) are hidden columns the chooser shows on request; a header drags to a new place; a pinned column
    stays at the left while runs with new columns load; Default columns undoes it all. Newest first by date."""
    for i, lr in enumerate((0.01, 0.05, 0.1)):
        write_run(tmp_path, f"r{i}", {"finetune": {"lr": lr}, "threads": i + 1},
                  created=datetime(2026, 11, 1 + i))
    pane = pane_on(tmp_path)
    assert pane.visual_titles()[:2] == ["Name", "lr"] and not pane.column_shown("threads")
    assert [r.name for r in pane.visible_runs()] == ["r2", "r1", "r0"]
    pane.set_column_shown("threads", True)
    assert pane.column_shown("threads")
    pane.set_column_shown("Wall time", False)
    assert "Wall time" not in pane.visual_titles()
    header = pane.table.horizontalHeader()
    status = pane.model.column_index("Status")
    header.moveSection(header.visualIndex(status), 0)  # what dragging the header does
    assert pane.visual_titles()[0] == "Status"
    pane.pin_column("none test error")
    assert pane.visual_titles()[0] == "none test error" and pane.pinned_columns() == ["none test error"]
    write_run(tmp_path, "wide", {"finetune": {"lr": 0.2}, "model": {"layers": [{"kind": "dense", "units": 64}]}})
    pane.refresh()
    assert pane.wait_loaded()
    assert "units" in pane.visual_titles() and pane.visual_titles()[0] == "none test error"
    assert pane.column_shown("threads") and not pane.column_shown("Wall time")
    pane._show_column_menu(QPoint(5, 5))
    titles = [a.text() for a in pane.column_menu.actions()]
    assert any(t.startswith("Unpin") or t.startswith("Pin") for t in titles) and "Default columns" in titles
    pane.column_menu.close()
    pane.reset_columns()
    assert pane.visual_titles()[:2] == ["Name", "lr"] and not pane.column_shown("threads")
    assert pane.column_shown("Wall time") and pane.pinned_columns() == []
