"""Figures for the reproduce report, drawn by the app's own panels (offscreen) from the claims' run folders.

`basin reproduce ... --report docs/RESULTS.md` calls ``export_claim_figures``: each claim's run folders are
replayed into a RunStore, the panels a user would look at draw them, and their PNG (plus the CSV of exactly
what is drawn) lands beside the report, so the report's figures are the app's figures, not a separate plot script.
Like ``smoke.py`` this is composition-level code: it wires core results into UI panels.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from desktop_app.core.reproduce.report import ClaimResult

WIDTH = 1100  # PNG width in pixels; height keeps the panel's aspect
SIZE = (1100, 620)  # panel layout size while exporting


def _app():
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    import torch  # noqa: F401  - composition-root import order: torch before Qt (pytorch#169429)
    from PySide6.QtWidgets import QApplication

    return QApplication.instance() or QApplication(["basin-report"])


def _store(run_dir: str | Path):
    from desktop_app.ui.run_store import RunStore

    store = RunStore()
    store.load_run(run_dir)
    return store


def _export(panel, out: Path, stem: str) -> list[Path]:
    """PNG and CSV of a panel laid out as on screen (shown offscreen, so axes and labels get their real sizes)."""
    app = _app()
    panel.resize(*SIZE)
    panel.show()
    for _ in range(3):
        app.processEvents()
    panel.ensure_current()
    out.mkdir(parents=True, exist_ok=True)
    stem = stem.replace("=", "-")
    png = panel.export_png(out / f"{stem}.png", width=WIDTH)
    panel.export_csv(out / f"{stem}.csv")
    panel.close()
    panel.deleteLater()
    return [png]


def _trajectory_and_summary(r: ClaimResult, out: Path) -> list[Path]:
    from desktop_app.ui.panels import SummaryPanel, TrajectoryPanel

    store = _store(next(iter(r.run_dirs.values())))
    return _export(TrajectoryPanel(store), out, "trajectories") + _export(SummaryPanel(store), out, "summary")


def _grouped_summary(r: ClaimResult, out: Path) -> list[Path]:
    """One summary with a group per experiment (width, label count, unit/optimiser), plus each one's trajectories
    when there are two (the modern control: sigmoid vs ReLU)."""
    from desktop_app.ui.panels import SummaryPanel, TrajectoryPanel

    stores = {label: _store(d) for label, d in r.run_dirs.items()}
    first = next(iter(stores.values()))
    panel = SummaryPanel(first)
    panel.set_groups(stores)
    paths = _export(panel, out, "summary")
    if len(stores) == 2:
        for label, store in stores.items():
            paths += _export(TrajectoryPanel(store), out, f"trajectories-{label}")
    return paths


def _sweep(r: ClaimResult, out: Path) -> list[Path]:
    """Erhan's width and label-size figures: the grouped summary, and the HParams panel comparing the claim's runs
    (final test error per arm against the swept field, log x where it spans decades; parallel coordinates)."""
    from desktop_app.ui.panels import HParamsPanel

    paths = _grouped_summary(r, out)
    dirs = list(dict.fromkeys(r.run_dirs.values()))
    if len(dirs) >= 2:
        store = _store(dirs[0])
        store.model.compare(dirs)
        paths += _export(HParamsPanel(store), out, "hparams")
    return paths


def _bottom_k(r: ClaimResult, out: Path) -> list[Path]:
    """Final test error with a group per k (the regulariser's run holds k = 0, its random-init arm, and k = all,
    its pre-trained arms), and the Curves panel comparing the runs: the train-NLL plot is the claim's other half."""
    from desktop_app.ui.panels import CurvesPanel, SummaryPanel

    dirs = dict(r.run_dirs)
    regulariser = dirs.pop("regulariser")
    stores = {"k=0 (none) and k=3": _store(regulariser), **{label: _store(d) for label, d in dirs.items()}}
    panel = SummaryPanel(next(iter(stores.values())))
    panel.set_groups(stores)
    paths = _export(panel, out, "summary")
    store = _store(regulariser)
    store.model.compare([regulariser, *dirs.values()])
    return paths + _export(CurvesPanel(store), out, "curves")


def _function_space(r: ClaimResult, out: Path) -> list[Path]:
    from desktop_app.core.analysis import run_to_end
    from desktop_app.core.analysis.function_space import compute_function_space
    from desktop_app.core.analysis.store import cached_call
    from desktop_app.ui.panels import FunctionSpacePanel

    run = Path(next(iter(r.run_dirs.values())))
    store = _store(run)
    paths = []
    for method in ("pca", "isomap"):  # PCA is the one the claim's evaluation already computed and cached
        panel = FunctionSpacePanel(store)
        panel.display(run_to_end(cached_call(run, "function_space", compute_function_space, method=method)))
        paths += _export(panel, out, f"function-space-{method}")
    return paths


