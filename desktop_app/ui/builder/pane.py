"""BuilderPane: point-and-click editor of one ExperimentConfig, validated on every edit."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QScrollArea,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from desktop_app.core.config import FIELDS, SECTIONS, ConfigError, Declared, ExperimentConfig, iter_errors
from desktop_app.ui.builder.fields import (
    INVALID_STYLE,
    NumberList,
    change_signal,
    make_widget,
    read_value,
    set_invalid,
    widget_range,
    write_value,
)
from desktop_app.ui.builder.layer_table import LayerTable

PATH_DATASETS = ("mnist", "fashion-mnist", "npz", "image-folder")
DOWNLOADABLE = ("mnist", "fashion-mnist")
# Builder groups that are not config sections, top to bottom; sections get their title from the declaration.
TOP_GROUPS = ("experiment", "data", "model", "arms", "finetune", "evaluation", "run")
GROUP_TITLES = {"experiment": "Experiment", "evaluation": "Evaluation and snapshots", "run": "Seeds and device"}
NESTED_IN = {"output_variance": "experiment", "online": "experiment", "sweep": "experiment",
             "pretraining": "arms", "pretraining.rbm": "arms", "pretraining.dae": "arms", "pretraining.cae": "arms"}
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
        self._file_check: Callable[[ExperimentConfig], ConfigError | None] | None = None
        self._file_problem: ConfigError | None = None

        self._group_forms: dict[str, QFormLayout] = {}
        body = QWidget()
        col = QVBoxLayout(body)
        col.setSpacing(8)
        for key in TOP_GROUPS:
            if key != "arms":
                self._form(key)
        self._build_rows()
        for key in TOP_GROUPS:
            col.addWidget(self._groups[key])
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

    # -- building the form from the declaration -----------------------------------------------------------
    def _build_rows(self) -> None:
        """One row per declared field, in declaration order, in the group its declaration names."""
        for d in FIELDS.values():
            if "[]" in d.path or d.spec.not_shown:
                continue  # layer cells belong to the layer table; not_shown says why a field has no row
            if d.spec.widget == "arms":
                self._arms_group(d)
            elif d.spec.widget == "layers":
                self.layer_table = LayerTable()
                self.layer_table.changed.connect(self._on_edit)
                self._form(self._group_of(d)).addRow(self.layer_table)
            elif d.spec.widget == "path":
                self._path_field(d)
            else:
                self._bind(self._form(self._group_of(d)), d, make_widget(d))

    def _group_of(self, d: Declared) -> str:
        if d.spec.group:
            return d.spec.group
        sec = SECTIONS.get(d.section)
        return sec.group if sec is not None and sec.group else d.section

    def _form(self, key: str) -> QFormLayout:
        """The form of a builder group, created on first use (nested groups inside their parent)."""
        if key not in self._group_forms:
            title = SECTIONS[key].label if key in SECTIONS else GROUP_TITLES[key]
            box = QGroupBox(title)
            if key in SECTIONS and SECTIONS[key].help:
                box.setToolTip(SECTIONS[key].help)
            form = QFormLayout(box)
            form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
            self._groups[key] = box
            self._group_forms[key] = form
            parent = NESTED_IN.get(key, key.rpartition(".")[0] if "." in key else "")
            if parent == "arms":
                self._arms_column.addWidget(box)
            elif parent:
                self._form(parent).addRow(box)
        return self._group_forms[key]

    def _bind(self, form: QFormLayout, d: Declared, widget: QWidget) -> QWidget:
        widget.setToolTip(d.spec.help)
        change_signal(widget).connect(self._on_edit)
        self._fields[d.path] = widget
        self._forms[d.path] = form
        if isinstance(widget, QCheckBox):
            form.addRow(widget)
        else:
            lab = QLabel(d.spec.label)
            lab.setToolTip(d.spec.help)
            form.addRow(lab, widget)
        return widget

    def _path_field(self, d: Declared) -> None:
        path_edit = QLineEdit()
        path_edit.setPlaceholderText("user cache")
        path_edit.setMaxLength(int(d.spec.max_len or 32767))
        self.browse_button = QToolButton()
        self.browse_button.setText("…")
        self.browse_button.setToolTip("Pick the file or folder")
        self.browse_button.clicked.connect(self._browse_path)
        path_row = QWidget()
        row = QHBoxLayout(path_row)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(path_edit, 1)
        row.addWidget(self.browse_button)
        path_edit.setToolTip(d.spec.help)
        change_signal(path_edit).connect(self._on_edit)
        form = self._form(self._group_of(d))
        self._fields[d.path] = path_edit
        self._forms[d.path] = form
        self._path_row = path_row
        form.addRow(QLabel(d.spec.label), path_row)

    def _arms_group(self, d: Declared) -> None:
        box = QGroupBox(d.spec.label)
        box.setToolTip(d.spec.help)
        self._groups["arms"] = box
        self._arms_column = QVBoxLayout(box)
        row = QHBoxLayout()
        self.arm_boxes: dict[str, QCheckBox] = {}
        for arm in d.spec.choices:
            cb = QCheckBox(d.spec.choice_labels.get(arm, arm))
            cb.setToolTip(d.spec.choice_help.get(arm, ""))
            cb.toggled.connect(self._on_edit)
            self.arm_boxes[arm] = cb
            row.addWidget(cb)
        row.addStretch(1)
        self._arms_column.addLayout(row)

    # -- public API ----------------------------------------------------------------------------------
    def config(self) -> ExperimentConfig:
        return self._cfg

    def errors(self) -> list[ConfigError]:
        return list(self._errors)

    def is_valid(self) -> bool:
        return self._valid

    def file_problem(self) -> ConfigError | None:
        """What the file check says about the data of a valid config (None: no check set, or the files are there)."""
        return self._file_problem

    def set_file_check(self, check: Callable[[ExperimentConfig], ConfigError | None] | None) -> None:
        """A cheap look for the data's files (the run controller's ``check_files``), asked on every edit of a valid
        config: a missing MNIST folder is said here, not first by Start's refusal. It does not disable Start
        (the files may appear without an edit); Start's full check refuses what is still missing."""
        self._file_check = check
        self._on_edit()

    def field_widget(self, path: str) -> QWidget | None:
        """The widget that edits a dotted config field (layer cells as ``model.layers[i].units``)."""
        m = _LAYER_FIELD.match(path)
        if m:
            return self.layer_table.cell_widget(int(m.group(1)), m.group(2))
        if path == "arms" or path.startswith("arms["):
            return self._groups["arms"]
        if path == "model.layers":
            return self.layer_table
        return self._fields.get(path)

    def set_config(self, cfg: ExperimentConfig) -> None:
        """Fill every widget from cfg (fields the pane does not show are kept as they are)."""
        self._loading = True
        try:
            self._cfg = cfg
            for path, widget in self._fields.items():
                widget.blockSignals(True)
                if isinstance(widget, QSpinBox | QDoubleSpinBox):  # back to the declared range, then the value
                    widget.setRange(*widget_range(FIELDS[path].spec))
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
        self._errors = [*self._typing_errors(), *iter_errors(self._cfg)]
        check = self._file_check
        self._file_problem = check(self._cfg) if check is not None and not self._errors else None
        self._show_errors()
        valid = not self._errors
        if valid != self._valid:
            self._valid = valid
            self.validityChanged.emit(valid)
        self.configChanged.emit(self._cfg)

    def _typing_errors(self) -> list[ConfigError]:
        """What a text box holds that is not a value at all (a sweep value "abc"): the config never sees it."""
        return [ConfigError(path, f"not a number: {', '.join(w.bad)[:80]}")
                for path, w in self._fields.items() if isinstance(w, NumberList) and w.bad]

    def _update_visibility(self) -> None:
        d = self._cfg.data
        source = d.base if d.name == "elastic" else d.name
        elastic = d.name == "elastic"
        self._set_row_visible("data.base", elastic)
        self._set_row_visible("data.path", source in PATH_DATASETS)
        self._set_row_visible("data.download", source in DOWNLOADABLE)
        for path in ("data.elastic_alpha", "data.elastic_sigma", "data.affine_degrees", "data.affine_scale"):
            self._set_row_visible(path, elastic or self._cfg.kind == "online")  # the online stream deforms too
        for path in ("data.shapeset_count", "data.image_size"):
            self._set_row_visible(path, source == "shapeset")
        for arm in ("rbm", "dae", "cae"):
            self._groups[f"pretraining.{arm}"].setVisible(arm in self._cfg.arms)
        self._groups["pretraining"].setVisible(bool(self._cfg.pretrain_arms))
        self._groups["output_variance"].setVisible(self._cfg.kind == "output-variance")
        self._groups["online"].setVisible(self._cfg.kind == "online")
        self._fields["finetune.momentum"].setEnabled(self._cfg.finetune.optimizer == "momentum")

    def _set_row_visible(self, path: str, visible: bool) -> None:
        form, widget = self._forms[path], self._fields[path]
        form.setRowVisible(self._path_row if path == "data.path" else widget, visible)

    def _show_errors(self) -> None:
        for path, widget in self._fields.items():
            set_invalid(widget, None, FIELDS[path].spec.help)
        set_invalid(self._groups["arms"], None, FIELDS["arms"].spec.help)
        self.layer_table.clear_errors()
        set_invalid(self.layer_table.table, None, FIELDS["model.layers"].spec.help)
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
        elif self._file_problem is not None:
            problem = self._file_problem
            widget = self._error_widget(problem.field)
            if widget is not None:
                set_invalid(widget, str(problem))
            self.message.setText("<b>The configuration is valid, but its data are not there; Start will refuse "
                                 f"it:</b><br>• {_html(str(problem))}")
            self.message.setStyleSheet("color: #9a5b00;")
        else:
            # the builder's own config by its name: with another run on screen, "the configuration" read as that
            # run's, and Start as re-running it (a new user's finding); Start trains this one as a new run
            self.message.setText(f"Ready: '{_html(self._cfg.name)}' is valid. Press Start (Ctrl+R) to train it as "
                                 "a new run.")
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
