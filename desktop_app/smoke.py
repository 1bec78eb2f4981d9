"""``basin --smoke-test [--out DIR]``: prove an install (source tree, wheel or frozen bundle) really works.

Offscreen, it builds the real MainWindow with the real RunController and CheckpointService (same wiring as the
GUI), checks the window icon was found, trains one tiny epoch of quick-demo on the CPU, waits for RunFinished,
exports the Trajectories panel as PNG (decoded and size-checked), SVG and CSV into DIR, and exports the last
checkpoint as .pt + .safetensors through the worker. Prints one line and exits 0, or non-zero on any failure; a
120 s watchdog ends a hung run. Settings and workspace go to a temporary folder, so the user's own are never
touched."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

WATCHDOG_S = 120.0
PANEL = "Trajectories"
PNG_WIDTH = 800
OVERRIDES = {
    "seeds.count": 1,
    "arms": ["none"],
    "finetune.epochs": 1,
    "data.n_labelled": 200,
    "data.n_valid": 100,
    "data.n_test": 200,
    "data.probe_size": 20,
    "device": "cpu",
}


def _watchdog(seconds: float) -> threading.Timer:
    """Hard exit if the event loop never returns (a hang must fail CI, not block it)."""

    def fire() -> None:
        print(f"smoke test FAILED: no result after {seconds:.0f} s (watchdog)", file=sys.stderr, flush=True)
        os._exit(3)

    timer = threading.Timer(seconds, fire)
    timer.daemon = True
    timer.start()
    return timer


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="basin --smoke-test")
    ap.add_argument("--out", type=Path, default=None, help="folder for the exported PNG (default: a temp dir)")
    ap.add_argument("--timeout", type=float, default=WATCHDOG_S, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    scratch = Path(tempfile.mkdtemp(prefix="basin-smoke-"))
    os.environ["BASIN_WORKSPACE"] = str(scratch / "workspace")
    out = Path(args.out) if args.out else scratch / "out"
    watchdog = _watchdog(args.timeout)
    try:
        return _run(out, scratch)
    except Exception as exc:  # noqa: BLE001 - any failure is a failed smoke test, said in one line
        print(f"smoke test FAILED: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
        return 1
    finally:
        watchdog.cancel()
        shutil.rmtree(scratch / "workspace", ignore_errors=True)


def _run(out: Path, scratch: Path) -> int:
    from PySide6.QtCore import QSettings

    from desktop_app.__main__ import compose, teardown

    t0 = time.perf_counter()
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(scratch / "settings"))
    app, window, controller = compose([])
    smoke = _Smoke(app, window, controller, out)
    code = smoke.start()
    teardown(app, window)
    if code == 0 and smoke.summary:
        print(f"smoke test ok: {smoke.summary}; {time.perf_counter() - t0:.1f} s in all", flush=True)
        return 0
    print(f"smoke test FAILED: {smoke.error or 'the event loop ended early'}", file=sys.stderr, flush=True)
    return code or 1


class _Smoke:
    """Run -> RunFinished -> panel exports checked -> model export via the checkpoint service -> quit."""

    def __init__(self, app, window, controller, out: Path) -> None:
        self.app, self.window, self.controller, self.out = app, window, controller, out
        self.summary = ""
        self.error = ""
        self.icon_sizes = 0
        self.engine_errors: list[str] = []

    def start(self) -> int:
        from PySide6.QtCore import QTimer

        from desktop_app.core.presets import load_preset

        icon = self.app.windowIcon()  # set by compose() from the resources' icons: proves an install ships them
        if icon.isNull():
            self.error = "the application icon is missing (no basin-*.png in the resources' icons folder)"
            return 1
        self.icon_sizes = len(icon.availableSizes())
        w = self.window
        w.set_workspace(Path(os.environ["BASIN_WORKSPACE"]))
        w.set_config(load_preset("quick-demo").with_overrides(OVERRIDES))
        w.resize(1200, 800)
        w.show()
        for dock in w.panels():
            if dock.windowTitle() == PANEL:
                dock.raise_()  # the panel redraws live, as a user would see it
        self.controller.eventsReady.connect(self._collect)
        self.controller.runFinished.connect(self._on_run_finished)
        service = w.checkpoint_service
        service.finished.connect(self._on_exported)
        service.failed.connect(self._on_export_failed)
        QTimer.singleShot(0, w.start_run)
        return self.app.exec()

    def _collect(self, events: list) -> None:
        """Keep the engine's error text, so a failed run says why (a frozen app has no console log)."""
        from desktop_app.core.events import LogMessage, RunFinished

        for ev in events:
            if isinstance(ev, LogMessage) and ev.level == "error":
                self.engine_errors.append(ev.text.strip())
            elif isinstance(ev, RunFinished) and ev.message:
                self.engine_errors.append(ev.message)

    def _fail(self, message: str) -> None:
        self.error = "\n".join([message, *self.engine_errors[-2:]])
        self.window.close()
        self.app.exit(1)

    def _on_run_finished(self, run_dir: str, status: str) -> None:
        try:
            self.summary = _check_panel(self.window, self.out, run_dir, status)
            self.summary += f", window icon at {self.icon_sizes} sizes"
            checkpoints = [c for arm, seed in self.window.store.units()
                           for c in self.window.store.checkpoints(arm, seed)]
            if not checkpoints:
                raise RuntimeError("the run saved no checkpoint")
            self.window.checkpoint_service.export_model(checkpoints[-1][2], self.out / "model")
        except Exception as exc:  # noqa: BLE001
            self._fail(f"{type(exc).__name__}: {exc}")

    def _on_exported(self, _op: str, _path: str, result: object) -> None:
        pt, st = (Path(p) for p in result)  # type: ignore[union-attr]
        if not (pt.is_file() and st.is_file()):
            self._fail(f"model export wrote no files ({pt}, {st})")
            return
        self.summary += f", model exported ({st.stat().st_size:,} B safetensors)"
        self.window.close()
        self.app.exit(0)

    def _on_export_failed(self, _op: str, path: str, message: str) -> None:
        self._fail(f"model export of {path} failed: {message}")


def _check_panel(window, out: Path, run_dir: str, status: str) -> str:
    """The Trajectories panel drew epochs 0 and 1; its PNG decodes at the asked width; SVG and CSV exist."""
    from PySide6.QtGui import QImage

    if status != "completed":
        raise RuntimeError(f"run ended '{status}' ({run_dir})")
    panel = window.panel_widgets[PANEL]
    window.show_panel(PANEL)  # as a user would look at it: a panel behind a tab (or queued) draws when shown
    panel.request_refresh()
    columns, rows = panel.data_table()
    if len(rows) < 2:
        raise RuntimeError(f"{PANEL} panel drew {len(rows)} points, expected epochs 0 and 1")
    out.mkdir(parents=True, exist_ok=True)
    png = panel.export_png(out / "trajectories.png", width=PNG_WIDTH)
    image = QImage(str(png))
    if image.isNull() or image.width() != PNG_WIDTH:
        raise RuntimeError(f"{png} does not decode as a {PNG_WIDTH}-pixel-wide PNG")
    svg = panel.export_svg(out / "trajectories.svg")
    if b"<path" not in svg.read_bytes():
        raise RuntimeError(f"{svg} holds no <path>")
    panel.export_csv(out / "trajectories.csv")
    test_nll = rows[-1][columns.index("test_nll")]
    return (f"1 epoch on cpu, test NLL {test_nll:.3f}, {PANEL} PNG {image.width()}x{image.height()} "
            f"-> {png}")
