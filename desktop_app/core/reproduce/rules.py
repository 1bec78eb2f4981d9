"""Decision rules of the reproduce claims, fixed before any run: what each claim's verdict is made of.

A claim's rule (declared in ``claims`` next to its statement) is a list of sub-statements. Each names a quantity
the claim's evaluation measures (one 95 % interval over paired seeds per place it is measured: per arm, per depth,
per label count ...) and the side of a bound that interval must lie on. Only intervals decide, never point means:

- ``below b``: holds when the whole interval is below b, is contradicted when the whole interval is above b (or
  above a separate ``against`` bound, where the claim leaves a zone between "shown" and "shown false");
- ``above b``: the mirror image;
- ``within m`` (a claim of no effect): holds when the interval lies inside (-m, m), is contradicted when it lies
  entirely outside it (beyond m or below -m);
- ``nonzero`` (a precondition, e.g. "the two configurations do differ in reconstruction error"): holds when the
  interval excludes 0; it cannot be contradicted, only not shown.

An interval touching its bound decides nothing (strict inequalities), and fewer than ``MIN_SEEDS`` values give no
interval at all: the sub-statement is then "not shown". The claim's verdict combines its sub-statements
(``VERDICTS`` says the words the report uses).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from desktop_app.core.stats import MIN_SEEDS, MeanCI  # the project's one rule: an interval from 3 values on

HOLDS, CONTRADICTED, NOT_SHOWN = "holds", "contradicted", "not shown"
REPRODUCED, MIXED, NOT_REPRODUCED, INCONCLUSIVE = "reproduced", "mixed", "not reproduced", "inconclusive"
VERDICTS = {
    REPRODUCED: "every sub-statement holds (its interval lies on the claimed side of its bound)",
    MIXED: "some sub-statements hold and others are contradicted by their intervals",
    NOT_REPRODUCED: "at least one sub-statement is contradicted and none holds",
    INCONCLUSIVE: "nothing is contradicted but not everything holds: an interval straddles its bound, or there "
                  "were too few seeds for one",
}
# not a verdict: what `basin reproduce --finished` reports for a claim whose experiments have not all run
INCOMPLETE = "incomplete"
INCOMPLETE_MEANING = ("some of the claim's experiments have not finished: the numbers of those that have are shown "
                      "and the claim is not judged")
SIDES = ("below", "above", "within", "nonzero")


def key(quantity: str, *where: object) -> str:
    """The evidence key of a quantity measured at one place: ``quantity[where, ...]`` (or the bare quantity)."""
    return f"{quantity}[{', '.join(str(w) for w in where)}]" if where else quantity


def finite(x: float) -> float | None:
    """A number for a claim's numbers (JSON): None where there is none (no seeds, no interval)."""
    return float(x) if math.isfinite(x) else None


def no_interval(n: int = 0, mean: float = math.nan) -> MeanCI:
    """An interval that was not computed (too few values): judged "not shown"."""
    return MeanCI(n, mean, math.nan, math.nan, math.nan)


@dataclass(frozen=True)
class Statement:
    """One sub-statement of a claim: every evidence entry ``quantity`` or ``quantity[...]`` is judged on its own."""

    quantity: str
    says: str  # the sub-statement in words, as the report prints it
    side: str  # one of SIDES
    bound: float = 0.0  # below / above: the threshold; within: the margin m of (-m, m); nonzero: unused
    against: float | None = None  # below / above: the bound to cross entirely to contradict (default: bound)
    scale: float = 1.0  # printing only: intervals and bound are shown times scale ...
    unit: str = ""  # ... in this unit
    digits: int = 2

    def __post_init__(self) -> None:
        if self.side not in SIDES:
            raise ValueError(f"statement {self.quantity!r}: side must be one of {SIDES}, got {self.side!r}")
        if self.side == "within" and not self.bound > 0:
            raise ValueError(f"statement {self.quantity!r}: a 'within' margin must be > 0, got {self.bound}")
        if self.against is not None and not (
                (self.side == "above" and self.against <= self.bound)
                or (self.side == "below" and self.against >= self.bound)):
            raise ValueError(f"statement {self.quantity!r}: 'against' must lie beyond the bound on the other side "
                             f"(side {self.side}, bound {self.bound}, against {self.against})")

    def matches(self, evidence_key: str) -> bool:
        return evidence_key == self.quantity or evidence_key.startswith(self.quantity + "[")

    def judge(self, ci: MeanCI) -> str:
        """HOLDS, CONTRADICTED or NOT_SHOWN for one interval."""
        if ci.n < MIN_SEEDS or not (math.isfinite(ci.lo) and math.isfinite(ci.hi)):
            return NOT_SHOWN
        lo, hi, b = ci.lo, ci.hi, self.bound
        c = b if self.against is None else self.against
        if self.side == "below":
            return HOLDS if hi < b else CONTRADICTED if lo > c else NOT_SHOWN
        if self.side == "above":
            return HOLDS if lo > b else CONTRADICTED if hi < c else NOT_SHOWN
        if self.side == "within":
            return HOLDS if -b < lo and hi < b else CONTRADICTED if lo > b or hi < -b else NOT_SHOWN
        return HOLDS if lo > 0 or hi < 0 else NOT_SHOWN  # nonzero

    def criterion(self) -> str:
        """The test in words, e.g. "95 % interval entirely below 0 points"."""
        unit = f" {self.unit}" if self.unit else ""
        b = f"{self.bound * self.scale:+g}" if self.bound else "0"
        if self.side == "within":
            return f"95 % interval inside ±{abs(self.bound * self.scale):g}{unit}"
        if self.side == "nonzero":
            return "95 % interval excludes 0"
        text = f"95 % interval entirely {self.side} {b}{unit}"
        if self.against is not None and self.against != self.bound:
            other = "above" if self.side == "below" else "below"
            text += f" (contradicted entirely {other} {self.against * self.scale:g}{unit})"
        return text


