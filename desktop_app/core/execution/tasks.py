"""A unit as a task any process can run: plain data in (``UnitTask``), events out, never an exception.

Every backend calls ``run_task`` where the unit runs (this process, a worker process, a Dask worker), so a unit
behaves the same everywhere: it sets its torch thread count, loads its data (cached for the next unit of the
same data in that process), trains into its own files and ends with exactly one ``UnitFinished``.

A task may carry a seed batch (``seeds``, docs/ARCHITECTURE.md "Seed batches"): K seeds of one arm trained in
one process as one stacked net (``core.seedbatch.batch``). It still ends with one ``UnitFinished`` per seed, and the
one of its key seed (``seed``, the batch's last) comes last, so an executor that waits for the key's
``UnitFinished`` waits for the whole batch.
"""

from __future__ import annotations

import os
import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from desktop_app.core.config import ExperimentConfig
from desktop_app.core.control import RunControl, StopRequested
from desktop_app.core.errors import ConfigError
from desktop_app.core.events import Event, LogMessage, UnitFinished
from desktop_app.core.test_hooks import pause_point

WORKERS_ENV = "BASIN_WORKERS"  # the default number of workers when the config says 0 (auto)


@dataclass(frozen=True)
class UnitTask:
    """One (arm, seed) of a run: picklable, so it travels to a worker process or a cluster."""

    config: ExperimentConfig
    arm: str
    seed: int
    run_dir: str
    threads: int = 0  # torch CPU threads while the unit runs; 0 = leave the process's setting alone
    seeds: tuple[int, ...] = ()  # a seed batch (two or more seeds, ``seed`` the last of them); () = ``seed`` alone
    step: str = "dense"  # the run's fine-tuning step (manifest "step"; ``experiments.standard.STEPS``)

    @property
    def key(self) -> tuple[str, int]:
        return (self.arm, self.seed)

    @property
    def all_seeds(self) -> tuple[int, ...]:
        return self.seeds or (self.seed,)

    @property
    def keys(self) -> tuple[tuple[str, int], ...]:
        """Every (arm, seed) unit this task trains (one unless it is a seed batch)."""
        return tuple((self.arm, s) for s in self.all_seeds)

    @property
    def label(self) -> str:
        if len(self.all_seeds) > 1:
            return f"{self.arm} seeds {', '.join(map(str, self.all_seeds))}"
        return f"{self.arm} seed {self.seed}"


_DATA_CACHE: dict[tuple[str, str], object] = {}  # (data section, device) -> UnitData, one entry per process


def _unit_data(cfg: ExperimentConfig):
    from desktop_app.core.training.device import resolve_device
    from desktop_app.core.training.unit import prepare_data

    device = resolve_device(cfg.device)
    key = (repr(cfg.data), str(device))
    if key not in _DATA_CACHE:
        _DATA_CACHE.clear()  # keep one data set per process, not one per config ever seen
        _DATA_CACHE[key] = prepare_data(cfg, device)
    return _DATA_CACHE[key]


def run_task(task: UnitTask, control: RunControl, data=None) -> Iterator[Event]:
    """The task's events, ending with one UnitFinished per seed: "completed", "diverged", "stopped" or "failed"
    (the key seed's last). The task's experiment kind trains it (``core.experiments``); a test may hold the unit
    at one of them (``core.test_hooks``)."""
    for ev in _task_events(task, control, data):
        pause_point(ev)
        yield ev


def _task_events(task: UnitTask, control: RunControl, data) -> Iterator[Event]:
    from desktop_app.core.experiments import TaskState, experiment_kind

    state = TaskState()
    try:
        if task.threads > 0:
            import torch

            torch.set_num_threads(task.threads)
        if data is None:
            data = _unit_data(task.config)
            if len(task.all_seeds) > 1 and data.device.type == "cuda":  # a GPU worker checks its own GPU's memory
                from desktop_app.core.execution.batching import check_memory

                s = data.splits
                check_memory(task.config, len(task.all_seeds), data.device, s.input_shape, s.n_classes, 1,
                             len(s.unlabelled_x))
        yield from experiment_kind(task.config).run_unit(task, control, data, state)
    except StopRequested:
        for seed in _left(task, state.batch):
            yield UnitFinished(task.arm, seed, "stopped")
        yield from _held(state.batch)
    except ConfigError as exc:  # a bad input (data, a full disk): its one line, never a traceback
        for seed in _left(task, state.batch):
            yield UnitFinished(task.arm, seed, "failed", str(exc), bad_input=True)
        yield from _held(state.batch)
    except Exception as exc:  # noqa: BLE001 - one unit failing must not take the others down
        yield LogMessage("error", f"{task.label} failed:\n{traceback.format_exc()}")
        for seed in _left(task, state.batch):
            yield UnitFinished(task.arm, seed, "failed", f"{task.label}: {type(exc).__name__}: {exc}")
        yield from _held(state.batch)


def _left(task: UnitTask, batch) -> list[int]:
    """The task's seeds still without a UnitFinished, the key seed last."""
    if batch is None:
        return [s for s in task.all_seeds if s != task.seed] + [task.seed]
    return batch.unfinished()


def _held(batch) -> list[Event]:
    """The key seed's end, when it ended before the others and the batch was then cut short."""
    return batch.take_held() if batch is not None else []


def in_tasks(n_units: int, n_tasks: int) -> str:
    """" in N task(s)" when seed batches group the units (what the executors' log line says), else ""."""
    return f" in {n_tasks} task(s)" if n_tasks != n_units else ""


def physical_cores() -> int:
    """Physical cores this process may use (hyper-threads share one core's arithmetic units, and a unit at
    minibatch 10 is bound by them), falling back to the logical count."""
    logical = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    cores: set[tuple[str, str]] = set()
    try:
        cpus = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else range(logical)
        for cpu in cpus:
            topo = Path(f"/sys/devices/system/cpu/cpu{cpu}/topology")
            cores.add(((topo / "physical_package_id").read_text().strip(), (topo / "core_id").read_text().strip()))
    except OSError:
        return max(1, logical)
    return max(1, min(len(cores), logical)) if cores else max(1, logical)


def configured_workers(workers: int) -> int:
    """Units at once as asked: the config's number, else $BASIN_WORKERS, else 0 (auto: ``plan_execution`` picks
    the physical cores on a CPU, one per GPU on CUDA)."""
    if workers > 0:
        return workers
    env = os.environ.get(WORKERS_ENV, "").strip()
    return int(env) if env.isdigit() and int(env) > 0 else 0


def resolve_workers(workers: int) -> int:
    """Units at once on a CPU: the config's number, else $BASIN_WORKERS, else the physical cores."""
    return configured_workers(workers) or physical_cores()
