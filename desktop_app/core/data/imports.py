"""User image sets: an ``.npz`` file of arrays, or a folder with one sub-folder of images per class.

Both are checked up front so a bad file becomes a ConfigError naming ``data.path`` and what was
expected, never a traceback from deep inside training.
"""

from __future__ import annotations

import math
import zipfile
from pathlib import Path

import numpy as np

from desktop_app.core.config import ConfigError, DataConfig
from desktop_app.core.config.limits import MAX_CLASSES, MAX_DATASET_FILE_BYTES, MAX_IMAGE_PIXELS
from desktop_app.core.data.splits import ImagePool

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
_X_KEYS = ("x", "images")
_Y_KEYS = ("y", "labels")


# ---------------------------------------------------------------------------------------------------------
# npz
# ---------------------------------------------------------------------------------------------------------


def _pick(arrays: dict[str, np.ndarray], keys: tuple[str, ...]) -> np.ndarray | None:
    for k in keys:
        if k in arrays:
            return arrays[k]
    return None


def as_images(x: np.ndarray, source: str, field: str = "data.path") -> np.ndarray:
    """(N, H, W), (N, C, H, W) or (N, D) with D square -> (N, C, H, W); uint8, bool or float in [0, 1].

    uint8 stays uint8 (scaled later, after indexing, to keep memory small); others become float32.
    """
    x = np.asarray(x)
    if x.ndim == 2:
        side = math.isqrt(x.shape[1])
        if side * side != x.shape[1] or side == 0:
            raise ConfigError(
                field, f"{source}: flattened images (N, D) need D to be a square, got D = {x.shape[1]}"
            )
        x = x.reshape(len(x), 1, side, side)
    elif x.ndim == 3:
        x = x[:, None]
    elif x.ndim != 4:
        raise ConfigError(
            field, f"{source}: expected images (N, H, W), (N, C, H, W) or (N, D), got shape {x.shape}"
        )
    if len(x) == 0 or 0 in x.shape[1:]:
        raise ConfigError(field, f"{source}: images array is empty, shape {x.shape}")
    check_image_size(x.shape[1:], source, field)
    if x.dtype == np.uint8:
        return x
    if x.dtype == np.bool_:
        return x.astype(np.float32)
    if not np.issubdtype(x.dtype, np.floating):
        raise ConfigError(field, f"{source}: images must be uint8 (0..255) or float in [0, 1], got {x.dtype}")
    x = x.astype(np.float32, copy=False)
    lo, hi = float(np.min(x)), float(np.max(x))
    if not (np.isfinite(lo) and np.isfinite(hi)) or lo < 0.0 or hi > 1.0:
        raise ConfigError(
            field,
            f"{source}: float images must lie in [0, 1], got values in [{lo:g}, {hi:g}] "
            "(divide by 255, or save them as uint8)",
        )
    return x


def check_image_size(shape: tuple[int, ...], source: str, field: str = "data.path") -> None:
    """One image (C, H, W) or (D,) must hold at most MAX_IMAGE_PIXELS values (docs/SECURITY.md)."""
    if math.prod(shape) > MAX_IMAGE_PIXELS:
        raise ConfigError(field, f"{source}: images of shape {tuple(shape)} hold {math.prod(shape):,} values each, "
                          f"more than the limit of {MAX_IMAGE_PIXELS:,}")


def n_classes_of(*label_arrays: np.ndarray | None, source: str, field: str = "data.path") -> int:
    """The largest label plus one, refused above MAX_CLASSES (a label of 10^9 would size a 10^9-wide layer)."""
    top = max((int(y.max(initial=0)) for y in label_arrays if y is not None), default=0)
    if top + 1 > MAX_CLASSES:
        raise ConfigError(field, f"{source}: the largest label is {top}; at most {MAX_CLASSES:,} classes "
                          f"(labels 0..{MAX_CLASSES - 1}) are supported")
    return top + 1


