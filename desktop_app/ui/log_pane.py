"""LogPane: engine log messages and one line per run start/finish, newest at the bottom."""

from __future__ import annotations

import html
from collections.abc import Iterable
from datetime import datetime

from PySide6.QtWidgets import QPlainTextEdit, QWidget

from desktop_app.core.events import Event, LogMessage, RunFinished, RunStarted

COLOURS = {"info": "", "warning": "#b26a00", "error": "#b3261e", "ok": "#2e7d32"}


class LogPane(QPlainTextEdit):
    def __init__(self, parent: QWidget | None = None, max_lines: int = 5000) -> None:
        super().__init__(parent)
        self.setReadOnly(True)
        self.setMaximumBlockCount(max_lines)
        self.setObjectName("log")

    def add_line(self, text: str, level: str = "info") -> None:
        stamp = datetime.now().strftime("%H:%M:%S")
        body = html.escape(text).replace("\n", "<br>")
        colour = COLOURS.get(level, "")
        style = f' style="color:{colour}"' if colour else ""
        self.appendHtml(f'<span style="color:#888">{stamp}</span> <span{style}>{body}</span>')

    def ingest(self, events: Iterable[Event]) -> None:
        for ev in events:
            if isinstance(ev, LogMessage):
                self.add_line(ev.text, ev.level)
            elif isinstance(ev, RunStarted):
                verb = "Resumed" if ev.resumed else "Started"
                self.add_line(
                    f"{verb} run '{ev.name}': arms {', '.join(ev.arms)}; seeds {', '.join(map(str, ev.seeds))};"
                    f" {ev.device} -> {ev.run_dir}"
                )
            elif isinstance(ev, RunFinished):
                level = {"completed": "ok", "stopped": "warning", "failed": "error",
                         "diverged": "error"}.get(ev.status, "info")
                extra = f" ({ev.message})" if ev.message else ""
                self.add_line(f"Run {ev.status} after {ev.elapsed_s:.1f} s{extra}: {ev.run_dir}", level)

    def plain_lines(self) -> list[str]:
        return self.toPlainText().splitlines()
