"""Summary panel: box statistics equal numpy's percentiles, CIs equal scipy's, paired differences, groups."""

import numpy as np
import pytest
from scipy import stats as sps

from desktop_app.ui.panels.summary import SummaryPanel
from desktop_app.ui.run_store import RunStore
from tests.ui import test_panels_data as syn


@pytest.fixture
def panel(qtbot):
    store = RunStore()
    store.ingest(syn.events())
    p = SummaryPanel(store)
    qtbot.addWidget(p)
    return p


def t_interval(x):
    x = np.asarray(x, dtype=float)
    return sps.t.interval(0.95, len(x) - 1, loc=x.mean(), scale=sps.sem(x))


def test_box_statistics_and_confidence_intervals(panel):
    assert [s.arm for s in panel.summaries] == list(syn.ARMS)
    for s in panel.summaries:
        v = 100 * np.array(syn.FINAL_TEST_ERROR[s.arm])
        assert list(s.values) == list(syn.SEEDS)
        np.testing.assert_allclose(list(s.values.values()), v)
        q1, med, q3 = np.percentile(v, [25, 50, 75])
        assert (s.box["q1"], s.box["median"], s.box["q3"]) == pytest.approx((q1, med, q3))
        lo, hi = t_interval(v)
        assert (s.ci.mean, s.ci.lo, s.ci.hi) == pytest.approx((v.mean(), lo, hi))
    # the outlier seed of "none" (30 %) lies beyond the whisker
    none = panel.summaries[0]
    assert none.box["whisker_hi"] == pytest.approx(12.0) and none.box["max"] == pytest.approx(30.0)
    # what is drawn: box bottoms and heights are the quartiles
    opts = panel.boxes.opts
    np.testing.assert_allclose(opts["y0"], [s.box["q1"] for s in panel.summaries])
    np.testing.assert_allclose(opts["height"], [s.box["q3"] - s.box["q1"] for s in panel.summaries])
    mx, my = panel.mean_dots.getData()
    np.testing.assert_allclose(my, [s.ci.mean for s in panel.summaries])
    assert panel.box_plot.getAxis("left").labelText == "test error (%)"


def test_paired_difference_pretrained_minus_random(panel):
    dae = panel.summaries[1]
    d = 100 * (np.array(syn.FINAL_TEST_ERROR["dae"]) - np.array(syn.FINAL_TEST_ERROR["none"]))
    assert dae.diff is not None and dae.diff.seeds == syn.SEEDS
    lo, hi = t_interval(d)
    assert (dae.diff.diff.mean, dae.diff.diff.lo, dae.diff.diff.hi) == pytest.approx((d.mean(), lo, hi))
    assert dae.diff.t_pvalue == pytest.approx(sps.ttest_1samp(d, 0).pvalue)
    x, y = panel.diff_dots.getData()
    assert y == pytest.approx([d.mean()])
    assert panel.summaries[0].diff is None  # the reference has no difference to itself
    assert panel.table.rowCount() == 2
    assert panel.table.item(1, 6).text().startswith(f"{d.mean():+.2f} pp")


def test_sweep_groups_side_by_side(panel, qtbot):
    other = RunStore()
    other.ingest(syn.events(run_dir="/synthetic/other", seeds=(0, 1)))
    panel.set_groups({"width 16": panel.store, "width 64": other})
    assert [(s.group, s.arm) for s in panel.summaries] == [
        ("width 16", "none"), ("width 16", "dae"), ("width 64", "none"), ("width 64", "dae")]
    assert panel.summaries[2].ci.n == 2
    xs = [s.x for s in panel.summaries]
    assert xs == sorted(xs) and xs[2] - xs[1] > 1  # a gap between groups
    # a group's store changing redraws the panel
    before = panel.redraws
    other.ingest(syn.events(run_dir="/synthetic/other", seeds=(0, 1, 2)))
    assert panel.redraws > before and panel.summaries[2].ci.n == 3
    panel.set_groups({})
    assert [s.group for s in panel.summaries] == ["", ""]


def test_two_seeds_show_no_interval_or_p_value(qtbot):
    """n < 3: the seeds are drawn, but no interval or p-value is offered as a result (issue 15)."""
    store = RunStore()
    store.ingest(syn.events(seeds=(0, 1)))
    panel = SummaryPanel(store)
    qtbot.addWidget(panel)
    assert {s.ci.n for s in panel.summaries} == {2}
    assert len(panel.ci_bars.opts["x"]) == 0 and len(panel.diff_bars.opts["x"]) == 0  # no bars drawn
    assert panel.small_n_note == "n = 2: not enough seeds for a box or an interval"
    assert "not enough seeds for a box or an interval" in panel.box_plot.titleLabel.text
    # no box or whiskers from 2 seeds (a new user read their interpolated quartiles as a spread): dots only
    assert len(panel.boxes.opts["x"]) == 0 and len(panel.lines.xData if panel.lines.xData is not None else []) == 0
    assert len(panel.seed_dots.data) == 4
    cells = [panel.table.item(r, c).text() for r in range(panel.table.rowCount()) for c in (4, 7, 8, 9)]
    assert all(not any(ch.isdigit() and "n = " not in text for ch in text) for text in cells), cells
    assert panel.box_plot.getViewBox().viewRange()[1][0] >= 0.0  # no axis below 0 % error
    (legend_mean,) = [label.text for _, label in panel.legend.items if label.text.startswith("mean")]
    assert legend_mean == "mean"
    # each seed's own paired difference is drawn instead
    assert len(panel.diff_seeds.data) == 2
    store.ingest(syn.events(seeds=(0, 1, 2)))  # from 3 seeds on: a box per arm, its median and whiskers
    assert len(panel.boxes.opts["x"]) == 2 and len(panel.lines.xData) == 2 * 10


