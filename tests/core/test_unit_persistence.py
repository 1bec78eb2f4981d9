"""A unit writes its resume state (latest.pt) and metrics file at most every ``LATEST_EVERY_S`` seconds and always
when it ends or stops (issue 25: writing 7 MB with an fsync every epoch was a large share of a unit's time). The
moments are driven by setting the interval (0: every epoch; huge: never on its own), not by the clock."""

import csv
import time
from types import SimpleNamespace

import pytest
import torch

from desktop_app.core import config as c
from desktop_app.core.control import RunControl
from desktop_app.core.engine.run import resume_experiment, run_experiment
from desktop_app.core.events import EpochMetrics, UnitFinished
from desktop_app.core.pretraining import make_pretrainer
from desktop_app.core.runfolder import RunFolder
from desktop_app.core.seedbatch.pretrain import StackedDAE
from desktop_app.core.training import unit as unit_mod
from desktop_app.core.training.checkpoints import read_resume_state

STEPS = ["dense", "autograd"]  # the seed-batch path at K = 1 and the plain unit


def tiny(step: str) -> c.ExperimentConfig:
    return c.from_dict({
        "name": "persist", "arms": ["none", "dae"],
        "data": {"n_labelled": 200, "n_valid": 100, "n_test": 200, "probe_size": 50, "n_unlabelled": 300},
        "model": {"layers": [{"kind": "dense", "units": 16}]},
        "pretraining": {"dae": {"epochs": 2, "batch_size": 20}},
        "finetune": {"epochs": 5, "batch_size": 20, "lr": 0.1, "optimizer": "momentum"},
        "seeds": {"count": 1}, "device": "cpu",
        "execution": {"backend": "inline", "step": "auto" if step == "dense" else "autograd"},
    })


def rows(path) -> list[tuple]:
    """A metrics file's rows without their wall time (a run's own clock)."""
    return [tuple(v for k, v in r.items() if k != "wall_s") for r in csv.DictReader(open(path))]


def latest(run_dir, arm: str) -> dict | None:
    return read_resume_state(RunFolder(run_dir).unit(arm, 0))


def freeze_clock(monkeypatch, interval: float) -> None:
    """The unit's write interval set to ``interval`` seconds on a clock that stands still (the monotonic clock the
    interval is measured on; the wall time of the rows runs on): whether a state is written is the rule's alone."""
    monkeypatch.setattr(unit_mod, "LATEST_EVERY_S", interval)
    monkeypatch.setattr(unit_mod, "time", SimpleNamespace(monotonic=lambda: 1000.0, perf_counter=time.perf_counter))


@pytest.mark.parametrize("step", STEPS)
def test_every_epoch_at_interval_zero(step, tmp_path, monkeypatch):
    """Interval 0 is the old behaviour: when epoch k's metrics arrive, latest.pt holds epoch k - 1 (a state is
    written once 0 seconds have passed: at once, even on a clock that stands still)."""
    freeze_clock(monkeypatch, 0.0)
    seen = []
    for ev in run_experiment(tiny(step), None, tmp_path / "run"):
        if isinstance(ev, EpochMetrics) and ev.arm == "none" and ev.epoch > 0:
            seen.append((ev.epoch, latest(tmp_path / "run", "none")["epoch"]))
    assert seen == [(k, k - 1) for k in range(1, 6)]


@pytest.mark.parametrize("step", STEPS)
def test_the_state_waits_in_memory_and_a_stop_writes_it_and_resume_is_exact(step, tmp_path, monkeypatch):
    """With an interval that never passes (1 s on a clock that stands still) nothing is written during the run;
    stopped after epoch 3's metrics, each unit writes the state and rows of its last finished epoch, and the resumed
    run equals the straight one."""
    straight = list(run_experiment(tiny(step), None, tmp_path / "straight"))
    assert straight[-1].status == "completed"
    freeze_clock(monkeypatch, 1.0)
    control, run_dir = RunControl(), tmp_path / "run"
    completed = []
    for ev in run_experiment(tiny(step), control, run_dir):
        if isinstance(ev, EpochMetrics) and ev.arm == "dae" and ev.epoch == 3:
            assert latest(run_dir, "dae") is None  # not even the pre-trained layer's state was written yet
            metrics = RunFolder(run_dir).unit("dae", 0).metrics_path  # nor the rows: they go with the state
            assert not metrics.exists() or rows(metrics) == [], rows(metrics)
            control.stop()
        if isinstance(ev, UnitFinished) and ev.status == "completed":
            completed.append(ev.arm)
            assert latest(run_dir, ev.arm)["stage"] == "done"  # a finished unit's state is written at once
    assert all(latest(run_dir, arm)["stage"] == "done" for arm in completed)  # a finished unit wrote its end
    state = latest(run_dir, "dae")
    assert (state["stage"], state["epoch"]) == ("finetune", 3)
    unit_rows = rows(RunFolder(run_dir).unit("dae", 0).metrics_path)
    assert max(int(r[4]) for r in unit_rows if r[2] == "finetune") == 3  # the rows the state covers, written
    rest = list(resume_experiment(run_dir))
    assert rest[-1].status == "completed", rest[-1].message
    assert rows(run_dir / "metrics.csv") == rows(tmp_path / "straight" / "metrics.csv")


