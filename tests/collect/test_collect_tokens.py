"""Annotators and tokens: printed once, stored as a salted hash, checked, listed, revoked."""

import re

import pytest

from dynahate.collect.store import open_store
from dynahate.collect.tokens import (
    NotAuthorised,
    add_annotator,
    authenticate,
    list_tokens,
    revoke_token,
)
from dynahate.core.errors import DynahateError
from dynahate.testing.cli import run_main

TOKEN = re.compile(r"dhc_[0-9a-f]{12}_[A-Za-z0-9_-]{43}")


@pytest.fixture
def store(tmp_path):
    opened = open_store(str(tmp_path / "c.sqlite3"))
    yield opened
    opened.close()


def test_add_annotator_prints_the_token_alone_on_stdout_once_and_stores_only_a_salted_hash(tmp_path):
    db = tmp_path / "c.sqlite3"
    proc = run_main(["collect", "add-annotator", "alice", "--db", str(db)])
    token = proc.stdout.strip()
    assert TOKEN.fullmatch(token), "stdout is the token and nothing else (for scripts)"
    assert "shown once" in proc.stderr and token not in proc.stderr
    secret = token.rsplit("_", 1)[1]
    for path in tmp_path.iterdir():  # the database, its WAL and shared-memory files
        assert secret.encode() not in path.read_bytes(), path.name
    listing = run_main(["collect", "tokens", "--db", str(db)]).stdout
    assert token.split("_")[1] in listing and secret not in listing and "alice" in listing


def test_a_token_is_checked_in_full_and_each_failure_says_why_without_the_token(store):
    token = add_annotator(store, "alice")
    caller = authenticate(store, f"Bearer {token}")
    assert (caller.name, caller.is_owner) == ("alice", False)
    assert authenticate(store, f"bearer {token}").annotator_id == caller.annotator_id  # the scheme in any case
    token_id = token.split("_")[1]
    wrong_secret = f"dhc_{token_id}_{'A' * 43}"
    for header, why in [(None, "no token"), (token, "no token"), (f"Basic {token}", "no token"),
                        ("Bearer nonsense", "not a collect token"), (f"Bearer {wrong_secret}", "unknown token"),
                        (f"Bearer dhc_{'0' * 12}_{'A' * 43}", "unknown token")]:
        with pytest.raises(NotAuthorised, match=why) as refused:
            authenticate(store, header)
        assert token not in str(refused.value) and token_id not in str(refused.value)


def test_a_revoked_token_stops_working_at_once_and_the_annotator_can_get_another(store):
    token = add_annotator(store, "alice")
    row = revoke_token(store, token.split("_")[1])
    assert row.revoked_at is not None and row.annotator == "alice"
    with pytest.raises(NotAuthorised, match="revoked"):
        authenticate(store, f"Bearer {token}")
    second = add_annotator(store, "alice", new_token=True)
    assert authenticate(store, f"Bearer {second}").name == "alice"
    assert [(r.annotator, r.revoked_at is None) for r in list_tokens(store)] == [("alice", False), ("alice", True)]
    assert revoke_token(store, second).token_id == second.split("_")[1]  # the whole token names it too


def test_names_and_roles_are_checked(store):
    add_annotator(store, "olga", owner=True)
    assert authenticate(store, f"Bearer {add_annotator(store, 'olga', new_token=True)}").is_owner
    with pytest.raises(DynahateError, match="exists; --new-token"):
        add_annotator(store, "olga")
    with pytest.raises(DynahateError, match="no annotator 'bob'"):
        add_annotator(store, "bob", new_token=True)
    for bad in ("", "a b", "-x", "x" * 65, "<script>"):
        with pytest.raises(DynahateError, match="annotator name must be"):
            add_annotator(store, bad)
    with pytest.raises(DynahateError, match="no token with id"):
        revoke_token(store, "0123456789ab")
