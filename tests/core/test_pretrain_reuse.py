"""Reusing a completed run's identical pre-training (core/engine/pretrain_reuse.py): a unit that reused it ends with
every number of a unit that pre-trained itself, and nothing is reused on any difference."""

from __future__ import annotations

import csv
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from desktop_app.core.engine.pretrain_reuse import reuse_pretraining
from desktop_app.core.engine.run import run_experiment
from desktop_app.core.events import LogMessage, PretrainEpoch
from desktop_app.core.reproduce import CLAIMS
from desktop_app.core.runfolder import RunFolder
from desktop_app.core.runfolder.workspace import read_manifest
from desktop_app.core.training.checkpoint_file import load_checkpoint_file


def _experiments():
    """The reduced labels-mnist claim's first two label counts (the digits, 2 seeds, none / RBM / DAE)."""
    return [replace(cfg, device="cpu") for _, cfg in CLAIMS["labels-mnist"].experiments(True)[:2]]


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, tuple[Path, list]]:
    root = tmp_path_factory.mktemp("reuse")
    fewer, more = _experiments()
    out = {}
    for name, cfg, donors in (("donor", fewer, ()), ("self", more, ()), ("reused", more, (root / "donor",))):
        events = list(run_experiment(cfg, None, root / name, donors=donors))
        assert events[-1].status == "completed", events[-1]
        out[name] = (root / name, events)
    return out


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return [{k: v for k, v in row.items() if k != "wall_s"} for row in csv.DictReader(fh)]


def test_a_reused_unit_ends_with_every_number_of_one_that_pre_trained_itself(runs):
    (own, _), (reused, events) = runs["self"], runs["reused"]
    cfg = _experiments()[1]
    units = [(a, s) for a in cfg.arms if a != "none" for s in cfg.seed_values]
    assert read_manifest(reused)["pretraining_reused"] == {f"{a} s{s}": "donor" for a, s in units}
    assert "pretraining_reused" not in read_manifest(own)
    assert not any(isinstance(ev, PretrainEpoch) for ev in events)  # it did not pre-train
    assert any(isinstance(ev, LogMessage) and "reused from donor" in ev.text for ev in events)
    for arm in cfg.arms:
        for seed in cfg.seed_values:
            a, b = RunFolder(own).unit(arm, seed), RunFolder(reused).unit(arm, seed)
            assert _rows(a.metrics_path) == _rows(b.metrics_path), (arm, seed)  # pre-training rows and every epoch
            wa, wb = (load_checkpoint_file(u.latest_path)["model"] for u in (a, b))
            assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa), (arm, seed)
            names = sorted(p.name for p in a.snapshots_dir.iterdir())
            assert names == sorted(p.name for p in b.snapshots_dir.iterdir())
            assert all((a.snapshots_dir / n).read_bytes() == (b.snapshots_dir / n).read_bytes() for n in names)
    assert _rows(RunFolder(own).metrics_path) == _rows(RunFolder(reused).metrics_path)


def test_nothing_is_reused_on_any_difference(runs, tmp_path):
    """Another DAE learning rate: only the RBM units are reused; a donor not beside the run, or not completed, is
    passed over with its reason; a unit that has started keeps its own state."""
    from desktop_app.core.data import load_data

    donor = runs["donor"][0]
    cfg = _experiments()[1]
    dae = replace(cfg.pretraining.dae, lr=2 * cfg.pretraining.dae.lr)
    other = replace(cfg, pretraining=replace(cfg.pretraining, dae=dae))
    splits = load_data(other.data)
    run = donor.parent / "other-dae-lr"
    seeded, skipped = reuse_pretraining(run, other, splits, "cpu", [donor])
    assert sorted((a, s) for a, s, _ in seeded) == [("rbm", s) for s in cfg.seed_values] and not skipped
    elsewhere = tmp_path / "elsewhere"
    assert reuse_pretraining(elsewhere, cfg, splits, "cpu", [donor]) == (
        [], ["donor: not a run folder beside this one"])
    # the RBM units of `run` now have a resume state: a second pass takes nothing for them
    seeded, _ = reuse_pretraining(run, cfg, splits, "cpu", [donor])
    assert sorted((a, s) for a, s, _ in seeded) == [("dae", s) for s in cfg.seed_values]
    # another numerics (the device type the donor ran on): nothing
    seeded, skipped = reuse_pretraining(donor.parent / "on-gpu", cfg, splits, "cuda", [donor])
    assert seeded == [] and skipped == ["donor: other pre-training settings, model or numerics"]


def test_a_donor_whose_data_cannot_be_read_is_passed_over_not_a_failure(runs, tmp_path):
    """The donor's config names MNIST files that have gone: the run pre-trains itself, with one line saying why."""
    import shutil

    from desktop_app.core.config.io import save
    from desktop_app.core.data import load_data

    donor = runs["donor"][0]
    moved = donor.parent / "moved-data"
    shutil.copytree(donor, moved)
    cfg = _experiments()[1]
    gone = tmp_path / "gone"
    gone.mkdir()
    donor_cfg = _experiments()[0]
    save(replace(donor_cfg, data=replace(donor_cfg.data, name="mnist", path=str(gone), download=False)),
         moved / "config.toml")
    seeded, skipped = reuse_pretraining(donor.parent / "fresh", cfg, load_data(cfg.data), "cpu", [moved])
    assert seeded == [] and len(skipped) == 1
    assert skipped[0].startswith("moved-data: ") and str(gone) in skipped[0]
