"""The window with hostile run folders: it always starts, lists unreadable runs with the reason, and refuses
(with a dialog) to resume a folder another process writes."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from desktop_app.ui.main_window import MainWindow

from .test_runfolders import _bad_folders

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def window_on(qtbot):
    from desktop_app.workers.run_controller import RunController

    def make(workspace: Path) -> MainWindow:
        ctrl = RunController(threads=1)
        window = MainWindow(ctrl)
        ctrl.setParent(window)
        qtbot.addWidget(window)
        window.set_workspace(workspace)
        window.show()
        return window

    return make


def test_the_window_starts_and_lists_unreadable_runs_with_the_reason(window_on, pristine_run, sandbox, monkeypatch):
    workspace, _ = sandbox
    expected = _bad_folders(pristine_run, workspace)
    monkeypatch.setenv("BASIN_WORKSPACE", str(workspace))
    window = window_on(workspace)
    history = window.history
    assert history.wait_loaded()  # the Runs table loads in the background
    listed = {info.path.name: info for info in history.runs()}
    assert set(listed) == set(expected)
    for info in history.runs():
        problem = expected[info.path.name]
        history.select_path(info.path)
        status = history.cell(info.path, "Status")
        if problem:
            assert status == "unreadable" and problem in history.cell(info.path, "Problem")
            assert problem in history.tooltip(info.path)
            assert not history.open_button.isEnabled() and not history.resume_button.isEnabled()
        else:
            assert status == "completed" and history.open_button.isEnabled()
    bad = workspace / "bad-bytes"
    assert not window.open_run(bad)  # opening it anyway: a dialog, not a traceback
    assert window.last_message_box is not None and "not UTF-8" in window.last_message_box.text()
    window.last_message_box.close()


def test_resuming_a_folder_a_cli_process_writes_shows_a_dialog(window_on, pristine_run, sandbox, qtbot):
    workspace, outside = sandbox
    run = workspace / "run"
    shutil.copytree(pristine_run, run)
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys\nfrom desktop_app.core.runfolder import RunFolder\n"
         "lock = RunFolder(sys.argv[1]).lock()\nprint('locked', flush=True)\nsys.stdin.read()\n", str(run)],
        env={**os.environ, "PYTHONPATH": str(REPO)}, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        window = window_on(workspace)
        manifest = (run / "manifest.json").read_bytes()
        window.resume_run(run)
        qtbot.waitUntil(lambda: window.last_message_box is not None, timeout=30_000)
        text = window.last_message_box.text()
        assert f"pid {holder.pid}" in text and "in use" in text
        assert (run / "manifest.json").read_bytes() == manifest
        qtbot.waitUntil(lambda: not window.controller.is_busy(), timeout=10_000)
        window.last_message_box.close()
    finally:
        holder.kill()  # it holds the lock until then, however long the window took (it waits on its stdin)
        holder.wait()
