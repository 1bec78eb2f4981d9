"""A comparison: several open runs seen together, each named by what differs between them (docs/ARCHITECTURE.md,
"Comparing runs").

The lab model (``core/lab/model.py``) owns which runs are compared; this module holds the value it hands to the
panels and how the runs are named: by the config fields whose values differ across them ("width=25", the one
owner is ``core/config/diff.py``), falling back to the folder name when nothing differs or a config cannot be
read. Plain Python: no Qt, no torch.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from desktop_app.core.config import ConfigError, ExperimentConfig
from desktop_app.core.config.diff import FieldDiffer, differing_fields, flatten, run_label
from desktop_app.core.lab.store import RunData
from desktop_app.core.runfolder import RunFolderError, read_config, read_manifest

ConfigReader = Callable[[Path], ExperimentConfig]


@dataclass(frozen=True)
class ComparedRun:
    """One run of a comparison: its folder, its label among the others, its (live or replayed) data, and how many
    labelled examples one fine-tuning epoch sees (0 = unknown), for the "examples seen" axis. ``config``: its flat
    config (``config.diff.flatten``; empty when it cannot be read), from which labels and groups are made.
    A group of runs (``core/lab/grouping.py``) is one ComparedRun whose ``members`` are the runs pooled in it."""

    run_dir: str
    label: str
    data: RunData
    examples_per_epoch: int = 0
    config: Mapping[str, Any] = field(default_factory=dict)
    members: tuple[ComparedRun, ...] = ()

    @property
    def name(self) -> str:
        return Path(self.run_dir).name

    def runs(self) -> tuple[ComparedRun, ...]:
        """The runs this entry stands for: its members when it is a group, else itself."""
        return self.members or (self,)


@dataclass(frozen=True)
class Comparison:
    """An ordered set of open runs (the order the user chose them in) and the config fields that tell them apart.

    ``runs`` are the entries the panels draw: the runs, or with ``group_by`` one entry per value of that field (its
    runs pooled). ``fields``: what differs and matters; ``other_fields``: what differs but cannot matter (offered as
    label keys on request); ``label_keys``: the fields the labels name (the user's choice, else ``fields``)."""

    runs: tuple[ComparedRun, ...]
    fields: tuple[str, ...] = ()
    other_fields: tuple[str, ...] = ()
    label_keys: tuple[str, ...] = ()
    group_by: str = ""
    chosen: tuple[str, ...] = ()  # the run folders in the order the user chose them (groups reorder ``runs``)

    def __iter__(self) -> Iterator[ComparedRun]:
        return iter(self.runs)

    def __len__(self) -> int:
        return len(self.runs)

    @property
    def run_dirs(self) -> tuple[str, ...]:
        """Every compared run's folder (a group's members each), in the order chosen."""
        return tuple(r.run_dir for r in self.members())

    def labels(self) -> tuple[str, ...]:
        return tuple(r.label for r in self.runs)

    def members(self) -> tuple[ComparedRun, ...]:
        """The compared runs one by one (a group's members in place of the group), in the order chosen."""
        out = [m for r in self.runs for m in r.runs()]
        order = {d: i for i, d in enumerate(self.chosen)}
        return tuple(sorted(out, key=lambda m: order.get(m.run_dir, 0)))

    def find(self, run_dir: Path | str) -> ComparedRun | None:
        return next((r for r in self.members() if r.run_dir == str(run_dir)), None)

    def caption(self, most: int = 120) -> str:
        """What the window names the comparison by (status bar, window title): "Comparing 2 runs: units=25;
        units=50", the labels cut at ``most`` characters ("…")."""
        head = f"Comparing {len(self.run_dirs)} runs" + (f" in {len(self)} groups" if self.group_by else "")
        labels = "; ".join(self.labels())
        return f"{head}: {labels if len(labels) <= most else labels[:most - 1] + '…'}"


def one_run_note(comparison: Comparison, shown_dir: str) -> str:
    """What a view that shows one run at a time (Filters, Live metrics, the analyses) says in itself while a
    comparison is open: that it does not show the comparison, which run it shows, and whether that run is one of
    the compared (a user read the run shown before the comparison as part of it)."""
    n = len(comparison.run_dirs)
    if not shown_dir:
        return f"Shows one run at a time, not the comparison of {n} runs, and no run is shown."
    name = Path(shown_dir).name
    member = comparison.find(shown_dir)
    if member is None:
        return f"Shows one run, not the comparison of {n} runs: {name}, which is not compared."
    label = member.label if member.label and member.label != name else ""
    return (f"Shows one run, not the comparison of {n} runs: {label + ' (' + name + ')' if label else name}, one of "
            "the compared runs.")


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
    flats = [flatten(c) if c is not None else {} for c in configs]
    return fields, unique_labels(run_dirs, flats, fields)


def unique_labels(run_dirs: Sequence[str], flats: Sequence[Mapping[str, Any]], keys: Sequence[str]) -> list[str]:
    """One label per run over ``keys`` (``run_label``); the folder name when no key names it or its config could
    not be read (``{}``); equal labels get their folder name added so every run has its own."""
    labels = [run_label(dict(f), keys, fallback=Path(d).name) if f else Path(d).name
              for d, f in zip(run_dirs, flats, strict=True)]
    counts = Counter(labels)
    return [f"{lab} ({Path(d).name})" if counts[lab] > 1 and lab != Path(d).name else lab
            for lab, d in zip(labels, run_dirs, strict=True)]


def flat_config(run_dir: str, reader: ConfigReader = default_config_reader) -> dict[str, Any]:
    """The run's flat config (``flatten``), ``{}`` when it cannot be read (the run is named by its folder)."""
    cfg = _config(run_dir, reader)
    return flatten(cfg) if cfg is not None else {}


def field_sets(flats: Sequence[Mapping[str, Any]]) -> tuple[list[str], list[str]]:
    """(fields that differ and matter, fields that differ but cannot matter) among the readable flat configs."""
    differ = FieldDiffer()
    for f in flats:
        if f:
            differ.add(dict(f))
    return differ.fields, differ.other_fields


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


__all__ = ["ComparedRun", "Comparison", "ConfigReader", "default_config_reader", "examples_per_epoch", "field_sets",
           "flat_config", "labels_for", "one_run_note", "unique_labels"]
