"""The run folder's layout, and the only way to turn a name into a path inside it.

A run folder may come from someone else (a colleague, a paper's supplement), so every path Basin reads or
writes in it is resolved here and must stay inside it: a symbolic link leading out is refused, arm names are
checked before they become folder names, and every file is size-checked before it is read. See
docs/ARCHITECTURE.md (run-folder layout) and docs/SECURITY.md.

Layout (all writes atomic, temp + rename)::

  config.toml                              the ExperimentConfig
  manifest.json                            versions, git commit, config hash, seeds, arms, device, status, timings
  notes.json                               the user's tags and free-text note (see ``notes``; never the engine's)
  metrics.csv                              every unit's rows merged (long format, see ``metrics``)
  .basin.lock                              present while a process writes the folder (see ``lock``)
  metrics/<arm>_s<seed>.csv                one unit's rows (what resume and replay read)
  snapshots/<arm>/s<seed>/filters_<phase>_<epoch>.npy, probe_<epoch>.npy
  checkpoints/<arm>/s<seed>/latest.pt      the unit's resume state; e<epoch>.pt weights along the trajectory
  online/<arm>_s<seed>.csv                 an online run's curve per unit (see ``online``)
  analyses/<name>-<key>.npz + .json        cached analysis results (see ``results_cache``)
  tensorboard/<arm>/seed<k>/               optional TensorBoard event files, one run per unit (``tensorboard_log``)

One (arm, seed) unit owns ``metrics/<arm>_s<seed>.csv``, ``online/<arm>_s<seed>.csv``, ``snapshots/<arm>/s<seed>/`` and
``checkpoints/<arm>/s<seed>/`` (its ``UnitFolder``) and writes nothing else.
"""

from __future__ import annotations

import contextlib
import fnmatch
import os
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from desktop_app.core.atomic import is_temp_name, write_bytes_atomic, write_text_atomic
from desktop_app.core.untrusted import UnreadableFile, open_regular, read_regular

CONFIG = "config.toml"
MANIFEST = "manifest.json"
NOTES = "notes.json"
METRICS = "metrics.csv"
LOCK = ".basin.lock"
METRICS_DIR = "metrics"
SNAPSHOTS = "snapshots"
CHECKPOINTS = "checkpoints"
ANALYSES = "analyses"
TENSORBOARD = "tensorboard"
ONLINE = "online"
LATEST = "latest.pt"

MAX_TEXT_BYTES = 16 * 2**20  # config, manifest, analysis metadata
MAX_CSV_BYTES = 512 * 2**20  # metrics files
MAX_ARRAY_BYTES = 1024 * 2**20  # one snapshot .npy

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")


class RunFolderError(ValueError):
    """A run folder, or a file in it, cannot be used; the message is one line naming the file and why."""


def check_name(kind: str, value: object) -> str:
    """An arm or analysis name that is safe as a path component (letters, digits, _ and -)."""
    if not isinstance(value, str) or not _NAME.match(value):
        raise RunFolderError(f"{kind} {str(value)[:40]!r} is not a valid name (letters, digits, '_' and '-')")
    return value


def _inside(root: Path, path: Path) -> bool:
    try:
        path.relative_to(root)
        return True
    except ValueError:
        return False


