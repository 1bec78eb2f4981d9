"""Error-surface speed: a 51 x 51 grid on 2,000 examples for a 784-1000-1000-1000-10 sigmoid net.

Measures in one run: (1) this machine's fp32 matmul rate (torch.matmul of 4096 x 4096 matrices, median of
repeats, before and after the grid, same thread count); (2) wall time of Basin's batched grid evaluation
(``analysis.landscape.surface_on_grid``: filter-normalised random directions, random weights via build_model,
uniform random inputs and labels -- the data do not change the cost); (3) a per-point reference loop (copy
``center + a d1 + b d2`` into a model with load_state_dict, evaluate with the engine's ``evaluate``) timed on a
subset of points and extrapolated to the grid. Writes the "landscape" section of docs/PERFORMANCE.md.

FLOP count per grid point (nominal, what a plain forward pass does): 2 * N * sum(in * out) over the four
layers = 2 * 2000 * (784*1000 + 1000*1000 + 1000*1000 + 1000*10). The batched path executes fewer: the first
layer's three products x W^T, x D1^T, x D2^T are computed once for the whole grid, so per point it runs only
the last three layers' matmuls (plus O(in * out) to form each point's weights). Both rates are reported.

    .venv/bin/python bench/landscape.py [--threads 2] [--grid 51] [--n 2000] [--ref-points 16] [--no-write]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.report import machine_line, write_section  # noqa: E402
from desktop_app.core import config as c  # noqa: E402
from desktop_app.core.analysis import landscape as ls  # noqa: E402
from desktop_app.core.training.models import build_model  # noqa: E402
from desktop_app.core.training.step import evaluate  # noqa: E402

WIDTHS = (1000, 1000, 1000)


def matmul_rate(n: int = 4096, repeats: int = 7) -> float:
    """Median fp32 GFLOP/s of an n x n x n torch.matmul (2 n^3 FLOPs)."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.matmul(a, b)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        torch.matmul(a, b)
        times.append(time.perf_counter() - t)
    return 2 * n**3 / statistics.median(times) / 1e9


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--grid", type=int, default=51)
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--ref-points", type=int, default=16)
    ap.add_argument("--memory-mb", type=int, default=ls.DEFAULT_MEMORY_MB)
    ap.add_argument("--no-write", action="store_true", help="print only; do not touch docs/PERFORMANCE.md")
    ap.add_argument("--note", default="", help="a sentence on the conditions (e.g. other load), added to the report")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    mc = c.ModelConfig(layers=c.mlp(WIDTHS), activation="sigmoid")
    net = build_model(mc, (1, 28, 28), 10, 0).eval()
    center = {k: v.detach().clone() for k, v in net.state_dict().items()}
    d1, d2 = ls.filter_normalized_direction(center, 0), ls.filter_normalized_direction(center, 1)
    g = torch.Generator().manual_seed(0)
    x = torch.rand(args.n, 1, 28, 28, generator=g)
    y = torch.randint(0, 10, (args.n,), generator=g)
    xs = ys = np.linspace(-1, 1, args.grid)
    points = args.grid * args.grid
    template = ls.LandscapeResult(
        xs=xs, ys=ys, loss=np.full((args.grid, args.grid), np.nan), error=np.full((args.grid, args.grid), np.nan),
        trajectory=np.zeros((0, 2)), trajectory_epochs=np.zeros(0, np.int64),
        explained_variance_ratio=np.full(2, np.nan),
        directions="random", arm="bench", seed=0, epoch=0, split="train", n_eval=args.n)

    rate_before = matmul_rate()
    t0 = time.perf_counter()
    result = None
    for item in ls.surface_on_grid(net, center, d1, d2, xs, ys, x, y, template, memory_mb=args.memory_mb):
        result = item
    wall = time.perf_counter() - t0
    rate_after = matmul_rate()
    assert result is not None and result.complete

    # per-point reference loop on a spread subset of the grid, extrapolated
    rng = np.random.default_rng(0)
    pick = rng.choice(points, size=min(args.ref_points, points), replace=False)
    ref_net = build_model(mc, (1, 28, 28), 10, 1)
    flat_loss = result.loss.ravel()
    max_rel = 0.0
    t1 = time.perf_counter()
    for p in pick:
        j, i = divmod(int(p), args.grid)
        ref_net.load_state_dict({k: center[k] + float(xs[i]) * d1[k] + float(ys[j]) * d2[k] for k in center})
        nll, _ = evaluate(ref_net, x, y)
        max_rel = max(max_rel, abs(nll - flat_loss[p]) / abs(nll))
    ref_per_point = (time.perf_counter() - t1) / len(pick)
    ref_total = ref_per_point * points

    nominal = ls.landscape_flops(net, args.n) * points
    first = 784 * WIDTHS[0]
    executed = 2 * args.n * (sum(a * b for a, b in zip(WIDTHS, (*WIDTHS[1:], 10), strict=True)) * points + 3 * first)
    rate = statistics.mean([rate_before, rate_after])
    nominal_rate = nominal / wall / 1e9
    executed_rate = executed / wall / 1e9
    lines = [
        f"Machine: {machine_line()}",
        "",
        f"Command: `.venv/bin/python bench/landscape.py --threads {args.threads} --grid {args.grid} --n {args.n} "
        f"--ref-points {args.ref_points}`",
        "",
        f"{args.grid} x {args.grid} grid ({points} points), {args.n} examples, 784-1000-1000-1000-10 sigmoid, "
        "filter-normalised random directions, batched evaluator.",
        "",
        "| quantity | value |",
        "|---|---|",
        f"| fp32 matmul rate (4096^3, median of 7; before / after grid) | "
        f"{rate_before:.0f} / {rate_after:.0f} GFLOP/s |",
        f"| grid wall time | {wall:.1f} s ({wall / points * 1000:.1f} ms per point) |",
        f"| nominal rate: 2 N sum(in*out) per point, all 4 layers = {nominal / 1e12:.1f} TFLOP | "
        f"{nominal_rate:.0f} GFLOP/s = {nominal_rate / rate:.0%} of matmul rate |",
        f"| executed rate: first layer once (3 products), last 3 layers per point = {executed / 1e12:.1f} TFLOP | "
        f"{executed_rate:.0f} GFLOP/s = {executed_rate / rate:.0%} of matmul rate |",
        f"| per-point reference loop (load_state_dict + evaluate; {len(pick)} points, extrapolated) | "
        f"{ref_total:.0f} s ({ref_per_point * 1000:.0f} ms per point) |",
        f"| speed-up over the reference loop | {ref_total / wall:.1f}x |",
        f"| max relative loss difference vs the reference on those points | {max_rel:.1e} |",
        "",
        "The fastest possible time for the executed FLOPs at the measured matmul rate is "
        f"{executed / (rate * 1e9):.0f} s; a 60 s grid would need {executed / 60 / 1e9:.0f} GFLOP/s, "
        f"{executed / 60 / (rate * 1e9):.1f}x this machine's fp32 matmul rate (AVX2, no bf16/AMX). The two matmul "
        "measurements bracket the grid; rates are only comparable within one run.",
        *(["", args.note] if args.note else []),
    ]
    body = "## Error surface (bench/landscape.py)\n\n" + "\n".join(lines)
    print(body)
    if not args.no_write:
        write_section("landscape", body)


if __name__ == "__main__":
    main()
