"""Erhan's Figure 1 study (2 x 400 paired seeds of the reference recipe): the time per unit of today's default
against the new default (or the same default in another copy of the code, ``--before``), side by side in one
run, and the projected wall time of the whole study.

The reference recipe (issue 25): 784-500-500-500-10 sigmoid, classic init, 1,000 labelled digits, DAE
pre-training 15 epochs/layer on the unlabelled pool, 50 fine-tuning epochs, minibatch 10; arms none and dae.
Each case is a whole ``reproduce-fig1`` run of ``--seeds`` paired seeds x 2 arms on ``--workers`` local worker
processes (1 torch thread each), in its own Python process (as ``basin reproduce fig1`` runs it):
  dense, 1      the one dense step, one seed per task (the default)
  autograd      the default until issue 24: the autograd step (``execution.step = "autograd"``), one seed per task
  dense, auto   the dense step in seed batches of 4 (``execution.seed_batch = 0``: auto)
  before        ``--before DIR``: the default case run by the code in DIR (e.g. ``git archive`` of an older
                commit's desktop_app/ and resources/), to measure a change of the code itself
Rounds alternate the cases and each case's median is reported (this machine's speed drifts by tens of percent
within minutes).

What is measured, so that nothing fixed is multiplied (issue 25 item 2): each unit's span, from its first event
to its UnitFinished as the parent receives them (its pre-training, fine-tuning, per-epoch evaluation and file
writes), and the case's fixed cost, its wall time less the span from the first unit's first event to the last
unit's end (interpreter and imports, worker processes starting, the data loaded once per worker, the run's
files at start and end). Worker processes live for the whole run and take one unit after another, so a study
pays the fixed cost once. At ``--fraction 1`` (the default) the units are full-recipe units and nothing is
scaled; below 1 the spans are scaled up by the share of minibatches (an upper bound: a unit's own set-up is
scaled too). Projected study wall = fixed + 400 x (median none span + median dae span) / cores, i.e. the units
packed onto the cores at the per-unit time measured here with ``--workers`` units running at once.

    .venv/bin/python bench/fig1_study.py [--fraction 1] [--seeds 2] [--workers 2] [--repeats 2]
        [--cases dense,autograd,batch] [--before DIR]
    .venv/bin/python bench/fig1_study.py --device cuda   # on a GPU machine: the GPU table (not written here)
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.report import machine_line, write_section  # noqa: E402
from desktop_app.core import config as c  # noqa: E402
from desktop_app.core.presets import load_preset  # noqa: E402

STUDY_SEEDS, PROJECT_CORES = 400, (2, 16, 64)
CASES = {  # name -> (label, execution overrides)
    "dense": ("dense step, 1 seed per task (the default)", {"execution.step": "auto", "execution.seed_batch": 1}),
    "autograd": ("autograd step, 1 seed per task (the default before issue 24)",
                 {"execution.step": "autograd", "execution.seed_batch": 1}),
    "batch": ("dense step, seed batches (auto = 4)", {"execution.step": "auto", "execution.seed_batch": 0}),
}

# The case's run in its own interpreter, importing desktop_app from the tree on its PYTHONPATH: the seconds (from
# its start) at which each unit's first event and its UnitFinished arrived, and how the run ended.
CHILD = """
import json, sys, time
t0, c0 = time.perf_counter(), time.process_time()
from desktop_app.core.engine.run import run_experiment
from desktop_app.core.events import UnitFinished
from desktop_app.core.presets import load_preset
cfg = load_preset("reproduce-fig1").with_overrides(json.loads(sys.argv[1]))
first, end, last = {}, {}, None
for ev in run_experiment(cfg, None, sys.argv[2]):
    now = (time.perf_counter() - t0, time.process_time() - c0)
    key = (getattr(ev, "arm", None), getattr(ev, "seed", None))
    if key[0] is not None and key[1] is not None:
        first.setdefault(key, now)
        if isinstance(ev, UnitFinished):
            end[key] = (now, ev.status)
    last = ev
