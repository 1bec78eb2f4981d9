"""The lab model without Qt: events into per-run data, follow-live vs looking at a replay, open/close, and replay of
a real run folder equal to ingesting the same run live."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from desktop_app.core.events import (
    AnalysisFinished,
    CheckpointSaved,
    EpochMetrics,
    FilterSnapshot,
    PretrainEpoch,
    ProbeOutputs,
    Progress,
    RunFinished,
    RunStarted,
)
from desktop_app.core.lab import LabModel, RunData, StoreChange
from desktop_app.core.lab.store import FILTERS, METRICS, RUN, STATUS
from tests.analysis_runs import OUTPUT_VARIANCE, run_events
from tests.pause import HANG_S  # a limit that only catches a hang

ROOT = Path(__file__).resolve().parents[2]


def metrics(arm: str, seed: int, epoch: int) -> EpochMetrics:
    v = 1.0 / (epoch + 1) + 0.01 * seed + (0.1 if arm == "none" else 0.0)
    return EpochMetrics(arm, seed, epoch, v, v / 2, v + 0.1, v / 2, v + 0.2, v / 3)


def run(run_dir: str, epochs: int = 3, arms=("none", "dae"), seeds=(0, 1), status: str = "completed") -> list:
    """A synthetic run, unit after unit, as the engine emits it."""
    out: list = [RunStarted(run_dir, Path(run_dir).name, tuple(arms), tuple(seeds), "cpu", 100)]
    for seed in seeds:
        for arm in arms:
            out.append(FilterSnapshot(arm, seed, "init", 0, np.full((4, 9), seed, np.float32), (1, 3, 3)))
            out += [metrics(arm, seed, e) for e in range(epochs)]
    return out + ([RunFinished(status, run_dir, 1.0)] if status else [])


def content(data: RunData) -> dict:
    """Everything a panel can read from a run's data, as plain comparable values."""
    units = {}
    for arm, seed in data.units():
        u = data.unit(arm, seed)
        units[(arm, seed)] = {
            "epochs": u.epochs.tolist(), "metrics": u.metrics.tolist(),
            "recon": {k: v.tolist() for k, v in u.recon.items()},
            "filters": [(p, e, w.tolist()) for p, e, w in data.filters(arm, seed)], "shape": u.filter_input_shape,
            "probes": {int(e): p.tolist() for e, p in zip(*data.probe_outputs(arm, seed), strict=True)},
            "checkpoints": u.checkpoints,
        }
    return {"units": units, "run_dir": data.run_dir, "name": data.name, "arms": data.arms, "seeds": data.seeds,
            "device": data.device, "status": data.status, "analyses": sorted(data.analyses)}


class Recorder:
    """Subscribes to every callback of a model, as the window does."""

    def __init__(self, model: LabModel) -> None:
        self.changes: list[StoreChange] = []
        self.shown: list[str] = []
        self.live: list[tuple[str, bool]] = []
        self.runs: list[tuple[str, ...]] = []
        model.events.changed.connect(self.changes.append)
        model.events.shown.connect(self.shown.append)
        model.events.live.connect(lambda d, active: self.live.append((d, active)))
        model.events.runs.connect(self.runs.append)


def test_the_lab_model_imports_neither_qt_nor_torch():
    code = ("import sys, desktop_app.core.lab; "
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('PySide6', 'pyqtgraph', 'superqt', 'torch')); "
            "print(bad); sys.exit(1 if bad else 0)")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=HANG_S)
    assert done.returncode == 0, done.stdout + done.stderr


