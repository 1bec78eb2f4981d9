"""Validation: every field against its own declared spec, then the rules that relate several fields.

The per-field checks are generated from the declaration (``schema.field_errors``); the cross-field rules are
written here, once, as explicit functions: probe subset within the test set, a path for file datasets, conv
before dense, arms that have layers to pre-train (and as many as ``pretraining.bottom_layers`` asks for), the
sweep's values within the swept field's range, stream lengths, a validation split (except online runs), and the
model's size (parameters, activation memory, feature maps large enough for every kernel).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator

from desktop_app.core.config.experiment import ExperimentConfig, LayerSpec, ModelConfig
from desktop_app.core.config.limits import MAX_ACTIVATION_BYTES, MAX_DATA_BYTES, MAX_PARAMETERS
from desktop_app.core.config.schema import ConfigError, field_errors

# Input shape of the built-in datasets, known before loading (file datasets are checked once loaded).
_KNOWN_INPUTS = {"digits": (1, 28, 28), "mnist": (1, 28, 28), "fashion-mnist": (1, 28, 28)}
_ASSUMED_CLASSES = 10
_PRETRAINED_KINDS = {"rbm": ("dense",), "dae": ("dense",), "cae": ("conv",)}  # core.pretraining's layer_kinds


def iter_errors(cfg: ExperimentConfig) -> Iterator[ConfigError]:
    """Yield every ConfigError of cfg: field ranges first (declaration order), then the cross-field rules."""
    yield from field_errors(cfg)
    for rule in RULES:
        yield from rule(cfg)


# ---------------------------------------------------------------------------------------------------------
# Cross-field rules
# ---------------------------------------------------------------------------------------------------------


def _probe_within_test(cfg: ExperimentConfig) -> Iterator[ConfigError]:
    d = cfg.data
    if d.probe_size > d.n_test:
        yield ConfigError("data.probe_size", f"must be <= data.n_test ({d.n_test}), got {d.probe_size}")


def _path_for_file_datasets(cfg: ExperimentConfig) -> Iterator[ConfigError]:
    d = cfg.data
    if d.name in ("npz", "image-folder") and not d.path:
        yield ConfigError("data.path", f"must name a file or folder for dataset {d.name!r}")
    if d.name == "elastic" and d.base in ("npz", "image-folder") and not d.path:
        yield ConfigError("data.path", f"must name a file or folder for elastic base {d.base!r}")


def _shapeset_fits(cfg: ExperimentConfig) -> Iterator[ConfigError]:
    d = cfg.data
    if (d.base if d.name == "elastic" else d.name) == "shapeset":
        need = d.shapeset_count * d.image_size * d.image_size * 4
        if need > MAX_DATA_BYTES:
            yield ConfigError("data.shapeset_count", f"{d.shapeset_count:,} images of {d.image_size}x{d.image_size} "
                              f"would take {need / 1024**3:.1f} GiB, more than the {MAX_DATA_BYTES / 1024**3:.0f} "
                              "GiB limit; generate fewer or smaller images")


def _layer_order(cfg: ExperimentConfig) -> Iterator[ConfigError]:
    seen_dense = False
    layers = cfg.model.layers
    for i, layer in enumerate(layers):
        if layer.kind in ("conv", "pool") and seen_dense:
            yield ConfigError(f"model.layers[{i}].kind", "conv and pool layers must come before dense layers")
        seen_dense = seen_dense or layer.kind == "dense"
    if layers and layers[0].kind == "pool":
        yield ConfigError("model.layers[0].kind", "the first layer must be dense or conv, got 'pool'")


def _arms_have_layers(cfg: ExperimentConfig) -> Iterator[ConfigError]:
    kinds = {layer.kind for layer in cfg.model.layers}
    if ("rbm" in cfg.arms or "dae" in cfg.arms) and "dense" not in kinds:
        yield ConfigError("arms", "rbm and dae pre-train dense layers: add a dense layer or drop them")
    if "cae" in cfg.arms and "conv" not in kinds:
        yield ConfigError("arms", "cae pre-trains conv layers: add a conv layer or drop it")


def _bottom_layers_exist(cfg: ExperimentConfig) -> Iterator[ConfigError]:
    """Pre-training only the bottom k layers needs k layers of the kind each pre-training arm trains."""
    k = cfg.pretraining.bottom_layers
    for arm, kinds in _PRETRAINED_KINDS.items():
        n = sum(1 for layer in cfg.model.layers if layer.kind in kinds)
        if k and arm in cfg.arms and 0 < n < k:
            yield ConfigError("pretraining.bottom_layers", f"must be <= the {n} {'/'.join(kinds)} layer(s) {arm} "
                              f"pre-trains, got {k}")
            return


def _model_fits(cfg: ExperimentConfig) -> Iterator[ConfigError]:
    shape = input_shape_of(cfg)
    if shape is None or any(err.field.startswith("model.") for err in field_errors(cfg.model, "model")):
        return
    if any(True for _ in _layer_order(cfg)):
        return
    try:
        check_model_fits(cfg.model, shape, _ASSUMED_CLASSES, batch_size=largest_batch(cfg))
    except ConfigError as err:
        yield err


def _sweep(cfg: ExperimentConfig) -> Iterator[ConfigError]:
    from desktop_app.core.config.sweep import sweep_errors

    yield from sweep_errors(cfg)


def _dask_address(cfg: ExperimentConfig) -> Iterator[ConfigError]:
    """A Dask scheduler address is scheme://host:port or host:port: never a path or a command."""
    address = cfg.execution.address
    if address and not re.fullmatch(r"((tcp|tls|ucx|ws|wss)://)?[A-Za-z0-9._\-\[\]:]+:\d{1,5}", address):
        yield ConfigError("execution.address", f"must look like tcp://host:8786, got {address[:60]!r}")


