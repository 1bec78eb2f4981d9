"""Figure exports: one panel, or a run's whole figure bundle, with the run's manifest carried along.

A bundle folder holds every panel as PNG + SVG + CSV, the run's config.toml and manifest.json copied from the
run folder, and README.txt with the command that reproduces the run. A comparison's bundle holds the panels that draw
it or one of its runs (never a panel showing another run), each compared run's config.toml and manifest.json under
runs/<folder>/, and a README naming every compared run with its reproduce command. PNG and SVG files also embed the
manifest (PNG text chunk / SVG <metadata> "basin-manifest"), so a figure separated from its folder still says
which run, code and versions made it. CSVs hold exactly ``panel.data_table()`` and nothing else.
"""

from __future__ import annotations

import json
from collections.abc import Generator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtGui import QGuiApplication

from desktop_app.core.atomic import write_text_atomic
from desktop_app.core.runfolder import RunFolder, RunFolderError
from desktop_app.core.runfolder.layout import CONFIG, MANIFEST
from desktop_app.core.runfolder.workspace import reproduce_command

if TYPE_CHECKING:
    from desktop_app.ui.panels.base import Panel

FORMATS = ("png", "svg", "csv")
MANIFEST_KEY = "basin-manifest"
RUN_KEY = "basin-run"


ASPECTS = {"16:10": 1.6, "4:3": 4 / 3, "3:2": 1.5, "2:1": 2.0, "1:1": 1.0}


@dataclass(frozen=True)
class ExportOptions:
    """What to write: ``folder``, which formats, PNG ``width`` in pixels, ``dpi`` (written into the PNG; 0 = leave
    unset) and ``aspect`` (width / height). The figure's size comes from these alone, never from the dock's
    shape on screen; fonts and legends scale with the width."""

    folder: Path
    formats: tuple[str, ...] = FORMATS
    width: int = 1600
    dpi: int = 150
    aspect: float = 1.6


def slug(name: str) -> str:
    return "".join(ch if ch.isalnum() else "-" for ch in name.lower()).strip("-") or "panel"


def manifest_metadata(run_dir: str | Path | None) -> dict[str, str]:
    """The run's manifest.json text and folder name, for embedding in figures ({} without a run folder)."""
    if not run_dir:
        return {}
    folder = RunFolder(run_dir)
    try:
        text = folder.read_text(folder.manifest_path)
    except RunFolderError:  # missing, unreadable, or a link out of the folder: the figure goes without it
        return {}
    return {MANIFEST_KEY: text, RUN_KEY: Path(run_dir).name}


def comparison_metadata(run_dirs: list[str]) -> dict[str, str]:
    """Each compared run's folder name and manifest.json, as one JSON list under MANIFEST_KEY (a comparison's
    figure says which runs made it)."""
    runs = []
    for run_dir in run_dirs:
        meta = manifest_metadata(run_dir)
        runs.append({"run": Path(run_dir).name, "manifest": meta.get(MANIFEST_KEY, "")})
    return {MANIFEST_KEY: json.dumps(runs), RUN_KEY: ", ".join(r["run"] for r in runs)}


def export_panel(panel: Panel, options: ExportOptions, stem: str | None = None,
                 metadata: Mapping[str, str] | None = None) -> list[Path]:
    """Write ``folder/stem.{png,svg,csv}`` for the chosen formats; metadata defaults to the panel's run (each
    compared run's, for a comparison)."""
    folder = Path(options.folder)
    folder.mkdir(parents=True, exist_ok=True)
    stem = stem or slug(panel.title)
    if metadata is None:
        runs = panel.export_run_dirs()
        metadata = comparison_metadata(runs) if len(runs) > 1 else manifest_metadata(runs[0] if runs else None)
    meta = dict(metadata)
    written: list[Path] = []
    if "png" in options.formats:
        written.append(panel.export_png(folder / f"{stem}.png", width=options.width or None,
                                        dpi=options.dpi or None, metadata=meta, aspect=options.aspect))
    if "svg" in options.formats:
        written.append(panel.export_svg(folder / f"{stem}.svg", metadata=meta, aspect=options.aspect))
    if "csv" in options.formats:
        written.append(panel.export_csv(folder / f"{stem}.csv"))
    return written


