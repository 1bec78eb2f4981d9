"""The Runs table as a Qt model: ``core.lab.run_table.RunTable`` behind a QAbstractTableModel, and the proxy that
sorts (numbers as numbers, empty cells last) and filters it (text and status).

Model/view, not a QTableWidget: a view asks only for the cells it paints, so 2,000 rows cost what a screenful
costs, and rows and columns are inserted as the background load delivers them (docs/ARCHITECTURE.md, "Runs
table"). The core table owns every value; this file only maps it to Qt roles.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, QSortFilterProxyModel, Qt
from PySide6.QtGui import QColor

from desktop_app.core.lab.run_table import Column, RunDetails, RunTable
from desktop_app.core.runfolder import RunInfo

Index = QModelIndex | QPersistentModelIndex
SORT_ROLE = Qt.ItemDataRole.UserRole + 1
PATH_ROLE = Qt.ItemDataRole.UserRole + 2
_ROLES = frozenset({Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole, Qt.ItemDataRole.ForegroundRole,
                    Qt.ItemDataRole.TextAlignmentRole, SORT_ROLE, PATH_ROLE})


def _ident(col: Column) -> tuple[str, str]:
    return (col.kind, col.key)


class RunTableModel(QAbstractTableModel):
    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.table = RunTable()
        self._cols: list[Column] = list(self.table.columns)  # what the views were told about
        self._map: list[int] = []  # view column -> table column
        self._map_for: list[Column] | None = None

    # -- updates from the load ------------------------------------------------------------------------
    def reset(self) -> None:
        self.beginResetModel()
        self.table = RunTable()
        self._cols = list(self.table.columns)
        self._map_for = None
        self.endResetModel()

    def add_infos(self, infos: list[RunInfo]) -> None:
        known = [info for info in infos if self.table.row_of(info.path) is not None]
        new = len(infos) - len(known)
        first = len(self.table.rows)
        if new:
            self.beginInsertRows(QModelIndex(), first, first + new - 1)
        self.table.add_infos(infos)
        if new:
            self.endInsertRows()
        for info in known:
            self._row_changed(self.table.row_of(info.path))
        self._sync_columns()

    def add_details(self, details: list[tuple[Path, RunDetails]]) -> None:
        changed, _ = self.table.add_details(details)
        self._sync_columns()
        if changed:
            self.dataChanged.emit(self.index(min(changed), 0), self.index(max(changed), len(self._cols) - 1))

    def remove_paths(self, paths: Iterable[Path]) -> None:
        for path in paths:
            row = self.table.row_of(path)
            if row is None:
                continue
            self.beginRemoveRows(QModelIndex(), row, row)
            self.table.remove(path)
            self.endRemoveRows()
        self._sync_columns()

    def notes_changed(self, path: Path) -> None:
        self._row_changed(self.table.row_of(path))

    def _row_changed(self, row: int | None) -> None:
        if row is not None:
            self.dataChanged.emit(self.index(row, 0), self.index(row, len(self._cols) - 1))

    def _sync_columns(self) -> None:
        """Insert the new columns where they belong (views keep their selection and sort); any other change of
        the column set (a run with a field was deleted) resets the columns."""
        new = self.table.columns
        self._map_for = None
        if new == self._cols:
            return
        old_ids, new_ids = [_ident(c) for c in self._cols], [_ident(c) for c in new]
        it = iter(new_ids)
        if not all(any(i == j for j in it) for i in old_ids):  # old is not a subsequence of new
            self.beginResetModel()
            self._cols = list(new)
            self._map_for = None
            self.endResetModel()
            return
        for j, col in enumerate(new):
            if j >= len(self._cols) or _ident(self._cols[j]) != _ident(col):
                self.beginInsertColumns(QModelIndex(), j, j)
                self._cols.insert(j, col)
                self._map_for = None
                self.endInsertColumns()
        self._cols = list(new)  # same identities; titles may have changed ("lr" -> "finetune.lr")
        self._map_for = None
        self.headerDataChanged.emit(Qt.Orientation.Horizontal, 0, len(self._cols) - 1)

    # -- Qt model API ---------------------------------------------------------------------------------
    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008, N802 - Qt's signature
        return 0 if parent.isValid() else len(self.table.rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(self._cols)

    def column(self, col: int) -> Column:
        return self._cols[col]

    def column_index(self, title: str) -> int:
        return next((i for i, c in enumerate(self._cols) if c.title == title), -1)

    def _table_col(self, col: int) -> int:
        if self._map_for is not self.table.columns:  # the columns changed: map again (by kind and key)
            where = {_ident(c): i for i, c in enumerate(self.table.columns)}
            self._map = [where[_ident(c)] for c in self._cols]
            self._map_for = self.table.columns
        return self._map[col]

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole):
        if role not in _ROLES or not index.isValid():  # a paint asks ~10 roles per cell: answer most at once
            return None
        row, col = index.row(), index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return self.table.text(row, self._table_col(col))
        if role == Qt.ItemDataRole.ToolTipRole:
            return self.table.tooltip(row)
        if role == SORT_ROLE:
            return self.table.sort_key(row, self._table_col(col))
        if role == PATH_ROLE:
            return str(self.table.rows[row].path)
        if role == Qt.ItemDataRole.ForegroundRole and self.table.rows[row].problem:
            return QColor(160, 30, 30) if not self.table.rows[row].info.readable else QColor(150, 90, 0)
        if role == Qt.ItemDataRole.TextAlignmentRole and self._cols[col].kind in ("error", "field", "wall", "seeds"):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def headerData(self, section: int, orientation: Qt.Orientation,  # noqa: N802
                   role: int = Qt.ItemDataRole.DisplayRole):
        if orientation != Qt.Orientation.Horizontal or not 0 <= section < len(self._cols):
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return self._cols[section].title
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._cols[section].tip or None
        return None


class RunFilterProxy(QSortFilterProxyModel):
    """Sorts by ``RunTable.sort_key`` and shows the rows ``RunTable.matches`` the filter text and statuses."""

    def __init__(self, model: RunTableModel, parent=None) -> None:
        super().__init__(parent)
        self.setSourceModel(model)
        self._model = model
        self._text = ""
        self._statuses: frozenset[str] | None = None

    def set_filter(self, text: str | None = None, statuses: Iterable[str] | None | bool = False) -> None:
        """``statuses=None`` shows every status; leave an argument out to keep it."""
        new_api = hasattr(self, "endFilterChange")  # Qt 6.10; invalidateFilter is deprecated there
        if new_api:
            self.beginFilterChange()
        if text is not None:
            self._text = text
        if statuses is not False:
            self._statuses = None if statuses is None else frozenset(statuses)  # type: ignore[arg-type]
        if new_api:
            self.endFilterChange(QSortFilterProxyModel.Direction.Rows)
        else:  # pragma: no cover - Qt < 6.10
            self.invalidateFilter()

    def filterAcceptsRow(self, row: int, parent: Index) -> bool:  # noqa: N802
        return self._model.table.matches(row, self._text, self._statuses)

    def lessThan(self, left: Index, right: Index) -> bool:  # noqa: N802
        table, col = self._model.table, self._model._table_col(left.column())
        a, b = table.sort_key(left.row(), col), table.sort_key(right.row(), col)
        if a[0] == 2 or b[0] == 2:  # empty cells last in both directions
            return (a[0] != 2) == (self.sortOrder() == Qt.SortOrder.AscendingOrder) and a[0] != b[0]
        return a < b
