"""Check everything a run will read before its run folder exists: device, dataset files and sizes, model fit.

`basin run`, `basin resume` and `basin reproduce` (``reproduce.run_claim``) call :func:`check_inputs` for every
planned run, so a missing or hostile data file, a split larger than the dataset, ``device = "cuda"`` without a
GPU, a download without network or a net too big for the real image size is refused with one line and exit code
2 before anything is created (docs/SECURITY.md). It reads the image pool (the engine reads it again; MNIST reads
are cached) but converts nothing to float.
"""

from __future__ import annotations

from desktop_app.core.config import ConfigError, ExperimentConfig, check_model_fits
from desktop_app.core.config.limits import MAX_PROBE_VALUES
from desktop_app.core.config.rules import largest_batch
from desktop_app.core.data.registry import load_pool
from desktop_app.core.data.splits import ImagePool, check_split_memory, split_indices
from desktop_app.core.training.device import gpu_count, pick_device

PoolCache = dict[tuple, ImagePool]


def check_inputs(cfg: ExperimentConfig, pools: PoolCache | None = None) -> None:
    """Raise one ConfigError if ``cfg`` cannot run here with its data; ``pools`` shares loads across variants."""
    cfg.validate()
    # a Dask client does not need the GPU its workers use: there only the choice itself is checked
    pick_device(cfg.device, 1 if cfg.execution.backend == "dask" else gpu_count())
    d = cfg.data
    key = (d.base if d.name == "elastic" else d.name, d.path, d.download, d.shapeset_count, d.image_size, d.split_seed)
    pool = pools.get(key) if pools is not None else None
    if pool is None:
        pool = load_pool(d)
        if pools is not None:
            pools[key] = pool
    has_test = pool.test_images is not None and pool.test_labels is not None
    idx = split_indices(len(pool.images), len(pool.test_images) if has_test else None, d)  # type: ignore[arg-type]
    shape = tuple(int(v) for v in pool.images.shape[1:])
    check_split_memory(idx, shape)
    if d.probe_size * pool.n_classes > MAX_PROBE_VALUES:
        raise ConfigError("data.probe_size", f"{d.probe_size:,} probe examples x {pool.n_classes:,} classes would save "
                          f"{d.probe_size * pool.n_classes:,} outputs per epoch, more than the limit of "
                          f"{MAX_PROBE_VALUES:,}; lower data.probe_size")
    try:
        check_model_fits(cfg.model, shape, pool.n_classes, batch_size=largest_batch(cfg))
    except ConfigError as exc:
        raise ConfigError(exc.field, f"{exc.message} (for {'x'.join(map(str, shape))} images, "
                          f"{pool.n_classes} classes)") from None