@dataclass
class BundleResult:
    folder: Path
    written: list[Path]
    errors: list[str]  # "panel: message" for panels that could not be exported (the others still are)
    skipped: list[str] = field(default_factory=list)  # panels with nothing to show (an analysis not computed)
    left_out: list[str] = field(default_factory=list)  # a comparison's bundle: panels showing a run not compared


def comparison_bundle_folder(run_dirs: Sequence[str], labels: Sequence[str]) -> Path:
    """Where a comparison's bundle goes by default: under the first compared run's figures/ folder (beside, never
    over, that run's own bundle), named by what differs ("comparison-units-25-vs-units-50")."""
    name = slug("-vs-".join(labels))[:80].strip("-")
    return Path(run_dirs[0]) / "figures" / f"comparison-{name}"


def export_bundle(panels: Mapping[str, Panel], run_dir: str | Path | None, options: ExportOptions,
                  comparison: Sequence[str] = ()) -> BundleResult:
    """A run's figure bundle in ``options.folder``, written at once (``bundle_steps`` to the end)."""
    return export_bundle_of(bundle_steps(panels, run_dir, options, comparison))


def export_bundle_of(steps: Generator[str, None, BundleResult]) -> BundleResult:
    """Run a ``bundle_steps`` generator to its end: the bundle at once."""
    while True:
        try:
            next(steps)
        except StopIteration as done:
            return done.value


def bundle_steps(panels: Mapping[str, Panel], run_dir: str | Path | None, options: ExportOptions,
                 comparison: Sequence[str] = ()) -> Generator[str, None, BundleResult]:
    """A run's figure bundle in ``options.folder``: every panel, config.toml, manifest.json and README.txt; yields
    each panel's name before it is drawn (or skipped), so the window can let its event loop run between panels
    (Export all of 11 panels froze it for 8.5 s), and returns the ``BundleResult``. ``comparison``: the compared
    runs' folders while a comparison is open (then ``run_dir`` is None): the bundle documents each of them, and a
    panel that shows one run at a time is exported only when its run is compared."""
    folder = Path(options.folder)
    folder.mkdir(parents=True, exist_ok=True)
    meta = manifest_metadata(run_dir)
    written: list[Path] = []
    errors: list[str] = []
    skipped: list[str] = []
    left_out: list[str] = []
    compared: list[str] = [str(d) for d in comparison]  # the comparison's runs: each documented, not only one
    comparing: list[str] = []  # the panels that draw them
    one_run: list[str] = []  # in a comparison's bundle: "panel (run)" for panels that show one compared run
    for name, panel in panels.items():
        yield name  # (before the panel: the window says which one is being drawn)
        if not panel.has_result():  # no empty figures or header-only CSVs
            skipped.append(name)
            continue
        runs = list(getattr(panel, "export_run_dirs", list)())
        if comparison and not set(runs) <= set(compared):  # shows the run shown, which is not compared
            left_out.append(name)
            continue
        if comparison and len(runs) == 1:
            one_run.append(f"{name} ({Path(runs[0]).name})")
        compared += [d for d in runs if len(runs) > 1 and d not in compared]
        comparing += [name] if len(runs) > 1 else []
        try:  # a panel that draws a comparison embeds its runs' manifests; one run's panel in a comparison, its run's
            written += export_panel(panel, options, slug(name), None if len(runs) > 1 or comparison else meta)
        except (OSError, ValueError, RuntimeError) as exc:
            errors.append(f"{name}: {exc}")
    if run_dir:
        run = RunFolder(run_dir)
        for fname in (CONFIG, MANIFEST):
            try:  # through the run folder's owner: a link out of the run folder is never copied
                data = run.read_bytes(run.path(fname))
            except RunFolderError:
                continue
            (folder / fname).write_bytes(data)
            written.append(folder / fname)
    for d in compared:  # runs/<folder>/config.toml and manifest.json of every compared run
        written += _copy_run_files(d, folder / "runs" / Path(d).name, folder)
    readme = folder / "README.txt"
    write_text_atomic(readme, bundle_readme(panels, run_dir, written, errors, skipped, compared, comparing,
                                            left_out, one_run))
    written.append(readme)
    return BundleResult(folder, written, errors, skipped, left_out)