@dataclass(frozen=True)
class RunFolder:
    """A run folder on disk. Plain data (picklable), so it can be handed to a worker process."""

    root: Path

    def __init__(self, root: Path | str) -> None:
        object.__setattr__(self, "root", Path(root).absolute())

    # -- safe paths ------------------------------------------------------------------------------------
    @property
    def real_root(self) -> Path:
        return self.root.resolve()

    def path(self, *parts: str) -> Path:
        """``root/parts...`` after checking that it stays inside the folder once links are followed."""
        candidate = self.root.joinpath(*parts)
        return self.check_inside(candidate)

    def check_inside(self, path: Path) -> Path:
        """``path`` itself if it (and any link on the way) stays inside the run folder; else RunFolderError."""
        path = Path(path)
        if not path.is_absolute():
            path = self.root / path
        try:
            real = path.resolve()
        except (OSError, RuntimeError) as exc:  # a symlink loop
            raise RunFolderError(f"{self.rel(path)}: refused: cannot resolve the path ({exc})") from None
        if not _inside(self.real_root, real):
            raise RunFolderError(f"{self.rel(path)}: refused: it leads out of the run folder {self.root} "
                                 f"(a symbolic link to {real}?)")
        return path

    def rel(self, path: Path) -> str:
        try:
            return Path(path).relative_to(self.root).as_posix()
        except ValueError:
            return str(path)

    def check_links(self) -> None:
        """Refuse the folder if any symbolic link in it leads outside (walks without following links)."""
        if self.root.is_symlink() or not self.root.exists():
            return
        todo = [str(self.root)]  # scandir's entries know whether they are links: no lstat per file (22,000 in a
        while todo:  # 2 x 400 study's folder)
            for entry in _scan(Path(todo.pop())):
                if entry.is_symlink():
                    self.check_inside(Path(entry.path))
                elif entry.is_dir(follow_symlinks=False):
                    todo.append(entry.path)

    # -- the fixed files -------------------------------------------------------------------------------
    @property
    def config_path(self) -> Path:
        return self.path(CONFIG)

    @property
    def manifest_path(self) -> Path:
        return self.path(MANIFEST)

    @property
    def metrics_path(self) -> Path:
        return self.path(METRICS)

    @property
    def notes_path(self) -> Path:
        return self.path(NOTES)

    @property
    def lock_path(self) -> Path:
        return self.root / LOCK

    @property
    def tensorboard_dir(self) -> Path:
        return self.path(TENSORBOARD)

    def is_run(self) -> bool:
        """Holds a run (a manifest or a config), as opposed to an empty or foreign folder."""
        return (self.root / MANIFEST).exists() or (self.root / CONFIG).exists()

    def holds_files(self) -> bool:
        """Anything but the lock file and temp files of a killed writer."""
        if not self.root.is_dir():
            return False
        return any(p.name != LOCK and not is_temp_name(p.name) for p in self.root.iterdir())

    # -- units -----------------------------------------------------------------------------------------
    def unit(self, arm: str, seed: int) -> UnitFolder:
        return UnitFolder(self, check_name("arm", arm), _check_seed(seed))

    def unit_metric_files(self) -> list[tuple[str, int, Path]]:
        """(arm, seed, path) of every per-unit metrics file."""
        out = []
        folder = self.root / METRICS_DIR
        if not folder.is_dir():
            return out
        self.check_inside(folder)
        for p in folder.glob("*.csv"):
            arm, sep, seed = p.stem.rpartition("_s")
            if sep and seed.isdigit() and _NAME.match(arm) and not is_temp_name(p.name):
                out.append((arm, int(seed), self.check_inside(p)))
        return out

    def _unit_files(self, kind: str, pattern: str) -> list[tuple[str, int, Path]]:
        """(arm, seed, path) of the files ``<kind>/<arm>/s<seed>/<pattern>``, in linear time: the top folder is
        resolved once, and below it only an entry that is itself a symbolic link is resolved (a plain folder or
        file inside a checked folder is inside by construction). Resolving every file (``check_inside`` per
        path) cost a ``realpath`` of every checkpoint and snapshot, 79 % of opening a 2 x 400 study."""
        top = self.root / kind
        if not top.is_dir():
            return []
        self.check_inside(top)
        out = []
        for arm_entry in _scan(top):
            if not _NAME.match(arm_entry.name) or not _dir_inside(self, arm_entry):
                continue
            for seed_entry in _scan(Path(arm_entry.path)):
                seed = seed_entry.name[1:]
                if seed_entry.name[:1] != "s" or not seed.isdigit() or not _dir_inside(self, seed_entry):
                    continue
                for entry in _scan(Path(seed_entry.path)):
                    name = entry.name
                    if name.startswith(".") or not fnmatch.fnmatchcase(name, pattern) or is_temp_name(name):
                        continue
                    path = Path(entry.path)
                    if entry.is_symlink():
                        self.check_inside(path)
                    out.append((arm_entry.name, int(seed), path))
        return out

    def checkpoints(self) -> list[tuple[str, int, int, Path]]:
        """(arm, seed, epoch, path) of every weights checkpoint ``e<epoch>.pt``, sorted by seed, arm, epoch."""
        out = [(arm, seed, int(p.stem[1:]), p) for arm, seed, p in self._unit_files(CHECKPOINTS, "e[0-9]*.pt")
               if p.stem[1:].isdigit()]
        return sorted(out, key=lambda t: (t[1], t[0], t[2]))

    def resume_states(self) -> list[tuple[str, int, Path]]:
        """(arm, seed, path) of every unit's resume state ``latest.pt``, sorted by seed, arm. An online unit keeps
        no ``e<epoch>.pt``: once its stage is done, this file holds its final net (``replay`` lists those)."""
        return sorted(self._unit_files(CHECKPOINTS, LATEST), key=lambda t: (t[1], t[0]))

    def snapshots(self, kind: str = "*") -> list[tuple[str, int, Path]]:
        """(arm, seed, path) of snapshot arrays; kind "filters", "probe" or "*"."""
        return [(arm, seed, p) for arm, seed, p in self._unit_files(SNAPSHOTS, f"{kind}_*.npy")
                if parse_snapshot_name(p.stem) is not None]

    def snapshot_file(self, arm: str, seed: int, kind: str, epoch: int, phase: str = "finetune") -> Path:
        """Where a unit's snapshot ("filters" of ``phase``, or "probe") lies, NOT checked against links: for a
        reference read later through ``load_array`` (which checks it). The unit's writer uses ``UnitFolder``."""
        name = f"filters_{phase}_{int(epoch):04d}.npy" if kind == "filters" else f"probe_{int(epoch):04d}.npy"
        return self.root / SNAPSHOTS / arm / f"s{int(seed)}" / name

    def units_on_disk(self) -> list[tuple[str, int]]:
        units = {(a, s) for a, s, _ in self.unit_metric_files()}
        units |= {(a, s) for a, s, _ in self.snapshots()}
        units |= {(a, s) for a, s, _, _ in self.checkpoints()}
        return sorted(units, key=lambda u: (u[1], u[0]))

    # -- analyses --------------------------------------------------------------------------------------
    def analysis_paths(self, name: str, key: str) -> tuple[Path, Path]:
        """(npz, json) of one cached analysis result."""
        check_name("analysis", name)
        if not re.fullmatch(r"[0-9a-f]{1,64}", key):
            raise RunFolderError(f"analysis key {key[:40]!r} is not a hex digest")
        base = f"{name}-{key}"
        return self.path(ANALYSES, base + ".npz"), self.path(ANALYSES, base + ".json")

    def analysis_metadata_files(self, name: str | None = None) -> list[Path]:
        folder = self.root / ANALYSES
        if not folder.is_dir():
            return []
        self.check_inside(folder)
        if name is not None:
            check_name("analysis", name)
        return [self.check_inside(p) for p in folder.glob(f"{name or '*'}-*.json") if not is_temp_name(p.name)]

    # -- reading and writing ---------------------------------------------------------------------------
    def read_bytes(self, path: Path, limit: int = MAX_TEXT_BYTES) -> bytes:
        """A file's bytes, refused when it leads outside, is not a regular file (a FIFO would block) or is larger
        than ``limit`` (``core.untrusted``, the one checked reader)."""
        path = self.check_inside(path)
        try:
            return read_regular(path, limit)
        except UnreadableFile as exc:
            raise RunFolderError(f"{self.rel(path)}: {exc.reason}") from None

    def open_file(self, path: Path, limit: int):
        """``(file, size)`` context of a regular file inside the folder of at most ``limit`` bytes (for readers
        that take a file object: torch.load, zipfile); RunFolderError names the file."""
        return _open_inside(self, self.check_inside(path), limit)

    def read_text(self, path: Path, limit: int = MAX_TEXT_BYTES) -> str:
        """UTF-8 text (a leading byte-order mark is dropped); bad bytes are an error naming the file."""
        data = self.read_bytes(path, limit)
        try:
            return data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise RunFolderError(f"{self.rel(path)}: not UTF-8 text (bad byte at offset {exc.start})") from None

    def load_array(self, path: Path, limit: int = MAX_ARRAY_BYTES) -> np.ndarray:
        """A numeric .npy array (never pickled objects), size-checked before it is read."""
        data = self.read_bytes(path, limit)
        import io

        try:
            arr = np.load(io.BytesIO(data), allow_pickle=False)
        except (ValueError, OSError, EOFError) as exc:
            raise RunFolderError(f"{self.rel(path)}: not a readable .npy array ({str(exc)[:120]})") from None
        if not isinstance(arr, np.ndarray) or arr.dtype.kind not in "biuf":
            raise RunFolderError(f"{self.rel(path)}: not a numeric array")
        return arr

    def write_bytes(self, path: Path, data: bytes) -> Path:
        path = self.check_inside(path)
        write_bytes_atomic(path, data)
        return path

    def write_text(self, path: Path, text: str) -> Path:
        path = self.check_inside(path)
        write_text_atomic(path, text)
        return path

    def save_array(self, path: Path, arr: np.ndarray) -> Path:
        import io

        buf = io.BytesIO()
        np.save(buf, np.ascontiguousarray(arr, dtype=np.float32))
        return self.write_bytes(path, buf.getvalue())

    def remove_temp_files(self) -> int:
        """Delete ``.*.tmp`` files a killed writer left behind; only call it while no live process writes."""
        if not self.root.is_dir():
            return 0
        n = 0
        for dirpath, _dirnames, filenames in os.walk(self.root, followlinks=False):
            for name in filenames:
                if is_temp_name(name):
                    try:
                        os.unlink(Path(dirpath) / name)
                        n += 1
                    except OSError:
                        pass
        return n

    def check_writable(self) -> None:
        """Before a run writes anything (``basin run --check`` too): the folder, or the nearest existing folder above
        it, where it will be made, must take a new entry. Probed by making and removing an empty folder there: a
        permission bit says nothing to root, a read-only mount or a file on the way. RunFolderError otherwise."""
        base = self.root
        while not base.exists() and not base.is_symlink() and base != base.parent:
            base = base.parent
        if not base.is_dir():
            raise RunFolderError(f"{self.root}: cannot create the run folder ({base} is not a folder)")
        try:
            os.rmdir(tempfile.mkdtemp(prefix=".basin-probe-", dir=base))
        except OSError as exc:
            raise RunFolderError(f"{self.root}: cannot write the run folder in {base} "
                                 f"({exc.strerror or exc})") from None

    def lock(self):
        """Take the folder's exclusive writer lock (``lock.RunLock``); RunFolderLocked if a live process holds it."""
        from desktop_app.core.runfolder.lock import RunLock

        return RunLock.acquire(self)


