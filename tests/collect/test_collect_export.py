"""``dynahate collect export``: a round in Dynahate v0.2.3's layout, read back by ``dynahate prepare``."""

import csv
import json

import pytest
from sqlalchemy import text

from dynahate.collect.entries import ModelAnswer, NewEntry, add_entry, add_vote, open_round
from dynahate.collect.export import COLUMNS, assign_splits, pseudonym
from dynahate.collect.store import open_store
from dynahate.collect.tokens import add_annotator, authenticate
from dynahate.plugin.data.dynahate_csv import read_dynahate_csv
from dynahate.plugin.round_summary import SCHEMA_VERSION, read_round_summary
from dynahate.testing.cli import run_main

WRONG = ModelAnswer("not hate", 0.2, {"threshold": 0.5}, "a" * 64, "someone/adapter", "c" * 40)
POST_WITH_QUOTES = 'he said "they are all the same", twice\nand again'


@pytest.fixture
def round8(tmp_path):
    """Round 8 (1 vote settles): w writes 12 originals, each with a perturbation; v verifies all but the last pair;
    the last original is rejected as incorrect by v. Returns (db path, store)."""
    db = tmp_path / "c.sqlite3"
    store = open_store(str(db))
    w, v = (authenticate(store, f"Bearer {add_annotator(store, name)}") for name in ("w", "v"))
    r8 = open_round(store, "8", 1, True)
    for i in range(12):
        text = POST_WITH_QUOTES if i == 0 else f"post number {i}"
        original = add_entry(store, w, r8, NewEntry(text, "hate", "derogation", ("bla", "wom")), WRONG)
        edit = add_entry(store, w, r8, NewEntry(f"{text} (edited)", "not hate", original_id=original.id), WRONG)
        if i < 11:
            add_vote(store, v, original.id, "correct")
            add_vote(store, v, edit.id, "correct")
        else:
            add_vote(store, v, original.id, "incorrect", "not hate")
    yield db, store
    store.close()


def read_rows(path):
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.reader(handle))


def test_the_csv_has_dynahate_s_columns_quoting_and_pairs_and_prepare_reads_it(round8, tmp_path):
    db, _ = round8
    out = tmp_path / "round8.csv"
    proc = run_main(["collect", "export", "--db", str(db), "--round", "8", "--out", str(out)])
    assert "exported 22 rows" in proc.stdout and "left out: 1 pending, 1 rejected" in proc.stdout
    raw = out.read_text(encoding="utf-8")
    assert raw.splitlines()[0] == ",".join(f'"{c}"' for c in COLUMNS)  # R's write.csv header, quoted
    assert '"he said ""they are all the same"", twice\nand again"' in raw  # quotes doubled, newline kept
    rows = read_rows(out)
    header, body = rows[0], rows[1:]
    assert tuple(header) == COLUMNS and len(body) == 22
    by_id = {row[1]: dict(zip(header, row, strict=True)) for row in body}
    assert all(acl.startswith("dhc8-") for acl in by_id)
    first = body[0]
    assert first[0] == "1" and first[2] == str(8 * 1_000_000 + int(first[1].split("-")[1]))
    for row in by_id.values():
        partner = by_id[row["acl.id.matched"]]  # every verified original's perturbation is in the file
        assert partner["acl.id.matched"] == row["acl.id"] and partner["split"] == row["split"]
        assert {row["level"], partner["level"]} == {"original", "perturbation"}
        original = row if row["level"] == "original" else partner
        assert (original["round"], original["label"], original["type"], original["target"]) == (
            "8a", "hate", "derogation", "bla, wom")
        edit = partner if original is row else row
        assert (edit["round"], edit["label"], edit["type"], edit["round.base"]) == ("8b", "nothate", "none", "8")
    writers = {row["annotator"] for row in by_id.values()}
    assert len(writers) == 1 and "w" not in writers  # a pseudonym, never the name
    assert {row["split"] for row in by_id.values()} == {"train", "dev", "test"}
    contents = read_dynahate_csv(out)  # the reader of `dynahate prepare`, unchanged
    assert len(contents.rows) == 22 and contents.skipped == [] and contents.missing_metadata_columns == []
    prepared = run_main(["prepare", "--csv", str(out), "--out", str(tmp_path / "data"), "--tokenizer", "none"])
    assert prepared.returncode == 0, prepared.stderr


