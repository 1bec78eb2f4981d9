"""The Runs table's data (core/lab/run_table.py), run notes (core/runfolder/notes.py) and `basin runs --table` /
`basin diff`: differing fields as columns, finals with intervals, sort and filter, hostile folders as rows."""

from __future__ import annotations

import io
import json

import pytest

from bench.run_table import write_run
from desktop_app import cli
from desktop_app.core.config.diff import diff, short_value
from desktop_app.core.lab.run_table import InfosLoaded, RunTable, format_error, load, load_table
from desktop_app.core.runfolder import RunFolder, RunFolderError
from desktop_app.core.runfolder.notes import MAX_NOTE_CHARS, Notes, parse_tags, read_notes, write_notes
from desktop_app.core.stats import mean_ci


def titles(table: RunTable) -> list[str]:
    return [c.title for c in table.columns]


def cells(table: RunTable, name: str) -> dict[str, str]:
    row = next(i for i, r in enumerate(table.rows) if r.info.name == name)
    return {c.title: table.text(row, j) for j, c in enumerate(table.columns)}


def test_columns_are_the_differing_fields_and_finals_carry_the_interval(tmp_path):
    write_run(tmp_path, "a", {"finetune": {"lr": 0.01}}, errors={"none": [0.1, 0.2, 0.3], "dae": [0.1, 0.1, 0.1]})
    write_run(tmp_path, "b", {"finetune": {"lr": 0.05}})
    table = load_table(tmp_path)
    assert titles(table) == ["Name", "lr", "none test error", "dae test error", "Status", "Seeds", "Wall time",
                             "Date", "Tags", "Note"]
    a = cells(table, "a")
    assert a["lr"] == "0.01" and a["Status"] == "completed" and a["Seeds"] == "3" and a["Wall time"] == "12 s"
    assert a["none test error"] == format_error(mean_ci([0.1, 0.2, 0.3]))
    ci = mean_ci([0.1, 0.2, 0.3])
    assert a["none test error"] == f"{100 * ci.mean:.2f} % ± {100 * ci.half_width:.2f}" == "20.00 % ± 24.84"
    assert a["dae test error"] == "10.00 % ± 0.00"
    # a third run with a new differing key: its column appears
    write_run(tmp_path, "c", {"finetune": {"lr": 0.05}, "model": {"layers": [{"kind": "dense", "units": 64}]}})
    table = load_table(tmp_path)
    assert "units" in titles(table) and cells(table, "c")["units"] == "64" and cells(table, "a")["units"] == "25"


def test_sort_and_filter(tmp_path):
    for name, lr, err in (("x", 0.2, 0.3), ("y", 0.01, 0.1), ("z", 0.05, 0.2)):
        write_run(tmp_path, name, {"finetune": {"lr": lr}}, errors={"none": [err] * 3, "dae": [err] * 3})
    write_run(tmp_path, "s", {"finetune": {"lr": 0.1}}, status="stopped", errors={"none": [0.5] * 3, "dae": [0.5] * 3})
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "manifest.json").write_text("[]")
    table = load_table(tmp_path)
    lr = titles(table).index("lr")
    names = [table.rows[i].info.name for i in table.order(lr)]
    assert names == ["y", "z", "s", "x", "junk"]  # numeric order, the empty cell last
    assert [table.rows[i].info.name for i in table.order(lr, descending=True)] == ["x", "s", "z", "y", "junk"]
    err = titles(table).index("none test error")
    assert [table.rows[i].info.name for i in table.order(err)] == ["y", "z", "x", "s", "junk"]
    visible = lambda **kw: sorted(table.rows[i].info.name for i in range(len(table.rows)) if table.matches(i, **kw))  # noqa: E731
    assert visible(text="0.05") == ["z"]
    assert visible(statuses=["stopped"]) == ["s"]
    assert visible(statuses=["unreadable"]) == ["junk"]
    assert visible(text="JSON", statuses=None) == ["junk"]  # the problem is searchable


