"""Output variance vs the position of a training block (Erhan et al. 2010, Fig. 3).

One online pass over a fixed stream of labelled examples, split into consecutive blocks. For each block
position b, block b alone is replaced by a fresh resample (other examples from a held-out labelled pool, or a
different elastic deformation of the same examples) while the init seed, the order and every other block stay
fixed; the spread of the resulting nets' outputs on the probe set says how much examples seen at that point
shape the final function. Erhan et al. found early blocks matter more, and less so after pre-training.

On elastic data the stream is the online kind's endless stream (``core.data.stream``: every example a fresh
deformation of a base image, deterministic per seed and index), so it can be far longer than the labelled set:
the paper's nets trained on millions of InfiniteMNIST examples, and a net that never leaves its initial basin
shows only recency (the last block matters most). A resample re-deforms the block's base images with another
draw, generated chunk by chunk; the stream itself is kept up to STREAM_CACHE_BYTES (100,000 digits: 314 MB),
since every pass reads it again (docs/ARCHITECTURE.md, "Output variance").

As an experiment kind (``kind = "output-variance"``) each (arm, seed) is one unit that runs on the executors
like any other: it writes its arm's variance row as its own result, and ``finish`` merges the rows into the run's
result, both through the run folder's owner (``runfolder.results_cache``). The numbers equal the one-process
``output_variance_experiment`` for the same seeds: an arm's nets never depend on another arm's.
"""

from __future__ import annotations

import time
from collections.abc import Generator, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from desktop_app.core.config import RESAMPLE_MODES, ExperimentConfig
from desktop_app.core.control import RunControl
from desktop_app.core.data import DataSplits, load_data
from desktop_app.core.data.stream import CHUNK, OnlineStream
from desktop_app.core.events import AnalysisFinished, Event, Progress, UnitFinished
from desktop_app.core.experiments.base import ExperimentKind, TaskState
from desktop_app.core.results import AnalysisProgress, OutputVarianceResult
from desktop_app.core.runfolder import RunFolder, results_cache
from desktop_app.core.seeding import derive_seed
from desktop_app.core.training.greedy import greedy_pretrain
from desktop_app.core.training.models import Net, build_model
from desktop_app.core.training.step import probe_outputs
from desktop_app.core.training.steppers import make_stepper

STREAM_CACHE_BYTES = 512 * 2**20


def _pretrain(model: Net, arm: str, cfg: ExperimentConfig, pool: torch.Tensor, seed: int,
              control: RunControl | None) -> None:
    """Greedy layer-wise pre-training exactly as the engine does it, so the nets match a run's arm."""
    for _item in greedy_pretrain(model, arm, cfg, pool, seed, control):
        pass


def _one_pass(model: Net, cfg: ExperimentConfig, batches: Iterable[tuple[torch.Tensor, torch.Tensor]], seed: int,
              control: RunControl | None) -> None:
    """One online pass over the stream's minibatches in their given order (no shuffling: the order is the
    experiment)."""
    stepper = make_stepper(model, cfg)  # the hand-written step for dense nets (core.training.steppers)
    stepper.reseed(derive_seed(seed, "dropout", 1))
    model.train()
    for x, y in batches:
        if control is not None:
            control.checkpoint()
        stepper.train_step(x, y, 1, check_loss=True)
    stepper.write_to(model)


