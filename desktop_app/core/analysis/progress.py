"""What analyses yield: progress items (so the GUI worker can show progress, draw partial results and cancel)
and the frozen result dataclasses (``core.results``: numpy arrays and scalars, never tensors).

Torch-free on purpose: the UI panels import these types; the computations live in the sibling modules.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

# The result dataclasses live in core.results (below the run folder, which caches them); re-exported here.
from desktop_app.core.results import (  # noqa: F401
    AnalysisProgress,
    Correlation,
    FunctionSpaceResult,
    InterpolationResult,
    LandscapeResult,
    OutputVarianceResult,
    PitfallResult,
)


def run_to_end(gen: Iterator[Any]) -> Any:
    """Consume an analysis generator and return its last item (the result); for tests, CLI and scripts."""
    result = None
    for item in gen:
        result = item
    if result is None or isinstance(result, AnalysisProgress):
        raise RuntimeError("the analysis ended without a result")
    return result

