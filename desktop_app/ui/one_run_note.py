"""What a view that shows one run at a time says in itself while a comparison is open (docs/ARCHITECTURE.md,
"Comparing runs"): which run it shows and whether that run is compared. A new user compared two runs while a third
was shown and read Filters, Live metrics and the status bar, all still on the third, as part of the comparison; a
tooltip was not enough. One widget for every such view (each panel that does not ``compare``, via ``Panel``; the
Live metrics table, via ``OneRunView``), following the store by itself: no view has a branch of its own. Kept
out of ``ui/panels`` so the window can use it without importing the (deferred) panels and pyqtgraph."""

from __future__ import annotations

from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from desktop_app.core.lab.comparison import one_run_note
from desktop_app.ui.run_store import RunStore


class OneRunNote(QLabel):
    """A line, shown only while a comparison is open, in a view that shows one run at a time (every panel that
    does not ``compare``, the Live metrics table): which run it shows and whether that run is compared
    (``core.lab.comparison.one_run_note``). One widget for every such view: it follows the store itself."""

    def __init__(self, store: RunStore, parent: QWidget | None = None) -> None:
        super().__init__("", parent)
        self.store = store
        self.setObjectName("oneRunNote")
        self.setWordWrap(True)
        self.setStyleSheet("background: #fff4ce; color: #4d3800; padding: 2px 6px;")
        self.setHidden(True)
        store.comparisonChanged.connect(self.update_note)
        store.shownChanged.connect(self.update_note)
        self.update_note()

    def update_note(self, *_args: object) -> None:
        comparison = self.store.comparison
        text = one_run_note(comparison, self.store.run_dir) if comparison is not None else ""
        self.setText(text)
        self.setToolTip("\n".join(["Compared:", *(f"{m.label}: {m.run_dir}" for m in comparison.members())])
                        if comparison is not None else "")
        self.setHidden(not text)


class OneRunView(QWidget):
    """A dock's view that shows one run at a time (Live metrics) under its ``OneRunNote``."""

    def __init__(self, widget: QWidget, store: RunStore, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.widget = widget
        self.note = OneRunNote(store, self)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self.note)
        layout.addWidget(widget, 1)


__all__ = ["OneRunNote", "OneRunView"]
