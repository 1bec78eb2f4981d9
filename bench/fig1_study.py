"""Erhan's Figure 1 study (2 x 400 paired seeds of the reference recipe): units per hour of today's default
against the new default, side by side in one run, and the projected wall time of the whole study.

The reference recipe (issue 25): 784-500-500-500-10 sigmoid, classic init, 1,000 labelled digits, DAE
pre-training 15 epochs/layer on the unlabelled pool, 50 fine-tuning epochs, minibatch 10; arms none and dae.
Cases, each a whole run of ``--seeds`` paired seeds x 2 arms on ``--workers`` local worker processes (1 torch
thread each), from the engine's start to its RunFinished:
  before        the default until issue 24: the autograd step (``execution.step = "autograd"``), one seed per task
  dense, 1      the one dense step (the default now), one seed per task
  dense, auto   the dense step in seed batches of 4 (``execution.seed_batch = 0``: auto)
Rounds alternate the cases and each case's median is reported (this machine's speed drifts by tens of percent
within minutes). The run uses ``--fraction`` of the recipe's epochs; the projection scales unit time back up:
study wall = 800 units / (units per hour at the full recipe, per worker) / cores, i.e. one unit (or batch) per
core at the per-worker rate measured here, no other overhead. The metrics of the two cases agree to float rounding
(checked: relative 1e-3 on every NLL).

    .venv/bin/python bench/fig1_study.py [--fraction 0.2] [--seeds 4] [--workers 2] [--repeats 2]
    .venv/bin/python bench/fig1_study.py --device cuda   # on a GPU machine: the GPU table (not written here)
"""

from __future__ import annotations

import argparse
import csv
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
from desktop_app.core.presets import load_preset  # noqa: E402

STUDY_UNITS, PROJECT_CORES = 800, (2, 16, 64)
CASES = {  # label -> execution overrides
    "before: autograd step, 1 seed per task": {"execution.step": "autograd", "execution.seed_batch": 1},
    "dense step, 1 seed per task": {"execution.step": "auto", "execution.seed_batch": 1},
    "dense step, seed batches (auto)": {"execution.step": "auto", "execution.seed_batch": 0},
}


def recipe(fraction: float, seeds: int, workers: int, device: str) -> c.ExperimentConfig:
    return load_preset("reproduce-fig1").with_overrides({
        "name": "fig1-study-bench",
        "pretraining.dae.epochs": max(1, round(15 * fraction)),
        "finetune.epochs": max(1, round(50 * fraction)),
        "seeds.count": seeds, "device": device, "threads": 1,
        "execution.backend": "local" if workers > 1 else "inline", "execution.workers": workers,
    })


def work_share(run: c.ExperimentConfig, full: c.ExperimentConfig) -> float:
    """The share of a full-recipe unit's minibatches that ``run`` does (pre-training and fine-tuning epochs are
    rounded separately, so the share is counted, not assumed)."""
    from desktop_app.core.data import load_data
    from desktop_app.core.training.unit import unit_steps

    d = load_data(run.data)
    n_lab, n_unlab = len(d.train_x), len(d.unlabelled_x)
    return (sum(unit_steps(run, arm, n_lab, n_unlab) for arm in run.arms)
            / sum(unit_steps(full, arm, n_lab, n_unlab) for arm in full.arms))


def run_case(cfg: c.ExperimentConfig, over: dict, run_dir: Path) -> float:
    t0, last = time.perf_counter(), None
    for ev in run_experiment(cfg.with_overrides(over), None, run_dir):
        last = ev
    if not isinstance(last, RunFinished) or last.status != "completed":
        raise SystemExit(f"{run_dir.name}: the run did not complete ({getattr(last, 'message', last)})")
    return time.perf_counter() - t0