@contextlib.contextmanager
def _open_inside(folder: RunFolder, path: Path, limit: int) -> Iterator[tuple[BinaryIO, int]]:
    with contextlib.ExitStack() as stack:
        try:
            opened = stack.enter_context(open_regular(path, limit))
        except UnreadableFile as exc:
            raise RunFolderError(f"{folder.rel(path)}: {exc.reason}") from None
        yield opened


def _scan(folder: Path) -> list[os.DirEntry]:
    """The entries of a folder ([] when it cannot be listed: it vanished or is not a folder)."""
    try:
        with os.scandir(folder) as it:
            return list(it)
    except OSError:
        return []


def _dir_inside(folder: RunFolder, entry: os.DirEntry) -> bool:
    """A folder entry to descend into: a plain folder, or a link that stays inside (RunFolderError if not)."""
    if entry.is_symlink():
        folder.check_inside(Path(entry.path))
    try:
        return entry.is_dir()
    except OSError:
        return False


def _check_seed(seed: object) -> int:
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or not 0 <= int(seed) < 2**31:
        raise RunFolderError(f"seed {str(seed)[:40]!r} is not a seed (an integer 0 .. 2^31-1)")
    return int(seed)


def parse_snapshot_name(stem: str) -> tuple[str, str, int] | None:
    """("filters", phase, epoch) or ("probe", "finetune", epoch) from a snapshot's file stem; None if neither."""
    parts = stem.split("_")
    if parts[0] == "filters" and len(parts) == 3 and parts[1] in ("init", "pretrain", "finetune") \
            and parts[2].isdigit():
        return "filters", parts[1], int(parts[2])
    if parts[0] == "probe" and len(parts) == 2 and parts[1].isdigit():
        return "probe", "finetune", int(parts[1])
    return None


