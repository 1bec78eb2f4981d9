"""The output-variance claim's evaluation against an independent computation on hand-made variances, its
experiments (one run per seed, paired), and the hashes of existing configs left unchanged by the stream field."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from desktop_app.core import config as c
from desktop_app.core import reproduce
from desktop_app.core.reproduce.output_variance import evaluate
from desktop_app.core.results import OutputVarianceResult

POSITIONS = np.arange(4)


def result(seed: int, none: list[float], dae: list[float]) -> OutputVarianceResult:
    return OutputVarianceResult(arms=("none", "dae"), positions=POSITIONS, block_start=POSITIONS * 100,
                                variance=np.array([none, dae], dtype=np.float64), block_size=100, resamples=3,
                                resample="deform", seed=seed)


def t_interval(values: list[float]) -> tuple[float, float, float]:
    v = np.asarray(values)
    half = stats.t.ppf(0.975, len(v) - 1) * v.std(ddof=1) / np.sqrt(len(v))
    return float(v.mean()), float(v.mean() - half), float(v.mean() + half)


# three seeds; variances fall with position (10x per block, with noise), dae about 10x below none
PAPER = [
    result(0, [1e-2, 1e-3, 1e-4, 1e-5], [1e-3, 1e-4, 2e-5, 1e-6]),
    result(1, [2e-2, 3e-3, 1e-4, 2e-5], [2e-3, 2e-4, 1e-5, 3e-6]),
    result(2, [5e-3, 1e-3, 2e-4, 1e-5], [4e-4, 1e-4, 1e-5, 1e-6]),
]


def test_numbers_match_an_independent_computation():
    verdict, markdown, numbers = evaluate(PAPER)
    for i, arm in enumerate(("none", "dae")):
        slopes = [np.polyfit(POSITIONS, np.log10(r.variance[i]), 1)[0] for r in PAPER]
        mean, lo, hi = t_interval(slopes)
        assert numbers[arm]["slope"] == pytest.approx(mean)
        assert numbers[arm]["slope_ci"] == pytest.approx([lo, hi])
        assert numbers[arm]["log10_variance"] == pytest.approx(
            [np.mean([np.log10(r.variance[i, j]) for r in PAPER]) for j in POSITIONS])
    diffs = [np.log10(r.variance[1]).mean() - np.log10(r.variance[0]).mean() for r in PAPER]
    mean, lo, hi = t_interval(diffs)
    assert numbers["dae"]["paired_diff_log10_variance"] == pytest.approx(mean)
    assert numbers["dae"]["paired_diff_ci"] == pytest.approx([lo, hi])
    assert numbers["none"]["paired_diff_ci"] is None
    assert verdict == "reproduced" and numbers["early_blocks_matter_more"] and numbers["pretrained_vary_less"]
    assert markdown.count("\n| none |") == markdown.count("\n| dae |") == 1 and "block 3 (ex. 300-)" in markdown


def test_recency_is_not_reproduced_and_says_why():
    """Variance rising with position (the last blocks matter most) and pre-trained nets varying more."""
    late = [result(s, list(np.array(r.variance[1])[::-1]), list(np.array(r.variance[0])[::-1]))
            for s, r in enumerate(PAPER)]
    verdict, markdown, numbers = evaluate(late)
    assert verdict == "not reproduced"
    assert not numbers["early_blocks_matter_more"] and not numbers["pretrained_vary_less"]
    assert "rises with position for none, dae" in markdown


def test_one_part_only_is_mixed():
    """Early blocks matter more, but the pre-trained nets vary as much as random ones."""
    same = [result(r.seed, list(r.variance[0]), list(r.variance[0] * (1.5 if r.seed % 2 else 0.7))) for r in PAPER]
    verdict, _, numbers = evaluate(same)
    assert numbers["early_blocks_matter_more"] and not numbers["pretrained_vary_less"]
    assert verdict == "mixed"


def test_runs_of_another_design_are_refused():
    other = OutputVarianceResult(arms=("none",), positions=POSITIONS, block_start=POSITIONS, variance=np.ones((1, 4)),
                                 block_size=1, resamples=2, resample="deform", seed=5)
    with pytest.raises(ValueError, match="differ"):
        evaluate([PAPER[0], other])


@pytest.mark.parametrize("reduced", [True, False])
def test_one_output_variance_run_per_seed(reduced):
    runs = reproduce.CLAIMS["output-variance"].experiments(reduced)
    seeds = [cfg.seeds.base for _, cfg in runs]
    assert seeds == list(range(len(runs))) and len(runs) >= 2
    for label, cfg in runs:
        cfg.validate()
        assert label == f"seed={cfg.seeds.base}" and cfg.seeds.count == 1 and cfg.kind == "output-variance"
        assert cfg.data.name == "elastic" and cfg.output_variance.stream_examples > cfg.data.n_labelled
        # paired: the runs differ in their seed alone
        assert cfg.with_overrides({"seeds.base": 0}).hash() == runs[0][1].hash()
    assert "100,000 examples" in reproduce.CLAIMS["output-variance"].size_note  # the report's setup says why


def test_the_stream_field_leaves_existing_hashes_unchanged():
    """Hashes computed before output_variance.stream_examples existed (the background `basin reproduce` reuses
    completed run folders by config hash)."""
    before = {"regulariser": "effc22f4f7b4f1b9", "pitfall": "c7963eb3375ac3ec", "online": "ecec427e01875c7c"}
    for claim, digest in before.items():
        assert reproduce.CLAIMS[claim].experiments(False)[0][1].hash() == digest
    assert c.ExperimentConfig().hash() == "23642745828a4263"
    old_kind = c.from_dict({"kind": "output-variance", "data": {"name": "elastic"}, "output_variance": {"n_blocks": 4}})
    assert old_kind.hash() == "01a3cb72bb1c2fe1"
    longer = old_kind.with_overrides({"output_variance.stream_examples": 10_000})
    assert longer.hash() != old_kind.hash()  # where it changes the numbers, it is part of the hash
    standard = c.ExperimentConfig()
    assert standard.with_overrides({"output_variance.stream_examples": 10_000}).hash() == standard.hash()


def test_a_stream_longer_than_the_labelled_set_needs_elastic_data():
    d = {"kind": "output-variance", "data": {"name": "digits", "n_labelled": 1000},
         "output_variance": {"stream_examples": 5000, "resample": "pool"}}
    with pytest.raises(c.ConfigError, match="needs elastic data") as err:
        c.from_dict(d)
    assert err.value.field == "output_variance.stream_examples"
    d["data"]["name"], d["output_variance"]["resample"] = "elastic", "deform"
    assert c.from_dict(d).output_variance.stream_examples == 5000
