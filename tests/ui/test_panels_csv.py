"""Every column of every live panel's exported CSV against the synthetic run's KNOWN values, computed here
independently (numpy / scipy / the closed form of the smoothing), never from the panel's own data (issue 29).

``test_panels_export.py`` checks that a CSV equals ``data_table()``; these check that ``data_table()`` equals the
data: a panel that exports the wrong seed, band, quartile, smoothing or tile fails here.
"""

from __future__ import annotations

import csv
import dataclasses

import numpy as np
import pytest
from scipy import stats as sps

from desktop_app.core.events import EpochMetrics, FilterSnapshot, PretrainEpoch, RunFinished, RunStarted
from desktop_app.ui.panels import PANELS
from desktop_app.ui.run_store import RunStore
from tests.ui import test_panels_data as syn

METRIC_NAMES = ("train_nll", "train_error", "valid_nll", "valid_error", "test_nll", "test_error")


@pytest.fixture
def store():
    s = RunStore()
    s.ingest(syn.events())
    s.ingest(syn.online_points())
    return s


def exported(qtbot, store, tmp_path, name, **select) -> tuple[list[str], list[dict[str, str]]]:
    panel = PANELS[name](store)
    qtbot.addWidget(panel)
    if select:
        panel.refresh()  # the selectors are filled from the data first
        panel.select(**select)
        panel.refresh()  # and the panel draws the selection (an export redraws only a panel marked stale)
    path = panel.export_csv(tmp_path / f"{name}.csv")
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        return list(reader.fieldnames or []), list(reader)


def num(cell: str) -> float:
    return float(cell)


def ema_closed_form(y: np.ndarray, w: float) -> np.ndarray:
    """Bias-corrected EMA written as the weighted mean it is: s_t = sum_j (1-w) w^(t-j) y_j / (1 - w^(t+1))."""
    out = np.empty(len(y))
    for t in range(len(y)):
        weights = (1 - w) * w ** np.arange(t, -1, -1)
        out[t] = np.dot(weights, y[: t + 1]) / (1 - w ** (t + 1))
    return out


def test_trajectories_csv_every_column(qtbot, store, tmp_path):
    columns, rows = exported(qtbot, store, tmp_path, "Trajectories")
    assert columns == ["arm", "seed", "epoch", "train_nll", "test_nll", "log10_train_nll", "log10_test_nll"]
    want = {(a, s, e) for a in syn.ARMS for s in syn.SEEDS for e in range(syn.EPOCHS)}
    assert {(r["arm"], int(r["seed"]), int(r["epoch"])) for r in rows} == want and len(rows) == len(want)
    for r in rows:
        a, s, e = r["arm"], int(r["seed"]), int(r["epoch"])
        train, test = syn.metric(a, s, e, "train_nll"), syn.metric(a, s, e, "test_nll")
        assert num(r["train_nll"]) == train and num(r["test_nll"]) == test
        assert num(r["log10_train_nll"]) == pytest.approx(np.log10(train), rel=1e-12)
        assert num(r["log10_test_nll"]) == pytest.approx(np.log10(test), rel=1e-12)


@pytest.mark.parametrize("metric,band,smoothing", [("NLL", "± std", 0.6), ("error", "min–max", 0.0),
                                                    ("NLL", "none", 0.3)])
