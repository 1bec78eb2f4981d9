"""A seed batch: K paired seeds of one arm trained in one process as one stacked net.

Every seed stays a unit (docs/ARCHITECTURE.md, "Seed batches"): each has its own ``UnitRun``, which loads its
own ``latest.pt``, writes its own metrics, snapshots and checkpoints and yields its own events, exactly as when
it runs alone; only the minibatch steps are shared (``stacked_conv.stacked_class`` picks ``stacked.StackedMLP`` for
dense nets, ``stacked_conv.StackedCNN`` for nets with conv and pool layers; ``stacked_pretrain``). So panels,
exports, analyses and resume never know a unit ran in a batch, and a seed resumes alone or in any batch.

Each seed keeps its own init (``build_model`` with its seed), data order, dropout masks and deformations, from
the same ``derive_seed`` streams a unit uses, so seed i of a batch computes what seed i alone computes up to
float reassociation. DAE, RBM and conv AE pre-training is stacked too (``stacked_pretrain.STACKED_PRETRAINERS``).
Seeds at different points (a run resumed from a mixed stop) are stacked in groups of equal layers done or
equal fine-tuning start; a net whose layer kinds no stacked net declares would fine-tune seed after seed. A
seed that diverges leaves the batch with its own "diverged" unit end, one that stops early (``finetune.patience``)
with its "completed" one; the others go on.

The batch's ``UnitFinished`` events are ordered so that the seed the task is keyed by (``UnitTask.seed``, the
last of the batch) ends last: an executor that frees a worker on that key's ``UnitFinished`` sees the whole
batch done.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import torch

from desktop_app.core.config import ExperimentConfig
from desktop_app.core.control import RunControl, StopRequested
from desktop_app.core.events import Event, UnitFinished
from desktop_app.core.pretraining import PretrainingDiverged
from desktop_app.core.seedbatch.conv import stacked_class
from desktop_app.core.seedbatch.pretrain import STACKED_PRETRAINERS, stacked_greedy_pretrain
from desktop_app.core.seeding import derive_seed
from desktop_app.core.training.step import LOSS_CHECK_EVERY, FinetuneDiverged
from desktop_app.core.training.unit import UnitData, UnitRun


class _SeedOptimizer:
    """What ``UnitRun.end_of_epoch`` needs of an optimizer: one seed's state in the single-unit format."""

    def __init__(self, state: dict) -> None:
        self._state = state

    def state_dict(self) -> dict:
        return self._state


