"""Early stopping on validation (``finetune.patience``, issue 26): a unit stops ``patience`` epochs after its best
validation error, its selected epoch is that best one, and everything that reports a "final" value reads the
selected epoch's row (the one reducer, ``runfolder.metrics``); its final weights are the selected epoch's; a run
stopped and resumed ends exactly where the unstopped one ends, in a unit and in a seed batch.

The selected epoch is recomputed here from metrics.csv with the csv module alone, and the final weights are
re-evaluated on the validation split, so neither check goes through the code it tests.
"""

from __future__ import annotations

import csv

import pytest
import torch

from desktop_app.cli import summary_table
from desktop_app.core.config import ConfigError
from desktop_app.core.control import RunControl
from desktop_app.core.engine.run import run_experiment
from desktop_app.core.events import CheckpointSaved, EpochMetrics, ProbeOutputs, Progress, RunFinished, RunStarted
from desktop_app.core.lab.run_table import run_details
from desktop_app.core.runfolder import read_manifest, read_metrics
from desktop_app.core.runfolder.listing import run_info
from desktop_app.core.runfolder.metrics import final_epochs, final_values, read_finals, run_patience
from desktop_app.core.training.models import build_model
from desktop_app.core.training.step import evaluate, load_checkpoint
from desktop_app.core.training.unit import unit_dir
from tests.core.test_properties import (
    SEEDS,
    assert_same_state,
    ended,
    final_state,
    run_units,
    small,
    straight_then_stopped,
)

PATIENCE, EPOCHS = 2, 15
# lr 0.3 with momentum: both seeds leave the plateau within 3 epochs and stop (epochs 8 and 7) well before 15
EARLY = {"finetune.optimizer": "momentum", "finetune.lr": 0.3, "finetune.epochs": EPOCHS,
         "finetune.patience": PATIENCE}


def early_cfg(**over):
    return small(arms=["none"], **{**EARLY, **over})


def csv_units(run_dir):
    """(seed) -> {split: {epoch: (nll, error)}} from metrics.csv, read with the csv module only."""
    out: dict[int, dict[str, dict[int, tuple[float, float]]]] = {}
    with open(run_dir / "metrics.csv", newline="") as fh:
        for r in csv.DictReader(fh):
            if r["phase"] == "finetune":
                out.setdefault(int(r["seed"]), {}).setdefault(r["split"], {})[int(r["epoch"])] = (
                    float(r["nll"]), float(r["error"]))
    return out


def best_epoch(valid: dict[int, tuple[float, float]]) -> int:
    """The earliest epoch (from 1) with the lowest validation error."""
    return min((e for e in valid if e >= 1), key=lambda e: (valid[e][1], e))


@pytest.fixture(scope="module")
def early_run(tmp_path_factory):
    cfg = early_cfg(**{"execution.backend": "inline", "snapshots.checkpoint_every": 5,
                       "snapshots.probe_outputs": True, "snapshots.every": 5})
    run_dir = tmp_path_factory.mktemp("early") / "run"
    events = list(run_experiment(cfg, None, run_dir))
    assert isinstance(events[-1], RunFinished) and events[-1].status == "completed", events[-1].message
    return cfg, run_dir, events


def test_a_unit_stops_patience_epochs_after_its_best_and_every_reader_reports_that_epoch(early_run):
    cfg, run_dir, events = early_run
    units = csv_units(run_dir)
    best = {s: best_epoch(units[s]["valid"]) for s in SEEDS}
    for s in SEEDS:
        assert max(units[s]["valid"]) == best[s] + PATIENCE < EPOCHS, (s, best[s])  # stopped, at best + P
    expected = {s: units[s]["test"][best[s]][1] for s in SEEDS}
    assert any(units[s]["test"][max(units[s]["test"])][1] != expected[s] for s in SEEDS)  # the last row differs
    assert read_manifest(run_dir)["patience"] == PATIENCE == run_patience(run_dir)
    assert read_finals(run_dir) == {"none": expected}
    assert read_finals(run_dir, "test", "nll") == {"none": {s: units[s]["test"][best[s]][0] for s in SEEDS}}
    assert final_epochs(read_metrics(run_dir), PATIENCE) == {"none": best}
    mean = sum(expected.values()) / len(expected)
    assert run_info(run_dir).final_test_error["none"] == pytest.approx(mean)
    assert run_details(run_dir).finals["none"].mean == pytest.approx(mean)
    (line,) = [ln for ln in summary_table(run_dir).splitlines() if ln.startswith("none")]
    assert f"{100 * mean:.2f}" in line
    # the run's progress bar ends at 100 % although the units ran fewer epochs than planned
    last = [e for e in events if isinstance(e, Progress)][-1]
    assert last.done_steps == last.total_steps > 0


