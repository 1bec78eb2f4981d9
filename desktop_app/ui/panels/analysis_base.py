"""AnalysisPanel: a Panel whose data is an analysis computed on demand (error surface, interpolation, ...).

It adds a row with Compute, Cancel, a progress bar and a status line; Compute sends ``compute_params()`` to
the injected analysis runner, partial results are drawn as they arrive, and the result is cached in the run
folder by the runner. When a run is opened the newest cached result of this analysis that still matches the
run's files is shown without recomputing (``core.analysis.store`` is torch-free). Without a runner the
Compute button is disabled and says why.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, ClassVar

import pyqtgraph as pg
from PySide6.QtWidgets import QComboBox, QLabel, QProgressBar, QPushButton, QWidget

from desktop_app.core.analysis.progress import AnalysisProgress
from desktop_app.core.analysis.store import list_results, load_result, run_sources
from desktop_app.core.runfolder import RunFolder, RunFolderError
from desktop_app.ui.analysis_protocol import AnalysisJobLike, AnalysisRunnerLike
from desktop_app.ui.panels.base import Panel, add_widgets
from desktop_app.ui.panels.flow import flow_container
from desktop_app.ui.panels.storage_note import storage_note
from desktop_app.ui.progress import format_eta
from desktop_app.ui.run_store import RUN, RunStore, StoreChange

NO_RUNNER_TIP = "Analyses need the analysis runner, which this window was built without."
NO_RUN_TIP = "Open a run (Runs list) or start one first: analyses read its checkpoints and snapshots."
ONLINE_FINAL_ONLY = ("An online run keeps only each unit's final net (listed in the Checkpoints pane), not a "
                     "checkpoint per fine-tuning epoch, which this analysis needs.")


def no_checkpoints_text(store) -> str:
    """Why an analysis that needs a unit's fine-tuning checkpoints has none: an online run never keeps them; a run
    still going may write them ("yet"); a finished one has none."""
    if store.kind == "online":
        return ONLINE_FINAL_ONLY
    return "This run has no fine-tuning checkpoints" + (" yet." if store.status in ("", "running") else ".")


ETA_AFTER_S = 1.0  # of measured progress before the time left is said (a first step's rate says little)


def time_left(first: tuple[float, int], now: float, done: int, total: int) -> float | None:
    """Seconds left at the rate measured since the first progress item ``first`` = (time, done); None until
    ETA_AFTER_S have passed and a step has been done since then."""
    t0, done0 = first
    if done <= done0 or now - t0 < ETA_AFTER_S or total <= done:
        return None
    return (now - t0) / (done - done0) * (total - done)


def load_cached(run_dir: str | Path, name: str) -> tuple[object, dict[str, Any]] | None:
    """(result, params) of the newest cached ``name`` result of a run that matches its current files."""
    if not run_dir or not Path(run_dir).is_dir():
        return None
    metas = list_results(Path(run_dir), name)
    if not metas:  # listing the run's sources (every checkpoint and snapshot) only when a result may match
        return None
    sources = run_sources(Path(run_dir))
    for meta in sorted(metas, key=lambda m: _written(run_dir, m), reverse=True):
        params = meta.get("params", {})
        result = load_result(Path(run_dir), name, params, sources)
        if result is not None:
            return result, params
    return None


def _written(run_dir: str | Path, meta: dict[str, Any]) -> tuple[str, int]:
    """Sort key, newest last: ``created`` has one-second resolution, so the JSON file's mtime breaks ties."""
    try:
        _npz, path = RunFolder(run_dir).analysis_paths(str(meta.get("name", "")), str(meta.get("key", "")))
        return str(meta.get("created", "")), path.stat().st_mtime_ns
    except (OSError, RunFolderError):
        return str(meta.get("created", "")), 0


