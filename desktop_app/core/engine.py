"""The lab engine: ``run_experiment(config, control, run_dir) -> Iterator[Event]``.

Arms x seeds are paired: seed i gets the same initial weights, the same fine-tuning data order, the same
dropout masks and the same deformations in every arm, so differences between arms come from pre-training
alone. Units run seed-major (every arm of seed 0, then seed 1, ...) so a stopped run holds whole pairs.

Everything is persisted as it happens (see ``runs``); a stopped run resumes exactly from the last
checkpoint because every epoch's randomness is derived from (seed, purpose, epoch), not from history.
"""

from __future__ import annotations

import math
import time
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from desktop_app.core import config as config_mod
from desktop_app.core.atomic import write_bytes_atomic
from desktop_app.core.config import ConfigError, ExperimentConfig
from desktop_app.core.control import RunControl, StopRequested
from desktop_app.core.data import DataSplits, load_data
from desktop_app.core.device import describe_device, resolve_device
from desktop_app.core.events import (
    AnalysisFinished,
    CheckpointSaved,
    EpochMetrics,
    Event,
    FilterSnapshot,
    LogMessage,
    PhaseStarted,
    PretrainEpoch,
    ProbeOutputs,
    Progress,
    RunFinished,
    RunStarted,
    UnitFinished,
    as_array,
)
from desktop_app.core.greedy import LayerEpoch, LayerStep, greedy_pretrain, pretrain_targets
from desktop_app.core.models import Net, build_model
from desktop_app.core.pretraining import PRETRAINERS
from desktop_app.core.pretraining.base import PretrainingDiverged
from desktop_app.core.runs import RunWriter, git_commit, now_iso, package_versions, read_manifest
from desktop_app.core.seeding import derive_seed
from desktop_app.core.training import (
    FinetuneDiverged,
    all_finite,
    checkpoint_bytes,
    evaluate,
    finetune_step,
    load_checkpoint,
    make_optimizer,
    probe_outputs,
)

PROGRESS_INTERVAL_S = 0.1


def _steps(n: int, batch: int) -> int:
    return math.ceil(n / batch) if n else 0


