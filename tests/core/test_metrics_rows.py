"""The metric rows of a run folder (``core/runfolder/metrics.py``), in process and in milliseconds: what is written
comes back exactly, every bad cell is refused with a message naming its field (at the edges of each range), units
come seed-major in arm order, the merged file is read only when it is current, and the "final value" of a unit is
its last trained epoch's. These tests are the metrics module's mutation test list (docs/TESTING.md): no subprocess.
"""

from __future__ import annotations

import json
import os

import pytest

from desktop_app.core.runfolder import RunFolder, RunFolderError
from desktop_app.core.runfolder import metrics as m

HEADER = "arm,seed,phase,layer,epoch,split,nll,error,recon_error,wall_s"


def row(**changes) -> dict[str, str]:
    """A good fine-tuning row as strings (what ``csv.DictReader`` gives), with ``changes``."""
    base = {"arm": "dae", "seed": "3", "phase": "finetune", "layer": "-1", "epoch": "2", "split": "test",
            "nll": "0.25", "error": "0.125", "recon_error": "", "wall_s": "1.5"}
    return base | changes


def test_rows_written_come_back_exactly_in_the_documented_columns(tmp_path):
    rows = [{"arm": "none", "seed": 0, "phase": "finetune", "layer": -1, "epoch": 1, "split": "test",
             "nll": 0.1 + 0.2, "error": 1 / 3, "wall_s": 2.5},
            {"arm": "rbm", "seed": 12, "phase": "pretrain", "layer": 1, "epoch": 0, "split": "unlabelled",
             "recon_error": -3.0000000000000004}]
    text = m.rows_to_csv(rows)
    lines = text.split("\n")
    assert lines[0] == HEADER and m.COLUMNS == tuple(HEADER.split(","))
    assert lines[1] == f"none,0,finetune,-1,1,test,{0.1 + 0.2!r},{1 / 3!r},,2.5"
    assert lines[2] == "rbm,12,pretrain,1,0,unlabelled,,,-3.0000000000000004,"
    assert lines[3:] == [""]  # "\n" line ends, no "\r\n"
    (tmp_path / "metrics.csv").write_text(text)
    back = m.read_csv(RunFolder(tmp_path), tmp_path / "metrics.csv")
    assert back == [{k: m._fmt(r.get(k, "")) for k in m.COLUMNS} for r in rows]
    assert float(back[0]["nll"]) == 0.1 + 0.2 and float(back[0]["error"]) == 1 / 3  # repr: every bit kept
    assert m._fmt(7) == "7" and m._fmt("x") == "x" and m._fmt(0.1) == "0.1"


def test_a_missing_or_empty_file_has_no_rows_and_a_file_from_before_wall_time_reads(tmp_path):
    folder = RunFolder(tmp_path)
    assert m.read_csv(folder, tmp_path / "absent.csv") == []
    (tmp_path / "empty.csv").write_text("")
    assert m.read_csv(folder, tmp_path / "empty.csv") == []
    assert m.csv_reader(folder, tmp_path / "empty.csv", m.REQUIRED, "metrics") is None
    old = ",".join(m.REQUIRED)
    (tmp_path / "old.csv").write_text(f"{old}\nnone,0,finetune,-1,1,test,0.5,0.25,\n")
    assert m.read_csv(folder, tmp_path / "old.csv") == [
        {"arm": "none", "seed": "0", "phase": "finetune", "layer": "-1", "epoch": "1", "split": "test",
         "nll": "0.5", "error": "0.25", "recon_error": "", "wall_s": ""}]


