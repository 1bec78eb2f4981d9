"""A reduced version of every claim of `basin reproduce` (slow: run with `pytest -m slow`)."""

import math

import pytest

from desktop_app.core import reproduce

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("name", list(reproduce.CLAIMS))
def test_reduced_claim_runs_and_reports(name, tmp_path):
    result = reproduce.run_claim(name, tmp_path, reduced=True, device="cpu")
    assert result.verdict in ("reproduced", "not reproduced", "mixed")
    assert result.seeds >= 1 and result.wall_time_s > 0
    assert result.markdown.count("|") > 4  # holds a table of numbers
    flat = [v for v in _floats(result.numbers)]
    assert flat and all(math.isfinite(v) for v in flat if v is not None)
    report = reproduce.render_report([result], reduced=True)
    assert result.title in report and result.verdict in report


def _floats(obj):
    if isinstance(obj, dict):
        for v in obj.values():
            yield from _floats(v)
    elif isinstance(obj, list | tuple):
        for v in obj:
            yield from _floats(v)
    elif isinstance(obj, float):
        yield obj