def nlls(run_dir: Path) -> dict[tuple, float]:
    with open(run_dir / "metrics.csv", newline="") as fh:
        return {(r["arm"], r["seed"], r["phase"], r["layer"], r["epoch"], r["split"]): float(r["nll"])
                for r in csv.DictReader(fh) if r["nll"]}


def hours(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{seconds / 60:.0f} min"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fraction", type=float, default=0.2, help="share of the recipe's epochs run (default 0.2)")
    ap.add_argument("--seeds", type=int, default=4, help="paired seeds per arm in each case (default 4)")
    ap.add_argument("--workers", type=int, default=2, help="local worker processes (default 2)")
    ap.add_argument("--repeats", type=int, default=2, help="rounds over the cases, alternating (default 2)")
    ap.add_argument("--device", default="cpu", help="cpu or cuda")
    ap.add_argument("--no-write", action="store_true", help="print only; leave docs/PERFORMANCE.md alone")
    args = ap.parse_args()
    cfg = recipe(args.fraction, args.seeds, args.workers, args.device)
    share = work_share(cfg, recipe(1.0, args.seeds, args.workers, args.device))
    units = 2 * args.seeds
    walls: dict[str, list[float]] = {label: [] for label in CASES}
    tables: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(max(1, args.repeats)):
            for i, (label, over) in enumerate(CASES.items()):
                run_dir = Path(tmp) / f"r{r}-c{i}"
                walls[label].append(run_case(cfg, over, run_dir))
                tables.setdefault(label, nlls(run_dir))
                print(f"round {r + 1}: {label:<42} {walls[label][-1]:7.1f} s", flush=True)
    before, *others = (tables[label] for label in CASES)
    worst = max(abs(t[k] - v) / max(abs(v), 1e-12) for t in others for k, v in before.items())
    if any(before.keys() != t.keys() for t in others) or worst > 1e-3:
        raise SystemExit(f"the cases' metrics differ (worst relative NLL difference {worst:.2e})")
    med = {label: statistics.median(ws) for label, ws in walls.items()}
    per_hour = {label: units / (w / share) * 3600 for label, w in med.items()}  # full-recipe units/hour
    lines = [
        f"{machine_line()}; device {args.device}; {args.workers} local worker(s), 1 torch thread each",
        "",
        f"Reference recipe (preset reproduce-fig1) at {cfg.pretraining.dae.epochs} DAE epochs/layer and "
        f"{cfg.finetune.epochs} fine-tuning epochs ({share:.3f} of the full recipe's minibatches), {args.seeds} "
        f"paired seeds x 2 arms = {units} units per case; {len(walls[next(iter(CASES))])} rounds alternating the "
        "cases, median wall from start to RunFinished (rounds in brackets); units/hour scaled to the full recipe.",
        "",
        "| case | median wall (rounds) | full-recipe units/hour | " +
        " | ".join(f"2 x 400 on {n} cores" for n in PROJECT_CORES) + " |",
        "|---|---:|---:|" + "---:|" * len(PROJECT_CORES),
    ]
    for label, w in med.items():
        rate_per_core = per_hour[label] / args.workers
        proj = [hours(STUDY_UNITS / (rate_per_core * n) * 3600) for n in PROJECT_CORES]
        lines.append(f"| {label} | {w:.1f} s ({', '.join(f'{x:.0f}' for x in walls[label])}) | "
                     f"{per_hour[label]:.0f} | " + " | ".join(proj) + " |")
    b = per_hour[next(iter(CASES))]
    lines += [""] + [f"- {label} / before: **{per_hour[label] / b:.2f}x** units per hour" for label in list(CASES)[1:]]
    lines += [f"- metrics of every case agree with the autograd case to {worst:.1e} relative (NLL)."]
    print("\n".join(lines))
    if not args.no_write and args.device == "cpu":
        write_section("fig1-study", "## Figure 1 study: today's default vs the new one (bench/fig1_study.py)\n\n"
                      + "\n".join(lines))


if __name__ == "__main__":
    main()
