"""Experiment kinds, one module each (docs/ARCHITECTURE.md, "Experiment kinds"): ``standard``, ``online`` and
``output_variance`` each declare their units, unit function, planned steps, how the run ends and the panels they
feed (``base.ExperimentKind``). Adding a kind = one module + one line here + its name in ``config.EXPERIMENT_KINDS``."""

from __future__ import annotations

from desktop_app.core.config import ExperimentConfig
from desktop_app.core.experiments import online, output_variance, standard
from desktop_app.core.experiments.base import ExperimentKind, TaskState

KINDS: dict[str, ExperimentKind] = {k.name: k for k in (standard.KIND, online.KIND, output_variance.KIND)}


def experiment_kind(cfg: ExperimentConfig) -> ExperimentKind:
    """The kind that runs cfg (config validation has already refused unknown kinds)."""
    return KINDS[cfg.kind]


__all__ = ["KINDS", "ExperimentKind", "TaskState", "experiment_kind"]
