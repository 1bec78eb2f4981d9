"""TensorBoard interop: what a run writes is what TensorBoard's own reader and HParams plugin read back: one run
per (arm, seed) with shared tags, the config as HParams, and no step twice after a resume."""

import csv
import os
import shutil
from pathlib import Path

import pytest

from desktop_app.core import config as c
from desktop_app.core.control import RunControl
from desktop_app.core.engine.run import resume_experiment, run_experiment
from desktop_app.core.events import PretrainEpoch, RunFinished

pytest.importorskip("tensorboard")
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402
from tensorboard.plugins.hparams import metadata as hp_metadata  # noqa: E402

SPLIT_TAGS = {f"{split}_{m}" for split in ("train", "valid", "test") for m in ("nll", "error")}


def tiny(**over) -> c.ExperimentConfig:
    cfg = c.from_dict({
        "data": {"n_labelled": 200, "n_valid": 100, "n_test": 200, "probe_size": 20, "n_unlabelled": 200},
        "model": {"layers": [{"kind": "dense", "units": 9}]}, "arms": ["none", "dae"],
        "pretraining": {"dae": {"epochs": 2, "corruption": 0.3}}, "finetune": {"epochs": 2, "batch_size": 50},
        "seeds": {"count": 2, "base": 3}, "device": "cpu", "threads": 1, "snapshots": {"tensorboard": True},
    })
    return cfg.with_overrides(over) if over else cfg


def run_dirs(root: Path) -> set[str]:
    """Folders holding event files, relative to ``root`` (TensorBoard's runs)."""
    return {Path(d).relative_to(root).as_posix() for d, _, files in os.walk(root)
            if any(f.startswith("events.out.tfevents.") for f in files)}


def accumulator(path: Path) -> EventAccumulator:
    acc = EventAccumulator(str(path), size_guidance={"images": 0, "scalars": 0, "tensors": 0})
    acc.Reload()
    return acc


def metrics_file(run_dir: Path) -> dict[tuple[str, int, str], dict[int, float]]:
    """(arm, seed, tag) -> {step: value}, read from metrics.csv with the csv module alone."""
    out: dict[tuple[str, int, str], dict[int, float]] = {}
    with open(run_dir / "metrics.csv", newline="") as f:
        for r in csv.DictReader(f):
            unit = (r["arm"], int(r["seed"]))
            if r["phase"] == "pretrain":
                out.setdefault((*unit, f"pretrain_recon_layer{r['layer']}"), {})[int(r["epoch"])] = float(
                    r["recon_error"])
            else:
                for m in ("nll", "error"):
                    out.setdefault((*unit, f"{r['split']}_{m}"), {})[int(r["epoch"])] = float(r[m])
    return out


def hparams_dashboard(logdir: Path):
    """What TensorBoard's HParams dashboard shows for ``logdir``: (experiment, session groups), from the plugin's
    own request handlers over TensorBoard's own data provider."""
    from tensorboard import context
    from tensorboard.backend.event_processing import data_provider, plugin_event_multiplexer
    from tensorboard.plugins import base_plugin
    from tensorboard.plugins.hparams import api_pb2, backend_context, get_experiment, list_session_groups

    mux = plugin_event_multiplexer.EventMultiplexer()
    mux.AddRunsFromDirectory(str(logdir))
    mux.Reload()
    provider = data_provider.MultiplexerDataProvider(mux, str(logdir))
    backend = backend_context.Context(base_plugin.TBContext(logdir=str(logdir), data_provider=provider,
                                                            multiplexer=mux))
    request_context = context.RequestContext()
    experiment = get_experiment.Handler(request_context, backend, "", api_pb2.GetExperimentRequest()).run()
    request = api_pb2.ListSessionGroupsRequest(
        start_index=0, slice_size=1000, aggregation_type=api_pb2.AGGREGATION_AVG,
        allowed_statuses=[api_pb2.STATUS_UNKNOWN, api_pb2.STATUS_SUCCESS, api_pb2.STATUS_FAILURE,
                          api_pb2.STATUS_RUNNING])
    for info in experiment.hparam_infos:
        request.col_params.add(hparam=info.name)
    for info in experiment.metric_infos:
        request.col_params.add(metric=info.name)
    groups = list_session_groups.Handler(request_context, backend, "", request).run().session_groups
    return experiment, groups


def value(v) -> object:
    return getattr(v, v.WhichOneof("kind"))


def session_hparams(acc: EventAccumulator) -> dict[str, object]:
    content = acc.PluginTagToContent(hp_metadata.PLUGIN_NAME)[hp_metadata.SESSION_START_INFO_TAG]
    info = hp_metadata.parse_session_start_info_plugin_data(content)
    return {k: value(v) for k, v in info.hparams.items()}


