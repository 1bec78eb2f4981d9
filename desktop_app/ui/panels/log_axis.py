"""A log axis whose tick labels never print over each other (Trajectories, Curves and Output variance with log y).

pyqtgraph's log axis labels every minor tick ("9·10¹, 8·10¹" or "0.9, 0.8" on top of each other on screen and in
exports); this one thins the ticks to what the axis length holds (decades only when crowded), and over less than a
decade uses round linear steps.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg


class LogAxis(pg.AxisItem):
    """A log-scale axis over log10 data, labelled in its own units at any zoom: decades with 2-9 minors over a
    wide range (as many as the axis length keeps apart), round linear steps (0.25, 0.3, 0.35 ...) when the
    view spans less than a decade (late epochs, zoomed in),
    where pyqtgraph's own log ticks leave one unlabelled tick and an SI prefix."""

    def __init__(self, orientation: str, log: bool = True) -> None:
        """``log``: start in log mode (Trajectories); a plot whose log y is a toggle starts linear (a log axis over
        a linear view labels 10^90 and widens the plot past its panel)."""
        super().__init__(orientation)
        self.enableAutoSIPrefix(False)
        self.setLogMode(log)

    def logTickValues(self, minVal: float, maxVal: float, size: float, stdTicks: list) -> list:  # noqa: N802, N803
        if maxVal - minVal >= 1.0:
            return [(None, decade_ticks(minVal, maxVal, size, self.min_label_gap()))]
        lo, hi = 10.0 ** minVal, 10.0 ** maxVal
        wanted = max(2.0, size / 80.0)
        raw = (hi - lo) / wanted
        mag = 10.0 ** math.floor(math.log10(raw))
        step = next(m * mag for m in (1.0, 2.0, 2.5, 5.0, 10.0) if m * mag >= raw)
        values = np.arange(math.ceil(lo / step) * step, hi + step * 1e-9, step)
        return [(None, [float(v) for v in np.log10(values[values > 0])])]

    def min_label_gap(self) -> float:
        """Pixels a tick label needs along this axis (labels closer than this would print over each other)."""
        return 22.0 if self.orientation in ("left", "right") else 42.0

    def tickStrings(self, values: list[float], scale: float, spacing: float) -> list[str]:  # noqa: N802
        if not self.logMode:
            return super().tickStrings(values, scale, spacing)
        nats = 10.0 ** np.asarray(values, dtype=float)
        for digits in range(1, 7):  # the fewest significant digits that keep neighbouring labels apart
            labels = [_significant(v, digits) for v in nats]
            if len(set(labels)) == len(labels):
                return labels
        return [_significant(v, 6) for v in nats]


MANTISSAS = ((1, 2, 3, 4, 5, 6, 7, 8, 9), (1, 2, 3, 5, 7), (1, 2, 5), (1, 3), (1,))


def decade_ticks(lo: float, hi: float, size: float, gap: float) -> list[float]:
    """log10 tick positions over [lo, hi] (log10 units, spanning a decade or more) on an axis ``size`` pixels
    long: the densest mantissa set (1-9, then 1 2 3 5 7, 1 2 5, 1 3, decades only) whose closest two ticks are
    still ``gap`` pixels apart, so a short axis gets fewer ticks instead of overlapping labels."""
    per_decade = size / max(hi - lo, 1e-9)
    for mantissas in MANTISSAS:
        closest = min(np.diff(np.log10([*mantissas, 10])))
        if closest * per_decade >= gap:
            break
    step = max(1, math.ceil(gap / per_decade)) if mantissas == (1,) else 1  # decades further apart than 1
    ticks = [d + math.log10(m) for d in range(math.floor(lo), math.ceil(hi) + 1) if d % step == 0
             for m in mantissas]
    return [t for t in ticks if lo <= t <= hi]


def _significant(value: float, digits: int) -> str:
    """``value`` to ``digits`` significant digits, never in exponent form (10, not 1e+01)."""
    return np.format_float_positional(value, precision=digits, unique=False, fractional=False, trim="-")


