"""``dynahate prepare`` and ``dynahate register`` on hostile input, through the real CLI: one error
line, exit 2, no traceback, no post text, nothing written; signals leave no temporary file."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from dynahate.plugin.splits import data_file, meta_file
from dynahate.testing.cli import OFFLINE_ENV, cli_path, default_sigint, run_main
from dynahate.testing.cli_refusal import MARKER, assert_refused, error_lines, snapshot, temp_files
from dynahate.testing.records import CSV_HEADER as HEADER
from dynahate.testing.records import csv_row, csv_text

POST = f"the {MARKER} next door, honestly"  # a post: it holds spaces and a comma


def row(n, text=POST, label="hate", split="train", acl_id=None):
    return csv_row(n, text, label, split, acl_id)


def good_rows():
    return [row(1, f"first {POST}"), row(2, "a dev post", label="nothate", split="dev"), row(3, "a test post",
                                                                                       split="test")]


def prepare_cli(csv_path: Path, out: Path, *extra: str) -> subprocess.CompletedProcess:
    """``dynahate prepare`` without the prompt-length measurement (tested in test_prepare.py), which these
    tests of the CSV do not need and which costs seconds per run to load the tokenizer."""
    return run_main(["prepare", "--csv", str(csv_path), "--out", str(out), "--tokenizer", "none", *extra],
                   check=False)


# --- 10: duplicated column names -------------------------------------------------------------------

def test_duplicated_column_name_is_refused(tmp_path):
    header = [("text" if name == "X1" else name) for name in HEADER]  # two columns named text
    source = tmp_path / "dup.csv"
    source.write_text(csv_text(good_rows(), header), encoding="utf-8")
    proc = prepare_cli(source, tmp_path / "out")
    assert_refused(proc, f"{source}: line 1: column name(s) 'text' occur more than once")
    assert not (tmp_path / "out").exists()


# --- 11: posts never printed --------------------------------------------------------------------------

def test_csv_without_its_header_does_not_quote_the_first_post(tmp_path):
    source = tmp_path / "noheader.csv"
    source.write_text(csv_text(good_rows(), header=None), encoding="utf-8")
    proc = prepare_cli(source, tmp_path / "out")
    assert_refused(proc, f"{source}: line 1: missing column(s) 'text', 'label', 'split'", "with its header row")
    assert not (tmp_path / "out").exists()


def test_swapped_label_and_text_do_not_print_the_post(tmp_path):
    rows = good_rows()
    rows[1][3], rows[1][4] = rows[1][4], POST  # label and text swapped on line 3
    source = tmp_path / "swapped.csv"
    source.write_text(csv_text(rows), encoding="utf-8")
    out = tmp_path / "out"
    proc = prepare_cli(source, out)
    assert_refused(proc, f"{source}: line 3 (acl.id acl2): label is not one of 'hate', 'nothate'",
                   f"got a {len(POST)}-character value, not shown")
    assert not out.exists()

    proc = prepare_cli(source, out, "--skip-invalid")  # the reason goes into the report: no post either
    assert proc.returncode == 0, proc.stderr
    report_file = out / "prepare_report.json"
    assert MARKER not in proc.stdout + proc.stderr + report_file.read_text()
    details = json.loads(report_file.read_text())["skipped"]["details"]
    assert details == [{"line": 3, "acl.id": "acl2", "reason": "label is not one of 'hate', 'nothate' "
                        f"(got a {len(POST)}-character value, not shown as it may be a post)"}]


def test_a_short_bad_label_is_still_named(tmp_path):
    source = tmp_path / "in.csv"
    source.write_text(csv_text([row(1, label="Hate"), row(2, split="")]), encoding="utf-8")
    assert_refused(prepare_cli(source, tmp_path / "out"), "line 2 (acl.id acl1): label 'Hate' is not one of")
    proc = prepare_cli(source, tmp_path / "out", "--skip-invalid")
    details = json.loads((tmp_path / "out" / "prepare_report.json").read_text())["skipped"]["details"]
    assert proc.returncode == 0 and [d["reason"] for d in details] == [
        "label 'Hate' is not one of 'hate', 'nothate'", "split is empty; it must be one of 'train', 'dev', 'test'"]


def test_a_post_in_the_acl_id_column_is_not_printed(tmp_path):
    source = tmp_path / "shifted.csv"
    source.write_text(csv_text([row(1, label="spam", acl_id=POST)]), encoding="utf-8")
    line = assert_refused(prepare_cli(source, tmp_path / "out"), f"{source}: line 2: label 'spam'")
    assert "acl.id" not in line


def test_a_post_in_a_metadata_column_is_refused_and_never_printed(tmp_path):
    """round, type, target and acl.id reach results, predictions files and the card: codes only."""
    rows = good_rows()
    rows[0][6] = POST  # target
    rows[2][1] = POST  # acl.id, with a valid label (it would be the post's id in every predictions file)
    source = tmp_path / "in.csv"
    source.write_text(csv_text(rows), encoding="utf-8")
    proc = prepare_cli(source, tmp_path / "out")
    assert_refused(proc, f"{source}: line 2 (acl.id acl1): target is a {len(POST)}-character value, not shown",
                   "expected a code such as 'wom'")
    assert not (tmp_path / "out").exists()
    proc = prepare_cli(source, tmp_path / "out", "--skip-invalid")
    report = (tmp_path / "out" / "prepare_report.json").read_text()
    assert proc.returncode == 0 and MARKER not in proc.stdout + proc.stderr + report
    skipped = json.loads(report)["skipped"]
    assert skipped["by_kind"] == {"bad metadata": 2}
    assert [(d["line"], d["reason"].split(" is ")[0]) for d in skipped["details"]] == [(2, "target"), (4, "acl.id")]


def test_dynahate_codes_in_metadata_columns_are_kept(tmp_path):
    rows = good_rows()
    rows[0][5], rows[0][6], rows[0][11] = "derogation", "bla, wom", "2a"  # type, several targets, round
    rows[1][6] = "gay.man,asi.chin"
    source = tmp_path / "in.csv"
    source.write_text(csv_text(rows), encoding="utf-8")
    proc = prepare_cli(source, tmp_path / "out")
    assert proc.returncode == 0, proc.stderr
    metas = [json.loads(line) for split in ("train", "dev") for line in
             meta_file(data_file(tmp_path / "out", split)).read_text().splitlines()]
    assert [(m["type"], m["target"], m["round"]) for m in metas] == [
        ("derogation", "bla, wom", "2a"), ("notgiven", "gay.man,asi.chin", "1")]


# --- 14: paths and files that cannot be used ------------------------------------------------------

@pytest.fixture
def good_csv(tmp_path) -> Path:
    source = tmp_path / "in.csv"
    source.write_text(csv_text(good_rows()), encoding="utf-8")
    return source


def test_out_is_an_existing_regular_file(tmp_path, good_csv):
    target = tmp_path / "notes.txt"
    target.write_text("keep me\n")
    assert_refused(prepare_cli(good_csv, target), f"--out {target}: exists and is not a directory")
    assert target.read_text() == "keep me\n"
    before = good_csv.read_bytes()
    assert_refused(prepare_cli(good_csv, good_csv), f"--out {good_csv}: exists and is not a directory")
    assert good_csv.read_bytes() == before and temp_files(tmp_path) == []


def test_out_that_would_overwrite_the_csv(tmp_path):
    out = tmp_path / "data"
    out.mkdir()
    source = data_file(out, "train")  # the CSV has the name of an output
    source.write_text(csv_text(good_rows()), encoding="utf-8")
    before = snapshot(out)
    assert_refused(prepare_cli(source, out), f"--out {out}: would overwrite the input CSV {source}")
    assert snapshot(out) == before


def test_out_under_a_regular_file(tmp_path, good_csv):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert_refused(prepare_cli(good_csv, blocker / "sub" / "data"), f"{blocker} is a file, not a directory")
    assert blocker.read_text() == "x" and temp_files(tmp_path) == []


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="no /proc here")
def test_out_under_proc_is_refused_before_the_csv_is_read(tmp_path, good_csv):
    """/proc takes no new file whatever its mode says (root passes the permission check there)."""
    assert_refused(prepare_cli(good_csv, Path("/proc/data")), "--out /proc/data: cannot create it, /proc takes no new "
                                                              "file")
    assert temp_files(tmp_path) == []


def test_out_in_a_folder_the_user_cannot_write(good_csv):
    """A real permission failure: as root the CLI runs as ``nobody`` (setpriv), otherwise as the user."""
    prefix: list[str] = []
    if os.geteuid() == 0:
        if not shutil.which("setpriv"):
            pytest.skip("running as root without setpriv: cannot drop privileges")
        prefix = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    base = Path(tempfile.mkdtemp(prefix="dynahate-ro-"))
    try:
        base.chmod(0o755)
        source = base / "in.csv"
        shutil.copy(good_csv, source)
        source.chmod(0o644)
        locked = base / "locked"
        locked.mkdir(mode=0o555)
        locked.chmod(0o555)
        # not measured by `make coverage`: the other user could not write the coverage data file
        env = {**{k: v for k, v in os.environ.items() if not k.startswith("COVERAGE_")}, **OFFLINE_ENV,
               "HOME": str(base)}
        for out in (locked, locked / "data"):
            proc = subprocess.run([*prefix, cli_path("dynahate"), "prepare", "--csv", str(source), "--out", str(out)],
                                  check=False, capture_output=True, text=True, env=env, timeout=120)
            assert_refused(proc, f"--out {out}: {locked} is not writable")
            assert list(locked.iterdir()) == []
    finally:
        for path in (base, base / "locked"):
            if path.exists():
                path.chmod(0o755)
        shutil.rmtree(base)


def test_unbalanced_quote_names_its_line(tmp_path):
    text = csv_text(good_rows())
    unclosed = tmp_path / "unclosed.csv"
    unclosed.write_text(text + f'"4","acl4",4,"{POST},"hate"\n', encoding="utf-8")  # the text's quote never closes
    assert_refused(prepare_cli(unclosed, tmp_path / "out"), f"{unclosed}: line 5: not a valid CSV record",
                   "unbalanced")
    middle = tmp_path / "middle.csv"
    lines = text.splitlines(keepends=True)
    middle.write_text(lines[0] + f'"9","acl9",9,"{POST}\n' + "".join(lines[1:]), encoding="utf-8")
    assert_refused(prepare_cli(middle, tmp_path / "out"), f"{middle}: line 2: not a valid CSV record")
    eof = tmp_path / "eof.csv"
    eof.write_text(text + f'"4","acl4",4,"{POST}\nand more of it\n', encoding="utf-8")
    assert_refused(prepare_cli(eof, tmp_path / "out"), f"{eof}: line 5: not a valid CSV record",
                   "a quote opened in this record is never closed")
    assert not (tmp_path / "out").exists()


def test_a_byte_that_is_not_utf8_names_its_line(tmp_path):
    source = tmp_path / "latin1.csv"
    source.write_bytes(csv_text(good_rows()).encode("utf-8") + csv_text([row(4, f"caf\u00e9 {POST}")], header=None)
                       .encode("latin-1"))
    assert_refused(prepare_cli(source, tmp_path / "out"),
                   f"{source}: line 5: not a UTF-8 CSV file (invalid continuation byte at byte 18 of the line)")
    assert not (tmp_path / "out").exists()


# --- 16: byte-order mark, --help ------------------------------------------------------------------

def test_byte_order_mark_before_the_header_is_ignored(tmp_path):
    """As a spreadsheet saves it: a BOM, and no row-number column, so the BOM touches ``acl.id``."""
    plain, marked = tmp_path / "plain.csv", tmp_path / "bom.csv"
    rows = [r[1:] for r in good_rows()]
    plain.write_text(csv_text(rows, HEADER[1:]), encoding="utf-8")
    marked.write_text(csv_text(rows, HEADER[1:]), encoding="utf-8-sig")
    assert marked.read_bytes().startswith(b"\xef\xbb\xbf\"acl.id\"")
    assert prepare_cli(plain, tmp_path / "a").returncode == 0
    assert prepare_cli(marked, tmp_path / "b").returncode == 0
    a, b = snapshot(tmp_path / "a"), snapshot(tmp_path / "b")
    reports = [json.loads(files.pop("prepare_report.json")) for files in (a, b)]  # they name the source file
    assert a == b and len(a) == 6 and b"acl2" in a[meta_file(data_file(tmp_path, "dev")).name]
    assert reports[0]["source"]["missing_metadata_columns"] == reports[1]["source"]["missing_metadata_columns"] == []


@pytest.mark.parametrize("command, defaults", [
    ("prepare", ["(default: data/)", "(default: data/raw/dynahate_v0.2.3.csv)", "(default: off, read --csv)",
                 "(default: off, stop with an error at the first bad row)", "(default: off, texts verbatim)",
                 "TQDM_", "https_proxy"]),
    ("register", ["(required, no default)", "(default: data/)", "(default: off, refuse)",
                  "No environment variable is read"]),
])
def test_help_states_every_default(command, defaults):
    text = " ".join(run_main([command, "--help"]).stdout.split())
    for default in defaults:
        assert default in text, default


# --- 12: signals leave nothing behind -----------------------------------------------------------------

def big_csv(path: Path, rows: int = 120_000) -> Path:
    """A CSV the shape of Dynahate v0.2.3 (quoted posts with commas, doubled quotes, line breaks)."""
    head = ",".join(f'"{name}"' for name in HEADER) + "\n"
    labels, splits = ("hate", "nothate"), ("train", "train", "train", "dev", "test")
    body = "".join(
        f'"{i}","acl{i}",{i},"post {i}: the {MARKER}, they say, are ""neighbours""\nand more words here",'
        f'"{labels[i % 2]}","notgiven","notgiven","original","{splits[i % 5]}",1,"GNZuCtwed3","{1 + i % 4}",NA\n'
        for i in range(1, rows + 1)
    )
    path.write_text(head + body, encoding="utf-8")
    return path


@pytest.mark.parametrize("signum, status, message", [(signal.SIGTERM, 143, "error: terminated"),
                                                     (signal.SIGINT, 130, "error: interrupted")])
def test_signal_during_prepare_leaves_no_temporary_file(tmp_path, good_csv, signum, status, message):
    out = tmp_path / "data"
    assert prepare_cli(good_csv, out).returncode == 0
    for rows in (120_000, 480_000, 1_200_000):  # more to write when prepare finished before the signal landed
        before = snapshot(out)
        source = big_csv(tmp_path / f"big{rows}.csv", rows)
        proc = subprocess.Popen([cli_path("dynahate"), "prepare", "--csv", str(source), "--out", str(out),
                                 "--tokenizer", "none"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env={**os.environ, **OFFLINE_ENV}, preexec_fn=default_sigint)
        deadline = time.monotonic() + 120
        while not temp_files(out):  # the writing has started
            assert proc.poll() is None, f"prepare ended before writing was seen: {proc.communicate()}"
            assert time.monotonic() < deadline
            time.sleep(0.002)
        proc.send_signal(signum)
        stdout, stderr = proc.communicate(timeout=300)
        source.unlink()
        if proc.returncode != 0:
            break
    assert proc.returncode == status, stderr[-2000:]
    assert error_lines(stderr.replace("\r", "\n")) == [message] and "Traceback" not in stderr
    assert temp_files(tmp_path) == []
    assert snapshot(out) == before  # the old outputs, byte for byte, and nothing else
    assert MARKER not in stdout + stderr


# --- register ----------------------------------------------------------------------------------------

def register_cli(dataset_dir: Path, data: Path) -> subprocess.CompletedProcess:
    return run_main(["register", "--dataset-dir", str(dataset_dir), "--data", str(data)], check=False)


def test_register_refuses_a_dataset_info_that_is_not_utf8(prepared_data, tmp_path):
    info = tmp_path / "dataset_info.json"
    info.write_bytes('{\n  "mine": {"file_name": "caf\u00e9.json"}\n}\n'.encode("latin-1"))
    before = snapshot(tmp_path)
    assert_refused(register_cli(tmp_path, prepared_data), f"{info}: line 2: not UTF-8 text")
    assert snapshot(tmp_path) == before


def test_register_refuses_a_dataset_info_that_is_a_directory(prepared_data, tmp_path):
    (tmp_path / "dataset_info.json").mkdir()
    assert_refused(register_cli(tmp_path, prepared_data), "dataset_info.json: is a directory, expected a file")
    assert snapshot(tmp_path) == {}


def test_register_refuses_a_directory_in_place_of_a_data_file(prepared_data, tmp_path):
    data_file(tmp_path, "dev").mkdir()
    assert_refused(register_cli(tmp_path, prepared_data),
                   f"{data_file(tmp_path, 'dev')}: exists and is not a regular file")
    assert snapshot(tmp_path) == {}


# --- issue 33, item 10: one row per acl.id; a pair is two rows ------------------------------------------------

def test_two_rows_with_one_acl_id_are_refused_naming_both_lines_and_the_id(tmp_path):
    rows = [*good_rows(), row(4, f"another {POST}", split="test", acl_id="acl1")]  # line 5 reuses line 2's id
    source = tmp_path / "dup_ids.csv"
    source.write_text(csv_text(rows), encoding="utf-8")
    for extra in ((), ("--skip-invalid",)):  # which of the two is right is not prepare's to guess
        assert_refused(prepare_cli(source, tmp_path / "out", *extra),
                       f"{source}: lines 2 and 5: acl.id 'acl1' names two rows")
    assert not (tmp_path / "out").exists()


def test_a_row_matched_to_itself_is_a_bad_row_not_a_contrast_pair(tmp_path):
    rows = good_rows()
    rows[2][-1] = "acl3"  # line 4's acl.id.matched names acl3, its own id
    source = tmp_path / "self.csv"
    source.write_text(csv_text(rows), encoding="utf-8")
    out = tmp_path / "out"
    assert_refused(prepare_cli(source, out), f"{source}: line 4 (acl.id acl3): acl.id.matched names the row's own "
                                             "acl.id 'acl3'", "--skip-invalid")
    assert not out.exists()
    assert prepare_cli(source, out, "--skip-invalid").returncode == 0
    report = json.loads((out / "prepare_report.json").read_text())
    assert report["skipped"]["by_kind"] == {"matched to itself": 1}
    assert report["audit"]["matched_pairs_across_splits"]["pairs"] == 0
    assert [line["acl.id"] for line in map(json.loads, meta_file(data_file(out, "test")).read_text().splitlines())
            ] == []
