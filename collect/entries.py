"""Rounds, entries and votes: what an annotator writes and what validators say of it.

Every function here is one transaction, committed before it returns, so an entry or vote the API answers as
accepted is in the database. What an annotator may do is checked here too (:class:`Refused`, an HTTP status and
a one-line message that never quotes a post): a perturbation edits the writer's own original of the same round,
once, and flips its label; a validator is never the writer and votes once; a settled entry takes no more votes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import exists, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from dynahate.collect.schema import (
    FLAGGED,
    INCORRECT,
    NOT_QUEUED,
    PENDING,
    Annotator,
    Entry,
    Round,
    Vote,
    utc_now,
)
from dynahate.collect.store import Store
from dynahate.collect.tokens import Caller
from dynahate.collect.validation import Ballot, settle
from dynahate.core.errors import DynahateError
from dynahate.plugin.labels import HATE


class Refused(Exception):
    """An API request refused: ``status`` and a one-line ``message`` (never a post)."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class RoundInfo:
    id: int
    name: str
    votes_needed: int
    validate_all: bool


@dataclass(frozen=True)
class ModelAnswer:
    """What the model in the loop said of a post, and which model and rule said it."""

    label: str
    p_hate: float
    decision_rule: dict[str, Any]
    adapter_sha256: str
    adapter_repo: str | None = None
    adapter_commit: str | None = None


@dataclass(frozen=True)
class NewEntry:
    text: str
    label: str
    hate_type: str | None = None
    targets: tuple[str, ...] = ()
    original_id: int | None = None  # a perturbation: the entry it edits


def open_round(store: Store, name: str, votes_needed: int, validate_all: bool) -> RoundInfo:
    """The round ``name``, opened with these settings if new; an existing round keeps its own (a different
    ``votes_needed`` or ``validate_all`` is refused, so that one round has one rule)."""
    try:
        with store.transaction() as session:
            found = session.scalars(select(Round).where(Round.name == name)).one_or_none()
            if found is None:
                found = Round(name=name, votes_needed=votes_needed, validate_all=validate_all)
                session.add(found)
                session.flush()
    except IntegrityError:  # opened by another process at the same moment
        return open_round(store, name, votes_needed, validate_all)
    _same_settings(found, votes_needed, validate_all)
    return RoundInfo(found.id, found.name, found.votes_needed, found.validate_all)


def check_round(store: Store, name: str, votes_needed: int, validate_all: bool) -> None:
    """Refuse, opening nothing, to serve round ``name`` with other settings than it was opened with."""
    with store.reading() as session:
        found = session.scalars(select(Round).where(Round.name == name)).one_or_none()
    if found is not None:
        _same_settings(found, votes_needed, validate_all)


def _same_settings(found: Round, votes_needed: int, validate_all: bool) -> None:
    if (found.votes_needed, found.validate_all) != (votes_needed, validate_all):
        raise DynahateError(f"round {found.name!r} was opened with --votes {found.votes_needed}"
                            f"{' --validate-all' if found.validate_all else ''}; serve it with the same settings "
                            "or open a new round")


def round_names(store: Store) -> list[str]:
    with store.reading() as session:
        return list(session.scalars(select(Round.name).order_by(Round.id)))


def find_round(session: Session, name: str) -> Round:
    found = session.scalars(select(Round).where(Round.name == name)).one_or_none()
    if found is None:
        raise Refused(404, "unknown round: no round of that name in this database")
    return found


def check_perturbation(store: Store, caller: Caller, round_info: RoundInfo, new: NewEntry) -> None:
    """Refuse a perturbation before its post is scored (it is checked again when it is stored)."""
    if new.original_id is not None:
        with store.reading() as session:
            _original_of(session, caller, round_info, new)


def _original_of(session: Session, caller: Caller, round_info: RoundInfo, new: NewEntry) -> Entry:
    original = session.get(Entry, new.original_id)
    if original is None or (original.annotator_id != caller.annotator_id and not caller.is_owner):
        raise Refused(404, f"no entry {new.original_id} of yours to perturb")
    if original.original_id is not None:
        raise Refused(409, f"entry {original.id} is itself a perturbation; perturb the original")
    if original.round_id != round_info.id:
        raise Refused(409, f"entry {original.id} belongs to another round than the one this server collects")
    if new.label == original.label:
        raise Refused(422, f"a perturbation flips the label: entry {original.id} is '{original.label}', so its "
                           f"perturbation must be the other label")
    if session.scalar(select(exists().where(Entry.original_id == original.id))):
        raise Refused(409, f"entry {original.id} already has its perturbation")
    return original


def add_entry(store: Store, caller: Caller, round_info: RoundInfo, new: NewEntry, answer: ModelAnswer) -> Entry:
    """Store ``new`` with the model's ``answer``; committed before it returns."""
    wrong = answer.label != new.label
    queued = wrong or round_info.validate_all
    try:
        with store.transaction() as session:
            if new.original_id is not None:
                _original_of(session, caller, round_info, new)
            entry = Entry(
                round_id=round_info.id, annotator_id=caller.annotator_id, original_id=new.original_id,
                text=new.text, label=new.label, hate_type=new.hate_type if new.label == HATE else None,
                targets=", ".join(new.targets) or None, model_label=answer.label, p_hate=answer.p_hate,
                model_wrong=wrong, decision_rule=json.dumps(answer.decision_rule, sort_keys=True),
                adapter_sha256=answer.adapter_sha256, adapter_repo=answer.adapter_repo,
                adapter_commit=answer.adapter_commit, status=PENDING if queued else NOT_QUEUED)
            session.add(entry)
            session.flush()
            return entry
    except IntegrityError:  # the same original perturbed twice at the same moment
        raise Refused(409, f"entry {new.original_id} already has its perturbation") from None


