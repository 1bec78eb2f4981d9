"""The online curve files of an "online" run (Erhan 2010 Fig. 2): ``online/<arm>_s<seed>.csv``, one per unit.

Columns: arm, seed, examples, online_error, test_error, test_nll, block; one row per evaluation point, examples
ascending. Reading checks every row and names the file and line of the first bad one (docs/ARCHITECTURE.md,
"Online experiments"). A unit writes only its own file (through ``OnlineSink``); on resume it keeps the rows its
checkpoint covers.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable
from pathlib import Path

from desktop_app.core.events import OnlinePoint
from desktop_app.core.runfolder.layout import ONLINE, RunFolder, RunFolderError, UnitFolder, check_name
from desktop_app.core.runfolder.metrics import csv_reader, final_test_errors, folder_and_arms, read_metrics, unit_order

COLUMNS = ("arm", "seed", "examples", "online_error", "test_error", "test_nll", "block")


def points_to_csv(points: Iterable[OnlinePoint]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(COLUMNS)
    for p in points:
        writer.writerow([p.arm, p.seed, p.examples, repr(float(p.online_error)), repr(float(p.test_error)),
                         repr(float(p.test_nll)), p.block])
    return buf.getvalue()


def _point(row: dict[str, str]) -> OnlinePoint:
    """One checked row; ValueError says what is wrong."""
    check_name("arm", row["arm"])
    ints = {}
    for key in ("seed", "examples", "block"):
        v = row[key]
        if not v.isdigit() or len(v) > 12:
            raise ValueError(f"{key} {v[:20]!r} is not a non-negative integer")
        ints[key] = int(v)
    floats = {}
    for key in ("online_error", "test_error", "test_nll"):
        v = row[key]
        if len(v) > 64:
            raise ValueError(f"{key} is too long")
        floats[key] = float(v)  # ValueError names the bad text
        if math.isnan(floats[key]) and key != "test_nll":
            raise ValueError(f"{key} is not a number")
    if ints["seed"] >= 2**31:
        raise ValueError(f"seed {ints['seed']} is out of range")
    return OnlinePoint(row["arm"], ints["seed"], ints["examples"], floats["online_error"], floats["test_error"],
                       floats["test_nll"], ints["block"])


def read_online_file(folder: RunFolder, path: Path) -> list[OnlinePoint]:
    """Checked points of one unit's online file ([] when it does not exist)."""
    reader = csv_reader(folder, path, COLUMNS, "online", shown=folder.rel(path))
    if reader is None:
        return []
    out = []
    try:
        for row in reader:
            if any(row.get(c) is None for c in COLUMNS):
                raise RunFolderError(f"{folder.rel(path)} line {reader.line_num}: missing columns")
            try:
                out.append(_point(row))
            except (ValueError, RunFolderError) as exc:
                raise RunFolderError(f"{folder.rel(path)} line {reader.line_num}: {exc}") from None
    except csv.Error as exc:
        raise RunFolderError(f"{folder.rel(path)} line {reader.line_num}: {exc}") from None
    return out


def read_online(folder: RunFolder | Path | str, arms: Iterable[str] | None = None) -> list[OnlinePoint]:
    """Every unit's points, units seed-major (arms in ``arms`` order, default the manifest's), examples ascending
    within a unit."""
    folder, arms = folder_and_arms(folder, arms)
    top = folder.root / ONLINE
    if not top.is_dir():
        return []
    folder.check_inside(top)
    files = []
    for p in top.glob("*.csv"):
        arm, sep, seed = p.stem.rpartition("_s")
        if sep and seed.isdigit() and len(seed) < 11:
            try:
                files.append((check_name("arm", arm), int(seed), folder.check_inside(p)))
            except RunFolderError:
                continue
    key = unit_order(list(arms or ()))
    out: list[OnlinePoint] = []
    for _arm, _seed, path in sorted(files, key=lambda t: key((t[0], t[1]))):
        out.extend(sorted(read_online_file(folder, path), key=lambda p: p.examples))
    return out


class OnlineSink:
    """Persists one unit's OnlinePoint events into its online file (and nothing else)."""

    def __init__(self, unit: UnitFolder) -> None:
        self.unit = unit
        self.path = unit.online_path
        self.points: list[OnlinePoint] = []

    def resume(self, keep_upto: int) -> None:
        """Keep the points a checkpoint covers (``examples <= keep_upto``; later ones are recomputed identically)."""
        self.points = [p for p in read_online_file(self.unit.run, self.path) if p.examples <= keep_upto]
        self._flush()

    def handle(self, ev: object) -> None:
        if isinstance(ev, OnlinePoint):
            self.points = [p for p in self.points if p.examples != ev.examples] + [ev]
            self._flush()

    def _flush(self) -> None:
        self.unit.run.write_text(self.path, points_to_csv(self.points))


def run_final_test_errors(folder: RunFolder | Path | str, arms: Iterable[str] | None = None,
                          patience: int = 0) -> dict[str, dict[int, float]]:
    """arm -> seed -> each unit's final test error: fine-tuning's final epoch (the metrics rows, selected as
    ``patience`` says), or for an online run, which writes no epoch rows, its last evaluation point's (the Runs
    table and `basin runs` showed an online run's test error as empty)."""
    return final_test_errors(read_metrics(folder, arms), patience) or online_final_test_errors(folder, arms)


def online_final_test_errors(folder: RunFolder | Path | str, arms: Iterable[str] | None = None
                             ) -> dict[str, dict[int, float]]:
    """arm -> seed -> an online unit's last evaluation point's test error ({} for a run without online points)."""
    out: dict[str, dict[int, float]] = {}
    for point in read_online(folder, arms):  # examples ascending within a unit: the last point wins
        out.setdefault(point.arm, {})[point.seed] = point.test_error
    return out