def assert_mirrors_the_metrics(run_dir: Path, cfg: c.ExperimentConfig) -> None:
    """One run per (arm, seed) whose scalars are the metrics file's, each step once, and its hparams."""
    tb = run_dir / "tensorboard"
    units = {(arm, seed) for arm in cfg.arms for seed in cfg.seed_values}
    assert run_dirs(tb) == {f"{arm}/seed{seed}" for arm, seed in units}
    expected = metrics_file(run_dir)
    for arm, seed in units:
        acc = accumulator(tb / arm / f"seed{seed}")
        pretrain = {"pretrain_recon_layer0"} if arm != "none" else set()
        assert set(acc.Tags()["scalars"]) == SPLIT_TAGS | pretrain  # the same names in every run
        for tag in SPLIT_TAGS | pretrain:
            steps = [s.step for s in acc.Scalars(tag)]
            assert steps == sorted(set(steps)), (arm, seed, tag)  # each step once, in order
            assert {s.step: s.value for s in acc.Scalars(tag)} == pytest.approx(expected[(arm, seed, tag)],
                                                                                rel=1e-6)
        assert set(acc.Tags()["images"]) == {"filters/init", "filters/finetune"} | (
            {"filters/pretrain"} if arm != "none" else set())
        assert [i.step for i in acc.Images("filters/finetune")] == [1, 2]
        assert acc.Images("filters/init")[0].width == 3 * 28 + 2  # 9 tiles of 28x28, 3 x 3, pad 1
        hp = session_hparams(acc)
        assert hp["arm"] == arm and hp["seed"] == seed
        assert hp["finetune.lr"] == pytest.approx(cfg.finetune.lr) and hp["model.layers.0.units"] == 9
        assert hp["finetune.optimizer"] == "sgd"
        assert ("pretraining.dae.corruption" in hp) == (arm == "dae")  # only what the unit's arm uses
        if arm == "dae":
            assert hp["pretraining.dae.corruption"] == pytest.approx(0.3)
        # what cannot change the numbers is left out (thread count, snapshot settings, a dense layer's kernel)
        assert not {"threads", "snapshots.tensorboard", "model.layers.0.kernel", "arms", "seeds.count"} & set(hp)
    # the HParams dashboard: one group per unit, its hparams, and test error / NLL at the final epoch
    experiment, groups = hparams_dashboard(tb)
    assert {"test_error", "test_nll"} <= {m.name.tag for m in experiment.metric_infos}
    assert len(groups) == len(units)
    final = cfg.finetune.epochs
    for group in groups:
        arm, seed = value(group.hparams["arm"]), int(value(group.hparams["seed"]))
        metrics = {m.name.tag: (m.value, m.training_step) for m in group.metric_values}
        for tag in ("test_error", "test_nll"):
            assert metrics[tag] == (pytest.approx(expected[(arm, seed, tag)][final], rel=1e-6), final)


@pytest.mark.parametrize("seed_batch", [1, 2])
def test_one_run_per_unit_with_shared_tags_and_hparams(tmp_path, seed_batch):
    """A live run, one seed at a time and in seed batches (the seeds' events interleave)."""
    cfg = tiny(**{"execution.seed_batch": seed_batch})
    events = list(run_experiment(cfg, None, tmp_path / "run"))
    assert events[-1].status == "completed", events[-1].message
    assert_mirrors_the_metrics(tmp_path / "run", cfg)


def test_a_resumed_run_writes_no_step_twice(tmp_path):
    """Stopped mid pre-training (a layer is checkpointed when done, so the resumed unit recomputes epoch 1),
    then resumed: each step once, equal to the metrics file. A second stop and resume after the event files were
    lost (a killed writer flushes late) gets them back whole from the run folder."""
    cfg, run_dir = tiny(), tmp_path / "run"
    control = RunControl()
    for ev in run_experiment(cfg, control, run_dir):
        if isinstance(ev, PretrainEpoch) and (ev.arm, ev.seed, ev.epoch) == ("dae", 4, 1):
            control.stop()
    assert isinstance(ev, RunFinished) and ev.status == "stopped"
    acc = accumulator(run_dir / "tensorboard" / "dae" / "seed4")
    assert [s.step for s in acc.Scalars("pretrain_recon_layer0")] == [1]  # the stop landed where meant
    events = list(resume_experiment(run_dir))
    assert events[0].resumed and events[-1].status == "completed", events[-1].message
    assert any(isinstance(e, PretrainEpoch) and (e.arm, e.seed, e.epoch) == ("dae", 4, 1) for e in events)
    assert_mirrors_the_metrics(run_dir, cfg)

    shutil.rmtree(run_dir / "tensorboard")
    with open(run_dir / "manifest.json") as f:  # a finished run resumes as a no-op: its files are rebuilt
        assert '"completed"' in f.read()
    assert list(resume_experiment(run_dir))[-1].status == "completed"
    assert_mirrors_the_metrics(run_dir, cfg)


def test_a_workspace_of_runs_is_one_hparams_table(tmp_path):
    """``tensorboard --logdir`` on a folder of runs (a sweep, a workspace): every unit of every run is its own
    group, and an hparam that differs between the runs spans both runs' values (a per-run experiment summary
    would have been one run's, its domains leaving the other run's values out)."""
    for units in (9, 12):
        cfg = tiny(**{"arms": ["none"], "seeds.count": 1, "model.layers": [{"kind": "dense", "units": units}]})
        assert list(run_experiment(cfg, None, tmp_path / f"units={units}"))[-1].status == "completed"
    experiment, groups = hparams_dashboard(tmp_path)
    info = next(h for h in experiment.hparam_infos if h.name == "model.layers.0.units")
    assert info.differs and (info.domain_interval.min_value, info.domain_interval.max_value) == (9, 12)
    assert not next(h for h in experiment.hparam_infos if h.name == "finetune.lr").differs
    assert sorted(value(g.hparams["model.layers.0.units"]) for g in groups) == [9, 12]
    for g in groups:
        expected = metrics_file(tmp_path / f"units={int(value(g.hparams['model.layers.0.units']))}")
        got = {m.name.tag: m.value for m in g.metric_values}
        assert got["test_error"] == pytest.approx(expected[("none", 3, "test_error")][2], rel=1e-6)