def test_stacked_dae_check_finds_weights_a_step_left_non_finite():
    """The folded DAE step watches the loss and the gradient's factors; a weight that overflowed (finite factors,
    an infinite product) is found by the epoch's check before the weights reach the seed's layer."""
    cfg = tiny("dense").pretraining.dae
    trainers = [make_pretrainer("dae", torch.nn.Linear(6, 4), "sigmoid", cfg, unit_interval_input=True,
                                generator=torch.Generator().manual_seed(s)) for s in range(2)]
    stacked = StackedDAE(trainers)
    stacked.train_step(torch.rand(2, 5, 6))
    assert stacked.check() == {}
    stacked.W[1, 2, 3] = float("inf")
    bad = stacked.check()
    assert list(bad) == [1] and "weights inf" in str(bad[1])


def stopped_after_epoch_2(tmp_path):
    """A tiny run stopped after random init's fine-tuning epoch 2: (config, run folder, latest.pt path, its state)."""
    cfg = tiny("autograd")
    run_dir, control = tmp_path / "run", RunControl()
    for ev in run_experiment(cfg, control, run_dir):
        if isinstance(ev, EpochMetrics) and ev.arm == "none" and ev.epoch == 2:
            control.stop()
    path = RunFolder(run_dir).unit("none", 0).latest_path
    return cfg, run_dir, path, torch.load(path, weights_only=True)


def test_a_resumed_unit_keeps_its_clock_and_a_done_unit_is_not_trained_again(tmp_path):
    """Stopped after epoch 2, with its state's wall time set to 10^6 s: the resumed unit's epochs report wall times
    from there on; run again once done, the unit only says it is completed."""
    from desktop_app.core.training.unit import prepare_data, train_unit

    cfg, run_dir, path, state = stopped_after_epoch_2(tmp_path)
    assert (state["stage"], state["epoch"]) == ("finetune", 2) and 0 < state["wall_s"] < 1e6
    state["wall_s"] = 1e6
    torch.save(state, path)
    data = prepare_data(cfg, torch.device("cpu"))
    rest = list(train_unit(cfg, "none", 0, run_dir, RunControl(), data))
    walls = [e.wall_s for e in rest if isinstance(e, EpochMetrics)]
    assert len(walls) == 3 and all(w >= 1e6 for w in walls)
    assert latest(run_dir, "none")["stage"] == "done"
    again = list(train_unit(cfg, "none", 0, run_dir, RunControl(), data))
    assert again == [UnitFinished("none", 0, "completed")]


@pytest.mark.parametrize(("wall", "start"), [(1e6, 1e6), (0.5, 0.5), ("missing", 0.0), (-1e6, 0.0),
                                             (float("nan"), 0.0), (float("inf"), 0.0), ("12", 0.0)])
def test_a_resumed_units_clock_starts_at_a_usable_wall_time_else_at_0(tmp_path, monkeypatch, wall, start):
    """The wall time read back from latest.pt is trusted only as a finite, non-negative number (a state from before
    wall time was recorded has none: 0). On a clock that stands still every resumed epoch reports exactly that."""
    from desktop_app.core.training.unit import prepare_data, train_unit

    cfg, run_dir, path, state = stopped_after_epoch_2(tmp_path)
    if wall == "missing":
        del state["wall_s"]
    else:
        state["wall_s"] = wall
    torch.save(state, path)
    monkeypatch.setattr(unit_mod, "time", SimpleNamespace(monotonic=time.monotonic, perf_counter=lambda: 5.0))
    rest = list(train_unit(cfg, "none", 0, run_dir, RunControl(), prepare_data(cfg, torch.device("cpu"))))
    assert [e.wall_s for e in rest if isinstance(e, EpochMetrics)] == [start] * 3


