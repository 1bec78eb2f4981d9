"""How a run's units become tasks when ``execution.seed_batch`` asks for seed batches (docs/ARCHITECTURE.md,
"Seed batches"): the batch size it resolves to, the memory check before anything starts, and the task list.

``auto`` (0) batches all seeds of an arm on CUDA, where one seed at minibatch 10 is bound by kernel launches,
and on a CPU the size ``bench/seed_batch.py`` measured best there for that kind of net (the stacked net's
``auto_cpu``: docs/PERFORMANCE.md, "Seed batches"). A net whose layer kinds no stacked net declares
(``seedbatch.conv.STACKED_NETS``) and kinds that declare no seed batches (online) run one seed per task.
"""

from __future__ import annotations

import math
import os

import torch

from desktop_app.core.config import ConfigError, ExperimentConfig, layer_shapes, parameter_count
from desktop_app.core.execution.tasks import UnitTask
from desktop_app.core.experiments import experiment_kind
from desktop_app.core.seedbatch.conv import stacked_class
from desktop_app.core.training.dense_step import StackedMLP

AUTO_CPU = StackedMLP.auto_cpu  # the dense nets' (the reference net's) best K on a CPU
STATE_COPIES = {"sgd": 1, "momentum": 2, "adam": 3}  # weights + optimizer state tensors of their shape


def n_params(cfg: ExperimentConfig, input_shape: tuple[int, ...], n_classes: int) -> int:
    """Weights and biases of one net."""
    return parameter_count(cfg.model, input_shape, n_classes)


def resolve_seed_batch(cfg: ExperimentConfig, device: torch.device, input_shape: tuple[int, ...], n_classes: int,
                       workers: int = 1, n_unlabelled: int = 0, gpus: int = 1, measure: bool = True) -> int:
    """Seeds per task: 1 (plain units) unless the config asks for batches of a net that has a stacked step; auto
    takes at most what fits in the free memory (``measure``: where this process may look at that memory; a
    parent whose workers train on GPUs does not touch them, and each worker checks its own: ``check_memory``).

    On CUDA auto fills the GPUs: the seeds of an arm are split over the GPUs that arm gets (``gpus`` workers,
    one per GPU, over the arms), so every GPU gets a task of about the same size."""
    k = cfg.execution.seed_batch
    stack = stacked_class([spec.kind for spec in cfg.model.layers])
    if not experiment_kind(cfg).seed_batches or stack is None:
        return 1  # kinds whose units are one seed each (online) and nets without a stacked step
    if k == 0:
        if device.type == "cuda":
            per_arm = max(1, math.ceil(max(1, gpus) / max(1, len(cfg.arms))))  # GPUs each arm's seeds spread over
            k = math.ceil(cfg.seeds.count / per_arm)
        else:
            k = stack.auto_cpu
        free = available_bytes(device) if measure else None
        if free is not None:
            one = batch_bytes(cfg, 1, input_shape, n_classes, n_unlabelled) * max(1, workers)
            k = min(k, max(1, int(0.8 * free) // max(1, one)))
    return max(1, min(k, cfg.seeds.count))


def batch_bytes(cfg: ExperimentConfig, k: int, input_shape: tuple[int, ...], n_classes: int,
                n_unlabelled: int = 0) -> int:
    """Bytes a batch of k seeds holds: the stacked weights and optimizer state (float32), a gradient, the
    per-seed nets, the minibatch activations, and (pre-training) each seed's inputs of the layer it trains."""
    params = n_params(cfg, input_shape, n_classes)
    copies = STATE_COPIES.get(cfg.finetune.optimizer, 3) + 2
    widest = max(math.prod(shape) for shape in [tuple(input_shape), *layer_shapes(cfg.model.layers, input_shape)])
    activations = 4 * len(cfg.model.layers) * cfg.finetune.batch_size * widest
    pretrain = n_unlabelled * widest if any(arm != "none" for arm in cfg.arms) else 0
    return 4 * k * (copies * params + activations + pretrain)


def available_bytes(device: torch.device) -> int | None:
    """Free memory where the batch lives: the GPU's free memory, else the system's available memory."""
    if device.type == "cuda":  # free on the GPU, plus what torch's cache holds but no tensor uses
        cached = torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device)
        return int(torch.cuda.mem_get_info(device)[0]) + max(0, int(cached))
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    if hasattr(os, "sysconf") and "SC_AVPHYS_PAGES" in os.sysconf_names:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    return None


def data_bytes(data) -> int:
    """Bytes of a loaded data set's tensors (``DataSplits``), counting shared storage (the labelled prefix of the
    unlabelled pool) once."""
    seen, total = set(), 0
    for name in ("train_x", "train_y", "unlabelled_x", "valid_x", "valid_y", "test_x", "test_y"):
        t = getattr(data, name)
        storage = t.untyped_storage()
        key = (storage.data_ptr(), t.device.type, t.device.index)
        if key not in seen:
            seen.add(key)
            total += storage.nbytes()
    return total


def check_memory(cfg: ExperimentConfig, k: int, device: torch.device, input_shape: tuple[int, ...],
                 n_classes: int, workers: int = 1, n_unlabelled: int = 0, data_copies: int = 0,
                 data_size: int = 0) -> None:
    """One line naming the field when ``workers`` batches of k seeds, plus ``data_copies`` new copies of the data
    set (``data_size`` bytes each: the worker processes' own), would not fit in the free memory."""
    if k <= 1:
        return
    need = batch_bytes(cfg, k, input_shape, n_classes, n_unlabelled) * max(1, workers) + data_copies * data_size
    free = available_bytes(device)
    if free is not None and need > 0.8 * free:
        copies = f" and {data_copies} copies of the data" if data_copies else ""
        raise ConfigError("execution.seed_batch", f"{workers} batch(es) of {k} seeds{copies} need about "
                          f"{need / 2**20:.0f} MB on {device.type} but {free / 2**20:.0f} MB are free; use a smaller "
                          "seed_batch")


def make_tasks(cfg: ExperimentConfig, run_dir: str, threads: int, k: int,
               order: list[tuple[str, int]] | None = None, step: str = "dense") -> list[UnitTask]:
    """Tasks in the engine's dispatch ``order`` of (arm, seed) (default: seed-major, arms in config order), k
    seeds per task: the seeds in chunks of k, each chunk's arms in the order of its first seed."""
    order = order or [(arm, seed) for seed in cfg.seed_values for arm in cfg.arms]
    if k <= 1:
        return [UnitTask(cfg, arm, seed, run_dir, threads, step=step) for arm, seed in order]
    seeds = list(cfg.seed_values)
    tasks = []
    for i in range(0, len(seeds), k):
        chunk = seeds[i : i + k]
        for arm in [a for a, s in order if s == chunk[0]]:
            tasks.append(UnitTask(cfg, arm, chunk[-1], run_dir, threads, tuple(chunk) if len(chunk) > 1 else (),
                                  step=step))
    return tasks


__all__ = ["AUTO_CPU", "batch_bytes", "check_memory", "data_bytes", "make_tasks", "resolve_seed_batch"]
