"""The standard kind: arms x seeds units, each pre-training (unless "none") and fine-tuning one net
(``core.training.unit``); K seeds of an arm may train as one stacked net (``core.seedbatch``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from desktop_app.core.config import ExperimentConfig
from desktop_app.core.control import RunControl
from desktop_app.core.events import Event
from desktop_app.core.experiments.base import ExperimentKind, TaskState
from desktop_app.core.seedbatch.batch import SeedBatch
from desktop_app.core.seedbatch.conv import stacked_class
from desktop_app.core.training.unit import UnitData, train_unit, unit_steps

# The fine-tuning step a new run records in its manifest (``manifest["step"]``): "dense" = the hand-written step
# of ``training.dense_step`` for nets of dense layers (any K, K = 1 included); "autograd" = ``training.step``.
# A run made before the field existed resumes with "autograd", the step it was made with.
STEPS = ("dense", "autograd")
LEGACY_STEP = "autograd"


def default_step(cfg: ExperimentConfig) -> str:
    """The step a new run of cfg trains with: the dense step wherever a net's layers are all dense, unless
    ``execution.step`` asks for the autograd reference."""
    dense = all(spec.kind == "dense" for spec in cfg.model.layers)
    return "dense" if dense and cfg.execution.step == "auto" else "autograd"


class Standard(ExperimentKind):
    name = "standard"
    panels = ("Filters", "Trajectories", "Curves", "Summary", "Error surface", "Interpolation", "Function space",
              "Pitfall")
    seed_batches = True

    def unit_steps(self, cfg: ExperimentConfig, arm: str, data: UnitData) -> int:
        return unit_steps(cfg, arm, len(data.splits.train_x), len(data.splits.unlabelled_x))

    def run_unit(self, task, control: RunControl, data: UnitData, state: TaskState) -> Iterator[Event]:
        seeds = task.all_seeds
        dense = task.step == "dense" and stacked_class([s.kind for s in task.config.model.layers]) is not None
        if len(seeds) > 1 or dense:  # the stacked step, at K = 1 too: the one dense training step
            batch = SeedBatch(task.config, task.arm, seeds, Path(task.run_dir), control, data, task.seed)
            state.batch = batch
            yield from batch.events()
        else:
            yield from train_unit(task.config, task.arm, task.seed, Path(task.run_dir), control, data)


KIND = Standard()
