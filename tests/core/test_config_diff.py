"""The config diff owner: flat view, field-by-field diff, what differs across runs, and run labels."""

from desktop_app.core import config as c
from desktop_app.core.config.diff import diff, differing_fields, flatten, run_label


def cfg(**over):
    base = c.from_dict({"name": "a", "finetune": {"lr": 0.1}})
    from desktop_app.core.config.io import set_dotted, to_plain

    d = to_plain(base)
    for k, v in over.items():
        set_dotted(d, k, v)
    return c.from_dict(d)


def test_flatten_expands_layers_and_keeps_tuples_whole():
    flat = flatten(cfg())
    assert flat["finetune.lr"] == 0.1
    assert isinstance(flat["arms"], tuple)
    n = flat["model.layers.count"]
    assert all(f"model.layers.{i}.units" in flat for i in range(n))


def test_diff_names_only_what_changes_results():
    a, b = cfg(), cfg(**{"finetune.lr": 0.05, "name": "b", "execution.workers": 2})
    assert diff(a, b) == [("finetune.lr", 0.1, 0.05)]
    assert ("name", "a", "b") in diff(a, b, include_ignored=True)


def test_differing_fields_include_new_keys_and_layer_counts():
    a = cfg()
    b = cfg(**{"finetune.lr": 0.05})
    assert differing_fields([a, b]) == ["finetune.lr"]
    assert differing_fields([a]) == []
    fewer = flatten(a)
    fewer.pop("finetune.lr")
    fewer["new.key"] = 1
    assert {"finetune.lr", "new.key"} <= set(differing_fields([flatten(a), fewer]))


def test_run_label_uses_short_names():
    a, b = cfg(), cfg(**{"finetune.lr": 0.05})
    fields = differing_fields([a, b])
    assert run_label(b, fields) == "lr=0.05"
    assert run_label(a, [], fallback="run-1") == "run-1"


def test_run_label_names_a_field_of_every_layer_once():
    """A width sweep of a 3-layer net: "units=50", not "model.layers.0.units=50, model.layers.1.units=50, ..."."""
    def layers(*units):
        return [{"kind": "dense", "units": u} for u in units]

    a, b, c_ = cfg(**{"model.layers": layers(25, 25, 25)}), cfg(**{"model.layers": layers(50, 50, 50)}), \
        cfg(**{"model.layers": layers(50, 50, 25), "finetune.lr": 0.05})
    fields = differing_fields([a, b, c_])
    assert [k for k in fields if k.startswith("model.layers")] == [f"model.layers.{i}.units" for i in range(3)]
    assert [run_label(x, fields) for x in (a, b, c_)] == [
        "lr=0.1, units=25", "lr=0.1, units=50", "lr=0.05, units=50/50/25"]
    assert run_label(b, ["model.layers.2.units"]) == "units=50"  # one layer differs: named as before


def _dense(*units, **kw):
    return [{"kind": "dense", "units": u, **kw} for u in units]


def test_fields_that_cannot_matter_name_no_run():
    """Issue 27: labels were 'kernel=5, kind=dense, stride=1, threads=2, checkpoint_every=5, max_filters=64, ...'.
    A dense layer's kernel/stride, thread counts, snapshot settings, momentum with plain SGD and the RBM settings of
    a run without an RBM arm cannot change its numbers: no label, no `basin diff` row, unless asked."""
    a = cfg(**{"model.layers": _dense(50, 50, 50, kernel=5, stride=1), "finetune.lr": 0.1, "threads": 0,
               "arms": ["none", "dae"], "finetune.optimizer": "sgd", "finetune.momentum": 0.9})
    b = cfg(**{"model.layers": _dense(50, 50, kernel=3, stride=2), "finetune.lr": 0.05, "threads": 2,
               "snapshots.checkpoint_every": 5, "snapshots.max_filters": 64, "arms": ["none", "dae"],
               "pretraining.rbm.lr": 0.5, "finetune.optimizer": "sgd", "finetune.momentum": 0.5,
               "online.block": 7})
    fields = differing_fields([a, b])
    assert fields == ["finetune.lr", "model.layers.count"]
    assert [run_label(x, fields) for x in (a, b)] == ["lr=0.1, layers=3", "lr=0.05, layers=2"]
    assert [k for k, _, _ in diff(a, b)] == ["finetune.lr", "model.layers.2.kind", "model.layers.2.units",
                                             "model.layers.count"]
    every = {k for k, _, _ in diff(a, b, include_ignored=True)}
    assert {"threads", "snapshots.max_filters", "model.layers.0.kernel", "pretraining.rbm.lr"} <= every
    # momentum matters once the optimizer uses it; the RBM settings once an RBM arm trains
    c = cfg(**{"finetune.optimizer": "momentum", "finetune.momentum": 0.5})
    d = cfg(**{"finetune.optimizer": "momentum", "finetune.momentum": 0.9})
    assert differing_fields([c, d]) == ["finetune.momentum"]
    e = cfg(**{"arms": ["none", "rbm"], "pretraining.rbm.lr": 0.5})
    f = cfg(**{"arms": ["none", "rbm"], "pretraining.rbm.lr": 0.1})
    assert run_label(e, differing_fields([e, f])) == "lr=0.5"


