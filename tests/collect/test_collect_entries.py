"""Entries and votes in the database: what an annotator may write, perturb and vote, and when an entry settles.

The model's answer is given as data here (the served model is exercised by the API tests)."""

import threading

import pytest
from sqlalchemy import func, select

from dynahate.collect.entries import (
    ModelAnswer,
    NewEntry,
    Refused,
    add_entry,
    add_vote,
    list_entries,
    open_round,
    validation_queue,
)
from dynahate.collect.schema import Vote
from dynahate.collect.store import open_store
from dynahate.collect.tokens import add_annotator, authenticate
from dynahate.core.errors import DynahateError

SAYS_NOT_HATE = ModelAnswer("not hate", 0.1, {"threshold": 0.5}, "a" * 64)
SAYS_HATE = ModelAnswer("hate", 0.9, {"threshold": 0.5}, "a" * 64, "user/adapter", "c" * 40)


@pytest.fixture
def room(tmp_path):
    """A store with round 8 (2 votes settle), writer w, validators a, b, c, owner o: (store, round, callers)."""
    store = open_store(str(tmp_path / "c.sqlite3"))
    callers = {name: authenticate(store, f"Bearer {add_annotator(store, name, owner=name == 'o')}")
               for name in ("w", "a", "b", "c", "o")}
    yield store, open_round(store, "8", 2, False), callers
    store.close()


def test_an_entry_records_the_model_and_goes_to_validation_only_when_the_model_was_fooled(room):
    store, round8, who = room
    fooled = add_entry(store, who["w"], round8, NewEntry("p1", "hate", "derogation", ("wom", "bla")), SAYS_NOT_HATE)
    right = add_entry(store, who["w"], round8, NewEntry("p2", "hate", "animosity"), SAYS_HATE)
    assert (fooled.model_wrong, fooled.status, fooled.targets) == (True, "pending", "wom, bla")
    assert (right.model_wrong, right.status, right.adapter_repo, right.adapter_commit) == (
        False, "not queued", "user/adapter", "c" * 40)
    queue = validation_queue(store, who["a"])
    assert [entry["id"] for entry in queue] == [fooled.id]
    assert "annotator" not in queue[0] and "model" not in queue[0]  # the writer and the model's answer hidden
    assert validation_queue(store, who["w"]) == []  # never one's own
    with pytest.raises(Refused, match="not waiting for validation") as refused:
        add_vote(store, who["a"], right.id, "correct")
    assert refused.value.status == 409


def test_validate_all_sends_every_entry_and_a_round_keeps_its_rule(room):
    store, _, who = room
    every = open_round(store, "9", 2, True)
    entry = add_entry(store, who["w"], every, NewEntry("p", "hate", "threatening"), SAYS_HATE)
    assert entry.status == "pending"
    with pytest.raises(DynahateError, match="round '9' was opened with --votes 2 --validate-all"):
        open_round(store, "9", 3, True)


def test_a_perturbation_is_the_writer_s_once_and_flips_the_label(room):
    store, round8, who = room
    original = add_entry(store, who["w"], round8, NewEntry("p", "hate", "derogation"), SAYS_NOT_HATE)
    cases = [
        (who["a"], NewEntry("q", "not hate", original_id=original.id), 404, "no entry .* of yours"),
        (who["w"], NewEntry("q", "hate", "derogation", original_id=original.id), 422, "flips the label"),
        (who["w"], NewEntry("q", "not hate", original_id=12345), 404, "no entry 12345"),
    ]
    for caller, new, status, message in cases:
        with pytest.raises(Refused, match=message) as refused:
            add_entry(store, caller, round8, new, SAYS_NOT_HATE)
        assert refused.value.status == status
    edit = add_entry(store, who["w"], round8, NewEntry("q", "not hate", original_id=original.id), SAYS_HATE)
    assert edit.original_id == original.id and edit.model_wrong
    for new, message in [(NewEntry("r", "not hate", original_id=original.id), "already has its perturbation"),
                         (NewEntry("r", "hate", "support", original_id=edit.id), "itself a perturbation")]:
        with pytest.raises(Refused, match=message):
            add_entry(store, who["w"], round8, new, SAYS_NOT_HATE)
    other_round = open_round(store, "9", 2, False)
    with pytest.raises(Refused, match="another round"):
        add_entry(store, who["w"], other_round, NewEntry("r", "hate", "support", original_id=original.id),
                  SAYS_NOT_HATE)
    mine = list_entries(store, who["w"])
    assert all(entry["created_at"].endswith("+00:00") for entry in mine)  # read back from SQLite, still UTC
    assert [(e["id"], e["perturbation_id"], e["original_id"]) for e in mine] == [
        (edit.id, None, original.id), (original.id, edit.id, None)]
    assert list_entries(store, who["a"]) == []  # an annotator sees their own entries only
    assert {e["annotator"] for e in list_entries(store, who["o"])} == {"w"}  # an owner sees everyone's, by name


