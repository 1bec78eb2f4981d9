"""Comparing runs in the real window: two finished runs that differ in one field, overlaid in Curves (drawn data equal
to the runs' metrics, legend names, a line style per run, each arm its colour in every run), the CSV export equal to
the runs' metrics.csv, exact smoothing, log y per plot, linked x zoom; and a live run in a comparison receives new
points."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import numpy as np
import pyqtgraph as pg
import pytest
from PySide6.QtCore import Qt

from desktop_app.core.config import replace
from desktop_app.core.engine.run import run_experiment
from desktop_app.core.events import EpochMetrics, RunStarted
from desktop_app.core.stats import ema
from desktop_app.ui.exports import ExportOptions, export_panel
from desktop_app.ui.main_window import MainWindow
from desktop_app.ui.panels.base import arm_color
from desktop_app.ui.panels.compare import run_style
from tests.ui.fakes import FakeController
from tests.ui.test_main_window import tiny_config


def tiny(lr: float):
    cfg = tiny_config(name="cmp", epochs=3)
    return replace(cfg, finetune=replace(cfg.finetune, lr=lr), seeds=replace(cfg.seeds, count=2))


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory) -> list[Path]:
    root = tmp_path_factory.mktemp("cmp")
    dirs = []
    for lr in (0.1, 0.05):
        run_dir = root / f"run-lr{lr}"
        events = list(run_experiment(tiny(lr), None, run_dir))
        assert events[-1].status == "completed", events[-1].message
        dirs.append(run_dir)
    return dirs


@pytest.fixture
def window(qtbot):
    window = MainWindow(FakeController())
    qtbot.addWidget(window)
    window.show()
    return window


def metrics_rows(run_dir: Path) -> list[dict[str, str]]:
    with open(run_dir / "metrics.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def drawn(panel, key: str) -> dict[str, pg.PlotDataItem]:
    """The named lines of one plot of the Curves panel, by legend name."""
    return {i.name(): i for i in panel.plots[key].listDataItems() if i.name()}


def test_compare_two_finished_runs_in_curves(window, two_runs, tmp_path):
    assert window.compare_runs(two_runs)
    curves = window.panel_widgets["Curves"]
    assert window.current_panel() == "Curves" and curves.run_label.text() == "Comparing 2 runs"
    curves.select(metric="NLL", splits=("train", "valid", "test"), band="none")
    curves.ensure_current()
    # one plot per split, their x zoom linked to the first; pre-training in its own plot
    assert curves._arranged == ("train", "valid", "test", "recon")
    train_vb = curves.plots["train"].getViewBox()
    for split in ("valid", "test"):
        assert curves.plots[split].getViewBox().linkedView(pg.ViewBox.XAxis) is train_vb
    # the legend names runs by what differs, with their line styles, then the arms
    texts = [label.text for _, label in curves.compare_legend.items]
    assert texts[:2] == ["lr=0.1 (solid)", "lr=0.05 (dashed)"]
    assert texts[2:4] == ["none (random init)", "dae"]
    # every drawn mean equals the mean over seeds of the runs' metrics.csv, with the run's style and the arm's colour
    arms = ["none", "dae"]
    for i, (run_dir, label) in enumerate(zip(two_runs, ("lr=0.1", "lr=0.05"), strict=True)):
        rows = metrics_rows(run_dir)
        for split in ("train", "valid", "test"):
            lines = drawn(curves, split)
            for arm in arms:
                item = lines[f"{label} · {arm_label(arm)} · {split}"]
                x, y = item.getData()
                per_seed = [[float(r["nll"]) for r in rows if (r["arm"], r["seed"], r["split"], r["phase"]) ==
                             (arm, str(seed), split, "finetune")] for seed in (0, 1)]
                np.testing.assert_array_equal(x, np.arange(4))
                np.testing.assert_allclose(y, np.mean(per_seed, axis=0), rtol=1e-12)
                pen = item.opts["pen"]
                assert pen.style() == run_style(i) and pen.color().name() == arm_color(arm, arms).name()


def arm_label(arm: str) -> str:
    return "none (random init)" if arm == "none" else arm


def test_the_csv_of_a_comparison_equals_the_runs_metrics(window, two_runs, tmp_path):
    window.compare_runs(two_runs)
    curves = window.panel_widgets["Curves"]
    curves.select(splits=("train", "valid", "test"))
    path = curves.export(tmp_path / "cmp.csv")
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    keys = ("arm", "seed", "phase", "layer", "epoch", "split", "nll", "error", "recon_error", "wall_s")
    for run_dir in two_runs:
        exported = sorted(tuple(r[k] for k in keys) for r in rows if r["run"] == run_dir.name and r["row"] == "seed")
        expected = sorted(tuple(r[k] for k in keys) for r in metrics_rows(run_dir))
        assert exported == expected and len(expected) > 0
    assert {r["label"] for r in rows} == {"lr=0.1", "lr=0.05"}
    # the drawn means: per run, arm, split and epoch the mean NLL over the seeds of that run's metrics.csv
    means = [r for r in rows if r["row"] == "mean" and r["phase"] == "finetune"]
    assert means and {r["unit"] for r in means} == {"nats"}
    for r in means:
        run_dir = next(d for d in two_runs if d.name == r["run"])
        values = [float(m["nll"]) for m in metrics_rows(run_dir)
                  if (m["arm"], m["phase"], m["epoch"], m["split"]) == (r["arm"], "finetune", r["epoch"], r["split"])]
        assert float(r["mean"]) == pytest.approx(np.mean(values), rel=1e-6) and int(r["n_seeds"]) == len(values)
    # the export path (as the Export dialog writes): PNG, SVG and CSV, figures carrying both runs' manifests
    png, svg, again = export_panel(curves, ExportOptions(tmp_path / "out", width=800), "cmp")
    assert png.stat().st_size > 1000 and again.read_text() == path.read_text()
    text = svg.read_text()
    assert "run-lr0.1, run-lr0.05" in text and text.count("config_hash") == 2
    # Export all while comparing: the comparing panels carry every compared run's manifest
    window.open_run(two_runs[0])
    window.compare_runs(two_runs)
    bundle = window.export_all(ExportOptions(tmp_path / "all", formats=("svg",)))
    assert not bundle.errors
    assert (tmp_path / "all" / "curves.svg").read_text().count("config_hash") == 2
    assert (tmp_path / "all" / "filters.svg").read_text().count("config_hash") == 1  # the run shown



def _blank_wall_times(run_dir: Path) -> None:
    """Make ``run_dir`` a run written before wall time was recorded: every metrics file's wall_s empty."""
    for path in [run_dir / "metrics.csv", *(run_dir / "metrics").glob("*.csv")]:
        with open(path, newline="") as fh:
            reader = csv.DictReader(fh)
            fields, rows = reader.fieldnames, [{**r, "wall_s": ""} for r in reader]
        with open(path, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fields)
            writer.writeheader()
            writer.writerows(rows)