def test_curves_csv_every_column(qtbot, store, tmp_path, metric, band, smoothing):
    columns, rows = exported(qtbot, store, tmp_path, "Curves", metric=metric, splits=("train", "valid", "test"),
                             band=band, smoothing=smoothing, x="epoch")
    assert columns == ["plot", "arm", "series", "epoch", "mean", "band_lo", "band_hi", "n_seeds", "unit", "x",
                       "smoothed"]
    scale, unit = (100.0, "%") if metric == "error" else (1.0, "nats")
    key = "error" if metric == "error" else "nll"
    expected: dict[tuple[str, str, str], tuple[np.ndarray, list[int], str]] = {}
    for arm in syn.ARMS:
        for split in ("train", "valid", "test"):
            v = np.array([[syn.metric(arm, s, e, f"{split}_{key}") * scale for e in range(syn.EPOCHS)]
                          for s in syn.SEEDS])
            expected[("metric", arm, split)] = (v, list(range(syn.EPOCHS)), unit)
        if arm != "none":
            for layer in syn.LAYERS:
                v = np.array([[syn.recon(arm, s, layer, e) for e in range(1, syn.PRETRAIN_EPOCHS + 1)]
                              for s in syn.SEEDS])
                measure = "squared" if arm == "rbm" else "cross-entropy"  # an RBM's error vs an autoencoder's
                expected[("recon", arm, f"layer {layer + 1}")] = (v, list(range(1, syn.PRETRAIN_EPOCHS + 1)),
                                                                  f"recon (per example, {measure})")
    got: dict[tuple[str, str, str], list[dict]] = {}
    for r in rows:
        got.setdefault((r["plot"], r["arm"], r["series"]), []).append(r)
    assert got.keys() == expected.keys()
    for k, (v, epochs, u) in expected.items():
        rs = got[k]
        assert [int(r["epoch"]) for r in rs] == epochs, k
        mean = v.mean(axis=0)
        if band == "± std":
            spread = v.std(axis=0, ddof=1)
            lo, hi = mean - spread, mean + spread
        elif band == "min–max":
            lo, hi = v.min(axis=0), v.max(axis=0)
        else:
            lo, hi = mean, mean
        line = ema_closed_form(mean, smoothing) if smoothing else mean
        np.testing.assert_allclose([num(r["mean"]) for r in rs], mean, rtol=1e-12, err_msg=str(k))
        np.testing.assert_allclose([num(r["band_lo"]) for r in rs], lo, rtol=1e-12, err_msg=str(k))
        np.testing.assert_allclose([num(r["band_hi"]) for r in rs], hi, rtol=1e-12, err_msg=str(k))
        np.testing.assert_allclose([num(r["smoothed"]) for r in rs], line, rtol=1e-10, err_msg=str(k))
        np.testing.assert_array_equal([num(r["x"]) for r in rs], epochs)
        assert [int(r["n_seeds"]) for r in rs] == [len(syn.SEEDS)] * len(epochs)
        assert {r["unit"] for r in rs} == {u}


REACHED = {0: 6, 1: 5, 2: 3, 3: 1}  # fine-tuning epochs each seed has finished in a run still going


def in_progress() -> RunStore:
    """The synthetic run caught while its seeds are at different epochs (REACHED), seed 3 one pre-training epoch
    in, the test NLL of epoch 4 not finite for any seed that reached it (a diverged evaluation), and a third arm
    (cae) not started yet: no value at all."""
    kept = []
    for e in syn.events():
        if isinstance(e, RunStarted):
            e = dataclasses.replace(e, arms=(*e.arms, "cae"))
        elif isinstance(e, EpochMetrics):
            if e.epoch >= REACHED[e.seed]:
                continue
            if e.epoch == 4:
                e = dataclasses.replace(e, test_nll=float("nan"))
        elif isinstance(e, PretrainEpoch) and e.seed == 3 and e.epoch > 1 or isinstance(e, RunFinished):
            continue
        kept.append(e)
    store = RunStore()
    store.ingest(kept)
    return store


