"""The holes of issue 23: FIFOs and other non-regular files, compressed checkpoint bombs, unwritable run folders,
unchecked checkpoints in the analyses, terminal escapes, delete of a folder Basin refuses to open, and out-of-range
metrics (docs/SECURITY.md).

Whatever could hang if a fix regressed (a FIFO opened for reading blocks until a writer comes) runs in a child
process with a generous timeout, so a regression fails the test instead of hanging the suite."""

from __future__ import annotations

import collections
import io
import json
import os
import pickle
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import torch

from desktop_app.core.runfolder import RunFolder, RunFolderError, list_runs, read_metrics
from desktop_app.core.runfolder.lock import RunFolderLocked
from desktop_app.core.runfolder.trash import trash_run
from desktop_app.core.training.checkpoints import CheckpointError, open_checkpoint

from .test_runfolders import assert_one_line_error, run_cli

REPO = Path(__file__).resolve().parents[2]
TIMEOUT = 120  # seconds: far more than any of these needs; only a hang reaches it
ESCAPES = "\x1b]0;pwned\x07\x1b[2J\x9b31m"  # set-title, clear-screen, an 8-bit CSI


def child(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """A Python child process in the repository (killed and failed after TIMEOUT seconds)."""
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=TIMEOUT, cwd=REPO,
                          env={**os.environ, "PYTHONPATH": str(REPO), "QT_QPA_PLATFORM": "offscreen", **(env or {})})


def basin(*argv: str) -> subprocess.CompletedProcess:
    return child("-m", "desktop_app.cli", *argv)


def assert_child_error(proc: subprocess.CompletedProcess, *needles: str) -> None:
    assert_one_line_error(proc.returncode, proc.stderr, *needles)


def make_fifo(path: Path) -> None:
    if path.exists() or path.is_symlink():
        path.unlink()
    os.mkfifo(path)


# -- 1. FIFOs and other non-regular files ----------------------------------------------------------------------


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_fifo_config_is_refused_by_runs_table_diff_and_resume_without_hanging(run_copy, sandbox):
    workspace, _ = sandbox
    make_fifo(run_copy / "config.toml")
    table = basin("runs", "--table", str(workspace))
    assert table.returncode == 0 and "Traceback" not in table.stderr, table.stderr
    assert "FIFO" in table.stdout  # the row's problem names what the file is
    assert_child_error(basin("diff", str(run_copy), str(run_copy)), "config.toml", "FIFO")
    assert_child_error(basin("resume", str(run_copy), "--quiet"), "config.toml", "FIFO")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_fifo_latest_pt_is_refused_by_resume_without_hanging(run_copy):
    (run_copy / "metrics.csv").unlink()  # a stopped run: resume reads every latest.pt
    latest = run_copy / "checkpoints" / "dae" / "s0" / "latest.pt"
    make_fifo(latest)
    manifest = (run_copy / "manifest.json").read_bytes()
    assert_child_error(basin("resume", str(run_copy), "--quiet"), "latest.pt", "FIFO")
    assert (run_copy / "manifest.json").read_bytes() == manifest


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_fifo_checkpoints_are_refused_by_the_analyses_and_open_checkpoint(run_copy):
    weights = sorted((run_copy / "checkpoints" / "none" / "s0").glob("e*.pt"))[-1]
    make_fifo(weights)
    script = (
        "import sys\nfrom pathlib import Path\n"
        "from desktop_app.core.analysis.landscape import load_params\n"
        "from desktop_app.core.training.checkpoints import CheckpointError, open_checkpoint\n"
        "from desktop_app.core.runfolder import RunFolderError\n"
        "run, path = Path(sys.argv[1]), Path(sys.argv[2])\n"
        "try:\n    load_params(run, 'none', 0, int(path.stem[1:]))\nexcept RunFolderError as e:\n    print(e)\n"
        "try:\n    open_checkpoint(path)\nexcept CheckpointError as e:\n    print(e)\n")
    proc = child("-c", script, str(run_copy), str(weights))
    lines = proc.stdout.strip().splitlines()
    assert proc.returncode == 0 and len(lines) == 2, proc.stderr
    assert all(weights.name in line and "FIFO" in line for line in lines), lines


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_fifo_named_like_an_idx_file_is_refused_not_waited_on(tmp_path):
    """data.path's IDX files go through the checked reader too: a FIFO (no writer) is one ConfigError naming it."""
    fifo = tmp_path / "train-images-idx3-ubyte"
    make_fifo(fifo)
    script = ("import sys\nfrom desktop_app.core.config import ConfigError\n"
              "from desktop_app.core.data import read_idx\n"
              "try:\n    read_idx(sys.argv[1])\nexcept ConfigError as e:\n    print(e)\n")
    proc = child("-c", script, str(fifo))
    assert proc.returncode == 0, proc.stderr
    (line,) = proc.stdout.strip().splitlines()
    assert "data.path" in line and fifo.name in line and "FIFO" in line, line


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_opening_a_run_with_a_fifo_in_the_window_is_a_dialog_not_a_hang(run_copy):
    make_fifo(run_copy / "manifest.json")
    script = (
        "import sys\nfrom pathlib import Path\nfrom PySide6.QtWidgets import QApplication\n"
        "from desktop_app.ui.main_window import MainWindow\n"
        "from desktop_app.workers.run_controller import RunController\n"
        "app = QApplication([])\nctrl = RunController(threads=1)\nwindow = MainWindow(ctrl)\nctrl.setParent(window)\n"
        "opened = window.open_run(Path(sys.argv[1]))\n"
        "box = window.last_message_box\n"
        "print('opened' if opened else 'refused', box.text().replace(chr(10), ' ') if box else '')\n"
        "window.close()\n")
    proc = child("-c", script, str(run_copy), env={"BASIN_WORKSPACE": str(run_copy.parent)})
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.startswith("refused") and "manifest.json" in proc.stdout and "FIFO" in proc.stdout


