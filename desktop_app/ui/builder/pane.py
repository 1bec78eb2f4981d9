"""BuilderPane: point-and-click editor of one ExperimentConfig, validated on every edit."""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QScrollArea,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from desktop_app.core.config import (
    ACTIVATIONS,
    ARMS,
    DATASETS,
    DEVICES,
    ELASTIC_BASES,
    EXPERIMENT_KINDS,
    INITS,
    NOISES,
    OPTIMIZERS,
    RESAMPLE_MODES,
    ConfigError,
    ExperimentConfig,
    iter_errors,
)
from desktop_app.ui.builder.fields import (
    INVALID_STYLE,
    FloatSpin,
    IntSpin,
    change_signal,
    combo,
    read_value,
    set_invalid,
    write_value,
)
from desktop_app.ui.builder.layer_table import LayerTable
from desktop_app.ui.builder.tooltips import tooltip

PATH_DATASETS = ("mnist", "fashion-mnist", "npz", "image-folder")
DOWNLOADABLE = ("mnist", "fashion-mnist")
ARM_LABELS = {"none": "none (random init)", "rbm": "RBM", "dae": "DAE", "cae": "CAE (conv)"}
_LAYER_FIELD = re.compile(r"^model\.layers\[(\d+)\]\.(\w+)$")


def get_path(obj: Any, path: str) -> Any:
    for part in path.split("."):
        obj = getattr(obj, part)
    return obj


def replace_path(obj: Any, path: str, value: Any) -> Any:
    """dataclasses.replace along a dotted path: replace_path(cfg, "data.name", "mnist")."""
    head, _, rest = path.partition(".")
    if not rest:
        return dataclasses.replace(obj, **{head: value})
    return dataclasses.replace(obj, **{head: replace_path(getattr(obj, head), rest, value)})


