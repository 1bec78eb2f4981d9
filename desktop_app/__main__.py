"""Composition root: ``python -m desktop_app`` (and bare ``basin``) starts the GUI, with any .toml paths given opened;
everything else (``run``, ``runs``, ``--help``, an unknown command) goes to the CLI; ``--smoke-test [--out DIR]``
trains one tiny epoch offscreen and exports a panel (desktop_app/smoke.py).

Start-up order (docs/PERFORMANCE.md, "Start-up"): the window is built and shown without torch, and torch is
imported on a background thread right after the first paint, long before a worker needs it (a worker that
starts earlier simply waits on Python's import lock). Importing torch first cost ~2 s before anything showed.

Windows DLL order: torch's DLLs must load before Qt's (pytorch#166628 / #169429: c10.dll fails with WinError
1114 when Qt's runtime is loaded first). Only this module decides it: on Windows ``_preload_torch_dlls`` loads
torch's own DLLs with ctypes (milliseconds) before PySide6 is imported, which is what the order is about; if
that cannot be done it falls back to importing torch itself first. The UI never imports torch and gets the
run controller injected.
"""

from __future__ import annotations

import gc
import os
import sys
import threading
import time
from pathlib import Path

STARTUP_PROBE_ENV = "BASIN_STARTUP_PROBE"  # bench/startup.py: write the first-paint time here, then quit


def opens_window(argv: list[str] | tuple[str, ...]) -> bool:
    """Bare `basin`, only .toml paths (configs to open) or ``--smoke-test``: the window. Anything else is the CLI's,
    so an unknown command (`basin rnus`) is its one-line error and exit 2, not a window (which, without a display,
    aborted in Qt with exit 134)."""
    return "--smoke-test" in argv or all(a.lower().endswith(".toml") and not a.startswith("-") for a in argv)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if opens_window(argv):
        return run_gui(argv)
    from desktop_app.cli import main as cli_main

    return int(cli_main(argv) or 0)


def _preload_torch_dlls() -> None:
    """Windows only: load torch's DLLs before Qt's without importing torch (pytorch#166628). Elsewhere a no-op."""
    if sys.platform != "win32":
        return
    try:
        import ctypes
        import importlib.util

        spec = importlib.util.find_spec("torch")  # locates the package without running its __init__
        lib = Path(spec.origin).parent / "lib" if spec and spec.origin else None
        if lib is None or not (lib / "c10.dll").is_file():
            raise OSError("torch/lib/c10.dll not found")
        os.add_dll_directory(str(lib))
        ctypes.WinDLL(str(lib / "c10.dll"))
    except (OSError, AttributeError, ImportError):
        import torch  # noqa: F401  - the documented fallback: the whole of torch before Qt


def import_torch_in_background(on_done=None) -> threading.Thread:
    """Import torch on a daemon thread (the GIL is released for most of it); ``on_done()`` runs on that thread."""

    def work() -> None:
        import torch  # noqa: F401

        from desktop_app.core import stats

        stats.preload()  # scipy.stats too: the first Summary drawn would import it on the GUI thread
        # Every object alive now (torch's, scipy's, Qt's: millions) is moved out of the garbage collector's full
        # passes, which stop every thread: with them in, each full pass of a study's replay took 0.4 s and froze the
        # window as long (issue 25). They live as long as the process anyway.
        gc.freeze()

        if on_done is not None:
            on_done()

    thread = threading.Thread(target=work, name="import-torch", daemon=True)
    thread.start()
    return thread


# The GUI thread shares the interpreter with the window's Python threads (a study's replay, the Runs table's load,
# the analyses). Each return from Qt into Python code (a slot, a paint of a pyqtgraph item) takes the GIL back, and
# a busy thread holds it for up to the switch interval: at Python's default of 5 ms a paint that calls back into
# Python a hundred times waited half a second for it while a 2 x 400 study was replayed (issue 25: GUI gaps of
# 0.8 s at 5 ms, 0.35 s at 0.5 ms, the same work). A shorter interval costs the busy thread a few more switches.
GUI_SWITCH_INTERVAL_S = 0.0005


