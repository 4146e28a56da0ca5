"""Naming a value in a message without showing it: a post must never reach a log, an error or a report.

- Field values (a bad label, an ``acl.id``, a header name) are shown only when they are
  :func:`shown`: a single short token such as ``'offensive'`` or ``'acl123'``. Anything else could
  be a post (a swapped column, a file without its header row) and is described by its length.
- A value read from a JSON file is named by :func:`describe_json`: its number, ``true``, ``false``
  or ``null`` as written, a string as above, an array or an object by its kind alone.
- A post is identified by :func:`text_sha1`, its SHA-1, never by its text.
- An exception from a library is reduced to :func:`first_line`; one logged with its traceback is
  :func:`describe_exception` (its type and frames, never its message).
"""

from __future__ import annotations

import hashlib
import json
import re
import traceback
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import cast

_SHOWN = re.compile(r"[A-Za-z0-9._-]{1,20}")
_HTTP_STATUS = re.compile(r"\d{3} (Client|Server) Error\.?")


def shown(value: object) -> str | None:
    """``repr(value)`` when it may appear in a message (a single token of at most 20 characters of
    ASCII letters, digits, ``.``, ``_``, ``-``), otherwise None."""
    if isinstance(value, str) and _SHOWN.fullmatch(value):
        return repr(value)
    return None


def describe_value(value: object) -> str:
    """The value itself when :func:`shown`, else what it is without its content."""
    if value is None:
        return "no value"
    if not isinstance(value, str):
        return f"a value of type {type(value).__name__}"
    if value == "":
        return "an empty value"
    return shown(value) or f"{_article(len(value))} {len(value)}-character value, not shown as it may be a post"


def describe_json(value: object) -> str:
    """A value read from a JSON file, for a message: null, a boolean or a number as JSON writes it, a string as
    ``the string 'x'`` when :func:`shown` (else as :func:`describe_value` describes it), an array or an object by its
    kind alone (it may hold a post)."""
    if value is None or isinstance(value, (bool, int, float)):
        return json.dumps(value)
    if isinstance(value, str):
        return f"the string {shown(value)}" if shown(value) else describe_value(value)
    return f"a JSON {'array' if isinstance(value, list) else 'object'}"


def _article(number: int) -> str:
    """The article before a number said aloud: "an" for 8, 11, 18, 80-89, 800-899, 8000..., else "a"."""
    digits = str(number)
    spoken_with_vowel = digits.startswith("8") or (digits.startswith(("11", "18")) and len(digits) % 3 == 2)
    return "an" if spoken_with_vowel else "a"


def describe_names(names: Iterable[str]) -> str:
    """Header names for a message: those that are :func:`shown`, and how many are not."""
    names = list(names)
    visible = [name for name in names if shown(name)]
    hidden = len(names) - len(visible)
    if hidden:
        visible.append(f"{hidden} {'more ' if visible else ''}not shown (not a short name: it may be a post)")
    return ", ".join(visible) or "none"


def duplicated(names: Iterable[str]) -> list[str]:
    """Names that occur more than once, in order of first occurrence."""
    counts = Counter(names)
    return [name for name in counts if counts[name] > 1]


def text_sha1(text: str) -> str:
    """The SHA-1 of a post's UTF-8 text: how the metadata sidecar names a post without holding it."""
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


def first_line(exc: BaseException) -> str:
    """An exception in one line: its first non-blank line, prefixed with its type unless it already names it.

    An HTTP error whose first line is only its status (``404 Client Error.``) keeps the next line too.
    """
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    if not lines:
        return type(exc).__name__
    first = lines[0]
    if _HTTP_STATUS.fullmatch(first) and len(lines) > 1:
        first = f"{first} {lines[1]}"
    return f"{type(exc).__name__}: {first}" if not first.startswith(type(exc).__name__) else first


def _type_name(exc: BaseException) -> str:
    kind = type(exc)
    return kind.__qualname__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__qualname__}"


def _members(error: BaseException) -> tuple[BaseException, ...]:
    """A group's sub-exceptions (a task group's failures: anyio, streamed answers); none for any other exception."""
    return cast("BaseExceptionGroup[BaseException]", error).exceptions if isinstance(error, BaseExceptionGroup) else ()


def _traceback_lines(exc: BaseException, outer: frozenset[int] = frozenset()) -> list[str]:
    chain: list[BaseException] = []
    current: BaseException | None = exc
    seen = set(outer)  # ``outer``: the groups this one is in (no endless loop)
    while current is not None and id(current) not in seen:  # as Python prints it: the cause first
        seen.add(id(current))
        chain.append(current)
        current = current.__cause__ or (None if current.__suppress_context__ else current.__context__)
    lines: list[str] = []
    for index, error in enumerate(reversed(chain)):
        if index:
            lines.append("which led to:")
        lines.append("Traceback (most recent call last):")
        lines += [line.rstrip("\n") for line in traceback.format_list(traceback.extract_tb(error.__traceback__))]
        lines.append(f"{_type_name(error)}: <message not logged>")
        members = _members(error)
        for number, member in enumerate(members, 1):
            lines.append(f"  sub-exception {number} of {len(members)}:")
            lines += [f"    {line}" for line in _traceback_lines(member, outer | {id(error)})]
    return lines


def describe_exception(exc: BaseException) -> str:
    """``exc``'s type, where it was raised and its traceback (causes and a group's members included), never a
    message.

    An exception's message (and its notes) may quote a post, so they are left out; the traceback's frames
    show the program's own lines, file and line number. The first line is a summary:
    ``RuntimeError raised at score_engine.py:123 in score`` (a group's first member's).
    """
    leaf: BaseException = exc
    while _members(leaf):
        leaf = _members(leaf)[0]
    frames = traceback.extract_tb(leaf.__traceback__)
    where = f" raised at {Path(frames[-1].filename).name}:{frames[-1].lineno} in {frames[-1].name}" if frames else ""
    group = f" (the first of the {_type_name(exc)})" if leaf is not exc else ""
    summary = f"{_type_name(leaf)}{where}{group} (its message is not logged: it may quote a post)"
    return "\n".join([summary, *_traceback_lines(exc)])
