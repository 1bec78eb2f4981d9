"""CheckpointService: opens and exports checkpoints off the GUI thread, so the UI never imports torch.

Each request runs on its own short-lived QThread (a job object moved there) and reports back through a queued
signal to this GUI-thread object: ``finished(op, path, result)`` or ``failed(op, path, message)``. Results are
torch-free (plain dicts, strings, an ExperimentConfig), so the UI can show them without torch.

Threading rules followed (DESIGN.md): job signals connect only to methods of this GUI-thread object,
``thread.finished`` -> ``job.deleteLater``, and ``shutdown`` waits with a timeout.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QThread, Signal, Slot

OPEN, EXPORT = "open", "export"

JobFn = Callable[..., Any]


def _open_summary(path: str) -> dict[str, Any]:
    """Validate a checkpoint (pickled code refused, never run) and describe it without tensors."""
    from desktop_app.core.checkpoints import open_checkpoint

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
    from desktop_app.core.checkpoints import export_model

    pt, st = export_model(Path(checkpoint), Path(dest))
    return str(pt), str(st)


class _Job(QObject):
    """Lives on its own thread; runs one call and reports (op, path, ok, payload, seconds)."""

    done = Signal(str, str, bool, object, float)

    def __init__(self, op: str, path: str, fn: JobFn, args: tuple[Any, ...]) -> None:
        super().__init__()
        self._op, self._path, self._fn, self._args = op, path, fn, args

    @Slot()
    def run(self) -> None:
        t0 = time.perf_counter()
        try:
            ok, payload = True, self._fn(*self._args)
        except Exception as exc:  # noqa: BLE001 - every failure becomes a message for the user
            ok, payload = False, str(exc) or type(exc).__name__
        self.done.emit(self._op, self._path, ok, payload, time.perf_counter() - t0)
        thread = QThread.currentThread()
        if thread is not None:
            thread.quit()


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
        self._jobs: dict[QThread, _Job] = {}
        self._retired: list[QThread] = []
        self.last_seconds = 0.0

    def is_busy(self) -> bool:
        return bool(self._jobs)

    def open_checkpoint(self, path: Path | str) -> None:
        """Validate ``path``; reports ``finished("open", path, summary dict)`` or ``failed``."""
        self._submit(OPEN, str(path), self._open_fn, (str(path),))

    def export_model(self, checkpoint: Path | str, dest: Path | str) -> None:
        """Write dest.pt and dest.safetensors; reports ``finished("export", checkpoint, (pt, st))``."""
        self._submit(EXPORT, str(checkpoint), self._export_fn, (str(checkpoint), str(dest)))

    def shutdown(self, timeout_ms: int = 5000) -> bool:
        """Wait for running jobs (they are short); True if all ended within the timeout."""
        ok = True
        for thread in list(self._jobs):
            thread.quit()
            ok = thread.wait(timeout_ms) and ok
        return ok

    def _submit(self, op: str, path: str, fn: JobFn, args: tuple[Any, ...]) -> None:
        thread = QThread()
        job = _Job(op, path, fn, args)
        job.moveToThread(thread)
        thread.started.connect(job.run)
        job.done.connect(self._on_done)
        thread.finished.connect(job.deleteLater)
        thread.finished.connect(self._on_thread_finished)
        self._jobs[thread] = job
        thread.start()

    @Slot(str, str, bool, object, float)
    def _on_done(self, op: str, path: str, ok: bool, payload: object, seconds: float) -> None:
        self.last_seconds = seconds
        if ok:
            self.finished.emit(op, path, payload)
        else:
            self.failed.emit(op, path, str(payload))

    @Slot()
    def _on_thread_finished(self) -> None:
        thread = self.sender()
        if isinstance(thread, QThread) and thread in self._jobs:
            thread.wait(5000)  # `finished` is emitted just before the thread really ends
            del self._jobs[thread]
            self._retired = [t for t in self._retired if t.isRunning()] + [thread]


__all__ = ["EXPORT", "OPEN", "CheckpointService"]
