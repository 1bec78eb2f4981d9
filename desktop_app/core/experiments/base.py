"""What an experiment kind declares so the engine can run it without knowing it (docs/ARCHITECTURE.md,
"Experiment kinds").

A kind is one module in ``core/experiments/`` holding one ``ExperimentKind`` subclass, registered in
``core/experiments/__init__.py``. The engine asks it for the run's units and their planned steps, hands every unit
to an executor, which calls ``run_unit`` where the unit runs (this process, a worker process, a Dask worker), and
lets it ``finish`` the run (merge what the units wrote). A kind never imports ``core.analysis``: the engine and
the kinds sit below the post-hoc analyses (an import-linter contract holds it).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from desktop_app.core.config import ExperimentConfig
from desktop_app.core.control import RunControl
from desktop_app.core.events import Event

if TYPE_CHECKING:
    from desktop_app.core.training.unit import UnitData


@dataclass
class TaskState:
    """What ``execution.tasks.run_task`` needs to end a task cut short: the seed batch under way, if any (which
    of its seeds ended, and the key seed's end it holds back until the others end)."""

    batch: Any = None


class ExperimentKind:
    """One experiment kind: its units, how many steps each plans, how a unit runs and how the run ends.

    ``name`` is the config's ``kind`` value; ``panels`` the result panels it feeds (titles of
    ``ui.panel_names.PANEL_NAMES``, first = the one to show); ``seed_batches`` whether K seeds of an arm may
    train as one stacked net (``core.seedbatch``)."""

    name: str = ""
    panels: tuple[str, ...] = ()
    seed_batches: bool = False

    def run_config(self, cfg: ExperimentConfig) -> ExperimentConfig:
        """The config the run executes (a kind may pin a field, e.g. the device it runs on)."""
        return cfg

    def units(self, cfg: ExperimentConfig) -> list[tuple[str, int]]:
        """The run's (arm, seed) units, seed-major: every arm of seed 0, then seed 1, ..."""
        return [(arm, seed) for seed in cfg.seed_values for arm in cfg.arms]

    def unit_steps(self, cfg: ExperimentConfig, arm: str, data: UnitData) -> int:
        """Planned steps of one unit (the progress bar's unit of work)."""
        raise NotImplementedError

    def phase_steps(self, cfg: ExperimentConfig, data: UnitData) -> tuple[tuple[str, int], ...]:
        """Planned steps per phase kind over the run (for ``core/eta.py``): each arm's pre-training and all
        fine-tuning; a unit of "none" is fine-tuning only, another arm's unit is that plus its pre-training."""
        finetune = self.unit_steps(cfg, "none", data)
        plan = {"finetune": finetune * len(cfg.arms) * cfg.seeds.count}
        for arm in cfg.arms:
            pretrain = (self.unit_steps(cfg, arm, data) - finetune) * cfg.seeds.count
            if pretrain > 0:
                plan[f"pretrain:{arm}"] = pretrain
        return tuple(plan.items())

    def run_unit(self, task: Any, control: RunControl, data: UnitData, state: TaskState) -> Iterator[Event]:
        """Train ``task`` (an ``execution.tasks.UnitTask``: the executors sit above the kinds and import them)'s
        unit(s) into their own files, yielding their events and one ``UnitFinished`` per
        seed (the key seed's last). Runs wherever the executor puts it."""
        raise NotImplementedError

    def finish(self, cfg: ExperimentConfig, run_dir: Path) -> Iterator[Event]:
        """After every unit completed: merge what the units wrote into the run's result (default: nothing)."""
        return iter(())
