"""1D interpolation: the endpoints are the two checkpoints' plain evaluations; the curve is the segment."""

from __future__ import annotations

import numpy as np
import pytest

from desktop_app.core.analysis import AnalysisProgress, run_to_end
from desktop_app.core.analysis import interpolation as it
from desktop_app.core.analysis import landscape as ls
from desktop_app.core.data import load_data
from tests.core.test_analysis_landscape import make_tiny_run, plain_eval


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    return make_tiny_run(tmp_path_factory.mktemp("interp") / "run")


@pytest.mark.parametrize(("mode", "arm", "start", "end"), [
    ("init_to_solution", "dae", ("dae", 0), ("dae", 4)),
    ("pretrained_to_random", "dae", ("dae", 4), ("none", 4)),
])
def test_endpoints_equal_plain_evaluation(tiny_run, mode, arm, start, end):
    items = list(it.compute_interpolation(tiny_run, arm, 1, mode=mode, n_eval=120))
    assert isinstance(items[0], AnalysisProgress) and items[-2].done == items[-2].total == 82
    res = items[-1]
    assert res.start == f"{start[0]}/s1/e{start[1]:04d}" and res.end == f"{end[0]}/s1/e{end[1]:04d}"
    assert len(res.alphas) == 41 and res.alphas[0] == -0.5 and res.alphas[-1] == 1.5
    i0, i1 = int(np.flatnonzero(res.alphas == 0.0)[0]), int(np.flatnonzero(res.alphas == 1.0)[0])
    cfg = ls.run_config(tiny_run)
    data = load_data(cfg.data)
    for idx, (a, e) in ((i0, start), (i1, end)):
        params = ls.load_params(tiny_run, a, 1, e)
        tr = plain_eval(cfg, data, params, data.train_x[:120], data.train_y[:120])
        te = plain_eval(cfg, data, params, data.test_x, data.test_y)
        assert res.train_loss[idx] == pytest.approx(tr[0], rel=1e-4)
        assert res.train_error[idx] == pytest.approx(tr[1], abs=1e-9)
        assert res.test_loss[idx] == pytest.approx(te[0], rel=1e-4)
        assert res.test_error[idx] == pytest.approx(te[1], abs=1e-9)
    assert res.n_train_eval == 120 and res.n_test == 200
    # an interior point is the convex combination of the two weight sets
    theta0, theta1 = ls.load_params(tiny_run, start[0], 1, start[1]), ls.load_params(tiny_run, end[0], 1, end[1])
    a = float(res.alphas[5])
    mid = {k: (1 - a) * theta0[k] + a * theta1[k] for k in theta0}
    assert res.test_loss[5] == pytest.approx(plain_eval(cfg, data, mid, data.test_x, data.test_y)[0], rel=1e-4)


def test_bad_mode_and_same_arm_are_refused(tiny_run):
    with pytest.raises(ValueError, match="mode"):
        run_to_end(it.compute_interpolation(tiny_run, "dae", 0, mode="sideways"))
    with pytest.raises(ValueError, match="pre-training arm"):
        run_to_end(it.compute_interpolation(tiny_run, "none", 0, mode="pretrained_to_random"))
