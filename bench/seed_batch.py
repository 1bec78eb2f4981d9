"""Seed batches: per-seed fine-tuning throughput of K seeds stacked into one net vs K units one after another.

The reference net (issue 14): 784-500-500-500-10 sigmoid, classic init, minibatch 10, on random 28x28 inputs
(the arithmetic does not depend on the pixel values), in one process at 1 torch thread:

  sequential  K units, each its own ``Net`` and torch optimizer, stepped with ``training.finetune_step`` (what a
              unit runs today), each on its own random data order
  stacked     ``stacked.StackedMLP`` of the same K seeds, one ``step`` per minibatch for all of them

Both include gathering each seed's minibatch by its own permutation. The ratio is per-seed steps per second,
stacked / sequential, measured in the same run, median of the repeats (the two alternate, so load from other
processes hits both). Target: >= 1.3x per seed at the best K. The stacked step at K = 1 is reported too: it
separates the hand-written step (no autograd, SGD update folded into the gradient product) from the stacking.

The CNN row: the scae-pitfall preset's net (conv 16 5x5, pool 2, conv 32 5x5, pool 2, dense 100, ReLU) with its
fine-tuning (SGD, minibatch 32) on random 1x28x28 inputs, K = 1, 4, 16: sequential units vs
``stacked_conv.StackedCNN`` (grouped convolutions) vs the alternative it was chosen over, the seed dimension
folded into the batch with ``torch.func.functional_call`` + ``vmap(grad)`` (a plain SGD update by hand).

    .venv/bin/python bench/seed_batch.py            # about 2 minutes on 2 cores; writes docs/PERFORMANCE.md
    .venv/bin/python bench/seed_batch.py --quick    # a few steps: checks the bench, writes nothing
    .venv/bin/python bench/seed_batch.py --device cuda   # where CUDA exists: the GPU table and the projection
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from bench.report import machine_line, write_section  # noqa: E402
from desktop_app.core.config import FinetuneConfig, LayerSpec, ModelConfig  # noqa: E402
from desktop_app.core.presets import load_preset  # noqa: E402
from desktop_app.core.seedbatch.conv import StackedCNN  # noqa: E402
from desktop_app.core.training.dense_step import StackedMLP  # noqa: E402
from desktop_app.core.training.models import build_model  # noqa: E402
from desktop_app.core.training.step import LOSS_CHECK_EVERY, finetune_step, make_optimizer  # noqa: E402

KS = (1, 4, 16, 64)
N, BATCH = 1000, 10
MODEL = ModelConfig(layers=(LayerSpec("dense", 500),) * 3, activation="sigmoid", init="classic")
OPTIMIZERS = {"sgd": FinetuneConfig(optimizer="sgd", lr=0.1),
              "momentum": FinetuneConfig(optimizer="momentum", lr=0.05, momentum=0.9),
              "adam": FinetuneConfig(optimizer="adam", lr=1e-3)}
ERHAN_SEEDS, ERHAN_LABELLED, ERHAN_EPOCHS = 2 * 400, 50_000, 50  # projection: 2 arms x 400 seeds, full MNIST
CNN_KS = (1, 4, 16)
CNN_SHAPE = (1, 28, 28)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def _warmup(device: torch.device) -> int:
    """Untimed steps before each timing on CUDA: the first steps pay for kernel loading, cuBLAS/cuDNN handles
    and the caching allocator's first blocks, which a run pays once, not per step. None on a CPU (as measured
    before)."""
    return 20 if device.type == "cuda" else 0


def sequential_s(k: int, ft: FinetuneConfig, steps: int, x, y, device) -> float:
    """Seconds per minibatch per seed, K units one after another (each `steps` minibatches)."""
    total = 0.0
    for seed in range(k):
        net = build_model(MODEL, (784,), 10, seed).to(device)
        opt = make_optimizer(ft, net.parameters())
        perm = torch.randperm(N, generator=torch.Generator().manual_seed(seed)).to(device)
        _sync(device)
        t = time.perf_counter()
        for s in range(-_warmup(device), steps):
            if s == 0:
                _sync(device)
                t = time.perf_counter()
            idx = perm[(s * BATCH) % (N - BATCH):][:BATCH]
            finetune_step(net, opt, x[idx], y[idx], MODEL, ft, 1, check_loss=s % LOSS_CHECK_EVERY == 0)
        _sync(device)
        total += time.perf_counter() - t
    return total / (k * steps)


def stacked_s(k: int, ft: FinetuneConfig, steps: int, x, y, device) -> float:
    """Seconds per minibatch per seed, the same K seeds stacked."""
    net = StackedMLP([build_model(MODEL, (784,), 10, seed).to(device) for seed in range(k)], MODEL, ft)
    return _per_seed_s(k, steps, BATCH, device,
                       lambda idx, s: net.step(x[idx], y[idx], None, check_loss=s % LOSS_CHECK_EVERY == 0))


def _per_seed_s(k: int, steps: int, batch: int, device, step) -> float:
    """Seconds per minibatch per seed of ``step(idx, s)``, idx = each seed's next minibatch (K, batch) in its own
    data order: the timing loop every stacked case shares."""
    perms = torch.stack([torch.randperm(N, generator=torch.Generator().manual_seed(seed)) for seed in range(k)])
    perms = perms.to(device)
    _sync(device)
    t = time.perf_counter()
    for s in range(-_warmup(device), steps):
        if s == 0:
            _sync(device)
            t = time.perf_counter()
        step(perms[:, (s * batch) % (N - batch):][:, :batch], s)
    _sync(device)
    return (time.perf_counter() - t) / (k * steps)


def _cnn():
    cfg = load_preset("scae-pitfall")
    return cfg.model, cfg.finetune


def cnn_sequential_s(k: int, steps: int, x, y, device) -> float:
    """Seconds per minibatch per seed, K conv units one after another."""
    model, ft = _cnn()
    total = 0.0
    for seed in range(k):
        net = build_model(model, CNN_SHAPE, 10, seed).to(device)
        opt = make_optimizer(ft, net.parameters())
        perm = torch.randperm(N, generator=torch.Generator().manual_seed(seed)).to(device)
        _sync(device)
        t = time.perf_counter()
        for s in range(-_warmup(device), steps):
            if s == 0:
                _sync(device)
                t = time.perf_counter()
            idx = perm[(s * ft.batch_size) % (N - ft.batch_size):][:ft.batch_size]
            finetune_step(net, opt, x[idx], y[idx], model, ft, 1, check_loss=s % LOSS_CHECK_EVERY == 0)
        _sync(device)
        total += time.perf_counter() - t
    return total / (k * steps)


def cnn_stacked_s(k: int, steps: int, x, y, device) -> float:
    """Seconds per minibatch per seed, the same K conv nets as one StackedCNN."""
    model, ft = _cnn()
    net = StackedCNN([build_model(model, CNN_SHAPE, 10, seed).to(device) for seed in range(k)], model, ft)
    return _per_seed_s(k, steps, ft.batch_size, device,
                       lambda idx, s: net.step(x[idx], y[idx], None, check_loss=s % LOSS_CHECK_EVERY == 0))


def cnn_vmap_s(k: int, steps: int, x, y, device) -> float:
    """Seconds per minibatch per seed, the K nets' parameters stacked and ``vmap(grad)`` over functional_call."""
    import copy

    import torch.nn.functional as F
    from torch.func import functional_call, grad, stack_module_state, vmap

    model, ft = _cnn()
    nets = [build_model(model, CNN_SHAPE, 10, seed).to(device) for seed in range(k)]
    params, _ = stack_module_state(nets)
    base = copy.deepcopy(nets[0]).to("meta")

    def loss(p, xx, yy):
        return F.cross_entropy(functional_call(base, (p,), (xx,)), yy)

    step = vmap(grad(loss))

    def sgd(idx, _s):
        grads = step(params, x[idx], y[idx])
        with torch.no_grad():
            for name, g in grads.items():
                params[name].sub_(g, alpha=ft.lr)

    return _per_seed_s(k, steps, ft.batch_size, device, sgd)


