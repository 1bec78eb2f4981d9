"""IDX reader, MNIST-style folder loader, and the checksummed downloader (local HTTP server only)."""

from __future__ import annotations

import functools
import gzip
import hashlib
import http.server
import struct
import threading
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from desktop_app.core.config import ConfigError, DataConfig
from desktop_app.core.data import DownloadError, download_files, load_data, parse_idx, read_idx
from desktop_app.core.data import idx as idx_mod
from desktop_app.core.data.idx import FASHION_MNIST, MNIST, IdxDataset, encode_idx, load_idx_pool


def _idx_bytes(arr: np.ndarray) -> bytes:
    """Independent of encode_idx: uint8 IDX by hand."""
    return struct.pack(">BBBB", 0, 0, 0x08, arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape) + arr.tobytes()


def _write_set(folder: Path, n_train: int = 120, n_test: int = 40, side: int = 6, gz: bool = True) -> dict:
    rng = np.random.default_rng(0)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, side, side), dtype=np.uint8),
        "train-labels-idx1-ubyte": (np.arange(n_train) % 10).astype(np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, side, side), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": (np.arange(n_test) % 10).astype(np.uint8),
    }
    folder.mkdir(parents=True, exist_ok=True)
    for stem, arr in arrays.items():
        data = _idx_bytes(arr)
        (folder / (stem + ".gz" if gz else stem)).write_bytes(gzip.compress(data) if gz else data)
    return arrays


def test_read_idx_round_trip_raw_and_gz(tmp_path):
    arr = np.arange(5 * 4 * 3, dtype=np.uint8).reshape(5, 4, 3)
    (tmp_path / "a-idx3-ubyte").write_bytes(_idx_bytes(arr))
    (tmp_path / "a-idx3-ubyte.gz").write_bytes(gzip.compress(_idx_bytes(arr)))
    for name in ("a-idx3-ubyte", "a-idx3-ubyte.gz"):
        got = read_idx(tmp_path / name)
        assert got.dtype == np.uint8 and got.shape == (5, 4, 3) and np.array_equal(got, arr)
    labels = np.array([3, 1, 4, 1, 5], dtype=np.uint8)
    assert parse_idx(_idx_bytes(labels)).tolist() == [3, 1, 4, 1, 5]


def test_encode_idx_round_trips_wider_types():
    for arr in (np.arange(-6, 6, dtype=np.int32).reshape(3, 4), np.linspace(0, 1, 7, dtype=np.float32)):
        data = encode_idx(arr)
        assert data[2] in (0x0C, 0x0D) and struct.unpack(">I", data[4:8])[0] == arr.shape[0]
        got = parse_idx(data)
        assert got.dtype == arr.dtype and np.array_equal(got, arr)


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        (b"\x00\x00\x07\x03" + b"\x00" * 20, "not an IDX file"),  # unknown type byte
        (b"PK\x03\x04" + b"\x00" * 20, "not an IDX file"),
        (b"", "not an IDX file"),
        (_idx_bytes(np.zeros((4, 2, 2), np.uint8))[:-3], "says shape (4, 2, 2)"),
    ],
)
def test_bad_idx_bytes_raise_config_error(tmp_path, data, needle):
    p = tmp_path / "bad-idx3-ubyte"
    p.write_bytes(data)
    with pytest.raises(ConfigError) as err:
        read_idx(p)
    assert err.value.field == "data.path" and needle in err.value.message and str(p) in err.value.message


def test_corrupt_gzip_raises_config_error(tmp_path):
    p = tmp_path / "x-idx3-ubyte.gz"
    p.write_bytes(gzip.compress(_idx_bytes(np.zeros((3, 2, 2), np.uint8)))[:-12])
    with pytest.raises(ConfigError) as err:
        read_idx(p)
    assert err.value.field == "data.path" and "cannot read" in err.value.message


@pytest.mark.parametrize("gz", [True, False])
def test_mnist_folder_uses_the_official_test_set(tmp_path, gz):
    arrays = _write_set(tmp_path / "m", gz=gz)
    cfg = DataConfig(name="mnist", path=str(tmp_path / "m"), n_test=30, n_valid=20, n_labelled=50, probe_size=10)
    s = load_data(cfg)
    assert s.name == "mnist" and s.input_shape == (1, 6, 6) and s.n_classes == 10
    assert len(s.test_x) == 30 and len(s.valid_x) == 20 and len(s.train_x) == 50 and len(s.unlabelled_x) == 100
    test_pool = {
        row.tobytes(): lab
        for row, lab in zip(arrays["t10k-images-idx3-ubyte"], arrays["t10k-labels-idx1-ubyte"], strict=True)
    }
    for x, y in zip(s.test_x, s.test_y, strict=True):
        key = (x[0].numpy() * 255).round().astype(np.uint8).tobytes()
        assert test_pool[key] == int(y)  # every test image comes from t10k with its label
    assert float(s.train_x.max()) <= 1.0 and float(s.train_x.min()) >= 0.0
    with pytest.raises(ConfigError) as err:
        load_data(replace(cfg, n_test=41))
    assert err.value.field == "data.n_test"
    with pytest.raises(ConfigError) as err:
        load_data(replace(cfg, n_labelled=101))
    assert err.value.field == "data.n_labelled" and "<= 100" in err.value.message


