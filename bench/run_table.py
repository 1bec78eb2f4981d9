"""Runs table: generated workspaces of run folders for the Runs pane's benchmark and tests.

The folders are written through the run folder's owner (config, manifest, per-unit metrics, merged metrics),
like a sweep of small runs: 2 arms x 3 seeds x N fine-tuning epochs, with lr, width and noise level varying.
``write_run`` is also what the Runs-table tests build their workspaces with.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from desktop_app.core import config as config_mod
from desktop_app.core.events import EpochMetrics
from desktop_app.core.runfolder import RunFolder, RunSink

BASE: dict[str, Any] = {
    "name": "sweep",
    "data": {"n_labelled": 300, "n_valid": 100, "n_test": 200, "probe_size": 20},
    "model": {"layers": [{"kind": "dense", "units": 25}]},
    "arms": ["none", "dae"],
    "pretraining": {"dae": {"epochs": 2}},
    "finetune": {"epochs": 10, "batch_size": 50, "lr": 0.1},
    "seeds": {"count": 3},
    "device": "cpu",
}


def deep_update(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in changes.items():
        out[k] = deep_update(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def write_run(workspace: Path, name: str, changes: dict[str, Any] | None = None, *,
              errors: dict[str, list[float]] | None = None, status: str = "completed", epochs: int = 3,
              created: datetime | None = None, elapsed_s: float = 12.5) -> Path:
    """A run folder as the engine leaves it, without training: config, manifest and per-unit metrics whose last
    test error of arm ``a``, seed index ``i`` is ``errors[a][i]`` (default: made up from the name's hash)."""
    cfg = config_mod.from_dict(deep_update(BASE, {"name": name, **(changes or {})}))
    folder = RunFolder(Path(workspace) / name)
    sink = RunSink(folder, save_filters=False)
    sink.write_config(cfg)
    seeds = cfg.seed_values
    rng = random.Random(name)
    errors = errors or {arm: [rng.uniform(0.05, 0.3) for _ in seeds] for arm in cfg.arms}
    sink.write_manifest({
        "name": name, "created": (created or datetime(2026, 11, 1)).isoformat(timespec="seconds"),
        "status": status, "arms": list(cfg.arms), "seeds": list(seeds), "config_hash": cfg.hash(),
        "schema_version": cfg.schema_version, "elapsed_s": float(elapsed_s),
    })
    for arm in cfg.arms:
        for i, seed in enumerate(seeds):
            final = errors[arm][i]
            for epoch in range(epochs + 1):
                err = final + (epochs - epoch) * 0.02
                sink.handle(EpochMetrics(arm, seed, epoch, 1.0, err, 1.0, err, 1.0 + err, err))
    sink.merge_metrics(tuple(cfg.arms))
    return folder.root


def write_workspace(workspace: Path, n: int) -> list[Path]:
    """``n`` runs of a sweep over lr, width and noise level, one minute apart."""
    rng = random.Random(0)
    t0 = datetime(2026, 10, 1)
    out = []
    for i in range(n):
        changes = {"finetune": {"lr": rng.choice((0.01, 0.05, 0.1, 0.2))},
                   "model": {"layers": [{"kind": "dense", "units": rng.choice((25, 50, 100))}]},
                   "pretraining": {"dae": {"epochs": 2, "corruption": rng.choice((0.1, 0.25, 0.4))}}}
        out.append(write_run(workspace, f"run-{i:04d}", changes, epochs=10, created=t0 + timedelta(minutes=i),
                             elapsed_s=rng.uniform(5, 500)))
    return out