def test_wilcoxon_minimum_attainable_p_is_said(panel):
    """With n seeds the exact Wilcoxon test cannot go below 2 / 2**n; when that is the result, the table says so."""
    from desktop_app.core.stats import wilcoxon_min_p

    assert wilcoxon_min_p(4) == pytest.approx(0.125) and wilcoxon_min_p(5) == pytest.approx(0.0625)
    (dae,) = [s for s in panel.summaries if s.arm == "dae"]
    assert dae.diff.wilcoxon_pvalue == pytest.approx(0.125)  # all 4 differences negative: the smallest possible
    row = [s.arm for s in panel.summaries].index("dae")
    assert panel.table.item(row, 9).text() == "0.125 (min. at n = 4)"
    assert panel.table.item(row, 9).toolTip() == ("0.125 is the smallest p a Wilcoxon signed-rank test can give with "
                                                  "n = 4 paired seeds (every difference on one side): only more seeds "
                                                  "can give a smaller one.")
    assert "min." not in panel.table.item(row, 8).text() and not panel.table.item(row, 8).toolTip()  # p (t): no floor


def test_category_axes_never_get_an_si_prefix(qtbot):
    """Issue 27: the paired-difference x axis read "arm (x0.001)": pyqtgraph's SI prefix on a category axis."""
    from desktop_app.ui.panels import make_panel
    from desktop_app.ui.run_store import RunStore

    panel = make_panel("Summary", RunStore(), None)
    qtbot.addWidget(panel)
    for plot in (panel.box_plot, panel.diff_plot):
        axis = plot.getAxis("bottom")
        axis.setRange(-0.004, 0.004)  # the range a single category at 0 gets
        axis.updateAutoSIPrefix()
        assert not axis.autoSIPrefix and "x0.001" not in axis.labelString()


def _shown(qtbot, store: RunStore, width: int, height: int) -> SummaryPanel:
    """A Summary panel of ``store`` on screen at ``width`` x ``height``, drawn."""
    p = SummaryPanel(store)
    qtbot.addWidget(p)
    p.resize(width, height)
    p.show()
    qtbot.waitExposed(p)
    p.refresh()
    qtbot.wait(50)
    return p


def test_the_legend_covers_no_box_whisker_or_seed_and_is_whole_at_1280(qtbot):
    """At 1280x800 (about 850 x 500 px for the panel) the legend inside the box plot covered a whisker and seed
    dots and its last entry ("mean ± 95 % CI") was cut at the plot's edge: it has its own row under the plots."""
    store = RunStore()
    store.ingest(syn.events(arms=("none", "rbm", "dae")))
    p = _shown(qtbot, store, 850, 500)
    legend = p.active_legend()
    assert legend is p.legend and legend.isVisible() and len(legend.items) == 4
    rect = legend.sceneBoundingRect()
    view = p.graphics.mapToScene(p.graphics.viewport().rect()).boundingRect().adjusted(-1, -1, 1, 1)
    assert view.contains(rect), (rect, view)
    for plot in (p.box_plot, p.diff_plot):
        assert not rect.intersects(plot.vb.sceneBoundingRect()), plot.titleLabel.text
        assert plot.vb.sceneBoundingRect().height() >= 150
    for _sample, label in legend.items:
        assert view.contains(label.sceneBoundingRect()), label.text


def test_a_title_with_markup_is_never_cut_inside_a_tag(qtbot):
    """The box plot's title carries an HTML note with n < 3 seeds; on a narrow panel the eliding title leaves it
    whole rather than cutting the markup (plain titles are elided with "…")."""
    store = RunStore()
    store.ingest(syn.events(seeds=(0, 1)))
    p = _shown(qtbot, store, 380, 400)
    title = p.box_plot.titleLabel
    assert "<br>" in title.text and "not enough seeds" in title.item.toPlainText()
    assert "<" not in title.item.toPlainText()


def test_an_early_stopped_run_shows_its_selected_epochs_test_error(qtbot, tmp_path):
    """finetune.patience: each seed's box value is the test error at its best-validation epoch (recomputed here from
    metrics.csv), not at its last epoch, live and replayed; the HParams panel reads the same owner."""
    import csv

    from desktop_app.core.engine.run import run_experiment
    from desktop_app.core.lab.hparams import final_test_errors
    from desktop_app.core.runfolder import replay
    from tests.core.test_early_stopping import early_cfg

    run_dir = tmp_path / "run"
    events = list(run_experiment(early_cfg(**{"execution.backend": "inline"}), None, run_dir))
    valid, test = {}, {}
    with open(run_dir / "metrics.csv", newline="") as fh:
        for r in csv.DictReader(fh):
            if r["phase"] == "finetune" and int(r["epoch"]) >= 1:
                table = valid if r["split"] == "valid" else test if r["split"] == "test" else {}
                table.setdefault(int(r["seed"]), {})[int(r["epoch"])] = float(r["error"])
    best = {s: min(v, key=lambda e: (v[e], e)) for s, v in valid.items()}
    expected = {s: 100 * test[s][best[s]] for s in best}
    assert any(test[s][max(test[s])] != test[s][best[s]] for s in best)  # the last epoch would read otherwise
    for source in (events, list(replay(run_dir))):
        store = RunStore()
        store.ingest(source, replayed=source is not events)
        p = SummaryPanel(store)
        qtbot.addWidget(p)
        (none,) = p.summaries
        assert none.values == pytest.approx(expected)
        assert final_test_errors(store) == {"none": pytest.approx(expected)}
