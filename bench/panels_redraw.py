"""Panel redraw time: the trajectory panel with 2 x 400 curves x 100 epochs (Erhan 2010 Fig. 1 at full scale)
and the filters panel with 1,000 28x28 filters per side.

"Redraw" = rebuild the plot items from the RunStore (``panel.refresh()``), and "redraw + paint" adds
rendering the panel's plots to pixels at 900x600 (``graphics.grab()``), offscreen. For the trajectory panel
the same data drawn as one PlotDataItem per seed (800 items) is the baseline the batched-by-colour design (a
few items per arm) is measured against. Medians of repeated runs.

    QT_QPA_PLATFORM=offscreen .venv/bin/python bench/panels_redraw.py [--repeats 7] [--seeds 400] [--epochs 100]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import pyqtgraph as pg  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from bench.report import machine_line, write_section  # noqa: E402
from desktop_app.core.events import EpochMetrics, FilterSnapshot, RunStarted  # noqa: E402
from desktop_app.ui.panels.filters import FiltersPanel  # noqa: E402
from desktop_app.ui.panels.trajectory import MAX_SYMBOL_POINTS, TIME_BINS, TrajectoryPanel, collect  # noqa: E402
from desktop_app.ui.run_store import RunStore  # noqa: E402

SIZE = (900, 600)


def median_ms(fn: Callable[[], object], repeats: int) -> float:
    fn()  # warm-up (first paint allocates caches)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1000 * statistics.median(times)


def trajectory_store(seeds: int, epochs: int) -> RunStore:
    rng = np.random.default_rng(0)
    events: list = [RunStarted("/bench", "bench", ("none", "dae"), tuple(range(seeds)), "cpu", 0)]
    for arm, floor in (("none", 0.08), ("dae", 0.05)):
        for s in range(seeds):
            e = np.arange(epochs)
            train = 2.3 * np.exp(-e / (8 + rng.uniform(0, 4))) + floor * rng.uniform(0.5, 1.5)
            test = train + 0.05 + 0.1 * (1 - np.exp(-e / 20)) * rng.uniform(0.5, 1.5)
            events += [EpochMetrics(arm, s, int(i), float(train[i]), 0.1, float(test[i]), 0.1, float(test[i]), 0.1)
                       for i in range(epochs)]
    store = RunStore()
    store.ingest(events)
    return store


def per_seed_baseline(store: RunStore) -> Callable[[], object]:
    """The design not taken: one PlotDataItem per seed."""
    widget = pg.PlotWidget()
    widget.resize(*SIZE)
    widget.show()

    def redraw() -> None:
        widget.clear()
        for arm in ("none", "dae"):
            d = collect(store, arm)
            x, y = d.x, d.y
            bounds = np.flatnonzero(~d.connect) + 1
            for lo, hi in zip(np.r_[0, bounds[:-1]], bounds, strict=True):
                widget.plot(x[lo:hi], y[lo:hi], pen=pg.mkPen((31, 119, 180, 90)))
        widget.grab()

    return redraw


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--seeds", type=int, default=400)
    ap.add_argument("--epochs", type=int, default=100)
    ap.add_argument("--filters", type=int, default=1000)
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    app = QApplication.instance() or QApplication(sys.argv)
    n_points = 2 * args.seeds * args.epochs

    t0 = time.perf_counter()
    store = trajectory_store(args.seeds, args.epochs)
    ingest_s = time.perf_counter() - t0
    traj = TrajectoryPanel(store)
    traj.resize(*SIZE)
    traj.show()
    app.processEvents()
    t_refresh = median_ms(traj.refresh, args.repeats)
    t_paint = median_ms(lambda: (traj.refresh(), traj.graphics.grab()), args.repeats)
    t_hover = median_ms(lambda: traj.hover_at(-0.5, -0.3), args.repeats)
    baseline = per_seed_baseline(store)
    t_base = median_ms(baseline, max(3, args.repeats // 2))
    traj.close()

    rng = np.random.default_rng(1)
    fstore = RunStore()
    fevents: list = [RunStarted("/bench-f", "bench", ("dae", "none"), (0,), "cpu", 0)]
    for arm in ("dae", "none"):
        for phase, epoch in (("init", 0), ("finetune", 1), ("finetune", 2)):
            w = rng.normal(0, 0.1, (args.filters, 784)).astype(np.float32)
            fevents.append(FilterSnapshot(arm, 0, phase, epoch, w, (1, 28, 28)))
    fstore.ingest(fevents)
    filt = FiltersPanel(fstore)
    filt.resize(*SIZE)
    filt.show()
    app.processEvents()
    f_refresh = median_ms(filt.refresh, args.repeats)
    f_paint = median_ms(lambda: (filt.refresh(), filt.graphics.grab()), args.repeats)
    steps = iter(range(10**6))
    f_scrub = median_ms(lambda: (filt.slider.setValue(next(steps) % 3), filt.graphics.grab()), args.repeats)
    filt.stop()
    filt.close()

    cmd = (f"QT_QPA_PLATFORM=offscreen .venv/bin/python bench/panels_redraw.py --repeats {args.repeats} "
           f"--seeds {args.seeds} --epochs {args.epochs} --filters {args.filters}")
    lines = [
        "## Panel redraw (`bench/panels_redraw.py`)",
        "",
        f"Command: `{cmd}`  ",
        f"Machine: {machine_line()}; offscreen Qt (software raster), panels at {SIZE[0]}x{SIZE[1]}.",
        "",
        "| panel | data | redraw (store -> items) | redraw + paint |",
        "| --- | --- | ---: | ---: |",
        f"| trajectories | 2 arms x {args.seeds} seeds x {args.epochs} epochs = {n_points:,} points, batched by "
        f"colour (per arm: its points and {TIME_BINS} time shades of its lines) "
        f"| {t_refresh:.0f} ms | {t_paint:.0f} ms |",
        f"| trajectories, baseline | the same, one PlotDataItem per seed ({2 * args.seeds} items) | – "
        f"| {t_base:.0f} ms |",
        f"| filters | 2 sides x {args.filters:,} filters of 28x28, one mosaic image per side | {f_refresh:.0f} ms "
        f"| {f_paint:.0f} ms |",
        f"| filters, scrub one step | slider move: retile both sides | – | {f_scrub:.0f} ms |",
        "",
        f"Hover (nearest of {n_points:,} points, numpy): {t_hover:.2f} ms. Ingesting the {n_points:,} epoch events "
        f"into the RunStore took {ingest_s:.1f} s (once). Lines only for the trajectory at this size: arms above "
        f"{MAX_SYMBOL_POINTS:,} points drop the per-epoch symbols.",
    ]
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        write_section("panels", text)


if __name__ == "__main__":
    main()
