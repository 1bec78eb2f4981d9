"""Metric rows: long-format CSV, one file per (arm, seed) unit plus ``metrics.csv`` merged from them.

Columns: arm, seed, phase, layer, epoch, split, nll, error, recon_error, wall_s (seconds the unit had run at the end
of a fine-tuning epoch; files written before it was recorded have no such column and read as ""). Reading checks
every row (a CSV saved by a spreadsheet with a byte-order mark, bad bytes, a seed that is not a number, ...) and
names the file and line of the first bad one (a non-finite number, an error outside [0, 1]); rows come back as
dicts of strings, as ``csv.DictReader`` gives them.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from desktop_app.core.runfolder.layout import MAX_CSV_BYTES, RunFolder, RunFolderError, check_name

REQUIRED = ("arm", "seed", "phase", "layer", "epoch", "split", "nll", "error", "recon_error")
COLUMNS = (*REQUIRED, "wall_s")  # written; wall_s may be missing from older files
SPLITS = ("train", "valid", "test")
PHASES = ("pretrain", "finetune")


def rows_to_csv(rows: Iterable[dict[str, Any]]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _fmt(row.get(k, "")) for k in COLUMNS})
    return buf.getvalue()


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return repr(v)
    return str(v)


def _int(s: str) -> bool:
    return s.lstrip("-").isdigit() and len(s) < 12


# What a value may be: Basin never writes a non-finite one (a diverged unit stops before its epoch is written), an
# error is a fraction, a loss and a time are not negative. ``inf`` was accepted and shown as "inf%".
_RANGES = {"nll": (0.0, float("inf")), "error": (0.0, 1.0), "recon_error": (-float("inf"), float("inf")),
           "wall_s": (0.0, float("inf"))}


def _number_problem(key: str, s: str) -> str:
    """"" for an empty cell or a finite number in the column's range, else what is wrong."""
    if s == "":
        return ""
    try:
        value = float(s)
    except ValueError:
        return f"{key} {s[:20]!r} is not a number"
    if len(s) >= 64 or not math.isfinite(value):
        return f"{key} {s[:20]!r} is not a finite number"
    low, high = _RANGES[key]
    if not low <= value <= high:
        where = "between 0 and 1" if high == 1.0 else "at least 0"
        return f"{key} {s[:20]!r} is out of range (must be {where})"
    return ""


def check_row(row: dict[str, str]) -> str:
    """"" for a good row, else what is wrong with it."""
    if row.get("arm") is None or any(row.get(k) is None for k in COLUMNS):
        return "missing columns"
    try:
        check_name("arm", row["arm"])
    except RunFolderError as exc:
        return str(exc)
    if not row["seed"].isdigit() or len(row["seed"]) > 10:
        return f"seed {row['seed'][:20]!r} is not a non-negative integer"
    if row["phase"] not in PHASES:
        return f"phase {row['phase'][:20]!r} is not one of {', '.join(PHASES)}"
    for key in ("layer", "epoch"):
        if not _int(row[key]):
            return f"{key} {row[key][:20]!r} is not an integer"
    if row["split"] not in (*SPLITS, "unlabelled"):
        return f"split {row['split'][:20]!r} is not one of {', '.join(SPLITS)}, unlabelled"
    for key in ("nll", "error", "recon_error", "wall_s"):
        problem = _number_problem(key, row[key])
        if problem:
            return problem
    if row["phase"] == "finetune" and (row["nll"] == "" or row["error"] == ""):
        return "a fine-tuning row needs nll and error"
    if row["phase"] == "pretrain" and row["recon_error"] == "":
        return "a pre-training row needs recon_error"
    return ""


def csv_reader(folder: RunFolder, path: Path, required: Iterable[str], kind: str, shown: str = ""
               ) -> csv.DictReader | None:
    """A reader over one of a run folder's CSV files, its size bounded and its header checked for the
    ``required`` columns (RunFolderError naming ``shown`` or the path); None when the file does not exist or is
    empty. Every CSV a run folder holds (metrics, online points) is opened here."""
    if not path.exists() and not path.is_symlink():
        return None
    text = folder.read_text(path, MAX_CSV_BYTES)
    reader = csv.DictReader(io.StringIO(text, newline=""))
    if reader.fieldnames is None:
        return None
    missing = [c for c in required if c not in reader.fieldnames]
    if missing:
        raise RunFolderError(f"{shown or path}: not a Basin {kind} file (no column {missing[0]!r})")
    return reader


