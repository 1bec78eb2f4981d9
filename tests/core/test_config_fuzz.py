"""Fuzzing the config inputs: generated TOML files, random bytes and `--set` overrides.

Whatever the input, `basin run --check` ends with exit code 0 or 2, writes at most one line to stderr and
no traceback, creates no file, and decides quickly (no allocation sized by the input: a hostile size is
refused by the declared limits before anything is built). In-process for speed; a few subprocesses check the
real entry point under an address-space limit.
"""

from __future__ import annotations

import io
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest
import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from desktop_app import cli
from desktop_app.core.config import FIELDS, display_path
from tests.pause import HANG_S  # a limit that only catches a hang

ROOT = Path(__file__).resolve().parents[2]
PATHS = [display_path(p).replace("[i]", "[0]") for p in FIELDS]
FUZZ = settings(max_examples=40, deadline=None, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])

big_ints = st.sampled_from([0, -1, 1, 2**31, 2**63, 10**9, 10**30, 10**400])
numbers = st.one_of(st.integers(-10**6, 10**6), big_ints,
                    st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([1e9, 1e300, -0.0]))
scalars = st.one_of(numbers, st.booleans(), st.text(max_size=30), st.sampled_from(["x" * 20_000, "cuda", "npz"]))
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                                           max_size=3), max_leaves=8)


def _section_dicts() -> st.SearchStrategy[dict]:
    """A config dict: a few real dotted fields (and some unknown ones) set to hostile values."""
    keys = st.one_of(st.sampled_from(PATHS), st.text(min_size=1, max_size=12))
    return st.dictionaries(keys, values, min_size=1, max_size=5).map(_nest)


def _nest(flat: dict) -> dict:
    out: dict = {}
    for key, value in flat.items():
        parts = [p for p in key.replace("[0]", "").split(".") if p]
        if not parts:
            continue
        cur = out
        for p in parts[:-1]:
            nxt = cur.setdefault(p, {})
            if not isinstance(nxt, dict):
                break
            cur = nxt
        else:
            cur[parts[-1]] = value
    return out or {"name": "x"}


def _check(argv: list[str], capsys) -> tuple[int, str]:
    t0 = time.perf_counter()
    code = cli.main(argv, out=io.StringIO())
    elapsed = time.perf_counter() - t0
    err = capsys.readouterr().err
    assert code in (0, 2), (argv, code, err)
    assert "Traceback" not in err and len(err.strip().splitlines()) <= 1, err
    assert elapsed < 10, (argv, elapsed)  # refused or accepted by checks, never by building something big
    return code, err


@FUZZ
@given(data=_section_dicts())
def test_generated_toml_configs(tmp_path: Path, capsys, data: dict) -> None:
    try:
        text = tomli_w.dumps(data)
    except (TypeError, ValueError):  # NaN keys and the like that TOML cannot hold
        return
    path = tmp_path / "fuzz.toml"
    path.write_text(text, encoding="utf-8")
    before = set(tmp_path.rglob("*"))
    _check(["run", str(path), "--check", "--set", 'device="cpu"'], capsys)
    assert set(tmp_path.rglob("*")) == before


@FUZZ
@given(raw=st.one_of(st.binary(max_size=300), st.text(max_size=200).map(lambda t: t.encode("utf-16")),
                     st.text(max_size=200).map(lambda t: b"\xef\xbb\xbf" + t.encode())))
def test_random_bytes_as_config(tmp_path: Path, capsys, raw: bytes) -> None:
    path = tmp_path / "bytes.toml"
    path.write_bytes(raw)
    _check(["run", str(path), "--check"], capsys)


@FUZZ
@given(key=st.one_of(st.sampled_from(PATHS), st.text(max_size=20)), value=st.one_of(
    st.text(max_size=40), st.sampled_from(["1e9", "[1e9]", "inf", "nan", "-1", "1" * 500, "[" * 5000,
                                           '"' + "x" * 100_000 + '"', "{a = 1}", "[[1, 2], [3]]"]),
    numbers.map(str)))
def test_set_overrides(capsys, key: str, value: str) -> None:
    _check(["run", "quick-demo", "--check", "--set", 'device="cpu"', "--set", f"{key}={value}"], capsys)


def _limited(argv: list[str], cwd: Path) -> subprocess.CompletedProcess:
    """`python -m desktop_app ...` with a 6 GiB address-space limit: a hostile size that got through would die."""
    limit = 6 * 1024**3

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYTHONPATH": str(ROOT), "HOME": str(cwd)}
    return subprocess.run([sys.executable, "-m", "desktop_app", *argv], capture_output=True, text=True, cwd=cwd,
                          env=env, timeout=HANG_S, preexec_fn=cap)


@pytest.mark.parametrize(("toml", "fragment"), [
    ('[sweep]\nfield = "model.depth"\nvalues = [1e9]\n', "sweep.values: model.depth must be in [1, 100]"),
    ("[model]\nlayers = [" + "{}," * 200 + "]\n", "model.layers: must hold at most 100 layers"),
    ("a = " + "[" * 20_000 + "]" * 20_000 + "\n", "nested deeper"),
    ("", "is empty"),
])
def test_hostile_configs_from_the_real_entry_point(tmp_path: Path, toml: str, fragment: str) -> None:
    path = tmp_path / "hostile.toml"
    path.write_text(toml)
    t0 = time.perf_counter()
    proc = _limited(["run", str(path), "--check"], tmp_path)
    assert proc.returncode == 2, proc.stderr
    (line,) = proc.stderr.strip().splitlines()
    assert fragment in line and "Traceback" not in proc.stderr
    assert time.perf_counter() - t0 < 60
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hostile.toml"]