def _online_stream(cfg: ExperimentConfig) -> Iterator[ConfigError]:
    """The online error needs a full block before the last evaluation point."""
    o = cfg.online
    if cfg.kind == "online" and o.block > o.finetune_examples:
        yield ConfigError("online.block", f"must be <= online.finetune_examples ({o.finetune_examples:,}), "
                          f"got {o.block:,}")


STREAM_KINDS = ("online", "output-variance")  # kinds that only stream the training images and score no validation


def _validation_split(cfg: ExperimentConfig) -> Iterator[ConfigError]:
    """A standard run scores the validation split (every epoch, and for early stopping); an online or
    output-variance run only streams the training images (and scores test or probe images), so it may keep all of
    them (Erhan 2010's InfiniteMNIST deforms all 60,000 MNIST training digits)."""
    if cfg.data.n_valid == 0 and cfg.kind not in STREAM_KINDS:
        yield ConfigError("data.n_valid", f"must be >= 1 for kind {cfg.kind!r} (its validation split is scored); "
                          f"0 only for kinds {', '.join(repr(k) for k in STREAM_KINDS)}")


def _variance_stream(cfg: ExperimentConfig) -> Iterator[ConfigError]:
    """Only an endless (elastic) stream can be longer than the labelled set; a pool stream leaves half for
    resampling. The labelled count is known here only when set; the data loader checks the rest."""
    ov, d = cfg.output_variance, cfg.data
    if cfg.kind != "output-variance" or not ov.stream_examples:
        return
    endless = d.name == "elastic" and ov.resample != "pool"
    if not endless and d.n_labelled and ov.stream_examples >= d.n_labelled:
        yield ConfigError("output_variance.stream_examples", f"{ov.stream_examples:,} needs elastic data (data.name = "
                          f"'elastic') to be more than the {d.n_labelled:,} labelled examples minus a resample pool")
    if ov.stream_examples < ov.n_blocks:
        yield ConfigError("output_variance.stream_examples", f"must be >= output_variance.n_blocks ({ov.n_blocks}), "
                          f"got {ov.stream_examples:,}")


def _patience_needs_epochs(cfg: ExperimentConfig) -> Iterator[ConfigError]:
    """Early stopping chooses among fine-tuning epochs: only a standard run has them (an online run's points are
    examples seen, an output-variance run compares one fixed stream)."""
    if cfg.finetune.patience and cfg.kind != "standard":
        yield ConfigError("finetune.patience", f"early stopping applies to standard runs only; must be 0 for kind "
                          f"{cfg.kind!r}, got {cfg.finetune.patience}")


