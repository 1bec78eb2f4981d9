"""MNIST / Fashion-MNIST: IDX file reader, checksummed downloader, and the pool loader.

Files are read from ``data.path`` (a folder) or the user cache, raw or gzipped. Downloads are verified
against the published SHA-256 sums before anything is written, and written atomically, so the cache
never holds a partial or tampered file.
"""

from __future__ import annotations

import hashlib
import math
import struct
import urllib.error
import urllib.request
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import platformdirs

from desktop_app.core.atomic import write_bytes_atomic
from desktop_app.core.config import ConfigError, DataConfig
from desktop_app.core.config.limits import MAX_DATASET_FILE_BYTES
from desktop_app.core.data.imports import n_classes_of
from desktop_app.core.data.splits import ImagePool
from desktop_app.core.untrusted import UnreadableFile, read_regular

# IDX type byte -> numpy dtype (multi-byte types are big-endian on disk).
IDX_DTYPES: dict[int, str] = {0x08: "u1", 0x09: "i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_IDX_CODES = {np.dtype(v).newbyteorder("="): k for k, v in IDX_DTYPES.items()}

TRAIN_IMAGES = "train-images-idx3-ubyte"
TRAIN_LABELS = "train-labels-idx1-ubyte"
TEST_IMAGES = "t10k-images-idx3-ubyte"
TEST_LABELS = "t10k-labels-idx1-ubyte"
IDX_STEMS = (TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS)

MAX_DOWNLOAD_BYTES = 100_000_000  # the largest real file is 26 MB


@dataclass(frozen=True)
class IdxDataset:
    """Where one IDX dataset is published and the SHA-256 of each gzipped file."""

    name: str
    base_urls: tuple[str, ...]
    sha256: Mapping[str, str]


MNIST = IdxDataset(
    name="mnist",
    base_urls=(
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
    ),
    sha256={
        "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
        "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
        "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
        "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
    },
)
FASHION_MNIST = IdxDataset(
    name="fashion-mnist",
    base_urls=(
        "https://fashion-mnist.s3.eu-central-1.amazonaws.com/",
        "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",  # http only; the sha256 guards it
    ),
    sha256={
        "train-images-idx3-ubyte.gz": "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
        "train-labels-idx1-ubyte.gz": "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
        "t10k-images-idx3-ubyte.gz": "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
        "t10k-labels-idx1-ubyte.gz": "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
    },
)
IDX_DATASETS = {d.name: d for d in (MNIST, FASHION_MNIST)}


class DownloadError(ConfigError):
    """A download failed or did not match its checksum (field ``data.download``)."""

    def __init__(self, message: str) -> None:
        super().__init__("data.download", message)


# ---------------------------------------------------------------------------------------------------------
# IDX format
# ---------------------------------------------------------------------------------------------------------


def parse_idx(data: bytes, source: str = "<bytes>") -> np.ndarray:
    """Decode IDX bytes (magic 00 00 <type> <ndim>, big-endian uint32 dims, then the data)."""
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in IDX_DTYPES or data[3] == 0:
        raise ConfigError(
            "data.path",
            f"{source}: not an IDX file (magic {data[:4].hex() or 'empty'}; expected 00 00 <type> <ndim>, "
            "e.g. 00000803 for images, 00000801 for labels)",
        )
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise ConfigError("data.path", f"{source}: IDX header truncated ({len(data)} bytes)")
    dims = struct.unpack(f">{ndim}I", data[4:header])
    dtype = np.dtype(IDX_DTYPES[data[2]])
    count = math.prod(dims)
    expected = header + count * dtype.itemsize
    if len(data) != expected:
        raise ConfigError(
            "data.path",
            f"{source}: IDX header says shape {tuple(dims)} ({expected} bytes) "
            f"but the file has {len(data)} bytes",
        )
    arr = np.frombuffer(data, dtype=dtype, count=count, offset=header).reshape(dims)
    return arr.astype(dtype.newbyteorder("="), copy=False)


def encode_idx(arr: np.ndarray) -> bytes:
    """Encode an array as IDX bytes (for tests and tools that write small IDX files)."""
    arr = np.asarray(arr)
    code = _IDX_CODES.get(arr.dtype.newbyteorder("="))
    if code is None:
        raise ValueError(f"IDX cannot store dtype {arr.dtype}")
    big = arr.astype(np.dtype(IDX_DTYPES[code]), copy=False)
    return bytes([0, 0, code, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape) + big.tobytes()


def read_idx(path: Path) -> np.ndarray:
    """Read a raw or gzipped IDX file; every failure is a ConfigError naming data.path and the file."""
    path = Path(path)
    try:
        st = path.stat()
    except OSError as exc:
        raise ConfigError("data.path", f"{path}: cannot read ({exc})") from exc
    return _read_idx_cached(str(path), st.st_mtime_ns, st.st_size)


@lru_cache(maxsize=8)
def _read_idx_cached(path: str, _mtime_ns: int, _size: int) -> np.ndarray:
    """Reading 60000 gzipped images takes ~0.3 s: cache by (path, mtime, size) for repeated loads."""
    limit = MAX_DATASET_FILE_BYTES
    if _size > limit:
        raise ConfigError("data.path", f"{path}: {_size:,} bytes, more than the {limit:,}-byte limit for a data file")
    try:
        data = read_regular(path, limit)  # a FIFO or device named like an IDX file is refused, never waited on
        if data[:2] == b"\x1f\x8b":
            inflater = zlib.decompressobj(wbits=31)
            data = inflater.decompress(data, limit + 1)
            if len(data) > limit or inflater.unconsumed_tail:
                raise ConfigError("data.path", f"{path}: unpacks to more than the {limit:,}-byte limit for a data file")
            if not inflater.eof:
                raise EOFError("Compressed file ended before the end-of-stream marker was reached")
    except UnreadableFile as exc:
        raise ConfigError("data.path", str(exc)) from None
    except (OSError, EOFError, zlib.error) as exc:
        raise ConfigError("data.path", f"{path}: cannot read ({exc})") from None
    arr = parse_idx(data, path)
    arr.flags.writeable = False
    return arr


def find_idx_file(folder: Path, stem: str) -> Path | None:
    """``stem`` or ``stem.gz`` in folder (or its ``raw/`` sub-folder, torchvision's layout); also the
    ``t10k-images.idx3-ubyte`` spelling some unzip tools produce."""
    names = [stem, stem + ".gz"]
    dotted = stem.replace("-idx", ".idx")
    names += [dotted, dotted + ".gz"]
    for base in (folder, folder / "raw"):
        for name in names:
            p = base / name
            if p.is_file():
                return p
    return None


# ---------------------------------------------------------------------------------------------------------
# Download
# ---------------------------------------------------------------------------------------------------------


def _digest(data: bytes, expected: str) -> str:
    """sha256 for a 64-hex-digit expected value, md5 for 32 (torchvision publishes md5)."""
    algo = "md5" if len(expected) == 32 else "sha256"
    return hashlib.new(algo, data).hexdigest()


def download_files(
    dest: Path,
    base_urls: str | Sequence[str],
    files: Mapping[str, str],
    timeout: float = 60.0,
) -> list[Path]:
    """Fetch each ``files`` name from the first base URL that serves it with the expected hash.

    Nothing is written unless the hash matches; files are written atomically into ``dest``. Files
    already present with the right hash are kept. Raises DownloadError listing every failure.
    """
    dest = Path(dest)
    urls = (base_urls,) if isinstance(base_urls, str) else tuple(base_urls)
    written: list[Path] = []
    for name, expected in files.items():
        target = dest / name
        expected = expected.lower()
        if target.is_file() and _digest(target.read_bytes(), expected) == expected:
            written.append(target)
            continue
        failures: list[str] = []
        for base in urls:
            url = base.rstrip("/") + "/" + name
            try:
                with urllib.request.urlopen(url, timeout=timeout) as resp:
                    data = resp.read(MAX_DOWNLOAD_BYTES + 1)
            except urllib.error.HTTPError as exc:
                failures.append(f"{url}: HTTP {exc.code} {exc.reason}")
                continue
            except (urllib.error.URLError, OSError, ValueError) as exc:
                failures.append(f"{url}: {getattr(exc, 'reason', exc)}")
                continue
            if len(data) > MAX_DOWNLOAD_BYTES:
                failures.append(f"{url}: larger than {MAX_DOWNLOAD_BYTES} bytes")
                continue
            got = _digest(data, expected)
            if got != expected:
                failures.append(f"{url}: checksum mismatch (expected {expected}, got {got})")
                continue
            write_bytes_atomic(target, data)
            written.append(target)
            break
        else:
            raise DownloadError(
                f"could not download {name}: "
                + "; ".join(failures or ["no URL given"])
                + f". Download it by hand into {dest} or point data.path at a folder holding it"
            )
    return written


# ---------------------------------------------------------------------------------------------------------
# Pool loader
# ---------------------------------------------------------------------------------------------------------


def default_idx_dir(name: str) -> Path:
    return Path(platformdirs.user_cache_dir("basin")) / name


def load_idx_folder(folder: Path) -> ImagePool:
    """Read the four IDX files of ``folder`` and check their shapes agree."""
    paths = {stem: find_idx_file(folder, stem) for stem in IDX_STEMS}
    missing = [s for s, p in paths.items() if p is None]
    if missing:
        raise ConfigError("data.path", f"{', '.join(missing)} not found in {folder}")
    arrays = {stem: read_idx(p) for stem, p in paths.items() if p is not None}
    out = []
    for img_stem, lab_stem in ((TRAIN_IMAGES, TRAIN_LABELS), (TEST_IMAGES, TEST_LABELS)):
        x, y = arrays[img_stem], arrays[lab_stem]
        if x.ndim != 3 or x.dtype != np.uint8:
            raise ConfigError(
                "data.path", f"{paths[img_stem]}: expected uint8 images (N, H, W), got {x.dtype} {x.shape}"
            )
        if y.ndim != 1 or y.dtype != np.uint8:
            raise ConfigError(
                "data.path", f"{paths[lab_stem]}: expected uint8 labels (N,), got {y.dtype} {y.shape}"
            )
        if len(x) != len(y):
            raise ConfigError(
                "data.path",
                f"{paths[img_stem]} holds {len(x)} images but {paths[lab_stem]} holds {len(y)} labels",
            )
        out.append((x[:, None], y.astype(np.int64)))
    (tx, ty), (sx, sy) = out
    if tx.shape[1:] != sx.shape[1:]:
        raise ConfigError("data.path", f"train images are {tx.shape[2:]} but t10k images are {sx.shape[2:]}")
    n_classes = n_classes_of(ty, sy, source=str(folder))
    return ImagePool(images=tx, labels=ty, n_classes=n_classes, test_images=sx, test_labels=sy)


def load_idx_pool(cfg: DataConfig, dataset: IdxDataset, timeout: float = 60.0) -> ImagePool:
    """MNIST-like pool from cfg.path or the user cache, downloading first if allowed and needed."""
    folder, missing = check_idx_files(cfg, dataset)
    if missing:  # check_idx_files refused it unless a download may fetch them
        wanted = {f"{s}.gz": dataset.sha256[f"{s}.gz"] for s in missing}
        download_files(folder, dataset.base_urls, wanted, timeout)
    return load_idx_folder(folder)


def check_idx_files(cfg: DataConfig, dataset: IdxDataset) -> tuple[Path, list[str]]:
    """(the IDX folder, the files missing there and to download); ConfigError when they are missing and no
    download is allowed. Only looks for the files (the builder asks it on every edit); reading checks the rest."""
    folder = Path(cfg.path).expanduser() if cfg.path else default_idx_dir(dataset.name)
    if folder.is_file():
        raise ConfigError(
            "data.path", f"{folder} is a file; {dataset.name} expects the folder holding the four IDX files"
        )
    missing = [stem for stem in IDX_STEMS if find_idx_file(folder, stem) is None]
    if missing and not cfg.download:
        raise ConfigError(
            "data.path",
            f"{', '.join(missing)} not found in {folder}; set data.download = true or point data.path at "
            f"the folder holding {', '.join(s + '(.gz)' for s in IDX_STEMS)}",
        )
    return folder, missing