def test_a_file_without_a_required_column_is_not_a_metrics_file(tmp_path):
    folder = RunFolder(tmp_path)
    (tmp_path / "x.csv").write_text("arm,seed,phase,layer,epoch,split,nll,recon_error\n")
    with pytest.raises(RunFolderError) as exc:
        m.read_csv(folder, tmp_path / "x.csv")
    assert str(exc.value) == f"{tmp_path / 'x.csv'}: not a Basin metrics file (no column 'error')"
    with pytest.raises(RunFolderError) as exc:
        m.csv_reader(folder, tmp_path / "x.csv", ("arm", "points"), "online", shown="online.csv")
    assert str(exc.value) == "online.csv: not a Basin online file (no column 'points')"
    reader = m.csv_reader(folder, tmp_path / "x.csv", ("arm", "seed"), "metrics")
    assert reader is not None and reader.fieldnames[:2] == ["arm", "seed"]


def test_a_bad_row_names_its_file_and_line(tmp_path):
    folder = RunFolder(tmp_path)
    good = "dae,3,finetune,-1,2,test,0.25,0.125,,1.5"
    (tmp_path / "bad.csv").write_text(f"{HEADER}\n{good}\n{good}\ndae,3,finetune,-1,2,test,0.25,1.5,,1.5\n")
    with pytest.raises(RunFolderError) as exc:
        m.read_csv(folder, tmp_path / "bad.csv")
    assert str(exc.value) == f"{tmp_path / 'bad.csv'} line 4: error '1.5' is out of range (must be between 0 and 1)"
    (tmp_path / "short.csv").write_text(f"{HEADER}\n{good}\ndae,3,finetune\n")
    with pytest.raises(RunFolderError) as exc:
        m.read_csv(folder, tmp_path / "short.csv")
    assert str(exc.value) == f"{tmp_path / 'short.csv'} line 3: missing columns"
    huge = "x" * 200_000  # past the csv module's field limit: its csv.Error becomes the folder's one-line error
    (tmp_path / "huge.csv").write_text(f'{HEADER}\n{good}\n"{huge}",3,finetune,-1,2,test,0.25,0.125,,1.5\n')
    with pytest.raises(RunFolderError) as exc:
        m.read_csv(folder, tmp_path / "huge.csv")
    assert str(exc.value).startswith(f"{tmp_path / 'huge.csv'} line 3: field larger than field limit")


def test_good_rows_pass_at_the_edges_of_every_range():
    assert m.check_row(row()) == ""
    for changes in ({"error": "0"}, {"error": "1"}, {"error": "1.0"}, {"nll": "0"}, {"wall_s": "0"},
                    {"wall_s": ""}, {"recon_error": "-5.5"}, {"seed": "0"}, {"seed": "9999999999"},
                    {"layer": "-1234567890"}, {"epoch": "12345678901"}, {"split": "train"}, {"split": "valid"},
                    {"arm": "a-b_9"}, {"nll": "1e300"}, {"error": "0." + "0" * 60 + "1"},
                    {"phase": "pretrain", "split": "unlabelled", "nll": "", "error": "", "recon_error": "0.5"},
                    {"phase": "pretrain", "nll": "0.5", "error": "0.5", "recon_error": "0"}):
        assert m.check_row(row(**changes)) == "", changes


