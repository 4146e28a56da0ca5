"""The validation rule: how the votes on an entry settle it.

An entry waits (``pending``) until one of these, checked after each vote:

- an owner votes: their vote settles it (``correct``: verified; ``incorrect``: rejected, relabelled with the
  label they give; ``flagged``: rejected);
- ``votes_needed`` validators vote ``correct``: verified;
- ``votes_needed`` vote ``incorrect``: rejected, with the corrected label (labels are binary: the other one);
- ``votes_needed`` vote ``flagged``: rejected.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from dynahate.collect.schema import CORRECT, FLAGGED, INCORRECT, PENDING, REJECTED, VERIFIED

DEFAULT_VOTES = 3


@dataclass(frozen=True)
class Ballot:
    verdict: str
    corrected_label: str | None = None
    by_owner: bool = False


@dataclass(frozen=True)
class Outcome:
    status: str
    corrected_label: str | None = None


def settle(ballots: Sequence[Ballot], votes_needed: int) -> Outcome:
    """The entry's status after ``ballots`` (in the order cast)."""
    owner = [ballot for ballot in ballots if ballot.by_owner]
    if owner:
        return _of(owner[-1])
    for verdict in (CORRECT, INCORRECT, FLAGGED):
        matching = [ballot for ballot in ballots if ballot.verdict == verdict]
        if len(matching) >= votes_needed:
            return _of(matching[-1])
    return Outcome(PENDING)


def _of(ballot: Ballot) -> Outcome:
    if ballot.verdict == CORRECT:
        return Outcome(VERIFIED)
    if ballot.verdict == INCORRECT:
        return Outcome(REJECTED, ballot.corrected_label)
    return Outcome(REJECTED)
