"""The headless CLI: runs, tables, listings, and one-line errors with exit code 2."""

import io
import os
import subprocess
import sys
from pathlib import Path

from desktop_app import cli
from tests.pause import HANG_S, pause_env, wait_paused

ROOT = Path(__file__).resolve().parents[2]
TINY = [
    "--set", "data.n_labelled=200", "--set", "data.n_valid=100", "--set", "data.n_test=200",
    "--set", "data.probe_size=20", "--set", "data.n_unlabelled=200", "--set", "finetune.epochs=2",
    "--set", "pretraining.rbm.epochs=1", "--set", "pretraining.dae.epochs=1", "--set", "model.layers[0].units=16",
    "--set", "device=\"cpu\"",
]


def run_cli(*argv):
    out = io.StringIO()
    code = cli.main(list(argv), out=out)
    return code, out.getvalue()


def test_run_prints_table_per_arm(tmp_path, capsys):
    code, out = run_cli("run", "quick-demo", "--out", str(tmp_path / "r"), "--quiet", *TINY)
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith("arm")
    assert [line.split()[0] for line in lines[1:4]] == ["none", "rbm", "dae"]
    assert all(line.split()[1] == "2" for line in lines[1:4])  # two seeds each
    assert (tmp_path / "r" / "metrics.csv").exists()
    code, listing = run_cli("runs", str(tmp_path))
    assert code == 0 and "completed" in listing and "r" in listing


def test_sweep_runs_each_variant(tmp_path):
    code, out = run_cli("run", "small-labels", "--out", str(tmp_path / "s"), "--quiet", *TINY,
                        "--set", "sweep.values=[50, 100]", "--set", "seeds.count=1",
                        "--set", "model.layers[1].units=16")
    assert code == 0, out
    assert "== n_labelled=50 ==" in out and "== n_labelled=100 ==" in out
    assert (tmp_path / "s" / "n_labelled=50" / "metrics.csv").exists()


def test_bad_value_exits_2_with_one_line(tmp_path, capsys):
    code, _ = run_cli("run", "quick-demo", "--out", str(tmp_path / "x"), "--set", "pretraining.dae.corruption=1.5")
    err = capsys.readouterr().err
    assert code == 2
    assert err.strip() == "basin: error: pretraining.dae.corruption: must be in [0, 1), got 1.5"
    assert not (tmp_path / "x").exists()
    code, _ = run_cli("run", "no-such-preset")
    assert code == 2 and "unknown preset" in capsys.readouterr().err
    code, _ = run_cli("run", "quick-demo", "--set", "finetune.epochz=3")
    assert code == 2 and "finetune.epochz" in capsys.readouterr().err
    code, _ = run_cli("frobnicate")
    assert code == 2 and "Traceback" not in capsys.readouterr().err


def test_presets_listing():
    code, out = run_cli("presets")
    names = [line.split()[0] for line in out.splitlines()]
    assert code == 0 and {"quick-demo", "erhan2010", "small-labels", "scae-pitfall", "relu-he-control"} <= set(names)


def test_module_entry_point_bad_config_has_no_traceback(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[model]\nactivation = "softsign"\n')
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    proc = subprocess.run([sys.executable, "-m", "desktop_app", "run", str(bad)], capture_output=True,
                          text=True, cwd=ROOT, env=env, timeout=HANG_S)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "basin: error: model.activation: must be one of sigmoid, tanh, relu; got 'softsign'"
    ]


def test_terminal_keeps_one_line_per_epoch_above_the_bar():
    """On a terminal: epoch lines scroll above a live bar (rich), layers numbered from 1 as in the window."""
    import io

    from desktop_app.cli import ProgressPrinter
    from desktop_app.core.events import EpochMetrics as EM
    from desktop_app.core.events import PretrainEpoch, Progress, RunFinished, RunStarted

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    out = Tty()
    printer = ProgressPrinter(out, quiet=False)
    printer.handle(RunStarted("/r", "demo", ("rbm",), (0,), "cpu", 100, phase_steps=(("finetune", 50),
                                                                                     ("pretrain:rbm", 50))))
    for i in range(1, 6):
        printer.handle(Progress("rbm", 0, "pretrain", 0, 1, 2, 10 * i, 100, 0.5 * i))
    printer.handle(PretrainEpoch("rbm", 0, 0, 1, 12.5))
    printer.handle(EM("rbm", 0, 1, 0.5, 0.1, 0.6, 0.12, 0.7, 0.13))
    assert printer._bar is not None  # the bar is live between the lines
    printer.handle(RunFinished("completed", "/r", 3.0))
    text = out.getvalue()
    assert "pre-train layer 1 epoch 1: reconstruction 12.5000" in text
    assert "epoch   1: train nll 0.5000" in text and "completed in 3.0 s" in text
    assert printer._bar is None


