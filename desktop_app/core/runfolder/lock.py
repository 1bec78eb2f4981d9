"""One writer per run folder: an exclusive lock file holding the writer's pid and host.

``.basin.lock`` is created with O_CREAT | O_EXCL, so of two processes starting at once exactly one gets it; the
other fails at once with one line naming the holder. A lock whose process is gone (killed -9, a crash) is
stale: on the same host that is certain (the pid is dead, or now belongs to a process started later), and the
next writer takes the lock over and says so (``RunLock.stale_message``). A lock from another host cannot be
checked from here, so it is refused with the command to remove it by hand.
"""

from __future__ import annotations

import json
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path

from desktop_app.core.runfolder.layout import LOCK, RunFolder, RunFolderError

MAX_LOCK_BYTES = 4096
FRESH_S = 10.0  # an unreadable lock file younger than this is being written by its creator


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


def read_lock(folder: RunFolder) -> LockInfo | None:
    """The lock's holder, None without a lock; an unreadable lock file reads as pid 0 (stale)."""
    path = folder.lock_path
    try:
        if path.is_symlink() or not path.is_file():
            return LockInfo(0, "?", 0.0, "") if path.is_symlink() else None
        raw = path.read_bytes()[:MAX_LOCK_BYTES]
        d = json.loads(raw.decode("utf-8"))
        pid, host = d["pid"], d["host"]
        if not isinstance(pid, int) or not isinstance(host, str):
            raise ValueError
        started = d.get("started", 0.0)
        proc_start = d.get("proc_start", "")
        return LockInfo(pid, host[:255], float(started) if isinstance(started, int | float) else 0.0,
                        proc_start if isinstance(proc_start, str) else "")
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError, RecursionError, UnicodeDecodeError):
        try:  # pid 0: unreadable; "started" is the file's age, so a lock being written right now counts as live
            return LockInfo(0, "?", path.stat().st_mtime, "")
        except OSError:
            return LockInfo(0, "?", 0.0, "")


def holder_alive(info: LockInfo) -> bool | None:
    """True/False on this host; None when the holder is on another host (cannot be checked)."""
    if info.pid == 0:  # unreadable: stale unless just created (its writer may not have written it yet)
        return time.time() - info.started < FRESH_S
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
    def acquire(cls, folder: RunFolder) -> RunLock:
        folder.root.mkdir(parents=True, exist_ok=True)
        folder.check_links()
        pid = os.getpid()
        info = LockInfo(pid, socket.gethostname(), time.time(), _proc_start(pid))
        payload = json.dumps({"pid": info.pid, "host": info.host, "started": info.started,
                              "proc_start": info.proc_start}).encode()
        stale = None
        for _attempt in range(2):
            try:
                fd = os.open(folder.lock_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                holder = read_lock(folder)
                if holder is None:  # released between our open and our read
                    continue
                alive = holder_alive(holder)
                if alive is None:
                    raise RunFolderLocked(
                        f"{folder.root} is locked by {holder.describe()}; if no process there writes it, "
                        f"delete {folder.lock_path}") from None
                if alive:
                    raise RunFolderLocked(f"{folder.root} is in use: {holder.describe()} is writing it") from None
                stale = holder
                try:
                    os.unlink(folder.lock_path)
                except FileNotFoundError:
                    pass
                continue
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
        raise RunFolderLocked(f"{folder.root} is in use: another process took the lock at the same time")

    def release(self) -> None:
        if not self._held:
            return
        self._held = False
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
