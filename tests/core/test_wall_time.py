"""Wall time per epoch, recorded going forward: each fine-tuning epoch's EpochMetrics and metrics rows carry the
seconds its unit had run (pre-training included, carried over a resume), replay gives them back, and run folders
written before it was recorded still read (no wall_s column: not recorded)."""

from __future__ import annotations

import csv

from desktop_app.core.control import RunControl
from desktop_app.core.engine.run import resume_experiment, run_experiment
from desktop_app.core.events import EpochMetrics, PretrainEpoch
from desktop_app.core.lab import RunData
from desktop_app.core.runfolder import RunFolder, read_metrics, replay
from tests.core.test_engine import tiny


def walls(events) -> dict[tuple[str, int], list[tuple[int, float]]]:
    out: dict = {}
    for ev in events:
        if isinstance(ev, EpochMetrics):
            out.setdefault((ev.arm, ev.seed), []).append((ev.epoch, ev.wall_s))
    return out


def test_wall_time_is_recorded_replayed_and_carried_over_a_resume(tmp_path):
    cfg = tiny(arms=["none", "dae"], **{"finetune.epochs": 3, "seeds.count": 1})
    control = RunControl()
    events = []
    for ev in run_experiment(cfg, control, tmp_path / "run"):
        events.append(ev)
        if isinstance(ev, EpochMetrics) and ev.arm == "dae" and ev.epoch == 1:
            control.stop()
    assert events[-1].status == "stopped"
    before = walls(events)
    assert any(isinstance(ev, PretrainEpoch) for ev in events)
    rest = list(resume_experiment(tmp_path / "run"))
    assert rest[-1].status == "completed"
    after = walls(rest)
    # every epoch has a time, later epochs later, a resumed unit's clock going on from its checkpoint
    for unit, seq in after.items():
        whole = dict(before.get(unit, [])) | dict(seq)
        times = [whole[e] for e in sorted(whole)]
        assert all(t is not None and t > 0 for t in times) and times == sorted(times), (unit, times)
    # metrics.csv holds exactly the events' times; replay and the lab's RunData give them back
    rows = [r for r in read_metrics(RunFolder(tmp_path / "run")) if r["phase"] == "finetune"]
    recorded = {(r["arm"], int(r["seed"]), int(r["epoch"])): float(r["wall_s"]) for r in rows}
    for (arm, seed), seq in after.items():
        for epoch, wall in seq:
            assert recorded[(arm, seed, epoch)] == wall
    replayed = walls(replay(tmp_path / "run"))
    assert {(a, s, e): w for (a, s), seq in replayed.items() for e, w in seq} == recorded
    data = RunData()
    data.ingest(replay(tmp_path / "run"), replayed=True)
    epochs, values, _ = data.metric_matrix("dae", "wall_s")
    assert values[0].tolist() == [recorded[("dae", 0, int(e))] for e in epochs]


def test_a_run_folder_from_before_wall_time_still_reads(tmp_path):
    cfg = tiny(arms=["none"], **{"finetune.epochs": 1, "seeds.count": 1})
    run = tmp_path / "old"
    assert list(run_experiment(cfg, None, run))[-1].status == "completed"
    for path in [run / "metrics.csv", *sorted((run / "metrics").glob("*.csv"))]:  # as an older Basin wrote them
        with open(path, newline="") as fh:
            rows = list(csv.DictReader(fh))
        with open(path, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=[c for c in rows[0] if c != "wall_s"], lineterminator="\n",
                                    extrasaction="ignore")
            writer.writeheader()
            writer.writerows(rows)
    assert "wall_s" not in (run / "metrics.csv").read_text()
    assert all(r["wall_s"] == "" for r in read_metrics(RunFolder(run)))
    metrics = [ev for ev in replay(run) if isinstance(ev, EpochMetrics)]
    assert len(metrics) == 2 and all(ev.wall_s is None for ev in metrics)
    data = RunData()
    data.ingest(replay(run), replayed=True)
    assert data.metric_matrix("none", "wall_s")[1].shape == (1, 2)