def test_on_a_clock_that_stands_still_a_unit_reports_each_epochs_end_only_at_elapsed_0(
        tmp_path, monkeypatch):
    """A minibatch's Progress at most every PROGRESS_INTERVAL_S: on a perf_counter that stands still, only the ones
    each epoch's end forces (epoch 0's evaluation included), never one per minibatch (the window redraws on each);
    each carries the unit's own clock, the seconds since it started: 0 (the ETA's per-unit rates are built on it)."""
    from desktop_app.core.events import Progress
    from desktop_app.core.training.unit import prepare_data, train_unit

    cfg = tiny("autograd")
    monkeypatch.setattr(unit_mod, "time", SimpleNamespace(monotonic=time.monotonic, perf_counter=lambda: 5.0))
    events = list(train_unit(cfg, "none", 0, tmp_path / "run", RunControl(), prepare_data(cfg, torch.device("cpu"))))
    progress = [e for e in events if isinstance(e, Progress)]
    assert unit_mod.PROGRESS_INTERVAL_S > 0 and isinstance(events[-1], UnitFinished)
    per_epoch = 200 // 20
    assert [e.done_steps for e in progress] == [per_epoch * e for e in range(6)]
    assert {e.elapsed_s for e in progress} == {0.0}
    # the wall time recorded with each epoch's metrics: a unit that was not resumed ran no time before it
    from desktop_app.core.events import EpochMetrics
    assert {e.wall_s for e in events if isinstance(e, EpochMetrics)} == {0.0}


@pytest.mark.parametrize("clock", [None, 0.0])
def test_a_unit_stopped_before_its_first_minibatch_reports_where_it_starts(tmp_path, monkeypatch, clock):
    """A stop that lands before a pre-training unit's first minibatch: its one Progress says nothing is done, at the
    unit's starting point (pre-training layer 0's epoch 0 of its epochs: the phase it was about to run), then the
    stop propagates. It is forced: on a clock standing at 0, where no progress interval has passed, it still comes."""
    from desktop_app.core.control import StopRequested
    from desktop_app.core.events import Progress
    from desktop_app.core.training.unit import prepare_data, train_unit

    if clock is not None:
        monkeypatch.setattr(unit_mod, "time", SimpleNamespace(monotonic=time.monotonic, perf_counter=lambda: clock))
    cfg = tiny("autograd")
    control = RunControl()
    control.stop()
    events = []
    with pytest.raises(StopRequested):
        for ev in train_unit(cfg, "dae", 0, tmp_path / "run", control, prepare_data(cfg, torch.device("cpu"))):
            events.append(ev)
    progress = [e for e in events if isinstance(e, Progress)]
    assert [(e.arm, e.seed, e.phase, e.layer, e.epoch, e.epochs, e.done_steps) for e in progress] == [
        ("dae", 0, "pretrain", 0, 0, 2, 0)]


def test_each_filter_snapshot_written_is_the_first_layers_weights_it_announces(tmp_path):
    """A kept seed's filter snapshots: each file snapshots/<arm>/s<seed>/filters_<phase>_<epoch>.npy holds, in
    float32, exactly the array its FilterSnapshot event carries, the first layer's weights at that point."""
    import numpy as np

    from desktop_app.core.events import FilterSnapshot
    from desktop_app.core.training.unit import prepare_data, train_unit

    cfg = tiny("autograd")
    run = tmp_path / "run"
    events = list(train_unit(cfg, "dae", 0, run, RunControl(), prepare_data(cfg, torch.device("cpu"))))
    snaps = [e for e in events if isinstance(e, FilterSnapshot)]
    assert {e.phase for e in snaps} >= {"pretrain", "finetune"}
    for e in snaps:
        saved = np.load(run / "snapshots" / "dae" / "s0" / f"filters_{e.phase}_{e.epoch:04d}.npy")
        assert saved.dtype == np.float32 and saved.shape == e.weights.shape and saved.ndim == 2
        np.testing.assert_array_equal(saved, e.weights.astype(np.float32))


def test_a_progress_is_due_when_exactly_its_interval_has_passed(tmp_path, monkeypatch):
    """PROGRESS_INTERVAL_S is the most a bar waits: at exactly that many seconds after the last Progress, the next
    minibatch's tick sends one; a moment before, none."""
    from desktop_app.core.training.unit import PROGRESS_INTERVAL_S, UnitRun, prepare_data

    clock = [0.0]  # from 0, so now - last is the interval itself, with no rounding
    monkeypatch.setattr(unit_mod, "time", SimpleNamespace(monotonic=time.monotonic, perf_counter=lambda: clock[0]))
    cfg = tiny("autograd")
    run = UnitRun(cfg, "none", 0, tmp_path / "run", RunControl(), prepare_data(cfg, torch.device("cpu")))
    assert run._progress(force=True) is not None  # the last Progress at 0.0
    clock[0] = PROGRESS_INTERVAL_S * 0.999
    assert run.tick() is None
    clock[0] = PROGRESS_INTERVAL_S
    assert run.tick() is not None