class AnalysisPanel(Panel):
    """Subclasses set ``analysis_name`` and implement ``compute_params``, ``show_result``, ``data_table`` and
    optionally ``update_selectors`` / ``apply_params`` / ``compute_blocker``."""

    analysis_name: ClassVar[str] = ""
    compute_tip: ClassVar[str] = "Compute this analysis for the selected run (cached in the run folder)"

    def __init__(self, store: RunStore, analysis_runner: AnalysisRunnerLike | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(store, parent)
        self.runner = analysis_runner
        self.job: AnalysisJobLike | None = None
        self.result: object | None = None  # the result drawn (possibly partial)
        self.result_params: dict[str, Any] = {}
        self.from_cache = False
        self._run_dir = ""
        self._t0 = 0.0
        self._first_progress: tuple[float, int] | None = None  # (time, done) of the job's first progress item
        self.compute_button = QPushButton("Compute")
        self.compute_button.clicked.connect(self._on_compute_clicked)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop the computation (within one batch); nothing is cached")
        self.cancel_button.clicked.connect(self.cancel)
        self.progress_bar = QProgressBar()
        self.progress_bar.setMaximumWidth(220)
        self.progress_bar.setTextVisible(True)
        self.progress_bar.setRange(0, 1)
        self.progress_bar.setValue(0)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.actions, self.actions_row = flow_container()  # wraps in a narrow dock, like the toolbar
        for w in (self.compute_button, self.cancel_button, self.progress_bar):
            self.actions_row.addWidget(w)
        self.layout().insertWidget(2, self.actions)
        self.layout().insertWidget(3, self.status)
        self.graphics.ci.setContentsMargins(6, 6, 6, 6)

    def finish_setup(self) -> None:
        """Call at the end of a subclass's __init__: fills the selectors and shows a cached result."""
        self.update_selectors()
        if self.store.run_dir:
            self._run_dir = self.store.run_dir
            self._new_run()
        self.request_refresh()

    def add_display(self, *widgets: QWidget | str) -> None:
        """Display options (they redraw, never recompute): appended to the Compute row, before the status."""
        add_widgets(self.actions_row, widgets)

    # -- for subclasses ----------------------------------------------------------------------------
    def compute_params(self) -> dict[str, Any]:
        """The JSON-serialisable parameters of the analysis from the selectors."""
        raise NotImplementedError

    def show_result(self, result: object, partial: bool = False) -> None:
        """Draw a result (``partial``: an intermediate one from the progress stream)."""
        raise NotImplementedError

    def clear_result(self) -> None:
        """Remove what was drawn (a new run was opened)."""
        raise NotImplementedError

    def update_selectors(self) -> None:
        """Refill the selectors from the store (arms, seeds, epochs)."""

    def apply_params(self, params: dict[str, Any]) -> None:
        """Set the selectors to the parameters of a cached result being shown."""

    def compute_blocker(self) -> str:
        """Why Compute is impossible for this run and selection ("" if it is possible)."""
        return ""

    # -- store -------------------------------------------------------------------------------------
    def on_store_changed(self, change: StoreChange) -> None:
        if not hasattr(self, "compute_button"):  # still being built
            return
        if RUN in change.kinds and self.store.run_dir != self._run_dir:
            self._run_dir = self.store.run_dir
            self._new_run()
        super().on_store_changed(change)

    def _new_run(self) -> None:
        if self.job is not None and not _done(self.job):
            self.job.cancel()
        self._drop_job()
        self.result, self.result_params, self.from_cache = None, {}, False
        self.clear_result()
        self.update_selectors()
        hit = load_cached(self._run_dir, self.analysis_name)
        if hit is not None:
            result, params = hit
            self.apply_params(params)
            self.result, self.result_params, self.from_cache = result, params, True
            self.show_result(result)
            self.status.setText("Shown from the run folder's cache." + self._storage_text())
        else:
            self.status.setText(self._storage_text().strip())
        self.progress_bar.setRange(0, 1)
        self.progress_bar.setValue(1 if hit else 0)

    def _storage_text(self) -> str:
        """" Not stored: ..." when the run's storage policy left snapshots out: the analysis covers the seeds that
        have them (a study keeps them for its first seeds; see snapshots.keep_seeds)."""
        note = storage_note(self._run_dir)
        return f" Analysed: the seeds with snapshots (not stored: {note})." if note else ""

    def refresh(self) -> None:
        self.update_selectors()
        self._update_actions()

    # -- computing ---------------------------------------------------------------------------------
    def _on_compute_clicked(self) -> None:
        self.compute()

    def compute(self, **overrides: Any) -> AnalysisJobLike | None:
        """Start the analysis with the selectors' parameters (``overrides`` win); returns the job handle."""
        if self.runner is None or not self.store.run_dir:
            return None
        if self.job is not None and not _done(self.job):
            self.job.cancel()
            self._drop_job()
        params = {**self.compute_params(), **overrides}
        job = self.runner.start(self.analysis_name, self.store.run_dir, params)
        self.job = job
        self._t0 = time.monotonic()
        self._first_progress = None
        job.progress.connect(self._on_progress)
        job.finished.connect(self._on_finished)
        job.failed.connect(self._on_failed)
        job.cancelled.connect(self._on_cancelled)
        self.progress_bar.setRange(0, 0)  # busy until the first progress item
        self.status.setText("Queued behind another analysis…" if job.state == "queued" else "Computing…")
        self._update_actions()
        return job

    def cancel(self) -> None:
        if self.job is not None and not _done(self.job):
            self.status.setText("Cancelling…")
            self.job.cancel()

    def is_computing(self) -> bool:
        return self.job is not None and not _done(self.job)

    def _drop_job(self) -> None:
        job, self.job = self.job, None
        if job is not None:
            for signal, slot in ((job.progress, self._on_progress), (job.finished, self._on_finished),
                                 (job.failed, self._on_failed), (job.cancelled, self._on_cancelled)):
                try:
                    signal.disconnect(slot)
                except (RuntimeError, TypeError):
                    pass
        self._update_actions()

    def _on_progress(self, item: AnalysisProgress) -> None:
        self.progress_bar.setRange(0, max(item.total, 1))
        self.progress_bar.setValue(item.done)
        now = time.monotonic()
        if self._first_progress is None:  # (a queued job's wait is not its speed)
            self._first_progress = (now, item.done)
        left = time_left(self._first_progress, now, item.done, item.total)
        eta = f" · about {format_eta(left)} left" if left is not None else ""
        self.status.setText(f"Computing… {item.done} / {item.total}{eta}")
        if item.partial is not None:
            self.result = item.partial
            self.show_result(item.partial, partial=True)

    def display(self, result: object, params: dict[str, Any] | None = None) -> None:
        """Show a result computed elsewhere (e.g. by `basin reproduce`) as this panel's own: drawn, tabulated
        by ``data_table`` and exported like a computed one."""
        self.result, self.result_params, self.from_cache = result, dict(params or {}), False
        self.show_result(result)

    def _on_finished(self, result: object) -> None:
        params = dict(self.job.params) if self.job is not None else {}
        elapsed = time.monotonic() - self._t0
        self._drop_job()
        self.result, self.result_params, self.from_cache = result, params, False
        self.progress_bar.setRange(0, 1)
        self.progress_bar.setValue(1)
        self.status.setText(f"Done in {elapsed:.1f} s (cached in the run folder).")
        self.show_result(result)

    def _on_failed(self, message: str) -> None:
        self._drop_job()
        self.progress_bar.setRange(0, 1)
        self.progress_bar.setValue(0)
        self.status.setText(f"<span style='color:#b3261e'>Failed: {_html(message)}</span>")

    def _on_cancelled(self) -> None:
        self._drop_job()
        self.progress_bar.setRange(0, 1)
        self.progress_bar.setValue(0)
        self.status.setText("Cancelled (the partial result shown is not cached).")

    def _update_actions(self) -> None:
        computing = self.is_computing()
        blocker = (NO_RUNNER_TIP if self.runner is None else NO_RUN_TIP if not self.store.run_dir
                   else self.compute_blocker())
        self.compute_button.setEnabled(not blocker and not computing)
        self.compute_button.setToolTip(blocker or self.compute_tip)
        self.cancel_button.setEnabled(computing)


def no_si_prefix(plot: pg.PlotItem) -> None:
    """Plain tick numbers: an SI prefix turns "NLL (nats)" into "NLL (nats) (x0.001)"."""
    for name in ("left", "bottom"):
        plot.getAxis(name).enableAutoSIPrefix(False)


def fill_combo(box: QComboBox, items: list[tuple[str, Any]]) -> None:
    """Replace a combo's (text, data) items, keeping the selected data when it is still offered; silent."""
    current = box.currentData()
    if [(box.itemText(i), box.itemData(i)) for i in range(box.count())] == items:
        return
    box.blockSignals(True)
    box.clear()
    for text, data in items:
        box.addItem(text, data)
    datas = [d for _, d in items]
    if current in datas:
        box.setCurrentIndex(datas.index(current))
    box.blockSignals(False)


def select_data(box: QComboBox, data: Any) -> None:
    """Select the item whose data is ``data`` (if present)."""
    i = box.findData(data)
    if i >= 0:
        box.setCurrentIndex(i)


def _done(job: AnalysisJobLike) -> bool:
    return job.state in ("finished", "failed", "cancelled")


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
