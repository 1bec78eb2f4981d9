"""The online and labels claims on real MNIST (issue 26, item 3): what the full versions declare (checked without
running them), the online error over the paper's window on hand-made run folders, the labels rule over four label
counts, and one line naming data.path when MNIST is missing and cannot be downloaded. No test reads MNIST."""

from __future__ import annotations

import functools
import http.server
import io
import json
import math
import threading
from dataclasses import replace

import numpy as np
import pytest

from desktop_app import cli
from desktop_app.core import config as c
from desktop_app.core.data import registry
from desktop_app.core.data.splits import split_indices
from desktop_app.core.data.stream import evaluation_points
from desktop_app.core.events import OnlinePoint
from desktop_app.core.reproduce import CLAIMS
from desktop_app.core.reproduce.rules import CONTRADICTED, HOLDS, INCONCLUSIVE, MIXED, NOT_SHOWN, REPRODUCED
from desktop_app.core.runfolder import RunFolder
from desktop_app.core.runfolder.online import points_to_csv
from tests.core.test_reproduce_evidence import SEEDS, _finals_run, t_interval

MNIST_TRAIN, MNIST_TEST = 60_000, 10_000
PAPER_WINDOW = 100_000  # Erhan 2010 Fig. 2: online error over the last 100,000 examples


# --------------------------------------------------------------------------------------------------------------
# online: what the full claim declares
# --------------------------------------------------------------------------------------------------------------


def test_the_full_online_claim_streams_all_60000_mnist_training_digits():
    runs = CLAIMS["online"].experiments(False)
    assert [label for label, _ in runs] == ["layers=1", "layers=3"]
    assert [len(cfg.model.layers) for _, cfg in runs] == [1, 3]
    for _, cfg in runs:
        cfg.validate()
        d, o = cfg.data, cfg.online
        assert cfg.kind == "online" and d.name == "mnist" and d.download
        # the stream's base: the labelled set, here every training digit (independent of the code: the split rule)
        idx = split_indices(MNIST_TRAIN, MNIST_TEST, d)
        assert len(idx.labelled) == MNIST_TRAIN and d.n_test == MNIST_TEST
        assert o.finetune_examples >= 10**6 and o.block == PAPER_WINDOW
        assert list(cfg.arms) == ["none", "rbm", "dae"]
        assert cfg.seeds.count >= 3 and cfg.seeds.base == 0  # paired: the same seeds at both depths
    one, three = ({k: v for k, v in cfg.to_dict().items() if k not in ("name", "model")} for _, cfg in runs)
    assert one == three  # the depths differ in their layers alone
    one = runs[0][1]
    # the reduced (digits) version keeps the same share of the stream as its window
    small = CLAIMS["online"].experiments(True)[0][1]
    assert small.data.name == "digits"
    assert small.online.block / small.online.finetune_examples == one.online.block / one.online.finetune_examples
    claim = CLAIMS["online"]
    assert "CPU" in claim.size_note and "2 cores" in claim.size_note
    assert {what for what, _ in claim.differences} >= {"stream", "examples seen", "network width"}


def test_a_validation_split_of_zero_is_for_online_runs_only():
    cfg = CLAIMS["online"].experiments(False)[0][1]
    with pytest.raises(c.ConfigError, match=r"data\.n_valid: must be >= 1 for kind 'standard'"):
        cfg.with_overrides({"kind": "standard"}).validate()


# --------------------------------------------------------------------------------------------------------------
# online: the reducer measures the paper's window
# --------------------------------------------------------------------------------------------------------------


def _mistakes(n: int, start: float, end: float, rng: np.random.Generator) -> np.ndarray:
    """Per-example mistakes of a stream whose error rate falls linearly from ``start`` to ``end``."""
    return rng.random(n) < np.linspace(start, end, n)


def _online_run(path, cfg: c.ExperimentConfig, mistakes: dict[tuple[str, int], np.ndarray]):
    """A completed online run folder whose units recorded, at each evaluation point of ``cfg``, the error over
    the last ``online.block`` examples (what a unit records: tests/core/test_online.py recomputes it)."""
    o = cfg.online
    folder = RunFolder(path)
    folder.write_text(folder.config_path, cfg.to_toml())
    folder.write_text(folder.manifest_path, json.dumps({
        "arms": list(cfg.arms), "seeds": cfg.seed_values, "status": "completed", "config_hash": cfg.hash(),
        "sizes": {"labelled": MNIST_TRAIN, "unlabelled": MNIST_TRAIN, "valid": 0, "test": MNIST_TEST}}))
    points = evaluation_points(o.finetune_examples, o.block, o.eval_points, cfg.finetune.batch_size)
    for (arm, seed), m in mistakes.items():
        cum = np.concatenate([[0], np.cumsum(m)])
        rows = []
        for p in points:
            w = min(p, o.block)
            rows.append(OnlinePoint(arm, seed, p, float((cum[p] - cum[p - w]) / w), 0.05, 0.2, o.block))
        folder.write_text(folder.root / "online" / f"{arm}_s{seed}.csv", points_to_csv(rows))
    return path


