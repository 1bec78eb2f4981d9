"""The online experiment (kind "online"): the stream, the recorded online error, persistence and resume."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from desktop_app.core import config as c
from desktop_app.core.control import RunControl
from desktop_app.core.data import ElasticAugment, load_data
from desktop_app.core.data import stream as stream_mod
from desktop_app.core.data.stream import CHUNK, OnlineStream, evaluation_points
from desktop_app.core.engine.run import resume_experiment, run_experiment
from desktop_app.core.events import OnlinePoint, PretrainEpoch, RunFinished
from desktop_app.core.runfolder import RunFolder, RunFolderError, read_online, replay
from desktop_app.core.training.models import build_model
from desktop_app.core.training.online_unit import online_unit_steps, streams
from desktop_app.core.training.step import finetune_step, make_optimizer


def tiny(**over) -> c.ExperimentConfig:
    base = c.from_dict({
        "name": "online-tiny", "kind": "online", "arms": ["none", "dae"],
        "data": {"name": "digits", "n_labelled": 300, "n_valid": 100, "n_test": 200, "probe_size": 50},
        "model": {"layers": [{"kind": "dense", "units": 16}, {"kind": "dense", "units": 16}]},
        "pretraining": {"dae": {"batch_size": 20}},
        "finetune": {"batch_size": 10, "lr": 0.1},
        "online": {"pretrain_examples": 200, "finetune_examples": 600, "block": 100, "eval_points": 5},
        "seeds": {"count": 1}, "snapshots": {"max_filters": 8},
        "execution": {"backend": "inline"}, "device": "cpu", "threads": 1,
    })
    return base.with_overrides(over) if over else base


def run(cfg, out, control=None):
    return list(run_experiment(cfg, control, out))


@pytest.fixture(scope="module")
def base_set():
    d = load_data(tiny().data)
    return d.train_x, d.train_y


def test_stream_is_deterministic_per_seed_and_differs_across_seeds(base_set):
    x, y = base_set
    aug = ElasticAugment()
    a = OnlineStream(x, y, aug, 3, "finetune").take(0, 2 * CHUNK + 300)
    b = OnlineStream(x, y, aug, 3, "finetune")
    # the same examples whatever the minibatch split and order of the requests (a resumed unit starts mid-chunk)
    parts = [b.take(2 * CHUNK, 300), b.take(0, 700), b.take(700, 2 * CHUNK - 700)]
    assert torch.equal(a[0], torch.cat([parts[1][0], parts[2][0], parts[0][0]]))
    assert torch.equal(a[1], torch.cat([parts[1][1], parts[2][1], parts[0][1]]))
    other = OnlineStream(x, y, aug, 4, "finetune").take(0, 2 * CHUNK + 300)
    assert not torch.equal(a[0], other[0])
    pre = OnlineStream(x, y, aug, 3, "pretrain").take(0, 2 * CHUNK + 300)
    assert not torch.equal(a[0], pre[0])
    # fresh deformations: no two examples of the stream are the same image
    flat = a[0].flatten(1)
    assert len(torch.unique(flat, dim=0)) == len(flat)
    # labels are the base images' labels; deformations stay in [0, 1]
    s = OnlineStream(x, y, aug, 3, "finetune")
    assert torch.equal(a[1], y[s.base_indices(0, 2 * CHUNK + 300)])
    assert float(a[0].min()) >= 0.0 and float(a[0].max()) <= 1.0


def test_every_base_image_once_per_pass(base_set):
    x, y = base_set
    s = OnlineStream(x, y, ElasticAugment(), 0, "finetune")
    n = len(x)
    for p in range(3):
        idx = s.base_indices(p * n, (p + 1) * n)
        assert sorted(idx.tolist()) == list(range(n))
    assert not torch.equal(s.base_indices(0, n), s.base_indices(n, 2 * n))


def test_evaluation_points_are_log_spaced_on_batch_boundaries():
    pts = evaluation_points(1_000_000, 1000, 13, 10)
    assert pts[0] == 1000 and pts[-1] == 1_000_000 and len(pts) == 13
    assert all(p % 10 == 0 for p in pts)
    ratios = np.diff(np.log10(pts))
    assert np.allclose(ratios, 0.25, atol=0.01)
    assert evaluation_points(95, 40, 3, 10) == [40, 70, 95]


def test_each_example_is_drawn_once(tmp_path, monkeypatch):
    taken: dict[tuple[int, str], list[tuple[int, int]]] = {}
    real_take = OnlineStream.take

    def spy(self, start, n):
        taken.setdefault((self.seed, self.purpose), []).append((start, n))
        return real_take(self, start, n)

    monkeypatch.setattr(stream_mod.OnlineStream, "take", spy)
    cfg = tiny(arms=["dae"])
    evs = run(cfg, tmp_path / "run")
    assert evs[-1].status == "completed"
    o = cfg.online
    n_layers = len(cfg.model.layers)
    for purpose, total in (("pretrain", n_layers * o.pretrain_examples), ("finetune", o.finetune_examples)):
        spans = sorted(taken[(0, purpose)])
        covered = [i for start, n in spans for i in range(start, start + n)]
        assert covered == list(range(total))  # contiguous, no example twice, none skipped


def test_recorded_online_error_equals_an_independent_recomputation(tmp_path):
    cfg = tiny(arms=["none"])
    evs = run(cfg, tmp_path / "run")
    recorded = [e for e in evs if isinstance(e, OnlinePoint)]
    o, ft = cfg.online, cfg.finetune
    points = evaluation_points(o.finetune_examples, o.block, o.eval_points, ft.batch_size)
    assert [p.examples for p in recorded] == points

    # recomputed from scratch: every example scored before its step, the mean over the last block at each point
    data = load_data(cfg.data)
    model = build_model(cfg.model, data.input_shape, data.n_classes, 0)
    opt = make_optimizer(ft, model.parameters())
    stream = streams(cfg, data, 0)[1]
    mistakes: list[bool] = []
    expected = []
    for start in range(0, o.finetune_examples, ft.batch_size):
        x, y = stream.take(start, ft.batch_size)
        with torch.no_grad():
            model.eval()
            mistakes += (model(x).argmax(1) != y).tolist()
            model.train()
        finetune_step(model, opt, x, y, cfg.model, ft, 1)
        seen = start + ft.batch_size
        if seen in points:
            model.eval()
            with torch.no_grad():
                test_err = float((model(data.test_x).argmax(1) != data.test_y).float().mean())
            model.train()
            expected.append((seen, float(np.mean(mistakes[-o.block:])), test_err))
    got = [(p.examples, p.online_error, p.test_error) for p in recorded]
    assert [g[0] for g in got] == [e[0] for e in expected]
    np.testing.assert_allclose([g[1:] for g in got], [e[1:] for e in expected], atol=1e-6)
    assert all(p.block == o.block for p in recorded)


def test_files_replay_and_progress(tmp_path):
    cfg = tiny()
    evs = run(cfg, tmp_path / "run")
    assert evs[-1].status == "completed"
    live = [e for e in evs if isinstance(e, OnlinePoint)]  # units may run in any order (longest first)

    def by_unit(points):
        return sorted(points, key=lambda p: (p.seed, cfg.arms.index(p.arm), p.examples))

    assert read_online(tmp_path / "run", cfg.arms) == by_unit(live)
    replayed = [e for e in replay(tmp_path / "run") if isinstance(e, OnlinePoint)]
    assert replayed == by_unit(live)
    assert sum(isinstance(e, PretrainEpoch) for e in evs) == len(cfg.model.layers)  # one per dae layer
    started = evs[0]
    assert started.total_steps == sum(online_unit_steps(cfg, a) for a in cfg.arms)
    # a unit's files are the ones it owns (copied back from a machine without the shared folder)
    assert RunFolder(tmp_path / "run").unit("dae", 0).online_path in RunFolder(tmp_path / "run").unit("dae", 0).files()


def test_resume_after_stop_gives_identical_numbers(tmp_path):
    cfg = tiny(**{"model.dropout": 0.2})
    run(cfg, tmp_path / "straight")
    straight = read_online(tmp_path / "straight", cfg.arms)
    control = RunControl()
    for ev in run_experiment(cfg, control, tmp_path / "resumed"):
        if isinstance(ev, OnlinePoint) and ev.arm == "dae" and ev.examples == straight[2].examples:
            control.stop()
        if isinstance(ev, RunFinished):
            assert ev.status == "stopped"
    partial = read_online(tmp_path / "resumed", cfg.arms)
    assert 0 < len(partial) < len(straight)
    evs = list(resume_experiment(tmp_path / "resumed"))
    assert evs[-1].status == "completed"
    assert read_online(tmp_path / "resumed", cfg.arms) == straight


def test_a_hostile_online_file_is_one_line(tmp_path):
    cfg = tiny(arms=["none"], **{"online.eval_points": 2})
    run(cfg, tmp_path / "run")
    path = tmp_path / "run" / "online" / "none_s0.csv"
    path.write_text(path.read_text().replace(",100,", ",1e400x,", 1) + "none,0,zzz,1,1,1,100\n")
    with pytest.raises(RunFolderError, match=r"online/none_s0.csv line \d+: examples"):
        read_online(tmp_path / "run")


def test_an_online_run_may_stream_every_training_image(tmp_path, monkeypatch):
    """data.n_valid = 0 (online runs only): the stream deforms the whole training pool (Erhan 2010's InfiniteMNIST
    deforms all 60,000 MNIST training digits), and each layer's reconstruction error is measured on pre-training
    stream examples past the ones the layers train on."""
    from desktop_app.core.runfolder import read_manifest
    from desktop_app.core.training.greedy import RECON_EVAL_SIZE

    cfg = tiny(arms=["dae"], **{"data.n_valid": 0, "data.n_labelled": 0, "online.eval_points": 2})
    taken = []
    take = OnlineStream.take

    def spy(self, start, n):
        taken.append((self.purpose, start, n))
        return take(self, start, n)

    monkeypatch.setattr(OnlineStream, "take", spy)
    evs = run(cfg, tmp_path / "run")
    assert evs[-1].status == "completed"
    assert read_manifest(tmp_path / "run")["sizes"]["labelled"] == 5000 - cfg.data.n_test  # nothing held out
    recon = [e.recon_error for e in evs if isinstance(e, PretrainEpoch)]
    assert len(recon) == len(cfg.model.layers) and all(np.isfinite(recon))
    past = len(cfg.model.layers) * cfg.online.pretrain_examples
    assert ("pretrain", past, RECON_EVAL_SIZE) in taken
    assert max(s + n for p, s, n in taken if p == "pretrain" and s < past) == past  # training stops before it


def test_block_larger_than_the_budget_is_refused():
    with pytest.raises(c.ConfigError, match="online.block"):
        tiny(**{"online.block": 700}).validate()


def test_the_online_demo_preset_runs_from_the_cli(tmp_path):
    """`basin run online-demo` (shrunk): the table is the end of the stream per arm, read from the run folder."""
    import io

    from desktop_app import cli

    out = io.StringIO()
    small = ["--set", "online.pretrain_examples=100", "--set", "online.finetune_examples=300", "--set",
             "online.block=100", "--set", "online.eval_points=3", "--set", "seeds.count=1", "--set",
             "model.layers=[{kind='dense', units=16}]", "--set", "data.n_labelled=200", "--set", "device='cpu'",
             "--set", "execution.backend='inline'"]
    code = cli.main(["run", "online-demo", "--out", str(tmp_path / "r"), "--quiet", *small], out=out)
    lines = out.getvalue().splitlines()
    assert code == 0, lines
    assert lines[0].split()[:3] == ["arm", "seeds", "examples"]
    assert [line.split()[:3] for line in lines[1:4]] == [[a, "1", "300"] for a in ("none", "rbm", "dae")]
    points = read_online(tmp_path / "r")
    assert [p.examples for p in points if p.arm == "rbm"] == [100, 180, 300]


def test_the_dense_step_matches_autograd_and_its_state_resumes_the_plain_step(base_set):
    """Online units of dense nets use the hand-written step (``DenseStep``): the same scores, weights and optimizer
    state as the autograd step (``PlainStep``) up to float rounding, so its checkpoint resumes with either."""
    from desktop_app.core.training.steppers import DenseStep, PlainStep, make_stepper

    cfg = tiny(**{"finetune.optimizer": "momentum", "finetune.momentum": 0.9})
    x, y = base_set
    nets = [build_model(cfg.model, tuple(x.shape[1:]), 10, 5) for _ in range(2)]
    dense, plain = make_stepper(nets[0], cfg, None), PlainStep(nets[1], cfg, None)
    assert isinstance(dense, DenseStep)  # what a dense online unit runs
    for start in range(0, 200, 10):
        a = dense.score_and_step(x[start:start + 10], y[start:start + 10], 1, check_loss=True)
        b = plain.score_and_step(x[start:start + 10], y[start:start + 10], 1, check_loss=True)
        assert torch.equal(a, b)
    dense.write_to(nets[0])
    for p, q in zip(nets[0].parameters(), nets[1].parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=1e-4, atol=1e-5)
    resumed = PlainStep(nets[0], cfg, dense.optimizer_state())
    for s, t in zip(resumed.opt.state_dict()["state"].values(), plain.opt.state_dict()["state"].values(), strict=True):
        torch.testing.assert_close(s["momentum_buffer"], t["momentum_buffer"], rtol=1e-4, atol=1e-5)
    conv = tiny(arms=["none"], **{"model.layers": [{"kind": "conv", "units": 4, "kernel": 5}]})
    assert isinstance(make_stepper(build_model(conv.model, tuple(x.shape[1:]), 10, 0), conv, None), PlainStep)


@pytest.mark.parametrize("start_training", [True, False])
def test_each_example_is_scored_in_eval_mode_before_the_plain_step_trains_on_it(start_training):
    """``online_mistakes`` (the plain step's scoring of a minibatch before it trains on it): a bool per example,
    True where the eval-mode argmax (no dropout) is not its label, written out here as tanh(x W1^T + b1), the
    head, argmax; the net is left in the mode it was in."""
    from desktop_app.core.training.steppers import online_mistakes

    cfg = tiny(**{"model.layers": [{"kind": "dense", "units": 6}], "model.activation": "tanh",
                  "model.dropout": 0.5})
    net = build_model(cfg.model, (1, 3, 3), 4, 2)
    net.train(start_training)
    g = torch.Generator().manual_seed(5)
    x, y = torch.rand(40, 1, 3, 3, generator=g), torch.randint(0, 4, (40,), generator=g)
    with torch.no_grad():
        hidden = torch.tanh(x.flatten(1) @ net.blocks[0].module.weight.T + net.blocks[0].module.bias)
        expect = (hidden @ net.head.weight.T + net.head.bias).argmax(1) != y
    wrong = online_mistakes(net, x, y)
    assert wrong.dtype == torch.bool and torch.equal(wrong, expect)
    assert 0 < int(expect.sum()) < 40  # some right, some wrong
    assert all(mod.training == start_training for mod in net.modules())
