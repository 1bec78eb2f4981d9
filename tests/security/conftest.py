"""Hostile run folders: one small real run, copied into each test's temp folder and then damaged."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from desktop_app.core import config as c

TINY = {
    "name": "tiny",
    "data": {"n_labelled": 100, "n_valid": 50, "n_test": 100, "probe_size": 10, "n_unlabelled": 100},
    "model": {"layers": [{"kind": "dense", "units": 8}]}, "arms": ["none", "dae"],
    "pretraining": {"dae": {"epochs": 1}}, "finetune": {"epochs": 2, "batch_size": 50},
    "seeds": {"count": 1}, "device": "cpu",
}


@pytest.fixture(scope="session")
def pristine_run(tmp_path_factory) -> Path:
    """A completed tiny run (made once per session)."""
    from desktop_app.core.engine.run import run_experiment

    path = tmp_path_factory.mktemp("pristine") / "run"
    list(run_experiment(c.from_dict(TINY), None, path))
    return path


@pytest.fixture
def sandbox(tmp_path) -> tuple[Path, Path]:
    """(workspace, outside): a workspace folder and a folder beside it that nothing may write into."""
    workspace, outside = tmp_path / "workspace", tmp_path / "outside"
    workspace.mkdir()
    outside.mkdir()
    return workspace, outside


@pytest.fixture
def run_copy(pristine_run, sandbox) -> Path:
    """A fresh copy of the tiny run inside the sandbox's workspace."""
    dest = sandbox[0] / "run"
    shutil.copytree(pristine_run, dest, symlinks=True)
    return dest


def files_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*"))