@pytest.mark.parametrize("changes, problem", [
    ({"wall_s": None}, "missing columns"),
    ({"arm": None}, "missing columns"),
    ({"arm": "../x"}, "arm '../x' is not a valid name (letters, digits, '_' and '-')"),
    ({"seed": "-1"}, "seed '-1' is not a non-negative integer"),
    ({"seed": "x"}, "seed 'x' is not a non-negative integer"),
    ({"seed": "12345678901"}, "seed '12345678901' is not a non-negative integer"),
    ({"phase": "train"}, "phase 'train' is not one of pretrain, finetune"),
    ({"layer": "1.5"}, "layer '1.5' is not an integer"),
    ({"layer": "X1"}, "layer 'X1' is not an integer"),
    ({"layer": "-12345678901"}, "layer '-12345678901' is not an integer"),
    ({"epoch": "123456789012"}, "epoch '123456789012' is not an integer"),
    ({"epoch": ""}, "epoch '' is not an integer"),
    ({"split": "all"}, "split 'all' is not one of train, valid, test, unlabelled"),
    ({"nll": "abc"}, "nll 'abc' is not a number"),
    ({"nll": "inf"}, "nll 'inf' is not a finite number"),
    ({"nll": "nan"}, "nll 'nan' is not a finite number"),
    ({"recon_error": "-inf"}, "recon_error '-inf' is not a finite number"),
    ({"error": "0." + "0" * 61 + "1"}, "error '0.000000000000000000' is not a finite number"),
    ({"nll": "-1e-300"}, "nll '-1e-300' is out of range (must be at least 0)"),
    ({"error": "-0.001"}, "error '-0.001' is out of range (must be between 0 and 1)"),
    ({"error": "1.0000001"}, "error '1.0000001' is out of range (must be between 0 and 1)"),
    ({"wall_s": "-0.5"}, "wall_s '-0.5' is out of range (must be at least 0)"),
    ({"nll": ""}, "a fine-tuning row needs nll and error"),
    ({"error": ""}, "a fine-tuning row needs nll and error"),
    ({"phase": "pretrain", "recon_error": ""}, "a pre-training row needs recon_error"),
])
def test_every_bad_cell_is_refused_naming_its_field(changes, problem):
    assert m.check_row(row(**changes)) == problem


def test_the_checks_come_in_column_order():
    # a row with several problems reports the first column's
    assert m.check_row(row(seed="x", phase="y")).startswith("seed")
    assert m.check_row(row(phase="y", layer="z")).startswith("phase")
    assert m.check_row(row(layer="z", epoch="w")).startswith("layer")
    assert m.check_row(row(epoch="w", split="v")).startswith("epoch")
    assert m.check_row(row(split="v", nll="u")).startswith("split")
    assert m.check_row(row(nll="u", error="2")).startswith("nll")
    assert m.check_row(row(error="2", recon_error="inf")).startswith("error")
    assert m.check_row(row(recon_error="inf", wall_s="-1")).startswith("recon_error")


def write_units(root, units: dict[tuple[str, int], list[dict]]) -> RunFolder:
    (root / "metrics").mkdir(parents=True)
    for (arm, seed), rows in units.items():
        (root / "metrics" / f"{arm}_s{seed}.csv").write_text(m.rows_to_csv(rows))
    return RunFolder(root)


def unit_rows(arm: str, seed: int) -> list[dict]:
    return [{"arm": arm, "seed": seed, "phase": "finetune", "layer": -1, "epoch": 1, "split": "test",
             "nll": 0.5, "error": 0.25}]


def test_units_come_seed_major_in_the_arms_order_and_the_merged_file_only_when_current(tmp_path):
    units = {(a, s): unit_rows(a, s) for a in ("zeta", "none", "alpha") for s in (10, 2)}
    folder = write_units(tmp_path, units)
    order = [(r["arm"], r["seed"]) for r in m.read_metrics(folder, ["none", "zeta"])]
    # seed 2 before seed 10 (numbers, not text); config order; an arm not in the list after them, by name
    assert order == [("none", "2"), ("zeta", "2"), ("alpha", "2"), ("none", "10"), ("zeta", "10"), ("alpha", "10")]
    (tmp_path / "manifest.json").write_text(json.dumps({"arms": ["zeta", "alpha", "none"]}))
    order = [(r["arm"], r["seed"]) for r in m.read_metrics(tmp_path)]  # the manifest's order (a path works too)
    assert order == [("zeta", "2"), ("alpha", "2"), ("none", "2"), ("zeta", "10"), ("alpha", "10"), ("none", "10")]
    (tmp_path / "manifest.json").write_text("{not json")
    order = [(r["arm"], r["seed"]) for r in m.read_metrics(str(tmp_path))]  # unreadable manifest: by name
    assert order == [("alpha", "2"), ("none", "2"), ("zeta", "2"), ("alpha", "10"), ("none", "10"), ("zeta", "10")]
    assert m.unit_order(["b", "a"])(("a", 1)) == (1, 1, "a") and m.unit_order(["b"])(("c", 0)) == (0, 1, "c")

    merged = tmp_path / "metrics.csv"
    merged.write_text(m.rows_to_csv(unit_rows("merged", 0)))
    t = 1_700_000_000_000_000_000
    for _, _, p in folder.unit_metric_files():
        os.utime(p, ns=(t, t))
    os.utime(merged, ns=(t, t))  # written at the same moment as the last unit: current
    assert [r["arm"] for r in m.read_metrics(folder, ["none"])] == ["merged"]
    os.utime(folder.root / "metrics" / "alpha_s2.csv", ns=(t + 1, t + 1))  # a unit wrote after the merge
    assert len(m.read_metrics(folder, ["none"])) == 6
    os.utime(merged, ns=(t + 2, t + 2))
    assert [r["arm"] for r in m.read_metrics(folder, ["none"])] == ["merged"]
    merged.unlink()
    merged.mkdir()  # not a file: the units are read
    assert len(m.read_metrics(folder, ["none"])) == 6


