"""`basin`: the same engine, headless; bare `basin` (or `basin CONFIG.toml`) opens the window.

basin [CONFIG.toml]
basin run PRESET|CONFIG.toml [--out DIR] [--set key=value ...]
basin run --help-config
basin resume RUN_DIR
basin presets
basin runs [DIR]
basin runs --table [DIR]
basin diff RUN_A RUN_B

Exit codes: 0 completed; 1 failed; 2 bad input or an unusable run folder (one line naming the field or file,
no traceback); 3 a unit diverged
(a non-finite loss: lower the learning rate or momentum; the other units completed); 130 stopped.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import textwrap
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TextIO

import numpy as np

from desktop_app.core import config as config_mod
from desktop_app.core.config import ConfigError, ExperimentConfig
from desktop_app.core.errors import one_line, printable
from desktop_app.core.eta import PhaseEta
from desktop_app.core.events import (
    EpochMetrics,
    LogMessage,
    OnlinePoint,
    PretrainEpoch,
    Progress,
    RunFinished,
    RunStarted,
)
from desktop_app.core.phase_text import phase_text
from desktop_app.core.runfolder import (
    RunFolder,
    RunFolderError,
    final_test_errors,
    is_locked,
    list_runs,
    read_config,
    read_manifest,
    read_metrics,
    read_online,
)
from desktop_app.core.runfolder.metrics import final_epochs, final_test_nlls, run_patience
from desktop_app.core.runfolder.workspace import default_workspace

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_DIVERGED, EXIT_STOPPED = 0, 1, 2, 3, 130
EXIT_CODES_HELP = ("exit codes: 0 completed, 1 failed, 2 bad input (config, data, usage), 3 some (arm, seed) unit "
                   "diverged (non-finite loss; lower the learning rate or momentum; the other units completed), "
                   "130 stopped")


class UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2, like a config error
        raise UsageError(message)


def version() -> str:
    """The installed package's version ("unknown" from a source tree that was never installed)."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as dist_version

    try:
        return dist_version("basin")
    except PackageNotFoundError:
        return "unknown (not installed)"