def test_every_column_of_a_comparisons_csv_is_the_runs_metrics_or_the_line_drawn(window, two_runs, tmp_path):
    """Seed rows carry the metrics file's values and nothing in the drawn-line columns (a wall time the run did not
    record stays empty); mean rows carry the line drawn: x (here labelled examples seen), the mean over seeds, the
    +- std band, the seed count, the smoothed line and the unit, each computed here from the runs' metrics.csv."""
    old = tmp_path / "run-old"
    shutil.copytree(two_runs[1], old)
    _blank_wall_times(old)
    runs = [two_runs[0], old]
    assert window.compare_runs(runs)
    curves = window.panel_widgets["Curves"]
    curves.select(metric="NLL", splits=("test",), band="± std", smoothing=0.6, x="examples seen")
    with open(curves.export(tmp_path / "cmp.csv"), newline="") as fh:
        rows = list(csv.DictReader(fh))
    line_columns = ("x", "mean", "band_lo", "band_hi", "n_seeds", "smoothed", "unit")
    seed_rows = [r for r in rows if r["row"] == "seed"]
    assert {r["phase"] for r in seed_rows} == {"pretrain", "finetune"}
    assert all(r[k] == "" for r in seed_rows for k in line_columns)
    walls = {d.name: {r["wall_s"] for r in seed_rows if r["run"] == d.name and r["phase"] == "finetune"} for d in runs}
    assert walls[old.name] == {""} and all(float(w) > 0 for w in walls[two_runs[0].name])
    means = [r for r in rows if r["row"] == "mean"]
    assert all(r[k] == "" for r in means for k in ("seed", "nll", "error", "recon_error", "wall_s"))
    checked = 0
    for run_dir in runs:
        metrics = metrics_rows(run_dir)
        for arm in ("none", "dae"):
            per_seed = np.array([[float(r["nll"]) for r in metrics if (r["arm"], r["seed"], r["split"], r["phase"])
                                  == (arm, str(seed), "test", "finetune")] for seed in (0, 1)])
            mean, std = per_seed.mean(axis=0), per_seed.std(axis=0, ddof=1)
            smooth = ema(mean, 0.6)
            got = sorted((r for r in means if (r["run"], r["arm"], r["phase"]) == (run_dir.name, arm, "finetune")),
                         key=lambda r: int(r["epoch"]))
            assert [int(r["epoch"]) for r in got] == list(range(len(mean))) and len(mean) == 4
            for e, r in enumerate(got):
                assert (r["split"], r["layer"], r["unit"], int(r["n_seeds"])) == ("test", "-1", "nats", 2)
                assert float(r["x"]) == e * 200.0  # the 200 labelled examples of the manifest, per epoch
                assert float(r["mean"]) == pytest.approx(mean[e], rel=1e-12)
                assert float(r["band_lo"]) == pytest.approx(mean[e] - std[e], rel=1e-12)
                assert float(r["band_hi"]) == pytest.approx(mean[e] + std[e], rel=1e-12)
                assert float(r["smoothed"]) == pytest.approx(smooth[e], rel=1e-12)
                checked += 1
        # the pre-training line: the dae's one layer, its reconstruction error over seeds per pre-training epoch
        recon = np.array([[float(r["recon_error"]) for r in metrics if (r["arm"], r["seed"], r["phase"]) ==
                           ("dae", str(seed), "pretrain")] for seed in (0, 1)])
        got = [r for r in means if (r["run"], r["phase"]) == (run_dir.name, "pretrain")]
        assert recon.shape == (2, 1) and len(got) == 1
        r, mean, std = got[0], recon.mean(axis=0)[0], recon.std(axis=0, ddof=1)[0]
        assert (r["arm"], r["layer"], r["epoch"], r["split"], r["n_seeds"]) == ("dae", "0", "1", "unlabelled", "2")
        assert r["unit"].startswith("recon (per example") and float(r["x"]) == 1.0
        assert float(r["mean"]) == pytest.approx(mean, rel=1e-12)
        assert float(r["smoothed"]) == pytest.approx(mean, rel=1e-12)  # the first value of a bias-corrected average
        assert (float(r["band_lo"]), float(r["band_hi"])) == (pytest.approx(mean - std), pytest.approx(mean + std))
    assert checked == 16


