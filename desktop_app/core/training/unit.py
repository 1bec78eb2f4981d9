"""One (arm, seed) unit: pre-training, fine-tuning, snapshots and checkpoints, as one generator of events.

This is the seam that lets a unit run in any process or on any machine (docs/ARCHITECTURE.md, "Units and
execution"): ``train_unit`` reads and writes only its own unit files in the run folder (its metrics file, its
snapshots and its checkpoints) and persists its own events there, so a parent process only forwards them. A
unit whose ``latest.pt`` exists continues from it, which is how a stopped run resumes and how a unit whose
worker died starts again on another worker with the same final numbers.

``latest.pt`` (7 MB with momentum for the reference net, written atomically with an fsync) and the unit's
metrics file go to disk at most every ``LATEST_EVERY_S`` seconds, and always when the unit ends (completed,
diverged, stopped, failed): writing latest.pt every epoch cost ~1.3 s of an 18 s reference unit on a quiet
disk, more on a busy one (issue 25). In between, the last epoch's resume state waits in memory, a copy, exactly
as it would have been written then. A unit killed without a chance to flush (kill -9) resumes from the last
state written, with its metrics trimmed to it, so resume stays exact; it only recomputes more epochs.

Randomness comes from (seed, purpose, epoch) alone (``seeding.derive_seed``), so units are paired across arms
whatever process runs them. The default torch generator is used for dropout, so two units must never run at
the same time in one process (the executors run one unit per process at a time).
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from desktop_app.core.atomic import write_bytes_atomic
from desktop_app.core.config import ExperimentConfig
from desktop_app.core.control import RunControl, StopRequested
from desktop_app.core.data import DataSplits, load_data
from desktop_app.core.events import (
    CheckpointSaved,
    EpochMetrics,
    Event,
    FilterSnapshot,
    LogMessage,
    PhaseStarted,
    PretrainEpoch,
    ProbeOutputs,
    Progress,
    UnitFinished,
    as_array,
)
from desktop_app.core.pretraining import PretrainingDiverged
from desktop_app.core.runfolder import RunFolder
from desktop_app.core.runfolder.metrics import FIRST_TRAINED_EPOCH, improves
from desktop_app.core.runfolder.workspace import RunWriter
from desktop_app.core.seeding import derive_seed
from desktop_app.core.training.checkpoints import read_resume_state
from desktop_app.core.training.greedy import (
    LayerDone,
    LayerEpoch,
    LayerStep,
    greedy_pretrain,
    pretrain_targets,
    pretrained_layer_count,
)
from desktop_app.core.training.models import Net, build_model
from desktop_app.core.training.step import (
    LOSS_CHECK_EVERY,
    FinetuneDiverged,
    all_finite,
    checkpoint_bytes,
    evaluate,
    finetune_step,
    load_optimizer_state,
    make_optimizer,
    probe_outputs,
)
from desktop_app.core.untrusted import is_number

PROGRESS_INTERVAL_S = 0.1
MAX_WALL_S = 1e9  # a resumed unit's time before (about 32 years): a checkpoint's larger wall_s is not believed
LATEST_EVERY_S = 30.0  # at most this often a unit writes latest.pt and its metrics file (see the docstring)


def minibatches(n: int, batch: int) -> int:
    """Minibatches in one pass over n examples (the progress bar's unit of work, for every kind of unit)."""
    return math.ceil(n / batch) if n else 0


def unit_steps(cfg: ExperimentConfig, arm: str, n_labelled: int, n_unlabelled: int) -> int:
    """Minibatches one unit runs: the progress bar's unit of work."""
    steps = cfg.finetune.epochs * minibatches(n_labelled, cfg.finetune.batch_size)
    if arm != "none":
        section = getattr(cfg.pretraining, arm)
        steps += pretrained_layer_count(cfg, arm) * section.epochs * minibatches(n_unlabelled, section.batch_size)
    return steps


@dataclass
class UnitData:
    """The data splits on the unit's device, with the evaluation subsets every unit uses."""

    splits: DataSplits
    device: torch.device
    train_eval: tuple[torch.Tensor, torch.Tensor]
    probe_x: torch.Tensor


def prepare_data(cfg: ExperimentConfig, device: torch.device, splits: DataSplits | None = None) -> UnitData:
    data = splits if splits is not None else load_data(cfg.data)
    names = ["train_x", "train_y", "unlabelled_x", "valid_x", "valid_y", "test_x", "test_y"]
    if _prefix_views(data.train_x, data.unlabelled_x):  # prefixes of one tensor: moved once, then cut again
        n_lab, n_unl = len(data.train_x), len(data.unlabelled_x)
        base = (data.train_x if n_lab >= n_unl else data.unlabelled_x).to(device)
        data.train_x, data.unlabelled_x = base[:n_lab], base[:n_unl]
        names = [n for n in names if n not in ("train_x", "unlabelled_x")]
    for name in names:
        setattr(data, name, getattr(data, name).to(device))
    n_eval = cfg.data.train_eval_size or len(data.train_x)
    return UnitData(data, device, (data.train_x[:n_eval], data.train_y[:n_eval]),
                    data.test_x[data.probe_idx.to(device)])


def _prefix_views(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Whether ``a`` and ``b`` are both prefixes of one tensor (``data.splits.make_splits`` cuts the labelled set
    and the unlabelled pool from one training pool); moving each would store the shorter one twice."""
    return (a.device == b.device and a.untyped_storage().data_ptr() == b.untyped_storage().data_ptr()
            and a.storage_offset() == b.storage_offset() and a.shape[1:] == b.shape[1:] and a.stride() == b.stride())


def unit_dir(run_dir: Path, kind: str, arm: str, seed: int) -> Path:
    return Path(run_dir) / kind / arm / f"s{seed}"


def train_unit(cfg: ExperimentConfig, arm: str, seed: int, run_dir: Path, control: RunControl,
               data: UnitData) -> Iterator[Event]:
    """Train one unit into its files under run_dir, yielding its events; ends with UnitFinished ("completed" or
    "diverged"). Progress counts the unit's own minibatches. StopRequested propagates (after a last Progress)."""
    return UnitRun(cfg, arm, seed, Path(run_dir), control, data).events()


class UnitRun:
    def __init__(self, cfg: ExperimentConfig, arm: str, seed: int, run_dir: Path, control: RunControl,
                 data: UnitData) -> None:
        self.cfg, self.arm, self.seed = cfg, arm, int(seed)
        self.run_dir = run_dir
        self.control = control
        self.unit_data = data
        self.data = data.splits
        self.device = data.device
        self.writer = RunWriter(run_dir)
        self.total_steps = unit_steps(cfg, arm, len(self.data.train_x), len(self.data.unlabelled_x))
        self.done_steps = 0
        self._t0 = time.perf_counter()
        self._wall_before = 0.0  # seconds this unit ran before a resume (from its checkpoint)
        self._last_progress = 0.0
        self._where = ("finetune", -1, 0, cfg.finetune.epochs)
        self._pending: dict[str, Any] | None = None  # the resume state not yet written (``_save_latest``)
        self._saved_at = time.monotonic()
        # early stopping (finetune.patience): the best-validation epoch so far (0: none yet), its validation error and
        # a copy of its weights; epochs without improvement = the epoch done - best_epoch, so it is not stored
        self.best_epoch, self.best_error, self.best_model = 0, 1.0, {}
        self.stopped_early = False

    def events(self) -> Iterator[Event]:
        """A divergence ends this unit only: its last finite checkpoint stays and the message says what to lower."""
        try:
            yield from self._train()
        except (PretrainingDiverged, FinetuneDiverged) as exc:
            yield from self.diverged(exc)
            return
        except StopRequested:
            yield self._progress(force=True)  # where the stop landed, to the minibatch
            raise
        finally:  # stopped, failed or abandoned: what the unit would have written by now goes to disk
            self.flush()
        yield UnitFinished(self.arm, self.seed, "completed")

    def diverged(self, exc: Exception) -> list[Event]:
        """The events of this unit ending diverged (also used by a seed batch for one of its seeds)."""
        text = f"{self.arm} seed {self.seed}: {exc}; its last finite checkpoint is kept, the other units go on"
        self.done_steps = self.total_steps  # the progress bar moves past this unit
        self.flush()  # the last finite resume state and the rows up to the divergence
        return [LogMessage("error", text), UnitFinished(self.arm, self.seed, "diverged", text)]

    # -- progress --------------------------------------------------------------------------------------
    def where(self, phase: str, layer: int, epoch: int, epochs: int) -> None:
        self._where = (phase, layer, epoch, epochs)

    def tick(self) -> Progress | None:
        """Count one minibatch; a Progress event at most every PROGRESS_INTERVAL_S."""
        self.done_steps += 1
        return self._progress()

    def _progress(self, force: bool = False) -> Progress | None:
        now = time.perf_counter()
        if force or now - self._last_progress >= PROGRESS_INTERVAL_S:
            self._last_progress = now
            phase, layer, epoch, epochs = self._where
            return Progress(self.arm, self.seed, phase, layer, epoch, epochs, self.done_steps, self.total_steps,
                            now - self._t0)
        return None

    # -- the unit ----------------------------------------------------------------------------------------
    def _wall(self) -> float:
        """Seconds this unit has run (pre-training included), carried over resumes through its checkpoint."""
        return self._wall_before + time.perf_counter() - self._t0

    def _save_latest(self, state: dict[str, Any], force: bool = False) -> None:
        """The unit's resume state as of now: written with the unit's metrics rows when ``force`` or when the last
        write is ``LATEST_EVERY_S`` old, else kept (a copy) until then or until ``flush``."""
        state = {**state, "arm": self.arm, "seed": self.seed, "config": self.cfg.to_toml(), "wall_s": self._wall(),
                 "torch_rng": torch.get_rng_state()}
        if force or time.monotonic() - self._saved_at >= LATEST_EVERY_S:
            self._write_latest(state)
        else:
            self._pending = copy.deepcopy(state)  # the live weights and optimizer buffers move on

    def flush(self) -> None:
        """Write the unit's metrics rows and its pending resume state, if any (the unit ends or stops)."""
        if self._pending is not None:
            self._write_latest(self._pending)
        else:
            self.writer.flush_rows(self.arm, self.seed)

    def _write_latest(self, state: dict[str, Any]) -> None:
        self._pending = None
        self.writer.flush_rows(self.arm, self.seed)  # first: the rows a resume from this state keeps
        write_bytes_atomic(unit_dir(self.run_dir, "checkpoints", self.arm, self.seed) / "latest.pt",
                           checkpoint_bytes(state))
        self._saved_at = time.monotonic()

    def _train(self) -> Iterator[Event]:
        yield from self.begin()
        if self.finished:
            return
        yield from self.pretrain_phase()
        yield from self._finetune(self.model, self.state if self.ft_epoch >= 0 else None)

    def begin(self) -> Iterator[Event]:
        """Load the unit's ``latest.pt`` (if any), build its model, trim its metrics to what that checkpoint holds
        and snapshot the initial filters. Sets ``model``, ``state``, ``layers_done``, ``ft_epoch`` (-1: fine-tuning
        not started) and ``finished`` (the unit had completed)."""
        cfg, data, arm, seed = self.cfg, self.data, self.arm, self.seed
        state = read_resume_state(RunFolder(self.run_dir).unit(arm, seed), self.device,
                                  cfg.finetune.patience)  # checked like resume's
        model = build_model(cfg.model, data.input_shape, data.n_classes, seed).to(self.device)
        self.model, self.state, self.finished = model, state, False
        self.layers_done, self.ft_epoch = 0, -1
        if state is not None and state["stage"] == "done":
            self.done_steps = self.total_steps
            self.finished = True
            return
        if state is not None:
            wall = state.get("wall_s", 0.0)  # (a checkpoint from before wall time was recorded has none)
            # compared before float(): a bool is no time, NaN compares False, and float(10**400) raised
            self._wall_before = float(wall) if is_number(wall) and 0 <= wall <= MAX_WALL_S else 0.0
            model.load_state_dict(state["model"])
            self.layers_done = int(state.get("layers_done", 0))
            if state["stage"] == "finetune":
                self.ft_epoch = int(state["epoch"])
                self.layers_done = 10**6
                if cfg.finetune.patience:  # read_resume_state checked it is there and fits the model
                    es = state["early_stop"]
                    self.best_epoch, self.best_error = int(es["best_epoch"]), float(es["best_error"])
                    self.best_model = es["best_model"]
        targets = pretrain_targets(model, arm, cfg.pretraining.bottom_layers) if arm != "none" else []
        done_layers = targets[: min(self.layers_done, len(targets))]
        self.writer.load_unit(arm, seed, keep_finetune_upto=self.ft_epoch,
                              keep_pretrain_layers=(done_layers[-1] + 1) if done_layers else 0)
        if state is None:
            yield from self._filters(model, "init", 0)

    def pretrain_phase(self) -> Iterator[Event]:
        """Pre-train the layers not yet done (none once fine-tuning started: those steps count as done)."""
        if self.arm != "none" and self.ft_epoch < 0:
            yield from self._pretrain(self.model, self.layers_done)
        elif self.arm != "none":
            self.done_steps += self.total_steps - unit_steps(self.cfg, "none", len(self.data.train_x), 0)

    # -- pre-training ----------------------------------------------------------------------------------
    def _pretrain(self, model: Net, layers_done: int) -> Iterator[Event]:
        self.skip_pretrained(model, layers_done)
        for item in greedy_pretrain(model, self.arm, self.cfg, self.data.unlabelled_x, self.seed, self.control,
                                    layers_done):
            yield from self.pretrain_item(model, item)

    def skip_pretrained(self, model: Net, layers_done: int) -> None:
        """Count the minibatches of the layers a resumed unit had pre-trained already, and say where the unit is
        now (the next layer, epoch 0): a stop before its first minibatch reports it about to pre-train."""
        section = getattr(self.cfg.pretraining, self.arm)
        per_layer = section.epochs * minibatches(len(self.data.unlabelled_x), section.batch_size)
        self.done_steps += min(layers_done, pretrained_layer_count(self.cfg, self.arm)) * per_layer
        self._pt_started = False
        todo = pretrain_targets(model, self.arm, self.cfg.pretraining.bottom_layers)[layers_done:]
        if todo:
            self._where = ("pretrain", todo[0], 0, section.epochs)

    def pretrain_item(self, model: Net, item: LayerStep | LayerEpoch | LayerDone) -> Iterator[Event]:
        """One item of greedy pre-training (``greedy_pretrain``'s, or a seed batch's for this seed) as this
        unit's events, rows and resume states."""
        arm, seed = self.arm, self.seed
        section = getattr(self.cfg.pretraining, arm)
        if not self._pt_started:
            yield PhaseStarted(arm, seed, "pretrain", item.layer, section.epochs)
            self._pt_started = True
        if isinstance(item, LayerStep):
            self._where = ("pretrain", item.layer, item.epoch, section.epochs)
            ev = self.tick()
            if ev is not None:
                yield ev
        elif isinstance(item, LayerEpoch):
            self.writer.add_rows(arm, seed, [{
                "arm": arm, "seed": seed, "phase": "pretrain", "layer": item.layer, "epoch": item.epoch,
                "split": "unlabelled", "nll": "", "error": "", "recon_error": item.recon_error,
            }], flush=False)
            yield PretrainEpoch(arm, seed, item.layer, item.epoch, item.recon_error)
            if item.layer == 0:
                yield from self._filters(model, "pretrain", item.epoch)
        else:
            self._pt_started = False
            self._save_latest({"stage": "pretrain", "layers_done": item.index + 1, "model": model.state_dict()})

    # -- fine-tuning -----------------------------------------------------------------------------------
    def finetune_start(self, model: Net, state: dict | None):
        """The optimizer (with its saved state when resuming), PhaseStarted and, on a fresh start, the epoch-0
        metrics; a generator whose return value is (optimizer, the last epoch done)."""
        ft = self.cfg.finetune
        opt = make_optimizer(ft, model.parameters())
        start = 0
        if state is not None:
            load_optimizer_state(opt, state["optimizer"])  # Adam's step counters back on the CPU
            start = int(state["epoch"])
            self.done_steps += start * minibatches(len(self.data.train_x), ft.batch_size)
        yield PhaseStarted(self.arm, self.seed, "finetune", -1, ft.epochs)
        if state is None:
            yield from self.end_of_epoch(model, opt, 0)
        return opt, start

    def _finetune(self, model: Net, state: dict | None) -> Iterator[Event]:
        cfg, data, seed = self.cfg, self.data, self.seed
        ft = cfg.finetune
        opt, start = yield from self.finetune_start(model, state)
        n = len(data.train_x)
        model.train()
        for epoch in range(start + 1, ft.epochs + 1):
            self.where("finetune", -1, epoch, ft.epochs)
            order = torch.Generator().manual_seed(derive_seed(seed, "finetune-order", epoch))
            perm = torch.randperm(n, generator=order).to(self.device)
            torch.manual_seed(derive_seed(seed, "dropout", epoch))
            aug_gen = None
            if data.augment is not None:
                aug_gen = torch.Generator(device=self.device).manual_seed(derive_seed(seed, "augment", epoch))
            for step, s in enumerate(range(0, n, ft.batch_size)):
                self.control.checkpoint()
                idx = perm[s : s + ft.batch_size]
                x, y = data.train_x[idx], data.train_y[idx]
                if aug_gen is not None:
                    x = data.augment(x, aug_gen)
                finetune_step(model, opt, x, y, cfg.model, ft, epoch, check_loss=step % LOSS_CHECK_EVERY == 0)
                ev = self.tick()
                if ev is not None:
                    yield ev
            yield from self.end_of_epoch(model, opt, epoch)
            if self.stopped_early:
                break

    def _early_stop(self, model: Net, epoch: int, valid_error: float) -> bool:
        """Track the best-validation epoch (``runfolder.metrics.improves``, the rule the reducers select by) and keep
        a copy of its weights; True when ``finetune.patience`` epochs have passed without improvement."""
        patience = self.cfg.finetune.patience
        if not patience or epoch < FIRST_TRAINED_EPOCH:
            return False
        if improves(valid_error, self.best_error if self.best_epoch else None):
            self.best_epoch, self.best_error = epoch, valid_error
            self.best_model = {k: v.detach().clone() for k, v in model.state_dict().items()}
        return epoch - self.best_epoch >= patience

    def _early_stop_state(self) -> dict[str, Any]:
        """The resume state's early-stopping part ({} without early stopping: latest.pt is as before)."""
        if not self.cfg.finetune.patience:
            return {}
        return {"early_stop": {"best_epoch": self.best_epoch, "best_error": self.best_error,
                               "best_model": self.best_model}}

    def _selected_checkpoint(self, model: Net) -> Iterator[Event]:
        """An early-stopping unit's end: its weights become the selected epoch's, and that epoch's weights checkpoint
        is written if the ``checkpoint_every`` cadence skipped it (a seed the storage policy keeps)."""
        cfg, arm, seed = self.cfg, self.arm, self.seed
        model.load_state_dict(self.best_model)
        path = unit_dir(self.run_dir, "checkpoints", arm, seed) / f"e{self.best_epoch:04d}.pt"
        if cfg.keeps_snapshots(seed) and not path.exists():
            write_bytes_atomic(path, checkpoint_bytes({
                "arm": arm, "seed": seed, "phase": "finetune", "epoch": self.best_epoch,
                "model": self.best_model, "config": cfg.to_toml(),
            }))
            yield CheckpointSaved(arm, seed, "finetune", self.best_epoch, str(path))

    def end_of_epoch(self, model: Net, opt, epoch: int) -> Iterator[Event]:
        cfg, data, arm, seed = self.cfg, self.data, self.arm, self.seed
        if not all_finite(model):  # the epoch's last step can overflow a weight with a finite loss
            raise FinetuneDiverged(cfg.finetune, epoch, "non-finite weights")
        tr = evaluate(model, *self.unit_data.train_eval)
        va = evaluate(model, data.valid_x, data.valid_y)
        te = evaluate(model, data.test_x, data.test_y)
        if not all(math.isfinite(v) for v in (*tr, *va, *te)):
            raise FinetuneDiverged(cfg.finetune, epoch, f"train NLL {tr[0]}, test NLL {te[0]}")
        wall = self._wall()
        rows = [
            {"arm": arm, "seed": seed, "phase": "finetune", "layer": -1, "epoch": epoch, "split": split,
             "nll": nll, "error": err, "recon_error": "", "wall_s": wall}
            for split, (nll, err) in zip(("train", "valid", "test"), (tr, va, te), strict=True)
        ]
        self.writer.add_rows(arm, seed, rows, flush=False)
        yield EpochMetrics(arm, seed, epoch, *tr, *va, *te, wall)
        self.stopped_early = self._early_stop(model, epoch, va[1]) and epoch < cfg.finetune.epochs
        last = epoch == cfg.finetune.epochs or self.stopped_early
        snap = cfg.snapshots.snapshot_epoch(epoch, epoch if last else cfg.finetune.epochs)  # (snapshots.every)
        if epoch > 0 and snap:
            yield from self._filters(model, "finetune", epoch)
        if cfg.snapshots.probe_outputs and snap and cfg.keeps_snapshots(seed):
            out = probe_outputs(model, self.unit_data.probe_x)
            self.writer.save_array(f"snapshots/{arm}/s{seed}/probe_{epoch:04d}.npy", out)
            yield ProbeOutputs(arm, seed, epoch, out)
        if cfg.keeps_snapshots(seed) and (epoch % cfg.snapshots.checkpoint_every == 0 or last):
            path = unit_dir(self.run_dir, "checkpoints", arm, seed) / f"e{epoch:04d}.pt"
            write_bytes_atomic(path, checkpoint_bytes({
                "arm": arm, "seed": seed, "phase": "finetune", "epoch": epoch,
                "model": model.state_dict(), "config": cfg.to_toml(),
            }))
            yield CheckpointSaved(arm, seed, "finetune", epoch, str(path))
        # a finished unit is never continued: a seed the storage policy keeps no snapshots of drops its optimizer
        # state there (half of latest.pt with momentum), so 800 resume states of the reference net fit in ~3 GB
        lean = last and not cfg.keeps_snapshots(seed)
        if last and cfg.finetune.patience:
            if self.stopped_early:
                self.done_steps = self.total_steps  # the epochs it will not run: the bar ends at 100 %
                yield LogMessage("info", f"{arm} seed {seed}: early stop after epoch {epoch}, {cfg.finetune.patience} "
                                 f"epochs without a lower validation error; selected epoch {self.best_epoch} "
                                 f"(validation error {self.best_error:.2%})")
            yield from self._selected_checkpoint(model)  # the unit's final weights: the selected epoch's
        self._save_latest({
            "stage": "done" if last else "finetune", "epoch": epoch,
            "model": model.state_dict(), "optimizer": {} if lean else opt.state_dict(), **self._early_stop_state(),
        }, force=last)
        self._where = ("finetune", -1, epoch, cfg.finetune.epochs)
        yield self._progress(force=True)

    def _filters(self, model: Net, phase: str, epoch: int) -> Iterator[FilterSnapshot]:
        """The first layer's filters, written and yielded; nothing for a seed the storage policy leaves out
        (``snapshots.keep_seeds``: a 2 x 400 study holds no 800 filter histories)."""
        if not self.cfg.keeps_snapshots(self.seed):
            return
        w = model.first_weights().detach()[: self.cfg.snapshots.max_filters].cpu()
        arr = as_array(w)
        if self.cfg.snapshots.filters:
            self.writer.save_array(f"snapshots/{self.arm}/s{self.seed}/filters_{phase}_{epoch:04d}.npy", arr)
        yield FilterSnapshot(self.arm, self.seed, phase, epoch, arr, tuple(self.data.input_shape))
