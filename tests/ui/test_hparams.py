"""The HParams panel and a comparison's label keys and grouping in the real window, on real (tiny) runs: the points
drawn equal each run's final test errors read independently from its metrics.csv, intervals equal scipy's t
interval (none below 3 seeds: the seeds and "n = 2"), a field spanning decades on a log axis, the parallel
coordinates one line per run; grouping by a field gives Curves and Summary one entry per value with the groups'
seeds pooled; the choice is kept in QSettings; CSV/PNG export through the export registry."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pyqtgraph as pg
import pytest
from scipy import stats

from desktop_app.core.config import LayerSpec, replace
from desktop_app.core.engine.run import run_experiment
from desktop_app.core.lab.grouping import ComparisonView, seed_origin
from desktop_app.ui.comparison_view import load_view
from desktop_app.ui.exports import ExportOptions, export_panel
from desktop_app.ui.main_window import MainWindow
from desktop_app.ui.panels.base import arm_label
from tests.ui.fakes import FakeController
from tests.ui.test_compare import final_test_errors, metrics_rows
from tests.ui.test_main_window import tiny_config

# (folder, units, lr, seeds): a width sweep spanning decades (16..256), one width with 2 seeds, one also at lr 0.05
RUNS = (("w16", 16, 0.1, 3), ("w64", 64, 0.1, 2), ("w256", 256, 0.1, 3), ("w64-lr05", 64, 0.05, 2))


def config(units: int, lr: float, seeds: int):
    cfg = tiny_config(name="hp", epochs=2)
    return replace(cfg, model=replace(cfg.model, layers=(LayerSpec("dense", units),)),
                   finetune=replace(cfg.finetune, lr=lr), seeds=replace(cfg.seeds, count=seeds))


@pytest.fixture(scope="module")
def sweep(tmp_path_factory) -> list[Path]:
    root = tmp_path_factory.mktemp("hp")
    dirs = []
    for name, units, lr, seeds in RUNS:
        events = list(run_experiment(config(units, lr, seeds), None, root / name))
        assert events[-1].status == "completed", events[-1].message
        dirs.append(root / name)
    return dirs


@pytest.fixture
def window(qtbot):
    window = MainWindow(FakeController())
    qtbot.addWidget(window)
    window.show()
    return window


def t_interval(values: list[float]) -> tuple[float, float]:
    return stats.t.interval(0.95, len(values) - 1, loc=np.mean(values), scale=stats.sem(values))


def test_hparams_points_equal_the_runs_final_errors_with_t_intervals(window, sweep, tmp_path):
    width = sweep[:3]
    assert window.compare_runs(width)
    panel = window.panel_widgets["HParams"]
    assert window.show_panel("HParams")
    panel.ensure_current()
    assert panel.field == "model.layers.0.units" and panel.axis.log  # 16..256 spans a decade: log x
    assert panel.plot.getAxis("bottom").labelText.endswith("(log scale)")
    finals = {d.name: final_test_errors(d) for d in width}
    units = {name: u for name, u, _, _ in RUNS}
    seen = set()
    for p in panel.points:
        name = Path(p.run_dir).name
        expected = finals[name][p.arm]
        assert p.values == pytest.approx(expected, rel=1e-12) and p.x == pytest.approx(math.log10(units[name]))
        assert p.ci.mean == pytest.approx(np.mean(list(expected.values())), rel=1e-12)
        if len(expected) >= 3:
            assert (p.ci.lo, p.ci.hi) == pytest.approx(t_interval(list(expected.values())), rel=1e-9)
        seen.add((name, p.arm))
    assert seen == {(d.name, arm) for d in width for arm in ("none", "dae")}
    # drawn: the means as lines per arm, bars only where n >= 3, "n = 2" beside the two-seed points
    dae = next(i for i in panel.plot.listDataItems() if i.name() == "dae")
    x, y = dae.getData()
    order = ["w16", "w64", "w256"]
    np.testing.assert_allclose(y, [np.mean(list(finals[n]["dae"].values())) for n in order], rtol=1e-12)
    np.testing.assert_allclose(10 ** x, [16, 64, 256], rtol=1e-12)
    texts = [i.toPlainText() for i in panel._items if hasattr(i, "toPlainText")]
    assert texts == ["n = 2"]  # w64 (its two arms share the note)
    bars = [i for i in panel._items if type(i).__name__ == "ErrorBarItem"]
    assert sum(len(b.opts["x"]) for b in bars) == 4  # w16 and w256, two arms each
    # the parallel coordinates: one line per run, the error axis last, coloured by that error
    assert [a.key for a in panel.axes] == ["model.layers.0.units"] and len(panel.lines) == 3  # seeds: no axis
    for line in panel.lines:
        dae_errors = list(finals[Path(line.run_dir).name]["dae"].values())
        assert line.error == pytest.approx(np.mean(dae_errors), rel=1e-12) and line.n == len(dae_errors)
    errs = [ln.error for ln in panel.lines]
    best = min(panel.lines, key=lambda ln: ln.error)
    assert best.fractions[-1] == 0.0 and max(ln.fractions[-1] for ln in panel.lines) == 1.0
    assert len(errs) == 3
    # export through the registry: PNG, SVG and CSV of exactly the numbers drawn
    png, svg, path = export_panel(panel, ExportOptions(tmp_path / "out", width=900), "hparams")
    assert png.stat().st_size > 1000 and svg.stat().st_size > 1000
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    points = [r for r in rows if r["view"] == "points"]
    assert len(points) == 6
    for r in points:
        expected = list(finals[r["run"]][r["arm"]].values())
        assert float(r["mean"]) == pytest.approx(np.mean(expected), rel=1e-12) and int(r["n"]) == len(expected)
        if len(expected) >= 3:
            assert (float(r["ci_lo"]), float(r["ci_hi"])) == pytest.approx(t_interval(expected), rel=1e-9)
        else:
            assert r["ci_lo"] == r["ci_hi"] == ""
    assert {r["run"] for r in rows if r["view"] == "parallel"} == {"w16", "w64", "w256"}


def test_hparams_series_by_the_other_fields_and_the_parallel_axes(window, sweep):
    window.compare_runs(sweep)
    panel = window.panel_widgets["HParams"]
    window.show_panel("HParams")
    panel.select(field="model.layers.0.units", arm="none")
    assert {p.series for p in panel.points} == {"lr=0.1", "lr=0.05"}  # what differs at units=64
    # the seed count differs too, but it is the sample, not a setting: no axis, no series of its own
    assert [a.key for a in panel.axes] == ["finetune.lr", "model.layers.0.units"]
    assert len(panel.lines) == 4 and all(len(ln.fractions) == 3 for ln in panel.lines)
    panel.select(field="finetune.lr")
    assert not panel.axis.log and list(panel.axis.values) == [0.05, 0.1]
    assert {p.series for p in panel.points} == {"units=16", "units=64", "units=256"}


def test_grouping_pools_seeds_in_curves_and_summary_and_is_kept(window, sweep, qtbot):
    window.compare_runs(sweep)
    curves = window.panel_widgets["Curves"]
    button = curves.view_button
    assert button.isVisible()
    button.rebuild()
    actions = {a.data(): a for a in button.menu_.actions() if a.data()}
    actions[("group", "model.layers.0.units")].trigger()
    comparison = window.lab.comparison
    assert comparison.group_by == "model.layers.0.units"
    assert comparison.labels() == ("units=16", "units=64 (2 runs, n = 4)", "units=256")
    assert load_view() == ComparisonView(None, "model.layers.0.units")  # kept in QSettings for the next session
    assert button.text() == "Grouped by units" and curves.run_label.text() == "Comparing 4 runs in 3 groups"
    # Summary: one box per group value and arm, its seeds the members' own final errors
    summary = window.panel_widgets["Summary"]
    window.show_panel("Summary")
    summary.ensure_current()
    finals = {d.name: final_test_errors(d) for d in sweep}
    group = comparison.runs[1]
    s = next(s for s in summary.summaries if s.run == group.label and s.arm == "dae")
    assert s.ci.n == 4
    for seed, value in s.values.items():
        place, own = seed_origin(seed)
        assert value == pytest.approx(finals[Path(group.members[place].run_dir).name]["dae"][own], rel=1e-12)
    assert len({x.run for x in summary.summaries}) == 3
    # Curves: one mean line per group value and arm, over the pooled seeds
    window.show_panel("Curves")
    curves.select(metric="NLL", splits=("test",), band="none")
    curves.ensure_current()
    line = next(i for i in curves.plots["test"].listDataItems() if i.name() == f"{group.label} · dae · test")
    rows = [r for d in sweep[1::2] for r in metrics_rows(d)
            if (r["arm"], r["split"], r["phase"]) == ("dae", "test", "finetune")]
    expected = [np.mean([float(r["nll"]) for r in rows if r["epoch"] == str(e)]) for e in range(3)]
    np.testing.assert_allclose(line.getData()[1], expected, rtol=1e-12)
    # HParams plots the groups against their field, seeds pooled
    window.show_panel("HParams")
    hp = window.panel_widgets["HParams"]
    hp.ensure_current()
    assert hp.field == "model.layers.0.units" and {p.label for p in hp.points} == set(comparison.labels())
    assert next(p for p in hp.points if p.label == group.label and p.arm == "dae").ci.n == 4
    # label keys: only lr named (a field chosen in the menu); back to the default
    button.choose(None, "")
    button.rebuild()
    actions = {a.data(): a for a in button.menu_.actions() if a.data()}
    actions[("label", "model.layers.0.units")].trigger()  # unchecks it: lr and the seed count name the runs
    assert window.lab.comparison.label_keys == ("finetune.lr", "seeds.count")
    assert window.lab.comparison.labels()[:2] == ("lr=0.1, seeds.count=3 (w16)", "lr=0.1, seeds.count=2")
    assert load_view() == ComparisonView(("finetune.lr", "seeds.count"), "")
    # a new window starts with the view saved last
    button.choose(None, "finetune.lr")
    again = MainWindow(FakeController())
    qtbot.addWidget(again)
    assert again.lab.comparison_view == ComparisonView(None, "finetune.lr")
    button.choose(None, "")
    assert load_view() == ComparisonView()


def test_hparams_without_a_comparison_says_how_to_get_one(window):
    panel = window.panel_widgets["HParams"]
    window.show_panel("HParams")
    panel.ensure_current()
    # the whole sentence in the note below, which wraps (the title was cut to "Compare two or more runs (Runs
    # pane..." at 1400x900), and no numbers on the empty axes (a new user's finding)
    assert panel.plot.titleLabel.text == "Nothing to plot yet" and panel.points == []
    assert panel.note.text.startswith("Compare two or more runs (Runs pane → Compare)")
    assert not any(p.getAxis(side).style["showValues"] for p in (panel.plot, panel.parallel)
                   for side in ("bottom", "left"))
    assert not panel.has_result() and not panel.view_button.isVisible()


def test_a_damaged_saved_view_reads_as_the_default(qtbot):
    from desktop_app.ui import settings as settings_mod
    from desktop_app.ui.comparison_view import GROUP_BY, LABEL_KEYS

    s = settings_mod.app_settings()
    s.setValue(LABEL_KEYS, ["a", "b"])  # a list where a string belongs
    s.sync()
    assert load_view() == ComparisonView()
    s.setValue(LABEL_KEYS, "finetune.lr," + "x" * 5000)  # an over-long key is dropped, the rest kept
    s.setValue(GROUP_BY, "y" * 5000)
    s.sync()
    assert load_view() == ComparisonView()
    s.setValue(GROUP_BY, "finetune.lr")
    s.sync()
    assert load_view() == ComparisonView(("finetune.lr",), "finetune.lr")


def test_the_reports_width_figure_is_the_hparams_plot(qtbot, sweep, tmp_path):
    """The reproduce report's width and label-size claims draw this panel from their runs (report_figures)."""
    from desktop_app.core.reproduce.report import ClaimResult
    from desktop_app.report_figures import _sweep

    result = ClaimResult("width", "w", "s", "supported", "", run_dirs={d.name: str(d) for d in sweep[:3]})
    paths = _sweep(result, tmp_path)
    assert [p.name for p in paths][-1] == "hparams.png" and (tmp_path / "hparams.csv").exists()
    with open(tmp_path / "hparams.csv", newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["view"] == "points"]
    finals = {d.name: final_test_errors(d) for d in sweep[:3]}
    assert {r["field"] for r in rows} == {"model.layers.0.units"} and len(rows) == 6
    for r in rows:
        assert float(r["mean"]) == pytest.approx(np.mean(list(finals[r["run"]][r["arm"]].values())), rel=1e-12)


