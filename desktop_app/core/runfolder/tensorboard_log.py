"""TensorBoard interop: mirror a run's events into TensorBoard event files (optional extra basin[tensorboard]).

TensorBoard overlays *runs* (one folder of event files each) that share tag names, so every (arm, seed) unit is
its own run, ``tensorboard/<arm>/seed<k>/``, with the same tags in each: ``train_nll``, ``train_error``,
``valid_*``, ``test_*`` by fine-tuning epoch, ``pretrain_recon_layer<l>`` by pre-training epoch, an online run's
``online_error`` / ``test_error`` / ``test_nll`` by examples seen, and the first-layer filters as one mosaic per
snapshot under ``filters/<phase>`` (``init``, ``pretrain``, ``finetune``) by epoch. (It was one event file with
``<arm>/seed<k>/`` tag prefixes: TensorBoard showed one run and could overlay nothing.)

The config goes in through TensorBoard's HParams plugin: each unit's run starts with a session whose hparams
are the config fields that can change that unit's numbers (``config.diff``: no ``no_effect`` field, none its arm
does not use) plus ``arm`` and ``seed``. No experiment summary is written: TensorBoard then derives the HParams
table from the sessions (each hparam's values over every session, whether it differs; the metrics are the runs'
scalar tags, each shown at its last step: ``test_error`` and ``test_nll`` are the final epoch's). An experiment
summary would be one run's: with ``--logdir`` on a workspace or a sweep TensorBoard takes the first it finds for
all runs, so the other runs' values fall outside its domains. Sessions are grouped by a hash of their hparams
(not by ``<arm>/seed<k>``, which two runs share), so a group is one unit.

A resume rewrites the files from the run folder: the folder is the record (TensorBoard's writer flushes every
few seconds, so a killed process can leave the event files behind its metrics), and a resumed unit recomputes the
epochs after its last checkpoint, which are already in the folder. So on a resumed run the event files are
deleted and the folder's events replayed into fresh ones; afterwards an event whose step is not past the last
one written for its unit and tag is a recomputed one and is skipped. No step is written twice.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from desktop_app.core.config import ConfigError, ExperimentConfig
from desktop_app.core.config.diff import applies, flatten, no_effect, short_value
from desktop_app.core.events import (
    EpochMetrics,
    Event,
    FilterSnapshot,
    OnlinePoint,
    PretrainEpoch,
    RunFinished,
    RunStarted,
    UnitFinished,
)
from desktop_app.core.runfolder.layout import TENSORBOARD, RunFolder, RunFolderError, StoredArray
from desktop_app.core.runfolder.replay import replay
from desktop_app.core.tiling import filters_to_tiles, mosaic, normalise

EVENT_FILE_PREFIX = "events.out.tfevents."
FLUSH_SECS = 10  # a TensorBoard watching the run sees an epoch within seconds (torch's default is 120)

HParamValue = bool | int | float | str


def run_name(arm: str, seed: int) -> str:
    """The unit's run, relative to ``tensorboard/`` (arm names are checked folder names: ``layout.check_name``)."""
    return f"{arm}/seed{seed}"


def _hparam_value(value: Any) -> HParamValue | None:
    """A config value as the HParams plugin takes it (bool, number or string); None: nothing to show."""
    if value is None:
        return None
    if isinstance(value, bool | int | float | str):
        return value
    return short_value(value)


def unit_hparams(cfg: ExperimentConfig, arm: str, seed: int) -> dict[str, HParamValue]:
    """The unit's hparams: every config field that can change its numbers, ``arm`` and ``seed``.

    Fields are judged as if the run had only this arm (a DAE unit does not list the RBM settings), and the run-level
    ``arms`` / ``seeds.*`` are replaced by the unit's own arm and seed."""
    flat = dict(flatten(cfg), arms=(arm,))
    out: dict[str, HParamValue] = {}
    for key, value in flat.items():
        if key == "arms" or key.startswith("seeds.") or no_effect(key) or not applies(key, flat):
            continue
        v = _hparam_value(value)
        if v is not None:
            out[key] = v
    out["arm"], out["seed"] = arm, seed
    return out


