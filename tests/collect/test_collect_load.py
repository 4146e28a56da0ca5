"""The collect API under load, on SQLite and on a real PostgreSQL server: a real ``dynahate collect serve`` of the
tiny trained run, 20 annotators writing posts and their perturbations and validating each other's at once over
HTTP, and an owner voting among them.

Afterwards every entry and vote answered 201 is in the database exactly once (read with plain SQL), nothing was
answered 500 (or anything but 200, 201 and the expected 409 of a settled entry or a second vote), and every figure
of ``GET /api/stats`` and ``dynahate collect stats --json`` equals a count made by hand in SQL. Then, on the same
server, the same load again, cut by SIGKILL halfway: after a restart on the same database, nothing that was answered
201 before the kill is missing, and the figures still add up.
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text

from dynahate.testing.cli import OFFLINE_ENV, run_main
from dynahate.testing.collect_process import add_annotators, bearer, start_collect

BACKENDS = ("sqlite", "postgresql")  # as tests/collect/conftest.py's db_url
ANNOTATORS = [f"ann{i:02d}" for i in range(20)]
OWNER = "boss"
ORIGINALS = 3  # each annotator writes 3 posts and a perturbation of each: 120 entries
QUEUE_LIMIT = 4  # entries an annotator takes from the queue after each pair it writes
SERVE_ARGS = ("--round", "8", "--validate-all", "--votes", "2", "--rate-limit", "100000", "--no-page")
EARLIER_ROUND = "7"  # an earlier round in the same database, written through the library before the server starts
TARGETS = ("wom", "bla", "mus", "jew", "gay")
TYPES = ("animosity", "derogation", "dehumanization", "threatening", "support")
COUNTS = ("entries", "fooled", "verified_fooled", "waiting", "verified", "rejected", "not_queued")


@dataclass
class Load:
    """What the clients sent and were answered; ``kill_after``: SIGKILL the server after that many answers 201."""

    url: str
    tokens: dict[str, str]
    proc: subprocess.Popen | None = None
    kill_after: int | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    entries: list[tuple[int, str, str]] = field(default_factory=list)  # (id, annotator, text) answered 201
    votes: list[tuple[int, str, str]] = field(default_factory=list)  # (entry id, validator, verdict) answered 201
    answers: Counter = field(default_factory=Counter)  # (what, status)
    unexpected: list[str] = field(default_factory=list)
    refusals: Counter = field(default_factory=Counter)  # expected refusals by message (numbers as N)
    accepted: int = 0
    killed: bool = False
    lost: int = 0  # requests that got no answer (after the kill)

    def note(self, what: str, response: httpx.Response, expected: tuple[int, ...]) -> None:
        with self.lock:
            self.answers[(what, response.status_code)] += 1
            if response.status_code not in expected:
                self.unexpected.append(f"{what}: {response.status_code} {response.text[:200]}")
            elif response.status_code >= 400:
                self.refusals[re.sub(r"\d+", "N", response.json()["error"])] += 1

    def accept(self, kind: str, row: tuple[int, str, str]) -> None:
        with self.lock:
            (self.entries if kind == "entry" else self.votes).append(row)
            self.accepted += 1
            if self.kill_after is not None and self.accepted == self.kill_after and self.proc is not None:
                self.killed = True
                os.kill(self.proc.pid, signal.SIGKILL)


def annotate(load: Load, name: str, index: int) -> None:
    """One annotator: write a post, its perturbation, then vote on entries from the queue; three times."""
    rng = random.Random(index)
    voted: list[int] = []
    with httpx.Client(base_url=load.url, headers=bearer(load.tokens[name]), timeout=120) as client:
        try:
            for k in range(ORIGINALS):
                write_pair(load, client, name, rng, hateful=(index + k) % 2 == 0)
                vote_from_queue(load, client, name, rng, voted)
            if voted:  # a second vote on the same entry: 409
                response = client.post(f"/api/entries/{voted[0]}/votes", json={"verdict": "correct"})
                load.note("second vote", response, (409,))
        except httpx.TransportError as exc:
            with load.lock:
                load.lost += 1
                if not load.killed:
                    load.unexpected.append(f"{name}: no answer before the kill: {type(exc).__name__}")


def write_pair(load: Load, client: httpx.Client, name: str, rng: random.Random, hateful: bool) -> None:
    post = f"load {name} {uuid.uuid4().hex[:10]} " + " ".join(rng.choice(("they", "all", "people", "are", "fine",
                                                                           "never", "welcome", "here"))
                                                             for _ in range(rng.randint(3, 12)))
    body: dict[str, Any] = {"text": post, "label": "hate" if hateful else "not hate"}
    if hateful:
        body |= {"type": rng.choice(TYPES), "targets": rng.sample(TARGETS, rng.randint(1, 2))}
    response = client.post("/api/entries", json=body)
    load.note("entry", response, (201,))
    if response.status_code != 201:
        return
    original = response.json()
    load.accept("entry", (original["id"], name, post))
    edited = f"{post} (edited)"
    flipped: dict[str, Any] = {"text": edited, "label": "not hate" if hateful else "hate",
                               "original_id": original["id"]}
    if not hateful:
        flipped |= {"type": rng.choice(TYPES), "targets": [rng.choice(TARGETS)]}
    response = client.post("/api/entries", json=flipped)
    load.note("perturbation", response, (201,))
    if response.status_code == 201:
        load.accept("entry", (response.json()["id"], name, edited))


def vote_from_queue(load: Load, client: httpx.Client, name: str, rng: random.Random, voted: list[int]) -> None:
    response = client.get("/api/queue", params={"limit": QUEUE_LIMIT})
    load.note("queue", response, (200,))
    if response.status_code != 200:
        return
    for entry in response.json()["entries"]:
        draw = rng.random()
        if draw < 0.7:
            body: dict[str, Any] = {"verdict": "correct"}
        elif draw < 0.9:
            body = {"verdict": "incorrect", "corrected_label": "not hate" if entry["label"] == "hate" else "hate"}
        else:
            body = {"verdict": "flagged", "reason": "not a post anyone would write"}
        response = client.post(f"/api/entries/{entry['id']}/votes", json=body)
        # 409: settled by others since the queue was read
        load.note("vote", response, (201, 409))
        if response.status_code == 201:
            load.accept("vote", (entry["id"], name, body["verdict"]))
            voted.append(entry["id"])


def run_load(load: Load) -> None:
    threads = [threading.Thread(target=annotate, args=(load, name, index), name=name)
               for index, name in enumerate([*ANNOTATORS, OWNER])]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not any(thread.is_alive() for thread in threads), "a client never finished"


# -- counts by hand ------------------------------------------------------------------------------------------------

def stored(db_url: str) -> tuple[list[tuple[int, str, str]], list[tuple[int, str, str]]]:
    """(entries as (id, annotator, text), votes as (entry id, validator, verdict)), read with plain SQL."""
    engine = create_engine(db_url)
    try:
        with engine.connect() as connection:
            entries = connection.execute(text(
                "SELECT e.id, a.name, e.text FROM entries e JOIN annotators a ON a.id = e.annotator_id")).all()
            votes = connection.execute(text(
                "SELECT v.entry_id, a.name, v.verdict FROM votes v JOIN annotators a ON a.id = v.annotator_id")).all()
    finally:
        engine.dispose()
    return [tuple(row) for row in entries], [tuple(row) for row in votes]


ENTRY_COUNTS = """
SELECT r.name, {who} COUNT(*),
       SUM(CASE WHEN e.model_wrong THEN 1 ELSE 0 END),
       SUM(CASE WHEN e.model_wrong AND e.status = 'verified' THEN 1 ELSE 0 END),
       SUM(CASE WHEN e.status = 'pending' THEN 1 ELSE 0 END),
       SUM(CASE WHEN e.status = 'verified' THEN 1 ELSE 0 END),
       SUM(CASE WHEN e.status = 'rejected' THEN 1 ELSE 0 END),
       SUM(CASE WHEN e.status = 'not queued' THEN 1 ELSE 0 END)
