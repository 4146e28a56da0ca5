"""``dynahate prepare``: records, metadata, report, and every bad-input path."""

import csv
import json
import os
from pathlib import Path

import pytest

from dynahate.core.errors import DynahateError
from dynahate.plugin import prompts
from dynahate.plugin.data.prepare import prepare
from dynahate.plugin.labels import LABELS
from dynahate.plugin.splits import SPLITS, data_file, meta_file
from dynahate.testing.cli import run_main
from dynahate.testing.records import CSV_HEADER, csv_text, read_jsonl
from dynahate.testing.records import csv_row as row


def write_csv(path: Path, rows: list[list[str]], header=CSV_HEADER) -> Path:
    path.write_text(csv_text(rows, header), encoding="utf-8")
    return path


def test_sample_records_are_exact(sample_csv, tmp_path):
    result = prepare(sample_csv, tmp_path)
    with sample_csv.open(newline="", encoding="utf-8") as handle:
        source = list(csv.DictReader(handle))
    for split in SPLITS:
        expected = [
            prompts.make_record(r["text"], "not hate" if r["label"] == "nothate" else "hate")
            for r in source if r["split"] == split
        ]
        raw = data_file(tmp_path, split).read_text(encoding="utf-8")
        assert raw == "".join(json.dumps(r) + "\n" for r in expected)  # order, keys and bytes
        assert result.report["splits"][split]["rows"] == len(expected)


def test_texts_are_kept_verbatim(sample_csv, tmp_path):
    prepare(sample_csv, tmp_path)
    inputs = [r["input"] for s in SPLITS for r in read_jsonl(data_file(tmp_path, s))]
    assert "NA" in inputs and "null" in inputs  # literal posts, not missing values
    assert "I\x19ll welcome any Drellans who move here" in inputs  # control character kept
    assert "  Pelnorites are lovely neighbours  " in inputs  # no stripping
    assert "Oskari farmers grow the best apples\nno contest" in inputs
    assert 'they call the Quelmari "neighbours" and mean it' in inputs


def test_metadata_joins_each_record(sample_csv, tmp_path):
    prepare(sample_csv, tmp_path)
    from dynahate.core.describe import text_sha1

    for split in SPLITS:
        records = read_jsonl(data_file(tmp_path, split))
        meta = read_jsonl(meta_file(data_file(tmp_path, split)))
        assert len(records) == len(meta)
        for record, m in zip(records, meta, strict=False):
            assert m["input_sha1"] == text_sha1(record["input"])
            assert set(m) >= {"line", "acl.id", "round", "round.base", "type", "target", "level", "acl.id.matched"}
    dev_meta = read_jsonl(meta_file(data_file(tmp_path, "dev")))
    assert any(m["acl.id.matched"] is None for m in dev_meta)  # NA is missing in this column only
    assert any(m["acl.id.matched"] for m in dev_meta)


def test_report_counts_and_audit(sample_csv, tmp_path):
    report = prepare(sample_csv, tmp_path).report
    assert report == json.loads((tmp_path / "prepare_report.json").read_text())
    assert report["source"]["rows_read"] == 288 and report["skipped"]["rows"] == 0
    train = report["splits"]["train"]
    assert train["rows"] == sum(train["labels"][label] for label in LABELS)
    assert sum(sum(r.values()) for r in train["rounds"].values()) == train["rows"]
    assert set(train["rounds"]) == {"1", "2a", "2b", "3a", "3b", "4a", "4b"}
    dup = report["audit"]["duplicate_texts_across_splits"]
    assert dup["groups"] >= 1 and dup["dev_or_test_rows_with_text_in_train"] >= 1
    # line 63, not 62: an earlier record spans two lines (a line break inside its text)
    assert [{"acl.id": "acl20060", "line": 63, "split": "train"}, {"acl.id": "acl20061", "line": 64, "split": "test"}] \
        in dup["examples"]
    pairs = report["audit"]["matched_pairs_across_splits"]
    assert pairs["pairs"] == 20 and pairs["pairs_across_splits"] >= 1
    assert "Drellans" not in json.dumps(report)  # posts are never echoed


