"""The online kind (Erhan et al. 2010, Fig. 2): arms x seeds units on an endless stream of deformed examples,
each seen once (``core.training.online_unit``, ``core.data.stream``); the worked example of adding a kind in
docs/ARCHITECTURE.md ("Experiment kinds")."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from desktop_app.core.config import ExperimentConfig
from desktop_app.core.control import RunControl
from desktop_app.core.events import Event
from desktop_app.core.experiments.base import ExperimentKind, TaskState
from desktop_app.core.training.online_unit import online_unit_steps, train_online_unit
from desktop_app.core.training.unit import UnitData


class Online(ExperimentKind):
    name = "online"
    panels = ("Online error", "Filters", "Curves")
    seed_batches = False  # a unit's stream position is its own; one seed per task

    def unit_steps(self, cfg: ExperimentConfig, arm: str, data: UnitData) -> int:
        return online_unit_steps(cfg, arm)

    def run_unit(self, task, control: RunControl, data: UnitData, state: TaskState) -> Iterator[Event]:
        yield from train_online_unit(task.config, task.arm, task.seed, Path(task.run_dir), control, data)


KIND = Online()
