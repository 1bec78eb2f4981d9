"""A comparison: several open runs seen together, each named by what differs between them (docs/ARCHITECTURE.md,
"Comparing runs").

The lab model (``core/lab/model.py``) owns which runs are compared; this module holds the value it hands to the
panels and how the runs are named: by the config fields whose values differ across them ("width=25", the one
owner is ``core/config/diff.py``), falling back to the folder name when nothing differs or a config cannot be
read. Plain Python: no Qt, no torch.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from desktop_app.core.config import ConfigError, ExperimentConfig
from desktop_app.core.config.diff import differing_fields, run_label
from desktop_app.core.lab.store import RunData
from desktop_app.core.runfolder import RunFolderError, read_config, read_manifest

ConfigReader = Callable[[Path], ExperimentConfig]


@dataclass(frozen=True)
class ComparedRun:
    """One run of a comparison: its folder, its label among the others, its (live or replayed) data, and how many
    labelled examples one fine-tuning epoch sees (0 = unknown), for the "examples seen" axis."""

    run_dir: str
    label: str
    data: RunData
    examples_per_epoch: int = 0

    @property
    def name(self) -> str:
        return Path(self.run_dir).name


@dataclass(frozen=True)
class Comparison:
    """An ordered set of open runs (the order the user chose them in) and the config fields that tell them apart."""

    runs: tuple[ComparedRun, ...]
    fields: tuple[str, ...] = ()

    def __iter__(self) -> Iterator[ComparedRun]:
        return iter(self.runs)

    def __len__(self) -> int:
        return len(self.runs)

    @property
    def run_dirs(self) -> tuple[str, ...]:
        return tuple(r.run_dir for r in self.runs)

    def labels(self) -> tuple[str, ...]:
        return tuple(r.label for r in self.runs)

    def find(self, run_dir: Path | str) -> ComparedRun | None:
        return next((r for r in self.runs if r.run_dir == str(run_dir)), None)


def _config(run_dir: str, reader: ConfigReader) -> ExperimentConfig | None:
    try:
        return reader(Path(run_dir))
    except (ConfigError, RunFolderError, OSError, ValueError):
        return None  # the run is still compared, named by its folder


def default_config_reader(run_dir: Path) -> ExperimentConfig:
    from desktop_app.core.runfolder import RunFolder

    return read_config(RunFolder(run_dir))


def labels_for(run_dirs: Sequence[str], reader: ConfigReader = default_config_reader) -> tuple[list[str], list[str]]:
    """(differing fields, one label per run): "width=25" over the fields that differ among the readable configs;
    the folder name when nothing differs or the config cannot be read; equal labels get their folder name added so
    every run of a comparison has its own."""
    configs = [_config(d, reader) for d in run_dirs]
    fields = differing_fields([c for c in configs if c is not None])
    labels = [run_label(c, fields, fallback=Path(d).name) if c is not None else Path(d).name
              for d, c in zip(run_dirs, configs, strict=True)]
    counts = Counter(labels)
    labels = [f"{lab} ({Path(d).name})" if counts[lab] > 1 and lab != Path(d).name else lab
              for lab, d in zip(labels, run_dirs, strict=True)]
    return fields, labels


def examples_per_epoch(run_dir: str, reader: ConfigReader = default_config_reader) -> int:
    """Labelled examples one fine-tuning epoch sees: the manifest's ``sizes.labelled`` (what the data held), else
    the config's ``data.n_labelled`` when it is not 0 ("all"); 0 when neither says."""
    try:
        sizes: Any = read_manifest(Path(run_dir)).get("sizes", {})
        if isinstance(sizes, dict) and int(sizes.get("labelled", 0)) > 0:
            return int(sizes["labelled"])
    except (RunFolderError, OSError, ValueError):
        pass
    cfg = _config(run_dir, reader)
    return int(cfg.data.n_labelled) if cfg is not None and cfg.data.n_labelled > 0 else 0


__all__ = ["ComparedRun", "Comparison", "ConfigReader", "default_config_reader", "examples_per_epoch",
           "labels_for"]
