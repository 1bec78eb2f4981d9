"""The bottom-k and penalties claims' numbers and verdicts equal an independent computation on hand-made run folders
(config, manifest and metrics written directly, known numbers in them)."""

import json

import numpy as np
import pytest
from scipy import stats

from desktop_app.core.config import ExperimentConfig
from desktop_app.core.reproduce import CLAIMS, ablations
from desktop_app.core.runfolder import RunFolder
from desktop_app.core.runfolder.metrics import rows_to_csv

SEEDS = (0, 1, 2, 3)


def hand_made(path, cfg: ExperimentConfig, finals: dict[str, dict[str, list[float]]]):
    """A completed run folder whose last fine-tuning epoch (2) holds ``finals[arm][split/column]`` per seed; epoch 1
    holds other numbers, so only a reader of the last epoch gets the finals."""
    folder = RunFolder(path)
    path.mkdir(parents=True)
    folder.write_text(folder.config_path, cfg.to_toml())
    folder.write_text(folder.manifest_path, json.dumps({"arms": list(cfg.arms), "status": "completed",
                                                        "seeds": list(SEEDS), "config_hash": cfg.hash()}))
    rows = []
    for arm, cols in finals.items():
        for i, seed in enumerate(SEEDS):
            for epoch in (1, 2):
                for split in ("train", "valid", "test"):
                    nll = float(cols.get(f"{split}_nll", [0.3] * 4)[i]) if epoch == 2 else 9.0
                    err = float(cols.get(f"{split}_error", [0.1] * 4)[i]) if epoch == 2 else 0.9
                    rows.append({"arm": arm, "seed": seed, "phase": "finetune", "layer": -1, "epoch": epoch,
                                 "split": split, "nll": nll, "error": err, "recon_error": ""})
    folder.write_text(folder.metrics_path, rows_to_csv(rows))
    return path


def t_interval(d):
    d = np.asarray(d, float)
    half = stats.t.ppf(0.975, len(d) - 1) * d.std(ddof=1) / np.sqrt(len(d))
    return d.mean(), d.mean() - half, d.mean() + half


def test_bottom_k_numbers_and_verdict(tmp_path):
    rng = np.random.default_rng(3)
    # test error falls with k for dae (clear steps), rises for rbm (clear steps the wrong way); train NLL rises with
    # k for both
    err = {0: 0.10, 1: 0.08, 2: 0.06, 3: 0.04}
    nll = {0: 0.01, 1: 0.02, 2: 0.03, 3: 0.04}
    noise = {k: rng.normal(0, 0.002, 4) for k in err}
    dae = {k: {"test_error": list(err[k] + noise[k]), "train_nll": list(nll[k] + noise[k] / 10)} for k in err}
    rbm = {k: {"test_error": list(0.1 + 0.02 * k + rng.normal(0, 0.002, 4)), "train_nll": dae[k]["train_nll"]}
           for k in err}
    base = ExperimentConfig().with_overrides({"seeds.count": 4})

    def cols(d):
        return {"test_error": d["test_error"], "train_nll": d["train_nll"]}

    dirs = {"regulariser": hand_made(tmp_path / "reg", base.with_overrides({"arms": ["none", "rbm", "dae"]}),
                                     {"none": cols(dae[0]), "rbm": cols(rbm[3]), "dae": cols(dae[3])})}
    for k in (1, 2):
        cfg = base.with_overrides({"arms": ["rbm", "dae"], "pretraining.bottom_layers": k})
        dirs[f"k={k}"] = hand_made(tmp_path / f"k{k}", cfg, {"rbm": cols(rbm[k]), "dae": cols(dae[k])})
    ev = ablations.eval_bottom_k(dirs, False)
    markdown, numbers = ev.markdown, ev.numbers
    decision = CLAIMS["bottom-k"].rule.decide(ev.intervals)
    rbm[0] = dae[0]  # k = 0 is the shared random-init arm
    for arm, truth in (("dae", dae), ("rbm", rbm)):
        n = numbers[arm]
        assert n["k"] == [0, 1, 2, 3]
        np.testing.assert_allclose(n["test_error"], [np.mean(truth[k]["test_error"]) for k in range(4)])
        np.testing.assert_allclose(n["train_nll"], [np.mean(truth[k]["train_nll"]) for k in range(4)])
        for step, k in zip(n["steps"], (1, 2, 3), strict=True):
            mean, lo, hi = t_interval(np.subtract(truth[k]["test_error"], truth[k - 1]["test_error"]))
            assert (step["from"], step["to"]) == (k - 1, k)
            assert step["test_error_diff"] == pytest.approx(mean)
            assert step["test_error_diff_ci"] == pytest.approx([lo, hi])
            got = ev.intervals[f"test_error_step[{arm}, k={k - 1} to {k}]"]
            assert [got.lo, got.hi] == pytest.approx([lo, hi])
        mean, lo, hi = t_interval(np.subtract(truth[3]["train_nll"], truth[0]["train_nll"]))
        assert n["overall_train_nll_diff"] == pytest.approx(mean) and n["overall_train_nll_diff_ci"] == pytest.approx(
            [lo, hi])
        mean, lo, hi = t_interval(np.log10(truth[3]["train_nll"]) - np.log10(truth[0]["train_nll"]))
        got = ev.intervals[f"log_train_nll_diff[{arm}]"]
        assert [got.mean, got.lo, got.hi] == pytest.approx([mean, lo, hi])
    outcomes = {j.where: j.outcome for j in decision.judgements}
    assert {w: o for w, o in outcomes.items() if w.startswith("test_error_step[dae")} == {
        f"test_error_step[dae, k={k - 1} to {k}]": "holds" for k in (1, 2, 3)}
    assert {o for w, o in outcomes.items() if w.startswith("test_error_step[rbm")} == {"contradicted"}
    assert outcomes["log_train_nll_diff[rbm]"] == outcomes["log_train_nll_diff[dae]"] == "holds"
    assert decision.verdict == "mixed" and "| dae | 3 | 4 |" in markdown
    assert CLAIMS["bottom-k"].evaluate is ablations.eval_bottom_k
    # an arm missing at some k (the reduced claim runs k = 1, 2 with DAE only) is left out, not the k
    cfg = base.with_overrides({"arms": ["dae"], "pretraining.bottom_layers": 1})
    dirs["k=1"] = hand_made(tmp_path / "k1-dae", cfg, {"dae": cols(dae[1])})
    assert list(ablations.bottom_k_finals(dirs)) == ["dae"]
    assert list(ablations.eval_bottom_k(dirs, True).numbers["dae"]["k"]) == [0, 1, 2, 3]


