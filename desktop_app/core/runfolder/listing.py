"""The runs of a workspace folder: every readable one summarised, every unreadable one with the reason.

One malformed folder (a metrics CSV saved with a byte-order mark, bad bytes, a config nested 20,000 deep, a seed
that is not a number) must never take the listing down: it is listed with status "unreadable" and the one-line
reason, and the others are listed as usual.

``metrics=False`` lists from the manifests alone (no metrics read: ``final_test_error`` stays empty), the cheap
first pass of the Runs table, which reads the rest per run in the background (``core/lab/run_table.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from desktop_app.core.runfolder.layout import MANIFEST, RunFolder, RunFolderError
from desktop_app.core.runfolder.lock import is_locked
from desktop_app.core.runfolder.manifest import read_manifest
from desktop_app.core.runfolder.metrics import manifest_patience
from desktop_app.core.runfolder.online import run_final_test_errors

UNREADABLE = "unreadable"


@dataclass(frozen=True)
class RunInfo:
    path: Path
    name: str
    created: str
    status: str  # the manifest's status, or "unreadable" (then ``problem`` says why)
    arms: tuple[str, ...]
    seeds: int
    final_test_error: dict[str, float]  # arm -> mean over seeds of the last epoch's test error
    config_hash: str
    problem: str = ""  # one line: why the folder cannot be read ("" when it can)
    writer: str = ""  # "pid N on host H since ..." while a live process holds the folder's lock
    elapsed_s: float | None = None  # wall time the manifest records (None before the run's end)

    @property
    def readable(self) -> bool:
        return not self.problem


def run_info(run_dir: Path | str, metrics: bool = True) -> RunInfo | None:
    """A run's summary; None for a folder without a manifest; RunFolderError when it cannot be read."""
    folder = RunFolder(run_dir)  # every file read below is checked to stay inside (no walk: listing stays fast)
    manifest = read_manifest(folder)
    if not manifest:
        return None
    arms = tuple(manifest.get("arms", ()))
    finals = run_final_test_errors(folder, arms, manifest_patience(manifest)) if metrics else {}
    holder = is_locked(folder.root)
    return RunInfo(
        path=Path(run_dir),
        name=manifest.get("name", folder.root.name),
        created=manifest.get("created", ""),
        status=manifest.get("status", "unknown"),
        arms=arms,
        seeds=len(manifest.get("seeds", ())),
        final_test_error={arm: float(np.mean(list(v.values()))) for arm, v in finals.items()},
        config_hash=manifest.get("config_hash", ""),
        writer=holder.describe() if holder else "",
        elapsed_s=float(manifest["elapsed_s"]) if "elapsed_s" in manifest else None,
    )


def unreadable(run_dir: Path, problem: str) -> RunInfo:
    return RunInfo(path=Path(run_dir), name=Path(run_dir).name, created="", status=UNREADABLE, arms=(), seeds=0,
                   final_test_error={}, config_hash="", problem=problem.splitlines()[0][:300] if problem else "?")


def safe_run_info(run_dir: Path, metrics: bool = True) -> RunInfo | None:
    """``run_info`` that never raises: an unreadable folder comes back as an "unreadable" RunInfo."""
    try:
        return run_info(run_dir, metrics)
    except RunFolderError as exc:
        return unreadable(run_dir, str(exc))
    except (OSError, ValueError, TypeError, KeyError, RecursionError, MemoryError) as exc:  # belt and braces
        return unreadable(run_dir, f"{run_dir / MANIFEST}: {type(exc).__name__}: {exc}")


SWEEP_FILE = "sweep.toml"  # core.sweep_runs.write_sweep_file: a folder whose sub-folders are a sweep's variants
FULL, REDUCED = "full", "reduced"  # core.reproduce.claims.run_claim: ``out/full/<run>`` and ``out/reduced/<run>``
REPRODUCE_SIZES = (FULL, REDUCED)


def run_dirs(workspace: Path | str) -> list[Path]:
    """The folders of a workspace that hold a manifest, by name (no file is read); one level down, the variants of
    a sweep run with ``--out ws/name`` (``ws/name/width=32/``, beside ``ws/name/sweep.toml``); and two levels
    down, the runs of ``basin reproduce`` (``ws/reproduce/full/<run>/``, its default ``--out`` in the workspace,
    or ``ws/name/reduced/<run>/``). Both were missing from the Runs pane and ``basin runs``. Linked sub-folders are
    not followed."""
    try:
        children = sorted(p for p in Path(workspace).iterdir() if p.is_dir())
    except OSError:
        return []
    out: list[Path] = []
    for p in children:
        if (p / MANIFEST).exists():
            out.append(p)
        elif (p / SWEEP_FILE).is_file():
            out += _runs_in(p)
        else:
            for size in REPRODUCE_SIZES:
                sub = p / size
                if not sub.is_symlink() and sub.is_dir():
                    out += _runs_in(sub)
    return out


def _runs_in(folder: Path) -> list[Path]:
    """The run folders directly in ``folder`` (not links), by name."""
    try:
        return sorted(v for v in folder.iterdir() if not v.is_symlink() and v.is_dir() and (v / MANIFEST).exists())
    except OSError:
        return []


def listed_parent(parent: Path, workspace: Path) -> bool:
    """Whether ``run_dirs`` lists the run folders directly in ``parent`` (both paths resolved): the workspace, a
    sweep's folder in it, or a reproduce size folder two levels down."""
    return (parent == workspace or (parent.parent == workspace and (parent / SWEEP_FILE).is_file())
            or (parent.name in REPRODUCE_SIZES and parent.parent.parent == workspace))


def list_runs(workspace: Path | str, metrics: bool = True) -> list[RunInfo]:
    """Runs in a workspace folder, newest first; unreadable ones (status "unreadable") last, by name."""
    infos = [i for i in (safe_run_info(p, metrics) for p in run_dirs(workspace)) if i is not None]
    good = sorted((i for i in infos if i.readable), key=lambda i: i.created, reverse=True)
    bad = sorted((i for i in infos if not i.readable), key=lambda i: i.name)
    return good + bad
