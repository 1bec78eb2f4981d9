"""Analyses of finished (or running) runs: error surfaces, 1D interpolation, function space, the pitfall and
output variance. Each long computation is a generator of ``AnalysisProgress`` items ending with its frozen
result dataclass (numpy arrays, never tensors), so the GUI worker can show progress and cancel through
``RunControl``; ``run_to_end`` consumes one. ``store.cached_call`` caches results in the run folder.

This package's ``__init__``, ``progress`` and ``store`` are torch-free (the UI may import the result types from
here); the compute modules (landscape, interpolation, pitfall, output_variance) import torch.
"""

from desktop_app.core.analysis.progress import (
    AnalysisProgress,
    Correlation,
    FunctionSpaceResult,
    InterpolationResult,
    LandscapeResult,
    OutputVarianceResult,
    PitfallResult,
    run_to_end,
)

__all__ = [
    "AnalysisProgress",
    "Correlation",
    "FunctionSpaceResult",
    "InterpolationResult",
    "LandscapeResult",
    "OutputVarianceResult",
    "PitfallResult",
    "run_to_end",
]
