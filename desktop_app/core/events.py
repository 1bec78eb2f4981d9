"""Events the engine yields: small frozen dataclasses holding numpy arrays, never tensors.

Torch-free so the UI and the run store can import it. Arrays are float32, C-contiguous copies.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

PHASES = ("init", "pretrain", "finetune")  # a unit's phases in training order ("init": before any training)
PHASE_ORDER = {phase: i for i, phase in enumerate(PHASES)}  # sort key of a snapshot's phase


def as_array(x) -> np.ndarray:
    """A float32 C-contiguous copy, safe to hand to another thread (accepts torch tensors too)."""
    if hasattr(x, "detach"):  # a torch tensor: duck-typed so this module stays torch-free
        x = x.detach().cpu().numpy()
    return np.array(x, dtype=np.float32, order="C", copy=True)


@dataclass(frozen=True)
class RunStarted:
    run_dir: str
    name: str
    arms: tuple[str, ...]
    seeds: tuple[int, ...]
    device: str
    total_steps: int
    resumed: bool = False
    # planned steps per phase kind over the whole run, (("pretrain:rbm", n), ("finetune", m), ...), for an ETA
    # from per-phase rates (core/eta.py); () from runs recorded before it existed
    phase_steps: tuple[tuple[str, int], ...] = ()
    kind: str = "standard"  # the config's kind: an "online" run's fine-tuning "epochs" are evaluation points
    # the result panels the run's experiment kind feeds, first = the one to show (core.experiments); () = any
    panels: tuple[str, ...] = ()
    # finetune.patience: > 0 = each unit's final epoch is its selected one (core/runfolder/metrics.py, select_epoch)
    patience: int = 0
    # a resumed run: the minibatches its earlier segments had done (the manifest's done_steps), so its progress bar
    # starts there, not at 0 %, before its units report; 0 for a new run or one recorded before it existed
    done_steps: int = 0


@dataclass(frozen=True)
class PhaseStarted:
    """A unit of work begins: pre-training of one layer, or fine-tuning, for one (arm, seed)."""

    arm: str
    seed: int
    phase: str  # "pretrain" | "finetune"
    layer: int  # pre-training: index into model.layers; fine-tuning: -1
    epochs: int


@dataclass(frozen=True)
class Progress:
    arm: str
    seed: int
    phase: str
    layer: int
    epoch: int  # 1-based epoch being run
    epochs: int
    done_steps: int  # minibatches done in the whole run
    total_steps: int
    elapsed_s: float
    # the unit's own count and clock (the engine turns done_steps/elapsed_s into the run's; with units running
    # in parallel only these say which unit did which steps in how long); -1 = not known
    unit_done_steps: int = -1
    unit_elapsed_s: float = -1.0


@dataclass(frozen=True)
class PretrainEpoch:
    arm: str
    seed: int
    layer: int
    epoch: int  # 1-based
    recon_error: float  # mean per-example reconstruction error (method-specific: squared or cross-entropy)


@dataclass(frozen=True)
class EpochMetrics:
    """Fine-tuning epoch result; epoch 0 is the net before any supervised step."""

    arm: str
    seed: int
    epoch: int
    train_nll: float
    train_error: float
    valid_nll: float
    valid_error: float
    test_nll: float
    test_error: float
    # seconds the unit had run when this epoch ended (pre-training included, summed over resumes; None: not recorded,
    # runs from before it was). A measurement, not a result: events of an exact resume still compare equal.
    wall_s: float | None = field(default=None, compare=False)


@dataclass(frozen=True)
class FilterSnapshot:
    """First-layer weights: (n_units, fan_in) for dense, (channels, in_ch, k, k) for conv."""

    arm: str
    seed: int
    phase: str  # "init" | "pretrain" | "finetune"
    epoch: int
    weights: np.ndarray = field(repr=False)
    input_shape: tuple[int, ...] = ()  # (C, H, W) of the network input, to tile dense filters


@dataclass(frozen=True)
class ProbeOutputs:
    """Softmax outputs on the fixed probe subset of the test set: (probe_size, n_classes)."""

    arm: str
    seed: int
    epoch: int
    outputs: np.ndarray = field(repr=False)


@dataclass(frozen=True)
class OnlinePoint:
    """An online unit at one evaluation point (kind "online", Erhan 2010 Fig. 2): ``examples`` fine-tuning
    examples seen; ``online_error`` over the last ``block`` of them, each scored before the net trained on it."""

    arm: str
    seed: int
    examples: int
    online_error: float
    test_error: float
    test_nll: float
    block: int


FINAL_NET = "final"  # the CheckpointSaved phase of a done online unit's latest.pt (it keeps no e<epoch>.pt)


@dataclass(frozen=True)
class CheckpointSaved:
    arm: str
    seed: int
    phase: str  # "finetune" (e<epoch>.pt) | FINAL_NET (epoch: the online unit's number of evaluation points)
    epoch: int
    path: str


@dataclass(frozen=True)
class UnitFinished:
    """One (arm, seed) unit ended: "completed", or "diverged" (a non-finite loss stopped it; its last finite
    checkpoint is kept and the other units go on). ``message`` says where and what to lower."""

    arm: str
    seed: int
    status: str  # "completed" | "diverged" | "failed"
    message: str = ""
    bad_input: bool = False  # failed on an input it was given (config, data, a full disk): message is one line


@dataclass(frozen=True)
class AnalysisFinished:
    """An analysis computed as (or during) a run: ``result`` is a frozen dataclass of numpy arrays and scalars
    from ``core.analysis.progress`` (e.g. OutputVarianceResult)."""

    name: str
    result: object = field(repr=False)


@dataclass(frozen=True)
class LogMessage:
    level: str  # "info" | "warning" | "error"
    text: str


@dataclass(frozen=True)
class RunFinished:
    status: str  # "completed" | "stopped" | "failed" | "diverged" (some unit(s) diverged, the others completed)
    run_dir: str
    elapsed_s: float
    message: str = ""
    bad_input: bool = False  # failed on a bad input (config, data, a full disk): message is its one line (exit 2)


Event = (
    RunStarted
    | PhaseStarted
    | Progress
    | PretrainEpoch
    | EpochMetrics
    | FilterSnapshot
    | ProbeOutputs
    | CheckpointSaved
    | UnitFinished
    | AnalysisFinished
    | LogMessage
    | RunFinished
)
