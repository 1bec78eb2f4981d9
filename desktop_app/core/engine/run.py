"""The lab engine: ``run_experiment(config, control, run_dir) -> Iterator[Event]``.

A run is (arm, seed) units declared by its experiment kind (``core.experiments``: standard, online, output
variance), handed to an executor (``core.execution``: this process, local worker processes, or a Dask cluster, per
the config's ``execution`` section). The engine owns the run level: validation, the manifest, the progress over
all units, the run's status and the merged metrics; it knows no kind. Units persist their own files, so their
events are only forwarded here (docs/ARCHITECTURE.md, "Units and execution", "Experiment kinds").

Arms x seeds are paired: seed i gets the same initial weights, the same fine-tuning data order, the same
dropout masks and the same deformations in every arm, so differences between arms come from pre-training
alone. Units are queued seed-major (every arm of seed 0, then seed 1, ...) so a stopped run holds whole pairs;
within a seed the longest unit goes first (pre-training arms before ``none``), so parallel workers that pull the
next unit when they are free end together instead of one waiting on the last long unit (docs/PERFORMANCE.md,
"Parallel units").
A stopped run resumes exactly from each unit's last checkpoint because every epoch's randomness is derived
from (seed, purpose, epoch), not from history.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path

import torch

from desktop_app.core.config import ConfigError, ExperimentConfig
from desktop_app.core.control import RunControl, StopRequested
from desktop_app.core.events import (
    Event,
    LogMessage,
    Progress,
    RunFinished,
    RunStarted,
    UnitFinished,
)
from desktop_app.core.execution import Executor, make_executor, unit_threads
from desktop_app.core.execution.batching import check_memory, data_bytes, make_tasks, resolve_seed_batch
from desktop_app.core.execution.plan import ExecutionPlan, plan_execution
from desktop_app.core.execution.tasks import configured_workers, physical_cores
from desktop_app.core.experiments import experiment_kind
from desktop_app.core.experiments.standard import LEGACY_STEP, default_step
from desktop_app.core.runfolder import RunFolder, RunFolderError
from desktop_app.core.runfolder.resume import open_new, open_resume
from desktop_app.core.runfolder.workspace import RunWriter, git_commit, now_iso, package_versions, read_manifest
from desktop_app.core.training.device import describe_device, device_change, gpu_count, pick_device, resolve_device
from desktop_app.core.training.unit import prepare_data
from desktop_app.core.untrusted import is_int


class Engine:
    """One run of an experiment; ``events()`` is the generator the callers iterate."""

    def __init__(self, cfg: ExperimentConfig, control: RunControl, run_dir: Path, resume: bool,
                 executor: Executor | None = None, donors: Sequence[Path] = ()) -> None:
        self.kind = experiment_kind(cfg)
        self.donors = tuple(donors)  # completed runs beside this one whose identical pre-training may be reused
        self.cfg = self.kind.run_config(cfg)
        self.control = control
        self.run_dir = Path(run_dir)
        self.resume = resume
        self.executor = executor
        self.total_steps = 0
        self._unit_done: dict[tuple[str, int], int] = {}
        self._unit_total: dict[tuple[str, int], int] = {}
        self.step = default_step(self.cfg)  # a resumed run's is read from its manifest
        self._t0 = time.perf_counter()
        self._prior_s = 0.0
        self._prior_steps = 0  # a resumed run's done_steps from its manifest
        self.bad_input: str | None = None  # the one line of a bad input met mid-run (data, a full disk)
        self._threads_before = 0  # torch's thread count before cfg.threads was applied (0: not changed)

    @property
    def done_steps(self) -> int:
        """Minibatches done over all units, as far as their Progress events have told."""
        return sum(self._unit_done.values())

    # -- top level ------------------------------------------------------------------------------------
    def events(self) -> Iterator[Event]:
        """The run's events; mirrored into TensorBoard files when snapshots.tensorboard is set."""
        if not self.cfg.snapshots.tensorboard:
            yield from self._events()
            return
        from desktop_app.core.runfolder.tensorboard_log import TensorBoardSink

        sink = None
        try:
            for ev in self._events():
                if sink is None and isinstance(ev, RunStarted):
                    sink = TensorBoardSink(RunFolder(self.run_dir), self.cfg)
                note = sink.handle(ev) if sink is not None else ""
                yield ev
                if note:
                    yield LogMessage("warning", note)
        finally:  # a consumer that closes the run early still gets its files flushed
            if sink is not None:
                sink.close()

    def _events(self) -> Iterator[Event]:
        cfg = self.cfg
        self._t0 = time.perf_counter()
        self.writer = RunWriter(self.run_dir)
        # time of earlier segments of a resumed run (kept in the manifest after every finished unit, so a killed
        # process loses at most one unit's time)
        self._prior_s = float(read_manifest(self.run_dir).get("elapsed_s", 0.0)) if self.resume else 0.0
        prior_steps = read_manifest(self.run_dir).get("done_steps", 0) if self.resume else 0
        self._prior_steps = int(prior_steps) if is_int(prior_steps) and prior_steps > 0 else 0
        status, message = "completed", ""
        try:
            cfg.validate()
            self.plan = self._plan(len(cfg.arms) * cfg.seeds.count)
            # the data stays on the CPU here unless the units train in this process (the parent of GPU workers
            # never touches a GPU; a Dask client resolves no device: its workers do)
            self.device = resolve_device(cfg.device) if self.plan.parent_device != "cpu" else torch.device("cpu")
            if cfg.threads:  # restored by _finish: in-process kinds (output-variance) must not leak it
                self._threads_before = torch.get_num_threads()
                torch.set_num_threads(cfg.threads)
            self.data = prepare_data(cfg, self.device)
            self._start_manifest()
            if self.donors and cfg.kind == "standard":
                yield from self._reuse_pretraining()
            if self.step != default_step(cfg):  # a run made before the dense step was the default
                yield LogMessage("info", f"fine-tuning with the {self.step} step this run was made with")
            self._unit_total = {key: self.kind.unit_steps(cfg, key[0], self.data) for key in self.kind.units(cfg)}
            self.total_steps = sum(self._unit_total.values())
            yield RunStarted(
                run_dir=str(self.run_dir),
                name=cfg.name,
                arms=tuple(cfg.arms),
                seeds=tuple(cfg.seed_values),
                device=self._device_text(),
                total_steps=self.total_steps,
                resumed=self.resume,
                phase_steps=self.kind.phase_steps(cfg, self.data),
                kind=cfg.kind,
                panels=self.kind.panels,
                patience=cfg.finetune.patience,
                done_steps=min(self._prior_steps, self.total_steps),
            )
            status, message = yield from self._units()
            if status == "completed":
                yield from self.kind.finish(cfg, self.run_dir)
        except (StopRequested, KeyboardInterrupt):
            status, message = "stopped", "stopped by the user; resume continues from the last checkpoint"
        except ConfigError as exc:  # a bad input met mid-run (data, a full disk): one line, no traceback
            status, message, self.bad_input = "failed", str(exc), str(exc)
        except GeneratorExit:
            self._finish("stopped", "the consumer closed the run")
            raise
        except Exception as exc:  # noqa: BLE001 - a failed run must still be recorded, never lost
            status, message = "failed", f"{type(exc).__name__}: {exc}"
            yield LogMessage("error", traceback.format_exc())
        elapsed = self._finish(status, message)
        yield RunFinished(status=status, run_dir=str(self.run_dir), elapsed_s=elapsed, message=message,
                          bad_input=self.bad_input is not None)

    def _reuse_pretraining(self) -> Iterator[Event]:
        """Units not started take a donor's identical pre-training (``engine.pretrain_reuse``); said in the log
        and recorded in the manifest (``pretraining_reused``: unit -> donor run)."""
        from desktop_app.core.engine.pretrain_reuse import reuse_pretraining

        seeded, skipped = reuse_pretraining(self.run_dir, self.cfg, self.data.splits, self.plan.device_type,
                                            self.donors)
        for line in skipped:
            yield LogMessage("info", f"pre-training not reused from {line}")
        if seeded:
            reused = dict(read_manifest(self.run_dir).get("pretraining_reused") or {})
            reused.update({f"{arm} s{seed}": donor for arm, seed, donor in seeded})
            self.writer.update_manifest(pretraining_reused=reused)
            donors = ", ".join(sorted({d for _, _, d in seeded}))
            yield LogMessage("info", f"pre-training of {len(seeded)} unit(s) reused from {donors}: the same "
                                     "pre-training settings, model, seeds, unlabelled images and numerics")

    def _finish(self, status: str, message: str) -> float:
        elapsed = time.perf_counter() - self._t0
        if self._threads_before:
            torch.set_num_threads(self._threads_before)
        try:
            if (self.run_dir / "manifest.json").exists():
                self.writer.write_merged_metrics()
                self.writer.update_manifest(
                    status=status, finished=now_iso(), elapsed_s=self._prior_s + elapsed, message=message,
                    done_steps=self._steps_so_far(),
                )
        except (OSError, ConfigError):  # e.g. the disk is full: the run's status is still told by RunFinished
            pass
        return elapsed

    def _steps_so_far(self) -> int:
        """The run's minibatches done, for the manifest (a resume's progress bar starts there). A resumed segment
        counts only the units that reported so far; they run in the same order as before, so the larger of the
        two counts is the closer one."""
        return max(self.done_steps, self._prior_steps)

    def _start_manifest(self) -> None:
        cfg, d = self.cfg, self.data.splits
        if self.resume:
            self.step = str(read_manifest(self.run_dir).get("step", LEGACY_STEP))  # the step it was made with
            patience = cfg.finetune.patience  # a config changed on resume (--force) may change it
            keep = {"patience": patience} if patience or "patience" in read_manifest(self.run_dir) else {}
            self.writer.update_manifest(status="running", resumed=now_iso(), **keep)
            return
        self.writer.write_config(cfg)
        self.writer.write_manifest(
            {
                "name": cfg.name,
                "created": now_iso(),
                "status": "running",
                "arms": list(cfg.arms),
                "seeds": cfg.seed_values,
                "device": self._device_text(),
                "device_type": self.plan.device_type,
                "config_hash": cfg.hash(),
                "step": self.step,
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
                # early stopping: which epoch is each unit's final one (runfolder.metrics.run_patience); absent = 0
                **({"patience": cfg.finetune.patience} if cfg.finetune.patience else {}),
            }
        )

    def _plan(self, n_tasks: int) -> ExecutionPlan:
        """Where the units go on this machine (``core.execution.plan``)."""
        cfg = self.cfg
        backend = self.executor.name if self.executor is not None else cfg.execution.backend
        return plan_execution(gpu_count(), physical_cores(), backend, cfg.device, n_tasks,
                              configured_workers(cfg.execution.workers))

    def _device_text(self) -> str:
        """The device as the manifest and the status line say it, without touching a GPU this process does not
        train on."""
        plan = self.plan
        if plan.backend == "dask":
            return f"Dask workers (device {self.cfg.device}, resolved on each worker)"
        if plan.device_type == "cuda" and plan.parent_device == "cpu":
            return f"CUDA: {plan.gpus_used} GPU(s), {plan.per_device} worker(s) per GPU"
        return describe_device(plan.device_type)

    # -- the units ------------------------------------------------------------------------------------
    def _units(self):
        """Run every unit through the executor; returns (status, message) of the run."""
        cfg = self.cfg
        n_units = len(self._unit_total)
        d = self.data.splits
        order = self._dispatch_order()
        first = self.plan
        unit_device = torch.device(first.device_type if first.device_type != "auto" else self.device.type)
        # the free memory is looked at where the batches live, by a process allowed to touch it: this one for
        # the CPU or an inline GPU run; each GPU worker checks its own (execution.tasks.run_task)
        here = unit_device.type == "cpu" or first.parent_device != "cpu"
        k = resolve_seed_batch(cfg, unit_device, d.input_shape, d.n_classes, max(1, first.per_device),
                               len(d.unlabelled_x), gpus=max(1, first.gpus_used), measure=here)
        n_tasks = len(order) if k <= 1 else len(cfg.arms) * -(-cfg.seeds.count // k)
        plan = self._plan(n_tasks)
        data = self.data if plan.parent_device == first.parent_device else None  # else the unit loads its own
        executor = self.executor or make_executor(cfg.execution, n_tasks, data=data, plan=plan)
        if executor.name != "dask" and here:  # a Dask cluster's memory is its workers', not this machine's
            check_memory(cfg, k, unit_device, d.input_shape, d.n_classes, max(1, plan.per_device),
                         len(d.unlabelled_x), plan.data_copies, data_bytes(d))
        threads = unit_threads(cfg.threads, executor)
        tasks = make_tasks(cfg, str(self.run_dir), threads, k, order, self.step)
        if k > 1:
            yield LogMessage("info", f"seed batches: {k} seeds of an arm trained as one stacked net per task "
                                     f"({len(tasks)} tasks)")
        if executor.name != "inline":
            each = f"{threads} torch thread(s) each" if threads else "torch's default threads"
            yield LogMessage("info", f"running {executor.describe(n_units, len(tasks))}, {each}")
        ended: dict[str, list[str]] = {"diverged": [], "failed": []}
        for ev in executor.run(tasks, self.control):
            if isinstance(ev, Progress):
                ev = self._run_progress(ev)
            elif isinstance(ev, UnitFinished):
                self._unit_finished(ev, ended)
                if ev.bad_input and self.bad_input is None:  # the same input fails every unit: end with its line
                    self.bad_input = ev.message
                    self.control.stop()
            yield ev
        if self.bad_input is not None:
            return "failed", self.bad_input
        if self.control.stopped:
            raise StopRequested
        if ended["failed"]:
            return "failed", (f"{len(ended['failed'])} unit(s) failed: {'; '.join(ended['failed'])}"
                              + (f"; diverged: {'; '.join(ended['diverged'])}" if ended["diverged"] else ""))
        if ended["diverged"]:
            return "diverged", (f"{len(ended['diverged'])} unit(s) diverged: {'; '.join(ended['diverged'])}; the "
                                "other units completed")
        return "completed", ""

    def _dispatch_order(self) -> list[tuple[str, int]]:
        """Seed-major (whole pairs first), longest unit first within a seed (see the module docstring)."""
        order = list(self._unit_total)  # seed-major, arms in config order
        seed_rank = {seed: i for i, seed in enumerate(dict.fromkeys(seed for _, seed in order))}
        return sorted(order, key=lambda key: (seed_rank[key[1]], -self._unit_total[key]))

    def _run_progress(self, ev: Progress) -> Progress:
        """A unit's progress -> the run's: minibatches done over all units (each unit sends at most ~10 a second)."""
        self._unit_done[(ev.arm, ev.seed)] = ev.done_steps
        elapsed = time.perf_counter() - self._t0
        return replace(ev, done_steps=self.done_steps, total_steps=self.total_steps, elapsed_s=elapsed,
                       unit_done_steps=ev.done_steps, unit_elapsed_s=ev.elapsed_s)

    def _unit_finished(self, ev: UnitFinished, ended: dict[str, list[str]]) -> None:
        key, label = (ev.arm, ev.seed), f"{ev.arm} seed {ev.seed}"
        if ev.status in ("completed", "diverged", "failed"):
            self._unit_done[key] = self._unit_total.get(key, 0)  # the bar moves past an ended unit
        if ev.status in ended:
            ended[ev.status].append(label)
        units = read_manifest(self.run_dir).get("units", {})
        units = dict(units) if isinstance(units, dict) else {}
        if ev.status in ("diverged", "failed"):
            units[f"{ev.arm}/s{ev.seed}"] = {"status": ev.status, "message": ev.message}
        elif ev.status == "completed":
            units.pop(f"{ev.arm}/s{ev.seed}", None)  # a unit that diverged before and completed on resume
        changes = {"elapsed_s": self._prior_s + time.perf_counter() - self._t0, "done_steps": self._steps_so_far()}
        if units or "units" in read_manifest(self.run_dir):
            changes["units"] = units
        self.writer.update_manifest(**changes)


def _with_execution(cfg: ExperimentConfig, workers: int | None, backend: str | None,
                    seed_batch: int | None = None) -> ExperimentConfig:
    ex = cfg.execution
    if workers is not None:
        ex = replace(ex, workers=int(workers))
    if backend is not None:
        ex = replace(ex, backend=backend)
    if seed_batch is not None:
        ex = replace(ex, seed_batch=int(seed_batch))
    return cfg if ex == cfg.execution else replace(cfg, execution=ex)


def run_experiment(cfg: ExperimentConfig, control: RunControl | None, run_dir: Path, *,
                   executor: Executor | None = None, donors: Sequence[Path] = ()) -> Iterator[Event]:
    """Run cfg into run_dir, yielding events; stop/pause through control; never raises for a stop.

    ``executor``: run the units somewhere other than ``cfg.execution`` says (e.g. a ``DaskExecutor`` on a
    dask-jobqueue cluster object). ``donors``: completed runs beside this one whose pre-training units reuse
    where it is the same bit for bit (``engine.pretrain_reuse``)."""
    try:
        lock = open_new(RunFolder(run_dir))
    except RunFolderError as exc:
        yield _refused(Path(run_dir), exc)
        return
    try:
        if lock.stale_message:
            yield LogMessage("warning", lock.stale_message)
        yield from Engine(cfg, control or RunControl(), Path(run_dir), resume=False, executor=executor,
                          donors=donors).events()
    finally:
        lock.release()


def resume_experiment(run_dir: Path, control: RunControl | None = None, *, workers: int | None = None,
                      backend: str | None = None, executor: Executor | None = None,
                      force: bool = False, seed_batch: int | None = None,
                      donors: Sequence[Path] = ()) -> Iterator[Event]:
    """Continue a stopped run in place from each (arm, seed)'s last checkpoint (optionally elsewhere). Refused
    (status "refused", one line, nothing written) when another process writes the folder, its config was edited
    (unless ``force``, which records the change in the manifest), or its manifest or a resume state is unusable."""
    from desktop_app.core.training.checkpoints import verify_resume_states

    run_dir = Path(run_dir)
    folder = RunFolder(run_dir)
    try:
        lock, cfg, manifest = open_resume(folder, force)
    except (RunFolderError, ConfigError) as exc:
        yield _refused(run_dir, exc)
        return
    try:
        verify_resume_states(folder, cfg, manifest)
    except RunFolderError as exc:
        lock.release()
        yield _refused(run_dir, exc)
        return
    cfg = _with_execution(cfg, workers, backend, seed_batch)
    dask = cfg.execution.backend == "dask" or (executor is not None and executor.name == "dask")
    # a Dask client cannot see its workers' GPUs: there only a device the config names is compared
    choice = unit_device_choice(cfg)
    change = "" if dask and choice == "auto" else device_change(manifest.get("device_type"), choice,
                                                                 1 if dask else gpu_count())
    if change and not force:
        lock.release()
        yield _refused(run_dir, RunFolderError(f"{folder.manifest_path}: {change}"))
        return
    try:
        if lock.stale_message:
            yield LogMessage("warning", lock.stale_message)
        if change:  # forced: the run goes on with another device type, and says so
            _record_device_change(run_dir, manifest.get("device_type"), cfg)
        yield from Engine(cfg, control or RunControl(), run_dir, resume=True, executor=executor,
                          donors=donors).events()
    finally:
        lock.release()


def unit_device_choice(cfg: ExperimentConfig) -> str:
    """The device choice a run's units train with (a kind may pin it: output variance trains on the CPU)."""
    return experiment_kind(cfg).run_config(cfg).device


def _record_device_change(run_dir: Path, recorded: object, cfg: ExperimentConfig) -> None:
    """A forced resume on another device type: the manifest keeps each change (and the type it now runs on)."""
    try:
        now = pick_device(unit_device_choice(cfg), gpu_count()).type
    except ConfigError:  # a Dask client without the GPU its workers use
        now = unit_device_choice(cfg)
    manifest = read_manifest(run_dir)
    changes = list(manifest.get("device_changes", [])) if isinstance(manifest.get("device_changes"), list) else []
    changes.append({"from": str(recorded), "to": now, "at": now_iso()})
    RunWriter(run_dir).update_manifest(device_type=now, device_changes=changes)


def _refused(run_dir: Path, exc: Exception) -> RunFinished:
    """The run folder was not touched (locked by another writer, holds another run, unreadable, edited config)."""
    return RunFinished(status="refused", run_dir=str(run_dir), elapsed_s=0.0, message=str(exc).splitlines()[0])


__all__ = ["Engine", "resume_experiment", "run_experiment", "unit_device_choice"]
