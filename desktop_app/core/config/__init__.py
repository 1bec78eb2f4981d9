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
    EXECUTION_BACKENDS,
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
    ExecutionConfig,
    ExperimentConfig,
    FinetuneConfig,
    LayerSpec,
    ModelConfig,
    OnlineConfig,
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
    """``basin run --help-config``: every field, its type, default, range, unit and one-line help, then the
    limits that bound several fields together (docs/SECURITY.md)."""
    from desktop_app.core.config.limits import LIMITS

    tail = ["", "Limits across fields and files (checked before anything is built):"]
    tail += [f"  {lim.name}: at most {lim.value:,} {lim.unit}; {lim.what}" for lim in LIMITS]
    return help_text(ExperimentConfig) + "\n" + "\n".join(tail)


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
    "EXECUTION_BACKENDS",
    "EXPERIMENT_KINDS",
    "ExecutionConfig",
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
    "OnlineConfig",
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
    "limits_markdown",
    "load",
    "mlp",
    "parameter_count",
    "parse_value",
    "read_config_text",
    "replace",
    "save",
    "set_dotted",
]


def limits_markdown() -> str:
    """The limits section of docs/SECURITY.md, generated from the declaration and :data:`limits.LIMITS`."""
    from desktop_app.core.config.limits import LIMITS

    lines = [
        "Every size Basin reads is checked against these limits *before* anything is allocated; a value outside",
        "them is refused with one line naming the field or file (`basin`: exit code 2; the window: a dialog).",
        "This section is generated from the config declaration (`desktop_app/core/config/`); a test keeps it",
        "in step (`python -c \"from desktop_app.core.config import limits_markdown; print(limits_markdown())\"`).",
        "",
        "| Limit | Value | What it bounds |",
        "|---|---|---|",
    ]
    lines += [f"| {lim.name} | {lim.value:,} {lim.unit} | {lim.what} |" for lim in LIMITS]
    lines += ["", "Per-field ranges (also `basin run --help-config`):", "", "| Field | Allowed |", "|---|---|"]
    for path, d in FIELDS.items():
        rng = d.spec.range_text()
        if rng and not d.spec.choices:
            unit = f" {d.spec.unit}" if d.spec.unit and d.type in (int, float) else ""
            lines.append(f"| `{display_path(path)}` | {rng}{unit} |")
    return "\n".join(lines) + "\n"
