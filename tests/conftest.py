"""Suite-wide settings: offscreen Qt, one torch thread (CI has 2 shared cores)."""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# Runs in the suite go one unit at a time in the test's process unless a test asks for workers (a 2-core CI box
# shared with other jobs); tests/core/test_execution.py runs the real worker processes and Dask cluster.
os.environ.setdefault("BASIN_WORKERS", "1")
# One BLAS / OpenMP thread as well (numpy, scipy, sklearn's linear probes; the suite's subprocesses inherit it), set
# before those libraries load: on a loaded 2-core box their second thread spins against everything else (the
# pitfall claim's probes ran 5x slower with two; issue 23).
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

try:
    import torch

    torch.set_num_threads(1)
except ImportError:  # pragma: no cover - torch is a hard dependency
    pass


# ---------------------------------------------------------------------------------------------------------
# Qt hygiene (tests/ui, tests/workers): a private QSettings location and workspace, and no thread or
# timer may outlive its test.
# ---------------------------------------------------------------------------------------------------------

import gc  # noqa: E402
import warnings  # noqa: E402

import pytest  # noqa: E402


def _live_qt_objects() -> tuple[list, list]:
    """QThreads still running and QTimers still active, among objects with a Python wrapper."""
    try:
        import shiboken6
        from PySide6.QtCore import QThread, QTimer
    except ImportError:  # pragma: no cover
        return [], []
    threads, timers = [], []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for obj in gc.get_objects():
            if isinstance(obj, QThread | QTimer) and shiboken6.isValid(obj):
                if isinstance(obj, QThread) and obj.isRunning() and obj is not QThread.currentThread():
                    threads.append(obj)
                elif isinstance(obj, QTimer) and obj.isActive():
                    timers.append(obj)
    return threads, timers


@pytest.fixture(autouse=True)
def _qt_isolation(request, tmp_path_factory, monkeypatch):
    """Qt tests get a temporary QSettings folder and workspace, and fail if a QThread keeps running or a
    QTimer stays active after the test (widgets registered with qtbot are closed before this check)."""
    uses_qt = "qtbot" in request.fixturenames or "qapp" in request.fixturenames
    if not uses_qt:
        yield
        return
    from PySide6.QtCore import QSettings

    settings_dir = tmp_path_factory.mktemp("qsettings")
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(settings_dir))
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.SystemScope, str(settings_dir))
    monkeypatch.setenv("BASIN_WORKSPACE", str(tmp_path_factory.mktemp("workspace")))
    yield
    from PySide6.QtCore import QCoreApplication, QEvent

    if QCoreApplication.instance() is not None:  # let queued `finished` signals and deferred deletes run
        QCoreApplication.processEvents()
        QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    threads, timers = _live_qt_objects()
    for t in threads:
        t.quit()
        t.wait(5000)
    for t in timers:
        t.stop()
    assert not threads, f"QThread(s) still running after the test: {threads}"
    assert not timers, f"QTimer(s) still active after the test: {timers}"
