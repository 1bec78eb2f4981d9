"""Engine overhead: samples/s of Basin's fine-tuning loop vs a bare PyTorch loop on the same model and batch.

The engine run includes everything it does by default: per-minibatch pause/stop checks and progress events,
and after every epoch train/valid/test NLL and error, first-layer filter and probe-output snapshots,
metrics and checkpoint files. The timing window is from the end of epoch 0's evaluation to the end of the
last epoch, so it holds whole epochs with their bookkeeping. Data: generated Shapeset images (28x28) in an
MNIST-sized epoch (60,000 training examples by default). Target: engine >= 95 % of the bare loop.

    .venv/bin/python bench/engine_overhead.py [--n-train 60000] [--repeats 3] [--threads 2]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.report import machine_line, write_section  # noqa: E402
from desktop_app.core import config as c  # noqa: E402
from desktop_app.core.data import load_data  # noqa: E402
from desktop_app.core.engine.run import run_experiment  # noqa: E402
from desktop_app.core.events import EpochMetrics  # noqa: E402
from desktop_app.core.training.models import build_model  # noqa: E402
from desktop_app.core.training.step import make_optimizer  # noqa: E402

CASES = [("784-1000-1000-1000-10 sigmoid", (1000, 1000, 1000), 256), ("784-500-500-10 sigmoid", (500, 500), 10)]


def make_config(widths, batch, n_train: int, epochs: int) -> c.ExperimentConfig:
    return c.from_dict({
        "name": "bench",
        "arms": ["none"],
        "data": {"name": "shapeset", "shapeset_count": n_train + 1500, "n_labelled": n_train, "n_valid": 500,
                 "n_test": 1000, "probe_size": 200},
        "model": {"layers": [{"kind": "dense", "units": w} for w in widths], "activation": "sigmoid"},
        "finetune": {"optimizer": "sgd", "lr": 0.05, "batch_size": batch, "epochs": epochs},
        "seeds": {"count": 1},
        "device": "cpu",
    })


def engine_rate(cfg: c.ExperimentConfig) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        t_first = t_last = None
        n = 0
        for ev in run_experiment(cfg, None, Path(tmp) / "run"):
            if isinstance(ev, EpochMetrics):
                if ev.epoch == 0:
                    t_first = time.perf_counter()
                else:
                    t_last = time.perf_counter()
                    n += cfg.data.n_labelled
        assert t_first is not None and t_last is not None
        return n / (t_last - t_first)


def bare_rate(cfg: c.ExperimentConfig, data) -> float:
    model = build_model(cfg.model, data.input_shape, data.n_classes, seed=0)
    opt = make_optimizer(cfg.finetune, model.parameters())
    x, y, bs = data.train_x, data.train_y, cfg.finetune.batch_size
    model.train()
    t0 = time.perf_counter()
    for _epoch in range(cfg.finetune.epochs):
        perm = torch.randperm(len(x))
        for s in range(0, len(x), bs):
            idx = perm[s : s + bs]
            loss = F.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    return cfg.finetune.epochs * len(x) / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n-train", type=int, default=60000)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    lines = [
        "## Engine overhead (`bench/engine_overhead.py`)",
        "",
        f"Command: `.venv/bin/python bench/engine_overhead.py --n-train {args.n_train} --epochs {args.epochs} "
        f"--repeats {args.repeats} --threads {args.threads}`  ",
        f"Machine: {machine_line()}",
        "",
        "| model | batch | bare loop samples/s | engine samples/s | engine / bare | target |",
        "| --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for label, widths, batch in CASES:
        cfg = make_config(widths, batch, args.n_train, args.epochs)
        data = load_data(cfg.data)
        eng, bare = [], []
        for _ in range(args.repeats):  # interleaved so drift hits both alike
            bare.append(bare_rate(cfg, data))
            eng.append(engine_rate(cfg))
        e, b = statistics.median(eng), statistics.median(bare)
        ok = "met" if e / b >= 0.95 else "NOT met"
        lines.append(f"| {label} | {batch} | {b:,.0f} | {e:,.0f} | {e / b:.1%} | >= 95 % ({ok}) |")
        print(lines[-1], flush=True)
    lines += ["", "Engine time includes per-epoch evaluation of train (first 5,000 labelled examples, the default "
              "`data.train_eval_size`), valid and test NLL/error, snapshots and checkpoint writes."]
    if not args.no_write:
        write_section("engine_overhead", "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