def test_a_symlinked_or_missing_merged_file_is_not_current(tmp_path):
    folder = write_units(tmp_path / "run", {("none", 0): unit_rows("none", 0)})
    unit = folder.unit_metric_files()[0][2]
    outside = tmp_path / "elsewhere.csv"
    outside.write_text(m.rows_to_csv(unit_rows("merged", 0)))
    (folder.root / "metrics.csv").symlink_to(outside)
    t = 1_700_000_000_000_000_000
    os.utime(unit, ns=(t, t))
    os.utime(outside, ns=(t + 5, t + 5))
    assert not m._merged_is_current(folder, [unit])
    assert [r["arm"] for r in m.read_metrics(folder, ["none"])] == ["none"]
    (folder.root / "metrics.csv").unlink()
    assert not m._merged_is_current(folder, [unit])
    (folder.root / "metrics.csv").write_text(m.rows_to_csv(unit_rows("merged", 0)))
    os.utime(folder.root / "metrics.csv", ns=(t + 5, t + 5))
    assert m._merged_is_current(folder, [unit])
    assert not m._merged_is_current(folder, [unit, folder.root / "gone.csv"])  # a unit that cannot be stat'ed
    only_merged = RunFolder(tmp_path / "merged-only")
    only_merged.root.mkdir()
    (only_merged.root / "metrics.csv").write_text(m.rows_to_csv(unit_rows("merged", 4)))
    assert [(r["arm"], r["seed"]) for r in m.read_metrics(only_merged, ["none"])] == [("merged", "4")]


def epoch_row(arm, seed, epoch, split="test", phase="finetune", error=0.5, nll=1.0):
    return {"arm": arm, "seed": str(seed), "phase": phase, "layer": "-1", "epoch": str(epoch), "split": split,
            "nll": str(nll), "error": str(error), "recon_error": "", "wall_s": ""}


def test_the_final_value_is_the_last_trained_epochs_of_the_split_asked():
    rows = [
        epoch_row("none", 0, 0, error=0.9, nll=2.3),
        epoch_row("none", 0, 1, error=0.3, nll=0.9),
        epoch_row("none", 0, 1, split="valid", error=0.31, nll=0.91),
        epoch_row("none", 0, 3, error=0.1, nll=0.4),
        epoch_row("none", 0, 2, error=0.2, nll=0.6),  # written after epoch 3 (a resumed unit): still not last
        epoch_row("none", 0, 4, split="train", error=0.05, nll=0.2),
        epoch_row("none", 0, 9, phase="pretrain", error=0.0, nll=0.0),
        epoch_row("none", 1, 0, error=0.9),  # stopped before its first epoch ended: no final value
        epoch_row("dae", 7, 1, error=0.4, nll=1.1),
        epoch_row("dae", 7, 1, error=0.35, nll=1.05),  # the same epoch again (a rewritten row): the later one
    ]
    assert m.final_values(rows) == {"none": {0: 0.1}, "dae": {7: 0.35}}
    assert m.final_test_errors(rows) == {"none": {0: 0.1}, "dae": {7: 0.35}}
    assert m.final_test_nlls(rows) == {"none": {0: 0.4}, "dae": {7: 1.05}}
    assert m.final_values(rows, "valid") == {"none": {0: 0.31}}
    assert m.final_values(rows, "train", "nll") == {"none": {0: 0.2}}
    assert m.final_epochs(rows) == {"none": {0: 3}, "dae": {7: 1}}
    assert m.final_values([epoch_row("none", 0, 0)]) == {} and m.FIRST_TRAINED_EPOCH == 1


