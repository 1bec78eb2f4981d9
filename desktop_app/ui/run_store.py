"""RunStore: the Qt face of the lab model — the shown run's data, with ``changed(StoreChange)`` as a Qt signal.

The data and the lab's state live in ``core/lab`` (plain Python, tested without Qt; docs/ARCHITECTURE.md, "The lab
model"). This adapter keeps the read API the panels use (``units``, ``curve``, ``metric_matrix``, ``filters``, ...,
``run_dir``, ``status``, ``analyses``), each read from the run the model shows, and turns the model's ``changed``
callback into a signal delivered on the GUI thread, so panels keep connecting to ``store.changed``.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import partial
from pathlib import Path

from PySide6.QtCore import QObject, Signal, Slot

from desktop_app.core.events import Event
from desktop_app.core.lab.comparison import Comparison
from desktop_app.core.lab.model import LabModel
from desktop_app.core.lab.store import (
    ANALYSES,
    CHECKPOINTS,
    FILTERS,
    LOG,
    METRIC_NAMES,
    METRICS,
    ONLINE,
    ONLINE_NAMES,
    PRETRAIN,
    PROBES,
    PROGRESS,
    RUN,
    STATUS,
    RunData,
    StoreChange,
    Unit,
    UnitData,
)

# Read from the shown run's RunData: methods and attributes alike (``store.units()``, ``store.status``).
_SHOWN_RUN_API = (
    "units", "unit", "has_data", "curve", "metric_matrix", "recon_errors", "filters", "probe_outputs", "checkpoints",
    "online_curve", "online_block", "final",
    "run_dir", "name", "arms", "seeds", "device", "kind", "status", "replayed", "total_steps", "progress", "phase",
    "analyses", "patience",
)


class RunStore(QObject):
    """The run the model shows, as numpy arrays; the model's callbacks as signals on the GUI thread:
    ``changed(StoreChange)``, ``shownChanged(run_dir)``, ``runsChanged(tuple of folders)``,
    ``liveChanged(run_dir, active)``, ``comparisonChanged(Comparison | None)``, ``comparedChanged(run_dir,
    StoreChange)`` (see ``core.lab.model.LabEvents``)."""

    changed = Signal(object)  # StoreChange
    shownChanged = Signal(str)
    runsChanged = Signal(object)
    liveChanged = Signal(str, bool)
    comparisonChanged = Signal(object)  # Comparison | None
    comparedChanged = Signal(str, object)  # (run_dir, StoreChange): a compared run's data changed
    _relay = Signal(str, object)  # (signal name, args): queued to this object's thread when emitted from another

    def __init__(self, parent: QObject | None = None, model: LabModel | None = None) -> None:
        super().__init__(parent)
        self.model = model if model is not None else LabModel()
        self._relay.connect(self._deliver)  # AutoConnection: direct on the GUI thread, queued from elsewhere
        events = self.model.events
        for emitter, name in ((events.changed, "changed"), (events.shown, "shownChanged"),
                              (events.runs, "runsChanged"), (events.live, "liveChanged"),
                              (events.comparison, "comparisonChanged"), (events.compared, "comparedChanged")):
            emitter.connect(partial(self._forward, name))

    @property
    def data(self) -> RunData:
        """The shown run's data (changes object when another run is shown)."""
        return self.model.shown

    @property
    def comparison(self) -> Comparison | None:
        """The runs compared (``core.lab.Comparison``), None when no comparison is open."""
        return self.model.comparison

    def _forward(self, name: str, *args: object) -> None:
        self._relay.emit(name, args)

    @Slot(str, object)
    def _deliver(self, name: str, args: tuple) -> None:
        getattr(self, name).emit(*args)

    # -- writing (through the model) ---------------------------------------------------------------------
    def clear(self) -> None:
        """Show no run."""
        self.model.clear()

    def load_run(self, run_dir: Path | str) -> None:
        """Replay a run folder and show it."""
        self.model.open(run_dir)

    def ingest(self, events: Iterable[Event], replayed: bool = False) -> None:
        """Apply a batch of events to the shown run (a RunStarted shows its run); one ``changed`` per run touched."""
        self.model.ingest(events, replayed)


def _shown(name: str) -> property:
    return property(lambda self: getattr(self.model.shown, name), doc=f"``{name}`` of the shown run (RunData).")


for _name in _SHOWN_RUN_API:
    setattr(RunStore, _name, _shown(_name))


__all__ = [
    "ANALYSES", "CHECKPOINTS", "FILTERS", "LOG", "METRICS", "METRIC_NAMES", "ONLINE", "ONLINE_NAMES", "PRETRAIN",
    "PROBES", "PROGRESS", "RUN", "STATUS", "RunStore", "StoreChange", "Unit", "UnitData",
]