class SeedBatch:
    """The seeds of one arm in one process; ``events()`` trains them all (see the module docstring)."""

    def __init__(self, cfg: ExperimentConfig, arm: str, seeds: Sequence[int], run_dir: Path, control: RunControl,
                 data: UnitData, last: int | None = None) -> None:
        self.cfg, self.arm, self.control, self.data = cfg, arm, control, data
        self.units = [UnitRun(cfg, arm, int(s), Path(run_dir), control, data) for s in seeds]
        self.last = int(seeds[-1]) if last is None else int(last)
        self.ended: set[int] = set()
        self._held: list[Event] = []

    def unfinished(self) -> list[int]:
        """Seeds without their UnitFinished yet, the task's key seed last."""
        left = [u.seed for u in self.units if u.seed not in self.ended]
        return sorted(left, key=lambda s: s == self.last)

    def take_held(self) -> list[Event]:
        held, self._held = self._held, []
        return held

    def _end(self, events: Sequence[Event]) -> Iterator[Event]:
        """A unit's end events; the key seed's UnitFinished waits until every other seed has ended."""
        for ev in events:
            if isinstance(ev, UnitFinished):
                self.ended.add(ev.seed)
                if ev.seed == self.last and self.unfinished():
                    self._held.append(ev)
                    continue
            yield ev
        if self._held and not self.unfinished():
            yield from self._held
            self._held = []

    def events(self) -> Iterator[Event]:
        """Every seed's events, each ending with its UnitFinished; StopRequested propagates (after each seed's
        last Progress) and the caller ends the unfinished seeds as stopped."""
        try:
            started = []
            for u in self.units:
                yield from u.begin()
                if u.finished:
                    yield from self._end([UnitFinished(self.arm, u.seed, "completed")])
                    continue
                started.append(u)
            live = yield from self._pretrain(started)
            stacked = [u for u in live if stacked_class([b.kind for b in u.model.blocks]) is not None]
            for u in live:
                if u not in stacked:  # no stacked step for these layers: seed after seed, as units do
                    yield from self._alone(u)
            for start in sorted({u.ft_epoch for u in stacked}):
                yield from self._stacked([u for u in stacked if u.ft_epoch == start])
        except StopRequested:
            for u in self.units:
                if u.seed not in self.ended:
                    ev = u._progress(force=True)
                    if ev is not None:
                        yield ev
            raise
        finally:  # stopped, failed or abandoned: each seed's pending resume state and rows go to disk
            for u in self.units:
                u.flush()

    def _pretrain(self, units: list[UnitRun]):
        """Pre-train the units that need it (stacked for DAE and RBM, in groups of equal layers done; seed after
        seed otherwise); a generator returning the units that did not diverge."""
        live = []
        stack = self.arm in STACKED_PRETRAINERS
        todo = [u for u in units if self.arm != "none" and u.ft_epoch < 0]
        for u in units:
            if u not in todo or not stack:
                try:
                    yield from u.pretrain_phase()
                except PretrainingDiverged as exc:
                    yield from self._end(u.diverged(exc))
                    continue
            live.append(u)
        if not stack:
            return live
        for done in sorted({u.layers_done for u in todo}):
            group = [u for u in todo if u.layers_done == done]
            for u in group:
                u.skip_pretrained(u.model, done)
            items = stacked_greedy_pretrain([u.model for u in group], self.arm, self.cfg,
                                            self.data.splits.unlabelled_x, [u.seed for u in group], self.control,
                                            done)
            for pos, item in items:
                u = group[pos]
                if isinstance(item, PretrainingDiverged):
                    live.remove(u)
                    yield from self._end(u.diverged(item))
                else:
                    yield from u.pretrain_item(u.model, item)
        return live

    def _alone(self, u: UnitRun) -> Iterator[Event]:
        try:
            yield from u._finetune(u.model, u.state if u.ft_epoch >= 0 else None)
        except FinetuneDiverged as exc:
            yield from self._end(u.diverged(exc))
            return
        yield from self._end([UnitFinished(self.arm, u.seed, "completed")])

    def _stacked(self, group: list[UnitRun]) -> Iterator[Event]:
        """Fine-tune seeds that start at the same epoch as one stacked net (``stacked_conv.stacked_class``)."""
        cfg, data, device = self.cfg, self.data.splits, self.data.device
        ft = cfg.finetune
        opts, start = [], 0
        for u in list(group):
            try:
                opt, start = yield from u.finetune_start(u.model, u.state if u.ft_epoch >= 0 else None)
            except FinetuneDiverged as exc:
                group.remove(u)
                yield from self._end(u.diverged(exc))
                continue
            opts.append(opt)
        if not group:
            return
        templates = [o.state_dict() for o in opts]
        stack = stacked_class([b.kind for b in group[0].model.blocks])
        net = stack([u.model for u in group], cfg.model, ft, opt_states=templates)
        n = len(data.train_x)
        for epoch in range(start + 1, ft.epochs + 1):
            for u in group:
                u.where("finetune", -1, epoch, ft.epochs)
            perms = torch.stack([
                torch.randperm(n, generator=torch.Generator().manual_seed(derive_seed(u.seed, "finetune-order", epoch)))
                for u in group]).to(device)
            drop_gens = None
            if cfg.model.dropout > 0:
                drop_gens = [torch.Generator(device=device).manual_seed(derive_seed(u.seed, "dropout", epoch))
                             for u in group]
            aug_gens = None
            if data.augment is not None:
                aug_gens = [torch.Generator(device=device).manual_seed(derive_seed(u.seed, "augment", epoch))
                            for u in group]
            for step, s in enumerate(range(0, n, ft.batch_size)):
                self.control.checkpoint()
                idx = perms[:, s : s + ft.batch_size]
                x, y = data.train_x[idx], data.train_y[idx]
                if aug_gens is not None:
                    x = torch.stack([data.augment(x[j], g) for j, g in enumerate(aug_gens)])
                bad = net.step(x, y, drop_gens, check_loss=step % LOSS_CHECK_EVERY == 0)
                if bad:  # those seeds left the stack before this update, as a unit raises before its step
                    keep = [j for j in range(len(group)) if j not in bad]
                    for j in sorted(bad):
                        yield from self._end(group[j].diverged(FinetuneDiverged(ft, epoch, f"loss {bad[j]}")))
                    group, templates = [group[j] for j in keep], [templates[j] for j in keep]
                    perms = perms[keep]
                    drop_gens = None if drop_gens is None else [drop_gens[j] for j in keep]
                    aug_gens = None if aug_gens is None else [aug_gens[j] for j in keep]
                    if not group:
                        return
                for u in group:
                    ev = u.tick()
                    if ev is not None:
                        yield ev
            keep = []
            for j, u in enumerate(group):
                net.write_to(j, u.model)
                try:
                    yield from u.end_of_epoch(u.model, _SeedOptimizer(net.optimizer_state(j, templates[j])), epoch)
                except FinetuneDiverged as exc:
                    yield from self._end(u.diverged(exc))
                    continue
                if u.stopped_early:  # early stopping (finetune.patience): it leaves the stack as a diverged seed does
                    yield from self._end([UnitFinished(self.arm, u.seed, "completed")])
                    continue
                keep.append(j)
            if len(keep) < len(group):
                group, templates = [group[j] for j in keep], [templates[j] for j in keep]
                if not group:  # every seed ended at this epoch (early stopping can end them together)
                    return
                net.keep(keep)
        for u in group:
            yield from self._end([UnitFinished(self.arm, u.seed, "completed")])


def train_seed_batch(cfg: ExperimentConfig, arm: str, seeds: Sequence[int], run_dir: Path, control: RunControl,
                     data: UnitData) -> Iterator[Event]:
    """The events of K seeds of ``arm`` trained as a batch (the last seed's UnitFinished comes last)."""
    return SeedBatch(cfg, arm, seeds, run_dir, control, data).events()
