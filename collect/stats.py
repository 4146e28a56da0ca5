"""The figures of a collect database, per round and per annotator within it, counted by the database.

For a set of entries (a round's, or one annotator's in a round):

- ``entries``: entries collected (originals and perturbations);
- ``fooled``: entries where the model's label differed from the label the writer meant;
- ``model_error_rate``: fooled / entries;
- ``verified_fooled``: fooled entries that validation verified;
- ``verified_model_error_rate``: verified_fooled / entries (how often the model was fooled, counting only
  what validators confirmed);
- ``waiting``: entries waiting for validation; ``verified``, ``rejected``: settled either way; ``not_queued``:
  not sent to validation (the model was right, without ``--validate-all``);
- ``agreement``: of the pairs of votes cast on the same entry, the share that agree (same verdict, and the same
  corrected label); ``vote_pairs`` is how many pairs there were. For a round, every pair on its entries; for an
  annotator, the pairs their own votes form with the other validators' votes on the same entry (how often
  they agree with their colleagues). A rate or agreement over nothing is null.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import aliased

from dynahate.collect.entries import find_round
from dynahate.collect.schema import NOT_QUEUED, PENDING, REJECTED, VERIFIED, Annotator, Entry, Round, Vote
from dynahate.collect.store import Store

COUNTS = ("entries", "fooled", "verified_fooled", "waiting", "verified", "rejected", "not_queued")


@dataclass
class Figures:
    entries: int = 0
    fooled: int = 0
    verified_fooled: int = 0
    waiting: int = 0
    verified: int = 0
    rejected: int = 0
    not_queued: int = 0
    vote_pairs: int = 0
    agreeing_pairs: int = 0

    def add(self, other: Figures) -> None:
        for name in (*COUNTS, "vote_pairs", "agreeing_pairs"):
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {name: getattr(self, name) for name in COUNTS}
        out["model_error_rate"] = self.fooled / self.entries if self.entries else None
        out["verified_model_error_rate"] = self.verified_fooled / self.entries if self.entries else None
        out["vote_pairs"] = self.vote_pairs
        out["agreement"] = self.agreeing_pairs / self.vote_pairs if self.vote_pairs else None
        return out


@dataclass
class RoundFigures:
    name: str
    votes_needed: int
    validate_all: bool
    total: Figures = field(default_factory=Figures)
    annotators: dict[str, Figures] = field(default_factory=dict)


def _count(condition) -> Any:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def collect_figures(store: Store, round_name: str | None = None) -> list[RoundFigures]:
    """Every round's figures (or ``round_name``'s alone), with each annotator's, in the order rounds were opened."""
    with store.reading() as session:
        rounds_query = select(Round).order_by(Round.id)
        if round_name is not None:
            rounds_query = rounds_query.where(Round.id == find_round(session, round_name).id)
        rounds = {r.id: RoundFigures(r.name, r.votes_needed, r.validate_all) for r in session.scalars(rounds_query)}
        names: dict[int, str] = {row[0]: row[1] for row in session.execute(select(Annotator.id, Annotator.name))}
        entry_rows = session.execute(
            select(Entry.round_id, Entry.annotator_id, func.count(), _count(Entry.model_wrong),
                   _count(and_(Entry.model_wrong, Entry.status == VERIFIED)), _count(Entry.status == PENDING),
                   _count(Entry.status == VERIFIED), _count(Entry.status == REJECTED),
                   _count(Entry.status == NOT_QUEUED))
            .where(Entry.round_id.in_(rounds)).group_by(Entry.round_id, Entry.annotator_id)).all()
        for round_id, annotator_id, *counts in entry_rows:
            figures = Figures(*(int(count) for count in counts))
            rounds[round_id].total.add(figures)
            rounds[round_id].annotators.setdefault(names[annotator_id], Figures()).add(figures)
        mine, other = aliased(Vote), aliased(Vote)
        same = and_(mine.verdict == other.verdict,
                    func.coalesce(mine.corrected_label, "") == func.coalesce(other.corrected_label, ""))
        pairs = (select(Entry.round_id, mine.annotator_id, func.count(), _count(same))
                 .select_from(mine).join(other, and_(other.entry_id == mine.entry_id, other.id != mine.id))
                 .join(Entry, Entry.id == mine.entry_id).where(Entry.round_id.in_(rounds))
                 .group_by(Entry.round_id, mine.annotator_id))
        for round_id, annotator_id, count, agreeing in session.execute(pairs).all():
            figures = rounds[round_id].annotators.setdefault(names[annotator_id], Figures())
            figures.vote_pairs += int(count)
            figures.agreeing_pairs += int(agreeing)
            # each pair is counted once from each side: half of it belongs to the round's total
            rounds[round_id].total.vote_pairs += int(count)
            rounds[round_id].total.agreeing_pairs += int(agreeing)
        for figures in rounds.values():
            figures.total.vote_pairs //= 2
            figures.total.agreeing_pairs //= 2
        return list(rounds.values())


def figures_json(rounds: list[RoundFigures], only_annotator: str | None = None) -> dict[str, Any]:
    """The figures as ``/api/stats`` and ``collect stats --json`` give them; ``only_annotator``: that annotator's
    row alone (what a non-owner sees of the others: the round's totals only)."""
    return {"rounds": [{
        "round": figures.name, "votes_needed": figures.votes_needed, "validate_all": figures.validate_all,
        **figures.total.as_dict(),
        "annotators": {name: row.as_dict() for name, row in sorted(figures.annotators.items())
                       if only_annotator is None or name == only_annotator},
    } for figures in rounds]}


def figures_text(rounds: list[RoundFigures]) -> str:
    """The figures as a table for the terminal."""
    def rate(value: float | None) -> str:
        return "-" if value is None else f"{value:.1%}"

    header = f"{'round / annotator':<28} {'entries':>7} {'fooled':>7} {'error':>7} {'verified error':>14} " \
             f"{'waiting':>7} {'verified':>8} {'rejected':>8} {'agreement':>9}"
    lines = [header, "-" * len(header)]
    for figures in rounds:
        rows = [(f"round {figures.name}", figures.total)] + [
            (f"  {name}", row) for name, row in sorted(figures.annotators.items())]
        for label, row in rows:
            data = row.as_dict()
            lines.append(f"{label[:28]:<28} {row.entries:>7} {row.fooled:>7} {rate(data['model_error_rate']):>7} "
                         f"{rate(data['verified_model_error_rate']):>14} {row.waiting:>7} {row.verified:>8} "
                         f"{row.rejected:>8} {rate(data['agreement']):>9}")
    if not rounds:
        lines.append("(no rounds yet: `dynahate collect serve --round NAME` opens one)")
    return "\n".join(lines)