def npz_array_headers(path: Path, field: str = "data.path") -> dict[str, tuple[tuple[int, ...], np.dtype]]:
    """Shape and dtype of every array in an .npz, read from the .npy headers only (nothing is decompressed
    beyond them), so an oversized or compressed-bomb archive is refused before any array is allocated."""
    out: dict[str, tuple[tuple[int, ...], np.dtype]] = {}
    total = 0
    try:
        with zipfile.ZipFile(path) as zf:
            for info in zf.infolist()[:64]:
                key = info.filename[:-4] if info.filename.endswith(".npy") else info.filename
                with zf.open(info) as fh:
                    version = np.lib.format.read_magic(fh)
                    if version == (1, 0):
                        shape, _fortran, dtype = np.lib.format.read_array_header_1_0(fh)
                    else:
                        shape, _fortran, dtype = np.lib.format.read_array_header_2_0(fh)
                if dtype.hasobject:
                    raise ConfigError(field, f"{path}: array {key!r} holds Python objects; Basin reads only "
                                      "numeric arrays (allow_pickle is off)")
                total += math.prod(shape) * dtype.itemsize
                out[key] = (tuple(int(v) for v in shape), dtype)
    except (OSError, ValueError, zipfile.BadZipFile, EOFError, RuntimeError, NotImplementedError) as exc:
        raise ConfigError(field, f"{path}: not a readable .npz file ({exc})") from None
    if total > MAX_DATASET_FILE_BYTES:
        raise ConfigError(field, f"{path}: its arrays would take {total / 1024**3:.1f} GiB in memory, more than the "
                          f"limit of {MAX_DATASET_FILE_BYTES / 1024**3:.0f} GiB")
    return out


def as_labels(y: np.ndarray, n: int, source: str, field: str = "data.path") -> np.ndarray:
    """1-D non-negative integer labels (integer-valued floats accepted), one per image."""
    y = np.asarray(y)
    if y.ndim != 1:
        raise ConfigError(field, f"{source}: labels must be 1-D (N,), got shape {y.shape}")
    if len(y) != n:
        raise ConfigError(field, f"{source}: {n} images but {len(y)} labels")
    if np.issubdtype(y.dtype, np.floating) and np.all(np.isfinite(y)) and np.all(y == np.round(y)):
        y = y.astype(np.int64)
    if not np.issubdtype(y.dtype, np.integer) and y.dtype != np.bool_:
        raise ConfigError(field, f"{source}: labels must be integers 0..n_classes-1, got {y.dtype}")
    y = y.astype(np.int64)
    if len(y) and y.min() < 0:
        raise ConfigError(field, f"{source}: labels must be >= 0, got {int(y.min())}")
    return y


def check_npz_file(path: Path | str, field: str = "data.path") -> Path:
    """The npz file's path, if it is a regular file (a stat, nothing read: the builder asks it on every edit)."""
    path = Path(path).expanduser()
    if not path.is_file():
        what = "not found" if not path.exists() else "is not a regular file"
        raise ConfigError(field, f"{path} {what} (expected an .npz file with arrays x and y)")
    return path


def pool_from_npz(path: Path, field: str = "data.path") -> ImagePool:
    """Read x/images and y/labels (plus optional x_test/y_test) from an npz file."""
    path = check_npz_file(path, field)
    if not zipfile.is_zipfile(path):
        raise ConfigError(field, f"{path}: not an npz file (not a readable .npz: not a zip archive of .npy "
                                 "arrays at all)")
    headers = npz_array_headers(path, field)
    wanted = [k for k in (*_X_KEYS, *_Y_KEYS, "x_test", "y_test") if k in headers]
    for k in wanted:
        if k in ("x", "images", "x_test") and len(headers[k][0]) > 1:
            check_image_size(headers[k][0][1:], f"{path} ({k})", field)
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in wanted}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError, RuntimeError) as exc:
        raise ConfigError(field, f"{path}: not a readable .npz file ({exc})") from None
    x, y = _pick(arrays, _X_KEYS), _pick(arrays, _Y_KEYS)
    if x is None or y is None:
        raise ConfigError(
            field,
            f"{path}: expected arrays 'x' (or 'images') and 'y' (or 'labels'), "
            f"found {sorted(headers)[:10] or 'none'}",
        )
    images = as_images(x, str(path), field)
    labels = as_labels(y, len(images), str(path), field)
    test_x, test_y = arrays.get("x_test"), arrays.get("y_test")
    if (test_x is None) != (test_y is None):
        raise ConfigError(field, f"{path}: 'x_test' and 'y_test' must come together")
    test_images = test_labels = None
    if test_x is not None and test_y is not None:
        test_images = as_images(test_x, f"{path} (x_test)", field)
        test_labels = as_labels(test_y, len(test_images), f"{path} (y_test)", field)
        if test_images.shape[1:] != images.shape[1:]:
            raise ConfigError(
                field,
                f"{path}: x_test images are {test_images.shape[1:]} but x images are {images.shape[1:]}",
            )
        if test_images.dtype != images.dtype:  # keep one dtype so splitting converts both the same way
            test_images = test_images.astype(np.float32) / (255.0 if test_images.dtype == np.uint8 else 1.0)
            images = images.astype(np.float32) / (255.0 if images.dtype == np.uint8 else 1.0)
    n_classes = n_classes_of(labels, test_labels, source=str(path), field=field)
    return ImagePool(images, labels, n_classes, test_images, test_labels)


