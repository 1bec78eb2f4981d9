"""Checkpoints pane: lists a real run's checkpoints, exports .pt + .safetensors through the worker service,
refuses a malicious pickle opened through File > Open checkpoint (its code never runs), emits
checkpointChosen for the analysis panels, and offers Resume for a stopped run."""

from __future__ import annotations

import os
import shlex
from pathlib import Path

import pytest
import torch
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QFileDialog
from safetensors import safe_open

from desktop_app.core import config as config_mod
from desktop_app.core.engine.run import run_experiment
from desktop_app.core.events import CheckpointSaved, RunFinished
from desktop_app.ui.checkpoints_pane import CHECKPOINT_FILTER, CheckpointsPane
from desktop_app.ui.main_window import MainWindow
from desktop_app.ui.run_store import RunStore
from desktop_app.workers.checkpoint_service import CheckpointService
from tests.pause import HANG_MS
from tests.ui import test_panels_data as syn
from tests.ui.fakes import FakeController


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    cfg = config_mod.from_dict({
        "name": "tiny", "data": {"n_labelled": 200, "n_valid": 100, "n_test": 100, "probe_size": 20},
        "model": {"layers": [{"kind": "dense", "units": 8}]}, "arms": ["none"],
        "finetune": {"epochs": 1, "batch_size": 50}, "seeds": {"count": 1}, "device": "cpu", "threads": 1,
    })
    path = tmp_path_factory.mktemp("ckpane") / "run"
    list(run_experiment(cfg, None, path))
    return path


@pytest.fixture
def service(qtbot):
    svc = CheckpointService()
    yield svc
    assert svc.shutdown(5000)


@pytest.fixture
def pane(qtbot, run_dir, service) -> CheckpointsPane:
    store = RunStore()
    store.load_run(run_dir)
    widget = CheckpointsPane(store, service)
    qtbot.addWidget(widget)
    return widget


def wait_idle(qtbot, service) -> None:
    qtbot.waitUntil(lambda: not service.is_busy(), timeout=HANG_MS)


def test_lists_the_runs_checkpoints(pane, run_dir):
    rows = pane.rows()
    assert [r[:4] for r in rows] == [("none", 0, "finetune", 0), ("none", 0, "finetune", 1)]
    assert all(Path(r[4]).parent == run_dir / "checkpoints" / "none" / "s0" and Path(r[4]).is_file() for r in rows)
    assert pane.table.rowCount() == 2 and pane.table.item(1, 3).text() == "1"
    assert "completed" in pane.run_label.text()
    assert not pane.export_button.isEnabled() and not pane.resume_button.isEnabled()  # nothing selected; done


def test_new_checkpoint_events_appear_live(qtbot, pane, run_dir):
    pane.store.ingest([CheckpointSaved("none", 0, "finetune", 2, str(run_dir / "e2.pt"))])
    assert [r[3] for r in pane.rows()] == [0, 1, 2]


def test_export_model_writes_pt_and_safetensors_with_config(qtbot, pane, service, run_dir, tmp_path, monkeypatch):
    pane.select_row(1)
    assert pane.export_button.isEnabled()
    dest = tmp_path / "model"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(dest), ""))
    pane.export_button.click()
    qtbot.waitUntil(lambda: pane.last_result is not None, timeout=HANG_MS)
    wait_idle(qtbot, service)
    pt, st = (Path(p) for p in pane.last_result)
    assert (pt, st) == (dest.with_suffix(".pt"), dest.with_suffix(".safetensors"))
    loaded = torch.load(pt, weights_only=True)
    assert config_mod.from_toml(loaded["config"]).name == "tiny" and loaded["epoch"] == 1
    with safe_open(str(st), framework="pt") as fh:
        assert config_mod.from_toml(fh.metadata()["config"]).name == "tiny"
        for key, value in loaded["model"].items():
            assert torch.equal(fh.get_tensor(key), value)
    assert "Exported model.pt and model.safetensors" in pane.status_label.text()
    assert service.last_seconds < 2.0  # measured on the worker thread; the GUI thread never waits on it


