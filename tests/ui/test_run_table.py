"""The Runs pane as a hyperparameter table: Compare / Diff / Load on a selection, differing config fields as
columns, sort and filter, tags and notes stored in the run folder, delete to the trash (issue 16)."""

from __future__ import annotations

from pathlib import Path

from bench.run_table import write_run
from desktop_app.ui.run_history import RunHistory


def sweep(workspace: Path, lrs=(0.01, 0.05, 0.1)) -> list[Path]:
    return [write_run(workspace, f"lr{i}", {"finetune": {"lr": lr}}) for i, lr in enumerate(lrs)]


def test_compare_emits_the_selected_run_folders(qtbot, tmp_path):
    dirs = sweep(tmp_path)
    pane = RunHistory(tmp_path)
    qtbot.addWidget(pane)
    assert not pane.compare_button.isEnabled()
    pane.select_path(dirs[0])
    assert pane.selected_run_dirs() == [dirs[0]] and not pane.compare_button.isEnabled()
    pane.select_paths(dirs[:2])
    assert sorted(pane.selected_run_dirs()) == sorted(dirs[:2]) and pane.compare_button.isEnabled()
    with qtbot.waitSignal(pane.compare_requested) as sig:
        pane.compare_button.click()
    assert sorted(sig.args[0]) == sorted(dirs[:2])