@pytest.mark.parametrize("band", ["± std", "min–max"])
def test_curves_csv_of_a_run_in_progress_is_over_the_seeds_each_epoch_has(qtbot, tmp_path, band):
    """Each point is over the seeds that reached it: n_seeds counts them, a point of one seed has no spread (not a
    NaN std), an epoch whose value no seed has (all NaN) is not a point at all, and an arm not started yet has no
    series (its min-max band of no seeds raised, and the panel drew nothing)."""
    columns, rows = exported(qtbot, in_progress(), tmp_path, "Curves", metric="NLL",
                             splits=("train", "valid", "test"), band=band, smoothing=0.0, x="epoch")
    expected: dict[tuple[str, str, str], dict[int, list[float]]] = {}
    for arm in syn.ARMS:
        for split in ("train", "valid", "test"):
            expected[("metric", arm, split)] = {
                e: [syn.metric(arm, s, e, f"{split}_nll") for s in syn.SEEDS if e < REACHED[s]]
                for e in range(syn.EPOCHS) if not (split == "test" and e == 4)}
        if arm != "none":
            for layer in syn.LAYERS:
                expected[("recon", arm, f"layer {layer + 1}")] = {
                    e: [syn.recon(arm, s, layer, e) for s in syn.SEEDS if s != 3 or e == 1]
                    for e in range(1, syn.PRETRAIN_EPOCHS + 1)}
    got: dict[tuple[str, str, str], list[dict]] = {}
    for r in rows:
        got.setdefault((r["plot"], r["arm"], r["series"]), []).append(r)
    assert got.keys() == expected.keys()
    for k, points in expected.items():
        rs = got[k]
        assert [int(r["epoch"]) for r in rs] == list(points), k
        for r, (e, v) in zip(rs, points.items(), strict=True):
            v = np.array(v)
            mean = v.mean()
            if band == "± std":
                spread = v.std(ddof=1) if len(v) > 1 else 0.0
                lo, hi = mean - spread, mean + spread
            else:
                lo, hi = v.min(), v.max()
            assert int(r["n_seeds"]) == len(v), (k, e)
            got_values = [num(r[c]) for c in ("mean", "band_lo", "band_hi", "smoothed", "x")]
            assert got_values == pytest.approx([mean, lo, hi, mean, e], rel=1e-12), (k, e)
    assert {int(r["n_seeds"]) for r in rows} == {1, 2, 3, 4}


def t_interval(x: np.ndarray) -> tuple[float, float]:
    return sps.t.interval(0.95, len(x) - 1, loc=x.mean(), scale=sps.sem(x))


def test_summary_csv_every_column(qtbot, store, tmp_path):
    """Final test error (%) per arm over the seeds: the box (numpy percentiles and Tukey's 1.5 IQR whiskers), the
    t interval (scipy), and the paired difference to "none" with its t-test and Wilcoxon p-values (scipy)."""
    columns, rows = exported(qtbot, store, tmp_path, "Summary")
    assert columns == ["group", "arm", "n", "values", "q1", "median", "q3", "whisker_lo", "whisker_hi", "min", "max",
                       "mean", "std", "ci_lo", "ci_hi", "diff_reference", "diff_n", "diff_mean", "diff_ci_lo",
                       "diff_ci_hi", "t_pvalue", "wilcoxon_pvalue", "run", "seeds_kept", "plateau_seeds"]
    assert [r["arm"] for r in rows] == list(syn.ARMS)
    final = {a: 100 * np.array([syn.metric(a, s, syn.EPOCHS - 1, "test_error") for s in syn.SEEDS])
             for a in syn.ARMS}
    for r in rows:
        v = final[r["arm"]]
        assert r["group"] == "" and r["run"] == "" and r["seeds_kept"] == "all" and r["plateau_seeds"] == ""
        assert int(r["n"]) == len(syn.SEEDS)
        values = dict(item.split("=") for item in r["values"].split(";"))
        assert list(values) == [f"s{s}" for s in syn.SEEDS]
        np.testing.assert_allclose([float(x) for x in values.values()], v, rtol=1e-12)
        q1, med, q3 = np.percentile(v, [25, 50, 75])
        iqr = q3 - q1
        inside = v[(v >= q1 - 1.5 * iqr) & (v <= q3 + 1.5 * iqr)]
        box = (q1, med, q3, inside.min(), inside.max(), v.min(), v.max())
        names = ("q1", "median", "q3", "whisker_lo", "whisker_hi", "min", "max")
        np.testing.assert_allclose([num(r[n]) for n in names], box, rtol=1e-12, err_msg=r["arm"])
        lo, hi = t_interval(v)
        np.testing.assert_allclose([num(r[n]) for n in ("mean", "std", "ci_lo", "ci_hi")],
                                   (v.mean(), v.std(ddof=1), lo, hi), rtol=1e-10)
        if r["arm"] == "none":  # the reference: no difference to itself
            assert [r[n] for n in columns[15:22]] == [""] * 7
            continue
        d = v - final["none"]
        dlo, dhi = t_interval(d)
        assert r["diff_reference"] == "none" and int(r["diff_n"]) == len(syn.SEEDS)
        np.testing.assert_allclose([num(r[n]) for n in ("diff_mean", "diff_ci_lo", "diff_ci_hi", "t_pvalue")],
                                   (d.mean(), dlo, dhi, sps.ttest_1samp(d, 0).pvalue), rtol=1e-10)
        assert num(r["wilcoxon_pvalue"]) == pytest.approx(sps.wilcoxon(d).pvalue, rel=1e-10)
    assert final["none"].max() > np.percentile(final["none"], 75) + 1.5 * sps.iqr(final["none"])  # an outlier


