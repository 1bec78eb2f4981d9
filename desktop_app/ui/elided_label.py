"""A one-line label that shortens its text in the middle to the room it has, the whole text in its tooltip.

A plain QLabel asks for its whole text's width as its minimum: the Runs pane's "Workspace: <path>" line made the
main window wider than the screen when the workspace path was long (1,387 px at 1280x800).
"""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import QLabel, QSizePolicy, QWidget

MIN_WIDTH = 80  # px: what the label asks for at the least ("Workspa…runs)")


class ElidedLabel(QLabel):
    """``setText`` and ``text`` are the whole text; the label draws as much as fits, elided in the middle."""

    def __init__(self, text: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._full = ""
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)
        self.setText(text)

    def text(self) -> str:  # the whole text (what is drawn may be elided: ``shown_text``)
        return self._full

    def shown_text(self) -> str:
        return super().text()

    def setText(self, text: str) -> None:  # noqa: N802 - Qt override
        self._full = text
        self.setToolTip(text)
        self._fit()

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt override: the whole text is what it would like
        hint = super().sizeHint()
        return QSize(self.fontMetrics().horizontalAdvance(self._full) + 4, hint.height())

    def minimumSizeHint(self) -> QSize:  # noqa: N802 - Qt override: never the whole text's width
        return QSize(MIN_WIDTH, super().minimumSizeHint().height())

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)
        self._fit()

    def _fit(self) -> None:
        shown = self.fontMetrics().elidedText(self._full, Qt.TextElideMode.ElideMiddle, max(self.width() - 4, 0))
        if shown != super().text():
            super().setText(shown)
