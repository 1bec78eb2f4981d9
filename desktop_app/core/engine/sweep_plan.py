"""Sweep -> run folders: the one policy the CLI (`basin run`) and the window's Start share.

Every variant of a sweep is a complete run in its own folder. With an explicit output folder (``--out``)
the variants are its sub-folders, named by their label (``n_labelled=100``), beside a ``sweep.toml`` holding
the whole sweep; without one each variant gets its own dated folder in the workspace, so the run history
and ``basin runs`` list every variant.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from desktop_app.core.config import ExperimentConfig, expand_sweep, save
from desktop_app.core.runfolder.workspace import new_run_dir


@dataclass(frozen=True)
class PlannedRun:
    label: str  # "" for a plain run, else the sweep value, e.g. "n_labelled=100"
    config: ExperimentConfig  # the variant (no sweep section)
    run_dir: Path


def plan_runs(cfg: ExperimentConfig, workspace: Path, out: Path | None = None) -> list[PlannedRun]:
    """The run folders of ``cfg`` (one per sweep variant); validate ``cfg`` first (this bounds the sweep)."""
    plan: list[PlannedRun] = []
    taken: set[Path] = set()
    for label, variant in expand_sweep(cfg):
        if out is not None:
            run_dir = Path(out) / label if label else Path(out)
        else:
            run_dir = new_run_dir(workspace, variant.name)
            base, i = run_dir, 1
            while run_dir in taken:  # two long names may share their first 40 characters
                run_dir = base.with_name(f"{base.name}-{i}")
                i += 1
        taken.add(run_dir)
        plan.append(PlannedRun(label, variant, run_dir))
    return plan


def write_sweep_file(cfg: ExperimentConfig, out: Path | None) -> Path | None:
    """With ``--out``, a sweep's full config beside its variants' folders (``out/sweep.toml``)."""
    if out is None or not cfg.sweep.field:
        return None
    path = Path(out) / "sweep.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    save(cfg, path)
    return path
