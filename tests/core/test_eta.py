"""ETA from per-phase step rates (core/eta.py): a run whose first phase is slow per step is not extrapolated
from it (issue 15: 8:39 predicted at 3 % of a run that took 206 s)."""

from __future__ import annotations

import pytest

from desktop_app.core.eta import PhaseEta
from desktop_app.core.events import Progress, RunStarted

# A run: 1000 fine-tuning steps of "none" at 50 steps/s, then 4000 RBM pre-training steps at 400 steps/s,
# then 1000 fine-tuning steps of "rbm" at 50 steps/s: 20 + 10 + 20 = 50 s in all.
PLAN = (("finetune", 2000), ("pretrain:rbm", 4000))
SEGMENTS = (("finetune", "none", 1000, 50.0), ("pretrain", "rbm", 4000, 400.0), ("finetune", "rbm", 1000, 50.0))


def stream(every: int = 50):
    done, t = 0, 0.0
    for phase, arm, steps, rate in SEGMENTS:
        for _ in range(steps // every):
            done += every
            t += every / rate
            yield Progress(arm, 0, phase, 0, 1, 1, done, 6000, t)


def test_eta_uses_each_phase_rate():
    eta = PhaseEta()
    eta.start(RunStarted("r", "n", ("none", "rbm"), (0,), "cpu", 6000, phase_steps=PLAN))
    truth = 50.0
    checked = 0
    for ev in stream():
        eta.update(ev)
        left = eta.seconds_left()
        if ev.phase == "pretrain" and ev.done_steps >= 2100:  # 2.75 s of pre-training measured
            # once both kinds have 2 s measured the estimate is close to the truth
            assert left == pytest.approx(truth - ev.elapsed_s, rel=0.05)
            checked += 1
    assert checked > 10
    assert eta.seconds_left() == 0.0


def test_without_a_plan_falls_back_to_the_average_rate():
    eta = PhaseEta()
    eta.start(RunStarted("r", "n", ("none",), (0,), "cpu", 6000))
    evs = list(stream())
    for ev in evs[:10]:
        eta.update(ev)
    assert eta.seconds_left() == pytest.approx((6000 - 500) / 50.0, rel=0.02)


def test_unmeasured_kind_borrows_a_measured_rate_and_nothing_before_two_seconds():
    eta = PhaseEta()
    eta.start(RunStarted("r", "n", ("none", "rbm"), (0,), "cpu", 6000, phase_steps=PLAN))
    evs = list(stream())
    eta.update(evs[0])
    assert eta.seconds_left() is None  # no rate measured yet: say nothing rather than guess
    for ev in evs[1:5]:
        eta.update(ev)
    # only fine-tuning measured (50/s): pre-training borrows it until it is measured itself
    assert eta.seconds_left() == pytest.approx((6000 - 250) / 50.0, rel=0.02)


def parallel_stream(every_s: float = 0.1):  # units send Progress every 0.1 s (core.training.unit)
    """Two workers: dae (2000 pre-training steps at 100/s, then 500 fine-tuning at 50/s: 30 s) beside none
    (1500 fine-tuning steps at 50/s: 30 s), then the same pair for seed 1; 60 s of wall time in all. Events of
    the two units interleave; each carries the run's totals and the unit's own count and clock."""
    def unit(arm, seed, segments, t0):
        done, t = 0, 0.0
        for phase, steps, rate in segments:
            n = 0
            while n < steps:
                k = min(int(rate * every_s), steps - n)
                n, done, t = n + k, done + k, t + k / rate
                yield (t0 + t, arm, seed, phase, done, t)
    dae = (("pretrain", 2000, 100.0), ("finetune", 500, 50.0))
    none = (("finetune", 1500, 50.0),)
    ticks = sorted([*unit("dae", 0, dae, 0.0), *unit("none", 0, none, 0.0),
                    *unit("dae", 1, dae, 30.0), *unit("none", 1, none, 30.0)])
    per_unit: dict = {}
    for wall, arm, seed, phase, done, t in ticks:
        per_unit[(arm, seed)] = done
        yield Progress(arm, seed, phase, 0, 1, 1, sum(per_unit.values()), 8000, wall, done, t)


def test_parallel_units_credit_their_own_phase_and_the_eta_divides_by_the_workers():
    eta = PhaseEta()
    eta.start(RunStarted("r", "n", ("none", "dae"), (0, 1), "cpu", 8000,
                         phase_steps=(("finetune", 4000), ("pretrain:dae", 4000))))
    checked = 0
    for ev in parallel_stream():
        eta.update(ev)
        left = eta.seconds_left()
        if 5.0 <= ev.elapsed_s <= 55.0:
            assert left == pytest.approx(60.0 - ev.elapsed_s, abs=3.0), ev
            checked += 1
    assert checked > 100
    assert eta.rate("pretrain:dae") == pytest.approx(100.0, rel=0.01)
    assert eta.rate("finetune") == pytest.approx(50.0, rel=0.01)
    assert eta.concurrency() == pytest.approx(2.0, rel=0.05)
