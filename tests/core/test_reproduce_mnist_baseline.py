"""The mnist-baseline claim (issue 26, item 3): its rule fed synthetic results at its boundaries, its intervals
against scipy, its registry entry and its experiment, which is the erhan2010-mnist preset."""

import pytest
from scipy import stats as sps

from desktop_app.core import config as c
from desktop_app.core.presets import list_presets, load_preset
from desktop_app.core.reproduce import CLAIMS, mnist_baseline
from desktop_app.core.reproduce.mnist_baseline import MARGIN, PUBLISHED, RULE, evidence, judge
from desktop_app.core.reproduce.rules import key
from desktop_app.core.stats import MeanCI

DAE, RBM = PUBLISHED["dae"].error, PUBLISHED["rbm"].error


def ci(n, lo, hi):
    return MeanCI(n, (lo + hi) / 2, 1.0, lo, hi)


GOOD = {key("distance_to_published", "dae"): ci(3, -0.002, 0.003), key("gain", "dae"): ci(3, 0.001, 0.006),
        key("distance_to_published", "rbm"): ci(3, -0.004, 0.004), key("gain", "rbm"): ci(3, 0.0005, 0.004)}


@pytest.mark.parametrize("change, verdict", [
    ({}, "reproduced"),
    # the distance interval touching the margin decides nothing (strict): not reproduced, not contradicted
    ({key("distance_to_published", "dae"): ci(3, 0.001, MARGIN)}, "inconclusive"),
    ({key("distance_to_published", "dae"): ci(3, -MARGIN, 0.001)}, "inconclusive"),
    # straddling the margin: inconclusive; entirely beyond it: contradicted while the rest holds: mixed
    ({key("distance_to_published", "rbm"): ci(3, 0.003, 0.008)}, "inconclusive"),
    ({key("distance_to_published", "rbm"): ci(3, MARGIN + 1e-4, 0.008)}, "mixed"),
    ({key("distance_to_published", "rbm"): ci(3, -0.02, -MARGIN - 1e-4)}, "mixed"),
    # the gain touching 0 shows nothing; below 0 contradicts
    ({key("gain", "dae"): ci(3, 0.0, 0.004)}, "inconclusive"),
    ({key("gain", "dae"): ci(3, -0.004, -0.0001)}, "mixed"),
    # two seeds give no interval: not shown, whatever the numbers
    ({key("gain", "rbm"): ci(2, 0.001, 0.004)}, "inconclusive"),
    # everything contradicted: not reproduced
    ({k: ci(3, -0.03, -0.01) for k in GOOD}, "not reproduced"),
])
def test_the_rule_at_its_boundaries(change, verdict):
    assert RULE.decide({**GOOD, **change}).verdict == verdict


def test_an_arm_never_measured_is_not_shown():
    only_dae = {k: v for k, v in GOOD.items() if "dae" in k}
    decision = RULE.decide(only_dae)
    assert decision.verdict == "reproduced"  # rules judge what was measured: the claim's runs always have both arms
    assert RULE.decide({}).verdict == "inconclusive"


def t_interval(x):
    return sps.t.interval(0.95, len(x) - 1, loc=sum(x) / len(x), scale=sps.sem(x))


def test_the_intervals_are_distances_and_paired_gains_over_the_seeds_both_arms_have():
    errors = {"none": {0: 0.017, 1: 0.016, 2: 0.0165, 3: 0.02},
              "dae": {0: 0.0128, 1: 0.0131, 2: 0.0133},
              "rbm": {0: 0.0132, 1: 0.0137, 2: 0.0135, 5: 0.0134}}
    ev = evidence(errors)
    assert set(ev) == {key(q, a) for q in ("distance_to_published", "gain") for a in ("dae", "rbm")}
    dist = [v - DAE for v in errors["dae"].values()]
    d = ev[key("distance_to_published", "dae")]
    assert (d.n, d.mean) == (3, pytest.approx(sum(dist) / 3)) and (d.lo, d.hi) == pytest.approx(t_interval(dist))
    gain = [errors["none"][s] - errors["rbm"][s] for s in (0, 1, 2)]  # seed 5 has no random-init pair
    g = ev[key("gain", "rbm")]
    assert g.n == 3 and (g.lo, g.hi) == pytest.approx(t_interval(gain))
    assert ev[key("distance_to_published", "rbm")].n == 4  # the distance needs no pair
    assert judge(errors) == "reproduced"
    far = {**errors, "dae": {s: v + 0.01 for s, v in errors["dae"].items()}}  # 1 point worse than published
    assert judge(far) == "mixed"  # dae's distance contradicted, the rest holds


def test_the_claim_is_registered_with_its_rule_and_runs_the_preset():
    claim = CLAIMS["mnist-baseline"]
    assert claim.rule is RULE and claim.evaluate is mnist_baseline.eval_mnist_baseline
    assert "Sub-statement:" in claim.rule.describe() and f"{MARGIN * 100:g} points" in claim.rule.describe()
    (_label, full), = claim.experiments(False)
    assert full.hash() == load_preset("erhan2010-mnist").hash()
    (_label, reduced), = claim.experiments(True)
    assert reduced.errors() == [] and reduced.data.name == "digits" and not reduced.data.download
    assert reduced.finetune.patience > 0 and reduced.seeds.count >= 3 and reduced.arms == full.arms


def test_the_preset_is_the_papers_setting_on_mnist_with_early_stopping():
    assert "erhan2010-mnist" in list_presets()
    cfg = load_preset("erhan2010-mnist")
    assert cfg.errors() == [] and c.from_toml(cfg.to_toml()) == cfg
    d = cfg.data
    assert (d.name, d.download, d.n_labelled, d.n_valid, d.n_test) == ("mnist", True, 50_000, 10_000, 10_000)
    assert d.n_unlabelled in (0, 50_000)  # pre-training on the 50,000 training digits
    assert [(layer.kind, layer.units >= 500) for layer in cfg.model.layers] == [("dense", True)] * 3
    assert (cfg.model.activation, cfg.model.init, cfg.finetune.batch_size) == ("sigmoid", "classic", 10)
    assert cfg.arms == ("none", "rbm", "dae")
    assert (cfg.pretraining.dae.noise, cfg.pretraining.dae.corruption) == ("masking", 0.25)
    assert 0 < cfg.finetune.patience < cfg.finetune.epochs and cfg.seeds.count >= 3
    for number in ("1.3 %", "1.34 %"):  # the published numbers it is compared with, in its description
        assert number in cfg.description


def test_the_reduced_claim_reports_each_seed_at_its_selected_epoch(tmp_path):
    """The reduced claim end to end (a tiny net on the digits): the report's numbers are the selected epochs'."""
    from desktop_app.core.reproduce import run_claim
    from desktop_app.core.runfolder import read_metrics
    from desktop_app.core.runfolder.metrics import final_epochs, read_finals

    result = run_claim("mnist-baseline", tmp_path, reduced=True, device="cpu",
                       execution={"execution.backend": "inline"})
    run_dir = next(iter(result.run_dirs.values()))
    finals = read_finals(run_dir)
    epochs = final_epochs(read_metrics(run_dir), 2)
    for arm, numbers in result.numbers["arms"].items():
        values = list(finals[arm].values())
        assert numbers["test_error"][1] == pytest.approx(sum(values) / len(values))
        assert numbers["selected_epochs"] == {str(s): e for s, e in epochs[arm].items()}
    assert result.verdict in ("reproduced", "mixed", "not reproduced", "inconclusive")
    assert "Reduced version" in result.markdown and "| sub-statement |" in result.markdown
