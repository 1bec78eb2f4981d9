"""Hostile sizes are refused before anything is built; every bad input is one line and exit code 2."""

from __future__ import annotations

import errno
import io
import os
import time
import urllib.error
import zipfile
from pathlib import Path

import numpy as np
import pytest

from desktop_app import cli
from desktop_app.core import config as c
from desktop_app.core.atomic import write_text_atomic
from desktop_app.core.config import ConfigError
from desktop_app.core.data.imports import pool_from_npz
from desktop_app.core.data.splits import SplitIndices, check_split_memory

CPU = ["--set", 'device="cpu"']


def run_check(capsys, *argv: str) -> tuple[int, str]:
    code = cli.main(["run", *argv, "--check"], out=io.StringIO())
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) <= 1, err
    return code, err.strip()


def npz_config(tmp_path: Path, **arrays: np.ndarray) -> list[str]:
    path = tmp_path / "set.npz"
    np.savez(path, **arrays)
    return ["quick-demo", *CPU, "--set", 'data.name="npz"', "--set", f'data.path="{path}"', "--set", "data.n_test=20",
            "--set", "data.n_valid=20", "--set", "data.n_labelled=20", "--set", "data.probe_size=10"]


def test_depth_sweep_of_a_billion_is_refused_at_once(tmp_path: Path, capsys) -> None:
    cfg = tmp_path / "deep.toml"
    cfg.write_text('[sweep]\nfield = "model.depth"\nvalues = [1e9]\n')
    t0 = time.perf_counter()
    code, err = run_check(capsys, str(cfg))
    assert time.perf_counter() - t0 < 1.0
    assert code == 2 and err == "basin: error: sweep.values: model.depth must be in [1, 100], got 1e+09"
    # the same through --set, and as a checkpoint would embed it
    code, err = run_check(capsys, "quick-demo", "--set", 'sweep.field="model.width"', "--set", "sweep.values=[1e12]")
    assert code == 2 and "model.width must be in [1, 100000]" in err
    with pytest.raises(ConfigError, match="model.depth"):
        c.from_toml(cfg.read_text())


def test_valid_fields_but_enormous_net_is_one_line(capsys) -> None:
    wide = '[{kind="dense", units=100000}, {kind="dense", units=100000}]'
    code, err = run_check(capsys, "quick-demo", "--set", f"model.layers={wide}")
    assert code == 2 and err.startswith("basin: error: model.layers: the net would have")
    wide = '[{kind="conv", units=64, kernel=3}, {kind="dense", units=10}]'
    code, err = run_check(capsys, "quick-demo", "--set", "finetune.batch_size=100000", "--set", 'arms=["none"]',
                          "--set", f"model.layers={wide}")
    assert code == 2 and "GiB of layer outputs" in err


def test_conv_stack_too_small_for_its_kernel_and_pool_too_big(capsys) -> None:
    layers = '[{kind="conv", units=4, kernel=15, stride=8}, {kind="conv", units=4, kernel=5}, {kind="dense", units=8}]'
    code, err = run_check(capsys, "quick-demo", *CPU, "--set", f"model.layers={layers}")
    assert code == 2 and "model.layers[1].kernel: conv kernel 5 is larger than the 2x2 feature map" in err
    layers = '[{kind="conv", units=4, kernel=5}, {kind="pool", kernel=15, stride=8}, {kind="pool", kernel=15}]'
    code, err = run_check(capsys, "quick-demo", *CPU, "--set", f"model.layers={layers}", "--set", 'arms=["none"]')
    assert code == 2 and "model.layers[2].kernel: pool window 15 is larger than the 2x2 feature map" in err


def test_npz_label_of_a_billion_is_refused_before_allocation(tmp_path: Path, capsys) -> None:
    x = np.zeros((60, 8, 8), dtype=np.uint8)
    y = np.arange(60) % 3
    y[5] = 10**9
    code, err = run_check(capsys, *npz_config(tmp_path, x=x, y=y))
    assert code == 2 and "the largest label is 1000000000; at most 10,000 classes" in err


def test_probe_outputs_bounded_by_the_real_number_of_classes(tmp_path: Path, capsys) -> None:
    x = np.zeros((2200, 4, 4), dtype=np.uint8)
    y = np.arange(2200) % 5
    y[0] = 9_999
    args = npz_config(tmp_path, x=x, y=y)
    code, err = run_check(capsys, *args, "--set", "data.n_test=2100", "--set", "data.probe_size=2000",
                          "--set", 'model.layers=[{kind="dense", units=4}]')
    assert code == 2 and "data.probe_size: 2,000 probe examples x 10,000 classes" in err


def test_npz_sizes_checked_from_headers_and_against_the_data(tmp_path: Path, capsys) -> None:
    x = np.zeros((60, 8, 8), dtype=np.uint8)
    args = npz_config(tmp_path, x=x, y=np.arange(60) % 3)
    code, err = run_check(capsys, *args, "--set", "data.n_test=500", "--set", "data.probe_size=5")
    assert code == 2 and "data.n_test: must be <= 60 (images in the dataset), got 500" in err
    # an 8x8 image is too small for the default conv-free net? no: dense nets fit; a kernel of 9 does not
    code, err = run_check(capsys, *args, "--set", 'model.layers=[{kind="conv", units=2, kernel=9}]',
                          "--set", 'arms=["none"]')
    assert code == 2 and "conv kernel 9 is larger than the 8x8 feature map" in err and "8x8 images" in err
    code, _ = run_check(capsys, *args)
    assert code == 0
    # a header claiming a huge array (no data behind it) is refused from the header alone
    bomb = tmp_path / "bomb.npz"
    header = np.lib.format.header_data_from_array_1_0(np.zeros((1,), np.float64))
    header["shape"] = (10**6, 10**5)
    with zipfile.ZipFile(bomb, "w") as zf, zf.open("x.npy", "w") as fh:
        np.lib.format.write_array_header_1_0(fh, header)
    with pytest.raises(ConfigError, match="GiB in memory, more than the limit"):
        pool_from_npz(bomb)