class Engine:
    """One run of an experiment; ``events()`` is the generator the callers iterate."""

    def __init__(self, cfg: ExperimentConfig, control: RunControl, run_dir: Path, resume: bool) -> None:
        self.cfg = cfg
        self.control = control
        self.run_dir = Path(run_dir)
        self.resume = resume
        self.done_steps = 0
        self.total_steps = 0
        self._last_progress = 0.0
        self._t0 = time.perf_counter()
        self._prior_s = 0.0

    # -- top level ------------------------------------------------------------------------------------
    def events(self) -> Iterator[Event]:
        """The run's events; mirrored into TensorBoard files when snapshots.tensorboard is set."""
        if not self.cfg.snapshots.tensorboard:
            yield from self._events()
            return
        from desktop_app.core.tensorboard_log import TensorBoardSink

        sink = None
        for ev in self._events():
            if sink is None and isinstance(ev, RunStarted):
                sink = TensorBoardSink(self.run_dir / "tensorboard")
            if sink is not None:
                sink.handle(ev)
            yield ev

    def _events(self) -> Iterator[Event]:
        cfg = self.cfg
        self._t0 = time.perf_counter()
        self.writer = RunWriter(self.run_dir)
        # time of earlier segments of a resumed run (kept in the manifest after every finished unit, so a killed
        # process loses at most one unit's time)
        self._prior_s = float(read_manifest(self.run_dir).get("elapsed_s", 0.0)) if self.resume else 0.0
        status, message = "completed", ""
        self.diverged: list[str] = []
        try:
            cfg.validate()
            self.device = resolve_device(cfg.device)
            if cfg.threads:
                torch.set_num_threads(cfg.threads)
            self.data = self._load_data()
            self._start_manifest()
            if cfg.kind == "standard":
                self.total_steps = sum(self._unit_steps(a) for a in cfg.arms) * cfg.seeds.count
            yield RunStarted(
                run_dir=str(self.run_dir),
                name=cfg.name,
                arms=tuple(cfg.arms),
                seeds=tuple(cfg.seed_values),
                device=describe_device(cfg.device),
                total_steps=self.total_steps,
                resumed=self.resume,
            )
            if cfg.kind == "output-variance":
                yield from self._output_variance()
            else:
                for seed in cfg.seed_values:
                    for arm in cfg.arms:
                        yield from self._run_unit(arm, seed)
                        self.writer.update_manifest(elapsed_s=self._prior_s + time.perf_counter() - self._t0)
            if self.diverged:
                status = "diverged"
                message = (f"{len(self.diverged)} unit(s) diverged: {'; '.join(self.diverged)}; the other units "
                           "completed")
        except (StopRequested, KeyboardInterrupt):
            status, message = "stopped", "stopped by the user; resume continues from the last checkpoint"
        except ConfigError as exc:
            status, message = "failed", str(exc)
            yield LogMessage("error", message)
        except GeneratorExit:
            self._finish("stopped", "the consumer closed the run")
            raise
        except Exception as exc:  # noqa: BLE001 - a failed run must still be recorded, never lost
            status, message = "failed", f"{type(exc).__name__}: {exc}"
            yield LogMessage("error", traceback.format_exc())
        elapsed = self._finish(status, message)
        yield RunFinished(status=status, run_dir=str(self.run_dir), elapsed_s=elapsed, message=message)

    def _finish(self, status: str, message: str) -> float:
        elapsed = time.perf_counter() - self._t0
        try:
            if (self.run_dir / "manifest.json").exists():
                self.writer.write_merged_metrics()
                self.writer.update_manifest(
                    status=status, finished=now_iso(), elapsed_s=self._prior_s + elapsed, message=message
                )
        except OSError:
            pass
        return elapsed

    def _load_data(self) -> DataSplits:
        data = load_data(self.cfg.data)
        dev = self.device
        for name in ("train_x", "train_y", "unlabelled_x", "valid_x", "valid_y", "test_x", "test_y"):
            setattr(data, name, getattr(data, name).to(dev))
        n_eval = self.cfg.data.train_eval_size or len(data.train_x)
        self.train_eval = (data.train_x[:n_eval], data.train_y[:n_eval])
        self.probe_x = data.test_x[data.probe_idx.to(dev)]
        return data

    def _start_manifest(self) -> None:
        cfg, d = self.cfg, self.data
        if self.resume:
            self.writer.update_manifest(status="running", resumed=now_iso())
            return
        self.writer.write_config(cfg)
        self.writer.write_manifest(
            {
                "name": cfg.name,
                "created": now_iso(),
                "status": "running",
                "arms": list(cfg.arms),
                "seeds": cfg.seed_values,
                "device": describe_device(cfg.device),
                "device_type": self.device.type,
                "config_hash": cfg.hash(),
                "schema_version": cfg.schema_version,
                "versions": package_versions(),
                "git_commit": git_commit(),
                "input_shape": list(d.input_shape),
                "n_classes": d.n_classes,
                "sizes": {
                    "labelled": len(d.train_x),
                    "unlabelled": len(d.unlabelled_x),
                    "valid": len(d.valid_x),
                    "test": len(d.test_x),
                    "probe": len(d.probe_idx),
                },
            }
        )

    # -- step accounting ------------------------------------------------------------------------------
    def _unit_steps(self, arm: str) -> int:
        cfg = self.cfg
        steps = cfg.finetune.epochs * _steps(len(self.data.train_x), cfg.finetune.batch_size)
        if arm != "none":
            section = getattr(cfg.pretraining, arm)
            kinds = PRETRAINERS[arm].layer_kinds
            n_layers = sum(1 for spec in cfg.model.layers if spec.kind in kinds)
            steps += n_layers * section.epochs * _steps(len(self.data.unlabelled_x), section.batch_size)
        return steps

    def _tick(self, arm: str, seed: int, phase: str, layer: int, epoch: int, epochs: int) -> Progress | None:
        """Count one minibatch; a Progress event at most every PROGRESS_INTERVAL_S."""
        self.done_steps += 1
        return self._progress(arm, seed, phase, layer, epoch, epochs)

    def _progress(self, arm: str, seed: int, phase: str, layer: int, epoch: int, epochs: int,
                  force: bool = False) -> Progress | None:
        now = time.perf_counter()
        if force or now - self._last_progress >= PROGRESS_INTERVAL_S:
            self._last_progress = now
            return Progress(
                arm, seed, phase, layer, epoch, epochs, self.done_steps, self.total_steps, now - self._t0
            )
        return None

    # -- the output-variance experiment ---------------------------------------------------------------
    def _output_variance(self) -> Iterator[Event]:
        """Erhan 2010 Fig. 3 as a run: progress events, then the result saved under analyses/ and emitted."""
        from desktop_app.core.analysis.output_variance import output_variance_experiment
        from desktop_app.core.analysis.progress import AnalysisProgress
        from desktop_app.core.analysis.store import save_result

        ov = self.cfg.output_variance
        seed = self.cfg.seeds.base
        for item in output_variance_experiment(self.cfg, ov.n_blocks, ov.resamples, arms=self.cfg.arms,
                                               seed=seed, resample=ov.resample, control=self.control):
            if isinstance(item, AnalysisProgress):
                self.done_steps, self.total_steps = item.done, item.total
                ev = self._progress("", seed, "output-variance", -1, item.done, item.total)
                if ev is not None:
                    yield ev
            else:
                params = {"n_blocks": ov.n_blocks, "resamples": ov.resamples, "resample": ov.resample, "seed": seed}
                save_result(self.run_dir, "output_variance", params, item)
                yield AnalysisFinished("output_variance", item)

    # -- one (arm, seed) ------------------------------------------------------------------------------
    def _unit_dir(self, kind: str, arm: str, seed: int) -> Path:
        return self.run_dir / kind / arm / f"s{seed}"

    def _save_latest(self, arm: str, seed: int, state: dict[str, Any]) -> None:
        state = {**state, "arm": arm, "seed": int(seed), "config": self.cfg.to_toml(),
                 "torch_rng": torch.get_rng_state()}
        write_bytes_atomic(self._unit_dir("checkpoints", arm, seed) / "latest.pt", checkpoint_bytes(state))

    def _run_unit(self, arm: str, seed: int) -> Iterator[Event]:
        """One (arm, seed); a divergence ends this unit only (its last finite checkpoint stays), never the run."""
        steps_before = self.done_steps
        try:
            yield from self._train_unit(arm, seed)
        except (PretrainingDiverged, FinetuneDiverged) as exc:
            text = f"{arm} seed {seed}: {exc}; its last finite checkpoint is kept, the other units go on"
            self.diverged.append(f"{arm} seed {seed}")
            units = dict(read_manifest(self.run_dir).get("units", {}))
            units[f"{arm}/s{seed}"] = {"status": "diverged", "message": text}
            self.writer.update_manifest(units=units)
            self.done_steps = steps_before + self._unit_steps(arm)  # the progress bar moves past this unit
            yield LogMessage("error", text)
            yield UnitFinished(arm, seed, "diverged", text)
            return
        units = read_manifest(self.run_dir).get("units", {})
        if isinstance(units, dict) and f"{arm}/s{seed}" in units:  # diverged before, completed on this resume
            self.writer.update_manifest(units={k: v for k, v in units.items() if k != f"{arm}/s{seed}"})
        yield UnitFinished(arm, seed, "completed")

    def _train_unit(self, arm: str, seed: int) -> Iterator[Event]:
        cfg, data = self.cfg, self.data
        latest = self._unit_dir("checkpoints", arm, seed) / "latest.pt"
        state = load_checkpoint(latest, self.device) if self.resume and latest.exists() else None
        model = build_model(cfg.model, data.input_shape, data.n_classes, seed).to(self.device)

        if state is not None and state["stage"] == "done":
            self.done_steps += self._unit_steps(arm)
            return
        layers_done = 0
        ft_epoch = -1
        if state is not None:
            model.load_state_dict(state["model"])
            layers_done = int(state.get("layers_done", 0))
            if state["stage"] == "finetune":
                ft_epoch = int(state["epoch"])
                layers_done = 10**6
        targets = pretrain_targets(model, arm) if arm != "none" else []
        done_layers = targets[: min(layers_done, len(targets))]
        self.writer.load_unit(arm, seed, keep_finetune_upto=ft_epoch,
                              keep_pretrain_layers=(done_layers[-1] + 1) if done_layers else 0)

        if state is None:
            yield self._filters(model, arm, seed, "init", 0)
        if arm != "none" and ft_epoch < 0:
            yield from self._pretrain(model, arm, seed, layers_done)
        elif arm != "none":
            self.done_steps += self._unit_steps(arm) - self._unit_steps("none")
        yield from self._finetune(model, arm, seed, state if ft_epoch >= 0 else None)

    # -- pre-training ----------------------------------------------------------------------------------
    def _pretrain(self, model: Net, arm: str, seed: int, layers_done: int) -> Iterator[Event]:
        section = getattr(self.cfg.pretraining, arm)
        per_layer = section.epochs * _steps(len(self.data.unlabelled_x), section.batch_size)
        self.done_steps += min(layers_done, len(pretrain_targets(model, arm))) * per_layer
        started = False
        for item in greedy_pretrain(model, arm, self.cfg, self.data.unlabelled_x, seed, self.control, layers_done):
            if not started:
                yield PhaseStarted(arm, seed, "pretrain", item.layer, section.epochs)
                started = True
            if isinstance(item, LayerStep):
                ev = self._tick(arm, seed, "pretrain", item.layer, item.epoch, section.epochs)
                if ev is not None:
                    yield ev
            elif isinstance(item, LayerEpoch):
                self.writer.add_rows(arm, seed, [{
                    "arm": arm, "seed": seed, "phase": "pretrain", "layer": item.layer, "epoch": item.epoch,
                    "split": "unlabelled", "nll": "", "error": "", "recon_error": item.recon_error,
                }])
                yield PretrainEpoch(arm, seed, item.layer, item.epoch, item.recon_error)
                if item.layer == 0:
                    yield self._filters(model, arm, seed, "pretrain", item.epoch)
            else:
                started = False
                self._save_latest(arm, seed, {"stage": "pretrain", "layers_done": item.index + 1,
                                              "model": model.state_dict()})

    # -- fine-tuning -----------------------------------------------------------------------------------
    def _finetune(self, model: Net, arm: str, seed: int, state: dict | None) -> Iterator[Event]:
        cfg, data = self.cfg, self.data
        ft = cfg.finetune
        opt = make_optimizer(ft, model.parameters())
        start = 0
        if state is not None:
            opt.load_state_dict(state["optimizer"])
            start = int(state["epoch"])
            self.done_steps += start * _steps(len(data.train_x), ft.batch_size)
        yield PhaseStarted(arm, seed, "finetune", -1, ft.epochs)
        if state is None:
            yield from self._end_of_epoch(model, opt, arm, seed, 0)
        n = len(data.train_x)
        model.train()
        for epoch in range(start + 1, ft.epochs + 1):
            order = torch.Generator().manual_seed(derive_seed(seed, "finetune-order", epoch))
            perm = torch.randperm(n, generator=order).to(self.device)
            torch.manual_seed(derive_seed(seed, "dropout", epoch))
            aug_gen = None
            if data.augment is not None:
                aug_gen = torch.Generator(device=self.device).manual_seed(derive_seed(seed, "augment", epoch))
            for s in range(0, n, ft.batch_size):
                self.control.checkpoint()
                idx = perm[s : s + ft.batch_size]
                x, y = data.train_x[idx], data.train_y[idx]
                if aug_gen is not None:
                    x = data.augment(x, aug_gen)
                finetune_step(model, opt, x, y, cfg.model, ft, epoch)
                ev = self._tick(arm, seed, "finetune", -1, epoch, ft.epochs)
                if ev is not None:
                    yield ev
            yield from self._end_of_epoch(model, opt, arm, seed, epoch)

    def _end_of_epoch(self, model: Net, opt, arm: str, seed: int, epoch: int) -> Iterator[Event]:
        cfg, data = self.cfg, self.data
        if not all_finite(model):  # the epoch's last step can overflow a weight with a finite loss
            raise FinetuneDiverged(cfg.finetune, epoch, "non-finite weights")
        tr = evaluate(model, *self.train_eval)
        va = evaluate(model, data.valid_x, data.valid_y)
        te = evaluate(model, data.test_x, data.test_y)
        if not all(math.isfinite(v) for v in (*tr, *va, *te)):
            raise FinetuneDiverged(cfg.finetune, epoch, f"train NLL {tr[0]}, test NLL {te[0]}")
        rows = [
            {"arm": arm, "seed": seed, "phase": "finetune", "layer": -1, "epoch": epoch, "split": split,
             "nll": nll, "error": err, "recon_error": ""}
            for split, (nll, err) in zip(("train", "valid", "test"), (tr, va, te), strict=True)
        ]
        self.writer.add_rows(arm, seed, rows)
        yield EpochMetrics(arm, seed, epoch, *tr, *va, *te)
        if epoch > 0:
            yield self._filters(model, arm, seed, "finetune", epoch)
        if cfg.snapshots.probe_outputs:
            out = probe_outputs(model, self.probe_x)
            self.writer.save_array(f"snapshots/{arm}/s{seed}/probe_{epoch:04d}.npy", out)
            yield ProbeOutputs(arm, seed, epoch, out)
        last = epoch == cfg.finetune.epochs
        if epoch % cfg.snapshots.checkpoint_every == 0 or last:
            path = self._unit_dir("checkpoints", arm, seed) / f"e{epoch:04d}.pt"
            write_bytes_atomic(path, checkpoint_bytes({
                "arm": arm, "seed": int(seed), "phase": "finetune", "epoch": epoch,
                "model": model.state_dict(), "config": cfg.to_toml(),
            }))
            yield CheckpointSaved(arm, seed, "finetune", epoch, str(path))
        self._save_latest(arm, seed, {
            "stage": "done" if last else "finetune", "epoch": epoch,
            "model": model.state_dict(), "optimizer": opt.state_dict(),
        })
        yield self._progress(arm, seed, "finetune", -1, epoch, cfg.finetune.epochs, force=True)

    def _filters(self, model: Net, arm: str, seed: int, phase: str, epoch: int) -> FilterSnapshot:
        w = model.first_weights().detach()[: self.cfg.snapshots.max_filters].cpu()
        arr = as_array(w)
        if self.cfg.snapshots.filters:
            self.writer.save_array(f"snapshots/{arm}/s{seed}/filters_{phase}_{epoch:04d}.npy", arr)
        return FilterSnapshot(arm, seed, phase, epoch, arr, tuple(self.data.input_shape))


def run_experiment(cfg: ExperimentConfig, control: RunControl | None, run_dir: Path) -> Iterator[Event]:
    """Run cfg into run_dir, yielding events; stop/pause through control; never raises for a stop."""
    return Engine(cfg, control or RunControl(), Path(run_dir), resume=False).events()


def resume_experiment(run_dir: Path, control: RunControl | None = None) -> Iterator[Event]:
    """Continue a stopped run in place from each (arm, seed)'s last checkpoint."""
    run_dir = Path(run_dir)
    cfg = config_mod.load(run_dir / "config.toml")
    return Engine(cfg, control or RunControl(), run_dir, resume=True).events()


__all__ = ["Engine", "resume_experiment", "run_experiment"]