@pytest.mark.parametrize("changes, problem", [
    ({"seed": "s" * 30}, f"seed {'s' * 20!r} is not a non-negative integer"),
    ({"phase": "p" * 30}, f"phase {'p' * 20!r} is not one of pretrain, finetune"),
    ({"epoch": "e" * 30}, f"epoch {'e' * 20!r} is not an integer"),
    ({"split": "t" * 30}, f"split {'t' * 20!r} is not one of train, valid, test, unlabelled"),
    ({"nll": "n" * 30}, f"nll {'n' * 20!r} is not a number"),
    ({"error": "2" * 30}, f"error {'2' * 20!r} is out of range (must be between 0 and 1)"),
])
def test_a_message_quotes_at_most_20_characters_of_the_bad_cell(changes, problem):
    assert m.check_row(row(**changes)) == problem


def test_a_manifest_without_arms_sorts_units_by_name(tmp_path):
    folder = write_units(tmp_path, {(a, 0): unit_rows(a, 0) for a in ("zeta", "alpha")})
    (tmp_path / "manifest.json").write_text("{}")
    assert [r["arm"] for r in m.read_metrics(folder)] == ["alpha", "zeta"]
    assert m.folder_and_arms(tmp_path, None)[1] == ()


def test_a_metrics_file_may_be_larger_than_a_text_file_and_cells_come_back_as_written(tmp_path):
    """A study's merged metrics.csv is bounded by MAX_CSV_BYTES (512 MiB), not by the 16 MiB of a config; and a
    quoted cell keeps its bytes (the csv module reads text opened with newline="")."""
    extra = 140  # columns Basin does not read, 120 kB each: 16.8 MB, past MAX_TEXT_BYTES
    header = HEADER + "," + ",".join(f"x{i}" for i in range(extra))
    good = 'none,0,pretrain,0,1,unlabelled,,,"0.5\r\n",'
    (tmp_path / "big.csv").write_text(header + "\n" + good + "," + ",".join(["y" * 120_000] * extra) + "\n",
                                      newline="")
    assert (tmp_path / "big.csv").stat().st_size > 16 * 2**20
    rows = m.read_csv(RunFolder(tmp_path), tmp_path / "big.csv")
    assert rows == [{"arm": "none", "seed": "0", "phase": "pretrain", "layer": "0", "epoch": "1",
                     "split": "unlabelled", "nll": "", "error": "", "recon_error": "0.5\r\n", "wall_s": ""}]


def test_a_file_with_old_mac_line_ends_reads_like_any_other(tmp_path):
    """A spreadsheet may save with bare carriage returns; the rows are the same (the csv module's own line
    splitting, newline="")."""
    text = m.rows_to_csv(unit_rows("none", 0) + unit_rows("dae", 1))
    (tmp_path / "unix.csv").write_text(text)
    (tmp_path / "mac.csv").write_bytes(text.replace("\n", "\r").encode())
    folder = RunFolder(tmp_path)
    assert m.read_csv(folder, tmp_path / "mac.csv") == m.read_csv(folder, tmp_path / "unix.csv") != []