def test_summary_csv_of_a_run_with_seeds_on_the_plateau_adds_each_arm_over_the_others(qtbot, tmp_path):
    """Random init's seeds 2 and 3 end at 60 % test error (above the 50 % plateau bound): each arm's row over every
    seed is followed by its row over seeds 0 and 1 ("off plateau"), its box, interval and paired difference to
    "none" computed here over those seeds (numpy, scipy); both rows name the plateau seeds."""
    stuck = {("none", 2, syn.EPOCHS - 1), ("none", 3, syn.EPOCHS - 1)}
    events = [dataclasses.replace(e, test_error=0.6) if isinstance(e, EpochMetrics) and (e.arm, e.seed, e.epoch)
              in stuck else e for e in syn.events()]
    store = RunStore()
    store.ingest(events)
    columns, rows = exported(qtbot, store, tmp_path, "Summary")
    assert [(r["arm"], r["seeds_kept"]) for r in rows] == [(a, k) for a in syn.ARMS for k in ("all", "off plateau")]
    final = {a: {s: 100 * syn.metric(a, s, syn.EPOCHS - 1, "test_error") for s in syn.SEEDS} for a in syn.ARMS}
    final["none"][2] = final["none"][3] = 60.0
    for r in rows:
        seeds = list(syn.SEEDS) if r["seeds_kept"] == "all" else [0, 1]
        v = np.array([final[r["arm"]][s] for s in seeds])
        assert r["group"] == "" and r["run"] == "" and r["plateau_seeds"] == "2;3"
        assert int(r["n"]) == len(seeds) and r["values"] == ";".join(f"s{s}={final[r['arm']][s]!r}" for s in seeds)
        q1, med, q3 = np.percentile(v, [25, 50, 75])
        iqr = q3 - q1
        inside = v[(v >= q1 - 1.5 * iqr) & (v <= q3 + 1.5 * iqr)]
        lo, hi = t_interval(v)
        names = ("q1", "median", "q3", "whisker_lo", "whisker_hi", "min", "max", "mean", "std", "ci_lo", "ci_hi")
        np.testing.assert_allclose([num(r[n]) for n in names], (q1, med, q3, inside.min(), inside.max(), v.min(),
                                   v.max(), v.mean(), v.std(ddof=1), lo, hi), rtol=1e-10, err_msg=str(r))
        if r["arm"] == "none":
            assert [r[n] for n in columns[15:22]] == [""] * 7
            continue
        d = v - np.array([final["none"][s] for s in seeds])
        dlo, dhi = t_interval(d)
        assert r["diff_reference"] == "none" and int(r["diff_n"]) == len(seeds)
        np.testing.assert_allclose([num(r[n]) for n in ("diff_mean", "diff_ci_lo", "diff_ci_hi", "t_pvalue")],
                                   (d.mean(), dlo, dhi, sps.ttest_1samp(d, 0).pvalue), rtol=1e-10)
        assert num(r["wilcoxon_pvalue"]) == pytest.approx(sps.wilcoxon(d).pvalue, rel=1e-10)


def low_share(w: np.ndarray, shape: tuple[int, int] = (28, 28)) -> float:
    """Share of an h x w filter's (mean removed) spectral energy within 0.25 cycles/pixel of DC."""
    img = w.reshape(shape).astype(np.float64)
    power = np.abs(np.fft.fft2(img - img.mean())) ** 2
    radius = np.sqrt(np.fft.fftfreq(shape[0])[:, None] ** 2 + np.fft.fftfreq(shape[1])[None, :] ** 2)
    return float(power[radius <= 0.25 + 1e-12].sum() / power.sum())


