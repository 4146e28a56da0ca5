"""dynahate.core.describe: a value is shown only when it cannot be a post; a post is named by its hash."""

import hashlib

import pytest

from dynahate.core.describe import (
    describe_exception,
    describe_json,
    describe_names,
    describe_value,
    duplicated,
    first_line,
    shown,
    text_sha1,
)


@pytest.mark.parametrize("value, expected", [
    ("offensive", "'offensive'"), ("acl123", "'acl123'"), ("a-b_c.d", "'a-b_c.d'"),
    ("two words", None), ("x" * 21, None), ("ünï", None), ("", None), (12, None),
])
def test_only_a_short_single_token_is_shown(value, expected):
    assert shown(value) == expected


def test_a_value_that_could_be_a_post_is_described_by_its_length():
    assert describe_value(None) == "no value"
    assert describe_value("") == "an empty value"
    assert describe_value("nothate") == "'nothate'"
    assert describe_value("they should all leave") == "a 21-character value, not shown as it may be a post"
    assert describe_names(["text", "label", "a whole post here"]) == (
        "text, label, 1 more not shown (not a short name: it may be a post)")
    assert describe_names(["a post", "another post"]) == "2 not shown (not a short name: it may be a post)"
    assert describe_names([]) == "none"
    assert duplicated(["a", "b", "a", "c", "b", "a"]) == ["a", "b"]


@pytest.mark.parametrize("value, expected", [
    (None, "null"), (True, "true"), (False, "false"), (5, "5"), (-0.25, "-0.25"), (1e-07, "1e-07"),
    (float("nan"), "NaN"), ("0.3", "the string '0.3'"), ("", "an empty value"),
    ("they should all leave", "a 21-character value, not shown as it may be a post"),
    ([1, "they should all leave"], "a JSON array"), ({"text": "they should all leave"}, "a JSON object"),
])
def test_a_json_value_is_named_as_written_or_by_its_kind(value, expected):
    """The one describer of a value read from a JSON file (the evaluation record's reader and ``compare``'s)."""
    assert describe_json(value) == expected


def test_text_sha1_is_the_sha1_of_the_utf8_text():
    assert text_sha1("Zorblaxians ü") == hashlib.sha1("Zorblaxians ü".encode()).hexdigest()


def test_first_line_of_an_exception():
    assert first_line(OSError("disk gone\nmore detail")) == "OSError: disk gone"
    assert first_line(ValueError("ValueError: said twice")) == "ValueError: said twice"
    assert first_line(RuntimeError("")) == "RuntimeError"
    assert first_line(OSError("404 Client Error.\n\nRepository Not Found for url")) == (
        "OSError: 404 Client Error. Repository Not Found for url")


MARKER = "the marker post: Drellans are vermin"  # stands for a post: it must never be described


def _fail(post):
    raise RuntimeError(f"failed on {post!r}")


def test_an_exception_is_described_by_its_types_and_frames_never_its_messages():
    try:
        try:
            _fail(MARKER)
        except RuntimeError as exc:
            raise ValueError(MARKER) from exc
    except ValueError as exc:
        try:
            raise ExceptionGroup(MARKER, [exc, KeyError(MARKER)])
        except ExceptionGroup as group:
            group.add_note(MARKER)
            text = describe_exception(group)
    assert MARKER not in text and "Drellans" not in text
    summary, *frames = text.splitlines()
    assert summary.startswith("ValueError raised at test_describe.py:")
    assert summary.endswith("(the first of the ExceptionGroup) (its message is not logged: it may quote a post)")
    assert "RuntimeError: <message not logged>" in frames and "ExceptionGroup: <message not logged>" in frames
    assert "    KeyError: <message not logged>" in frames and "  sub-exception 2 of 2:" in frames
    assert any(line.strip().startswith('raise RuntimeError(f"failed on') for line in frames)  # the program's lines
