"""Loading evaluation splits: gold labels, metadata join, and bad input."""

import json
import shutil

import pytest

from dynahate.core.errors import DynahateError
from dynahate.eval.eval_data import load_split, load_splits
from dynahate.plugin.splits import data_file, meta_file
from dynahate.testing.cli import run_main
from dynahate.testing.cli_refusal import MARKER, assert_refused


def test_prepared_split_joins_metadata(prepared_data):
    split = load_split(data_file(prepared_data, "dev"))
    assert split.name == "dynahate_dev" and split.has_meta and len(split.examples) == 56
    first = split.examples[0]
    assert first.id.startswith("acl") and first.meta["acl.id"] == first.id and first.gold in ("hate", "not hate")


def test_plain_file_without_metadata(tmp_path):
    path = tmp_path / "mine.jsonl"
    path.write_text(json.dumps({"input": "a post", "output": "nothate"}) + "\n\n"
                    + json.dumps({"input": "b", "output": "hate"}) + "\n")
    split = load_split(path)
    assert not split.has_meta
    assert [(e.id, e.gold) for e in split.examples] == [("mine-1", "not hate"), ("mine-3", "hate")]


@pytest.mark.parametrize("content, message", [
    ("", "no examples (empty split)"),
    ('{"input": "a", "output": "hate"}\n{"input": "b", "output": "offensive"}\n',
     "mine.jsonl:2: gold label is 'offensive', expected one of 'hate', 'not hate'"),
    ('{"input": "a", "output": "Zorblaxians are the worst"}\n',  # a post in the label's place: not echoed
     "mine.jsonl:1: gold label is a 25-character value, not shown as it may be a post, expected one of"),
    ('{"input": "a", "output": 1}\n', "mine.jsonl:1: gold label is a value of type int, expected one of"),
    ('{"input": "a", "output": ["hate"]}\n',
     "mine.jsonl:1: gold label is a value of type list, expected one of 'hate', 'not hate' (key 'output')"),
    ('{"input": "a", "output": "hate"}\n{"input": "b", "output": {"a": 1}}\n',
     "mine.jsonl:2: gold label is a value of type dict, expected one of 'hate', 'not hate' (key 'output')"),
    ('{"input": "a", "output": "hate"}\n{"input": "b"\n', "mine.jsonl:2: not valid JSON"),
    ('{"output": "hate"}\n', "mine.jsonl:1: missing key 'input'"),
    ('{"input": "", "output": "hate"}\n', "mine.jsonl:1: 'input' is empty"),
    ('{"input": "a", "output": "hate"}\n{"input": " \\t\\n", "output": "hate"}\n',
     "mine.jsonl:2: 'input' is empty or whitespace only"),
    ('{"input": 5, "output": "hate"}\n', "mine.jsonl:1: 'input' is not a string (got int)"),
    ('{"input": "a", "output": "hate", "instruction": "Classify:"}\n', "mine.jsonl:1: 'instruction' differs"),
])
def test_bad_files(tmp_path, content, message):
    path = tmp_path / "mine.jsonl"
    path.write_text(content)
    with pytest.raises(DynahateError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_split(path)


def test_stale_metadata_is_an_error(prepared_data, tmp_path):
    shutil.copy(data_file(prepared_data, "dev"), data_file(tmp_path, "dev"))
    shutil.copy(meta_file(data_file(prepared_data, "test")), meta_file(data_file(tmp_path, "dev")))
    with pytest.raises(DynahateError, match="dynahate_dev.meta.jsonl: 28 lines for 56 records"):
        load_split(data_file(tmp_path, "dev"))
    lines = meta_file(data_file(prepared_data, "dev")).read_text().splitlines()
    lines[0], lines[1] = lines[1], lines[0]
    meta_file(data_file(tmp_path, "dev")).write_text("\n".join(lines) + "\n")
    with pytest.raises(DynahateError, match=r"dynahate_dev.meta.jsonl:1: does not belong to dynahate_dev.jsonl line 1"):
        load_split(data_file(tmp_path, "dev"))


def test_examples_know_their_line_and_acl_id(prepared_data):
    split = load_split(data_file(prepared_data, "dev"))
    third = split.examples[2]
    assert third.line == 3 and third.where(split.path) == f"{split.path}:3 (acl.id {third.id})"


def test_two_files_with_one_stem_are_refused(prepared_data, tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    for folder in ("a", "b"):
        shutil.copy(data_file(prepared_data, "dev"), tmp_path / folder / "dev.jsonl")
    with pytest.raises(DynahateError, match="a/dev.jsonl and .*b/dev.jsonl are both named 'dev'"):
        load_splits([tmp_path / "a" / "dev.jsonl", tmp_path / "b" / "dev.jsonl"])
    assert [s.name for s in load_splits([tmp_path / "a" / "dev.jsonl"])] == ["dev"]


@pytest.mark.parametrize("column, value, message", [
    ("target", "Zorblaxians are the worst, all of them",
     "target is a 38-character value, not shown as it may be a post"),
    ("round", "2a; drop", "round is an 8-character value, not shown"),
    ("acl.id", "a post where an id belongs", "acl.id is a 26-character value, not shown"),
])
def test_a_metadata_value_that_is_not_a_code_is_refused_unshown(prepared_data, tmp_path, column, value, message):
    """Metadata values become group names in results and the card, and ids in predictions files."""
    shutil.copy(data_file(prepared_data, "dev"), data_file(tmp_path, "dev"))
    metas = [json.loads(line) for line in meta_file(data_file(prepared_data, "dev")).read_text().splitlines()]
    metas[4][column] = value
    meta_file(data_file(tmp_path, "dev")).write_text("".join(json.dumps(m) + "\n" for m in metas))
    with pytest.raises(DynahateError) as caught:
        load_split(data_file(tmp_path, "dev"))
    text = str(caught.value)
    assert text.startswith(f"{meta_file(data_file(tmp_path, 'dev'))}:5: {message}") and value not in text
    assert "re-run `dynahate prepare`" in text


def test_eval_data_with_a_list_or_an_object_as_gold_label_is_one_line_before_anything_loads(made_up_run, tmp_path):
    _, run, _, _ = made_up_run
    for output, kind in ((["hate"], "list"), ({"a": 1}, "dict")):
        data = tmp_path / "mine.jsonl"
        data.write_text(json.dumps({"input": f"a {MARKER} post", "output": output}) + "\n")
        proc = run_main(["eval", "--adapter", str(run), "--data", str(data), "--output-dir", str(tmp_path / "out")],
                        check=False)
        assert_refused(proc, f"{data}:1: gold label is a value of type {kind}", "(key 'output')")
    assert not (tmp_path / "out").exists()


def test_an_acl_id_naming_two_posts_in_a_sidecar_is_refused(prepared_data, tmp_path):
    """The acl.id is the post's id in the predictions file (compare joins two evaluations on it)."""
    shutil.copy(data_file(prepared_data, "dev"), data_file(tmp_path, "dev"))
    metas = [json.loads(line) for line in meta_file(data_file(prepared_data, "dev")).read_text().splitlines()]
    metas[4]["acl.id"] = metas[1]["acl.id"]
    meta_file(data_file(tmp_path, "dev")).write_text("".join(json.dumps(m) + "\n" for m in metas))
    with pytest.raises(DynahateError) as caught:
        load_split(data_file(tmp_path, "dev"))
    sidecar, acl_id = meta_file(data_file(tmp_path, "dev")), metas[1]["acl.id"]
    assert str(caught.value) == f"{sidecar}: lines 2 and 5: acl.id {acl_id!r} names two posts; re-run `dynahate " \
                                "prepare`"


def test_a_post_matched_to_itself_in_a_sidecar_is_refused(prepared_data, tmp_path):
    shutil.copy(data_file(prepared_data, "dev"), data_file(tmp_path, "dev"))
    metas = [json.loads(line) for line in meta_file(data_file(prepared_data, "dev")).read_text().splitlines()]
    metas[2]["acl.id.matched"] = metas[2]["acl.id"]
    meta_file(data_file(tmp_path, "dev")).write_text("".join(json.dumps(m) + "\n" for m in metas))
    with pytest.raises(DynahateError, match=r"dynahate_dev\.meta\.jsonl:3: acl\.id\.matched names the post's own"):
        load_split(data_file(tmp_path, "dev"))