@pytest.mark.parametrize("normalisation", ["per-tile", "global"])
def test_filters_csv_every_column(qtbot, store, tmp_path, normalisation):
    """The newest snapshot of both sides (fine-tuning epoch 5 of seed 2): every filter's drawn 28 x 28 values
    (scaled per tile, or raw with symmetric levels), its low-frequency share and its fine-tuning change."""
    seed = 2
    columns, rows = exported(qtbot, store, tmp_path, "Filters", left="dae", right="none", seed=seed,
                             normalisation=normalisation)
    fixed = ["side", "arm", "seed", "phase", "epoch", "filter", "tile_h", "tile_w", "level_lo", "level_hi",
             "low_freq_share", "finetune_change"]
    assert columns == fixed + [f"v{i}" for i in range(784)]
    assert [(r["side"], r["arm"]) for r in rows] == [("left", "dae")] * syn.N_FILTERS + \
        [("right", "none")] * syn.N_FILTERS
    for r in rows:
        arm = r["arm"]
        last = syn.EPOCHS - 1
        w = syn.filters(arm, seed, "finetune", last).astype(np.float64)
        start = syn.filters(arm, seed, "finetune", 0).astype(np.float64)
        i = int(r["filter"])
        assert (int(r["seed"]), r["phase"], int(r["epoch"]), int(r["tile_h"]), int(r["tile_w"])) == \
            (seed, "finetune", last, 28, 28)
        drawn = np.array([num(r[f"v{j}"]) for j in range(784)])
        if normalisation == "per-tile":
            np.testing.assert_allclose(drawn, w[i] / np.abs(w[i]).max(), rtol=1e-6)
            assert (num(r["level_lo"]), num(r["level_hi"])) == (-1.0, 1.0)
        else:
            np.testing.assert_allclose(drawn, w[i], rtol=1e-6)
            m = np.abs(w).max()
            assert (num(r["level_lo"]), num(r["level_hi"])) == pytest.approx((-m, m), rel=1e-6)
        assert num(r["low_freq_share"]) == pytest.approx(low_share(w[i]), rel=1e-6)
        change = np.linalg.norm(w[i] - start[i]) / np.linalg.norm(start[i])
        assert num(r["finetune_change"]) == pytest.approx(change, rel=1e-6)
    assert sorted(int(r["filter"]) for r in rows if r["side"] == "left") == list(range(syn.N_FILTERS))



def test_filters_csv_before_fine_tuning_and_with_nothing_drawn(qtbot, tmp_path):
    """A run still pre-training (no fine-tuning snapshot yet): every filter's row has an empty finetune_change, its
    values those of the latest snapshot (the dae's last pre-training epoch; the random-init arm's initial filters).
    A side with no snapshot leaves the other's rows; with nothing drawn the CSV has the fixed columns only."""
    from desktop_app.core.events import FilterSnapshot

    seed = 2
    live = RunStore()
    live.ingest([e for e in syn.events() if not (isinstance(e, FilterSnapshot) and e.phase == "finetune")])
    columns, rows = exported(qtbot, live, tmp_path, "Filters", left="dae", right="none", seed=seed,
                             normalisation="global")
    assert len(rows) == 2 * syn.N_FILTERS and {r["finetune_change"] for r in rows} == {""}
    for r in rows:
        phase, epoch = ("pretrain", syn.PRETRAIN_EPOCHS) if r["arm"] == "dae" else ("init", 0)
        assert (r["phase"], int(r["epoch"])) == (phase, epoch)
        w = syn.filters(r["arm"], seed, phase, epoch).astype(np.float64)[int(r["filter"])]
        np.testing.assert_allclose([num(r[f"v{j}"]) for j in range(784)], w, rtol=1e-6)
    # the left arm's filters not snapshotted for this seed (the storage policy's keep_seeds): the right side alone
    half = RunStore()
    half.ingest([e for e in syn.events() if not (isinstance(e, FilterSnapshot) and e.arm == "dae")])
    _, rows = exported(qtbot, half, tmp_path, "Filters", left="dae", right="none", seed=seed)
    assert [(r["side"], r["arm"], int(r["filter"])) for r in rows] == [("right", "none", i)
                                                                         for i in range(syn.N_FILTERS)]
    columns, rows = exported(qtbot, RunStore(), tmp_path, "Filters")
    assert columns == ["side", "arm", "seed", "phase", "epoch", "filter", "tile_h", "tile_w", "level_lo", "level_hi",
                       "low_freq_share", "finetune_change"] and rows == []