def read_csv(folder: RunFolder, path: Path) -> list[dict[str, str]]:
    """Checked rows of one metrics file ([] when it does not exist)."""
    reader = csv_reader(folder, path, REQUIRED, "metrics")
    if reader is None:
        return []
    rows = []
    try:
        for row in reader:
            if row.get("wall_s") is None and row.get("arm") is not None:
                row["wall_s"] = ""  # written before wall time was recorded
            problem = check_row(row)
            if problem:
                raise RunFolderError(f"{path} line {reader.line_num}: {problem}")
            rows.append({k: row[k] for k in COLUMNS})
    except csv.Error as exc:  # the DictReader's line_num is still the last good row's: its reader's is this one
        raise RunFolderError(f"{path} line {reader.reader.line_num}: {exc}") from None
    return rows


def unit_order(arms: Sequence[str]):
    """Sort key of (arm, seed): seed-major, arms in config order (the order units run)."""
    arms = list(arms)

    def key(unit: tuple[str, int]) -> tuple[int, int, str]:
        arm, seed = unit
        return (seed, arms.index(arm) if arm in arms else len(arms), arm)

    return key


def folder_and_arms(folder: RunFolder | Path | str, arms: Iterable[str] | None) -> tuple[RunFolder, tuple[str, ...]]:
    """The run folder, and the arm order its per-unit files are read in: ``arms``, else the manifest's (none when
    the manifest cannot be read: units then sort by name)."""
    folder = folder if isinstance(folder, RunFolder) else RunFolder(folder)
    if arms is None:
        from desktop_app.core.runfolder.manifest import read_manifest

        try:
            arms = read_manifest(folder).get("arms", ())
        except RunFolderError:
            arms = ()
    return folder, tuple(arms)


def read_metrics(folder: RunFolder | Path | str, arms: Sequence[str] | None = None) -> list[dict[str, str]]:
    """All metric rows: the per-unit files (complete even for a stopped run), else the merged metrics.csv. The
    merged file is read instead of the units' files when it was written after every one of them (a finished run:
    one file instead of 800 for a study, half the time of the Runs table's row and of an Open). Units come
    seed-major, arms in ``arms`` order (default: the manifest's)."""
    folder, arms = folder_and_arms(folder, arms)
    files = folder.unit_metric_files()
    if files and _merged_is_current(folder, [p for *_, p in files]):
        return read_csv(folder, folder.root / "metrics.csv")
    if files:
        rows: list[dict[str, str]] = []
        key = unit_order(arms)
        for _arm, _seed, path in sorted(files, key=lambda t: key((t[0], t[1]))):
            rows.extend(read_csv(folder, path))
        return rows
    return read_csv(folder, folder.root / "metrics.csv")


def _merged_is_current(folder: RunFolder, unit_files: list[Path]) -> bool:
    """metrics.csv exists and is newer than every unit's file (``RunSink.merge_metrics`` ran after the last
    write); False when anything cannot be stat'ed."""
    merged = folder.root / "metrics.csv"
    try:
        if merged.is_symlink() or not merged.is_file():
            return False
        written = merged.stat().st_mtime_ns
        return all(p.stat().st_mtime_ns <= written for p in unit_files)
    except OSError:
        return False


FIRST_TRAINED_EPOCH = 1  # fine-tuning epoch 0 is the evaluation before any training: never a final result


# -- which epoch is a unit's "final" one: the one owner (docs/ARCHITECTURE.md, "Final values and the selected epoch")
def improves(valid_error: float, best: float | None) -> bool:
    """The one early-stopping comparison (``finetune.patience``, Prechelt 1998): an epoch improves on the best so far
    when its validation error is strictly lower. A tie keeps the earlier epoch (no tie-break on validation NLL: the
    epoch is chosen on the quantity the run reports). The trainer stops and the reducers select by this alone."""
    return best is None or valid_error < best


def select_epoch(epochs: Iterable[int], valid_errors: Iterable[float]) -> int | None:
    """The selected epoch of one unit with early stopping on: its first epoch (from ``FIRST_TRAINED_EPOCH``) with
    the lowest validation error, given its epochs and their validation errors (any order); None before one."""
    best: tuple[int, float] | None = None
    for epoch, err in sorted(zip(epochs, valid_errors, strict=True)):
        if epoch >= FIRST_TRAINED_EPOCH and improves(float(err), None if best is None else best[1]):
            best = (int(epoch), float(err))
    return None if best is None else best[0]