def test_votes_settle_an_entry_never_by_the_writer_never_twice_and_an_owner_settles_alone(room):
    store, round8, who = room
    new = [add_entry(store, who["w"], round8, NewEntry(f"p{i}", "hate", "derogation"), SAYS_NOT_HATE)
           for i in range(4)]
    with pytest.raises(Refused, match="you wrote this entry") as refused:
        add_vote(store, who["w"], new[0].id, "correct")
    assert refused.value.status == 403
    assert add_vote(store, who["a"], new[0].id, "correct")["status"] == "pending"
    with pytest.raises(Refused, match="already voted") as refused:
        add_vote(store, who["a"], new[0].id, "incorrect", "not hate")
    assert refused.value.status == 409
    assert add_vote(store, who["b"], new[0].id, "correct")["status"] == "verified"
    with pytest.raises(Refused, match="already settled"):
        add_vote(store, who["c"], new[0].id, "correct")
    add_vote(store, who["a"], new[1].id, "incorrect", "not hate")
    assert add_vote(store, who["b"], new[1].id, "incorrect", "not hate") == {
        "entry_id": new[1].id, "status": "rejected", "corrected_label": "not hate", "votes": 2}
    add_vote(store, who["a"], new[2].id, "flagged", reason="not a social media post")
    assert add_vote(store, who["b"], new[2].id, "flagged", reason="spam")["status"] == "rejected"
    assert add_vote(store, who["o"], new[3].id, "correct")["status"] == "verified"  # one owner vote
    for verdict, corrected, reason, message in [
            ("incorrect", None, None, "gives the label"), ("correct", "hate", None, "with a vote 'incorrect' only"),
            ("flagged", None, "  ", "gives a reason"), ("incorrect", "hate", None, "the entry's own label")]:
        entry = add_entry(store, who["w"], round8, NewEntry("x", "hate", "derogation"), SAYS_NOT_HATE)
        with pytest.raises(Refused, match=message) as refused:
            add_vote(store, who["a"], entry.id, verdict, corrected, reason)
        assert refused.value.status == 422


def test_validators_voting_at_once_settle_an_entry_once_and_every_accepted_vote_is_kept(room):
    store, round8, who = room
    entries = [add_entry(store, who["w"], round8, NewEntry(f"p{i}", "hate", "derogation"), SAYS_NOT_HATE)
               for i in range(10)]
    answers, errors = [], []

    def validate(caller):
        for entry in entries:
            try:
                answers.append((caller.name, add_vote(store, caller, entry.id, "correct")))
            except Refused as refused:
                errors.append(refused.status)

    threads = [threading.Thread(target=validate, args=(who[name],)) for name in ("a", "b", "c")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert set(errors) <= {409} and len(answers) + len(errors) == 30
    with store.reading() as session:
        assert session.scalar(select(func.count()).select_from(Vote)) == len(answers)
    settled = [answer for _, answer in answers if answer["status"] == "verified"]
    assert sorted(answer["entry_id"] for answer in settled) == [entry.id for entry in entries]  # each once
    assert all(answer["votes"] == 2 for answer in settled)
