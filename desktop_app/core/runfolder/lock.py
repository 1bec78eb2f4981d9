"""One writer per run folder: an exclusive lock file holding the writer's pid and host.

``.basin.lock`` is created with O_CREAT | O_EXCL, so of two processes starting at once exactly one gets it; the
other fails at once with one line naming the holder and the file to delete if the holder is not Basin. A lock
whose process is gone (killed -9, a crash) is stale: on the same host that is certain (the pid is dead, or now
belongs to a process started later), and the next writer takes the lock over and says so
(``RunLock.stale_message``). Reading the lock and creating, replacing or removing it happen under an exclusive
``flock`` on the folder (``_takeover_guard``), so of many processes finding the same stale lock exactly one takes
it over. A lock from another host cannot be checked from here, so it is refused with the file to remove by hand.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from desktop_app.core.runfolder.layout import LOCK, RunFolder, RunFolderError
from desktop_app.core.untrusted import is_int, is_number, read_regular

MAX_LOCK_BYTES = 4096
FRESH_S = 10.0  # an unreadable lock file younger than this is being written by its creator
MAX_PID = 2**31 - 1  # pid_t is a 32-bit int: a larger "pid" is no process (os.kill raised OverflowError on it)
MAX_STARTED = 2.0**34  # seconds since the epoch (year 2514): a later, negative or NaN "started" is no time
# (time.localtime raised on it, so naming the holder crashed)


class RunFolderLocked(RunFolderError):
    """Another live process writes this run folder."""


@dataclass(frozen=True)
class LockInfo:
    pid: int
    host: str
    started: float  # time.time() when the lock was taken
    proc_start: str  # the holder's start time from /proc (Linux), to tell a reused pid from the holder

    def describe(self) -> str:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.started)) if self.started else "?"
        return f"pid {self.pid} on host {self.host} since {when}"


def _proc_start(pid: int) -> str:
    """Start time of a process in clock ticks since boot (Linux); "" where /proc is not available."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            stat = fh.read()
        return stat[stat.rindex(")") + 2 :].split()[19]
    except (OSError, ValueError, IndexError):
        return ""


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    except OSError:
        return False
    return True


def _when(started: object) -> float:
    """A lock file's "started" as a time ``LockInfo.describe`` can show; 0.0 (unknown) for anything else. The
    range is checked before ``float()``: NaN compares False, and float() of a 400-digit int raised OverflowError."""
    if not is_number(started):
        return 0.0
    return float(started) if 0 <= started <= MAX_STARTED else 0.0


def read_lock(folder: RunFolder) -> LockInfo | None:
    """The lock's holder, None without a lock; an unreadable lock file reads as pid 0 (stale)."""
    path = folder.lock_path
    try:
        if path.is_symlink():
            return LockInfo(0, "?", 0.0, "")
        if not path.exists():
            return None
        raw = read_regular(path, MAX_LOCK_BYTES)  # a FIFO or device is unreadable (pid 0), never waited on
        d = json.loads(raw.decode("utf-8"))
        pid, host = d["pid"], d["host"]
        if not is_int(pid) or pid > MAX_PID or not isinstance(host, str):
            raise ValueError
        started = d.get("started", 0.0)
        proc_start = d.get("proc_start", "")
        return LockInfo(pid, host[:255], _when(started), proc_start if isinstance(proc_start, str) else "")
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError, RecursionError, UnicodeDecodeError):
        if not path.exists() and not path.is_symlink():  # released while we read it
            return None
        try:  # pid 0: unreadable; "started" is the file's age, so a lock being written right now counts as live
            return LockInfo(0, "?", path.stat().st_mtime, "")
        except OSError:
            return LockInfo(0, "?", 0.0, "")


def holder_alive(info: LockInfo) -> bool | None:
    """True/False on this host; None when the holder is on another host (cannot be checked)."""
    if info.pid == 0:  # unreadable: stale unless just created (its writer may not have written it yet); a file
        return abs(time.time() - info.started) < FRESH_S  # dated in the future was not (it held a folder for good)
    if info.host != socket.gethostname():
        return None
    if not _pid_alive(info.pid):
        return False
    return not (info.proc_start and _proc_start(info.pid) and _proc_start(info.pid) != info.proc_start)


def is_locked(run_dir: Path | str) -> LockInfo | None:
    """The live holder of a run folder's lock (a stale lock is no holder); for the Runs list and the GUI."""
    info = read_lock(RunFolder(run_dir))
    if info is None or holder_alive(info) is False:
        return None
    return info


