"""TensorBoard interop: mirror a run's events into TensorBoard event files (optional extra basin[tensorboard]).

Scalars are tagged ``<arm>/seed<k>/<split>_<nll|error>`` and ``<arm>/seed<k>/pretrain_recon_layer<l>``; the
first-layer filters go in as one mosaic image per snapshot, tagged ``<arm>/seed<k>/filters``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from desktop_app.core.config import ConfigError
from desktop_app.core.events import EpochMetrics, Event, FilterSnapshot, PretrainEpoch, RunFinished
from desktop_app.core.tiling import filters_to_tiles, mosaic, normalise

PHASE_STEP_OFFSET = {"init": 0, "pretrain": 0, "finetune": 1000}


class TensorBoardSink:
    """Call ``handle(event)`` for every engine event; ``close()`` flushes (done on RunFinished too)."""

    def __init__(self, log_dir: Path) -> None:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise ConfigError(
                "snapshots.tensorboard", "needs TensorBoard: pip install 'basin[tensorboard]' or set it false"
            ) from None
        self.writer = SummaryWriter(log_dir=str(log_dir))

    def handle(self, ev: Event) -> None:
        w = self.writer
        if isinstance(ev, EpochMetrics):
            tag = f"{ev.arm}/seed{ev.seed}"
            for split in ("train", "valid", "test"):
                w.add_scalar(f"{tag}/{split}_nll", getattr(ev, f"{split}_nll"), ev.epoch)
                w.add_scalar(f"{tag}/{split}_error", getattr(ev, f"{split}_error"), ev.epoch)
        elif isinstance(ev, PretrainEpoch):
            w.add_scalar(f"{ev.arm}/seed{ev.seed}/pretrain_recon_layer{ev.layer}", ev.recon_error, ev.epoch)
        elif isinstance(ev, FilterSnapshot):
            tiles, _levels = normalise(filters_to_tiles(ev.weights, ev.input_shape), "per-tile")
            img = np.nan_to_num(mosaic(tiles), nan=0.0)
            step = PHASE_STEP_OFFSET.get(ev.phase, 0) + ev.epoch  # fine-tuning snapshots after pre-training ones
            w.add_image(f"{ev.arm}/seed{ev.seed}/filters", (img[None] + 1.0) / 2.0, step, dataformats="CHW")
        elif isinstance(ev, RunFinished):
            self.close()

    def close(self) -> None:
        self.writer.flush()
        self.writer.close()