@pytest.mark.parametrize(("content", "fragment"), [
    (None, "not found"),
    (b"just text", "not a zip archive of .npy arrays at all"),
])
def test_missing_or_wrong_data_file_exits_2(tmp_path: Path, capsys, content, fragment) -> None:
    path = tmp_path / "data.npz"
    if content is not None:
        path.write_bytes(content)
    code, err = run_check(capsys, "quick-demo", *CPU, "--set", 'data.name="npz"', "--set", f'data.path="{path}"')
    assert code == 2 and err.startswith(f"basin: error: data.path: {path}") and fragment in err


def test_split_larger_than_the_dataset_exits_2(capsys) -> None:
    code, err = run_check(capsys, "quick-demo", *CPU, "--set", "data.n_test=100000")
    assert code == 2 and err == "basin: error: data.n_test: must be <= 5000 (images in the dataset), got 100000"


def test_cuda_without_a_gpu_exits_2(capsys) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    code, err = run_check(capsys, "quick-demo", "--set", 'device="cuda"')
    assert code == 2 and err.startswith("basin: error: device: cuda was asked for")


def test_download_without_network_exits_2(tmp_path: Path, capsys, monkeypatch) -> None:
    def offline(*_a, **_k):
        raise urllib.error.URLError("network is unreachable")

    monkeypatch.setattr("urllib.request.urlopen", offline)
    code, err = run_check(capsys, "quick-demo", *CPU, "--set", 'data.name="mnist"', "--set", "data.download=true",
                          "--set", f'data.path="{tmp_path / "mnist"}"')
    assert code == 2 and err.startswith("basin: error: data.download: could not download")
    assert "network is unreachable" in err


def test_data_memory_bound_before_float_conversion() -> None:
    n = np.arange(40_000)
    idx = SplitIndices(test=n[:10], valid=n[:10], train=n, labelled=n, unlabelled=n, probe=n[:5], official_test=False)
    with pytest.raises(ConfigError, match="GiB as float32, more than the 4 GiB limit"):
        check_split_memory(idx, (3, 128, 128))


def test_shapeset_too_large_is_refused_by_the_config() -> None:
    cfg = c.from_dict({"data": {"name": "shapeset", "shapeset_count": 1_000_000, "image_size": 128}}, validate=False)
    assert [e.field for e in cfg.errors()] == ["data.shapeset_count"]


@pytest.mark.parametrize(("raw", "fragment"), [
    (b"", "is empty"),
    (b"# only a comment\n", "holds no settings"),
    ("name = 'x'".encode("utf-16"), "is UTF-16 text; save it as UTF-8"),
    (b"\x00\x01\x02binary", "is a binary file"),
    (b"name = '\xff'", "is not UTF-8 text (byte 0xff at offset 8)"),
    (b"a = " + b"[" * 20_000 + b"]" * 20_000, "nested deeper than 32 levels"),
    (b"seed = 1" + b"0" * 5_000, "not valid TOML: Exceeds the limit (4300 digits) for integer string conversion"),
    (b"x" * 1_000_001, "larger than the 1,000,000-byte limit"),
])
def test_hostile_config_files_are_one_line(tmp_path: Path, capsys, raw: bytes, fragment: str) -> None:
    path = tmp_path / "c.toml"
    path.write_bytes(raw)
    code, err = run_check(capsys, str(path))
    assert code == 2 and err.startswith(f"basin: error: {path}: ") and fragment in err


def test_bom_prefixed_toml_is_read(tmp_path: Path) -> None:
    path = tmp_path / "bom.toml"
    path.write_bytes(b"\xef\xbb\xbf" + b'name = "bom"\n')
    assert c.load(path).name == "bom"


def test_full_disk_names_the_file_and_the_folder(tmp_path: Path, monkeypatch) -> None:
    def full(_fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    target = tmp_path / "run" / "metrics.csv"
    with pytest.raises(ConfigError) as info:
        write_text_atomic(target, "x")
    assert str(info.value) == (f"{target}: cannot write metrics.csv: no space left on the device holding "
                               f"{target.parent}; free some space or choose another folder")
    assert list(target.parent.iterdir()) == []  # the temp file is gone too


def test_gzip_bomb_idx_is_refused_while_unpacking(tmp_path: Path, monkeypatch) -> None:
    import gzip

    from desktop_app.core.data import idx

    monkeypatch.setattr(idx, "MAX_DATASET_FILE_BYTES", 10_000)
    bomb = tmp_path / "train-images-idx3-ubyte.gz"
    bomb.write_bytes(gzip.compress(bytes(1_000_000)))
    with pytest.raises(ConfigError, match="unpacks to more than the 10,000-byte limit"):
        idx.read_idx(bomb)


def test_resume_refuses_a_hostile_config_at_once(tmp_path: Path, capsys) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.toml").write_text('name = "r"\n[sweep]\nfield = "model.depth"\nvalues = [1e9]\n')
    t0 = time.perf_counter()
    code = cli.main(["resume", str(run)], out=io.StringIO())
    assert time.perf_counter() - t0 < 1.0
    err = capsys.readouterr().err.strip()
    assert code == 2 and err == "basin: error: sweep.values: model.depth must be in [1, 100], got 1e+09"
    assert sorted(p.name for p in run.iterdir()) == ["config.toml"]
