"""App settings in QSettings (organisation "Basin") and the Settings dialog."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QToolButton,
    QWidget,
)

from desktop_app.core.runfolder.workspace import default_workspace

ORGANISATION = "Basin"
APPLICATION = "Basin"


def app_settings() -> QSettings:
    """The app's settings store (INI format in the user scope; tests redirect it with QSettings.setPath)."""
    return QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope, ORGANISATION, APPLICATION)


def workspace() -> Path:
    value = app_settings().value("workspace", "")
    return Path(str(value)) if value else default_workspace()


def set_workspace(path: Path | str) -> None:
    s = app_settings()
    s.setValue("workspace", str(path))
    s.sync()


class SettingsDialog(QDialog):
    """Edits the workspace folder (where run folders are created and listed)."""

    def __init__(self, current_workspace: Path, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self.workspace_edit = QLineEdit(str(current_workspace))
        self.workspace_edit.setToolTip("Every run gets a folder here; the run history lists this folder")
        browse = QToolButton()
        browse.setText("…")
        browse.clicked.connect(self._browse)
        default = QToolButton()
        default.setText("Default")
        default.setToolTip(str(default_workspace()))
        default.clicked.connect(lambda: self.workspace_edit.setText(str(default_workspace())))
        row = QHBoxLayout()
        row.addWidget(self.workspace_edit, 1)
        row.addWidget(browse)
        row.addWidget(default)
        form = QFormLayout(self)
        form.addRow("Workspace folder", row)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)
        self.resize(560, self.sizeHint().height())

    def chosen_workspace(self) -> Path:
        return Path(self.workspace_edit.text().strip() or default_workspace())

    def _browse(self) -> None:
        chosen = QFileDialog.getExistingDirectory(self, "Choose the workspace folder", self.workspace_edit.text())
        if chosen:
            self.workspace_edit.setText(chosen)
