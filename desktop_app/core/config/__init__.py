"""ExperimentConfig: the one typed description of a Basin experiment.

The builder pane edits it, the CLI reads it from TOML, every run folder and checkpoint embeds it, and
presets are instances of it. Torch-free and Qt-free on purpose: the UI imports this package.

- ``experiment.py``: the sections and their fields, each declared once with its range, label and help;
- ``schema.py``: the declaration machinery and the per-field checks derived from it;
- ``rules.py``: the rules relating several fields (and the model-size arithmetic);
- ``sweep.py``: sweep variants, values bounded before any variant is built;
- ``io.py``: dict / TOML / file conversion with sizes checked first;
- ``limits.py``: the size limits that are not one field's range.

See docs/ARCHITECTURE.md, "The one config declaration".
"""

from dataclasses import field, replace

from desktop_app.core.config.experiment import (
    ACTIVATIONS,
    ARMS,
    DATASETS,
    DEVICES,
    ELASTIC_BASES,
    EXPERIMENT_KINDS,
    FIELDS,
    INITS,
    LAYER_KINDS,
    NOISES,
    OPTIMIZERS,
    RESAMPLE_MODES,
    SCHEMA_VERSION,
    SECTIONS,
    SWEEP_SPECIAL,
    CAEConfig,
    DAEConfig,
    DataConfig,
    ExperimentConfig,
    FinetuneConfig,
    LayerSpec,
    ModelConfig,
    OutputVarianceConfig,
    PretrainingConfig,
    RBMConfig,
    SeedsConfig,
    SnapshotsConfig,
    SweepConfig,
    declared,
    mlp,
)
from desktop_app.core.config.io import (
    decode_text,
    from_dict,
    from_toml,
    load,
    parse_value,
    read_config_text,
    save,
    set_dotted,
)
from desktop_app.core.config.rules import check_model_fits, iter_errors, layer_shapes, parameter_count
from desktop_app.core.config.schema import ConfigError, Declared, FieldSpec, display_path, help_text
from desktop_app.core.config.sweep import expand_sweep


def help_config() -> str:
    """``basin run --help-config``: every field, its type, default, range, unit and one-line help."""
    return help_text(ExperimentConfig)


__all__ = [
    "ACTIVATIONS",
    "ARMS",
    "CAEConfig",
    "ConfigError",
    "DAEConfig",
    "DATASETS",
    "DEVICES",
    "DataConfig",
    "Declared",
    "ELASTIC_BASES",
    "EXPERIMENT_KINDS",
    "ExperimentConfig",
    "FIELDS",
    "FieldSpec",
    "FinetuneConfig",
    "INITS",
    "LAYER_KINDS",
    "LayerSpec",
    "ModelConfig",
    "NOISES",
    "OPTIMIZERS",
    "OutputVarianceConfig",
    "PretrainingConfig",
    "RBMConfig",
    "RESAMPLE_MODES",
    "SCHEMA_VERSION",
    "SECTIONS",
    "SWEEP_SPECIAL",
    "SeedsConfig",
    "SnapshotsConfig",
    "SweepConfig",
    "check_model_fits",
    "declared",
    "decode_text",
    "display_path",
    "expand_sweep",
    "field",
    "from_dict",
    "from_toml",
    "help_config",
    "iter_errors",
    "layer_shapes",
    "load",
    "mlp",
    "parameter_count",
    "parse_value",
    "read_config_text",
    "replace",
    "save",
    "set_dotted",
]