FROM entries e JOIN rounds r ON r.id = e.round_id JOIN annotators a ON a.id = e.annotator_id
GROUP BY r.name {group}
"""
PAIRS = """
SELECT r.name, {who} COUNT(*),
       SUM(CASE WHEN v.verdict = w.verdict AND COALESCE(v.corrected_label, '') = COALESCE(w.corrected_label, '')
                THEN 1 ELSE 0 END)
FROM votes v JOIN votes w ON w.entry_id = v.entry_id AND {pair}
JOIN entries e ON e.id = v.entry_id JOIN rounds r ON r.id = e.round_id JOIN annotators a ON a.id = v.annotator_id
GROUP BY r.name {group}
"""


def figures(counts: dict[str, int], pairs: int, agreeing: int) -> dict[str, Any]:
    return {**counts, "model_error_rate": counts["fooled"] / counts["entries"] if counts["entries"] else None,
            "verified_model_error_rate": counts["verified_fooled"] / counts["entries"] if counts["entries"] else None,
            "vote_pairs": pairs, "agreement": agreeing / pairs if pairs else None}


def figures_by_hand(db_url: str) -> dict[str, Any]:
    """The figures of every round, counted with plain SQL: entries per round and per writer; the pairs of votes on
    the same entry, each pair once for the round, and each vote's pairs for its validator."""
    engine = create_engine(db_url)
    zero = dict.fromkeys(COUNTS, 0)
    rounds: dict[str, dict[str, Any]] = {}
    try:
        with engine.connect() as connection:
            for name, votes_needed, validate_all in connection.execute(text(
                    "SELECT name, votes_needed, validate_all FROM rounds ORDER BY id")).all():
                rounds[name] = {"counts": dict(zero), "pairs": (0, 0), "votes_needed": votes_needed,
                                "validate_all": bool(validate_all), "annotators": {}}
            for name, *counts in connection.execute(text(ENTRY_COUNTS.format(who="", group=""))).all():
                rounds[name]["counts"] = dict(zip(COUNTS, map(int, counts), strict=True))
            for name, who, *counts in connection.execute(text(ENTRY_COUNTS.format(who="a.name,",
                                                                                  group=", a.name"))).all():
                rounds[name]["annotators"][who] = {"counts": dict(zip(COUNTS, map(int, counts), strict=True)),
                                                   "pairs": (0, 0)}
            for name, count, agreeing in connection.execute(text(PAIRS.format(who="", pair="w.id > v.id",
                                                                              group=""))).all():
                rounds[name]["pairs"] = (int(count), int(agreeing))
            for name, who, count, agreeing in connection.execute(text(PAIRS.format(
                    who="a.name,", pair="w.id <> v.id", group=", a.name"))).all():
                row = rounds[name]["annotators"].setdefault(who, {"counts": dict(zero)})
                row["pairs"] = (int(count), int(agreeing))
    finally:
        engine.dispose()
    return {"rounds": [{
        "round": name, "votes_needed": data["votes_needed"], "validate_all": data["validate_all"],
        **figures(data["counts"], *data["pairs"]),
        "annotators": {who: figures(row["counts"], *row["pairs"]) for who, row in sorted(data["annotators"].items())},
    } for name, data in rounds.items()]}


