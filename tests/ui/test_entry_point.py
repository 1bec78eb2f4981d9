"""python -m desktop_app: CLI subcommands go to desktop_app.cli, anything else starts the GUI."""

from __future__ import annotations

import desktop_app.__main__ as entry
from tests.pause import HANG_S  # a limit that only catches a hang


def test_cli_subcommands_are_delegated(monkeypatch) -> None:
    seen: list[list[str]] = []
    monkeypatch.setattr("desktop_app.cli.main", lambda argv: seen.append(list(argv)) or 0)
    monkeypatch.setattr(entry, "run_gui", lambda argv: 99)
    assert entry.main(["presets"]) == 0
    assert entry.main(["run", "quick-demo", "--set", "seeds.count=1"]) == 0
    assert seen == [["presets"], ["run", "quick-demo", "--set", "seeds.count=1"]]
    assert entry.main([]) == 99
    assert entry.main(["my.toml"]) == 99


def test_every_cli_command_and_any_other_word_is_delegated(monkeypatch) -> None:
    """Every command of the parser goes to the CLI (`diff` once opened the window), and so does any other word: only
    bare `basin`, .toml paths and --smoke-test open the window."""
    import argparse

    import desktop_app.cli as cli

    parser = cli.build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
    seen: list[list[str]] = []
    monkeypatch.setattr("desktop_app.cli.main", lambda argv: seen.append(list(argv)) or 0)
    monkeypatch.setattr(entry, "run_gui", lambda argv: 99)
    for command in commands:
        assert entry.main([command, "runs/a"]) == 0
    assert entry.main(["rnus"]) == 0 and entry.main(["summarise", "runs/a"]) == 0
    assert seen == [[c, "runs/a"] for c in commands] + [["rnus"], ["summarise", "runs/a"]]
    assert entry.main(["--smoke-test", "--out", "x"]) == 99 and entry.main(["a.toml", "B.TOML"]) == 99


def test_an_unknown_command_is_one_cli_error_with_exit_2_not_a_window(monkeypatch, capsys) -> None:
    """`python -m desktop_app rnus` opened the window (no display: Qt aborted, exit 134); now, as `basin rnus`, it is
    the parser's error naming the word and the commands, exit 2."""
    import desktop_app.cli as cli

    monkeypatch.setattr(entry, "run_gui", lambda argv: 99)
    for main in (entry.main, cli.main):
        assert main(["rnus"]) == 2
        err = capsys.readouterr().err
        assert "invalid choice: 'rnus'" in err and "'runs'" in err


def test_bare_basin_opens_the_window_and_options_go_to_the_cli(monkeypatch, capsys) -> None:
    """`basin` (the console script, desktop_app.cli:main) with no command opens the window, as
    `python -m desktop_app` does; --version and --help answer on both entry points."""
    import desktop_app.cli as cli

    opened: list[list[str]] = []
    monkeypatch.setattr(entry, "run_gui", lambda argv: opened.append(list(argv)) or 7)
    assert cli.main([]) == 7
    assert cli.main(["my.toml"]) == 7
    assert cli.main(["--smoke-test", "--out", "x"]) == 7
    assert opened == [[], ["my.toml"], ["--smoke-test", "--out", "x"]]
    capsys.readouterr()
    assert cli.main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("basin ")
    assert entry.main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"basin {cli.version()}"
    assert entry.main(["--help"]) == 0
    text = capsys.readouterr().out
    assert "open the window" in text and "run" in text and "presets" in text
    assert opened == [[], ["my.toml"], ["--smoke-test", "--out", "x"]]  # options never opened a window


def test_window_starts_without_torch() -> None:
    """compose() builds and the window paints without importing torch (docs/PERFORMANCE.md, Start-up): a
    fresh process builds the real window offscreen and reports whether torch got imported."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    code = ("import sys, tempfile, os\n"
            "os.environ['BASIN_WORKSPACE'] = tempfile.mkdtemp()\n"
            "from PySide6.QtCore import QSettings\n"
            "QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, tempfile.mkdtemp())\n"
            "from desktop_app.__main__ import compose, teardown\n"
            "app, window, _ = compose([])\n"
            "window.show(); app.processEvents()\n"
            "print('torch' in sys.modules, window.device_label.text())\n"
            "window.torch_ready.emit(); print(window.device_label.text())\n"
            "teardown(app, window)\n")  # as run_gui ends: left to interpreter exit, native destructors may crash
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", PYTHONPATH=str(root))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=HANG_S,
                         cwd=root)
    assert out.returncode == 0, out.stderr[-2000:]
    first, second = out.stdout.strip().splitlines()[-2:]
    assert first.startswith("False ") and "checking" in first
    assert second.startswith("Device: ") and "checking" not in second  # described once torch is there
