"""Analyses of finished (or running) runs: error surfaces, 1D interpolation, function space, the pitfall and
output variance. Each long computation is a generator of ``AnalysisProgress`` items ending with its frozen
result dataclass (numpy arrays, never tensors), so the GUI worker can show progress and cancel through
``RunControl``; ``run_to_end`` consumes one. Results can be cached in the run folder with ``store.cached``.
"""

from desktop_app.core.analysis.progress import AnalysisProgress, run_to_end

__all__ = ["AnalysisProgress", "run_to_end"]
