"""Help > Keyboard shortcuts: every key the window answers to, read from its menus (each action's own shortcut)
and from the panes that handle keys of their own (the Runs pane's ``KEYS``), so the list cannot drift from what
the keys do (docs/ARCHITECTURE.md, "Window")."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QMenu, QMenuBar, QTableWidgetItem, QVBoxLayout, QWidget

from desktop_app.ui.tables import row_table

PaneKeys = tuple[str, Sequence[tuple[str, str]]]  # (pane, ((key, what it does), ...))


def shortcut_rows(menu_bar: QMenuBar, panes: Sequence[PaneKeys] = ()) -> list[tuple[str, str]]:
    """(keys, what they do) for every menu action with a shortcut ("File > Export all…"), then each pane's keys."""
    rows = []

    def walk(menu: QMenu, path: str) -> None:
        for action in menu.actions():
            if action.menu() is not None:
                walk(action.menu(), f"{path} > {action.menu().title().replace('&', '')}")
            elif not action.shortcut().isEmpty():
                keys = action.shortcut().toString(QKeySequence.SequenceFormat.NativeText)
                tip = action.statusTip()
                rows.append((keys, f"{path} > {action.text()}" + (f": {tip}" if tip else "")))

    for top in menu_bar.actions():
        if top.menu() is not None:
            walk(top.menu(), top.menu().title().replace("&", ""))
    for pane, keys in panes:
        rows += [(key, f"{pane}: {what}") for key, what in keys]
    return rows


class ShortcutsDialog(QDialog):
    """The shortcut list as a two-column table (keys, what they do); non-modal, so it can stay open."""

    def __init__(self, rows: Sequence[tuple[str, str]], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Keyboard shortcuts")
        self.rows = list(rows)
        self.table = row_table(("Keys", "Does"))
        self.table.setRowCount(len(self.rows))
        for i, (keys, what) in enumerate(self.rows):
            for j, text in enumerate((keys, what)):
                item = QTableWidgetItem(text)
                item.setToolTip(text)
                self.table.setItem(i, j, item)
        self.table.resizeColumnToContents(0)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("Menu commands show their keys in the menus too; a pane's own keys work while the "
                                "keyboard is in that pane."))
        layout.addWidget(self.table)
        layout.addWidget(buttons)
        self.resize(760, 520)
