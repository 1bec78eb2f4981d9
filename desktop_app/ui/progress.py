"""ProgressWidget: progress bar, phase text ("pre-training layer k, epoch e/E", arm, seed) and ETA."""

from __future__ import annotations

from collections.abc import Iterable

from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QWidget

from desktop_app.core.eta import PhaseEta
from desktop_app.core.events import Event, PhaseStarted, Progress, RunFinished, RunStarted, UnitFinished
from desktop_app.core.phase_text import phase_text


def unit_text(kind: str, arm: str, seed: int, phase: str, layer: int, epoch: int, epochs: int) -> str:
    return f"{phase_text(kind, phase, layer, epoch, epochs)} · arm {arm} · seed {seed}"


def format_eta(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class ProgressWidget(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.phase = QLabel("Idle")
        self.bar = QProgressBar()
        self.bar.setRange(0, 1000)
        self.bar.setValue(0)
        self.bar.setFixedWidth(220)
        self.bar.setTextVisible(True)
        self.eta = QLabel("")
        self.eta.setMinimumWidth(90)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.phase)
        layout.addWidget(self.bar)
        layout.addWidget(self.eta)
        self._running: set[tuple[str, int]] = set()  # units seen working and not finished (parallel workers)
        self._eta = PhaseEta()  # from measured step rates per phase, not the run's average so far
        self._kind = "standard"  # the run's kind (RunStarted): how its phases are worded

    def ingest(self, events: Iterable[Event]) -> None:
        last: Progress | None = None
        for ev in events:
            if isinstance(ev, RunStarted):
                self.bar.setValue(0)
                self.bar.setFormat("%p%")
                self.phase.setText(f"Starting '{ev.name}'…")
                self.eta.setText("")
                self._running.clear()
                self._eta.start(ev)
                self._kind = ev.kind
            elif isinstance(ev, PhaseStarted):
                self._running.add((ev.arm, ev.seed))
                self.phase.setText(self._units_text() + unit_text(self._kind, ev.arm, ev.seed, ev.phase, ev.layer, 0,
                                                                  ev.epochs))
            elif isinstance(ev, Progress):
                self._eta.update(ev)
                last = ev
            elif isinstance(ev, UnitFinished):
                self._running.discard((ev.arm, ev.seed))
            elif isinstance(ev, RunFinished):
                last = None
                if ev.status == "completed":
                    self.bar.setValue(self.bar.maximum())
                self.phase.setText(f"Run {ev.status}")
                self.eta.setText(format_eta(ev.elapsed_s))
                self.eta.setToolTip("Elapsed time")
        if last is not None:
            self.show_progress(last)

    def show_progress(self, ev: Progress) -> None:
        total = max(ev.total_steps, 1)
        self.bar.setValue(int(1000 * min(ev.done_steps, total) / total))
        self.phase.setText(self._units_text() + unit_text(self._kind, ev.arm, ev.seed, ev.phase, ev.layer, ev.epoch,
                                                          ev.epochs))
        eta = self._eta.seconds_left()
        self.eta.setText(f"ETA {format_eta(eta)}" if eta is not None else "ETA …")
        self.eta.setToolTip("Estimated time left, from the measured speed of each phase (pre-training per method, "
                            "fine-tuning)")

    def _units_text(self) -> str:
        """With units running in parallel workers the bar counts all of them; the text names the latest."""
        return f"{len(self._running)} units running · " if len(self._running) > 1 else ""

    def show_replayed(self, name: str, status: str) -> None:
        """A past run was opened: drop the last live run's progress and ETA, say what is shown instead."""
        self.bar.setValue(self.bar.maximum() if status == "completed" else 0)
        self.bar.setFormat("%p%")
        self.phase.setText(f"Showing '{name}' ({status or 'status unknown'})")
        self.eta.setText("")
        self.eta.setToolTip("")

    def set_paused(self, paused: bool) -> None:
        fmt = "paused %p%" if paused else "%p%"
        self.bar.setFormat(fmt)