@dataclass(frozen=True)
class Judgement:
    statement: Statement
    where: str  # the evidence key judged ("" when the quantity was never measured)
    interval: MeanCI
    outcome: str


@dataclass(frozen=True)
class Decision:
    verdict: str
    judgements: tuple[Judgement, ...]

    def markdown(self) -> str:
        """The verdict's table: one row per judged interval."""
        lines = ["| sub-statement | where | seeds | 95 % interval | test | outcome |",
                 "| --- | --- | ---: | --- | --- | --- |"]
        for j in self.judgements:
            s = j.statement
            where = j.where[len(s.quantity) + 1:-1] if j.where.startswith(s.quantity + "[") else "-"
            lines.append(f"| {s.says} | {where} | {j.interval.n} | {_interval_text(j.interval, s)} | "
                         f"{s.criterion()} | {j.outcome} |")
        return "\n".join(lines)

    def numbers(self) -> dict:
        return {"verdict": self.verdict, "judgements": [
            {"quantity": j.statement.quantity, "where": j.where, "n": j.interval.n, "mean": finite(j.interval.mean),
             "ci": [finite(j.interval.lo), finite(j.interval.hi)], "side": j.statement.side,
             "bound": j.statement.bound, "outcome": j.outcome} for j in self.judgements]}


@dataclass(frozen=True)
class Rule:
    """A claim's decision rule: its sub-statements, what the intervals are, and what is reported but not judged."""

    statements: tuple[Statement, ...]
    intervals: str  # which intervals, over what (printed in the report's setup)
    reported: str = ""  # numbers the section shows without judging them, and why
    margins: str = ""  # why each margin or non-zero bound has the size it has

    def decide(self, evidence: Mapping[str, MeanCI]) -> Decision:
        judgements = []
        for s in self.statements:
            found = [(k, ci) for k, ci in evidence.items() if s.matches(k)]
            if not found:  # never measured: nothing shown
                judgements.append(Judgement(s, "", no_interval(), NOT_SHOWN))
            judgements += [Judgement(s, k, ci, s.judge(ci)) for k, ci in found]
        return Decision(combine([j.outcome for j in judgements]), tuple(judgements))

    def describe(self) -> str:
        """The rule in Markdown bullets, for the setup of the claim's report section."""
        lines = [f"- Intervals: {self.intervals}"]
        lines += [f"- Sub-statement: {s.says}; test: {s.criterion()}." for s in self.statements]
        if self.margins:
            lines.append(f"- Margins: {self.margins}")
        if self.reported:
            lines.append(f"- Reported, not judged: {self.reported}")
        lines.append(f"- Verdict: reproduced when every sub-statement holds at every place it is measured; "
                     f"mixed when some hold and some are contradicted; not reproduced when one is contradicted and "
                     f"none holds; inconclusive otherwise. An interval touching its bound, or fewer than {MIN_SEEDS} "
                     "seeds, shows nothing.")
        return "\n".join(lines)


def combine(outcomes: list[str]) -> str:
    """The claim's verdict from its sub-statements' outcomes (``VERDICTS``)."""
    if outcomes and all(o == HOLDS for o in outcomes):
        return REPRODUCED
    if CONTRADICTED in outcomes:
        return MIXED if HOLDS in outcomes else NOT_REPRODUCED
    return INCONCLUSIVE


@dataclass
class Evidence:
    """What a claim's evaluation measured: its Markdown account, its numbers and the intervals its rule judges."""

    markdown: str
    numbers: dict = field(default_factory=dict)
    intervals: dict[str, MeanCI] = field(default_factory=dict)


def _interval_text(ci: MeanCI, s: Statement) -> str:
    if ci.n == 0:
        return "not measured"
    mean = ci.mean * s.scale
    if ci.n < MIN_SEEDS or not (math.isfinite(ci.lo) and math.isfinite(ci.hi)):
        return f"{mean:.{s.digits}f} (n = {ci.n}: no interval)"
    lo, hi = sorted((ci.lo * s.scale, ci.hi * s.scale))
    return f"{mean:.{s.digits}f} [{lo:.{s.digits}f}, {hi:.{s.digits}f}]"
