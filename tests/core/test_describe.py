"""dynahate.core.describe: a value is shown only when it cannot be a post; a post is named by its hash."""

import hashlib

import pytest

from dynahate.core.describe import describe_names, describe_value, duplicated, first_line, shown, text_sha1


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


def test_text_sha1_is_the_sha1_of_the_utf8_text():
    assert text_sha1("Zorblaxians ü") == hashlib.sha1("Zorblaxians ü".encode()).hexdigest()


def test_first_line_of_an_exception():
    assert first_line(OSError("disk gone\nmore detail")) == "OSError: disk gone"
    assert first_line(ValueError("ValueError: said twice")) == "ValueError: said twice"
    assert first_line(RuntimeError("")) == "RuntimeError"
    assert first_line(OSError("404 Client Error.\n\nRepository Not Found for url")) == (
        "OSError: 404 Client Error. Repository Not Found for url")
