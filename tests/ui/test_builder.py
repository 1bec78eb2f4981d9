"""Builder pane: edits produce the right ExperimentConfig; invalid fields are marked with the config's message."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from desktop_app.core import config as config_mod
from desktop_app.core.config import ExperimentConfig, LayerSpec, ModelConfig, replace
from desktop_app.core.presets import list_presets, load_preset
from desktop_app.ui.builder import BuilderPane


@pytest.fixture
def pane(qtbot) -> BuilderPane:
    p = BuilderPane()
    qtbot.addWidget(p)
    p.resize(450, 1600)
    p.show()
    return p


def test_defaults_round_trip(pane: BuilderPane) -> None:
    assert pane.config() == ExperimentConfig()
    assert pane.is_valid()
    cfg = replace(ExperimentConfig(), name="x", arms=("rbm", "none"), seeds=replace(ExperimentConfig().seeds, count=5))
    pane.set_config(cfg)
    assert pane.config() == cfg  # arm order and every unshown field preserved


def test_editing_fields_rebuilds_config(pane: BuilderPane, qtbot) -> None:
    seen: list[ExperimentConfig] = []
    pane.configChanged.connect(seen.append)
    pane.field_widget("finetune.epochs").setValue(3)
    pane.field_widget("model.activation").setCurrentText("relu")
    pane.field_widget("data.n_labelled").setValue(250)
    pane.field_widget("pretraining.rbm.persistent").setChecked(True)
    name = pane.field_widget("name")
    name.clear()
    qtbot.keyClicks(name, "mine")
    cfg = pane.config()
    assert (cfg.finetune.epochs, cfg.model.activation, cfg.data.n_labelled) == (3, "relu", 250)
    assert cfg.pretraining.rbm.persistent and cfg.name == "mine"
    assert seen[-1] == cfg


def test_invalid_value_disables_start_and_names_field(pane: BuilderPane) -> None:
    validity: list[bool] = []
    pane.validityChanged.connect(validity.append)
    spin = pane.field_widget("finetune.epochs")
    spin.setValue(0)
    assert not pane.is_valid() and validity == [False]
    assert [e.field for e in pane.errors()] == ["finetune.epochs"]
    assert spin.property("invalid") is True
    assert "finetune.epochs" in spin.toolTip() and "must be in [1, 100000], got 0" in spin.toolTip()
    assert "finetune.epochs" in pane.message.text()
    spin.setValue(4)
    assert pane.is_valid() and validity == [False, True]
    assert not spin.property("invalid")
    assert spin.toolTip() == config_mod.declared("finetune.epochs").spec.help


def test_float_field_out_of_range(pane: BuilderPane) -> None:
    pane.field_widget("model.dropout").setValue(1.0)  # the config allows [0, 1)
    assert [e.field for e in pane.errors()] == ["model.dropout"]
    assert pane.field_widget("model.dropout").property("invalid") is True


def test_layer_add_remove_reorder(pane: BuilderPane, qtbot) -> None:
    table = pane.layer_table
    pane.set_config(replace(ExperimentConfig(), model=ModelConfig(layers=(LayerSpec("dense", 300),))))
    table.select_row(0)
    qtbot.mouseClick(table.add_button, Qt.MouseButton.LeftButton)
    assert pane.config().model.layers == (LayerSpec("dense", 300), LayerSpec("dense", 300))
    table.cell_widget(1, "units").setValue(100)
    assert [layer.units for layer in pane.config().model.layers] == [300, 100]
    table.select_row(1)
    qtbot.mouseClick(table.up_button, Qt.MouseButton.LeftButton)
    assert [layer.units for layer in pane.config().model.layers] == [100, 300]
    assert table.current_row() == 0
    qtbot.mouseClick(table.down_button, Qt.MouseButton.LeftButton)
    assert [layer.units for layer in pane.config().model.layers] == [300, 100]
    # a conv layer after a dense one is invalid: the error lands on that row's kind cell
    table.select_row(1)
    table.cell_widget(1, "kind").setCurrentText("conv")
    assert pane.config().model.layers[1].kind == "conv"
    assert "model.layers[1].kind" in [e.field for e in pane.errors()]
    assert table.cell_widget(1, "kind").property("invalid") is True
    assert table.cell_widget(1, "kernel").isEnabled()
    table.select_row(1)
    qtbot.mouseClick(table.remove_button, Qt.MouseButton.LeftButton)
    assert pane.config().model.layers == (LayerSpec("dense", 300),)
    assert pane.is_valid()
    table.select_row(0)
    qtbot.mouseClick(table.remove_button, Qt.MouseButton.LeftButton)
    assert pane.config().model.layers == ()
    assert "model.layers" in [e.field for e in pane.errors()] and not pane.is_valid()


def test_layer_units_error_marks_cell(pane: BuilderPane) -> None:
    pane.layer_table.cell_widget(2, "units").setValue(0)
    assert [e.field for e in pane.errors()] == ["model.layers[2].units"]
    cell = pane.layer_table.cell_widget(2, "units")
    assert cell.property("invalid") is True and "model.layers[2].units" in cell.toolTip()


def test_arm_checkboxes_show_only_checked_groups(pane: BuilderPane) -> None:
    groups = {arm: pane._groups[f"pretraining.{arm}"] for arm in ("rbm", "dae", "cae")}
    assert [groups[a].isVisible() for a in ("rbm", "dae", "cae")] == [True, True, False]
    pane.arm_boxes["rbm"].setChecked(False)
    assert pane.config().arms == ("none", "dae")
    assert not groups["rbm"].isVisible()
    pane.arm_boxes["rbm"].setChecked(True)
    assert pane.config().arms == ("none", "dae", "rbm")
    assert groups["rbm"].isVisible()
    pane.arm_boxes["cae"].setChecked(True)  # no conv layer: the config says why
    assert groups["cae"].isVisible()
    assert [e.field for e in pane.errors()] == ["arms"]
    assert pane._groups["arms"].property("invalid") is True
    for cb in pane.arm_boxes.values():
        cb.setChecked(False)
    assert pane.config().arms == () and not pane.is_valid()


def test_dataset_specific_rows(pane: BuilderPane) -> None:
    alpha = pane.field_widget("data.elastic_alpha")
    assert not alpha.isVisible() and not pane._path_row.isVisible()
    pane.field_widget("data.name").setCurrentText("elastic")
    assert alpha.isVisible() and pane.field_widget("data.base").isVisible()
    pane.field_widget("data.name").setCurrentText("npz")
    assert not alpha.isVisible() and pane._path_row.isVisible()
    assert [e.field for e in pane.errors()] == ["data.path"]  # npz needs a path
    pane.field_widget("data.path").setText("/some/file.npz")
    assert pane.is_valid() and pane.config().data.path == "/some/file.npz"


def test_momentum_only_for_momentum_optimizer(pane: BuilderPane) -> None:
    assert not pane.field_widget("finetune.momentum").isEnabled()
    pane.field_widget("finetune.optimizer").setCurrentText("momentum")
    assert pane.field_widget("finetune.momentum").isEnabled()


def test_science_tooltips(pane: BuilderPane) -> None:
    init = pane.field_widget("model.init")
    classic = init.itemData(init.findText("classic"), Qt.ItemDataRole.ToolTipRole)
    assert "Erhan 2010" in classic and "1/sqrt(fan_in)" in classic
    assert "CD-k" in pane.field_widget("pretraining.rbm.k").toolTip()
    assert "Vincent 2008" in pane.field_widget("pretraining.dae.corruption").toolTip()
    assert "pre-training still helps" in pane.field_widget("data.n_labelled").toolTip()


def test_save_and_open_round_trip(qtbot, tmp_path: Path) -> None:
    from desktop_app.ui.main_window import MainWindow
    from tests.ui.fakes import FakeController

    window = MainWindow(FakeController())
    qtbot.addWidget(window)
    b = window.builder
    b.field_widget("finetune.epochs").setValue(7)
    b.field_widget("model.init").setCurrentText("glorot")
    b.layer_table.select_row(0)
    b.layer_table.remove_layer()
    saved = b.config()
    path = tmp_path / "exp.toml"
    assert window.save_config_file(path)
    assert config_mod.load(path) == saved
    b.set_config(ExperimentConfig())
    assert window.open_config_file(path)
    assert b.config() == saved


def test_bad_toml_shows_error_not_crash(qtbot, tmp_path: Path) -> None:
    from desktop_app.ui.main_window import MainWindow
    from tests.ui.fakes import FakeController

    window = MainWindow(FakeController())
    qtbot.addWidget(window)
    before = window.builder.config()
    bad = tmp_path / "bad.toml"
    bad.write_text("[finetune]\nepochs = 'many'\n")
    assert not window.open_config_file(bad)
    box = window.last_message_box
    assert box is not None and "finetune.epochs" in box.text() and "must be an integer" in box.text()
    box.close()
    garbage = tmp_path / "garbage.toml"
    garbage.write_text("this is = = not toml")
    assert not window.open_config_file(garbage)
    assert "not valid TOML" in window.last_message_box.text()
    window.last_message_box.close()
    assert not window.open_config_file(tmp_path / "missing.toml")
    window.last_message_box.close()
    assert window.builder.config() == before
    # a parseable file with out-of-range values loads and shows what to fix
    out_of_range = tmp_path / "range.toml"
    out_of_range.write_text("[finetune]\nepochs = 0\n")
    assert window.open_config_file(out_of_range)
    assert not window.builder.is_valid() and not window.start_action.isEnabled()


@pytest.mark.parametrize("name", list_presets())
def test_every_preset_survives_the_builder(pane: BuilderPane, name: str) -> None:
    """Loading a preset in the window and starting it runs exactly the preset (reproduce-* = `basin reproduce`)."""
    cfg = load_preset(name)
    pane.set_config(cfg)
    assert pane.is_valid()
    assert pane.config().hash() == cfg.hash()


def test_every_declared_field_is_a_builder_row_or_says_why_not(pane: BuilderPane) -> None:
    """The builder is generated from the declaration: each field's widget, range, choices and tooltip."""
    from PySide6.QtWidgets import QCheckBox, QComboBox, QDoubleSpinBox, QSpinBox

    for path, decl in config_mod.FIELDS.items():
        s = decl.spec
        if s.not_shown:
            assert pane.field_widget(path) is None and len(s.not_shown) > 20, path
            continue
        if "[]" in path:  # a layer table column
            widget = pane.layer_table.cell_widget(0, decl.name)
        else:
            widget = pane.field_widget(path)
        assert widget is not None, f"{path} has no builder row and no not_shown reason"
        if path not in ("arms", "model.layers"):
            assert widget.toolTip() == s.help, path
        if isinstance(widget, QSpinBox | QDoubleSpinBox):
            assert widget.maximum() == s.hi and widget.minimum() <= s.lo, path
        if isinstance(widget, QComboBox):
            assert [widget.itemText(i) for i in range(widget.count())][: len(s.choices)] == list(s.choices), path
        if isinstance(widget, QCheckBox):
            assert widget.text() == s.label, path
    assert [cb.toolTip() for cb in pane.arm_boxes.values()] == [
        config_mod.FIELDS["arms"].spec.choice_help[a] for a in config_mod.ARMS
    ]