def entry_view(entry: Entry, *, round_name: str, writer: str | None = None,
               perturbation_id: int | None = None) -> dict[str, Any]:
    """An entry as the API returns it to its writer (and, with ``writer``, to an owner)."""
    view = {
        "id": entry.id, "round": round_name, "text": entry.text, "label": entry.label, "type": entry.hate_type,
        "targets": entry.targets.split(", ") if entry.targets else [], "original_id": entry.original_id,
        "perturbation_id": perturbation_id,
        "model": {"label": entry.model_label, "p_hate": entry.p_hate, "wrong": entry.model_wrong,
                  "decision_rule": json.loads(entry.decision_rule), "adapter_sha256": entry.adapter_sha256,
                  "adapter_repo": entry.adapter_repo, "adapter_commit": entry.adapter_commit},
        "status": entry.status, "corrected_label": entry.corrected_label,
        "created_at": entry.created_at.isoformat(),
    }
    if writer is not None:
        view["annotator"] = writer
    return view


def list_entries(store: Store, caller: Caller, round_name: str | None = None, limit: int = 100,
                 offset: int = 0) -> list[dict[str, Any]]:
    """The caller's entries, newest first (an owner: everyone's, with the writer's name)."""
    with store.reading() as session:
        query = select(Entry, Round.name, Annotator.name).join(Round).join(Annotator,
                                                                          Entry.annotator_id == Annotator.id)
        if round_name is not None:
            query = query.where(Entry.round_id == find_round(session, round_name).id)
        if not caller.is_owner:
            query = query.where(Entry.annotator_id == caller.annotator_id)
        rows = session.execute(query.order_by(Entry.id.desc()).limit(limit).offset(offset)).all()
        ids = [entry.id for entry, _, _ in rows]
        perturbations: dict[int | None, int] = {row[0]: row[1] for row in session.execute(
            select(Entry.original_id, Entry.id).where(Entry.original_id.in_(ids)))} if ids else {}
        return [entry_view(entry, round_name=name, writer=writer if caller.is_owner else None,
                           perturbation_id=perturbations.get(entry.id)) for entry, name, writer in rows]


def validation_queue(store: Store, caller: Caller, round_name: str | None = None,
                     limit: int = 20) -> list[dict[str, Any]]:
    """Entries waiting for validation that the caller may vote on (not theirs, not voted yet), oldest first;
    without the writer and without the model's answer."""
    with store.reading() as session:
        voted = exists().where(Vote.entry_id == Entry.id, Vote.annotator_id == caller.annotator_id)
        query = (select(Entry, Round.name).join(Round)
                 .where(Entry.status == PENDING, Entry.annotator_id != caller.annotator_id, ~voted))
        if round_name is not None:
            query = query.where(Entry.round_id == find_round(session, round_name).id)
        rows = session.execute(query.order_by(Entry.id).limit(limit)).all()
        return [{"id": entry.id, "round": name, "text": entry.text, "label": entry.label, "type": entry.hate_type,
                 "targets": entry.targets.split(", ") if entry.targets else [],
                 "is_perturbation": entry.original_id is not None} for entry, name in rows]


def add_vote(store: Store, caller: Caller, entry_id: int, verdict: str, corrected_label: str | None = None,
             reason: str | None = None) -> dict[str, Any]:
    """The caller's vote on entry ``entry_id``; returns the entry's status after it. Committed before it returns."""
    if verdict == INCORRECT and corrected_label is None:
        raise Refused(422, "a vote 'incorrect' gives the label the post should have: corrected_label")
    if verdict != INCORRECT and corrected_label is not None:
        raise Refused(422, "corrected_label goes with a vote 'incorrect' only")
    if verdict == FLAGGED and not (reason or "").strip():
        raise Refused(422, "a vote 'flagged' gives a reason")
    try:
        with store.transaction() as session:
            # one vote at a time on an entry: PostgreSQL locks the row (SQLite's transactions are serial)
            entry = session.scalars(select(Entry).where(Entry.id == entry_id).with_for_update()).one_or_none()
            if entry is None:
                raise Refused(404, f"no entry {entry_id}")
            if entry.annotator_id == caller.annotator_id:
                raise Refused(403, "you wrote this entry: another annotator validates it")
            if entry.status == NOT_QUEUED:
                raise Refused(409, f"entry {entry_id} is not waiting for validation (the model was right)")
            if entry.status != PENDING:
                raise Refused(409, f"entry {entry_id} is already settled ({entry.status})")
            if verdict == INCORRECT and corrected_label == entry.label:
                raise Refused(422, f"corrected_label is the entry's own label '{entry.label}'; vote 'correct' "
                                   "if you agree with it")
            session.add(Vote(entry_id=entry.id, annotator_id=caller.annotator_id, verdict=verdict,
                             corrected_label=corrected_label, reason=(reason or "").strip() or None,
                             by_owner=caller.is_owner))
            session.flush()
            votes_needed = session.scalar(select(Round.votes_needed).where(Round.id == entry.round_id))
            ballots = [Ballot(vote.verdict, vote.corrected_label, vote.by_owner)
                       for vote in session.scalars(select(Vote).where(Vote.entry_id == entry.id).order_by(Vote.id))]
            outcome = settle(ballots, int(votes_needed or 0))
            if outcome.status != PENDING:
                entry.status, entry.corrected_label, entry.settled_at = (outcome.status, outcome.corrected_label,
                                                                         utc_now())
            count = session.scalar(select(func.count()).select_from(Vote).where(Vote.entry_id == entry.id))
            return {"entry_id": entry.id, "status": entry.status, "corrected_label": entry.corrected_label,
                    "votes": count}
    except IntegrityError:
        raise Refused(409, f"you have already voted on entry {entry_id}") from None
