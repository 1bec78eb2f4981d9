"""Crafted run folders: opening one runs nothing of its author's, writes nothing outside it, and every refusal is
one line naming the file (docs/SECURITY.md)."""

from __future__ import annotations

import io
import json
import os
import stat
from pathlib import Path

import numpy as np
import pytest
import torch

from desktop_app import cli
from desktop_app.core import config as c
from desktop_app.core.analysis.store import cache_key, load_result, run_sources, save_result
from desktop_app.core.atomic import current_umask
from desktop_app.core.config import ConfigError
from desktop_app.core.data.imports import pool_from_npz
from desktop_app.core.events import AnalysisFinished
from desktop_app.core.results import OutputVarianceResult
from desktop_app.core.runfolder import RunFolderError, list_runs, read_manifest, replay
from desktop_app.core.training.checkpoints import CheckpointError, export_model, list_checkpoints, open_checkpoint

from .conftest import files_under


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    out = io.StringIO()
    code = cli.main(list(argv), out=out)
    err = capsys.readouterr().err
    return code, out.getvalue(), err


def assert_one_line_error(code: int, err: str, *needles: str) -> None:
    lines = err.strip().splitlines()
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith("basin: error:"), err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in lines[0], err


# -- 1. nothing of the author's runs -------------------------------------------------------------------------


def _craft_cache_entry(run: Path, name: str, key: str, target: Path) -> None:
    """The old cache's exploit: a JSON naming a function the loader imported and called with the npz's fields."""
    (run / "analyses").mkdir(exist_ok=True)
    np.savez(run / "analyses" / f"{name}-{key}.npz", path=np.array(str(target)), text=np.array("import os\n"))
    (run / "analyses" / f"{name}-{key}.json").write_text(json.dumps({
        "name": name, "key": key, "params": {}, "created": "2099-01-01T00:00:00",
        "class": "desktop_app.core.analysis.store:write_text_atomic",
        "fields": {"path": "str", "text": "str"}, "store_version": 1,
    }))


def test_a_crafted_analysis_cache_entry_never_calls_anything(run_copy, sandbox):
    _, outside = sandbox
    target = outside / "evil.pth"
    _craft_cache_entry(run_copy, "output_variance", "0123456789abcdef", target)
    key = cache_key("landscape", {}, run_sources(run_copy))
    _craft_cache_entry(run_copy, "landscape", key, target)
    events = list(replay(run_copy))
    assert not [e for e in events if isinstance(e, AnalysisFinished)]
    assert load_result(run_copy, "landscape", {}, run_sources(run_copy)) is None
    assert not target.exists() and files_under(outside) == []


def test_a_cache_entry_of_an_allowed_type_with_wrong_fields_is_a_miss(run_copy):
    result = OutputVarianceResult(("none",), np.arange(2), np.arange(2), np.zeros((1, 2)), 10, 3, "pool", 0)
    save_result(run_copy, "output_variance", {"a": 1}, result)
    again = load_result(run_copy, "output_variance", {"a": 1})
    assert isinstance(again, OutputVarianceResult) and again.arms == result.arms and again.seed == result.seed
    assert np.array_equal(again.variance, result.variance) and np.array_equal(again.positions, result.positions)
    npz = next((run_copy / "analyses").glob("output_variance-*.npz"))
    np.savez(npz, **{"arms": np.array(["none"]), "positions": np.array(["not", "numbers"])})
    assert load_result(run_copy, "output_variance", {"a": 1}) is None


@pytest.mark.parametrize("field", ["arms", "positions", "block_start", "variance"])
def test_a_cache_entry_whose_fields_disagree_in_length_is_a_miss(run_copy, field):
    """Fields a panel zips together (each arm's variance per block position) must agree in length: a file where
    one is a row short is a miss (the analysis recomputes it), never a shorter CSV or a panel that raises."""
    result = OutputVarianceResult(("none", "dae"), np.arange(3), 10 * np.arange(3), np.ones((2, 3)), 10, 3, "pool", 0)
    save_result(run_copy, "output_variance", {"a": 1}, result)
    npz = next((run_copy / "analyses").glob("output_variance-*.npz"))
    with np.load(npz) as data:
        arrays = {k: data[k] for k in data.files}
    arrays[field] = arrays[field][:-1]
    np.savez(npz, **arrays)
    assert load_result(run_copy, "output_variance", {"a": 1}) is None
    with pytest.raises(ValueError, match="variance has 2 along A, not 1"):
        save_result(run_copy, "output_variance", {"a": 2}, OutputVarianceResult(
            ("none",), np.arange(3), 10 * np.arange(3), np.ones((2, 3)), 10, 3, "pool", 0))