def test_new_rows_edit_the_config(pane: BuilderPane) -> None:
    pane.field_widget("data.n_test").setValue(300)
    pane.field_widget("snapshots.tensorboard").setChecked(True)
    pane.field_widget("description").setPlainText("two lines\nof notes")
    cfg = pane.config()
    assert (cfg.data.n_test, cfg.snapshots.tensorboard, cfg.description) == (300, True, "two lines\nof notes")
    pane.field_widget("data.probe_size").setValue(400)  # a cross-field rule: probe subset within the test set
    assert [e.field for e in pane.errors()] == ["data.probe_size"]


def test_a_run_that_fails_on_its_input_shows_a_dialog(qtbot, tmp_path: Path) -> None:
    from desktop_app.core.events import RunFinished
    from desktop_app.ui.main_window import MainWindow
    from tests.ui.fakes import FakeController

    ctrl = FakeController()
    window = MainWindow(ctrl)
    qtbot.addWidget(window)
    message = "data.path: /nowhere/set.npz not found (expected an .npz file with arrays x and y)"
    ctrl.eventsReady.emit([RunFinished("failed", str(tmp_path / "r"), 0.1, message)])
    box = window.last_message_box
    assert box is not None and box.windowTitle() == "Run failed" and message in box.text()
    box.close()


