"""Mutation testing of Basin's scientific core, one module at a time (issue 29; docs/TESTING.md).

Why a driver around mutmut: mutmut reads one ``[tool.mutmut]`` table from the project's pyproject.toml, but each
module here has its own small set of tests that should kill its mutants, and the machines this runs on are small
and shared. So for every module in ``MODULES`` (the one list to update when a file moves) the driver copies the
project into ``build/mutation/<module>/`` with that module's table, runs ``mutmut run`` there under ``nice`` with
one worker, and reads mutmut's per-mutant results back. The worktree is never touched.

``--sample N`` runs a fixed, seeded sample of N mutants per module (mutmut mutant names, drawn with
``random.Random(SAMPLE_SEED)``), for a session that cannot afford every mutant; the summary says so.

The summary (``build/mutation/summary.md`` and ``summary.json``) gives per module: mutants tried, killed,
survived, untested ("no tests": mutmut found no selected test calling that function), timeouts, and the kill rate
(killed + timeout over all tried minus the mutants listed in ``EQUIVALENT``), then every survivor's diff.

    python tools/mutation.py                     # every module, every mutant
    python tools/mutation.py stats greedy        # some modules
    python tools/mutation.py --sample 40 unit    # a seeded sample of 40 mutants
    python tools/mutation.py --list              # the modules and their tests
    python tools/mutation.py --report            # summarise the last runs again, running nothing
    python tools/mutation.py --recheck stats     # after adding tests: run the last survivors again
    python tools/mutation.py --recheck --more 40 stats   # ... and 40 mutants a cut-short run did not reach
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import random
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "build" / "mutation"
SAMPLE_SEED = 29  # the number: a fixed sample, so two runs of --sample N try the same mutants


@dataclass(frozen=True)
class Module:
    """A module under mutation: the source files mutated and the fast tests that should kill their mutants
    (pytest arguments: files, ``file::test`` ids or ``-k`` expressions)."""

    sources: tuple[str, ...]
    tests: tuple[str, ...]
    functions: tuple[str, ...] = ()  # mutmut mutant-name globs to keep (empty: every function of the sources)
    skip: tuple[str, ...] = ()  # mutant-name globs to leave out (another module runs them)

    def selects(self, mutant: str) -> bool:
        keep = not self.functions or any(fnmatch.fnmatchcase(mutant, p) for p in self.functions)
        return keep and not any(fnmatch.fnmatchcase(mutant, p) for p in self.skip)


# the tests of the seed batch's stacked steps (fine-tuning and dense pre-training, each seed against its own net)
STACKED_TESTS = (
    "tests/core/test_seed_batch.py::test_stacked_step_is_each_nets_own_step",
    "tests/core/test_seed_batch.py::test_per_seed_states_restart_a_stack_exactly",
    "tests/core/test_seed_batch.py::test_a_seed_with_a_non_finite_loss_leaves_the_stack_and_the_others_go_on",
    "tests/core/test_seed_batch.py::test_seeds_left_in_a_stack_keep_their_own_weights_and_optimizer_state",
    "tests/core/test_seed_batch.py::test_stacked_pretraining_is_each_seeds_own",
    "tests/core/test_seed_batch.py::test_seeds_left_in_a_stacked_pretraining_keep_their_own_state_and_step_on_unchanged",
    "tests/core/test_seed_batch.py::test_a_seed_whose_weight_penalty_overflows_leaves_the_stack",
    "tests/core/test_seed_batch.py::test_a_stack_of_no_nets_is_refused_and_a_seeds_optimizer_state_is_a_snapshot",
    "tests/core/test_seed_batch.py::test_a_stacked_rbms_reconstruction_error_uses_its_units_visible_mean",
    "tests/core/test_seed_batch.py::test_a_dropout_stacks_predictions_are_each_seeds_own_eval_mode_logits",
    "tests/core/test_seed_batch.py::test_a_stacked_daes_divergence_is_each_seeds_own",
    "tests/core/test_seed_batch.py::test_a_stacked_rbms_divergence_is_each_seeds_own",
    "tests/core/test_seed_batch.py::"
    "test_a_seed_leaves_with_its_own_cross_entropy_and_a_stack_all_of_whose_seeds_diverge_is_empty",
    "tests/core/test_seed_batch.py::test_the_seeds_left_when_one_leaves_a_dropout_stack_step_with_their_own_masks",
    "tests/core/test_bottom_layers.py::test_a_seed_batch_pre_trains_the_same_bottom_layers",
    "tests/core/test_unit_persistence.py::test_stacked_dae_check_finds_weights_a_step_left_non_finite",
)

# the unit's science functions (its loops, resume, end of epoch, divergence, the resume-state checks)
UNIT_SCIENCE = (
    *(f"desktop_app.core.training.unit.{f}__mutmut_*" for f in (
        "x_minibatches", "x_unit_steps", "xǁUnitRunǁskip_pretrained", "xǁUnitRunǁfinetune_start",
        "xǁUnitRunǁbegin", "xǁUnitRunǁ_finetune", "xǁUnitRunǁend_of_epoch", "xǁUnitRunǁpretrain_item",
        "xǁUnitRunǁpretrain_phase", "xǁUnitRunǁ_pretrain", "xǁUnitRunǁ_train", "xǁUnitRunǁdiverged",
        "xǁUnitRunǁ_save_latest")),
    *(f"desktop_app.core.training.checkpoints.{f}__mutmut_*" for f in (
        "x__resume_state_problem", "x_verify_resume_states", "x_read_resume_state")),
)

# The one list to update when the core's files move (issue 24's rooms): module name -> sources and tests.
MODULES: dict[str, Module] = {
    "stats": Module(("desktop_app/core/stats.py",), (
        "tests/core/test_stats.py", "tests/core/test_smoothing.py",
        # a subprocess importing Basin (a test that scipy stays unimported) has no place in a mutation list
        "--deselect", "tests/core/test_stats.py::test_an_interval_over_seeds_does_not_import_scipy")),
    # the RBM's training (CD-k, Gibbs chain, the pre-trainer); the exact-likelihood functions of small RBMs
    # (free_energy, exact_log_partition, exact_ll_gradient, ...) are the tests' oracle, not run in Basin's training
    "rbm": Module(("desktop_app/core/pretraining/rbm.py",), ("tests/core/test_pretraining_rbm.py",),
                  ("*.x_cd_gradient__mutmut_*", "*.x__gibbs__mutmut_*", "*ǁRBMPretrainerǁ__init____mutmut_*",
                   "*ǁRBMPretrainerǁ_hidden_probs__mutmut_*", "*ǁRBMPretrainerǁ_visible_mean__mutmut_*",
                   "*ǁRBMPretrainerǁ_init_chain__mutmut_*", "*ǁRBMPretrainerǁ_update__mutmut_*",
                   "*ǁRBMPretrainerǁ_error_sum__mutmut_*")),
    "autoencoder": Module(
        ("desktop_app/core/pretraining/autoencoder.py", "desktop_app/core/pretraining/dae.py"),
        ("tests/core/test_pretraining_dae.py",
         # the base's stride argument only matters to its conv subclass
         "tests/core/test_pretraining_cae.py::test_the_stride_argument_covers_a_layer_built_with_the_default"),
    ),
    "cae": Module(("desktop_app/core/pretraining/cae.py",), ("tests/core/test_pretraining_cae.py",)),
    "training": Module(
        ("desktop_app/core/training/step.py",),
        ("tests/core/test_training_steps.py", "tests/core/test_divergence.py", "tests/core/test_properties.py",
         "tests/core/test_engine.py::test_metrics_match_an_independent_evaluation",
         "tests/core/test_seed_batch.py::test_stacked_step_is_each_nets_own_step",
         "tests/core/test_gpu_path.py::test_resumed_adam_step_counters_go_back_to_the_cpu"),
    ),
    # the seed batch's stacked steps: fine-tuning (dense_step.py, all of it) and the dense pre-trainers stacked
    # (StackedDAE, StackedRBM and their base); the conv stack (StackedCAE) and the greedy driver are left out
    "stacked": Module(
        ("desktop_app/core/training/dense_step.py", "desktop_app/core/seedbatch/pretrain.py"),
        STACKED_TESTS,
        ("desktop_app.core.training.dense_step.*", "desktop_app.core.seedbatch.pretrain.xǁStackedDAEǁ*",
         "desktop_app.core.seedbatch.pretrain.xǁStackedRBMǁ*", "desktop_app.core.seedbatch.pretrain.xǁ_Stackedǁ*"),
    ),
    "greedy": Module(
        ("desktop_app/core/training/greedy.py",),
        ("tests/core/test_bottom_layers.py", "tests/core/test_properties.py"),
    ),
    # the unit's science: step counts, where a resumed unit starts (optimizer state, epoch, pre-trained layers and
    # steps counted), the pre-training and fine-tuning loops, the end of an epoch (metrics, early stopping, the
    # storage policy's snapshots), divergence, the deferred latest.pt, and the checks of a resume state read from
    # a file; the rest of the two files (data placement, progress and timing, filters, checkpoint
    # listing/export/safetensors, shape checks) is left out, docs/TESTING.md counts it
    "unit": Module(
        ("desktop_app/core/training/unit.py", "desktop_app/core/training/checkpoints.py"),
        ("tests/core/test_properties.py", "tests/core/test_checkpoints.py", "tests/core/test_divergence.py",
         "tests/core/test_engine.py::test_events_and_run_folder", "tests/core/test_early_stopping.py",
         "tests/core/test_unit_persistence.py", "tests/core/test_storage_policy.py",
         "tests/security/test_hostile_early_stop.py", "tests/security/test_runfolders.py"),
        UNIT_SCIENCE,
    ),
    # the rest of the two files: data placement, progress and timing, filters, checkpoint listing, export and
    # safetensors reading, shape checks (every mutant the unit module leaves out)
    "unit_rest": Module(
        ("desktop_app/core/training/unit.py", "desktop_app/core/training/checkpoints.py"),
        ("tests/core/test_properties.py", "tests/core/test_checkpoints.py", "tests/core/test_divergence.py",
         "tests/core/test_engine.py::test_events_and_run_folder", "tests/core/test_early_stopping.py",
         "tests/core/test_unit_persistence.py", "tests/core/test_storage_policy.py",
         "tests/security/test_hostile_early_stop.py", "tests/security/test_runfolders.py",
         "tests/core/test_gpu_path.py"),
        skip=UNIT_SCIENCE,
    ),
    # in-process tests only: a test that starts ``python -m desktop_app`` runs the unmutated package in its child
    # and made mutmut's first, clean test run fail
    "metrics": Module(("desktop_app/core/runfolder/metrics.py",), ("tests/core/test_metrics_rows.py",)),
    "rules": Module(("desktop_app/core/reproduce/rules.py",), ("tests/core/test_reproduce_rules.py",)),
    # the CSV exports of the panels: each live panel's data_table (and the band statistics it exports), and the
    # export module that writes them; the panels' drawing code is not under test here
    "exports": Module(
        ("desktop_app/ui/exports.py", "desktop_app/ui/panels/curves.py", "desktop_app/ui/panels/summary.py",
         "desktop_app/ui/panels/trajectory.py", "desktop_app/ui/panels/filters.py", "desktop_app/ui/panels/online.py"),
        ("tests/ui/test_panels_csv.py", "tests/ui/test_exports.py", "tests/ui/test_panels_export.py",
         "tests/ui/test_compare.py"),
        # the CSV: what each panel exports, the band statistics, and the file written (the bundle's folder, README,
        # copied run files and metadata lines are left out: they are not a CSV's columns)
        ("desktop_app.ui.exports.x_export_panel__mutmut_*", "*data_table__mutmut_*", "*_comparison_table__mutmut_*",
         "desktop_app.ui.panels.curves.x_summarise__mutmut_*"),
    ),
    # the functions decorated ``@torch.no_grad()``, which mutmut mutates only as the ``with`` body the driver
    # rewrites them to (``undecorate_no_grad``): evaluation, probe outputs, online scoring, the layer inputs of greedy
    # pre-training, the RBM's CD gradient and update, reconstruction errors, and the stacked steps' updates
    "no_grad": Module(
        ("desktop_app/core/training/step.py", "desktop_app/core/training/steppers.py",
         "desktop_app/core/training/greedy.py", "desktop_app/core/training/dense_step.py",
         "desktop_app/core/pretraining/autoencoder.py", "desktop_app/core/pretraining/base.py",
         "desktop_app/core/pretraining/rbm.py", "desktop_app/core/seedbatch/pretrain.py"),
        ("tests/core/test_training_steps.py", "tests/core/test_engine.py::test_metrics_match_an_independent_evaluation",
         "tests/core/test_online.py::test_recorded_online_error_equals_an_independent_recomputation",
         "tests/core/test_online.py::test_each_example_is_scored_in_eval_mode_before_the_plain_step_trains_on_it",
         "tests/core/test_bottom_layers.py", "tests/core/test_properties.py", "tests/core/test_pretraining_rbm.py",
         "tests/core/test_pretraining_dae.py", "tests/core/test_pretraining_cae.py",
         *(t for t in STACKED_TESTS if "test_bottom_layers" not in t)),
        tuple(f"desktop_app.core.{f}__mutmut_*" for f in (
            "training.step.x_evaluate", "training.step.x_probe_outputs", "training.steppers.x_online_mistakes",
            "training.greedy.x_layer_inputs", "training.dense_step.xǁStackedMLPǁwrite_to",
            "training.dense_step.xǁStackedMLPǁpredict", "training.dense_step.xǁStackedMLPǁstep",
            "pretraining.autoencoder.xǁDenoisingAutoencoderǁ_error_sum",
            "pretraining.base.xǁLayerPretrainerǁreconstruction_error", "pretraining.rbm.x_cd_gradient",
            "pretraining.rbm.xǁRBMPretrainerǁ_update", "pretraining.rbm.xǁRBMPretrainerǁ_error_sum",
            "seedbatch.pretrain.xǁ_Stackedǁwrite_back", "seedbatch.pretrain.xǁStackedDAEǁ_update",
            "seedbatch.pretrain.xǁStackedRBMǁ_update", "seedbatch.pretrain.xǁStackedRBMǁwrite_back")),
    ),
    # the seed batch's conv path: the stacked conv step (conv.py, all of it), the stacked CAE, and the greedy driver
    # that pre-trains a stack layer by layer (with the helpers that feed each layer the trained layer below)
    "stacked_conv": Module(
        ("desktop_app/core/seedbatch/conv.py", "desktop_app/core/seedbatch/pretrain.py"),
        ("tests/core/test_seed_batch_conv.py", "tests/core/test_seed_batch_greedy.py",
         *(f"tests/core/test_seed_batch.py::test_{t}" for t in (
            "stacked_pretraining_is_each_seeds_own",
            "seeds_left_in_a_stacked_pretraining_keep_their_own_state_and_step_on_unchanged",
            "a_batch_of_4_gives_each_seed_its_own_numbers_and_files")),
         "tests/core/test_bottom_layers.py::test_a_seed_batch_pre_trains_the_same_bottom_layers"),
        ("desktop_app.core.seedbatch.conv.*", "desktop_app.core.seedbatch.pretrain.xǁStackedCAEǁ*",
         *(f"desktop_app.core.seedbatch.pretrain.x_{f}__mutmut_*" for f in (
             "_per_seed", "_max_abs", "_layer_inputs", "_keep", "_rows", "stacked_greedy_pretrain"))),
    ),
    # the analysis panels' CSV exports (and HParams'): each data_table and the helpers whose numbers it exports,
    # against tests that read the file back and check every column against the items drawn and a computation made
    # in the test from the run folder (tests/ui/test_analysis_csv.py); the drawing code is not under test here
    "analysis_exports": Module(
        tuple(f"desktop_app/ui/panels/{name}.py" for name in (
            "landscape", "interpolation", "function_space", "pitfall", "output_variance", "hparams")),
        ("tests/ui/test_analysis_csv.py",
         "tests/ui/test_hparams.py::test_hparams_csv_every_column_is_the_plot_drawn_and_the_runs_metrics"),
        ("*data_table__mutmut_*", "desktop_app.ui.panels.output_variance.x_log_cis__mutmut_*",
         "desktop_app.ui.panels.pitfall.x_error_kind__mutmut_*",
         "desktop_app.ui.panels.pitfall.x_kind_points__mutmut_*",
         "desktop_app.ui.panels.pitfall.x_correlations__mutmut_*",
         "desktop_app.ui.panels.interpolation.xǁInterpolationPanelǁseries__mutmut_*",
         "desktop_app.ui.panels.function_space.xǁFunctionSpacePanelǁarm_points__mutmut_*"),
    ),
}

# Mutants judged equivalent (no input can tell them from the original): mutant name -> why. They are left out of
# the kill rate and listed in docs/TESTING.md.
_BOX_DTYPE = ("box_stats without dtype=float64: min, max and the fence comparisons are exact in any real dtype, "
              "np.percentile interpolates float32 and integer input in float64, and float() makes every result "
              "float64 (test_seed_statistics_of_float32_values_are_computed_in_float64 passes on it)")
_FOLD = ("the folded SGD/momentum update switched off (for all, or for momentum): the explicit gradients and "
         "torch's fused optimizer compute the same step up to float reassociation, which is the tolerance every "
         "stacked-vs-alone test holds; the fold is a speed path (bench/seed_batch.py), not a result")
_CPU = ("the device argument dropped (None): equivalent on a machine without a GPU, where every tensor and "
        "generator is on the CPU, which None means (on a GPU the pre-training would fail or run on the CPU: only "
        "a run on a GPU, such as the cuda-marked tests of tests/core/test_gpu_path.py, can show it)")
_FLUSH_NONE = "add_rows(..., flush=None) instead of False: RunWriter.add_rows only tests `if flush:`, and None is false"
_EMPTY_CELL = ("a metrics row's empty cell (a pre-training row's nll or error, a fine-tuning row's recon_error) "
               "written under another key: the rows' one reader, rows_to_csv, writes each metrics column as "
               "row.get(column, '') and ignores other keys, so the file is the same")
_ABSENT_FIELD = ("a lock file's missing 'started' or 'proc_start' read as None (default None, or left out) "
                 "instead of 0.0 or '': read_lock then takes a value of the wrong type as unknown, which is that "
                 "same 0.0 or ''")
EQUIVALENT: dict[str, str] = {
    **{f"desktop_app.core.training.greedy.x_greedy_pretrain__mutmut_{i}": _CPU for i in (7, 36, 73)},
    **{f"desktop_app.core.training.step.x_load_optimizer_state__mutmut_{i}": (
        "the loop that moves a step counter off the GPU back to the CPU changed: without a GPU no counter is ever "
        "anywhere but the CPU, so the loop body never runs (misplaced_steps itself is tested with meta tensors, "
        "which cannot be copied back; only a GPU run can hold this line)") for i in (3, 4, 5)},
    **{f"desktop_app.core.training.step.x_finetune_step__mutmut_{i}": (
        "zero_grad(set_to_none=None or False): the gradients are zeroed instead of dropped, and backward adds the same "
        "gradient into the zeros, since every parameter of a net is in every step's graph; None only saves a "
        "kernel and memory") for i in (26, 27)},
    "desktop_app.core.training.unit.xǁUnitRunǁskip_pretrained__mutmut_12": (
        "done_steps = instead of +=: both callers (UnitRun._pretrain, the seed batch's stacked pre-training) call "
        "it right after begin, before the unit counted any step, so the sum starts from 0"),
    "desktop_app.core.training.unit.xǁUnitRunǁskip_pretrained__mutmut_23": (
        "_pt_started = None instead of False: it is only read as `not self._pt_started`"),
    **{f"desktop_app.core.training.unit.xǁUnitRunǁskip_pretrained__mutmut_{i}": (
        "the next layer taken from every target instead of the bottom_layers ones (bottom None, or left out: 0, "
        "all): they differ only once all the bottom layers are done, when nothing is pre-trained (no "
        "control.checkpoint, no Progress) before fine-tuning's end_of_epoch(0) sets where the unit is; a seed "
        "batch skips that group last and fine-tunes it through finetune_start, which sets it too "
        "(test_a_resumed_bottom_k_unit_with_its_k_layers_done_stopped_at_once_reports_finetune passes on both)")
       for i in (28, 31)},
    "desktop_app.core.training.unit.xǁUnitRunǁdiverged__mutmut_2": (
        "done_steps = None instead of total_steps: nothing reads a diverged unit's count again (its last events are "
        "the LogMessage and UnitFinished; a seed batch's stop skips ended seeds), and the run's bar moves past the "
        "unit on its UnitFinished (engine/run.py _unit_finished)"),
    "desktop_app.core.training.unit.xǁUnitRunǁpretrain_item__mutmut_30": _FLUSH_NONE,
    **{f"desktop_app.core.training.unit.xǁUnitRunǁpretrain_item__mutmut_{i}": _EMPTY_CELL for i in (51, 52, 54, 55)},
    "desktop_app.core.training.unit.xǁUnitRunǁpretrain_item__mutmut_80": (
        "_pt_started = None instead of False after a layer: it is only read as `not self._pt_started`"),
    **{f"desktop_app.core.training.unit.xǁUnitRunǁ_finetune__mutmut_{i}": _CPU for i in (40, 58)},
    **{f"desktop_app.core.training.unit.xǁUnitRunǁ_save_latest__mutmut_{i}": (
        "the resume state's 'torch_rng' written under another key: nothing reads it (every fine-tuning epoch reseeds "
        "the default generator from derive_seed, which is how a resumed unit draws the same masks)") for i in (11, 12)},
    **{f"desktop_app.core.training.unit.xǁUnitRunǁpretrain_phase__mutmut_{i}": (
        "ft_epoch <= 0 / < 1 instead of < 0: a state at fine-tuning epoch 0 sets layers_done to 10**6, so _pretrain "
        "skips every layer (greedy_pretrain's `j < layers_done`) and skip_pretrained counts the same pre-training "
        "minibatches the else branch adds") for i in (5, 6)},
    **{f"desktop_app.core.training.unit.xǁUnitRunǁpretrain_phase__mutmut_{i}": (
        "the else branch also taken by the none arm: its total is unit_steps(cfg, 'none', ...) itself, so it adds 0")
       for i in (12, 13)},
    "desktop_app.core.training.unit.xǁUnitRunǁpretrain_phase__mutmut_14": (
        "done_steps = instead of +=: pretrain_phase runs right after begin, which leaves an unfinished unit's count "
        "at 0"),
    **{f"desktop_app.core.training.unit.xǁUnitRunǁpretrain_phase__mutmut_{i}": (
        "unit_steps(cfg, 'none', n, None or 1) instead of 0: unit_steps reads the unlabelled count only for an arm "
        "that pre-trains") for i in (20, 27)},
    "desktop_app.core.training.unit.xǁUnitRunǁ_finetune__mutmut_111": (
        "return instead of break after an early stop: the epoch loop is the last statement of _finetune"),
    **{f"desktop_app.core.training.unit.xǁUnitRunǁend_of_epoch__mutmut_{i}": _EMPTY_CELL for i in (63, 64)},
    **{f"desktop_app.core.training.unit.xǁUnitRunǁend_of_epoch__mutmut_{i}": (
        "zip(('train', 'valid', 'test'), (tr, va, te)) without strict=True: two literal 3-tuples")
       for i in (70, 73, 80)},
    "desktop_app.core.training.unit.xǁUnitRunǁend_of_epoch__mutmut_84": _FLUSH_NONE,
    **{f"desktop_app.core.training.unit.xǁUnitRunǁbegin__mutmut_{i}": _CPU for i in (4, 15)},
    "desktop_app.core.training.unit.xǁUnitRunǁ__init____mutmut_7": _CPU,
    "desktop_app.core.training.unit.x_prepare_data__mutmut_30": (
        "n_lab > n_unl instead of >= for the base moved: at equal lengths the two are the same prefix of one storage "
        "(_prefix_views checked the offset, the row shape and the strides), so either is the same base"),
    **{f"desktop_app.core.training.unit.x_prepare_data__mutmut_{i}": (
        "train_x or unlabelled_x moved again in the loop after the base was cut: it is already on the device, where "
        ".to returns the tensor itself, still a view of the one base (test_a_units_data_is_placed_on_its_device_"
        "with_every_example holds the lengths, values and device)") for i in (34, 35, 36, 37)},
    "desktop_app.core.training.unit.x_prepare_data__mutmut_59": (
        "the probe's index tensor left on the CPU: torch indexes a tensor on any device with a CPU index tensor, and "
        "the result is on the indexed tensor's device (the probe rows are the same; 'meta' shows it)"),
    "desktop_app.core.training.unit.xǁUnitRunǁbegin__mutmut_29": (
        "ft_epoch starts at -2 instead of -1: every reader compares it with 0 (< 0, >= 0; the seed batch groups by "
        "it) or keeps the rows of epochs <= it, and fine-tuning epochs start at 0"),
    "desktop_app.core.training.unit.xǁUnitRunǁbegin__mutmut_37": (
        "done_steps = None for a unit that had completed: it sends no Progress (events() and the seed batch end it "
        "at once with its UnitFinished, and a batch's stop skips ended seeds)"),
    "desktop_app.core.training.unit.xǁUnitRunǁbegin__mutmut_43": (
        "state.get('wall_s', None) instead of 0.0: a missing wall time is then not a number, and the check after "
        "it gives 0.0, the default's value"),
    "desktop_app.core.training.unit.xǁUnitRunǁbegin__mutmut_45": (
        "state.get('wall_s') without the 0.0 default: a missing wall time is then None, not a number, and the "
        "check after it gives 0.0, the default's value"),
    "desktop_app.core.training.unit.xǁUnitRunǁbegin__mutmut_53": (
        "wall > 0 instead of >= 0: a wall time of exactly 0 is refused and replaced by 0.0, the same value"),
    **{f"desktop_app.core.training.unit.xǁUnitRunǁbegin__mutmut_{i}": (
        "a fine-tuning state's layers_done 11**6 or 10**7 instead of 10**6: any count from the config's 100 layers "
        "(MAX_LAYERS) up means every layer, in min() and in greedy_pretrain's `j < layers_done`") for i in (83, 84)},
    **{f"desktop_app.core.training.unit.xǁUnitRunǁbegin__mutmut_{i}": (
        "pretrain_targets without bottom_layers when trimming the rows on resume: the targets are bottom-up and the "
        "bottom k are their prefix, so a pre-training state's done layers are the same, and a fine-tuning state's "
        "last target only bounds rows that exist for the layers pre-trained") for i in (103, 106)},
    **{f"desktop_app.core.training.checkpoints.x_read_resume_state__mutmut_{i}": _CPU for i in (11, 13)},
    "desktop_app.core.training.checkpoints.x__resume_state_problem__mutmut_54": (
        "state.get('layers_done', 1) instead of 0 inside is_int: the default is only tested for being an integer, "
        "and 0 and 1 both are (the value used later is read again by UnitRun.begin with its own default)"),
    "desktop_app.core.training.checkpoints.x__is_safetensors__mutmut_18": (
        "the header length unpacked signed ('<q'): lengths below 2**63 read the same, and one at or above it reads "
        "negative, below 2, where unsigned it is above MAX_SAFETENSORS_HEADER: not safetensors either way"),
    "desktop_app.core.training.checkpoints.x_model_shapes__mutmut_53": (
        "the model built to read its tensor shapes with seed 1 instead of 0: a seed draws the initial weights, never "
        "their names or shapes, and the weights are dropped"),
    "desktop_app.core.training.checkpoints.x__load_safetensors__mutmut_70": (
        "a missing 'basin' metadata read as json.loads('XX{}XX') instead of '{}': the JSONDecodeError is caught "
        "and gives meta = {}, what '{}' parses to"),
    "desktop_app.core.training.unit.x_minibatches__mutmut_2": (
        "`if n or True`: ceil(0 / batch) is 0, what the else gives"),
    **{f"desktop_app.core.pretraining.autoencoder.xǁDenoisingAutoencoderǁ_update__mutmut_{i}": (
        "zero_grad(set_to_none=None or False) before the update: the weight and both biases are in every step's "
        "graph, so backward writes the same gradient into zeros as into nothing") for i in (6, 7)},
    **{f"desktop_app.core.pretraining.autoencoder.xǁDenoisingAutoencoderǁ__init____mutmut_{i}": _CPU
       for i in (27, 30)},
    "desktop_app.core.pretraining.cae.xǁConvAEPretrainerǁoutput_padding__mutmut_2": (
        "weight.shape[+2:] instead of [-2:]: a conv weight is always (out, in, kh, kw), where both are (kh, kw)"),
    "desktop_app.core.pretraining.cae.xǁConvAEPretrainerǁreconstruct__mutmut_8": (
        "x.shape[+2] instead of [-2]: every caller passes an (N, C, H, W) batch, where index 2 is -2"),
    "desktop_app.core.pretraining.cae.xǁConvAEPretrainerǁ_objective_sum__mutmut_20": (
        "sparsity < 0 instead of <= 0: at sparsity 0 the penalty added is 0 times a finite sum"),
    "desktop_app.core.pretraining.cae.xǁConvAEPretrainerǁ__init____mutmut_48": (
        "pool defaults to 1 instead of 0 for a config without one: sparse_code treats 0 and 1 alike (pool <= 1: "
        "no pooling; a 1 x 1 max-pool would keep every value anyway)"),
    "desktop_app.core.pretraining.cae.xǁConvAEPretrainerǁdecode_logits__mutmut_6": (
        "h.shape[+2] instead of [-2]: the feature maps are always (N, C, H, W) (_input refuses other batches), "
        "where index 2 is -2"),
    "desktop_app.core.pretraining.cae.xǁConvAEPretrainerǁsparse_code__mutmut_2": (
        "pool < 1 instead of <= 1: at pool 1 the 1 x 1 max-pool and unpool give every value back in place"),
    **{f"desktop_app.core.pretraining.cae.xǁConvAEPretrainerǁsparse_code__mutmut_{i}": (
        "h.shape[+2:] instead of [-2:]: the feature maps are always (N, C, H, W), where both are (H, W)")
       for i in (5, 28)},
    **{f"desktop_app.core.pretraining.cae.xǁConvAEPretrainerǁsparse_code__mutmut_{i}": (
        "max_pool2d's / max_unpool2d's stride None or left out: torch then takes the kernel size, which is "
        "the stride given (pool)") for i in (11, 14, 15, 21, 25, 26)},
    "desktop_app.core.training.greedy.x_greedy_pretrain__mutmut_57": (
        "make_pretrainer without stride=block.spec.stride: the CAE takes the layer's own stride when it is not 1 "
        "(cae.py), and build_model makes every conv layer with stride=spec.stride, so the argument repeats it; "
        "dense pre-trainers ignore it"),
    "desktop_app.core.stats.x_box_stats__mutmut_4": _BOX_DTYPE,
    "desktop_app.core.stats.x_box_stats__mutmut_6": _BOX_DTYPE,
    "desktop_app.core.stats.x_wilcoxon_min_p__mutmut_7": (
        "min(2.0, 2 / 2**n) for n >= 1: 2 / 2**n <= 1 there, so the cap is never reached (n = 0 takes the else)"),
    "desktop_app.core.stats.x_wilcoxon_min_p__mutmut_16": 'float("NAN"): float() parses nan in any case',
    "desktop_app.core.stats.x_mean_ci__mutmut_32": 'float("NAN"): float() parses nan in any case',
    **{f"desktop_app.core.stats.x_mean_ci__mutmut_{i}": 'float("NAN"): float() parses nan in any case'
       for i in (23, 26, 29, 51, 54)},
    "desktop_app.core.runfolder.metrics.x_final_test_errors__mutmut_6": (
        'final_values(rows, "test") without "error": the column\'s default is "error"'),
    "desktop_app.core.stats.x_paired_difference__mutmut_27": (
        "len(d) >= 1 instead of len(d) > 1 before np.any(d != d[0]): one difference always equals itself"),
    "desktop_app.core.stats.x_paired_difference__mutmut_25": 'float("NAN"): float() parses nan in any case',
    "desktop_app.core.stats.x_paired_difference__mutmut_31": (
        "d != d[1] instead of d != d[0] behind len(d) > 1: all equal to the first iff all equal to the second"),
    "desktop_app.core.stats.x_paired_difference__mutmut_41": (
        "np.any(d != 1) instead of np.any(d != 0) where d is known not to be constant: both always hold there"),
    **{f"desktop_app.core.pretraining.rbm.x__gibbs__mutmut_{i}": (
        "the chain's initial visible mean/sample (None, or (hidden, visible) shaped): the config's k is at least 1 "
        "(RBMConfig.k, lo=1), so the first step overwrites both before they are read") for i in (2, 4)},
    **{f"desktop_app.core.pretraining.rbm.xǁRBMPretrainerǁ__init____mutmut_{i}": (
        "the stride argument (default 2, or not passed on): an RBM pre-trains dense layers only, where no stride "
        "is read") for i in (1, 13)},
    **{f"desktop_app.core.pretraining.rbm.xǁRBMPretrainerǁ__init____mutmut_{i}": _CPU for i in (36, 39)},
    "desktop_app.core.pretraining.rbm.xǁRBMPretrainerǁ__init____mutmut_38": (
        "the visible bias in torch's default dtype instead of the layer's: both are float32 in Basin (as _35)"),
    **{f"desktop_app.core.pretraining.rbm.xǁRBMPretrainerǁ_init_chain__mutmut_{i}": (
        "the clamp of a Bernoulli chain's start to [0, 1] loosened (no lower or upper bound, or 2): Bernoulli "
        "visible units are exactly the layers whose inputs lie in [0, 1] (gaussian_visible otherwise), so the "
        "clamp never changes a value") for i in (18, 19, 21, 23)},
    "desktop_app.core.pretraining.base.xǁLayerPretrainerǁreconstruction_error__mutmut_1": (
        "the default evaluation batch 1001 instead of 1000: it only splits the same sum of per-example errors "
        "differently; up to 1000 examples nothing changes, and on the 2000 of RECON_EVAL_SIZE the mean moves at "
        "float32 rounding (at most 1.2e-7 relative, DAE and RBM layers of 784 x 500, five data sets)"),
    "desktop_app.core.training.greedy.x_layer_inputs__mutmut_19": (
        "max(len(x), 2) instead of max(len(x), 1) chunk starts: below EVAL_BATCH (1000) both give the one start 0"),
    "desktop_app.core.pretraining.rbm.xǁRBMPretrainerǁ_update__mutmut_83": (
        "|dc| subtracted instead of added in the gradient check's total: dc is a difference of two means of sigmoid "
        "probabilities, so |dc| <= the hidden count (or NaN, NaN either way), and adding or taking it from a total "
        "near float overflow (its spacing there is 2e31) cannot change whether the total is finite, nor the inf or "
        "NaN the message prints (test_the_gradient_check_adds_the_parts_of_the_update holds |dW| + |db|)"),
    "desktop_app.core.pretraining.rbm.xǁRBMPretrainerǁ__init____mutmut_35": (
        "the RBM's visible bias in torch's default dtype instead of the layer's: both are float32 in Basin, which "
        "builds every net in the default dtype and never changes it"),
    "desktop_app.ui.panels.filters.xǁFiltersPanelǁdata_table__mutmut_65": (
        "i <= len(change) instead of i < len(change): i runs over the drawn tiles, and the change is computed "
        "for the same first max_filters units of the same layer, so i < len(change) always holds"),
    "desktop_app.core.pretraining.cae.xǁConvAEPretrainerǁ_objective_sum__mutmut_9": (
        "target.shape[+2] instead of [-2]: a conv layer's target is always (N, C, H, W), where index 2 is -2"),
    **{f"desktop_app.core.training.dense_step.xǁStackedNetǁkeep__mutmut_{i}": _CPU for i in (4, 7, 32)},
    **{f"desktop_app.core.training.dense_step.xǁStackedNetǁ_stack_states__mutmut_{i}": (
        "the fallback lookup of a parameter's state under str(i) changed (None or 'None'): every state a stack is "
        "built from is an optimizer's state_dict() (batch.py), or one read back by torch.load, whose keys are "
        "ints; where the int key is missing both lookups give the {} default") for i in (17, 23)},
    **{f"desktop_app.core.training.dense_step.xǁStackedMLPǁ_penalty__mutmut_{i}": _CPU for i in (4, 6)},
    "desktop_app.core.training.dense_step.xǁStackedMLPǁ_penalty__mutmut_7": (
        "the penalty's zeros made on weights[1]'s device instead of weights[0]'s: a stack's tensors are all on "
        "the one device of its nets"),
    "desktop_app.core.training.dense_step.xǁStackedNetǁ_stack_states__mutmut_36": (
        "v.clone() for every 0-D or non-tensor state value: SGD's and Adam's state values are all tensors "
        "(momentum_buffer; step, exp_avg, exp_avg_sq), so the else never runs"),
    **{f"desktop_app.core.training.dense_step.xǁStackedNetǁ_new_optimizer__mutmut_{i}": (
        "group['foreach'] = None written under another key: every state loaded comes from make_optimizer's "
        "optimizers (or the fused stack's own), whose groups already say foreach None") for i in (14, 15)},
    **{f"desktop_app.core.training.dense_step.xǁ_FoldedMomentumǁstate_dict__mutmut_{i}": (
        "the folded momentum's state dict with its (empty) param groups under another key: nothing reads them "
        "(load_state_dict and optimizer_state read 'state'; a seed's groups come from its template)")
       for i in (10, 11)},
    **{f"desktop_app.core.training.dense_step.xǁStackedMLPǁ__init____mutmut_{i}": _FOLD for i in (14, 19, 20)},
    **{f"desktop_app.core.training.dense_step.xǁStackedMLPǁparams__mutmut_{i}": (
        "zip(weights, biases) without strict=True: both lists are built from the same linears, one per layer")
       for i in (3, 6, 7)},
    "desktop_app.core.training.dense_step.xǁStackedNetǁoptimizer_state__mutmut_17": (
        "v.dim() > 1 instead of > 0 for the state split by seed: per-element state has its stacked parameter's "
        "shape, never 1-D; the step counts are 0-D"),
    "desktop_app.core.training.dense_step.xǁStackedNetǁoptimizer_state__mutmut_19": (
        "detach().cpu().clone() applied to non-tensor state values too: SGD's and Adam's state values are all "
        "tensors, so no other value reaches it"),
    "desktop_app.core.training.dense_step.xǁStackedNetǁ_stack_states__mutmut_35": (
        "a 0-D state value (Adam's step) not cloned into the stacked state: the states stacked are the "
        "state_dict() of the units' own optimizers, which are not stepped again once the stack takes over, and "
        "their templates give only param_groups afterwards, so sharing the count changes no result"),
    "desktop_app.core.training.dense_step.xǁStackedMLPǁ__init____mutmut_22": _FOLD,
    **{f"desktop_app.core.seedbatch.pretrain.xǁ_Stackedǁkeep__mutmut_{i}": _CPU for i in (4, 7)},
    **{f"desktop_app.core.training.dense_step.xǁStackedMLPǁ__init____mutmut_{i}": (
        "zip over the nets' linears without strict=True: the nets of one stack are built from the one model "
        "config of the run, so they have the same layers") for i in (27, 29, 31, 36, 38, 40)},
    "desktop_app.core.training.dense_step.xǁStackedMLPǁ__init____mutmut_42": (
        "last_logits starts as '' instead of None: it is read only after a step has set it"),
    **{f"desktop_app.core.training.dense_step.xǁStackedMLPǁ__init____mutmut_{i}": (
        "a fused SGD optimizer also built for the folded plain SGD: the fold does the update, the optimizer is "
        "never stepped, and plain SGD has no state to hand out or keep") for i in (44, 45)},
    "desktop_app.core.training.dense_step.xǁStackedNetǁ_stack_states__mutmut_28": (
        "v.dim() > 1 instead of > 0 for the state stacked by seed: per-element state has its parameter's shape, "
        "never 1-D; the step counts are 0-D"),
    "desktop_app.core.training.dense_step.xǁStackedNetǁkeep__mutmut_9": (
        "the index tensor put on params()[1]'s device instead of params()[0]'s: a stack's tensors are all made on "
        "the one device of its nets"),
    "desktop_app.core.training.dense_step.xǁStackedNetǁkeep__mutmut_25": (
        "v.dim() > 1 instead of > 0 for the optimizer state selected by seed: per-element state has its stacked "
        "parameter's shape, (K, in, out) or (K, 1, out), never 1-D; the step counts are 0-D"),
    "desktop_app.core.training.dense_step.xǁStackedMLPǁ__init____mutmut_15": _FOLD,
    "desktop_app.core.training.dense_step.xǁStackedMLPǁ__init____mutmut_21": _FOLD,
    **{f"desktop_app.core.seedbatch.pretrain.xǁStackedRBMǁ_update__mutmut_{i}": (
        "zip(trainers, v0) without strict=True where the persistent chains start: the step's first per-seed draw "
        "(h0, _per_seed two lines above) zips the same K rows with the same trainers strictly, so a mismatch "
        "raises there first") for i in (36, 39, 40)},
    "desktop_app.core.seedbatch.pretrain.xǁStackedRBMǁ_update__mutmut_45": (
        "mean_v = v = '' instead of None: the Gibbs loop sets both before anything reads them, and it runs k >= 1 "
        "times (RBMPretrainer refuses k < 1; the stack takes k from its first trainer)"),
    "desktop_app.core.seedbatch.pretrain.xǁStackedRBMǁ_update__mutmut_144": (
        "|gW| + |gb| - |gc| instead of + |gc| in the gradient total the watch checks: |gc| sums differences of "
        "sigmoid means (at most 2 per hidden unit; NaN only with gW NaN), so its sign changes neither whether the "
        "total is finite nor, when it is not, its value (inf stays inf, NaN stays NaN): only those reach a message"),
    **{f"desktop_app.core.training.dense_step.xǁStackedMLPǁwrite_to__mutmut_{i}": (
        "zip(linears, weights, biases) without strict=True: every caller writes a seed into one of the nets its "
        "stack was built from (batch.py: the group's u.model; DenseStep: its own model), layer for layer")
       for i in (4, 8, 10)},
    "desktop_app.core.training.dense_step.xǁStackedMLPǁstep__mutmut_83": (
        "the leaving branch taken at every checked step: with every loss finite, bad is {} and keep every position, "
        "so keep() reselects every seed in order and the index_selects give the same tensors (checked bit for bit, "
        "params and optimizer state, over SGD, momentum, Adam, dropout and L2); only slower"),
    **{f"desktop_app.core.training.dense_step.xǁStackedMLPǁstep__mutmut_{i}": (
        "torch.tensor(keep) without dtype=torch.long: keep is a non-empty list of Python ints, which torch.tensor "
        "makes int64 anyway") for i in (97, 100)},
    **{f"desktop_app.core.training.dense_step.xǁStackedMLPǁstep__mutmut_{i}": _CPU for i in (98, 101)},
    "desktop_app.core.training.dense_step.xǁStackedMLPǁstep__mutmut_150": (
        "full_like(g[..., :2], -1) as scatter_add_'s source instead of g[..., :1]: scatter_add_ reads the source "
        "only at the index's (K, B, 1) positions, so the same -1 is added at each label"),
    **{f"desktop_app.core.stats.x__betacf__mutmut_{i}": (
        "abs(d) / abs(c) >= tiny instead of > tiny: d and c are each 1 plus a double, which in double precision is "
        "0 or at least 2**-53 in magnitude (or NaN, false both ways), never exactly 1e-300") for i in (22, 59, 68)},
    "desktop_app.core.stats.x__betacf__mutmut_29": (
        "range(1, 100001) instead of 100_000: the fraction converges within 40 iterations for every t_sf input "
        "(df 3 to 1e10, t 0.01 to 100, counted), and a NaN argument gives NaN after either count"),
    "desktop_app.core.stats.x__betacf__mutmut_76": (
        "abs(d * c - 1.0) <= eps instead of < eps: d * c - 1 is exact (Sterbenz) and a multiple of 2**-53, so it is "
        "below 1e-16 exactly when it is 0, as with <="),
    **{f"desktop_app.core.stats.x__betainc__mutmut_{i}": (
        "the switch to 1 - I_{1-x}(b, a) moved a little ((a+1)/(a+b+2) with <=, +2 for +1, a-b for a+b, +3 for +2): "
        "near the switch both forms converge and are the same I_x(a, b); t_sf's results change only at its own "
        "rounding (at most 5e-11 relative, df 1 to 5000, t 1e-4 to 50, against scipy, where the original's own "
        "error reaches 1.3e-9)") for i in (22, 25, 27, 28)},
    "desktop_app.ui.panels.curves.xǁCurvesPanelǁ_comparison_table__mutmut_122": (
        "s.name.split()[+1] instead of [-1] for a pre-training series: its name is always 'layer N' (two words, "
        "_series_of), where index 1 is the last"),
    **{f"desktop_app.ui.panels.online.xǁOnlinePanelǁdata_table__mutmut_{i}": (
        "zip(examples, values) without strict=True: both come from one dict in RunStore.online_curve (its sorted "
        "keys and their values), so they always have the same length") for i in (17, 20, 21)},
    "desktop_app.ui.panels.curves.x_summarise__mutmut_28": (
        "simplefilter('ignore') for every warning instead of RuntimeWarning: nanmean, nanmin, nanmax and nanstd of "
        "float arrays warn only with RuntimeWarning (an all-NaN column, ddof >= n)"),
    "desktop_app.ui.panels.curves.x_summarise__mutmut_3": (
        "the empty-values branch not taken: values of size 0 are (seeds, 0) or (0, 0) matrices (metric_matrix, "
        "recon_matrix: no epoch yet), where ~np.all(np.isnan(values), axis=0) is the same empty mask"),
    "desktop_app.core.training.step.x_load_checkpoint__mutmut_8": (
        "torch.load without weights_only=True: it is torch's default since 2.6 (torch >= 2.13 is pinned); "
        "test_load_checkpoint_refuses_pickled_code passes on it. Kept explicit in the source on purpose."),
    **{f"desktop_app.core.training.checkpoints.x_open_checkpoint__mutmut_{i}": (
        "the head read as 10 bytes or the whole (size-bounded) file instead of 9: _is_safetensors looks at head[:9] "
        "only and head + the rest is the same bytes, so only the memory held while sniffing differs")
       for i in (10, 11)},
    "desktop_app.core.training.checkpoints.x__is_safetensors__mutmut_8": (
        "head[8:10] for head[8:9]: the head open_checkpoint sniffs is 9 bytes (fh.read(9)), so both are its last byte"),
    "desktop_app.core.training.checkpoints.x__load_safetensors__mutmut_32": (
        "the header length unpacked signed ('<q') after the check above bounded it by MAX_SAFETENSORS_HEADER "
        "(< 2**63), where signed and unsigned readings agree"),
    **{f"desktop_app.core.training.checkpoints.x__load_safetensors__mutmut_{i}": (
        "unreadable 'basin' metadata read as json.loads(None) or kept as None instead of {}: the TypeError is caught "
        "and None, like {}, is not a dict, so no unit field is taken either way") for i in (65, 67, 71)},
    "desktop_app.core.training.unit.x_prepare_data__mutmut_52": _CPU,
    "desktop_app.core.training.unit.xǁUnitRunǁ__init____mutmut_25": (
        "the last Progress taken as at 1.0 s instead of 0.0 s of perf_counter: it counts from boot (CLOCK_MONOTONIC), "
        "far above 1 s when a unit starts, so its first tick is due either way"),
    **{f"desktop_app.core.training.unit.xǁUnitRunǁ__init____mutmut_{i}": (
        "stopped_early starting None or True: end_of_epoch assigns it before each of its three reads (the unit's "
        "loop and the seed batch read it only after an end_of_epoch ran through)") for i in (37, 38)},
    # the analysis panels' CSVs (fifth session)
    **{f"desktop_app.ui.panels.{m}__mutmut_{i}": (
        "a zip over a result's fields without strict=True: the fields share a dimension in the result type's SHAPES "
        "(core/results.py), which the analysis builds together and the cache reader enforces (a file with unequal "
        "lengths is a miss: test_a_cache_entry_whose_fields_disagree_in_length_is_a_miss)")
       for m, ids in (("function_space.xǁFunctionSpacePanelǁdata_table", (36, 39, 40)),
                      ("output_variance.xǁOutputVariancePanelǁdata_table", (62, 65, 66)),
                      ("pitfall.xǁPitfallPanelǁdata_table", (60, 67, 68))) for i in ids},
    **{f"desktop_app.ui.panels.hparams.xǁHParamsPanelǁdata_table__mutmut_{i}": (
        "zip(..., strict=False) written as strict=None or left out: both mean strict=False") for i in (23, 27)},
    **{name: "float('NAN') is float('nan'): Python parses the name case-insensitively" for name in (
        "desktop_app.ui.panels.pitfall.x_correlations__mutmut_19",
        "desktop_app.ui.panels.pitfall.xǁPitfallPanelǁdata_table__mutmut_38")},
    **{f"desktop_app.ui.panels.pitfall.x_kind_points__mutmut_{i}": (
        "np.array of a list of Python ints without dtype=int: numpy makes it int64 (int) anyway, and the lists are "
        "never empty (setdefault(...).append builds each)") for i in (12, 14)},
    "desktop_app.ui.panels.pitfall.x_correlations__mutmut_6": (
        "the no-spread guard as ptp(x) == 0 and ptp(y) == 0: with one column constant scipy's pearsonr and "
        "spearmanr return NaN (a ConstantInputWarning), the NaN the guard returns (cases no-x-spread and "
        "no-y-spread of test_pitfall_csv_correlates_each_error_kind_over_its_own_points pass on it)"),
    # the seed batch's conv path and greedy driver (stacked_conv)
    "desktop_app.core.seedbatch.conv.xǁStackedCNNǁ_conv_orders__mutmut_3": (
        "the layout cache keyed without the channel count (shape[2:]): every input of a stack has the C its first "
        "conv's weights take (conv2d refuses another), so no two keys merge; the strides tell layouts apart"),
    "desktop_app.core.seedbatch.conv.xǁStackedCNNǁ_conv_orders__mutmut_6": (
        "the memory order read from two examples (x[:2]) instead of one: it is read from the strides of dims C, H, "
        "W, which a conv or pool output lays out the same for any batch size (checked: 1 to 3 channels, "
        "channels-last or not, kernels 1 and 3, 11 to 28 px), and a 1-example minibatch gives x[:1] either way"),
    **{f"desktop_app.core.seedbatch.conv.xǁStackedCNNǁ_conv_orders__mutmut_{i}": (
        "the probe conv without its bias (None or left out) or its stride: the order read is the memory format "
        "conv2d gives its output, which follows the input's and the kernel's layouts, not values or map sizes "
        "(larger maps here); orders that differ only in where a size-1 dim goes fill a mask in the same sequence")
       for i in (30, 34, 35)},
    **{f"desktop_app.core.seedbatch.conv.xǁStackedCNNǁ_mask__mutmut_{i}": (
        "the mask made in torch's default dtype instead of the activation's: both are float32 in Basin, which "
        "builds every net in the default dtype and never changes it") for i in (22, 25)},
    **{f"desktop_app.core.seedbatch.conv.xǁStackedCNNǁ_mask__mutmut_{i}": _CPU for i in (23, 26)},
    **{f"desktop_app.core.seedbatch.conv.xǁStackedCNNǁ{f}__mutmut_{i}": (
        "zip over the nets' (or a net's and the stack's) parameters without strict=True: every net of a stack and "
        "every net written to is built from the run's one model config, so they have the same parameters")
       for f, ids in (("__init__", (19, 21, 23)), ("write_to", (3, 6, 7))) for i in ids},
    **{f"desktop_app.core.seedbatch.conv.xǁStackedCNNǁforward__mutmut_{i}": (
        "the tests of x.dim() == 5 made always true: every data set is (N, C, H, W) images (data/imports.py "
        "reshapes (N, D) and (N, H, W) arrays), so a stack's x is always (K, B, C, H, W); orders computed without "
        "drawing are never read") for i in (10, 13, 18)},
    **{f"desktop_app.core.seedbatch.conv.xǁStackedCNNǁstep__mutmut_{i}": (
        "an empty mask list also without dropout (or True, >= 0): forward appends and reads masks only when "
        "dropout > 0, and dropout is never negative (ModelConfig lo=0)") for i in (3, 4)},
    "desktop_app.core.seedbatch.conv.xǁStackedCNNǁstep__mutmut_21": (
        "the leave path taken with every loss finite (not bool(None)): bad is then empty, keep is every position, "
        "and the stack, the minibatch and the masks are selected whole, so the redone forward gives the same losses "
        "(a cost, no result)"),
    **{f"desktop_app.core.seedbatch.conv.xǁStackedCNNǁstep__mutmut_{i}": (
        "the kept positions' index tensor without dtype=torch.long: keep is a non-empty list of Python ints (the "
        "step returns before when it is empty), which torch makes int64 anyway") for i in (35, 38)},
    **{f"desktop_app.core.seedbatch.conv.xǁStackedCNNǁstep__mutmut_{i}": _CPU for i in (36, 39)},
    **{f"desktop_app.core.seedbatch.pretrain.xǁStackedCAEǁkeep__mutmut_{i}": _CPU for i in (5, 8)},
    "desktop_app.core.seedbatch.pretrain.xǁStackedCAEǁkeep__mutmut_29": (
        "v.dim() > 1 instead of > 0 for the Adam state sliced by seed: per-element state has its stacked "
        "parameter's shape, (K, out, in, kh, kw), (K, out) or (K, in), never 1-D; the step counts are 0-D"),
    "desktop_app.core.seedbatch.pretrain.xǁStackedCAEǁkeep__mutmut_36": (
        "idx.to(None) instead of idx.to(v.device): idx is made on W's device, where the Adam state of W, c and b "
        "lives too, so the move was a no-op (to(None) returns idx)"),
    **{f"desktop_app.core.seedbatch.pretrain.xǁStackedCAEǁ_new_optimizer__mutmut_{i}": (
        "Adam without fused=True (torch's foreach or loop Adam): the same update formula, equal up to float "
        "reassociation, the tolerance of every stacked-vs-alone test (each seed's pre-trainer alone uses the "
        "unfused Adam); fused is a speed path") for i in (8, 11, 12)},
    **{f"desktop_app.core.seedbatch.pretrain.xǁStackedCAEǁ_objective__mutmut_{i}": (
        "conv2d / conv_transpose2d without t0.padding: Basin builds every conv layer without padding (models.py: "
        "nn.Conv2d(in, units, kernel, stride=...)), so t0.padding is (0, 0), the default") for i in (25, 54)},
    "desktop_app.core.seedbatch.pretrain.xǁStackedCAEǁ_objective__mutmut_38": (
        "h.shape[+2] instead of [-2]: the grouped feature maps are always (N, K*C, H, W), where index 2 is -2"),
    **{f"desktop_app.core.seedbatch.pretrain.x__per_seed__mutmut_{i}": (
        "zip(tensors, trainers) without strict=True: the tensors are the stack's (K, ...) minibatch and trainers its "
        "K pre-trainers, which keep() drops together") for i in (8, 11, 12)},
    **{f"desktop_app.core.seedbatch.pretrain.x_stacked_greedy_pretrain__mutmut_{i}": _CPU
       for i in (7, 61, 82, 101, 103)},
    "desktop_app.core.seedbatch.pretrain.x_stacked_greedy_pretrain__mutmut_53": (
        "make_pretrainer without stride=...: as greedy_pretrain__mutmut_57, the CAE takes the layer's own stride "
        "when it is not 1 and build_model makes every conv layer with stride=spec.stride; dense pre-trainers ignore "
        "it"),
    **{f"desktop_app.core.seedbatch.pretrain.x_stacked_greedy_pretrain__mutmut_{i}": (
        "zip(members, stacked.trainers) without strict=True: one trainer is made per member, and _keep drops the "
        "same positions from both") for i in (133, 136, 137)},
    "desktop_app.core.seedbatch.pretrain.x_stacked_greedy_pretrain__mutmut_153": (
        "_keep also called when every seed's epoch error was finite (<=): keeping every position selects the same "
        "tensors, trainers, rows and generators in the same order (StackedCAE reloads its Adam from its own state)"),
    # the lock file's reader (numbers of lock.py as of the mutlock fix: MAX_PID and _when moved read_lock's later ones)
    "desktop_app.core.runfolder.lock.x_read_lock__mutmut_24": (
        "decode('UTF-8') for decode('utf-8'): codec names are looked up case-insensitively, the same codec"),
    **{f"desktop_app.core.runfolder.lock.x_read_lock__mutmut_{i}": _ABSENT_FIELD for i in (38, 40, 46, 48)},
    "desktop_app.core.runfolder.lock.x__when__mutmut_8": (
        "0 < started instead of 0 <= started: they differ at 0 (and -0.0) only, which both read as 0.0 (unknown)"),
    "desktop_app.core.runfolder.lock.x_holder_alive__mutmut_5": (
        "an unreadable lock's age compared with FRESH_S by <= instead of <: they differ when the age is exactly "
        "FRESH_S to the float, which no run can hold (time.time() moves on between the mtime and the reading)"),
}


def mutmut_table(module: Module) -> str:
    def arr(items) -> str:
        return "[" + ", ".join(json.dumps(i) for i in items) + "]"

    return (
        "\n[tool.mutmut]\n"
        'source_paths = ["desktop_app"]\n'
        'also_copy = ["resources/"]\n'  # presets and the embedded digits, found beside desktop_app/
        f"only_mutate = {arr(module.sources)}\n"
        f"pytest_add_cli_args_test_selection = {arr(module.tests)}\n"
        'pytest_add_cli_args = ["-p", "no:cacheprovider", "-q", "-x"]\n'
        # torch is not fork-safe after it started threads: mutants run in processes forked from a clean server
        'process_isolation = "forkserver"\n'
        "use_git_change_detection = false\n"
        "debug = true\n"  # (without it mutmut 3.8 failed its stats run here, with the output swallowed)
    )


def prepare(name: str, module: Module) -> Path:
    """A fresh copy of the project with this module's mutmut table (a copy: mutmut writes mutants/ beside it)."""
    work = WORK / name
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache")
    for sub in ("desktop_app", "tests", "resources"):
        if (ROOT / sub).exists():
            shutil.copytree(ROOT / sub, work / sub, ignore=ignore)
    text = (ROOT / "pyproject.toml").read_text()
    (work / "pyproject.toml").write_text(text + mutmut_table(module))
    for source in module.sources:
        path = work / source
        code = undecorate_no_grad(path.read_text())
        if module.functions or module.skip:
            code = leave_unselected_alone(code, source, module.selects)
        path.write_text(code)
    return work


