"""A FIFO, a device or a socket given as an input file is named for what it is ("not a regular file"), found without
opening it (opening a FIFO blocks until a writer comes), in one line: never "file not found", never a hang."""

from __future__ import annotations

import os
import socket

import pytest

from dynahate.core.errors import DynahateError
from dynahate.core.json_io import iter_jsonl, read_json
from dynahate.core.text_files import read_text
from dynahate.testing.cli import run_main
from dynahate.testing.cli_refusal import assert_refused

DEV_NULL = "/dev/null"


@pytest.fixture
def fifo(tmp_path):
    path = tmp_path / "posts.jsonl"
    os.mkfifo(path)
    return path


def test_a_character_device_is_not_read_as_an_empty_text_or_json_file():
    for read in (lambda path: read_text(path, "a results file"), lambda path: read_json(path, "a results file")):
        with pytest.raises(DynahateError) as refused:
            read(DEV_NULL)
        assert str(refused.value) == f"{DEV_NULL}: is a character device, not a regular file (a results file)"


def test_a_fifo_and_a_socket_are_named_by_the_jsonl_reader(fifo, tmp_path):
    with pytest.raises(DynahateError, match=r"posts\.jsonl: is a FIFO \(named pipe\), not a regular file"):
        list(iter_jsonl(fifo))
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(tmp_path / "s.jsonl"))
        with pytest.raises(DynahateError, match=r"s\.jsonl: is a socket, not a regular file"):
            list(iter_jsonl(tmp_path / "s.jsonl"))


def test_commands_name_a_fifo_or_a_device_given_as_their_input(fifo, made_up_run):
    root, run, _, _ = made_up_run
    txt_fifo = root / "fifo.txt"
    os.mkfifo(txt_fifo)
    csv_fifo = root / "dynahate.csv"
    os.mkfifo(csv_fifo)
    cases = [
        (["eval", "--predictions", fifo, "--output-dir", root / "out"], f"{fifo}: is a FIFO (named pipe)"),
        (["predict", "--adapter", run, "--input", txt_fifo], f"{txt_fifo}: is a FIFO (named pipe), not a regular"),
        (["predict", "--adapter", run, "--input", fifo], f"{fifo}: is a FIFO (named pipe), not a regular file"),
        (["predict", "--adapter", run, "--input", DEV_NULL], f"{DEV_NULL}: is a character device, not a regular"),
        (["prepare", "--csv", csv_fifo, "--out", root / "data", "--tokenizer", "none"],
         f"{csv_fifo}: is a FIFO (named pipe), not a regular file"),
    ]
    for argv, needle in cases:
        line = assert_refused(run_main(argv, check=False), needle)
        assert "not found" not in line
    assert not (root / "out").exists() and not (root / "data").exists()


def test_a_fifo_as_the_metadata_sidecar_is_refused_not_ignored(tmp_path):
    from dynahate.eval.eval_data import load_split

    split = tmp_path / "mine.jsonl"
    split.write_text('{"input": "a post", "output": "hate"}\n')
    os.mkfifo(tmp_path / "mine.meta.jsonl")
    with pytest.raises(DynahateError, match=r"mine\.meta\.jsonl: is a FIFO \(named pipe\), not a regular file"):
        load_split(split)
