"""Packaging metadata parses and points at files that exist."""

import configparser
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_desktop_file_and_metainfo():
    desktop = configparser.ConfigParser(interpolation=None)
    desktop.optionxform = str
    desktop.read(ROOT / "packaging" / "io.github.basin_lab.Basin.desktop")
    entry = desktop["Desktop Entry"]
    assert entry["Type"] == "Application" and entry["Name"] == "Basin"
    meta = ET.parse(ROOT / "packaging" / "io.github.basin_lab.Basin.metainfo.xml").getroot()
    assert meta.findtext("id") == "io.github.basin_lab.Basin"
    assert meta.find("launchable").text == "io.github.basin_lab.Basin.desktop"


def test_icons_exist_in_every_size():
    icons = ROOT / "resources" / "icons"
    ET.parse(icons / "basin.svg")
    for size in (16, 32, 48, 64, 128, 256, 512):
        png = icons / f"basin-{size}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