def test_the_final_weights_are_the_selected_epochs(early_run):
    cfg, run_dir, events = early_run
    from desktop_app.core.data import load_data

    data = load_data(cfg.data)
    units = csv_units(run_dir)
    for s in SEEDS:
        best = best_epoch(units[s]["valid"])
        state = final_state(run_dir, "none", s)
        assert state["stage"] == "done" and state["early_stop"]["best_epoch"] == best
        model = build_model(cfg.model, data.input_shape, data.n_classes, s)
        model.load_state_dict(state["model"])
        nll, err = evaluate(model, data.valid_x, data.valid_y)
        assert err == units[s]["valid"][best][1] and nll == pytest.approx(units[s]["valid"][best][0], rel=1e-6)
        # the selected epoch's weights checkpoint exists (written at the end: checkpoint_every 5 skipped it)
        ck = load_checkpoint(unit_dir(run_dir, "checkpoints", "none", s) / f"e{best:04d}.pt")
        assert ck["epoch"] == best and all(torch.equal(ck["model"][k], v) for k, v in state["model"].items())
        assert any(isinstance(e, CheckpointSaved) and e.seed == s and e.epoch == best for e in events)


def test_an_early_stopped_unit_snapshots_its_last_epoch_and_stops_no_earlier_than_planned(early_run):
    """Snapshots every 5 epochs: epoch 0, epoch 5 and the epoch the unit stopped at (its last, though not a multiple
    of 5), each probe file holding the outputs its event carried; the early stop is logged once per unit."""
    import numpy as np

    from desktop_app.core.events import LogMessage

    cfg, run_dir, events = early_run
    units = csv_units(run_dir)
    for s in SEEDS:
        stop = max(units[s]["valid"])
        assert stop % 5 and stop < EPOCHS
        probes = [e for e in events if isinstance(e, ProbeOutputs) and e.seed == s]
        assert [e.epoch for e in probes] == [0, 5, stop]
        for e in probes:
            path = run_dir / "snapshots" / "none" / f"s{s}" / f"probe_{e.epoch:04d}.npy"
            np.testing.assert_array_equal(np.load(path), e.outputs)
        logs = [e.text for e in events if isinstance(e, LogMessage) and e.level == "info"
                and f"none seed {s}: early stop" in e.text]
        assert logs == [f"none seed {s}: early stop after epoch {stop}, {PATIENCE} epochs without a lower validation "
                        f"error; selected epoch {stop - PATIENCE} (validation error "
                        f"{units[s]['valid'][stop - PATIENCE][1]:.2%})"]


def test_a_unit_whose_patience_runs_out_at_its_last_epoch_is_not_stopped_early(tmp_path):
    """Patience 2 and no improvement after epoch 1 of 3 (a learning rate of 1e-9: the validation error stays put):
    the unit ran every planned epoch, so it completes without an early stop, selecting epoch 1."""
    from desktop_app.core.events import LogMessage

    cfg = early_cfg(**{"finetune.lr": 1e-9, "finetune.epochs": 3, "seeds.count": 1, "execution.backend": "inline"})
    events = list(run_experiment(cfg, None, tmp_path / "run"))
    assert events[-1].status == "completed"
    assert [e.epoch for e in events if isinstance(e, EpochMetrics)] == [0, 1, 2, 3]
    assert not [e for e in events if isinstance(e, LogMessage) and "early stop" in e.text]
    assert final_state(tmp_path / "run", "none", 0)["early_stop"]["best_epoch"] == 1