def undecorate_no_grad(code: str) -> str:
    """The copy's source with every ``@torch.no_grad()`` function written as a ``with torch.no_grad():`` body.

    Why: mutmut makes no mutant of a decorated function, and the core's evaluation, layer inputs and stacked
    updates are decorated so. For a function that is not a generator the two forms are the same code: the
    decorator enters the same context around the same body."""
    import libcst as cst  # mutmut's own parser (the optional extra `mutation`)
    import libcst.matchers as m

    no_grad = m.Decorator(decorator=m.Call(func=m.Attribute(value=m.Name("torch"), attr=m.Name("no_grad")), args=[]))

    class Undecorate(cst.CSTTransformer):
        def leave_FunctionDef(self, original: cst.FunctionDef, updated: cst.FunctionDef) -> cst.FunctionDef:
            if (len(updated.decorators) != 1 or not m.matches(updated.decorators[0], no_grad)
                    or not isinstance(updated.body, cst.IndentedBlock)
                    or m.findall(updated.body, m.Yield() | m.Await())):
                return updated
            body = list(updated.body.body)
            doc = body[:1] if body and m.matches(body[0], m.SimpleStatementLine(body=[m.Expr(m.SimpleString())])) \
                else []
            rest = body[len(doc):]
            block = cst.With(items=[cst.WithItem(cst.parse_expression("torch.no_grad()"))],
                             body=cst.IndentedBlock(body=rest))
            return updated.with_changes(decorators=[], body=updated.body.with_changes(body=[*doc, block]))

    return cst.parse_module(code).visit(Undecorate()).code