def test_a_dozen_parallel_axes_keep_their_names_and_values_apart(window, sweep, qtbot, monkeypatch):
    """Issue 27, seen at 1400x900 with a reproduce run beside quick-demo variants: 13 differing fields printed their
    axis names over each other ("batch_sizefinetune.epochs") and values into the next axis. Names now alternate
    between two rows, elided in the middle where even that is too narrow; values are elided before the next axis."""
    from dataclasses import replace as dc_replace

    from desktop_app.ui.panels import hparams as hparams_mod
    from tests.ui.test_window_layout import _text_rects

    real = hparams_mod.parallel_lines

    def many(comparison, arm):
        axes, lines = real(comparison, arm)
        names = ["pretraining.dae.epochs", "finetune.batch_size", "optimizer", "pretraining.rbm.momentum"]
        more = [dc_replace(axes[i % len(axes)], name=f"{names[i % 4]}.{i}") for i in range(12)]
        lines = [dc_replace(ln, fractions=tuple(ln.fractions[i % len(axes)] for i in range(12)) + ln.fractions[-1:])
                 for ln in lines]
        return more, lines

    monkeypatch.setattr(hparams_mod, "parallel_lines", many)
    window.resize(1280, 800)
    window.compare_runs(sweep)
    window.show_panel("HParams")
    panel = window.panel_widgets["HParams"]
    panel.ensure_current()
    qtbot.wait(50)
    assert len(panel.axes) == 12
    axis = panel.parallel.getAxis("bottom")
    ticks = axis._tickLevels[0]
    rects = sorted(_text_rects(axis), key=lambda r: r.left())
    assert len(rects) == len(ticks) == 13, ([t for _, t in ticks], rects, panel.parallel.vb.viewRange())
    rows = {0: [], 1: []}
    for rect, (_pos, text) in zip(rects, sorted(ticks), strict=True):
        rows[1 if text.startswith("\n") else 0].append(rect)
    assert rows[0] and rows[1]  # too many for one row at this width
    qtbot.wait(20)
    assert all(r.bottom() <= axis.geometry().height() + 1 for r in rects), (axis.geometry(), rects)  # none cut
    for row in rows.values():
        inner = [r.adjusted(1, 0, -1, 0) for r in row]
        assert not any(a.intersects(b) for a, b in zip(inner, inner[1:], strict=False))
    vb = panel.parallel.vb
    for item, _text, i in panel._value_texts:
        rect = item.sceneBoundingRect()
        if i < len(panel.axes):  # a field's values end before the next axis
            assert rect.right() <= vb.mapViewToScene(pg_point(i + 1, 0)).x() + 1, (item.textItem.toPlainText(), i)
        assert vb.sceneBoundingRect().left() - 1 <= rect.left() and rect.right() <= vb.sceneBoundingRect().right() + 1