def test_broken_folders_are_rows_with_their_problem(tmp_path):
    write_run(tmp_path, "good", {})
    bad = write_run(tmp_path, "bad-metrics", {})
    (bad / "metrics" / "none_s1.csv").write_bytes(b"\xff\xfe garbage")
    cfg_gone = write_run(tmp_path, "no-config", {})
    (cfg_gone / "config.toml").unlink()
    notes = write_run(tmp_path, "bad-notes", {})
    (notes / "notes.json").write_text('{"tags": ["a\\u0000b"]}')
    (tmp_path / "deep").mkdir()
    (tmp_path / "deep" / "manifest.json").write_text("[" * 20000)
    table = load_table(tmp_path)
    rows = {r.info.name: r for r in table.rows}
    assert "not UTF-8" in rows["bad-metrics"].problem and rows["bad-metrics"].details.flat  # config still shown
    assert "no config.toml" in rows["no-config"].problem and rows["no-config"].details.finals
    assert "notes.json" in rows["bad-notes"].problem and "tag" in rows["bad-notes"].problem
    assert rows["deep"].status == "unreadable" and "nested too deeply" in rows["deep"].problem
    assert not rows["good"].problem and "Problem" in titles(table)
    assert all("\n" not in r.problem for r in table.rows)


def test_load_yields_manifests_first_in_a_small_batch(tmp_path, monkeypatch):
    from desktop_app.core.lab import run_table

    monkeypatch.setattr(run_table, "FIRST_BATCH", 2)
    for i in range(5):
        write_run(tmp_path, f"r{i}", {})
    batches = list(load(tmp_path))
    kinds = [type(b).__name__ for b in batches]
    assert kinds[0] == "InfosLoaded" and len(batches[0].infos) == 2
    assert kinds.index("DetailsLoaded") > max(i for i, k in enumerate(kinds) if k == "InfosLoaded")
    assert sum(len(b.infos) for b in batches if isinstance(b, InfosLoaded)) == 5


def test_notes_round_trip_and_refuse_hostile_content(tmp_path):
    folder = RunFolder(write_run(tmp_path, "r", {}))
    assert read_notes(folder) == Notes()
    text = "line one\nünïcödé [bold]not markup[/bold] <b>not html</b>"
    written = write_notes(folder, parse_tags(" baseline, wide ,baseline"), text)
    assert written == Notes(("baseline", "wide"), text) == read_notes(folder)
    assert json.loads((folder.root / "notes.json").read_text())["tags"] == ["baseline", "wide"]
    for tags, note in ((["a,b"], ""), (["x" * 41], ""), (["bad\x07"], ""), ([], "x" * (MAX_NOTE_CHARS + 1)),
                       ([], "nul\x00")):
        with pytest.raises(RunFolderError):
            write_notes(folder, tags, note)
    assert read_notes(folder) == written  # a refused write changed nothing
    for content in (b"\xff", b"[1]", b'{"tags": "a"}', b'{"note": 5}', b"{" * 100_000, b" " * (65 * 1024)):
        (folder.root / "notes.json").write_bytes(content)
        with pytest.raises(RunFolderError) as exc:
            read_notes(folder)
        assert "notes.json" in str(exc.value) and "\n" not in str(exc.value)
    (folder.root / "notes.json").unlink()
    (folder.root / "notes.json").symlink_to(tmp_path.parent)
    with pytest.raises(RunFolderError, match="refused"):
        read_notes(folder)


def run_cli(*argv):
    out = io.StringIO()
    return cli.main(list(argv), out=out), out.getvalue()


