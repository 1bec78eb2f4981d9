"""Composition root: ``python -m desktop_app`` starts the GUI; ``run`` / ``presets`` / ``runs`` go to the CLI;
``--smoke-test [--out DIR]`` trains one tiny epoch offscreen and exports a panel (desktop_app/smoke.py).

Import order matters on Windows: torch before PySide6 (DLL load order, pytorch#169429). Only this module
decides it; the UI never imports torch and gets the run controller injected.
"""

from __future__ import annotations

import sys

CLI_COMMANDS = ("run", "resume", "reproduce", "presets", "runs")


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in CLI_COMMANDS:
        from desktop_app.cli import main as cli_main

        return int(cli_main(argv) or 0)
    return run_gui(argv)


def _import_torch_first() -> None:
    """torch's DLLs must load before Qt's on Windows (pytorch#169429); harmless elsewhere."""
    import torch  # noqa: F401


def compose(argv: list[str]):
    """Build the real app: QApplication, RunController, CheckpointService and MainWindow (not shown).

    Returns (app, window, controller). The smoke test uses the same wiring as the GUI.
    """
    _import_torch_first()
    from PySide6.QtWidgets import QApplication

    from desktop_app.core.config import ConfigError
    from desktop_app.core.presets import DEFAULT_PRESET, load_preset
    from desktop_app.ui.main_window import MainWindow
    from desktop_app.ui.settings import APPLICATION, ORGANISATION
    from desktop_app.workers.analysis_worker import AnalysisRunner
    from desktop_app.workers.checkpoint_service import CheckpointService
    from desktop_app.workers.run_controller import RunController

    app = QApplication.instance() or QApplication([sys.argv[0], *argv])
    app.setOrganizationName(ORGANISATION)
    app.setApplicationName(APPLICATION)
    app.setApplicationDisplayName("Basin")
    controller = RunController()
    service = CheckpointService()
    analyses = AnalysisRunner()
    window = MainWindow(controller, checkpoint_service=service, analysis_runner=analyses)
    analyses.setParent(window)
    app.aboutToQuit.connect(analyses.shutdown)
    controller.setParent(window)
    service.setParent(window)
    app.aboutToQuit.connect(controller.shutdown)  # safety net; closing the window already stops the run
    app.aboutToQuit.connect(service.shutdown)
    try:
        window.set_config(load_preset(DEFAULT_PRESET))
    except ConfigError as exc:
        window.log.add_line(f"Default preset unavailable ({exc}); using built-in defaults", "warning")
    return app, window, controller


def run_gui(argv: list[str]) -> int:
    if "--smoke-test" in argv:
        from desktop_app.smoke import main as smoke_main

        return smoke_main([a for a in argv if a != "--smoke-test"])
    app, window, _controller = compose(argv)
    for arg in argv:
        if arg.lower().endswith(".toml"):
            window.open_config_file(arg)
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
    sys.exit(main())
