"""Naming and grouping compared runs in the Qt-free lab model (core/lab/grouping.py): the user's label keys, a
"group by" field whose groups pool their runs' seeds per arm (checked against the runs' own values), live members
streaming into their group, and choices that do not apply to a comparison falling back to the default."""

from __future__ import annotations

import numpy as np

from desktop_app.core.config import ExperimentConfig, replace
from desktop_app.core.lab.grouping import (
    SEED_BLOCK,
    ComparisonView,
    PooledRunData,
    arrange,
    choosable_fields,
    seed_origin,
    value_order,
)
from tests.core.test_lab_comparison import model_with
from tests.core.test_lab_model import run


def config(lr: float, width: int, threads: int = 1) -> ExperimentConfig:
    base = ExperimentConfig(name="g")
    layers = tuple(replace(layer, units=width) for layer in base.model.layers)
    return replace(base, finetune=replace(base.finetune, lr=lr), model=replace(base.model, layers=layers),
                   threads=threads)


# a 2 x 2 sweep (lr x width) plus thread counts that cannot matter
CONFIGS = {"/w/a": config(0.1, 32, 1), "/w/b": config(0.05, 32, 2), "/w/c": config(0.1, 128, 1),
           "/w/d": config(0.05, 128, 4)}
SEEDS = {"/w/a": (0, 1), "/w/b": (0, 1, 2), "/w/c": (0, 1), "/w/d": (0, 1)}


def model() -> object:
    return model_with({d: run(d, seeds=SEEDS[d]) for d in CONFIGS}, CONFIGS)


def test_default_labels_name_what_differs_and_matters_and_the_user_can_choose_keys():
    m = model()
    comparison = m.compare(list(CONFIGS))
    units = [f"model.layers.{i}.units" for i in range(len(ExperimentConfig().model.layers))]
    assert set(comparison.fields) == {"finetune.lr", *units} and "threads" in comparison.other_fields
    assert comparison.labels() == ("lr=0.1, units=32", "lr=0.05, units=32", "lr=0.1, units=128",
                                   "lr=0.05, units=128")
    assert choosable_fields(comparison)[-1] == "threads"
    # only lr: equal labels keep apart by their folder names
    m.set_comparison_view(ComparisonView(label_keys=("finetune.lr",)))
    assert m.comparison.labels() == ("lr=0.1 (a)", "lr=0.05 (b)", "lr=0.1 (c)", "lr=0.05 (d)")
    # a field that cannot matter is named when asked
    m.set_comparison_view(ComparisonView(label_keys=("threads", "finetune.lr")))
    assert m.comparison.labels() == ("threads=1, lr=0.1 (a)", "threads=2, lr=0.05", "threads=1, lr=0.1 (c)",
                                     "threads=4, lr=0.05")
    assert m.comparison.label_keys == ("threads", "finetune.lr")
    # no keys: the folder names; keys that do not differ here: the default
    m.set_comparison_view(ComparisonView(label_keys=()))
    assert m.comparison.labels() == ("a", "b", "c", "d")
    m.set_comparison_view(ComparisonView(label_keys=("pretraining.dae.noise",)))
    assert m.comparison.labels()[0] == "lr=0.1, units=32"
    # the view is kept for the next comparison
    m.compare(["/w/a", "/w/c"])
    assert m.comparison.labels() == ("units=32", "units=128")


