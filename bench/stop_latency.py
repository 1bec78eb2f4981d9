"""Stop latency of a real training run: time from Stop to the run thread finished (issue: Stop acts at once).

The real RunController runs the real engine on a preset; at the first Progress batch ``--after`` seconds into
the run (training under way, mid-epoch) the bench calls ``stop()`` and times until ``runFinished`` (emitted
after the run thread has ended and its last events were delivered). Median and max of N runs, each into a
fresh folder.

    QT_QPA_PLATFORM=offscreen .venv/bin/python bench/stop_latency.py [--repeats 9] [--after 1] [--no-write]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from bench.report import machine_line, write_section  # noqa: E402

TARGET_MS = 1000.0


def load_line() -> str:
    """The 1-minute load average: the machine is shared, so numbers are only comparable at similar load."""
    return f"{os.getloadavg()[0]:.2f}"


def measure(preset: str, repeats: int, threads: int, after_s: float, scratch: Path) -> tuple[list[float], list[str]]:
    """Milliseconds from stop() to runFinished for ``repeats`` runs, and each run's final status."""
    from PySide6.QtCore import QCoreApplication, QTimer

    from desktop_app.core.events import Progress
    from desktop_app.core.presets import load_preset
    from desktop_app.workers.run_controller import RunController

    app = QCoreApplication.instance() or QCoreApplication([])
    controller = RunController(threads=threads)
    cfg = load_preset(preset)
    latencies: list[float] = []
    statuses: list[str] = []
    state: dict[str, float] = {}

    class Driver:
        """GUI-thread receiver (bound methods only: see docs/ARCHITECTURE.md, threading)."""

        def on_events(self, events: list) -> None:
            late = time.perf_counter() - state["start"] >= after_s
            if late and "stop" not in state and any(isinstance(e, Progress) and e.done_steps > 0 for e in events):
                state["stop"] = time.perf_counter()
                controller.stop()

        def on_finished(self, _run_dir: str, status: str) -> None:
            latencies.append((time.perf_counter() - state.pop("stop", time.perf_counter())) * 1000)
            statuses.append(status)
            if len(latencies) < repeats:
                QTimer.singleShot(50, self.start)
            else:
                app.quit()

        def start(self) -> None:
            state["start"] = time.perf_counter()
            controller.start(cfg, scratch / f"run{len(latencies)}")

    driver = Driver()
    controller.eventsReady.connect(driver.on_events)
    controller.runFinished.connect(driver.on_finished)
    QTimer.singleShot(0, driver.start)
    app.exec()
    assert controller.shutdown(5000)
    return latencies, statuses


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=9)
    ap.add_argument("--preset", default="quick-demo")
    ap.add_argument("--after", type=float, default=1.0, help="seconds into each run before Stop")
    ap.add_argument("--threads", type=int, default=1, help="torch threads of the run")
    ap.add_argument("--no-write", action="store_true", help="print only; leave docs/PERFORMANCE.md alone")
    ap.add_argument("--note", default="", help="a sentence on the conditions, added to the report")
    args = ap.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="basin-stop-"))
    load_before = load_line()
    try:
        ms, statuses = measure(args.preset, args.repeats, args.threads, args.after, scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    arr = np.asarray(ms)
    met = "met" if float(np.median(arr)) < TARGET_MS else "not met"
    body = "\n".join([
        "## Stop latency (`bench/stop_latency.py`)",
        "",
        f"Command: `QT_QPA_PLATFORM=offscreen .venv/bin/python bench/stop_latency.py --repeats {args.repeats} "
        f"--preset {args.preset} --after {args.after:g} --threads {args.threads}`  ",
        f"Machine: {machine_line()}; load average (1 min) {load_before} before, {load_line()} after.",
        "",
        f"Time from `RunController.stop()` (called on the first Progress batch {args.after:g} s or more into a run) "
        "to `runFinished`, which is emitted after the run thread has ended and its last events were delivered.",
        "",
        "| runs | median | min | max | statuses | target |",
        "| ---: | ---: | ---: | ---: | --- | --- |",
        f"| {arr.size} | {np.median(arr):.0f} ms | {arr.min():.0f} ms | {arr.max():.0f} ms "
        f"| {', '.join(sorted(set(statuses)))} | median < {TARGET_MS:.0f} ms ({met}) |",
        *(["", args.note] if args.note else []),
    ])
    print(body)
    if not args.no_write:
        write_section("stop_latency", body)


if __name__ == "__main__":
    main()
