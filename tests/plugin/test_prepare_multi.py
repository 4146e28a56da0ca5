"""``dynahate prepare --csv A --csv B``: several Dynahate CSVs (the release and a collected round) as one set of
splits: ids unique across files, the leakage audit across files, counts per file and round, each file's hash."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from dynahate.plugin.splits import SPLITS, data_file, meta_file
from dynahate.testing.cli import run_main
from dynahate.testing.cli_refusal import assert_refused, snapshot
from dynahate.testing.records import CSV_HEADER, csv_row, csv_text, read_jsonl


def prepare_cli(csvs: list[Path], out: Path, *extra: str) -> subprocess.CompletedProcess:
    """``dynahate prepare`` with one ``--csv`` per file, without the prompt-length measurement."""
    args = [arg for path in csvs for arg in ("--csv", str(path))]
    return run_main(["prepare", *args, "--out", str(out), "--tokenizer", "none", *extra], check=False)


def write(path: Path, rows: list[list]) -> Path:
    path.write_text(csv_text(rows), encoding="utf-8")
    return path


def release_rows() -> list[list]:
    """A small stand-in for the release: round 1, ids acl1-acl4."""
    return [csv_row(1, "first release post"), csv_row(2, "second release post", label="nothate"),
            csv_row(3, "a release dev post", split="dev"), csv_row(4, "a release test post", split="test")]


def round8_rows() -> list[list]:
    """A collected round as `dynahate collect export` writes it: originals 8a, perturbations 8b, paired."""
    rows = [csv_row(1, "an original of round 8", acl_id="r8-1", matched="r8-2"),
            csv_row(2, "its perturbation", label="nothate", acl_id="r8-2", matched="r8-1"),
            csv_row(3, "a round 8 test original", split="test", acl_id="r8-3", matched="r8-4"),
            csv_row(4, "a round 8 test perturbation", label="nothate", split="test", acl_id="r8-4", matched="r8-3")]
    for row in rows:
        perturbation = row[12] != "NA" and int(row[2]) % 2 == 0
        row[7], row[9], row[11] = ("perturbation" if perturbation else "original"), 8, "8b" if perturbation else "8a"
    return rows


def test_two_csv_files_are_prepared_together_not_the_last_one_alone(tmp_path):
    release, round8 = write(tmp_path / "release.csv", release_rows()), write(tmp_path / "round8.csv", round8_rows())
    out = tmp_path / "out"
    proc = prepare_cli([release, round8], out)
    assert proc.returncode == 0, proc.stderr
    ids = {split: [m["acl.id"] for m in read_jsonl(meta_file(data_file(out, split)))] for split in SPLITS}
    assert ids == {"train": ["acl1", "acl2", "r8-1", "r8-2"], "dev": ["acl3"], "test": ["acl4", "r8-3", "r8-4"]}
    inputs = [r["input"] for r in read_jsonl(data_file(out, "train"))]
    assert inputs == ["first release post", "second release post", "an original of round 8", "its perturbation"]
    report = json.loads((out / "prepare_report.json").read_text())
    assert [f["path"] for f in report["source"]["files"]] == [str(release), str(round8)]


def read_report(out: Path) -> dict:
    return json.loads((out / "prepare_report.json").read_text(encoding="utf-8"))


# --- ids unique across files --------------------------------------------------------------------------

def test_an_id_in_two_files_is_refused_naming_both_files_lines_and_the_id_and_nothing_is_written(tmp_path):
    release = write(tmp_path / "release.csv", release_rows())
    rows = round8_rows()
    rows[2][1] = "acl3"  # line 4 of round8.csv reuses the id of release.csv's line 4
    round8 = write(tmp_path / "round8.csv", rows)
    out = tmp_path / "data"
    assert prepare_cli([release], out).returncode == 0
    before = snapshot(out)
    for extra in ((), ("--skip-invalid",)):  # which of the two is right is not prepare's to guess
        assert_refused(prepare_cli([release, round8], out, *extra),
                       f"{release}: line 4 and {round8}: line 4: acl.id 'acl3' names two rows")
    assert snapshot(out) == before  # the earlier outputs, byte for byte, and no temporary file
    assert_refused(prepare_cli([release, round8], tmp_path / "fresh"), "acl.id 'acl3' names two rows")
    assert not (tmp_path / "fresh").exists()


def test_the_same_file_twice_is_refused(tmp_path):
    release = write(tmp_path / "release.csv", release_rows())
    link = tmp_path / "link.csv"
    link.symlink_to(release)
    for twice in ([release, release], [release, link]):
        assert_refused(prepare_cli(twice, tmp_path / "out"),
                       f"{twice[1]}: given twice as --csv (the same file as {release}); pass each CSV once")
    assert not (tmp_path / "out").exists()


def test_download_takes_one_csv(tmp_path):
    proc = run_main(["prepare", "--download", "--csv", str(tmp_path / "a.csv"), "--csv", str(tmp_path / "b.csv"),
                     "--out", str(tmp_path / "out")], check=False)
    assert_refused(proc, "--download saves one file, and 2 --csv were given")
    assert list(tmp_path.iterdir()) == []


# --- the leakage audit across files ---------------------------------------------------------------------

def test_a_text_in_one_files_train_and_anothers_test_is_reported(tmp_path):
    rows = round8_rows()
    rows[2][3] = "first release post"  # round8.csv's test line 4: the text of release.csv's train line 2
    release, round8 = write(tmp_path / "release.csv", release_rows()), write(tmp_path / "round8.csv", rows)
    out = tmp_path / "out"
    proc = prepare_cli([release, round8], out)
    assert proc.returncode == 0, proc.stderr
    dup = read_report(out)["audit"]["duplicate_texts_across_splits"]
    assert (dup["groups"], dup["dev_or_test_rows_with_text_in_train"]) == (1, 1)
    refs = [{"csv": str(release), "acl.id": "acl1", "line": 2, "split": "train"},
            {"csv": str(round8), "acl.id": "r8-3", "line": 4, "split": "test"}]
    assert dup["examples"] == [refs]
    assert dup["across_files"] == {"groups": 1, "dev_or_test_rows_with_text_in_another_files_train": 1,
                                   "examples": [refs]}
    assert ("audit across files: 1 of those texts occur in more than one file (1 dev/test rows have their exact text "
            "in another file's train)") in proc.stdout
    assert "first release post" not in proc.stdout + json.dumps(read_report(out))  # posts are never echoed


def test_a_pair_split_across_files_and_splits_names_each_side_with_its_file(tmp_path):
    rows = round8_rows()
    rows[1][12] = "acl4"  # round8.csv's train perturbation is matched to release.csv's test post
    rows[0][12] = "NA"
    release, round8 = write(tmp_path / "release.csv", release_rows()), write(tmp_path / "round8.csv", rows)
    out = tmp_path / "out"
    assert prepare_cli([release, round8], out).returncode == 0
    pairs = read_report(out)["audit"]["matched_pairs_across_splits"]
    assert (pairs["pairs"], pairs["pairs_across_splits"], pairs["matched_id_not_in_file"]) == (2, 1, 0)
    assert pairs["examples"] == [[{"csv": str(round8), "acl.id": "r8-2", "line": 3, "split": "train"},
                                  {"csv": str(release), "acl.id": "acl4", "line": 5, "split": "test"}]]


# --- counts per file and per round; each file's hash ----------------------------------------------------

def test_counts_per_file_and_round_in_the_report_and_the_summary(tmp_path):
    from dynahate.plugin.data.download import git_blob_sha1

    release, round8 = write(tmp_path / "release.csv", release_rows()), write(tmp_path / "round8.csv", round8_rows())
    out = tmp_path / "out"
    proc = prepare_cli([release, round8], out)
    report = read_report(out)
    source = report["source"]
    assert (source["git_blob_sha1"], source["version"], source["rows_read"]) == (None, None, 8)
    files = source["files"]
    assert [(f["path"], f["git_blob_sha1"], f["version"], f["rows_read"], f["skipped"]) for f in files] == [
        (str(release), git_blob_sha1(release), None, 4, 0), (str(round8), git_blob_sha1(round8), None, 4, 0)]
    assert {split: counts["rows"] for split, counts in files[1]["splits"].items()} == {"train": 2, "dev": 0, "test": 2}
    assert files[1]["splits"]["test"]["rounds"] == {"8a": {"hate": 1}, "8b": {"not hate": 1}}
    assert files[0]["splits"]["train"]["rounds"] == {"1": {"hate": 1, "not hate": 1}}
    assert report["splits"]["test"]["rounds"] == {"1": {"hate": 1}, "8a": {"hate": 1}, "8b": {"not hate": 1}}
    assert report["splits"]["train"]["rows"] == 4 and report["splits"]["test"]["rows"] == 3
    lines = proc.stdout.splitlines()
    assert lines[0] == ("sources: 2 CSV files, 8 rows read, prepared as one set of splits (not a Dynahate release as "
                        "a whole)")
    assert lines[1] == (f"  {release} (unrecognised version, git blob {git_blob_sha1(release)[:12]}), 4 rows read: "
                        "train 2, dev 1, test 1; rounds 1: 4")
    assert lines[2] == (f"  {round8} (unrecognised version, git blob {git_blob_sha1(round8)[:12]}), 4 rows read: "
                        "train 2, dev 0, test 2; rounds 8a: 2, 8b: 2")
    assert "  test       3 rows (hate: 2, not hate: 1); rounds: 1, 8a, 8b" in lines


def test_skipped_rows_name_their_file(tmp_path):
    rows = round8_rows()
    rows[3][4] = "spam"
    release, round8 = write(tmp_path / "release.csv", release_rows()), write(tmp_path / "round8.csv", rows)
    out = tmp_path / "out"
    assert_refused(prepare_cli([release, round8], out), f"{round8}: line 5 (acl.id r8-4): label 'spam'")
    proc = prepare_cli([release, round8], out, "--skip-invalid")
    assert proc.returncode == 0, proc.stderr
    report = read_report(out)
    assert report["skipped"]["details"] == [{"csv": str(round8), "line": 5, "acl.id": "r8-4",
                                             "reason": "label 'spam' is not one of 'hate', 'nothate'"}]
    assert [f["skipped"] for f in report["source"]["files"]] == [0, 1]
    assert "4 rows read: train 2, dev 0, test 1; rounds 8a: 2, 8b: 1; 1 skipped" in proc.stdout


# --- a new round reaches eval: sidecars, per-round table (R8), contrast pairs, bias groups ---------------

def test_round_8_and_its_pairs_reach_the_sidecars_and_eval(tmp_path):
    from dynahate.eval.decision.contrast import contrast
    from dynahate.eval.decision.entries import dynahate_context
    from dynahate.eval.eval_data import load_split
    from dynahate.eval.metrics import breakdowns
    from dynahate.eval.predictions import Prediction
    from dynahate.plugin.metadata import round_group, round_group_order

    rows = round8_rows()
    rows[2][6] = "wom"  # round8.csv's test original targets women; its not-hate perturbation names none
    release, round8 = write(tmp_path / "release.csv", release_rows()), write(tmp_path / "round8.csv", rows)
    out = tmp_path / "out"
    assert prepare_cli([release, round8], out).returncode == 0
    metas = read_jsonl(meta_file(data_file(out, "test")))
    assert [(m["csv"], m["line"], m["acl.id"], m["round"], m["round.base"], m["level"], m["acl.id.matched"])
            for m in metas] == [(str(release), 5, "acl4", "1", "1", "original", None),
                                (str(round8), 4, "r8-3", "8a", "8", "original", "r8-4"),
                                (str(round8), 5, "r8-4", "8b", "8", "perturbation", "r8-3")]

    assert [round_group(r) for r in ("8a", "8b", "10a")] == ["R8", "R8", "R10"]
    assert sorted(["R10", "R8", "R1", "R4"], key=round_group_order) == ["R1", "R4", "R8", "R10"]
    split = load_split(data_file(out, "test"))
    split_metas = [example.meta for example in split.examples]
    assert split.source_blob is None  # a set of files is not one CSV: no blob id (below)
    predictions = [Prediction(e.id, e.gold, e.gold, round=(e.meta or {}).get("round")) for e in split.examples]
    by_round = breakdowns(predictions, split_metas)
    assert list(by_round["round_group"]) == ["R1", "R8"] and by_round["round_group"]["R8"]["examples"] == 2
    assert list(by_round["round"]) == ["1", "8a", "8b"]
    pairs = contrast([True, True, False], split_metas)
    assert pairs["pairs"] == 1 and list(pairs["rounds"]) == ["R8"]
    assert pairs["rounds"]["R8"]["original_correct_only"] == 1
    assert dynahate_context(split).groups == [set(), {"wom"}, {"wom"}]  # the perturbation takes its original's group


# --- provenance: a mixed set is not the release -----------------------------------------------------------

def test_a_set_with_the_release_and_a_new_round_is_not_the_release(tmp_path, monkeypatch):
    from dynahate.eval.fingerprint import prepared_source_blob
    from dynahate.plugin.data import download
    from dynahate.publish.card import unofficial_reason

    release, round8 = write(tmp_path / "release.csv", release_rows()), write(tmp_path / "round8.csv", round8_rows())
    monkeypatch.setitem(download.KNOWN_BLOBS, download.git_blob_sha1(release), "v0.2.3")  # stands for the release
    assert prepare_cli([release], tmp_path / "alone").returncode == 0
    assert read_report(tmp_path / "alone")["source"]["version"] == "v0.2.3"
    blob = prepared_source_blob(data_file(tmp_path / "alone", "test"))
    assert blob == download.git_blob_sha1(release)
    assert unofficial_reason({"fingerprint": {"of": "posts", "source_git_blob_sha1": blob}}) is None

    assert prepare_cli([release, round8], tmp_path / "mixed").returncode == 0
    report = read_report(tmp_path / "mixed")
    assert [f["version"] for f in report["source"]["files"]] == ["v0.2.3", None]
    assert (report["source"]["version"], report["source"]["git_blob_sha1"]) == (None, None)
    blob = prepared_source_blob(data_file(tmp_path / "mixed", "test"))
    assert blob is None
    assert unofficial_reason({"fingerprint": {"of": "posts", "source_git_blob_sha1": blob}}) is not None


# --- one file: as before ---------------------------------------------------------------------------------

def test_one_file_in_a_list_is_prepared_as_one_file_always_was(sample_csv, tmp_path):
    from dynahate.plugin.data.prepare import prepare

    a = prepare(sample_csv, tmp_path / "a" / "out").report
    b = prepare([sample_csv], tmp_path / "b" / "out").report
    assert snapshot(tmp_path / "a").keys() == snapshot(tmp_path / "b").keys()
    for name, data in snapshot(tmp_path / "a").items():
        if not name.endswith("prepare_report.json"):  # the report names its output folder
            assert snapshot(tmp_path / "b")[name] == data, name
    assert a["written"] != b["written"] and {**a, "written": None} == {**b, "written": None}
    assert "files" not in a["source"] and "across_files" not in a["audit"]["duplicate_texts_across_splits"]
    assert a["source"]["path"] == str(sample_csv) and a["source"]["missing_metadata_columns"] == []
    assert all("csv" not in m for split in SPLITS for m in read_jsonl(meta_file(data_file(tmp_path / "a" / "out",
                                                                                          split))))


# --- columns: what a file must have, each file on its own --------------------------------------------------

def test_a_file_without_a_required_column_is_refused_naming_the_file_and_the_column(tmp_path):
    release = write(tmp_path / "release.csv", release_rows())
    no_split = tmp_path / "round8.csv"
    no_split.write_text(csv_text([row[:8] + row[9:] for row in round8_rows()], CSV_HEADER[:8] + CSV_HEADER[9:]),
                        encoding="utf-8")
    assert_refused(prepare_cli([release, no_split], tmp_path / "out"),
                   f"{no_split}: line 1: missing column(s) 'split' in the header (12 fields)")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("spelled, column", [("Round", "round"), ("acl_id", "acl.id"), ("round base", "round.base"),
                                             ("ACL.ID.MATCHED", "acl.id.matched")])
def test_a_metadata_column_spelled_otherwise_is_refused_naming_both(tmp_path, spelled, column):
    header = [spelled if name == column else name for name in CSV_HEADER]
    source = tmp_path / "round8.csv"
    source.write_text(csv_text(round8_rows(), header), encoding="utf-8")
    assert_refused(prepare_cli([write(tmp_path / "release.csv", release_rows()), source], tmp_path / "out"),
                   f"{source}: line 1: column(s) named like Dynahate's but spelled otherwise: {spelled!r} is not "
                   f"{column!r}; rename them")
    assert not (tmp_path / "out").exists()


def test_a_required_column_spelled_otherwise_is_named_with_the_missing_one(tmp_path):
    source = tmp_path / "in.csv"
    source.write_text(csv_text(release_rows(), [("Text" if n == "text" else n) for n in CSV_HEADER]), encoding="utf-8")
    assert_refused(prepare_cli([source], tmp_path / "out"),
                   f"{source}: line 1: missing column(s) 'text' in the header: 'Text' is not 'text' (column names are "
                   "spelled exactly as in the official Dynahate CSV)")


def test_files_with_different_columns_are_each_read_as_they_are(tmp_path):
    """The headers need not be the same: a file with fewer metadata columns, or with columns prepare does not read
    (another release's, a spreadsheet's), is read; what it lacks is named per file."""
    release = write(tmp_path / "release.csv", release_rows())
    keep = [CSV_HEADER.index(name) for name in ("acl.id", "text", "label", "split", "round", "acl.id.matched")]
    header = [CSV_HEADER[i] for i in keep] + ["model_wrong"]
    round8 = tmp_path / "round8.csv"
    round8.write_text(csv_text([[row[i] for i in keep] + ["FALSE"] for row in round8_rows()], header),
                      encoding="utf-8")
    out = tmp_path / "out"
    proc = prepare_cli([release, round8], out)
    assert proc.returncode == 0, proc.stderr
    files = read_report(out)["source"]["files"]
    assert [f["missing_metadata_columns"] for f in files] == [[], ["round.base", "type", "target", "level"]]
    assert "rounds 8a: 2, 8b: 2; no column round.base, type, target, level" in proc.stdout
    meta = read_jsonl(meta_file(data_file(out, "test")))[1]
    assert (meta["acl.id"], meta["round"], meta["level"], meta["acl.id.matched"]) == ("r8-3", "8a", None, "r8-4")
