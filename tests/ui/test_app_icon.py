"""The application icon comes from the shipped resources at every size they hold (installed copies:
tests/packaging/test_install.py runs the smoke test, which checks it)."""

from __future__ import annotations

import struct
from pathlib import Path

from desktop_app.__main__ import _set_app_icon
from desktop_app.core import resources
from desktop_app.ui.app_icon import app_icon

ICONS = Path(__file__).resolve().parents[2] / "resources" / "icons"


def _png_side(path: Path) -> int:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR"
    width, height = struct.unpack(">II", head[16:24])
    assert width == height
    return width


def test_the_icon_holds_every_shipped_size(qapp):
    sides = sorted(_png_side(p) for p in ICONS.glob("basin-*.png"))
    assert sides and 16 in sides and 256 in sides
    assert sorted(size.width() for size in app_icon().availableSizes()) == sides


def test_no_icon_file_is_a_reason_not_a_crash(qapp, tmp_path, monkeypatch):
    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / "resources" / "icons").mkdir(parents=True)
    (tmp_path / "resources" / "__init__.py").write_text("")
    monkeypatch.setattr(resources, "_CHECKOUT_ROOT", tmp_path)
    assert app_icon().isNull()
    assert "basin-*.png" in _set_app_icon(qapp)
