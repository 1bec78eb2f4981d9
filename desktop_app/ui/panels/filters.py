"""Filters panel: first-layer weights of a pretrained and a random-init net side by side, scrubbable in time.

Erhan et al. (2010): pre-trained first-layer filters look like strokes and blobs and barely change during
fine-tuning, while random-init filters stay noisy. Each side is ONE mosaic image (tiling.py), so a
thousand filters cost one texture upload per redraw. Under each mosaic two numbers make both claims
checkable (core/analysis/filter_metrics.py): the shown filters' low-frequency energy share next to white
noise's, and a histogram of each unit's relative weight change over fine-tuning.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QTextOption
from PySide6.QtWidgets import QComboBox, QCompleter, QHBoxLayout, QLabel, QPushButton, QSlider, QWidget

from desktop_app.core import tiling
from desktop_app.core.analysis import filter_metrics
from desktop_app.core.events import PHASE_ORDER
from desktop_app.ui.panels.base import FOREGROUND, NarrowLabel, Panel, arm_color, style_plot
from desktop_app.ui.panels.storage_note import storage_note
from desktop_app.ui.run_store import FILTERS, RunStore

SIDES = ("left", "right")
GREY = pg.ColorMap([0.0, 1.0], [(0, 0, 0), (255, 255, 255)])
PLAY_INTERVAL_MS = 400
CHANGE_BINS = 20

Key = tuple[str, int]  # (phase, epoch)


def key_order(key: Key) -> tuple[int, int]:
    return PHASE_ORDER.get(key[0], 9), key[1]


def describe(key: Key | None, points: Sequence[int] = ()) -> str:
    """Slider label for a snapshot, e.g. pre-training epoch 3 or fine-tuning epoch 5. ``points``: an online run's
    evaluation points (examples seen at each): its snapshots are numbered by point, not by epoch (a new user read
    "fine-tuning epoch 20" for the end of a 10^6-example stream)."""
    if key is None:
        return "no snapshot yet"
    phase, epoch = key
    if phase == "init":
        return "initialisation"
    if points and phase == "pretrain":
        return "after pre-training"
    if points and phase == "finetune" and 1 <= epoch <= len(points):
        return f"{points[epoch - 1]:,} examples seen (point {epoch} of {len(points)})"
    if points and phase == "finetune":
        return f"evaluation point {epoch}"
    if phase == "pretrain":
        return f"pre-training epoch {epoch}"
    if phase == "finetune":
        return "fine-tuning epoch 0 (after pre-training)" if epoch == 0 else f"fine-tuning epoch {epoch}"
    return f"{phase} epoch {epoch}"


HIST_HEIGHT = (80, 130)  # px: the weight-change histograms' height, at least and at most
HIST_SHARE = 0.2  # of the plots' height, between those


@dataclass
class SideState:
    """What one side currently draws."""

    arm: str = ""
    seed: int = 0
    key: Key | None = None
    image: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32))
    levels: tuple[float, float] = (-1.0, 1.0)
    tiles: np.ndarray = field(default_factory=lambda: np.zeros((0, 0, 0), np.float32))
    structure: float = float("nan")  # mean low-frequency energy share of the shown filters
    noise: float = float("nan")  # what white-noise filters of the same size would give
    change: np.ndarray | None = None  # per unit ||W_end - W_start|| / ||W_start|| over fine-tuning
    span: tuple[Key, Key] | None = None  # the (start, end) snapshots of ``change``


class FiltersPanel(Panel):
    title = "Filters"
    explanation = ("First-layer filters (weights in the input's shape; black negative, white positive) of a "
                   "pre-trained and a randomly initialised net, scrubbable over training: pre-trained filters "
                   "look like strokes and barely move during fine-tuning.")
    kinds = (FILTERS,)

    def __init__(self, store: RunStore, parent: QWidget | None = None) -> None:
        super().__init__(store, parent)
        self.arm_boxes = {side: QComboBox() for side in SIDES}
        self.arm_boxes["left"].setToolTip("Arm shown on the left (default: the first pre-trained arm)")
        self.arm_boxes["right"].setToolTip("Arm shown on the right (default: none = random initialisation)")
        self.seed_box = seed_chooser()
        self.norm_box = QComboBox()
        self.norm_box.addItems(list(tiling.NORMALISATIONS))
        self.norm_box.setToolTip("per-tile: each filter scaled to its own max |w| (shapes); "
                                 "global: one scale for all filters of a side (magnitudes)")
        self.channel_box = QComboBox()
        self.channel_box.addItems(list(tiling.CHANNEL_MODES))
        self.channel_box.setToolTip("Several input channels: show their mean or the first one")
        self.add_tool("Left", self.arm_boxes["left"], "Right", self.arm_boxes["right"], "Seed", self.seed_box,
                      "Scale", self.norm_box, "Channels", self.channel_box)
        self.finish_toolbar()
        for box in (*self.arm_boxes.values(), self.seed_box, self.norm_box, self.channel_box):
            box.currentIndexChanged.connect(self._on_selection)

        # time scrubber under the mosaics
        self.play_button = QPushButton("Play")
        self.play_button.setCheckable(True)
        self.play_button.setToolTip("Step through the snapshots (init, pre-training, fine-tuning)")
        self.play_button.toggled.connect(self._on_play)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, 0)
        self.slider.setPageStep(1)
        self.slider.setToolTip("Snapshot in time; at the right end the panel follows new snapshots live")
        self.slider.valueChanged.connect(self._on_slider)
        self.time_label = QLabel(describe(None))
        self.time_label.setMinimumWidth(260)
        row = QHBoxLayout()
        row.addWidget(self.play_button)
        row.addWidget(self.slider, 1)
        row.addWidget(self.time_label)
        self.layout().addLayout(row)
        self.storage_label = QLabel("")  # what the run's storage policy left out (snapshots.keep_seeds, every)
        self.storage_label.setWordWrap(True)
        self.storage_label.setStyleSheet("color: #555;")
        self.storage_label.setVisible(False)
        self.layout().addWidget(self.storage_label)
        self.timer = QTimer(self)
        self.timer.setInterval(PLAY_INTERVAL_MS)
        self.timer.timeout.connect(self._step)

        self.timeline: list[Key] = []
        self.sides = {side: SideState() for side in SIDES}
        self.titles: dict[str, pg.LabelItem] = {}
        self.views: dict[str, pg.ViewBox] = {}
        self.images: dict[str, pg.ImageItem] = {}
        self.bars: dict[str, pg.ColorBarItem] = {}
        self.hists: dict[str, pg.PlotItem] = {}
        self.hist_titles: dict[str, pg.LabelItem] = {}
        self.hist_curves: dict[str, pg.PlotDataItem] = {}
        for i, side in enumerate(SIDES):
            sub = self.graphics.addLayout(row=0, col=i)  # title, mosaic and colour bar of one side
            self.titles[side] = _Title("", color=FOREGROUND)
            sub.addItem(self.titles[side], row=0, col=0, colspan=2)
            view = sub.addViewBox(row=1, col=0, lockAspect=True, invertY=True, enableMenu=False)
            img = pg.ImageItem(axisOrder="row-major")
            img.setColorMap(GREY)
            view.addItem(img)
            bar = pg.ColorBarItem(values=(-1, 1), colorMap=GREY, interactive=False, width=12, pen=FOREGROUND,
                                  colorMapMenu=False)
            for name in ("left", "right", "top", "bottom"):
                bar.getAxis(name).setPen(pg.mkPen(FOREGROUND))
                bar.getAxis(name).setTextPen(pg.mkPen(FOREGROUND))
            sub.addItem(bar, row=1, col=1)
            self.views[side], self.images[side], self.bars[side] = view, img, bar
            self.hist_titles[side] = _Title("", color=FOREGROUND, size="9pt")
            sub.addItem(self.hist_titles[side], row=2, col=0, colspan=2)
            hist = sub.addPlot(row=3, col=0, colspan=2)
            style_plot(hist, x="‖W_end − W_start‖ / ‖W_start‖ per unit", y="units")
            hist.getAxis("bottom").enableAutoSIPrefix(False)
            hist.setMaximumHeight(HIST_HEIGHT[1])
            hist.setMouseEnabled(x=False, y=False)
            hist.hideButtons()
            self.hists[side] = hist
            self.hist_curves[side] = hist.plot([0.0, 1.0], [0.0], stepMode="center", fillLevel=0)
        self.request_refresh()

    def graphics_resized(self) -> None:
        """The histograms give way on a short panel: the mosaics (what the panel is for) keep the height; at
        1280x800 a fixed 130 px histogram under a wrapped header left them about 95 px."""
        lo, hi = HIST_HEIGHT
        height = max(lo, min(hi, round(HIST_SHARE * self.graphics.height())))
        for hist in self.hists.values():
            hist.setMaximumHeight(height)

    # -- selectors ---------------------------------------------------------------------------------
    def _arms(self) -> list[str]:
        arms = list(self.store.arms)
        arms += [a for a, _ in self.store.units() if a not in arms]
        return arms

    def _seeds(self) -> list[int]:
        """The seeds with filter snapshots (a study keeps them for its first seeds only), else every seed."""
        units = self.store.units()
        kept = sorted({s for a, s in units if self.store.unit(a, s).filters})
        return kept or sorted(set(self.store.seeds) | {s for _, s in units})

    def _seed(self) -> int:
        text = self.seed_box.currentText().strip()
        return int(text) if text.isdigit() else (self._seeds() or [0])[0]

    def _update_storage_note(self) -> None:
        note = storage_note(self.store.run_dir)
        self.storage_label.setText(f"Not stored: {note}." if note else "")
        self.storage_label.setVisible(bool(note))

    def _sync_selectors(self) -> None:
        """Repopulate the combos when arms/seeds appear, keeping the user's choice."""
        arms, seeds = self._arms(), [str(s) for s in self._seeds()]
        pretrained = [a for a in arms if a != "none"]
        defaults = {"left": pretrained[0] if pretrained else (arms[0] if arms else ""),
                    "right": "none" if "none" in arms else (arms[-1] if arms else "")}
        for side, box in self.arm_boxes.items():
            _fill(box, arms, defaults[side])
        _fill(self.seed_box, seeds, seeds[0] if seeds else "")

    def select(self, left: str | None = None, right: str | None = None, seed: int | None = None,
               normalisation: str | None = None) -> None:
        """Set selectors programmatically (tests, scripts)."""
        for box, value in ((self.arm_boxes["left"], left), (self.arm_boxes["right"], right),
                           (self.seed_box, None if seed is None else str(seed)), (self.norm_box, normalisation)):
            if value is not None:
                box.setCurrentText(value)

    def _on_selection(self, _index: int = 0) -> None:
        self.request_refresh()

    # -- time ------------------------------------------------------------------------------------
    def _points(self) -> list[int]:
        """An online run's evaluation points (examples seen), read from a unit's recorded points; () otherwise."""
        if self.store.kind != "online":
            return []
        for arm, seed in self.store.units():
            examples, _ = self.store.online_curve(arm, seed)
            if len(examples):
                return [int(e) for e in examples]
        return []

    def _snapshots(self, arm: str, seed: int) -> dict[Key, np.ndarray]:
        return {(phase, int(epoch)): w for phase, epoch, w in self.store.filters(arm, seed)}

    def _on_slider(self, _value: int) -> None:
        self._draw()

    def _on_play(self, playing: bool) -> None:
        self.play_button.setText("Pause" if playing else "Play")
        if playing:
            if self.slider.value() >= self.slider.maximum():
                self.slider.setValue(0)
            self.timer.start()
        else:
            self.timer.stop()

    def _step(self) -> None:
        if self.slider.value() >= self.slider.maximum():
            self.play_button.setChecked(False)
            return
        self.slider.setValue(self.slider.value() + 1)

    def stop(self) -> None:
        self.play_button.setChecked(False)
        self.timer.stop()

    def hideEvent(self, event) -> None:  # noqa: N802 - Qt override
        self.stop()
        super().hideEvent(event)

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt override
        self.stop()
        super().closeEvent(event)

    # -- drawing ---------------------------------------------------------------------------------
    def refresh(self) -> None:
        self._sync_selectors()
        self._update_storage_note()
        seed = self._seed()
        keys: set[Key] = set()
        for side in SIDES:
            keys |= set(self._snapshots(self.arm_boxes[side].currentText(), seed))
        at_end = self.slider.value() >= self.slider.maximum()
        self.timeline = sorted(keys, key=key_order)
        self.slider.blockSignals(True)
        self.slider.setRange(0, max(len(self.timeline) - 1, 0))
        if at_end:  # follow the newest snapshot live
            self.slider.setValue(self.slider.maximum())
        self.slider.blockSignals(False)
        self._draw()

    def current_key(self) -> Key | None:
        return self.timeline[self.slider.value()] if self.timeline else None

    def _draw(self) -> None:
        key = self.current_key()
        points = self._points()
        self.time_label.setText(f"{describe(key, points)}  ({self.slider.value() + 1 if key else 0}/"
                                f"{len(self.timeline)})")
        seed = self._seed()
        for side in SIDES:
            arm = self.arm_boxes[side].currentText()
            snaps = self._snapshots(arm, seed)
            # the latest snapshot of this arm at or before the slider's time: a random-init arm shows its
            # initial filters while the other arm pre-trains
            shown = [k for k in snaps if key is not None and key_order(k) <= key_order(key)]
            k = max(shown, key=key_order) if shown else None
            state = SideState(arm=arm, seed=seed, key=k)
            if k is not None:
                input_shape = self.store.unit(arm, seed).filter_input_shape
                state.image, state.levels, state.tiles = tiling.tile_filters(
                    snaps[k], input_shape, self.norm_box.currentText(), self.channel_box.currentText())
                shape = filter_metrics.structure(snaps[k], input_shape)
                state.structure, state.noise = shape.mean, shape.noise
            state.span = filter_metrics.finetune_span(set(snaps))
            if state.span is not None:
                state.change = filter_metrics.relative_change(snaps[state.span[0]], snaps[state.span[1]])
            self.sides[side] = state
            self._draw_side(side, state)
        self._draw_histograms()

    def _draw_histograms(self) -> None:
        """Both sides' per-unit change on the same bins and axes, so the two arms compare at a glance."""
        values = [s.change[np.isfinite(s.change)] for s in self.sides.values() if s.change is not None]
        top = max((float(v.max()) for v in values if len(v)), default=0.0)
        edges = np.linspace(0.0, top * 1.05 if top > 0 else 1.0, CHANGE_BINS + 1)
        peak = 1
        for side, s in self.sides.items():
            counts = np.zeros(CHANGE_BINS)
            if s.change is not None:
                counts = np.histogram(s.change[np.isfinite(s.change)], bins=edges)[0].astype(float)
            peak = max(peak, int(counts.max(initial=0)))
            colour = arm_color(s.arm, self._arms())
            fill = pg.mkColor(colour)
            fill.setAlpha(120)
            self.hist_curves[side].setData(edges, counts, stepMode="center", fillLevel=0, brush=fill,
                                           pen=pg.mkPen(colour))
            self.hist_titles[side].setText(_change_text(s, self._points()))
        for hist in self.hists.values():
            hist.setXRange(float(edges[0]), float(edges[-1]), padding=0)
            hist.setYRange(0, peak * 1.1, padding=0)
            # two labels, 0 and the tallest bar's count: on a short panel pyqtgraph's own three or four were
            # closer together than a line of text
            hist.getAxis("left").setTicks([[(0, "0"), (peak, str(peak))], []])

    def _draw_side(self, side: str, state: SideState) -> None:
        img = self.images[side]
        if state.image.size:
            reframe = img.image is None or img.image.shape != state.image.shape  # keep the user's zoom otherwise
            img.setImage(state.image, levels=state.levels, autoLevels=False)
            img.setVisible(True)
            if reframe:
                self.views[side].autoRange(padding=0.02)
        else:
            img.setVisible(False)
        self.bars[side].setLevels(state.levels)
        n = len(state.tiles)
        what = f"{n} filters of {state.tiles.shape[1]}×{state.tiles.shape[2]}" if n else "no filters yet"
        shape = (f"<br>structure (low-frequency energy share): <b>{state.structure:.3f}</b>"
                 f" (white noise {state.noise:.3f})") if np.isfinite(state.structure) else ""
        if not state.arm:  # nothing loaded yet: no arm or seed to name
            self.titles[side].setText(f"{describe(state.key, self._points())} · {what}")
            return
        self.titles[side].setText(
            f"<b>{_arm_text(state.arm)}</b> · seed {state.seed} · {describe(state.key, self._points())} · "
            f"{what}{shape}")

    def data_table(self) -> tuple[list[str], list[list[Any]]]:
        """One row per drawn filter: where it is, the levels, and its tile's drawn values (row-major)."""
        width = max((s.tiles.shape[1] * s.tiles.shape[2] for s in self.sides.values() if len(s.tiles)), default=0)
        columns = ["side", "arm", "seed", "phase", "epoch", "filter", "tile_h", "tile_w", "level_lo", "level_hi",
                   "low_freq_share", "finetune_change"]
        columns += [f"v{i}" for i in range(width)]
        rows: list[list[Any]] = []
        for side, s in self.sides.items():
            if s.key is None:
                continue
            _, h, w = s.tiles.shape
            snaps = self._snapshots(s.arm, s.seed)
            shares = filter_metrics.low_frequency_share(snaps[s.key], self.store.unit(s.arm, s.seed).filter_input_shape)
            for i, tile in enumerate(s.tiles):
                values = [float(v) for v in tile.ravel()]
                change = float(s.change[i]) if s.change is not None and i < len(s.change) else ""
                rows.append([side, s.arm, s.seed, s.key[0], s.key[1], i, h, w, *s.levels, float(shares[i]), change,
                             *values,
                             *([""] * (width - len(values)))])
        return columns, rows


