"""The collect database's tables, as SQLAlchemy 2 typed ORM classes: rounds, annotators, their tokens, entries
and votes. The one definition of what is stored; Alembic's migrations (``collect/migrations/versions``) create it.

Labels are the training labels (``hate`` / ``not hate``); ``hate_type`` one of :data:`HATE_TYPES` (Dynahate's
``type`` column); ``targets`` Dynahate target codes joined by ``", "`` as in its ``target`` column. An entry's
``original_id`` links a perturbation to the post it edits. ``status`` is one of :data:`STATUSES`.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Boolean, DateTime, Dialect, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

# Dynahate's `type` of a hateful post (its CSV writes them in lower case)
HATE_TYPES = ("animosity", "derogation", "dehumanization", "threatening", "support")
PENDING, VERIFIED, REJECTED, NOT_QUEUED = "pending", "verified", "rejected", "not queued"
STATUSES = (PENDING, VERIFIED, REJECTED, NOT_QUEUED)  # not queued: not sent to validation (the model was right)
CORRECT, INCORRECT, FLAGGED = "correct", "incorrect", "flagged"
VERDICTS = (CORRECT, INCORRECT, FLAGGED)
NAME_LENGTH = 64


def utc_now() -> datetime:
    return datetime.now(UTC)


class UtcDateTime(TypeDecorator[datetime]):
    """A moment, stored and read back in UTC with its zone on every backend: SQLite keeps no zone (it is given the
    UTC time and hands it back naive), PostgreSQL hands it back in its session's ``TimeZone``. The column is
    ``DateTime(timezone=True)`` as in the migrations."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("a naive datetime: the collect database keeps moments with their zone (utc_now())")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    pass


class Setting(Base):
    """One value of the database's own: ``pseudonym_key``, the secret annotator pseudonyms are derived from."""

    __tablename__ = "settings"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(200))


class Round(Base):
    __tablename__ = "rounds"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(NAME_LENGTH), unique=True)
    votes_needed: Mapped[int] = mapped_column(Integer)  # matching votes that settle an entry (--votes)
    validate_all: Mapped[bool] = mapped_column(Boolean)  # every entry to validation, not only the model's errors
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)


class Annotator(Base):
    __tablename__ = "annotators"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(NAME_LENGTH), unique=True)
    is_owner: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)

    tokens: Mapped[list[Token]] = relationship(back_populates="annotator")


class Token(Base):
    """An annotator's API token: ``token_id`` is its public part (listed, revoked by it), ``secret_hash`` the
    SHA-256 of a random salt and the secret part; the secret itself is never stored."""

    __tablename__ = "tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_id: Mapped[str] = mapped_column(String(32), unique=True)
    annotator_id: Mapped[int] = mapped_column(ForeignKey("annotators.id"), index=True)
    salt: Mapped[str] = mapped_column(String(64))
    secret_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)

    annotator: Mapped[Annotator] = relationship(back_populates="tokens")


class Entry(Base):
    """A post an annotator wrote, with what they meant it to be and what the model said of it."""

    __tablename__ = "entries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("rounds.id"), index=True)
    annotator_id: Mapped[int] = mapped_column(ForeignKey("annotators.id"), index=True)
    original_id: Mapped[int | None] = mapped_column(ForeignKey("entries.id"), unique=True, nullable=True)
    text: Mapped[str] = mapped_column(Text)
    label: Mapped[str] = mapped_column(String(16))  # the label the writer means it to have
    hate_type: Mapped[str | None] = mapped_column(String(32), nullable=True)
    targets: Mapped[str | None] = mapped_column(String(300), nullable=True)
    model_label: Mapped[str] = mapped_column(String(16))
    p_hate: Mapped[float] = mapped_column(Float)
    model_wrong: Mapped[bool] = mapped_column(Boolean)  # model_label != label
    decision_rule: Mapped[str] = mapped_column(Text)  # JSON: threshold, threshold_name, temperature
    adapter_sha256: Mapped[str] = mapped_column(String(64))
    adapter_repo: Mapped[str | None] = mapped_column(String(200), nullable=True)
    adapter_commit: Mapped[str | None] = mapped_column(String(64), nullable=True)
    status: Mapped[str] = mapped_column(String(16), index=True)
    corrected_label: Mapped[str | None] = mapped_column(String(16), nullable=True)  # rejected as incorrect
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)
    settled_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)

    votes: Mapped[list[Vote]] = relationship(back_populates="entry", order_by="Vote.id")


class Vote(Base):
    """A validator's verdict on an entry: ``correct``; ``incorrect`` with the label it should have; ``flagged``
    with a reason. One per validator and entry."""

    __tablename__ = "votes"
    __table_args__ = (UniqueConstraint("entry_id", "annotator_id", name="one_vote_per_validator"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("entries.id"), index=True)
    annotator_id: Mapped[int] = mapped_column(ForeignKey("annotators.id"), index=True)
    verdict: Mapped[str] = mapped_column(String(16))
    corrected_label: Mapped[str | None] = mapped_column(String(16), nullable=True)
    reason: Mapped[str | None] = mapped_column(String(500), nullable=True)
    by_owner: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)

    entry: Mapped[Entry] = relationship(back_populates="votes")