def mutant_prefix(source: str, function: str, cls: str | None = None) -> str:
    """The name mutmut gives a function's mutants, less the number: ``pkg.mod.x_f__mutmut_`` for a module
    function, ``pkg.mod.xǁClassǁmethod__mutmut_`` for a method."""
    module = source.removesuffix(".py").replace("/", ".")
    return f"{module}.xǁ{cls}ǁ{function}__mutmut_" if cls else f"{module}.x_{function}__mutmut_"


def leave_unselected_alone(code: str, source: str, selects) -> str:
    """The copy's source with ``# pragma: no mutate block`` on every function and method no glob selects.

    Why: mutmut replaces every function it mutates with a trampoline taking ``*args``, and PySide6 passes a
    signal's arguments to a slot that takes ``*args`` even when the real slot takes none, so a panel's slots
    break before any selected mutant runs. A function mutmut makes no mutant of stays as written."""
    import libcst as cst  # mutmut's own parser (the optional extra `mutation`)

    def selected(name: str) -> bool:
        return selects(name + "1")

    def pragma(node: cst.FunctionDef) -> cst.FunctionDef:
        if not isinstance(node.body, cst.IndentedBlock):
            return node
        header = cst.TrailingWhitespace(whitespace=cst.SimpleWhitespace("  "),
                                        comment=cst.Comment("# pragma: no mutate block"))
        return node.with_changes(body=node.body.with_changes(header=header))

    module = cst.parse_module(code)
    body = []
    for statement in module.body:
        if isinstance(statement, cst.FunctionDef) and not selected(mutant_prefix(source, statement.name.value)):
            statement = pragma(statement)
        elif isinstance(statement, cst.ClassDef) and isinstance(statement.body, cst.IndentedBlock):
            cls = statement.name.value
            methods = [pragma(m) if isinstance(m, cst.FunctionDef)
                       and not selected(mutant_prefix(source, m.name.value, cls)) else m
                       for m in statement.body.body]
            statement = statement.with_changes(body=statement.body.with_changes(body=methods))
        body.append(statement)
    return module.with_changes(body=body).code