def unit_items(ev: Event) -> list[tuple[str, str, int, Any]]:
    """(kind, tag, step, value) the event writes into its unit's run: kind "scalar" (a float) or "image"."""
    if isinstance(ev, EpochMetrics):
        return [("scalar", f"{split}_{m}", ev.epoch, float(getattr(ev, f"{split}_{m}")))
                for split in ("train", "valid", "test") for m in ("nll", "error")]
    if isinstance(ev, PretrainEpoch):
        return [("scalar", f"pretrain_recon_layer{ev.layer}", ev.epoch, float(ev.recon_error))]
    if isinstance(ev, OnlinePoint):
        return [("scalar", tag, ev.examples, float(getattr(ev, tag)))
                for tag in ("online_error", "test_error", "test_nll")]
    if isinstance(ev, FilterSnapshot):
        weights = ev.weights.load() if isinstance(ev.weights, StoredArray) else ev.weights  # (a lazy replay's)
        tiles, _levels = normalise(filters_to_tiles(weights, ev.input_shape), "per-tile")
        img = (np.nan_to_num(mosaic(tiles), nan=0.0)[None] + 1.0) / 2.0  # CHW in [0, 1]
        return [("image", f"filters/{ev.phase}", ev.epoch, img)]
    return []


class TensorBoardSink:
    """Call ``handle(event)`` for every engine event, RunStarted first; ``close()`` flushes (done on RunFinished)."""

    def __init__(self, folder: RunFolder, cfg: ExperimentConfig) -> None:
        try:
            from tensorboard.plugins.hparams import summary_v2 as hp
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise ConfigError(
                "snapshots.tensorboard", "needs TensorBoard: pip install 'basin[tensorboard]' or set it false"
            ) from None
        self._writer_cls, self._hp = SummaryWriter, hp
        self.folder, self.cfg = folder, cfg
        self.root = folder.tensorboard_dir
        self._writers: dict[tuple[str, int], Any] = {}
        self._last: dict[tuple[str, int, str], int] = {}  # the last step written per (arm, seed, tag)
        self._sessions: set[tuple[str, int]] = set()  # units whose HParams session is written

    # -- events ---------------------------------------------------------------------------------------
    def handle(self, ev: Event) -> str:
        """Mirror one event; returns a one-line warning when the files of a resumed run could not all be
        rebuilt (a damaged snapshot, a full disk: the run goes on, TensorBoard lacks what is named), else ""."""
        if isinstance(ev, RunStarted):
            return self.start(ev.resumed)
        if isinstance(ev, UnitFinished):
            self._close_unit((ev.arm, ev.seed))
        elif isinstance(ev, RunFinished):
            self.close()
        else:
            self._write(ev)
        return ""

    def start(self, resumed: bool) -> str:
        """A resumed run's event files rebuilt from the folder (a fresh run has none yet)."""
        if not resumed:
            return ""
        try:
            self._rebuild()
        except (RunFolderError, ConfigError, OSError, ValueError) as exc:
            self.close()
            return f"TensorBoard files of the earlier segments are incomplete: {str(exc).splitlines()[0]}"
        return ""

    def _rebuild(self) -> None:
        for dirpath, _dirs, files in os.walk(self.root, followlinks=False):
            for name in files:
                if name.startswith(EVENT_FILE_PREFIX):
                    os.unlink(Path(dirpath) / name)
        unit = None
        for ev in replay(self.folder, lazy=True):
            key = (getattr(ev, "arm", None), getattr(ev, "seed", None))
            if key != unit and unit is not None:
                self._close_unit(unit)  # replay is unit by unit: one writer open at a time
            unit = key if key[0] is not None else unit
            if not isinstance(ev, RunStarted | RunFinished):
                self._write(ev)
        self.close()

    def _write(self, ev: Event) -> None:
        items = unit_items(ev)
        if not items:
            return
        unit = (ev.arm, ev.seed)  # type: ignore[union-attr]  # every event with items is a unit's
        w = self._writer(unit)
        for kind, tag, step, value in items:
            key = (*unit, tag)
            if step <= self._last.get(key, -1):
                continue  # a resumed unit recomputing an epoch the folder (and so the files) already hold
            self._last[key] = step
            if kind == "scalar":
                w.add_scalar(tag, value, step)
            else:
                w.add_image(tag, value, step, dataformats="CHW")

    # -- writers --------------------------------------------------------------------------------------
    def _writer(self, unit: tuple[str, int]):
        w = self._writers.get(unit)
        if w is None:
            path = self.folder.path(TENSORBOARD, *run_name(*unit).split("/"))
            w = self._writers[unit] = self._writer_cls(log_dir=str(path), flush_secs=FLUSH_SECS)
            if unit not in self._sessions:
                self._sessions.add(unit)
                w.file_writer.add_summary(self._hp.hparams_pb(
                    unit_hparams(self.cfg, *unit), start_time_secs=time.time()))
        return w

    def _close_unit(self, unit: tuple[str, int]) -> None:
        w = self._writers.pop(unit, None)
        if w is not None:
            w.close()

    def close(self) -> None:
        for unit in list(self._writers):
            self._close_unit(unit)
