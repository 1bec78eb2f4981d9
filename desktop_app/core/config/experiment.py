"""ExperimentConfig and its sections: every field declared once, with its range, label, unit and help.

Each ``spec(...)`` beside a field is the single source for that field's validation, builder row, tooltip,
``basin run --help-config`` line and documented limit (docs/ARCHITECTURE.md, "The one config declaration").
Adding a field is this one edit plus its use. Rules that relate several fields live in ``rules.py``.
Over 400 lines by design: the whole declaration in one file is the TOML order the config hash is computed from.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from desktop_app.core.config.limits import MAX_SWEEP_VARIANTS
from desktop_app.core.config.schema import Declared, FieldSpec, section, sections, spec, template_path, walk

SCHEMA_VERSION = 1

DATASETS = ("digits", "shapeset", "elastic", "mnist", "fashion-mnist", "npz", "image-folder")
ELASTIC_BASES = ("digits", "shapeset", "mnist", "fashion-mnist", "npz", "image-folder")
LAYER_KINDS = ("dense", "conv", "pool")
ACTIVATIONS = ("sigmoid", "tanh", "relu")
INITS = ("classic", "glorot", "he", "orthogonal")
ARMS = ("none", "rbm", "dae", "cae")
NOISES = ("masking", "gaussian")
OPTIMIZERS = ("sgd", "momentum", "adam")
DEVICES = ("auto", "cpu", "cuda")
EXPERIMENT_KINDS = ("standard", "output-variance", "online")
TRAINING_STEPS = ("auto", "autograd")  # execution.step: how dense nets fine-tune (experiments.standard)
RESAMPLE_MODES = ("auto", "pool", "deform", "none")
EXECUTION_BACKENDS = ("auto", "local", "inline", "dask")
MAX_WORKERS = 4096
MAX_SEED_BATCH = 1024

MAX_EXAMPLES = 1_000_000  # per split; the data-memory limit (limits.py) bounds them together
MAX_STREAM_EXAMPLES = 10**9  # an online unit's budget: examples are generated, never held
MAX_UNITS = 100_000
MAX_LAYERS = 100
MAX_BATCH = 100_000
MAX_EPOCHS = 100_000
SEED_MAX = 2**31 - 1

_NOISE_HELP = "masking: zero random inputs; gaussian: add N(0, level^2) noise."


# ---------------------------------------------------------------------------------------------------------
# Sections
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DataConfig:
    """Which images, how they are split, and how many labels the supervised phase may see."""

    name: str = spec(
        "digits", label="Dataset", choices=DATASETS,
        help="Which images: the embedded digits, generated Shapeset, an endless elastic stream, "
        "MNIST / Fashion-MNIST IDX files, an .npz or an image folder.")
    path: str = spec(
        "", label="Path", widget="path", max_len=4096,
        help="File or folder to read the images from; empty uses the user cache.")
    download: bool = spec(
        False, label="Download if missing",
        help="Fetch MNIST / Fashion-MNIST into the user cache (sha256-checked) if missing.",
        no_effect="where the files come from, not which images")
    base: str = spec(
        "digits", label="Deformed set", choices=ELASTIC_BASES, when=("name", ("elastic",)),
        help="The image set the elastic stream deforms (an InfiniteMNIST-like endless supply).")
    n_labelled: int = spec(
        1000, label="Labelled examples", unit="examples", lo=0, hi=MAX_EXAMPLES, special="all", step=100,
        help="Labelled examples fine-tuning may see; a small labelled set is where pre-training still helps "
        "(0 = all).")
    n_unlabelled: int = spec(
        0, label="Unlabelled pool", unit="examples", lo=0, hi=MAX_EXAMPLES, special="all training images", step=100,
        help="Unlabelled pool for pre-training (labels hidden); more unlabelled data makes the pre-trained start "
        "point better (0 = every training image).")
    n_valid: int = spec(
        500, label="Validation examples", unit="examples", lo=0, hi=MAX_EXAMPLES, step=100, group="evaluation",
        help="Held-out training images for the validation curve; taken before the labelled and unlabelled sets. "
        "0 (online runs only, which score no validation curve) leaves every training image to the stream.")
    n_test: int = spec(
        1000, label="Test examples", unit="examples", lo=1, hi=MAX_EXAMPLES, step=100, group="evaluation",
        help="Test images scored after every fine-tuning epoch (from the official test set when there is one).")
    probe_size: int = spec(
        200, label="Probe subset", unit="examples", lo=1, hi=10_000, step=50, group="evaluation",
        help="Fixed subset of the test set whose outputs define 'function space' (trajectories, function-space "
        "maps).")
    train_eval_size: int = spec(
        5000, label="Train-error sample", unit="examples", lo=0, hi=MAX_EXAMPLES, special="all", step=500,
        group="evaluation",
        help="Train NLL and error per epoch are measured on this many labelled examples (0 = all); a cost cap, "
        "not a change to training.")
    split_seed: int = spec(
        0, label="Split seed", lo=0, hi=SEED_MAX, group="evaluation",
        help="Seed of the train / valid / test shuffle; keep it fixed so every arm and seed sees the same split.")
    shapeset_count: int = spec(
        6000, label="Images generated", unit="images", lo=100, hi=1_000_000, step=1000,
        help="How many Shapeset images are generated (Erhan 2010 used Shapeset-3x2).")
    image_size: int = spec(
        28, label="Image size", unit="px", lo=8, hi=128,
        help="Side of the generated Shapeset images, in pixels.")
    elastic_alpha: float = spec(
        8.0, label="Elastic alpha", unit="px", lo=0, hi=100, step=1,
        help="Displacement scale in pixels; larger = stronger deformations (Simard 2003 used 34 at sigma 4).")
    elastic_sigma: float = spec(
        4.0, label="Elastic sigma", unit="px", lo=0, hi=20, lo_open=True, step=0.5,
        help="Smoothing of the displacement field; small sigma = jittery, large = smooth warps.")
    affine_degrees: float = spec(
        7.5, label="Max rotation (°)", unit="degrees", lo=0, hi=45, step=1,
        help="Maximum random rotation added to each deformation.")
    affine_scale: float = spec(
        0.1, label="Max scaling", lo=0, hi=0.5, step=0.01,
        help="Maximum random relative scaling added to each deformation.")


@dataclass(frozen=True)
class LayerSpec:
    """One hidden layer: dense (units), conv (units = channels, kernel, stride) or pool (kernel, stride)."""

    kind: str = spec(
        "dense", label="Kind", choices=LAYER_KINDS,
        help="dense = fully connected (RBM/DAE pre-train it), conv = convolution (CAE pre-trains it), "
        "pool = max pooling.")
    units: int = spec(
        500, label="Units", unit="units or channels", lo=1, hi=MAX_UNITS, when=("kind", ("dense", "conv")),
        help="Hidden units (dense) or channels (conv); Erhan 2010 used 400-2000 per layer.")
    kernel: int = spec(
        5, label="Kernel", unit="px", lo=1, hi=15, when=("kind", ("conv", "pool")),
        help="Convolution / pooling window side, in pixels.")
    stride: int = spec(
        1, label="Stride", unit="px", lo=1, hi=8, when=("kind", ("conv", "pool")),
        help="Step between windows; stride > 1 shrinks the feature map.")


@dataclass(frozen=True)
class ModelConfig:
    layers: tuple[LayerSpec, ...] = spec(
        (LayerSpec(), LayerSpec(), LayerSpec()), label="Hidden layers", widget="layers", min_len=1,
        max_len=MAX_LAYERS, item="layer",
        help="Hidden layers, input to output; pre-training trains them greedily one at a time (deeper nets are "
        "where random init struggles most).")
    activation: str = spec(
        "sigmoid", label="Activation", choices=ACTIVATIONS,
        help="Hidden non-linearity; sigmoid is what RBM/DAE pre-training was designed for.")
    init: str = spec(
        "classic", label="Initialisation", choices=INITS,
        help="How weights start when not pre-trained; pre-training's advantage depends on this baseline.",
        choice_help={
            "classic": "U[-1/sqrt(fan_in), 1/sqrt(fan_in)], what Erhan 2010 used; pre-training helps most here.",
            "glorot": "Glorot & Bengio 2010 uniform scaling that keeps activations and gradients in range; narrows "
            "the gap to pre-training.",
            "he": "He 2015 scaling for ReLU nets; with ReLU it removes much of the need for pre-training.",
            "orthogonal": "Orthogonal matrices (Saxe 2014): preserves norms through depth at start.",
        })
    dropout: float = spec(
        0.0, label="Dropout", lo=0, hi=1, hi_open=True, step=0.05,
        help="Drop this fraction of hidden units during fine-tuning; another regulariser to compare with "
        "pre-training.")
    l1: float = spec(
        0.0, label="L1", lo=0, hi=1, step=1e-5,
        help="L1 weight penalty during fine-tuning (sparse weights); Erhan 2010 compared it with pre-training.")
    l2: float = spec(
        0.0, label="L2", lo=0, hi=1, step=1e-5,
        help="L2 weight decay during fine-tuning; a classic regulariser that, unlike pre-training, does not move "
        "the basin.")


def _epochs(default: int, help: str) -> Any:  # noqa: A002
    return spec(default, label="Epochs per layer", unit="epochs", lo=0, hi=10_000, help=help)


def _lr(default: float, help: str) -> Any:  # noqa: A002
    return spec(default, label="Learning rate", lo=0, hi=10, lo_open=True, step=0.01, help=help)


def _batch(default: int, help: str) -> Any:  # noqa: A002
    return spec(default, label="Batch size", unit="examples", lo=1, hi=MAX_BATCH, help=help)


def _noise(help_text: str = _NOISE_HELP) -> Any:
    return spec("masking", label="Noise", choices=NOISES, help=help_text)


@dataclass(frozen=True)
class RBMConfig:
    epochs: int = _epochs(5, "Pre-training passes over the unlabelled pool per layer; Erhan 2010 used 10.")
    lr: float = _lr(0.05, "RBM learning rate for the contrastive-divergence updates.")
    k: int = spec(
        1, label="CD-k steps", unit="Gibbs steps", lo=1, hi=100,
        help="CD-k: Gibbs steps per update; k=1 is Hinton's cheap default, larger k follows the likelihood "
        "gradient more closely.")
    persistent: bool = spec(
        False, label="Persistent chains (PCD)",
        help="PCD (Tieleman 2008): keep the Gibbs chains between updates; better likelihood, similar features.")
    batch_size: int = _batch(20, "RBM minibatch size.")
    momentum: float = spec(
        0.5, label="Momentum", lo=0, hi=1, hi_open=True, step=0.05,
        help="Momentum on the RBM updates; smooths the noisy CD gradient.")


@dataclass(frozen=True)
class DAEConfig:
    epochs: int = _epochs(5, "Pre-training passes over the unlabelled pool per layer.")
    lr: float = _lr(0.1, "DAE learning rate (tied weights, reconstruction loss).")
    noise: str = _noise()
    corruption: float = spec(
        0.25, label="Noise level", lo=0, hi=1, hi_open=True, step=0.05,
        help="Masking: zero this fraction of inputs (Vincent 2008; Glorot 2011 used 25%); Gaussian: noise std.")
    batch_size: int = _batch(20, "DAE minibatch size.")


@dataclass(frozen=True)
class CAEConfig:
    epochs: int = _epochs(5, "Pre-training passes over the unlabelled pool per conv layer.")
    lr: float = _lr(0.01, "Convolutional autoencoder learning rate.")
    noise: str = _noise()
    corruption: float = spec(
        0.1, label="Noise level", lo=0, hi=1, hi_open=True, step=0.05,
        help="Masking fraction or Gaussian std of the CAE input noise; some noise keeps it from learning the "
        "identity.")
    batch_size: int = _batch(32, "CAE minibatch size.")
    pool: int = spec(
        0, label="Max-pool inside the AE", unit="px", lo=0, hi=8, special="off",
        help="Masci et al. 2011: max-pool the feature maps over pool x pool windows and put each maximum back "
        "at its place (all else zero) before decoding, which forces sparse codes and stroke-like filters; "
        "0 or 1 = off.")
    sparsity: float = spec(
        0.0, label="Code sparsity (L1)", lo=0, hi=10, step=0.001,
        help="Weight of the L1 norm of the feature maps (summed over units, per example) added to the "
        "reconstruction loss during CAE training; pushes codes towards sparsity. 0 = off.")


@dataclass(frozen=True)
class PretrainingConfig:
    bottom_layers: int = spec(
        0, label="Pre-train bottom layers", unit="layers", lo=0, hi=MAX_LAYERS, special="all",
        help="Greedy pre-training trains only the bottom this-many of the layers its method pre-trains; the layers "
        "above keep their random init (Erhan 2010: the more layers pre-trained, the lower the test error and the "
        "higher the train NLL). 0 = all.")
    rbm: RBMConfig = section(RBMConfig(), label="RBM pre-training", when=("arms", ("rbm",)))
    dae: DAEConfig = section(DAEConfig(), label="Denoising autoencoder", when=("arms", ("dae",)))
    cae: CAEConfig = section(CAEConfig(), label="Convolutional autoencoder", when=("arms", ("cae",)))


@dataclass(frozen=True)
class FinetuneConfig:
    optimizer: str = spec(
        "sgd", label="Optimizer", choices=OPTIMIZERS,
        help="Supervised optimiser: plain SGD (as in Erhan 2010), SGD with momentum, or Adam.")
    lr: float = _lr(0.1, "Fine-tuning learning rate; too large erases what pre-training found.")
    momentum: float = spec(
        0.9, label="Momentum", lo=0, hi=1, hi_open=True, step=0.05,
        help="Momentum coefficient (optimizer 'momentum' only).", when=("optimizer", ("momentum",)))
    batch_size: int = _batch(10, "Fine-tuning minibatch size; Erhan 2010 used 10 (online-like SGD).")
    epochs: int = spec(
        10, label="Epochs", unit="epochs", lo=1, hi=MAX_EPOCHS,
        help="Supervised passes over the labelled set; train and test NLL are recorded each epoch.")
    patience: int = spec(
        0, label="Early-stopping patience", unit="epochs", lo=0, hi=MAX_EPOCHS, special="off",
        help="Early stopping (Prechelt 1998): stop a unit after this many epochs without a lower validation error "
        "(ties keep the earlier epoch) and report its best-validation epoch, never one chosen by test error; its "
        "final weights are that epoch's (one copy kept per improvement). 0 = off: the last epoch.")


@dataclass(frozen=True)
class SeedsConfig:
    """Arms x seeds are paired: seed i gets the same init and data order in every arm."""

    count: int = spec(
        2, label="Paired seeds", unit="seeds", lo=1, hi=10_000,
        help="Paired seeds: seed i has the same init and data order in every arm, so arm differences come from "
        "pre-training alone.")
    base: int = spec(0, label="Base seed", lo=0, hi=SEED_MAX, help="First seed; seeds are base, base+1, ...")


@dataclass(frozen=True)
class SnapshotsConfig:
    filters: bool = spec(
        True, label="Snapshot first-layer filters",
        help="First-layer weights after every pre-training and fine-tuning epoch (the Filters panel).")
    max_filters: int = spec(
        100, label="Filters kept", unit="units", lo=1, hi=100_000,
        help="How many first-layer units are snapshotted; more shows more filters and writes bigger files.")
    probe_outputs: bool = spec(
        True, label="Snapshot probe outputs",
        help="Softmax outputs on the probe subset after every fine-tuning epoch (trajectories, function space).")
    checkpoint_every: int = spec(
        1, label="Checkpoint every", unit="epochs", lo=1, hi=MAX_EPOCHS,
        help="Fine-tuning epochs between checkpoints (the last epoch is always saved); resume starts from these.")
    tensorboard: bool = spec(
        False, label="Also write TensorBoard logs",
        help="Also write TensorBoard event files, one run per arm and seed with the config as HParams: "
        "tensorboard --logdir <run folder>/tensorboard (needs the basin[tensorboard] extra).")
    keep_seeds: int = spec(
        0, label="Snapshots for the first", unit="seeds", lo=0, hi=10_000,
        help="Storage policy for studies of many seeds: filters, probe outputs and the weights along the trajectory "
        "(e<epoch>.pt) are written for the first N seeds of each arm only; every seed keeps its metrics and its "
        "resume state (latest.pt, the final weights once done), so resume stays exact. 0 = every seed.")
    every: int = spec(
        1, label="Snapshot every", unit="epochs", lo=1, hi=MAX_EPOCHS,
        help="Fine-tuning epochs between filter and probe-output snapshots (epoch 0 and the last are always "
        "written); 1 = every epoch.")

    def keeps(self, seed_index: int) -> bool:
        """Whether the seed ``seed_index`` places after the base seed gets snapshots and trajectory checkpoints."""
        return not self.keep_seeds or seed_index < self.keep_seeds

    def snapshot_epoch(self, epoch: int, last: int) -> bool:
        """Whether fine-tuning epoch ``epoch`` (of ``last``) gets filter and probe snapshots."""
        return epoch == 0 or epoch == last or epoch % self.every == 0


@dataclass(frozen=True)
class OutputVarianceConfig:
    """Erhan 2010 Fig. 3: resample one block of the training stream at a time and measure how much the final
    function (outputs on the probe set) varies, per block position. Used when kind = "output-variance"."""

    n_blocks: int = spec(
        5, label="Blocks", unit="blocks", lo=2, hi=100,
        help="Blocks the training stream is cut into; the x axis of the plot (block 0 = seen first). Every block "
        "x resample trains one net: cost grows with both.")
    resamples: int = spec(
        3, label="Resamples per block", unit="nets", lo=2, hi=100,
        help="Nets trained per block position, each with a fresh resample of that block; the variance of their "
        "outputs is the y value.")
    resample: str = spec(
        "auto", label="Resample by", choices=RESAMPLE_MODES,
        help="pool: replace the block with other labelled examples; deform: a fresh elastic deformation of the "
        "same examples (elastic data); auto: deform when the data are elastic; none: keep the block (a sanity "
        "check: variance 0).")
    stream_examples: int = spec(
        0, label="Stream length", unit="examples", lo=0, hi=MAX_STREAM_EXAMPLES, step=10_000,
        help="Examples in the training stream, each seen once; 0 = one pass over the labelled set (pool: half "
        "of it). Longer streams need elastic data: the base images cycle, each time freshly deformed. The net must "
        "train long enough to leave its initial plateau, or only the last blocks matter.")


@dataclass(frozen=True)
class OnlineConfig:
    """Erhan 2010 Fig. 2: train on an endless stream of deformed examples, each seen once, and record the online
    error against the number of examples seen. Used when kind = "online"; the deformations' strengths are the
    Data section's elastic and affine fields."""

    pretrain_examples: int = spec(
        10_000, label="Pre-training examples per layer", unit="examples", lo=1, hi=MAX_STREAM_EXAMPLES, step=1000,
        help="Fresh stream examples each pre-trained layer sees once (unsupervised, labels unused).")
    finetune_examples: int = spec(
        100_000, label="Fine-tuning examples", unit="examples", lo=1, hi=MAX_STREAM_EXAMPLES, step=10_000,
        help="Fresh labelled stream examples fine-tuning sees once; Erhan 2010 went to 10^7 and more.")
    block: int = spec(
        1000, label="Online-error block", unit="examples", lo=1, hi=MAX_EXAMPLES, step=100,
        help="The online error is the error on the last this-many examples, each scored just before the net "
        "trained on it.")
    eval_points: int = spec(
        20, label="Evaluation points", unit="points", lo=2, hi=500,
        help="Log-spaced points (in examples seen) where the online and test errors are recorded and the unit "
        "checkpoints.")


