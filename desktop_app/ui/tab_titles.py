"""Whole tab titles on the tabs of docked panels: a tab bar that runs out of room scrolls instead of cutting every
title to "Filt…", "Cur…", "Pit…" (Qt's dock tab bars elide; at 1280x800 all eleven panel tabs were cut)."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtWidgets import QMainWindow, QTabBar


class FullTabTitles(QObject):
    """Installed on a QMainWindow: each tab bar it makes for tabbed docks (made lazily by Qt, when docks are first
    tabified, re-docked or a layout is restored) shows whole titles and scroll arrows when they do not fit."""

    def __init__(self, window: QMainWindow) -> None:
        super().__init__(window)
        window.installEventFilter(self)
        for bar in window.findChildren(QTabBar):
            self.fix(bar)

    @staticmethod
    def fix(bar: QTabBar) -> None:
        bar.setElideMode(Qt.TextElideMode.ElideNone)
        bar.setUsesScrollButtons(True)

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt override
        if event.type() == QEvent.Type.ChildPolished:
            child = event.child()
            if isinstance(child, QTabBar):
                self.fix(child)
        return False