def test_the_online_error_is_the_papers_window_of_the_last_100000_examples(tmp_path):
    rng = np.random.default_rng(0)
    dirs, finals, last_10k = {}, {}, {}
    for label, cfg in CLAIMS["online"].experiments(False):
        n = cfg.online.finetune_examples
        mistakes = {}
        for seed in cfg.seed_values:
            for arm, end in (("none", 0.02), ("rbm", 0.012), ("dae", 0.010)):
                # the error falls along the stream: the last 100,000 average more than the last 10,000
                mistakes[(arm, seed)] = _mistakes(n, 0.2, end + 0.002 * seed, rng)
        dirs[label] = _online_run(tmp_path / label, cfg, mistakes)
        finals[label] = {k: float(np.mean(m[-PAPER_WINDOW:])) for k, m in mistakes.items()}  # independent
        last_10k[label] = {k: float(np.mean(m[-10_000:])) for k, m in mistakes.items()}
    decision, ev = CLAIMS["online"].judge(dirs, False)
    seeds = CLAIMS["online"].experiments(False)[0][1].seed_values
    for label in dirs:
        for arm in ("rbm", "dae"):
            want = t_interval([finals[label][(arm, s)] - finals[label][("none", s)] for s in seeds])
            other = t_interval([last_10k[label][(arm, s)] - last_10k[label][("none", s)] for s in seeds])
            assert want[0] != pytest.approx(other[0], abs=1e-4)  # the two windows give different numbers ...
            got = ev.intervals[f"online_error_diff[{label}, {arm}]"]
            assert [got.mean, got.lo, got.hi] == pytest.approx(want)  # ... and the claim judges the paper's
        assert ev.numbers[label]["none"]["online_error"] == pytest.approx(
            np.mean([finals[label][("none", s)] for s in seeds]))
    deep = t_interval([finals["layers=3"][("none", s)] - finals["layers=1"][("none", s)] for s in seeds])
    got = ev.intervals["deeper_none_worse[layers=3 - layers=1]"]
    assert [got.mean, got.lo, got.hi] == pytest.approx(deep)
    assert ev.numbers["window"] == [PAPER_WINDOW] and "over the last 100,000 examples" in ev.markdown
    assert ev.numbers["stream_base"]["base_images"] == MNIST_TRAIN
    assert "deforms 60,000 MNIST training digits" in ev.markdown
    assert all(j.outcome == HOLDS for j in decision.judgements if j.statement.quantity == "online_error_diff")


# --------------------------------------------------------------------------------------------------------------
# labels on MNIST
# --------------------------------------------------------------------------------------------------------------


def test_labels_mnist_declares_four_label_counts_with_a_fair_budget():
    runs = CLAIMS["labels-mnist"].experiments(False)
    counts = [cfg.data.n_labelled for _, cfg in runs]
    assert counts == [100, 1_000, 10_000, 50_000] and [label for label, _ in runs] == [f"labels={n}" for n in counts]
    epochs = {}
    for _, cfg in runs:
        cfg.validate()
        d, b = cfg.data, cfg.finetune.batch_size
        assert d.name == "mnist" and d.download and d.n_unlabelled == 0  # pre-training on every training digit
        idx = split_indices(MNIST_TRAIN, MNIST_TEST, d)  # 50,000 / 10,000 / 10,000
        assert (len(idx.train), len(idx.valid), len(idx.test)) == (50_000, 10_000, 10_000)
        assert len(idx.unlabelled) == 50_000 and len(idx.labelled) == d.n_labelled
        assert list(cfg.arms) == ["none", "rbm", "dae"] and cfg.seeds.count >= 3
        e, per_epoch = cfg.finetune.epochs, math.ceil(d.n_labelled / b)
        # the budget: at least 10^4 updates and 30 epochs, and no more epochs than the larger of the two needs
        assert e * per_epoch >= 10_000 and e >= 30
        assert e == max(30, math.ceil(10_000 / per_epoch))
        epochs[d.n_labelled] = e
    assert epochs == {100: 1_000, 1_000: 100, 10_000: 30, 50_000: 30}
    # the same pre-training (pool, net, methods, seeds) at every label count: only the labels and the budget differ
    same = {cfg.with_overrides({"data.n_labelled": 100, "finetune.epochs": 1, "snapshots.every": 1}).hash()
            for _, cfg in runs}
    assert len(same) == 1
    reduced = CLAIMS["labels-mnist"].experiments(True)
    assert len(reduced) == 4 and all(cfg.data.name == "digits" for _, cfg in reduced)
    assert "CPU hours" in CLAIMS["labels-mnist"].size_note and "2 cores" in CLAIMS["labels-mnist"].size_note
    assert CLAIMS["labels-mnist"].rule.statements == CLAIMS["labels"].rule.statements


