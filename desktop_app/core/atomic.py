"""Atomic file writes (temp file in the same folder + fsync + rename): a crash never leaves half a file.

The temp file is ``.<name>.<random>.tmp`` beside the target; one left behind by a killed process is removed by
the run folder on its next open or resume (``runfolder.RunFolder.remove_temp_files``). The final file gets the
mode a plain ``open()`` would give it (0666 minus the user's umask), not mkstemp's private 0600.
"""

from __future__ import annotations

import errno
import os
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from desktop_app.core.errors import ConfigError

_NO_SPACE = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
TEMP_SUFFIX = ".tmp"
_umask: int | None = None
_umask_lock = threading.Lock()


def current_umask() -> int:
    """The process umask (read once: reading it means setting it, so do that under a lock, not per write)."""
    global _umask
    with _umask_lock:
        if _umask is None:
            _umask = _read_umask()
        return _umask


def _read_umask() -> int:
    try:  # Linux: readable without changing it
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def is_temp_name(name: str) -> bool:
    """A temp file of ``write_atomic`` (for cleaning up after a killed writer)."""
    return name.startswith(".") and name.endswith(TEMP_SUFFIX)


def write_bytes_atomic(path: Path, data: bytes) -> None:
    write_atomic(path, lambda fh: fh.write(data))


def write_text_atomic(path: Path, text: str) -> None:
    write_bytes_atomic(path, text.encode("utf-8"))


def write_atomic(path: Path, writer: Callable[[BinaryIO], object]) -> None:
    """Call writer(fh) on a temp file beside path, then rename it over path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMP_SUFFIX, dir=path.parent)
    try:
        if hasattr(os, "fchmod"):
            os.fchmod(fd, 0o666 & ~current_umask())
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
