"""What a user sees in the Summary panel for a claim's run folder agrees with the reproduce report (issue 26, item 5).

The run folder is opened as the window opens it (``RunStore.load_run``: the replay), and the numbers in Summary's
``data_table`` (the table and its CSV) are compared with the claim's own evaluation of the same folder
(``verdicts.eval_*``, ``mnist_baseline.eval_mnist_baseline``: the numbers the report prints): every arm's test error
with its 95 % interval, each arm's paired difference to random init with its interval (the report's gains are
none - arm: minus Summary's arm - none), the same seeds, the selected epoch under early stopping, and the seeds the
width and labels claims leave out (random init on its plateau) shown as rows of their own.
"""

from __future__ import annotations

import pytest

from desktop_app.core.reproduce import mnist_baseline, verdicts
from desktop_app.core.stats import STUCK_ERROR
from desktop_app.ui.panels.summary import SummaryPanel
from desktop_app.ui.run_store import RunStore
from tests.core.test_reproduce_evidence import SEEDS, curves_run, t_interval

FLAT = {"train": [0.3, 0.1], "test": [0.6, 0.5]}  # two epochs; the final test error is set per seed


def open_summary(qtbot, run_dir) -> SummaryPanel:
    """The Summary panel of the run folder opened as the window opens it (replayed into a RunStore), drawn."""
    store = RunStore()
    store.load_run(run_dir)
    panel = SummaryPanel(store)
    qtbot.addWidget(panel)
    panel.ensure_current()
    return panel


def summary_rows(qtbot, run_dir, panel: SummaryPanel | None = None) -> dict[tuple[str, str], dict]:
    """(arm, seeds_kept) -> Summary's data_table row as a dict."""
    panel = panel or open_summary(qtbot, run_dir)
    columns, rows = panel.data_table()
    out = {}
    for row in rows:
        r = dict(zip(columns, row, strict=True))
        out[(r["arm"], r["seeds_kept"])] = r
    assert panel.table.rowCount() == len(rows)
    return out


def percent(values) -> list[float]:
    return [100 * v for v in values]


def assert_gain(row: dict, gain: float, lo: float, hi: float, n: int) -> None:
    """Summary's arm - none (points) is minus the report's gain none - arm (a fraction), its interval mirrored."""
    assert row["diff_n"] == n
    assert [-row["diff_mean"], -row["diff_ci_hi"], -row["diff_ci_lo"]] == pytest.approx(percent([gain, lo, hi]))


def test_a_labels_run_with_plateau_seeds_shows_the_reports_gains_and_which_seeds_it_left_out(qtbot, tmp_path):
    """Random init of seed 0 stayed on the plateau (91 % test error): the report's labels and width gains leave it
    out and the regulariser's table keeps it; Summary shows both, with the same numbers."""
    errors = {"none": {0: 0.91, 1: 0.30, 2: 0.34, 3: 0.31}, "rbm": {0: 0.20, 1: 0.18, 2: 0.21, 3: 0.19},
              "dae": {0: 0.22, 1: 0.17, 2: 0.25, 3: 0.24}}
    run = curves_run(tmp_path / "labels-100", {a: {s: FLAT for s in SEEDS} for a in errors}, errors)
    more = {"none": {0: 0.20, 1: 0.15, 2: 0.17, 3: 0.16}, "rbm": dict.fromkeys(SEEDS, 0.10),
            "dae": dict.fromkeys(SEEDS, 0.11)}
    many = curves_run(tmp_path / "labels-1000", {a: {s: FLAT for s in SEEDS} for a in more}, more)
    evidence = verdicts.eval_labels({"labels=100": run, "labels=1000": many}, False)
    labels, markdown = evidence.numbers["labels=100"], evidence.markdown
    regulariser = verdicts.eval_regulariser({"regulariser": run}, False).numbers
    panel = open_summary(qtbot, run)
    rows = summary_rows(qtbot, run, panel)

    assert errors["none"][0] > STUCK_ERROR
    for arm in ("rbm", "dae"):
        report = labels[arm]
        assert report["plateau_seeds"] == [0] and report["seeds"] == 3
        off, every = rows[(arm, "off plateau")], rows[(arm, "all")]
        assert off["plateau_seeds"] == every["plateau_seeds"] == "0"
        assert_gain(off, report["gain"], *report["gain_ci"], n=3)  # the judged gain, seeds 1-3
        assert -every["diff_mean"] == pytest.approx(100 * report["gain_all_seeds"])  # reported beside it
        table = regulariser[arm]  # the regulariser's arm table: every seed
        assert [every["mean"], every["ci_lo"], every["ci_hi"]] == pytest.approx(
            percent([table["test_error"], *table["test_error_ci"]]))
        assert [every["diff_mean"], every["diff_ci_lo"], every["diff_ci_hi"]] == pytest.approx(
            percent([table["paired_diff_error"], *table["paired_diff_error_ci"]]))
        assert every["t_pvalue"] == pytest.approx(table["paired_t_p"])
        assert every["n"] == every["diff_n"] == len(SEEDS)
    # the random-init arm over the seeds off the plateau: the report's "test error % none (off the plateau)"
    none_off = rows[("none", "off plateau")]
    assert none_off["values"] == ";".join(f"s{s}={100 * errors['none'][s]!r}" for s in (1, 2, 3))
    assert none_off["n"] == 3 and none_off["diff_n"] == ""
    assert [none_off["mean"], none_off["ci_lo"], none_off["ci_hi"]] == pytest.approx(
        percent(t_interval([errors["none"][s] for s in (1, 2, 3)])))
    assert f"| labels=100 | rbm | 1 | {-rows[('rbm', 'off plateau')]['diff_mean']:.2f} [" in markdown
    # drawn: the title names the seed, and beside each arm's difference the one over the seeds off the plateau
    assert "plateau" in panel.plateau_note and "seed 0" in panel.plateau_note
    assert list(panel.off_dots.getData()[1]) == pytest.approx([rows[(a, "off plateau")]["diff_mean"]
                                                                for a in ("rbm", "dae")])
    # each arm's row over the seeds off the plateau under the arm's own, its tooltip naming the arm (the arm column
    # was 216 px wide with "none (random init), off the plateau" and the table scrolled sideways at 1280x800)
    assert [panel.table.item(r, 1).text() for r in range(panel.table.rowCount())] == [
        "none (random init)", "↳ off the plateau", "rbm", "↳ off the plateau", "dae", "↳ off the plateau"]
    assert [panel.table.item(r, 1).toolTip().split(" without seeds ")[0] for r in (1, 3, 5)] == [
        "none (random init)", "rbm", "dae"]