def compose(argv: list[str], defer_panels: bool = False):
    """Build the real app: QApplication, RunController, CheckpointService and MainWindow (not shown).

    Returns (app, window, controller). The smoke test uses the same wiring as the GUI. torch is not imported
    here (see the module docstring); ``run_gui`` starts its import once the window is painted. ``defer_panels``:
    the panels (pyqtgraph) are built by ``window.build_panels()`` later, as ``run_gui`` does after the first paint.
    """
    _preload_torch_dlls()
    sys.setswitchinterval(GUI_SWITCH_INTERVAL_S)
    from PySide6.QtWidgets import QApplication

    from desktop_app.core.config import ConfigError
    from desktop_app.core.presets import DEFAULT_PRESET, load_preset
    from desktop_app.ui.main_window import MainWindow
    from desktop_app.ui.settings import APPLICATION, ORGANISATION
    from desktop_app.workers.analysis_worker import AnalysisRunner
    from desktop_app.workers.background import Task
    from desktop_app.workers.checkpoint_service import CheckpointService
    from desktop_app.workers.run_controller import RunController

    app = QApplication.instance() or QApplication([sys.argv[0], *argv])
    app.setOrganizationName(ORGANISATION)
    app.setApplicationName(APPLICATION)
    app.setApplicationDisplayName("Basin")
    icon_error = _set_app_icon(app)
    controller = RunController()
    service = CheckpointService()
    analyses = AnalysisRunner()
    window = MainWindow(controller, checkpoint_service=service, analysis_runner=analyses,
                        torch_loaded="torch" in sys.modules, defer_panels=defer_panels, task_factory=Task)
    analyses.setParent(window)
    app.aboutToQuit.connect(window.shutdown_threads)  # a replay or the Runs table's load: stopped and waited for
    app.aboutToQuit.connect(analyses.shutdown)
    controller.setParent(window)
    service.setParent(window)
    app.aboutToQuit.connect(controller.shutdown)  # safety net; closing the window already stops the run
    app.aboutToQuit.connect(service.shutdown)
    try:
        window.set_config(load_preset(DEFAULT_PRESET))
    except ConfigError as exc:
        window.log.add_line(f"Default preset unavailable ({exc}); using built-in defaults", "warning")
    if icon_error:
        window.log.add_line(f"Application icon unavailable ({icon_error})", "warning")
    return app, window, controller


def _set_app_icon(app) -> str:
    """Give the application its icon from resources/icons; the reason when it cannot (shown in the log)."""
    from desktop_app.core.config import ConfigError
    from desktop_app.ui.app_icon import app_icon

    try:
        icon = app_icon()
    except ConfigError as exc:  # resources not installed: the default preset says so too
        return str(exc)
    if icon.isNull():
        return "no basin-*.png in the resources' icons folder"
    app.setWindowIcon(icon)
    return ""


def _after_first_paint(window, callback) -> None:
    """Call ``callback()`` once, on the event loop, right after the window's first paint."""
    from PySide6.QtCore import QEvent, QObject, QTimer

    class FirstPaint(QObject):
        def eventFilter(self, obj, event) -> bool:  # noqa: N802 - Qt override
            if event.type() == QEvent.Type.Paint:
                obj.removeEventFilter(self)
                QTimer.singleShot(0, callback)
            return False

    window._first_paint_filter = FirstPaint(window)  # kept alive by the window
    window.installEventFilter(window._first_paint_filter)


def run_gui(argv: list[str]) -> int:
    if "--smoke-test" in argv:
        from desktop_app.smoke import main as smoke_main

        return smoke_main([a for a in argv if a != "--smoke-test"])
    app, window, _controller = compose(argv, defer_panels=True)
    for arg in argv:
        if arg.lower().endswith(".toml"):
            window.open_config_file(arg)
    probe = os.environ.get(STARTUP_PROBE_ENV, "")

    def painted() -> None:
        """The window is on screen: build the panel in view (pyqtgraph) and paint it, then import torch beside
        the event loop while the other panels are built one per turn of it."""
        first_paint = time.time()

        def first_panel_built() -> None:
            if probe:  # bench/startup.py: the times of the first paint and of the panel in view painted
                window.repaint()
                Path(probe).write_text(f"{first_paint!r} {time.time()!r}", encoding="utf-8")
                QTimer.singleShot(0, app.quit)
                return
            import_torch_in_background(window.torch_ready.emit)

        window.build_panels_progressively(first_panel_built)

    _after_first_paint(window, painted)
    from PySide6.QtCore import QTimer

    window.show()
    code = app.exec()
    teardown(app, window)
    return code


def teardown(app, window) -> None:
    """Destroy the window and the application before the interpreter does: left to interpreter exit, native
    destructors run in arbitrary order and crash now and then (seen as exit code 139 after a clean run)."""
    from PySide6.QtCore import QCoreApplication, QEvent

    window.deleteLater()
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    QCoreApplication.processEvents()
    app.shutdown()


if __name__ == "__main__":
    import multiprocessing

    multiprocessing.freeze_support()  # unit worker processes (core.execution.local) in a frozen bundle
    sys.exit(main())