@dataclass(frozen=True)
class ExecutionConfig:
    """Where the (arm, seed) units run (core.execution). Left out of the config hash: it changes where and how
    fast a run goes, not its numbers (a unit's numbers depend on its thread count, which ``threads`` sets, and a
    seed batch's on float rounding only: docs/ARCHITECTURE.md, "Seed batches")."""

    backend: str = spec(
        "auto", label="Run units on", choices=EXECUTION_BACKENDS,
        help="Where the (arm, seed) units run; a unit's numbers are the same on every backend at the same threads.",
        choice_labels={"auto": "auto (all cores)", "local": "local processes", "inline": "this process",
                       "dask": "Dask cluster"},
        choice_help={
            "auto": "Local worker processes when more than one worker and unit, else this process.",
            "local": "Up to 'Units at once' worker processes on this machine, 1 torch thread each.",
            "inline": "One unit after another in this process (torch's default threads).",
            "dask": "Dask distributed workers at the scheduler address (a local Dask cluster when empty); the run "
                    "folder must be on a filesystem the workers share. Needs basin[cluster].",
        })
    workers: int = spec(
        0, label="Units at once", unit="workers", lo=0, hi=MAX_WORKERS, special="physical cores",
        help="How many units run at the same time; 0 = the physical cores (or $BASIN_WORKERS).")
    address: str = spec(
        "", label="Dask scheduler", max_len=256, when=("backend", ("dask",)),
        help="The Dask scheduler, e.g. tcp://host:8786 (started with `dask scheduler`); empty = a local Dask "
        "cluster of 'Units at once' processes.")
    seed_batch: int = spec(
        1, label="Seeds per batch", unit="seeds", lo=0, hi=MAX_SEED_BATCH, special="auto",
        help="Train this many paired seeds of an arm as one stacked net: faster at small minibatches, each seed "
        "keeps its own init, data and files (numbers equal up to float rounding). 1 = off; auto = all seeds on "
        "CUDA, 4 on a CPU.")
    step: str = spec(
        "auto", label="Training step", choices=TRAINING_STEPS,
        help="auto = the hand-written dense step for nets of dense layers (2-3x faster at minibatch 10, the same "
        "numbers up to float rounding); autograd = torch's autograd step, the reference (conv nets always use it).",
        choice_labels={"auto": "auto (dense step)", "autograd": "autograd (reference)"})