def check_figures(url: str, db_url: str, owner_token: str) -> dict[str, Any]:
    by_hand = figures_by_hand(db_url)
    served = httpx.get(f"{url}/api/stats", headers=bearer(owner_token), timeout=60)
    assert served.status_code == 200, served.text
    assert served.json() == by_hand
    printed = run_main(["collect", "stats", "--db", db_url, "--json"])
    assert json.loads(printed.stdout) == by_hand
    return by_hand


Rows = list[tuple[int, str, str]]


def check_present_once(db_url: str, load: Load, earlier: tuple[Rows, Rows], *, exactly: bool) -> None:
    """Every entry and vote answered 201 (and those of the earlier round) is stored once; ``exactly``: and nothing
    else is."""
    entries, votes = stored(db_url)
    expected_entries, expected_votes = [*earlier[0], *load.entries], [*earlier[1], *load.votes]
    assert len({entry_id for entry_id, _, _ in entries}) == len(entries)
    written = Counter((who, post) for _, who, post in entries)
    assert all(written[(who, post)] == 1 for _, who, post in expected_entries)
    assert set(expected_entries) <= set(entries)
    assert len(set(expected_votes)) == len(expected_votes) and set(expected_votes) <= set(votes)
    assert len(set(votes)) == len(votes)
    if exactly:
        assert sorted(entries) == sorted(expected_entries)
        assert sorted(votes) == sorted(expected_votes)


def earlier_round(db_url: str, tokens: dict[str, str]) -> tuple[Rows, Rows]:
    """Round 7, written through the library: 3 matching votes, only the model's errors validated. Four annotators
    write two posts each, the model wrong on every other one; three others vote on those. (entries, votes)."""
    from dynahate.collect import entries
    from dynahate.collect.entries import ModelAnswer, NewEntry
    from dynahate.collect.store import open_store
    from dynahate.collect.tokens import authenticate

    store = open_store(db_url)
    written: Rows = []
    voted: Rows = []
    try:
        round_info = entries.open_round(store, EARLIER_ROUND, 3, False)
        callers = {name: authenticate(store, f"Bearer {tokens[name]}") for name in ANNOTATORS[:7]}
        for index, name in enumerate(ANNOTATORS[:4]):
            for k in range(2):
                post = f"load earlier {name} {k}"
                answer = ModelAnswer("hate" if k else "not hate", 0.8 if k else 0.2, {"threshold": 0.5}, "ab" * 32)
                entry = entries.add_entry(store, callers[name], round_info, NewEntry(post, "not hate"), answer)
                written.append((entry.id, name, post))
                if entry.model_wrong:
                    for validator in ANNOTATORS[4 + index % 2:7]:
                        verdict = "correct" if (index + int(validator[-1])) % 3 else "flagged"
                        entries.add_vote(store, callers[validator], entry.id, verdict,
                                         reason="spam" if verdict == "flagged" else None)
                        voted.append((entry.id, validator, verdict))
    finally:
        store.close()
    return written, voted


