"""Annotators and their API tokens.

A token reads ``dhc_<token id>_<secret>``. It is printed once, when it is made; the database keeps its id (the
part that is listed and revoked), a random salt and the SHA-256 of salt and secret. The secret is 32 random bytes,
so a fast salted hash is enough (nothing to guess by brute force); checking compares digests in constant time.
Names and tokens are never logged.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from dynahate.collect.schema import NAME_LENGTH, Annotator, Token, utc_now
from dynahate.collect.store import Store
from dynahate.core.errors import DynahateError

PREFIX = "dhc"
_TOKEN = re.compile(rf"{PREFIX}_([0-9a-f]{{12}})_([A-Za-z0-9_-]{{43}})")
_NAME = re.compile(rf"[A-Za-z0-9][A-Za-z0-9._-]{{0,{NAME_LENGTH - 1}}}")


@dataclass(frozen=True)
class Caller:
    """Who an API request comes from."""

    annotator_id: int
    name: str
    is_owner: bool
    token_id: str


@dataclass(frozen=True)
class TokenRow:
    token_id: str
    annotator: str
    is_owner: bool
    created_at: datetime
    revoked_at: datetime | None


def annotator_name(text: str) -> str:
    """An annotator's name: letters, digits, ``.``, ``_``, ``-``, at most 64 (it is shown to the owner and in
    figures; validators never see who wrote an entry)."""
    if not _NAME.fullmatch(text):
        raise DynahateError(f"annotator name must be 1 to {NAME_LENGTH} letters, digits, '.', '_' or '-', "
                            "starting with a letter or digit")
    return text


def _digest(salt: str, secret: str) -> str:
    return hashlib.sha256(f"{salt}:{secret}".encode()).hexdigest()


def _new_token(session, annotator: Annotator) -> str:
    token_id, secret, salt = secrets.token_hex(6), secrets.token_urlsafe(32), secrets.token_hex(16)
    session.add(Token(token_id=token_id, annotator=annotator, salt=salt, secret_hash=_digest(salt, secret)))
    return f"{PREFIX}_{token_id}_{secret}"


def add_annotator(store: Store, name: str, *, owner: bool = False, new_token: bool = False) -> str:
    """Add annotator ``name`` (an owner when ``owner``) with a token, or (``new_token``) give an existing
    annotator another token; returns the token, which is not stored."""
    name = annotator_name(name)
    try:
        with store.transaction() as session:
            annotator = session.scalars(select(Annotator).where(Annotator.name == name)).one_or_none()
            if annotator is None:
                if new_token:
                    raise DynahateError(f"no annotator {name!r}; add them without --new-token")
                annotator = Annotator(name=name, is_owner=owner)
                session.add(annotator)
            elif not new_token:
                raise DynahateError(f"annotator {name!r} exists; --new-token gives them another token")
            elif owner and not annotator.is_owner:
                raise DynahateError(f"annotator {name!r} exists and is not an owner; --owner applies to a new "
                                    "annotator only")
            return _new_token(session, annotator)
    except IntegrityError:  # the same name added at the same moment by another process
        raise DynahateError(f"annotator {name!r} exists; --new-token gives them another token") from None


def list_tokens(store: Store) -> list[TokenRow]:
    with store.reading() as session:
        rows = session.execute(select(Token, Annotator).join(Annotator).order_by(Token.id)).all()
        return [TokenRow(token.token_id, annotator.name, annotator.is_owner, token.created_at, token.revoked_at)
                for token, annotator in rows]


def revoke_token(store: Store, token_id: str) -> TokenRow:
    """Revoke the token whose id is ``token_id`` (the id alone, or the whole token); at once, for every server."""
    match = _TOKEN.fullmatch(token_id)
    token_id = match.group(1) if match else token_id
    with store.transaction() as session:
        token = session.scalars(select(Token).where(Token.token_id == token_id)).one_or_none()
        if token is None:
            raise DynahateError(f"no token with id {token_id[:12]!r}; `dynahate collect tokens` lists them")
        if token.revoked_at is None:
            token.revoked_at = utc_now()
        return TokenRow(token.token_id, token.annotator.name, token.annotator.is_owner, token.created_at,
                        token.revoked_at)


class NotAuthorised(Exception):
    """No token, a malformed or unknown one, or a revoked one: the reason, never the token."""


def authenticate(store: Store, authorization: str | None) -> Caller:
    """The caller of an ``Authorization: Bearer TOKEN`` header, or :class:`NotAuthorised`."""
    scheme, _, token = (authorization or "").partition(" ")
    if not authorization or scheme.lower() != "bearer":
        raise NotAuthorised("no token: send 'Authorization: Bearer TOKEN' (`dynahate collect add-annotator` "
                            "makes one)")
    match = _TOKEN.fullmatch(token.strip())
    if match is None:
        raise NotAuthorised("not a collect token (they read dhc_...)")
    token_id, secret = match.groups()
    with store.reading() as session:
        row = session.execute(select(Token, Annotator).join(Annotator).where(Token.token_id == token_id)).first()
    if row is None or not hmac.compare_digest(row[0].secret_hash, _digest(row[0].salt, secret)):
        raise NotAuthorised("unknown token")
    token_row, annotator = row
    if token_row.revoked_at is not None:
        raise NotAuthorised("this token was revoked; ask an owner for a new one")
    return Caller(annotator.id, annotator.name, annotator.is_owner, token_row.token_id)