def test_skip_invalid_reports_every_row(tmp_path):
    csv_path = write_csv(tmp_path / "in.csv", [row(1, "ok post"), row(2, ""), row(3, "x", label="spam"),
                                               row(4, "y", split="holdout"), row(5, "fine", label="nothate")])
    result = prepare(csv_path, tmp_path / "out", skip_invalid=True)
    skipped = result.report["skipped"]
    assert skipped["rows"] == 3
    assert skipped["by_kind"] == {"empty text": 1, "unknown label": 1, "unknown split": 1}
    assert [d["acl.id"] for d in skipped["details"]] == ["acl2", "acl3", "acl4"]
    assert [d["line"] for d in skipped["details"]] == [3, 4, 5]
    assert len(read_jsonl(data_file(tmp_path / "out", "train"))) == 2


def test_normalize_text_is_opt_in(tmp_path):
    csv_path = write_csv(tmp_path / "in.csv", [row(1, "  cafe\u0301 "), row(2, "plain")])
    assert read_jsonl(prepare(csv_path, tmp_path / "a").files["train"])[0]["input"] == "  cafe\u0301 "
    result = prepare(csv_path, tmp_path / "b", normalize=True)
    assert read_jsonl(result.files["train"])[0]["input"] == "caf\u00e9"
    assert result.report["normalize_text"] == {"enabled": True, "texts_changed": 1}


BAD_INPUTS = {
    "bad label": ([row(1, "a"), row(2, "b", label="offensive")], r"line 3 \(acl.id acl2\): label 'offensive'"),
    "bad split": ([row(1, "a", split="validation")], r"line 2 \(acl.id acl1\): split 'validation'"),
    "empty text": ([row(1, "a"), row(2, "b"), row(3, "")], r"line 4 \(acl.id acl3\): text is empty"),
    "short row": ([row(1, "a")[:5]], r"line 2 \(acl.id acl1\): has 5 fields, the header has 13"),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_rows_fail_with_file_line_and_id(tmp_path, case):
    rows, pattern = BAD_INPUTS[case]
    csv_path = write_csv(tmp_path / "in.csv", rows)
    with pytest.raises(DynahateError, match=pattern) as info:
        prepare(csv_path, tmp_path / "out")
    assert str(csv_path) in str(info.value) and "\n" not in str(info.value)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_bad_header_and_files(tmp_path):
    with pytest.raises(DynahateError, match="missing.csv: file not found"):
        prepare(tmp_path / "missing.csv", tmp_path / "out")
    no_label = write_csv(tmp_path / "nolabel.csv", [["1", "t", "train"]], header=["id", "text", "split"])
    with pytest.raises(DynahateError, match=r"nolabel.csv: line 1: missing column\(s\) 'label'"):
        prepare(no_label, tmp_path / "out")
    binary = tmp_path / "model.bin"
    binary.write_bytes(bytes(range(256)) * 4)
    bad_byte = r"model.bin: line 2: not a UTF-8 CSV file \(invalid start byte at byte 118 of the line\)"
    with pytest.raises(DynahateError, match=bad_byte):
        prepare(binary, tmp_path / "out")
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(DynahateError, match="empty.csv: empty file"):
        prepare(empty, tmp_path / "out")
    header_only = write_csv(tmp_path / "header.csv", [])
    with pytest.raises(DynahateError, match="header.csv: the CSV has a header but no rows"):
        prepare(header_only, tmp_path / "out")


def test_failure_leaves_existing_outputs_untouched(sample_csv, tmp_path):
    out = tmp_path / "data"
    prepare(sample_csv, out)
    before = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in out.iterdir()}
    bad = write_csv(tmp_path / "bad.csv", [row(i, f"post {i}") for i in range(1, 50)] + [row(50, "x", label="?")])
    with pytest.raises(DynahateError):
        prepare(bad, out)
    after = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in out.iterdir()}
    assert after == before  # no file changed, no temporary file left


