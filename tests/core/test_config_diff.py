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