def test_a_run_without_plateau_seeds_has_no_extra_rows(qtbot, tmp_path):
    errors = {"none": {s: 0.30 + 0.01 * s for s in SEEDS}, "dae": {s: 0.20 + 0.02 * (s % 2) for s in SEEDS}}
    run = curves_run(tmp_path / "run", {a: {s: FLAT for s in SEEDS} for a in errors}, errors)
    rows = summary_rows(qtbot, run)
    assert set(rows) == {("none", "all"), ("dae", "all")}
    assert rows[("dae", "all")]["plateau_seeds"] == ""
    gain = verdicts.eval_width({"width=25": run, "width=500": run}, False).numbers["width=25"]["dae"]
    assert gain["plateau_seeds"] == [] and gain["gain_all_seeds"] == pytest.approx(gain["gain"])
    assert_gain(rows[("dae", "all")], gain["gain"], *gain["gain_ci"], n=len(SEEDS))


def test_an_early_stopped_claim_run_shows_the_reports_selected_epoch_numbers(qtbot, tmp_path):
    """The mnist-baseline claim's evaluation of a run made here with early stopping (each seed read at its
    best-validation epoch): per arm its test error and interval, and the paired gain of each pre-trained arm."""
    from desktop_app.core.engine.run import run_experiment
    from desktop_app.core.events import RunFinished
    from desktop_app.core.runfolder import read_metrics
    from desktop_app.core.runfolder.metrics import final_epochs, run_patience
    from tests.core.test_early_stopping import EARLY
    from tests.core.test_properties import small

    cfg = small(**{**EARLY, "arms": ["none", "rbm", "dae"], "seeds.count": 3, "finetune.epochs": 8,
                   "pretraining.rbm.epochs": 1, "execution.backend": "inline"})
    run_dir = tmp_path / "run"
    events = list(run_experiment(cfg, None, run_dir))
    assert isinstance(events[-1], RunFinished) and events[-1].status == "completed", events[-1].message
    rows = read_metrics(run_dir)
    last = {}
    for r in rows:
        if r["phase"] == "finetune":
            last[(r["arm"], int(r["seed"]))] = max(last.get((r["arm"], int(r["seed"])), 0), int(r["epoch"]))
    selected = final_epochs(rows, run_patience(run_dir))
    assert any(e < last[(a, s)] for a, by in selected.items() for s, e in by.items())  # not all the last epoch
    ev = mnist_baseline.eval_mnist_baseline({"mnist": run_dir}, True)
    shown = summary_rows(qtbot, run_dir)
    for arm, report in ev.numbers["arms"].items():
        n, mean, lo, hi = report["test_error"]
        row = shown[(arm, "all")]
        assert row["n"] == n == 3
        assert [row["mean"], row["ci_lo"], row["ci_hi"]] == pytest.approx(percent([mean, lo, hi]))
        if arm != "none":
            gain = ev.intervals[f"gain[{arm}]"]
            assert_gain(row, gain.mean, gain.lo, gain.hi, n=gain.n)


def test_a_unit_stopped_before_its_first_epoch_has_no_final_value_in_either(qtbot, tmp_path):
    """Fine-tuning epoch 0 is the untrained net's evaluation: the report reads no final value for a unit that has
    only it (``runfolder.metrics.final_values``), and Summary showed its error as a result."""
    errors = {"none": {s: 0.30 + 0.01 * s for s in SEEDS}, "dae": {s: 0.20 + 0.01 * s for s in SEEDS}}
    curves = {a: {s: FLAT for s in SEEDS} for a in errors}
    curves["dae"][3] = {"train": [2.3], "test": [2.3]}  # stopped after epoch 0
    errors["dae"][3] = 0.9
    run = curves_run(tmp_path / "run", curves, errors)
    assert sorted(verdicts.final_by_arm(run)["dae"]) == [0, 1, 2]
    row = summary_rows(qtbot, run)[("dae", "all")]
    assert row["n"] == row["diff_n"] == 3
    assert row["values"] == ";".join(f"s{s}={100 * errors['dae'][s]!r}" for s in (0, 1, 2))
