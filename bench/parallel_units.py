"""Parallel units: wall time of one run of the reference recipe, sequential vs local worker processes vs Dask.

The reference recipe (issue 13): 784-500-500-500-10 sigmoid on the embedded digits, 1,000 labels, DAE
pre-training 15 epochs/layer, 50 fine-tuning epochs, minibatch 10; 4 paired seeds x 2 arms (none, dae) =
8 units. Cases, each a whole run from the engine's start to its RunFinished (process and cluster start-up
included):

  sequential   backend inline: today's engine, one unit after another at torch's default threads
  local x1     one worker process, 1 torch thread
  local x2     two worker processes, 1 torch thread each
  dask x2      a distributed.LocalCluster of two 1-thread worker processes

Targets: local x2 >= 1.4x the sequential throughput, parallel efficiency (x1 time / (2 x x2 time)) >= 0.85.

The ceiling any scheduler can reach here is measured too: one 'none' unit alone on one worker vs two identical
'none' units (seeds 0 and 1) at once on two workers. Two one-thread processes share the machine's memory
bandwidth and caches (and, on a VM, whatever the host gives two vCPUs), so their ratio is the per-worker
efficiency of perfectly balanced work on this machine.
Repeats alternate the cases (sequential, x1, x2, dask, ceiling; then again) and the table gives each case's
median: this VM's speed drifts by tens of percent within minutes, so repeating one case back to back would
measure the drift, not the case. The 1-thread cases must give identical metrics (checked).
The projection of 2 x 400 seeds on N cores assumes
one unit per physical core at the per-worker efficiency measured here: wall = ceil(800 / N) x unit time at
one thread / efficiency.

    .venv/bin/python bench/parallel_units.py            # the full recipe (about 40 min on 2 cores), writes
                                                        # its section of docs/PERFORMANCE.md
    .venv/bin/python bench/parallel_units.py --quick    # 1 pre-training and 2 fine-tuning epochs on 200
                                                        # labels / 400 unlabelled: minutes, to check the bench
                                                        # itself (never written to the doc)
"""

from __future__ import annotations

import argparse
import csv
import math
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.report import machine_line, write_section  # noqa: E402
from desktop_app.core import config as c  # noqa: E402
from desktop_app.core.engine.run import run_experiment  # noqa: E402
from desktop_app.core.events import RunFinished  # noqa: E402
from desktop_app.core.execution import physical_cores  # noqa: E402
from desktop_app.core.presets import load_preset  # noqa: E402

SEEDS, ARMS, PROJECT_SEEDS, PROJECT_CORES = 4, ("none", "dae"), 400, (2, 16, 64)


def recipe(quick: bool, fraction: float = 1.0) -> c.ExperimentConfig:
    cfg = load_preset("erhan2010").with_overrides({
        "name": "parallel-units-bench",
        "arms": list(ARMS),
        "model.layers": [{"kind": "dense", "units": 500}] * 3,
        "data.n_labelled": 1000,
        "pretraining.dae.epochs": max(1, round(15 * fraction)),
        "finetune.epochs": max(1, round(50 * fraction)),
        "seeds.count": SEEDS,
        "device": "cpu",
    })
    if quick:  # the same net and cases on a sliver of the work: checks the bench, measures nothing
        cfg = cfg.with_overrides({"pretraining.dae.epochs": 1, "finetune.epochs": 2, "data.n_labelled": 200,
                                  "data.n_unlabelled": 400, "data.n_test": 500, "data.n_valid": 200})
    return cfg


CASES = [  # (label, execution backend, workers, threads)
    ("sequential (inline, default threads)", "inline", 1, 0),
    ("local x1 (1 thread)", "local", 1, 1),
    ("local x2 (1 thread each)", "local", 2, 1),
    ("dask LocalCluster x2 (1 thread each)", "dask", 2, 1),
]


def run_case(cfg: c.ExperimentConfig, backend: str, workers: int, threads: int, root: Path) -> tuple[float, Path]:
    cfg = cfg.with_overrides({"execution.backend": backend, "execution.workers": workers, "threads": threads})
    run_dir = root / f"{backend}-{workers}"
    t0 = time.perf_counter()
    last = None
    for ev in run_experiment(cfg, None, run_dir):
        last = ev
    wall = time.perf_counter() - t0
    if not isinstance(last, RunFinished) or last.status != "completed":
        raise SystemExit(f"{backend} x{workers}: the run did not complete ({getattr(last, 'message', last)})")
    return wall, run_dir


def ceiling(cfg: c.ExperimentConfig, root: Path) -> tuple[float, float]:
    """(one unit alone on one worker, two identical units at once on two workers), wall seconds."""
    alone = cfg.with_overrides({"arms": ["none"], "seeds.count": 1})
    pair = cfg.with_overrides({"arms": ["none"], "seeds.count": 2})
    t1, _ = run_case(alone, "local", 1, 1, root / "ceiling-1")
    t2, _ = run_case(pair, "local", 2, 1, root / "ceiling-2")
    return t1, t2


def metrics(run_dir: Path) -> list[tuple]:
    """Every metric row without wall_s (the seconds a unit had run: a measurement, different in any two runs)."""
    with open(run_dir / "metrics.csv", newline="") as fh:
        return sorted(tuple(v for k, v in r.items() if k != "wall_s") for r in csv.DictReader(fh))