def test_cli_table_prints_what_the_core_computes(tmp_path):
    write_run(tmp_path, "a", {"finetune": {"lr": 0.01}})
    write_run(tmp_path, "b", {"finetune": {"lr": 0.05}}, status="stopped")
    write_notes(RunFolder(tmp_path / "b"), ["[red]tagged"], "")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "manifest.json").write_text("{")
    code, out = run_cli("runs", "--table", str(tmp_path))
    assert code == 0
    table = load_table(tmp_path)
    for row in range(len(table.rows)):
        line = next(ln for ln in out.splitlines() if f" {table.rows[row].info.name} " in ln)
        for col, column in enumerate(table.columns):
            if column.kind != "problem":  # a long problem wraps inside its cell
                assert table.text(row, col) in line
    assert "[red]tagged" in out  # hostile text printed as text, not markup
    assert out.splitlines()[0].startswith(f"3 runs in {tmp_path}")
    assert run_cli("runs", "--table", str(tmp_path / "missing"))[0] == 2
    one = tmp_path / "one"
    write_run(one, "a", {"finetune": {"lr": 0.01}})
    assert run_cli("runs", "--table", str(one))[1].splitlines()[0].startswith(f"1 run in {one}")  # not "1 runs"


def test_cli_diff_prints_the_core_diff(tmp_path, capsys):
    a = write_run(tmp_path, "a", {"finetune": {"lr": 0.01}})
    b = write_run(tmp_path, "b", {"finetune": {"lr": 0.05}, "model": {"layers": [{"kind": "dense", "units": 7}]}})
    code, out = run_cli("diff", str(a), str(b))
    assert code == 0
    rows = diff((a / "config.toml").read_text() and _cfg(a), _cfg(b))
    assert [r[0] for r in rows] == ["finetune.lr", "model.layers.0.units"]
    for key, va, vb in rows:
        assert any(key in ln and short_value(va) in ln and short_value(vb) in ln for ln in out.splitlines())
    assert run_cli("diff", str(a), str(a / "config.toml"))[1] == "no config fields differ\n"
    code, _ = run_cli("diff", str(a), str(tmp_path / "nowhere"))
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "nowhere" in err


def _cfg(run):
    from desktop_app.core.runfolder import read_config

    return read_config(RunFolder(run))


def test_one_interval_rule_from_three_seeds_in_table_report_and_summary(tmp_path):
    """Issue 27: the table printed "7.10 % ± 10.16" at n = 2 where Summary refuses an interval; one rule now
    (core.stats.shown_interval): the table, the reproduce report and Summary show none below 3 seeds."""
    from desktop_app.core.reproduce.report import fmt_ci
    from desktop_app.core.stats import MIN_SEEDS, shown_interval
    from desktop_app.ui.panels import summary

    two, three = mean_ci([0.05, 0.0915]), mean_ci([0.05, 0.0915, 0.07])
    assert MIN_SEEDS == 3 and shown_interval(two) is None and shown_interval(three) == (three.lo, three.hi)
    assert format_error(two) == "7.08 % (n = 2)" and "±" in format_error(three)
    assert fmt_ci(two, 100) == "7.08 (n = 2)" and "[" in fmt_ci(three, 100)
    assert summary._interval(two.lo, two.hi, two.n) == "– (n = 2)" and "[" in summary._interval(
        three.lo, three.hi, three.n)
    write_run(tmp_path, "pair", {"seeds": {"count": 2}}, errors={"none": [0.05, 0.0915], "dae": [0.1, 0.1]})
    assert cells(load_table(tmp_path), "pair")["none test error"] == "7.08 % (n = 2)"


def test_a_stopped_run_shows_its_last_completed_epoch_not_the_untrained_error(tmp_path):
    """Issue 27: a stopped run listed its epoch-0 (untrained) test error as its result ("none 90.20 %"). Its
    finals are at its last completed epoch, which the cell names; a run stopped before any epoch says so."""
    write_run(tmp_path, "stopped", {"finetune": {"epochs": 10}}, status="stopped", epochs=3,
              errors={"none": [0.2, 0.3, 0.25], "dae": [0.1, 0.1, 0.1]})
    write_run(tmp_path, "early", {"finetune": {"epochs": 10}}, status="stopped", epochs=0,
              errors={"none": [0.9, 0.9, 0.9], "dae": [0.9, 0.9, 0.9]})
    write_run(tmp_path, "done", {"finetune": {"epochs": 3}}, epochs=3)
    table = load_table(tmp_path)
    stopped = cells(table, "stopped")
    assert stopped["none test error"] == format_error(mean_ci([0.2, 0.3, 0.25])) + " · epoch 3 of 10"
    early = cells(table, "early")
    assert early["none test error"] == early["dae test error"] == "no epoch completed"
    assert "epoch" not in cells(table, "done")["none test error"]
    code, out = run_cli("runs", str(tmp_path))
    assert code == 0 and "90.00%" not in out


