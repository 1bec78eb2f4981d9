"""What the main window needs from the run controller (injected by the composition root).

The UI never imports the worker module (it imports torch); it types against this Protocol.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from desktop_app.core.config import ConfigError, ExperimentConfig


class RunControllerLike(Protocol):
    eventsReady: Any  # Signal(object): list of events, <= ~30 per second
    stateChanged: Any  # Signal(str): "idle" | "running" | "paused" | "stopping"
    queueChanged: Any  # Signal(int): runs waiting
    runFinished: Any  # Signal(str, str): run_dir, status

    @property
    def state(self) -> str: ...

    def is_busy(self) -> bool: ...

    def current_run_dir(self) -> Path | None: ...

    def start(self, cfg: ExperimentConfig, run_dir: Path | str,
              check: Sequence[ExperimentConfig] | None = None) -> None: ...

    def resume(self, run_dir: Path | str) -> None: ...

    def pause(self) -> None: ...

    def resume_run(self) -> None: ...

    def stop(self, clear_queue: bool = True) -> None: ...

    def shutdown(self, timeout_ms: int = 5000) -> bool: ...

    def describe_device(self, choice: str = "auto") -> str: ...

    def check_files(self, cfg: ExperimentConfig) -> ConfigError | None: ...
