"""Replay: a run folder read back as the events that made it, the exact inverse of ``sink``.

Per unit the order is the engine's: initial filters; per pre-trained layer and epoch the reconstruction error
(then the first layer's filters); per fine-tuning epoch the metrics, filters, probe outputs and checkpoint.
An online run's points follow every unit's events, then each done online unit's final net (``final_nets``).
Results of run-kind analyses (output variance) come from the analysis cache through its allow-list. Anything
unreadable raises ``RunFolderError`` with one line naming the file, before or while events are produced.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from desktop_app.core import config as config_mod
from desktop_app.core.events import (
    FINAL_NET,
    PHASE_ORDER,
    AnalysisFinished,
    CheckpointSaved,
    EpochMetrics,
    Event,
    FilterSnapshot,
    OnlinePoint,
    PretrainEpoch,
    ProbeOutputs,
    RunFinished,
    RunStarted,
)
from desktop_app.core.runfolder.layout import CONFIG, RunFolder, RunFolderError, StoredArray, parse_snapshot_name
from desktop_app.core.runfolder.lock import is_locked
from desktop_app.core.runfolder.manifest import read_manifest
from desktop_app.core.runfolder.metrics import SPLITS, manifest_patience, read_metrics, unit_order
from desktop_app.core.runfolder.online import read_online
from desktop_app.core.runfolder.results_cache import list_metadata, read_result

RUN_ANALYSES = ("output_variance",)  # analyses that are the result of a run itself (kind = output-variance)


def read_config(folder: RunFolder, validate: bool = False) -> config_mod.ExperimentConfig:
    """The run's config.toml, read by the config's own loader (size, encoding and nesting checked first) once
    the path is known to stay inside the folder. ConfigError names the field; RunFolderError the folder."""
    if not (folder.root / CONFIG).exists() and not (folder.root / CONFIG).is_symlink():
        raise RunFolderError(f"{folder.root} is not a Basin run folder (no config.toml)")
    path = folder.config_path
    try:
        return config_mod.load(path, validate=validate)
    except config_mod.ConfigError:
        raise
    except (RecursionError, ValueError, TypeError, AttributeError, KeyError) as exc:
        raise RunFolderError(f"{path}: not a usable config ({type(exc).__name__})") from None


def _unit_events(folder: RunFolder, arm: str, seed: int, rows: list[dict[str, str]], snaps: list[Path],
                 checkpoints: list[tuple[int, Path]], input_shape: tuple[int, ...], lazy: bool = False
                 ) -> Iterator[Event]:
    items: list[tuple[tuple[int, int, int, int], Any]] = []
    for path in snaps:
        kind, phase, epoch = parse_snapshot_name(path.stem)  # type: ignore[misc]  # listed ones parse
        if kind == "filters":  # after the metrics of its epoch (pre-training: of the first layer)
            items.append(((PHASE_ORDER[phase], 0, epoch, 1), ("filters", phase, epoch, path)))
        else:
            items.append(((PHASE_ORDER["finetune"], 0, epoch, 2), ("probe", epoch, path)))
    by_epoch: dict[int, dict[str, tuple[float, float]]] = {}
    walls: dict[int, float | None] = {}
    for r in rows:
        if r["phase"] == "pretrain":
            layer, epoch = int(r["layer"]), int(r["epoch"])
            items.append(((PHASE_ORDER["pretrain"], layer, epoch, 0),
                          PretrainEpoch(arm, seed, layer, epoch, float(r["recon_error"]))))
        else:
            by_epoch.setdefault(int(r["epoch"]), {})[r["split"]] = (float(r["nll"]), float(r["error"]))
            walls[int(r["epoch"])] = float(r["wall_s"]) if r.get("wall_s") else None
    for epoch, m in by_epoch.items():
        if all(s in m for s in SPLITS):
            items.append(((PHASE_ORDER["finetune"], 0, epoch, 0),
                          EpochMetrics(arm, seed, epoch, *m["train"], *m["valid"], *m["test"], walls.get(epoch))))
    for epoch, path in checkpoints:
        items.append(((PHASE_ORDER["finetune"], 0, epoch, 3), CheckpointSaved(arm, seed, "finetune", epoch, str(path))))
    items.sort(key=lambda t: t[0])
    load = (lambda p: StoredArray(folder, p)) if lazy else folder.load_array
    for _key, item in items:
        if isinstance(item, tuple):  # arrays are read only when their turn comes (lazy: when a panel shows them)
            if item[0] == "filters":
                _, phase, epoch, path = item
                yield FilterSnapshot(arm, seed, phase, epoch, load(path), input_shape)
            else:
                _, epoch, path = item
                yield ProbeOutputs(arm, seed, epoch, load(path))
        else:
            yield item


def replay(run_dir: Path | str | RunFolder, lazy: bool = False) -> Iterator[Event]:
    """The run's events as the engine emitted them (per unit order), rebuilt from the folder. ``lazy``: snapshot
    events carry a ``StoredArray`` (read when a panel shows it) instead of the array, so opening a study does not
    hold every unit's filters and probe outputs in memory.

    Linear in the number of files: each folder is listed once (``RunFolder.checkpoints``/``snapshots``), and the
    files are grouped by unit before the units are replayed."""
    folder = run_dir if isinstance(run_dir, RunFolder) else RunFolder(run_dir)
    folder.check_links()
    if is_locked(folder.root) is None:  # no live writer: temp files of a killed one are garbage
        folder.remove_temp_files()
    manifest = read_manifest(folder)
    cfg = read_config(folder)
    yield RunStarted(run_dir=str(folder.root), name=cfg.name, arms=tuple(cfg.arms), seeds=tuple(cfg.seed_values),
                     device=str(manifest.get("device", "cpu")), total_steps=0, resumed=False, kind=cfg.kind,
                     patience=manifest_patience(manifest))
    rows = read_metrics(folder, cfg.arms)
    input_shape = tuple(manifest.get("input_shape", ()))
    snaps: dict[tuple[str, int], list[Path]] = {}
    for arm, seed, path in folder.snapshots():
        snaps.setdefault((arm, seed), []).append(path)
    unit_rows: dict[tuple[str, int], list[dict[str, str]]] = {}
    for r in rows:
        unit_rows.setdefault((r["arm"], int(r["seed"])), []).append(r)
    ckpts: dict[tuple[str, int], list[tuple[int, Path]]] = {}
    for arm, seed, epoch, path in folder.checkpoints():
        ckpts.setdefault((arm, seed), []).append((epoch, path))
    units = set(unit_rows) | set(snaps) | set(ckpts)
    for arm, seed in sorted(units, key=unit_order(cfg.arms)):
        yield from _unit_events(folder, arm, seed, unit_rows.get((arm, seed), []), snaps.get((arm, seed), []),
                                ckpts.get((arm, seed), []), input_shape, lazy)
    points = read_online(folder, cfg.arms)
    yield from points  # an online run's curves (kind "online"), unit by unit
    yield from final_nets(folder, cfg, points)
    for name in RUN_ANALYSES:
        for meta in list_metadata(folder, name)[:1]:
            key = meta.get("key")
            result = read_result(folder, name, key) if isinstance(key, str) else None
            if result is not None:
                yield AnalysisFinished(name, result)
    elapsed = manifest.get("elapsed_s", 0.0)
    yield RunFinished(status=str(manifest.get("status", "unknown")), run_dir=str(folder.root),
                      elapsed_s=float(elapsed), message="replayed")


def final_nets(folder: RunFolder, cfg: config_mod.ExperimentConfig,
               points: Sequence[OnlinePoint]) -> list[CheckpointSaved]:
    """An online run's final nets: the ``latest.pt`` of each unit whose stream is done (its last point is at
    ``online.finetune_examples``, where the unit saves its state as stage "done"), as the ``CheckpointSaved`` the
    unit yielded then; epoch = its number of evaluation points. An online unit keeps no ``e<epoch>.pt``, so without
    these a completed online run listed no checkpoint to export. Listing reads no checkpoint: opening or exporting
    one goes through the checked loader (``training.checkpoints.open_checkpoint``)."""
    if cfg.kind != "online":
        return []
    last: dict[tuple[str, int], tuple[int, int]] = {}  # unit -> (points, last examples)
    for p in points:
        n, _ = last.get((p.arm, p.seed), (0, 0))
        last[(p.arm, p.seed)] = (n + 1, int(p.examples))
    done = cfg.online.finetune_examples
    return [CheckpointSaved(arm, seed, FINAL_NET, last[(arm, seed)][0], str(path))
            for arm, seed, path in folder.resume_states()
            if (arm, seed) in last and last[(arm, seed)][1] == done]
