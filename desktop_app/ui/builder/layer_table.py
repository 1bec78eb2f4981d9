"""LayerTable: the hidden layers as rows (kind, units, kernel, stride) with add, remove and move."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QPushButton,
    QTableWidget,
    QVBoxLayout,
    QWidget,
)

from desktop_app.core.config import FIELDS, LayerSpec
from desktop_app.ui.builder.fields import IntSpin, change_signal, combo, set_invalid, widget_range, write_value

# The columns are LayerSpec's declared fields; a cell is enabled when its declaration's `when` allows the kind.
CELLS = {d.name: d for d in FIELDS.values() if d.section == "model.layers[]"}
COLUMNS = tuple(CELLS)
KIND = CELLS["kind"].spec
USED = {
    kind: {name for name, d in CELLS.items() if name != "kind" and (d.spec.when is None or kind in d.spec.when[1])}
    for kind in KIND.choices
}


def tooltip(column: str) -> str:
    return CELLS[column].spec.help if column in CELLS else FIELDS["model.layers"].spec.help


class LayerTable(QWidget):
    """Edits ``model.layers``; emits ``changed`` after every edit."""

    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.table = QTableWidget(0, len(COLUMNS), self)
        self.table.setHorizontalHeaderLabels([CELLS[c].spec.label for c in COLUMNS])
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.verticalHeader().setDefaultSectionSize(28)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setToolTip(FIELDS["model.layers"].spec.help)
        self.table.setMinimumHeight(130)
        # Every cell is an editor widget, so the keyboard works in those: Tab and Shift+Tab go through them once in
        # reading order (``_chain_tab_order``) and then on to the next field. With its own Tab navigation and focus
        # the table took Tab back to a cell and back again, a loop keyboard users could not leave (new-user
        # report, finding 3).
        self.table.setTabKeyNavigation(False)
        self.table.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.add_button = QPushButton("Add")
        self.remove_button = QPushButton("Remove")
        self.up_button = QPushButton("Up")
        self.down_button = QPushButton("Down")
        self.add_button.setToolTip("Insert a copy of the selected layer below it")
        self.remove_button.setToolTip("Remove the selected layer")
        self.up_button.setToolTip("Move the selected layer towards the input")
        self.down_button.setToolTip("Move the selected layer towards the output")
        self.add_button.clicked.connect(self.add_layer)
        self.remove_button.clicked.connect(self.remove_layer)
        self.up_button.clicked.connect(self.move_up)
        self.down_button.clicked.connect(self.move_down)
        buttons = QHBoxLayout()
        for b in (self.add_button, self.remove_button, self.up_button, self.down_button):
            buttons.addWidget(b)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.table)
        layout.addLayout(buttons)
        self._layers: list[LayerSpec] = []

    # -- model ---------------------------------------------------------------------------------------
    def layers(self) -> tuple[LayerSpec, ...]:
        return tuple(self._layers)

    def set_layers(self, layers: tuple[LayerSpec, ...] | list[LayerSpec], current: int | None = None) -> None:
        self._layers = list(layers)
        self._rebuild_rows()
        if self._layers:
            self.select_row(min(current if current is not None else 0, len(self._layers) - 1))

    def current_row(self) -> int:
        return self.table.currentRow()

    def select_row(self, row: int, column: int = 0) -> None:
        self.table.setCurrentCell(row, column)
        self.table.selectRow(row)

    def cell_widget(self, row: int, column: str) -> QWidget | None:
        return self.table.cellWidget(row, COLUMNS.index(column))

    # -- actions -------------------------------------------------------------------------------------
    def add_layer(self) -> None:
        row = self.current_row()
        template = self._layers[row] if 0 <= row < len(self._layers) else LayerSpec()
        pos = row + 1 if row >= 0 else len(self._layers)
        self._layers.insert(pos, template)
        self._commit(pos)

    def remove_layer(self) -> None:
        row = self.current_row()
        if 0 <= row < len(self._layers):
            del self._layers[row]
            self._commit(max(0, row - 1))

    def move_up(self) -> None:
        row = self.current_row()
        if 1 <= row < len(self._layers):
            self._layers[row - 1], self._layers[row] = self._layers[row], self._layers[row - 1]
            self._commit(row - 1)

    def move_down(self) -> None:
        row = self.current_row()
        if 0 <= row < len(self._layers) - 1:
            self._layers[row + 1], self._layers[row] = self._layers[row], self._layers[row + 1]
            self._commit(row + 1)

    def _commit(self, current: int) -> None:
        self.set_layers(self._layers, current)
        self.changed.emit()

    # -- errors --------------------------------------------------------------------------------------
    def clear_errors(self) -> None:
        for row in range(self.table.rowCount()):
            for col in COLUMNS:
                w = self.cell_widget(row, col)
                if w is not None:
                    set_invalid(w, None, tooltip(col))

    def mark_error(self, row: int, column: str, message: str) -> bool:
        w = self.cell_widget(row, column) if 0 <= row < self.table.rowCount() else None
        if w is None:
            return False
        set_invalid(w, message)
        return True

    # -- rows ----------------------------------------------------------------------------------------
    def _rebuild_rows(self) -> None:
        self.table.setRowCount(0)
        self.table.setRowCount(len(self._layers))
        for row, spec in enumerate(self._layers):
            kind = combo(KIND.choices, help=dict(KIND.choice_help))
            if spec.kind not in KIND.choices:
                kind.addItem(spec.kind)
            kind.setCurrentText(spec.kind)
            kind.currentTextChanged.connect(self._on_cell_edited)
            self._install(row, "kind", kind)
            for col in COLUMNS[1:]:
                lo, hi = widget_range(CELLS[col].spec)
                spin = IntSpin(int(lo), int(hi))
                write_value(spin, getattr(spec, col))
                spin.setEnabled(col in USED.get(spec.kind, set()))
                change_signal(spin).connect(self._on_cell_edited)
                self._install(row, col, spin)
        self.remove_button.setEnabled(bool(self._layers))
        self._chain_tab_order()

    def _chain_tab_order(self) -> None:
        """Tab order: the field before the table, the cells row by row, then the buttons, then what came next.

        Cells made after the form are otherwise appended to the end of the window's focus chain. Qt ignores
        ``setTabOrder`` from a widget that takes no focus (the table, its header), so the chain starts at the last
        focusable widget before the table."""
        cells = [w for row in range(self.table.rowCount()) for col in COLUMNS
                 if (w := self.cell_widget(row, col)) is not None]
        chain: list[QWidget] = [*cells, self.add_button, self.remove_button, self.up_button, self.down_button]
        before = self.previousInFocusChain()
        while before is not self and (self.isAncestorOf(before) or before.focusPolicy() == Qt.FocusPolicy.NoFocus):
            before = before.previousInFocusChain()
        if before is not self:  # else the table is all there is (no window around it yet): nothing to follow
            chain.insert(0, before)
        for first, second in zip(chain, chain[1:], strict=False):
            QWidget.setTabOrder(first, second)

    def _install(self, row: int, col: str, widget: QWidget) -> None:
        widget.setToolTip(tooltip(col))
        widget.setProperty("layer_row", row)
        widget.installEventFilter(self)
        self.table.setCellWidget(row, COLUMNS.index(col), widget)

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt override
        if event.type() == QEvent.Type.FocusIn:
            row = obj.property("layer_row")
            if isinstance(row, int) and row != self.current_row():
                column = next((i for i, c in enumerate(COLUMNS) if self.cell_widget(row, c) is obj), 0)
                self.select_row(row, column)
        return super().eventFilter(obj, event)

    def _on_cell_edited(self) -> None:
        row = self.sender().property("layer_row") if self.sender() is not None else None
        if not isinstance(row, int) or not 0 <= row < len(self._layers):
            return
        kind_box = self.cell_widget(row, "kind")
        assert isinstance(kind_box, QComboBox)
        values = {"kind": kind_box.currentText()}
        for col in COLUMNS[1:]:
            spin = self.cell_widget(row, col)
            assert isinstance(spin, IntSpin)
            values[col] = int(spin.typed())
            spin.setEnabled(col in USED.get(values["kind"], set()))
        self._layers[row] = LayerSpec(**values)
        self.select_row(row)
        self.changed.emit()