def _tensor_batches(x: torch.Tensor, y: torch.Tensor, batch: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    for s in range(0, len(x), batch):
        yield x[s : s + batch], y[s : s + batch]


class _Redeformed:
    """A deformed stream whose examples [lo, hi) are the same base images under another deformation (resample
    ``seed``); chunk c of the block is generated when first needed, one chunk held at a time."""

    def __init__(self, base: OnlineStream, lo: int, hi: int, seed: int) -> None:
        self.base, self.lo, self.hi, self.seed = base, lo, hi, seed
        self._cache: tuple[int, torch.Tensor] | None = None

    def _chunk(self, c: int) -> torch.Tensor:
        if self._cache is None or self._cache[0] != c:
            idx = self.base.base_indices(c * CHUNK, (c + 1) * CHUNK)
            gen = torch.Generator().manual_seed(derive_seed(self.seed, "variance-deform-chunk", c))
            self._cache = (c, self.base.augment(self.base.x[idx], gen))
        return self._cache[1]

    def take(self, start: int, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = self.base.take(start, n)
        a, b = max(start, self.lo), min(start + n, self.hi)
        if a >= b:
            return x, y
        x = x.clone()  # the base stream's cached chunk stays the unresampled stream
        for c in range(a // CHUNK, (b - 1) // CHUNK + 1):
            ca, cb = max(a, c * CHUNK), min(b, (c + 1) * CHUNK)
            x[ca - start : cb - start] = self._chunk(c)[ca - c * CHUNK : cb - c * CHUNK]
        return x, y


def _stream_batches(stream: OnlineStream | _Redeformed, size: int, batch: int
                    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    for s in range(0, size, batch):
        yield stream.take(s, min(batch, size - s))


def _stream(data: DataSplits, mode: str, seed: int, stream_size: int) -> tuple[torch.Tensor, torch.Tensor,
                                                                                 torch.Tensor, torch.Tensor]:
    """(stream_x, stream_y, pool_x, pool_y): the fixed stream order and, for "pool", the held-out resample pool."""
    n = len(data.train_x)
    order = torch.randperm(n, generator=torch.Generator().manual_seed(derive_seed(seed, "variance-stream")))
    if mode == "pool":
        size = stream_size or n // 2
        if size >= n:
            raise ValueError(f"stream_size {size} leaves no labelled examples to resample from (have {n})")
    else:
        size = min(stream_size or n, n)
    s_idx, p_idx = order[:size], order[size:]
    return data.train_x[s_idx], data.train_y[s_idx], data.train_x[p_idx], data.train_y[p_idx]


@dataclass(frozen=True)
class _Plan:
    """One output-variance setup: the stream (fixed order), how a block is resampled, the block size."""

    data: DataSplits
    mode: str
    seed: int
    size: int
    block: int
    n_blocks: int
    resamples: int
    deformed: OnlineStream | None  # the endless stream (elastic data, mode deform/none), else None
    pool: tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor] | None  # (sx, sy, px, py) otherwise


def _plan(cfg: ExperimentConfig, data: DataSplits, n_blocks: int, resamples: int, seed: int, resample: str,
          stream_size: int) -> _Plan:
    if resample not in RESAMPLE_MODES:
        raise ValueError(f"resample must be one of {', '.join(RESAMPLE_MODES)}; got {resample!r}")
    if n_blocks < 1 or resamples < 1:
        raise ValueError(f"n_blocks and resamples must be >= 1, got {n_blocks} and {resamples}")
    mode = ("deform" if data.augment is not None else "pool") if resample == "auto" else resample
    if mode == "deform" and data.augment is None:
        raise ValueError("resample 'deform' needs an elastic dataset (data.name = 'elastic')")
    deformed = pool = None
    if data.augment is not None and mode != "pool":
        # every (block, resample) pass reads the same stream: keep up to STREAM_CACHE_BYTES of it generated
        deformed = OnlineStream(data.train_x, data.train_y, data.augment, seed, "variance", STREAM_CACHE_BYTES)
        size = int(stream_size) or len(data.train_x)
    else:
        pool = _stream(data, mode, seed, stream_size)
        size = len(pool[0])
    block = size // n_blocks
    if block < 1:
        raise ValueError(f"{size} stream examples cannot fill {n_blocks} blocks")
    if mode == "pool" and len(pool[2]) < block:
        raise ValueError(f"the resample pool ({len(pool[2])}) is smaller than a block ({block}); lower stream_size")
    return _Plan(data, mode, seed, size, block, n_blocks, resamples, deformed, pool)


def _arm_variance(cfg: ExperimentConfig, plan: _Plan, arm: str, control: RunControl | None
                  ) -> Generator[np.ndarray | None, None, np.ndarray]:
    """One arm's variance per block position; yields None after every pass (n_blocks x resamples of them) and
    the row so far after every block, and returns the row. The arm's nets depend on nothing but (cfg, arm, seed,
    stream)."""
    data, seed, block, size = plan.data, plan.seed, plan.block, plan.size
    probe_x = data.test_x[data.probe_idx]
    row = np.full(plan.n_blocks, np.nan)
    base = build_model(cfg.model, data.input_shape, data.n_classes, seed)
    if arm != "none":
        _pretrain(base, arm, cfg, data.unlabelled_x, seed, control)
    init_state = {k: v.clone() for k, v in base.state_dict().items()}
    for b in range(plan.n_blocks):
        lo, hi = b * block, (b + 1) * block
        outs = []
        for r in range(plan.resamples):
            batch = cfg.finetune.batch_size
            if plan.deformed is not None:
                stream = (_Redeformed(plan.deformed, lo, hi, derive_seed(seed, "variance-deform", b, r))
                          if plan.mode == "deform" else plan.deformed)
                batches = _stream_batches(stream, size, batch)
            else:
                sx, sy, px, py = plan.pool
                bx, by = sx.clone(), sy.clone()
                if plan.mode == "pool":
                    gen = torch.Generator().manual_seed(derive_seed(seed, "variance-resample", b, r))
                    pick = torch.randperm(len(px), generator=gen)[:block]
                    bx[lo:hi], by[lo:hi] = px[pick], py[pick]
                batches = _tensor_batches(bx, by, batch)
            model = build_model(cfg.model, data.input_shape, data.n_classes, seed)
            model.load_state_dict(init_state)
            _one_pass(model, cfg, batches, seed, control)
            outs.append(probe_outputs(model, probe_x).astype(np.float64))
            yield None
        row[b] = float(np.var(np.stack(outs), axis=0).mean())
        yield row.copy()
    return row


def _result(plan: _Plan, arms: Sequence[str], variance: np.ndarray) -> OutputVarianceResult:
    return OutputVarianceResult(arms=tuple(arms), positions=np.arange(plan.n_blocks, dtype=np.int64),
                                block_start=np.arange(plan.n_blocks, dtype=np.int64) * plan.block,
                                variance=variance.copy(), block_size=plan.block, resamples=plan.resamples,
                                resample=plan.mode, seed=plan.seed)


def output_variance_experiment(
    cfg: ExperimentConfig,
    n_blocks: int = 5,
    resamples: int = 3,
    *,
    arms: Sequence[str] | None = None,
    seed: int | None = None,
    resample: str = "auto",
    stream_size: int = 0,
    control: RunControl | None = None,
) -> Iterator[AnalysisProgress | OutputVarianceResult]:
    """Variance of probe outputs when block b of the stream is resampled, for each b and arm, in this process.

    arms: default "none" plus the config's first pre-training arm. resample: "pool" draws the block's
    replacement from labelled examples outside the stream (stream_size 0 = half the labelled set), "deform"
    applies a fresh elastic deformation (elastic datasets; "auto" picks it when available), "none" keeps the
    block identical (a sanity check: variance 0). On elastic data (deform, none) the stream is the endless
    deformed stream and stream_size may exceed the labelled set (0 = one pass over it). CPU; every net is
    trained from scratch, so keep it small.
    """
    cfg = replace(cfg, device="cpu")
    seed = cfg.seed_values[0] if seed is None else int(seed)
    if resample not in RESAMPLE_MODES:
        raise ValueError(f"resample must be one of {', '.join(RESAMPLE_MODES)}; got {resample!r}")
    plan = _plan(cfg, load_data(cfg.data), n_blocks, resamples, seed, resample, stream_size)
    if arms is None:
        arms = ("none", *cfg.pretrain_arms[:1]) if cfg.pretrain_arms else ("none",)
    arms = tuple(arms)
    variance = np.full((len(arms), n_blocks), np.nan)
    total, done = len(arms) * n_blocks * resamples, 0
    yield AnalysisProgress("output_variance", 0, total, None)
    for ai, arm in enumerate(arms):
        gen = _arm_variance(cfg, plan, arm, control)
        while True:
            try:
                row = next(gen)
            except StopIteration as stop:
                variance[ai] = stop.value
                break
            if row is None:
                done += 1
                yield AnalysisProgress("output_variance", done, total, None)
            else:
                variance[ai] = row
                yield AnalysisProgress("output_variance", done, total, _result(plan, arms, variance))
    yield _result(plan, arms, variance)


# -- the experiment kind ------------------------------------------------------------------------------------------
NAME = "output_variance"  # the run's result (replayed into the Output variance panel)
UNIT_NAME = "output_variance_unit"  # one unit's row, written where the unit runs


def _params(cfg: ExperimentConfig, seed: int) -> dict:
    ov = cfg.output_variance
    return {"n_blocks": ov.n_blocks, "resamples": ov.resamples, "resample": ov.resample, "seed": seed,
            "stream_examples": ov.stream_examples}


def _unit_key(cfg: ExperimentConfig, arm: str, seed: int) -> str:
    return results_cache.cache_key(UNIT_NAME, {**_params(cfg, seed), "arm": arm})


class OutputVariance(ExperimentKind):
    """Erhan 2010 Fig. 3 as a run: one unit per (arm, seed) of ``n_blocks x resamples`` online passes, on the CPU
    (every net is small and trained from scratch; the config's device is pinned so the manifest says so)."""

    name = "output-variance"
    panels = ("Output variance",)
    seed_batches = False

    def run_config(self, cfg: ExperimentConfig) -> ExperimentConfig:
        return replace(cfg, device="cpu")

    def units(self, cfg: ExperimentConfig) -> list[tuple[str, int]]:
        return [(arm, cfg.seeds.base) for arm in cfg.arms]  # the experiment's one stream seed

    def unit_steps(self, cfg: ExperimentConfig, arm: str, data) -> int:
        return cfg.output_variance.n_blocks * cfg.output_variance.resamples

    def phase_steps(self, cfg: ExperimentConfig, data) -> tuple[tuple[str, int], ...]:
        return ()

    def run_unit(self, task, control: RunControl, data, state: TaskState) -> Iterator[Event]:
        cfg, arm, seed = task.config, task.arm, task.seed
        folder = RunFolder(Path(task.run_dir))
        total, t0 = self.unit_steps(cfg, arm, data), time.perf_counter()
        if results_cache.read_result(folder, UNIT_NAME, _unit_key(cfg, arm, seed)) is None:  # else: done before
            ov = cfg.output_variance
            plan = _plan(cfg, data.splits, ov.n_blocks, ov.resamples, seed, ov.resample, ov.stream_examples)
            gen, done = _arm_variance(cfg, plan, arm, control), 0
            while True:
                try:
                    if next(gen) is not None:  # a block's row so far: the run's result comes at the end
                        continue
                except StopIteration as stop:
                    row = stop.value
                    break
                done += 1
                yield Progress(arm, seed, "output-variance", -1, done, total, done, total,
                               time.perf_counter() - t0)
            results_cache.write_result(folder, UNIT_NAME, _unit_key(cfg, arm, seed), {**_params(cfg, seed), "arm": arm},
                                       _result(plan, (arm,), row[None, :]), [])
        yield Progress(arm, seed, "output-variance", -1, total, total, total, total, time.perf_counter() - t0)
        yield UnitFinished(arm, seed, "completed")

    def finish(self, cfg: ExperimentConfig, run_dir: Path) -> Iterator[Event]:
        folder, seed = RunFolder(Path(run_dir)), cfg.seeds.base
        rows = [results_cache.read_result(folder, UNIT_NAME, _unit_key(cfg, arm, seed)) for arm in cfg.arms]
        missing = [arm for arm, r in zip(cfg.arms, rows, strict=True) if r is None]
        if missing:
            raise ValueError(f"output variance: no result of unit(s) {', '.join(missing)}")
        first = rows[0]
        result = replace(first, arms=tuple(cfg.arms), variance=np.concatenate([r.variance for r in rows], axis=0))
        params = _params(cfg, seed)
        results_cache.write_result(folder, NAME, results_cache.cache_key(NAME, params), params, result, [])
        yield AnalysisFinished(NAME, result)


KIND = OutputVariance()