def hand_ema(values: list[float], w: float) -> list[float]:
    """The bias-corrected moving average in closed form: sum_j w^(t-j) (1-w) y_j / (1 - w^(t+1))."""
    return [sum(w ** (t - j) * (1 - w) * values[j] for j in range(t + 1)) / (1 - w ** (t + 1))
            for t in range(len(values))]


def test_every_column_of_a_comparison_csv_is_a_runs_metric_or_the_series_drawn(window, two_runs, tmp_path):
    """Each cell of the comparison CSV, row by row: a "seed" row is a line of its run's metrics.csv (the split
    columns only for the splits shown; an older run without wall times has an empty wall_s, not "nan") with the
    columns of the drawn series empty; a "mean" row is a drawn point, computed here from the metrics files: the
    mean over seeds, mean ± std (ddof 1), the seed count, the smoothed line, x in labelled examples seen and the
    unit, with the per-seed columns empty."""
    older = tmp_path / "run-older"  # the second run as written before wall times were recorded
    shutil.copytree(two_runs[1], older)
    with open(older / "metrics.csv", newline="") as fh:
        kept = [{k: v for k, v in r.items() if k != "wall_s"} for r in csv.DictReader(fh)]
    with open(older / "metrics.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(kept[0]))
        writer.writeheader()
        writer.writerows(kept)
    runs = [two_runs[0], older]
    assert window.compare_runs(runs)
    curves = window.panel_widgets["Curves"]
    curves.select(metric="error", splits=("train", "test"), band="± std", smoothing=0.5, x="examples seen")
    with open(curves.export(tmp_path / "cmp.csv"), newline="") as fh:
        reader = csv.reader(fh)
        columns = next(reader)
        table = [dict(zip(columns, r, strict=True)) for r in reader]
    assert columns == ["run", "label", "row", "arm", "seed", "phase", "layer", "epoch", "split", "nll", "error",
                       "recon_error", "wall_s", "x", "mean", "band_lo", "band_hi", "n_seeds", "smoothed", "unit"]
    drawn_cols = ("x", "mean", "band_lo", "band_hi", "n_seeds", "smoothed", "unit")
    seed_cols = ("seed", "nll", "error", "recon_error", "wall_s")
    for run_dir, label in zip(runs, ("lr=0.1", "lr=0.05"), strict=True):
        rows = [r for r in table if r["run"] == run_dir.name]
        assert {r["label"] for r in rows} == {label}
        metrics = [m for m in metrics_rows(run_dir) if m["phase"] == "pretrain" or m["split"] in ("train", "test")]
        # the seed rows: the metrics file's lines, wall_s "" where it recorded none; nothing of the series drawn
        seeds = [r for r in rows if r["row"] == "seed"]
        assert all(r[c] == "" for r in seeds for c in drawn_cols)
        keys = ("arm", "seed", "phase", "layer", "epoch", "split", "nll", "error", "recon_error", "wall_s")
        assert sorted(tuple(r[k] for k in keys) for r in seeds) == sorted(
            tuple(m.get(k, "") for k in keys) for m in metrics)
        assert any(m["phase"] == "pretrain" for m in metrics) and any(m["phase"] == "finetune" for m in metrics)
        if run_dir == older:
            assert {r["wall_s"] for r in seeds} == {""}
        # the mean rows: one per drawn point, every column computed from the metrics file
        means = [r for r in rows if r["row"] == "mean"]
        assert all(r[c] == "" for r in means for c in seed_cols)
        expected = []
        for arm in ("none", "dae"):
            for split in ("train", "test"):
                per_seed = np.array([[100 * float(m["error"]) for m in metrics
                                      if (m["arm"], m["seed"], m["split"], m["phase"]) ==
                                      (arm, str(seed), split, "finetune")] for seed in (0, 1)])
                mean, std = per_seed.mean(axis=0), per_seed.std(axis=0, ddof=1)
                expected += [((arm, "finetune", -1, e, split, 2, "%"),
                              (200.0 * e, mean[e], mean[e] - std[e], mean[e] + std[e], s))
                             for e, s in enumerate(hand_ema(list(mean), 0.5))]
        per_seed = np.array([[float(m["recon_error"]) for m in metrics if (m["arm"], m["seed"], m["phase"]) ==
                              ("dae", str(seed), "pretrain")] for seed in (0, 1)])
        mean, std = per_seed.mean(axis=0), per_seed.std(axis=0, ddof=1)
        expected += [(("dae", "pretrain", 0, e + 1, "unlabelled", 2, "recon (per example, cross-entropy)"),
                      (e + 1.0, mean[e], mean[e] - std[e], mean[e] + std[e], s))
                     for e, s in enumerate(hand_ema(list(mean), 0.5))]
        got = {(r["arm"], r["phase"], int(r["layer"]), int(r["epoch"]), r["split"], int(r["n_seeds"]), r["unit"]):
               tuple(float(r[c]) for c in ("x", "mean", "band_lo", "band_hi", "smoothed")) for r in means}
        assert len(got) == len(means) == len(expected) == 2 * 2 * 4 + len(per_seed[0]) and per_seed.size
        for key, values in expected:
            assert got[key] == pytest.approx(values, rel=1e-9), key


def test_smoothing_log_y_and_examples_seen(window, two_runs):
    window.compare_runs(two_runs)
    curves = window.panel_widgets["Curves"]
    curves.select(metric="error", splits=("test",), band="± std", smoothing=0.6)
    curves.ensure_current()
    label = "lr=0.05 · dae · test"
    rows = metrics_rows(two_runs[1])
    per_seed = [[100 * float(r["error"]) for r in rows if (r["arm"], r["seed"], r["split"], r["phase"]) ==
                 ("dae", str(seed), "test", "finetune")] for seed in (0, 1)]
    mean = np.mean(per_seed, axis=0)
    line = drawn(curves, "test")[label]
    np.testing.assert_allclose(line.getData()[1], ema(mean, 0.6), rtol=1e-12)
    # the raw mean is drawn faintly behind the smoothed line, in the run's dash pattern
    faint = [i for i in curves.plots["test"].listDataItems() if not i.name()
             and np.allclose(i.getData()[1], mean, rtol=1e-12)]
    assert faint and faint[0].opts["pen"].color().alpha() < 255 and faint[0].opts["pen"].style() == Qt.PenStyle.DashLine
    # log y on the test plot only
    assert not curves.plots["test"].getViewBox().state["logMode"][1]
    curves.set_log_y("test", True)
    assert curves.plots["test"].getViewBox().state["logMode"][1]
    assert not curves.plots["recon"].getViewBox().state["logMode"][1]
    assert [a.isChecked() for a in curves.log_menu.actions()] == [True, False]
    # x by labelled examples seen: epoch x the labelled set (200 examples in the manifest)
    curves.select(x="examples seen")
    curves.ensure_current()
    np.testing.assert_array_equal(drawn(curves, "test")[label].getData()[0], np.arange(4) * 200.0)
    assert curves.plots["test"].getAxis("bottom").labelText == "labelled examples seen"
    # x by wall time: the seeds' mean of the seconds each unit had run at the epoch's end, as recorded in metrics.csv
    curves.select(x="wall time")
    curves.ensure_current()
    walls = [[float(r["wall_s"]) for r in rows if (r["arm"], r["seed"], r["split"], r["phase"]) ==
              ("dae", str(seed), "test", "finetune")] for seed in (0, 1)]
    x = drawn(curves, "test")[label].getData()[0]
    np.testing.assert_allclose(x, np.mean(walls, axis=0), rtol=1e-12)
    assert np.all(np.diff(x) > 0) and x[0] > 0  # the clock runs on; epoch 0 comes after pre-training


def test_a_live_run_in_a_comparison_receives_new_points(window, two_runs):
    live_dir = str(two_runs[0].parent / "live")
    ctrl = window.controller
    ctrl.eventsReady.emit([RunStarted(live_dir, "live", ("none", "dae"), (0,), "cpu", 10)]
                          + [EpochMetrics(a, 0, 0, 2.0, 0.5, 2.1, 0.5, 2.2, 0.5) for a in ("none", "dae")])
    assert window.compare_runs([two_runs[0], live_dir])
    curves = window.panel_widgets["Curves"]
    curves.ensure_current()
    name = f"{Path(live_dir).name} · dae · test"
    assert drawn(curves, "test")[name].getData()[1].tolist() == [2.2]
    ctrl.eventsReady.emit([EpochMetrics("dae", 0, 1, 1.0, 0.2, 1.1, 0.2, 1.5, 0.3)])
    curves.ensure_current()
    assert drawn(curves, "test")[name].getData()[1].tolist() == [2.2, 1.5]
    # opening a run ends the comparison: the panels show that run alone again
    window.open_run(two_runs[1])
    curves.ensure_current()
    assert curves.comparison() is None and curves._arranged == ("metric", "recon")


def final_test_errors(run_dir: Path) -> dict[str, dict[int, float]]:
    last: dict[tuple[str, int], tuple[int, float]] = {}
    for r in metrics_rows(run_dir):
        if r["phase"] == "finetune" and r["split"] == "test":
            key = (r["arm"], int(r["seed"]))
            if key not in last or int(r["epoch"]) > last[key][0]:
                last[key] = (int(r["epoch"]), 100 * float(r["error"]))
    out: dict[str, dict[int, float]] = {}
    for (arm, seed), (_, v) in last.items():
        out.setdefault(arm, {})[seed] = v
    return out


def test_summary_compares_each_arm_across_runs_with_paired_differences(window, two_runs):
    window.compare_runs(two_runs)
    summary = window.panel_widgets["Summary"]
    summary.ensure_current()
    got = [(s.group, s.run, s.arm) for s in summary.summaries]
    assert got == [("none (random init)", "lr=0.1", "none"), ("none (random init)", "lr=0.05", "none"),
                   ("dae", "lr=0.1", "dae"), ("dae", "lr=0.05", "dae")]
    finals = [final_test_errors(d) for d in two_runs]
    for s in summary.summaries:
        expected = finals[s.run_index][s.arm]
        assert s.values == pytest.approx(expected, rel=1e-12)
        if s.run_index == 0:
            assert s.diff is None
        else:  # this run minus the first run, same arm, over the seeds both have
            d = [expected[seed] - finals[0][s.arm][seed] for seed in (0, 1)]
            assert s.diff.seeds == (0, 1) and s.diff.diff.mean == pytest.approx(np.mean(d), rel=1e-12)
    # 2 seeds a run: no boxes (from 3 seeds on, each in its run's line style), every seed a dot; the legend names
    # the runs; the table names the reference run
    assert summary.boxes.opts["pens"] is None and len(summary.seed_dots.data) == 2 * len(summary.summaries)
    # the caption names what the differences are against: the first run, not random init (new-user finding)
    assert "paired difference to the first run" in summary.header.text() and "random init" not in summary.header.text()
    texts = [label.text for _, label in summary.active_legend().items]
    assert summary.active_legend() is summary.compare_legend and not summary.legend.isVisible()
    names = ["1: lr=0.1", "2: lr=0.05"] if summary.numbered else ["lr=0.1", "lr=0.05"]
    assert texts[:4] == ["none (random init)", "dae", *names]
    assert summary.table.horizontalHeaderItem(6).text() == "Minus lr=0.1 (paired)"
    assert summary.table.item(1, 0).text() == "lr=0.05"
    columns, rows = summary.data_table()
    assert [r[columns.index("run")] for r in rows] == ["lr=0.1", "lr=0.05", "lr=0.1", "lr=0.05"]


def test_trajectories_overlay_every_run(window, two_runs):
    window.compare_runs(two_runs)
    panel = window.panel_widgets["Trajectories"]
    panel.ensure_current()
    for i, (run_dir, label) in enumerate(zip(two_runs, ("lr=0.1", "lr=0.05"), strict=True)):
        rows = metrics_rows(run_dir)
        for arm in ("none", "dae"):
            key = f"{label}\x1f{arm}"
            train = [float(r["nll"]) for seed in (0, 1) for r in rows
                     if (r["arm"], r["seed"], r["split"], r["phase"]) == (arm, str(seed), "train", "finetune")]
            x, _ = panel.items[key].getData()
            np.testing.assert_allclose(x, np.log10(train), rtol=1e-12)
            assert {item.opts["pen"].style() for item in panel.lines[key]} == {run_style(i)}  # every shade
            assert panel.items[key].name() == f"{label} · {arm_label(arm)}"
    texts = [label.text for _, label in panel.legend.items]
    assert texts == ["none (random init)", "dae", "lr=0.1 (solid)", "lr=0.05 (dashed)"]
    columns, rows = panel.data_table()
    assert columns[0] == "run" and {r[0] for r in rows} == {"lr=0.1", "lr=0.05"}
    last = panel.data["lr=0.05\x1fdae"]  # (epoch 0 is the same net in both runs: same seed, lr not used yet)
    assert panel.hover_at(last.x[-1], last.y[-1]).startswith("lr=0.05, dae, seed 1, epoch 3")
    window.end_comparison()
    panel.ensure_current()
    assert set(panel.items) == set() or set(panel.items) <= {"none", "dae"}


def test_compare_from_the_runs_pane(window, two_runs, qtbot):
    """Select two runs in the Runs pane, press Compare: the panels overlay them, named by what differs."""
    window.history.set_workspace(two_runs[0].parent)
    assert window.history.wait_loaded(30_000)
    window.history.select_paths(two_runs)
    assert sorted(window.history.selected_run_dirs()) == sorted(two_runs)  # top to bottom, as sorted
    assert window.history.compare_button.isEnabled()
    window.history.compare_button.click()
    comparison = window.lab.comparison
    assert comparison is not None and len(comparison) == 2
    assert sorted(comparison.labels()) == ["lr=0.05", "lr=0.1"]
    assert window.current_panel() in ("Curves", "Summary", "Trajectories")


def paints_anything(item) -> bool:
    """Whether a graphics item draws any pixel of its own (children aside)."""
    from PySide6.QtGui import QImage, QPainter

    image = QImage(300, 200, QImage.Format.Format_ARGB32)
    image.fill(0)
    painter = QPainter(image)
    item.paint(painter, None, None)
    painter.end()
    return any(image.pixel(x, y) for x in range(0, 300, 2) for y in range(0, 200, 2))


def test_no_empty_legend_box_in_a_comparison_or_before_compute(window, two_runs):
    """The Pre-training plot of a comparison names nothing in its own legend (the legend row above does): no empty
    frame on it; nor on Function space before a result."""
    assert window.compare_runs(two_runs)
    curves = window.panel_widgets["Curves"]
    curves.ensure_current()
    assert "recon" in curves._arranged and not curves.recon_legend.items
    assert not paints_anything(curves.recon_legend)
    assert paints_anything(curves.compare_legend)  # a legend with entries still draws its frame
    space = window.panel_widgets["Function space"]
    assert space.result is None and not space.legend.items and not paints_anything(space.legend)


@pytest.mark.parametrize("panel_name", ["Curves", "Summary"])
def test_long_run_names_keep_a_comparison_inside_its_panel(qtbot, two_runs, panel_name, monkeypatch):
    """The legend row of a comparison takes as many columns as the panel's width holds: with a fixed count, long
    run names (runs that differ in several fields) made it wider than the panel and pushed the plots beside it
    past the right edge (at 1400x900 the Pre-training plot was cut off)."""
    from desktop_app.core.lab import comparison as comparison_mod
    from desktop_app.ui.panels import make_panel
    from desktop_app.ui.run_store import RunStore

    def long_label(cfg, fields, fallback=""):
        return f"finetune.lr={cfg['finetune.lr']:g}, pretraining.dae.corruption=0.25, model.activation=sigmoid"

    monkeypatch.setattr(comparison_mod, "run_label", long_label)
    store = RunStore()
    store.model.compare(two_runs)
    panel = make_panel(panel_name, store, None)
    qtbot.addWidget(panel)
    panel.resize(960, 560)
    panel.show()
    qtbot.waitExposed(panel)
    panel.ensure_current()
    qtbot.wait(50)
    legend = panel.compare_legend
    assert legend.scene() is not None and len(legend.items) >= 4
    width = panel.graphics.viewport().width()
    for item in panel.graphics.ci.items:
        assert item.sceneBoundingRect().right() <= width + 1, (type(item).__name__, item.sceneBoundingRect(), width)
    panel.resize(1400, 560)  # wider: back to one row
    qtbot.wait(50)
    assert legend.columnCount == min(len(legend.items), 6 if panel_name == "Summary" else 4)


@pytest.mark.parametrize("panel_name", ["Curves", "Summary"])
def test_labels_longer_than_the_panel_are_elided_and_a_simple_comparison_after_gets_fresh_widths(
        qtbot, two_runs, panel_name, monkeypatch):
    """Issue 27: one run label of 200 characters (every differing field, noise included) is wider than the panel
    in one column too: it is elided with its full text in the tooltip, so the legend and the plots stay inside;
    comparing runs with short labels afterwards gives the legend its short widths back."""
    from desktop_app.core.lab import comparison as comparison_mod
    from desktop_app.ui.panels import make_panel
    from desktop_app.ui.run_store import RunStore

    real_label = comparison_mod.run_label
    noise = ", ".join(f"model.layers.{i}.kernel=5, model.layers.{i}.stride=1, model.layers.{i}.kind=dense"
                      for i in range(3))

    def long_label(cfg, fields, fallback=""):
        return f"finetune.lr={cfg['finetune.lr']:g}, {noise}, threads=2, snapshots.checkpoint_every=5"

    monkeypatch.setattr(comparison_mod, "run_label", long_label)
    store = RunStore()
    store.model.compare(two_runs)
    panel = make_panel(panel_name, store, None)
    qtbot.addWidget(panel)
    panel.resize(960, 560)
    panel.show()
    qtbot.waitExposed(panel)
    panel.ensure_current()
    qtbot.wait(50)
    legend = panel.compare_legend
    width = panel.graphics.viewport().width()
    for item in panel.graphics.ci.items:
        assert item.sceneBoundingRect().right() <= width + 1, (type(item).__name__, item.sceneBoundingRect(), width)
    texts = [label.text for _, label in legend.items]
    elided = [label for _, label in legend.items if "…" in label.text]
    assert elided and all("finetune.lr=" in label.toolTip() for label in elided), texts
    assert all(len(label.toolTip()) > 200 for label in elided)

    monkeypatch.setattr(comparison_mod, "run_label", real_label)
    store.model.compare(list(reversed(two_runs)))
    panel.ensure_current()
    qtbot.wait(50)
    assert not any("…" in label.text for _, label in legend.items)
    assert legend.columnCount == min(len(legend.items), 6 if panel_name == "Summary" else 4)
    assert legend.layout.preferredWidth() < 0.8 * width, legend.layout.preferredWidth()
    assert max(label.item.boundingRect().width() for _, label in legend.items) < 300
    assert panel.compare_legend.sceneBoundingRect().height() < 80  # one row again, not the long run's many


def test_the_bundle_of_a_comparison_documents_every_compared_run(window, two_runs, tmp_path):
    """Issue 27: the export bundle of a comparison copied the config and manifest of the shown run only; now each
    compared run's are under runs/<folder>/ and the README names every run with its reproduce command."""
    from desktop_app.ui.exports import export_bundle

    assert window.compare_runs(two_runs)
    out = tmp_path / "bundle"
    result = export_bundle(window.export_panels(), window.store.run_dir, ExportOptions(folder=out, formats=("csv",)))
    assert not result.errors
    readme = (out / "README.txt").read_text(encoding="utf-8")
    for d in two_runs:
        assert (out / "runs" / d.name / "config.toml").read_bytes() == (d / "config.toml").read_bytes()
        assert (out / "runs" / d.name / "manifest.json").exists()
        assert str(d.resolve()) in readme and f"runs/{d.name}/config.toml" in readme
    assert "Comparison of 2 runs" in readme
    line = next(ln for ln in readme.splitlines() if ln.startswith("Comparison of"))
    assert all(name in line for name in ("Curves", "Summary", "Trajectories", "HParams")), line
    assert "not saved as a run" not in readme  # (seen in the review: a comparison's bundle said so of its runs)


@pytest.mark.parametrize("long", [False, True], ids=["short-label", "long-label"])
def test_the_paired_difference_title_is_whole_in_an_export(qtbot, two_runs, long, monkeypatch):
    """"Paired difference: run − <label>, same arm" was cut in a 1600 px PNG (the export lays the figure out
    900 px wide, then scales): the title names a reference run whose name fits, else "the first run", and is
    drawn whole in the export's layout."""
    from desktop_app.core.lab import comparison as comparison_mod
    from desktop_app.ui.panels import make_panel
    from desktop_app.ui.run_store import RunStore

    if long:
        monkeypatch.setattr(comparison_mod, "run_label", lambda cfg, fields, fallback="": (
            f"finetune.lr={cfg['finetune.lr']:g}, pretraining.dae.corruption=0.25, model.activation=sigmoid"))
    store = RunStore()
    store.model.compare(two_runs)
    panel = make_panel("Summary", store, None)
    qtbot.addWidget(panel)
    panel.resize(700, 560)
    panel.show()
    qtbot.waitExposed(panel)
    panel.ensure_current()
    qtbot.wait(50)
    reference = panel.comparison().runs[0].label
    title = panel.diff_plot.titleLabel
    assert title.text == ("Paired difference vs the first run" if long else f"Paired difference vs {reference}")
    with panel._export_layout():
        assert title.item.toPlainText() == title.text  # whole, not elided
        assert title.item.sceneBoundingRect().width() <= panel.diff_plot.sceneBoundingRect().width()
