"""LiveMetricsTable: per (arm, seed) the latest fine-tuning epoch's NLL and error, read from the RunStore."""

from __future__ import annotations

import math

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableWidget, QTableWidgetItem, QWidget

from desktop_app.ui.run_store import METRICS, PRETRAIN, RunStore, StoreChange

COLUMNS = ("Arm", "Seed", "Epoch", "Train NLL", "Train err", "Valid NLL", "Valid err", "Test NLL", "Test err",
           "Pre-train recon")


def _num(v: float, percent: bool = False) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    return f"{100 * v:.2f}%" if percent else f"{v:.4f}"


class LiveMetricsTable(QTableWidget):
    """Refreshes itself whenever the store's metrics change."""

    def __init__(self, store: RunStore, parent: QWidget | None = None) -> None:
        super().__init__(0, len(COLUMNS), parent)
        self.store = store
        self.setHorizontalHeaderLabels(list(COLUMNS))
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.verticalHeader().setVisible(False)
        self.setAlternatingRowColors(True)
        self.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.setToolTip("Latest epoch per arm and seed (epoch 0 = before any supervised step)")
        store.changed.connect(self.on_store_changed)

    def on_store_changed(self, change: StoreChange) -> None:
        if change.touches(METRICS, PRETRAIN):
            self.refresh()

    def refresh(self) -> None:
        units = self.store.units()
        self.setRowCount(len(units))
        for row, (arm, seed) in enumerate(units):
            latest = self.store.unit(arm, seed).latest()
            recon = self.store.recon_errors(arm, seed)
            recon_text = ", ".join(
                f"L{layer + 1} {_num(float(vals[~np.isnan(vals)][-1]))}"
                for layer, vals in sorted(recon.items())
                if (~np.isnan(vals)).any()
            ) or "–"
            cells = [arm, str(seed)]
            if latest is None:
                cells += ["–"] * 7
            else:
                cells.append(str(int(latest["epoch"])))
                for split in ("train", "valid", "test"):
                    cells += [_num(latest[f"{split}_nll"]), _num(latest[f"{split}_error"], percent=True)]
            cells.append(recon_text)
            for col, text in enumerate(cells):
                item = self.item(row, col)
                if item is None:
                    item = QTableWidgetItem()
                    self.setItem(row, col, item)
                item.setText(text)
                align = Qt.AlignmentFlag.AlignLeft if col in (0, 9) else Qt.AlignmentFlag.AlignRight
                item.setTextAlignment(align | Qt.AlignmentFlag.AlignVCenter)