def test_open_refuses_a_hostile_config_quickly(qtbot, tmp_path: Path) -> None:
    import time

    from desktop_app.ui.main_window import MainWindow
    from tests.ui.fakes import FakeController

    window = MainWindow(FakeController())
    qtbot.addWidget(window)
    deep = tmp_path / "deep.toml"
    deep.write_text('[sweep]\nfield = "model.depth"\nvalues = [1e9]\n')
    t0 = time.perf_counter()
    assert window.open_config_file(deep)  # it opens, and the builder says what to fix
    assert time.perf_counter() - t0 < 10.0  # refused before building: a billion layers would never return
    assert [e.field for e in window.builder.errors()] == ["sweep.values"] and not window.builder.is_valid()
    for raw, fragment in ((b"", "is empty"), ("x = 1".encode("utf-16"), "UTF-16")):
        bad = tmp_path / "bad.toml"
        bad.write_bytes(raw)
        assert not window.open_config_file(bad)
        assert fragment in window.last_message_box.text()
        window.last_message_box.close()


def test_out_of_range_values_from_a_file_stay_visible_and_marked(pane: BuilderPane) -> None:
    cfg = config_mod.from_dict({"finetune": {"epochs": 200_000}, "seeds": {"count": 10**400},
                                "model": {"layers": [{"kind": "dense", "units": 200_000}]}}, validate=False)
    pane.set_config(cfg)
    assert pane.field_widget("finetune.epochs").value() == 200_000  # not clamped to the declared 100000
    assert pane.layer_table.cell_widget(0, "units").value() == 200_000
    fields = [e.field for e in pane.errors()]
    assert {"finetune.epochs", "seeds.count", "model.layers[0].units"} <= set(fields) and not pane.is_valid()
    pane.set_config(ExperimentConfig())
    assert pane.field_widget("finetune.epochs").maximum() == 100_000 and pane.is_valid()