def _copy_run_files(run_dir: str | Path, dest: Path, root: Path) -> list[Path]:
    """config.toml and manifest.json of one run into ``dest`` (through the run folder's owner); the paths written,
    relative names kept under ``root``."""
    run = RunFolder(run_dir)
    out = []
    for fname in (CONFIG, MANIFEST):
        try:
            data = run.read_bytes(run.path(fname))
        except RunFolderError:
            continue
        dest.mkdir(parents=True, exist_ok=True)
        (dest / fname).write_bytes(data)
        out.append(dest / fname)
    return out


def bundle_readme(panels: Mapping[str, Panel], run_dir: str | Path | None, written: list[Path],
                  errors: list[str], skipped: Sequence[str] = (), compared: Sequence[str] = (),
                  comparing: Sequence[str] = (), left_out: Sequence[str] = (), one_run: Sequence[str] = ()) -> str:
    """The bundle's README: the compared runs (named by the panels that draw them: HParams was left out) or the
    run folder, each with its reproduce command; a comparison is never called "data not saved as a run".
    ``left_out``: panels not exported because they show a run that is not compared; ``one_run``: "panel (run)"
    for panels that show one of the compared runs only."""
    lines = ["Basin figure bundle", f"exported {datetime.now().isoformat(timespec='seconds')}", ""]
    if compared:
        drawn = ", ".join(comparing) if comparing else "the comparing panels"
        lines += [f"Comparison of {len(compared)} runs ({drawn} draw them all; their config and manifest under "
                  "runs/<folder>/):"]
        for d in compared:
            lines += [f"  {Path(d).resolve()}", f"      {reproduce_command(Path(d))}"]
        lines.append("")
    if one_run:
        lines += ["Panels that show one compared run only: " + ", ".join(one_run) + ".", ""]
    if run_dir:
        lines += [f"run folder: {Path(run_dir).resolve()}", "", "Reproduce this run headless:",
                  f"    {reproduce_command(Path(run_dir))}", ""]
    elif not compared:
        lines += ["No run folder: these figures show data not saved as a run.", ""]
    lines.append("Panels (PNG and SVG: the plots; CSV: exactly the data drawn):")
    for name, panel in panels.items():
        if name not in skipped and name not in left_out:
            lines.append(f"  {slug(name)}: {name} - {getattr(panel, 'explanation', '')}")
    if skipped:
        lines += ["", "Skipped, no result to show (compute them in the window first):"] + [f"  {n}" for n in skipped]
    if left_out:
        lines += ["", "Left out, they show one run at a time and the run shown is not compared:"] + [
            f"  {n}" for n in left_out]
    lines += ["", "Files:"] + [f"  runs/{p.parent.name}/{p.name}" if p.parent.parent.name == "runs" else f"  {p.name}"
                                for p in written]
    if errors:
        lines += ["", "Not exported:"] + [f"  {e}" for e in errors]
    whose = "the manifest.json of each run they show" if compared else "the run's manifest.json"
    lines += ["", f"PNG and SVG files embed {whose} under the key '{MANIFEST_KEY}'."]
    return "\n".join(lines) + "\n"


def copy_reproduce_command(*run_dirs: str | Path) -> str:
    """Put the `basin run` commands that repeat ``run_dirs`` on the clipboard, one line each; returns the text."""
    text = "\n".join(reproduce_command(Path(d)) for d in run_dirs)
    QGuiApplication.clipboard().setText(text)
    return text


__all__ = ["ASPECTS", "FORMATS", "MANIFEST_KEY", "BundleResult", "ExportOptions", "comparison_bundle_folder",
           "comparison_metadata",
           "copy_reproduce_command",
           "export_bundle",
           "export_panel", "manifest_metadata", "slug"]
