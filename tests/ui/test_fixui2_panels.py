"""Window defects fixed in their panels (helper session "fixui2"), each checked on the real main window under
pytest-qt at 1400x900 and 1280x800: Output variance's legend covers none of the pooled seeds' curves; HParams'
per-value labels do not overlap each other; Summary's table of a 3-arm claim fits without a sideways scroll bar and a
comparison's table shows all its rows."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
import pytest
from PySide6.QtCore import QRectF

from desktop_app.core.events import AnalysisFinished, RunStarted
from desktop_app.core.lab.store import RunData
from desktop_app.core.results import OutputVarianceResult
from desktop_app.ui.main_window import MainWindow
from desktop_app.ui.panels.base import dense
from tests.ui.fakes import FakeController

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")
SIZES = [(1400, 900), (1280, 800)]


def _window(qtbot, size: tuple[int, int]) -> MainWindow:
    window = MainWindow(FakeController())
    qtbot.addWidget(window)
    window.resize(*size)
    window.show()
    qtbot.waitExposed(window)
    qtbot.wait(50)
    return window


# -- Output variance ----------------------------------------------------------------------------------------------
OV_ARMS = ("none", "rbm", "dae")
OV_POSITIONS = np.arange(5)


def ov_run(tmp_path, seed: int) -> tuple[str, RunData]:
    """One seed's replayed output-variance run (the paper's three arms, five blocks), as a background replay hands it
    to ``LabModel.open``: random init starts highest (the top-left corner, where the legend sat) and falls."""
    rng = np.random.default_rng(seed)
    variance = 10.0 ** (np.array([[-2.9], [-2.7], [-2.8]]) - np.array([[0.12], [0.05], [0.04]]) * OV_POSITIONS
                        + rng.normal(0, 0.04, (3, 5)))
    variance[0] *= 10 ** 0.6  # random init above the pre-trained arms at block 0
    result = OutputVarianceResult(arms=OV_ARMS, positions=OV_POSITIONS, block_start=OV_POSITIONS * 50000,
                                  variance=variance, block_size=50000, resamples=3, resample="deform", seed=seed)
    key = str(tmp_path / f"ov-s{seed}")
    run = RunData()
    run.ingest([RunStarted(key, "ov", OV_ARMS, (seed,), "cpu", 1, kind="output-variance"),
                AnalysisFinished("output_variance", result)], replayed=True)
    return key, run


def drawn_points_under(plot: pg.PlotItem, rect: QRectF) -> list[tuple[str, float, float]]:
    """The points of every curve drawn in ``plot`` (its vertices, symbols included, and points along its segments,
    the dashed interval bounds too) that lie in ``rect`` (scene coordinates)."""
    vb = plot.getViewBox()
    hits = []
    for item in plot.listDataItems():
        x, y = item.getData()  # as drawn (log10 on a log axis)
        if x is None or not len(x):
            continue
        radius = (item.opts.get("symbolSize") or 0) / 2 + 1 if item.opts.get("symbol") else 1
        xs, ys = dense(x, y, per_segment=32)
        for a, b in zip(xs, ys, strict=True):
            if np.isfinite(a) and np.isfinite(b):
                p = vb.mapViewToScene(pg.Point(a, b))
                if rect.adjusted(-radius, -radius, radius, radius).contains(p):
                    hits.append((item.name() or "", float(a), float(b)))
    return hits


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_output_variance_legend_covers_no_pooled_curve(qtbot, tmp_path, size) -> None:
    """Three seeds' output-variance runs open (one shown, two kept beside it, as Run > Compare keeps them): the
    panel draws each seed's thin line, the geometric mean and its dashed 95 % interval per arm. The legend sat in the
    view box's top-left corner, over random init's curves (which start highest); it must cover no drawn point."""
    window = _window(qtbot, size)
    for seed in range(3):
        key, run = ov_run(tmp_path, seed)
        window.lab.open(key, show=seed == 0, data=run)
    assert window.show_panel("Output variance")
    panel = window.panel_widgets["Output variance"]
    panel.ensure_current()
    qtbot.wait(50)
    assert [r.seed for r in panel.results] == [0, 1, 2]
    assert {f"{arm}/{end}" for arm in OV_ARMS for end in ("lo", "hi")} <= set(panel.curves)  # intervals drawn
    legend = panel.legend
    assert len(legend.items) == len(OV_ARMS) and legend.isVisible()
    rect = legend.sceneBoundingRect()
    assert rect.width() > 50 and rect.height() > 10
    view = panel.graphics.viewport().rect()
    assert rect.left() >= 0 and rect.right() <= view.width() + 1 and rect.bottom() <= view.height() + 1  # on screen
    for _sample, label in legend.items:  # every entry whole (not elided) at these sizes
        assert "mean of 3 seeds" in label.text, label.text
    assert drawn_points_under(panel.plot, rect) == []
    panel.log_box.setChecked(False)  # linear y: the same
    panel.ensure_current()
    qtbot.wait(20)
    assert drawn_points_under(panel.plot, panel.legend.sceneBoundingRect()) == []
