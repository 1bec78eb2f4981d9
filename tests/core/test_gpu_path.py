"""The CUDA path right by construction (issue 28), tested here on the CPU wherever the logic allows: the flags
device resolution sets, the execution plan for G GPUs and C cores, the device check on resume and reproduce, the
host syncs per pre-training step, the optimizer's step counters after a resume, the memory of the moved data.
What only a GPU can show is in the ``cuda``-marked tests at the end (skipped without CUDA)."""

import io
import json
import sys
from pathlib import Path

import pytest
import torch

from desktop_app import cli
from desktop_app.core.config import ConfigError
from desktop_app.core.engine.run import Engine, resume_experiment, run_experiment
from desktop_app.core.events import RunFinished
from desktop_app.core.execution import batching
from desktop_app.core.execution.plan import plan_execution
from desktop_app.core.training import device as device_mod
from desktop_app.core.training.device import CUDA_EXACT, apply_flags, device_change, exactness_flags, pick_device
from desktop_app.core.training.models import build_model
from tests.core.test_engine import tiny

ROOT = str(Path(__file__).resolve().parents[2] / "desktop_app")

# -- 1. device resolution: what it decides, what it sets ---------------------------------------------------------


def test_cuda_gets_the_exactness_flags_and_the_cpu_none():
    flags = exactness_flags(torch.device("cuda", 1))
    assert flags == CUDA_EXACT
    assert (flags.cudnn_deterministic, flags.cudnn_benchmark, flags.matmul_allow_tf32, flags.cudnn_allow_tf32,
            flags.float32_matmul_precision) == (True, False, False, False, "highest")
    assert exactness_flags(torch.device("cpu")) is None


def test_apply_flags_sets_the_backends():
    saved = (torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark,
             torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32,
             torch.get_float32_matmul_precision())
    try:
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = False, True
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
        torch.set_float32_matmul_precision("high")
        apply_flags(exactness_flags(torch.device("cuda")))
        assert torch.backends.cudnn.deterministic and not torch.backends.cudnn.benchmark
        assert not torch.backends.cuda.matmul.allow_tf32 and not torch.backends.cudnn.allow_tf32
        assert torch.get_float32_matmul_precision() == "highest"
    finally:
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = saved[0], saved[1]
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved[2], saved[3]
        torch.set_float32_matmul_precision(saved[4])


@pytest.mark.parametrize(("choice", "gpus", "index", "want"), [
    ("auto", 0, None, "cpu"), ("cpu", 4, None, "cpu"), ("auto", 2, None, "cuda"), ("cuda", 1, None, "cuda"),
    ("auto", 4, 3, "cuda:3"), ("cuda", 2, 1, "cuda:1"), ("cpu", 2, 1, "cpu"),
])
def test_pick_device(choice, gpus, index, want):
    assert pick_device(choice, gpus, index) == torch.device(want)


@pytest.mark.parametrize(("choice", "gpus", "index", "field"), [
    ("cuda", 0, None, "device"), ("tpu", 1, None, "device"), ("auto", 2, 2, "device")])
def test_pick_device_refuses(choice, gpus, index, field):
    with pytest.raises(ConfigError) as err:
        pick_device(choice, gpus, index)
    assert str(err.value).startswith(field)


# -- 3. the execution plan: one worker per GPU, the parent off the GPU ---------------------------------------------

PLANS = [
    # G, C, backend, device, tasks, workers -> backend, workers, worker devices, parent, type, per device, copies
    (0, 8, "auto", "auto", 6, 0, "local", 6, ("cpu",) * 6, "cpu", "cpu", 6, 6),
    (0, 8, "auto", "auto", 20, 0, "local", 8, ("cpu",) * 8, "cpu", "cpu", 8, 8),
    (0, 1, "auto", "auto", 6, 0, "inline", 1, ("cpu",), "cpu", "cpu", 1, 0),
    (0, 8, "auto", "cpu", 1, 0, "inline", 1, ("cpu",), "cpu", "cpu", 1, 0),
    (4, 16, "auto", "auto", 8, 0, "local", 4, ("cuda:0", "cuda:1", "cuda:2", "cuda:3"), "cpu", "cuda", 1, 1),
    (4, 16, "auto", "auto", 2, 0, "local", 2, ("cuda:0", "cuda:1"), "cpu", "cuda", 1, 1),
    (2, 16, "auto", "cuda", 8, 4, "local", 4, ("cuda:0", "cuda:1", "cuda:0", "cuda:1"), "cpu", "cuda", 2, 2),
    (1, 16, "auto", "auto", 8, 0, "inline", 1, ("cuda:0",), "cuda:0", "cuda", 1, 0),
    (1, 16, "local", "auto", 8, 0, "local", 1, ("cuda:0",), "cpu", "cuda", 1, 1),
    (4, 16, "auto", "cpu", 8, 0, "local", 8, ("cpu",) * 8, "cpu", "cpu", 8, 8),
    (4, 16, "inline", "auto", 8, 0, "inline", 1, ("cuda:0",), "cuda:0", "cuda", 1, 0),
    (0, 4, "dask", "cuda", 8, 0, "dask", 4, (), "cpu", "cuda", 0, 0),
    (0, 4, "dask", "auto", 8, 3, "dask", 3, (), "cpu", "auto", 0, 0),
]


