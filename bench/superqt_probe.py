"""Why Basin's workers do not run on superqt's GeneratorWorker: four behaviours, measured (docs/PERFORMANCE.md).

    QT_QPA_PLATFORM=offscreen .venv/bin/python bench/superqt_probe.py

(a) a third job's start delay while two long jobs run (superqt uses Qt's global thread pool);
(b) the signals a job that raises RuntimeError (torch's usual error type) emits;
(c) whether the process-global warnings state is restored after two overlapping workers;
(d) how many GUI-thread deliveries 20,000 yielded items cost (no coalescing).
Prints one line each; writes nothing.
"""

from __future__ import annotations

import time
import warnings

from PySide6.QtCore import QThreadPool
from PySide6.QtWidgets import QApplication
from superqt.utils import FunctionWorker, GeneratorWorker


def spin(seconds: float):
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        time.sleep(0.01)
        yield


def raises_runtime_error():
    yield 1
    raise RuntimeError("size mismatch for layer 0")


def fast(n: int):
    yield from range(n)


class Counter:
    """GUI-thread receiver (bound methods only)."""

    def __init__(self) -> None:
        self.counts = {"finished": 0, "errored": 0, "yielded": 0}

    def finished(self) -> None:
        self.counts["finished"] += 1

    def errored(self, _exc: object) -> None:
        self.counts["errored"] += 1

    def yielded(self, _item: object) -> None:
        self.counts["yielded"] += 1


def main() -> None:
    app = QApplication.instance() or QApplication([])
    pool = QThreadPool.globalInstance()

    started: dict[str, float] = {}
    long_jobs = [GeneratorWorker(spin, 2.0) for _ in range(2)]
    for w in long_jobs:
        w.start()
    t0 = time.perf_counter()
    FunctionWorker(lambda: started.setdefault("t", time.perf_counter())).start()
    while "t" not in started:
        app.processEvents()
        time.sleep(0.005)
    pool.waitForDone()
    print(f"(a) global pool: {pool.maxThreadCount()} threads; a third job started {started['t'] - t0:.2f} s late")

    c = Counter()
    w = GeneratorWorker(raises_runtime_error)
    w.finished.connect(c.finished)
    w.errored.connect(c.errored)
    with warnings.catch_warnings(record=True):
        w.start()
        pool.waitForDone()
    for _ in range(5):
        app.processEvents()
    print(f"(b) a job raising RuntimeError emitted finished x{c.counts['finished']}, errored x{c.counts['errored']}")

    original = warnings.showwarning
    a, b = GeneratorWorker(spin, 0.3), GeneratorWorker(spin, 0.6)
    a.start()
    time.sleep(0.1)
    b.start()
    pool.waitForDone()
    app.processEvents()
    restored = warnings.showwarning is original
    warnings.showwarning = original
    print(f"(c) warnings.showwarning restored after two overlapping workers: {restored}")

    c = Counter()
    w = GeneratorWorker(fast, 20_000)
    w.yielded.connect(c.yielded)
    t0 = time.perf_counter()
    w.start()
    pool.waitForDone()
    elapsed = time.perf_counter() - t0
    app.processEvents()
    print(f"(d) 20,000 items yielded in {elapsed:.2f} s -> {c.counts['yielded']} GUI-thread deliveries "
          f"(a Task delivers at most {max(1, round(elapsed * 30))} batches in that time)")


if __name__ == "__main__":
    main()