def test_the_reducer_selects_the_earliest_lowest_validation_error_and_never_epoch_0():
    def rows(seed, valid, test):
        return [{"arm": "none", "seed": str(seed), "phase": "finetune", "epoch": str(e), "split": split,
                 "error": repr(v), "nll": repr(v + 1)}
                for split, values in (("valid", valid), ("test", test)) for e, v in enumerate(values)]

    # seed 0: epoch 0 (untrained) is lowest but never selected; epochs 2 and 4 tie: the earlier is selected
    # seed 1: rows in any order
    r = rows(0, [0.0, 0.5, 0.3, 0.4, 0.3], [0.9, 0.6, 0.35, 0.45, 0.2]) + \
        list(reversed(rows(1, [0.9, 0.2, 0.4], [0.9, 0.25, 0.1])))
    assert final_values(r, patience=3) == {"none": {0: 0.35, 1: 0.25}}
    assert final_values(r, "test", "nll", patience=3) == {"none": {0: 1.35, 1: 1.25}}
    assert final_epochs(r, patience=3) == {"none": {0: 2, 1: 1}}
    assert final_values(r) == {"none": {0: 0.2, 1: 0.1}}  # patience 0: the last epoch, as before
    assert final_values(rows(2, [0.1], [0.5]), patience=1) == {}  # only epoch 0: no final value


@pytest.mark.parametrize("batch", [False, True], ids=["unit", "seed-batch"])
def test_a_stopped_early_stopping_run_resumes_exactly(splits_early, tmp_path, batch):
    """Stopped after epoch 3 (before either seed stops early) and resumed: the same selected epoch, metrics, final
    weights, early-stopping state and optimizer state as the run never stopped."""
    cfg = early_cfg()
    straight = straight_then_stopped(cfg, splits_early, tmp_path, batch, 3)
    for s in SEEDS[: 2 if batch else 1]:
        stopped = final_state(tmp_path / "resumed", "none", s)
        assert stopped["stage"] == "finetune" and stopped["epoch"] == 3
        assert 1 <= stopped["early_stop"]["best_epoch"] <= 3 and stopped["early_stop"]["best_model"]
    rest = list(run_units(cfg, splits_early, tmp_path / "resumed", RunControl(), batch))
    ended(rest)
    for s in SEEDS:
        a, b = final_state(tmp_path / "straight", "none", s), final_state(tmp_path / "resumed", "none", s)
        assert_same_state(a, b)
        assert a["epoch"] == b["epoch"] < EPOCHS  # both stopped early, after the same epoch
        ea, eb = a["early_stop"], b["early_stop"]
        assert (ea["best_epoch"], ea["best_error"]) == (eb["best_epoch"], eb["best_error"])
        assert all(torch.equal(ea["best_model"][k], eb["best_model"][k]) for k in ea["best_model"])
        assert all(torch.equal(a["model"][k], ea["best_model"][k]) for k in a["model"])  # done = the selected weights
    last = {(e.seed, e.epoch): e for e in straight if isinstance(e, EpochMetrics)}
    again = {(e.seed, e.epoch): e for e in rest if isinstance(e, EpochMetrics)}
    assert set(again) == {k for k in last if k[1] > 3} | ({(1, e) for e in range(4)} if not batch else set())
    for key in again:
        a, b = last[key], again[key]
        assert (a.valid_error, a.valid_nll, a.test_nll, a.test_error) == (b.valid_error, b.valid_nll, b.test_nll,
                                                                         b.test_error), key
    assert final_values(read_metrics(tmp_path / "straight"), patience=PATIENCE) == \
        final_values(read_metrics(tmp_path / "resumed"), patience=PATIENCE)
    for s in SEEDS:
        done = [e for e in rest if isinstance(e, Progress) and e.seed == s][-1]
        assert done.done_steps == done.total_steps


@pytest.fixture(scope="module")
def splits_early():
    from desktop_app.core.data import load_data

    return load_data(early_cfg().data)


