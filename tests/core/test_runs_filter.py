"""The Runs filter's field=value terms (core/lab/run_filter.py through RunTable.matches / filter_hint), the tables'
"±" note, `basin runs --table` wrapping, and namesake runs told apart (new-user report findings 4, 11, 15)."""

from __future__ import annotations

import io
import json
import re

import pytest

from bench.run_table import write_run
from desktop_app import cli
from desktop_app.core.lab.run_filter import parse, value_matches
from desktop_app.core.lab.run_table import ERROR_NOTE, RunTable, load_table


def visible(table: RunTable, text: str) -> list[str]:
    return sorted(r.path.name for i, r in enumerate(table.rows) if table.matches(i, text))


@pytest.fixture
def sweep(tmp_path):
    """Four runs: width 25/50 x lr 0.1/0.05, one with a description; seeds.base differs in one."""
    write_run(tmp_path, "w25-lr01", {"model": {"layers": [{"kind": "dense", "units": 25}]}, "finetune": {"lr": 0.1}})
    write_run(tmp_path, "w50-lr01", {"model": {"layers": [{"kind": "dense", "units": 50}]}, "finetune": {"lr": 0.1}})
    write_run(tmp_path, "w25-lr005", {"model": {"layers": [{"kind": "dense", "units": 25}]},
                                      "finetune": {"lr": 0.05}, "description": "a wide sweep point"})
    write_run(tmp_path, "base1", {"model": {"layers": [{"kind": "dense", "units": 50}]}, "finetune": {"lr": 0.05},
                                  "seeds": {"base": 1}})
    return load_table(tmp_path)


def test_field_terms_name_a_config_field_by_dotted_path_column_title_or_key_end(sweep):
    assert visible(sweep, "units=25") == ["w25-lr005", "w25-lr01"]  # column title
    assert visible(sweep, "model.layers.0.units=50") == ["base1", "w50-lr01"]  # dotted path
    assert visible(sweep, "finetune.lr=0.1") == ["w25-lr01", "w50-lr01"]
    assert visible(sweep, "lr=1e-1") == ["w25-lr01", "w50-lr01"]  # numbers as numbers: 0.1 == 1e-1
    assert visible(sweep, "lr=0.10") == visible(sweep, "lr=.1")
    assert visible(sweep, "seeds.base=1") == ["base1"]
    assert visible(sweep, "base=1") == ["base1"]  # the end of a dotted path
    assert visible(sweep, "kind=standard") == ["base1", "w25-lr005", "w25-lr01", "w50-lr01"]
    assert visible(sweep, "kind=online") == []  # a known field, no run has the value: no hint
    assert sweep.filter_hint("kind=online") == ""


def test_terms_and_words_are_anded_and_words_search_names_and_descriptions(sweep):
    assert visible(sweep, "units=25 lr=0.05") == ["w25-lr005"]
    assert visible(sweep, "units = 50   lr=0.05") == ["base1"]  # spaces around '=' are one term
    assert visible(sweep, "w25") == ["w25-lr005", "w25-lr01"]  # a plain word: any cell
    assert visible(sweep, "wide") == ["w25-lr005"]  # ... or the description
    assert visible(sweep, "wide units=50") == []
    assert visible(sweep, "status=completed seeds=3") == visible(sweep, "")  # the other columns by title
    assert visible(sweep, "arms=dae") == visible(sweep, "")  # a list field: any item
    assert visible(sweep, "arms=none,dae") == visible(sweep, "")  # ... or its whole value


def test_an_unknown_field_name_is_a_hint_not_a_silently_empty_table(sweep):
    assert visible(sweep, "lrr=0.1") == []
    hint = sweep.filter_hint("units=25 lrr=0.1")
    assert "'lrr'" in hint and "lr" in hint.split("did you mean", 1)[1]
    assert "units" not in hint.split("did you mean")[0]
    assert sweep.filter_hint("units=25 lr=0.1 w25") == ""
    assert RunTable().filter_hint("lrr=1") == ""  # nothing read yet: no configs to name fields


def test_tags_term_matches_one_tag(tmp_path):
    from desktop_app.core.runfolder import RunFolder
    from desktop_app.core.runfolder.notes import write_notes

    write_notes(RunFolder(write_run(tmp_path, "a", {})), ("best", "wide"), "")
    write_run(tmp_path, "b", {"finetune": {"lr": 0.2}})
    table = load_table(tmp_path)
    assert visible(table, "tags=wide") == ["a"] and visible(table, "tag=best") == ["a"]


@pytest.mark.parametrize(("value", "wanted", "expected"), [
    (0.1, "1e-1", True), (25, "25.0", True), (25, "25.5", False), (True, "TRUE", True), (True, "1", False),
    ("Digits", "digits", True), (("none", "rbm"), "rbm", True), (("none", "rbm"), "none,rbm", True),
    (None, "x", False), (0.1, "nan", False), ("abc", "ab", False),
])
def test_value_matches(value, wanted, expected):
    assert value_matches(value, wanted) is expected


def test_parse_keeps_odd_tokens_as_words():
    f = parse("=x a+b=c lr=0.1 Wide")
    assert [t.name for t in f.terms] == ["lr"] and f.words == ("=x", "a+b=c", "wide")


def test_namesakes_show_what_differs(tmp_path):
    for folder, base in (("ov-a", 0), ("ov-b", 1)):  # two seeds' runs of one preset: one name, two folders
        manifest = write_run(tmp_path, folder, {"name": "ov", "seeds": {"base": base}}) / "manifest.json"
        manifest.write_text(json.dumps({**json.loads(manifest.read_text()), "name": "ov"}))
    write_run(tmp_path, "other", {"finetune": {"lr": 0.2}})
    table = load_table(tmp_path)
    names = {r.path.name: table.text(i, 0) for i, r in enumerate(table.rows)}
    assert names == {"ov-a": "ov (base=0)", "ov-b": "ov (base=1)", "other": "other"}


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def many_field_runs(workspace) -> None:
    """Three runs differing in many fields: 17 columns, squeezed into any line width."""
    for i in range(3):
        write_run(workspace, f"a-rather-long-run-name-{i}", {
            "finetune": {"lr": 0.01 * (i + 1), "batch_size": 10 + i, "momentum": 0.1 * i, "epochs": 3 + i},
            "data": {"n_labelled": 300 + i, "n_valid": 100 + i, "n_test": 200 + i, "probe_size": 20 + i},
            "pretraining": {"dae": {"epochs": 2 + i, "lr": 0.01 * (i + 1), "corruption": 0.1 * (i + 1)}}})


@pytest.mark.parametrize("terminal", [False, True])
def test_runs_table_says_what_its_plus_minus_is_and_never_breaks_a_date(tmp_path, monkeypatch, terminal):
    many_field_runs(tmp_path)
    monkeypatch.setenv("COLUMNS", "200")
    out = Terminal() if terminal else io.StringIO()
    assert cli.main(["runs", "--table", str(tmp_path)], out) == 0
    text = re.sub(r"\x1b\[[0-9;]*m", "", out.getvalue())  # (a terminal's colours)
    assert ERROR_NOTE in " ".join(line.strip(" │") for line in text.splitlines())
    assert "not the standard deviation" in ERROR_NOTE
    assert len(re.findall(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}", text)) == 3  # each date whole on one line
    if terminal:  # the terminal's width is kept; the run names' words are whole
        assert max(len(line) for line in text.splitlines()) <= 200
    else:  # into a file: one row, one line
        assert all(f"a-rather-long-run-name-{i}" in text for i in range(3))