def measure_cnn(device: torch.device, quick: bool, repeats: int) -> dict[int, tuple[float, float, float]]:
    """K -> (median sequential s/step/seed, median ratio grouped/sequential, median ratio vmap/sequential)."""
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(N, *CNN_SHAPE, generator=gen).to(device)
    y = torch.randint(0, 10, (N,), generator=gen).to(device)
    out = {}
    for k in CNN_KS:
        steps = 3 if quick else max(6, 96 // k)
        seq, grouped, vm = [], [], []
        for _ in range(repeats):  # the three cases alternate, so drifting load hits each of them
            a = cnn_sequential_s(k, steps, x, y, device)
            seq.append(a)
            grouped.append(a / cnn_stacked_s(k, steps, x, y, device))
            vm.append(a / cnn_vmap_s(k, steps, x, y, device))
        out[k] = (statistics.median(seq), statistics.median(grouped), statistics.median(vm))
        print(f"cnn   K={k:3d}  sequential {out[k][0] * 1e3:6.2f} ms/step/seed  grouped x{out[k][1]:.2f} "
              f"{[round(r, 2) for r in grouped]}  vmap x{out[k][2]:.2f} {[round(r, 2) for r in vm]}", flush=True)
    return out


def measure(device: torch.device, quick: bool, repeats: int) -> dict[tuple[str, int], tuple[float, float]]:
    """(optimizer, K) -> (median sequential s/step/seed, median ratio stacked/sequential per seed)."""
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(N, 784, generator=gen).to(device)
    y = torch.randint(0, 10, (N,), generator=gen).to(device)
    out = {}
    for name, ft in OPTIMIZERS.items():
        for k in KS:
            seq_steps = 8 if quick else max(20, 240 // k)  # K units x this many steps each
            stk_steps = 4 if quick else max(12, 960 // k)
            seq, ratios = [], []
            for _ in range(repeats):
                a = sequential_s(k, ft, seq_steps, x, y, device)
                b = stacked_s(k, ft, stk_steps, x, y, device)
                seq.append(a)
                ratios.append(a / b)
            out[(name, k)] = (statistics.median(seq), statistics.median(ratios))
            print(f"{name:5s} K={k:3d}  sequential {statistics.median(seq) * 1e3:6.2f} ms/step/seed  "
                  f"stacked x{statistics.median(ratios):.2f}  {[round(r, 2) for r in ratios]}", flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="a few steps; checks the bench, writes nothing")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--cnn-only", action="store_true",
                    help="measure only the CNN row and rewrite only its part of the section (the dense table kept)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    from desktop_app.core.training.device import resolve_device

    device = resolve_device(args.device)  # with the exactness flags a run sets (no TF32, deterministic cuDNN)
    repeats = 1 if args.quick else args.repeats
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    cnn = measure_cnn(device, args.quick, repeats if args.cnn_only else max(repeats, 5))
    if args.cnn_only:
        if not args.quick:
            write_section("seed-batch-cnn" if device.type == "cpu" else "seed-batch-cnn-cuda",
                          cnn_lines(cnn, device, max(repeats, 1), load))
        return
    res = measure(device, args.quick, repeats)
    if args.quick:
        return
    best = {name: max(KS, key=lambda k, n=name: res[(n, k)][1]) for name in OPTIMIZERS}
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    lines = [
        f"Per-seed fine-tuning throughput of K seeds stacked (`training/dense_step.py`) vs K units one after another, "
        f"784-500-500-500-10 sigmoid at minibatch 10, one process, 1 torch thread, on {device.type}; ratio = "
        f"stacked / sequential steps per second per seed, median of {args.repeats} alternating repeats (load "
        f"average {load:.1f} on this machine's cores when the run started: other processes shared them).",
        "",
        "| K | " + " | ".join(f"sequential {n} (ms/step/seed) | stacked {n}" for n in OPTIMIZERS) + " |",
        "|---|" + "---|---|" * len(OPTIMIZERS),
    ]
    for k in KS:
        cells = [f"{res[(n, k)][0] * 1e3:.2f} | x{res[(n, k)][1]:.2f}" for n in OPTIMIZERS]
        lines.append(f"| {k} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "- best K: " + ", ".join(f"{n} K = {k} (x{res[(n, k)][1]:.2f} per seed)" for n, k in best.items())
        + "; target >= 1.3x per seed.",
        f"- K = 1 isolates the hand-written step (no autograd graph; the SGD and momentum updates folded into the "
        f"weight-gradient product; torch's fused Adam): SGD x{res[('sgd', 1)][1]:.2f} "
        "there; the rest of a row's ratio is what stacking K seeds adds or loses.",
    ]
    if device.type == "cuda":
        per_seed = res[("sgd", best["sgd"])][0] / res[("sgd", best["sgd"])][1]
        steps = ERHAN_SEEDS * ERHAN_EPOCHS * (ERHAN_LABELLED // BATCH)
        lines.append(f"- projected fine-tuning wall time of Erhan's 2 x 400 seeds on full-size data "
                     f"({ERHAN_LABELLED} labels, {ERHAN_EPOCHS} epochs, this net, SGD) at K = {best['sgd']}: "
                     f"{steps * per_seed / 3600:.1f} h")
    else:
        lines.append("- GPU: not measured here (no CUDA). `bench/seed_batch.py --device cuda` on a CUDA machine "
                     "gives the same table there and the projected wall time of Erhan's 2 x 400 seeds.")
    lines.append(f"- machine: {machine_line()}")
    write_section("seed-batch" if device.type == "cpu" else "seed-batch-cuda",
                  "## Seed batches (bench/seed_batch.py)\n\n" + "\n".join(lines))
    write_section("seed-batch-cnn" if device.type == "cpu" else "seed-batch-cnn-cuda",
                  cnn_lines(cnn, device, max(repeats, 5), load))


def cnn_lines(cnn: dict[int, tuple[float, float, float]], device: torch.device, repeats: int, load: float) -> str:
    best = max(CNN_KS, key=lambda k: cnn[k][1])
    lines = [
        "### Seed batches of a CNN (bench/seed_batch.py, CNN row)",
        "",
        f"The scae-pitfall preset's CNN (conv 16 5x5, pool 2, conv 32 5x5, pool 2, dense 100, ReLU; SGD at minibatch "
        f"32) on random 1x28x28 inputs, one process, 1 torch thread, on {device.type}; ratio = per-seed steps per "
        f"second over K units one after another; grouped = `stacked_conv.StackedCNN` (what a seed batch runs), "
        f"vmap = the seed dimension folded into the batch with `torch.func.functional_call` + `vmap(grad)`; "
        f"median of {repeats} repeats, the three cases alternating within each repeat. The machine was shared with "
        f"other jobs while this ran (load average {load:.1f} on its 2 cores at the start), so single numbers move "
        f"by tens of percent; the medians and the ratios (same run) are what to read.",
        "",
        "| K | sequential (ms/step/seed) | grouped (StackedCNN) | vmap(grad) |",
        "|---|---|---|---|",
    ]
    lines += [f"| {k} | {cnn[k][0] * 1e3:.2f} | x{cnn[k][1]:.2f} | x{cnn[k][2]:.2f} |" for k in CNN_KS]
    lines += [
        "",
        f"- best K for the grouped step: {best} (x{cnn[best][1]:.2f} per seed). `StackedCNN.auto_cpu` "
        f"(what `execution.seed_batch = auto` uses for conv nets on a CPU) is set from this row. A conv step of "
        f"this size is mostly arithmetic on a CPU, so stacking saves per-op overhead and gains from larger "
        f"convolutions (channels-last grouped maps), not from fewer kernel launches as on a GPU.",
        f"- machine: {machine_line()}",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
