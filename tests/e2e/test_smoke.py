"""`python -m desktop_app --smoke-test` from the source tree: a real window, a real run, a real PNG and model
export, exit 0."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
from pathlib import Path

from tests.pause import HANG_S  # a limit that only catches a hang

ROOT = Path(__file__).resolve().parents[2]


def png_size(path: Path) -> tuple[int, int]:
    """(width, height) from the IHDR chunk; asserts the PNG signature (no Qt needed in this process)."""
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR"
    return struct.unpack(">II", head[16:24])


def test_smoke_test_runs_one_epoch_and_exports_a_png(tmp_path):
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "BASIN_WORKSPACE": str(tmp_path / "ws")}
    env.pop("PYTHONPATH", None)
    proc = subprocess.run([sys.executable, "-m", "desktop_app", "--smoke-test", "--out", str(tmp_path / "out")],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=HANG_S)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.startswith("smoke test ok:") and len(proc.stdout.strip().splitlines()) == 1
    png = tmp_path / "out" / "trajectories.png"
    width, height = png_size(png)
    assert width == 800 and height > 100
    assert "Trajectories PNG 800x" in proc.stdout
    assert {p.name for p in (tmp_path / "out").iterdir()} == {
        "trajectories.png", "trajectories.svg", "trajectories.csv", "model.pt", "model.safetensors"}
