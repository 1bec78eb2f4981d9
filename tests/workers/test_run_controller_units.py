"""The GUI's run controller with the real engine running units in local worker processes: events stream in
while the units run, and closing (shutdown) ends every unit and worker within about a second, resumable."""

from __future__ import annotations

import multiprocessing as mp
import time

from desktop_app.core.engine.run import resume_experiment
from desktop_app.core.events import EpochMetrics, UnitFinished
from desktop_app.core.runfolder.workspace import read_manifest
from desktop_app.workers.run_controller import RunController
from tests.core.test_engine import tiny


def test_shutdown_stops_every_worker_and_the_run_resumes(qtbot, tmp_path) -> None:
    cfg = tiny(**{"arms": ["none", "dae"], "seeds.count": 2, "threads": 1, "finetune.epochs": 10,
                  "execution.backend": "local", "execution.workers": 2})
    ctrl = RunController(threads=1)  # the real engine
    events: list = []
    ctrl.eventsReady.connect(events.extend)
    ctrl.start(cfg, tmp_path / "run")
    qtbot.waitUntil(lambda: any(isinstance(e, EpochMetrics) and e.epoch >= 1 for e in events), timeout=120_000)
    assert not any(isinstance(e, UnitFinished) for e in events)  # streamed in while the units run
    assert len(mp.active_children()) == 2
    t0 = time.perf_counter()
    assert ctrl.shutdown(5000)
    assert time.perf_counter() - t0 < 10.0  # latency is measured in bench/stop_latency.py
    assert not mp.active_children()
    assert read_manifest(tmp_path / "run")["status"] == "stopped"
    rest = list(resume_experiment(tmp_path / "run", workers=2))
    assert rest[-1].status == "completed"