@pytest.fixture(params=BACKENDS)
def collect_db(request, new_db_url) -> tuple[str, dict[str, str], tuple[Rows, Rows]]:
    """A new database of each backend with the annotators, the owner and an earlier round: (URL, tokens, the
    earlier round's entries and votes)."""
    db_url = new_db_url(request.param)
    tokens = add_annotators(db_url, [*ANNOTATORS, OWNER], owners=(OWNER,))
    return db_url, tokens, earlier_round(db_url, tokens)


def test_twenty_annotators_write_and_validate_at_once_and_a_kill_in_the_middle_loses_nothing_accepted(
        trained_run, collect_db, tmp_path):
    """One server, two loads: the first runs to the end, and the database then holds exactly what was answered 201
    and figures that add up; the second is cut by SIGKILL after 60 answers 201, and after a restart on the same
    database nothing answered 201 before the kill is missing and the figures still add up."""
    db_url, tokens, earlier = collect_db
    log = tmp_path / "server.log"
    started = time.monotonic()
    proc, url = start_collect(trained_run, db_url, log, *SERVE_ARGS, env=OFFLINE_ENV)
    seconds = {"start": time.monotonic() - started}
    whole = Load(url, tokens)
    try:
        started = time.monotonic()
        run_load(whole)
        seconds["load"] = time.monotonic() - started
        assert whole.unexpected == [], whole.answers
        assert whole.answers[("entry", 201)] == len(ANNOTATORS + [OWNER]) * ORIGINALS
        assert whole.answers[("perturbation", 201)] == whole.answers[("entry", 201)]
        assert whole.answers[("vote", 201)] > 0 and whole.answers[("second vote", 409)] > 0
        check_present_once(db_url, whole, earlier, exactly=True)
        by_hand = check_figures(url, db_url, tokens[OWNER])
        earlier_figures, round_figures = by_hand["rounds"]
        assert (earlier_figures["round"], round_figures["round"]) == (EARLIER_ROUND, "8")
        assert earlier_figures["entries"] == len(earlier[0]) and earlier_figures["vote_pairs"] > 0
        assert round_figures["entries"] == len(whole.entries) and round_figures["vote_pairs"] > 0
        assert round_figures["verified"] + round_figures["rejected"] > 0

        cut = Load(url, tokens, proc=proc, kill_after=60)
        started = time.monotonic()
        run_load(cut)
        seconds["load killed halfway"] = time.monotonic() - started
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=60)
    assert cut.killed and proc.returncode == -signal.SIGKILL
    assert cut.unexpected == [], cut.answers
    assert cut.lost > 0  # the clients were still writing when it died
    before = ([*earlier[0], *whole.entries], [*earlier[1], *whole.votes])
    check_present_once(db_url, cut, before, exactly=False)
    entries, votes = stored(db_url)
    unanswered = len(entries) + len(votes) - sum(map(len, (*before, cut.entries, cut.votes)))

    started = time.monotonic()
    proc, url = start_collect(trained_run, db_url, log, *SERVE_ARGS, env=OFFLINE_ENV)
    seconds["restart"] = time.monotonic() - started
    try:
        check_present_once(db_url, cut, before, exactly=False)
        after = httpx.post(f"{url}/api/entries", headers=bearer(tokens[ANNOTATORS[0]]), timeout=60,
                           json={"text": "written after the restart", "label": "not hate"})
        assert after.status_code == 201, after.text
        check_figures(url, db_url, tokens[OWNER])
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    check_log(log, whole)
    check_log(log, cut)
    print(f"\n{timings(seconds)}; {request_summary(whole)}; then killed after {cut.kill_after} answers 201: "
          f"{cut.lost} clients got no answer; {unanswered} entries and votes were stored without their answer "
          f"arriving; {request_summary(cut)}")


def check_log(log: Path, load: Load) -> None:
    """The server's output holds no post and no token."""
    written = log.read_text(errors="replace")
    for secret in [*(post for _, _, post in load.entries), *load.tokens.values()]:
        assert secret not in written
    assert "load ann" not in written and "load boss" not in written


def timings(seconds: dict[str, float]) -> str:
    return ", ".join(f"{what} {value:.1f} s" for what, value in seconds.items())


def request_summary(load: Load) -> str:
    return (", ".join(f"{what} {status}: {count}" for (what, status), count in sorted(load.answers.items()))
            + "; refused: " + "; ".join(f"{count}x {message}" for message, count in load.refusals.most_common()))
