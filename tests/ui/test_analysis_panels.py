"""Analysis panels on a tiny real run, computed through the real AnalysisRunner: the panels hold the results'
numbers, reopen them from the run folder's cache, cancel quickly, and export what they draw."""

import csv
import time

import numpy as np
import pyqtgraph as pg
import pytest

from desktop_app.core.analysis.progress import AnalysisProgress, LandscapeResult
from desktop_app.ui.panels import ANALYSIS_PANELS, make_panels
from desktop_app.ui.panels.analysis_base import NO_RUNNER_TIP
from desktop_app.ui.panels.function_space import FunctionSpacePanel
from desktop_app.ui.panels.interpolation import InterpolationPanel
from desktop_app.ui.panels.landscape import LandscapePanel, filled
from desktop_app.ui.panels.output_variance import HINT, OutputVariancePanel
from desktop_app.ui.panels.pitfall import PitfallPanel
from desktop_app.ui.run_store import RunStore
from desktop_app.workers.analysis_worker import AnalysisRunner
from tests.analysis_runs import OUTPUT_VARIANCE, finish, make_run, run_events
from tests.pause import HANG_MS, HANG_S

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")


def check_csv(panel, path):
    columns, data = panel.data_table()
    assert data
    with open(panel.export_csv(path), newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == columns and len(rows) - 1 == len(data)
    assert panel.export_svg(path.with_suffix(".svg")).stat().st_size > 0
    assert panel.export_png(path.with_suffix(".png"), width=400).stat().st_size > 0


def test_landscape_panel_draws_the_surface(qtbot, store, runner, tmp_path):
    panel = LandscapePanel(store, runner)
    qtbot.addWidget(panel)
    assert panel.compute_button.isEnabled()
    panel.arm_box.setCurrentIndex(panel.arm_box.findData("dae"))
    panel.log_box.setChecked(False)
    partials = []
    job = panel.compute(resolution=7, n_eval=100)
    job.progress.connect(lambda p: partials.append(p.partial))
    assert panel.cancel_button.isEnabled() and not panel.compute_button.isEnabled()
    r = finish(qtbot, job)
    assert isinstance(r, LandscapeResult) and (r.arm, r.seed) == ("dae", 0) and panel.result is r
    np.testing.assert_array_equal(panel.image.image, r.loss.astype(np.float32))
    assert panel.image.getLevels() == pytest.approx((r.loss.min(), r.loss.max()), rel=1e-6)
    columns, rows = panel.data_table()
    assert columns[:5] == ["kind", "x", "y", "loss", "error_pct"] and len(rows) == 49 + 1  # + the centre
    assert [row[3] for row in rows[:49]] == pytest.approx(r.loss.ravel())
    panel.log_box.setChecked(True)
    np.testing.assert_allclose(panel.image.image, np.log10(r.loss), rtol=1e-5)
    assert "Done" in panel.status.text() and panel.compute_button.isEnabled()
    check_csv(panel, tmp_path / "landscape.csv")

    # PCA plane: the trajectory (4 checkpoints) is drawn on it
    panel.directions_box.setCurrentIndex(panel.directions_box.findData("pca"))
    r = finish(qtbot, panel.compute(resolution=7, n_eval=100))
    x, y = panel.path_item.getData()
    np.testing.assert_allclose(np.c_[x, y], r.trajectory)
    assert len(panel.epoch_labels) == len(r.trajectory_epochs) == 4
    assert sum(row[0] == "trajectory" for row in panel.data_table()[1]) == 4


def test_partial_surfaces_are_filled_from_the_coarse_grid():
    grid = np.full((5, 5), np.nan)
    grid[::4, ::4] = [[1.0, 2.0], [3.0, 4.0]]
    out = filled(grid)
    assert np.isfinite(out).all() and out[0, 0] == 1.0 and out[4, 4] == 4.0 and out[1, 1] == 1.0


def test_interpolation_panel_draws_both_splits(qtbot, store, runner, tmp_path):
    panel = InterpolationPanel(store, runner)
    qtbot.addWidget(panel)
    panel.mode_box.setCurrentIndex(panel.mode_box.findData("pretrained_to_random"))
    assert [panel.arm_box.itemData(i) for i in range(panel.arm_box.count())] == ["dae"]
    r = finish(qtbot, panel.compute(n_points=11, n_eval=100))
    assert r.mode == "pretrained_to_random" and r.start.startswith("dae/") and r.end.startswith("none/")
    for (quantity, split), item in panel.curves.items():
        x, y = item.getData()
        want = getattr(r, f"{split}_{quantity}") * (100 if quantity == "error" else 1)
        np.testing.assert_allclose(x, r.alphas)
        np.testing.assert_allclose(y, want)
    check_csv(panel, tmp_path / "interp.csv")


def test_function_space_panel_shows_trajectories_and_purity(qtbot, store, runner, tmp_path):
    panel = FunctionSpacePanel(store, runner)
    qtbot.addWidget(panel)
    panel.method_box.setCurrentIndex(panel.method_box.findData("pca"))
    r = finish(qtbot, panel.compute())
    assert set(panel.lines) == {"none", "dae"}
    for arm, line in panel.lines.items():
        x, y = line.getData()
        mask = np.array(r.arms) == arm
        assert sorted(zip(x, y, strict=True)) == sorted(map(tuple, r.coords[mask]))
        starts = panel.starts[arm].getData()
        ends = panel.ends[arm].getData()
        assert len(starts[0]) == len(ends[0]) == 2  # one start and one end per seed
        first = mask & (r.epochs == r.epochs[mask].min())
        assert sorted(zip(*starts, strict=True)) == sorted(map(tuple, r.coords[first]))
    assert f"{r.purity:.3f}" in panel.purity_label.text() and f"{r.purity_last:.3f}" in panel.purity_label.text()
    check_csv(panel, tmp_path / "fs.csv")


def test_pitfall_panel_scatter_and_correlation(qtbot, store, runner, other_run, tmp_path):
    panel = PitfallPanel(store, runner)
    qtbot.addWidget(panel)
    r = finish(qtbot, panel.compute(n_train=100, n_test=100))
    assert len(r.labels) == 2 and "undefined" in panel.corr_label.text()  # 2 points: no correlation yet
    panel.add_runs([other_run])
    r = finish(qtbot, panel.compute(n_train=100, n_test=100))
    assert len(r.labels) == 4 and any(lab.startswith("noisy:") for lab in r.labels)
    got = sorted(p for s in panel.scatters.values() for p in zip(*s.getData(), strict=True))
    want = sorted(zip(r.recon_error, 100 * r.probe_accuracy, strict=True))
    np.testing.assert_allclose(got, want)
    assert panel.baseline.value() == pytest.approx(100 * r.pixel_accuracy)
    text = panel.corr_label.text()
    assert f"{r.pearson_r:+.3f}" in text and f"{r.spearman_r:+.3f}" in text and f"{r.pearson_p:.3g}" in text
    check_csv(panel, tmp_path / "pitfall.csv")

    reopened = PitfallPanel(store)  # the merged plot comes back from the cache, with its added runs
    qtbot.addWidget(reopened)
    assert reopened.extra_runs == [str(other_run)] and len(reopened.result.labels) == 4


def test_reopening_the_run_shows_cached_results_and_recompute_is_fast(qtbot, run_dir, runner):
    first = RunStore()
    first.load_run(run_dir)
    panel = InterpolationPanel(first, runner)
    qtbot.addWidget(panel)
    r = finish(qtbot, panel.compute(n_points=13, n_eval=100))

    reopened = RunStore()
    reopened.load_run(run_dir)
    panels = make_panels(reopened)  # no runner: cached results still show
    for p in panels.values():
        qtbot.addWidget(p)
    cached = panels["Interpolation"]
    assert cached.from_cache and cached.result is not None
    assert cached.points_spin.value() == 13
    np.testing.assert_array_equal(cached.curves[("loss", "test")].getData()[1], r.test_loss)

    again = finish(qtbot, panel.compute(n_points=13, n_eval=100))  # served from the cache
    np.testing.assert_array_equal(again.test_loss, r.test_loss)


def test_without_a_runner_compute_is_disabled(qtbot, store):
    panels = make_panels(store)
    for name in ANALYSIS_PANELS[:-1]:
        qtbot.addWidget(panels[name])
        button = panels[name].compute_button
        assert not button.isEnabled() and button.toolTip() == NO_RUNNER_TIP
        assert panels[name].compute() is None
    qtbot.addWidget(panels["Output variance"])


def test_cancel_from_the_panel(qtbot, store, run_dir):
    def slow(run_dir, params, control):
        for i in range(10**6):
            control.checkpoint()
            time.sleep(0.005)
            yield AnalysisProgress("landscape", i, 10**6, None)

    runner = AnalysisRunner(threads=1, jobs={"landscape": slow})
    panel = LandscapePanel(store, runner)
    qtbot.addWidget(panel)
    job = panel.compute()
    qtbot.waitUntil(lambda: panel.progress_bar.value() > 0, timeout=HANG_MS)
    panel.cancel_button.click()  # the job would run for hours; latency: docs/PERFORMANCE.md, background work
    qtbot.waitUntil(lambda: job.state == "cancelled", timeout=HANG_MS)
    assert not runner.is_busy()
    assert "Cancelled" in panel.status.text() and panel.compute_button.isEnabled()
    assert runner.shutdown(HANG_MS)


def test_output_variance_reaches_the_panel_live_and_replayed(qtbot, tmp_path):
    store = RunStore()
    panel = OutputVariancePanel(store)
    qtbot.addWidget(panel)
    assert panel.result is None and HINT in panel.info.text() and panel.data_table()[1] == []
    events = run_events(tmp_path / "ov", **{k: v for k, v in OUTPUT_VARIANCE.items() if k in ("kind",
                                                                                           "output_variance")})
    store.ingest(events)
    live = store.analyses["output_variance"]
    assert panel.result is live and set(panel.curves) == set(live.arms)
    for i, arm in enumerate(live.arms):
        np.testing.assert_allclose(panel.curves[arm].yData, live.variance[i])
        np.testing.assert_allclose(panel.curves[arm].xData, live.positions)
    assert len(panel.data_table()[1]) == live.variance.size

    replayed = RunStore()
    again = OutputVariancePanel(replayed)
    qtbot.addWidget(again)
    replayed.load_run(tmp_path / "ov")
    for i, arm in enumerate(live.arms):
        np.testing.assert_allclose(again.curves[arm].yData, live.variance[i])
    store.clear()
    assert panel.result is None and panel.curves == {}
    check_csv(again, tmp_path / "ov.csv")


def test_builder_experiment_type_shows_the_output_variance_fields(qtbot):
    from desktop_app.ui.builder import BuilderPane

    pane = BuilderPane()
    qtbot.addWidget(pane)
    pane.show()
    group = pane._groups["output_variance"]
    assert not group.isVisible() and "Erhan 2010" in pane.field_widget("kind").toolTip()
    pane.field_widget("kind").setCurrentText("output-variance")
    assert group.isVisible() and pane.config().kind == "output-variance"
    pane.field_widget("output_variance.n_blocks").setValue(4)
    assert pane.config().output_variance.n_blocks == 4 and pane.is_valid()
    assert "variance" in pane.field_widget("output_variance.resamples").toolTip()


def test_pitfall_never_correlates_rbm_with_autoencoder_errors(qtbot, store):
    """RBM (squared) and AE (cross-entropy) errors get a plot each and a correlation each (issue 15)."""
    from desktop_app.core.analysis.progress import PitfallResult
    from desktop_app.ui.panels.pitfall import correlation_text

    rbm_x, dae_x = np.array([10.0, 12.0, 15.0, 11.0]), np.array([80.0, 95.0, 90.0])
    acc = np.array([0.93, 0.92, 0.90, 0.935, 0.91, 0.92, 0.90])
    arms = ("rbm",) * 4 + ("dae",) * 3
    r = PitfallResult(labels=tuple(f"{a}/s{i}" for i, a in enumerate(arms)), arms=arms,
                      seeds=np.arange(7), layer=np.zeros(7, dtype=int), recon_error=np.r_[rbm_x, dae_x],
                      probe_accuracy=acc, pixel_accuracy=0.87, n_train=100, n_test=100,
                      pearson_r=-0.99, pearson_p=0.01, spearman_r=-0.9, spearman_p=0.05)  # "mixed" numbers
    panel = PitfallPanel(store)
    qtbot.addWidget(panel)
    panel.display(r)
    text = correlation_text(r)
    assert "-0.990" not in text and "RBM: Pearson r" in text and "autoencoders: Pearson r" in text
    from scipy import stats

    assert f"{stats.pearsonr(rbm_x, acc[:4])[0]:+.3f}" in text
    assert [p for p in panel.kind_plots.values() if p in panel.graphics.ci.items] == list(panel.kind_plots.values())
    columns, rows = panel.data_table()
    kind, pr = columns.index("error_kind"), columns.index("pearson_r")
    assert {row[kind] for row in rows} == {"squared", "cross-entropy"}
    assert len({row[pr] for row in rows}) == 2 and -0.99 not in {row[pr] for row in rows}
    # two points close together get one label, not two printed over each other
    labels = [t.textItem.toPlainText() for t in panel.texts]
    assert len(labels) == len(set(labels))


@pytest.mark.parametrize("size", [(900, 420), (600, 700)])
def test_function_space_legend_never_covers_a_point(qtbot, store, size):
    """An embedding fills its whole box (points in every corner): the legend gets room of its own, at any
    panel size (issue 15: the legend sat over the data)."""
    from desktop_app.core.results import FunctionSpaceResult

    g = np.linspace(-1, 1, 15)
    coords = np.array([(x, y) for x in g for y in g])  # every corner has points
    n = len(coords)
    arms = tuple("none" if i % 2 else "dae" for i in range(n))
    r = FunctionSpaceResult(coords, arms, np.arange(n) % 3, np.arange(n), "pca", 0.5, 0.5, np.array([0.6, 0.2]))
    panel = FunctionSpacePanel(store, None)
    qtbot.addWidget(panel)
    panel.resize(*size)
    panel.show()
    qtbot.waitExposed(panel)
    panel.display(r)
    qtbot.wait(50)
    vb = panel.plot.getViewBox()
    legend_rect = panel.legend.sceneBoundingRect()
    assert legend_rect.width() > 20 and legend_rect.height() > 20
    inside = [tuple(p) for p in coords if legend_rect.contains(vb.mapViewToScene(pg.Point(*p)))]
    assert not inside, f"{len(inside)} points under the legend"
    # and every point is still in view
    (x0, x1), (y0, y1) = vb.viewRange()
    assert x0 <= coords[:, 0].min() and coords[:, 0].max() <= x1
    assert y0 <= coords[:, 1].min() and coords[:, 1].max() <= y1


def test_output_variance_pools_the_seeds_of_runs_kept_open(qtbot, tmp_path):
    """basin reproduce output-variance writes one run per seed: kept open beside the shown one, the panel draws
    every seed and per arm the geometric mean over seeds; with two seeds no interval (core.stats.shown_interval:
    from 3 seeds on, the rule of every panel, issue 27)."""
    ov = {k: v for k, v in OUTPUT_VARIANCE.items() if k in ("kind", "output_variance")}
    for seed in (0, 1):
        make_run(tmp_path / f"s{seed}", seeds={"count": 1, "base": seed}, **ov)
    other = make_run(tmp_path / "other", seeds={"count": 1, "base": 3}, kind="output-variance",
                     output_variance={"n_blocks": 2, "resamples": 2, "resample": "pool"})  # another design
    store = RunStore()
    panel = OutputVariancePanel(store)
    qtbot.addWidget(panel)
    store.load_run(tmp_path / "s0")
    for d in (tmp_path / "s1", other):
        store.model.open(d, show=False)
    panel.refresh()
    assert [r.seed for r in panel.results] == [0, 1]
    logs = np.log10(np.stack([r.variance for r in panel.results]))  # (seed, arm, block)
    for i, arm in enumerate(panel.result.arms):
        np.testing.assert_allclose(panel.curves[arm].yData, 10 ** logs[:, i].mean(axis=0), rtol=1e-9)
        np.testing.assert_allclose(panel.curves[f"{arm}/hi"].yData, 10 ** logs[:, i].mean(axis=0), rtol=1e-9)
        assert all(f"{arm}/{s}" in panel.curves for s in (0, 1))
    assert "2 seeds" in panel.plot.titleLabel.text
    columns, rows = panel.data_table()
    assert {row[columns.index("seed")] for row in rows} == {0, 1}


def test_pitfall_axes_before_compute_are_those_of_the_runs_methods(qtbot):
    """A CAE run's Pitfall panel in the window, before Compute: labelled with the autoencoder's error (not "RBM
    reconstruction error": the run has no RBM) over an accuracy axis (it read -120..1, its y axis linked to the
    RBM plot taken out of the layout)."""
    from desktop_app.core.events import RunStarted
    from desktop_app.ui.main_window import MainWindow
    from tests.ui.fakes import FakeController

    window = MainWindow(FakeController())
    qtbot.addWidget(window)
    window.resize(1280, 800)
    window.show()
    qtbot.waitExposed(window)
    panel = window.panel_widgets["Pitfall"]

    def shown_axes() -> list[str]:
        return [p.getAxis("bottom").labelText for p in panel.kind_plots.values() if p in panel.graphics.ci.items]

    window.store.ingest([RunStarted("/cae", "scae-pitfall", ("none", "cae"), (0,), "cpu", 10)])
    window.show_panel("Pitfall")
    qtbot.wait(100)
    assert shown_axes() == ["AE reconstruction error (cross-entropy, per example)"]
    assert panel.plot.getAxis("bottom").labelText == shown_axes()[0]
    lo, hi = panel.plot.viewRange()[1]
    assert 0 <= lo < hi <= 100
    window.store.ingest([RunStarted("/both", "demo", ("none", "rbm", "dae"), (0,), "cpu", 10)])
    assert len(shown_axes()) == 2 and shown_axes()[0].startswith("RBM")


def test_pitfall_gives_every_configuration_its_own_marker(qtbot, store):
    """`basin reproduce pitfall` merges 21 configurations into one scatter (too many points to label each): every
    configuration gets its own (symbol, colour) pair, so the legend names each point (12 dense DAE configurations
    share a colour, so they need 12 symbols)."""
    from desktop_app.core.results import PitfallResult
    from desktop_app.workers.analysis_jobs import merge_pitfall

    def part(arm: str, i: int) -> PitfallResult:
        return PitfallResult(labels=(f"{arm}/s0",), arms=(arm,), seeds=np.zeros(1, dtype=int),
                             layer=np.zeros(1, dtype=int), recon_error=np.array([50.0 + i]),
                             probe_accuracy=np.array([0.85]), pixel_accuracy=0.84, n_train=10, n_test=10,
                             pearson_r=0.0, pearson_p=1.0, spearman_r=0.0, spearman_p=1.0)

    parts = [("" if i == 0 else f"dae-{i}", part("dae", i)) for i in range(12)]
    parts += [(f"cae-{i}", part("cae", 12 + i)) for i in range(9)]
    panel = PitfallPanel(store)
    qtbot.addWidget(panel)
    panel.display(merge_pitfall(parts))
    markers = {(s.opts["symbol"], s.opts["brush"].color().name()) for s in panel.scatters.values()}
    assert len(panel.scatters) == 21 and len(markers) == 21


def test_progress_says_the_time_left(qtbot, store):
    """A long analysis says how long it has left (from its measured rate), not only "k / n". The job is held at
    200 of 400 steps while the text is read, so a slow machine reads it mid-job, never after the end."""
    import threading

    gate = threading.Event()

    def steady(run_dir, params, control):
        for i in range(400):
            if i == 201:
                gate.wait(HANG_S)
            control.checkpoint()
            time.sleep(0.01)
            yield AnalysisProgress("landscape", i, 400, None)

    runner = AnalysisRunner(threads=1, jobs={"landscape": steady})
    panel = LandscapePanel(store, runner)
    qtbot.addWidget(panel)
    job = panel.compute()
    qtbot.waitUntil(lambda: "200 / 400" in panel.status.text() and "left" in panel.status.text(), timeout=HANG_MS)
    text = panel.status.text()  # "Computing… 200 / 400 · about 0:03 left"
    minutes, seconds = text.split("about ")[1].split(" left")[0].split(":")
    left = 60 * int(minutes) + int(seconds)
    assert 1 <= left <= 10  # 200 steps of 10 ms left (up to 50 ms each on a loaded machine)
    panel.cancel()
    gate.set()
    qtbot.waitUntil(lambda: job.state == "cancelled", timeout=HANG_MS)
    assert runner.shutdown(HANG_MS)


def test_error_surface_levels_and_colour_bar_ticks_are_round_values():
    """Issue 27: the colour bar's ticks (the contour levels) fell on 0.846, 0.624: the range split evenly. They are
    round values now, strictly inside the range, in the quantity itself on a log scale."""
    from desktop_app.ui.panels.landscape import N_CONTOURS, nice_levels

    levels = nice_levels(0.624, 0.846, N_CONTOURS)
    assert list(np.round(levels, 9)) == [0.65, 0.7, 0.75, 0.8]
    assert list(nice_levels(10, 90, N_CONTOURS)) == [20, 40, 60, 80]
    logs = nice_levels(np.log10(0.3), np.log10(40), N_CONTOURS, log=True)
    assert list(np.round(10 ** logs, 9)) == [0.5, 1, 2, 5, 10, 20]
    assert len(nice_levels(0.0, 1e-9 + 7.0, N_CONTOURS)) <= N_CONTOURS


def test_pitfall_keeps_both_plots_titles_labels_and_legends_inside_at_1280(qtbot, store):
    """At 1280x800 the panel is about 850 px wide: the autoencoder plot's long title claimed its text's width and
    pushed that plot's title, x label and legend off the right edge. Titles now elide (the whole text in the
    tooltip) and every part of both plots stays inside the view."""
    from desktop_app.core.analysis.progress import PitfallResult

    arms = ("rbm",) * 4 + ("dae",) * 4
    r = PitfallResult(labels=tuple(f"{a}/s{i}" for i, a in enumerate(arms)), arms=arms,
                      seeds=np.arange(8), layer=np.zeros(8, dtype=int),
                      recon_error=np.r_[61.0, 61.1, 61.05, 61.2, 231.0, 233.0, 235.0, 232.0],
                      probe_accuracy=np.linspace(0.2, 0.4, 8), pixel_accuracy=0.735, n_train=200, n_test=200,
                      pearson_r=-0.5, pearson_p=0.2, spearman_r=-0.4, spearman_p=0.3)
    panel = PitfallPanel(store)
    qtbot.addWidget(panel)
    panel.resize(850, 500)
    panel.show()
    qtbot.waitExposed(panel)
    panel.display(r)
    qtbot.wait(50)
    view = panel.graphics
    shown = view.mapToScene(view.viewport().rect()).boundingRect().adjusted(-1, -1, 1, 1)
    for kind, plot in panel.kind_plots.items():
        title = plot.titleLabel
        assert shown.contains(title.item.sceneBoundingRect()), (kind, title.item.toPlainText())
        assert title.text.startswith("RBM" if kind == "squared" else "autoencoders")  # the whole title kept
        assert shown.contains(plot.getAxis("bottom").label.sceneBoundingRect()), kind
        assert shown.contains(plot.sceneBoundingRect()), kind
        assert shown.contains(panel.legends[kind].sceneBoundingRect()), kind


def test_the_panels_purity_label_gives_the_chance_level_of_its_nets():
    """The panel printed "≈0.33 = mixed" beside a 3 arms x 2 seeds result whose chance level is 0.20."""
    from desktop_app.core.analysis.progress import FunctionSpaceResult
    from desktop_app.ui.panels.function_space import purity_text

    arms = ("none", "none", "rbm", "rbm", "dae", "dae") * 2
    seeds, epochs = np.array([0, 1] * 6), np.array([0] * 6 + [5] * 6)
    r = FunctionSpaceResult(coords=np.zeros((12, 2)), arms=arms, seeds=seeds, epochs=epochs, method="pca",
                            purity=0.5, purity_last=0.0, explained_variance_ratio=np.array([0.5, 0.2]))
    text = purity_text(r)
    assert "all epochs 0.500, last epoch 0.000" in text and "0.20 = mixed at random" in text and "0.33" not in text
    r = FunctionSpaceResult(coords=np.zeros((9, 2)), arms=arms[:6] + ("none", "rbm", "dae"),
                            seeds=np.array([0, 1] * 3 + [0, 0, 0]), epochs=np.array([0] * 6 + [5] * 3),
                            method="pca", purity=0.5, purity_last=0.0, explained_variance_ratio=np.zeros(2))
    # seed 1 stopped at epoch 0: over all epochs a seed-0 net has 1 of 7 candidates in its arm, a seed-1 net 2 of 8
    assert f"{(2 / 7 + 2 / 8) / 3:.2f} / 0.20 = mixed at random" in purity_text(r)
