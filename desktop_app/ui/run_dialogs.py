"""The Runs pane's dialogs: a run's tags and note, and the field-by-field config diff of two runs (or of a run and
the builder's config). Values come from the core (``runfolder.notes``, ``config.diff``); these only show them."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktop_app.core.config import ExperimentConfig
from desktop_app.core.config.diff import diff, short_value
from desktop_app.core.runfolder.notes import MAX_NOTE_CHARS, MAX_TAG_CHARS, MAX_TAGS, Notes
from desktop_app.ui.tables import row_table


class NotesDialog(QDialog):
    """Edit one run's tags (comma-separated) and free-text note; the caller validates and writes them."""

    def __init__(self, run_name: str, notes: Notes, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Tags and note: {run_name}")
        self.tags_edit = QLineEdit(", ".join(notes.tags))
        self.tags_edit.setPlaceholderText("baseline, wide, to-check")
        self.tags_edit.setToolTip(f"Comma-separated; up to {MAX_TAGS} tags of up to {MAX_TAG_CHARS} characters")
        self.note_edit = QPlainTextEdit(notes.note)
        self.note_edit.setPlaceholderText("What this run was for, what you saw")
        self.note_edit.setToolTip(f"Up to {MAX_NOTE_CHARS} characters; stored in the run folder (notes.json)")
        form = QFormLayout()
        form.addRow("Tags", self.tags_edit)
        form.addRow("Note", self.note_edit)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(buttons)
        self.resize(520, 320)

    def values(self) -> tuple[str, str]:
        return self.tags_edit.text(), self.note_edit.toPlainText()


class ConfigDiffDialog(QDialog):
    """The fields whose values differ between two configs, one row each (core.config.diff.diff)."""

    def __init__(self, a: ExperimentConfig, b: ExperimentConfig, name_a: str, name_b: str,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Config diff: {name_a} vs {name_b}")
        self.rows = diff(a, b)
        self.table = row_table(("Field", name_a, name_b))
        self.table.setRowCount(len(self.rows))
        for i, (key, va, vb) in enumerate(self.rows):
            for j, text in enumerate((key, "(absent)" if va is None else short_value(va),
                                      "(absent)" if vb is None else short_value(vb))):
                item = QTableWidgetItem(text)
                item.setToolTip(text)
                self.table.setItem(i, j, item)
        n = len(self.rows)
        self.summary = summary = QLabel(
            f"{n} field{' differs' if n == 1 else 's differ'}" if n else "The configs are the same (descriptive fields "
            "and execution settings are not compared)")
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(summary)
        layout.addWidget(self.table)
        layout.addWidget(buttons)
        self.resize(720, 420)

    def cell(self, row: int, col: int) -> str:
        return self.table.item(row, col).text()