def test_basin_run_s_final_table_says_where_a_stopped_run_stopped_and_prints_no_spread_of_one_seed(tmp_path):
    """Seen in the review of issue 27: `basin run` ended a stopped run with its table and no word that the numbers
    are from its last completed epoch, and printed one seed's spread as "+- 0.00"."""
    write_run(tmp_path, "stopped", {"finetune": {"epochs": 10}}, status="stopped", epochs=3,
              errors={"none": [0.2, 0.3, 0.25], "dae": [0.1, 0.1, 0.1]})
    write_run(tmp_path, "one", {"seeds": {"count": 1}}, errors={"none": [0.25], "dae": [0.125]})
    text = cli.summary_table(tmp_path / "stopped")
    assert text.splitlines()[-1] == ("stopped: values at each unit's last completed fine-tuning epoch (none: epoch 3 "
                                     "of 10, dae: epoch 3 of 10)")
    one = cli.summary_table(tmp_path / "one")
    assert "+- 0.00" not in one and "stopped" not in one
    assert [line.split()[:3] for line in one.splitlines()[1:]] == [["none", "1", "25.00"], ["dae", "1", "12.50"]]
    assert all(line.count("(n = 1)") == 2 for line in one.splitlines()[1:])


def test_a_sweep_run_into_the_workspace_lists_its_sub_folders(tmp_path):
    """Issue 27: `basin run sweep.toml --out ws/name` writes ws/name/sweep.toml and one sub-folder per value
    (width=32/, width=128/); they did not appear in the Runs pane or `basin runs ws`. A linked folder inside a
    sweep is not followed, and a plain folder without sweep.toml is not searched."""
    from desktop_app.core.config import from_dict, save
    from desktop_app.core.runfolder import list_runs

    sweep = tmp_path / "widths"
    write_run(sweep, "width=32", {"model": {"layers": [{"kind": "dense", "units": 32}]}})
    write_run(sweep, "width=128", {"model": {"layers": [{"kind": "dense", "units": 128}]}})
    save(from_dict({"name": "widths", "sweep": {"field": "model.width", "values": [32, 128]}}), sweep / "sweep.toml")
    write_run(tmp_path, "plain", {})
    write_run(tmp_path / "not-a-sweep", "hidden", {})
    outside = write_run(tmp_path.parent / f"{tmp_path.name}-outside", "elsewhere", {})
    (sweep / "link").symlink_to(outside, target_is_directory=True)
    listed = sorted(str(i.path.relative_to(tmp_path)) for i in list_runs(tmp_path))
    assert listed == ["plain", "widths/width=128", "widths/width=32"]
    table = load_table(tmp_path)
    assert sorted(r.info.name for r in table.rows) == ["plain", "width=128", "width=32"]
    assert "units" in titles(table)
    code, out = run_cli("runs", str(tmp_path))
    assert code == 0 and "width=32" in out and "width=128" in out and "hidden" not in out