def test_a_sweep_repeats_no_error_of_its_base_and_names_the_variant(pane: BuilderPane) -> None:
    """The error of the config itself is said once (not again "in sweep variant model.width = width=25"); an error
    only a variant has names the field and value once."""
    pane.set_config(load_preset("quick-demo"))  # rbm and dae on one dense layer of 256
    pane.field_widget("sweep.field").setCurrentText("model.width")
    pane.field_widget("sweep.values").setText("25, 50")
    pane.layer_table.cell_widget(0, "kind").setCurrentText("conv")  # rbm and dae need a dense layer
    text = pane.message.text()
    assert text.count("pre-train dense layers") == 1 and "sweep variant" not in text
    pane.layer_table.cell_widget(0, "kind").setCurrentText("dense")
    pane.field_widget("sweep.field").setCurrentText("data.n_test")
    pane.field_widget("sweep.values").setText("1000, 100")  # the probe subset (200) does not fit 100 test examples
    assert not pane.is_valid()
    assert "(in sweep variant data.n_test = 100)" in pane.message.text()


def test_messages_name_the_typed_value_and_follow_a_correction(pane: BuilderPane, qtbot) -> None:
    """Typing "-0.1" into a box whose range starts at 0 named "-0" (the last in-range value the spin box kept);
    after a correction the message stayed on the old value. Every keystroke now reaches the config, and Enter
    keeps the typed number instead of putting the old one back."""
    spin = pane.field_widget("model.dropout")
    spin.lineEdit().selectAll()
    qtbot.keyClicks(spin.lineEdit(), "-0.1")
    assert [e.field for e in pane.errors()] == ["model.dropout"]
    assert "got -0.1" in pane.message.text() and "got -0.1" in spin.toolTip()
    qtbot.keyClick(spin.lineEdit(), Qt.Key.Key_Return)
    assert spin.lineEdit().text() == "-0.1" and pane.config().model.dropout == -0.1
    spin.lineEdit().selectAll()
    qtbot.keyClicks(spin.lineEdit(), "0.25")
    assert pane.is_valid() and pane.config().model.dropout == 0.25 and "got" not in pane.message.text()
    epochs = pane.field_widget("finetune.epochs")  # above the range: stale before ("got 20000" from "20000")
    epochs.lineEdit().selectAll()
    qtbot.keyClicks(epochs.lineEdit(), "200000")
    assert "got 200000" in pane.message.text()
    units = pane.layer_table.cell_widget(0, "units")
    units.lineEdit().selectAll()
    qtbot.keyClicks(units.lineEdit(), "300")
    assert pane.config().model.layers[0].units == 300
