"""The collect library on both of its databases, SQLite and a real PostgreSQL server (``db_url``: a fresh database
of each for every test): the schema, annotators and tokens, entries, perturbations and votes, the validation
rule, the figures, and votes cast at the same moment on the same entry."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

from dynahate.collect import entries, tokens
from dynahate.collect.entries import ModelAnswer, NewEntry, Refused
from dynahate.collect.migrate import current_revision, head_revision
from dynahate.collect.schema import NOT_QUEUED, PENDING, REJECTED, VERIFIED, Entry, Vote
from dynahate.collect.stats import collect_figures, figures_json
from dynahate.collect.store import open_store
from dynahate.core.errors import DynahateError

HATE, NOT_HATE = "hate", "not hate"


def said(label: str, p_hate: float | None = None) -> ModelAnswer:
    """What the model in the loop answered (made up: the store does not score)."""
    p = p_hate if p_hate is not None else (0.9 if label == HATE else 0.1)
    return ModelAnswer(label=label, p_hate=p, decision_rule={"threshold": 0.5, "threshold_name": None,
                                                            "temperature": None}, adapter_sha256="ab" * 32)


@pytest.fixture
def store(db_url):
    opened = open_store(db_url)
    yield opened
    opened.close()


def callers(store, names: list[str], owners: tuple[str, ...] = ()) -> dict[str, tokens.Caller]:
    made = {name: tokens.add_annotator(store, name, owner=name in owners) for name in names}
    return {name: tokens.authenticate(store, f"Bearer {token}") for name, token in made.items()}


def test_a_new_database_is_made_at_the_head_revision_and_opened_again(db_url):
    store = open_store(db_url)
    try:
        with store.engine.connect() as connection:
            assert current_revision(connection) == head_revision()
    finally:
        store.close()
    again = open_store(db_url, create=False)  # at the head: used as it is
    again.close()


def test_an_empty_database_is_refused_without_create(db_url):
    with pytest.raises(DynahateError, match="the database is empty|no database at"):  # PostgreSQL | SQLite
        open_store(db_url, create=False)


def test_tokens_authenticate_list_and_revoke(db_url):
    if db_url.startswith("postgresql"):  # a server whose sessions are not in UTC gives its moments in its own zone
        engine = create_engine(db_url, isolation_level="AUTOCOMMIT")
        with engine.connect() as connection:
            connection.execute(text(f"ALTER DATABASE {make_url(db_url).database} SET timezone TO 'Asia/Kolkata'"))
        engine.dispose()
    store = open_store(db_url)
    try:
        _tokens_authenticate_list_and_revoke(store)
    finally:
        store.close()


def _tokens_authenticate_list_and_revoke(store):
    token = tokens.add_annotator(store, "ann", owner=True)
    caller = tokens.authenticate(store, f"Bearer {token}")
    assert (caller.name, caller.is_owner) == ("ann", True)
    with pytest.raises(DynahateError, match="exists"):
        tokens.add_annotator(store, "ann")
    second = tokens.add_annotator(store, "ann", new_token=True)
    rows = tokens.list_tokens(store)
    assert [row.annotator for row in rows] == ["ann", "ann"]
    now = datetime.now(UTC)
    for row in rows:  # the same instant on both backends: in UTC, with its time zone
        assert row.created_at.tzinfo is not None and row.created_at.utcoffset() == timedelta(0)
        assert abs(row.created_at - now) < timedelta(minutes=5)
        assert row.revoked_at is None
    revoked = tokens.revoke_token(store, token)
    assert revoked.revoked_at is not None and revoked.revoked_at.utcoffset() == timedelta(0)
    with pytest.raises(tokens.NotAuthorised, match="revoked"):
        tokens.authenticate(store, f"Bearer {token}")
    assert tokens.authenticate(store, f"Bearer {second}").name == "ann"
    with pytest.raises(tokens.NotAuthorised, match="unknown token"):
        tokens.authenticate(store, f"Bearer {second[:-4]}AAAA")


def test_a_round_keeps_its_rule(store):
    first = entries.open_round(store, "8", 2, True)
    assert entries.open_round(store, "8", 2, True) == first
    with pytest.raises(DynahateError, match="opened with --votes 2 --validate-all"):
        entries.open_round(store, "8", 3, True)
    entries.open_round(store, "9", 3, False)
    assert entries.round_names(store) == ["8", "9"]


def test_entries_votes_the_rule_and_the_figures(store):
    who = callers(store, ["writer", "other", "v1", "v2", "v3", "boss"], owners=("boss",))
    round_info = entries.open_round(store, "8", 2, False)

    def write(name, label, answer, original_id=None, hate_type=None):
        new = NewEntry(f"post {label} by {name}", label, hate_type if label == HATE else None,
                       ("wom",) if label == HATE else (), original_id)
        entries.check_perturbation(store, who[name], round_info, new)
        return entries.add_entry(store, who[name], round_info, new, answer)

    fooled = write("writer", HATE, said(NOT_HATE), hate_type="derogation")  # fooled the model: queued
    right = write("writer", NOT_HATE, said(NOT_HATE))  # the model was right: not queued
    flipped = write("writer", NOT_HATE, said(NOT_HATE), original_id=fooled.id)  # the perturbation, not fooled
    other = write("other", NOT_HATE, said(HATE, 0.7))  # fooled the model
    owned = write("other", HATE, said(NOT_HATE), hate_type="threatening")  # fooled, settled by the owner
    assert [e.status for e in (fooled, right, flipped, other, owned)] == [PENDING, NOT_QUEUED, NOT_QUEUED, PENDING,
                                                                         PENDING]
    assert fooled.model_wrong is True and right.model_wrong is False
    view = entries.entry_view(fooled, round_name="8")
    assert view["targets"] == ["wom"] and view["type"] == "derogation" and view["model"]["wrong"] is True
    assert datetime.fromisoformat(view["created_at"]).utcoffset() == timedelta(0)

    # the perturbation rules
    with pytest.raises(Refused) as refused:
        write("writer", NOT_HATE, said(NOT_HATE), original_id=fooled.id)
    assert refused.value.status == 409  # a second perturbation
    with pytest.raises(Refused) as refused:
        write("other", NOT_HATE, said(NOT_HATE), original_id=fooled.id)
    assert refused.value.status == 404  # someone else's entry
    with pytest.raises(Refused) as refused:
        write("writer", NOT_HATE, said(NOT_HATE), original_id=right.id)
    assert refused.value.status == 422  # does not flip the label

    # the queue: not one's own, not voted on, only pending entries, oldest first
    assert [e["id"] for e in entries.validation_queue(store, who["v1"])] == [fooled.id, other.id, owned.id]
    assert [e["id"] for e in entries.validation_queue(store, who["writer"])] == [other.id, owned.id]

    def vote(name, entry, verdict, corrected=None, reason=None):
        return entries.add_vote(store, who[name], entry.id, verdict, corrected, reason)

    assert vote("v1", fooled, "correct")["status"] == PENDING
    with pytest.raises(Refused) as refused:
        vote("v1", fooled, "correct")
    assert refused.value.status == 409  # a second vote
    with pytest.raises(Refused) as refused:
        vote("writer", fooled, "correct")
    assert refused.value.status == 403  # one's own entry
    with pytest.raises(Refused) as refused:
        vote("v1", right, "correct")
    assert refused.value.status == 409  # not queued
    assert vote("v2", fooled, "incorrect", NOT_HATE) == {"entry_id": fooled.id, "status": PENDING,
                                                         "corrected_label": None, "votes": 2}
    assert vote("v3", fooled, "correct")["status"] == VERIFIED  # 2 matching votes
    with pytest.raises(Refused) as refused:
        vote("other", fooled, "correct")
    assert refused.value.status == 409  # settled
    assert vote("v1", other, "incorrect", HATE)["status"] == PENDING
    assert vote("v2", other, "incorrect", HATE) == {"entry_id": other.id, "status": REJECTED,
                                                    "corrected_label": HATE, "votes": 2}
    assert vote("v1", owned, "flagged", reason="  not a real post  ")["status"] == PENDING
    assert vote("boss", owned, "correct")["status"] == VERIFIED  # the owner settles it alone
    assert entries.validation_queue(store, who["v3"]) == []

    with store.reading() as session:
        stored = {e.id: (e.status, e.corrected_label, e.settled_at) for e in session.scalars(select(Entry))}
        reasons = list(session.scalars(select(Vote.reason).where(Vote.reason.is_not(None))))
    assert stored[other.id][:2] == (REJECTED, HATE) and stored[fooled.id][0] == VERIFIED
    assert stored[right.id] == (NOT_QUEUED, None, None)
    assert reasons == ["not a real post"]
    listed = entries.list_entries(store, who["boss"])
    assert [e["id"] for e in listed] == [owned.id, other.id, flipped.id, right.id, fooled.id]
    assert listed[-1]["perturbation_id"] == flipped.id and listed[-1]["annotator"] == "writer"
    for view in listed:  # read back from the database: in UTC, with the zone, on both backends
        assert datetime.fromisoformat(view["created_at"]).utcoffset() == timedelta(0)
    assert [e["id"] for e in entries.list_entries(store, who["other"])] == [owned.id, other.id]

    (figures,) = figures_json(collect_figures(store))["rounds"]
    # pairs on fooled: v1-v2 no, v1-v3 yes, v2-v3 no; on other: v1-v2 yes; on owned: v1-boss no
    assert {key: figures[key] for key in ("entries", "fooled", "verified_fooled", "waiting", "verified", "rejected",
                                          "not_queued", "vote_pairs")} == {
        "entries": 5, "fooled": 3, "verified_fooled": 2, "waiting": 0, "verified": 2, "rejected": 1,
        "not_queued": 2, "vote_pairs": 5}
    assert figures["agreement"] == pytest.approx(2 / 5)
    assert figures["model_error_rate"] == pytest.approx(3 / 5)
    assert figures["verified_model_error_rate"] == pytest.approx(2 / 5)
    rows = figures["annotators"]
    assert (rows["writer"]["entries"], rows["writer"]["fooled"], rows["writer"]["verified_fooled"]) == (3, 1, 1)
    assert (rows["other"]["entries"], rows["other"]["fooled"], rows["other"]["rejected"]) == (2, 2, 1)
    assert (rows["v1"]["entries"], rows["v1"]["vote_pairs"], rows["v1"]["agreement"]) == (0, 4, 0.5)
    assert (rows["v2"]["vote_pairs"], rows["v2"]["agreement"]) == (3, pytest.approx(1 / 3))
    assert (rows["boss"]["vote_pairs"], rows["boss"]["agreement"]) == (1, 0.0)
    assert [r["round"] for r in figures_json(collect_figures(store, "8"))["rounds"]] == ["8"]
    with pytest.raises(Refused) as refused:
        collect_figures(store, "zz")
    assert refused.value.status == 404


def test_votes_cast_at_the_same_moment_on_one_entry_settle_it_once(store):
    """Eight validators vote on one entry at once, twice over: exactly ``votes_needed`` votes are kept and the
    others are refused as settled (PostgreSQL locks the entry's row; SQLite's writers take turns)."""
    names = [f"v{i}" for i in range(8)]
    who = callers(store, ["writer", *names])
    round_info = entries.open_round(store, "8", 3, True)
    for _ in range(2):
        entry = entries.add_entry(store, who["writer"], round_info, NewEntry("a post", NOT_HATE), said(NOT_HATE))
        start = threading.Barrier(len(names))
        answers: dict[str, object] = {}

        def cast(name: str, entry_id: int = entry.id, start=start, answers=answers) -> None:
            start.wait()
            try:
                answers[name] = entries.add_vote(store, who[name], entry_id, "correct")["status"]
            except Refused as exc:
                answers[name] = exc.status

        threads = [threading.Thread(target=cast, args=(name,)) for name in names]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        accepted = [name for name, answer in answers.items() if answer in (PENDING, VERIFIED)]
        assert list(answers.values()).count(VERIFIED) == 1, answers
        assert len(accepted) == 3 and sorted(a for a in answers.values() if isinstance(a, int)) == [409] * 5
        with store.reading() as session:
            kept = session.scalar(select(func.count()).select_from(Vote).where(Vote.entry_id == entry.id))
            status = session.scalar(select(Entry.status).where(Entry.id == entry.id))
        assert (kept, status) == (3, VERIFIED)


def test_a_database_with_other_tables_is_refused(db_url):
    engine = create_engine(db_url)
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE someone_elses (id INTEGER PRIMARY KEY)"))
    engine.dispose()
    with pytest.raises(DynahateError, match="not a dynahate collect database"):
        open_store(db_url)


def test_without_postgresql_the_reason_is_one_line(monkeypatch, tmp_path):
    from dynahate.testing import postgres_server

    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(postgres_server, "SEARCH", str(tmp_path / "postgresql" / "*" / "bin"))
    with pytest.raises(postgres_server.PostgresUnavailable, match="no PostgreSQL: initdb and pg_ctl") as missing:
        postgres_server.find_binaries()
    assert "\n" not in str(missing.value)
