"""The quick-demo preset end to end: it learns (< 12 % test error on real digits) and its folder replays."""

import numpy as np
import pytest

from desktop_app.core.engine.run import run_experiment
from desktop_app.core.events import EpochMetrics, FilterSnapshot, PretrainEpoch, ProbeOutputs, RunFinished
from desktop_app.core.presets import load_preset
from desktop_app.core.runfolder import workspace as runs


@pytest.fixture(scope="module")
def quick_demo(tmp_path_factory):
    cfg = load_preset("quick-demo").with_overrides({"device": "cpu"})
    run_dir = tmp_path_factory.mktemp("qd") / "run"
    events = list(run_experiment(cfg, None, run_dir))
    return cfg, run_dir, events


def test_quick_demo_learns_real_digits(quick_demo):
    cfg, run_dir, events = quick_demo
    assert events[-1].status == "completed"
    finals = runs.final_test_errors(runs.read_metrics(run_dir))
    assert set(finals) == set(cfg.arms)
    for arm, per_seed in finals.items():
        assert len(per_seed) == cfg.seeds.count
        assert np.mean(list(per_seed.values())) < 0.12, (arm, per_seed)
    # training makes progress from chance level
    first = [e for e in events if isinstance(e, EpochMetrics) and e.arm == "none" and e.epoch == 0]
    assert all(e.test_error > 0.5 for e in first)


def test_replay_gives_the_same_events(quick_demo):
    _, run_dir, events = quick_demo
    replayed = list(runs.replay(run_dir))

    def pick(evts, kind):  # per unit, in order (the engine runs a seed's longest unit first, replay goes by arm)
        return sorted((e for e in evts if isinstance(e, kind)), key=lambda e: (e.seed, e.arm))

    assert pick(replayed, EpochMetrics) == pick(events, EpochMetrics)
    assert pick(replayed, PretrainEpoch) == pick(events, PretrainEpoch)
    live_f, rep_f = pick(events, FilterSnapshot), pick(replayed, FilterSnapshot)
    assert [(f.arm, f.seed, f.phase, f.epoch) for f in live_f] == [(f.arm, f.seed, f.phase, f.epoch) for f in rep_f]
    for a, b in zip(live_f, rep_f, strict=True):
        np.testing.assert_array_equal(a.weights, b.weights)
    assert len(pick(replayed, ProbeOutputs)) == len(pick(events, ProbeOutputs))
    assert isinstance(replayed[-1], RunFinished) and replayed[-1].status == "completed"


def test_run_listing(quick_demo):
    cfg, run_dir, _ = quick_demo
    (info,) = runs.list_runs(run_dir.parent)
    assert info.status == "completed" and info.arms == cfg.arms and info.seeds == cfg.seeds.count
    assert all(0 < err < 0.12 for err in info.final_test_error.values())
