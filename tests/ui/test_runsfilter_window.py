"""The Runs pane's filter box with field=value terms, typed as a user types them (new-user report finding 4), its
hint for a name that names no field, and the note under the table saying what "±" is (finding 11)."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtTest import QTest

from bench.run_table import write_run
from desktop_app.core.lab.run_table import ERROR_NOTE
from desktop_app.ui.run_history import RunHistory
from desktop_app.workers.background import Task


@pytest.fixture
def pane(qtbot, tmp_path) -> RunHistory:
    for name, units, lr in (("w25", 25, 0.1), ("w50", 50, 0.1), ("w50-slow", 50, 0.05)):
        write_run(tmp_path, name, {"model": {"layers": [{"kind": "dense", "units": units}]}, "finetune": {"lr": lr}})
    write_run(Path(tmp_path), "base1", {"seeds": {"base": 1}})
    p = RunHistory(tmp_path, task_factory=Task)  # the real background load, as the app composes it
    qtbot.addWidget(p)
    p.resize(1200, 500)
    p.show()
    assert p.wait_loaded()
    qtbot.waitUntil(lambda: not p.loading)
    return p


def typed(pane: RunHistory, text: str) -> list[str]:
    pane.filter_edit.clear()
    pane.filter_edit.setFocus()
    QTest.keyClicks(pane.filter_edit, text)
    return sorted(info.path.name for info in pane.visible_runs())


def test_field_value_terms_typed_into_the_filter(pane):
    assert "field=value" in pane.filter_edit.placeholderText()
    assert typed(pane, "units=50") == ["w50", "w50-slow"]
    assert typed(pane, "units=50 lr=1e-1") == ["w50"]
    assert typed(pane, "seeds.base=1") == ["base1"]
    assert typed(pane, "kind=standard slow") == ["w50-slow"]
    assert pane.filter_hint.isHidden()


def test_an_unknown_field_is_said_under_the_filter(pane):
    assert typed(pane, "unitz=50") == []
    assert not pane.filter_hint.isHidden()
    assert "'unitz'" in pane.filter_hint.text() and "units" in pane.filter_hint.text()
    assert "4 runs, 0 shown" in pane.workspace_label.text()
    typed(pane, "units=50")
    assert pane.filter_hint.isHidden()


def test_the_note_under_the_table_says_what_plus_minus_is(pane):
    assert not pane.error_note.isHidden() and pane.error_note.text() == ERROR_NOTE