def test_a_full_disk_mid_run_is_one_line_exit_2_and_the_run_stays_readable(tmp_path):
    """A write that runs out of room (here: the file-size limit, EFBIG, as a full disk gives ENOSPC) names the
    file and its folder in one line, exit 2, no traceback; the run folder's manifest stays readable."""
    import json
    import resource

    limit = 20_000  # config.toml and manifest.json fit; the first filter snapshot (16 x 784 floats) does not

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    out = tmp_path / "run"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYTHONPATH": str(ROOT), "HOME": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-m", "desktop_app", "run", "quick-demo", "--out", str(out), "--quiet",
                           *TINY, "--set", "seeds.count=1", "--set", 'execution.backend="inline"'],
                          capture_output=True, text=True, cwd=tmp_path, env=env, timeout=HANG_S, preexec_fn=cap)
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert "no space" in lines[0] and str(out) in lines[0], lines[0]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] in ("failed", "running") and manifest["config_hash"]


def test_reproduce_set_changes_every_experiment_and_the_report_says_so(tmp_path, capsys):
    """`basin reproduce --set` is how a user points a claim at data they have (or a base set where the paper's
    cannot be had): the runs get their own folders and the setup names the change."""
    from desktop_app.core.runfolder import RunFolder, read_config

    code, out = run_cli("reproduce", "regulariser", "--reduced", "--out", str(tmp_path), "--quiet", "--device",
                        "cpu", "--no-figures", "--report", str(tmp_path / "R.md"),
                        "--set", "finetune.epochs=1", "--set", "data.n_labelled=120", "--set", "seeds.count=1")
    assert code == 0, out
    (run_dir,) = (tmp_path / "reduced").iterdir()
    cfg = read_config(RunFolder(run_dir))
    assert (cfg.finetune.epochs, cfg.data.n_labelled, cfg.seeds.count) == (1, 120, 1)
    report = (tmp_path / "R.md").read_text()
    assert "finetune.epochs = 1" in report and "data.n_labelled = 120" in report
    assert "`basin reproduce regulariser --set finetune.epochs=1 --set data.n_labelled=120 --set seeds.count=1 " \
           f"--reduced --report {tmp_path / 'R.md'}` on " in report  # the command that made it
    code, _ = run_cli("reproduce", "regulariser", "--reduced", "--out", str(tmp_path), "--set", "finetune.epochz=3")
    err = capsys.readouterr().err
    assert code == 2 and "finetune.epochz" in err and "Traceback" not in err
    code, _ = run_cli("reproduce", "regulariser", "--reduced", "--out", str(tmp_path), "--set", "seeds.count=0")
    assert code == 2 and "seeds.count" in capsys.readouterr().err


def test_reproduce_set_with_a_claim_prefix_changes_only_that_claim(tmp_path, capsys):
    """`--set CLAIM:KEY=VALUE` (e.g. the online claim on other data in one `reproduce all`) leaves the other claims'
    experiments, and so their config hashes and folders, as they are."""
    from desktop_app.cli import claim_overrides

    common, scoped = claim_overrides(["seeds.count=1", "online:data.name=\"digits\"", "online:data.n_test=100"],
                                     ["regulariser", "online"])
    assert common == {"seeds.count": 1} and scoped == {"online": {"data.name": "digits", "data.n_test": 100}}
    code, _ = run_cli("reproduce", "regulariser", "--reduced", "--out", str(tmp_path), "--set", "online:seeds.count=1")
    err = capsys.readouterr().err
    assert code == 2 and "'online'" in err and "Traceback" not in err and not (tmp_path / "reduced").exists()


def test_ctrl_c_during_reproduce_is_one_line_and_exit_130(tmp_path):
    """Stopping `basin reproduce` (Ctrl-C) ends with one line naming the claim, its experiment and its folder, and
    how to continue; no traceback, and the folder is kept for the same command to resume. The run is held at its
    first filter snapshot (a unit has started) when the SIGINT comes, however fast or slow the machine."""
    import signal

    hold, paused = pause_env(tmp_path, "FilterSnapshot")
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYTHONPATH": str(ROOT), "HOME": str(tmp_path), **hold}
    proc = subprocess.Popen([sys.executable, "-m", "desktop_app", "reproduce", "regulariser", "--reduced", "--device",
                             "cpu", "--out", str(tmp_path), "--workers", "1", "--no-figures"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path, env=env,
                            # as from a terminal: a suite started in the background (`make test &`) passes SIGINT
                            # down ignored, and Python then installs no KeyboardInterrupt handler (the run never ends)
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        assert wait_paused(paused, lambda: proc.poll() is None, lambda: proc.communicate()[1]) == proc.pid
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=HANG_S)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    last = [line for line in err.splitlines() if line.strip()][-1]
    assert "claim regulariser" in last and "stopped" in last and "same command" in last, last
    (run_dir,) = (tmp_path / "reduced").iterdir()
    assert str(run_dir) in last and (run_dir / "manifest.json").exists()


def test_a_closed_pipe_ends_the_output_quietly(capsys):
    """`basin presets | head -1`: the reader going away is not an error and prints no traceback."""

    class ClosedPipe(io.StringIO):
        def write(self, text):
            raise BrokenPipeError(32, "Broken pipe")

    assert cli.main(["presets"], out=ClosedPipe()) == 0
    assert capsys.readouterr().err == ""
