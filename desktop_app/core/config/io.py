"""Config <-> plain dict / TOML text / file, with sizes and types checked before anything is built.

Every file, ``--set`` value and embedded checkpoint config comes through here, so every problem becomes one
ConfigError naming the file or the dotted field (docs/SECURITY.md): oversized, binary, UTF-16 or empty
files, TOML nested too deeply, wrong types, unknown keys and lists longer than their declared limit are
refused before the config objects exist.
"""

from __future__ import annotations

import dataclasses
import functools
import tomllib
import types
import typing
from pathlib import Path
from typing import Any

from desktop_app.core.config.experiment import ExperimentConfig
from desktop_app.core.config.limits import MAX_CONFIG_BYTES, MAX_TOML_DEPTH
from desktop_app.core.config.schema import ConfigError, FieldSpec
from desktop_app.core.untrusted import UnreadableFile, read_regular


def to_plain(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj):
        return {f.name: to_plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, tuple | list):
        return [to_plain(v) for v in obj]
    return obj


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", str(tp))


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _coerce(path: str, tp: Any, value: Any, spec: FieldSpec | None) -> Any:  # noqa: C901 - one branch per type
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
        if spec is not None and spec.max_len is not None and len(value) > spec.max_len:
            raise ConfigError(path, f"must hold at most {spec.max_len} {spec.item}s, got {len(value)}")
        return tuple(_coerce(f"{path}[{i}]", inner, v, None) for i, v in enumerate(value))
    if origin is types.UnionType:
        raise ConfigError(path, "unsupported union type")
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(path, f"must be true or false, got {_short(value)}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                return int(value)
            raise ConfigError(path, f"must be an integer, got {_short(value)}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(path, f"must be a number, got {_short(value)}")
        try:
            return float(value)
        except OverflowError:
            raise ConfigError(path, f"must be a number of sensible size, got {_short(value)}") from None
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(path, f"must be a string, got {_short(value)}")
        if spec is not None and spec.max_len is not None and len(value) > spec.max_len:
            raise ConfigError(path, f"must be at most {spec.max_len} characters, got {len(value)}")
        return value
    raise ConfigError(path, f"unsupported type {_type_name(tp)}")


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    """The section's field types, resolved once per class (resolving them took a third of a config load; the Runs
    table loads thousands)."""
    return typing.get_type_hints(cls)


def _build(cls: type, data: dict[str, Any], prefix: str = "") -> Any:
    hints = _hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    for key in data:
        if key not in names:
            where = f"{prefix}.{key}" if prefix else str(key)
            raise ConfigError(where[:200], f"unknown field; allowed: {', '.join(sorted(names))}")
    kwargs = {}
    for f in dataclasses.fields(cls):
        if f.name in data:
            where = f"{prefix}.{f.name}" if prefix else f.name
            kwargs[f.name] = _coerce(where, hints[f.name], data[f.name], f.metadata.get("spec"))
    return cls(**kwargs)


def _depth(value: Any, limit: int) -> int:
    """Nesting depth of tables and lists, without recursion (stops counting past ``limit``)."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        v, d = stack.pop()
        deepest = max(deepest, d)
        if d > limit:
            return d
        if isinstance(v, dict):
            stack.extend((x, d + 1) for x in v.values())
        elif isinstance(v, list | tuple):
            stack.extend((x, d + 1) for x in v)
    return deepest


def from_dict(data: dict[str, Any], validate: bool = True) -> ExperimentConfig:
    if not isinstance(data, dict):
        raise ConfigError("config", f"must be a table, got {type(data).__name__}")
    if _depth(data, MAX_TOML_DEPTH) > MAX_TOML_DEPTH:
        raise ConfigError("config", f"tables and lists are nested deeper than {MAX_TOML_DEPTH} levels")
    cfg = _build(ExperimentConfig, data)
    if validate:
        cfg.validate()
    return cfg


def _parse(text: str, where: str) -> dict[str, Any]:
    if len(text) > MAX_CONFIG_BYTES:
        raise ConfigError(where, f"is {len(text):,} characters, more than the limit of {MAX_CONFIG_BYTES:,}")
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(where, f"not valid TOML: {exc}") from None
    except RecursionError:
        raise ConfigError(where, f"not valid TOML: nested deeper than {MAX_TOML_DEPTH} levels") from None
    except ValueError as exc:  # tomllib's own int(): a number of more than 4,300 digits
        raise ConfigError(where, f"not valid TOML: {str(exc).split(';')[0]}") from None


def from_toml(text: str, validate: bool = True) -> ExperimentConfig:
    return from_dict(_parse(text, "toml"), validate=validate)


def decode_text(raw: bytes, name: str) -> str:
    """UTF-8 text of a config file (a UTF-8 byte-order mark is dropped), or one ConfigError saying what it is."""
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ConfigError(name, "is UTF-16 text; save it as UTF-8")
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    if b"\x00" in raw:
        raise ConfigError(name, "is a binary file, not TOML text")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(name, f"is not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start})") from None


def read_config_text(path: str | Path) -> str:
    """A config file's text, read through the one checked reader (``core.untrusted``: a regular file, size
    checked before reading); ConfigError names the file."""
    p = Path(path)
    try:
        raw = read_regular(p, MAX_CONFIG_BYTES)  # a FIFO or device is refused, never waited on
    except UnreadableFile as exc:
        reason = f"is larger than the {MAX_CONFIG_BYTES:,}-byte limit for a config file" \
            if "limit" in exc.reason else exc.reason
        raise ConfigError(str(p), reason) from None
    text = decode_text(raw, str(p))
    if not text.strip():
        raise ConfigError(str(p), "is empty; a config must say what to run (start from a preset, e.g. quick-demo)")
    return text


def load(path: str | Path, validate: bool = True) -> ExperimentConfig:
    text = read_config_text(path)
    data = _parse(text, str(path))
    if not data:
        raise ConfigError(str(path), "holds no settings (only comments); start from a preset, e.g. quick-demo")
    return from_dict(data, validate=validate)


def save(cfg: ExperimentConfig, path: str | Path) -> None:
    from desktop_app.core.atomic import write_text_atomic

    write_text_atomic(Path(path), cfg.to_toml())


def parse_value(text: str) -> Any:
    """Parse a --set value as a TOML literal (numbers, booleans, lists); fall back to a plain string."""
    if len(text) > MAX_CONFIG_BYTES:
        raise ConfigError("--set", f"value is longer than the {MAX_CONFIG_BYTES:,}-character limit")
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text
    except RecursionError:
        raise ConfigError("--set", f"value is nested deeper than {MAX_TOML_DEPTH} levels") from None


def set_dotted(d: dict[str, Any], key: str, value: Any) -> None:
    """Set d['a']['b'] for key 'a.b'; list items as 'model.layers.0.units' or 'model.layers[0].units'."""
    parts = key.replace("[", ".").replace("]", "").split(".")
    cur: Any = d
    for i, part in enumerate(parts[:-1]):
        where = ".".join(parts[: i + 1])
        if isinstance(cur, list):
            if not (part.isascii() and part.isdigit()) or int(part) >= len(cur):
                raise ConfigError(where, f"no list item {part[:20]} (the list has {len(cur)})")
            cur = cur[int(part)]
        elif isinstance(cur, dict):
            if part not in cur:
                raise ConfigError(where[:200], f"unknown field; allowed: {', '.join(sorted(cur))}")
            cur = cur[part]
        else:
            raise ConfigError(where[:200], "is not a table")
    last = parts[-1]
    if isinstance(cur, list):
        if not (last.isascii() and last.isdigit()) or int(last) >= len(cur):
            raise ConfigError(key[:200], f"no list item {last[:20]} (the list has {len(cur)})")
        cur[int(last)] = value
    elif isinstance(cur, dict):
        if last not in cur:
            raise ConfigError(key[:200], f"unknown field; allowed: {', '.join(sorted(cur))}")
        cur[last] = value
    else:
        raise ConfigError(key[:200], "is not a table")
