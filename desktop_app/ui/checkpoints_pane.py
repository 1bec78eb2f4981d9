"""CheckpointsPane: the shown run's checkpoints (arm, seed, phase, epoch), with export, load, open and resume.

Phase "finetune": ``e<epoch>.pt`` (epoch 0 = after pre-training); phase "final": a done online unit's ``latest.pt``
(an online run keeps only that; its epoch is the number of evaluation points), exported the same way.

Reads the RunStore only. Opening and exporting go through an injected checkpoint service (the workers layer's
CheckpointService: torch on a worker thread), so this module never imports torch and the GUI never waits on a
file load.

Signals: ``checkpointChosen(str path)`` (load a checkpoint into the analysis panels), ``resumeRequested(Path)``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from PySide6.QtCore import Qt, QTimer, Signal, Slot
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMessageBox,
    QPushButton,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktop_app.core.events import FINAL_NET
from desktop_app.ui.run_history import RESUMABLE
from desktop_app.ui.run_store import CHECKPOINTS, RUN, STATUS, RunStore, StoreChange
from desktop_app.ui.tables import row_table

COLUMNS = ("Arm", "Seed", "Phase", "Epoch", "File")
CHECKPOINT_FILTER = "Checkpoints (*.pt *.pth *.safetensors);;All files (*)"
MODEL_FILTER = "Model (*.pt *.safetensors)"
LIVE_REFRESH_MS = 1000  # a live run's new checkpoints are listed at most this often
FILL_ROWS = 200  # table rows filled per turn of the event loop (a study's 1,600 rows at once: ~0.2 s of GUI thread)


class CheckpointServiceLike(Protocol):
    """What the pane needs from the workers layer (``desktop_app.workers.checkpoint_service``)."""

    finished: Any  # Signal(str op, str path, object result)
    failed: Any  # Signal(str op, str path, str message)

    def open_checkpoint(self, path: Path | str) -> None: ...

    def export_model(self, checkpoint: Path | str, dest: Path | str) -> None: ...

    def is_busy(self) -> bool: ...

    def shutdown(self, timeout_ms: int = 5000) -> bool: ...


class CheckpointsPane(QWidget):
    checkpointChosen = Signal(str)
    resumeRequested = Signal(object)

    def __init__(self, store: RunStore, service: CheckpointServiceLike | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.store = store
        self.service = service
        self._busy_dirs: set[str] = set()
        self._rows: list[tuple[str, int, str, int, str]] = []
        self.last_message_box: QMessageBox | None = None
        self.last_result: object = None

        self.run_label = QLabel()
        self.run_label.setWordWrap(True)
        self.table = row_table(COLUMNS)
        # columns sized when rows are filled, not on every cell: with ResizeToContents each cell set after the table
        # was laid out re-measured every row (a study's 1,600 rows filled in parts took 20 s)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.table.itemSelectionChanged.connect(self._update_buttons)
        self.table.cellDoubleClicked.connect(self._on_double_click)

        self.export_button = self._button("Export model…", self.export_selected,
                                          "Write the selected checkpoint as .pt and .safetensors, config embedded")
        self.load_button = self._button("Load into panels", self.load_selected,
                                        "Show the selected checkpoint in the analysis panels (double-click a row)")
        self.open_button = self._button("Open file…", self.open_checkpoint_dialog,
                                        "Validate a checkpoint made elsewhere (pickled code is refused, never run)")
        self.resume_button = self._button("Resume run", self.resume_current,
                                          "Continue this stopped run exactly where it stopped")
        self.status_label = QLabel("")
        self.status_label.setWordWrap(True)
        self.status_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        bar = QHBoxLayout()
        for b in (self.export_button, self.load_button, self.open_button, self.resume_button):
            bar.addWidget(b)
        bar.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.run_label)
        layout.addLayout(bar)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.status_label)
        if service is not None:
            service.finished.connect(self._on_service_finished)
            service.failed.connect(self._on_service_failed)
        self._stale = False  # the store changed while the pane was hidden or throttled
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(LIVE_REFRESH_MS)
        self._timer.timeout.connect(self.refresh)
        self._filled = 0  # rows of the table whose cells are set; the rest are filled FILL_ROWS per turn
        self._fill_timer = QTimer(self)
        self._fill_timer.setSingleShot(True)
        self._fill_timer.setInterval(0)
        self._fill_timer.timeout.connect(self._fill_more)
        store.changed.connect(self._on_store_changed)
        self.refresh()

    def _button(self, text: str, slot, tip: str) -> QPushButton:
        button = QPushButton(text)
        button.setToolTip(tip)
        button.clicked.connect(slot)
        return button

    # -- listing -----------------------------------------------------------------------------------
    def rows(self) -> list[tuple[str, int, str, int, str]]:
        """(arm, seed, phase, epoch, path) of every checkpoint listed, in table order."""
        if self._stale:
            self.refresh()
        return list(self._rows)

    def refresh(self) -> None:
        """Rebuild the list from the store (only the rows from the first one that changed)."""
        self._timer.stop()
        self._stale = False
        selected = self.selected_path()
        old = self._rows
        self._rows = [(arm, seed, phase, epoch, path)
                      for arm, seed in self.store.units()
                      for phase, epoch, path in sorted(self.store.checkpoints(arm, seed), key=lambda c: c[1])]
        run = Path(self.store.run_dir).name if self.store.run_dir else "no run"
        status = f" ({self.store.status})" if self.store.status else ""
        finals = sum(r[2] == FINAL_NET for r in self._rows)
        what = f", {finals} of them final nets (latest.pt: an online run keeps no checkpoint per epoch)" if finals \
            else ""
        self.run_label.setText(f"Run: {run}{status}, {len(self._rows)} checkpoint(s){what}")
        first = next((i for i, (a, b) in enumerate(zip(old, self._rows, strict=False)) if a != b),
                     min(len(old), len(self._rows)))
        self.table.setRowCount(len(self._rows))
        self._filled = min(first, self._filled)
        self._fill_more()
        if selected is not None and selected in {r[4] for r in self._rows}:
            self.table.selectRow([r[4] for r in self._rows].index(selected))
        self._update_buttons()

    def _fill_more(self) -> None:
        """Set the cells of the next FILL_ROWS rows not filled yet; the rest on the next turn of the event loop (the
        rows exist and ``rows()`` is whole at once: only their text comes a little later)."""
        end = min(len(self._rows), self._filled + FILL_ROWS)
        self.table.setUpdatesEnabled(False)
        try:
            for row in range(self._filled, end):
                arm, seed, phase, epoch, path = self._rows[row]
                for col, text in enumerate((arm, str(seed), phase, str(epoch), Path(path).name)):
                    item = QTableWidgetItem(text)
                    item.setToolTip(path)
                    self.table.setItem(row, col, item)
        finally:
            self.table.setUpdatesEnabled(True)
        start, self._filled = self._filled, end
        if start == 0:  # sized from the first rows (later rows differ only in numbers and the stretched file)
            self.table.resizeColumnsToContents()
        if end < len(self._rows):
            self._fill_timer.start()

    @property
    def filling(self) -> bool:
        """Rows are still being filled in (a long list just rebuilt)."""
        return self._filled < len(self._rows)

    def select_row(self, row: int) -> None:
        self.table.selectRow(row)

    def selected_path(self) -> str | None:
        model = self.table.selectionModel()
        rows = model.selectedRows() if model else []
        if rows and 0 <= rows[0].row() < len(self._rows):
            return self._rows[rows[0].row()][4]
        return None

    def set_busy_runs(self, run_dirs: set[str]) -> None:
        """Run folders being written now (not resumable)."""
        self._busy_dirs = {str(d) for d in run_dirs}
        self._update_buttons()

    def can_resume(self) -> bool:
        run_dir = self.store.run_dir
        return bool(run_dir) and self.store.status in RESUMABLE and str(run_dir) not in self._busy_dirs

    @Slot(object)
    def _on_store_changed(self, change: StoreChange) -> None:
        """On screen: a new run at once, a live run's checkpoints at most every LIVE_REFRESH_MS; a tab behind
        another: when it shows (a 2 x 400 study rebuilt the list at every saved checkpoint: 100,000 cells per
        minute on the GUI thread). ``rows()`` is always current."""
        if not change.touches(CHECKPOINTS, STATUS):
            return
        self._stale = True
        if not self.window().isVisible():  # a pane on its own (tests, scripts): at once
            self.refresh()
        elif not self._on_screen():  # a tab behind another: when shown (a study's 1,600 rows cost ~0.3 s)
            return
        elif RUN in change.kinds:
            self.refresh()
        elif not self._timer.isActive():
            self._timer.start()

    def _on_screen(self) -> bool:
        """Shown, not a tab behind another (a tabified dock behind another stays ``isVisible()``: Qt clips it)."""
        return self.isVisible() and not self.visibleRegion().isEmpty()

    def showEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().showEvent(event)
        if self._stale:
            self.refresh()

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt override
        """Its tab brought to the front: painted (no showEvent, see ``_on_screen``); a stale list is rebuilt next."""
        super().paintEvent(event)
        if self._stale:
            QTimer.singleShot(0, self._refresh_if_stale)

    def _refresh_if_stale(self) -> None:
        if self._stale:
            self.refresh()

    def _update_buttons(self) -> None:
        has = self.selected_path() is not None
        self.export_button.setEnabled(has and self.service is not None)
        self.load_button.setEnabled(has)
        self.open_button.setEnabled(self.service is not None)
        self.resume_button.setEnabled(self.can_resume())

    # -- actions -----------------------------------------------------------------------------------
    def load_selected(self) -> None:
        path = self.selected_path()
        if path:
            self.checkpointChosen.emit(path)

    def _on_double_click(self, row: int, _col: int) -> None:
        if 0 <= row < len(self._rows):
            self.checkpointChosen.emit(self._rows[row][4])

    def resume_current(self) -> None:
        if self.can_resume():
            self.resumeRequested.emit(Path(self.store.run_dir))

    def export_selected(self) -> None:
        path = self.selected_path()
        if not path:
            return
        arm, seed, phase, epoch = next(r[:4] for r in self._rows if r[4] == path)
        which = f"e{epoch}" if phase == "finetune" else phase  # an online unit's final net: "-final"
        suggested = Path(self.store.run_dir or Path.home()) / f"{self.store.name or 'model'}-{arm}-s{seed}-{which}"
        dest, _ = QFileDialog.getSaveFileName(self, "Export model (.pt and .safetensors)", str(suggested),
                                              MODEL_FILTER)
        if dest:
            self.export_model(path, dest)

    def export_model(self, checkpoint: str | Path, dest: str | Path) -> None:
        """Write dest.pt and dest.safetensors on the worker thread; the result shows when done."""
        if self.service is None:
            self._show("Cannot export", "No checkpoint service (torch) is available.", error=True)
            return
        self.status_label.setText(f"Exporting {Path(checkpoint).name}…")
        self.service.export_model(checkpoint, dest)

    def open_checkpoint_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open checkpoint", str(Path.home()), CHECKPOINT_FILTER)
        if path:
            self.open_checkpoint(path)

    def open_checkpoint(self, path: str | Path) -> None:
        """Validate a checkpoint on the worker thread; valid ones are offered to the analysis panels."""
        if self.service is None:
            self._show("Cannot open checkpoint", "No checkpoint service (torch) is available.", error=True)
            return
        self.status_label.setText(f"Checking {Path(path).name}…")
        self.service.open_checkpoint(path)

    @Slot(str, str, object)
    def _on_service_finished(self, op: str, path: str, result: object) -> None:
        self.last_result = result
        if op == "export":
            pt, st = result  # type: ignore[misc]
            self.status_label.setText(f"Exported {Path(pt).name} and {Path(st).name} to {Path(pt).parent}")
        elif op == "open" and isinstance(result, dict):
            cfg = result.get("config")
            self.status_label.setText(
                f"{Path(path).name}: valid Basin checkpoint ({result.get('arm')}, seed {result.get('seed')}, "
                f"epoch {result.get('epoch')}; {result.get('parameters', 0):,} parameters; "
                f"config '{getattr(cfg, 'name', '?')}')")
            self.checkpointChosen.emit(path)

    @Slot(str, str, str)
    def _on_service_failed(self, op: str, path: str, message: str) -> None:
        self.last_result = None
        title = "Checkpoint refused" if "refused" in message else (
            "Cannot export model" if op == "export" else "Cannot open checkpoint")
        self.status_label.setText(message)
        self._show(title, f"{path}\n\n{message}", error=True)

    def _show(self, title: str, text: str, error: bool = False) -> QMessageBox:
        icon = QMessageBox.Icon.Critical if error else QMessageBox.Icon.Information
        box = QMessageBox(icon, title, text, QMessageBox.StandardButton.Ok, self)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()
        self.last_message_box = box
        return box
