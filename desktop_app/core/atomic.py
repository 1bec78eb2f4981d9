"""Atomic file writes (temp file in the same folder + fsync + rename): a crash never leaves half a file."""

from __future__ import annotations

import errno
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from desktop_app.core.errors import ConfigError

_NO_SPACE = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


def write_bytes_atomic(path: Path, data: bytes) -> None:
    write_atomic(path, lambda fh: fh.write(data))


def write_text_atomic(path: Path, text: str) -> None:
    write_bytes_atomic(path, text.encode("utf-8"))


def write_atomic(path: Path, writer: Callable[[BinaryIO], object]) -> None:
    """Call writer(fh) on a temp file beside path, then rename it over path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            writer(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        if isinstance(exc, OSError) and exc.errno in _NO_SPACE:
            raise ConfigError(str(path), f"cannot write {path.name}: no space left on the device holding "
                              f"{path.parent}; free some space or choose another folder") from None
        raise