def test_reproduce_runs_in_the_workspace_are_listed_and_can_be_trashed(tmp_path):
    """`basin reproduce` writes out/full/<run>/ (or out/reduced/<run>/), its default out being workspace/reproduce:
    seen in the review of issue 27, those runs were missing from the Runs pane and `basin runs`. A linked size
    folder is not followed; other folders two levels down are not searched."""
    from desktop_app.core.runfolder import list_runs
    from desktop_app.core.runfolder.trash import check_trashable

    full = write_run(tmp_path / "reproduce" / "full", "reproduce-regulariser-1234abcd", {})
    write_run(tmp_path / "claims" / "reduced", "reproduce-width-5678abcd", {})
    write_run(tmp_path / "other" / "deeper", "hidden", {})
    outside = tmp_path.parent / f"{tmp_path.name}-outside"
    write_run(outside / "full", "elsewhere", {})
    (tmp_path / "linked").mkdir()
    (tmp_path / "linked" / "full").symlink_to(outside / "full", target_is_directory=True)
    listed = sorted(str(i.path.relative_to(tmp_path)) for i in list_runs(tmp_path))
    assert listed == ["claims/reduced/reproduce-width-5678abcd", "reproduce/full/reproduce-regulariser-1234abcd"]
    code, out = run_cli("runs", str(tmp_path))
    assert code == 0 and "reproduce-regulariser-1234abcd" in out and "hidden" not in out and "elsewhere" not in out
    assert check_trashable(full, tmp_path).root == full
    with pytest.raises(RunFolderError):
        check_trashable(tmp_path / "other" / "deeper" / "hidden", tmp_path)


def test_a_sweep_variant_can_be_trashed_but_not_a_folder_two_levels_down_elsewhere(tmp_path):
    from desktop_app.core.config import from_dict, save
    from desktop_app.core.runfolder.trash import check_trashable

    sweep = tmp_path / "widths"
    variant = write_run(sweep, "width=32", {})
    with pytest.raises(RunFolderError):  # no sweep.toml: not a listed run
        check_trashable(variant, tmp_path)
    save(from_dict({"name": "widths", "sweep": {"field": "model.width", "values": [32]}}), sweep / "sweep.toml")
    assert check_trashable(variant, tmp_path).root == variant


def test_the_fields_that_matter_come_first_and_the_rest_are_hidden_columns(tmp_path):
    """Issue 27: 32 columns put finetune.lr and units right of 14 noise columns. The fields that differ and can
    matter follow the name; fields that differ but cannot matter (threads, snapshots) are hidden columns at the
    end, for the column chooser."""
    write_run(tmp_path, "a", {"finetune": {"lr": 0.01}, "threads": 1, "snapshots": {"max_filters": 10}})
    write_run(tmp_path, "b", {"finetune": {"lr": 0.05}, "threads": 2, "snapshots": {"max_filters": 20}})
    table = load_table(tmp_path)
    shown = [c.title for c in table.columns if not c.hidden]
    assert shown[:2] == ["Name", "lr"] and "threads" not in shown and "max_filters" not in shown
    hidden = [c.key for c in table.columns if c.hidden]
    assert hidden == ["snapshots.max_filters", "threads"]


def test_a_special_value_reads_as_the_builder_names_it(tmp_path):
    """New-user finding: the Runs table showed data.n_unlabelled "0" where the builder says "all training images"."""
    write_run(tmp_path, "a", {"data": {"n_unlabelled": 0}})
    write_run(tmp_path, "b", {"data": {"n_unlabelled": 500}})
    table = load_table(tmp_path)
    col = next(i for i, c in enumerate(table.columns) if c.key == "data.n_unlabelled")
    texts = {table.rows[r].info.name: table.text(r, col) for r in range(len(table.rows))}
    assert sorted(texts.values()) == ["500", "all training images"]


def test_runs_table_of_a_reproduce_folder_says_where_its_runs_are(tmp_path):
    """`basin runs --table <reproduce --out>` said only "no runs in ..."; the runs are in its full/ and reduced/."""
    write_run(tmp_path / "full", "a", {"finetune": {"lr": 0.01}})
    code, out = run_cli("runs", "--table", str(tmp_path))
    assert code == 0 and out.strip() == (f"no runs in {tmp_path} (basin reproduce keeps its runs one level down: "
                                         f"{tmp_path / 'full'})")
    assert run_cli("runs", "--table", str(tmp_path / "full"))[1].splitlines()[0].startswith("1 run in")