LABELS = [f"labels={n}" for n in (100, 1_000, 10_000, 50_000)]
JITTER = (0.000, 0.004, -0.003, 0.002)  # per seed, so the intervals have a width
NOISE = (0.0, 0.001, -0.001, 0.0005)  # per seed, rotated by label count: no difference is the same at every seed


def _sweep(tmp_path, gains: list[float], noise: dict[str, tuple[float, ...]] | None = None,
           stuck: tuple[float, ...] = (0.90, 0.10, 0.104, 0.097)) -> dict:
    """Run folders for the four label counts, seeds SEEDS: random init ends at 0.10 (at 100 labels ``stuck``: seed
    0 on the plateau), the pre-trained arm ``gain`` lower plus half the seed's jitter, plus ``noise[label]``."""
    dirs = {}
    for label, gain in zip(LABELS, gains, strict=True):
        none = list(stuck) if label == LABELS[0] else [0.10 + j for j in JITTER]
        k = LABELS.index(label)
        extra = (noise or {}).get(label, NOISE[k:] + NOISE[:k])
        arm = [0.10 + j - gain - 0.5 * j + e for j, e in zip(JITTER, extra, strict=True)]
        dirs[label] = _finals_run(tmp_path / label, none, {"rbm": arm})
    return dirs


def test_labels_mnist_rule_on_four_label_counts(tmp_path):
    claim = CLAIMS["labels-mnist"]
    # a gain that shrinks at every step: reproduced; the plateau seed at 100 labels counted and left out
    decision, ev = claim.judge(_sweep(tmp_path / "a", [0.08, 0.04, 0.02, 0.005]), False)
    assert decision.verdict == REPRODUCED
    assert ev.intervals["gain_fewest[labels=100, rbm]"].n == len(SEEDS) - 1
    assert "labels=100: 1 of 4 seeds (0)" in ev.markdown
    assert ev.numbers["labels=100"]["rbm"]["plateau_seeds"] == [0]
    pairs = [k for k in ev.intervals if k.startswith("gain_shrinks")]
    assert pairs == [f"gain_shrinks[{a} vs {b}, rbm]" for a, b in zip(LABELS, LABELS[1:], strict=False)]
    # independent: seeds 1-3 are off the plateau at both counts of the first pair; gain = none - arm per seed
    none_100 = (0.90, 0.10, 0.104, 0.097)
    gain_100 = [none_100[i] - (0.10 + j - 0.08 - 0.5 * j + NOISE[i]) for i, j in enumerate(JITTER)]
    rotated = NOISE[1:] + NOISE[:1]
    gain_1000 = [0.04 + 0.5 * j - rotated[i] for i, j in enumerate(JITTER)]
    want = t_interval([gain_100[i] - gain_1000[i] for i in (1, 2, 3)])
    got = ev.intervals["gain_shrinks[labels=100 vs labels=1000, rbm]"]
    assert got.n == 3 and [got.mean, got.lo, got.hi] == pytest.approx(want, abs=1e-9)
    # a gain that grows from 10,000 to 50,000 labels: that step is contradicted, the others hold: mixed
    decision, _ = claim.judge(_sweep(tmp_path / "b", [0.08, 0.04, 0.01, 0.03]), False)
    outcomes = {j.where: j.outcome for j in decision.judgements}
    assert outcomes["gain_shrinks[labels=10000 vs labels=50000, rbm]"] == CONTRADICTED
    assert outcomes["gain_shrinks[labels=100 vs labels=1000, rbm]"] == HOLDS and decision.verdict == MIXED
    # the gain gone at 10,000 and 50,000 alike (seed noise only): that step shows nothing, nothing contradicts it
    noise = {LABELS[2]: (0.003, -0.004, 0.002, -0.001), LABELS[3]: (-0.002, 0.003, -0.004, 0.001)}
    decision, _ = claim.judge(_sweep(tmp_path / "c", [0.08, 0.04, 0.0, 0.0], noise), False)
    outcomes = {j.where: j.outcome for j in decision.judgements}
    assert outcomes["gain_shrinks[labels=10000 vs labels=50000, rbm]"] == NOT_SHOWN
    assert outcomes["gain_shrinks[labels=1000 vs labels=10000, rbm]"] == HOLDS and decision.verdict == INCONCLUSIVE
    # every random-init seed on the plateau at 100 labels: no gain to judge there, however large it looks
    decision, ev = claim.judge(_sweep(tmp_path / "d", [0.08, 0.04, 0.02, 0.005], stuck=(0.9, 0.91, 0.89, 0.9)),
                               False)
    assert ev.intervals["gain_fewest[labels=100, rbm]"].n == 0 and decision.verdict == INCONCLUSIVE
    assert "labels=100: 4 of 4 seeds (0, 1, 2, 3)" in ev.markdown