# -- 2. compressed checkpoint bombs --------------------------------------------------------------------------


def write_compressed_pt(path: Path, n_values: int, extra: dict | None = None) -> None:
    """A .pt that torch.load reads, holding one float tensor of ``n_values`` zeros, deflate-compressed: 60 M
    values (240 MB) take about 1 MB. Built in pieces, so making it allocates nothing large."""
    class Storage:  # stands for the float storage, written as the persistent id torch.save writes
        pass

    storage = Storage()

    class Tensor:
        def __reduce_ex__(self, _protocol):
            return torch._utils._rebuild_tensor_v2, (storage, 0, (n_values,), (1,), False, collections.OrderedDict())

    class Pickler(pickle.Pickler):
        def persistent_id(self, obj):
            return ("storage", torch.FloatStorage, "0", "cpu", n_values) if obj is storage else None

    buf = io.BytesIO()
    Pickler(buf, protocol=2).dump({"model": {"weight": Tensor()}, **(extra or {})})
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        zf.writestr("archive/data.pkl", buf.getvalue())
        zf.writestr("archive/byteorder", "little")
        zf.writestr("archive/version", "3\n")
        with zf.open("archive/data/0", "w", force_zip64=True) as fh:
            chunk, left = bytes(2**20), 4 * n_values
            while left:
                fh.write(chunk[: min(left, len(chunk))])
                left -= min(left, len(chunk))


BOMB_VALUES = 60_000_000  # over the 50 M parameter limit; 240 MB once unpacked


def test_a_compressed_checkpoint_bomb_is_refused_before_it_is_unpacked(pristine_run, tmp_path):
    cfg = (pristine_run / "config.toml").read_text()
    bomb = tmp_path / "bomb.pt"
    write_compressed_pt(bomb, BOMB_VALUES, {"config": cfg})
    assert bomb.stat().st_size < 4 * 2**20
    script = (
        "import resource, sys\nfrom pathlib import Path\n"
        "from desktop_app.core.training.checkpoints import CheckpointError\n"
        "from desktop_app.workers.checkpoint_service import _open_summary\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "try:\n    print('opened', _open_summary(sys.argv[1])['parameters'])\n"
        "except CheckpointError as e:\n    print('refused', e)\n"
        "print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024)\n")  # MiB (Linux: KiB)
    proc = child("-c", script, str(bomb))
    assert proc.returncode == 0, proc.stderr[-2000:]
    verdict, grown = proc.stdout.strip().splitlines()
    assert verdict.startswith("refused bomb.pt: refused:") and "compressed" in verdict, verdict
    assert int(grown) < 100, f"File > Open checkpoint grew by {grown} MiB before refusing"


