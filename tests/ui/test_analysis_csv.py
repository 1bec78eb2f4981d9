"""Every column of every row of the analysis panels' CSV exports (issue 29), read back from the file the panel's own
export writes, against (a) what the panel draws (the pyqtgraph items' data) and (b) a computation made here from
the run folder's files, never from the panel's or the analysis's code: checkpoints read with torch.load and the
tiny net's forward pass in numpy (the loss and error of every grid point and of every alpha), the trajectory's PCA
and the function space's PCA by numpy's SVD, the nearest-neighbour purity by brute force, reconstruction errors from
metrics.csv read with the csv module, linear probes with scikit-learn, correlations and intervals with scipy.

Each test ends by asserting that the columns it checked are exactly the file's header: a column added to an export
without a check here fails its test. ``test_analysis_panels.py`` checks the panels' drawing and caching; the live
panels' exports are checked the same way in ``test_panels_csv.py``.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch
from PySide6.QtCore import QPointF
from scipy import stats
from scipy.special import logsumexp

from desktop_app.core.analysis.progress import PitfallResult
from desktop_app.core.config import from_dict
from desktop_app.core.data import load_data
from desktop_app.core.events import AnalysisFinished, RunStarted
from desktop_app.core.lab.store import RunData
from desktop_app.core.results import FunctionSpaceResult, OutputVarianceResult
from desktop_app.ui.panels.function_space import FunctionSpacePanel
from desktop_app.ui.panels.interpolation import InterpolationPanel
from desktop_app.ui.panels.landscape import LandscapePanel
from desktop_app.ui.panels.output_variance import OutputVariancePanel
from desktop_app.ui.panels.pitfall import PitfallPanel
from desktop_app.ui.run_store import RunStore
from tests.analysis_runs import TINY, finish

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")

LOSS_RTOL = 2e-5  # the analyses evaluate in float32, the numpy forward pass here in float64
NET_KEYS = {"blocks.0.module.weight", "blocks.0.module.bias", "head.weight", "head.bias"}


# -- reading back --------------------------------------------------------------------------------------------------
class Csv:
    """The exported file read back: rows as dicts of strings, and the columns a test has compared."""

    def __init__(self, path: Path) -> None:
        with open(path, newline="") as fh:
            table = list(csv.reader(fh))
        self.header = table[0]
        self.rows = [dict(zip(self.header, row, strict=True)) for row in table[1:]]
        self.checked: set[str] = set()

    def col(self, name: str, rows: list[dict[str, str]] | None = None, kind: type = float) -> list:
        self.checked.add(name)
        return [kind(r[name]) for r in (self.rows if rows is None else rows)]

    def floats(self, name: str, rows: list[dict[str, str]] | None = None) -> np.ndarray:
        return np.array(self.col(name, rows, float), dtype=np.float64)

    def all_checked(self) -> None:
        assert self.checked == set(self.header), f"columns not checked: {set(self.header) - self.checked}"


def export(panel, path: Path) -> Csv:
    return Csv(panel.export_csv(path))


# -- the run folder, read here ---------------------------------------------------------------------------------
def data():
    """The tiny run's data splits as float64 arrays (the data are not under test: the engine's loader)."""
    d = load_data(from_dict(TINY).data)
    flat = {k: getattr(d, k).reshape(len(getattr(d, k)), -1).double().numpy() for k in ("train_x", "test_x")}
    return flat["train_x"], d.train_y.numpy(), flat["test_x"], d.test_y.numpy()


def epochs_on_disk(run_dir: Path, arm: str, seed: int) -> list[int]:
    folder = run_dir / "checkpoints" / arm / f"s{seed}"
    return sorted(int(p.stem[1:]) for p in folder.glob("e*.pt"))


def weights(run_dir: Path, arm: str, seed: int, epoch: int) -> dict[str, np.ndarray]:
    state = torch.load(run_dir / "checkpoints" / arm / f"s{seed}" / f"e{epoch:04d}.pt", map_location="cpu",
                       weights_only=True)["model"]
    assert set(state) == NET_KEYS  # the tiny run's net: one dense sigmoid layer and a softmax head
    return {k: v.double().numpy() for k, v in state.items()}


def hidden(w: dict[str, np.ndarray], x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-(x @ w["blocks.0.module.weight"].T + w["blocks.0.module.bias"])))


def nll_error(w: dict[str, np.ndarray], x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Mean NLL (nats) and error (fraction) of the net ``w`` on (x, y)."""
    z = hidden(w, x) @ w["head.weight"].T + w["head.bias"]
    nll = logsumexp(z, axis=1) - z[np.arange(len(y)), y]
    return float(nll.mean()), float(np.mean(z.argmax(1) != y))


