"""Composition root: ``python -m desktop_app`` starts the GUI; ``run`` / ``presets`` / ``runs`` go to the CLI.

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


def run_gui(argv: list[str]) -> int:
    _import_torch_first()
    from PySide6.QtWidgets import QApplication

    from desktop_app.core.config import ConfigError
    from desktop_app.core.presets import DEFAULT_PRESET, load_preset
    from desktop_app.ui.main_window import MainWindow
    from desktop_app.ui.settings import APPLICATION, ORGANISATION
    from desktop_app.workers.run_controller import RunController

    app = QApplication.instance() or QApplication([sys.argv[0], *argv])
    app.setOrganizationName(ORGANISATION)
    app.setApplicationName(APPLICATION)
    app.setApplicationDisplayName("Basin")
    controller = RunController()
    window = MainWindow(controller)
    controller.setParent(window)
    app.aboutToQuit.connect(controller.shutdown)  # safety net; closing the window already stops the run
    try:
        window.set_config(load_preset(DEFAULT_PRESET))
    except ConfigError as exc:
        window.log.add_line(f"Default preset unavailable ({exc}); using built-in defaults", "warning")
    for arg in argv:
        if arg.lower().endswith(".toml"):
            window.open_config_file(arg)
    window.show()
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
