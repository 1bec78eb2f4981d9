"""One (arm, seed) unit of an online run (kind "online", Erhan 2010 Fig. 2), as one generator of events.

Greedy pre-training and fine-tuning both draw fresh examples from the seed's stream (``stream``), each example
once: layer j of the pre-training sees pre-training examples ``[j P, (j+1) P)``, fine-tuning sees fine-tuning
examples ``[0, F)`` in order. Before the net trains on a fine-tuning minibatch it is scored on it (eval mode);
the online error at an evaluation point is the mean of those scores over the last ``block`` examples. At every
evaluation point the unit records the online and test errors (an ``OnlinePoint``, persisted through the run
folder's ``OnlineSink``) and saves its resume state (weights, optimizer, stream position, the block's scores),
so a stopped unit continues with the identical numbers (docs/ARCHITECTURE.md, "Online experiments").

Like ``core.training.unit`` it touches only its unit files and runs under every executor (``execution.tasks`` picks it
for kind "online"); the dropout masks of a segment between two points are seeded from (seed, position).
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from desktop_app.core.config import ExperimentConfig
from desktop_app.core.control import RunControl, StopRequested
from desktop_app.core.data import ElasticAugment
from desktop_app.core.data.stream import OnlineStream, evaluation_points
from desktop_app.core.events import (
    FINAL_NET,
    CheckpointSaved,
    Event,
    FilterSnapshot,
    LogMessage,
    OnlinePoint,
    PhaseStarted,
    PretrainEpoch,
    Progress,
    UnitFinished,
    as_array,
)
from desktop_app.core.pretraining import PretrainingDiverged, make_pretrainer
from desktop_app.core.runfolder import RunFolder, RunFolderError, UnitSink
from desktop_app.core.seeding import derive_seed
from desktop_app.core.training.greedy import (
    RECON_EVAL_SIZE,
    finish_layer,
    layer_inputs,
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
)
from desktop_app.core.training.steppers import make_stepper
from desktop_app.core.training.unit import PROGRESS_INTERVAL_S, minibatches
from desktop_app.core.untrusted import is_int

# a stream has no epochs: pre-training reads its loss checks back every this many minibatches (one host sync)
PRETRAIN_CHECK_EVERY = 500


def online_unit_steps(cfg: ExperimentConfig, arm: str) -> int:
    """Minibatches one online unit runs: the progress bar's unit of work."""
    o = cfg.online
    steps = minibatches(o.finetune_examples, cfg.finetune.batch_size)
    if arm != "none":
        section = getattr(cfg.pretraining, arm)
        steps += pretrained_layer_count(cfg, arm) * minibatches(o.pretrain_examples, section.batch_size)
    return steps


def streams(cfg: ExperimentConfig, data, seed: int) -> tuple[OnlineStream, OnlineStream]:
    """(pre-training stream, fine-tuning stream) of one seed: deformations of the labelled training images with
    the Data section's elastic and affine strengths."""
    augment = ElasticAugment.from_config(cfg.data)
    return (OnlineStream(data.train_x, data.train_y, augment, seed, "pretrain"),
            OnlineStream(data.train_x, data.train_y, augment, seed, "finetune"))


def train_online_unit(cfg: ExperimentConfig, arm: str, seed: int, run_dir: Path, control: RunControl,
                      data) -> Iterator[Event]:
    """Train one online unit into its files under run_dir, yielding its events; ends with UnitFinished."""
    return OnlineUnitRun(cfg, arm, seed, Path(run_dir), control, data).events()