def test_filters_csv_before_fine_tuning_and_with_tiles_of_two_shapes(qtbot, tmp_path):
    """Before a second fine-tuning snapshot there is no change to export (an empty cell, not a number), and when the
    two sides' tiles differ in shape (the DAE's filters here read 28 x 14 inputs, random init's 14 x 14) each row is
    as wide as the larger tile (h x w values): the smaller tile's values, then empty cells."""
    shapes = {"dae": (28, 14), "none": (14, 14)}
    cut = {}  # (arm, seed, phase, epoch) -> the filters as sent, 12 x (h * w)

    def reshaped(e):
        if not isinstance(e, FilterSnapshot):
            return e
        h, w = shapes[e.arm]
        cut[(e.arm, e.seed, e.phase, e.epoch)] = np.ascontiguousarray(e.weights[:, : h * w])
        return dataclasses.replace(e, weights=cut[(e.arm, e.seed, e.phase, e.epoch)], input_shape=(1, h, w))

    store = RunStore()
    store.ingest([reshaped(e) for e in syn.events(epochs=1)])  # fine-tuning epoch 0 only: no change yet
    columns, rows = exported(qtbot, store, tmp_path, "Filters", left="dae", right="none", seed=1,
                             normalisation="per-tile")
    assert columns[12:] == [f"v{i}" for i in range(28 * 14)]
    assert all(None not in r for r in rows)  # no row longer than the header (DictReader keeps extras under None)
    assert [(r["side"], r["arm"]) for r in rows] == [("left", "dae")] * syn.N_FILTERS + \
        [("right", "none")] * syn.N_FILTERS
    for r in rows:
        h, w = shapes[r["arm"]]
        weights = cut[(r["arm"], 1, "finetune", 0)]
        i = int(r["filter"])
        assert (r["seed"], r["phase"], r["epoch"], r["tile_h"], r["tile_w"]) == ("1", "finetune", "0", str(h), str(w))
        assert r["finetune_change"] == ""
        values = [r[f"v{j}"] for j in range(28 * 14)]
        assert values[h * w:] == [""] * (28 * 14 - h * w)
        np.testing.assert_allclose([num(v) for v in values[: h * w]], weights[i] / np.abs(weights[i]).max(),
                                   rtol=1e-6)
        assert num(r["low_freq_share"]) == pytest.approx(low_share(weights[i], (h, w)), rel=1e-6)


def test_filters_csv_exports_the_side_that_has_filters(qtbot, tmp_path):
    """An arm with no filter snapshot yet (random init here) on the left: its side has no rows and the right side's
    are all there; with no snapshot on either side the file is the header of the fixed columns alone."""
    store = RunStore()
    store.ingest([e for e in syn.events() if not (isinstance(e, FilterSnapshot) and e.arm == "none")])
    columns, rows = exported(qtbot, store, tmp_path, "Filters", left="none", right="dae", seed=0)
    assert [(r["side"], r["arm"], r["filter"]) for r in rows] == [("right", "dae", str(i))
                                                                  for i in range(syn.N_FILTERS)]
    assert len(columns) == 12 + 784
    empty = RunStore()
    empty.ingest([e for e in syn.events() if not isinstance(e, FilterSnapshot)])
    columns, rows = exported(qtbot, empty, tmp_path, "Filters")
    assert columns == ["side", "arm", "seed", "phase", "epoch", "filter", "tile_h", "tile_w", "level_lo", "level_hi",
                       "low_freq_share", "finetune_change"] and rows == []