def test_cli_error_is_one_line_and_nonzero(tmp_path):
    bad = write_csv(tmp_path / "bad.csv", [row(1, "a", label="maybe")])
    proc = run_main(["prepare", "--csv", str(bad), "--out", str(tmp_path / "out")], check=False)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and proc.stderr.startswith("error: ")
    assert "bad.csv: line 2 (acl.id acl1): label 'maybe'" in proc.stderr
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
    proc = run_main(["prepare", "--out", str(tmp_path / "out")], check=False)
    assert proc.returncode == 2 and "--csv" in proc.stderr


def test_cli_prints_summary_without_posts(sample_csv, tmp_path):
    proc = run_main(["prepare", "--csv", str(sample_csv), "--out", str(tmp_path / "d"),
                    "--tokenizer", "none"])
    assert "train    204 rows" in proc.stdout and "audit:" in proc.stdout
    assert "Zorblaxians" not in proc.stdout + proc.stderr  # no post text in the output


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_new_files_get_the_mode_the_umask_gives(sample_csv, tmp_path, umask):
    """Written through a temporary file, yet with the mode a plain open() would give under the user's umask."""
    previous = os.umask(umask)  # the CLI inherits it
    try:
        run_main(["prepare", "--csv", str(sample_csv), "--out", str(tmp_path / "d"), "--tokenizer", "none"])
    finally:
        os.umask(previous)
    for path in (tmp_path / "d").iterdir():
        assert path.stat().st_mode & 0o777 == 0o666 & ~umask, (path.name, oct(path.stat().st_mode))


# --- prompt lengths in tokens (--tokenizer, --cutoff-len) ------------------------------------------

def test_cli_reports_prompt_lengths_in_llama31_tokens_by_default(sample_csv, tmp_path, llama31):
    proc = run_main(["prepare", "--csv", str(sample_csv), "--out", str(tmp_path / "d"),
                    "--cutoff-len", "64"])
    report = json.loads((tmp_path / "d" / "prepare_report.json").read_text())["prompt_tokens"]
    assert report["tokenizer"] == "llama31-offline" and report["cutoff_len"] == 64
    tokenizer = llama31  # the same cache, loaded by the fixture
    for split in SPLITS:
        lengths = sorted(len(prompts.encode_prompt(tokenizer, r["input"]))
                         for r in read_jsonl(data_file(tmp_path / "d", split)))
        stats = report["splits"][split]
        assert (stats["prompts"], stats["max"], stats["over_cutoff"]) == (len(lengths), lengths[-1],
                                                                           sum(n > 64 for n in lengths))
        assert stats["p50"] in lengths and stats["p95"] in lengths and stats["p50"] <= stats["p95"] <= stats["max"]
        assert stats["mean"] == pytest.approx(sum(lengths) / len(lengths), abs=0.01)
        assert f"{split:5s} mean {stats['mean']}, p50 {stats['p50']}" in proc.stdout
    assert "prompt tokens (llama31-offline; cutoff_len 64):" in proc.stdout
    assert any(report["splits"][split]["over_cutoff"] for split in SPLITS)  # the sample has long prompts too


def test_tokenizer_none_a_tokenizer_folder_and_a_bad_one(sample_csv, tiny_model, tmp_path):
    run_main(["prepare", "--csv", str(sample_csv), "--out", str(tmp_path / "none"), "--tokenizer", "none"])
    assert json.loads((tmp_path / "none" / "prepare_report.json").read_text())["prompt_tokens"] is None
    run_main(["prepare", "--csv", str(sample_csv), "--out", str(tmp_path / "dir"),
             "--tokenizer", str(tiny_model)])
    assert json.loads((tmp_path / "dir" / "prepare_report.json").read_text())["prompt_tokens"]["tokenizer"] == str(
        tiny_model)
    proc = run_main(["prepare", "--csv", str(sample_csv), "--out", str(tmp_path / "bad"),
                    "--tokenizer", str(tmp_path / "no-such-tokenizer")], check=False)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1
    assert proc.stderr.startswith(f"error: --tokenizer '{tmp_path / 'no-such-tokenizer'}': cannot load it")
    assert not (tmp_path / "bad").exists() or not any((tmp_path / "bad").iterdir())
    proc = run_main(["prepare", "--csv", str(sample_csv), "--cutoff-len", "0"], check=False)
    assert proc.returncode == 2 and "argument --cutoff-len: must be a positive integer, got '0'" in proc.stderr
