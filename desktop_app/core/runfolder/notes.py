"""notes.json: the user's tags and free-text note on a run, kept in the run folder beside the run they describe.

The engine never writes this file (a running run can be tagged: the write is atomic and touches nothing else).
It may come from someone else's folder, so reading checks the size before reading, the JSON shape and every tag
and the note's length, and a bad file is a one-line ``RunFolderError`` naming it: the run stays listed, with the
problem. Writing validates the same way, so Basin never writes a file it would refuse to read.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from desktop_app.core.runfolder.layout import NOTES, RunFolder, RunFolderError

MAX_NOTES_BYTES = 64 * 2**10
MAX_NOTE_CHARS = 10_000
MAX_TAGS = 32
MAX_TAG_CHARS = 40
_TAG = re.compile(rf"[^\x00-\x1f\x7f,]{{1,{MAX_TAG_CHARS}}}")  # no control characters, no commas (the separator)
_NOTE_BAD = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")  # control characters other than tab and newline


@dataclass(frozen=True)
class Notes:
    tags: tuple[str, ...] = ()
    note: str = ""


def check_tags(tags: object, where: str = "tags") -> tuple[str, ...]:
    """Tags stripped, duplicates dropped (first kept); RunFolderError naming the first bad one."""
    if not isinstance(tags, list | tuple):
        raise RunFolderError(f"{where}: must be a list of strings")
    out: list[str] = []
    for tag in tags:
        if not isinstance(tag, str):
            raise RunFolderError(f"{where}: {json.dumps(tag)[:40]} is not a string")
        tag = tag.strip()
        if not _TAG.fullmatch(tag):
            raise RunFolderError(f"{where}: tag {tag[:40]!r} must be 1-{MAX_TAG_CHARS} characters without commas "
                                 "or control characters")
        if tag not in out:
            out.append(tag)
    if len(out) > MAX_TAGS:
        raise RunFolderError(f"{where}: {len(out)} tags is more than {MAX_TAGS}")
    return tuple(out)


def parse_tags(text: str) -> tuple[str, ...]:
    """"baseline, wide" -> ("baseline", "wide"): how the Runs pane's tag editor is typed."""
    return check_tags([t for t in text.split(",") if t.strip()])


def check_note(note: object, where: str = "note") -> str:
    if not isinstance(note, str):
        raise RunFolderError(f"{where}: must be a string")
    if len(note) > MAX_NOTE_CHARS:
        raise RunFolderError(f"{where}: {len(note)} characters is more than {MAX_NOTE_CHARS}")
    bad = _NOTE_BAD.search(note)
    if bad:
        raise RunFolderError(f"{where}: control character {bad.group()!r} at position {bad.start()}")
    return note


def read_notes(folder: RunFolder) -> Notes:
    """The run's tags and note; empty when it has none; RunFolderError (one line) when the file is bad."""
    path = folder.root / NOTES
    if not path.exists() and not path.is_symlink():
        return Notes()
    where = str(path)
    text = folder.read_text(path, MAX_NOTES_BYTES)
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        raise RunFolderError(f"{where}: not valid JSON") from None
    if not isinstance(data, dict):
        raise RunFolderError(f"{where}: must be a JSON object")
    return Notes(check_tags(data.get("tags", []), f"{where}: tags"), check_note(data.get("note", ""), f"{where}: note"))


def write_notes(folder: RunFolder, tags: object = (), note: object = "") -> Notes:
    """Validate, then write atomically; returns what was written (tags normalised)."""
    notes = Notes(check_tags(list(tags) if isinstance(tags, tuple) else tags), check_note(note))
    text = json.dumps({"tags": list(notes.tags), "note": notes.note}, indent=2, ensure_ascii=False)
    if len(text.encode("utf-8")) > MAX_NOTES_BYTES:  # 10,000 characters of 4-byte text plus escapes still fit
        raise RunFolderError(f"{folder.root / NOTES}: too large to write")
    folder.write_text(folder.notes_path, text)
    return notes