def _claims_help() -> str:
    """The claims `basin reproduce` knows, from the registry (one line each), then the exit codes."""
    from desktop_app.core.reproduce import CLAIMS

    width = max(len(n) for n in CLAIMS) + 2
    lines = [f"  {name:<{width}}{claim.title}" for name, claim in CLAIMS.items()]
    return "claims:\n" + "\n".join(lines) + "\n\n" + textwrap.fill(EXIT_CODES_HELP, 79)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="basin", formatter_class=argparse.RawDescriptionHelpFormatter,
                description="Basin: a desktop lab for unsupervised pre-training.\n\n"
                "  basin                  open the window (as `python -m desktop_app` does)\n"
                "  basin CONFIG.toml      open the window with that config in the builder\n"
                "  basin COMMAND ...      the same engine headless (commands below)",
                epilog=EXIT_CODES_HELP)
    p.add_argument("--version", action="version", version=f"basin {version()}")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser, metavar="COMMAND")
    run = sub.add_parser("run", help="run a preset or a config file", epilog=EXIT_CODES_HELP)
    run.add_argument("config", nargs="?", help="preset name (see `basin presets`) or path to a .toml config")
    run.add_argument("--check", action="store_true",
                     help="check the config, its data and the device; print the run folders it would make; run nothing")
    run.add_argument("--help-config", action="store_true",
                     help="list every config field with its type, default, allowed range and meaning, then exit")
    run.add_argument("--out", type=Path, help="run folder to create (default: a new folder in the workspace)")
    run.add_argument("--workspace", type=Path, help="folder holding run folders (default: user data dir)")
    run.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                     help="override a config field, e.g. --set finetune.epochs=5 --set arms='[\"none\",\"dae\"]'")
    run.add_argument("--quiet", action="store_true", help="no progress output, only the final table")
    _execution_flags(run)
    res = sub.add_parser("resume", help="continue a stopped run from its last checkpoints", epilog=EXIT_CODES_HELP)
    res.add_argument("run_dir", type=Path)
    res.add_argument("--force", action="store_true",
                     help="resume even though config.toml was edited since the run started, or on another device type "
                          "than it ran on (recorded in the manifest)")
    res.add_argument("--quiet", action="store_true")
    _execution_flags(res)
    rep = sub.add_parser("reproduce", help="run the classic claims about pre-training and report them",
                         formatter_class=argparse.RawDescriptionHelpFormatter, epilog=_claims_help())
    rep.add_argument("claims", nargs="+", help="claim names or `all` (see the list below)")
    rep.add_argument("--out", type=Path, help="folder for the claims' run folders (default: workspace/reproduce)")
    rep.add_argument("--reduced", action="store_true", help="a small version of each claim (minutes, for tests)")
    rep.add_argument("--report", type=Path, help="write the markdown report here (e.g. docs/RESULTS.md)")
    rep.add_argument("--figures", type=Path, help="folder for the report's figures, drawn by the app's panels "
                     "(default: `results/` beside the report)")
    rep.add_argument("--no-figures", action="store_true", help="write the report without figures")
    rep.add_argument("--finished", action="store_true", help="run nothing: report each claim over its completed "
                     "experiments; one with experiments still to run is 'incomplete' (not judged), the missing named")
    rep.add_argument("--note", action="append", default=[], help="a paragraph for the report's header (e.g. how "
                     "the runs were scheduled); repeatable")
    rep.add_argument("--device", choices=config_mod.DEVICES, help="override every experiment's device")
    rep.add_argument("--set", dest="overrides", action="append", default=[], metavar="[CLAIM:]KEY=VALUE",
                     help="change a field of every experiment of the claims (or only of CLAIM's, e.g. --set "
                     "online:data.path=~/mnist for MNIST files you have); such runs get their own folders and the "
                     "report names the change")
    rep.add_argument("--quiet", action="store_true")
    _execution_flags(rep)
    sub.add_parser("presets", help="list the shipped presets")
    runs = sub.add_parser("runs", help="list past runs in a workspace folder")
    runs.add_argument("dir", nargs="?", type=Path, help="workspace folder (default: user data dir)")
    runs.add_argument("--table", action="store_true",
                      help="the Runs pane's table: status, wall time, final test error per arm with its 95%% "
                      "interval, the config fields that differ across the runs, tags and note")
    dif = sub.add_parser("diff", help="the config fields that differ between two runs (or config files)")
    dif.add_argument("a", type=Path, metavar="RUN_A", help="a run folder or a config .toml")
    dif.add_argument("b", type=Path, metavar="RUN_B", help="a run folder or a config .toml")
    return p


def _execution_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--workers", type=int, metavar="N",
                   help="run up to N (arm, seed) units at once, each in its own process (default: the config's "
                        "execution.workers; 0 = physical cores)")
    p.add_argument("--seed-batch", type=int, metavar="K", dest="seed_batch",
                   help="train K paired seeds of an arm as one stacked net in one process (default: the config's "
                        "execution.seed_batch; 1 = off, 0 = auto)")
    p.add_argument("--backend", choices=config_mod.EXECUTION_BACKENDS,
                   help="where units run: local processes, inline (this process), dask (execution.address), "
                        "auto (local when more than one worker)")


def execution_overrides(args: argparse.Namespace) -> dict[str, object]:
    out: dict[str, object] = {}
    if getattr(args, "workers", None) is not None:
        out["execution.workers"] = args.workers
    if getattr(args, "backend", None) is not None:
        out["execution.backend"] = args.backend
    if getattr(args, "seed_batch", None) is not None:
        out["execution.seed_batch"] = args.seed_batch
    return out


def parse_overrides(items: Sequence[str]) -> dict[str, object]:
    out: dict[str, object] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError("--set", f"expected KEY=VALUE, got {item!r}")
        out[key.strip()] = config_mod.parse_value(value.strip())
    return out