def fmt_hours(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{seconds / 60:.0f} min"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="tiny epochs: check that the bench works (not written)")
    ap.add_argument("--no-write", action="store_true", help="print only; leave docs/PERFORMANCE.md alone")
    ap.add_argument("--repeats", type=int, default=2,
                    help="rounds over all cases, alternating; each case's median is reported (default 2)")
    ap.add_argument("--fraction", type=float, default=1.0,
                    help="run this share of the recipe's epochs (same net, data and minibatch): the full recipe takes "
                         "about 40 min here; ratios are per-epoch work, start-up weighs more at small fractions")
    args = ap.parse_args()
    cfg = recipe(args.quick, args.fraction)
    units = len(ARMS) * SEEDS
    rounds: dict[str, list[float]] = {label: [] for label, *_ in CASES}
    ceilings: list[tuple[float, float]] = []
    tables: dict[str, list[tuple]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(max(1, args.repeats)):
            for label, backend, workers, threads in CASES:
                wall, run_dir = run_case(cfg, backend, workers, threads, Path(tmp) / f"r{r}")
                rounds[label].append(wall)
                table = metrics(run_dir)
                # one torch thread is deterministic; torch's default threads may split sums differently per run
                if threads == 1 and tables.setdefault(label, table) != table:
                    raise SystemExit(f"{label}: round {r + 1} gave other metrics than round 1")
                print(f"round {r + 1}: {label:<40} {wall:8.1f} s  {units / wall * 3600:8.0f} units/h", flush=True)
            ceilings.append(ceiling(cfg, Path(tmp) / f"r{r}"))
            alone, pair = ceilings[-1]
            print(f"round {r + 1}: ceiling: one unit alone {alone:.1f} s, two at once {pair:.1f} s", flush=True)
    walls = {label: statistics.median(ws) for label, ws in rounds.items()}
    t_alone = statistics.median(a for a, _ in ceilings)
    t_pair = statistics.median(p for _, p in ceilings)
    seq, one, two, dask = (walls[label] for label, *_ in CASES)
    speedup = seq / two
    efficiency = one / (2 * two)
    same = tables[CASES[1][0]] == tables[CASES[2][0]] == tables[CASES[3][0]]
    scaled = (f" ({args.fraction:g} of the full 15 + 50 epochs; the projection scales unit time back up)"
              if args.fraction != 1 else "")
    unit_s = one / units / args.fraction  # one full-recipe unit at one thread (start-up amortised, scaled up)
    lines = [
        f"{machine_line()}; {physical_cores()} physical cores",
        "",
        f"Reference recipe{' (QUICK: 1 pre-training, 2 fine-tuning epochs, 200 labels)' if args.quick else ''}: "
        f"784-500-500-500-10 sigmoid, {cfg.data.n_labelled} labels, {cfg.pretraining.dae.epochs} DAE epochs/layer, "
        f"{cfg.finetune.epochs} fine-tuning epochs, minibatch 10"
        f"{scaled}"
        f"; {SEEDS} paired seeds x {len(ARMS)} arms = {units} "
        f"units; {len(ceilings)} rounds alternating the cases, each case's median wall time from start to RunFinished "
        "(start-up included), the rounds' values in brackets.",
        "",
        "| case | median wall (rounds) | units/hour | vs sequential |",
        "|---|---:|---:|---:|",
    ]
    lines += [f"| {label} | {w:.1f} s ({', '.join(f'{x:.0f}' for x in rounds[label])}) | {units / w * 3600:.0f} | "
              f"{seq / w:.2f}x |" for label, w in walls.items()]
    per_round = [(a / (2 * b)) for a, b in zip(rounds[CASES[1][0]], rounds[CASES[2][0]], strict=True)]
    lines += [
        "",
        f"- local x2 over sequential: **{speedup:.2f}x** (target >= 1.4x); parallel efficiency per worker "
        f"(x1 / (2 x x2)): **{efficiency:.2f}** (target >= 0.85; per round "
        f"{', '.join(f'{e:.2f}' for e in per_round)})",
        f"- ceiling of this machine: one 'none' unit alone on one worker {t_alone:.1f} s, two identical units at "
        f"once on two workers {t_pair:.1f} s (medians): per-worker efficiency of perfectly balanced work "
        f"**{t_alone / t_pair:.2f}**; the scheduler reaches {efficiency / (t_alone / t_pair):.0%} of it",
        f"- Dask LocalCluster x2 vs local x2: {dask / two:.2f}x the wall time ({dask - two:+.1f} s: cluster "
        "start-up, scheduler round trips, events through a Dask queue)",
        f"- metrics identical across the 1-thread cases (local x1, local x2, dask x2): {'yes' if same else 'NO'}",
        f"- projected wall time of 2 x {PROJECT_SEEDS} seeds (one unit per core at {unit_s:.0f} s per unit, "
        f"efficiency {efficiency:.2f}): "
        + ", ".join(f"{n} cores {fmt_hours(math.ceil(2 * PROJECT_SEEDS / n) * unit_s / min(1.0, efficiency))}"
                    for n in PROJECT_CORES),
    ]
    body = "\n".join(lines)
    print("\n" + body)
    if not same:
        raise SystemExit("the 1-thread cases gave different metrics")
    if not args.quick and not args.no_write:
        write_section("parallel-units", "## Parallel units (bench/parallel_units.py)\n\n" + body)


if __name__ == "__main__":
    main()