def test_a_small_compressed_checkpoint_is_refused_too(pristine_run, tmp_path):
    """torch.save stores entries uncompressed; any compressed entry is refused, whatever it unpacks to."""
    good = next((pristine_run / "checkpoints" / "none" / "s0").glob("e*.pt"))
    assert open_checkpoint(good)["model"]
    recompressed = tmp_path / good.name
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(recompressed, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(info.filename, src.read(info))
    with pytest.raises(CheckpointError, match="is compressed") as err:
        open_checkpoint(recompressed)
    assert str(err.value).startswith(good.name) and "\n" not in str(err.value)


def test_resume_refuses_a_compressed_latest_pt_naming_it(run_copy, capsys):
    (run_copy / "metrics.csv").unlink()
    latest = run_copy / "checkpoints" / "none" / "s0" / "latest.pt"
    write_compressed_pt(latest, 1_000_000, {"stage": "finetune", "epoch": 1, "optimizer": {}})
    code, _out, err = run_cli(capsys, "resume", str(run_copy), "--quiet")
    assert_one_line_error(code, err, "latest.pt", "compressed")


def test_a_checkpoint_over_the_parameter_limit_is_refused_even_stored(tmp_path, monkeypatch, pristine_run):
    """The parameter limit holds for an uncompressed file too (checked on the loaded tensors)."""
    import desktop_app.core.training.checkpoint_file as checkpoint_file

    monkeypatch.setattr(checkpoint_file, "MAX_PARAMETERS", 100)
    path = tmp_path / "big.pt"
    torch.save({"model": {"w": torch.zeros(101)}, "config": (pristine_run / "config.toml").read_text()}, path)
    with pytest.raises(CheckpointError, match="101 parameters, more than the limit of 100"):
        open_checkpoint(path)


# -- 3. unwritable run folders --------------------------------------------------------------------------------


def _unwritable_targets(tmp_path: Path) -> list[tuple[str, Path]]:
    """Run folders that cannot be made, even by root: under a regular file, and (Linux) inside /proc."""
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder\n")
    targets = [("under a file", blocker / "run")]
    if Path("/proc/self").is_dir():
        targets.append(("read-only file system", Path("/proc") / f"basin-test-{os.getpid()}" / "run"))
    return targets


@pytest.mark.parametrize("check", [True, False], ids=["check", "run"])
def test_an_unwritable_out_is_one_line_and_check_catches_it(tmp_path, capsys, check):
    for _what, out in _unwritable_targets(tmp_path):
        code, stdout, err = run_cli(capsys, "run", "quick-demo", "--out", str(out), *(["--check"] if check else []))
        assert_one_line_error(code, err, str(out))
        assert "ok:" not in stdout
        assert not out.exists()


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_workspace_is_one_line_and_check_catches_it(tmp_path, capsys):
    workspace = tmp_path / "ro"
    workspace.mkdir()
    workspace.chmod(0o555)
    try:
        for extra in (["--check"], []):
            code, stdout, err = run_cli(capsys, "run", "quick-demo", "--workspace", str(workspace), *extra)
            assert_one_line_error(code, err, str(workspace))
    finally:
        workspace.chmod(0o755)


def test_taking_the_lock_of_a_folder_that_cannot_be_made_is_one_error(tmp_path):
    for _what, out in _unwritable_targets(tmp_path):
        with pytest.raises(RunFolderError, match="cannot create the run folder") as err:
            RunFolder(out).lock()
        assert "\n" not in str(err.value)


# -- 4. the analyses check the checkpoints they read ------------------------------------------------------------


@pytest.mark.parametrize("damage", ["model-is-a-string", "no-model", "truncated", "shapes", "integers"])
def test_an_analysis_of_a_bad_weights_checkpoint_is_one_line_naming_the_file(run_copy, damage):
    from desktop_app.core.analysis.landscape import load_params

    path = sorted((run_copy / "checkpoints" / "dae" / "s0").glob("e*.pt"))[-1]
    epoch = int(path.stem[1:])
    state = torch.load(path, weights_only=True)
    if damage == "model-is-a-string":
        torch.save({**state, "model": "weights"}, path)
    elif damage == "no-model":
        torch.save({"config": state.get("config", "")}, path)
    elif damage == "truncated":
        path.write_bytes(path.read_bytes()[:200])
    elif damage == "shapes":
        torch.save({**state, "model": {k: torch.zeros(3) for k in state["model"]}}, path)
    else:
        torch.save({**state, "model": {k: torch.zeros(v.shape, dtype=torch.int64) for k, v in state["model"].items()}},
                   path)
    with pytest.raises(RunFolderError) as err:
        load_params(run_copy, "dae", 0, epoch)
    assert path.name in str(err.value) and "\n" not in str(err.value)


def test_the_window_reports_a_bad_checkpoint_as_one_line_without_a_traceback(run_copy, qtbot, capfd):
    from desktop_app.workers.analysis_worker import AnalysisRunner

    path = sorted((run_copy / "checkpoints" / "dae" / "s0").glob("e*.pt"))[-1]
    torch.save({"model": "weights"}, path)
    runner = AnalysisRunner(threads=1)
    try:
        job = runner.start("landscape", run_copy, {"arm": "dae", "seed": 0, "resolution": 5, "n_eval": 50})
        qtbot.waitUntil(lambda: job.state in ("finished", "failed", "cancelled"), timeout=60_000)
    finally:
        assert runner.shutdown(5000)
    assert job.state == "failed"
    assert path.name in job.error and "\n" not in job.error and "detach" not in job.error
    assert "Traceback" not in capfd.readouterr().err


# -- 5. terminal escapes -------------------------------------------------------------------------------------


def _hostile_names(run_copy: Path) -> Path:
    manifest = json.loads((run_copy / "manifest.json").read_text())
    manifest.update(name="x" + ESCAPES, status="completed" + ESCAPES, created="2026" + ESCAPES)
    (run_copy / "manifest.json").write_text(json.dumps(manifest))
    cfg = (run_copy / "config.toml").read_text()
    (run_copy / "config.toml").write_text(cfg.replace('name = "tiny"', 'name = "tiny\\u001b[2J\\u009b31m"', 1))
    hostile = run_copy.with_name("run" + ESCAPES)
    run_copy.rename(hostile)
    return hostile


def assert_no_control_characters(text: str) -> None:
    bad = sorted({ch for ch in text if not ch.isprintable() and ch != "\n"})
    assert not bad, f"printed raw control characters {bad!r}"


def test_nothing_read_from_a_run_folder_reaches_the_terminal_raw(run_copy, sandbox, capsys):
    workspace, _ = sandbox
    hostile = _hostile_names(run_copy)
    second = workspace / "unreadable"
    second.mkdir()
    (second / "manifest.json").write_text(json.dumps({"name": 5, "status": ESCAPES}))
    for argv in (["runs", str(workspace)], ["runs", "--table", str(workspace)],
                 ["run", str(hostile / "config.toml"), "--check", "--out", str(workspace / ("new" + ESCAPES))]):
        code, out, err = run_cli(capsys, *argv)
        assert code == 0, err
        assert_no_control_characters(out + err)
        assert "\\x1b" in out, out  # shown escaped, not dropped
    code, out, err = run_cli(capsys, "runs", str(workspace))
    assert "run\\x1b]0;pwned\\x07" in out and "completed\\x1b" in out


def test_config_values_in_a_diff_are_escaped(tmp_path, capsys, pristine_run):
    a = tmp_path / "a.toml"
    b = tmp_path / "b.toml"
    cfg = (pristine_run / "config.toml").read_text()
    a.write_text(cfg)
    b.write_text(cfg.replace('path = ""', 'path = "d\\u001b]0;t\\u0007"'))  # diff ignores the name
    code, out, err = run_cli(capsys, "diff", str(a), str(b))
    assert code == 0, err
    assert_no_control_characters(out)
    assert "\\x1b]0;t\\x07" in out


# -- 7. deleting a folder Basin refuses to open ----------------------------------------------------------------


@pytest.fixture
def trash_home(tmp_path, monkeypatch):
    """A private system trash. send2trash reads XDG_DATA_HOME once, when first imported, so its cached paths are
    pointed here too (otherwise the trash of whichever test imported it first is used)."""
    import send2trash.plat_other as plat

    home = tmp_path / "xdg"
    home.mkdir()
    monkeypatch.setenv("XDG_DATA_HOME", str(home))
    monkeypatch.setattr(plat, "XDG_DATA_HOME", os.fsencode(home))
    monkeypatch.setattr(plat, "HOMETRASH_B", os.fsencode(home / "Trash"))
    monkeypatch.setattr(plat, "HOMETRASH", str(home / "Trash"))
    return home / "Trash"


def test_a_folder_with_a_link_out_goes_to_the_trash_and_the_target_stays(run_copy, sandbox, trash_home):
    workspace, outside = sandbox
    victim = outside / "victim.txt"
    victim.write_text("keep me\n")
    shutil.rmtree(run_copy / "snapshots")
    (run_copy / "snapshots").symlink_to(outside)
    (run_copy / "latest-out.pt").symlink_to(victim)
    with pytest.raises(RunFolderError, match="leads out of the run folder"):
        RunFolder(run_copy).check_links()  # Basin refuses to open it...
    trash_run(run_copy, workspace)  # ...and can still delete it
    assert not run_copy.exists() and not run_copy.is_symlink()
    trashed = trash_home / "files" / run_copy.name
    assert (trashed / "snapshots").is_symlink() and (trashed / "config.toml").is_file()
    assert victim.read_text() == "keep me\n" and sorted(p.name for p in outside.iterdir()) == ["victim.txt"]


def test_a_forged_lock_says_which_file_to_remove(run_copy, sandbox, trash_home):
    import socket

    workspace, _ = sandbox
    lock = run_copy / ".basin.lock"
    lock.write_text(json.dumps({"pid": 1, "host": socket.gethostname(), "started": 1.0}))
    with pytest.raises(RunFolderLocked) as err:
        trash_run(run_copy, workspace)
    assert str(lock) in str(err.value) and "delete" in str(err.value) and "\n" not in str(err.value)
    assert run_copy.is_dir()
    lock.unlink()  # what the message says to do
    trash_run(run_copy, workspace)
    assert not run_copy.exists()


def test_the_runs_pane_deletes_a_folder_with_a_link_out_and_names_a_forged_lock(qtbot, run_copy, sandbox, trash_home,
                                                                               monkeypatch):
    import socket

    from desktop_app.ui.run_history import RunHistory
    from desktop_app.workers.background import Task

    workspace, outside = sandbox
    shutil.rmtree(run_copy / "snapshots")
    (run_copy / "snapshots").symlink_to(outside)
    forged = workspace / "forged"
    shutil.copytree(run_copy, forged, symlinks=True)
    (forged / "snapshots").unlink()
    (forged / ".basin.lock").write_text(json.dumps({"pid": 1, "host": socket.gethostname(), "started": 1.0}))
    pane = RunHistory(workspace, task_factory=Task)
    qtbot.addWidget(pane)
    pane.show()
    assert pane.wait_loaded()
    monkeypatch.setattr(pane, "confirm_delete", lambda runs: True)
    pane.select_path(run_copy)
    assert pane.delete_button.isEnabled()
    assert pane.delete_selected() == [run_copy] and not run_copy.exists()
    pane.select_path(forged)
    assert pane.delete_button.isEnabled()  # a foreign lock does not hide Delete: trying says what to do
    assert pane.delete_selected() == [] and forged.is_dir()
    assert pane.last_message_box is not None and str(forged / ".basin.lock") in pane.last_message_box.text()
    pane.last_message_box.close()


# -- the smaller ones -------------------------------------------------------------------------------------------


def test_basin_runs_of_a_missing_folder_is_one_line_and_exit_2(tmp_path, capsys):
    for argv in (["runs", str(tmp_path / "missing")], ["runs", "--table", str(tmp_path / "missing")]):
        code, out, err = run_cli(capsys, *argv)
        assert_one_line_error(code, err, "missing", "not a folder")
        assert out == ""


@pytest.mark.parametrize("value", ["inf", "nan", "-inf", "1.5", "-0.1"])
def test_a_metrics_error_out_of_range_is_refused_naming_file_and_row(run_copy, sandbox, capsys, value):
    path = run_copy / "metrics" / "none_s0.csv"
    lines = path.read_text().splitlines()
    header = lines[0].split(",")
    row = next(i for i, line in enumerate(lines) if ",finetune," in line and ",test," in line)
    cells = lines[row].split(",")
    cells[header.index("error")] = value
    lines[row] = ",".join(cells)
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(RunFolderError) as err:
        read_metrics(run_copy)
    assert f"none_s0.csv line {row + 1}" in str(err.value) and "error" in str(err.value)
    info = next(i for i in list_runs(sandbox[0]) if i.path == run_copy)
    assert not info.readable and "none_s0.csv" in info.problem
    code, out, _err = run_cli(capsys, "runs", str(sandbox[0]))
    assert code == 0 and "inf%" not in out and "nan%" not in out