def test_filters_csv_of_filters_over_a_non_square_input(qtbot, tmp_path):
    """Dense filters over a 4 x 7 input (an imported data set need not be square): 4 x 7 tiles, 28 value columns,
    and each filter's low-frequency share over its own 4 x 7 spectrum (computed here with numpy's FFT)."""
    from desktop_app.core.events import FilterSnapshot, RunStarted

    rng = np.random.default_rng(29)
    weights = {(arm, phase, e): rng.normal(0, 0.1, (3, 28)).astype(np.float32)
               for arm in ("none", "dae") for phase, e in (("init", 0), ("finetune", 0), ("finetune", 1))}
    store = RunStore()
    store.ingest([RunStarted("/synthetic/wide", "wide", ("none", "dae"), (0,), "cpu", 10)]
                 + [FilterSnapshot(arm, 0, phase, e, w, (1, 4, 7)) for (arm, phase, e), w in weights.items()])
    columns, rows = exported(qtbot, store, tmp_path, "Filters", left="dae", right="none", seed=0,
                             normalisation="global")
    assert columns[12:] == [f"v{j}" for j in range(28)] and len(rows) == 6
    assert all(None not in r for r in rows)  # no row longer than the header
    fy, fx = np.fft.fftfreq(4), np.fft.fftfreq(7)
    low = np.sqrt(fy[:, None] ** 2 + fx[None, :] ** 2) <= 0.25 + 1e-12
    for r in rows:
        w = weights[(r["arm"], "finetune", 1)][int(r["filter"])].astype(np.float64)
        assert (int(r["tile_h"]), int(r["tile_w"])) == (4, 7)
        np.testing.assert_allclose([num(r[f"v{j}"]) for j in range(28)], w, rtol=1e-6)
        img = w.reshape(4, 7)
        power = np.abs(np.fft.fft2(img - img.mean())) ** 2
        assert num(r["low_freq_share"]) == pytest.approx(power[low].sum() / power.sum(), rel=1e-6)


@pytest.mark.parametrize("band", ["none", "± std", "min–max"])
def test_summarise_of_no_seeds_is_empty(band):
    """An arm with no values yet (a live run before its first epoch): no epoch, no mean, no band."""
    from desktop_app.ui.panels.curves import summarise

    out = summarise(np.zeros(0, dtype=np.int64), np.zeros((0, 0)), band)
    assert [len(a) for a in out] == [0] * 5


def test_summarise_gives_one_seed_no_spread_and_skips_epochs_no_seed_reached():
    """Seeds still running leave NaN gaps: an epoch one seed reached has that seed's value and a +- std band of
    zero width (no NaN: ddof 1 of one value), an epoch none reached is left out."""
    from desktop_app.ui.panels.curves import summarise

    values = np.array([[1.0, 2.0, np.nan], [np.nan, 4.0, np.nan]])
    epochs, mean, lo, hi, n = summarise(np.array([0, 1, 2]), values, "± std")
    assert epochs.tolist() == [0, 1] and n.tolist() == [1, 2] and mean.tolist() == [1.0, 3.0]
    std = np.std([2.0, 4.0], ddof=1)
    assert lo.tolist() == [1.0, 3.0 - std] and hi.tolist() == [1.0, 3.0 + std]


def test_summarise_cuts_the_std_band_at_zero():
    """NLL, error and reconstruction error are never negative: a seed stuck high beside fitted ones made mean - std
    negative (a new user saw the NLL band reach -0.45). The band's low edge stops at 0; elsewhere it is mean +- std."""
    from desktop_app.ui.panels.curves import summarise

    values = np.array([[0.01, 2.0, 1.0], [0.01, 0.01, 1.2], [2.3, 0.02, 1.1]])
    epochs, mean, lo, hi, n = summarise(np.array([0, 1, 2]), values, "± std")
    m, std = values.mean(axis=0), np.std(values, axis=0, ddof=1)
    assert (m[:2] - std[:2] < 0).all()  # the case: the plain band went below 0
    assert lo.tolist() == [0.0, 0.0, pytest.approx(m[2] - std[2])]
    assert hi.tolist() == pytest.approx((m + std).tolist())


def test_online_error_csv_every_column(qtbot, store, tmp_path):
    columns, rows = exported(qtbot, store, tmp_path, "Online error")
    assert columns == ["run", "hidden_layers", "arm", "seed", "examples", "online_error", "test_error", "test_nll",
                       "block"]
    want = {(p.arm, p.seed, p.examples): p for p in syn.online_points()}
    assert len(rows) == len(want)
    for r in rows:
        p = want[(r["arm"], int(r["seed"]), int(r["examples"]))]
        assert (num(r["online_error"]), num(r["test_error"]), num(r["test_nll"])) == \
            (p.online_error, p.test_error, p.test_nll)
        assert int(r["block"]) == p.block
        assert r["run"] == "/synthetic/run" and int(r["hidden_layers"]) == 0  # no config to read: depth unknown