def test_fashion_mnist_reads_torchvision_raw_layout(tmp_path):
    _write_set(tmp_path / "f" / "raw")
    s = load_data(
        DataConfig(name="fashion-mnist", path=str(tmp_path / "f"), n_test=10, n_valid=10, n_labelled=50, probe_size=5)
    )
    assert s.name == "fashion-mnist" and len(s.test_x) == 10


def test_mismatched_counts_and_missing_files(tmp_path):
    folder = tmp_path / "m"
    _write_set(folder)
    (folder / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(_idx_bytes(np.zeros(7, np.uint8))))
    cfg = DataConfig(name="mnist", path=str(folder), n_test=10, n_valid=10, n_labelled=50, probe_size=5)
    with pytest.raises(ConfigError) as err:
        load_data(cfg)
    assert err.value.field == "data.path" and "120 images" in err.value.message and "7 labels" in err.value.message

    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ConfigError) as err:
        load_data(replace(cfg, path=str(empty)))
    assert err.value.field == "data.path"
    assert "not found in" in err.value.message and "data.download = true" in err.value.message
    assert "train-images-idx3-ubyte(.gz)" in err.value.message


def test_empty_path_uses_the_user_cache(tmp_path, monkeypatch):
    monkeypatch.setattr(idx_mod, "default_idx_dir", lambda name: tmp_path / "cache" / name)
    _write_set(tmp_path / "cache" / "mnist")
    s = load_data(DataConfig(name="mnist", n_test=10, n_valid=10, n_labelled=50, probe_size=5))
    assert len(s.test_x) == 10
    with pytest.raises(ConfigError) as err:
        load_data(DataConfig(name="fashion-mnist", n_test=10, n_valid=10, n_labelled=50, probe_size=5))
    assert str(tmp_path / "cache" / "fashion-mnist") in err.value.message


def test_published_hashes_are_well_formed():
    for ds in (MNIST, FASHION_MNIST):
        assert set(ds.sha256) == {s + ".gz" for s in idx_mod.IDX_STEMS}
        assert all(len(h) == 64 and int(h, 16) >= 0 for h in ds.sha256.values())
        assert all(u.endswith("/") for u in ds.base_urls)


# ---------------------------------------------------------------------------------------------------------
# Downloader against a local HTTP server
# ---------------------------------------------------------------------------------------------------------


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - stdlib signature
        pass


@pytest.fixture
def server(tmp_path):
    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(_QuietHandler, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield root, f"http://127.0.0.1:{httpd.server_address[1]}/"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_download_good_hash_writes_file(server, tmp_path):
    root, url = server
    payload = gzip.compress(_idx_bytes(np.arange(12, dtype=np.uint8).reshape(3, 2, 2)))
    (root / "train-images-idx3-ubyte.gz").write_bytes(payload)
    dest = tmp_path / "dest"
    got = download_files(dest, [url + "missing/", url], {"train-images-idx3-ubyte.gz": _sha(payload)}, timeout=5)
    assert got == [dest / "train-images-idx3-ubyte.gz"]
    assert (dest / "train-images-idx3-ubyte.gz").read_bytes() == payload
    assert read_idx(dest / "train-images-idx3-ubyte.gz").shape == (3, 2, 2)
    # md5 (32 hex digits, what torchvision publishes) is accepted too
    again = download_files(tmp_path / "d2", url, {"train-images-idx3-ubyte.gz": hashlib.md5(payload).hexdigest()})
    assert again[0].read_bytes() == payload


def test_download_bad_hash_is_rejected_and_leaves_no_file(server, tmp_path):
    root, url = server
    (root / "t10k-labels-idx1-ubyte.gz").write_bytes(b"tampered")
    dest = tmp_path / "dest"
    with pytest.raises(DownloadError) as err:
        download_files(dest, url, {"t10k-labels-idx1-ubyte.gz": "0" * 64}, timeout=5)
    assert isinstance(err.value, ConfigError) and err.value.field == "data.download"
    assert "checksum mismatch" in err.value.message
    assert not dest.exists() or list(dest.iterdir()) == []  # no file, no temp file
    with pytest.raises(DownloadError) as err:
        download_files(dest, url, {"nope.gz": "0" * 64}, timeout=5)
    assert "404" in err.value.message or "Not Found" in err.value.message


def test_download_then_load_via_config(server, tmp_path):
    root, url = server
    _write_set(root)
    hashes = {p.name: _sha(p.read_bytes()) for p in root.iterdir()}
    ds = IdxDataset(name="mnist", base_urls=(url,), sha256=hashes)
    folder = tmp_path / "cache"
    cfg = DataConfig(name="mnist", path=str(folder), download=True, n_test=10, n_valid=10, n_labelled=50, probe_size=5)
    pool = load_idx_pool(cfg, ds, timeout=5)
    assert sorted(p.name for p in folder.iterdir()) == sorted(hashes)
    assert pool.images.shape == (120, 1, 6, 6) and pool.test_images is not None and len(pool.test_images) == 40
    assert torch.is_tensor(torch.from_numpy(pool.labels))