def test_ingest_fills_the_shown_run_and_reports_one_change_per_batch():
    model = LabModel()
    seen = Recorder(model)
    model.ingest(run("/w/a"))
    data = model.shown
    assert model.shown_dir == "/w/a" and model.runs["/w/a"] is data and seen.shown == ["/w/a"]
    assert data.units() == [("none", 0), ("none", 1), ("dae", 0), ("dae", 1)]
    assert data.curve("dae", 1, "test_error")[0].tolist() == [0, 1, 2]
    epochs, values, seeds = data.metric_matrix("none", "test_nll")
    np.testing.assert_allclose(values, [[metrics("none", s, e).test_nll for e in range(3)] for s in (0, 1)])
    assert data.status == "completed" and seeds == [0, 1]
    (change,) = seen.changes
    assert change.kinds == {RUN, FILTERS, METRICS, STATUS} and len(change.units) == 4
    # the same events again (a replay, then the live tail) overwrite rather than duplicate
    model.ingest(run("/w/a")[1:])
    assert model.shown is data and data.unit("none", 0).epochs.tolist() == [0, 1, 2]
    assert len(data.filters("none", 0)) == 1 and seen.changes[-1].kinds == {FILTERS, METRICS, STATUS}


def test_interleaved_units_equal_units_one_after_another():
    """Units trained in parallel deliver their events interleaved: the data per unit is the same."""
    sequential, interleaved = LabModel(), LabModel()
    events = run("/w/p", epochs=4)
    sequential.ingest(events)
    head, body, tail = events[:1], events[1:-1], events[-1:]
    by_unit: dict = {}
    for ev in body:
        by_unit.setdefault((ev.arm, ev.seed), []).append(ev)
    mixed = [ev for step in zip(*by_unit.values(), strict=True) for ev in reversed(step)]
    interleaved.ingest(head)
    for i in range(0, len(mixed), 3):  # in small batches, as the worker coalesces them
        interleaved.ingest(mixed[i:i + 3])
    interleaved.ingest(tail)
    assert content(interleaved.shown) == content(sequential.shown)


def test_a_new_live_run_takes_over_unless_another_run_is_opened():
    opened = {"/w/past": run("/w/past", status="stopped")}
    model = LabModel(replay=lambda path: iter(opened[str(path)]))
    seen = Recorder(model)
    live = run("/w/live", epochs=2, status="")
    model.ingest_live(live[:3])
    assert model.showing_live and model.follow_live and model.live_active and seen.live == [("/w/live", True)]
    assert model.shown.unit("none", 0).epochs.tolist() == [0]
    # the user opens a past run: the panels show it, the live run keeps filling in the background
    model.open("/w/past")
    assert model.shown_dir == "/w/past" and not model.follow_live and model.shown.replayed
    assert model.shown.status == "stopped" and seen.changes[-1].kinds == {RUN}
    n = len(seen.changes)
    model.ingest_live(live[3:])
    assert model.shown_dir == "/w/past" and len(seen.changes) == n  # nothing the panels show changed
    assert model.runs["/w/live"].unit("dae", 1).epochs.tolist() == [0, 1]
    assert set(model.runs) == {"/w/live", "/w/past"}
    # opening the live run follows it again without a replay (its data already holds every event)
    model.open("/w/live")
    assert model.showing_live and model.follow_live and model.shown.unit("dae", 1).epochs.tolist() == [0, 1]
    assert set(model.runs) == {"/w/live"}  # the past run was only shown, so it closed
    model.ingest_live([RunFinished("completed", "/w/live", 2.0)])
    assert model.shown.status == "completed" and seen.live[-1] == ("/w/live", False) and not model.live_active
    # while looking at a replay, the next live run (a queued one) takes over: the window's behaviour, kept
    model.open("/w/past")
    model.ingest_live(run("/w/next", epochs=1, status=""))
    assert model.shown_dir == "/w/next" and model.follow_live and set(model.runs) == {"/w/next"}
    assert seen.shown[-2:] == ["/w/past", "/w/next"]


def test_open_failure_changes_nothing_and_clear_shows_no_run():
    def replay(path):
        yield from run(str(path))[:4]
        raise ValueError(f"{path}/metrics.csv: bad row")

    model = LabModel(replay=replay)
    model.ingest(run("/w/a"))
    before = model.shown
    with pytest.raises(ValueError, match="bad row"):
        model.open("/w/broken")
    assert model.shown is before and set(model.runs) == {"/w/a"}
    seen = Recorder(model)
    model.clear()
    assert model.shown_dir == "" and not model.shown.has_data() and seen.changes == [StoreChange(frozenset({RUN}),
                                                                                                  frozenset())]
    assert model.runs == {}