def test_snapshots_as_a_symlink_out_is_refused_and_nothing_is_written_there(run_copy, sandbox, capsys):
    _, outside = sandbox
    manifest = run_copy / "manifest.json"
    manifest.write_text(manifest.read_text().replace('"completed"', '"stopped"'))
    for p in (run_copy / "checkpoints").rglob("latest.pt"):
        p.unlink()  # so resume would retrain and write snapshots
    os.rename(run_copy / "snapshots", outside / "snaps")
    (run_copy / "snapshots").symlink_to(outside / "snaps")
    before = files_under(outside)
    code, _, err = run_cli(capsys, "resume", str(run_copy), "--quiet")
    assert_one_line_error(code, err, "snapshots", "leads out of the run folder")
    with pytest.raises(RunFolderError, match="leads out"):
        list(replay(run_copy))
    assert files_under(outside) == before


def test_latest_pt_linked_to_a_system_file_is_refused(run_copy, sandbox, capsys):
    _, outside = sandbox
    secret = outside / "passwd"
    secret.write_text("root:x:0:0:root:/root:/bin/bash\n")
    latest = run_copy / "checkpoints" / "dae" / "s0" / "latest.pt"
    latest.unlink()
    latest.symlink_to(secret)
    code, _, err = run_cli(capsys, "resume", str(run_copy), "--quiet")
    assert_one_line_error(code, err, "latest.pt", "leads out of the run folder")
    (run_copy / "checkpoints" / "dae" / "s0" / "latest.pt").unlink()
    (run_copy / "checkpoints" / "dae" / "s0" / "latest.pt").symlink_to("/etc/passwd")
    code, _, err = run_cli(capsys, "resume", str(run_copy), "--quiet")
    assert_one_line_error(code, err, "latest.pt")
    assert secret.read_text().startswith("root:x") and files_under(outside) == [secret]


def test_an_analyses_folder_linked_out_is_never_written(run_copy, sandbox):
    _, outside = sandbox
    (run_copy / "analyses").symlink_to(outside)
    result = OutputVarianceResult(("none",), np.arange(2), np.arange(2), np.zeros((1, 2)), 10, 3, "pool", 0)
    with pytest.raises(RunFolderError, match="leads out"):
        save_result(run_copy, "output_variance", {}, result)
    assert files_under(outside) == []


# -- 3. resume checks ----------------------------------------------------------------------------------------


def _stopped(run: Path) -> None:
    m = json.loads((run / "manifest.json").read_text())
    m["status"] = "stopped"
    (run / "manifest.json").write_text(json.dumps(m))


def test_resume_refuses_an_edited_config_unless_forced(run_copy, capsys):
    _stopped(run_copy)
    cfg = c.load(run_copy / "config.toml")
    original_hash = read_manifest(run_copy)["config_hash"]
    edited = cfg.with_overrides({"finetune.epochs": 3})
    c.save(edited, run_copy / "config.toml")
    manifest_before = (run_copy / "manifest.json").read_bytes()
    code, _, err = run_cli(capsys, "resume", str(run_copy), "--quiet")
    assert_one_line_error(code, err, "config.toml", "edited", original_hash, edited.hash(), "--force")
    assert (run_copy / "manifest.json").read_bytes() == manifest_before
    code, _, err = run_cli(capsys, "resume", str(run_copy), "--quiet", "--force")
    assert code == 0, err
    m = read_manifest(run_copy)
    assert m["config_hash"] == edited.hash() and m["status"] == "completed"
    assert m["config_changes"][0]["from_hash"] == original_hash and m["config_changes"][0]["to_hash"] == edited.hash()
    assert m["name"] == "tiny" and m["created"] and m["versions"]