def claim_overrides(items: Sequence[str], names: Sequence[str]) -> tuple[dict[str, object],
                                                                         dict[str, dict[str, object]]]:
    """`basin reproduce --set`: (the changes for every claim, {claim: its own changes}). ``CLAIM:KEY=VALUE``
    changes only that claim's experiments, so one `reproduce all` can point one claim at other data."""
    common: list[str] = []
    scoped: dict[str, list[str]] = {}
    for item in items:
        key = item.partition("=")[0]
        claim, sep, _field = key.partition(":")
        if not sep:
            common.append(item)
        elif claim.strip() not in names:
            raise ConfigError("--set", f"{item!r} names claim {claim.strip()!r}, which is not among the claims run "
                                       f"({', '.join(names)})")
        else:
            scoped.setdefault(claim.strip(), []).append(item.partition(":")[2])
    return parse_overrides(common), {claim: parse_overrides(v) for claim, v in scoped.items()}


def load_config(ref: str, overrides: dict[str, object]) -> ExperimentConfig:
    from desktop_app.core.presets import resolve_config

    cfg = resolve_config(ref)
    if overrides:
        cfg = cfg.with_overrides(overrides)
    return cfg.validate()


# -------------------------------------------------------------------------------------------------------
# Output
# -------------------------------------------------------------------------------------------------------


