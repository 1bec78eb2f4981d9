"""Comparisons in the Qt-free lab model: several open runs labelled by what differs, live runs keep streaming into a
comparison, failures change nothing, and showing a run ends it."""

from __future__ import annotations

from pathlib import Path

import pytest

from desktop_app.core.config import ExperimentConfig, replace
from desktop_app.core.config.diff import differing_fields, run_label
from desktop_app.core.events import RunFinished
from desktop_app.core.lab import LabModel
from desktop_app.core.lab.comparison import labels_for
from desktop_app.core.lab.store import METRICS
from tests.core.test_lab_model import metrics, run


def config(lr: float = 0.1, epochs: int = 3) -> ExperimentConfig:
    base = ExperimentConfig(name="c")
    return replace(base, finetune=replace(base.finetune, lr=lr, epochs=epochs))


CONFIGS = {"/w/a": config(0.1), "/w/b": config(0.05), "/w/c": config(0.02)}


def model_with(runs: dict[str, list], configs: dict[str, ExperimentConfig] = CONFIGS) -> LabModel:
    def read_config(path: Path) -> ExperimentConfig:
        if str(path) not in configs:
            raise OSError(f"{path}: no config.toml")
        return configs[str(path)]

    return LabModel(replay=lambda path: iter(runs[str(path)]), read_config=read_config)


def test_labels_name_what_differs_and_fall_back_to_the_folder():
    reader = lambda p: CONFIGS[str(p)]  # noqa: E731
    fields, labels = labels_for(["/w/b", "/w/a"], reader)
    assert fields == ["finetune.lr"] == differing_fields([CONFIGS["/w/b"], CONFIGS["/w/a"]])
    assert labels == ["lr=0.05", "lr=0.1"] == [run_label(CONFIGS[d], fields) for d in ("/w/b", "/w/a")]
    # nothing differs (the same config twice): each run is its folder's name
    same = {"/w/x": config(), "/w/y": config()}
    assert labels_for(["/w/x", "/w/y"], lambda p: same[str(p)]) == ([], ["x", "y"])
    # a config that cannot be read: that run is named by its folder, the others by what differs among them
    def partial_reader(p):
        if str(p) == "/w/z":
            raise OSError("gone")
        return CONFIGS[str(p)]
    assert labels_for(["/w/a", "/w/b", "/w/z"], partial_reader)[1] == ["lr=0.1", "lr=0.05", "z"]
    # two runs with the same label among others keep apart by their folder names
    dup = {"/w/a": config(0.1), "/w/a2": config(0.1), "/w/b": config(0.05)}
    assert labels_for(["/w/a", "/w/a2", "/w/b"], lambda p: dup[str(p)])[1] == [
        "lr=0.1 (a)", "lr=0.1 (a2)", "lr=0.05"]


def test_compare_keeps_runs_open_in_order_without_changing_the_shown_run():
    runs = {d: run(d, status="completed") for d in CONFIGS}
    model = model_with(runs)
    seen: list = []
    model.events.comparison.connect(seen.append)
    model.open("/w/a")
    comparison = model.compare(["/w/c", "/w/a", "/w/c", "/w/b"])
    assert comparison.run_dirs == ("/w/c", "/w/a", "/w/b") and comparison.fields == ("finetune.lr",)
    assert comparison.labels() == ("lr=0.02", "lr=0.1", "lr=0.05")
    assert model.comparison is comparison and seen == [comparison]
    assert model.shown_dir == "/w/a" and comparison.find("/w/a").data is model.shown  # the open run, no replay
    for r in comparison:
        assert r.data is model.runs[r.run_dir] and r.data.unit("dae", 1).epochs.tolist() == [0, 1, 2]
    # ending it closes the runs opened for it; the shown run stays
    model.end_comparison()
    assert model.comparison is None and seen[-1] is None and set(model.runs) == {"/w/a"}


def test_a_failing_run_changes_nothing_and_showing_a_run_ends_the_comparison():
    runs = {d: run(d) for d in CONFIGS}
    runs["/w/bad"] = []
    model = model_with(runs)

    def broken(path):
        if str(path) == "/w/bad":
            raise ValueError("/w/bad/metrics.csv line 2: bad")
        return iter(runs[str(path)])

    model._replay = broken
    first = model.compare(["/w/a", "/w/b"])
    with pytest.raises(ValueError, match="metrics.csv"):
        model.compare(["/w/c", "/w/bad"])
    assert model.comparison is first and set(model.runs) == {"/w/a", "/w/b"}
    with pytest.raises(ValueError, match="two runs"):
        model.compare(["/w/a", "/w/a"])
    # a new comparison closes the runs only the old one needed
    model.compare(["/w/b", "/w/c"])
    assert set(model.runs) == {"/w/b", "/w/c"}
    # closing a compared run drops it; fewer than two ends the comparison
    model.compare(["/w/a", "/w/b", "/w/c"])
    model.close("/w/b")
    assert model.comparison.run_dirs == ("/w/a", "/w/c") and model.comparison.labels() == ("lr=0.1", "lr=0.02")
    model.show("/w/a")
    assert model.comparison is None and set(model.runs) == {"/w/a"}


def test_a_live_run_in_a_comparison_keeps_receiving_points():
    past = run("/w/a", epochs=3)
    model = model_with({"/w/a": past})
    changed: list = []
    model.events.compared.connect(lambda d, change: changed.append((d, change)))
    live = run("/w/b", epochs=3, status="")
    head = [ev for ev in live if not (hasattr(ev, "epoch") and ev.epoch == 2)]
    tail = [ev for ev in live if hasattr(ev, "epoch") and ev.epoch == 2 and ev.__class__.__name__ == "EpochMetrics"]
    model.ingest_live(head)
    comparison = model.compare(["/w/a", "/w/b"])
    live_data = comparison.find("/w/b").data
    assert live_data is model.runs["/w/b"] and live_data.unit("none", 0).epochs.tolist() == [0, 1]
    model.ingest_live(tail)
    assert live_data.unit("none", 0).epochs.tolist() == [0, 1, 2]
    assert live_data.metric_matrix("dae", "test_nll")[1][1, 2] == metrics("dae", 1, 2).test_nll
    assert [d for d, _ in changed] == ["/w/b"] and changed[0][1].kinds == {METRICS}
    model.ingest_live([RunFinished("completed", "/w/b", 1.0)])
    assert live_data.status == "completed" and model.comparison is comparison  # follow-live did not end it
    # the comparison still holds the live run's data once it is over; ending it keeps the last live run open
    model.end_comparison()
    assert set(model.runs) == {"/w/b"}


def test_examples_per_epoch_from_the_manifest_or_the_config(tmp_path):
    from desktop_app.core.lab.comparison import examples_per_epoch
    from desktop_app.core.runfolder import RunFolder
    from desktop_app.core.runfolder.manifest import write_manifest

    folder = RunFolder(tmp_path)
    write_manifest(folder, {"sizes": {"labelled": 321}})
    assert examples_per_epoch(str(tmp_path), lambda p: config()) == 321
    cfg = config()
    cfg = replace(cfg, data=replace(cfg.data, n_labelled=250))
    assert examples_per_epoch(str(tmp_path / "none"), lambda p: cfg) == 250
    assert examples_per_epoch(str(tmp_path / "none"), lambda p: (_ for _ in ()).throw(OSError("x"))) == 0
