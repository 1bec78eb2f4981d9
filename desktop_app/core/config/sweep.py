"""Sweeps: one config becomes one variant per value of one field, each value checked before anything is built.

``sweep_errors`` checks the number of values and every value against the swept field's declared range
*before* ``expand_sweep`` builds a variant, so ``model.depth = 1e9`` is refused at once instead of
allocating a billion layers (docs/SECURITY.md).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import replace

from desktop_app.core.config.experiment import (
    MAX_LAYERS,
    SWEEP_SPECIAL,
    ExperimentConfig,
    LayerSpec,
    SweepConfig,
    declared,
)
from desktop_app.core.config.schema import ConfigError, FieldSpec, range_error

_DEPTH = FieldSpec(label="Depth", help="number of dense layers", lo=1, hi=MAX_LAYERS)


def _target_spec(field: str) -> tuple[FieldSpec, bool]:
    """(spec, integer?) of the swept field; ConfigError on ``sweep.field`` if it cannot be swept."""
    if field == "model.depth":
        return _DEPTH, True
    d = declared("model.layers[].units" if field == "model.width" else field)
    if d is None:
        raise ConfigError("sweep.field", f"{field[:100]}: unknown field; sweep a numeric field, "
                          f"{' or '.join(SWEEP_SPECIAL)}")
    if d.type not in (int, float) or d.spec.lo is None:
        raise ConfigError("sweep.field", f"{field}: not a numeric field, cannot be swept")
    return d.spec, d.type is int


def sweepable_fields() -> tuple[str, ...]:
    """Every field a sweep may vary (the builder's choices): the special ones, then each numeric field that is
    not inside a list, in declaration order."""
    from desktop_app.core.config.experiment import FIELDS

    numeric = (p for p, d in FIELDS.items()
               if "[]" not in p and d.type in (int, float) and d.spec.lo is not None and not d.spec.not_shown
               and not p.startswith(("sweep.", "execution.")) and p not in ("threads",))
    return (*SWEEP_SPECIAL, *numeric)


def sweep_errors(cfg: ExperimentConfig) -> Iterator[ConfigError]:
    sw = cfg.sweep
    if not sw.field:
        if sw.values:
            yield ConfigError("sweep.field", "must name the field the values apply to")
        return
    if not sw.values:
        yield ConfigError("sweep.values", "must list at least one value")
        return
    if len(sw.values) > (declared("sweep.values").spec.max_len or 0):  # type: ignore[union-attr]
        return  # the per-field check already says so; expanding would build them all
    try:
        target, integer = _target_spec(sw.field)
    except ConfigError as exc:
        yield exc
        return
    for value in sw.values:
        if integer and math.isfinite(value) and not float(value).is_integer():
            yield ConfigError("sweep.values", f"{sw.field} takes whole numbers, got {value:g}")
            return
        err = range_error(sw.field, value, target)
        if err is not None:
            yield ConfigError("sweep.values", f"{sw.field} {err.message}")
            return
    try:
        variants = expand_sweep(cfg)
    except ConfigError as exc:
        yield exc if exc.field == "sweep.values" else ConfigError("sweep.field", f"{exc.field}: {exc.message}")
        return
    from desktop_app.core.config.rules import iter_errors

    own = {(e.field, e.message) for e in iter_errors(replace(cfg, sweep=SweepConfig()))}  # said once, not per variant
    for value, (_label, variant) in zip(sw.values, variants, strict=True):
        for err in iter_errors(variant):
            if (err.field, err.message) not in own:
                yield ConfigError(err.field, f"{err.message} (in sweep variant {sw.field} = {_sweep_label(value)})")
                return


def _sweep_label(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def expand_sweep(cfg: ExperimentConfig) -> list[tuple[str, ExperimentConfig]]:
    """The variants of a sweep as (label, config without sweep); a plain config is its own variant.

    Callers validate first (``cfg.validate()``), which bounds every value; this refuses an unchecked
    depth itself because it is the one value that sizes a list.
    """
    from desktop_app.core.config.io import from_dict, set_dotted

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
            err = range_error("model.depth", value, _DEPTH)
            if err is not None:
                raise ConfigError("sweep.values", f"model.depth {err.message}")
            dense = [layer for layer in cfg.model.layers if layer.kind == "dense"]
            other = [layer for layer in cfg.model.layers if layer.kind != "dense"]
            template = dense[0] if dense else LayerSpec()
            layers = tuple(other) + tuple(template for _ in range(int(value)))
            variant = replace(base, model=replace(base.model, layers=layers))
        else:
            d = base.to_dict()
            set_dotted(d, sw.field, value)
            variant = from_dict(d, validate=False)
        out.append((f"{sw.field.split('.')[-1]}={label}", replace(variant, name=f"{cfg.name} [{sw.field}={label}]")))
    return out
