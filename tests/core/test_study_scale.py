"""A study of many units (issue 25): replay is linear in the run's files, snapshots are read when a panel asks for
them and memory holds a bounded number of them, live or replayed; the per-arm summary of a study's units."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from desktop_app.core import config as c
from desktop_app.core.events import (
    EpochMetrics,
    FilterSnapshot,
    ProbeOutputs,
    RunFinished,
    RunStarted,
    UnitFinished,
)
from desktop_app.core.lab import store as store_mod
from desktop_app.core.lab.model import LabModel, Preview, replay_run
from desktop_app.core.lab.store import RunData
from desktop_app.core.runfolder import RunFolder, RunSink, replay
from desktop_app.core.runfolder import layout as layout_mod
from desktop_app.core.runfolder.manifest import write_manifest

ARMS = ("none", "dae")
EPOCHS = 3


def study(root: Path, seeds: int) -> Path:
    """A finished run folder of 2 x ``seeds`` units written through the run folder's own writer: per unit, metrics
    for epochs 0..EPOCHS, filters and probe outputs every epoch, checkpoints e0 and the last, and latest.pt."""
    cfg = c.from_dict({"name": "study", "arms": list(ARMS), "seeds": {"count": seeds},
                       "finetune": {"epochs": EPOCHS}, "device": "cpu"})
    folder = RunFolder(root)
    root.mkdir(parents=True)
    sink = RunSink(folder)
    sink.write_config(cfg)
    write_manifest(folder, {"status": "completed", "arms": list(ARMS), "seeds": list(range(seeds)),
                            "input_shape": [1, 3, 3], "elapsed_s": 1.0})
    for seed in range(seeds):
        for arm in ARMS:
            unit = folder.unit(arm, seed)
            sink.handle(FilterSnapshot(arm, seed, "init", 0, np.full((4, 9), seed, np.float32), (1, 3, 3)))
            for epoch in range(EPOCHS + 1):
                v = 0.1 + 0.01 * seed + 0.001 * epoch
                sink.handle(EpochMetrics(arm, seed, epoch, v, v, v, v, v, v, 1.0))
                if epoch:
                    sink.handle(FilterSnapshot(arm, seed, "finetune", epoch, np.full((4, 9), v, np.float32)))
                sink.handle(ProbeOutputs(arm, seed, epoch, np.full((5, 3), v, np.float32)))
            for epoch in (0, EPOCHS):
                unit.write_checkpoint(epoch, b"weights")
            unit.write_latest(b"state")
    return root


class Counter:
    """Counts calls of a function while it stays the real one."""

    def __init__(self, monkeypatch, owner, name: str) -> None:
        self.n = 0
        real = getattr(owner, name)

        def counted(*args, **kwargs):
            self.n += 1
            return real(*args, **kwargs)

        monkeypatch.setattr(owner, name, counted)


def resolves_to_replay(monkeypatch, run_dir: Path) -> int:
    counter = Counter(monkeypatch, Path, "resolve")
    events = list(replay(run_dir, lazy=True))
    assert isinstance(events[-1], RunFinished)
    monkeypatch.undo()
    return counter.n


def test_replay_resolves_paths_in_linear_time(tmp_path, monkeypatch):
    """Opening a 2 x 400 study made 101,625 realpath calls: every unit listed and resolved every checkpoint of the
    run. Now the number of path resolutions grows linearly with the units (a few per unit: its metrics file,
    listed and read), not with units x files."""
    small = resolves_to_replay(monkeypatch, study(tmp_path / "small", 5))
    large = resolves_to_replay(monkeypatch, study(tmp_path / "large", 20))
    units_small, units_large = 2 * 5, 2 * 20
    per_unit = (large - small) / (units_large - units_small)
    assert per_unit <= 4, f"{per_unit:.1f} resolutions per unit ({small} for 10 units, {large} for 40)"
    files_large = sum(1 for p in (tmp_path / "large").rglob("*") if p.is_file())
    assert large < files_large / 2  # each snapshot and checkpoint file is not resolved on its own


def test_a_link_leading_out_is_still_refused(tmp_path):
    run_dir = study(tmp_path / "run", 2)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "e0009.pt").write_bytes(b"x")
    (run_dir / "checkpoints" / "dae" / "s7").symlink_to(outside)
    with pytest.raises(layout_mod.RunFolderError, match="leads out of the run folder"):
        list(replay(run_dir, lazy=True))


def test_the_lab_reads_snapshots_only_when_a_panel_asks(tmp_path, monkeypatch):
    run_dir = study(tmp_path / "run", 6)
    loads = Counter(monkeypatch, layout_mod.RunFolder, "load_array")
    model = LabModel()
    data = model.open(run_dir)
    assert loads.n == 0 and len(data.units()) == 12
    assert all(isinstance(w, layout_mod.StoredArray) for *_, w in data.unit("dae", 3).filters)
    filters = data.filters("dae", 3)  # the Filters panel shows one unit: its snapshots are read now
    assert [(p, e) for p, e, _ in filters] == [("init", 0)] + [("finetune", e) for e in range(1, EPOCHS + 1)]
    assert loads.n == EPOCHS + 1
    np.testing.assert_array_equal(filters[0][2], np.full((4, 9), 3, np.float32))
    data.filters("dae", 3)  # again: from the cache
    assert loads.n == EPOCHS + 1
    epochs, outputs = data.probe_outputs("none", 5)
    assert epochs.tolist() == list(range(EPOCHS + 1)) and outputs.shape == (EPOCHS + 1, 5, 3)
    assert outputs[2, 0, 0] == pytest.approx(0.1 + 0.05 + 0.002)


def test_memory_holds_a_bounded_number_of_snapshots(tmp_path, monkeypatch):
    monkeypatch.setattr(store_mod, "SNAPSHOT_CACHE", 10)
    run_dir = study(tmp_path / "run", 6)
    data = LabModel().open(run_dir)
    for arm, seed in data.units():  # every unit looked at once
        data.filters(arm, seed)
        data.probe_outputs(arm, seed)
    assert data.held_snapshots() == 10
    # live: events carry arrays; once their files are on disk the run keeps references, not the arrays
    live = RunData()
    events = list(replay(run_dir))  # arrays, as a live run's events carry them
    live.ingest([RunStarted(str(run_dir), "study", ARMS, tuple(range(6)), "cpu", 0)] + events[1:-1])
    assert live.held_snapshots() == 10
    assert len(live.filters("none", 0)) == EPOCHS + 1  # still all there, read back from disk


def test_live_snapshots_without_files_stay_in_memory():
    data = RunData()
    data.ingest([RunStarted("", "x", ("none",), (0,), "cpu", 0),
                 FilterSnapshot("none", 0, "init", 0, np.ones((2, 4), np.float32), (1, 2, 2))])
    assert isinstance(data.unit("none", 0).filters[0][2], np.ndarray) and data.held_snapshots() == 1


def test_replay_run_reports_progress_and_ends_with_the_data(tmp_path):
    run_dir = study(tmp_path / "run", 3)
    items = list(replay_run(run_dir))
    *progress, data = items
    assert isinstance(data, RunData) and len(data.units()) == 6 and data.status == "completed"
    assert progress[-1] == (6, 6) and all(isinstance(p, tuple) for p in progress)
    model = LabModel()
    assert model.open(run_dir, data=data) is data and model.shown is data
    items = list(replay_run(run_dir, preview_units=2))
    (preview,) = [i for i in items if isinstance(i, Preview)]
    assert preview.units == 2 and preview.data.units() == [("none", 0), ("dae", 0)]
    assert len(preview.data.unit("dae", 0).epochs) == EPOCHS + 1  # whole units, not cut mid-way
    assert len(items[-1].units()) == 6


def test_arm_summary_counts_units_and_takes_quantiles():
    data = RunData()
    events: list = [RunStarted("/w/s", "s", ARMS, tuple(range(10)), "cpu", 0)]
    errors = {}
    for seed in range(10):
        for arm in ARMS:
            err = 0.05 + 0.01 * seed + (0.02 if arm == "none" else 0.0)
            errors[(arm, seed)] = err
            last = 2 if seed < 8 else 1
            events += [EpochMetrics(arm, seed, e, 1, 0.1, 1, 0.1, 0.3 + err, err if e == last else 0.9)
                       for e in range(last + 1)]
            if seed < 6:
                events.append(UnitFinished(arm, seed, "completed"))
            elif seed == 6:
                events.append(UnitFinished(arm, seed, "diverged"))
    data.ingest(events)
    s = data.arm_summary("dae")
    assert (s.planned, s.started, s.done, s.failed, s.running, s.measured) == (10, 10, 6, 1, 3, 10)
    assert s.epoch == 2
    dae = [errors[("dae", seed)] for seed in range(10)]
    np.testing.assert_allclose(s.test_error, np.quantile(dae, [0.1, 0.5, 0.9]))
    assert s.test_nll == pytest.approx(np.median([0.3 + e for e in dae]))
    data.ingest([RunFinished("completed", "/w/s", 1.0)])
    assert data.arm_summary("none").running == 0


def test_a_finished_runs_metrics_come_from_its_merged_file(tmp_path, monkeypatch):
    """One file instead of one per unit once metrics.csv was merged after the last unit wrote; the same rows."""
    from desktop_app.core.runfolder import metrics as metrics_mod

    run_dir = study(tmp_path / "run", 5)
    folder = RunFolder(run_dir)
    per_unit = metrics_mod.read_metrics(folder)
    RunSink(folder).merge_metrics(ARMS)
    reads = Counter(monkeypatch, metrics_mod, "read_csv")
    assert metrics_mod.read_metrics(folder) == per_unit and reads.n == 1
    unit_file = folder.unit("dae", 2).metrics_path  # a unit written after the merge (a resume): its files again
    later = (run_dir / "metrics.csv").stat().st_mtime_ns + 10**9
    os.utime(unit_file, ns=(later, later))
    reads.n = 0
    assert metrics_mod.read_metrics(folder) == per_unit and reads.n == 10
