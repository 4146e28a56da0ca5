"""``dynahate predict --input``: files and standard input through the real CLI. Bad input is one
error line naming the file and line, exit 2, no traceback, no post text, no output file; a
byte-order mark is ignored; ``-`` reads one post per line from standard input."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from dynahate.testing.cli import run_main
from dynahate.testing.cli_refusal import MARKER, assert_refused

POSTS = [f"the {MARKER} next door brought soup", "a quiet evening, nothing more"]


def predict(run: Path, *args: str, stdin: bytes = b"") -> subprocess.CompletedProcess:
    """``dynahate predict --adapter RUN ...``, optionally with bytes on standard input."""
    return run_main(["predict", "--adapter", str(run), *args], stdin=stdin, check=False)


@pytest.fixture(scope="module")
def expected(trained_run) -> list[dict]:
    """What predict prints for POSTS given as arguments."""
    proc = run_main(["predict", "--adapter", str(trained_run), *POSTS])
    return [json.loads(line) for line in proc.stdout.splitlines()]


def lines_of(proc: subprocess.CompletedProcess) -> list[dict]:
    assert proc.returncode == 0, proc.stderr[-3000:]
    return [json.loads(line) for line in proc.stdout.splitlines()]


def test_standard_input_is_one_post_per_line(trained_run, expected):
    data = ("\ufeff" + "\r\n".join(POSTS) + "\n").encode("utf-8")  # a BOM and Windows line ends, as Notepad saves
    proc = predict(trained_run, "--input", "-", stdin=data)
    assert lines_of(proc) == expected and MARKER not in proc.stdout + proc.stderr
    help_text = " ".join(run_main(["predict", "--help"]).stdout.split())
    assert "- reads standard input, one post per line like .txt" in help_text


def test_byte_order_mark_before_a_txt_file_is_not_part_of_the_first_post(tmp_path):
    """(.txt and standard input share the line reader; the CLI run above covers it with a BOM.)"""
    from dynahate.inference.predict_input import read_posts

    source = tmp_path / "posts.txt"
    source.write_text("\n".join(POSTS) + "\n", encoding="utf-8-sig")
    assert read_posts(source, None) == POSTS


@pytest.mark.parametrize("name, content", [
    ("posts.csv", "text,id\n" + "".join(f'"{post}",{i}\n' for i, post in enumerate(POSTS))),
    ("posts.jsonl", "".join(json.dumps({"input": post}) + "\n" for post in POSTS)),
], ids=["csv", "jsonl"])
def test_byte_order_mark_is_ignored(trained_run, expected, tmp_path, name, content):
    source = tmp_path / name
    source.write_text(content, encoding="utf-8-sig")
    extra = ["--text-column", "text"] if name.endswith(".csv") else []
    assert lines_of(predict(trained_run, "--input", str(source), *extra)) == expected


BAD_INPUTS = [
    ("latin1.txt", f"{POSTS[1]}\ncaf\u00e9 {MARKER}\n".encode("latin-1"), [],
     "latin1.txt:2: not UTF-8 text (invalid continuation byte at byte 4 of the line)"),
    ("blank.txt", f"{POSTS[0]}\n \t \n".encode(), [], "blank.txt:2: the post is empty or whitespace only"),
    ("blank.csv", f'id,text\n1,"{POSTS[0]}"\n2,"   "\n'.encode(), ["--text-column", "text"],
     "blank.csv: line 3: 'text' is empty or whitespace only"),
    ("blank.jsonl", (json.dumps({"input": POSTS[0]}) + '\n{"input": "\\t\\n "}\n').encode(), [],
     "blank.jsonl:2: 'input' is empty or whitespace only"),
    ("surrogate.jsonl", ('{"input": "\\ud800 ' + MARKER + '"}\n').encode(), [],
     "surrogate.jsonl:1: 'input' holds a lone surrogate (U+D800 at character 0)"),
    ("unclosed.csv", f'id,text\n1,"{POSTS[1]}"\n2,"{MARKER} never closed\n3,more\n'.encode(), ["--text-column", "text"],
     "unclosed.csv: line 3: not a valid CSV record (unexpected end of data; a quote opened in this record is never"),
    ("stray.csv", f'id,text\n1,"{MARKER}, "really"\n'.encode(), ["--text-column", "text"],
     "stray.csv: line 2: not a valid CSV record"),
    ("latin1.csv", f"id,text\n1,caf\u00e9 {MARKER}\n".encode("latin-1"), ["--text-column", "text"],
     "latin1.csv: line 2: not a UTF-8 CSV file"),
    ("twice.csv", f'text,text\n"{POSTS[0]}","{MARKER}"\n'.encode(), ["--text-column", "text"],
     "twice.csv: line 1: column 'text' occurs more than once in the header"),
    ("noheader.csv", f'1,"{POSTS[0]}"\n'.encode(), ["--text-column", "text"],
     "noheader.csv: no column 'text' (columns: 1, 1 more not shown"),
    ("short.csv", f'id,text,lang\n1,"{POSTS[0]}",en\n2,"{POSTS[1]}"\n'.encode(), ["--text-column", "text"],
     "short.csv: line 3: has 2 fields, the header has 3"),
    ("latin1.jsonl", f'{{"input": "caf\u00e9 {MARKER}"}}\n'.encode("latin-1"), [],
     "latin1.jsonl:1: not a UTF-8 JSONL file"),
    ("empty.txt", b"", [], "empty.txt: holds no posts"),
]


@pytest.mark.parametrize("name, data, extra, message", BAD_INPUTS, ids=[case[0] for case in BAD_INPUTS])
def test_bad_input_is_one_line_naming_the_line(trained_run, tmp_path, name, data, extra, message):
    source = tmp_path / name
    source.write_bytes(data)
    out = tmp_path / "out.jsonl"
    proc = predict(trained_run, "--input", str(source), *extra, "--output", str(out))
    assert_refused(proc, f"{source.parent}/{message}")
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == [name]


@pytest.mark.parametrize("data, message", [
    (f"{POSTS[0]}\n\n".encode(), "<stdin>:2: empty line"),
    (f"{POSTS[0]}\n  \n".encode(), "<stdin>:2: the post is empty or whitespace only"),
    (f"{POSTS[0]}\ncaf\u00e9 {MARKER}\n".encode("latin-1"), "<stdin>:2: not UTF-8 text"),
    (b"", "<stdin>: holds no posts"),
])
def test_bad_standard_input_is_one_line_naming_the_line(trained_run, data, message):
    assert_refused(predict(trained_run, "--input", "-", stdin=data), message)


def test_standard_input_is_bounded_like_a_csv_field_and_refused_before_anything_loads(made_up_run, tmp_path):
    """``--input - < /dev/zero`` was a MemoryError: a line of more characters than a CSV field may hold (131,072)
    is one error naming the line, read no further than 4 bytes a character; a .txt file is bounded alike."""
    import csv

    _, run, _, _ = made_up_run
    limit = csv.field_size_limit()
    needle = f"2: a line longer than {limit:,} characters, the most a post may hold here (as a CSV field)"
    endless_line = POSTS[0].encode() + b"\n" + b"\0" * (4 * limit + 100)  # /dev/zero's bytes, no line end
    assert_refused(predict(run, "--input", "-", stdin=endless_line), f"<stdin>:{needle}")
    long_line = (POSTS[1] + "\n" + MARKER * (limit // len(MARKER) + 1) + "\n").encode()
    assert_refused(predict(run, "--input", "-", stdin=long_line), f"<stdin>:{needle}")
    source = tmp_path / "long.txt"
    source.write_bytes(long_line)
    assert_refused(predict(run, "--input", str(source)), f"{source}:{needle}")
    at_the_limit = ("\u00e9" * limit + "\n").encode()  # 2 bytes a character: within the bound, read in full
    proc = predict(run, "--input", "-", stdin=at_the_limit)
    assert "a line longer than" not in proc.stderr and "tokenizer" in proc.stderr