@contextlib.contextmanager
def _takeover_guard(folder: RunFolder) -> Iterator[None]:
    """Serialise lock changes between Basin processes: an exclusive ``flock`` on the run folder itself while one
    process reads the lock file and creates, replaces or removes it. Without it two processes that both found the
    same stale lock each removed it and created their own: both held the folder (2 of 40 rounds with 6
    contenders). The guard is released by the kernel when its holder dies, so it never goes stale itself. Where
    flock is unavailable (Windows, some network file systems) the O_EXCL lock file alone decides."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    try:
        fd = os.open(folder.root, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        yield
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError:  # pragma: no cover - a file system without flock
            pass
        yield
    finally:
        os.close(fd)  # closing drops the flock


def _replace_lock(folder: RunFolder) -> int:
    """A new, empty lock file in place of a stale one (only under ``_takeover_guard``): the stale file (or
    whatever took its name: a folder, a FIFO) is removed, then the new one is created with O_EXCL."""
    path = folder.lock_path
    try:
        if path.is_dir() and not path.is_symlink():
            path.rmdir()
        else:
            path.unlink()
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise RunFolderError(f"{path}: cannot remove the stale lock ({exc.strerror or exc}); delete it by "
                             "hand") from None
    try:
        return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:  # a writer without the guard (flock unavailable) was faster
        raise RunFolderLocked(f"{folder.root} is in use: another process took the lock at the same time") from None
    except OSError as exc:
        raise RunFolderError(f"{path}: cannot create the lock file ({exc.strerror or exc})") from None


class RunLock:
    """The held lock; ``release()`` (or leaving a ``with`` block) removes the file."""

    def __init__(self, folder: RunFolder, info: LockInfo, stale: LockInfo | None) -> None:
        self.folder = folder
        self.info = info
        self.stale = stale
        self.removed_temp_files = 0
        self._held = True

    @property
    def stale_message(self) -> str:
        """What to tell the user when a stale lock was taken over ("" otherwise)."""
        if self.stale is None:
            return ""
        return f"{self.folder.root}: took over a stale lock ({self.stale.describe()}: that process is gone)"

    @classmethod
    def acquire(cls, folder: RunFolder, check_links: bool = True) -> RunLock:
        """Take the lock (RunFolderLocked naming the holder and the file to delete when a live one has it).
        ``check_links=False`` only for deleting: moving the folder to the trash follows none of its links."""
        try:
            folder.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:  # a read-only workspace, --out under a file: one line, not a traceback
            raise RunFolderError(f"{folder.root}: cannot create the run folder ({exc.strerror or exc})") from None
        if not folder.root.is_dir():
            raise RunFolderError(f"{folder.root}: not a folder")
        if check_links:
            folder.check_links()
        pid = os.getpid()
        info = LockInfo(pid, socket.gethostname(), time.time(), _proc_start(pid))
        payload = json.dumps({"pid": info.pid, "host": info.host, "started": info.started,
                              "proc_start": info.proc_start}).encode()
        with _takeover_guard(folder):
            stale = None
            try:
                fd = os.open(folder.lock_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                holder = read_lock(folder)
                alive = holder_alive(holder) if holder is not None else False
                if holder is not None and alive is None:
                    raise RunFolderLocked(
                        f"{folder.root} is locked by {holder.describe()}; if no process there writes it, "
                        f"delete {folder.lock_path}") from None
                if holder is not None and alive:
                    raise RunFolderLocked(f"{folder.root} is in use: {holder.describe()} is writing it; "
                                          f"if it is not Basin, delete {folder.lock_path}") from None
                stale = holder
                fd = _replace_lock(folder)  # under the guard: no other Basin process is between read and replace
            except OSError as exc:
                raise RunFolderError(f"{folder.lock_path}: cannot create the lock file "
                                     f"({exc.strerror or exc})") from None
            try:
                os.write(fd, payload)
            finally:
                os.close(fd)
        lock = cls(folder, info, stale)
        lock.removed_temp_files = folder.remove_temp_files()  # we are the only writer now
        return lock

    def release(self) -> None:
        if not self._held:
            return
        self._held = False
        with _takeover_guard(self.folder):  # never unlink a lock another process has just taken over
            current = read_lock(self.folder)
            if current is not None and (current.pid, current.host) == (self.info.pid, self.info.host):
                try:
                    os.unlink(self.folder.lock_path)
                except FileNotFoundError:
                    pass

    @property
    def held(self) -> bool:
        return self._held

    def __enter__(self) -> RunLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def __del__(self) -> None:  # a generator dropped without close(): do not leave the folder locked
        try:
            self.release()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass


__all__ = ["LOCK", "LockInfo", "RunFolderLocked", "RunLock", "holder_alive", "is_locked", "read_lock"]
