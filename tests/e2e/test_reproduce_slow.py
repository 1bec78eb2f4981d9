"""A reduced version of every claim of `basin reproduce` (slow: run with `pytest -m slow`)."""

import csv
import math
from pathlib import Path

import pytest

from desktop_app.core import reproduce
from desktop_app.core.reproduce.claims import run_folder_name

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def claims_dir(tmp_path_factory):
    """One folder for every claim's runs, as `basin reproduce all` uses: claims that share an experiment (the
    regulariser run serves five claims) run it once and reuse the completed folder."""
    return tmp_path_factory.mktemp("claims")


# The slowest reduced claim, smaller still here (`--set`, as a user would): what this test checks (the claim runs,
# its verdict and numbers are computed, its figures and CSVs are drawn from every run) does not depend on the stream's
# length. `basin reproduce --reduced` keeps the sizes of reproduce.claims.
SMALLER = {"online": {"online.finetune_examples": 10_000, "online.pretrain_examples": 2_000},
           "fig1": {"pretraining.dae.epochs": 1, "finetune.epochs": 3}}
# Pre-training on 500 unlabelled digits instead of the ~3,500 the claims' splits leave: the same code paths (greedy
# layers, stacks, checkpoints, the analyses) at a seventh of the minibatches. Claims that set their own data or
# stream (online, output-variance) keep theirs. Every test here that shares ``claims_dir`` uses the same sizes, so
# the regulariser run the claims share is still made once.
POOL = {"data.n_unlabelled": 500}
OWN_DATA = ("online", "output-variance")


def smaller(name: str) -> dict[str, object]:
    """The ``--set`` overrides this file runs claim ``name`` with."""
    return {**({} if name in OWN_DATA else POOL), **SMALLER.get(name, {})}


@pytest.mark.parametrize("name", list(reproduce.CLAIMS))
def test_reduced_claim_runs_and_reports(name, tmp_path, claims_dir):
    result = reproduce.run_claim(name, claims_dir, reduced=True, device="cpu", overrides=smaller(name))
    from desktop_app.core.reproduce.rules import VERDICTS

    assert result.verdict in VERDICTS
    assert result.rule and "Sub-statement:" in result.rule  # the rule fixed before the runs, printed in the setup
    assert "| sub-statement | where |" in result.markdown
    assert result.seeds >= 1 and result.wall_time_s > 0
    assert result.markdown.count("|") > 4  # holds a table of numbers
    flat = [v for v in _floats(result.numbers)]
    assert flat and all(math.isfinite(v) for v in flat if v is not None)
    # the report's figures are the app's panels, drawn from the claim's run folders
    from PySide6.QtGui import QImage

    from desktop_app.report_figures import WIDTH, export_claim_figures

    export_claim_figures([result], tmp_path / "figures", relative_to=tmp_path)
    figures = result.numbers["_figures"]
    assert figures
    for rel in figures:
        image = QImage(str(tmp_path / rel))
        assert image.width() == WIDTH and image.height() > 200
        assert (tmp_path / rel).with_suffix(".csv").stat().st_size > 0
    if name == "pitfall":  # the CSV holds every seed of every configuration, not only the first run's
        from desktop_app.core.reproduce.claims import PITFALL_SEEDS_REDUCED

        with open((tmp_path / figures[0]).with_suffix(".csv"), newline="") as fh:
            assert len(list(csv.DictReader(fh))) == PITFALL_SEEDS_REDUCED * len(set(result.run_dirs.values()))
        assert "trajectory" in result.markdown and len(result.numbers["trajectory"]) == 2
        assert all(math.isfinite(v) for v in (*result.numbers["pearson_ci"], *result.numbers["within_pearson_ci"]))
    if name == "function-space":  # each CSV holds its own method's embedding of every net
        for rel in figures:
            with open((tmp_path / rel).with_suffix(".csv"), newline="") as fh:
                rows = list(csv.DictReader(fh))
            assert rows and {r["method"] for r in rows} == {Path(rel).stem.rsplit("-", 1)[1]}
    if name == "output-variance":  # one run folder per seed; the panel pools every seed's run into the figure
        with open((tmp_path / figures[0]).with_suffix(".csv"), newline="") as fh:
            assert {int(r["seed"]) for r in csv.DictReader(fh)} == set(range(result.seeds)) and result.seeds >= 2
    report = reproduce.render_report([result], reduced=True)
    assert result.title in report and result.verdict in report and result.rule in report
    assert all(f"]({rel})" in report for rel in figures)


def _floats(obj):
    if isinstance(obj, dict):
        for v in obj.values():
            yield from _floats(v)
    elif isinstance(obj, list | tuple):
        for v in obj:
            yield from _floats(v)
    elif isinstance(obj, float):
        yield obj


def test_an_interrupted_claim_run_is_resumed_not_restarted(tmp_path):
    """Stopping `basin reproduce` (Ctrl-C, a closed laptop) loses at most the epoch in flight."""
    from desktop_app.core.control import RunControl
    from desktop_app.core.engine.run import run_experiment
    from desktop_app.core.events import EpochMetrics
    from desktop_app.core.runfolder.workspace import read_manifest

    (label, cfg), = reproduce.CLAIMS["regulariser"].experiments(True)
    cfg = cfg.with_overrides({**smaller("regulariser"), "device": "cpu"})
    run_dir = tmp_path / "reduced" / run_folder_name(cfg)
    control = RunControl()
    for ev in run_experiment(cfg, control, run_dir):
        if isinstance(ev, EpochMetrics) and ev.epoch == 2:
            control.stop()
    assert read_manifest(run_dir)["status"] == "stopped"
    marker = run_dir / "kept.txt"
    marker.write_text("this folder was continued, not rebuilt")
    result = reproduce.run_claim("regulariser", tmp_path, reduced=True, device="cpu", overrides=smaller("regulariser"))
    assert marker.exists()
    assert read_manifest(run_dir)["status"] == "completed"
    assert result.numbers


def test_an_experiment_two_claims_share_runs_once(tmp_path, claims_dir):
    """A completed run of the identical config under another folder name (width=500 is labels=1000) is found
    by its config hash and reused, not run again."""
    import shutil

    from desktop_app.core.runfolder.workspace import read_manifest

    (label, cfg), = reproduce.CLAIMS["regulariser"].experiments(True)
    over = smaller("regulariser")
    cfg = cfg.with_overrides({**over, "device": "cpu"})
    done = claims_dir / "reduced" / run_folder_name(cfg)
    reproduce.run_claim("regulariser", claims_dir, reduced=True, device="cpu", overrides=over)  # the shared run
    shutil.copytree(done, tmp_path / "reduced" / done.name)  # a completed folder of its own to move
    first = reproduce.run_claim("regulariser", tmp_path, reduced=True, device="cpu", overrides=over)
    src = tmp_path / "reduced" / run_folder_name(cfg)
    twin = src.parent / f"some-other-name-{cfg.hash()[:8]}"
    shutil.move(src, twin)
    again = reproduce.run_claim("regulariser", tmp_path, reduced=True, device="cpu", overrides=over)
    assert not src.exists() and again.run_dirs["regulariser"] == str(twin)
    assert read_manifest(twin)["status"] == "completed"
    assert again.numbers == first.numbers
