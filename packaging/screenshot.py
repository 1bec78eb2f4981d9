"""Screenshots of the real main window (run under xvfb-run): every panel, as a user sees it at 1400x900.

    xvfb-run -a -s "-screen 0 1400x900x24" .venv/bin/python packaging/screenshot.py docs/ --run RUN_DIR [--compute]
    xvfb-run -a .venv/bin/python packaging/screenshot.py docs/ --train 12      # quick-demo, grabbed mid-run
    xvfb-run -a .venv/bin/python packaging/screenshot.py docs/ --compare RUN_A RUN_B RUN_C --panels Summary
    xvfb-run -a .venv/bin/python packaging/screenshot.py docs/ --run SEED_0 --compare SEED_0 SEED_1 \
        --panels "Output variance"        # seed 0 shown, seed 1 kept open beside it: the panel pools them

``--run`` opens a finished run folder (as the Runs list does); ``--compute`` also computes each analysis panel
with the real AnalysisRunner (cached in the run folder, so a second call is quick). Writes main-window.png and
panel-<name>.png (compare-<name>.png with ``--compare``: Run > Compare on those run folders) into the output
folder, as 8-bit palette PNGs when ImageMagick is there (they stay small).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

ANALYSIS_TIMEOUT_S = 900
SMALL_ANALYSIS = {  # parameters small enough for a screenshot on 2 cores (the panels' defaults otherwise)
    "Error surface": {"resolution": 25, "n_eval": 300},
    "Interpolation": {"n_eval": 300},
}


def slug(name: str) -> str:
    return "".join(ch if ch.isalnum() else "-" for ch in name.lower()).strip("-")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("out", type=Path, help="folder for the PNGs")
    ap.add_argument("--run", type=Path, help="open this run folder")
    ap.add_argument("--train", type=float, default=0.0, help="instead: train quick-demo, grab after N seconds")
    ap.add_argument("--compare", type=Path, nargs="+", help="instead: compare these run folders (Run > Compare)")
    ap.add_argument("--suffix", default="", help="added to the file names (e.g. -1280x800)")
    ap.add_argument("--compute", action="store_true", help="compute the analysis panels before grabbing them")
    ap.add_argument("--size", default="1400x900")
    ap.add_argument("--panels", default="", help="comma-separated panel titles (default: all)")
    args = ap.parse_args()

    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    tmp = Path(tempfile.mkdtemp())
    os.environ["BASIN_WORKSPACE"] = str(tmp / "ws")
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(tmp / "settings"))
    from desktop_app.__main__ import compose

    app, window, controller = compose([])
    import torch  # noqa: F401  - as run_gui does after the first paint: the status bar can name the device

    window.torch_ready.emit()
    QApplication.processEvents()
    w, h = (int(v) for v in args.size.split("x"))
    window.resize(w, h)
    window.show()
    wait(app, 0.5)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.train:
        from desktop_app.core.presets import load_preset

        window.set_workspace(tmp / "ws")
        window.set_config(load_preset("quick-demo"))
        window.start_run()
        wait(app, args.train)
    elif args.compare:
        if args.run and (not window.open_run(args.run) or not replayed(app, window)):  # shown, the others kept
            print(f"cannot open {args.run}", file=sys.stderr)
            return 2
        if not window.compare_runs(args.compare) or not replayed(app, window):
            print(f"cannot compare {args.compare}", file=sys.stderr)
            return 2
        wait(app, 0.5)
    elif args.run:
        if not window.open_run(args.run) or not replayed(app, window):
            print(f"cannot open {args.run}", file=sys.stderr)
            return 2
        wait(app, 0.5)
    names = [n.strip() for n in args.panels.split(",") if n.strip()] or list(window.panel_widgets)
    for name in names:
        panel = window.panel_widgets[name]
        window.show_panel(name)
        wait(app, 0.3)
        if args.compute and hasattr(panel, "is_computing") and panel.result is None:  # an AnalysisPanel
            compute(app, panel, name)
        panel.ensure_current()
        wait(app, 0.3)
        prefix = "compare" if args.compare else "panel"
        save(window.grab(), args.out / f"{prefix}-{slug(name)}{args.suffix}.png")
    if args.compare:
        controller.stop()
        window.close()
        return 0
    window.show_panel("Filters")
    wait(app, 0.3)
    save(window.grab(), args.out / f"main-window{args.suffix}.png")
    controller.stop()
    window.close()
    return 0


def compute(app, panel, name: str) -> None:
    job = panel.compute(**SMALL_ANALYSIS.get(name, {}))
    if job is None:
        print(f"{name}: cannot compute ({panel.compute_button.toolTip()})", file=sys.stderr)
        return
    t0 = time.monotonic()
    while panel.is_computing() and time.monotonic() - t0 < ANALYSIS_TIMEOUT_S:
        wait(app, 0.2)
    print(f"{name}: {panel.status.text()} ({time.monotonic() - t0:.0f} s)")


def replayed(app, window, timeout_s: float = 600) -> bool:
    """Wait for Open/Compare's background replay to end; True if it ended without an error dialog."""
    t0 = time.monotonic()
    while window.replaying and time.monotonic() - t0 < timeout_s:
        wait(app, 0.1)
    return not window.replaying and window.last_message_box is None


def wait(app, seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        app.processEvents()
        time.sleep(0.02)


def save(image, path: Path) -> None:
    image.save(str(path))
    if shutil.which("convert"):  # 8-bit palette: a screenshot of flat UI colours loses nothing visible
        subprocess.run(["convert", str(path), "-colors", "256", f"PNG8:{path}"], check=False)
    print(f"saved {path} ({path.stat().st_size // 1024} KB)")


if __name__ == "__main__":
    sys.exit(main())