def test_group_by_pools_each_groups_seeds_per_arm():
    m = model()
    m.set_comparison_view(ComparisonView(group_by="finetune.lr"))
    comparison = m.compare(list(CONFIGS))
    assert comparison.group_by == "finetune.lr"
    # ascending values; each group named by its value, how many runs and seeds it pools
    assert comparison.labels() == ("lr=0.05 (2 runs, n = 5)", "lr=0.1 (2 runs, n = 4)")
    assert comparison.run_dirs == tuple(CONFIGS)  # every run still compared (exports document each)
    group = comparison.runs[0]
    assert [r.run_dir for r in group.members] == ["/w/b", "/w/d"]  # units=32, then units=128
    assert isinstance(group.data, PooledRunData)
    # the pooled data of an arm: every member's seeds, each unit the member's own values
    for arm in ("none", "dae"):
        epochs, values, seeds = group.data.metric_matrix(arm, "test_error")
        assert len(seeds) == 5 and epochs.tolist() == [0, 1, 2]
        for row, seed in zip(values, seeds, strict=True):
            place, own = seed_origin(seed)
            member = group.members[place]
            np.testing.assert_array_equal(row, member.data.unit(arm, own).column("test_error"))
    # members ordered by their other keys, so the k-th runs of two groups pair seed by seed
    assert [r.label for r in comparison.runs[1].members] == [r.label for r in group.members]
    assert group.data.seeds == tuple(s + i * SEED_BLOCK for i, r in enumerate(group.members) for s in SEEDS[
        r.run_dir])
    # grouping by a field that does not differ here leaves the runs as they are
    m.compare(["/w/a", "/w/c"])
    assert m.comparison.group_by == "" and m.comparison.labels() == ("units=32", "units=128")


def test_a_group_with_a_live_member_keeps_receiving_its_units():
    live = run("/w/c", seeds=(0, 1, 2), status="")
    head = [ev for ev in live if getattr(ev, "seed", 0) < 2]
    tail = [ev for ev in live if getattr(ev, "seed", 0) == 2]
    m = model_with({"/w/a": run("/w/a"), "/w/b": run("/w/b"), "/w/c": live}, CONFIGS)
    m.ingest_live(head)
    m.set_comparison_view(ComparisonView(group_by="finetune.lr"))
    comparison = m.compare(["/w/a", "/w/b", "/w/c"])
    assert comparison.labels() == ("lr=0.05", "lr=0.1 (2 runs, n = 5)")
    pooled = comparison.runs[1].data
    assert pooled.status == "running"
    assert len(pooled.metric_matrix("dae", "test_nll")[2]) == 4
    m.ingest_live(tail)
    assert len(pooled.metric_matrix("dae", "test_nll")[2]) == 5


def test_arrange_without_configs_and_value_order():
    m = model()
    comparison = m.compare(["/w/a", "/w/b"])
    unreadable = [replace(r, config={}) for r in comparison.members()]
    assert arrange(unreadable).labels() == ("a", "b")
    assert arrange(unreadable, ComparisonView(group_by="finetune.lr")).group_by == ""
    assert value_order([128, 32, 32.0, 512]) == [32, 128, 512]
    assert value_order(["sgd", "momentum", "sgd"]) == ["sgd", "momentum"]


def test_a_pooled_seed_reads_as_its_run_and_seed():
    from desktop_app.core.lab.grouping import pooled_seed, seed_text

    assert seed_text(pooled_seed(0, 3)) == "3" and seed_text(pooled_seed(1, 3)) == "3 (run 2 of the group)"


def test_default_labels_start_with_the_field_that_tells_the_runs_apart():
    """Issue 27, seen in the window: a width sweep compared with one run that also differs in lr and threads-free
    fields named every run "lr=0.1, units=…" cut off before the width; the field with the most values comes first
    (then the others in their order), so the elided legend entries still differ."""
    configs = {"/w/a": config(0.1, 32), "/w/b": config(0.1, 64), "/w/c": config(0.1, 128), "/w/d": config(0.05, 256)}
    m = model_with({d: run(d) for d in configs}, configs)
    labels = m.compare(list(configs)).labels()
    assert labels == ("units=32, lr=0.1", "units=64, lr=0.1", "units=128, lr=0.1", "units=256, lr=0.05")
    # keys the user chose keep the user's order
    m.set_comparison_view(ComparisonView(label_keys=("finetune.lr", "model.layers.0.units")))
    assert m.comparison.labels()[0].startswith("lr=0.1, ")
