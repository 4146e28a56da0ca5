"""The fingerprint of a set of posts (eval/fingerprint.py), and what ``dynahate prepare`` lets it name."""

from __future__ import annotations

import hashlib
import json

from dynahate.eval.eval_data import load_split
from dynahate.eval.fingerprint import fingerprint, ids_sha256, prepared_source_blob, same_posts
from dynahate.plugin.data.download import git_blob_sha1
from dynahate.testing.cli import FIXTURES, run_main

POSTS = [("acl1", "the first post"), ("acl2", "the second post"), ("acl3", "a third")]


def test_the_digest_is_sha256_of_the_sorted_id_and_text_hash_lines():
    lines = sorted(f"{i}\t{hashlib.sha256(t.encode()).hexdigest()}\n" for i, t in POSTS)
    expected = hashlib.sha256("".join(lines).encode()).hexdigest()
    ids = hashlib.sha256("".join(sorted(f"{i}\n" for i, _ in POSTS)).encode()).hexdigest()
    assert fingerprint(POSTS) == {"of": "posts", "count": 3, "sha256": expected, "ids_sha256": ids,
                                  "source_git_blob_sha1": None}
    assert ids_sha256(["acl3", "acl1", "acl2"]) == ids  # from the ids alone, in any order


def test_order_does_not_matter_but_a_text_an_id_or_a_post_more_does():
    base = fingerprint(POSTS)
    assert fingerprint(list(reversed(POSTS))) == base
    changed = [
        [("acl1", "the first post "), *POSTS[1:]],  # one trailing space (what --normalize-text strips)
        [("acl1", POSTS[1][1]), ("acl2", POSTS[0][1]), POSTS[2]],  # two ids swap their posts
        POSTS[:2],
        [*POSTS, ("acl4", "one more")],
    ]
    for items in changed:
        assert fingerprint(items)["sha256"] != base["sha256"]
        assert same_posts(base, fingerprint(items)) is False
    assert same_posts(base, fingerprint(POSTS)) is True


def test_a_lone_surrogate_is_hashed_not_refused():
    assert len(fingerprint([("acl1", "bad \ud800 half")])["sha256"]) == 64


def test_missing_or_other_kinds_are_not_comparable():
    assert same_posts(None, fingerprint(POSTS)) is None
    assert same_posts(fingerprint(POSTS), fingerprint(POSTS, of="prompts")) is None


def test_a_prepared_split_names_the_csv_it_came_from(tmp_path):
    csv = FIXTURES / "dynahate_sample.csv"
    run_main(["prepare", "--csv", str(csv), "--out", str(tmp_path / "data"), "--tokenizer", "none"])
    split = load_split(tmp_path / "data" / "dynahate_test.jsonl")
    assert split.source_blob == git_blob_sha1(csv)
    assert json.loads((tmp_path / "data" / "prepare_report.json").read_text())["source"]["git_blob_sha1"] == \
        split.source_blob
    other = tmp_path / "elsewhere" / "dynahate_test.jsonl"  # the same file away from its report
    other.parent.mkdir()
    other.write_bytes((tmp_path / "data" / "dynahate_test.jsonl").read_bytes())
    assert prepared_source_blob(other) is None
    (other.parent / "prepare_report.json").write_text("{not json")
    assert prepared_source_blob(other) is None