def _pitfall(r: ClaimResult, out: Path) -> list[Path]:
    """Every configuration's points in one scatter, each point named by its configuration (width, noise)."""
    from desktop_app.core.analysis import run_to_end
    from desktop_app.core.control import RunControl
    from desktop_app.ui.panels import PitfallPanel
    from desktop_app.workers.analysis_jobs import cached_job, merge_pitfall

    control = RunControl()
    parts = [(label, run_to_end(cached_job("pitfall")(Path(d), {}, control))) for label, d in r.run_dirs.items()]
    first = Path(next(iter(r.run_dirs.values())))
    panel = PitfallPanel(_store(first))
    panel.point_text = "run"
    panel.display(merge_pitfall(parts))
    # one legend entry (symbol and colour) per configuration, in columns under the plot: with more points than
    # the panel labels (MAX_POINT_LABELS) the legend is what names them
    panel.legend.setColumnCount(3)
    return _export(panel, out, "pitfall")


def _online(r: ClaimResult, out: Path) -> list[Path]:
    """Every depth's runs in one Online panel: the deepest shown, the others open beside it (one line style per
    depth); once with the online error, once with the test error against examples seen."""
    from desktop_app.ui.panels import OnlinePanel
    from desktop_app.ui.panels.online import SHOWN

    dirs = list(r.run_dirs.values())
    store = _store(dirs[-1])
    for d in dirs[:-1]:
        store.model.open(d, show=False)
    paths = []
    for i, shown in enumerate(SHOWN):  # "online error", "test error"
        panel = OnlinePanel(store)
        panel.metric_box.setCurrentIndex(i)
        paths += _export(panel, out, "online" if i == 0 else f"online-{shown.replace(' ', '-')}")
    return paths


def _filters(r: ClaimResult, out: Path) -> list[Path]:
    """The Filters panel at the end of fine-tuning, each pre-trained arm beside random init, first seed: the
    mosaics, the structure numbers and the per-unit weight-change histograms the claim's table summarises."""
    from desktop_app.ui.panels import FiltersPanel

    store = _store(next(iter(r.run_dirs.values())))
    paths = []
    for arm in [a for a in store.arms if a != "none"]:
        panel = FiltersPanel(store)
        panel.refresh()
        panel.select(left=arm, right="none")
        paths += _export(panel, out, f"filters-{arm}")
    return paths


def _output_variance(r: ClaimResult, out: Path) -> list[Path]:
    """The Output variance panel with every seed's run open (one run folder per seed): per-seed lines, and per arm
    the geometric mean over seeds with its 95 % interval."""
    from desktop_app.ui.panels import OutputVariancePanel

    dirs = list(r.run_dirs.values())
    store = _store(dirs[0])
    for d in dirs[1:]:
        store.model.open(d, show=False)
    return _export(OutputVariancePanel(store), out, "output-variance")


def _summary(r: ClaimResult, out: Path) -> list[Path]:
    """The Summary panel of the claim's one run: with early stopping each seed's selected epoch, the numbers the
    report's table reads (the one reducer, core/runfolder/metrics.py)."""
    from desktop_app.ui.panels import SummaryPanel

    return _export(SummaryPanel(_store(next(iter(r.run_dirs.values())))), out, "summary")


FIGURES: dict[str, Callable[[ClaimResult, Path], list[Path]]] = {
    "filters-move": _filters,
    "regulariser": _trajectory_and_summary,
    "fig1": _trajectory_and_summary,
    "modern-control": _grouped_summary,
    "width": _sweep,
    "labels": _sweep,
    "labels-mnist": _sweep,
    "function-space": _function_space,
    "pitfall": _pitfall,
    "online": _online,
    "bottom-k": _bottom_k,
    "penalties": _grouped_summary,
    "output-variance": _output_variance,
    "mnist-baseline": _summary,
}


def export_claim_figures(results: list[ClaimResult], out_dir: Path, relative_to: Path) -> None:
    """Draw each claim's figures into ``out_dir/<claim>/`` and list them (relative to ``relative_to``, the
    report's folder) in ``result.numbers["_figures"]``, where ``render_report`` embeds them."""
    app = _app()
    for r in results:
        draw = FIGURES.get(r.name)
        if draw is None:
            continue
        paths = draw(r, Path(out_dir) / r.name)
        app.processEvents()
        r.numbers["_figures"] = [os.path.relpath(p, relative_to) for p in paths]
