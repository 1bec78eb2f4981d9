"""A completed online run in the window (new-user report finding 7): the Checkpoints pane lists each unit's final
net and exports it; Error surface and Interpolation say that an online run keeps only its final nets, not "no
fine-tuning checkpoints yet"."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtWidgets import QFileDialog

from desktop_app.core.engine.run import run_experiment
from desktop_app.ui.checkpoints_pane import CheckpointsPane
from desktop_app.ui.panels.analysis_base import ONLINE_FINAL_ONLY
from desktop_app.ui.panels.interpolation import InterpolationPanel
from desktop_app.ui.panels.landscape import LandscapePanel
from desktop_app.ui.run_store import RunStore
from desktop_app.workers.checkpoint_service import CheckpointService
from tests.core.test_online import tiny
from tests.pause import HANG_MS


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("online") / "run"
    evs = list(run_experiment(tiny(), None, path))
    assert evs[-1].status == "completed"
    return path


@pytest.fixture
def store(run_dir) -> RunStore:
    s = RunStore()
    s.load_run(run_dir)
    return s


def test_the_checkpoints_pane_lists_and_exports_the_final_nets(qtbot, store, run_dir, tmp_path, monkeypatch):
    service = CheckpointService()
    pane = CheckpointsPane(store, service)
    qtbot.addWidget(pane)
    try:
        rows = pane.rows()
        assert sorted((r[0], r[1], r[2]) for r in rows) == [("dae", 0, "final"), ("none", 0, "final")]
        assert all(Path(r[4]) == run_dir / "checkpoints" / r[0] / f"s{r[1]}" / "latest.pt" for r in rows)
        assert "2 checkpoint(s)" in pane.run_label.text() and "final nets" in pane.run_label.text()
        pane.select_row(0)
        assert pane.export_button.isEnabled()
        suggested: list[str] = []

        def save_as(_parent, _title, path, _filter):
            suggested.append(path)
            return str(tmp_path / "final"), ""

        monkeypatch.setattr(QFileDialog, "getSaveFileName", save_as)
        pane.export_button.click()
        qtbot.waitUntil(lambda: not service.is_busy() and "Exported" in pane.status_label.text(), timeout=HANG_MS)
        assert suggested[0].endswith(f"-{rows[0][0]}-s0-final")
        assert (tmp_path / "final.pt").is_file() and (tmp_path / "final.safetensors").is_file()
    finally:
        assert service.shutdown(5000)


@pytest.mark.parametrize("panel_type", [LandscapePanel, InterpolationPanel])
def test_epoch_series_analyses_say_an_online_run_keeps_only_its_final_nets(qtbot, store, panel_type):
    panel = panel_type(store)
    qtbot.addWidget(panel)
    panel.update_selectors()
    assert panel.compute_blocker() == ONLINE_FINAL_ONLY
    assert "yet" not in ONLINE_FINAL_ONLY