def test_penalties_pick_on_validation_and_compare_on_test(tmp_path):
    rng = np.random.default_rng(5)
    base = ExperimentConfig().with_overrides({"seeds.count": 4})
    pre = {"rbm": list(0.05 + rng.normal(0, 0.002, 4)), "dae": list(0.045 + rng.normal(0, 0.002, 4))}
    none = list(0.09 + rng.normal(0, 0.002, 4))
    dirs = {"regulariser": hand_made(tmp_path / "reg", base, {
        "none": {"test_error": none, "valid_error": none},
        "rbm": {"test_error": pre["rbm"]}, "dae": {"test_error": pre["dae"]}})}
    # L1: the middle strength has the lowest validation error but not the lowest test error (selection must not
    # peek at test); L2: its best strength beats both pre-trained arms on test
    grid = {("l1", 1e-6): (0.085, 0.070), ("l1", 1e-5): (0.070, 0.080), ("l1", 1e-4): (0.200, 0.200),
            ("l2", 1e-5): (0.080, 0.080), ("l2", 1e-4): (0.060, 0.030)}
    finals = {}
    for (kind, strength), (valid, test) in grid.items():
        v, t = list(valid + rng.normal(0, 0.002, 4)), list(test + rng.normal(0, 0.002, 4))
        finals[(kind, strength)] = (v, t)
        cfg = base.with_overrides({"arms": ["none"], f"model.{kind}": strength})
        dirs[f"{kind}={strength:g}"] = hand_made(tmp_path / f"{kind}{strength:g}", cfg,
                                                 {"none": {"valid_error": v, "test_error": t}})
    ev = ablations.eval_penalties(dirs, False)
    markdown, numbers = ev.markdown, ev.numbers
    decision = CLAIMS["penalties"].rule.decide(ev.intervals)
    outcomes = {j.where: j.outcome for j in decision.judgements}
    assert numbers["L1"]["best"] == 1e-5 and numbers["L2"]["best"] == 1e-4
    for kind, best in (("L1", ("l1", 1e-5)), ("L2", ("l2", 1e-4))):
        for arm in ("rbm", "dae"):
            mean, lo, hi = t_interval(np.subtract(finals[best][1], pre[arm]))
            got = numbers[kind]["vs"][arm]
            assert got["diff"] == pytest.approx(mean) and got["diff_ci"] == pytest.approx([lo, hi])
            strength = dict(numbers)[kind]["best"]
            assert outcomes[f"penalty_minus_pretrained[{kind} {strength:g}, {arm}]"] == (
                "holds" if lo > 0 else "contradicted" if hi < 0 else "not shown")
    grid_l1 = {g["strength"]: g for g in numbers["L1"]["grid"]}
    assert grid_l1[1e-4]["valid_error"] == pytest.approx(np.mean(finals[("l1", 1e-4)][0]))
    assert grid_l1[1e-4]["diff_to_none"] == pytest.approx(np.mean(np.subtract(finals[("l1", 1e-4)][1], none)))
    assert outcomes["penalty_minus_pretrained[L1 1e-05, rbm]"] == "holds"
    assert outcomes["penalty_minus_pretrained[L2 0.0001, rbm]"] == "contradicted"
    assert decision.verdict == "mixed" and "| L1 (1e-05) | dae |" in markdown
    assert CLAIMS["penalties"].evaluate is ablations.eval_penalties


def test_reproduce_help_lists_every_claim(capsys):
    from desktop_app import cli

    with pytest.raises(SystemExit) as done:
        cli.build_parser().parse_args(["reproduce", "--help"])
    assert done.value.code == 0
    text = capsys.readouterr().out.split("claims:\n", 1)[1]
    listed = [line.split()[0] for line in text.splitlines() if line.startswith("  ")]
    assert listed == list(CLAIMS) and "bottom-k" in listed and "penalties" in listed
    assert all(len(line) <= 120 for line in text.splitlines())