def mutmut(work: Path, *args: str, log=None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # mutmut puts mutants/ first on the path
    env.update(QT_QPA_PLATFORM="offscreen", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    exe = Path(sys.executable).with_name("mutmut")
    cmd = ["nice", "-n", "15", str(exe), *args]
    return subprocess.run(cmd, cwd=work, env=env, stdout=log or subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, check=False)


def mutant_names(work: Path) -> list[str]:
    """Every mutant mutmut generated for the module (from its ``mutants/**/*.meta`` files)."""
    names: list[str] = []
    for meta in sorted((work / "mutants").rglob("*.meta")):
        names += sorted(json.loads(meta.read_text()).get("exit_code_by_key", {}))
    return names


def results(work: Path) -> dict[str, str]:
    """Mutant name -> mutmut's status word (killed, survived, no tests, timeout, ...; "not checked": not run)."""
    from mutmut.stats import status_by_exit_code  # mutmut is the optional extra `mutation`

    out: dict[str, str] = {}
    for meta in sorted((work / "mutants").rglob("*.meta")):
        for key, code in json.loads(meta.read_text()).get("exit_code_by_key", {}).items():
            out[key] = status_by_exit_code[code]
    return out


DIFFS = """
import json, sys
from mutmut.mutation.diff_apply import get_diff_for_mutant
out = {}
for name in json.load(sys.stdin):
    text = get_diff_for_mutant(name)
    out[name] = "\\n".join(l for l in text.splitlines() if l[:1] in "+-" and l[:3] not in ("+++", "---"))
print(json.dumps(out))
"""


def diffs(work: Path, mutants: list[str]) -> dict[str, str]:
    """The changed lines of each mutant (what ``mutmut show`` prints), read in one process."""
    if not mutants:
        return {}
    done = subprocess.run([sys.executable, "-c", DIFFS], cwd=work, input=json.dumps(mutants), text=True,
                          capture_output=True, check=False)
    try:
        return json.loads(done.stdout)
    except json.JSONDecodeError:
        return {m: f"(no diff: {done.stderr.strip().splitlines()[-1:]})" for m in mutants}


def mutate(work: Path, module: Module, sample: int | None) -> list[str] | None:
    """Run mutmut on the module's copy in ``work``; returns the mutants chosen (None: every one)."""
    with open(work / "mutmut.log", "w") as log:
        if sample is None and not module.functions and not module.skip:
            mutmut(work, "run", "--max-children", "1", log=log)
            return None
        # a first run with a name that matches no mutant generates the mutants and the stats only
        mutmut(work, "run", "--max-children", "1", "no.such.mutant*", log=log)
        chosen = mutant_names(work)
        chosen = [n for n in chosen if module.selects(n)]
        if sample is not None:
            chosen = sorted(random.Random(SAMPLE_SEED).sample(chosen, min(sample, len(chosen))))
        (work / "sample.json").write_text(json.dumps(chosen))
        if chosen:
            mutmut(work, "run", "--max-children", "1", *chosen, log=log)
        return chosen


def recheck(work: Path, module: Module, survivors: list[str]) -> None:
    """Run the last run's survivors again against the worktree's current tests (after tests were added to kill
    them): the tests and the module's test list are copied in and mutmut's test-to-function map is rebuilt; the
    other results stand."""
    (work / "pyproject.toml").write_text((ROOT / "pyproject.toml").read_text() + mutmut_table(module))
    for dest in (work / "tests", work / "mutants" / "tests"):
        shutil.rmtree(dest, ignore_errors=True)
        shutil.copytree(ROOT / "tests", dest, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    (work / "mutants" / "mutmut-stats.json").unlink(missing_ok=True)
    if survivors:
        with open(work / "mutmut.log", "a") as log:
            mutmut(work, "run", "--max-children", "1", *survivors, log=log)


def run_module(name: str, sample: int | None, report_only: bool = False, survivors: list[str] | None = None,
               more: int = 0) -> dict:
    """Mutate one module (or, ``report_only``, read its last run back; with ``survivors``, run those again first)
    and count the results."""
    module = MODULES[name]
    if report_only or survivors is not None:
        work = WORK / name
        chosen = json.loads((work / "sample.json").read_text()) if (work / "sample.json").exists() else None
        if chosen is not None:
            sample = len(chosen)
        before = results(work)
        if survivors is not None:
            recheck(work, module, survivors)
            if more:  # mutants not run yet (a run cut short or sampled), a seeded sample of them, now
                pending = sorted(k for k, v in before.items() if v == "not checked")
                extra = sorted(random.Random(SAMPLE_SEED + 1).sample(pending, min(more, len(pending))))
                recheck(work, module, extra)
                if chosen is not None:
                    chosen = sorted(set(chosen) | set(extra))
                    sample = len(chosen)
                    (work / "sample.json").write_text(json.dumps(chosen))
    else:
        work = prepare(name, module)
        chosen = mutate(work, module, sample)
        before = {}
    status = results(work)
    if report_only or survivors is not None:  # a changed test list makes mutmut forget every verdict: keep the old
        status = {k: before.get(k, v) if v == "not checked" else v for k, v in status.items()}
    if chosen is not None:
        status = {k: v for k, v in status.items() if k in chosen}
    counts: dict[str, int] = {}
    for s in status.values():
        counts[s] = counts.get(s, 0) + 1
    equivalent = [k for k in status if k in EQUIVALENT]
    caught = counts.get("killed", 0) + counts.get("timeout", 0) + counts.get("caught by type check", 0)
    judged = len(status) - len(equivalent) - counts.get("not checked", 0)
    # survivors: every mutant run and not caught ("no tests": none of the module's tests calls that function)
    left = [k for k, s in status.items() if s in ("survived", "no tests", "suspicious") and k not in EQUIVALENT]
    survivors = {k: f"({status[k]})\n{text}" for k, text in diffs(work, left).items()}
    return {"module": name, "sources": list(module.sources), "tests": list(module.tests), "sampled": sample,
            "functions": list(module.functions), "skip": list(module.skip),
            "mutants": len(status), "counts": counts, "equivalent": equivalent,
            "kill_rate": round(caught / judged, 3) if judged else None, "survivors": survivors}


def write_summary(reports: list[dict]) -> None:
    WORK.mkdir(parents=True, exist_ok=True)
    (WORK / "summary.json").write_text(json.dumps(reports, indent=1))
    lines = ["| module | mutants | not run | killed | survived | no tests | timeout | equivalent | kill rate |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in reports:
        c = r["counts"]
        rate = "-" if r["kill_rate"] is None else f"{100 * r['kill_rate']:.0f} %"
        sampled = f" (sample of {r['sampled']})" if r["sampled"] else ""
        if r.get("functions") and (not r["sampled"] or r["sampled"] == r["mutants"]):
            sampled = " (the functions named in MODULES)"  # every mutant of them: a selection, not a sample
        cells = [f"{r['module']}{sampled}", r["mutants"], *(c.get(k, 0) for k in ("not checked", "killed", "survived",
                                                                                 "no tests", "timeout")),
                 len(r["equivalent"]), rate]
        lines.append("| " + " | ".join(str(x) for x in cells) + " |")
    for r in reports:
        for mutant, text in r["survivors"].items():
            lines += ["", f"### {mutant}", "```diff", text, "```"]
    (WORK / "summary.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("modules", nargs="*", help=f"some of: {', '.join(MODULES)} (default: all)")
    p.add_argument("--sample", type=int, help="a seeded sample of this many mutants per module")
    p.add_argument("--list", action="store_true", help="print the modules, their sources and tests")
    p.add_argument("--report", action="store_true", help="summarise the modules' last runs, running nothing")
    p.add_argument("--recheck", action="store_true",
                   help="run the last run's survivors again with the current tests (after adding tests)")
    p.add_argument("--more", type=int, default=0,
                   help="with --recheck: also run a seeded sample of this many mutants the last run did not reach")
    args = p.parse_args(argv)
    if args.list:
        for name, m in MODULES.items():
            print(f"{name}: {' '.join(m.sources)}\n    tests: {' '.join(m.tests)}")
        return 0
    unknown = [m for m in args.modules if m not in MODULES]
    if unknown:
        print(f"unknown module(s): {', '.join(unknown)}; known: {', '.join(MODULES)}", file=sys.stderr)
        return 2
    previous = {}
    if (WORK / "summary.json").exists():  # a run of some modules keeps the others' last results
        previous = {r["module"]: r for r in json.loads((WORK / "summary.json").read_text())}
    for name in args.modules or list(MODULES):
        print(f"== {name}", flush=True)
        survivors = None
        if args.recheck:
            survivors = [m.split()[0] for m in previous.get(name, {}).get("survivors", {})]
        previous[name] = run_module(name, args.sample, args.report, survivors, args.more)
        write_summary([previous[n] for n in MODULES if n in previous])  # after each module: a long run shows progress
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