def load_npz_pool(cfg: DataConfig) -> ImagePool:
    return pool_from_npz(Path(cfg.path))


# ---------------------------------------------------------------------------------------------------------
# image folder
# ---------------------------------------------------------------------------------------------------------


def _class_dirs(root: Path) -> list[Path]:
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


def _read_class_folders(
    root: Path, class_names: list[str], size: tuple[int, int] | None, first: Path | None
) -> tuple[np.ndarray, np.ndarray, tuple[int, int], Path]:
    """Images of root/<class>/* as (N, 1, H, W) uint8 grey plus labels; all must share one size."""
    try:
        from PIL import Image, UnidentifiedImageError
    except ImportError as exc:  # pragma: no cover - Pillow is present in the app's environment
        raise ConfigError("data.path", "reading an image folder needs Pillow: pip install pillow") from exc
    images: list[np.ndarray] = []
    labels: list[int] = []
    if len(class_names) > MAX_CLASSES:
        raise ConfigError("data.path", f"{root} has {len(class_names):,} class folders; at most {MAX_CLASSES:,} "
                          "classes are supported")
    for label, cname in enumerate(class_names):
        cdir = root / cname
        if not cdir.is_dir():
            continue
        files = sorted(p for p in cdir.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise ConfigError("data.path", f"class folder {cdir} holds no PNG or JPEG images")
        for f in files:
            try:
                with Image.open(f) as im:
                    check_image_size((im.size[1], im.size[0]), str(f))  # from the header, before decoding
                    arr = np.asarray(im.convert("L"), dtype=np.uint8)
            except (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombError) as exc:
                raise ConfigError("data.path", f"{f}: not a readable image ({exc})") from exc
            hw = (arr.shape[0], arr.shape[1])
            if size is None:
                check_image_size(hw, str(f))
                size, first = hw, f
            elif hw != size:
                raise ConfigError(
                    "data.path",
                    f"{f} is {hw[1]}x{hw[0]} (WxH) but {first} is {size[1]}x{size[0]}; "
                    "all images must share one size",
                )
            images.append(arr)
            labels.append(label)
            if len(images) * arr.size > MAX_DATASET_FILE_BYTES:
                raise ConfigError("data.path", f"{root}: its images would take more than "
                                  f"{MAX_DATASET_FILE_BYTES / 1024**3:.0f} GiB in memory (the limit)")
    if not images or size is None or first is None:
        raise ConfigError("data.path", f"{root} holds no PNG or JPEG images in its class sub-folders")
    return np.stack(images)[:, None], np.asarray(labels, dtype=np.int64), size, first


def check_image_folder(cfg: DataConfig) -> Path:
    """The image folder's path, if it is a folder (a stat, nothing listed)."""
    root = Path(cfg.path).expanduser()
    if not root.is_dir():
        raise ConfigError(
            "data.path", f"{root} is not a folder (expected one sub-folder of images per class)"
        )
    return root


def load_image_folder_pool(cfg: DataConfig) -> ImagePool:
    """``path/<class>/*.png|jpg``; or ``path/train/<class>/...`` plus ``path/test/<class>/...`` for an
    official test split. Class labels follow the sorted sub-folder names; images are converted to grey."""
    root = check_image_folder(cfg)
    train_root, test_root = root / "train", root / "test"
    split = train_root.is_dir() and test_root.is_dir()
    base = train_root if split else root
    class_names = [p.name for p in _class_dirs(base)]
    if not class_names:
        raise ConfigError(
            "data.path", f"{base} has no sub-folders; expected one sub-folder of images per class"
        )
    x, y, size, first = _read_class_folders(base, class_names, None, None)
    tx = ty = None
    if split:
        extra = sorted({p.name for p in _class_dirs(test_root)} - set(class_names))
        if extra:
            raise ConfigError("data.path", f"{test_root} has classes not in {train_root}: {', '.join(extra)}")
        tx, ty, _, _ = _read_class_folders(test_root, class_names, size, first)
    return ImagePool(x, y, len(class_names), tx, ty)