def pg_point(x: float, y: float):
    from PySide6.QtCore import QPointF

    return QPointF(x, y)


def test_hparams_csv_every_column_is_the_plot_drawn_and_the_runs_metrics(window, sweep, tmp_path):
    """Issue 29: every column of every row of the exported CSV, read back from the file, against the items drawn
    (the mean lines, the error bars, the seeds' dots, the parallel lines) and against the runs' metrics.csv and
    configs read here (the RUNS table): final test errors, scipy's t interval, log10 of the width, the fraction of
    each value along its parallel axis (log for the width, linear for the learning rate)."""
    assert window.compare_runs(sweep)
    panel = window.panel_widgets["HParams"]
    assert window.show_panel("HParams")
    panel.select(field="model.layers.0.units", arm="dae")
    (path,) = export_panel(panel, ExportOptions(tmp_path, formats=("csv",)), "hp")
    with open(path, newline="") as fh:
        table = list(csv.reader(fh))
    header, rows = table[0], [dict(zip(table[0], r, strict=True)) for r in table[1:]]
    finals = {d.name: final_test_errors(d) for d in sweep}
    setup = {name: (units, lr, seeds) for name, units, lr, seeds in RUNS}
    points = [r for r in rows if r["view"] == "points"]
    parallel = [r for r in rows if r["view"] == "parallel"]
    assert len(points) + len(parallel) == len(rows)
    assert sorted((r["run"], r["arm"]) for r in points) == sorted((n, a) for n in setup for a in ("none", "dae"))
    labels = {}
    drawn_lines = {item.name(): item.getData() for item in panel.plot.listDataItems() if item.name()}
    bars = [i for i in panel._items if isinstance(i, pg.ErrorBarItem)]
    dots = [i for i in panel._items if isinstance(i, pg.ScatterPlotItem)]
    for r in points:
        units, lr, n = setup[r["run"]]
        expected = finals[r["run"]][r["arm"]]
        assert r["field"] == "model.layers.0.units" and r["value"] == str(units)
        assert float(r["x"]) == pytest.approx(math.log10(units), rel=1e-12)  # 16..256: a log axis
        assert r["series"] == f"lr={lr}"  # what else tells w64 from w64-lr05
        assert int(r["n"]) == n == len(expected)
        seeds = dict(part.split("=") for part in r["seeds"].split(";"))
        assert {int(k[1:]): float(v) for k, v in seeds.items()} == pytest.approx(expected, rel=1e-12)
        mean = float(r["mean"])
        assert mean == pytest.approx(np.mean(list(expected.values())), rel=1e-12)
        if n >= 3:
            lo, hi = t_interval(list(expected.values()))
            assert (float(r["ci_lo"]), float(r["ci_hi"])) == pytest.approx((lo, hi), rel=1e-9)
        else:
            assert r["ci_lo"] == r["ci_hi"] == ""
        labels.setdefault(r["run"], r["label"])
        assert r["label"] == labels[r["run"]]  # one label per run, both arms
        # drawn: the point on its series' mean line, its bar (n >= 3 only) and a dot per seed
        xs, ys = drawn_lines[f"{r['series']} · {arm_label(r['arm'])}"]
        at = np.flatnonzero(xs == float(r["x"]))
        assert len(at) == 1 and ys[at[0]] == pytest.approx(mean, rel=1e-12)
        with_bar = [(b.opts["y"][j] - b.opts["bottom"][j], b.opts["y"][j] + b.opts["top"][j]) for b in bars
                    for j in range(len(b.opts["x"])) if b.opts["x"][j] == float(r["x"]) and b.opts["y"][j] == mean]
        if n >= 3:
            assert with_bar and with_bar[0] == pytest.approx((float(r["ci_lo"]), float(r["ci_hi"])), rel=1e-9)
        else:
            assert not with_bar
        seed_dots = [y for d in dots for x, y in zip(*d.getData(), strict=True) if x == float(r["x"])]
        assert all(any(y == pytest.approx(v, rel=1e-12) for y in seed_dots) for v in expected.values())
    # the parallel view: one row per run and field (the learning rate's axis, then the width's), for the DAE arm
    assert [(r["run"], r["field"]) for r in parallel] == [(n, f) for n in setup
                                                          for f in ("finetune.lr", "model.layers.0.units")]
    drawn_parallel = {i.toolTip().rsplit(": ", 1)[0]: i.getData()[1] for i in panel._parallel_items
                      if isinstance(i, pg.PlotDataItem)}
    for r in parallel:
        units, lr, n = setup[r["run"]]
        expected = finals[r["run"]]["dae"]
        assert r["arm"] == "dae" and r["label"] == labels[r["run"]] and r["series"] == ""
        value, fraction = ((lr, (lr - 0.05) / 0.05) if r["field"] == "finetune.lr"
                           else (units, math.log2(units / 16) / 4))  # linear over 0.05..0.1, log over 16..256
        assert r["value"] == str(value) and float(r["x"]) == pytest.approx(fraction, abs=1e-12)
        assert int(r["n"]) == n and float(r["mean"]) == pytest.approx(np.mean(list(expected.values())), rel=1e-12)
        assert r["ci_lo"] == r["ci_hi"] == r["seeds"] == ""
        axis = 0 if r["field"] == "finetune.lr" else 1
        assert drawn_parallel[r["label"]][axis] == pytest.approx(float(r["x"]), abs=1e-12)  # the line drawn
    assert set(header) == {"view", "run", "label", "series", "arm", "field", "value", "x", "n", "mean", "ci_lo",
                           "ci_hi", "seeds"}  # every column checked above