def test_runs_opened_beside_the_shown_one_stay_until_closed():
    """What a comparison needs: several open runs, each with its own data, one of them shown."""
    folders = {f"/w/{n}": run(f"/w/{n}", epochs=2 + i) for i, n in enumerate("abc")}
    model = LabModel(replay=lambda path: iter(folders[str(path)]))
    seen = Recorder(model)
    model.open("/w/a")
    model.open("/w/b", show=False)
    model.open("/w/c", show=False)
    assert model.shown_dir == "/w/a" and list(model.runs) == ["/w/a", "/w/b", "/w/c"]
    assert [len(model.runs[d].unit("none", 0).epochs) for d in folders] == [2, 3, 4]
    assert model.is_kept("/w/b") and seen.runs[-1] == ("/w/a", "/w/b", "/w/c")
    model.show("/w/b")
    assert list(model.runs) == ["/w/b", "/w/c"] and model.shown.unit("none", 0).epochs.tolist() == [0, 1, 2]
    model.close("/w/c")
    assert list(model.runs) == ["/w/b"]
    model.close("/w/b")
    assert model.runs == {} and model.shown_dir == ""
    with pytest.raises(KeyError):
        model.show("/w/a")


def test_a_resumed_live_run_shows_its_history_first():
    history = run("/w/r", epochs=3, status="stopped")
    model = LabModel(replay=lambda path: iter(history))
    model.ingest_live([RunStarted("/w/r", "r", ("none", "dae"), (0, 1), "cpu", 100, resumed=True),
                       metrics("none", 0, 3)])
    data = model.shown
    assert model.showing_live and not data.replayed and data.status == "running"
    assert data.unit("none", 0).epochs.tolist() == [0, 1, 2, 3] and data.unit("dae", 1).epochs.tolist() == [0, 1, 2]


def test_a_resumed_run_whose_folder_cannot_be_read_still_shows_live():
    def replay(path):
        raise FileNotFoundError(f"{path}/config.toml")

    model = LabModel(replay=replay)
    model.ingest_live([RunStarted("/gone", "g", ("none",), (0,), "cpu", 10, resumed=True), metrics("none", 0, 5),
                       Progress("none", 0, "finetune", -1, 6, 9, 5, 10, 1.0)])
    assert model.shown.unit("none", 0).epochs.tolist() == [5] and model.shown.progress.epoch == 6


@pytest.mark.parametrize("overrides", [{}, {k: v for k, v in OUTPUT_VARIANCE.items()
                                            if k in ("kind", "output_variance")}], ids=["standard", "output-variance"])
def test_replaying_a_real_run_folder_equals_ingesting_it_live(tmp_path, overrides):
    events = run_events(tmp_path / "run", **overrides)
    assert isinstance(events[-1], RunFinished) and events[-1].status == "completed"
    live = LabModel()
    for i in range(0, len(events), 7):  # coalesced batches, as the worker delivers them
        live.ingest_live(events[i:i + 7])
    replayed = LabModel()
    replayed.open(tmp_path / "run")
    a, b = content(live.shown), content(replayed.shown)
    assert a["units"] or a["analyses"]
    if overrides:
        assert a["analyses"] == ["output_variance"] and any(isinstance(e, AnalysisFinished) for e in events)
    else:
        assert any(isinstance(e, ProbeOutputs) for e in events) and any(isinstance(e, PretrainEpoch) for e in events)
        assert any(isinstance(e, CheckpointSaved) for e in events)
    assert a == b
    assert not live.shown.replayed and replayed.shown.replayed


def test_a_refused_run_leaves_the_live_runs_status_alone():
    """A queued run whose folder is locked ends before its RunStarted: its RunFinished is about no open run."""
    model = LabModel()
    model.ingest_live(run("/w/live", epochs=1))
    seen = Recorder(model)
    model.ingest_live([RunFinished("refused", "/w/locked", 0.0, "locked by another writer")])
    assert model.shown.status == "completed" and model.runs.keys() == {"/w/live"} and seen.changes == []
