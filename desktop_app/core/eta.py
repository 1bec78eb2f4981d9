"""Time left in a run, from measured step rates per phase (docs/ARCHITECTURE.md, "Events").

A run mixes phases whose minibatch steps cost very different times: an RBM's CD-k step, a denoising AE's step
and a fine-tuning step with its per-epoch evaluation. Extrapolating the whole run from its first minutes (all
random-init fine-tuning, say) was off by 2.5x. Here each phase kind ("pretrain:rbm", "finetune", ...) keeps its
own measured rate, the steps still to do in each kind come from the plan in RunStarted.phase_steps, and a kind
not measured yet borrows the rate of the most similar one measured (another pre-training method, else any).
Torch-free and Qt-free: the CLI's progress bar and the window's status bar share it.

Units running in parallel (core.execution) interleave their Progress events, so the run's step count between two
events mixes phases. When events carry the unit's own count and clock (``unit_done_steps``/``unit_elapsed_s``),
each unit's steps are credited to its own phase at its own pace (unit-seconds), and the time left is the
unit-seconds left divided by the measured concurrency (unit-seconds per wall second: ~2 on two busy workers).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from desktop_app.core.events import Progress, RunStarted

MIN_SECONDS = 2.0  # of measured time in a kind before its rate is trusted


def phase_kind(phase: str, arm: str) -> str:
    """The kind a Progress event's steps belong to: "finetune" or "pretrain:<arm>"."""
    return "finetune" if phase != "pretrain" else f"pretrain:{arm}"


@dataclass
class PhaseEta:
    """Feed it RunStarted and Progress events; ``seconds_left()`` is the estimate (None until measurable)."""

    plan: dict[str, int] = field(default_factory=dict)  # kind -> planned steps in the whole run
    total: int = 0
    done: dict[str, int] = field(default_factory=dict)  # kind -> steps counted since the start (or resume)
    spent: dict[str, float] = field(default_factory=dict)  # kind -> seconds those steps took
    _last: tuple[int, float] | None = None  # (done_steps, elapsed_s) of the previous Progress
    done_steps: int = 0
    _unit_last: dict[tuple[str, int], tuple[int, float]] = field(default_factory=dict)  # per unit: (steps, clock)
    _wall: tuple[float, float] | None = None  # run clock of the first and latest per-unit Progress
    _paused: bool = False  # between pause() and resume(): events only move the baselines
    _gap: bool = False  # resumed from a pause: the next per-unit event's clock jump is no wall time worked

    def start(self, ev: RunStarted) -> None:
        self.plan = dict(getattr(ev, "phase_steps", ()) or ())
        self.total = ev.total_steps
        # a new run counts from step 0 at 0 s; a resumed one from its first Progress (earlier steps are not timed)
        self.done, self.spent, self.done_steps = {}, {}, 0
        self._last = None if ev.resumed else (0, 0.0)
        self._unit_last, self._wall = {}, None
        self._paused = self._gap = False

    def pause(self) -> None:
        """The run is paused: events still on their way move the baselines but credit no time."""
        self._paused = True

    def resume(self) -> None:
        """The run goes on after a pause: the paused time is no step's time, so the next event of each unit (and of
        the run) is a new baseline, and the wall clock's jump to it is left out of the measured concurrency. Before,
        a unit's first steps after a long pause were credited with the whole pause: "ETA 13:46:53"."""
        self._paused = False
        self._last = None
        self._unit_last = {}
        self._gap = self._wall is not None

    def update(self, ev: Progress) -> None:
        kind = phase_kind(ev.phase, ev.arm)
        self.total = ev.total_steps or self.total
        if ev.unit_done_steps >= 0:
            self._update_unit(ev, kind)
        elif self._last is not None and not self._paused:
            steps, seconds = ev.done_steps - self._last[0], ev.elapsed_s - self._last[1]
            if steps > 0 and seconds >= 0:
                # the steps since the previous event belong to this event's phase (it is sent after them; at a
                # phase boundary a few may belong to the one before, events come every few steps)
                self.done[kind] = self.done.get(kind, 0) + steps
                self.spent[kind] = self.spent.get(kind, 0.0) + seconds
        self._last = (ev.done_steps, ev.elapsed_s)
        self.done_steps = ev.done_steps

    def _update_unit(self, ev: Progress, kind: str) -> None:
        """Credit the steps this unit did since its previous event to its phase (its first event is a baseline:
        a unit resumed from a checkpoint starts at a count of its own)."""
        key = (ev.arm, ev.seed)
        last = self._unit_last.get(key)
        if last is not None and not self._paused:
            steps, seconds = ev.unit_done_steps - last[0], ev.unit_elapsed_s - last[1]
            if steps > 0 and seconds >= 0:
                self.done[kind] = self.done.get(kind, 0) + steps
                self.spent[kind] = self.spent.get(kind, 0.0) + seconds
        self._unit_last[key] = (ev.unit_done_steps, ev.unit_elapsed_s)
        if self._wall is None:
            self._wall = (ev.elapsed_s, ev.elapsed_s)
        else:
            start = self._wall[0]
            if self._gap and not self._paused:  # the pause moves the start on by the time it lasted
                start, self._gap = start + max(0.0, ev.elapsed_s - self._wall[1]), False
            self._wall = (start, ev.elapsed_s)
        self._last = (ev.done_steps, ev.elapsed_s)

    def concurrency(self) -> float:
        """Unit-seconds measured per wall second (1 for a sequential run, up to the workers in parallel)."""
        if not self._unit_last or self._wall is None:
            return 1.0
        wall = self._wall[1] - self._wall[0]
        busy = sum(self.spent.values())
        return max(1.0, busy / wall) if wall >= MIN_SECONDS and busy > 0 else 1.0

    def rate(self, kind: str) -> float | None:
        """Measured steps per second of ``kind``, or of the most similar measured kind; None if none is."""
        def measured(k: str) -> float | None:
            s = self.spent.get(k, 0.0)
            return self.done.get(k, 0) / s if s >= MIN_SECONDS and self.done.get(k, 0) > 0 else None

        own = measured(kind)
        if own is not None:
            return own
        similar = [measured(k) for k in self.spent if k.split(":")[0] == kind.split(":")[0]]
        similar = [r for r in similar if r is not None]
        if similar:
            return sum(similar) / len(similar)
        steps, seconds = sum(self.done.values()), sum(self.spent.values())
        return steps / seconds if seconds >= MIN_SECONDS and steps > 0 else None

    def seconds_left(self) -> float | None:
        left_total = max(0, self.total - self.done_steps)
        if left_total == 0:
            return 0.0 if self.total else None
        plan = self.plan or {"run": self.total}
        left = {k: max(0, n - self.done.get(k, 0)) for k, n in plan.items()}
        planned_left = sum(left.values())
        if planned_left <= 0:
            return None
        scale = left_total / planned_left  # a resumed run: steps done before resuming are not counted per kind
        eta = 0.0
        for kind, n in left.items():
            if n == 0:
                continue
            rate = self.rate(kind) if self.plan else self.rate("run") or self._overall()
            if rate is None or rate <= 0:
                return None
            eta += n * scale / rate
        return eta / self.concurrency()

    def _overall(self) -> float | None:
        steps, seconds = sum(self.done.values()), sum(self.spent.values())
        return steps / seconds if seconds >= MIN_SECONDS and steps > 0 else None