def test_the_votes_and_the_round_s_summary_lie_beside_it(round8, tmp_path):
    db, store = round8
    out = tmp_path / "r.csv"
    run_main(["collect", "export", "--db", str(db), "--round", "8", "--out", str(out)])
    votes = [json.loads(line) for line in (tmp_path / "r.votes.jsonl").read_text().splitlines()]
    assert len(votes) == 22 and {vote["verdict"] for vote in votes} == {"correct"}
    assert set(votes[0]) == {"acl.id", "validator", "verdict", "corrected_label", "reason", "by_owner", "created_at"}
    summary = json.loads((tmp_path / "r.round.json").read_text())
    assert (summary["round"], summary["round_number"], summary["rows"], summary["splits"]) == (
        "8", 8, 22, {name: sum(1 for row in read_rows(out)[1:] if row[8] == name) for name in ("train", "dev", "test")})
    assert summary["adapters"] == [{"sha256": "a" * 64, "repo_id": "someone/adapter", "commit": "c" * 40}]
    assert summary["figures"]["entries"] == 24 and summary["figures"]["verified_model_error_rate"] == 11 / 24
    # written through the summary's one definition: `dynahate publish --collected-round` reads it back as written
    assert summary["schema_version"] == SCHEMA_VERSION
    assert read_round_summary(tmp_path / "r.round.json").summary == summary


def test_include_unverified_marks_each_row_and_a_relabelled_entry_takes_its_validators_label(round8, tmp_path):
    db, _ = round8
    out = tmp_path / "all.csv"
    run_main(["collect", "export", "--db", str(db), "--round", "8", "--out", str(out), "--include-unverified"])
    rows = read_rows(out)
    assert rows[0][-1] == "validation" and len(rows) == 25
    marks = [row[-1] for row in rows[1:]]
    assert marks.count("verified") == 22 and marks.count("rejected") == 1 and marks.count("pending") == 1
    rejected = next(row for row in rows[1:] if row[-1] == "rejected")
    assert (rejected[4], rejected[5]) == ("nothate", "none")  # the label its validator gave


def test_the_same_seed_gives_the_same_splits_and_pairs_never_straddle(round8, tmp_path):
    db, _ = round8
    outs = []
    for name, seed in (("a", "1"), ("b", "1"), ("c", "2")):
        out = tmp_path / f"{name}.csv"
        run_main(["collect", "export", "--db", str(db), "--round", "8", "--out", str(out), "--seed", seed,
                  "--split", "50/25/25"])
        outs.append([row[8] for row in read_rows(out)[1:]])
    assert outs[0] == outs[1] and outs[0] != outs[2]
    assert sorted(assign_splits(list(range(100)), 7, (80, 10, 10)).values()).count("test") == 10


def test_pseudonyms_are_stable_within_a_database_and_differ_between_databases(tmp_path):
    first, second = open_store(str(tmp_path / "a.sqlite3")), open_store(str(tmp_path / "b.sqlite3"))
    try:
        keys = []
        for store in (first, second):
            with store.reading() as session:
                query = text("SELECT value FROM settings WHERE key = 'pseudonym_key'")
                keys.append(session.execute(query).scalar_one())
    finally:
        first.close()
        second.close()
    assert keys[0] != keys[1]
    assert pseudonym(keys[0], 1) == pseudonym(keys[0], 1) != pseudonym(keys[1], 1)
    assert len(pseudonym(keys[0], 1)) == 10 and pseudonym(keys[0], 1).isalnum()


@pytest.mark.parametrize("args, message", [
    (["--split", "80/10/5"], "sum to 95, not 100"),
    (["--split", "80-10-10"], "three whole percentages"),
    (["--round", "9"], "no such round"),
])
def test_bad_flags_are_one_line_and_write_nothing(round8, tmp_path, args, message):
    db, _ = round8
    base = ["collect", "export", "--db", str(db), "--round", "8", "--out", str(tmp_path / "x.csv")]
    proc = run_main([*base, *args], check=False)
    assert proc.returncode == 2 and message in proc.stderr.strip().splitlines()[-1]
    assert not list(tmp_path.glob("x.*"))


def test_an_existing_output_needs_force_and_a_round_without_verified_entries_writes_nothing(round8, tmp_path):
    db, store = round8
    out = tmp_path / "r.csv"
    (tmp_path / "r.round.json").write_text("mine")
    refused = run_main(["collect", "export", "--db", str(db), "--round", "8", "--out", str(out)], check=False)
    assert refused.returncode == 2 and "r.round.json exists; pass --force" in refused.stderr
    assert not out.exists() and (tmp_path / "r.round.json").read_text() == "mine"
    run_main(["collect", "export", "--db", str(db), "--round", "8", "--out", str(out), "--force"])
    assert json.loads((tmp_path / "r.round.json").read_text())["rows"] == 22
    open_round(store, "9", 3, False)
    empty = run_main(["collect", "export", "--db", str(db), "--round", "9", "--out", str(tmp_path / "9.csv")],
                     check=False)
    assert empty.returncode == 2 and "round '9' has no verified entries to export (0 entries" in empty.stderr
    assert not list(tmp_path.glob("9.*"))
    named = run_main(["collect", "export", "--db", str(db), "--round", "8", "--out", str(tmp_path / "n.csv"),
                      "--round-number", "11"])
    assert named.returncode == 0 and read_rows(tmp_path / "n.csv")[1][11] in ("11a", "11b")
