"""Pick the torch device from the config (auto uses CUDA when present, else the CPU) and make CUDA exact.

Resolution is split in three so each part can be tested on a machine without a GPU (docs/ARCHITECTURE.md,
"Execution on a CUDA machine"):
- ``pick_device(choice, gpus, index)`` is pure: which device a choice means on a machine with ``gpus`` GPUs, in
  a process pinned to GPU ``index`` (a local worker is pinned to ``cuda:i``; see ``core.execution.plan``);
- ``exactness_flags(device)`` is pure: the backend settings that make a device give the same numbers twice;
- ``apply_flags`` sets them. ``resolve_device`` does all three for this process.

Why these flags: cuDNN picks convolution algorithms by benchmark (``benchmark``) and some of its backward
algorithms add in a non-deterministic order, so a conv net's resumed run or its stacked-vs-alone run would
differ in the last bits; ``deterministic=True, benchmark=False`` pins them. TF32 (on by default for cuDNN
convolutions) computes with a 10-bit mantissa on Ampere and later, which puts the GPU's numbers far from the
CPU's; it is turned off for matmuls and convolutions ("highest" float32 matmul precision).
``torch.use_deterministic_algorithms(True)`` is not used: it raises on MaxUnpool2d (the conv autoencoder) and on
NLLLoss on CUDA.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from desktop_app.core.config import ConfigError

DEVICE_CHOICES = ("auto", "cpu", "cuda")
_PINNED: list[int] = []  # the GPU this process is pinned to (a local worker's cuda:i); empty: none


@dataclass(frozen=True)
class DeviceFlags:
    """Backend settings for exact, reproducible numbers on a device."""

    cudnn_deterministic: bool
    cudnn_benchmark: bool
    matmul_allow_tf32: bool
    cudnn_allow_tf32: bool
    float32_matmul_precision: str


CUDA_EXACT = DeviceFlags(cudnn_deterministic=True, cudnn_benchmark=False, matmul_allow_tf32=False,
                         cudnn_allow_tf32=False, float32_matmul_precision="highest")


def pick_device(choice: str, gpus: int, index: int | None = None) -> torch.device:
    """The device ``choice`` means on a machine with ``gpus`` visible CUDA GPUs, in a process pinned to GPU
    ``index`` (None: not pinned, the current CUDA device). ConfigError (field ``device``) when it cannot be had."""
    if choice not in DEVICE_CHOICES:
        raise ConfigError("device", f"must be one of {', '.join(DEVICE_CHOICES)}; got {choice!r}")
    if choice == "cpu" or (choice == "auto" and gpus <= 0):
        return torch.device("cpu")
    if gpus <= 0:
        raise ConfigError("device", "cuda was asked for but no CUDA GPU is available; use auto or cpu")
    if index is None:
        return torch.device("cuda")
    if not 0 <= index < gpus:
        raise ConfigError("device", f"this process is pinned to cuda:{index} but only {gpus} GPU(s) are visible")
    return torch.device("cuda", index)


def exactness_flags(device: torch.device) -> DeviceFlags | None:
    """The settings ``apply_flags`` makes for ``device``: CUDA_EXACT on CUDA; None (nothing to set) elsewhere."""
    return CUDA_EXACT if torch.device(device).type == "cuda" else None


def apply_flags(flags: DeviceFlags | None) -> None:
    """Set the process-wide backend flags (a no-op for None)."""
    if flags is None:
        return
    torch.backends.cudnn.deterministic = flags.cudnn_deterministic
    torch.backends.cudnn.benchmark = flags.cudnn_benchmark
    torch.backends.cuda.matmul.allow_tf32 = flags.matmul_allow_tf32
    torch.backends.cudnn.allow_tf32 = flags.cudnn_allow_tf32
    torch.set_float32_matmul_precision(flags.float32_matmul_precision)


def pin_gpu(index: int) -> None:
    """Pin this process to GPU ``index``: every later ``resolve_device`` of auto/cuda gives ``cuda:index`` (a
    local worker process on a CUDA machine; the parent is never pinned and never touches a GPU)."""
    _PINNED[:] = [int(index)]


def pinned_gpu() -> int | None:
    return _PINNED[0] if _PINNED else None


def gpu_count() -> int:
    """Visible CUDA GPUs (0 without CUDA); does not create a CUDA context."""
    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def resolve_device(choice: str) -> torch.device:
    """The device for ``choice`` in this process, with its exactness flags set (see the module docstring)."""
    device = pick_device(choice, gpu_count(), pinned_gpu())
    apply_flags(exactness_flags(device))
    if device.type == "cuda" and device.index is not None:
        torch.cuda.set_device(device)  # allocations without an explicit index land on the pinned GPU too
    return device


def resolve_type(choice: str) -> str:
    """The device type ``choice`` gives on this machine ("cpu" / "cuda"), without touching a GPU."""
    return pick_device(choice, gpu_count()).type


def device_change(recorded: object, choice: str, gpus: int) -> str:
    """Why a run whose manifest records ``device_type`` = ``recorded`` must not silently go on here with
    ``device`` = ``choice`` ("" when it may): another device type draws other random streams and rounds
    otherwise, so its numbers would not continue the run's. A record Basin did not write ("auto" on Dask,
    missing) is not compared."""
    if recorded not in ("cpu", "cuda"):
        return ""
    try:
        now = pick_device(choice, gpus).type
    except ConfigError:
        now = "cpu (no CUDA GPU here)"
    if now == recorded:
        return ""
    return (f"device_type: the run trained on {recorded} but device = {choice!r} gives {now} here (other random "
            f"streams and rounding, so not the run's numbers); resume it where {recorded} is available, or with "
            f"--force to go on with {now.split()[0]} (recorded in the manifest)")


def describe_device(choice: str = "auto") -> str:
    """A human name for the status bar: the GPU's name, or CPU with its thread count."""
    try:
        dev = pick_device(choice, gpu_count(), pinned_gpu())
    except ConfigError:
        return "CPU (CUDA unavailable)"
    if dev.type == "cuda":
        return f"GPU: {torch.cuda.get_device_name(dev)}"
    n = torch.get_num_threads()
    return f"CPU ({n} thread{'' if n == 1 else 's'})"