class BuilderPane(QWidget):
    """Edits one ExperimentConfig.

    Signals: ``configChanged(ExperimentConfig)`` after every edit (valid or not) and ``validityChanged(bool)``.
    ``config()`` is the current config, ``errors()`` its ConfigErrors, ``is_valid()`` whether it may start.
    """

    configChanged = Signal(object)
    validityChanged = Signal(bool)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("builder")
        self.setStyleSheet(INVALID_STYLE)
        self._fields: dict[str, QWidget] = {}
        self._forms: dict[str, QFormLayout] = {}
        self._groups: dict[str, QWidget] = {}
        self._cfg = ExperimentConfig()
        self._errors: list[ConfigError] = []
        self._valid = True
        self._loading = False
        self._arm_order: tuple[str, ...] = self._cfg.arms

        body = QWidget()
        col = QVBoxLayout(body)
        col.setSpacing(8)
        col.addWidget(self._experiment_group())
        col.addWidget(self._data_group())
        col.addWidget(self._model_group())
        col.addWidget(self._pretraining_group())
        col.addWidget(self._finetune_group())
        col.addWidget(self._run_group())
        col.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(body)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)

        self.message = QLabel()
        self.message.setObjectName("builderErrors")
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(4, 4, 4, 4)
        outer.addWidget(scroll, 1)
        outer.addWidget(self.message)
        body.setMinimumWidth(340)
        self.set_config(self._cfg)

    # -- building the form ---------------------------------------------------------------------------
    def _bind(self, form: QFormLayout, label: str, path: str, widget: QWidget) -> QWidget:
        widget.setToolTip(tooltip(path))
        change_signal(widget).connect(self._on_edit)
        self._fields[path] = widget
        self._forms[path] = form
        if isinstance(widget, QCheckBox) and not label:
            form.addRow(widget)
        else:
            lab = QLabel(label)
            lab.setToolTip(tooltip(path))
            form.addRow(lab, widget)
        return widget

    def _group(self, key: str, title: str) -> tuple[QGroupBox, QFormLayout]:
        box = QGroupBox(title)
        form = QFormLayout(box)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self._groups[key] = box
        return box, form

    def _experiment_group(self) -> QGroupBox:
        box, form = self._group("experiment", "Experiment")
        self._bind(form, "Name", "name", QLineEdit())
        kind = combo(EXPERIMENT_KINDS)
        for i, name in enumerate(EXPERIMENT_KINDS):
            kind.setItemData(i, tooltip(f"kind.{name}"), Qt.ItemDataRole.ToolTipRole)
        self._bind(form, "Experiment type", "kind", kind)
        ov, ov_form = self._group("output_variance", "Output variance (Erhan 2010, Fig. 3)")
        ov.setToolTip(tooltip("output_variance"))
        self._bind(ov_form, "Blocks", "output_variance.n_blocks", IntSpin(0, 1000))
        self._bind(ov_form, "Resamples per block", "output_variance.resamples", IntSpin(0, 1000))
        self._bind(ov_form, "Resample by", "output_variance.resample", combo(RESAMPLE_MODES))
        form.addRow(ov)
        return box

    def _data_group(self) -> QGroupBox:
        box, form = self._group("data", "Data")
        self._bind(form, "Dataset", "data.name", combo(DATASETS))
        self._bind(form, "Deformed set", "data.base", combo(ELASTIC_BASES))
        path_edit = QLineEdit()
        path_edit.setPlaceholderText("user cache")
        self.browse_button = QToolButton()
        self.browse_button.setText("…")
        self.browse_button.setToolTip("Pick the file or folder")
        self.browse_button.clicked.connect(self._browse_path)
        path_row = QWidget()
        row = QHBoxLayout(path_row)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(path_edit, 1)
        row.addWidget(self.browse_button)
        path_edit.setToolTip(tooltip("data.path"))
        change_signal(path_edit).connect(self._on_edit)
        self._fields["data.path"] = path_edit
        self._forms["data.path"] = form
        self._path_row = path_row
        form.addRow(QLabel("Path"), path_row)
        self._bind(form, "", "data.download", QCheckBox("Download if missing"))
        self._bind(form, "Labelled examples", "data.n_labelled", IntSpin(special="all"))
        self._bind(form, "Unlabelled pool", "data.n_unlabelled", IntSpin(special="all training images"))
        for path in ("data.n_labelled", "data.n_unlabelled"):
            self._fields[path].setSingleStep(100)
        self._bind(form, "Images generated", "data.shapeset_count", IntSpin(0, 10_000_000))
        self._bind(form, "Image size", "data.image_size", IntSpin(0, 1024))
        self._bind(form, "Elastic alpha", "data.elastic_alpha", FloatSpin(0, 1000, 1))
        self._bind(form, "Elastic sigma", "data.elastic_sigma", FloatSpin(0, 1000, 0.5))
        self._bind(form, "Max rotation (°)", "data.affine_degrees", FloatSpin(0, 360, 1))
        self._bind(form, "Max scaling", "data.affine_scale", FloatSpin(0, 10, 0.01))
        return box

    def _model_group(self) -> QGroupBox:
        box, form = self._group("model", "Model")
        self.layer_table = LayerTable()
        self.layer_table.changed.connect(self._on_edit)
        form.addRow(self.layer_table)
        self._bind(form, "Activation", "model.activation", combo(ACTIVATIONS))
        init = combo(INITS)
        for i, name in enumerate(INITS):
            init.setItemData(i, tooltip(f"model.init.{name}"), Qt.ItemDataRole.ToolTipRole)
        self._bind(form, "Initialisation", "model.init", init)
        self._bind(form, "Dropout", "model.dropout", FloatSpin(0, 1, 0.05))
        self._bind(form, "L1", "model.l1", FloatSpin(0, 10, 1e-5))
        self._bind(form, "L2", "model.l2", FloatSpin(0, 10, 1e-5))
        return box

    def _pretraining_group(self) -> QGroupBox:
        box = QGroupBox("Arms (pre-training methods)")
        box.setToolTip(tooltip("arms"))
        self._groups["arms"] = box
        col = QVBoxLayout(box)
        row = QHBoxLayout()
        self.arm_boxes: dict[str, QCheckBox] = {}
        for arm in ARMS:
            cb = QCheckBox(ARM_LABELS[arm])
            cb.setToolTip(tooltip(f"arms.{arm}"))
            cb.toggled.connect(self._on_edit)
            self.arm_boxes[arm] = cb
            row.addWidget(cb)
        row.addStretch(1)
        col.addLayout(row)

        rbm, form = self._group("pretraining.rbm", "RBM pre-training")
        self._bind(form, "Epochs per layer", "pretraining.rbm.epochs", IntSpin(0, 1_000_000))
        self._bind(form, "Learning rate", "pretraining.rbm.lr", FloatSpin(0, 100, 0.01))
        self._bind(form, "CD-k steps", "pretraining.rbm.k", IntSpin(0, 10_000))
        self._bind(form, "", "pretraining.rbm.persistent", QCheckBox("Persistent chains (PCD)"))
        self._bind(form, "Momentum", "pretraining.rbm.momentum", FloatSpin(0, 1, 0.05))
        self._bind(form, "Batch size", "pretraining.rbm.batch_size", IntSpin(0, 10_000_000))
        col.addWidget(rbm)
        for arm, title in (("dae", "Denoising autoencoder"), ("cae", "Convolutional autoencoder")):
            grp, form = self._group(f"pretraining.{arm}", title)
            self._bind(form, "Epochs per layer", f"pretraining.{arm}.epochs", IntSpin(0, 1_000_000))
            self._bind(form, "Learning rate", f"pretraining.{arm}.lr", FloatSpin(0, 100, 0.01))
            self._bind(form, "Noise", f"pretraining.{arm}.noise", combo(NOISES))
            self._bind(form, "Noise level", f"pretraining.{arm}.corruption", FloatSpin(0, 1, 0.05))
            self._bind(form, "Batch size", f"pretraining.{arm}.batch_size", IntSpin(0, 10_000_000))
            col.addWidget(grp)
        return box

    def _finetune_group(self) -> QGroupBox:
        box, form = self._group("finetune", "Fine-tuning")
        self._bind(form, "Optimizer", "finetune.optimizer", combo(OPTIMIZERS))
        self._bind(form, "Learning rate", "finetune.lr", FloatSpin(0, 100, 0.01))
        self._bind(form, "Momentum", "finetune.momentum", FloatSpin(0, 1, 0.05))
        self._bind(form, "Batch size", "finetune.batch_size", IntSpin(0, 10_000_000))
        self._bind(form, "Epochs", "finetune.epochs", IntSpin(0, 10_000_000))
        return box

    def _run_group(self) -> QGroupBox:
        box, form = self._group("run", "Seeds and device")
        self._bind(form, "Paired seeds", "seeds.count", IntSpin(0, 1_000_000))
        self._bind(form, "Base seed", "seeds.base", IntSpin())
        self._bind(form, "Device", "device", combo(DEVICES))
        self._bind(form, "CPU threads", "threads", IntSpin(0, 1024, special="default"))
        return box

    # -- public API ----------------------------------------------------------------------------------
    def config(self) -> ExperimentConfig:
        return self._cfg

    def errors(self) -> list[ConfigError]:
        return list(self._errors)

    def is_valid(self) -> bool:
        return self._valid

    def field_widget(self, path: str) -> QWidget | None:
        """The widget that edits a dotted config field (layer cells as ``model.layers[i].units``)."""
        m = _LAYER_FIELD.match(path)
        if m:
            return self.layer_table.cell_widget(int(m.group(1)), m.group(2))
        if path == "arms" or path.startswith("arms["):
            return self._groups["arms"]
        return self._fields.get(path)

    def set_config(self, cfg: ExperimentConfig) -> None:
        """Fill every widget from cfg (fields the pane does not show are kept as they are)."""
        self._loading = True
        try:
            self._cfg = cfg
            for path, widget in self._fields.items():
                widget.blockSignals(True)
                write_value(widget, get_path(cfg, path))
                widget.blockSignals(False)
            self.layer_table.set_layers(cfg.model.layers)
            self._arm_order = tuple(cfg.arms)
            for arm, cb in self.arm_boxes.items():
                cb.blockSignals(True)
                cb.setChecked(arm in cfg.arms)
                cb.blockSignals(False)
        finally:
            self._loading = False
        self._on_edit()

    # -- editing -------------------------------------------------------------------------------------
    def _read_config(self) -> ExperimentConfig:
        cfg = self._cfg
        for path, widget in self._fields.items():
            value = read_value(widget)
            if get_path(cfg, path) != value:
                cfg = replace_path(cfg, path, value)
        if cfg.model.layers != self.layer_table.layers():
            cfg = replace_path(cfg, "model.layers", self.layer_table.layers())
        checked = [a for a, cb in self.arm_boxes.items() if cb.isChecked()]
        arms = tuple(a for a in self._arm_order if a in checked) + tuple(
            a for a in checked if a not in self._arm_order
        )
        self._arm_order = arms
        if arms != cfg.arms:
            cfg = dataclasses.replace(cfg, arms=arms)
        return cfg

    def _on_edit(self, *_args: object) -> None:
        if self._loading:
            return
        self._cfg = self._read_config()
        self._update_visibility()
        self._errors = list(iter_errors(self._cfg))
        self._show_errors()
        valid = not self._errors
        if valid != self._valid:
            self._valid = valid
            self.validityChanged.emit(valid)
        self.configChanged.emit(self._cfg)

    def _update_visibility(self) -> None:
        d = self._cfg.data
        source = d.base if d.name == "elastic" else d.name
        elastic = d.name == "elastic"
        self._set_row_visible("data.base", elastic)
        self._set_row_visible("data.path", source in PATH_DATASETS)
        self._set_row_visible("data.download", source in DOWNLOADABLE)
        for path in ("data.elastic_alpha", "data.elastic_sigma", "data.affine_degrees", "data.affine_scale"):
            self._set_row_visible(path, elastic)
        for path in ("data.shapeset_count", "data.image_size"):
            self._set_row_visible(path, source == "shapeset")
        for arm in ("rbm", "dae", "cae"):
            self._groups[f"pretraining.{arm}"].setVisible(arm in self._cfg.arms)
        self._groups["output_variance"].setVisible(self._cfg.kind == "output-variance")
        self._fields["finetune.momentum"].setEnabled(self._cfg.finetune.optimizer == "momentum")

    def _set_row_visible(self, path: str, visible: bool) -> None:
        form, widget = self._forms[path], self._fields[path]
        form.setRowVisible(self._path_row if path == "data.path" else widget, visible)

    def _show_errors(self) -> None:
        for path, widget in self._fields.items():
            set_invalid(widget, None, tooltip(path))
        set_invalid(self._groups["arms"], None, tooltip("arms"))
        self.layer_table.clear_errors()
        set_invalid(self.layer_table.table, None, tooltip("model.layers"))
        messages: dict[QWidget, list[str]] = {}
        for err in self._errors:
            widget = self._error_widget(err.field)
            if widget is not None:
                messages.setdefault(widget, []).append(f"{err.field}: {err.message}")
        for widget, lines in messages.items():
            set_invalid(widget, "\n".join(lines))
        if self._errors:
            shown = [f"• {e.field}: {e.message}" for e in self._errors[:6]]
            if len(self._errors) > 6:
                shown.append(f"… and {len(self._errors) - 6} more")
            self.message.setText("<b>Fix before starting:</b><br>" + "<br>".join(_html(s) for s in shown))
            self.message.setStyleSheet("color: #b3261e;")
        else:
            self.message.setText("Ready: the configuration is valid.")
            self.message.setStyleSheet("color: #2e7d32;")

    def _error_widget(self, path: str) -> QWidget | None:
        """The widget to mark for an error's dotted field, else the nearest enclosing one."""
        if path == "model.layers":
            return self.layer_table.table
        widget = self.field_widget(path)
        if widget is not None:
            return widget
        m = re.match(r"^model\.layers\[(\d+)\]", path)
        if m:
            return self.layer_table.cell_widget(int(m.group(1)), "kind")
        parts = path.split(".")
        while len(parts) > 1:
            parts.pop()
            prefix = ".".join(parts)
            if prefix in self._groups:
                return self._groups[prefix]
        return None

    def _browse_path(self) -> None:
        d = self._cfg.data
        source = d.base if d.name == "elastic" else d.name
        edit = self._fields["data.path"]
        assert isinstance(edit, QLineEdit)
        if source in ("image-folder", "mnist", "fashion-mnist"):
            chosen = QFileDialog.getExistingDirectory(self, "Choose the data folder", edit.text())
        else:
            chosen, _ = QFileDialog.getOpenFileName(self, "Choose the data file", edit.text(),
                                                    "NumPy archives (*.npz);;All files (*)")
        if chosen:
            edit.setText(chosen)


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