@dataclass(frozen=True)
class StoredArray:
    """A snapshot array left on disk until it is looked at (``replay(lazy=True)``; the lab keeps these instead of
    the arrays, so a study of 800 units opens without reading its snapshots). ``load`` reads it as
    ``RunFolder.load_array`` does: size-checked, numeric only, RunFolderError naming the file."""

    folder: RunFolder
    path: Path

    def load(self) -> np.ndarray:
        return self.folder.load_array(self.path)


@dataclass(frozen=True)
class UnitFolder:
    """The files of one (arm, seed) unit: the only ones a unit writes (see the module docstring)."""

    run: RunFolder
    arm: str
    seed: int

    @property
    def metrics_path(self) -> Path:
        return self.run.path(METRICS_DIR, f"{self.arm}_s{self.seed}.csv")

    @property
    def online_path(self) -> Path:
        return self.run.path(ONLINE, f"{self.arm}_s{self.seed}.csv")

    @property
    def snapshots_dir(self) -> Path:
        return self.run.path(SNAPSHOTS, self.arm, f"s{self.seed}")

    @property
    def checkpoints_dir(self) -> Path:
        return self.run.path(CHECKPOINTS, self.arm, f"s{self.seed}")

    @property
    def latest_path(self) -> Path:
        return self.run.path(CHECKPOINTS, self.arm, f"s{self.seed}", LATEST)

    def checkpoint_path(self, epoch: int) -> Path:
        return self.run.path(CHECKPOINTS, self.arm, f"s{self.seed}", f"e{int(epoch):04d}.pt")

    def filters_path(self, phase: str, epoch: int) -> Path:
        return self.run.path(SNAPSHOTS, self.arm, f"s{self.seed}", f"filters_{phase}_{int(epoch):04d}.npy")

    def probe_path(self, epoch: int) -> Path:
        return self.run.path(SNAPSHOTS, self.arm, f"s{self.seed}", f"probe_{int(epoch):04d}.npy")

    def checkpoint_epochs(self) -> list[int]:
        """Fine-tuning epochs with a saved weights checkpoint, ascending."""
        folder = self.checkpoints_dir
        if not folder.is_dir():
            return []
        return sorted(int(p.stem[1:]) for p in folder.glob("e[0-9]*.pt")
                      if p.stem[1:].isdigit() and not is_temp_name(p.name) and self.run.check_inside(p))

    def write_checkpoint(self, epoch: int, data: bytes) -> Path:
        return self.run.write_bytes(self.checkpoint_path(epoch), data)

    def write_latest(self, data: bytes) -> Path:
        return self.run.write_bytes(self.latest_path, data)

    def files(self) -> list[Path]:
        """Every file the unit has written (to copy a unit back from a machine without the shared folder)."""
        out = [p for p in (self.metrics_path, self.online_path) if p.exists()]
        for folder in (self.snapshots_dir, self.checkpoints_dir):
            if folder.is_dir():
                out += sorted(p for p in folder.iterdir() if p.is_file() and not is_temp_name(p.name))
        return out