def test_cannot_matter_is_declared_on_the_field_spec():
    """One declaration: the spec (or its section) says why, the differ reads it; the Runs table keeps such fields
    as columns it can show on request (FieldDiffer.other_fields)."""
    from desktop_app.core.config.diff import FieldDiffer, no_effect
    from desktop_app.core.config.experiment import FIELDS, SECTIONS

    assert FIELDS["threads"].spec.no_effect and SECTIONS["snapshots"].no_effect and SECTIONS["execution"].no_effect
    assert no_effect("snapshots.max_filters") == SECTIONS["snapshots"].no_effect
    assert no_effect("finetune.lr") == "" and no_effect("model.layers.3.units") == ""
    differ = FieldDiffer()
    differ.add(flatten(cfg(**{"finetune.lr": 0.1})))
    differ.add(flatten(cfg(**{"finetune.lr": 0.2, "threads": 3, "snapshots.max_filters": 9})))
    assert differ.fields == ["finetune.lr"] and differ.other_fields == ["snapshots.max_filters", "threads"]


def test_presets_set_only_fields_their_runs_use():
    """Issue 27: quick-demo's TOML set finetune.momentum with optimizer = "sgd" (a value that does nothing). No
    preset sets a fine-tuning field its optimizer does not use (FieldSpec.when, the same rule as the labels)."""
    import tomllib

    from desktop_app.core.config.experiment import FIELDS
    from desktop_app.core.presets import presets_dir

    when = FIELDS["finetune.momentum"].spec.when
    for path in sorted(presets_dir().glob("*.toml")):
        finetune = tomllib.loads(path.read_text()).get("finetune", {})
        if finetune.get("optimizer", "sgd") not in when[1]:
            assert "momentum" not in finetune, path.name


def test_set_accepts_the_sweep_fields_model_width_and_depth():
    """Issue 27: `--set model.width=64` was refused though model.width is a sweep field."""
    import pytest

    from desktop_app.core.config import ConfigError

    base = cfg(**{"model.layers": _dense(100, 100, 50)})
    assert [la.units for la in base.with_overrides({"model.width": 64}).model.layers] == [64, 64, 64]
    assert len(base.with_overrides({"model.depth": 2}).model.layers) == 2
    with pytest.raises(ConfigError, match="model.width"):
        base.with_overrides({"model.width": 0})


def test_the_deformed_set_matters_only_to_an_elastic_stream_and_data_name_is_never_a_bare_name():
    """New-user finding: the Runs table named an MNIST run "data.base=digits" beside an elastic run on MNIST (the
    deformed set is unused unless data.name is elastic), and showed data.name as a "name" column beside Name."""
    from desktop_app.core.config.diff import FieldDiffer, short_key

    elastic = cfg(**{"data.name": "elastic", "data.base": "mnist"})
    mnist = cfg(**{"data.name": "mnist"})
    fields = differing_fields([elastic, mnist])
    assert fields == ["data.name"]
    assert [run_label(x, fields) for x in (elastic, mnist)] == ["data.name=elastic", "data.name=mnist"]
    assert short_key("data.name", fields) == "data.name" and short_key("finetune.lr", ["finetune.lr"]) == "lr"
    differ = FieldDiffer()
    for x in (elastic, mnist):
        differ.add(flatten(x))
    assert differ.fields == ["data.name"] and "data.base" in differ.other_fields
    # two elastic streams on different sets: there it tells them apart
    assert differing_fields([elastic, cfg(**{"data.name": "elastic", "data.base": "digits"})]) == ["data.base"]
