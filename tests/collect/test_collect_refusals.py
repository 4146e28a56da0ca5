"""Every refusal of the collect API, against one real ``dynahate collect serve`` of the tiny trained run: each is its
documented status (``dynahate collect serve --help``'s epilog) with a body of ``{"error": "<one line>"}`` that never
quotes the post or the token, and the server's log never holds a post or a token.

The server runs with ``--rate-limit 5``: every check uses annotators of its own (``people``), so that no bucket
but the rate-limit check's runs dry.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from dynahate.testing.cli import OFFLINE_ENV, run_main
from dynahate.testing.collect_process import add_annotators, bearer, start_collect

MAX_TEXT_CHARS = 300
MAX_BODY_BYTES = 2048
RATE_LIMIT = 5
ROUND, OTHER_ROUND = "8", "7"


@dataclass
class Server:
    url: str
    db_url: str
    log: Path
    posts: list[str] = field(default_factory=list)  # every post sent, for the log check
    tokens: list[str] = field(default_factory=list)  # every token made

    def people(self, *roles: str) -> list[str]:
        """Tokens of new annotators, one per role (their names are made unique)."""
        names = [f"{role}-{uuid.uuid4().hex[:8]}" for role in roles]
        made = add_annotators(self.db_url, names)
        self.tokens.extend(made.values())
        return [made[name] for name in names]

    def post(self, token: str | None, path: str, body: dict[str, Any] | None = None, **options: Any) -> httpx.Response:
        if body is not None and isinstance(body.get("text"), str):
            self.posts.append(body["text"])
        return httpx.post(f"{self.url}{path}", json=body, headers=bearer(token) if token else {}, timeout=60,
                          **options)

    def get(self, token: str | None, path: str, **params: Any) -> httpx.Response:
        return httpx.get(f"{self.url}{path}", params=params, headers=bearer(token) if token else {}, timeout=60)

    def write(self, token: str, label: str = "not hate", **fields: Any) -> dict[str, Any]:
        """A post of the token's annotator, accepted (201)."""
        body: dict[str, Any] = {"text": f"a post {uuid.uuid4().hex}", "label": label, **fields}
        if label == "hate":
            body.setdefault("type", "derogation")
        response = self.post(token, "/api/entries", body)
        assert response.status_code == 201, response.text
        return response.json()

    def refused(self, response: httpx.Response, status: int, says: str) -> str:
        """Check a refusal: ``status``, ``{"error": "<one line>"}`` mentioning ``says``, no post and no token."""
        assert response.status_code == status, response.text
        body = response.json()
        assert list(body) == ["error"] and isinstance(body["error"], str), body
        message = body["error"]
        assert message and "\n" not in message and says in message, message
        for secret in [*self.posts, *self.tokens]:
            assert secret not in message
        assert "a post " not in message
        return message


@pytest.fixture(scope="module")
def server(trained_run, tmp_path_factory) -> Iterator[Server]:
    from dynahate.collect.entries import open_round
    from dynahate.collect.store import open_store

    folder = tmp_path_factory.mktemp("collect-refusals")
    db_url, log = f"sqlite:///{folder / 'collect.sqlite3'}", folder / "server.log"
    store = open_store(db_url)
    open_round(store, OTHER_ROUND, 2, True)  # another round of the database, not the one served
    store.close()
    proc, url = start_collect(trained_run, db_url, log, "--round", ROUND, "--validate-all", "--votes", "2",
                              "--rate-limit", str(RATE_LIMIT), "--max-text-chars", str(MAX_TEXT_CHARS),
                              "--max-body-bytes", str(MAX_BODY_BYTES), "--no-page", env=OFFLINE_ENV)
    try:
        yield Server(url, db_url, log)
    finally:
        proc.terminate()
        proc.wait(timeout=60)


