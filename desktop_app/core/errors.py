"""ConfigError: the one error type for bad input, at the bottom of core so every layer can raise it.

A config value, a file or dataset it names, the device it asks for, or a folder that cannot be written (a
full disk): each becomes one ConfigError whose ``field`` names the dotted field or the file. `basin` prints
it as one line and exits with code 2; the window shows it in a dialog (docs/SECURITY.md).
"""

from __future__ import annotations


class ConfigError(ValueError):
    """Bad input; ``field`` is the dotted path (or a file, ``toml``, ``--set``...), ``message`` what is allowed."""

    def __init__(self, field_path: str, message: str) -> None:
        super().__init__(one_line(f"{field_path}: {message}"))
        self.field = field_path
        self.message = message


def printable(text: object, keep_newlines: bool = False) -> str:
    """Text safe to write to a terminal: every character that is not printable (C0 and C1 controls, so ESC and the
    8-bit CSI that start clear-screen and set-title sequences, DEL, bidirectional overrides) is shown escaped
    (``\\x1b``), never sent. The one helper for everything Basin prints that came from a file (docs/SECURITY.md):
    a run's name, status, dates, folder names, config values, messages. ``keep_newlines`` keeps line breaks of
    Basin's own multi-line output."""
    text = str(text)
    if text.isprintable():
        return text
    if keep_newlines:
        return "\n".join(printable(line) for line in text.split("\n"))
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)


def one_line(text: str, limit: int = 2000) -> str:
    """Text safe to print as one line: control characters (a newline in a hostile key) shown escaped, and cut."""
    text = printable(text)
    return text if len(text) <= limit else text[: limit - 3] + "..."
