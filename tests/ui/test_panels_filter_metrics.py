"""Filters panel numbers on a tiny real conv run (random init vs conv-AE): the structure of the shown filters and
the per-unit weight change over fine-tuning equal a recomputation from the snapshots saved in the run folder."""

import numpy as np
import pytest

from desktop_app.core.events import FilterSnapshot
from desktop_app.core.runfolder.replay import replay
from desktop_app.ui.panels.filters import CHANGE_BINS, FiltersPanel
from desktop_app.ui.run_store import RunStore
from tests.analysis_runs import make_run

CONV = {"layers": [{"kind": "conv", "units": 6, "kernel": 5}, {"kind": "pool", "units": 6, "kernel": 2, "stride": 2},
                   {"kind": "dense", "units": 16}]}


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return make_run(tmp_path_factory.mktemp("filters-metrics") / "run", model=CONV, arms=["none", "cae"],
                    pretraining={"cae": {"epochs": 2, "pool": 2, "corruption": 0.5}},
                    finetune={"epochs": 2, "batch_size": 20})


def saved(run_dir):
    """{(arm, seed): {(phase, epoch): weights}} read back from the run folder."""
    out: dict = {}
    for ev in replay(run_dir):
        if isinstance(ev, FilterSnapshot):
            out.setdefault((ev.arm, ev.seed), {})[(ev.phase, ev.epoch)] = ev.weights
    return out


def share(w):
    """Mean over filters of the low-frequency (|f| <= 1/4 cycles/pixel) energy share, written out again here."""
    x = w.astype(np.float64) - w.astype(np.float64).mean(axis=(-2, -1), keepdims=True)
    p = np.abs(np.fft.fft2(x)) ** 2
    f = np.fft.fftfreq(w.shape[-1])
    low = (f[:, None] ** 2 + f[None, :] ** 2) <= 0.25 ** 2 + 1e-12
    return float(np.mean(p[..., low].sum(axis=(-1, -2)) / p.sum(axis=(-1, -2, -3))))


@pytest.fixture
def panel(qtbot, run_dir):
    store = RunStore()
    store.load_run(run_dir)
    p = FiltersPanel(store)
    qtbot.addWidget(p)
    p.refresh()
    return p


@pytest.mark.parametrize("seed", [0, 1])
def test_structure_and_change_equal_a_recomputation_from_the_run_folder(panel, run_dir, seed):
    snaps = saved(run_dir)
    panel.select(left="cae", right="none", seed=seed)
    panel.refresh()
    cae, none = snaps[("cae", seed)], snaps[("none", seed)]
    last = ("finetune", 2)
    assert panel.current_key() == last
    for side, weights, start in (("left", cae, ("pretrain", 2)), ("right", none, ("init", 0))):
        state = panel.sides[side]
        assert state.key == last
        assert state.structure == pytest.approx(share(weights[last]), rel=1e-9)
        assert f"{share(weights[last]):.3f}" in panel.titles[side].text
        assert state.span == (start, last)
        a, b = weights[start].reshape(6, -1), weights[last].reshape(6, -1)
        expect = np.sqrt(((b - a) ** 2).sum(1)) / np.sqrt((a ** 2).sum(1))
        np.testing.assert_allclose(state.change, expect, rtol=1e-6)
        assert f"median <b>{np.median(expect):.3f}</b>" in panel.hist_titles[side].text
    # both histograms count their arm's units on one set of bins
    both = np.concatenate([panel.sides[s].change for s in ("left", "right")])
    for side in ("left", "right"):
        edges, counts = panel.hist_curves[side].getData()
        assert len(edges) == CHANGE_BINS + 1 and edges[-1] >= both.max()
        np.testing.assert_array_equal(counts, np.histogram(panel.sides[side].change, bins=edges)[0])
        assert counts.sum() == 6


def test_structure_follows_the_slider_and_reaches_the_csv(panel, run_dir, tmp_path):
    snaps = saved(run_dir)
    panel.select(left="cae", right="none", seed=0)
    panel.slider.setValue(panel.timeline.index(("init", 0)))
    assert panel.sides["left"].structure == pytest.approx(share(snaps[("cae", 0)][("init", 0)]), rel=1e-9)
    assert panel.sides["left"].noise == pytest.approx(4 / 24)  # 5x5: 4 non-DC bins of 24 within 1/4 cycle/px
    columns, rows = panel.data_table()
    i_share, i_change = columns.index("low_freq_share"), columns.index("finetune_change")
    left = [r for r in rows if r[0] == "left"]
    assert np.mean([r[i_share] for r in left]) == pytest.approx(share(snaps[("cae", 0)][("init", 0)]), rel=1e-9)
    np.testing.assert_allclose([r[i_change] for r in left], panel.sides["left"].change)
