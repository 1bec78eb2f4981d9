"""Reading ``.basin.lock``, a file anyone may have written (docs/SECURITY.md): what each kind of lock file reads as
(``read_lock``) and what that means for the GUI's ``is_locked`` and for the next writer. The holder a readable lock
names is the one written, field by field; a field of the wrong type is "unknown", never a guess that could keep a
folder locked or hand it over; anything else (a link, a FIFO, a folder, garbage) names no holder: pid 0, host "?",
no start time, live only while just created.

All in-process: a dead holder is a pid no process can have (pid_max), and the moments "released while read" and
"turned into a link while read" are driven by a hook that runs right after ``read_lock``'s one read of the file.
"""

from __future__ import annotations

import json
import math
import os
import socket
import time
from pathlib import Path

import pytest

import desktop_app.core.runfolder.lock as lock_mod
from desktop_app.core.runfolder import RunFolder, RunFolderLocked, is_locked
from desktop_app.core.runfolder.lock import LockInfo, holder_alive, read_lock

HOST = socket.gethostname()
NO_HOLDER = LockInfo(0, "?", 0.0, "")  # what a lock naming nobody reads as when even its age is unknown


def _dead_pid() -> int:
    """A pid no process has: Linux hands out pids below pid_max only."""
    return int(Path("/proc/sys/kernel/pid_max").read_text())


def _folder(tmp_path: Path) -> RunFolder:
    folder = RunFolder(tmp_path / "run")
    folder.root.mkdir()
    return folder


def _write(folder: RunFolder, lock: object) -> None:
    folder.lock_path.write_text(json.dumps(lock))


def _age(path: Path, seconds: float) -> float:
    """Date ``path`` (not a link's target) ``seconds`` back; its new mtime."""
    when = time.time() - seconds
    os.utime(path, (when, when), follow_symlinks=False)
    return os.stat(path, follow_symlinks=False).st_mtime


# -- a readable lock: the holder it names ----------------------------------------------------------------------------
def test_the_lock_a_writer_takes_reads_back_as_that_writer(tmp_path):
    folder = _folder(tmp_path)
    with folder.lock() as lock:
        assert lock.info.pid == os.getpid() and lock.info.started > 0 and lock.info.proc_start  # all four say something
        assert read_lock(folder) == lock.info
        assert is_locked(folder.root) == lock.info
        assert holder_alive(lock.info) is True


def test_a_lock_naming_this_pid_with_another_start_time_is_a_reused_pid_and_stale(tmp_path):
    """The pid is alive, but /proc says it started at another time than the lock's holder: the holder is gone and
    its pid now belongs to a later process, so the lock is taken over (and the same file with the right start time
    is live: the start time alone decides)."""
    folder = _folder(tmp_path)
    with folder.lock() as lock:
        written = json.loads(folder.lock_path.read_text())
    assert not lock.held and not folder.lock_path.exists()
    own_start = written["proc_start"]
    _write(folder, {**written, "proc_start": own_start + "0"})
    info = read_lock(folder)
    assert info == LockInfo(os.getpid(), HOST, written["started"], own_start + "0")
    assert holder_alive(info) is False and is_locked(folder.root) is None
    _write(folder, written)
    assert holder_alive(read_lock(folder)) is True
    _write(folder, {**written, "proc_start": own_start + "0"})
    with folder.lock() as taken:
        assert f"took over a stale lock (pid {os.getpid()} on host {HOST} since " in taken.stale_message


@pytest.mark.parametrize("fields", [
    {},
    {"started": "yesterday", "proc_start": 12},
    {"started": None, "proc_start": None},
    {"started": "1700000000", "proc_start": ["123"]},
    {"started": [1.0], "proc_start": {"ticks": 5}},
], ids=["missing", "str-and-int", "nulls", "number-in-a-str-and-list", "list-and-object"])
def test_a_live_holders_lock_with_missing_or_mistyped_times_is_live_and_names_it(tmp_path, fields):
    """An older writer, or another platform, may leave out "started" and "proc_start" (and a hostile file may give
    them any type): the holder is still the pid and host the file names, alive while that process is, with its
    start time unknown ("since ?") and no process start time to compare."""
    folder = _folder(tmp_path)
    _write(folder, {"pid": os.getpid(), "host": HOST, **fields})
    info = read_lock(folder)
    assert info == LockInfo(os.getpid(), HOST, 0.0, "")
    assert info.describe() == f"pid {os.getpid()} on host {HOST} since ?"
    assert holder_alive(info) is True and is_locked(folder.root) == info
    with pytest.raises(RunFolderLocked, match=f"is in use: pid {os.getpid()} on host {HOST} since \\? is writing"):
        folder.lock()


def test_a_dead_holders_lock_is_stale_whatever_its_times(tmp_path):
    folder = _folder(tmp_path)
    dead = _dead_pid()
    _write(folder, {"pid": dead, "host": HOST, "started": "long ago", "proc_start": 7})
    assert read_lock(folder) == LockInfo(dead, HOST, 0.0, "")
    assert is_locked(folder.root) is None
    with folder.lock() as lock:
        assert lock.stale_message.endswith(f"(pid {dead} on host {HOST} since ?: that process is gone)")


