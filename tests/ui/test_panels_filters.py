"""Filters panel: mosaics of known weights, the time scrubber, live following, Play."""

import numpy as np
import pytest

from desktop_app.core import tiling
from desktop_app.core.events import FilterSnapshot
from desktop_app.ui.panels.filters import FiltersPanel
from desktop_app.ui.run_store import RunStore
from tests.pause import HANG_MS
from tests.ui import test_panels_data as syn


@pytest.fixture
def panel(qtbot):
    store = RunStore()
    store.ingest(syn.events())
    p = FiltersPanel(store)
    qtbot.addWidget(p)
    return p


def test_defaults_pretrained_left_random_right_newest_snapshot(panel):
    assert panel.arm_boxes["left"].currentText() == "dae"
    assert panel.arm_boxes["right"].currentText() == "none"
    assert panel.timeline == syn.filter_keys("dae")  # init, pre-training 1..3, fine-tuning 0..5
    assert panel.slider.value() == panel.slider.maximum() == len(panel.timeline) - 1
    assert panel.time_label.text().startswith(f"fine-tuning epoch {syn.EPOCHS - 1}")


def test_mosaic_holds_the_known_weights_with_explicit_levels(panel):
    panel.select(seed=2, normalisation="global")
    w = syn.filters("dae", 2, "finetune", syn.EPOCHS - 1)
    img = panel.images["left"]
    rows, cols = tiling.grid_shape(syn.N_FILTERS, 28, 28)
    assert img.image.shape == (rows * 29 - 1, cols * 29 - 1)
    assert img.image.dtype == np.float32 and img.image.flags.c_contiguous
    m = float(np.abs(w).max())
    assert tuple(img.levels) == pytest.approx((-m, m))
    r, c = tiling.tile_origin(5, syn.N_FILTERS, 28, 28)
    np.testing.assert_array_equal(img.image[r : r + 28, c : c + 28], w[5].reshape(28, 28))
    panel.select(normalisation="per-tile")
    assert tuple(panel.images["left"].levels) == (-1.0, 1.0)
    np.testing.assert_allclose(panel.sides["left"].tiles[5], w[5].reshape(28, 28) / np.abs(w[5]).max(), rtol=1e-6)


def test_scrubbing_shows_pretraining_left_and_init_right(panel):
    panel.slider.setValue(panel.timeline.index(("pretrain", 2)))
    assert panel.time_label.text().startswith("pre-training epoch 2")
    assert panel.sides["left"].key == ("pretrain", 2)
    assert panel.sides["right"].key == ("init", 0)  # the random arm does not pre-train: its init filters
    np.testing.assert_allclose(panel.sides["right"].tiles.reshape(syn.N_FILTERS, -1),
                               tiling.normalise(syn.filters("none", 0, "init", 0).reshape(-1, 28, 28))[0]
                               .reshape(syn.N_FILTERS, -1), rtol=1e-6)
    panel.slider.setValue(panel.timeline.index(("finetune", 3)))
    assert panel.time_label.text().startswith("fine-tuning epoch 3")
    assert panel.sides["right"].key == ("finetune", 3)


def test_follows_new_snapshots_only_when_at_the_end(panel):
    w = np.ones((syn.N_FILTERS, 784), dtype=np.float32)
    panel.store.ingest([FilterSnapshot("dae", 0, "finetune", 9, w, syn.INPUT_SHAPE)])
    assert panel.current_key() == ("finetune", 9)
    assert panel.sides["left"].key == ("finetune", 9)
    panel.slider.setValue(0)
    panel.store.ingest([FilterSnapshot("dae", 0, "finetune", 10, w, syn.INPUT_SHAPE)])
    assert panel.current_key() == ("init", 0)  # the user looks at the past: stay there


def test_play_steps_and_stops_on_hide(panel, qtbot):
    panel.show()
    panel.slider.setValue(0)
    panel.play_button.setChecked(True)
    assert panel.timer.isActive()
    panel._step()
    assert panel.slider.value() == 1
    qtbot.waitUntil(lambda: panel.slider.value() >= 2, timeout=HANG_MS)
    panel.hide()
    assert not panel.timer.isActive()
    assert panel.play_button.text() == "Play"


def test_play_stops_at_the_end(panel):
    panel.play_button.setChecked(True)  # at the end: restarts from the first snapshot
    assert panel.slider.value() == 0
    panel.slider.setValue(panel.slider.maximum())
    panel._step()
    assert not panel.timer.isActive()


