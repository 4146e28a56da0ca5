"""The HTTP app of ``dynahate collect serve``: the page, the collect API and the model in the loop, in one process.

Routes (every ``/api/...`` one needs ``Authorization: Bearer TOKEN``, a token of ``collect add-annotator``):

- ``GET /health`` (open): the round, its validation rule, the adapter and the limits;
- ``GET /api/me``: who the token belongs to;
- ``POST /api/entries``: write a post (``text``, ``label``; for hate its ``type`` and ``targets``; for a
  perturbation ``original_id``); answered 201 with the stored entry and the model's label and ``p_hate``;
- ``GET /api/entries``: the caller's entries (an owner's: everyone's), newest first;
- ``GET /api/queue``: entries the caller may validate (not their own, not voted on), without the writer's name;
- ``POST /api/entries/{id}/votes``: ``correct``, ``incorrect`` with ``corrected_label``, or ``flagged`` with a
  ``reason``; answered with the entry's status;
- ``GET /api/stats``: the figures (:mod:`dynahate.collect.stats`); a non-owner sees the rounds' totals and their
  own row;
- ``GET /``, ``/collect.js``, ``/collect.css``: the page, with ``dynahate serve``'s Content-Security-Policy.

In front of every ``/api/`` route, in this order: the token (401) and the per-token rate limit (429 with
``Retry-After``) (:mod:`dynahate.collect.token_check`), before the body is read; then ``dynahate serve``'s middleware
(:class:`dynahate.serve.middleware.ServeMiddleware`: body size, UTF-8, ``--request-timeout``, clients that leave);
then the body's fields (422) and the post rule (413, 422). Once an entry or vote is about to be stored, the request
is held (:meth:`dynahate.serve.guard.RequestGuard.hold`): its answer is sent even if the deadline passes meanwhile,
so a 503 always means nothing was stored. Every error is ``{"error": "<one line>"}``
that never quotes a post or a token. The database work runs on threads, off the event loop; an entry or vote is
committed before its answer is sent.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from fastapi import Depends, Request
from pydantic import BaseModel, Field

from dynahate.collect.entries import NewEntry, Refused, RoundInfo
from dynahate.collect.model_in_loop import ModelInLoop
from dynahate.collect.rate_limit import RateLimit
from dynahate.collect.schema import HATE_TYPES
from dynahate.collect.store import Store
from dynahate.collect.tokens import Caller
from dynahate.core import __version__
from dynahate.plugin.labels import HATE, LABELS

MAX_TARGETS = 8
PAGE_ASSETS = {
    "/": ("page.html", "text/html; charset=utf-8"),
    "/collect.js": ("page.js", "text/javascript; charset=utf-8"),
    "/collect.css": ("page.css", "text/css; charset=utf-8"),
}


# FastAPI reads the endpoints' annotations by name: the bodies and Request must be module-level.
# (the Literals are HATE_TYPES, VERDICTS and LABELS, which tests/collect/test_app.py holds them to)
class EntryRequest(BaseModel):
    text: str
    label: Literal["hate", "not hate"]
    type: Literal["animosity", "derogation", "dehumanization", "threatening", "support"] | None = None
    targets: list[str] = Field(default_factory=list)
    original_id: int | None = None
    round: str | None = None  # if given, must be the round this server collects


class VoteRequest(BaseModel):
    verdict: Literal["correct", "incorrect", "flagged"]
    corrected_label: Literal["hate", "not hate"] | None = None
    reason: str | None = Field(default=None, max_length=500)


@dataclass(frozen=True)
class CollectConfig:
    round: RoundInfo
    max_body_bytes: int = 1 << 16
    request_timeout_s: float = 60.0
    rate_per_minute: int = 120
    page: bool = True


def _targets(values: list[str]) -> tuple[str, ...]:
    from dynahate.plugin.metadata import metadata_problem

    if len(values) > MAX_TARGETS:
        raise Refused(422, f"{len(values)} targets; at most {MAX_TARGETS}")
    codes = tuple(dict.fromkeys(value.strip() for value in values))
    for index, code in enumerate(codes):
        problem = metadata_problem("target", code) if code and "," not in code else "target is not one code"
        if problem:
            raise Refused(422, f"targets[{index}]: {problem}")
    return codes


def create_collect_app(store: Store, model: ModelInLoop, config: CollectConfig):
    from fastapi import FastAPI
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse
    from starlette.concurrency import run_in_threadpool
    from starlette.exceptions import HTTPException
    from starlette.middleware import Middleware

    from dynahate.collect import entries, stats
    from dynahate.collect.token_check import TokenCheck
    from dynahate.serve.classify_batcher import QueueFull
    from dynahate.serve.guard import DropCounts, ServeError, current_guard
    from dynahate.serve.middleware import ServeMiddleware
    from dynahate.serve.page import add_page_routes

    drops = DropCounts()
    # outermost first: the token and its rate limit, then serve's checks on the body and the deadline
    app = FastAPI(title="dynahate collect", version=__version__, docs_url=None, redoc_url=None, openapi_url=None,
                  middleware=[Middleware(TokenCheck, store=store, limit=RateLimit(config.rate_per_minute)),
                              Middleware(ServeMiddleware, api_key=None, max_body_bytes=config.max_body_bytes,
                                         request_timeout_s=config.request_timeout_s, drops=drops)])

    def error(status: int, message: str, headers: Mapping[str, str] | None = None) -> JSONResponse:
        return JSONResponse(status_code=status, content={"error": message}, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_body(request: Request, exc: RequestValidationError):
        first = exc.errors()[0] if exc.errors() else {}
        if first.get("type") == "json_invalid":
            return error(422, "the request body is not valid JSON")
        where = ".".join(str(part) for part in first.get("loc", ()) if part != "body")
        return error(422, f"invalid request at {where or 'body'}: {first.get('msg', 'malformed')}")

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException):
        return error(422 if exc.status_code == 400 else exc.status_code, str(exc.detail), exc.headers)

    @app.exception_handler(ServeError)
    async def serve_error(request: Request, exc: ServeError):
        return error(exc.status, exc.message, exc.headers)

    @app.exception_handler(Refused)
    async def refused(request: Request, exc: Refused):
        return error(exc.status, exc.message)

    async def caller_of(request: Request) -> Caller:
        return request.state.caller  # set by TokenCheck, in front of every /api/ route

    def hold() -> None:
        """The entry or vote is stored next: the request is finished and answered from now on (never a 503 for
        work that was done); refused if its client has gone or its deadline passed already."""
        guard = current_guard.get()
        if guard is not None:
            guard.hold()

    # every /api route takes its caller from this dependency (TokenCheck checked the token before the body was read)
    authenticated = Depends(caller_of)

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "version": __version__, "round": config.round.name,
                "votes_needed": config.round.votes_needed, "validate_all": config.round.validate_all,
                "labels": list(LABELS), "types": list(HATE_TYPES), **model.describe(),
                "limits": {"max_text_chars": model.checks.max_text_chars, "cutoff_len": model.checks.cutoff_len,
                           "max_body_bytes": config.max_body_bytes, "rate_per_minute": config.rate_per_minute,
                           "max_targets": MAX_TARGETS}}

    @app.get("/api/me")
    async def me(caller: Caller = authenticated) -> dict[str, Any]:
        return {"name": caller.name, "owner": caller.is_owner, "token_id": caller.token_id,
                "round": config.round.name}

    @app.post("/api/entries", status_code=201)
    async def write(body: EntryRequest, caller: Caller = authenticated):
        if body.round is not None and body.round != config.round.name:
            known = await run_in_threadpool(entries.round_names, store)
            if body.round not in known:
                raise Refused(404, "unknown round: no round of that name in this database")
            raise Refused(409, f"this server collects round {config.round.name!r}, not the round named in the "
                               "request")
        if body.label == HATE and body.type is None:
            raise Refused(422, f"a hateful entry names its type: one of {', '.join(HATE_TYPES)}")
        if body.label != HATE and body.type is not None:
            raise Refused(422, "only a hateful entry has a type")
        new = NewEntry(body.text, body.label, body.type, _targets(body.targets), body.original_id)
        guard = current_guard.get()
        length = await model.check(body.text, guard)
        await run_in_threadpool(entries.check_perturbation, store, caller, config.round, new)
        try:
            answer = await model.answer(body.text, length, guard)
        except QueueFull as full:
            raise ServeError(429, f"the model's queue is full; retry after {full.retry_after_s} s",
                             {"Retry-After": str(full.retry_after_s)}) from None
        hold()
        entry = await run_in_threadpool(entries.add_entry, store, caller, config.round, new, answer)
        return entries.entry_view(entry, round_name=config.round.name,
                                  writer=caller.name if caller.is_owner else None)

    @app.get("/api/entries")
    async def mine(round: str | None = None, limit: int = 100, offset: int = 0,
                   caller: Caller = authenticated):
        if not (1 <= limit <= 1000 and offset >= 0):
            raise Refused(422, "limit is 1 to 1000 and offset at least 0")
        return {"entries": await run_in_threadpool(entries.list_entries, store, caller, round,
                                                   limit, offset)}

    @app.get("/api/queue")
    async def queue(round: str | None = None, limit: int = 20, caller: Caller = authenticated):
        if not 1 <= limit <= 200:
            raise Refused(422, "limit is 1 to 200")
        return {"entries": await run_in_threadpool(entries.validation_queue, store, caller, round,
                                                   limit)}

    @app.post("/api/entries/{entry_id}/votes", status_code=201)
    async def vote(entry_id: int, body: VoteRequest, caller: Caller = authenticated):
        hold()
        return await run_in_threadpool(entries.add_vote, store, caller, entry_id, body.verdict,
                                       body.corrected_label, body.reason)

    @app.get("/api/stats")
    async def figures(round: str | None = None, caller: Caller = authenticated):
        rounds = await run_in_threadpool(stats.collect_figures, store, round)
        return stats.figures_json(rounds, None if caller.is_owner else caller.name)

    if config.page:
        add_page_routes(app, PAGE_ASSETS, "dynahate.collect")
    return app
