"""The numbers the HParams panel draws (core/lab/hparams.py), on synthetic runs in the Qt-free lab model: final test
errors per run and arm equal the runs' last epochs, intervals scipy's t interval, a decade-spanning field on a log
axis, series only where runs share an x value, parallel-coordinates fractions."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from desktop_app.core.lab.grouping import ComparisonView
from desktop_app.core.lab.hparams import (
    default_field,
    field_axis,
    final_test_errors,
    hparam_points,
    is_setting,
    parallel_lines,
)
from tests.core.test_lab_grouping import CONFIGS, SEEDS, model
from tests.core.test_lab_model import metrics


def test_field_axes():
    widths = field_axis("model.layers.0.units", [25, 100, 1000, 100])
    assert widths.log and widths.values == (25, 100, 1000) and widths.name == "units"
    assert widths.position(1000) == pytest.approx(3.0) and widths.fraction(25) == 0.0 and widths.fraction(1000) == 1
    assert [t for _, t in widths.ticks()] == ["25", "100", "1000"]
    lrs = field_axis("finetune.lr", [0.1, 0.05], ["finetune.lr", "pretraining.lr"])
    assert not lrs.log and lrs.fraction(0.05) == 0.0
    kinds = field_axis("optimizer", ["sgd", "momentum", "sgd"])
    assert not kinds.numeric and kinds.position("momentum") == 1.0 and math.isnan(kinds.position("adam"))
    assert field_axis("x", [0, 10]).log is False  # zero has no logarithm
    assert is_setting("finetune.lr") and not is_setting("seeds.count")


def test_points_equal_the_runs_last_epochs_with_t_intervals():
    m = model()
    comparison = m.compare(list(CONFIGS))
    assert default_field(comparison) == "finetune.lr"  # ties: the first label key
    axis, points = hparam_points(comparison, "model.layers.0.units")
    assert not axis.log and axis.values == (32, 128)  # a factor of 4: linear
    # two runs at each width: they are told apart by lr, the other key that differs there
    assert {p.series for p in points} == {"lr=0.1", "lr=0.05"}
    assert len(points) == 2 * len(CONFIGS)
    for p in points:
        seeds = SEEDS[p.run_dir]
        expected = [100 * metrics(p.arm, s, 2).test_error for s in seeds]  # epoch 2: the last of each unit
        assert list(p.values.values()) == pytest.approx(expected, rel=1e-12)
        assert p.ci.mean == pytest.approx(np.mean(expected), rel=1e-12) and p.ci.n == len(seeds)
        if len(seeds) >= 3:
            lo, hi = stats.t.interval(0.95, len(expected) - 1, loc=np.mean(expected), scale=stats.sem(expected))
            assert (p.ci.lo, p.ci.hi) == pytest.approx((lo, hi), rel=1e-9)
    # grouped by width and plotted against it: one point per group and arm, its seeds pooled
    m.set_comparison_view(ComparisonView(group_by="model.layers.0.units"))
    axis, points = hparam_points(m.comparison, "model.layers.0.units")
    assert default_field(m.comparison) == "model.layers.0.units"
    assert [(p.value, p.arm, p.ci.n) for p in points] == [(32, "none", 5), (32, "dae", 5), (128, "none", 4),
                                                          (128, "dae", 4)]
    assert {p.series for p in points} == {""}


def test_parallel_lines():
    m = model()
    comparison = m.compare(list(CONFIGS))
    axes, lines = parallel_lines(comparison, "dae")
    assert [a.key for a in axes] == [k for k in comparison.fields if is_setting(k)]
    errors = {ln.run_dir: ln.error for ln in lines}
    for run_dir, err in errors.items():
        finals = final_test_errors(comparison.find(run_dir).data)["dae"]
        assert err == pytest.approx(np.mean(list(finals.values())), rel=1e-12)
    lo, hi = min(errors.values()), max(errors.values())
    for ln in lines:
        assert ln.fractions[-1] == pytest.approx((ln.error - lo) / (hi - lo))
        lr = axes[0].fraction(CONFIGS[ln.run_dir].finetune.lr)
        assert ln.fractions[0] == lr
