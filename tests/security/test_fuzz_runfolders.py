"""Property test: a run folder damaged in any of many ways (hypothesis picks files and damages) is listed,
opened and resumed with exit code 0 or 2, one line and no traceback; nothing is written outside the folder; the
workspace still lists every folder in it. The damages include what issue 23 found: a file replaced by a FIFO (a
read must never block: each example runs under an alarm), a checkpoint re-packed with compressed entries, and
control characters (terminal escape sequences) in the manifest, the config, a CSV cell and the folder's name,
which nothing Basin prints may pass to the terminal raw."""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import signal
import tempfile
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from desktop_app import cli
from desktop_app.core.analysis.store import list_results, load_result
from desktop_app.core.config import ConfigError
from desktop_app.core.runfolder import RunFolderError, list_runs, replay
from desktop_app.core.training.checkpoints import list_checkpoints

NESTED_JSON = "[" * 30_000 + "]" * 30_000
ESCAPES = ["\x1b[2J", "\x1b]0;pwned\x07", "\x9b31m", "\r\x1b[1A", "\u202e", "\x00"]
ALARM_S = 300  # far longer than one example takes; only a read blocked on a FIFO reaches it
NESTED_TOML = "a = " + "[" * 30_000 + "]" * 30_000 + "\n"

damage = st.one_of(
    st.tuples(st.just("bytes"), st.binary(max_size=64)),
    st.tuples(st.just("truncate"), st.floats(0.0, 0.99)),
    st.tuples(st.just("bom"), st.none()),
    st.tuples(st.just("text"), st.sampled_from([
        "", "{}", "[]", '{"seeds": "x"}', '{"arms": [1]}', '{"input_shape": [1e9], "n_classes": 1e12}',
        NESTED_JSON, NESTED_TOML, "arm,seed\nnone,abc\n", "\udcff".encode("utf-8", "surrogatepass").decode("latin-1"),
        'name = "x"\n[model]\nlayers = 5\n', 'kind = "standard"\narms = ["../../x"]\n'])),
    st.tuples(st.just("link-out"), st.booleans()),
    st.tuples(st.just("delete"), st.none()),
    st.tuples(st.just("csv-cell"), st.sampled_from(["zero", "nan", "-1", "1e400", "", "x" * 200, "inf", "1.5"])),
    st.tuples(st.just("fifo"), st.none()),
    st.tuples(st.just("compress"), st.none()),
    st.tuples(st.just("control"), st.sampled_from(ESCAPES)),
)


def _apply(run: Path, outside: Path, target: Path, kind: str, arg: object) -> None:
    if target.is_symlink() or not target.exists() or not (target.is_file() or target.is_dir()):
        return  # gone, a link, or a FIFO made by an earlier damage (reading it would block)
    if target.is_dir() and kind not in ("link-out", "delete"):
        return
    if kind == "bytes":
        target.write_bytes(arg)  # type: ignore[arg-type]
    elif kind == "truncate":
        data = target.read_bytes()
        target.write_bytes(data[: int(len(data) * arg)])  # type: ignore[operator]
    elif kind == "bom":
        target.write_bytes(b"\xef\xbb\xbf" + target.read_bytes())
    elif kind == "text":
        target.write_text(str(arg), encoding="utf-8", errors="surrogateescape")
    elif kind == "link-out":
        victim = outside / "victim"
        if arg:
            victim.write_text("do not touch\n")
        target.unlink() if target.is_file() else shutil.rmtree(target)
        target.symlink_to(victim if arg else outside)
    elif kind == "delete":
        target.unlink() if target.is_file() else shutil.rmtree(target)
    elif kind == "fifo" and hasattr(os, "mkfifo"):
        target.unlink() if target.is_file() else shutil.rmtree(target)
        os.mkfifo(target)
    elif kind == "compress" and target.suffix == ".pt":
        _compress(target)
    elif kind == "control":
        _control_characters(target, str(arg))
    elif kind == "csv-cell" and target.suffix == ".csv":
        lines = target.read_text().splitlines()
        if len(lines) > 1:
            cells = lines[1].split(",")
            cells[1] = str(arg)
            lines[1] = ",".join(cells)
            target.write_text("\n".join(lines) + "\n")


def _compress(target: Path) -> None:
    """The same checkpoint with its entries deflate-compressed (torch.load reads it; Basin must refuse it)."""
    try:
        with zipfile.ZipFile(target) as src:
            entries = [(info.filename, src.read(info)) for info in src.infolist()]
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        return
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as dst:
        for name, data in entries:
            dst.writestr(name, data)