def test_no_token_or_a_wrong_one_is_401(server):
    (token,) = server.people("writer")
    valid = {"text": "a post that has no token", "label": "not hate"}
    unknown = f"dhc_{'0' * 12}_{'A' * 43}"
    for headers in ({}, {"Authorization": "Basic dXNlcjpwYXNz"}, {"Authorization": f"Bearer {unknown}"},
                    {"Authorization": "Bearer not-a-token"}, {"Authorization": f"Bearer {token}x"}):
        for response in (httpx.get(f"{server.url}/api/me", headers=headers),
                         httpx.post(f"{server.url}/api/entries", headers=headers, json=valid),
                         httpx.get(f"{server.url}/api/stats", headers=headers)):
            server.refused(response, 401, "token")
            assert response.headers["www-authenticate"] == "Bearer"
    # the token comes first: a body that would be refused is not looked at without one
    server.posts.append("a post with a made-up label")
    server.refused(server.post(None, "/api/entries", {"text": "a post with a made-up label", "label": "meh"}), 401,
                   "no token")
    server.refused(server.post(None, "/api/entries/1/votes", {"verdict": "maybe"}), 401, "no token")


def test_a_revoked_token_is_401(server):
    (token,) = server.people("revoked")
    assert server.get(token, "/api/me").status_code == 200
    token_id = token.split("_")[1]
    printed = run_main(["collect", "revoke", token_id, "--db", server.db_url])
    assert token_id in printed.stdout and token not in printed.stdout
    server.refused(server.get(token, "/api/me"), 401, "revoked")
    server.refused(server.post(token, "/api/entries", {"text": "a post after revoking", "label": "not hate"}), 401,
                   "revoked")


def test_validating_ones_own_entry_is_403_and_a_second_vote_409(server):
    writer, validator = server.people("writer", "validator")
    entry = server.write(writer)
    server.refused(server.post(writer, f"/api/entries/{entry['id']}/votes", {"verdict": "correct"}), 403,
                   "you wrote this entry")
    first = server.post(validator, f"/api/entries/{entry['id']}/votes", {"verdict": "correct"})
    assert first.status_code == 201 and first.json()["status"] == "pending", first.text
    server.refused(server.post(validator, f"/api/entries/{entry['id']}/votes", {"verdict": "flagged",
                                                                                "reason": "changed my mind"}),
                   409, "already voted")
    server.refused(server.post(validator, "/api/entries/999999/votes", {"verdict": "correct"}), 404, "no entry")


def test_an_unknown_round_is_404_and_another_round_409(server):
    (token,) = server.people("rounds")
    for path in ("/api/entries", "/api/queue", "/api/stats"):
        server.refused(server.get(token, path, round="zz"), 404, "unknown round")
    server.refused(server.post(token, "/api/entries", {"text": "a post for no round", "label": "not hate",
                                                       "round": "zz"}), 404, "unknown round")
    server.refused(server.post(token, "/api/entries", {"text": "a post for the other round", "label": "not hate",
                                                       "round": OTHER_ROUND}), 409, "this server collects round")


def test_an_unknown_label_type_or_verdict_or_a_malformed_target_is_422(server):
    entry_cases = (({"text": "a post, unknown label", "label": "hateful"}, "label"),
                   ({"text": "a post, unknown type", "label": "hate", "type": "insult"}, "type"),
                   ({"text": "a post, no type", "label": "hate"}, "names its type"),
                   ({"text": "a post, a type but not hate", "label": "not hate", "type": "derogation"},
                    "only a hateful entry"),
                   ({"text": "a post, not a target code", "label": "hate", "type": "derogation",
                     "targets": ["wom", "two words!"]}, "targets[1]"),
                   ({"label": "not hate"}, "text"))
    vote_cases = (({"verdict": "maybe"}, "verdict"),
                  ({"verdict": "incorrect", "corrected_label": "nope"}, "corrected_label"),
                  ({"verdict": "incorrect"}, "corrected_label"),
                  ({"verdict": "incorrect", "corrected_label": "not hate"}, "own label"),
                  ({"verdict": "correct", "corrected_label": "hate"}, "incorrect' only"),
                  ({"verdict": "flagged"}, "reason"),
                  ({"verdict": "flagged", "reason": "   "}, "reason"))
    # a refused body spends a request of the token's bucket: a few annotators share the cases
    writers = server.people(*["writer"] * 3)
    for index, (body, says) in enumerate(entry_cases):
        server.refused(server.post(writers[index % 3], "/api/entries", body), 422, says)
    entry = server.write(server.people("written")[0])
    validators = server.people(*["validator"] * 3)
    for index, (body, says) in enumerate(vote_cases):
        server.refused(server.post(validators[index % 3], f"/api/entries/{entry['id']}/votes", body), 422, says)


