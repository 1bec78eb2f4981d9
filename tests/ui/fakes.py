"""A RunController stand-in for UI tests: records commands, lets the test emit events."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Signal

from desktop_app.core.config import ExperimentConfig


class FakeController(QObject):
    eventsReady = Signal(object)
    stateChanged = Signal(str)
    queueChanged = Signal(int)
    runFinished = Signal(str, str)

    def __init__(self) -> None:
        super().__init__()
        self.state = "idle"
        self.started: list[tuple[ExperimentConfig, Path]] = []
        self.resumed: list[Path] = []
        self.calls: list[str] = []

    def is_busy(self) -> bool:
        return self.state != "idle"

    def current_run_dir(self) -> Path | None:
        return self.started[-1][1] if self.started and self.is_busy() else None

    def _set(self, state: str) -> None:
        self.state = state
        self.stateChanged.emit(state)

    def start(self, cfg: ExperimentConfig, run_dir: Path | str, check=None) -> None:
        self.started.append((cfg, Path(run_dir)))
        self._set("running")

    def resume(self, run_dir: Path | str) -> None:
        self.resumed.append(Path(run_dir))
        self._set("running")

    def pause(self) -> None:
        self.calls.append("pause")
        self._set("paused")

    def resume_run(self) -> None:
        self.calls.append("resume_run")
        self._set("running")

    def stop(self, clear_queue: bool = True) -> None:
        self.calls.append("stop")
        self._set("idle")

    def shutdown(self, timeout_ms: int = 5000) -> bool:
        self.calls.append("shutdown")
        self._set("idle")
        return True

    def describe_device(self, choice: str = "auto") -> str:
        return f"fake-{choice}"

    def check_files(self, cfg: ExperimentConfig) -> None:
        return None
