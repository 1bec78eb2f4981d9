"""TensorBoard interop: what the run writes is what TensorBoard's own reader reads back."""

import pytest

from desktop_app.core import config as c
from desktop_app.core.engine.run import run_experiment
from desktop_app.core.events import EpochMetrics

pytest.importorskip("tensorboard")
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402


def test_scalars_and_filter_images_read_back(tmp_path):
    cfg = c.from_dict({
        "data": {"n_labelled": 200, "n_valid": 100, "n_test": 200, "probe_size": 20, "n_unlabelled": 200},
        "model": {"layers": [{"kind": "dense", "units": 9}]}, "arms": ["none", "dae"],
        "pretraining": {"dae": {"epochs": 1}}, "finetune": {"epochs": 2, "batch_size": 50},
        "seeds": {"count": 1}, "device": "cpu", "snapshots": {"tensorboard": True},
    })
    events = list(run_experiment(cfg, None, tmp_path / "run"))
    assert events[-1].status == "completed"
    acc = EventAccumulator(str(tmp_path / "run" / "tensorboard"), size_guidance={"images": 0, "scalars": 0})
    acc.Reload()
    tags = acc.Tags()
    assert "dae/seed0/test_nll" in tags["scalars"] and "dae/seed0/pretrain_recon_layer0" in tags["scalars"]
    expected = {e.epoch: e.test_nll for e in events if isinstance(e, EpochMetrics) and e.arm == "dae"}
    got = {s.step: s.value for s in acc.Scalars("dae/seed0/test_nll")}
    assert got.keys() == expected.keys()
    for epoch, value in expected.items():
        assert got[epoch] == pytest.approx(value, rel=1e-6)
    images = acc.Images("dae/seed0/filters")
    assert len(images) == 1 + 1 + 2  # init, one pre-training epoch, two fine-tuning epochs
    assert images[0].width == 3 * 28 + 2 and images[0].height == 3 * 28 + 2  # 9 tiles of 28x28, 3 x 3, pad 1
