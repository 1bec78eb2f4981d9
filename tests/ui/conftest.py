"""Fixtures of the window tests: the real main window with the real run controller (``real_window``), and for the
analysis panel tests (test_analysis_panels.py, test_analysis_csv.py) a tiny real run per test module, a second one
with more masking noise, the real AnalysisRunner and a store showing the run."""

import pytest

from desktop_app.ui.run_store import RunStore
from desktop_app.workers.analysis_worker import AnalysisRunner
from tests.analysis_runs import make_run


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return make_run(tmp_path_factory.mktemp("analysis-panels") / "run")


@pytest.fixture(scope="module")
def other_run(tmp_path_factory):
    """A second run with more masking noise: the pitfall's "Add runs…" gets points with a spread."""
    return make_run(tmp_path_factory.mktemp("analysis-panels") / "noisy",
                    pretraining={"dae": {"epochs": 1, "corruption": 0.6}})


@pytest.fixture
def runner(qtbot):
    r = AnalysisRunner(threads=1)
    yield r
    assert r.shutdown(5000)


@pytest.fixture
def store(run_dir):
    s = RunStore()
    s.load_run(run_dir)
    return s


@pytest.fixture
def real_window(qtbot, tmp_path):
    """The real window and run controller (one torch thread) on an empty workspace, shown: (window, controller)."""
    from desktop_app.ui.main_window import MainWindow
    from desktop_app.workers.run_controller import RunController

    ctrl = RunController(threads=1)
    window = MainWindow(ctrl)
    ctrl.setParent(window)
    qtbot.addWidget(window)
    window.set_workspace(tmp_path / "ws")
    window.show()
    return window, ctrl