class OnlineUnitRun:
    def __init__(self, cfg: ExperimentConfig, arm: str, seed: int, run_dir: Path, control: RunControl,
                 data) -> None:
        self.cfg, self.arm, self.seed = cfg, arm, int(seed)
        self.control = control
        self.data = data.splits
        self.device = data.device
        self.unit = RunFolder(run_dir).unit(arm, self.seed)
        self.sink = UnitSink(self.unit, save_filters=cfg.snapshots.filters)
        self.pre_stream, self.ft_stream = streams(cfg, self.data, self.seed)
        o = cfg.online
        self.points = evaluation_points(o.finetune_examples, o.block, o.eval_points, cfg.finetune.batch_size)
        self.total_steps = online_unit_steps(cfg, arm)
        self.done_steps = 0
        self._t0 = time.perf_counter()
        self._last_progress = 0.0
        self._where = ("finetune", -1, 0, len(self.points))

    def events(self) -> Iterator[Event]:
        arm, seed = self.arm, self.seed
        try:
            yield from self._train()
        except (PretrainingDiverged, FinetuneDiverged) as exc:
            text = f"{arm} seed {seed}: {exc}; its last finite checkpoint is kept, the other units go on"
            self.done_steps = self.total_steps
            yield LogMessage("error", text)
            yield UnitFinished(arm, seed, "diverged", text)
            return
        except StopRequested:
            yield self._progress(force=True)
            raise
        yield UnitFinished(arm, seed, "completed")

    # -- progress ------------------------------------------------------------------------------------------
    def _tick(self) -> Progress | None:
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

    # -- resume state --------------------------------------------------------------------------------------
    def _save_latest(self, state: dict[str, Any]) -> None:
        state = {**state, "arm": self.arm, "seed": self.seed, "config": self.cfg.to_toml(), "kind": "online"}
        self.unit.write_latest(checkpoint_bytes(state))

    def _load_latest(self) -> dict[str, Any] | None:
        """The unit's resume state with its online fields checked (a hostile file is one line naming it)."""
        from desktop_app.core.training.checkpoints import read_resume_state

        state = read_resume_state(self.unit, self.device)
        if state is None or state["stage"] == "pretrain":
            return state
        pos, ring = state.get("examples"), state.get("ring")
        block = self.cfg.online.block
        if not is_int(pos) or pos not in self.points:
            raise RunFolderError(f"{self.unit.latest_path}: 'examples' is not an evaluation point of this config")
        if not isinstance(ring, torch.Tensor) or ring.dtype != torch.bool or tuple(ring.shape) != (block,):
            raise RunFolderError(f"{self.unit.latest_path}: 'ring' is not {block} booleans")
        return state

    # -- the unit ------------------------------------------------------------------------------------------
    def _train(self) -> Iterator[Event]:
        cfg, data, arm, seed = self.cfg, self.data, self.arm, self.seed
        state = self._load_latest()
        model = build_model(cfg.model, data.input_shape, data.n_classes, seed).to(self.device)
        if state is not None and state["stage"] == "done":
            self.done_steps = self.total_steps
            return
        targets = pretrain_targets(model, arm, cfg.pretraining.bottom_layers) if arm != "none" else []
        layers_done, pos = 0, -1
        if state is not None:
            model.load_state_dict(state["model"])
            layers_done = len(targets) if state["stage"] == "finetune" else int(state.get("layers_done", 0))
            pos = int(state["examples"]) if state["stage"] == "finetune" else -1
        done = targets[: min(layers_done, len(targets))]
        self.sink.resume(keep_finetune_upto=-1, keep_pretrain_layers=(done[-1] + 1) if done else 0)
        self.sink.online.resume(pos)
        if state is None:
            yield self._filters(model, "init", 0)
        if targets and layers_done < len(targets):
            yield from self._pretrain(model, targets, layers_done)
        else:
            self.done_steps += self.total_steps - online_unit_steps(cfg, "none")
        yield from self._finetune(model, state if pos >= 0 else None)

    def _pretrain(self, model: Net, targets: list[int], layers_done: int) -> Iterator[Event]:
        cfg, arm, seed = self.cfg, self.arm, self.seed
        section = getattr(cfg.pretraining, arm)
        budget, bs = cfg.online.pretrain_examples, section.batch_size
        self.done_steps += layers_done * minibatches(budget, bs)
        recon_x = self._recon_sample(len(targets))
        for j, li in enumerate(targets):
            if j < layers_done:
                continue
            block = model.blocks[li]
            yield PhaseStarted(arm, seed, "pretrain", li, 1)
            self._where = ("pretrain", li, 1, 1)
            noise = torch.Generator(device=self.device).manual_seed(derive_seed(seed, f"online-noise-{arm}", li))
            trainer = make_pretrainer(arm, block.module, cfg.model.activation, section,
                                      unit_interval_input=(li == 0 or cfg.model.activation == "sigmoid"),
                                      generator=noise, stride=block.spec.stride)
            for s in range(0, budget, bs):
                self.control.checkpoint()
                x, _ = self.pre_stream.take(j * budget + s, min(bs, budget - s))
                trainer.step(layer_inputs(model, x, li))
                if (s // bs + 1) % PRETRAIN_CHECK_EVERY == 0 or s + bs >= budget:
                    self._check_pretrainer(trainer, li, s // bs + 1 - trainer.watch.steps)
                ev = self._tick()
                if ev is not None:
                    yield ev
            error = float(trainer.reconstruction_error(layer_inputs(model, recon_x, li)))
            if not math.isfinite(error):
                raise PretrainingDiverged(f"layer {li}: {arm} pre-training diverged (reconstruction error {error}); "
                                          f"lower pretraining.{arm}.lr (now {section.lr:g})")
            finish_layer(block.module, arm, cfg.model.activation)
            ev = PretrainEpoch(arm, seed, li, 1, error)
            self.sink.handle(ev)
            yield ev
            if j == 0:
                yield self._filters(model, "pretrain", 1)
            self._save_latest({"stage": "pretrain", "layers_done": j + 1, "model": model.state_dict()})

    def _recon_sample(self, n_layers: int) -> torch.Tensor:
        """The images each layer's reconstruction error is measured on: the validation split's first ones, or,
        when there is none (an online run may stream every training image: ``data.n_valid = 0``), the pre-training
        stream's examples just past the ones the layers train on, fresh deformations none of them saw."""
        if len(self.data.valid_x):
            return self.data.valid_x[:RECON_EVAL_SIZE]
        return self.pre_stream.take(n_layers * self.cfg.online.pretrain_examples, RECON_EVAL_SIZE)[0]

    @staticmethod
    def _check_pretrainer(trainer, li: int, first_step: int) -> None:
        """The checks of the steps since the last, read back at once; the message says where the stream diverged."""
        bs = trainer.batch_size
        try:
            trainer.check()
        except PretrainingDiverged as exc:
            raise PretrainingDiverged(f"layer {li} after {(first_step + exc.step) * bs:,} examples: {exc}") from None

    def _finetune(self, model: Net, state: dict[str, Any] | None) -> Iterator[Event]:
        cfg, seed = self.cfg, self.seed
        ft, block, budget = cfg.finetune, cfg.online.block, cfg.online.finetune_examples
        stepper = make_stepper(model, cfg, state["optimizer"] if state is not None else None)
        # ring[i % block]: example i was misclassified before training; on the device, read at evaluation points
        ring = torch.zeros(block, dtype=torch.bool, device=self.device)
        pos = 0
        if state is not None:
            pos, ring = int(state["examples"]), state["ring"].to(self.device).clone()
            self.done_steps += minibatches(pos, ft.batch_size)
        k = sum(1 for p in self.points if p <= pos)  # the next evaluation point
        yield PhaseStarted(self.arm, seed, "finetune", -1, len(self.points))
        model.train()
        stepper.reseed(derive_seed(seed, "online-dropout", pos))
        step = 0
        while pos < budget:
            self.control.checkpoint()
            self._where = ("finetune", -1, k + 1, len(self.points))
            n = min(ft.batch_size, self.points[k] - pos)
            x, y = self.ft_stream.take(pos, n)
            wrong = stepper.score_and_step(x, y, k + 1, check_loss=step % LOSS_CHECK_EVERY == 0)
            keep = min(n, block)
            ring[torch.arange(pos + n - keep, pos + n, device=ring.device) % block] = wrong[n - keep:]
            pos += n
            step += 1
            ev = self._tick()
            if ev is not None:
                yield ev
            if pos == self.points[k]:
                stepper.write_to(model)
                yield from self._point(model, stepper.optimizer_state(), ring, pos, k)
                k += 1
                stepper.reseed(derive_seed(seed, "online-dropout", pos))

    def _point(self, model: Net, opt_state: dict, ring: torch.Tensor, pos: int, k: int) -> Iterator[Event]:
        cfg, data = self.cfg, self.data
        if not all_finite(model):
            raise FinetuneDiverged(cfg.finetune, k + 1, "non-finite weights")
        test_nll, test_error = evaluate(model, data.test_x, data.test_y)
        if not (math.isfinite(test_nll) and math.isfinite(test_error)):
            raise FinetuneDiverged(cfg.finetune, k + 1, f"test NLL {test_nll}")
        block = cfg.online.block
        online = float(ring[: min(pos, block)].float().mean())
        ev = OnlinePoint(self.arm, self.seed, pos, online, float(test_error), float(test_nll), block)
        self.sink.handle(ev)
        yield ev
        last = pos == cfg.online.finetune_examples
        if last:
            yield self._filters(model, "finetune", k + 1)
        self._save_latest({"stage": "done" if last else "finetune", "epoch": k + 1, "examples": pos,
                           "ring": ring.cpu().clone(), "model": model.state_dict(), "optimizer": opt_state})
        if last:  # the unit's final net, listed in the Checkpoints pane as replay lists it (runfolder.final_nets)
            yield CheckpointSaved(self.arm, self.seed, FINAL_NET, k + 1, str(self.unit.latest_path))
        yield self._progress(force=True)

    def _filters(self, model: Net, phase: str, epoch: int) -> FilterSnapshot:
        w = model.first_weights().detach()[: self.cfg.snapshots.max_filters].cpu()
        ev = FilterSnapshot(self.arm, self.seed, phase, epoch, as_array(w), tuple(self.data.input_shape))
        self.sink.handle(ev)
        return ev

