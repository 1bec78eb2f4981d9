"""ProgressWidget: progress bar, phase text ("pre-training layer k, epoch e/E", arm, seed) and ETA.

Paused, the line says so and shows no ETA (none is known until the run goes on); a resumed run's bar starts at the
work it had done, not at 0 %, and its ETA comes from the steps timed after the resume."""

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
        self._run_dir = ""  # the live run the bar counts (RunStarted): a resumed one keeps its bar
        self._paused = False
        self._where = ""  # the latest unit's phase text, said again with "Paused"

    def ingest(self, events: Iterable[Event]) -> None:
        last: Progress | None = None
        for ev in events:
            if isinstance(ev, RunStarted):
                if ev.resumed and ev.done_steps > 0:  # the work its earlier segments did (the manifest's count)
                    self._show_done(ev.done_steps, ev.total_steps)
                elif not (ev.resumed and ev.run_dir == self._run_dir):  # else the bar stays at the work done
                    self.bar.setValue(0)
                self._paused = False
                self.bar.setFormat("resuming %p%" if ev.resumed and self.bar.value() else "%p%")
                self.phase.setText(f"{'Resuming' if ev.resumed else 'Starting'} '{ev.name}'…")
                self.eta.setText("")
                self.eta.setToolTip("")
                self._running.clear()
                self._eta.start(ev)
                self._kind = ev.kind
                self._run_dir = ev.run_dir
            elif isinstance(ev, PhaseStarted):
                self._running.add((ev.arm, ev.seed))
                self._where = unit_text(self._kind, ev.arm, ev.seed, ev.phase, ev.layer, 0, ev.epochs)
                self.phase.setText(self._units_text() + self._where)
            elif isinstance(ev, Progress):
                self._eta.update(ev)
                last = ev
            elif isinstance(ev, UnitFinished):
                self._running.discard((ev.arm, ev.seed))
            elif isinstance(ev, RunFinished):
                if last is not None:  # the work done where the run ended (its last Progress came in this batch)
                    self._show_done(last.done_steps, last.total_steps)
                last = None
                self._paused = False
                self.bar.setFormat("%p%")
                if ev.status == "completed":
                    self.bar.setValue(self.bar.maximum())
                self.phase.setText(f"Run {ev.status}")
                self.eta.setText(format_eta(ev.elapsed_s))
                self.eta.setToolTip("Elapsed time")
        if last is not None:
            self.show_progress(last)

    def _show_done(self, done: int, total: int) -> None:
        """The bar at ``done`` of ``total`` steps (per mille)."""
        total = max(total, 1)
        self.bar.setValue(int(1000 * min(done, total) / total))

    def show_progress(self, ev: Progress) -> None:
        self._show_done(ev.done_steps, ev.total_steps)
        self._where = unit_text(self._kind, ev.arm, ev.seed, ev.phase, ev.layer, ev.epoch, ev.epochs)
        if self._paused:  # a step already under way when the pause came: the bar moves, the line stays paused
            self.phase.setText(f"Paused · {self._where}")
            return
        self.bar.setFormat("%p%")
        self.phase.setText(self._units_text() + self._where)
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
        self.phase.setToolTip("")
        self.eta.setText("")
        self.eta.setToolTip("")

    def show_comparison(self, caption: str, completed: bool) -> None:
        """A comparison opened: name it ("Comparing 2 runs: units=25; units=50"), not the run shown before it."""
        self.bar.setValue(self.bar.maximum() if completed else 0)
        self.bar.setFormat("%p%")
        self.phase.setText(caption)
        self.phase.setToolTip(caption)
        self.eta.setText("")
        self.eta.setToolTip("")

    def show_idle(self) -> None:
        """No run shown and none compared."""
        self.bar.setValue(0)
        self.phase.setText("Idle")
        self.phase.setToolTip("")
        self.eta.setText("")

    def set_paused(self, paused: bool) -> None:
        """Paused: "Paused" and no ETA (the time left is not running down); going on: the ETA comes back with the
        next progress, from steps timed after the pause."""
        if paused == self._paused:
            return
        self._paused = paused
        self.bar.setFormat("paused %p%" if paused else "%p%")
        if paused:
            self._eta.pause()
            self.phase.setText(f"Paused · {self._where}" if self._where else "Paused")
            self.eta.setText("paused")
            self.eta.setToolTip("No estimate while the run is paused; it comes back once the run goes on")
        else:
            self._eta.resume()
            self.phase.setText(self._units_text() + self._where)
            self.eta.setText("ETA …")
            self.eta.setToolTip("Estimated time left, measured again after the pause")
