"""Locate the bundled ``resources/`` folder, both from a source checkout and inside a PyInstaller bundle."""

from __future__ import annotations

import sys
from pathlib import Path


def resources_dir() -> Path:
    """The folder holding icons, presets and the embedded dataset.

    PyInstaller unpacks data files under ``sys._MEIPASS``; a source checkout keeps ``resources/`` at the
    repository root, beside ``desktop_app/``.
    """
    meipass = getattr(sys, "_MEIPASS", None)
    if meipass:
        bundled = Path(meipass) / "resources"
        if bundled.is_dir():
            return bundled
    return Path(__file__).resolve().parents[2] / "resources"


def resource_path(*parts: str) -> Path:
    """Path of a file under the resources folder, e.g. ``resource_path("data", "digits5k.npz")``."""
    return resources_dir().joinpath(*parts)