def _fmt_eta(seconds: float) -> str:
    if not math.isfinite(seconds) or seconds < 0:
        return "--:--"
    m, s = divmod(int(seconds), 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


class ProgressPrinter:
    """Terminal output of a run. On a terminal: one line per finished epoch scrolling above a live progress bar
    (rich), whose ETA comes from measured step rates per phase (core/eta.py). Otherwise (a log file, a pipe):
    the same epoch lines only. Layers are numbered from 1, as in the window."""

    def __init__(self, stream: TextIO, quiet: bool) -> None:
        self.stream = stream
        self.quiet = quiet
        self.tty = stream.isatty()
        self.eta = PhaseEta()
        self._bar = None  # rich.progress.Progress while a run shows its bar
        self._task = None
        self._kind = "standard"  # the run's kind (RunStarted): how its phases are worded

    def _print(self, text: str) -> None:
        text = printable(text, keep_newlines=True)  # names and messages come from configs and run folders
        if self._bar is not None:
            self._bar.console.print(text, markup=False, highlight=False, soft_wrap=True)
        else:
            self.stream.write(text + "\n")
            self.stream.flush()

    def _start_bar(self, total: int) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn

        self._bar = Progress(TextColumn("{task.description}"), BarColumn(bar_width=30), TaskProgressColumn(),
                             TextColumn("ETA {task.fields[eta]}"), console=Console(file=self.stream),
                             transient=True, auto_refresh=True, refresh_per_second=4)
        self._bar.start()
        self._task = self._bar.add_task("starting", total=max(total, 1), eta="--:--")

    def close(self) -> None:
        """Take the live bar off the terminal (a run that ended without RunFinished, an interrupt)."""
        self._stop_bar()

    def _stop_bar(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = self._task = None

    def handle(self, ev) -> None:
        if isinstance(ev, LogMessage):
            self._print(f"[{ev.level}] {ev.text.rstrip()}")
            return
        if isinstance(ev, RunStarted):
            self.eta.start(ev)
            self._kind = ev.kind
        elif isinstance(ev, Progress):
            self.eta.update(ev)
        if self.quiet:
            return
        if isinstance(ev, RunStarted):
            verb = "resuming" if ev.resumed else "running"
            self._print(f"{verb} {ev.name} on {ev.device}: arms {', '.join(ev.arms)}; seeds "
                        f"{', '.join(map(str, ev.seeds))}\n  -> {ev.run_dir}")
            if self.tty:
                self._start_bar(ev.total_steps)
        elif isinstance(ev, Progress) and self._bar is not None:
            what = phase_text(self._kind, ev.phase, ev.layer, ev.epoch, ev.epochs)
            left = self.eta.seconds_left()
            self._bar.update(self._task, completed=ev.done_steps, total=max(ev.total_steps, 1),
                             description=printable(f"{ev.arm} seed {ev.seed}: {what}"),
                             eta=_fmt_eta(left if left is not None else float("nan")))
        elif isinstance(ev, PretrainEpoch):
            self._print(f"  {ev.arm:>5} seed {ev.seed} pre-train layer {ev.layer + 1} epoch {ev.epoch}: "
                        f"reconstruction {ev.recon_error:.4f}")
        elif isinstance(ev, EpochMetrics):
            self._print(f"  {ev.arm:>5} seed {ev.seed} epoch {ev.epoch:3d}: train nll {ev.train_nll:.4f} "
                        f"test nll {ev.test_nll:.4f} test error {ev.test_error:.2%}")
        elif isinstance(ev, OnlinePoint):
            self._print(f"  {ev.arm:>5} seed {ev.seed} after {ev.examples:>11,} examples: online error "
                        f"{ev.online_error:.2%} (last {ev.block:,}), test error {ev.test_error:.2%}")
        elif isinstance(ev, RunFinished):
            self._stop_bar()
            if ev.status == "refused" or ev.bad_input:  # the command's error line says it (exit 2)
                return
            self._print(f"{ev.status} in {ev.elapsed_s:.1f} s{': ' + ev.message if ev.message else ''}")


def online_summary(run_dir: Path) -> str:
    """An online run's end of stream per arm: online and test error, mean and std over seeds."""
    last: dict[tuple[str, int], OnlinePoint] = {}
    for p in read_online(run_dir):
        if (p.arm, p.seed) not in last or p.examples >= last[(p.arm, p.seed)].examples:
            last[(p.arm, p.seed)] = p
    lines = [f"{'arm':<6} {'seeds':>5} {'examples':>12} {'online error % (mean +- std)':>30} "
             f"{'test error % (mean +- std)':>28}"]
    for arm in dict.fromkeys(a for a, _ in last):
        pts = [p for (a, _), p in last.items() if a == arm]
        cells = []
        for values in ([p.online_error * 100 for p in pts], [p.test_error * 100 for p in pts]):
            v = np.array(values)
            cells.append(f"{v.mean():.2f} +- {v.std(ddof=1) if len(v) > 1 else 0.0:.2f}")
        lines.append(f"{arm:<6} {len(pts):>5} {min(p.examples for p in pts):>12,} {cells[0]:>30} {cells[1]:>28}")
    return "\n".join(lines)


def summary_table(run_dir: Path) -> str:
    """Final test error and NLL per arm: mean and std over seeds, from the run folder (an online run: the end of
    its stream)."""
    if read_online(run_dir):
        return online_summary(run_dir)
    rows = read_metrics(run_dir)
    patience = run_patience(run_dir)  # early stopping: the finals are each unit's selected epoch
    units = read_manifest(run_dir).get("units", {})
    diverged = sorted(k for k, v in units.items() if isinstance(v, dict) and v.get("status") == "diverged") \
        if isinstance(units, dict) else []
    finals = {arm: {s: e for s, e in per_seed.items() if f"{arm}/s{s}" not in diverged}
              for arm, per_seed in final_test_errors(rows, patience).items()}
    finals = {arm: per_seed for arm, per_seed in finals.items() if per_seed}
    final_nlls = final_test_nlls(rows, patience)
    lines = [f"{'arm':<6} {'seeds':>5} {'test error % (mean +- std)':>28} {'test NLL (mean +- std)':>24}"]
    for arm, per_seed in finals.items():
        errs = np.array(list(per_seed.values())) * 100
        nlls = np.array([final_nlls[arm][s] for s in per_seed])
        if len(errs) > 1:
            lines.append(f"{arm:<6} {len(errs):>5} {errs.mean():>19.2f} +- {errs.std(ddof=1):<5.2f} "
                         f"{nlls.mean():>15.4f} +- {nlls.std(ddof=1):<6.4f}")
        else:  # one seed has no spread to print ("+- 0.00" read as a measured one)
            lines.append(f"{arm:<6} {len(errs):>5} {errs.mean():>19.2f} (n = 1) {nlls.mean():>15.4f} (n = 1) ")
    if diverged:
        lines.append(f"diverged (left out above): {', '.join(diverged)}")
    manifest = read_manifest(run_dir)
    if manifest.get("status") in ("stopped", "failed"):
        lines.append(unfinished_note(str(manifest["status"]), rows, _planned_epochs(run_dir),
                                     [str(a) for a in manifest.get("arms", ())] or list(finals), patience))
    return "\n".join(lines)


def _planned_epochs(run_dir: Path) -> int | None:
    try:
        return read_config(RunFolder(run_dir)).finetune.epochs
    except (ConfigError, RunFolderError):
        return None


def unfinished_note(status: str, rows: list[dict[str, str]], planned: int | None, arms: list[str],
                    patience: int = 0) -> str:
    """What a stopped or failed run's numbers are: each arm's last completed fine-tuning epoch (the values above
    are read there; with early stopping its selected epoch so far), or that it completed none ("none 90.20 %" was
    once a stopped run's untrained epoch 0)."""
    epochs = final_epochs(rows, patience)
    of = f" of {planned}" if planned else ""
    parts = []
    for arm in arms:
        done = sorted(set(epochs.get(arm, {}).values()))
        if not done:
            parts.append(f"{arm}: no epoch completed")
        else:
            parts.append(f"{arm}: epoch {done[0]}{of}" if len(done) == 1 else f"{arm}: epochs {done[0]}-{done[-1]}{of}")
    where = "selected epoch so far (early stopping)" if patience else "last completed fine-tuning epoch"
    return f"{status}: values at each unit's {where} ({', '.join(parts)})"


def _drive(events: Iterable, printer: ProgressPrinter) -> str:
    """Print the events; returns the final status. A refused run folder raises RunFolderError (exit 2)."""
    status = "failed"
    try:
        for ev in events:
            printer.handle(ev)
            if isinstance(ev, RunFinished):
                status = ev.status
                if status == "refused":
                    raise RunFolderError(ev.message)
                if ev.bad_input:  # a bad input met mid-run (data, a full disk): one line, exit 2; the folder resumes
                    raise ConfigError(ev.run_dir, ev.message)
    finally:
        printer.close()
    return status


def _status_code(statuses: list[str]) -> int:
    if any(s == "failed" for s in statuses):
        return EXIT_FAILED
    if any(s == "stopped" for s in statuses):
        return EXIT_STOPPED
    if any(s == "diverged" for s in statuses):
        return EXIT_DIVERGED
    return EXIT_OK


def cmd_run(args: argparse.Namespace, out: TextIO) -> int:
    if args.help_config:
        out.write(config_mod.help_config() + "\n")
        return EXIT_OK
    if not args.config:
        raise UsageError("run: give a preset name or a .toml config (or --help-config)")
    # before torch is imported: refusals are fast
    cfg = load_config(args.config, {**parse_overrides(args.overrides), **execution_overrides(args)})
    from desktop_app.core.engine.preflight import PoolCache, check_inputs
    from desktop_app.core.engine.run import run_experiment
    from desktop_app.core.engine.sweep_plan import plan_runs, write_sweep_file

    workspace = args.workspace or default_workspace()
    plan = plan_runs(cfg, workspace, args.out)
    pools: PoolCache = {}
    for planned in plan:
        holder = is_locked(planned.run_dir)
        if holder is not None:
            raise RunFolderError(f"{planned.run_dir} is in use: {holder.describe()} is writing it")
        if RunFolder(planned.run_dir).holds_files():
            raise ConfigError("--out", f"{planned.run_dir} exists and is not empty; pick a new folder or "
                              "`basin resume` it")
        RunFolder(planned.run_dir).check_writable()  # a read-only workspace or --out: one line, before anything
        try:
            check_inputs(planned.config, pools)
        except ConfigError as exc:
            where = f" (in sweep variant {planned.label})" if planned.label else ""
            raise ConfigError(exc.field, exc.message + where) from None
    if args.check:
        out.writelines(f"ok: {printable(planned.config.name)} -> {printable(planned.run_dir)}\n" for planned in plan)
        return EXIT_OK
    write_sweep_file(cfg, args.out)
    printer = ProgressPrinter(sys.stderr, args.quiet)
    statuses = []
    for planned in plan:
        if planned.label:
            out.write(f"\n== {printable(planned.label)} ==\n")
        status = _drive(run_experiment(planned.config, None, planned.run_dir), printer)
        statuses.append(status)
        out.write(summary_table(planned.run_dir) + "\n")
        out.flush()
        if status not in ("completed", "diverged"):  # a diverged variant (say, a too-large lr) ends only itself
            break
    if args.out is not None:
        out.write(f"run folder: {printable(args.out)}\n")
    else:
        out.writelines(f"run folder: {printable(planned.run_dir)}\n" for planned in plan[: len(statuses)])
    return _status_code(statuses)


def cmd_resume(args: argparse.Namespace, out: TextIO) -> int:
    run_dir = args.run_dir
    folder = RunFolder(run_dir)
    if not folder.is_run():
        raise RunFolderError(f"{run_dir} is not a Basin run folder (no config.toml)")
    cfg = read_config(folder, validate=True)  # before torch is imported: a hostile config is refused at once
    if execution_overrides(args):
        cfg = cfg.with_overrides(execution_overrides(args)).validate()  # --workers / --backend: one line if bad
    from desktop_app.core.engine.preflight import check_inputs
    from desktop_app.core.engine.run import resume_experiment

    check_inputs(cfg)  # bad data or device: one line, exit 2, nothing written
    events = resume_experiment(run_dir, None, workers=args.workers, backend=args.backend, force=args.force,
                               seed_batch=args.seed_batch)
    status = _drive(events, ProgressPrinter(sys.stderr, args.quiet))
    out.write(summary_table(run_dir) + "\n")
    return _status_code([status])


def cmd_reproduce(args: argparse.Namespace, out: TextIO) -> int:
    from desktop_app.core import reproduce

    names = list(reproduce.CLAIMS) if args.claims == ["all"] else args.claims
    unknown = [n for n in names if n not in reproduce.CLAIMS]
    if unknown:
        raise ConfigError("claims", f"unknown claim {unknown[0]!r}; available: all, {', '.join(reproduce.CLAIMS)}")
    root = args.out or (default_workspace() / "reproduce")
    overrides, per_claim = claim_overrides(args.overrides, names)
    printer = ProgressPrinter(sys.stderr, args.quiet)
    results = []
    for name in names:
        out.write(f"== {name} ==\n")
        out.flush()
        try:
            result = reproduce.run_claim(name, root, reduced=args.reduced, device=args.device,
                                         on_event=printer.handle, execution=execution_overrides(args),
                                         overrides={**overrides, **per_claim.get(name, {})},
                                         finished_only=args.finished)
        except reproduce.ClaimIncomplete as exc:  # Ctrl-C or a failed unit: one line, the folders kept
            if args.finished:  # nothing of this claim has finished: said, and the next claim is read
                out.write(f"{one_line(str(exc))}\n\n")
                continue
            sys.stderr.write(f"basin: {one_line(str(exc))}\n")
            return EXIT_STOPPED if exc.status == "stopped" else EXIT_FAILED
        results.append(result)
        out.write(f"{result.verdict}: {result.title}\n{result.markdown}\n\n")
        out.flush()
    if args.report:
        from desktop_app.core.atomic import write_text_atomic

        if not args.no_figures:
            from desktop_app.report_figures import export_claim_figures

            figures = args.figures or args.report.parent / "results"
            export_claim_figures(results, figures, relative_to=args.report.parent)
            out.write(f"figures: {figures}\n")
        write_text_atomic(args.report, reproduce.render_report(
            results, reduced=args.reduced, notes=args.note, report=str(args.report), figures=not args.no_figures,
            claims=" ".join([*args.claims, *(f"--set {item}" for item in args.overrides),
                             *(["--finished"] if args.finished else [])])))
        out.write(f"report: {args.report}\n")
    return EXIT_OK


def cmd_presets(out: TextIO) -> int:
    from desktop_app.core.presets import list_presets, load_preset

    for name in list_presets():
        cfg = load_preset(name)
        first = cfg.description.strip().splitlines()[0] if cfg.description.strip() else ""
        out.write(f"{name:<18} {first}\n")
    return EXIT_OK


def _console(out: TextIO):
    from rich.console import Console

    tty = hasattr(out, "isatty") and out.isatty()
    return Console(file=out, width=None if tty else 250, highlight=False, markup=False, emoji=False,
                   color_system="auto" if tty else None)


MAX_WORD = 24  # in a terminal, a word of a `basin runs --table` cell up to this long is not broken across lines
MAX_WIDTH = 2000  # `basin runs --table` into a file or a pipe: lines up to this wide (one row, one line)


def cmd_runs_table(folder: Path, out: TextIO) -> int:
    """The Runs pane's table (core/lab/run_table.py) in the terminal; cells are plain text (no markup) with every
    control character escaped (``printable``: a run's name or note could hold a clear-screen sequence)."""
    from rich.table import Table
    from rich.text import Text

    from desktop_app.core.lab.run_table import ERROR_NOTE, load_table

    if not folder.is_dir():
        raise UsageError(f"{folder}: not a folder")
    table = load_table(folder)
    if not table.rows:
        kept = [sub for sub in ("full", "reduced") if (folder / sub).is_dir()]  # `basin reproduce --out` keeps them
        hint = f" (basin reproduce keeps its runs one level down: {', '.join(printable(folder / k) for k in kept)})" \
            if kept else ""
        out.write(f"no runs in {printable(folder)}{hint}\n")
        return EXIT_OK
    shown = [i for i, col in enumerate(table.columns) if not col.hidden]  # as the pane shows them by default
    date = next(i for i, col in enumerate(table.columns) if col.kind == "date")
    order = table.order(date, descending=True)  # newest first
    cells = [[printable(table.text(row, c)) for c in shown] for row in order]
    errors = any(table.columns[i].kind == "error" for i in shown)
    count = f"{len(table.rows)} run" + ("" if len(table.rows) == 1 else "s")
    grid = Table(title=Text(f"{count} in {printable(folder)}"), title_justify="left",
                 caption=Text(ERROR_NOTE) if errors else None, caption_justify="left")
    # cells wrap at spaces, never inside a word ("2026-12-0 / 6 19:41" at 250 columns): written to a file or a pipe
    # the table is as wide as its longest cells (up to MAX_WIDTH); in a terminal a column is at least its longest
    # word wide (up to MAX_WORD) when the words fit the terminal, and the date, wall time and seeds never wrap
    words = [max((len(w) for text in [table.columns[i].title, *(r[j] for r in cells)] for w in text.split()),
                 default=1) for j, i in enumerate(shown)]
    console = _console(out)
    fit = sum(min(w, MAX_WORD) + 3 for w in words) + 1 <= console.width
    for j, i in enumerate(shown):
        col = table.columns[i]
        grid.add_column(Text(printable(col.title)), overflow="fold", min_width=min(words[j], MAX_WORD) if fit else None,
                        no_wrap=col.kind in ("date", "wall", "seeds"))
    for r in cells:
        grid.add_row(*(Text(text) for text in r))
    if not console.is_terminal:
        wide = console.options.update_width(MAX_WIDTH)
        console.width = max(console.width, console.measure(grid, options=wide).maximum)
    console.print(grid)
    return EXIT_OK


def _diff_side(path: Path) -> ExperimentConfig:
    if path.is_dir():
        return read_config(RunFolder(path))
    if path.is_file():
        return config_mod.load(path, validate=False)
    raise UsageError(f"{path}: neither a run folder nor a config file")


def cmd_diff(args: argparse.Namespace, out: TextIO) -> int:
    """Field-by-field diff of two configs (core/config/diff.py): exit 0 with or without differences."""
    from rich.table import Table
    from rich.text import Text

    from desktop_app.core.config.diff import diff, short_value

    rows = diff(_diff_side(args.a), _diff_side(args.b))
    if not rows:
        out.write("no config fields differ\n")
        return EXIT_OK
    grid = Table(title=f"{len(rows)} config field{' differs' if len(rows) == 1 else 's differ'}", title_justify="left")
    for title in ("field", str(args.a), str(args.b)):
        grid.add_column(Text(printable(title)), overflow="fold")
    for key, va, vb in rows:  # config values come from files: control characters escaped
        grid.add_row(Text(printable(key)), Text("(absent)" if va is None else printable(short_value(va))),
                     Text("(absent)" if vb is None else printable(short_value(vb))))
    _console(out).print(grid)
    return EXIT_OK


def cmd_runs(args: argparse.Namespace, out: TextIO) -> int:
    """Every run in a workspace, one line each; everything read from the folders is printed through ``printable``
    (a manifest's status or a folder's name could hold terminal escape sequences)."""
    folder = args.dir or default_workspace()
    if args.table:
        return cmd_runs_table(folder, out)
    if not folder.is_dir():  # a mistyped path is an error, as with --table, not "no runs"
        raise UsageError(f"{folder}: not a folder")
    infos = list_runs(folder)
    if not infos:
        out.write(f"no runs in {printable(folder)}\n")
        return EXIT_OK
    out.write(f"{'created':<26} {'status':<10} {'seeds':>5}  {'final test error by arm':<40} folder\n")
    for info in infos:
        name = printable(info.path.name)
        if not info.readable:
            out.write(f"{'-':<26} {printable(info.status):<10} {'-':>5}  {'':<40} {name}: "
                      f"{printable(info.problem)}\n")
            continue
        errs = printable(", ".join(f"{a} {e:.2%}" for a, e in info.final_test_error.items()))
        status = printable(f"{info.status} (writing)" if info.writer else info.status)
        out.write(f"{printable(info.created):<26} {status:<10} {info.seeds:>5}  {errs:<40} {name}\n")
    return EXIT_OK


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    argv = list(sys.argv[1:] if argv is None else argv)
    from desktop_app.__main__ import opens_window, run_gui  # (the one rule, shared with `python -m desktop_app`)

    if opens_window(argv):
        return run_gui(argv)
    try:
        try:
            args = build_parser().parse_args(argv)
        except SystemExit as done:  # --help and --version print, then end here
            return int(done.code or 0)
        if args.command == "run":
            return cmd_run(args, out)
        if args.command == "resume":
            return cmd_resume(args, out)
        if args.command == "reproduce":
            return cmd_reproduce(args, out)
        if args.command == "presets":
            return cmd_presets(out)
        if args.command == "diff":
            return cmd_diff(args, out)
        return cmd_runs(args, out)
    except (ConfigError, UsageError, RunFolderError) as exc:
        sys.stderr.write(f"basin: error: {one_line(str(exc))}\n")
        return EXIT_USAGE
    except KeyboardInterrupt:
        sys.stderr.write("\nbasin: interrupted\n")
        return EXIT_STOPPED
    except BrokenPipeError:  # the reader went away (`basin presets | head`): stop quietly, as other tools do
        _silence_stdout()
        return 0


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush of a closed pipe raises nothing."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout is no real file (a test's StringIO)
        pass


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
