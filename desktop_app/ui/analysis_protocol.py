"""What the analysis panels need from the analysis runner (injected by the composition root).

The runner lives in ``workers`` (its compute functions import torch); the UI types against these Protocols,
and a panel built without a runner shows its Compute button disabled.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol


class AnalysisJobLike(Protocol):
    """One requested analysis. Signals: progress(AnalysisProgress), finished(result), failed(str), cancelled()."""

    progress: Any
    finished: Any
    failed: Any
    cancelled: Any
    name: str
    params: dict[str, Any]
    state: str  # "queued" | "running" | "finished" | "failed" | "cancelled"

    def cancel(self) -> None: ...


class AnalysisRunnerLike(Protocol):
    busyChanged: Any  # Signal(bool)

    def names(self) -> list[str]: ...

    def is_busy(self) -> bool: ...

    def start(self, name: str, run_dir: Path | str, params: dict[str, Any] | None = None) -> AnalysisJobLike: ...

    def cancel(self, job: Any = None) -> None: ...

    def shutdown(self, timeout_ms: int = 5000) -> bool: ...