def test_conv_kernels_and_a_thousand_filters(qtbot):
    store = RunStore()
    conv = np.random.default_rng(0).normal(size=(16, 3, 5, 5)).astype(np.float32)
    dense = np.random.default_rng(1).normal(size=(1000, 784)).astype(np.float32)
    store.ingest([syn.events(arms=("none",), seeds=(0,), epochs=1)[0],
                  FilterSnapshot("cnn", 0, "init", 0, conv, (3, 32, 32)),
                  FilterSnapshot("none", 0, "init", 0, dense, syn.INPUT_SHAPE)])
    p = FiltersPanel(store)
    qtbot.addWidget(p)
    p.select(left="cnn", right="none")
    assert p.sides["left"].tiles.shape == (16, 5, 5)
    np.testing.assert_allclose(p.sides["left"].tiles * np.abs(conv.mean(1)).reshape(16, -1).max(1)[:, None, None],
                               conv.mean(axis=1), rtol=1e-5)
    rows, cols = tiling.grid_shape(1000, 28, 28)
    assert p.images["right"].image.shape == (rows * 29 - 1, cols * 29 - 1)
    p.channel_box.setCurrentText("first")
    assert np.allclose(p.sides["left"].tiles * np.abs(conv[:, 0]).reshape(16, -1).max(1)[:, None, None], conv[:, 0],
                       rtol=1e-5)


def test_an_empty_panel_names_no_arm_or_seed(qtbot):
    """Before any run there is no arm and no seed: the captions say only that nothing is there yet."""
    p = FiltersPanel(RunStore())
    qtbot.addWidget(p)
    p.refresh()
    for side in ("left", "right"):
        text = p.titles[side].text
        assert "no filters yet" in text and "seed" not in text and not text.startswith(("-", "–", "<b>–"))


def test_headers_wrap_in_their_half_and_the_mosaics_keep_the_height(qtbot, panel):
    """At 1280x800 the panel is about 850 x 500 px: the two headers ran into each other ("(white noise
    0.189)structure") and the mosaics were about 95 px tall under them and a 130 px histogram."""
    panel.resize(850, 500)
    panel.show()
    qtbot.waitExposed(panel)
    panel.refresh()
    qtbot.wait(50)
    left, right = (panel.titles[s].item.sceneBoundingRect() for s in ("left", "right"))
    assert "structure" in panel.titles["left"].text and "structure" in panel.titles["right"].text
    assert not left.intersects(right), (left, right)
    middle = panel.graphics.sceneRect().center().x()
    assert left.right() <= middle + 1 and right.left() >= middle - 1
    for side in ("left", "right"):
        assert panel.views[side].sceneBoundingRect().height() >= 150, side


def test_an_online_runs_snapshots_are_named_by_examples_seen_not_epochs(qtbot):
    """An online unit snapshots its filters at initialisation, after pre-training and at its last evaluation point
    (numbered like an epoch): the panel said "fine-tuning epoch 3" and "from pre-training epoch 1" for the end of a
    stream (a new user's finding). It names the examples seen and the point."""
    from desktop_app.core.events import OnlinePoint, RunStarted

    store = RunStore()
    rng = np.random.default_rng(0)
    w = {k: rng.normal(size=(4, 784)).astype(np.float32) for k in range(3)}
    store.ingest([RunStarted("/o", "online-demo", ("none", "dae"), (0,), "cpu", 10, kind="online")])
    events: list = []
    for arm in ("none", "dae"):
        events += [FilterSnapshot(arm, 0, "init", 0, w[0], (1, 28, 28))]
        events += [FilterSnapshot(arm, 0, "pretrain", 1, w[1], (1, 28, 28))] if arm == "dae" else []
        events += [OnlinePoint(arm, 0, n, 0.1, 0.1, 0.3, 100) for n in (100, 2_000, 50_000)]
        events += [FilterSnapshot(arm, 0, "finetune", 3, w[2], (1, 28, 28))]
    store.ingest(events)
    panel = FiltersPanel(store)
    qtbot.addWidget(panel)
    panel.ensure_current()
    assert panel.time_label.text().startswith("50,000 examples seen (point 3 of 3)")
    assert "to 50,000 examples seen" in panel.hist_titles["left"].text and "epoch" not in panel.time_label.text()
    assert "from after pre-training" in panel.hist_titles["left"].text
    panel.slider.setValue(panel.timeline.index(("pretrain", 1)))
    assert panel.time_label.text().startswith("after pre-training")
