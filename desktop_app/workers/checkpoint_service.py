"""CheckpointService: opens and exports checkpoints off the GUI thread, so the UI never imports torch.

Each request is a ``Task`` (``workers/background.py``, the one background-work pattern) of its own, so an
open never waits behind a training run or an analysis; it reports back on the GUI thread once its thread has
ended: ``finished(op, path, result)`` or ``failed(op, path, message)``. Results are torch-free (plain dicts,
strings, an ExperimentConfig), so the UI can show them without torch. See docs/ARCHITECTURE.md (workers).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal, Slot

from desktop_app.core.control import RunControl
from desktop_app.workers.background import Task

OPEN, EXPORT = "open", "export"

JobFn = Callable[..., Any]


def _open_summary(path: str) -> dict[str, Any]:
    """Validate a checkpoint (pickled code refused, never run) and describe it without tensors."""
    from desktop_app.core.training.checkpoints import open_checkpoint

    state = open_checkpoint(Path(path))
    model = state["model"]
    return {
        "path": str(path),
        "arm": str(state.get("arm", "")),
        "seed": int(state.get("seed", 0)),
        "phase": str(state.get("phase", "")),
        "epoch": int(state.get("epoch", 0)),
        "tensors": len(model),
        "parameters": int(sum(int(v.numel()) for v in model.values())),
        "config": state["experiment"],
    }


def _export(checkpoint: str, dest: str) -> tuple[str, str]:
    from desktop_app.core.training.checkpoints import export_model

    pt, st = export_model(Path(checkpoint), Path(dest))
    return str(pt), str(st)


def _call(fn: JobFn, args: tuple[Any, ...], _control: RunControl) -> Iterator[Any]:
    """One call as a task generator (checkpoint jobs are short: nothing to pause or stop in between)."""
    yield fn(*args)


class CheckpointService(QObject):
    """Signals: ``finished(op, path, result)``, ``failed(op, path, message)``; op is "open" or "export".

    ``last_seconds`` holds how long the last job took (measured on the worker thread).
    """

    finished = Signal(str, str, object)
    failed = Signal(str, str, str)

    def __init__(
        self,
        parent: QObject | None = None,
        open_fn: JobFn | None = None,
        export_fn: JobFn | None = None,
    ) -> None:
        super().__init__(parent)
        self._open_fn = open_fn or _open_summary
        self._export_fn = export_fn or _export
        self._tasks: dict[Task, tuple[str, str]] = {}
        self.last_seconds = 0.0

    def is_busy(self) -> bool:
        return bool(self._tasks)

    def open_checkpoint(self, path: Path | str) -> None:
        """Validate ``path``; reports ``finished("open", path, summary dict)`` or ``failed``."""
        self._submit(OPEN, str(path), self._open_fn, (str(path),))

    def export_model(self, checkpoint: Path | str, dest: Path | str) -> None:
        """Write dest.pt and dest.safetensors; reports ``finished("export", checkpoint, (pt, st))``."""
        self._submit(EXPORT, str(checkpoint), self._export_fn, (str(checkpoint), str(dest)))

    def shutdown(self, timeout_ms: int = 5000) -> bool:
        """Wait for running jobs (they are short); True if all ended within the timeout."""
        ok = True
        for task in list(self._tasks):
            ok = task.wait(timeout_ms) and ok
        return ok

    def _submit(self, op: str, path: str, fn: JobFn, args: tuple[Any, ...]) -> None:
        task = Task(partial(_call, fn, args), name=f"checkpoint-{op}")
        task.ended.connect(self._on_ended)
        self._tasks[task] = (op, path)
        task.start()

    @Slot()
    def _on_ended(self) -> None:
        task = self.sender()
        if not isinstance(task, Task) or task not in self._tasks:
            return
        op, path = self._tasks.pop(task)
        self.last_seconds = task.seconds  # measured on the worker thread
        if task.error is not None:
            self.failed.emit(op, path, str(task.error) or type(task.error).__name__)
        else:
            self.finished.emit(op, path, task.last)


__all__ = ["EXPORT", "OPEN", "CheckpointService"]
