"""Deleting a run: the whole folder goes to the system trash (recoverable), never ``rm -r``.

Refused, with one line: a folder that is not a direct child of the workspace (or of a sweep folder in it, as
``listing.run_dirs`` lists them) once links are resolved (a listed
"run" that is a link to somewhere else is never trashed through the link's target), a folder without a run in it,
and a run a live process writes (its lock is taken first, so a writer that starts now waits for us or we refuse;
the refusal names the lock file to delete if the holder is not Basin). Anything else inside the folder is not
looked at: a run Basin refuses to open (a link leading out, a damaged manifest) can still be deleted, because the
move renames the folder itself and follows none of its links.
"""

from __future__ import annotations

import os
from pathlib import Path

from desktop_app.core.runfolder.layout import CONFIG, MANIFEST, RunFolder, RunFolderError
from desktop_app.core.runfolder.listing import listed_parent
from desktop_app.core.runfolder.lock import RunLock


def check_trashable(run_dir: Path | str, workspace: Path | str) -> RunFolder:
    folder = RunFolder(run_dir)
    if folder.root.is_symlink():
        raise RunFolderError(f"{folder.root}: refused: a symbolic link, not a run folder of the workspace")
    try:
        parent, ws = folder.root.resolve().parent, Path(workspace).resolve()
        inside = listed_parent(parent, ws)
    except (OSError, RuntimeError):
        inside = False
    if not inside:
        raise RunFolderError(f"{folder.root}: refused: not a run folder directly inside the workspace {workspace}")
    is_run = any(os.path.lexists(folder.root / name) for name in (CONFIG, MANIFEST))  # a link out still counts
    if not folder.root.is_dir() or not is_run:
        raise RunFolderError(f"{folder.root}: refused: not a Basin run folder (no manifest or config)")
    return folder


def trash_run(run_dir: Path | str, workspace: Path | str) -> None:
    """Move a run folder to the system trash (send2trash); RunFolderError (one line) when refused or it fails."""
    folder = check_trashable(run_dir, workspace)
    # RunFolderLocked (one line naming the holder and the lock file) while a live writer has it; links not checked
    lock = RunLock.acquire(folder, check_links=False)
    lock.release()
    try:
        from send2trash import send2trash
    except ImportError:  # pragma: no cover - declared in pyproject
        raise RunFolderError("cannot delete: the send2trash package is not installed") from None
    try:
        send2trash(str(folder.root))
    except OSError as exc:  # TrashPermissionError is one
        raise RunFolderError(f"{folder.root}: cannot move to the trash ({exc})".splitlines()[0]) from None
