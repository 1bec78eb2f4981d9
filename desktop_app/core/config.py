"""ExperimentConfig: the one typed description of a Basin experiment.

The builder pane edits it, the CLI reads it from TOML, every run folder and checkpoint embeds it, and
presets are instances of it. Torch-free on purpose: the UI imports this module. Validation lives here
and every error names the dotted field and the allowed values.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import tomllib
import types
import typing
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import tomli_w

SCHEMA_VERSION = 1

DATASETS = ("digits", "shapeset", "elastic", "mnist", "fashion-mnist", "npz", "image-folder")
ELASTIC_BASES = ("digits", "shapeset", "mnist", "fashion-mnist", "npz", "image-folder")
LAYER_KINDS = ("dense", "conv", "pool")
ACTIVATIONS = ("sigmoid", "tanh", "relu")
INITS = ("classic", "glorot", "he", "orthogonal")
ARMS = ("none", "rbm", "dae", "cae")
NOISES = ("masking", "gaussian")
OPTIMIZERS = ("sgd", "momentum", "adam")
DEVICES = ("auto", "cpu", "cuda")
EXPERIMENT_KINDS = ("standard", "output-variance")
RESAMPLE_MODES = ("auto", "pool", "deform")


class ConfigError(ValueError):
    """A config value is invalid; ``field`` is the dotted path, ``message`` what is allowed."""

    def __init__(self, field_path: str, message: str) -> None:
        super().__init__(f"{field_path}: {message}")
        self.field = field_path
        self.message = message


# ---------------------------------------------------------------------------------------------------------
# Sections
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DataConfig:
    """Which images, how they are split, and how many labels the supervised phase may see."""

    name: str = "digits"
    path: str = ""  # file or folder for mnist / fashion-mnist / npz / image-folder ("" = user cache)
    download: bool = False  # mnist / fashion-mnist: fetch into the user cache (sha256-checked) if missing
    base: str = "digits"  # elastic: the image set that is deformed
    n_labelled: int = 1000  # labelled training examples for fine-tuning; 0 = all
    n_unlabelled: int = 0  # unlabelled pool for pre-training; 0 = every training image (labels hidden)
    n_valid: int = 500
    n_test: int = 1000
    probe_size: int = 200  # fixed subset of the test set whose outputs define "function space"
    train_eval_size: int = 5000  # train NLL/error per epoch on this many labelled examples; 0 = all
    split_seed: int = 0
    shapeset_count: int = 6000  # shapeset: images generated
    image_size: int = 28  # shapeset: side in pixels
    elastic_alpha: float = 8.0  # elastic: displacement scale in pixels (Simard 2003 used 34 at sigma 4)
    elastic_sigma: float = 4.0  # elastic: smoothing of the displacement field, pixels
    affine_degrees: float = 7.5  # elastic: max rotation
    affine_scale: float = 0.1  # elastic: max relative scaling


@dataclass(frozen=True)
class LayerSpec:
    """One hidden layer: dense (units), conv (units = channels, kernel, stride) or pool (kernel, stride)."""

    kind: str = "dense"
    units: int = 500
    kernel: int = 5
    stride: int = 1


@dataclass(frozen=True)
class ModelConfig:
    layers: tuple[LayerSpec, ...] = (LayerSpec(), LayerSpec(), LayerSpec())
    activation: str = "sigmoid"
    init: str = "classic"
    dropout: float = 0.0
    l1: float = 0.0
    l2: float = 0.0


@dataclass(frozen=True)
class RBMConfig:
    epochs: int = 5
    lr: float = 0.05
    k: int = 1
    persistent: bool = False
    batch_size: int = 20
    momentum: float = 0.5


@dataclass(frozen=True)
class DAEConfig:
    epochs: int = 5
    lr: float = 0.1
    noise: str = "masking"
    corruption: float = 0.25
    batch_size: int = 20


@dataclass(frozen=True)
class CAEConfig:
    epochs: int = 5
    lr: float = 0.01
    noise: str = "masking"
    corruption: float = 0.1
    batch_size: int = 32


@dataclass(frozen=True)
class PretrainingConfig:
    rbm: RBMConfig = RBMConfig()
    dae: DAEConfig = DAEConfig()
    cae: CAEConfig = CAEConfig()


@dataclass(frozen=True)
class FinetuneConfig:
    optimizer: str = "sgd"
    lr: float = 0.1
    momentum: float = 0.9
    batch_size: int = 10
    epochs: int = 10


@dataclass(frozen=True)
class SeedsConfig:
    """Arms x seeds are paired: seed i gets the same init and data order in every arm."""

    count: int = 2
    base: int = 0


@dataclass(frozen=True)
class SnapshotsConfig:
    filters: bool = True  # first-layer weights after every pre-training and fine-tuning epoch
    max_filters: int = 100  # how many first-layer units are snapshotted
    probe_outputs: bool = True  # softmax outputs on the probe subset after every fine-tuning epoch
    checkpoint_every: int = 1  # fine-tuning epochs between checkpoints (the last epoch is always saved)
    tensorboard: bool = False  # also write TensorBoard event files (needs the basin[tensorboard] extra)


@dataclass(frozen=True)
class OutputVarianceConfig:
    """Erhan 2010 Fig. 3: resample one block of the training stream at a time and measure how much the final
    function (outputs on the probe set) varies, per block position. Used when kind = "output-variance"."""

    n_blocks: int = 5
    resamples: int = 3
    resample: str = "auto"  # pool: fresh examples; deform: fresh elastic deformation; auto: deform if elastic


@dataclass(frozen=True)
class SweepConfig:
    """Run the experiment once per value of one field, each variant into its own run folder.

    ``field`` is a dotted config field (e.g. ``data.n_labelled``) or ``model.width`` (every dense layer's
    units) or ``model.depth`` (number of dense hidden layers, repeating the first dense layer).
    """

    field: str = ""
    values: tuple[float, ...] = ()


SWEEP_SPECIAL = ("model.width", "model.depth")


@dataclass(frozen=True)
class ExperimentConfig:
    schema_version: int = SCHEMA_VERSION
    name: str = "experiment"
    description: str = ""
    kind: str = "standard"  # "standard": train arms x seeds; "output-variance": the block-resampling experiment
    data: DataConfig = DataConfig()
    model: ModelConfig = ModelConfig()
    arms: tuple[str, ...] = ("none", "rbm", "dae")
    pretraining: PretrainingConfig = PretrainingConfig()
    finetune: FinetuneConfig = FinetuneConfig()
    seeds: SeedsConfig = SeedsConfig()
    snapshots: SnapshotsConfig = SnapshotsConfig()
    device: str = "auto"
    threads: int = 0  # torch CPU threads; 0 = torch's default
    sweep: SweepConfig = SweepConfig()
    output_variance: OutputVarianceConfig = OutputVarianceConfig()

    # -- convenience -------------------------------------------------------------------------------------
    def validate(self) -> ExperimentConfig:
        """Raise ConfigError for the first invalid field; return self so calls chain."""
        for err in iter_errors(self):
            raise err
        return self

    def errors(self) -> list[ConfigError]:
        return list(iter_errors(self))

    def to_dict(self) -> dict[str, Any]:
        return _to_plain(self)

    def to_toml(self) -> str:
        return tomli_w.dumps(self.to_dict())

    def hash(self) -> str:
        """Short stable hash of the scientific content (name and description excluded)."""
        d = self.to_dict()
        d.pop("name", None)
        d.pop("description", None)
        return hashlib.sha256(tomli_w.dumps(d).encode()).hexdigest()[:16]

    def with_overrides(self, overrides: dict[str, Any]) -> ExperimentConfig:
        d = self.to_dict()
        for key, value in overrides.items():
            set_dotted(d, key, value)
        return from_dict(d)

    @property
    def pretrain_arms(self) -> tuple[str, ...]:
        return tuple(a for a in self.arms if a != "none")

    @property
    def seed_values(self) -> list[int]:
        return [self.seeds.base + i for i in range(self.seeds.count)]


# ---------------------------------------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------------------------------------


def _choice(path: str, value: Any, allowed: tuple[str, ...]) -> ConfigError | None:
    if value not in allowed:
        return ConfigError(path, f"must be one of {', '.join(allowed)}; got {value!r}")
    return None


def _int_range(path: str, value: int, lo: int, hi: int | None = None) -> ConfigError | None:
    if value < lo or (hi is not None and value > hi):
        upper = "" if hi is None else f", {hi}"
        rng = f"[{lo}{upper}]" if hi is not None else f">= {lo}"
        return ConfigError(path, f"must be {'in ' if hi is not None else ''}{rng}, got {value}")
    return None


def _float_range(
    path: str, value: float, lo: float, hi: float, lo_open: bool = False, hi_open: bool = False
) -> ConfigError | None:
    ok = math.isfinite(value)
    ok = ok and (value > lo if lo_open else value >= lo)
    ok = ok and (value < hi if hi_open else value <= hi)
    if not ok:
        hi_txt = "inf" if math.isinf(hi) else f"{hi:g}"
        rng = f"{'(' if lo_open else '['}{lo:g}, {hi_txt}{')' if hi_open or math.isinf(hi) else ']'}"
        return ConfigError(path, f"must be in {rng}, got {value:g}")
    return None


def iter_errors(cfg: ExperimentConfig):  # noqa: C901 - a flat list of checks reads best
    """Yield every ConfigError of cfg, in field order."""
    checks: list[ConfigError | None] = []
    if cfg.schema_version != SCHEMA_VERSION:
        checks.append(ConfigError("schema_version", f"must be {SCHEMA_VERSION}, got {cfg.schema_version}"))
    if not cfg.name.strip():
        checks.append(ConfigError("name", "must not be empty"))
    d = cfg.data
    checks += [
        _choice("data.name", d.name, DATASETS),
        _choice("data.base", d.base, ELASTIC_BASES),
        _int_range("data.n_labelled", d.n_labelled, 0),
        _int_range("data.n_unlabelled", d.n_unlabelled, 0),
        _int_range("data.n_valid", d.n_valid, 1),
        _int_range("data.n_test", d.n_test, 1),
        _int_range("data.probe_size", d.probe_size, 1, 10000),
        _int_range("data.train_eval_size", d.train_eval_size, 0),
        _int_range("data.shapeset_count", d.shapeset_count, 100, 1_000_000),
        _int_range("data.image_size", d.image_size, 8, 128),
        _float_range("data.elastic_alpha", d.elastic_alpha, 0, 100),
        _float_range("data.elastic_sigma", d.elastic_sigma, 0, 20, lo_open=True),
        _float_range("data.affine_degrees", d.affine_degrees, 0, 45),
        _float_range("data.affine_scale", d.affine_scale, 0, 0.5),
    ]
    if d.probe_size > d.n_test:
        checks.append(ConfigError("data.probe_size", f"must be <= data.n_test ({d.n_test}), got {d.probe_size}"))
    if d.name in ("npz", "image-folder") and not d.path:
        checks.append(ConfigError("data.path", f"must name a file or folder for dataset {d.name!r}"))
    if d.name == "elastic" and d.base in ("npz", "image-folder") and not d.path:
        checks.append(ConfigError("data.path", f"must name a file or folder for elastic base {d.base!r}"))

    m = cfg.model
    if not m.layers:
        checks.append(ConfigError("model.layers", "must hold at least one layer"))
    seen_dense = False
    for i, layer in enumerate(m.layers):
        p = f"model.layers[{i}]"
        checks.append(_choice(f"{p}.kind", layer.kind, LAYER_KINDS))
        if layer.kind in ("dense", "conv"):
            checks.append(_int_range(f"{p}.units", layer.units, 1, 100_000))
        if layer.kind in ("conv", "pool"):
            checks.append(_int_range(f"{p}.kernel", layer.kernel, 1, 15))
            checks.append(_int_range(f"{p}.stride", layer.stride, 1, 8))
            if seen_dense:
                checks.append(ConfigError(f"{p}.kind", "conv and pool layers must come before dense layers"))
        seen_dense = seen_dense or layer.kind == "dense"
    if m.layers and m.layers[0].kind == "pool":
        checks.append(ConfigError("model.layers[0].kind", "the first layer must be dense or conv, got 'pool'"))
    checks += [
        _choice("model.activation", m.activation, ACTIVATIONS),
        _choice("model.init", m.init, INITS),
        _float_range("model.dropout", m.dropout, 0, 1, hi_open=True),
        _float_range("model.l1", m.l1, 0, 1),
        _float_range("model.l2", m.l2, 0, 1),
    ]

    if not cfg.arms:
        checks.append(ConfigError("arms", f"must name at least one of {', '.join(ARMS)}"))
    for i, arm in enumerate(cfg.arms):
        checks.append(_choice(f"arms[{i}]", arm, ARMS))
    if len(set(cfg.arms)) != len(cfg.arms):
        checks.append(ConfigError("arms", f"must not repeat an arm, got {list(cfg.arms)}"))
    kinds = {layer.kind for layer in m.layers}
    if ("rbm" in cfg.arms or "dae" in cfg.arms) and "dense" not in kinds:
        checks.append(ConfigError("arms", "rbm and dae pre-train dense layers: add a dense layer or drop them"))
    if "cae" in cfg.arms and "conv" not in kinds:
        checks.append(ConfigError("arms", "cae pre-trains conv layers: add a conv layer or drop it"))

    r, a, c = cfg.pretraining.rbm, cfg.pretraining.dae, cfg.pretraining.cae
    checks += [
        _int_range("pretraining.rbm.epochs", r.epochs, 0, 10_000),
        _float_range("pretraining.rbm.lr", r.lr, 0, 10, lo_open=True),
        _int_range("pretraining.rbm.k", r.k, 1, 100),
        _int_range("pretraining.rbm.batch_size", r.batch_size, 1, 100_000),
        _float_range("pretraining.rbm.momentum", r.momentum, 0, 1, hi_open=True),
        _int_range("pretraining.dae.epochs", a.epochs, 0, 10_000),
        _float_range("pretraining.dae.lr", a.lr, 0, 10, lo_open=True),
        _choice("pretraining.dae.noise", a.noise, NOISES),
        _float_range("pretraining.dae.corruption", a.corruption, 0, 1, hi_open=True),
        _int_range("pretraining.dae.batch_size", a.batch_size, 1, 100_000),
        _int_range("pretraining.cae.epochs", c.epochs, 0, 10_000),
        _float_range("pretraining.cae.lr", c.lr, 0, 10, lo_open=True),
        _choice("pretraining.cae.noise", c.noise, NOISES),
        _float_range("pretraining.cae.corruption", c.corruption, 0, 1, hi_open=True),
        _int_range("pretraining.cae.batch_size", c.batch_size, 1, 100_000),
    ]
    f = cfg.finetune
    checks += [
        _choice("finetune.optimizer", f.optimizer, OPTIMIZERS),
        _float_range("finetune.lr", f.lr, 0, 10, lo_open=True),
        _float_range("finetune.momentum", f.momentum, 0, 1, hi_open=True),
        _int_range("finetune.batch_size", f.batch_size, 1, 100_000),
        _int_range("finetune.epochs", f.epochs, 1, 100_000),
        _int_range("seeds.count", cfg.seeds.count, 1, 10_000),
        _int_range("seeds.base", cfg.seeds.base, 0, 2**31 - 1),
        _int_range("snapshots.max_filters", cfg.snapshots.max_filters, 1, 100_000),
        _int_range("snapshots.checkpoint_every", cfg.snapshots.checkpoint_every, 1, 100_000),
        _choice("device", cfg.device, DEVICES),
        _choice("kind", cfg.kind, EXPERIMENT_KINDS),
        _int_range("output_variance.n_blocks", cfg.output_variance.n_blocks, 2, 100),
        _int_range("output_variance.resamples", cfg.output_variance.resamples, 2, 100),
        _choice("output_variance.resample", cfg.output_variance.resample, RESAMPLE_MODES),
        _int_range("threads", cfg.threads, 0, 256),
    ]
    checks += list(_sweep_errors(cfg))
    for err in checks:
        if err is not None:
            yield err


def _sweep_errors(cfg: ExperimentConfig):
    sw = cfg.sweep
    if not sw.field:
        if sw.values:
            yield ConfigError("sweep.field", "must name the field the values apply to")
        return
    if not sw.values:
        yield ConfigError("sweep.values", "must list at least one value")
        return
    try:
        variants = expand_sweep(cfg)
    except ConfigError as exc:
        if exc.field == "sweep.values":
            yield exc
        else:
            yield ConfigError("sweep.field", f"{exc.field}: {exc.message}")
        return
    for _label, variant in variants:
        for err in iter_errors(variant):
            yield ConfigError(err.field, f"{err.message} (in sweep variant {sw.field} = {_label})")
            return


def _sweep_label(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def expand_sweep(cfg: ExperimentConfig) -> list[tuple[str, ExperimentConfig]]:
    """The variants of a sweep as (label, config without sweep); a plain config is its own variant."""
    base = replace(cfg, sweep=SweepConfig())
    sw = cfg.sweep
    if not sw.field:
        return [("", base)]
    out = []
    for value in sw.values:
        label = _sweep_label(value)
        if sw.field == "model.width":
            layers = tuple(
                replace(layer, units=int(value)) if layer.kind == "dense" else layer for layer in cfg.model.layers
            )
            variant = replace(base, model=replace(base.model, layers=layers))
        elif sw.field == "model.depth":
            if int(value) < 1:
                raise ConfigError("sweep.values", f"model.depth must be >= 1, got {label}")
            dense = [layer for layer in cfg.model.layers if layer.kind == "dense"]
            other = [layer for layer in cfg.model.layers if layer.kind != "dense"]
            template = dense[0] if dense else LayerSpec()
            layers = tuple(other) + tuple(template for _ in range(int(value)))
            variant = replace(base, model=replace(base.model, layers=layers))
        else:
            variant = _override(base, sw.field, value)
        out.append((f"{sw.field.split('.')[-1]}={label}", replace(variant, name=f"{cfg.name} [{sw.field}={label}]")))
    return out


def _override(cfg: ExperimentConfig, key: str, value: float) -> ExperimentConfig:
    d = cfg.to_dict()
    set_dotted(d, key, value)
    return from_dict(d, validate=False)


# ---------------------------------------------------------------------------------------------------------
# dict / TOML conversion
# ---------------------------------------------------------------------------------------------------------


def _to_plain(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj):
        return {f.name: _to_plain(getattr(obj, f.name)) for f in fields(obj)}
    if isinstance(obj, tuple | list):
        return [_to_plain(v) for v in obj]
    return obj


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", str(tp))


def _coerce(path: str, tp: Any, value: Any) -> Any:
    """Turn a plain TOML value into the declared field type, naming the field on mismatch."""
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ConfigError(path, f"must be a table, got {type(value).__name__}")
        return _build(tp, value, path)
    if origin is tuple:
        (inner, _ellipsis) = typing.get_args(tp)
        if not isinstance(value, list | tuple):
            raise ConfigError(path, f"must be a list, got {type(value).__name__}")
        return tuple(_coerce(f"{path}[{i}]", inner, v) for i, v in enumerate(value))
    if origin is types.UnionType:
        raise ConfigError(path, "unsupported union type")
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(path, f"must be true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                return int(value)
            raise ConfigError(path, f"must be an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(path, f"must be a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(path, f"must be a string, got {value!r}")
        return value
    raise ConfigError(path, f"unsupported type {_type_name(tp)}")


def _build(cls: type, data: dict[str, Any], prefix: str = "") -> Any:
    hints = typing.get_type_hints(cls)
    names = {f.name for f in fields(cls)}
    for key in data:
        if key not in names:
            where = f"{prefix}.{key}" if prefix else key
            raise ConfigError(where, f"unknown field; allowed: {', '.join(sorted(names))}")
    kwargs = {}
    for f in fields(cls):
        if f.name in data:
            where = f"{prefix}.{f.name}" if prefix else f.name
            kwargs[f.name] = _coerce(where, hints[f.name], data[f.name])
    return cls(**kwargs)


def from_dict(data: dict[str, Any], validate: bool = True) -> ExperimentConfig:
    cfg = _build(ExperimentConfig, data)
    if validate:
        cfg.validate()
    return cfg


def from_toml(text: str, validate: bool = True) -> ExperimentConfig:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError("toml", f"not valid TOML: {exc}") from None
    return from_dict(data, validate=validate)


def load(path: str | Path, validate: bool = True) -> ExperimentConfig:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError("file", f"cannot read {p}: {exc.strerror or exc}") from None
    return from_toml(text, validate=validate)


def save(cfg: ExperimentConfig, path: str | Path) -> None:
    from desktop_app.core.atomic import write_text_atomic

    write_text_atomic(Path(path), cfg.to_toml())


def parse_value(text: str) -> Any:
    """Parse a --set value as a TOML literal (numbers, booleans, lists); fall back to a plain string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def set_dotted(d: dict[str, Any], key: str, value: Any) -> None:
    """Set d['a']['b'] for key 'a.b'; list items as 'model.layers.0.units' or 'model.layers[0].units'."""
    parts = key.replace("[", ".").replace("]", "").split(".")
    cur: Any = d
    for i, part in enumerate(parts[:-1]):
        where = ".".join(parts[: i + 1])
        if isinstance(cur, list):
            if not part.isdigit() or int(part) >= len(cur):
                raise ConfigError(where, f"no list item {part} (the list has {len(cur)})")
            cur = cur[int(part)]
        elif isinstance(cur, dict):
            if part not in cur:
                raise ConfigError(where, f"unknown field; allowed: {', '.join(sorted(cur))}")
            cur = cur[part]
        else:
            raise ConfigError(where, "is not a table")
    last = parts[-1]
    if isinstance(cur, list):
        if not last.isdigit() or int(last) >= len(cur):
            raise ConfigError(key, f"no list item {last} (the list has {len(cur)})")
        cur[int(last)] = value
    elif isinstance(cur, dict):
        if last not in cur:
            raise ConfigError(key, f"unknown field; allowed: {', '.join(sorted(cur))}")
        cur[last] = value
    else:
        raise ConfigError(key, "is not a table")


def mlp(widths: list[int] | tuple[int, ...]) -> tuple[LayerSpec, ...]:
    """Shorthand: dense layers of the given widths."""
    return tuple(LayerSpec(kind="dense", units=w) for w in widths)


__all__ = [
    "ACTIVATIONS",
    "ARMS",
    "DATASETS",
    "DEVICES",
    "INITS",
    "NOISES",
    "EXPERIMENT_KINDS",
    "OPTIMIZERS",
    "OutputVarianceConfig",
    "CAEConfig",
    "ConfigError",
    "DAEConfig",
    "DataConfig",
    "ExperimentConfig",
    "FinetuneConfig",
    "LayerSpec",
    "ModelConfig",
    "PretrainingConfig",
    "RBMConfig",
    "SeedsConfig",
    "SweepConfig",
    "expand_sweep",
    "SnapshotsConfig",
    "field",
    "from_dict",
    "from_toml",
    "load",
    "mlp",
    "replace",
    "save",
]
