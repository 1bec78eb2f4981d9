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
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import replace

import numpy as np
import torch

from desktop_app.core.analysis.progress import AnalysisProgress, OutputVarianceResult
from desktop_app.core.config import RESAMPLE_MODES, ExperimentConfig
from desktop_app.core.control import RunControl
from desktop_app.core.data import DataSplits, load_data
from desktop_app.core.data.stream import CHUNK, OnlineStream
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
    """Variance of probe outputs when block b of the stream is resampled, for each b and arm.

    arms: default "none" plus the config's first pre-training arm. resample: "pool" draws the block's
    replacement from labelled examples outside the stream (stream_size 0 = half the labelled set), "deform"
    applies a fresh elastic deformation (elastic datasets; "auto" picks it when available), "none" keeps the
    block identical (a sanity check: variance 0). On elastic data (deform, none) the stream is the endless
    deformed stream and stream_size may exceed the labelled set (0 = one pass over it). CPU; every net is
    trained from scratch, so keep it small.
    """
    if resample not in RESAMPLE_MODES:
        raise ValueError(f"resample must be one of {', '.join(RESAMPLE_MODES)}; got {resample!r}")
    if n_blocks < 1 or resamples < 1:
        raise ValueError(f"n_blocks and resamples must be >= 1, got {n_blocks} and {resamples}")
    cfg = replace(cfg, device="cpu")
    data = load_data(cfg.data)
    mode = ("deform" if data.augment is not None else "pool") if resample == "auto" else resample
    if mode == "deform" and data.augment is None:
        raise ValueError("resample 'deform' needs an elastic dataset (data.name = 'elastic')")
    seed = cfg.seed_values[0] if seed is None else int(seed)
    if arms is None:
        arms = ("none", *cfg.pretrain_arms[:1]) if cfg.pretrain_arms else ("none",)
    arms = tuple(arms)
    endless = data.augment is not None and mode != "pool"
    if endless:
        # every (block, resample) pass reads the same stream: keep up to STREAM_CACHE_BYTES of it generated
        deformed = OnlineStream(data.train_x, data.train_y, data.augment, seed, "variance", STREAM_CACHE_BYTES)
        size = int(stream_size) or len(data.train_x)
    else:
        sx, sy, px, py = _stream(data, mode, seed, stream_size)
        size = len(sx)
    block = size // n_blocks
    if block < 1:
        raise ValueError(f"{size} stream examples cannot fill {n_blocks} blocks")
    if mode == "pool" and len(px) < block:
        raise ValueError(f"the resample pool ({len(px)}) is smaller than a block ({block}); lower stream_size")
    probe_x = data.test_x[data.probe_idx]
    variance = np.full((len(arms), n_blocks), np.nan)
    starts = np.arange(n_blocks, dtype=np.int64) * block
    total = len(arms) * n_blocks * resamples
    done = 0

    def result() -> OutputVarianceResult:
        return OutputVarianceResult(arms=arms, positions=np.arange(n_blocks, dtype=np.int64), block_start=starts,
                                    variance=variance.copy(), block_size=block, resamples=resamples, resample=mode,
                                    seed=seed)

    yield AnalysisProgress("output_variance", 0, total, None)
    for ai, arm in enumerate(arms):
        base = build_model(cfg.model, data.input_shape, data.n_classes, seed)
        if arm != "none":
            _pretrain(base, arm, cfg, data.unlabelled_x, seed, control)
        init_state = {k: v.clone() for k, v in base.state_dict().items()}
        for b in range(n_blocks):
            lo, hi = b * block, (b + 1) * block
            outs = []
            for r in range(resamples):
                batch = cfg.finetune.batch_size
                if endless:
                    stream = (_Redeformed(deformed, lo, hi, derive_seed(seed, "variance-deform", b, r))
                              if mode == "deform" else deformed)
                    batches = _stream_batches(stream, size, batch)
                else:
                    bx, by = sx.clone(), sy.clone()
                    if mode == "pool":
                        gen = torch.Generator().manual_seed(derive_seed(seed, "variance-resample", b, r))
                        pick = torch.randperm(len(px), generator=gen)[:block]
                        bx[lo:hi], by[lo:hi] = px[pick], py[pick]
                    batches = _tensor_batches(bx, by, batch)
                model = build_model(cfg.model, data.input_shape, data.n_classes, seed)
                model.load_state_dict(init_state)
                _one_pass(model, cfg, batches, seed, control)
                outs.append(probe_outputs(model, probe_x).astype(np.float64))
                done += 1
                yield AnalysisProgress("output_variance", done, total, None)
            variance[ai, b] = float(np.var(np.stack(outs), axis=0).mean())
            yield AnalysisProgress("output_variance", done, total, result())
    yield result()
