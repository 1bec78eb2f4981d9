"""The one config declaration: every field has help, a label and a range the validator enforces."""

from __future__ import annotations

import io
import math
from typing import Any

import pytest

from desktop_app import cli
from desktop_app.core import config as c
from desktop_app.core.config import FIELDS, ConfigError, Declared, display_path
from desktop_app.core.config.io import to_plain
from desktop_app.core.config.schema import field_errors


def _concrete(path: str) -> str:
    return path.replace("[]", "[0]")


def _errors_for(path: str, value: Any, rules: bool = True) -> list[ConfigError]:
    """Set one field (a layer field on layer 0, of a kind the field applies to) and collect the errors."""
    d = c.ExperimentConfig().to_dict()
    decl = FIELDS[path]
    if decl.spec.when is not None:
        sibling, kinds = decl.spec.when
        c.set_dotted(d, _concrete(path).rsplit(".", 1)[0] + f".{sibling}", kinds[0])
    c.set_dotted(d, _concrete(path), value)
    try:
        cfg = c.from_dict(d, validate=False)
        return cfg.errors() if rules else list(field_errors(cfg))
    except ConfigError as exc:
        return [exc]


def _outside(decl: Declared) -> list[Any]:
    s = decl.spec
    if s.choices and decl.type is str:
        return ["no-such-choice"]
    if s.choices:  # a list of choices
        return [["no-such-choice"]]
    if decl.type in (int, float) and s.lo is not None and s.hi is not None:
        if decl.type is int:
            return [int(s.lo) - 1, int(s.hi) + 1]
        return [s.lo if s.lo_open else s.lo - 1e-9 * max(1, abs(s.lo)) - 1e-12,
                s.hi if s.hi_open else s.hi + 1e-9 * max(1, abs(s.hi)), math.nan]
    if decl.type is str and s.max_len is not None:
        return ["x" * (s.max_len + 1)]
    if s.max_len is not None:  # a list
        return [[to_plain(decl.default[0]) if decl.default else 1.0] * (s.max_len + 1)]
    return []


LEAVES = [p for p, d in FIELDS.items() if d.type is not bool]


def test_every_field_is_declared_with_label_and_help():
    assert len(FIELDS) > 60
    for path, decl in FIELDS.items():
        assert decl.spec.label.strip(), path
        assert decl.spec.help.strip() and decl.spec.help.strip()[-1] in ".)", path


@pytest.mark.parametrize("path", LEAVES)
def test_validator_refuses_a_value_just_outside_the_declared_range(path):
    decl = FIELDS[path]
    values = _outside(decl)
    assert values, f"{path} declares no range, choices or length: every non-bool field must be bounded"
    for value in values:
        errs = _errors_for(path, value)
        names = [e.field for e in errs]
        field = _concrete(path)
        assert any(n == field or n.startswith(field + "[") for n in names), (path, value, names)


@pytest.mark.parametrize("path", [p for p in LEAVES if FIELDS[p].type in (int, float)])
def test_the_range_ends_themselves_are_accepted(path):
    s = FIELDS[path].spec
    for value in (s.lo, s.hi):
        if (value == s.lo and s.lo_open) or (value == s.hi and s.hi_open):
            continue
        v = int(value) if FIELDS[path].type is int else float(value)
        assert _concrete(path) not in [e.field for e in _errors_for(path, v, rules=False)], (path, v)


def test_bools_refuse_other_types():
    for path, decl in FIELDS.items():
        if decl.type is bool:
            assert [e.field for e in _errors_for(path, "yes")] == [path]


def test_help_config_lists_every_field_with_range_and_help():
    out = io.StringIO()
    assert cli.main(["run", "--help-config"], out=out) == 0
    text = out.getvalue()
    for path, decl in FIELDS.items():
        assert f"\n{display_path(path)}  (" in "\n" + text, path
        assert decl.spec.help in text
        assert decl.spec.range_text() in text
    assert "finetune.lr  (float, default 0.1; (0, 10])" in text
    assert "model parameters: at most 50,000,000 weights" in text


def test_resample_modes_have_one_owner():
    from desktop_app.core.experiments import output_variance

    assert output_variance.RESAMPLE_MODES is c.RESAMPLE_MODES
    assert FIELDS["output_variance.resample"].spec.choices is c.RESAMPLE_MODES
