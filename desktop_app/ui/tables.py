"""The read-only, row-selecting tables: ``row_table`` (items: the checkpoint list, the config diff) and
``row_view`` (the view of a model: the Runs table, thousands of rows)."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableView, QTableWidget


def row_table(columns: Sequence[str], multi: bool = False) -> QTableWidget:
    """Read-only table selecting whole rows (one at a time unless ``multi``: then shift/ctrl extend the selection);
    columns fit their contents, the last one stretches."""
    table = QTableWidget(0, len(columns))
    table.setHorizontalHeaderLabels(list(columns))
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection if multi
                           else QAbstractItemView.SelectionMode.SingleSelection)
    table.verticalHeader().setVisible(False)
    table.setAlternatingRowColors(True)
    header = table.horizontalHeader()
    header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    header.setStretchLastSection(True)
    _one_row_minimum(table)
    return table


def row_view(multi: bool = False, sortable: bool = True) -> QTableView:
    """The look of ``row_table`` for a model: whole rows selected (shift/ctrl extend when ``multi``), a header click
    sorts. Columns are sized on request (``fit_columns``), not on every change: measuring thousands of rows on each
    update would freeze the window."""
    view = QTableView()
    view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    view.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection if multi
                          else QAbstractItemView.SelectionMode.SingleSelection)
    view.verticalHeader().setVisible(False)
    view.verticalHeader().setDefaultSectionSize(view.fontMetrics().height() + 8)
    view.setAlternatingRowColors(True)
    view.setSortingEnabled(sortable)
    view.setWordWrap(False)
    header = view.horizontalHeader()
    header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
    header.setResizeContentsPrecision(40)  # size columns from 40 rows (each sampled cell is a Python call)
    header.setStretchLastSection(True)
    _one_row_minimum(view)
    return view


def _one_row_minimum(view: QTableView) -> None:
    """The view may shrink to its header and one row: Qt's 70 px minimum held the tabbed Runs / Checkpoints dock
    162 px tall, and a comparison's Summary table lost a row at 1280x800 (new-user finding); it scrolls instead."""
    view.setMinimumHeight(view.horizontalHeader().sizeHint().height() + view.verticalHeader().defaultSectionSize()
                          + 2 * view.frameWidth())


def fit_columns(view: QTableView, max_width: int = 200, columns: range | None = None) -> None:
    """Size the columns (default: all) to their contents (sampled rows), none wider than ``max_width`` pixels."""
    header = view.horizontalHeader()
    for i in columns if columns is not None else range(header.count()):
        view.resizeColumnToContents(i)
        if header.sectionSize(i) > max_width:
            header.resizeSection(i, max_width)
