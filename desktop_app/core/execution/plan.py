"""Where a run's tasks go on a machine with G GPUs and C cores: a pure function of (G, C, backend, device, tasks).

The rules (docs/ARCHITECTURE.md, "Execution on a CUDA machine"):
- On a CPU: ``workers`` = 0 means the physical cores C; ``auto`` runs local worker processes when more than one
  worker and task, else this process (inline).
- On CUDA: ``workers`` = 0 means one worker per GPU, each pinned to its own ``cuda:i`` (several processes on
  one GPU would each hold a CUDA context and a copy of the data, and contend for one device); seed batches
  fill each GPU (``batching.resolve_seed_batch``). Workers given explicitly share the GPUs round robin.
- The parent process never touches a GPU when workers train: it loads the data on the CPU (for the sizes and the
  manifest) and each worker copies it to its own GPU. Only an inline run (the parent trains) puts it on the GPU.
- Dask: the device is resolved on each worker, not on the client, so ``device = "cuda"`` is not refused on a
  CPU-only client whose workers have GPUs; the client keeps its data on the CPU and checks no memory.
- The seed-batch memory check counts min(workers, tasks) workers sharing a device (ceil of that over the GPUs on
  CUDA) and, with worker processes, each one's own copy of the data on that device.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from desktop_app.core.config import ConfigError
from desktop_app.core.training.device import DEVICE_CHOICES


@dataclass(frozen=True)
class ExecutionPlan:
    backend: str  # "inline" | "local" | "dask"
    workers: int  # worker processes started (inline: 1, this process; dask: the local cluster's size)
    worker_devices: tuple[str, ...]  # each local worker's device ("cpu", "cuda:i"); () on dask: its own choice
    parent_device: str  # where this process keeps the data: "cpu", or the unit device when it trains (inline)
    device_type: str  # "cpu" / "cuda" the units train on; on dask the config's choice ("auto" resolved per worker)
    per_device: int  # most workers that share one device (what the memory check multiplies a batch by)
    data_copies: int  # new copies of the data set per device the workers make (0: the parent's copy is used)

    @property
    def gpus_used(self) -> int:
        return len({d for d in self.worker_devices if d.startswith("cuda")})


def plan_execution(gpus: int, cores: int, backend: str, device: str, n_tasks: int, workers: int = 0) -> ExecutionPlan:
    """The plan for ``n_tasks`` tasks (see the module docstring); ``workers`` is the config's (0 = auto: the cores
    on a CPU, the GPUs on CUDA). ConfigError naming ``device`` when CUDA is asked for on a machine without it
    (except on Dask, whose workers decide)."""
    if device not in DEVICE_CHOICES:
        raise ConfigError("device", f"must be one of {', '.join(DEVICE_CHOICES)}; got {device!r}")
    gpus, cores, n_tasks = max(0, int(gpus)), max(1, int(cores)), max(1, int(n_tasks))
    if backend == "dask":
        n = workers if workers > 0 else cores
        return ExecutionPlan("dask", n, (), "cpu", device, 0, 0)
    cuda = device == "cuda" or (device == "auto" and gpus > 0)
    if cuda and gpus <= 0:
        raise ConfigError("device", "cuda was asked for but no CUDA GPU is available; use auto or cpu")
    n = workers if workers > 0 else (gpus if cuda else cores)
    if backend == "auto":
        backend = "local" if n > 1 and n_tasks > 1 else "inline"
    if backend == "inline":
        here = "cuda:0" if cuda else "cpu"
        return ExecutionPlan("inline", 1, (here,), here, "cuda" if cuda else "cpu", 1, 0)
    if backend != "local":
        raise ConfigError("execution.backend", f"must be one of auto, inline, local, dask; got {backend!r}")
    started = min(n, n_tasks)
    if cuda:
        devices = tuple(f"cuda:{i % gpus}" for i in range(started))
        per_device = math.ceil(started / gpus)
    else:
        devices, per_device = ("cpu",) * started, started
    return ExecutionPlan("local", started, devices, "cpu", "cuda" if cuda else "cpu", per_device, per_device)


__all__ = ["ExecutionPlan", "plan_execution"]