@pytest.mark.parametrize("damage", ["truncated", "garbage", "shapes", "not-a-dict"])
def test_a_bad_resume_state_is_one_line_naming_the_file(run_copy, capsys, damage):
    _stopped(run_copy)
    latest = run_copy / "checkpoints" / "dae" / "s0" / "latest.pt"
    data = latest.read_bytes()
    if damage == "truncated":
        latest.write_bytes(data[: len(data) // 2])
    elif damage == "garbage":
        latest.write_bytes(os.urandom(300))
    elif damage == "shapes":
        state = torch.load(latest, weights_only=True)
        state["model"] = {k: torch.zeros(*(s + 1 for s in v.shape)) for k, v in state["model"].items()}
        torch.save(state, latest)
    else:
        torch.save([1, 2, 3], latest)
    manifest_before = (run_copy / "manifest.json").read_bytes()
    code, _, err = run_cli(capsys, "resume", str(run_copy), "--quiet")
    assert_one_line_error(code, err, str(latest))
    if damage == "shapes":
        assert "does not match the config's model" in err
    assert (run_copy / "manifest.json").read_bytes() == manifest_before


@pytest.mark.parametrize("text", ['{"name": "x", "seeds": "abc"}', '{"name": 5}', "[1, 2]", "{not json",
                                  "[" * 100_000, '{"arms": ["none", 3]}'])
def test_a_manifest_of_wrong_types_is_never_rewritten(run_copy, capsys, text):
    (run_copy / "manifest.json").write_text(text)
    code, _, err = run_cli(capsys, "resume", str(run_copy), "--quiet")
    assert_one_line_error(code, err, "manifest.json")
    assert (run_copy / "manifest.json").read_text() == text
    with pytest.raises(RunFolderError, match="manifest.json"):
        list(replay(run_copy))
    assert (run_copy / "manifest.json").read_text() == text


# -- 4. a bad folder never takes the workspace down -----------------------------------------------------------


def _bad_folders(pristine: Path, workspace: Path) -> dict[str, str]:
    """Damaged copies beside one good run: folder name -> what the listing must say (or "" = readable)."""
    import shutil

    damages = {
        "bom-csv": lambda r: (r / "metrics" / "none_s0.csv").write_bytes(
            b"\xef\xbb\xbf" + (r / "metrics" / "none_s0.csv").read_bytes()),
        "bad-bytes": lambda r: (r / "metrics" / "none_s0.csv").write_bytes(b"arm,seed\n\xff\xfe\x00bad"),
        "seed-not-a-number": lambda r: (r / "metrics" / "none_s0.csv").write_text(
            (r / "metrics" / "none_s0.csv").read_text().replace("none,0,", "none,zero,")),
        "manifest-seeds": lambda r: (r / "manifest.json").write_text('{"name": "x", "seeds": ["a", "b"]}'),
        "nested-config": lambda r: (r / "config.toml").write_text("a = " + "[" * 20_000 + "]" * 20_000 + "\n"),
        "nested-manifest": lambda r: (r / "manifest.json").write_text("[" * 50_000 + "]" * 50_000),
    }
    expected = {"good": "", "bom-csv": "", "nested-config": "", "bad-bytes": "not UTF-8",
                "seed-not-a-number": "seed 'zero'", "manifest-seeds": "'seeds' must be a list of integers",
                "nested-manifest": "nested too deeply"}
    shutil.copytree(pristine, workspace / "good")
    for name, damage in damages.items():
        shutil.copytree(pristine, workspace / name)
        damage(workspace / name)
    return expected


def test_basin_runs_lists_every_readable_run_and_the_unreadable_with_the_reason(pristine_run, sandbox, capsys):
    workspace, _ = sandbox
    expected = _bad_folders(pristine_run, workspace)
    infos = {i.path.name: i for i in list_runs(workspace)}
    assert set(infos) == set(expected)
    for name, problem in expected.items():
        if problem:
            assert infos[name].status == "unreadable" and problem in infos[name].problem, (name, infos[name])
        else:
            assert infos[name].readable and infos[name].final_test_error, name
    code, out, err = run_cli(capsys, "runs", str(workspace))
    assert code == 0 and "Traceback" not in err
    for name, problem in expected.items():
        (line,) = [ln for ln in out.splitlines() if f" {name}" in ln]
        assert ("unreadable" in line and problem in line) if problem else "completed" in line


# -- 3 (checkpoints) and 8 (tidy files) ----------------------------------------------------------------------


def test_an_exported_safetensors_opens_again(pristine_run, tmp_path):
    ck = list_checkpoints(pristine_run)[-1]
    _pt, st = export_model(ck.path, tmp_path / "model")
    state = open_checkpoint(st)
    original = open_checkpoint(ck.path)
    assert state["experiment"] == original["experiment"]
    assert (state["arm"], state["seed"], state["epoch"]) == (original["arm"], original["seed"], original["epoch"])
    assert all(torch.equal(state["model"][k], v) for k, v in original["model"].items())
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{garbage")
    with pytest.raises(CheckpointError, match="junk.safetensors"):
        open_checkpoint(junk)


def test_a_file_that_is_not_an_npz_is_called_that(tmp_path):
    fake = tmp_path / "data.npz"
    fake.write_bytes(b"\x80\x04K\x01." + b"not a zip")
    with pytest.raises(ConfigError, match="not an npz file") as info:
        pool_from_npz(fake)
    assert "pickled" not in str(info.value)


def test_run_files_honour_the_umask_and_temp_leftovers_are_removed(run_copy, capsys):
    mode = stat.S_IMODE((run_copy / "manifest.json").stat().st_mode)
    assert mode == 0o666 & ~current_umask()
    leftovers = [run_copy / ".metrics.csv.x1.tmp", run_copy / "metrics" / ".none_s0.csv.y2.tmp"]
    for p in leftovers:
        p.write_text("half")
    list(replay(run_copy))  # open
    assert not any(p.exists() for p in leftovers)
    for p in leftovers:
        p.write_text("half")
    code, _, err = run_cli(capsys, "resume", str(run_copy), "--quiet")  # resume (a completed run: nothing to do)
    assert code == 0, err
    assert not any(p.exists() for p in leftovers)