def test_the_field_defaults_off_and_leaves_hashes_alone():
    cfg = small()
    assert cfg.finetune.patience == 0
    written = cfg.to_dict()
    del written["finetune"]["patience"]
    from desktop_app.core.config import from_dict

    assert from_dict(written).hash() == cfg.hash()
    assert early_cfg().hash() != early_cfg(**{"finetune.patience": 0}).hash()
    with pytest.raises(ConfigError, match="finetune.patience: early stopping applies to standard runs only"):
        early_cfg(kind="online")
    assert RunStarted(run_dir="", name="", arms=(), seeds=(), device="", total_steps=0).patience == 0


def test_the_store_selects_per_run_and_a_pooled_group_asks_each_member():
    """RunData.final follows its run's patience (RunStarted); a comparison group pools runs that may differ in it."""
    from desktop_app.core.lab.grouping import PooledRunData, pooled_seed
    from desktop_app.core.lab.store import RunData

    def run(name, patience):
        data = RunData()
        data.ingest([RunStarted(run_dir=f"/x/{name}", name=name, arms=("none",), seeds=(0,), device="cpu",
                                total_steps=0, patience=patience)])
        # valid errors 0.9 (epoch 0), 0.4, 0.3, 0.3, 0.5: selected epoch 2 (the tie at 3 keeps 2); last epoch 4
        for epoch, (valid, test) in enumerate([(0.9, 0.9), (0.4, 0.45), (0.3, 0.35), (0.3, 0.2), (0.5, 0.1)]):
            data.ingest([EpochMetrics("none", 0, epoch, 1.0, 0.1, 1.0 + valid, valid, 1.0 + test, test, 1.0)])
        return data

    early, plain = run("early", PATIENCE), run("plain", 0)
    assert early.final("none", 0)["epoch"] == 2 and early.final("none", 0)["test_error"] == 0.35
    assert plain.final("none", 0)["epoch"] == 4 and plain.final("none", 0)["test_error"] == 0.1
    pooled = PooledRunData([early, plain])
    assert pooled.final("none", pooled_seed(0, 0))["test_error"] == 0.35
    assert pooled.final("none", pooled_seed(1, 0))["test_error"] == 0.1


@pytest.mark.parametrize("batch", [False, True], ids=["unit", "seed-batch"])
def test_a_seed_that_stops_early_has_its_done_state_on_disk_when_it_ends(splits_early, tmp_path, monkeypatch,
                                                                         batch):
    """A unit's last state is written when it ends, not left to the write interval: in a seed batch the seed that
    stops first ends while the other trains on, and its latest.pt already says done (the interval set to 1 s on a
    clock that stands still, so nothing else writes it)."""
    import time
    from types import SimpleNamespace

    from desktop_app.core.events import UnitFinished
    from desktop_app.core.training import unit as unit_mod

    monkeypatch.setattr(unit_mod, "LATEST_EVERY_S", 1.0)
    monkeypatch.setattr(unit_mod, "time", SimpleNamespace(monotonic=lambda: 1000.0, perf_counter=time.perf_counter))
    ends = []
    for ev in run_units(early_cfg(), splits_early, tmp_path / "run", RunControl(), batch):
        if isinstance(ev, UnitFinished):
            ends.append((ev.seed, ev.status, final_state(tmp_path / "run", "none", ev.seed)["stage"]))
    assert sorted(ends) == [(s, "completed", "done") for s in SEEDS]


def test_the_selected_epochs_checkpoint_is_written_once_naming_its_unit_when_the_cadence_skipped_it(tmp_path):
    """Its own run (a module fixture's run is credited by a mutation tool to the first test that asks for it only):
    checkpoints every 4 epochs, so the selected epoch (5 or 6) is skipped by the cadence and written at the end, once,
    in the unit's checkpoints folder, holding the selected weights (latest.pt's final ones) with its arm, seed,
    phase and epoch, announced by one CheckpointSaved naming its file."""
    from desktop_app.core.training.checkpoints import open_checkpoint

    cfg = early_cfg(**{"execution.backend": "inline", "snapshots.checkpoint_every": 4, "seeds.count": 1})
    events = list(run_experiment(cfg, None, tmp_path / "run"))
    assert isinstance(events[-1], RunFinished) and events[-1].status == "completed", events[-1].message
    valid = csv_units(tmp_path / "run")[0]["valid"]
    best, stop = best_epoch(valid), max(valid)
    assert best % 4 and stop == best + PATIENCE < EPOCHS, (best, stop)
    folder = unit_dir(tmp_path / "run", "checkpoints", "none", 0)
    assert sorted(p.name for p in (tmp_path / "run" / "checkpoints" / "none" / "s0").iterdir()) == sorted(
        {f"e{e:04d}.pt" for e in (0, 4, best, stop)} | {"latest.pt"})
    path = folder / f"e{best:04d}.pt"
    state = open_checkpoint(path)
    assert (state["arm"], state["seed"], state["phase"], state["epoch"]) == ("none", 0, "finetune", best)
    final = final_state(tmp_path / "run", "none", 0)["model"]
    assert state["model"].keys() == final.keys() and all(torch.equal(state["model"][k], v) for k, v in final.items())
    assert [e for e in events if isinstance(e, CheckpointSaved) and e.epoch == best] == [
        CheckpointSaved("none", 0, "finetune", best, str(path))]


