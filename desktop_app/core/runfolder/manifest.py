"""manifest.json: read with every known field type-checked, updated only when it could be read.

A manifest that cannot be read (bad JSON, bad bytes, wrong types) is an error naming the file and the field; it
is never replaced by a fresh one, which would lose the run's name, creation date, versions and config hash.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from desktop_app.core.runfolder.layout import MANIFEST, RunFolder, RunFolderError
from desktop_app.core.untrusted import is_int, is_number


class ManifestError(RunFolderError):
    """manifest.json is unreadable or holds a field of the wrong type."""


def _str(v: Any) -> bool:
    return isinstance(v, str)


def _num(v: Any) -> bool:
    return is_number(v)


def _list_of(check: Callable[[Any], bool]) -> Callable[[Any], bool]:
    return lambda v: isinstance(v, list) and all(check(x) for x in v)


def _dict_of(check: Callable[[Any], bool]) -> Callable[[Any], bool]:
    return lambda v: isinstance(v, dict) and all(isinstance(k, str) and check(x) for k, x in v.items())


# field -> (check, what it must be); fields not listed are kept as they are, unchecked and unused by Basin
FIELDS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "name": (_str, "a string"),
    "created": (_str, "a string"),
    "status": (_str, "a string"),
    "arms": (_list_of(_str), "a list of strings"),
    "seeds": (_list_of(is_int), "a list of integers"),
    "device": (_str, "a string"),
    "device_type": (_str, "a string"),
    "config_hash": (_str, "a string"),
    "schema_version": (is_int, "an integer"),
    "versions": (_dict_of(_str), "a table of strings"),
    "git_commit": (_str, "a string"),
    "input_shape": (_list_of(is_int), "a list of integers"),
    "n_classes": (is_int, "an integer"),
    "sizes": (_dict_of(is_int), "a table of integers"),
    "elapsed_s": (_num, "a number"),
    "finished": (_str, "a string"),
    "resumed": (_str, "a string"),
    "message": (_str, "a string"),
    "config_changes": (_list_of(_dict_of(_str)), "a list of tables of strings"),
    "device_changes": (_list_of(_dict_of(_str)), "a list of tables of strings"),
    "units": (_dict_of(_dict_of(_str)), "a table of unit tables of strings"),
    # finetune.patience, which epoch is each unit's final one (core/runfolder/metrics.py, ``run_patience``)
    "patience": (lambda v: is_int(v) and 0 <= v <= 100_000, "an integer from 0 to 100000"),
}


def parse_manifest(text: str, where: str = MANIFEST) -> dict[str, Any]:
    try:
        d = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        reason = f"line {exc.lineno}: {exc.msg}" if isinstance(exc, json.JSONDecodeError) else "nested too deeply"
        raise ManifestError(f"{where}: not valid JSON ({reason})") from None
    if not isinstance(d, dict):
        raise ManifestError(f"{where}: must be a JSON object, got {type(d).__name__}")
    for key, (check, what) in FIELDS.items():
        if key in d and not check(d[key]):
            raise ManifestError(f"{where}: field {key!r} must be {what}, got {json.dumps(d[key])[:60]}")
    return d


def read_manifest(folder: RunFolder | Any) -> dict[str, Any]:
    """The manifest's fields; {} when the folder has none; ManifestError (one line) when it cannot be read."""
    folder = folder if isinstance(folder, RunFolder) else RunFolder(folder)
    path = folder.root / MANIFEST
    if not path.exists() and not path.is_symlink():
        return {}
    return parse_manifest(folder.read_text(path), str(path))


def write_manifest(folder: RunFolder, manifest: dict[str, Any]) -> None:
    folder.write_text(folder.manifest_path, json.dumps(manifest, indent=2, sort_keys=True))


def update_manifest(folder: RunFolder, **changes: Any) -> dict[str, Any]:
    """Read, change and rewrite; an unreadable manifest raises and stays untouched."""
    manifest = read_manifest(folder)
    if not manifest:
        raise ManifestError(f"{folder.root / MANIFEST}: missing; cannot record {', '.join(sorted(changes))}")
    manifest.update(changes)
    write_manifest(folder, manifest)
    return manifest
