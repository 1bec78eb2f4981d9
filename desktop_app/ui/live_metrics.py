"""LiveMetricsTable: per (arm, seed) the latest numbers, read from the RunStore: a standard run's last fine-tuning
epoch (NLL and error per split), an online run's last evaluation point (examples seen, online and test error).

A study (more than PER_UNIT_MAX units, e.g. 2 x 400 seeds) is summarised per arm instead: how many units are running,
done and failed, and the quantiles of their latest test error (``RunData.arm_summary``); 800 rows say nothing and
cost a redraw per epoch of every unit."""

from __future__ import annotations

import math

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableWidget, QTableWidgetItem, QWidget

from desktop_app.ui.run_store import METRICS, ONLINE, PRETRAIN, STATUS, RunStore, StoreChange

COLUMNS = ("Arm", "Seed", "Epoch", "Train NLL", "Train err", "Valid NLL", "Valid err", "Test NLL", "Test err",
           "Pre-train recon")
ONLINE_COLUMNS = ("Arm", "Seed", "Examples", "Online err", "Test NLL", "Test err", "Pre-train recon")
PER_UNIT_MAX = 24  # units shown one per row; above this the table summarises per arm
ARM_COLUMNS = ("Arm", "Units", "Running", "Done", "Failed", "Epoch (median)", "Test err median",
               "Test err 10–90 %", "Test NLL median")
ARM_TIP = ("One row per arm (a study of {units} units): units running, done and failed, and the spread of their "
           "latest test error over seeds (median and the 10th-90th percentile)")
TIP = "Latest epoch per arm and seed (epoch 0 = before any supervised step)"
ONLINE_TIP = ("Latest evaluation point per arm and seed: fine-tuning examples seen, the error on the last {block} "
              "of them (each scored before the net trained on it) and the test error")


def _num(v: float, percent: bool = False) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    return f"{100 * v:.2f}%" if percent else f"{v:.4f}"


class LiveMetricsTable(QTableWidget):
    """Refreshes itself whenever the store's metrics change; its columns follow the shown run's kind (an online
    run records evaluation points, not epochs: docs/ARCHITECTURE.md, "Online experiments")."""

    def __init__(self, store: RunStore, parent: QWidget | None = None) -> None:
        super().__init__(0, len(COLUMNS), parent)
        self.store = store
        self._columns: tuple[str, ...] = ()
        self._set_columns(COLUMNS)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.verticalHeader().setVisible(False)
        self.setAlternatingRowColors(True)
        self.setToolTip(TIP)
        store.changed.connect(self.on_store_changed)

    def on_store_changed(self, change: StoreChange) -> None:
        if change.touches(METRICS, PRETRAIN, ONLINE, STATUS):
            self.refresh()

    @property
    def per_arm(self) -> bool:
        """Whether the table summarises per arm (a study) rather than listing every unit."""
        return self._columns == ARM_COLUMNS

    def _set_columns(self, columns: tuple[str, ...]) -> None:
        if columns != self._columns:
            self._columns = columns
            self.clear()
            self.setColumnCount(len(columns))
            self.setHorizontalHeaderLabels(list(columns))
            header = self.horizontalHeader()
            header.setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
            # the reconstruction text grows with the layers ("L1 40.7720, L2 3.8893, L3 0.7407"): never clipped
            header.setSectionResizeMode(len(columns) - 1, QHeaderView.ResizeMode.ResizeToContents)

    def refresh(self) -> None:
        units = self.store.units()
        if len(units) > PER_UNIT_MAX and self.store.kind != "online":
            self._refresh_arms(len(units))
            return
        online = self.store.kind == "online" or self.store.online_block() > 0
        self._set_columns(ONLINE_COLUMNS if online else COLUMNS)
        block = self.store.online_block()
        self.setToolTip(ONLINE_TIP.format(block=f"{block:,}" if block else "block") if online else TIP)
        self.setRowCount(len(units))
        for row, (arm, seed) in enumerate(units):
            cells = [arm, str(seed)]
            cells += self._online_cells(arm, seed) if online else self._epoch_cells(arm, seed)
            cells.append(self._recon_text(arm, seed))
            self._set_row(row, cells)

    def _refresh_arms(self, n_units: int) -> None:
        self._set_columns(ARM_COLUMNS)
        self.setToolTip(ARM_TIP.format(units=n_units))
        arms = list(self.store.arms) + sorted({a for a, _ in self.store.units()} - set(self.store.arms))
        self.setRowCount(len(arms))
        for row, arm in enumerate(arms):
            s = self.store.data.arm_summary(arm)
            lo, mid, hi = s.test_error
            self._set_row(row, [arm, f"{s.started} of {s.planned}", str(s.running), str(s.done), str(s.failed),
                                str(s.epoch) if s.epoch >= 0 else "–", _num(mid, percent=True),
                                f"{100 * lo:.2f}–{100 * hi:.2f}%" if s.measured else "–",
                                _num(s.test_nll)])

    def _set_row(self, row: int, cells: list[str]) -> None:
        for col, text in enumerate(cells):
            item = self.item(row, col)
            if item is None:
                item = QTableWidgetItem()
                self.setItem(row, col, item)
            item.setText(text)
            align = Qt.AlignmentFlag.AlignLeft if col in (0, len(cells) - 1) else Qt.AlignmentFlag.AlignRight
            item.setTextAlignment(align | Qt.AlignmentFlag.AlignVCenter)

    def _epoch_cells(self, arm: str, seed: int) -> list[str]:
        latest = self.store.unit(arm, seed).latest()
        if latest is None:
            return ["–"] * 7
        cells = [str(int(latest["epoch"]))]
        for split in ("train", "valid", "test"):
            cells += [_num(latest[f"{split}_nll"]), _num(latest[f"{split}_error"], percent=True)]
        return cells

    def _online_cells(self, arm: str, seed: int) -> list[str]:
        examples, values = self.store.online_curve(arm, seed)
        if not len(examples):
            return ["–"] * 4
        online_error, test_error, test_nll = (float(v) for v in values[-1])
        return [f"{int(examples[-1]):,}", _num(online_error, percent=True), _num(test_nll),
                _num(test_error, percent=True)]

    def _recon_text(self, arm: str, seed: int) -> str:
        recon = self.store.recon_errors(arm, seed)
        return ", ".join(
            f"L{layer + 1} {_num(float(vals[~np.isnan(vals)][-1]))}"
            for layer, vals in sorted(recon.items())
            if (~np.isnan(vals)).any()
        ) or "–"