def test_a_post_too_long_or_a_body_too_large_is_413(server):
    (token,) = server.people("long")
    server.refused(server.post(token, "/api/entries", {"text": "a post " + "x" * MAX_TEXT_CHARS, "label": "hate",
                                                       "type": "animosity"}), 413, "--max-text-chars")
    over = {"text": "a post " + "y" * (MAX_BODY_BYTES + 10), "label": "not hate"}
    server.refused(server.post(token, "/api/entries", over), 413, "--max-body-bytes")


def test_a_lone_surrogate_is_422(server):
    (token,) = server.people("surrogate")
    for raw in (b'{"text": "a post \\ud800 alone", "label": "not hate"}',
                b'{"text": "a post \xed\xa0\x80 in bytes", "label": "not hate"}'):
        response = httpx.post(f"{server.url}/api/entries", content=raw, timeout=60,
                              headers={**bearer(token), "Content-Type": "application/json"})
        server.refused(response, 422, "")


def test_perturbing_someone_elses_entry_is_404_a_second_409_and_no_flip_422(server):
    writer, other = server.people("writer", "other")  # the writer's five requests: its whole bucket

    def perturb(token: str, original_id: int, label: str) -> httpx.Response:
        return server.post(token, "/api/entries", {
            "text": f"a post, edited {uuid.uuid4().hex}", "label": label, "original_id": original_id,
            **({"type": "threatening"} if label == "hate" else {})})

    original = server.write(writer, "hate", targets=["wom"])
    server.refused(perturb(other, original["id"], "not hate"), 404, "of yours to perturb")
    server.refused(perturb(other, 999999, "not hate"), 404, "of yours to perturb")
    server.refused(perturb(writer, original["id"], "hate"), 422, "flips the label")
    first = perturb(writer, original["id"], "not hate")
    assert first.status_code == 201 and first.json()["original_id"] == original["id"], first.text
    server.refused(perturb(writer, original["id"], "not hate"), 409, "already has its perturbation")
    server.refused(perturb(writer, first.json()["id"], "hate"), 409, "itself a perturbation")


def test_the_rate_limit_is_429_with_retry_after(server):
    (token,) = server.people("hasty")
    for _ in range(RATE_LIMIT):
        assert server.get(token, "/api/me").status_code == 200
    response = server.get(token, "/api/me")
    server.refused(response, 429, "--rate-limit")
    assert int(response.headers["retry-after"]) >= 1
    server.refused(server.post(token, "/api/entries", {"text": "a post over the limit", "label": "not hate"}), 429,
                   "--rate-limit")
    (other,) = server.people("patient")  # a bucket per token
    assert server.get(other, "/api/me").status_code == 200


def test_the_server_log_holds_no_post_and_no_token(server):
    """Last of the module: after every refusal above (those that ran on this worker), and a few of its own."""
    writer, other = server.people("logged", "logged-other")
    entry = server.write(writer, "hate", targets=["wom"])
    server.refused(server.post(writer, f"/api/entries/{entry['id']}/votes", {"verdict": "correct"}), 403, "")
    server.refused(server.post(other, "/api/entries", {"text": "a post " + "z" * MAX_TEXT_CHARS, "label": "hate"}),
                   422, "")
    server.refused(server.post(other, "/api/entries", {"text": "a post, again", "label": "hate",
                                                       "original_id": entry["id"], "type": "support"}), 404, "")
    log = server.log.read_text(errors="replace")
    for secret in [*server.posts, *server.tokens]:
        assert secret not in log
    assert "dhc_" not in log and "a post" not in log, log[-2000:]
    assert json.dumps(entry["text"]) not in log
