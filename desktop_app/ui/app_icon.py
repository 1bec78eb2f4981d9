"""The application icon: every shipped size of ``resources/icons/basin-<px>.png`` in one QIcon.

Set on the QApplication (``__main__.compose``), so the title bar, task switcher and dock pick the size they
need; the PNGs are rendered from ``basin.svg`` by packaging/make_icons.py. The files come through
``core.resources`` like every shipped file, so an installed copy (wheel, pipx, bundle) shows the same icon as a
checkout, and ``basin --smoke-test`` fails when they are missing.
"""

from __future__ import annotations

from PySide6.QtGui import QIcon

from desktop_app.core.resources import resource_path


def app_icon() -> QIcon:
    """The icon at all shipped sizes; a null QIcon when no icon file is found (the caller says so)."""
    icon = QIcon()
    for path in sorted(resource_path("icons").glob("basin-*.png")):
        icon.addFile(str(path))
    return icon