def test_a_seed_the_storage_policy_does_not_keep_gets_no_selected_checkpoint(tmp_path):
    """snapshots.keep_seeds = 1: seed 0 keeps its epoch checkpoints and gets its selected epoch's written once;
    seed 1, outside the policy, keeps latest.pt alone (its final weights, the selected epoch's), whatever epoch
    early stopping selects for it."""
    cfg = early_cfg(**{"execution.backend": "inline", "snapshots.checkpoint_every": 4, "seeds.count": 2,
                       "snapshots.keep_seeds": 1})
    events = list(run_experiment(cfg, None, tmp_path / "run"))
    assert isinstance(events[-1], RunFinished) and events[-1].status == "completed", events[-1].message
    units = csv_units(tmp_path / "run")
    best0, stop0 = best_epoch(units[0]["valid"]), max(units[0]["valid"])
    assert best0 % 4, best0  # the cadence skipped it: written at the end
    listing = {s: sorted(p.name for p in (tmp_path / "run" / "checkpoints" / "none" / f"s{s}").iterdir())
               for s in (0, 1)}
    assert listing[0] == sorted({f"e{e:04d}.pt" for e in (0, 4, best0, stop0)} | {"latest.pt"})
    assert listing[1] == ["latest.pt"]
    saved = [(e.seed, e.epoch) for e in events if isinstance(e, CheckpointSaved) and e.phase == "finetune"]
    assert saved.count((0, best0)) == 1 and not [s for s in saved if s[0] == 1]


def test_the_first_trained_epoch_is_a_candidate_even_at_a_validation_error_of_100_percent(tmp_path):
    """Epoch 1 is selected when nothing before it is (epoch 0 never is), whatever its validation error, 1.0 (every
    example wrong) included: it is the best so far, its weights are kept, and patience counts from it. Epoch 0 is
    never a candidate; a later epoch equal to the best does not replace it (ties keep the earlier epoch)."""
    from desktop_app.core.training.checkpoints import _early_stop_problem
    from desktop_app.core.training.unit import UnitRun, prepare_data

    cfg = early_cfg()
    run = UnitRun(cfg, "none", SEEDS[0], tmp_path / "run", RunControl(), prepare_data(cfg, torch.device("cpu")))
    model = build_model(cfg.model, (1, 28, 28), 10, SEEDS[0])
    # before any best epoch, the state a resume reads back is well formed (best error 1.0: no better epoch yet)
    assert run._early_stop_state() == {"early_stop": {"best_epoch": 0, "best_error": 1.0, "best_model": {}}}
    assert _early_stop_problem({"stage": "finetune", "epoch": 0, "model": model.state_dict(),
                                **run._early_stop_state()}, PATIENCE) == ""
    assert not run._early_stop(model, 0, 0.0) and run.best_epoch == 0 and run.best_model == {}
    assert not run._early_stop(model, 1, 1.0)
    assert run.best_epoch == 1 and run.best_error == 1.0
    assert run.best_model.keys() == model.state_dict().keys()
    assert not run._early_stop(model, 2, 1.0) and run.best_epoch == 1  # a tie keeps the earlier epoch
    assert run._early_stop(model, 3, 1.0) and run.best_epoch == 1  # PATIENCE epochs without a lower error
