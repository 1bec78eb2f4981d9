"""ExperimentConfig: TOML round trips, validation messages naming the field, overrides, sweeps."""

import dataclasses

import pytest

from desktop_app.core import config as c
from desktop_app.core.presets import list_presets, load_preset


def test_default_round_trips_exactly():
    cfg = c.ExperimentConfig()
    assert c.from_toml(cfg.to_toml()) == cfg


@pytest.mark.parametrize("name", ["quick-demo", "erhan2010", "relu-he-control", "small-labels", "scae-pitfall"])
def test_presets_exist_validate_and_round_trip(name):
    assert name in list_presets()
    cfg = load_preset(name)
    assert cfg.errors() == []
    assert c.from_toml(cfg.to_toml()) == cfg


def test_erhan_preset_follows_the_paper():
    cfg = load_preset("erhan2010")
    assert cfg.model.activation == "sigmoid" and cfg.model.init == "classic"
    assert [layer.kind for layer in cfg.model.layers] == ["dense"] * 3
    assert set(cfg.arms) == {"none", "rbm", "dae"}
    control = load_preset("relu-he-control")
    assert (control.model.activation, control.model.init, control.finetune.optimizer) == ("relu", "he", "adam")
    assert control.model.layers == cfg.model.layers


def test_small_labels_sweeps_100_and_1000():
    variants = c.expand_sweep(load_preset("small-labels"))
    assert [v.data.n_labelled for _, v in variants] == [100, 1000]
    assert all(v.data.n_unlabelled == 0 for _, v in variants)  # pre-training sees the whole pool


def test_error_names_dotted_field_and_range():
    bad = c.from_dict({"pretraining": {"dae": {"corruption": 1.5}}}, validate=False)
    (err,) = bad.errors()
    assert str(err) == "pretraining.dae.corruption: must be in [0, 1), got 1.5"
    assert err.field == "pretraining.dae.corruption"
    with pytest.raises(c.ConfigError) as info:
        bad.validate()
    assert info.value.field == "pretraining.dae.corruption"


@pytest.mark.parametrize(
    ("data", "field", "fragment"),
    [
        ({"model": {"activation": "softsign"}}, "model.activation", "sigmoid, tanh, relu"),
        ({"arms": ["none", "vae"]}, "arms[1]", "none, rbm, dae, cae"),
        ({"finetune": {"epochs": 0}}, "finetune.epochs", "[1, 100000]"),
        ({"device": "tpu"}, "device", "auto, cpu, cuda"),
        ({"model": {"layers": [{"kind": "dense", "units": 0}]}}, "model.layers[0].units", "[1, 100000]"),
        ({"arms": ["cae"]}, "arms", "conv"),
        ({"data": {"probe_size": 2000, "n_test": 1000}}, "data.probe_size", "<= data.n_test"),
    ],
)
def test_validation_messages(data, field, fragment):
    errs = c.from_dict(data, validate=False).errors()
    assert errs, data
    assert errs[0].field == field
    assert fragment in errs[0].message


def test_type_errors_and_unknown_keys_name_the_field():
    with pytest.raises(c.ConfigError) as info:
        c.from_dict({"finetune": {"lr": "fast"}})
    assert info.value.field == "finetune.lr"
    with pytest.raises(c.ConfigError) as info:
        c.from_dict({"finetune": {"learning_rate": 0.1}})
    assert info.value.field == "finetune.learning_rate" and "allowed" in info.value.message
    with pytest.raises(c.ConfigError) as info:
        c.from_toml("this is = = not toml")
    assert info.value.field == "toml"


def test_overrides_use_toml_literals():
    cfg = c.ExperimentConfig().with_overrides(
        {
            "finetune.epochs": c.parse_value("3"),
            "arms": c.parse_value('["none", "dae"]'),
            "model.layers[1].units": c.parse_value("64"),
            "model.activation": c.parse_value("tanh"),
        }
    )
    assert cfg.finetune.epochs == 3 and cfg.arms == ("none", "dae")
    assert cfg.model.layers[1].units == 64 and cfg.model.activation == "tanh"
    with pytest.raises(c.ConfigError) as info:
        c.ExperimentConfig().with_overrides({"finetune.nope": 1})
    assert info.value.field == "finetune.nope"


def test_config_is_frozen_and_hash_ignores_name():
    cfg = c.ExperimentConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.name = "x"  # type: ignore[misc]
    assert dataclasses.replace(cfg, name="other").hash() == cfg.hash()
    assert cfg.with_overrides({"finetune.lr": 0.5}).hash() != cfg.hash()


def test_sweep_width_and_depth():
    cfg = c.from_dict({"sweep": {"field": "model.width", "values": [25, 500]}})
    widths = [[layer.units for layer in v.model.layers] for _, v in c.expand_sweep(cfg)]
    assert widths == [[25, 25, 25], [500, 500, 500]]
    cfg = c.from_dict({"sweep": {"field": "model.depth", "values": [1, 4]}})
    assert [len(v.model.layers) for _, v in c.expand_sweep(cfg)] == [1, 4]
    bad = c.from_dict({"sweep": {"field": "data.nope", "values": [1]}}, validate=False)
    assert bad.errors()[0].field == "sweep.field"