SWEEP_SPECIAL = ("model.width", "model.depth")


@dataclass(frozen=True)
class SweepConfig:
    """Run the experiment once per value of one field, each variant into its own run folder.

    ``field`` is a dotted config field (e.g. ``data.n_labelled``) or ``model.width`` (every dense layer's
    units) or ``model.depth`` (number of dense hidden layers, repeating the first dense layer).
    """

    field: str = spec(
        "", label="Sweep field", max_len=100,
        help="Dotted numeric field to vary (e.g. data.n_labelled), or model.width (every dense layer's units) "
        "or model.depth (number of dense layers); empty = no sweep.",
        widget="sweep_field")
    values: tuple[float, ...] = spec(
        (), label="Sweep values", max_len=MAX_SWEEP_VARIANTS, item="value",
        help="One run folder per value, each checked against the swept field's own range before anything is "
        "built.",
        widget="numbers")


@dataclass(frozen=True)
class ExperimentConfig:
    schema_version: int = spec(
        SCHEMA_VERSION, label="Schema version", lo=SCHEMA_VERSION, hi=SCHEMA_VERSION,
        help="Version of the config format; Basin writes it and refuses versions it does not know.",
        not_shown="the file format's version, written by Basin, not a choice", no_effect="the file format")
    name: str = spec(
        "experiment", label="Name", min_len=1, max_len=200, group="experiment",
        help="Names the run folder and the run history entry; no effect on training.", no_effect="a name")
    description: str = spec(
        "", label="Description", widget="text", max_len=10_000, group="experiment",
        help="Free notes kept with the run and in every checkpoint; no effect on training.", no_effect="notes")
    kind: str = spec(
        "standard", label="Experiment type", choices=EXPERIMENT_KINDS, group="experiment",
        help="standard: train every arm on every seed and watch the panels; output variance: measure how much "
        "the final function depends on each block of the training stream (Erhan 2010, Fig. 3); online: train on "
        "an endless stream, each example seen once (Erhan 2010, Fig. 2).",
        choice_help={
            "standard": "Train every arm x seed: filters, trajectories, curves, error surfaces, function space.",
            "output-variance": "For each block position, retrain with that block resampled and measure the "
            "variance of the outputs on the probe set: early examples matter more; pre-trained nets vary less.",
            "online": "Pre-train and fine-tune on an endless stream of elastic + affine deformations, each example "
            "seen once; record the online error vs examples seen (Erhan 2010, Fig. 2): optimisation, not "
            "regularisation, if pre-training's advantage survives unlimited data.",
        })
    data: DataConfig = section(DataConfig(), label="Data")
    model: ModelConfig = section(ModelConfig(), label="Model")
    arms: tuple[str, ...] = spec(
        ("none", "rbm", "dae"), label="Arms (pre-training methods)", widget="arms", choices=ARMS, min_len=1,
        unique=True, item="arm",
        help="Each checked method is one arm, trained on the same seeds; 'none' is the random-init baseline.",
        choice_labels={"none": "none (random init)", "rbm": "RBM", "dae": "DAE", "cae": "CAE (conv)"},
        choice_help={
            "none": "Baseline arm: random init, fine-tuning only.",
            "rbm": "Greedy layer-wise Bernoulli RBMs (Hinton 2006), then fine-tuning.",
            "dae": "Greedy layer-wise denoising autoencoders (Vincent 2008), then fine-tuning.",
            "cae": "Convolutional autoencoders for the conv layers, then fine-tuning.",
        })
    pretraining: PretrainingConfig = section(PretrainingConfig(), label="Pre-training")
    finetune: FinetuneConfig = section(FinetuneConfig(), label="Fine-tuning")
    seeds: SeedsConfig = section(SeedsConfig(), label="Seeds", group="run")
    snapshots: SnapshotsConfig = section(SnapshotsConfig(), label="Snapshots", group="evaluation",
                                         no_effect="what is recorded while training, not the training")
    device: str = spec(
        "auto", label="Device", choices=DEVICES, group="run",
        help="auto uses a CUDA GPU when present, else the CPU; results are reproducible on one device.")
    threads: int = spec(
        0, label="CPU threads", unit="threads", lo=0, hi=256, special="default", group="run",
        help="torch CPU threads for this run; 0 = default.", no_effect="how fast, not what is trained")
    sweep: SweepConfig = section(SweepConfig(), label="Sweep",
                                 no_effect="which variants to make; a variant is named by its swept field")
    output_variance: OutputVarianceConfig = section(
        OutputVarianceConfig(), label="Output variance (Erhan 2010, Fig. 3)",
        help="Erhan 2010 Fig. 3: the training stream is cut into blocks; one block at a time is resampled while "
        "init, order and every other block stay fixed.", when=("kind", ("output-variance",)))
    online: OnlineConfig = section(
        OnlineConfig(), label="Online stream (Erhan 2010, Fig. 2)",
        help="Erhan 2010 Fig. 2: budgets in examples, each a fresh deformation of a labelled training image, "
        "drawn once; the online error over the last block is recorded at log-spaced points.",
        when=("kind", ("online",)))
    execution: ExecutionConfig = section(
        ExecutionConfig(), label="Execution", group="run",
        help="Where the (arm, seed) units run: worker processes on this machine or a Dask cluster. Not part of "
        "the config hash: it changes the wall time, not the numbers.",
        no_effect="where the units run, not their numbers")

    # -- convenience -------------------------------------------------------------------------------------
    def validate(self) -> ExperimentConfig:
        """Raise ConfigError for the first invalid field; return self so calls chain."""
        from desktop_app.core.config.rules import iter_errors

        for err in iter_errors(self):
            raise err
        return self

    def errors(self) -> list[Any]:
        from desktop_app.core.config.rules import iter_errors

        return list(iter_errors(self))

    def to_dict(self) -> dict[str, Any]:
        from desktop_app.core.config.io import to_plain

        return to_plain(self)

    def to_toml(self) -> str:
        import tomli_w

        return tomli_w.dumps(self.to_dict())

    def hash(self) -> str:
        """Short stable hash of the scientific content (name, description and execution excluded, the online
        section unless kind = "online", and pretraining.bottom_layers and finetune.patience at their default 0)."""
        import hashlib

        import tomli_w

        d = self.to_dict()
        d.pop("name", None)
        d.pop("description", None)
        d.pop("execution", None)
        if self.kind != "online":  # no effect on other kinds; left out so their hashes predate the section
            d.pop("online", None)
        if not self.pretraining.bottom_layers:  # the default (all layers): left out so older hashes stay valid
            d["pretraining"].pop("bottom_layers", None)
        if not self.finetune.patience:  # the default (no early stopping): left out so older hashes stay valid
            d["finetune"].pop("patience", None)
        snaps = d.get("snapshots", {})
        for key, default in (("keep_seeds", 0), ("every", 1)):  # the storage policy at its defaults: hashes
            if snaps.get(key) == default:  # predate it (where nothing is left out, the results are the same)
                snaps.pop(key, None)
        ov = d.get("output_variance", {})
        if self.kind != "output-variance" or not ov.get("stream_examples"):  # hashes predate the field
            ov.pop("stream_examples", None)
        return hashlib.sha256(tomli_w.dumps(d).encode()).hexdigest()[:16]

    def with_overrides(self, overrides: dict[str, Any]) -> ExperimentConfig:
        """The config with dotted fields set (``--set``); the sweep's own fields ``model.width`` and
        ``model.depth`` too, applied as one sweep value would be (``--set model.width=64`` was refused)."""
        from dataclasses import replace

        from desktop_app.core.config.io import from_dict, set_dotted
        from desktop_app.core.config.sweep import expand_sweep
        from desktop_app.core.errors import ConfigError

        d = self.to_dict()
        for key, value in overrides.items():
            if key not in SWEEP_SPECIAL:
                set_dotted(d, key, value)
        cfg = from_dict(d)
        for key, value in overrides.items():
            if key in SWEEP_SPECIAL:
                if isinstance(value, bool) or not isinstance(value, int | float):
                    raise ConfigError(key, f"must be a number, got {value!r}")
                one = replace(cfg, sweep=SweepConfig(field=key, values=(float(value),)))
                for err in one.errors():
                    raise ConfigError(key, err.message.removeprefix(f"{key} "))
                cfg = replace(expand_sweep(one)[0][1], name=cfg.name, sweep=cfg.sweep)
        return cfg

    @property
    def pretrain_arms(self) -> tuple[str, ...]:
        return tuple(a for a in self.arms if a != "none")

    @property
    def seed_values(self) -> list[int]:
        return [self.seeds.base + i for i in range(self.seeds.count)]

    def keeps_snapshots(self, seed: int) -> bool:
        """Whether ``seed`` gets filters, probe outputs and trajectory checkpoints (``snapshots.keep_seeds``)."""
        return self.snapshots.keeps(seed - self.seeds.base)

    def storage_note(self) -> str:
        """What the storage policy leaves out, in a panel's words ("" when every seed keeps everything)."""
        s, notes = self.snapshots, []
        if s.keep_seeds and s.keep_seeds < self.seeds.count:
            first, last = self.seeds.base, self.seeds.base + s.keep_seeds - 1
            seeds = f"seed {first}" if first == last else f"seeds {first}-{last}"
            notes.append(f"filters, probe outputs and checkpoints kept for {seeds} of each arm "
                         f"(snapshots.keep_seeds = {s.keep_seeds}); the other seeds keep their metrics")
        if s.every > 1:
            # after "Not stored: ", "snapshots every 2 fine-tuning epochs" read as if those were missing
            notes.append(f"the fine-tuning epochs between snapshots (one every {s.every} fine-tuning epochs, "
                         f"snapshots.every = {s.every})")
        return "; ".join(notes)


def mlp(widths: list[int] | tuple[int, ...]) -> tuple[LayerSpec, ...]:
    """Shorthand: dense layers of the given widths."""
    return tuple(LayerSpec(kind="dense", units=w) for w in widths)


# ---------------------------------------------------------------------------------------------------------
# The declared fields by dotted path (list items as "[]"): what builder, docs and sweeps look up
# ---------------------------------------------------------------------------------------------------------

FIELDS: dict[str, Declared] = {d.path: d for d in walk(ExperimentConfig)}
SECTIONS: dict[str, FieldSpec] = dict(sections(ExperimentConfig))


def declared(path: str) -> Declared | None:
    """The declaration of a dotted field (``model.layers[2].units`` finds ``model.layers[].units``)."""
    return FIELDS.get(template_path(path))
