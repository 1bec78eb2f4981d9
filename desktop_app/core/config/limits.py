"""Size limits that are not one field's range: file sizes, model size, data memory, classes.

Every per-field range lives beside its field in ``experiment.py``; these bound combinations of fields (and
what a dataset file says) so that a valid-looking config or a hostile file cannot make Basin allocate more
than a workstation has. They are checked before anything is built (see docs/SECURITY.md, generated from
:data:`LIMITS` and the declaration).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Limit:
    name: str
    value: int
    unit: str
    what: str


MAX_CONFIG_BYTES = 1_000_000
MAX_TOML_DEPTH = 32
MAX_PARAMETERS = 50_000_000
MAX_ACTIVATION_BYTES = 2 * 1024**3
MAX_DATA_BYTES = 4 * 1024**3
MAX_DATASET_FILE_BYTES = 4 * 1024**3
MAX_CLASSES = 10_000
MAX_IMAGE_PIXELS = 512 * 512
MAX_SWEEP_VARIANTS = 100
MAX_PROBE_VALUES = 10_000_000

LIMITS: tuple[Limit, ...] = (
    Limit("config file", MAX_CONFIG_BYTES, "bytes", "a config TOML (also a --set value) is read only up to this size"),
    Limit("config nesting", MAX_TOML_DEPTH, "levels",
          "tables and lists nested deeper are refused before any config object is built"),
    Limit("model parameters", MAX_PARAMETERS, "weights", "all layers and the output layer together (4 bytes each, "
          "plus gradients and optimiser state)"),
    Limit("activation memory", MAX_ACTIVATION_BYTES, "bytes", "one minibatch's layer outputs (largest batch size "
          "x every layer's output size x 4 bytes)"),
    Limit("dataset in memory", MAX_DATA_BYTES, "bytes", "the labelled/unlabelled pool, validation and test images "
          "as float32"),
    Limit("dataset file", MAX_DATASET_FILE_BYTES, "bytes", "an .npz file's arrays as stored (checked from the "
          "archive's headers before reading)"),
    Limit("classes", MAX_CLASSES, "classes", "the largest label read from a dataset, plus one"),
    Limit("image size", MAX_IMAGE_PIXELS, "pixels", "height x width x channels of one dataset image"),
    Limit("sweep variants", MAX_SWEEP_VARIANTS, "values", "sweep.values; each variant is a full run"),
    Limit("probe outputs", MAX_PROBE_VALUES, "values", "data.probe_size x classes: the softmax outputs saved after "
          "every fine-tuning epoch"),
)