print(json.dumps({"status": getattr(last, "status", None), "message": getattr(last, "message", ""),
                  "cpu": time.process_time() - c0,
                  "units": [[a, s, first[(a, s)][0], t[0], st, first[(a, s)][1], t[1]]
                            for (a, s), (t, st) in end.items()]}))
"""


def overrides(fraction: float, seeds: int, workers: int, device: str, seed_base: int = 0) -> dict:
    return {
        "seeds.base": seed_base,
        "name": "fig1-study-bench",
        "pretraining.dae.epochs": max(1, round(15 * fraction)),
        "finetune.epochs": max(1, round(50 * fraction)),
        "seeds.count": seeds, "device": device, "threads": 1,
        "execution.backend": "local" if workers > 1 else "inline", "execution.workers": workers,
    }


def work_share(run: c.ExperimentConfig, full: c.ExperimentConfig) -> dict[str, float]:
    """Per arm, the share of a full-recipe unit's minibatches that ``run``'s unit does (pre-training and
    fine-tuning epochs are rounded separately, so the share is counted, not assumed)."""
    from desktop_app.core.data import load_data
    from desktop_app.core.training.unit import unit_steps

    d = load_data(run.data)
    n_lab, n_unlab = len(d.train_x), len(d.unlabelled_x)
    return {arm: unit_steps(run, arm, n_lab, n_unlab) / unit_steps(full, arm, n_lab, n_unlab) for arm in run.arms}


def run_case(tree: Path, over: dict, run_dir: Path) -> dict:
    """One case in its own process: wall (s), fixed (s: wall less the units' span), spans {arm: [s per unit]}."""
    env = {**os.environ, "PYTHONPATH": str(tree), "OMP_NUM_THREADS": "1"}
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", CHILD, json.dumps(over), str(run_dir)], env=env, cwd=tree,
                         capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if out.returncode != 0:
        raise SystemExit(f"{run_dir.name}: the run failed ({out.stderr.strip().splitlines()[-1:]})")
    res = json.loads(out.stdout.strip().splitlines()[-1])
    if res["status"] != "completed" or any(u[4] != "completed" for u in res["units"]):
        raise SystemExit(f"{run_dir.name}: the run did not complete ({res['message']})")
    spans: dict[str, list[float]] = {}
    cpu: dict[str, list[float]] = {}
    for arm, _seed, t_first, t_end, _, c_first, c_end in res["units"]:
        spans.setdefault(arm, []).append(t_end - t_first)
        cpu.setdefault(arm, []).append(c_end - c_first)
    busy = max(u[3] for u in res["units"]) - min(u[2] for u in res["units"])
    # inline (one worker): the units ran in the child itself, so its CPU time per unit is the unit's own
    inline = over.get("execution.backend") == "inline"
    return {"wall": wall, "fixed": wall - busy, "spans": spans, "cpu": cpu if inline else None,
            "fixed_cpu": res["cpu"] - sum(map(sum, cpu.values())) if inline else None}


def nlls(run_dir: Path) -> dict[tuple, float]:
    with open(run_dir / "metrics.csv", newline="") as fh:
        return {(r["arm"], r["seed"], r["phase"], r["layer"], r["epoch"], r["split"]): float(r["nll"])
                for r in csv.DictReader(fh) if r["nll"]}


def command_line() -> str:
    """This run's arguments without its notes (they are printed as lines of their own)."""
    args, out = sys.argv[1:], []
    while args:
        a = args.pop(0)
        if a == "--note":
            args = args[1:]
        elif not a.startswith("--note="):
            out.append(a)
    return " ".join(out)


def hours(seconds: float) -> str:
    return f"{seconds / 3600:.2f} h" if seconds >= 3600 else f"{seconds / 60:.0f} min"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fraction", type=float, default=1.0, help="share of the recipe's epochs run (default 1)")
    ap.add_argument("--seeds", type=int, default=2, help="paired seeds per arm in each case (default 2)")
    ap.add_argument("--workers", type=int, default=2, help="local worker processes (default 2)")
    ap.add_argument("--repeats", type=int, default=2, help="rounds over the cases, alternating (default 2)")
    ap.add_argument("--cases", default="dense", help=f"comma-separated, of {', '.join(CASES)} (default dense)")
    ap.add_argument("--before", type=Path, help="also run the default case with the desktop_app/ and resources/ "
                    "in this folder (the code before a change), first in each round")
    ap.add_argument("--seed-base", type=int, default=None,
                    help="first seed of each case (default: the preset's snapshots.keep_seeds, i.e. seeds that keep "
                    "only metrics, as 390 of the study's 400 pairs do; 0 measures the seeds that keep snapshots)")
    ap.add_argument("--device", default="cpu", help="cpu or cuda")
    ap.add_argument("--note", action="append", default=[], help="a line for the section (e.g. the machine's load)")
    ap.add_argument("--section", default="fig1-study", help="the docs/PERFORMANCE.md section written")
    ap.add_argument("--title", default="Figure 1 study: time per unit and the projected study",
                    help="that section's heading")
    ap.add_argument("--no-write", action="store_true", help="print only; leave docs/PERFORMANCE.md alone")
    args = ap.parse_args()
    preset = load_preset("reproduce-fig1")
    seed_base = preset.snapshots.keep_seeds if args.seed_base is None else args.seed_base
    over = overrides(args.fraction, args.seeds, args.workers, args.device, seed_base)
    cfg = load_preset("reproduce-fig1").with_overrides(over)
    share = work_share(cfg, load_preset("reproduce-fig1").with_overrides(overrides(1.0, 1, 1, args.device)))
    cases: dict[str, tuple[Path, dict]] = {}
    if args.before is not None:
        cases[f"before ({args.before.name}): {CASES['dense'][0]}"] = (args.before.resolve(), CASES["dense"][1])
    for name in args.cases.split(","):
        label, ex = CASES[name.strip()]
        cases[label] = (ROOT, ex)
    results: dict[str, list[dict]] = {label: [] for label in cases}
    tables: dict[str, dict] = {}
    loads = []
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(max(1, args.repeats)):
            for i, (label, (tree, ex)) in enumerate(cases.items()):
                run_dir = Path(tmp) / f"r{r}-c{i}"
                loads.append(os.getloadavg()[0])
                res = run_case(tree, {**over, **ex}, run_dir)
                results[label].append(res)
                tables.setdefault(label, nlls(run_dir))
                med = {arm: statistics.median(v) for arm, v in res["spans"].items()}
                print(f"round {r + 1}: {label:<60} wall {res['wall']:6.1f} s, fixed {res['fixed']:5.1f} s, "
                      + ", ".join(f"{arm} {v:5.1f} s/unit" for arm, v in med.items()), flush=True)
    ref, *others = (tables[label] for label in cases)
    worst = max((abs(t[k] - v) / max(abs(v), 1e-12) for t in others for k, v in ref.items()), default=0.0)
    if any(ref.keys() != t.keys() for t in others) or worst > 1e-3:
        raise SystemExit(f"the cases' metrics differ (worst relative NLL difference {worst:.2e})")
    arms = list(cfg.arms)
    rows, pair = [], {}
    for label, runs in results.items():
        span = {arm: statistics.median(x for res in runs for x in res["spans"][arm]) / share[arm] for arm in arms}
        fixed = statistics.median(res["fixed"] for res in runs)
        pair[label] = sum(span.values())
        proj = [hours(fixed + STUDY_SEEDS * pair[label] / n) for n in PROJECT_CORES]
        rows.append(f"| {label} | {statistics.median(res['wall'] for res in runs):.1f} s | {fixed:.1f} s | "
                    + " | ".join(f"{span[arm]:.1f} s" for arm in arms)
                    + f" | {2 * 3600 / pair[label] * args.workers:.0f} | " + " | ".join(proj) + " |")
    scaled = "full-recipe units, nothing scaled" if all(v == 1 for v in share.values()) else \
        "spans scaled up by the share of minibatches (" + ", ".join(f"{a} {v:.3f}" for a, v in share.items()) + ")"
    lines = [
        f"{machine_line()}; device {args.device}; {args.workers} local worker(s), 1 torch thread each; load average "
        f"(1 min) {min(loads):.1f}-{max(loads):.1f} at the cases' starts",
        *args.note,
        "",
        f"Reference recipe (preset reproduce-fig1) at {cfg.pretraining.dae.epochs} DAE epochs/layer and "
        f"{cfg.finetune.epochs} fine-tuning epochs ({scaled}); {args.seeds} paired seeds x 2 arms = "
        f"{2 * args.seeds} units per case, {args.workers} at a time; {len(next(iter(results.values())))} rounds "
        "alternating the cases, medians. Span = a unit from its first event to its end; fixed = the case's wall "
        "less its units' span (start, workers, data, end: paid once per run). Projected 2 x 400 = fixed + "
        "400 x (none + dae span) / cores.",
        f"Command: `bench/fig1_study.py {command_line()}`",
        "",
        "| case | wall | fixed | " + " | ".join(f"{arm} unit" for arm in arms) + " | units/hour on these "
        f"{args.workers} workers | " + " | ".join(f"2 x 400 on {n} cores" for n in PROJECT_CORES) + " |",
        "|---|---:|---:|" + "---:|" * len(arms) + "---:|" + "---:|" * len(PROJECT_CORES),
        *rows,
        "",
    ]
    first = next(iter(pair))
    lines += [f"- {label} / {first}: **{pair[first] / pair[label]:.2f}x** units per hour" for label in list(pair)[1:]]
    if all(res["cpu"] is not None for runs in results.values() for res in runs):
        lines += ["", "CPU time (the units ran in the case's own process, one at a time): what a unit costs a core "
                  "whatever else the machine runs (others' processes stretch wall time, much less CPU time). "
                  "Projected 2 x 400 with each core giving its unit its CPU time (a quiet machine, one unit per "
                  "core) = fixed CPU + 400 x (none + dae CPU) / cores.", "",
                  "| case | fixed CPU | " + " | ".join(f"{arm} unit CPU" for arm in arms) + " | "
                  + " | ".join(f"2 x 400 on {n} cores" for n in PROJECT_CORES) + " |",
                  "|---|---:|" + "---:|" * len(arms) + "---:|" * len(PROJECT_CORES)]
        cpu_pair = {}
        for label, runs in results.items():
            unit = {arm: statistics.median(x for res in runs for x in res["cpu"][arm]) / share[arm] for arm in arms}
            fixed = statistics.median(res["fixed_cpu"] for res in runs)
            cpu_pair[label] = sum(unit.values())
            lines.append(f"| {label} | {fixed:.1f} s | " + " | ".join(f"{unit[arm]:.1f} s" for arm in arms) + " | "
                         + " | ".join(hours(fixed + STUDY_SEEDS * cpu_pair[label] / n) for n in PROJECT_CORES)
                         + " |")
        lines += [""] + [f"- CPU per pair of units, {label} / {first}: **{cpu_pair[first] / cpu_pair[label]:.2f}x**"
                         for label in list(cpu_pair)[1:]]
    lines += [f"- metrics of every case agree with the first case's to {worst:.1e} relative (NLL)."]
    print("\n".join(lines))
    if not args.no_write and args.device == "cpu":
        write_section(args.section, f"## {args.title} (bench/fig1_study.py)\n\n" + "\n".join(lines))


if __name__ == "__main__":
    main()
