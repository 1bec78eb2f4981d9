"""Start-up time: process start -> the main window's first paint (issue 15: a usable window within 1 s).

Each sample is a cold start of a new process: ``python -m desktop_app`` with BASIN_STARTUP_PROBE set, which
makes the app write the wall-clock time of the window's first paint to a file and quit (desktop_app/__main__.py).
The clock starts just before the process is spawned. A bare PySide6 window (QApplication + an empty
QMainWindow, the same probe) is measured the same way beside it: the floor Qt itself sets on this machine.
Settings and workspace go to a temporary folder, so a saved layout does not change what is measured.

    xvfb-run -a -s "-screen 0 1400x900x24" .venv/bin/python bench/startup.py [--runs 5] [--no-write]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.report import machine_line, write_section  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TARGET_S = 1.0
BARE_WINDOW = """
import os, sys, time
from pathlib import Path
from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtWidgets import QApplication, QMainWindow
app = QApplication(sys.argv[:1])
w = QMainWindow()
w.resize(1400, 900)
class Probe(QObject):
    def eventFilter(self, obj, ev):
        if ev.type() == QEvent.Type.Paint:
            obj.removeEventFilter(self)
            Path(os.environ["BASIN_STARTUP_PROBE"]).write_text(repr(time.time()))
            QTimer.singleShot(0, app.quit)
        return False
probe = Probe()
w.installEventFilter(probe)
w.show()
app.exec()
"""


def one_start(args: list[str], tmp: Path) -> tuple[float, float]:
    """Seconds from spawning ``python args`` to the first paint it reports, and to the panels' paint (the
    second time the probe file holds; the bare window has none and repeats the first)."""
    probe = tmp / "painted.txt"
    probe.unlink(missing_ok=True)
    env = dict(os.environ, BASIN_STARTUP_PROBE=str(probe), BASIN_WORKSPACE=str(tmp / "ws"),
               XDG_CONFIG_HOME=str(tmp / "config"), PYTHONPATH=str(ROOT))
    t0 = time.time()
    done = subprocess.run([sys.executable, *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
    if done.returncode != 0 or not probe.exists():
        raise RuntimeError(f"start failed (exit {done.returncode}): {done.stderr.strip()[-400:]}")
    times = [float(v) - t0 for v in probe.read_text().split()]
    return times[0], times[-1]


def measure(args: list[str], runs: int) -> list[tuple[float, float]]:
    with tempfile.TemporaryDirectory() as d:
        return [one_start(args, Path(d)) for _ in range(runs)]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--no-write", action="store_true", help="print only; do not update docs/PERFORMANCE.md")
    args = ap.parse_args()
    platform = os.environ.get("QT_QPA_PLATFORM", "") or ("xcb" if os.environ.get("DISPLAY") else "default")
    load_before = os.getloadavg()[0]
    bare = [t for t, _ in measure(["-c", BARE_WINDOW], args.runs)]
    both = measure(["-m", "desktop_app"], args.runs)
    basin, panels = [t for t, _ in both], [t for _, t in both]
    med_bare, med_basin, med_panels = statistics.median(bare), statistics.median(basin), statistics.median(panels)
    verdict = "meets" if med_basin <= TARGET_S else "misses"
    verdict_panel = "meets" if med_panels <= TARGET_S else "misses"
    lines = [
        "## Start-up (`bench/startup.py`)",
        "",
        f"Process start -> first paint of the main window, median of {args.runs} cold starts ({platform}).",
        "",
        "| window | median | all runs |",
        "|---|---|---|",
        f"| Basin (`python -m desktop_app`) | {med_basin:.2f} s | {', '.join(f'{t:.2f}' for t in basin)} |",
        f"| Basin, the panel in view built and painted | {med_panels:.2f} s | "
        f"{', '.join(f'{t:.2f}' for t in panels)} |",
        f"| bare PySide6 QMainWindow | {med_bare:.2f} s | {', '.join(f'{t:.2f}' for t in bare)} |",
        "",
        f"Target: a painted, usable window within {TARGET_S:.0f} s; the first paint's median {verdict} it, the "
        f"panel in view's {verdict_panel} it. The window paints with the builder, menus and empty panel docks; "
        "then the panel in view (pyqtgraph) is built and painted, torch is imported on a background thread, and "
        "the other panels are built one per turn of the event loop, so input is answered between them "
        "(desktop_app/__main__.py). torch is in neither time.",
        f"Load average while measuring: {load_before:.1f} before, {os.getloadavg()[0]:.1f} after (2 cores; other "
        "processes slow both windows alike, so the bare window's time is the yardstick).",
        "",
        machine_line(),
    ]
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        write_section("startup", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
