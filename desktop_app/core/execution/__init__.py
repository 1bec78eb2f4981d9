"""Where a run's (arm, seed) units run: the config's ``execution`` section picks a backend.

  inline   one unit after another in this process, at the config's threads (torch's default when 0)
  local    up to ``workers`` units at once in worker processes on this machine, 1 torch thread each unless
           the config sets threads (``local``)
  dask     Dask ``distributed`` workers: a scheduler address, a cluster object, or a local Dask cluster
           (``cluster``; needs the ``basin[cluster]`` extra)
  auto     (the default) local when more than one worker and more than one unit, else inline

``workers`` = 0 means the physical cores (or ``$BASIN_WORKERS``). Every backend runs the same ``run_task``, so
a unit's numbers depend only on its config, arm, seed and thread count (docs/ARCHITECTURE.md, "Units and
execution"). An executor's ``run(tasks, control)`` yields the units' events as they happen, with one
``UnitFinished`` per unit that ran, and ends all its units when the control stops.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import replace
from typing import Protocol

from desktop_app.core.config import ConfigError, ExecutionConfig
from desktop_app.core.control import RunControl
from desktop_app.core.events import Event
from desktop_app.core.execution.inline import InlineExecutor
from desktop_app.core.execution.plan import ExecutionPlan, plan_execution
from desktop_app.core.execution.tasks import UnitTask, physical_cores, resolve_workers, run_task


class Executor(Protocol):
    name: str

    def describe(self, n_units: int, n_tasks: int) -> str: ...

    def run(self, tasks: Sequence[UnitTask], control: RunControl) -> Iterator[Event]: ...


def make_executor(ex: ExecutionConfig, n_units: int, data=None, plan: ExecutionPlan | None = None) -> Executor:
    """The executor the config asks for, or the ``plan`` made for this machine (``core.execution.plan``: local
    workers pinned to their GPUs); ``data`` (already loaded by the caller) serves the inline one."""
    if plan is not None:
        if plan.backend == "inline":
            return InlineExecutor(data)
        if plan.backend == "local":
            from desktop_app.core.execution.local import LocalExecutor

            return LocalExecutor(plan.workers, plan.worker_devices)
        ex = replace(ex, backend="dask", workers=plan.workers)
    workers = resolve_workers(ex.workers)
    backend = ex.backend
    if backend == "auto":
        backend = "local" if workers > 1 and n_units > 1 else "inline"
    if backend == "inline":
        return InlineExecutor(data)
    if backend == "local":
        from desktop_app.core.execution.local import LocalExecutor

        return LocalExecutor(workers)
    import importlib.util

    if importlib.util.find_spec("distributed") is None:
        raise ConfigError("execution.backend", "dask needs the cluster extra: pip install 'basin[cluster]'")
    from desktop_app.core.execution.cluster import DaskExecutor

    return DaskExecutor(address=ex.address, workers=workers)


def unit_threads(threads: int, executor: Executor) -> int:
    """Torch threads per unit: the config's, else 1 in a worker (the cores go to units, not threads), else 0
    (inline: leave this process's setting)."""
    if threads:
        return threads
    return 0 if executor.name == "inline" else 1


__all__ = [
    "ExecutionPlan", "Executor", "InlineExecutor", "UnitTask", "make_executor", "physical_cores", "plan_execution",
    "resolve_workers", "run_task",
    "unit_threads",
]