def test_a_hostile_host_name_is_cut_to_the_longest_a_host_name_can_be(tmp_path):
    """255 characters (a DNS name's limit): the messages naming the holder stay bounded."""
    folder = _folder(tmp_path)
    _write(folder, {"pid": _dead_pid(), "host": "h" * 3000, "started": 1.0})
    info = read_lock(folder)
    assert info.host == "h" * 255
    with pytest.raises(RunFolderLocked) as err:  # another host's lock is refused, the name in it cut
        folder.lock()
    assert "h" * 255 in str(err.value) and "h" * 256 not in str(err.value)


# -- a lock naming no holder -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("target", ["a live holder's lock", "nothing"])
def test_a_symlinked_lock_names_no_holder_and_is_taken_over(tmp_path, target):
    """A link is never followed: even one to a fresh lock naming this live process reads as no holder with no
    known age (pid 0, host "?", since ?), so the link cannot hold the folder; the next writer replaces the link and
    leaves its target alone."""
    folder = _folder(tmp_path)
    aim = folder.root / "elsewhere.json"
    if target != "nothing":
        aim.write_text(json.dumps({"pid": os.getpid(), "host": HOST, "started": time.time(), "proc_start": ""}))
    folder.lock_path.symlink_to(aim.name)  # inside the folder: check_links lets it be
    info = read_lock(folder)
    assert info == NO_HOLDER
    assert holder_alive(info) is False and is_locked(folder.root) is None
    with folder.lock() as lock:
        assert lock.stale_message.endswith("(pid 0 on host ? since ?: that process is gone)")
        assert not folder.lock_path.is_symlink() and read_lock(folder) == lock.info
    assert aim.exists() == (target != "nothing")


def _fifo(path: Path) -> None:
    os.mkfifo(path)


UNREADABLE = {
    "empty": lambda p: p.write_bytes(b""),
    "garbage": lambda p: p.write_bytes(b"\x00pid=12 host=x"),
    "not-utf-8": lambda p: p.write_bytes(b'{"pid": 5, "host": "\xff"}'),
    "a-list": lambda p: p.write_text("[1, 2]"),
    "no-host": lambda p: p.write_text('{"pid": 5}'),
    "pid-a-str": lambda p: p.write_text(json.dumps({"pid": str(os.getpid()), "host": HOST})),
    "pid-a-bool": lambda p: p.write_text(json.dumps({"pid": True, "host": HOST})),
    "host-a-number": lambda p: p.write_text(json.dumps({"pid": os.getpid(), "host": 7})),
    "too-deep": lambda p: p.write_text("[" * 2000 + "]" * 2000),
    "oversize": lambda p: p.write_text(json.dumps({"pid": os.getpid(), "host": HOST, "pad": "x" * 5000})),
    "a-fifo": _fifo,
    "a-folder": lambda p: p.mkdir(),
}


@pytest.mark.parametrize("kind", list(UNREADABLE))
def test_an_unreadable_lock_names_no_holder_and_is_live_only_while_fresh(tmp_path, kind):
    """pid 0, host "?", no process start time; its "started" is the file's own mtime, so a lock its creator is
    still writing holds the folder for a moment and an old one is taken over (a FIFO is never waited on)."""
    folder = _folder(tmp_path)
    UNREADABLE[kind](folder.lock_path)
    old = _age(folder.lock_path, 60)
    info = read_lock(folder)
    assert info == LockInfo(0, "?", old, "")
    assert holder_alive(info) is False and is_locked(folder.root) is None
    fresh = _age(folder.lock_path, 0)
    assert read_lock(folder) == LockInfo(0, "?", fresh, "") and holder_alive(read_lock(folder)) is True
    with pytest.raises(RunFolderLocked, match="is in use: pid 0 on host \\?"):
        folder.lock()
    _age(folder.lock_path, 60)
    with folder.lock() as lock:
        assert lock.stale_message.startswith(f"{folder.root}: took over a stale lock (pid 0 on host ? since ")
        assert read_lock(folder) == lock.info


# -- the lock changing while it is read ------------------------------------------------------------------------------
def _after_the_read(monkeypatch, then) -> None:
    """Run ``then(lock path)`` right after read_lock's one read of the file: what another process did meanwhile."""
    real = lock_mod.read_regular

    def read_then(path, *args, **kwargs):
        data = real(path, *args, **kwargs)
        then(Path(path))
        return data

    monkeypatch.setattr(lock_mod, "read_regular", read_then)


def test_a_lock_released_while_it_is_read_is_no_lock(tmp_path, monkeypatch):
    """We read the lock its creator had not written yet (empty), then the creator gave it up: the folder has no
    lock, not a stale one to report taking over."""
    folder = _folder(tmp_path)
    folder.lock_path.write_bytes(b"")
    _after_the_read(monkeypatch, Path.unlink)
    assert read_lock(folder) is None
    with folder.lock() as lock:
        assert lock.stale is None and lock.stale_message == ""