RULES = (
    _probe_within_test, _path_for_file_datasets, _shapeset_fits, _layer_order, _arms_have_layers,
    _bottom_layers_exist, _model_fits, _sweep, _dask_address, _online_stream, _validation_split,
    _variance_stream, _patience_needs_epochs,
)


# ---------------------------------------------------------------------------------------------------------
# Model size: shapes, parameters and activation memory, computed without building anything
# ---------------------------------------------------------------------------------------------------------


def input_shape_of(cfg: ExperimentConfig) -> tuple[int, int, int] | None:
    """(C, H, W) of the dataset's images when the config alone says it; None for file datasets."""
    d = cfg.data
    source = d.base if d.name == "elastic" else d.name
    if source == "shapeset":
        return (1, d.image_size, d.image_size)
    return _KNOWN_INPUTS.get(source)


def largest_batch(cfg: ExperimentConfig) -> int:
    sizes = [cfg.finetune.batch_size]
    for arm in cfg.pretrain_arms:
        section = getattr(cfg.pretraining, arm, None)
        if section is not None:
            sizes.append(section.batch_size)
    return max(sizes)


def layer_shapes(layers: tuple[LayerSpec, ...], input_shape: tuple[int, ...]) -> list[tuple[int, ...]]:
    """The output shape of every layer (the arithmetic of ``models.Net``), or ConfigError naming the layer
    whose window does not fit its input (a conv stack too small for its kernel, a pool too big)."""
    shape = tuple(int(v) for v in input_shape)
    out = []
    for i, spec in enumerate(layers):
        if spec.kind == "dense":
            shape = (spec.units,)
        else:
            if len(shape) != 3:
                raise ConfigError(f"model.layers[{i}].kind", "conv and pool layers must come before dense layers")
            c, h, w = shape
            if spec.kernel > min(h, w):
                what = "conv kernel" if spec.kind == "conv" else "pool window"
                raise ConfigError(
                    f"model.layers[{i}].kernel",
                    f"{what} {spec.kernel} is larger than the {h}x{w} feature map it receives; "
                    "lower the kernel or the strides before it",
                )
            h, w = (h - spec.kernel) // spec.stride + 1, (w - spec.kernel) // spec.stride + 1
            shape = (spec.units if spec.kind == "conv" else c, h, w)
        out.append(shape)
    return out


def parameter_count(model: ModelConfig, input_shape: tuple[int, ...], n_classes: int) -> int:
    shapes = layer_shapes(model.layers, input_shape)
    total, prev = 0, tuple(input_shape)
    for spec, shape in zip(model.layers, shapes, strict=True):
        if spec.kind == "dense":
            total += math.prod(prev) * spec.units + spec.units
        elif spec.kind == "conv":
            total += prev[0] * spec.units * spec.kernel * spec.kernel + spec.units
        prev = shape
    return total + math.prod(prev) * n_classes + n_classes


def check_model_fits(model: ModelConfig, input_shape: tuple[int, ...], n_classes: int, batch_size: int = 1) -> None:
    """Raise one ConfigError if the net would not fit the limits (docs/SECURITY.md) - before building it."""
    shapes = layer_shapes(model.layers, input_shape)
    params = parameter_count(model, input_shape, n_classes)
    if params > MAX_PARAMETERS:
        raise ConfigError(
            "model.layers",
            f"the net would have {params:,} weights (input {'x'.join(map(str, input_shape))}), more than the "
            f"limit of {MAX_PARAMETERS:,}; use fewer or narrower layers",
        )
    per_example = math.prod(input_shape) + sum(math.prod(s) for s in shapes) + n_classes
    need = per_example * batch_size * 4
    if need > MAX_ACTIVATION_BYTES:
        raise ConfigError(
            "model.layers",
            f"one minibatch of {batch_size} needs {need / 1024**3:.1f} GiB of layer outputs, more than the limit "
            f"of {MAX_ACTIVATION_BYTES / 1024**3:.0f} GiB; lower the batch size or the layer sizes",
        )
