"""What the contested claims measure for their rules (issue 26), on hand-made run folders with known numbers:
the regulariser at fixed train NLL levels over the seeds that reach them, plateau seeds left out of the width and
labels gains and counted, the labels gains paired across label counts, and the pitfall's per-architecture
differences paired by seed."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import stats

from desktop_app.core.config import ExperimentConfig
from desktop_app.core.reproduce import CLAIMS, verdicts
from desktop_app.core.runfolder import RunFolder
from desktop_app.core.runfolder.metrics import rows_to_csv

SEEDS = (0, 1, 2, 3)


def curves_run(path, curves: dict[str, dict[int, dict[str, list[float]]]], test_error=None):
    """A completed run folder: ``curves[arm][seed]`` = {"train": train NLL per epoch 0.., "test": test NLL per epoch};
    ``test_error[arm][seed]`` the final test error (default 0.1)."""
    cfg = ExperimentConfig().with_overrides({"arms": list(curves), "seeds.count": len(SEEDS)})
    folder = RunFolder(path)
    path.mkdir(parents=True)
    folder.write_text(folder.config_path, cfg.to_toml())
    folder.write_text(folder.manifest_path, json.dumps({"arms": list(curves), "status": "completed",
                                                        "seeds": list(SEEDS), "config_hash": cfg.hash()}))
    rows = []
    for arm, by_seed in curves.items():
        for seed, c in by_seed.items():
            last = len(c["train"]) - 1
            for epoch, (tr, te) in enumerate(zip(c["train"], c["test"], strict=True)):
                err = (test_error or {}).get(arm, {}).get(seed, 0.1) if epoch == last else 0.9
                for split, nll, e in (("train", tr, 0.0), ("valid", te, err), ("test", te, err)):
                    rows.append({"arm": arm, "seed": seed, "phase": "finetune", "layer": -1, "epoch": epoch,
                                 "split": split, "nll": float(nll), "error": float(e), "recon_error": ""})
    folder.write_text(folder.metrics_path, rows_to_csv(rows))
    return path


def t_interval(d):
    d = np.asarray(d, float)
    half = stats.t.ppf(0.975, len(d) - 1) * d.std(ddof=1) / np.sqrt(len(d))
    return d.mean(), d.mean() - half, d.mean() + half


def loglog_at(train, test, level):
    """Independent: log10 test NLL where log10 train NLL first crosses log10(level), epochs >= 1, linear."""
    x, y = np.log10(train[1:]), np.log10(test[1:])
    i = next(i for i, v in enumerate(x) if v <= np.log10(level))
    if i == 0:
        return y[0]
    return float(np.interp(np.log10(level), [x[i], x[i - 1]], [y[i], y[i - 1]]))


def test_regulariser_compares_test_nll_at_fixed_levels_over_the_seeds_that_reach_them(tmp_path):
    rng = np.random.default_rng(0)
    curves: dict = {"none": {}, "rbm": {}}
    for s in SEEDS:
        # random init: train NLL 2 -> 0.005 over 8 epochs, test NLL flattening at ~1; seed 3 stalls at 0.5
        floor = 0.5 if s == 3 else 0.005
        tr = list(np.geomspace(2.0, floor, 9) * (1 + 0.05 * rng.random(9)))
        curves["none"][s] = {"train": tr, "test": [1.0 + t for t in tr]}
        tr = list(np.geomspace(1.0, 0.002, 9) * (1 + 0.05 * rng.random(9)))
        curves["rbm"][s] = {"train": tr, "test": [0.4 + t for t in tr]}
    run = curves_run(tmp_path / "reg", curves)
    ev = verdicts.eval_regulariser({"regulariser": run}, False)
    for level in verdicts.REGULARISER_LEVELS:
        reach = [s for s in SEEDS if min(curves["none"][s]["train"][1:]) <= level]
        assert reach == [0, 1, 2]  # the stalled seed is left out of every level, not the level moved for all
        d = [loglog_at(curves["rbm"][s]["train"], curves["rbm"][s]["test"], level)
             - loglog_at(curves["none"][s]["train"], curves["none"][s]["test"], level) for s in reach]
        got = ev.intervals[f"log_test_nll_at_train_nll[rbm, train NLL {level:g}]"]
        assert got.n == 3 and [got.mean, got.lo, got.hi] == pytest.approx(t_interval(d))
        assert ev.numbers["levels"][f"{level:g}"]["rbm"]["seeds_none"] == 3
        assert f"| {level:g} | rbm | 4 / 3 / 3 of 4 |" in ev.markdown
    final = {a: [curves[a][s]["train"][-1] for s in SEEDS] for a in curves}
    got = ev.intervals["log_train_nll_diff[rbm]"]
    assert [got.mean, got.lo, got.hi] == pytest.approx(t_interval(np.log10(final["rbm"]) - np.log10(final["none"])))
    decision = CLAIMS["regulariser"].rule.decide(ev.intervals)
    outcomes = {j.where: j.outcome for j in decision.judgements}
    assert all(o == "holds" for w, o in outcomes.items() if w.startswith("log_test_nll_at_train_nll"))
    assert outcomes["test_error_diff[rbm]"] == "not shown"  # every final test error is 0.1: no difference


def _finals_run(path, none: list[float], arms: dict[str, list[float]]):
    """A run whose final test errors are given per seed (flat curves)."""
    c = {a: {s: {"train": [0.1, 0.1], "test": [0.5, 0.5]} for s in SEEDS} for a in ("none", *arms)}
    errors = {"none": dict(zip(SEEDS, none, strict=True))}
    errors.update({a: dict(zip(SEEDS, v, strict=True)) for a, v in arms.items()})
    return curves_run(path, c, errors)


def test_width_and_labels_leave_plateau_seeds_out_and_count_them(tmp_path):
    few = _finals_run(tmp_path / "few", [0.90, 0.30, 0.32, 0.31], {"rbm": [0.20, 0.18, 0.19, 0.20]})
    many = _finals_run(tmp_path / "many", [0.12, 0.11, 0.13, 0.12], {"rbm": [0.08, 0.07, 0.09, 0.08]})
    assert verdicts.plateau_seeds(few) == {0} and verdicts.plateau_seeds(many) == set()
    ev = verdicts.eval_labels({"labels=100": few, "labels=1000": many}, False)
    fewest = ev.intervals["gain_fewest[labels=100, rbm]"]
    assert fewest.n == 3 and fewest.mean == pytest.approx(np.mean([0.30 - 0.18, 0.32 - 0.19, 0.31 - 0.20]))
    assert ev.numbers["labels=100"]["rbm"]["gain_all_seeds"] == pytest.approx(
        np.mean([0.70, 0.12, 0.13, 0.11]))  # shown beside it, not judged
    shrink = ev.intervals["gain_shrinks[labels=100 vs labels=1000, rbm]"]
    d = [(0.30 - 0.18) - 0.04, (0.32 - 0.19) - 0.04, (0.31 - 0.20) - 0.04]  # seeds 1-3: off the plateau in both
    assert [shrink.mean, shrink.lo, shrink.hi] == pytest.approx(t_interval(d))
    assert "labels=100: 1 of 4 seeds (0)" in ev.markdown
    assert CLAIMS["labels"].rule.decide(ev.intervals).verdict == "reproduced"
    # every random-init seed on the plateau: no gain to judge, however large it looks
    stuck = _finals_run(tmp_path / "stuck", [0.90, 0.91, 0.89, 0.90], {"rbm": [0.20, 0.18, 0.19, 0.20]})
    ev = verdicts.eval_labels({"labels=100": stuck, "labels=1000": many}, False)
    assert ev.intervals["gain_fewest[labels=100, rbm]"].n == 0
    assert CLAIMS["labels"].rule.decide(ev.intervals).verdict == "inconclusive"
    # width: no help at the smallest width needs the interval below the 1-point margin
    small = _finals_run(tmp_path / "small", [0.140, 0.150, 0.145, 0.142], {"rbm": [0.141, 0.149, 0.146, 0.141]})
    ev = verdicts.eval_width({"width=25": small, "width=500": few}, False)
    assert ev.intervals["gain_smallest[width=25, rbm]"].hi < 0.01
    assert ev.intervals["gain_largest[width=500, rbm]"].n == 3
    assert CLAIMS["width"].rule.decide(ev.intervals).verdict == "reproduced"


def test_pitfall_pairs_each_architectures_clean_and_noisiest_configurations_by_seed():
    by_seed = {
        "dae w=16 noise=0": {s: (100.0 + s, 0.80 + 0.001 * s) for s in range(4)},
        "dae w=16 noise=0.25": {s: (105.0 + s, 0.805) for s in range(4)},
        "dae w=16 noise=0.5": {s: (110.0 + s + 0.5 * (s % 2), 0.82 + 0.002 * s) for s in range(4)},
        "cae ch=4 noise=0": {s: (50.0, 0.7) for s in range(3)},  # one level only: no comparison
    }
    out = verdicts.architecture_differences(by_seed)
    assert list(out) == ["dae w=16"]
    clean, noisy, rec, gain = out["dae w=16"]
    assert (clean, noisy) == ("dae w=16 noise=0", "dae w=16 noise=0.5")
    d_rec = [10.0 + 0.5 * (s % 2) for s in range(4)]
    d_acc = [(0.82 + 0.002 * s) - (0.80 + 0.001 * s) for s in range(4)]
    assert [rec.mean, rec.lo, rec.hi] == pytest.approx(t_interval(d_rec))
    # the clean configuration reconstructs better; its accuracy gain is minus the noisy one's
    assert [gain.mean, gain.lo, gain.hi] == pytest.approx(t_interval(-np.asarray(d_acc)))
    rule = CLAIMS["pitfall"].rule
    ev = {"across_r": verdicts.MeanCI(4, 0.0, 0.1, -0.3, 0.3), "recon_differs[dae w=16]": rec,
          "accuracy_gain_of_better_recon[dae w=16]": gain}
    assert rule.decide(ev).verdict == "reproduced"