# --------------------------------------------------------------------------------------------------------------
# MNIST missing and not downloadable: one line naming data.path, exit 2, nothing made
# --------------------------------------------------------------------------------------------------------------


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - stdlib signature
        pass


@pytest.fixture
def no_mnist_server(tmp_path, monkeypatch):
    """MNIST's download address pointed at a local server that has no files (404), so no test reaches the net."""
    root = tmp_path / "www"
    root.mkdir()
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(root)))
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    monkeypatch.setattr(registry, "MNIST", replace(registry.MNIST,
                                                   base_urls=(f"http://127.0.0.1:{httpd.server_address[1]}/",)))
    try:
        yield
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


@pytest.mark.parametrize("claim", ["online", "labels-mnist", "mnist-baseline"])
@pytest.mark.parametrize("download", [True, False])
def test_missing_mnist_is_one_line_naming_data_path(claim, download, tmp_path, capsys, no_mnist_server):
    empty = tmp_path / "no-mnist"
    empty.mkdir()
    out = tmp_path / "claims"
    code = cli.main(["reproduce", claim, "--out", str(out), "--quiet", "--set", f'data.path="{empty}"',
                     "--set", f"data.download={'true' if download else 'false'}"], out=io.StringIO())
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    assert err[0].startswith("basin: error: ") and "data.path" in err[0] and str(empty) in err[0]
    assert ("could not download" in err[0]) == download and "Traceback" not in err[0]
    assert f"claim {claim}" in err[0]
    assert not (out / "full").exists()  # checked before any run folder is made


def test_finished_reports_a_claim_over_its_completed_experiments_and_runs_nothing(tmp_path):
    """`basin reproduce --finished`: a study of hours read while it runs. Nothing finished: one line, no folder made;
    two of the four label counts finished: the claim is 'incomplete', not judged, the two missing named, and the
    numbers are the finished ones' (their one pair); nothing else is run."""
    from desktop_app.core.engine.run import run_experiment
    from desktop_app.core.experiments import experiment_kind
    from desktop_app.core.reproduce.claims import REDUCED, run_folder_name

    out, report = tmp_path / "claims", tmp_path / "report.md"
    args = ["reproduce", "labels-mnist", "--reduced", "--device", "cpu", "--out", str(out), "--finished",
            "--no-figures", "--report", str(report), "--quiet"]
    buf = io.StringIO()
    assert cli.main(args, out=buf) == 0
    assert f"claim labels-mnist: none of its experiments has finished in {out / 'reduced'}" in buf.getvalue()
    assert not out.exists()
    experiments = CLAIMS["labels-mnist"].experiments(True)
    for _label, cfg in experiments[:2]:
        cfg = experiment_kind(cfg).run_config(replace(cfg, device="cpu"))
        events = list(run_experiment(cfg, None, out / REDUCED / run_folder_name(cfg)))
        assert events[-1].status == "completed"
    assert cli.main(args, out=io.StringIO()) == 0
    text = report.read_text()
    missing = ", ".join(label for label, _ in experiments[2:])
    assert f"**Incomplete, not judged:** 2 of its 4 experiments have not finished ({missing})" in text
    assert "| **incomplete** |" in text and "**incomplete** (not a verdict)" in text
    first, second = (label for label, _ in experiments[:2])
    assert f"| {first} | {second} | rbm |" in text and f"| {second} | {experiments[2][0]} |" not in text
    assert "(n = 2) (n = 2)" not in text  # a pair's n said once
    # the header repeats the command that made it (it said "--report docs/RESULTS.md" and "figures drawn")
    assert f"--finished --reduced --report {report}` on " in text and "without figures" in text
    assert len(list((out / REDUCED).iterdir())) == 2  # nothing else ran