class Evil:
    marker: Path

    def __reduce__(self):
        return (os.system, (f"touch {shlex.quote(str(Evil.marker))}",))


def test_malicious_checkpoint_is_refused_through_the_ui(qtbot, service, tmp_path, monkeypatch):
    Evil.marker = tmp_path / "pwned"
    bad = tmp_path / "evil.pt"
    torch.save({"model": {"w": torch.zeros(1)}, "payload": Evil()}, bad)
    assert not Evil.marker.exists()
    window = MainWindow(FakeController(), checkpoint_service=service)
    qtbot.addWidget(window)
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(bad), ""))
    chosen: list[str] = []
    window.checkpoints.checkpointChosen.connect(chosen.append)
    window.open_checkpoint_action.trigger()
    qtbot.waitUntil(lambda: window.checkpoints.last_message_box is not None, timeout=HANG_MS)
    wait_idle(qtbot, service)
    box = window.checkpoints.last_message_box
    assert box.windowTitle() == "Checkpoint refused"
    assert "refused" in box.text() and "pickled code" in box.text() and "evil.pt" in box.text()
    assert not Evil.marker.exists() and chosen == []
    box.close()


def test_valid_checkpoint_opened_elsewhere_is_offered_to_the_panels(qtbot, pane, service):
    path = pane.rows()[1][4]
    with qtbot.waitSignal(pane.checkpointChosen, timeout=HANG_MS) as blocker:
        pane.open_checkpoint(path)
    wait_idle(qtbot, service)
    assert blocker.args == [path]
    assert pane.last_result["epoch"] == 1 and pane.last_result["parameters"] == 784 * 8 + 8 + 8 * 10 + 10
    assert "valid Basin checkpoint" in pane.status_label.text()


def test_load_button_and_double_click_emit_checkpoint_chosen(qtbot, pane):
    pane.select_row(0)
    with qtbot.waitSignal(pane.checkpointChosen) as blocker:
        pane.load_button.click()
    assert blocker.args == [pane.rows()[0][4]]
    with qtbot.waitSignal(pane.checkpointChosen) as blocker:
        pane.table.cellDoubleClicked.emit(1, 0)
    assert blocker.args == [pane.rows()[1][4]]


def test_resume_offered_for_a_stopped_run(qtbot):
    controller = FakeController()
    window = MainWindow(controller)
    qtbot.addWidget(window)
    run = "/synthetic/stopped-run"
    events = syn.events(run)[:-1] + [CheckpointSaved("dae", 0, "finetune", 3, run + "/e3.pt"),
                                     RunFinished("stopped", run, 1.0)]
    window.store.ingest(events, replayed=True)
    pane = window.checkpoints
    assert pane.resume_button.isEnabled()
    pane.resume_button.click()
    assert controller.resumed == [Path(run)]
    # while that run is being written again it cannot be resumed twice
    controller.started.append((None, Path(run)))
    controller.stateChanged.emit("running")
    assert not pane.resume_button.isEnabled()


def test_actions_without_a_service_are_disabled(qtbot):
    window = MainWindow(FakeController())
    qtbot.addWidget(window)
    assert not window.open_checkpoint_action.isEnabled()
    assert window.open_checkpoint_action.shortcut() == QKeySequence("Ctrl+Shift+O")
    assert window.checkpoints_dock.toggleViewAction() in window.view_menu.actions()


def test_an_exported_safetensors_opens_again_through_the_pane(qtbot, pane, service, tmp_path):
    pane.export_model(pane.rows()[1][4], tmp_path / "model")
    qtbot.waitUntil(lambda: pane.last_result is not None, timeout=HANG_MS)
    wait_idle(qtbot, service)
    _pt, st = pane.last_result
    with qtbot.waitSignal(pane.checkpointChosen, timeout=HANG_MS) as blocker:
        pane.open_checkpoint(st)
    wait_idle(qtbot, service)
    assert Path(blocker.args[0]) == Path(st)
    assert pane.last_result["epoch"] == 1 and pane.last_result["parameters"] == 784 * 8 + 8 + 8 * 10 + 10
    assert "valid Basin checkpoint" in pane.status_label.text() and "*.safetensors" in CHECKPOINT_FILTER
