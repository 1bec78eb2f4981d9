"""The one checked way to open a file Basin did not write itself: regular files only, size bounded before reading.

A run folder, a config or a checkpoint may come from someone else (docs/SECURITY.md). ``open()`` on a FIFO blocks
until a writer appears (``basin runs --table`` hung, the window's GUI thread with it); a character device reads
without end; a size taken from ``stat`` before ``open`` may no longer describe what was opened. So every such read
opens with ``O_NONBLOCK | O_NOCTTY`` (a FIFO opens at once, a terminal does not become ours), then checks the
*opened* file with ``fstat``: a regular file, and no larger than the caller's limit. Only then is anything read,
and never more than ``limit`` bytes. ``O_NOFOLLOW`` (``follow_links=False``) refuses a link as the last component,
for callers that resolve links themselves.

Torch-free and dependency-free, below ``config`` and ``runfolder``: both read through it, and so do the checkpoint
loaders (which hand the opened file to ``torch.load``, so a large checkpoint is never copied into memory first).
What such a file holds is checked by its reader; ``is_int`` is the one test those readers share for "an integer".
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, TypeGuard

_KINDS = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


class UnreadableFile(ValueError):
    """A file that cannot be read safely; ``reason`` says why in a few words (the caller names the file)."""

    def __init__(self, path: Path | str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = Path(path)
        self.reason = reason


def kind_of(mode: int) -> str:
    """What a file that is not a regular file is, in words ("a FIFO (named pipe)")."""
    for test, name in _KINDS:
        if test(mode):
            return name
    return "not a regular file"


@contextlib.contextmanager
def open_regular(path: Path | str, limit: int, follow_links: bool = True) -> Iterator[tuple[BinaryIO, int]]:
    """``(file, size)`` of a regular file of at most ``limit`` bytes, opened for reading without blocking on a
    FIFO or device; UnreadableFile (with the reason) otherwise. The file is closed when the block ends."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_BINARY", 0)
    if not follow_links:
        flags |= getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise UnreadableFile(path, "no such file") from None
    except IsADirectoryError:
        raise UnreadableFile(path, "is a folder, not a file") from None
    except OSError as exc:
        if not follow_links and os.path.islink(path):
            raise UnreadableFile(path, "refused: a symbolic link") from None
        raise UnreadableFile(path, f"cannot read ({exc.strerror or exc})") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise UnreadableFile(path, f"refused: {kind_of(st.st_mode)}, not a regular file")
        if st.st_size > limit:
            raise UnreadableFile(path, f"{st.st_size:,} bytes is larger than the {limit:,}-byte limit")
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)  # a regular file: plain reads from here on
        fh = os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
    with fh:
        yield fh, st.st_size


def read_regular(path: Path | str, limit: int, follow_links: bool = True) -> bytes:
    """All bytes of a regular file of at most ``limit`` bytes (one more byte than the limit is never read: a
    file that grew since ``fstat`` is refused too); UnreadableFile otherwise."""
    with open_regular(path, limit, follow_links) as (fh, _size):
        try:
            data = fh.read(limit + 1)
        except OSError as exc:
            raise UnreadableFile(path, f"cannot read ({exc.strerror or exc})") from None
    if len(data) > limit:
        raise UnreadableFile(path, f"is larger than the {limit:,}-byte limit")
    return data


def is_int(value: object) -> TypeGuard[int]:
    """An integer read from an untrusted file (JSON, a checkpoint's state): ``int`` but not ``bool``. Python's bool
    is an int, so a plain ``isinstance(v, int)`` takes a hostile ``true`` as 1 (a 1-class model, pid 1, epoch 1)."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: object) -> TypeGuard[int | float]:
    """A number read from an untrusted file: ``int`` or ``float`` but not ``bool`` (a hostile ``true`` is 1). It may
    still be NaN, infinite or an int too large for ``float()``: callers compare it with their range first (NaN
    compares False), then convert."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def is_regular(path: Path | str) -> bool:
    """A regular file (links followed), checked without opening it."""
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except (OSError, ValueError):
        return False


__all__ = ["UnreadableFile", "is_int", "is_regular", "kind_of", "open_regular", "read_regular"]