class _Title(NarrowLabel):
    """A label that does not claim its text width, so both sides of the panel get the same width, and wraps its
    text to the width it gets (centred): unwrapped, a long header ran under its neighbour's at 1280 px
    ("(white noise 0.189)structure"). Its height follows the wrapped lines."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.item.document().setDefaultTextOption(QTextOption(Qt.AlignmentFlag.AlignHCenter))

    def resizeEvent(self, ev: Any) -> None:  # noqa: N802 - Qt override
        width = max(1.0, self.size().width())
        if abs(self.item.textWidth() - width) > 0.5:
            self.item.setTextWidth(width)
            self.updateMin()  # the wrapped height
        super().resizeEvent(ev)


def _change_text(s: SideState, points: Sequence[int] = ()) -> str:
    if s.change is None or s.span is None or not np.isfinite(s.change).any():
        first = "the first evaluation point" if points else "the first fine-tuning epoch"
        return f"weight change over fine-tuning: after {first}"
    finite = s.change[np.isfinite(s.change)]
    return (f"fine-tuning moved {len(finite)} units: median <b>{np.median(finite):.3f}</b>, mean {finite.mean():.3f}"
            f"<br>(from {describe(s.span[0], points)} to {describe(s.span[1], points)})")


def _arm_text(arm: str) -> str:
    return "none (random init)" if arm == "none" else (arm or "–")


def seed_chooser() -> QComboBox:
    """A seed combo that scales to a study's 400 seeds: editable, so typing a seed finds it (a completer lists the
    seeds starting with what is typed), and at most 20 rows when it drops down."""
    box = QComboBox()
    box.setEditable(True)
    box.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
    box.setMaxVisibleItems(20)
    box.completer().setCompletionMode(QCompleter.CompletionMode.PopupCompletion)
    box.completer().setFilterMode(Qt.MatchFlag.MatchStartsWith)
    box.setToolTip("Seed: the same seed of two arms shares initialisation and data order; type a seed to find it")
    return box


def _fill(box: QComboBox, items: list[str], default: str) -> None:
    current = [box.itemText(i) for i in range(box.count())]
    if current == items:
        return
    keep = box.currentText()
    box.blockSignals(True)
    box.clear()
    box.addItems(items)
    box.setCurrentText(keep if keep in items else default)
    box.blockSignals(False)