def _control_characters(target: Path, esc: str) -> None:
    """Put a terminal escape sequence where Basin prints from: the manifest's name, status and created, the
    config's name, the first cell of a CSV row."""
    if target.name == "manifest.json":
        try:
            manifest = json.loads(target.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError, RecursionError):
            return
        if isinstance(manifest, dict):
            manifest.update(name=f"n{esc}", status=f"completed{esc}", created=f"2026{esc}")
            target.write_text(json.dumps(manifest), encoding="utf-8")
    elif target.name == "config.toml":
        text = target.read_text(encoding="utf-8", errors="replace")
        escaped = esc.encode("unicode_escape").decode().replace("\\x", "\\u00")
        target.write_text(text.replace('name = "tiny"', f'name = "tiny{escaped}"', 1), encoding="utf-8")
    elif target.suffix == ".csv":
        lines = target.read_text(encoding="utf-8", errors="replace").splitlines()
        if len(lines) > 1:
            lines[1] = esc + lines[1]
            target.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _assert_printable(text: str) -> None:
    raw = sorted({ch for ch in text if not ch.isprintable() and ch != "\n"})
    assert not raw, f"printed raw control characters {raw!r}: {text[-500:]!r}"


@contextlib.contextmanager
def _no_hang(seconds: int):
    """Fail (instead of hanging the suite) if anything blocks for ``seconds``: a read of a FIFO is interrupted."""
    def fail(*_args):
        raise TimeoutError(f"blocked for {seconds} s (a read of a FIFO?)")

    previous = signal.signal(signal.SIGALRM, fail)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def _snapshot(folder: Path) -> list[tuple[str, bytes]]:
    return sorted((str(p.relative_to(folder)), p.read_bytes() if p.is_file() else b"")
                  for p in folder.rglob("*"))


def _cli(*argv: str) -> tuple[int, str]:
    """Exit code and stderr; everything printed (stdout too) must be free of raw control characters."""
    err, out = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err):
        code = cli.main(list(argv), out=out)
    _assert_printable(out.getvalue() + err.getvalue())
    return code, err.getvalue()


@pytest.fixture(scope="module")
def pristine_files(pristine_run) -> tuple[Path, list[str]]:
    names = sorted(str(p.relative_to(pristine_run)) for p in pristine_run.rglob("*"))
    return pristine_run, names


@settings(max_examples=30, deadline=None, database=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_damaged_run_folders_exit_0_or_2_and_write_nothing_outside(pristine_files, data):
    with _no_hang(ALARM_S):
        _damaged_run_folder_example(pristine_files, data)


def _damaged_run_folder_example(pristine_files, data) -> None:
    pristine, names = pristine_files
    with tempfile.TemporaryDirectory() as tmp:
        workspace, outside = Path(tmp) / "workspace", Path(tmp) / "outside"
        workspace.mkdir()
        outside.mkdir()
        shutil.copytree(pristine, workspace / "good")
        run = workspace / data.draw(st.sampled_from(["damaged", *(f"damaged{esc}" for esc in ESCAPES[:4])]))
        shutil.copytree(pristine, run)
        for _ in range(data.draw(st.integers(1, 3))):
            target = run / data.draw(st.sampled_from(names))
            kind, arg = data.draw(damage)
            _apply(run, outside, target, kind, arg)
        before = _snapshot(outside)

        infos = {i.path.name: i for i in list_runs(workspace)}
        assert "good" in infos and infos["good"].readable
        code, err = _cli("runs", str(workspace))
        assert code == 0 and "Traceback" not in err
        code, err = _cli("runs", "--table", str(workspace))
        assert code == 0 and "Traceback" not in err
        try:
            list(replay(run))
        except (RunFolderError, ConfigError) as exc:  # what the window's Open shows as a dialog
            assert "\n" not in str(exc)
        try:
            list_checkpoints(run)
        except RunFolderError:
            pass
        for meta in list_results(run):
            load_result(run, str(meta.get("name", "")), meta.get("params", {}))
        code, err = _cli("resume", str(run), "--quiet")
        assert code in (0, 2), err
        assert "Traceback" not in err
        if code == 2:
            assert len(err.strip().splitlines()) == 1 and err.startswith("basin: error:"), err
        assert _snapshot(outside) == before
        assert sorted(p.name for p in Path(tmp).iterdir()) == ["outside", "workspace"]
        assert {i.path.name for i in list_runs(workspace)} >= {"good"}
        json.dumps([i.problem for i in list_runs(workspace)])  # reasons are plain strings