def run_patience(folder: RunFolder | Path | str) -> int:
    """The early-stopping patience a run's final values are selected by: its manifest's ``patience`` (the engine
    writes it from ``finetune.patience`` when set; absent = 0, as in every run made before the field). Read from the
    manifest, not config.toml, so the runs list reads one file per run and a run whose config cannot be parsed is
    still listed."""
    from desktop_app.core.runfolder.manifest import read_manifest

    return manifest_patience(read_manifest(folder if isinstance(folder, RunFolder) else RunFolder(folder)))


def manifest_patience(manifest: Mapping[str, Any]) -> int:
    """``run_patience`` of a manifest already read (``read_manifest`` checked the field's type and range)."""
    return int(manifest.get("patience", 0))


def _final(rows: Iterable[dict[str, str]], split: str, column: str, patience: int
           ) -> dict[tuple[str, int], tuple[int, float]]:
    """(arm, seed) -> (the unit's final epoch, ``column`` of ``split`` there): the last completed epoch, or with
    ``patience`` > 0 the selected one (``select_epoch``)."""
    rows = list(rows)
    chosen: dict[tuple[str, int], int] | None = None
    if patience:
        valid: dict[tuple[str, int], tuple[list[int], list[float]]] = {}
        for r in rows:
            if r["phase"] == "finetune" and r["split"] == "valid":
                e, v = valid.setdefault((r["arm"], int(r["seed"])), ([], []))
                e.append(int(r["epoch"]))
                v.append(float(r["error"]))
        chosen = {k: ep for k, (e, v) in valid.items() if (ep := select_epoch(e, v)) is not None}
    out: dict[tuple[str, int], tuple[int, float]] = {}
    for r in rows:
        if r["phase"] != "finetune" or r["split"] != split:
            continue
        key, epoch = (r["arm"], int(r["seed"])), int(r["epoch"])
        if chosen is not None:
            if chosen.get(key) == epoch:
                out[key] = (epoch, float(r[column]))
        elif epoch >= FIRST_TRAINED_EPOCH and (key not in out or epoch >= out[key][0]):
            out[key] = (epoch, float(r[column]))
    return out


def final_values(rows: Iterable[dict[str, str]], split: str = "test", column: str = "error",
                 patience: int = 0) -> dict[str, dict[int, float]]:
    """arm -> seed -> ``column`` of ``split`` at that seed's final fine-tuning epoch: the one "final value" reducer.
    The final epoch is the last completed one, or with early stopping (``patience`` > 0, ``run_patience``) the
    selected one, the best validation error (``select_epoch``). A unit stopped before its first epoch ended has
    none (its epoch-0 row is the untrained net's: a stopped run listed "none 90.20 %" as its result)."""
    out: dict[str, dict[int, float]] = {}
    for (arm, seed), (_, value) in _final(rows, split, column, patience).items():
        out.setdefault(arm, {})[seed] = value
    return out


def final_epochs(rows: Iterable[dict[str, str]], patience: int = 0) -> dict[str, dict[int, int]]:
    """arm -> seed -> the fine-tuning epoch ``final_values`` reads (a stopped run's last completed epoch; with
    early stopping the selected one)."""
    out: dict[str, dict[int, int]] = {}
    for (arm, seed), (epoch, _) in _final(rows, "test", "error", patience).items():
        out.setdefault(arm, {})[seed] = epoch
    return out


def final_test_errors(rows: Iterable[dict[str, str]], patience: int = 0) -> dict[str, dict[int, float]]:
    """arm -> seed -> test error at that seed's final fine-tuning epoch."""
    return final_values(rows, "test", "error", patience)


def final_test_nlls(rows: Iterable[dict[str, str]], patience: int = 0) -> dict[str, dict[int, float]]:
    """arm -> seed -> test NLL at that seed's final fine-tuning epoch."""
    return final_values(rows, "test", "nll", patience)


def read_finals(folder: RunFolder | Path | str, split: str = "test", column: str = "error"
                ) -> dict[str, dict[int, float]]:
    """``final_values`` of a run folder, selected as the run says (``run_patience``)."""
    return final_values(read_metrics(folder), split, column, run_patience(folder))