def metrics(run_dir: Path) -> list[dict[str, str]]:
    with open(run_dir / "metrics.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def finetune_metric(run_dir: Path, arm: str, seed: int, epoch: int, split: str) -> tuple[float, float]:
    (row,) = [r for r in metrics(run_dir) if (r["arm"], r["seed"], r["phase"], r["epoch"], r["split"])
              == (arm, str(seed), "finetune", str(epoch), split)]
    return float(row["nll"]), float(row["error"])


def flat(w: dict[str, np.ndarray]) -> np.ndarray:
    return np.concatenate([w[k].ravel() for k in sorted(w)])


def unflat(v: np.ndarray, like: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    out, i = {}, 0
    for k in sorted(like):
        out[k] = v[i:i + like[k].size].reshape(like[k].shape)
        i += like[k].size
    return out


# -- Error surface ----------------------------------------------------------------------------------------------
def test_error_surface_csv_is_the_image_drawn_and_the_nets_loss_on_the_plane(qtbot, store, runner, run_dir,
                                                                             tmp_path):
    """PCA plane of dae/s0 (7 x 7, the whole labelled set): every grid row is the pixel drawn at (x, y) and the loss
    and error (%) of the net centre + x d1 + y d2, with d1, d2 the trajectory's principal directions computed here;
    the trajectory rows are the path drawn and the checkpoints projected; the centre row is the star drawn."""
    panel = LandscapePanel(store, runner)
    qtbot.addWidget(panel)
    panel.arm_box.setCurrentIndex(panel.arm_box.findData("dae"))
    panel.directions_box.setCurrentIndex(panel.directions_box.findData("pca"))
    panel.log_box.setChecked(False)
    finish(qtbot, panel.compute(resolution=7, n_eval=0))
    out = export(panel, tmp_path / "surface.csv")
    assert out.col("kind", kind=str) == ["grid"] * 49 + ["centre"] + ["trajectory"] * 4  # rows in this order
    grid, (centre,), traj = out.rows[:49], out.rows[49:50], out.rows[50:]

    # (a) drawn: pixel (i, j) of the image is centred on (x, y) and coloured by the row's loss, then its error in %
    image = panel.image
    drawn_xy = [image.mapToParent(QPointF(i + 0.5, j + 0.5)) for j in range(7) for i in range(7)]
    np.testing.assert_allclose(out.floats("x", grid), [p.x() for p in drawn_xy], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(out.floats("y", grid), [p.y() for p in drawn_xy], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(out.floats("loss", grid), image.image.ravel(), rtol=1e-6)
    panel.quantity_box.setCurrentIndex(panel.quantity_box.findData("error"))
    np.testing.assert_allclose(out.floats("error_pct", grid), image.image.ravel(), rtol=1e-6, atol=1e-6)
    px, py = panel.path_item.getData()
    np.testing.assert_allclose(out.floats("x", traj), px, rtol=1e-12)
    np.testing.assert_allclose(out.floats("y", traj), py, rtol=1e-12)
    assert [t.textItem.toPlainText() for t in panel.epoch_labels] == [f"e{e}" for e in out.col("epoch", traj, int)]
    cx, cy = panel.center_item.getData()
    assert (float(centre["x"]), float(centre["y"])) == (cx[0], cy[0]) == (0.0, 0.0)
    assert f"centre: epoch {centre['epoch']}" in [label.text for _sample, label in panel.legend.items]
    assert out.col("epoch", grid, str) == [""] * 49  # a grid point is no checkpoint
    assert [r[c] for r in [centre, *traj] for c in ("loss", "error_pct")] == [""] * 10  # not evaluated

    # (b) computed here: the checkpoints on disk, their PCA, the net's loss on the plane
    epochs = epochs_on_disk(run_dir, "dae", 0)
    assert out.col("epoch", traj, int) == epochs and int(centre["epoch"]) == epochs[-1] == 3
    nets = {e: weights(run_dir, "dae", 0, e) for e in epochs}
    c = nets[epochs[-1]]
    rows = np.stack([flat(nets[e]) - flat(c) for e in epochs])
    informative = rows[np.abs(rows).max(1) > 0]
    _, _, vt = np.linalg.svd(informative - informative.mean(0), full_matrices=False)
    coords = rows @ vt[:2].T
    sign = np.where(coords[0] < 0, -1.0, 1.0)  # the analysis's convention: the first checkpoint at >= 0
    d1, d2 = vt[0] * sign[0], vt[1] * sign[1]
    coords = coords * sign
    np.testing.assert_allclose(np.c_[out.floats("x", traj), out.floats("y", traj)], coords, rtol=1e-5, atol=1e-6)
    for axis, values in (("x", coords[:, 0]), ("y", coords[:, 1])):  # the plane covers the path, 25 % margin
        lo, hi = min(0.0, values.min()), max(0.0, values.max())
        span = hi - lo
        want = np.repeat(np.linspace(lo - span / 4, hi + span / 4, 7), 7) if axis == "y" else \
            np.tile(np.linspace(lo - span / 4, hi + span / 4, 7), 7)
        np.testing.assert_allclose(out.floats(axis, grid), want, rtol=1e-5, atol=1e-6)
    xtr, ytr, _, _ = data()
    assert nll_error(c, xtr, ytr) == pytest.approx(finetune_metric(run_dir, "dae", 0, 3, "train"), rel=1e-5)
    want = np.array([nll_error(unflat(flat(c) + float(r["x"]) * d1 + float(r["y"]) * d2, c), xtr, ytr)
                     for r in grid])
    np.testing.assert_allclose(out.floats("loss", grid), want[:, 0], rtol=LOSS_RTOL)
    np.testing.assert_allclose(out.floats("error_pct", grid), 100 * want[:, 1], atol=1e-9)
    out.all_checked()


def test_error_surface_csv_on_random_directions_is_centred_on_the_checkpoint(qtbot, store, runner, run_dir,
                                                                            tmp_path):
    """Random directions: the grid is [-1, 1] x [-1, 1] (7 points, row by row) and its middle point is the
    checkpoint itself, whose loss and error are the run's own metrics.csv numbers for that epoch."""
    panel = LandscapePanel(store, runner)
    qtbot.addWidget(panel)
    panel.arm_box.setCurrentIndex(panel.arm_box.findData("none"))
    panel.seed_box.setCurrentIndex(panel.seed_box.findData(1))
    panel.directions_box.setCurrentIndex(panel.directions_box.findData("random"))  # (the cached PCA plane shows)
    panel.log_box.setChecked(True)
    r = finish(qtbot, panel.compute(resolution=7, n_eval=0))
    assert (r.arm, r.seed, r.directions) == ("none", 1, "random")
    out = export(panel, tmp_path / "random.csv")
    assert out.col("kind", kind=str) == ["grid"] * 49 + ["centre"]
    grid, centre = out.rows[:49], out.rows[49]
    g = np.linspace(-1, 1, 7)
    np.testing.assert_allclose(out.floats("x", grid), np.tile(g, 7), atol=1e-12)
    np.testing.assert_allclose(out.floats("y", grid), np.repeat(g, 7), atol=1e-12)
    np.testing.assert_allclose(10 ** panel.image.image.ravel(), out.floats("loss", grid), rtol=1e-5)  # log colours
    panel.quantity_box.setCurrentIndex(panel.quantity_box.findData("error"))
    np.testing.assert_allclose(10 ** panel.image.image.ravel(), np.maximum(out.floats("error_pct", grid), 1e-6),
                               rtol=1e-5)
    nll, err = finetune_metric(run_dir, "none", 1, 3, "train")
    middle = grid[3 * 7 + 3]
    assert (float(middle["x"]), float(middle["y"])) == (0.0, 0.0)
    assert float(middle["loss"]) == pytest.approx(nll, rel=1e-5)
    assert float(middle["error_pct"]) == pytest.approx(100 * err, abs=1e-9)
    assert out.col("epoch", kind=str) == [""] * 49 + ["3"]  # the centre's: the last checkpoint
    assert [centre[c] for c in ("x", "y", "loss", "error_pct")] == ["0.0", "0.0", "", ""]
    out.all_checked()


# -- Interpolation ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("mode", "arm", "seed"), [("init_to_solution", "dae", 1), ("pretrained_to_random", "dae", 0)])
def test_interpolation_csv_is_the_curves_drawn_and_the_loss_along_the_line(qtbot, store, runner, run_dir, tmp_path,
                                                                          mode, arm, seed):
    """5 alphas on [-0.5, 1.5]: every row is the four curves drawn at that alpha and the loss and error (%) of
    (1 - alpha) theta0 + alpha theta1 on the whole labelled set and the test split, computed here; at alpha 0 and 1
    they are the end checkpoints' numbers in metrics.csv."""
    panel = InterpolationPanel(store, runner)
    qtbot.addWidget(panel)
    panel.mode_box.setCurrentIndex(panel.mode_box.findData(mode))
    panel.arm_box.setCurrentIndex(panel.arm_box.findData(arm))
    panel.seed_box.setCurrentIndex(panel.seed_box.findData(seed))
    finish(qtbot, panel.compute(n_points=5, n_eval=0))
    out = export(panel, tmp_path / "interp.csv")
    alphas = out.floats("alpha")
    np.testing.assert_allclose(alphas, np.linspace(-0.5, 1.5, 5), atol=1e-12)
    columns = {("loss", "train"): "train_loss", ("loss", "test"): "test_loss",
               ("error", "train"): "train_error_pct", ("error", "test"): "test_error_pct"}
    for key, name in columns.items():  # (a) drawn
        x, y = panel.curves[key].getData()
        np.testing.assert_allclose(alphas, x, rtol=1e-12)
        np.testing.assert_allclose(out.floats(name), y, rtol=1e-12)
    last = epochs_on_disk(run_dir, arm, seed)[-1]
    ends = ((arm, 0), (arm, last)) if mode == "init_to_solution" else ((arm, last), ("none", last))
    names = [f"{a}/s{seed}/e{e:04d}" for a, e in ends]
    assert out.col("start", kind=str) == [names[0]] * 5 and out.col("end", kind=str) == [names[1]] * 5
    theta0, theta1 = (flat(weights(run_dir, a, seed, e)) for a, e in ends)
    like = weights(run_dir, arm, seed, 0)
    xtr, ytr, xte, yte = data()
    for split, x, y in (("train", xtr, ytr), ("test", xte, yte)):  # (b) computed here
        want = np.array([nll_error(unflat((1 - a) * theta0 + a * theta1, like), x, y) for a in alphas])
        np.testing.assert_allclose(out.floats(f"{split}_loss"), want[:, 0], rtol=LOSS_RTOL)
        np.testing.assert_allclose(out.floats(f"{split}_error_pct"), 100 * want[:, 1], atol=1e-9)
        for (a, e), row in zip(ends, (out.rows[1], out.rows[3]), strict=True):  # alpha 0 and alpha 1
            nll, err = finetune_metric(run_dir, a, seed, e, split)
            assert float(row[f"{split}_loss"]) == pytest.approx(nll, rel=1e-5)
            assert float(row[f"{split}_error_pct"]) == pytest.approx(100 * err, abs=1e-9)
    out.all_checked()


# -- Function space -----------------------------------------------------------------------------------------------
def probe_outputs(run_dir: Path) -> dict[tuple[str, int, int], np.ndarray]:
    """(arm, seed, epoch) -> the net's probe outputs, flattened, from snapshots/<arm>/s<seed>/probe_<epoch>.npy."""
    out = {}
    for path in sorted((run_dir / "snapshots").glob("*/s*/probe_*.npy")):
        out[(path.parent.parent.name, int(path.parent.name[1:]), int(path.stem.split("_")[1]))] = \
            np.load(path, allow_pickle=False).astype(np.float64).ravel()
    return out


def brute_purity(keys: list[tuple[str, int, int]], x: np.ndarray) -> float:
    """Share of points whose nearest neighbour among the other (arm, seed) trajectories is of the same arm."""
    same = []
    for i, (arm, seed, _) in enumerate(keys):
        others = [j for j, (a, s, _) in enumerate(keys) if (a, s) != (arm, seed)]
        nearest = min(others, key=lambda j: float(np.sum((x[i] - x[j]) ** 2)))
        same.append(keys[nearest][0] == arm)
    return float(np.mean(same))


def test_function_space_csv_is_the_points_drawn_and_the_pca_of_the_probe_outputs(qtbot, store, runner, run_dir,
                                                                                 tmp_path):
    """PCA: one row per net (arm, seed, epoch), in the order the trajectories are drawn (arm, then seed, then epoch);
    x, y are the point drawn and the net's probe outputs projected on their two principal axes (numpy's SVD, here);
    purity and purity_last are the nearest-neighbour arm purity computed here by brute force."""
    panel = FunctionSpacePanel(store, runner)
    qtbot.addWidget(panel)
    panel.method_box.setCurrentIndex(panel.method_box.findData("pca"))
    finish(qtbot, panel.compute())
    out = export(panel, tmp_path / "fs.csv")
    outputs = probe_outputs(run_dir)
    want_keys = sorted(outputs, key=lambda k: (TINY["arms"].index(k[0]), k[1], k[2]))
    keys = list(zip(out.col("arm", kind=str), out.col("seed", kind=int), out.col("epoch", kind=int), strict=True))
    assert keys == want_keys and len(keys) == 2 * 2 * 4  # arms x seeds x epochs 0..3
    xy = np.c_[out.floats("x"), out.floats("y")]
    for arm in TINY["arms"]:  # (a) drawn: the arm's line through its seeds' epochs, a start and an end per seed
        rows = np.array([k[0] == arm for k in keys])
        lx, ly = panel.lines[arm].getData()
        np.testing.assert_allclose(np.c_[lx, ly], xy[rows], rtol=1e-12)
        epochs = np.array([k[2] for k in keys])
        for item, at in ((panel.starts[arm], epochs == 0), (panel.ends[arm], epochs == 3)):
            sx, sy = item.getData()
            np.testing.assert_allclose(np.c_[sx, sy], xy[rows & at], rtol=1e-12)
    x = np.stack([outputs[k] for k in keys])  # (b) computed here
    centred = x - x.mean(0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    want = centred @ vt[:2].T
    want *= np.sign(np.sum(want * xy, axis=0))  # a principal axis has no sign of its own
    np.testing.assert_allclose(xy, want, rtol=1e-6, atol=1e-9)
    assert set(out.col("method", kind=str)) == {"pca"}
    purity = brute_purity(keys, x)
    last = [i for i, k in enumerate(keys) if k[2] == 3]
    purity_last = brute_purity([keys[i] for i in last], x[last])
    assert out.floats("purity") == pytest.approx([purity] * len(keys), rel=1e-12)
    assert out.floats("purity_last") == pytest.approx([purity_last] * len(keys), rel=1e-12)
    assert f"all epochs {purity:.3f}, last epoch {purity_last:.3f}" in panel.purity_label.text()
    out.all_checked()


def test_function_space_csv_sorts_each_arm_by_seed_then_epoch_and_breaks_its_line_between_seeds(qtbot):
    """A result whose points come in any order (seeds 7 and 2, epochs shuffled, the arms interleaved): each arm's
    rows, its drawn line and its start / end markers go seed by seed in epoch order, the line unbroken within a
    seed and broken between seeds (no segment from one seed's last epoch to the next seed's first)."""
    rng = np.random.default_rng(3)
    keys = [(a, s, e) for a in ("dae", "none") for s in (7, 2) for e in range(3)]
    order = rng.permutation(len(keys))
    keys = [keys[i] for i in order]
    coords = rng.normal(size=(len(keys), 2))
    at = {k: coords[i] for i, k in enumerate(keys)}
    result = FunctionSpaceResult(coords=coords, arms=tuple(k[0] for k in keys),
                                 seeds=np.array([k[1] for k in keys], dtype=np.int64),
                                 epochs=np.array([k[2] for k in keys], dtype=np.int64), method="pca", purity=0.75,
                                 purity_last=0.5, explained_variance_ratio=np.array([0.6, 0.3]))
    panel = FunctionSpacePanel(RunStore())
    qtbot.addWidget(panel)
    panel.display(result)
    columns, rows = panel.data_table()
    assert columns == ["arm", "seed", "epoch", "x", "y", "method", "purity", "purity_last"]
    arms = list(dict.fromkeys(k[0] for k in keys))  # the arms in the result's first-seen order
    want = [(a, s, e) for a in arms for s in (2, 7) for e in range(3)]
    assert [tuple(r[:3]) for r in rows] == want
    assert [r[3:] for r in rows] == [[*at[k], "pca", 0.75, 0.5] for k in want]
    for arm in arms:
        xy = np.array([at[k] for k in want if k[0] == arm])
        np.testing.assert_array_equal(np.c_[tuple(panel.lines[arm].getData())], xy)
        assert list(panel.lines[arm].opts["connect"]) == [True, True, False, True, True, False]
        np.testing.assert_array_equal(np.c_[tuple(panel.starts[arm].getData())], xy[[0, 3]])
        np.testing.assert_array_equal(np.c_[tuple(panel.ends[arm].getData())], xy[[2, 5]])


# -- Pitfall ------------------------------------------------------------------------------------------------------
def final_recon(run_dir: Path, arm: str, seed: int, layer: int) -> float:
    rows = [r for r in metrics(run_dir) if (r["arm"], r["seed"], r["phase"], r["layer"]) == (arm, str(seed),
                                                                                            "pretrain", str(layer))]
    return float(max(rows, key=lambda r: int(r["epoch"]))["recon_error"])


def probe(ftr: np.ndarray, ytr: np.ndarray, fte: np.ndarray, yte: np.ndarray) -> float:
    """Test accuracy of a logistic regression on standardised features (C = 1, at most 300 iterations)."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(ftr)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = LogisticRegression(max_iter=300, C=1.0).fit(scaler.transform(ftr), ytr)
    return float(model.score(scaler.transform(fte), yte))


def test_pitfall_csv_is_the_points_drawn_and_the_probes_and_errors_of_each_pretrained_layer(
        qtbot, store, runner, run_dir, other_run, tmp_path):
    """This run and an added one (more masking noise), 100 probe examples each way: one row per pre-trained layer
    (this run's first), x the reconstruction error drawn and the last pre-training epoch's in metrics.csv, y the
    accuracy drawn and that of a probe trained here on the e0000 net's features, the correlations scipy's."""
    panel = PitfallPanel(store, runner)
    qtbot.addWidget(panel)
    panel.add_runs([other_run])
    finish(qtbot, panel.compute(n_train=100, n_test=100))
    out = export(panel, tmp_path / "pitfall.csv")
    runs = [("", run_dir), (f"{other_run.name}:", other_run)]
    assert out.col("label", kind=str) == [f"{p}dae/s{s}" for p, _ in runs for s in (0, 1)]
    assert out.col("arm", kind=str) == ["dae"] * 4 and out.col("seed", kind=int) == [0, 1, 0, 1]
    assert out.col("layer", kind=int) == [0] * 4  # the first (only) layer is the one pre-trained
    assert out.col("error_kind", kind=str) == ["cross-entropy"] * 4  # a DAE's error, not an RBM's squared one
    recon, acc = out.floats("recon_error"), out.floats("probe_accuracy_pct")
    drawn = {}  # (a) drawn: label -> (x, y) of the point in the scatter
    for scatter in panel.scatters.values():
        for p in scatter.points():
            drawn[p.data()] = (p.pos().x(), p.pos().y())
    assert sorted(drawn) == sorted(out.col("label", kind=str))
    np.testing.assert_allclose([drawn[lab] for lab in out.col("label", kind=str)], np.c_[recon, acc], rtol=1e-12)
    pixel = out.floats("pixel_accuracy_pct")
    assert set(pixel) == {panel.baselines["cross-entropy"].value()}
    xtr, ytr, xte, yte = data()  # (b) computed here
    xtr, ytr, xte, yte = xtr[:100], ytr[:100], xte[:100], yte[:100]
    assert pixel[0] == pytest.approx(100 * probe(xtr, ytr, xte, yte), abs=1e-9)
    want_recon, want_acc = [], []
    for _prefix, folder in runs:
        for seed in (0, 1):
            want_recon.append(final_recon(folder, "dae", seed, 0))
            w = weights(folder, "dae", seed, 0)  # e0000: pre-trained, not yet fine-tuned
            want_acc.append(100 * probe(hidden(w, xtr), ytr, hidden(w, xte), yte))
    np.testing.assert_allclose(recon, want_recon, rtol=1e-12)
    np.testing.assert_allclose(acc, want_acc, atol=1e-9)
    pr, sr = stats.pearsonr(want_recon, want_acc), stats.spearmanr(want_recon, want_acc)
    for name, value in (("pearson_r", pr.statistic), ("pearson_p", pr.pvalue), ("spearman_r", sr.statistic),
                        ("spearman_p", sr.pvalue)):
        np.testing.assert_allclose(out.floats(name), [value] * 4, rtol=1e-9, atol=1e-12)
    assert f"Pearson r = {pr.statistic:+.3f}" in panel.corr_label.text()
    out.all_checked()


NAN_RECON = float("nan")
PITFALL_CASES = {  # (arm, reconstruction error, probe accuracy) per point
    # RBMs (squared error) beside autoencoders (cross-entropy): exactly 3 RBM points, 2 DAE points (too few), and
    # a CAE point without a reconstruction error (in no kind's correlation)
    "three-and-two": [("rbm", 1.0, 0.9), ("rbm", 2.0, 0.85), ("rbm", 3.5, 0.7), ("dae", 0.2, 0.8),
                      ("dae", 0.4, 0.7), ("cae", NAN_RECON, 0.5)],
    "no-x-spread": [("rbm", 1.0, 0.9), ("rbm", 2.0, 0.85), ("rbm", 3.5, 0.7), ("rbm", 5.0, 0.72),
                    ("dae", 0.3, 0.8), ("dae", 0.3, 0.82), ("dae", 0.3, 0.9)],
    "no-y-spread": [("dae", 0.3, 0.8), ("dae", 0.5, 0.8), ("dae", 0.4, 0.8), ("rbm", 1.0, 0.9),
                    ("rbm", 2.0, 0.85), ("rbm", 3.5, 0.7), ("rbm", 5.0, 0.72)],
    # one kind with a reconstruction error, but not every point in it: the correlation over its points, not the
    # analysis's over all; the RBM point without an error has no kind to correlate with (NaN)
    "one-kind-and-a-gap": [("dae", 0.3, 0.8), ("dae", 0.5, 0.7), ("cae", 0.4, 0.9), ("rbm", NAN_RECON, 0.6)],
    # every point has an error of one kind: the analysis's own numbers, the ones the report prints (the sentinels)
    "one-kind-every-point": [("dae", 0.3, 0.8), ("dae", 0.5, 0.7), ("cae", 0.4, 0.9)],
    # a spread of exactly 1 is a spread: RBM errors over [1, 2], autoencoder accuracies over [0, 1]
    "spread-of-exactly-one": [("rbm", 1.0, 0.9), ("rbm", 2.0, 0.85), ("rbm", 1.5, 0.7), ("dae", 0.3, 0.0),
                              ("dae", 0.5, 1.0), ("dae", 0.4, 0.5)],
}


@pytest.mark.parametrize("case", list(PITFALL_CASES))
def test_pitfall_csv_correlates_each_error_kind_over_its_own_points(qtbot, case):
    """Every row carries the correlations of its arm's error kind (an RBM's squared error and an autoencoder's
    cross-entropy are never pooled), computed by scipy here over that kind's points with a reconstruction error;
    NaN below 3 points or without spread in either axis. The analysis's own numbers (over every point) are
    sentinels here: they appear only where every point has an error of one kind (the report's numbers)."""
    points = PITFALL_CASES[case]
    seeds = [sum(a == p[0] for p in points[:i]) for i, (a, _, _) in enumerate(points)]
    result = PitfallResult(
        labels=tuple(f"{a}/s{s}" for (a, _, _), s in zip(points, seeds, strict=True)),
        arms=tuple(p[0] for p in points), seeds=np.array(seeds, dtype=np.int64),
        layer=np.array([i % 2 for i in range(len(points))], dtype=np.int64),
        recon_error=np.array([p[1] for p in points]), probe_accuracy=np.array([p[2] for p in points]),
        pixel_accuracy=0.875, n_train=100, n_test=100, pearson_r=0.111, pearson_p=0.222, spearman_r=0.333,
        spearman_p=0.444)
    panel = PitfallPanel(RunStore())
    qtbot.addWidget(panel)
    panel.display(result)
    columns, rows = panel.data_table()
    assert columns == ["label", "arm", "seed", "layer", "error_kind", "recon_error", "probe_accuracy_pct",
                       "pixel_accuracy_pct", "pearson_r", "pearson_p", "spearman_r", "spearman_p"]
    kind = {"rbm": "squared", "dae": "cross-entropy", "cae": "cross-entropy"}
    expected = {}
    for k in set(kind.values()):
        xy = np.array([(x, y) for a, x, y in points if kind[a] == k and np.isfinite(x)]).reshape(-1, 2)
        if len(xy) == len(points):
            expected[k] = [0.111, 0.222, 0.333, 0.444]
        elif len(xy) < 3 or np.ptp(xy[:, 0]) == 0 or np.ptp(xy[:, 1]) == 0:
            expected[k] = [np.nan] * 4
        else:
            pr, sr = stats.pearsonr(xy[:, 0], xy[:, 1]), stats.spearmanr(xy[:, 0], xy[:, 1])
            expected[k] = [pr.statistic, pr.pvalue, sr.statistic, sr.pvalue]
    assert len(rows) == len(points)
    for row, (a, x, y), s, i in zip(rows, points, seeds, range(len(points)), strict=True):
        assert row[:5] == [f"{a}/s{s}", a, s, i % 2, kind[a]]
        np.testing.assert_equal(row[5:8], [x, 100 * y, 87.5])
        np.testing.assert_allclose(row[8:], expected[kind[a]], rtol=1e-12, err_msg=f"{case} {a}/s{s}")
    assert any(np.isfinite(v).all() for v in expected.values())


# -- Output variance ----------------------------------------------------------------------------------------------
ARMS = ("none", "dae")
POSITIONS = np.arange(4)
BLOCK = 25


def ov_result(seed: int) -> OutputVarianceResult:
    """A result as an output-variance run of one seed writes it: variances spanning decades, falling with position."""
    rng = np.random.default_rng(seed)
    variance = 10.0 ** (np.array([[-1.0], [-2.5]]) - 0.4 * POSITIONS + rng.normal(0, 0.3, (2, 4)))
    return OutputVarianceResult(arms=ARMS, positions=POSITIONS, block_start=POSITIONS * BLOCK, variance=variance,
                                block_size=BLOCK, resamples=3, resample="pool", seed=seed)


@pytest.mark.parametrize("n_seeds", [1, 2, 3])
def test_output_variance_csv_is_every_seed_and_the_mean_drawn(qtbot, tmp_path, n_seeds):
    """Runs of seeds 0..n-1 open together: one row per arm, seed and block, each with the seed's variance (its
    thin line, or the arm's only line) and the arm's curve at that block, the geometric mean over the seeds with its
    95 % t-interval (scipy, on log10) from 3 seeds on, as drawn."""
    results = [ov_result(s) for s in range(n_seeds)]
    store = RunStore()
    panel = OutputVariancePanel(store)
    qtbot.addWidget(panel)
    for s in [*range(1, n_seeds), 0]:  # the other seeds kept open, then seed 0's run shown
        run = RunData()
        key = str(tmp_path / f"ov-s{s}")
        run.ingest([RunStarted(key, "ov", ARMS, (s,), "cpu", 1, kind="output-variance"),
                    AnalysisFinished("output_variance", results[s])])
        store.model.open(key, show=s == 0, data=run)
    assert [r.seed for r in panel.results] == list(range(n_seeds))
    out = export(panel, tmp_path / "ov.csv")
    keys = list(zip(out.col("arm", kind=str), out.col("seed", kind=int), out.col("position", kind=int), strict=True))
    assert keys == [(a, s, int(p)) for a in ARMS for s in range(n_seeds) for p in POSITIONS]  # rows in this order
    assert out.col("block_start", kind=int) == [int(p) * BLOCK for _, _, p in keys]  # block p starts at p * size
    assert set(out.col("block_size", kind=int)) == {BLOCK} and set(out.col("resamples", kind=int)) == {3}
    assert set(out.col("resample", kind=str)) == {"pool"} and set(out.col("n_seeds", kind=int)) == {n_seeds}
    ticks = [text for _v, text in panel.plot.getAxis("bottom")._tickLevels[0]]
    assert ticks == [f"{p}\n(ex. {p * BLOCK}–{p * BLOCK + BLOCK - 1})" for p in POSITIONS]
    variance, mean = out.floats("variance"), out.floats("seeds_geo_mean")
    lo, hi = out.col("seeds_ci_lo", kind=str), out.col("seeds_ci_hi", kind=str)
    for i, arm in enumerate(ARMS):
        for s in range(n_seeds):
            rows = [k == (arm, s) for k in (kk[:2] for kk in keys)]
            np.testing.assert_array_equal(variance[rows], results[s].variance[i])  # the result object's numbers
            curve = panel.curves[arm if n_seeds == 1 else f"{arm}/{s}"]  # (a) drawn
            np.testing.assert_allclose(curve.xData, POSITIONS)
            np.testing.assert_allclose(curve.yData, variance[rows], rtol=1e-12)
            np.testing.assert_allclose(mean[rows], panel.curves[arm].yData, rtol=1e-12)
        logs = np.log10(np.stack([r.variance[i] for r in results]))  # (b) computed here: (seed, block)
        rows = np.array([k[0] == arm for k in keys])
        np.testing.assert_allclose(mean[rows], np.tile(10 ** logs.mean(0), n_seeds), rtol=1e-9)
        if n_seeds >= 3:
            t_lo, t_hi = stats.t.interval(0.95, n_seeds - 1, loc=logs.mean(0), scale=stats.sem(logs, axis=0))
            for band, want, end in ((lo, t_lo, "lo"), (hi, t_hi, "hi")):
                got = np.array([float(v) for v, r in zip(band, rows, strict=True) if r])
                np.testing.assert_allclose(got, np.tile(10 ** want, n_seeds), rtol=1e-9)
                np.testing.assert_allclose(got[:len(POSITIONS)], panel.curves[f"{arm}/{end}"].yData, rtol=1e-12)
        else:  # no interval below 3 seeds: none drawn, none exported
            assert {v for v, r in zip(lo + hi, np.r_[rows, rows], strict=True) if r} == {""}
            assert f"{arm}/lo" not in panel.curves or np.allclose(panel.curves[f"{arm}/lo"].yData,
                                                                  panel.curves[arm].yData, rtol=1e-12)
    out.all_checked()