def test_a_lock_turned_into_a_dangling_link_while_it_is_read_names_no_holder(tmp_path, monkeypatch):
    """The empty lock we read was replaced by a link to nowhere before we looked again: unreadable, with no age to
    take from it (the link is not followed), so stale at once, never "just created" for good or a crash."""
    folder = _folder(tmp_path)
    folder.lock_path.write_bytes(b"")

    def to_a_dangling_link(path: Path) -> None:
        path.unlink()
        path.symlink_to("nowhere")

    _after_the_read(monkeypatch, to_a_dangling_link)
    info = read_lock(folder)
    assert info == NO_HOLDER
    assert holder_alive(info) is False
    assert info.describe() == "pid 0 on host ? since ?"


# -- hostile numbers: one-line refusals and takeovers, never a traceback ---------------------------------------------
@pytest.mark.parametrize("pid", [2**31, 10**30, 2**64])
def test_a_pid_no_process_can_have_names_no_holder(tmp_path, pid):
    """pid_t is a 32-bit int: a larger "pid" is no process. os.kill raised OverflowError on it, so the Runs list
    (is_locked) and every writer crashed on such a lock file; it now reads as unreadable (pid 0)."""
    folder = _folder(tmp_path)
    _write(folder, {"pid": pid, "host": HOST, "started": 1.0})
    old = _age(folder.lock_path, 60)
    assert read_lock(folder) == LockInfo(0, "?", old, "")
    assert is_locked(folder.root) is None
    with folder.lock() as lock:
        assert "took over a stale lock (pid 0 on host ?" in lock.stale_message
    _write(folder, {"pid": 2**31 - 1, "host": HOST, "started": 1.0})  # the largest pid is a pid (dead)
    assert read_lock(folder).pid == 2**31 - 1 and is_locked(folder.root) is None


@pytest.mark.parametrize("started", ["1e300", "-1e300", "Infinity", "NaN", "1" * 400, "true", "-1"])
def test_a_start_time_no_clock_can_show_is_unknown(tmp_path, started):
    """time.localtime raised on these, so the refusal naming another host's holder (and a takeover's message)
    crashed; such a "started" now reads as unknown ("since ?"), and a real one still reads as itself."""
    folder = _folder(tmp_path)
    folder.lock_path.write_text(f'{{"pid": 4242, "host": "elsewhere.example", "started": {started}}}')
    info = read_lock(folder)
    assert info == LockInfo(4242, "elsewhere.example", 0.0, "")
    with pytest.raises(RunFolderLocked, match="locked by pid 4242 on host elsewhere.example since \\?; ") as err:
        folder.lock()
    assert "\n" not in str(err.value)
    folder.lock_path.write_text('{"pid": 4242, "host": "elsewhere.example", "started": 1700000000.5}')
    assert read_lock(folder).started == 1700000000.5



@pytest.mark.parametrize("started", [0.5, 1700000000.25, "MAX_STARTED"])
def test_a_start_time_in_range_reads_as_itself_and_is_shown(tmp_path, started):
    """From the epoch to MAX_STARTED (year 2514) both ends included, a "started" is a time: read as written, and
    the refusal names it as a date; just past the end it is unknown."""
    started = lock_mod.MAX_STARTED if started == "MAX_STARTED" else started  # read at run time, not collection
    folder = _folder(tmp_path)
    _write(folder, {"pid": 4242, "host": "elsewhere.example", "started": started})
    info = read_lock(folder)
    assert info == LockInfo(4242, "elsewhere.example", started, "")
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(started))
    assert info.describe() == f"pid 4242 on host elsewhere.example since {when}"
    past_the_end = math.nextafter(lock_mod.MAX_STARTED, math.inf)
    _write(folder, {"pid": 4242, "host": "elsewhere.example", "started": past_the_end})
    assert read_lock(folder).started == 0.0

def test_an_unreadable_lock_dated_in_the_future_is_not_fresh(tmp_path):
    """An unreadable lock counts as being written while younger than FRESH_S; one whose mtime is years ahead
    (copied from a machine with a wrong clock) was "younger" than that for years, holding the folder. Within a few
    seconds ahead (a clock stepped back) it still counts as fresh."""
    folder = _folder(tmp_path)
    folder.lock_path.write_bytes(b"")
    _age(folder.lock_path, -10 * 365 * 86400)
    assert holder_alive(read_lock(folder)) is False and is_locked(folder.root) is None
    _age(folder.lock_path, -lock_mod.FRESH_S / 2)
    assert holder_alive(read_lock(folder)) is True
    _age(folder.lock_path, -10 * 365 * 86400)
    with folder.lock() as lock:
        assert "took over a stale lock (pid 0 on host ? since " in lock.stale_message