@pytest.mark.parametrize("case", PLANS, ids=[f"G{c[0]}-C{c[1]}-{c[2]}-{c[3]}-T{c[4]}-W{c[5]}" for c in PLANS])
def test_execution_plan(case):
    g, c, backend, device, tasks, workers, *want = case
    plan = plan_execution(g, c, backend, device, tasks, workers)
    assert (plan.backend, plan.workers, plan.worker_devices, plan.parent_device, plan.device_type,
            plan.per_device, plan.data_copies) == tuple(want)


def test_the_plan_refuses_cuda_without_a_gpu_except_on_dask():
    with pytest.raises(ConfigError, match="^device"):
        plan_execution(0, 8, "auto", "cuda", 4)
    assert plan_execution(0, 8, "dask", "cuda", 4).device_type == "cuda"


def test_seed_batches_fill_each_gpu():
    cfg = tiny(**{"arms": ["none", "dae"], "seeds.count": 10, "execution.seed_batch": 0})
    cuda = torch.device("cuda")
    k = {g: batching.resolve_seed_batch(cfg, cuda, (1, 28, 28), 10, 1, 400, gpus=g, measure=False)
         for g in (1, 2, 4, 8)}
    assert k == {1: 10, 2: 10, 4: 5, 8: 3}  # 2 arms: each arm's seeds over G / 2 GPUs
    for g, kk in k.items():  # as many tasks as GPUs (or all of an arm's seeds in one task)
        assert len(cfg.arms) * -(-10 // kk) >= min(g, len(cfg.arms))


def test_the_memory_check_counts_the_workers_data_copies(monkeypatch):
    cfg = tiny(**{"seeds.count": 4, "execution.seed_batch": 4})
    one = batching.batch_bytes(cfg, 4, (1, 28, 28), 10, 400)
    monkeypatch.setattr(batching, "available_bytes", lambda device: int(10 * one))
    batching.check_memory(cfg, 4, torch.device("cpu"), (1, 28, 28), 10, 2, 400, 0, 0)
    with pytest.raises(ConfigError, match="^execution.seed_batch.*2 copies of the data"):
        batching.check_memory(cfg, 4, torch.device("cpu"), (1, 28, 28), 10, 2, 400, 2, 4 * one)


def test_a_local_executor_pins_its_workers_to_their_gpus():
    from desktop_app.core.execution.local import LocalExecutor, _Worker

    ex = LocalExecutor(4, ("cuda:0", "cuda:1", "cuda:0", "cuda:1"))
    live: list = []
    for _ in range(4):
        live.append(_Worker(process=None, conn=None, device=ex._next_device(live)))
    assert sorted(w.device for w in live) == ["cuda:0", "cuda:0", "cuda:1", "cuda:1"]
    live.pop(1)  # the worker on cuda:1 died: its replacement goes on cuda:1
    assert ex._next_device(live) == "cuda:1"
    assert "one per GPU" in LocalExecutor(2, ("cuda:0", "cuda:1")).describe(4, 4)


def test_a_pinned_process_resolves_to_its_gpu(monkeypatch):
    monkeypatch.setattr(device_mod, "_PINNED", [])
    assert device_mod.pinned_gpu() is None
    device_mod.pin_gpu(2)
    assert device_mod.pinned_gpu() == 2
    assert pick_device("auto", 4, device_mod.pinned_gpu()) == torch.device("cuda", 2)


def test_output_variance_is_planned_on_the_cpu_whatever_the_config_says():
    cfg = tiny(**{"kind": "output-variance", "device": "auto"})
    engine = Engine(cfg, None, Path("unused"), resume=False)
    plan = engine._plan(1)
    assert (plan.device_type, plan.parent_device) == ("cpu", "cpu")


# -- 2. resume and reproduce on another device ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def cpu_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("dev") / "run"
    cfg = tiny(**{"arms": ["none"], "seeds.count": 1, "finetune.epochs": 1, "device": "auto"})
    assert list(run_experiment(cfg, None, run_dir))[-1].status == "completed"
    return run_dir


def _set_device_type(run_dir: Path, value: str) -> None:
    path = run_dir / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["device_type"] = value
    path.write_text(json.dumps(manifest))


def test_a_run_records_the_device_it_trained_on(cpu_run):
    manifest = json.loads((cpu_run / "manifest.json").read_text())
    assert manifest["device_type"] == ("cuda" if torch.cuda.is_available() else "cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="edits a CPU run's manifest to say cuda")
def test_resume_refuses_another_device_and_force_records_it(cpu_run, tmp_path):
    import shutil

    run_dir = tmp_path / "run"
    shutil.copytree(cpu_run, run_dir)
    _set_device_type(run_dir, "cuda")
    before = (run_dir / "manifest.json").read_text()
    events = list(resume_experiment(run_dir))
    assert len(events) == 1 and events[0].status == "refused"
    assert "device_type" in events[0].message and "--force" in events[0].message
    assert "\n" not in events[0].message and (run_dir / "manifest.json").read_text() == before
    events = list(resume_experiment(run_dir, force=True))
    assert isinstance(events[-1], RunFinished) and events[-1].status == "completed", events[-1].message
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["device_type"] == "cpu" and manifest["device_changes"][0]["from"] == "cuda"


def test_device_change_lines():
    assert device_change("cpu", "auto", 0) == "" and device_change("cuda", "auto", 2) == ""
    assert device_change("auto", "cpu", 0) == "" and device_change(None, "cpu", 2) == ""
    line = device_change("cpu", "auto", 1)
    assert line.startswith("device_type: the run trained on cpu") and "gives cuda here" in line
    assert "no CUDA GPU" in device_change("cuda", "cuda", 0)


@pytest.mark.skipif(torch.cuda.is_available(), reason="edits a CPU folder's manifest to say cuda")
def test_reproduce_does_not_reuse_another_devices_folder(tmp_path):
    from desktop_app.core.reproduce import CLAIMS, run_claim
    from desktop_app.core.reproduce.claims import run_folder_name
    from desktop_app.core.runfolder import RunFolderError

    name = next(iter(CLAIMS))
    _, cfg = next(iter(CLAIMS[name].experiments(True)))
    run_dir = tmp_path / "reduced" / run_folder_name(cfg)
    run_dir.mkdir(parents=True)
    (run_dir / "manifest.json").write_text(json.dumps({"status": "completed", "config_hash": cfg.hash(),
                                                       "device_type": "cuda"}))
    with pytest.raises(RunFolderError, match="device_type: the run trained on cuda"):
        run_claim(name, tmp_path, reduced=True)


# -- 4. host syncs per step ------------------------------------------------------------------------------------------


class SyncCounter:
    """Counts reads of tensor values back to Python (``.item()``, ``float()``, ``int()``, ``bool()``, ``.cpu()``,
    ``.tolist()``, ``.numpy()``) made by Basin's code: each one waits for the GPU. (Torch's own reads of its CPU
    step counters are not counted: they are no device sync while ``step`` lives on the CPU, see item 5.)"""

    NAMES = ("item", "__float__", "__int__", "__bool__", "cpu", "tolist", "numpy")

    def __init__(self, monkeypatch) -> None:
        self.count = 0
        for name in self.NAMES:
            original = getattr(torch.Tensor, name)
            monkeypatch.setattr(torch.Tensor, name, self._wrap(original))

    def _wrap(self, original):
        counter = self

        def wrapper(t, *args, **kwargs):
            if sys._getframe(1).f_code.co_filename.startswith(ROOT):
                counter.count += 1
            return original(t, *args, **kwargs)

        return wrapper


def _pretrain_cfg(arm: str, **over):
    base = {"arms": [arm], "model.layers": [{"kind": "dense", "units": 16}] * 2, f"pretraining.{arm}.epochs": 2,
            f"pretraining.{arm}.batch_size": 10}
    return tiny(**{**base, **over})


CONV = [{"kind": "conv", "units": 4, "kernel": 5}, {"kind": "conv", "units": 4, "kernel": 5}]


@pytest.mark.parametrize(("arm", "over"), [("dae", {}), ("rbm", {}), ("rbm", {"pretraining.rbm.persistent": True}),
                                           ("cae", {"model.layers": CONV})])
def test_pretraining_reads_back_a_constant_number_of_values_per_epoch(arm, over, monkeypatch):
    """Greedy pre-training, alone and stacked: the syncs of an epoch do not grow with its steps (4 vs 16 steps
    per epoch read back the same number of values), and deferring the checks changes no number (exact on the
    CPU: the same weights as the step-by-step checked ``train_step``)."""
    from desktop_app.core.seedbatch.pretrain import stacked_greedy_pretrain
    from desktop_app.core.training.greedy import greedy_pretrain

    cfg = _pretrain_cfg(arm, **over)
    counts = {}
    for n in (40, 160):
        pool = torch.rand(n, 1, 28, 28, generator=torch.Generator().manual_seed(1))
        nets = [build_model(cfg.model, (1, 28, 28), 10, s) for s in (3, 4)]
        with monkeypatch.context() as m:
            counter = SyncCounter(m)
            list(greedy_pretrain(nets[0], arm, cfg, pool, 3))
            alone = counter.count
            counter.count = 0
            list(stacked_greedy_pretrain([build_model(cfg.model, (1, 28, 28), 10, s) for s in (3, 4)], arm, cfg,
                                         pool, [3, 4]))
            counts[n] = (alone, counter.count)
    assert counts[40] == counts[160], counts
    assert counts[40][0] <= 2 * 2 * 4  # 2 layers x 2 epochs x (a check + a reconstruction error + slack)


@pytest.mark.parametrize(("arm", "layers"), [("dae", None), ("rbm", None), ("cae", CONV)])
def test_deferred_checks_give_the_same_weights_as_checks_at_each_step(arm, layers):
    from desktop_app.core.pretraining import make_pretrainer

    cfg = _pretrain_cfg(arm, **({"model.layers": layers} if layers else {}))
    section = getattr(cfg.pretraining, arm)
    data = torch.rand(60, 1, 28, 28, generator=torch.Generator().manual_seed(2))
    if arm != "cae":
        data = data.flatten(1)
    weights = []
    for deferred in (False, True):
        net = build_model(cfg.model, (1, 28, 28), 10, 5)
        trainer = make_pretrainer(arm, net.blocks[0].module, cfg.model.activation, section, unit_interval_input=True,
                                  generator=torch.Generator().manual_seed(7))
        for s in range(0, 60, 10):
            trainer.step(data[s : s + 10]) if deferred else trainer.train_step(data[s : s + 10])
        trainer.check()
        weights.append([p.detach().clone() for p in net.blocks[0].module.parameters()])
    for a, b in zip(*weights, strict=True):
        assert torch.equal(a, b)


def test_a_deferred_check_names_the_first_non_finite_value_as_the_step_check_would():
    from desktop_app.core.config import DAEConfig
    from desktop_app.core.pretraining import PretrainingDiverged
    from desktop_app.core.pretraining.dae import DAEPretrainer

    g = torch.Generator().manual_seed(0)
    data = torch.relu(torch.randn(400, 50, generator=g) @ torch.randn(50, 300, generator=g) * 0.3)
    messages = []
    for deferred in (False, True):
        torch.manual_seed(0)
        layer = torch.nn.Linear(300, 300)
        dae = DAEPretrainer(layer, "tanh", DAEConfig(lr=0.1, batch_size=20), unit_interval_input=False,
                            generator=torch.Generator().manual_seed(0))
        with pytest.raises(PretrainingDiverged) as err:
            for _ in range(5):
                for s in range(0, len(data), 20):
                    dae.step(data[s : s + 20]) if deferred else dae.train_step(data[s : s + 20])
                if deferred:
                    dae.check()
        messages.append(str(err.value))
    assert messages[0] == messages[1]


def test_online_scoring_reads_nothing_back_per_minibatch(monkeypatch):
    from desktop_app.core.training.steppers import DenseStep, PlainStep

    cfg = tiny(**{"model.layers": [{"kind": "dense", "units": 16}]})
    conv = tiny(**{"arms": ["none"], "model.layers": [{"kind": "conv", "units": 4, "kernel": 5}]})
    x, y = torch.rand(10, 1, 28, 28), torch.randint(0, 10, (10,))
    for step_cls, c in ((DenseStep, cfg), (PlainStep, conv)):
        stepper = step_cls(build_model(c.model, (1, 28, 28), 10, 1), c, None)
        with monkeypatch.context() as m:
            counter = SyncCounter(m)
            wrong = [stepper.score_and_step(x, y, 1, check_loss=False) for _ in range(5)]
        assert counter.count == 0 and wrong[0].dtype == torch.bool and wrong[0].shape == (10,)


def test_elastic_builds_its_gaussian_matrices_once_per_device(monkeypatch):
    from desktop_app.core.data import elastic

    built = []
    original = elastic.gaussian_matrix
    monkeypatch.setattr(elastic, "gaussian_matrix", lambda *a: built.append(a) or original(*a))
    elastic.device_gaussian_matrix.cache_clear()
    fields = torch.rand(3, 2, 28, 28)
    first = elastic.smooth_fields(fields, 4.0)
    for _ in range(5):
        assert torch.equal(elastic.smooth_fields(fields, 4.0), first)
    assert len(built) == 1
    g = original(28, 4.0, torch.float32)
    assert torch.equal(first, g @ fields @ g.T)  # the numbers of the matrices built each time


# -- 5. resumed Adam: the step counters go back to the CPU ---------------------------------------------------------


def test_resumed_adam_step_counters_go_back_to_the_cpu():
    from desktop_app.core.training.step import load_optimizer_state, misplaced_steps

    params = [torch.nn.Parameter(torch.rand(3)) for _ in range(2)]
    opt = torch.optim.Adam(params, lr=0.1)
    params[0].grad, params[1].grad = torch.ones(3), torch.ones(3)
    opt.step()
    assert misplaced_steps(opt) == []
    for p in params:  # as torch.load(map_location=cuda) leaves them (meta stands in for the GPU here)
        opt.state[p]["step"] = torch.tensor(1.0, device="meta")
    assert len(misplaced_steps(opt)) == 2
    for group in opt.param_groups:  # fused / capturable Adam keep their steps on the device: left alone
        group["capturable"] = True
    assert misplaced_steps(opt) == []
    fresh = torch.optim.Adam(params, lr=0.1)
    state = torch.optim.Adam(params, lr=0.1)
    params[0].grad, params[1].grad = torch.ones(3), torch.ones(3)
    state.step()
    load_optimizer_state(fresh, state.state_dict())
    assert all(fresh.state[p]["step"].device.type == "cpu" and float(fresh.state[p]["step"]) == 1.0 for p in params)


# -- 6. memory of the moved tensors --------------------------------------------------------------------------------


def test_the_labelled_set_and_the_pool_are_moved_once():
    """"meta" stands in for a GPU: a move copies. The labelled set and the pool stay views of one moved tensor."""
    from desktop_app.core.training.unit import prepare_data

    data = prepare_data(tiny(), torch.device("meta")).splits
    assert data.train_x.device.type == "meta"
    assert data.train_x._base is not None and data.train_x._base is data.unlabelled_x._base
    cpu = prepare_data(tiny(), torch.device("cpu")).splits
    assert cpu.train_x.untyped_storage().data_ptr() == cpu.unlabelled_x.untyped_storage().data_ptr()
    assert batching.data_bytes(cpu) < batching.data_bytes(cpu) + cpu.train_x.untyped_storage().nbytes()
    assert batching.data_bytes(cpu) == sum(t.untyped_storage().nbytes() for t in (
        cpu.unlabelled_x, cpu.train_y, cpu.valid_x, cpu.valid_y, cpu.test_x, cpu.test_y))


def test_stacked_pretraining_shares_one_layer_0_pool():
    from desktop_app.core.seedbatch.pretrain import _layer_inputs, _rows

    cfg = _pretrain_cfg("dae")
    nets = [build_model(cfg.model, (1, 28, 28), 10, s) for s in range(4)]
    pool = torch.rand(50, 1, 28, 28)
    inputs = _layer_inputs(nets, pool, 0)
    assert inputs.shape == (4, 50, 784) and inputs.stride(0) == 0  # one copy for the 4 seeds
    assert all(torch.equal(inputs[j], pool.flatten(1)) for j in range(4))
    assert _rows(inputs, [0, 3]).stride(0) == 0 and _rows(inputs, [0, 3]).shape == (2, 50, 784)
    upper = _layer_inputs(nets, pool, 1)
    assert upper.stride(0) != 0 and not torch.equal(upper[0], upper[1])  # layer 1 differs per seed


# -- what only a GPU can show ---------------------------------------------------------------------------------------

CUDA_CONV = {"arms": ["none", "cae"], "seeds.count": 2, "finetune.epochs": 2, "finetune.batch_size": 20,
             "execution.backend": "inline", "model.layers": CONV, "model.activation": "relu", "model.init": "he",
             "data.n_labelled": 120, "data.n_unlabelled": 120, "data.n_test": 100, "pretraining.cae.epochs": 1,
             "pretraining.cae.batch_size": 20, "pretraining.cae.pool": 2, "device": "cuda"}


def _table(run_dir):
    import csv

    with open(run_dir / "metrics.csv", newline="") as fh:
        return {(r["arm"], r["seed"], r["phase"], r["layer"], r["epoch"], r["split"]): r for r in csv.DictReader(fh)}


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("k", [1, 2])
def test_cuda_conv_resume_is_bit_exact(k, tmp_path):
    """A conv net (plain units and a seed batch) stopped after an epoch-1 checkpoint and resumed on CUDA: the
    numbers of the run that never stopped, bit for bit."""
    from desktop_app.core.control import RunControl
    from desktop_app.core.events import CheckpointSaved

    cfg = tiny(**{**CUDA_CONV, "execution.seed_batch": k})
    ref = tmp_path / "ref"
    assert list(run_experiment(cfg, None, ref))[-1].status == "completed"
    control, run_dir = RunControl(), tmp_path / "run"
    for ev in run_experiment(cfg, control, run_dir):
        if isinstance(ev, CheckpointSaved) and ev.epoch == 1 and not control.stopped:
            control.stop()
    assert list(resume_experiment(run_dir))[-1].status == "completed"
    a, b = _table(ref), _table(run_dir)
    assert a.keys() == b.keys()
    for key, row in a.items():
        assert (b[key]["nll"], b[key]["recon_error"]) == (row["nll"], row["recon_error"]), key



@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_conv_stacked_run_is_deterministic_and_near_alone(tmp_path):
    """The stacked conv run twice: the same numbers bit for bit (deterministic cuDNN); against the seeds alone,
    equal up to float reassociation (rel 1e-4, as on the CPU)."""
    runs = {}
    for name, k in (("stacked-a", 2), ("stacked-b", 2), ("alone", 1)):
        runs[name] = tmp_path / name
        cfg = tiny(**{**CUDA_CONV, "execution.seed_batch": k})
        assert list(run_experiment(cfg, None, runs[name]))[-1].status == "completed"
    a, b, alone = (_table(runs[n]) for n in ("stacked-a", "stacked-b", "alone"))
    assert a == b
    for key, row in alone.items():
        if row["nll"]:
            assert float(a[key]["nll"]) == pytest.approx(float(row["nll"]), rel=1e-4), key


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cpu_and_cuda_numbers_agree_within_1e_3(tmp_path):
    """No TF32 and deterministic cuDNN: a dense and a conv run (no dropout, no pre-training noise differences:
    arm none) give the CPU's NLLs to a relative 1e-3 after 3 epochs (float32 reassociation only; the random
    streams are drawn on the CPU for data order and on each device's generator for nothing else here)."""
    for layers in ([{"kind": "dense", "units": 32}], CONV):
        tables = {}
        for dev in ("cpu", "cuda"):
            run_dir = tmp_path / f"{len(layers)}-{dev}"
            cfg = tiny(**{"arms": ["none"], "seeds.count": 1, "model.layers": layers, "device": dev,
                          "execution.backend": "inline"})
            assert list(run_experiment(cfg, None, run_dir))[-1].status == "completed"
            tables[dev] = _table(run_dir)
        for key, row in tables["cpu"].items():
            if row["nll"]:
                assert float(tables["cuda"][key]["nll"]) == pytest.approx(float(row["nll"]), rel=1e-3), key


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_a_full_basin_run_on_cuda(tmp_path):
    out = tmp_path / "run"
    code = cli.main(["run", "quick-demo", "--out", str(out), "--quiet", "--set", "device=cuda",
                     "--set", "finetune.epochs=2"], out=io.StringIO())
    assert code == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "completed" and manifest["device_type"] == "cuda"


@pytest.mark.parametrize(("arm", "layers"), [("dae", None), ("rbm", None), ("cae", CONV)])
def test_a_stacked_seed_that_diverges_leaves_at_the_epoch_end_and_the_others_are_their_own(arm, layers):
    """A seed whose weights are non-finite keeps computing in its own slice until the epoch's check: it ends with
    the message it gets alone, and the other seeds' weights and errors equal theirs alone."""
    from desktop_app.core.pretraining import PretrainingDiverged
    from desktop_app.core.seedbatch.pretrain import stacked_greedy_pretrain
    from desktop_app.core.training.greedy import LayerEpoch, greedy_pretrain

    cfg = _pretrain_cfg(arm, **({"model.layers": layers} if layers else {}))
    pool = torch.rand(40, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    seeds = [3, 4, 5]

    def nets():
        out = [build_model(cfg.model, (1, 28, 28), 10, s) for s in seeds]
        with torch.no_grad():
            out[1].blocks[0].module.weight[0].fill_(float("nan"))
        return out

    alone_nets, alone_items, alone_error = nets(), [], None
    for net, s in zip(alone_nets, seeds, strict=True):
        try:
            alone_items.append(list(greedy_pretrain(net, arm, cfg, pool, s)))
        except PretrainingDiverged as exc:
            alone_items.append(None)
            alone_error = str(exc)
    assert alone_items[1] is None and alone_error
    stacked_nets = nets()
    items = list(stacked_greedy_pretrain(stacked_nets, arm, cfg, pool, seeds))
    ends = [i for p, i in items if p == 1 and isinstance(i, PretrainingDiverged)]
    assert [str(e) for e in ends] == [alone_error]
    for p in (0, 2):
        got = [i for q, i in items if q == p and isinstance(i, LayerEpoch)]
        want = [i for i in alone_items[p] if isinstance(i, LayerEpoch)]
        assert [(i.layer, i.epoch) for i in got] == [(i.layer, i.epoch) for i in want]
        for a, b in zip(got, want, strict=True):
            assert a.recon_error == pytest.approx(b.recon_error, rel=1e-4)
        for a, b in zip(stacked_nets[p].parameters(), alone_nets[p].parameters(), strict=True):
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CPU-only client")
def test_a_dask_client_without_a_gpu_accepts_device_cuda():
    from desktop_app.core.engine.preflight import check_inputs

    check_inputs(tiny(**{"device": "cuda", "execution.backend": "dask"}))  # the workers resolve it
    with pytest.raises(ConfigError, match="^device"):
        check_inputs(tiny(**{"device": "cuda", "execution.backend": "local"}))


@pytest.mark.parametrize(("n_labelled", "n_unlabelled"), [(60, 120), (120, 60)])
def test_a_units_data_is_placed_on_its_device_with_every_example(n_labelled, n_unlabelled):
    """prepare_data: every split and the evaluation subsets on the unit's device ("meta" standing in for a GPU); the
    labelled set and the unlabelled pool, prefixes of one training pool, are moved as one tensor and cut again, each
    keeping its own length and values (compared on the CPU), whichever is the longer."""
    from desktop_app.core.data import load_data
    from desktop_app.core.training.unit import _prefix_views, prepare_data
    from tests.core.test_properties import small

    cfg = small(**{"data.n_labelled": n_labelled, "data.n_unlabelled": n_unlabelled})
    names = ["train_x", "train_y", "unlabelled_x", "valid_x", "valid_y", "test_x", "test_y"]
    original = load_data(cfg.data)
    assert _prefix_views(original.train_x, original.unlabelled_x)  # the case the one move is for
    want = {n: getattr(original, n).clone() for n in names}
    on_meta = prepare_data(cfg, torch.device("meta"), load_data(cfg.data))
    assert {n: getattr(on_meta.splits, n).device.type for n in names} == dict.fromkeys(names, "meta")
    assert {t.device.type for t in (*on_meta.train_eval, on_meta.probe_x)} == {"meta"}
    on_cpu = prepare_data(cfg, torch.device("cpu"), load_data(cfg.data))
    assert (len(on_cpu.splits.train_x), len(on_cpu.splits.unlabelled_x)) == (n_labelled, n_unlabelled)
    for n in names:
        assert torch.equal(getattr(on_cpu.splits, n), want[n]), n
    assert torch.equal(on_cpu.probe_x, want["test_x"][original.probe_idx])
