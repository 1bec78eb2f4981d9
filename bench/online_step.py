"""Online units: examples per second of the dense step (``online.steppers.DenseStep``, the hand-written step of
``training.dense_step`` with the score taken from its forward pass) vs the autograd step (``PlainStep``: an eval-mode
scoring pass, then ``training.finetune_step``), plus the stream's deformations, on the nets of
``basin reproduce online`` (784-500-10 and 784-500-500-500-10 sigmoid, momentum 0.9, minibatch 10) and of
``basin reproduce output-variance`` (784-100-10, whose 45 passes per seed also read the stream from a cache after the
first: the stream column is what each pass would otherwise pay again).

Each repeat times both steps on the same minibatches, alternating which goes first; the table gives medians and
the projected wall time of the claim's 10^6 fine-tuning examples per unit.

    .venv/bin/python bench/online_step.py [--examples 5000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.report import machine_line, write_section  # noqa: E402
from desktop_app.core.reproduce.claims import _online_runs, _output_variance_runs  # noqa: E402
from desktop_app.core.training.models import build_model  # noqa: E402
from desktop_app.core.training.online_unit import streams  # noqa: E402
from desktop_app.core.training.steppers import DenseStep, PlainStep  # noqa: E402
from desktop_app.core.training.unit import prepare_data  # noqa: E402

DIGITS = {"data.name": "digits", "data.download": False, "data.n_valid": 500, "data.n_test": 1000}


def time_steps(kind, cfg, data, batches) -> float:
    model = build_model(cfg.model, data.input_shape, data.n_classes, 0)
    stepper = kind(model, cfg, None)
    stepper.reseed(0)
    t = time.perf_counter()
    for i, (x, y) in enumerate(batches):
        stepper.score_and_step(x, y, 1, check_loss=i % 32 == 0)
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--examples", type=int, default=5000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    rows = []
    with open("/proc/loadavg") as fh:
        load = fh.read().split()[0]
    nets = [(label, cfg.with_overrides(DIGITS)) for label, cfg in _online_runs(False)]
    nets.append(("output-variance", _output_variance_runs(False)[0][1]))
    for label, cfg in nets:
        data = prepare_data(cfg, torch.device("cpu")).splits
        stream = streams(cfg, data, 0)[1]
        bs = cfg.finetune.batch_size
        t = time.perf_counter()
        batches = [stream.take(s, bs) for s in range(0, args.examples, bs)]
        take_s = time.perf_counter() - t
        dense, plain = [], []
        for r in range(args.repeats):
            order = [(DenseStep, dense), (PlainStep, plain)]
            for kind, out in order if r % 2 == 0 else order[::-1]:
                out.append(time_steps(kind, cfg, data, batches))
        d, p = statistics.median(dense), statistics.median(plain)
        per_m = 1e6 / args.examples
        rows.append(f"| {label} ({'-'.join(['784', *(str(s.units) for s in cfg.model.layers), '10'])}) | "
                    f"{p / args.examples * 1e6:.0f} | {d / args.examples * 1e6:.0f} | x{p / d:.2f} | "
                    f"{take_s / args.examples * 1e6:.0f} | {(p + take_s) * per_m / 60:.1f} | "
                    f"{(d + take_s) * per_m / 60:.1f} |")
        print(rows[-1], flush=True)
    body = "\n".join([
        "## Online units (`bench/online_step.py`)",
        "",
        f"One online fine-tuning step of `basin reproduce online`'s nets (sigmoid, momentum 0.9, minibatch 10) on "
        f"{args.examples:,} stream examples, median of {args.repeats} alternating repeats, one process, "
        f"{args.threads} torch thread (load average {load} when it started). autograd = `PlainStep` (eval-mode "
        "scoring pass + `training.finetune_step`), dense = `DenseStep` (what a dense online unit runs: "
        "`training.dense_step`'s hand-written step at K = 1, the score taken from its own forward pass); stream = the "
        "elastic + affine deformations the unit draws. Projected: minutes per unit for 10^6 fine-tuning examples "
        "(step + stream; pre-training and the evaluation points come on top). Output variance trains 45 passes "
        "of 100,000 examples per seed on its net and generates the stream once "
        "(`online.stream.OnlineStream(cache_bytes)`).",
        "",
        "| net | autograd (us/example) | dense (us/example) | speed-up | stream (us/example) | "
        "projected autograd (min / 10^6) | projected dense (min / 10^6) |",
        "|---|---|---|---|---|---|---|",
        *rows,
        "",
        f"- machine: {machine_line()}",
    ])
    write_section("online-step", body)


if __name__ == "__main__":
    main()
