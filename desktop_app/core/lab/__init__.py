"""The lab model: the open runs and their data, the run shown, follow-live, replay and comparisons — plain Python,
no Qt, no torch (docs/ARCHITECTURE.md, "The lab model"). Config to run folders: ``engine/sweep_plan.py``."""

from desktop_app.core.lab.comparison import ComparedRun, Comparison
from desktop_app.core.lab.emitter import Emitter
from desktop_app.core.lab.model import REPLAY_ERRORS, LabEvents, LabModel
from desktop_app.core.lab.store import METRIC_NAMES, RunData, StoreChange, UnitData

__all__ = ["METRIC_NAMES", "REPLAY_ERRORS", "ComparedRun", "Comparison", "Emitter", "LabEvents", "LabModel", "RunData",
           "StoreChange", "UnitData"]
