"""python -m desktop_app: CLI subcommands go to desktop_app.cli, anything else starts the GUI."""

from __future__ import annotations

import desktop_app.__main__ as entry


def test_cli_subcommands_are_delegated(monkeypatch) -> None:
    seen: list[list[str]] = []
    monkeypatch.setattr("desktop_app.cli.main", lambda argv: seen.append(list(argv)) or 0)
    monkeypatch.setattr(entry, "run_gui", lambda argv: 99)
    assert entry.main(["presets"]) == 0
    assert entry.main(["run", "quick-demo", "--set", "seeds.count=1"]) == 0
    assert seen == [["presets"], ["run", "quick-demo", "--set", "seeds.count=1"]]
    assert entry.main([]) == 99
    assert entry.main(["my.toml"]) == 99
