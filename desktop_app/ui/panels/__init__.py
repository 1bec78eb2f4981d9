"""Results panels: each reads the RunStore and exports PNG/SVG/CSV.

``PANELS`` maps the dock title to the panel class; ``make_panels(store, analysis_runner)`` builds one of each,
in the order the main window should show them. The analysis panels (error surface, interpolation, function
space, pitfall) compute on demand through the injected analysis runner (no runner: their Compute is disabled).
"""

from __future__ import annotations

from desktop_app.ui.analysis_protocol import AnalysisRunnerLike
from desktop_app.ui.panel_names import ANALYSIS_PANELS, PANEL_NAMES
from desktop_app.ui.panels.analysis_base import AnalysisPanel
from desktop_app.ui.panels.base import Panel
from desktop_app.ui.panels.curves import CurvesPanel
from desktop_app.ui.panels.filters import FiltersPanel
from desktop_app.ui.panels.function_space import FunctionSpacePanel
from desktop_app.ui.panels.hparams import HParamsPanel
from desktop_app.ui.panels.interpolation import InterpolationPanel
from desktop_app.ui.panels.landscape import LandscapePanel
from desktop_app.ui.panels.online import OnlinePanel
from desktop_app.ui.panels.output_variance import OutputVariancePanel
from desktop_app.ui.panels.pitfall import PitfallPanel
from desktop_app.ui.panels.summary import SummaryPanel
from desktop_app.ui.panels.trajectory import TrajectoryPanel
from desktop_app.ui.run_store import RunStore

PANELS: dict[str, type[Panel]] = dict(zip(PANEL_NAMES, (
    FiltersPanel, TrajectoryPanel, CurvesPanel, SummaryPanel, HParamsPanel, OnlinePanel, LandscapePanel,
    InterpolationPanel, FunctionSpacePanel, PitfallPanel, OutputVariancePanel), strict=True))


def make_panel(name: str, store: RunStore, analysis_runner: AnalysisRunnerLike | None = None) -> Panel:
    """The panel titled ``name`` reading ``store``; an analysis panel also gets ``analysis_runner``."""
    cls = PANELS[name]
    return cls(store, analysis_runner) if name in ANALYSIS_PANELS else cls(store)  # type: ignore[call-arg]


def make_panels(store: RunStore, analysis_runner: AnalysisRunnerLike | None = None) -> dict[str, Panel]:
    """One instance of every panel, all reading ``store``; the analysis panels also get ``analysis_runner``."""
    return {name: make_panel(name, store, analysis_runner) for name in PANELS}


__all__ = ["ANALYSIS_PANELS", "PANELS", "AnalysisPanel", "CurvesPanel", "FiltersPanel", "FunctionSpacePanel",
           "HParamsPanel", "InterpolationPanel", "LandscapePanel", "OnlinePanel", "OutputVariancePanel", "Panel",
           "PitfallPanel", "SummaryPanel", "TrajectoryPanel", "make_panel", "make_panels"]
