"""Persistence: the engine's events written into the run folder, as a sink the events pass through.

``replay`` is the exact inverse: for every event kind persisted here (PretrainEpoch, EpochMetrics,
FilterSnapshot, ProbeOutputs, CheckpointSaved, OnlinePoint), replaying the folder yields the same events in the
same order per unit. A ``UnitSink`` writes only its own unit's files, so units may run in separate processes; the run's
``metrics.csv`` is merged from the units' files at the end (``RunSink.merge_metrics``).
"""

from __future__ import annotations

from typing import Any

from desktop_app.core import config as config_mod
from desktop_app.core.events import (
    CheckpointSaved,
    EpochMetrics,
    FilterSnapshot,
    OnlinePoint,
    PretrainEpoch,
    ProbeOutputs,
)
from desktop_app.core.runfolder import manifest as manifest_mod
from desktop_app.core.runfolder.layout import RunFolder, UnitFolder
from desktop_app.core.runfolder.metrics import SPLITS, read_csv, read_metrics, rows_to_csv
from desktop_app.core.runfolder.online import OnlineSink

UNIT_EVENTS = (PretrainEpoch, EpochMetrics, FilterSnapshot, ProbeOutputs, CheckpointSaved, OnlinePoint)


def metric_rows(ev: PretrainEpoch | EpochMetrics) -> list[dict[str, Any]]:
    """The long-format rows of one metrics event."""
    if isinstance(ev, PretrainEpoch):
        return [{"arm": ev.arm, "seed": ev.seed, "phase": "pretrain", "layer": ev.layer, "epoch": ev.epoch,
                 "split": "unlabelled", "nll": "", "error": "", "recon_error": float(ev.recon_error)}]
    values = ((ev.train_nll, ev.train_error), (ev.valid_nll, ev.valid_error), (ev.test_nll, ev.test_error))
    wall = "" if ev.wall_s is None else float(ev.wall_s)
    return [{"arm": ev.arm, "seed": ev.seed, "phase": "finetune", "layer": -1, "epoch": ev.epoch, "split": split,
             "nll": float(nll), "error": float(err), "recon_error": "", "wall_s": wall}
            for split, (nll, err) in zip(SPLITS, values, strict=True)]


class UnitSink:
    """Persists one (arm, seed) unit's events into its unit files (and nothing else)."""

    def __init__(self, unit: UnitFolder, save_filters: bool = True) -> None:
        self.unit = unit
        self.save_filters = save_filters
        self._rows: list[dict[str, Any]] = []
        self.online = OnlineSink(unit)

    def resume(self, keep_finetune_upto: int, keep_pretrain_layers: int) -> None:
        """Keep only the rows a checkpoint covers (later ones are recomputed identically) and rewrite the file."""
        rows = read_csv(self.unit.run, self.unit.metrics_path)
        self._rows = [
            r for r in rows
            if (r["phase"] == "finetune" and int(r["epoch"]) <= keep_finetune_upto)
            or (r["phase"] == "pretrain" and int(r["layer"]) < keep_pretrain_layers)
        ]
        self._flush()

    def handle(self, ev: object) -> None:
        if isinstance(ev, PretrainEpoch | EpochMetrics):
            self._rows.extend(metric_rows(ev))
            self._flush()
        elif isinstance(ev, FilterSnapshot):
            if self.save_filters:
                self.unit.run.save_array(self.unit.filters_path(ev.phase, ev.epoch), ev.weights)
        elif isinstance(ev, ProbeOutputs):
            self.unit.run.save_array(self.unit.probe_path(ev.epoch), ev.outputs)
        elif isinstance(ev, OnlinePoint):
            self.online.handle(ev)

    def _flush(self) -> None:
        self.unit.run.write_text(self.unit.metrics_path, rows_to_csv(self._rows))


class RunSink:
    """The run-level files (config, manifest, merged metrics) and a ``UnitSink`` per unit."""

    def __init__(self, folder: RunFolder, save_filters: bool = True) -> None:
        self.folder = folder
        self.save_filters = save_filters
        self._units: dict[tuple[str, int], UnitSink] = {}

    def unit(self, arm: str, seed: int) -> UnitSink:
        key = (arm, int(seed))
        if key not in self._units:
            self._units[key] = UnitSink(self.folder.unit(arm, seed), self.save_filters)
        return self._units[key]

    def handle(self, ev: object) -> None:
        """Persist one engine event (events of other kinds are ignored)."""
        if isinstance(ev, UNIT_EVENTS):
            self.unit(ev.arm, ev.seed).handle(ev)

    def write_config(self, cfg: config_mod.ExperimentConfig) -> None:
        self.folder.write_text(self.folder.config_path, cfg.to_toml())

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        manifest_mod.write_manifest(self.folder, manifest)

    def update_manifest(self, **changes: Any) -> dict[str, Any]:
        return manifest_mod.update_manifest(self.folder, **changes)

    def merge_metrics(self, arms: tuple[str, ...] | None = None) -> None:
        """metrics.csv: every unit's rows, seed-major (the order the engine runs them)."""
        self.folder.write_text(self.folder.metrics_path, rows_to_csv(read_metrics(self.folder, arms)))

