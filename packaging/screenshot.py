"""Screenshot of the real main window (run under xvfb-run): starts quick-demo, grabs the window mid-run.

    xvfb-run -a .venv/bin/python packaging/screenshot.py docs/main-window.png [--after 12] [--panel Filters]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import torch  # noqa: F401  - composition-root import order: torch before Qt


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("out", type=Path)
    ap.add_argument("--after", type=float, default=12.0, help="seconds of training before the grab")
    ap.add_argument("--panel", default="Filters", help="panel tab to raise")
    ap.add_argument("--size", default="1600x1000")
    args = ap.parse_args()

    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from desktop_app.core.presets import load_preset
    from desktop_app.ui.main_window import MainWindow
    from desktop_app.workers.run_controller import RunController

    app = QApplication.instance() or QApplication(sys.argv[:1])
    tmp = tempfile.mkdtemp()
    import os

    os.environ["BASIN_WORKSPACE"] = tmp
    controller = RunController()
    window = MainWindow(controller)
    window.set_workspace(Path(tmp))
    window.set_config(load_preset("quick-demo"))
    w, h = (int(v) for v in args.size.split("x"))
    window.resize(w, h)
    window.show()
    for dock in window.panels():
        if dock.windowTitle() == args.panel:
            dock.raise_()

    def grab() -> None:
        window.grab().save(str(args.out))
        controller.stop()
        window.close()
        app.quit()

    QTimer.singleShot(500, window.start_run)
    QTimer.singleShot(int(args.after * 1000), grab)
    app.exec()
    print(f"saved {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
