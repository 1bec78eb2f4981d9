"""RunHistory: the runs in the workspace folder as a table, with Open, Resume and Refresh.

A folder that cannot be read is listed too, with status "unreadable" and the reason (in the Final column and the
tooltip); it cannot be opened or resumed. A run another process is writing (its lock is held) cannot be resumed.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from PySide6.QtCore import QPoint, Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QMenu,
    QPushButton,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktop_app.core.runfolder import RunInfo, list_runs
from desktop_app.ui.exports import copy_reproduce_command
from desktop_app.ui.tables import row_table

COLUMNS = ("Date", "Name", "Arms", "Seeds", "Status", "Final test error")
RESUMABLE = ("stopped", "failed", "running")  # "running" = the app died mid-run


def format_date(iso: str) -> str:
    try:
        return datetime.fromisoformat(iso).strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return iso


def format_errors(errors: dict[str, float]) -> str:
    return "  ".join(f"{arm} {100 * err:.2f}%" for arm, err in errors.items())


class RunHistory(QWidget):
    """Signals: ``openRequested(Path)`` (double-click or Open), ``resumeRequested(Path)``,
    ``compare_requested(list[Path])`` (Compare on two or more selected readable runs)."""

    openRequested = Signal(object)
    resumeRequested = Signal(object)
    compare_requested = Signal(list)

    def __init__(self, workspace: Path, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._workspace = Path(workspace)
        self._runs: list[RunInfo] = []
        self._busy_dirs: set[str] = set()
        self.table = row_table(COLUMNS, multi=True)
        self.table.cellDoubleClicked.connect(self._on_double_click)
        self.table.itemSelectionChanged.connect(self._update_buttons)
        self.table.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.table.customContextMenuRequested.connect(self._show_context_menu)
        self.context_menu: QMenu | None = None
        self.workspace_label = QLabel()
        self.workspace_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.open_button = QPushButton("Open")
        self.open_button.setToolTip("Replay the selected run into the panels")
        self.resume_button = QPushButton("Resume")
        self.resume_button.setToolTip("Continue the selected stopped run from its last checkpoint")
        self.compare_button = QPushButton("Compare")
        self.compare_button.setToolTip("Show the selected runs together in the panels (select two or more)")
        self.folder_button = QPushButton("Show folder")
        self.refresh_button = QPushButton("Refresh")
        self.open_button.clicked.connect(self._open_selected)
        self.resume_button.clicked.connect(self._resume_selected)
        self.compare_button.clicked.connect(self._compare_selected)
        self.folder_button.clicked.connect(self._show_folder)
        self.refresh_button.clicked.connect(self.refresh)
        bar = QHBoxLayout()
        bar.addWidget(self.workspace_label, 1)
        for b in (self.open_button, self.resume_button, self.compare_button, self.folder_button, self.refresh_button):
            bar.addWidget(b)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(bar)
        layout.addWidget(self.table)
        self.refresh()

    @property
    def workspace(self) -> Path:
        return self._workspace

    def set_workspace(self, path: Path) -> None:
        self._workspace = Path(path)
        self.refresh()

    def set_busy_runs(self, run_dirs: set[str]) -> None:
        """Run folders being written now (they cannot be resumed)."""
        self._busy_dirs = set(run_dirs)
        self._update_buttons()

    def runs(self) -> list[RunInfo]:
        return list(self._runs)

    def refresh(self) -> None:
        selected = self.selected_run()
        self._runs = list_runs(self._workspace)
        self.workspace_label.setText(f"Workspace: {self._workspace}  ({len(self._runs)} runs)")
        self.table.setRowCount(len(self._runs))
        for row, info in enumerate(self._runs):
            values = (
                format_date(info.created),
                info.name,
                ", ".join(info.arms),
                str(info.seeds),
                info.status + (" (writing)" if info.writer else ""),
                info.problem if not info.readable else format_errors(info.final_test_error)
                + ("  (partial)" if info.final_test_error and info.status != "completed" else ""),
            )
            tip = str(info.path) + (f"\n{info.problem}" if info.problem else "") + \
                (f"\nbeing written by {info.writer}" if info.writer else "")
            for col, text in enumerate(values):
                item = QTableWidgetItem(text)
                item.setToolTip(tip)
                self.table.setItem(row, col, item)
            if selected is not None and info.path == selected.path:
                self.table.selectRow(row)
        self._update_buttons()

    def selected_runs(self) -> list[RunInfo]:
        """The selected runs in table order."""
        rows = self.table.selectionModel().selectedRows() if self.table.selectionModel() else []
        return [self._runs[r] for r in sorted(i.row() for i in rows) if 0 <= r < len(self._runs)]

    def selected_run(self) -> RunInfo | None:
        """The one run Open, Resume and Show folder act on: the current row if selected, else the first selected."""
        runs = self.selected_runs()
        current = self.table.currentRow()
        if 0 <= current < len(self._runs) and self._runs[current] in runs:
            return self._runs[current]
        return runs[0] if runs else None

    def selected_run_dirs(self) -> list[Path]:
        """The folders of the selected readable runs, in table order (what Compare hands on)."""
        return [info.path for info in self.selected_runs() if info.readable]

    def select_path(self, path: Path) -> None:
        for row, info in enumerate(self._runs):
            if info.path == Path(path):
                self.table.selectRow(row)
                return

    def select_paths(self, paths: list[Path]) -> None:
        """Select exactly these runs (those listed)."""
        wanted = {Path(p) for p in paths}
        model = self.table.selectionModel()
        self.table.clearSelection()
        for row, info in enumerate(self._runs):
            if info.path in wanted:
                model.select(self.table.model().index(row, 0), model.SelectionFlag.Select | model.SelectionFlag.Rows)
        self._update_buttons()

    def _update_buttons(self) -> None:
        info = self.selected_run()
        self.open_button.setEnabled(info is not None and info.readable)
        self.folder_button.setEnabled(info is not None)
        self.compare_button.setEnabled(len(self.selected_run_dirs()) >= 2)
        self.resume_button.setEnabled(
            info is not None and info.readable and not info.writer and info.status in RESUMABLE
            and str(info.path) not in self._busy_dirs
        )

    def _on_double_click(self, row: int, _col: int) -> None:
        if 0 <= row < len(self._runs) and self._runs[row].readable:
            self.openRequested.emit(self._runs[row].path)

    def _open_selected(self) -> None:
        info = self.selected_run()
        if info is not None:
            self.openRequested.emit(info.path)

    def _resume_selected(self) -> None:
        info = self.selected_run()
        if info is not None:
            self.resumeRequested.emit(info.path)

    def _compare_selected(self) -> None:
        dirs = self.selected_run_dirs()
        if len(dirs) >= 2:
            self.compare_requested.emit(dirs)

    def copy_command(self) -> str:
        """Put the selected run's `basin run` reproduce command on the clipboard; returns it."""
        info = self.selected_run()
        return copy_reproduce_command(info.path) if info is not None else ""

    def build_context_menu(self) -> QMenu:
        """Open / Resume / Copy CLI command / Show folder for the selected run; Compare for a multi-selection."""
        menu = QMenu(self)
        for text, slot, button in (("Open", self._open_selected, self.open_button),
                                   ("Resume", self._resume_selected, self.resume_button),
                                   ("Copy CLI command", self.copy_command, self.folder_button),
                                   ("Show folder", self._show_folder, self.folder_button),
                                   ("Compare", self._compare_selected, self.compare_button)):
            action = menu.addAction(text)
            action.triggered.connect(slot)
            action.setEnabled(button.isEnabled())
        menu.actions()[2].setToolTip("Copy the `basin run` command that repeats this run headless")
        self.context_menu = menu
        return menu

    def _show_context_menu(self, pos: QPoint) -> None:
        row = self.table.rowAt(pos.y())
        if row >= 0 and not self.table.selectionModel().isRowSelected(row):
            self.table.selectRow(row)  # a right-click inside a multi-selection keeps it (for Compare)
        if self.selected_run() is not None:
            self.build_context_menu().popup(self.table.viewport().mapToGlobal(pos))

    def _show_folder(self) -> None:
        info = self.selected_run()
        if info is not None:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(info.path)))
