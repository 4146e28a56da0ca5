"""Naming a value in a message without showing it: a post must never reach a log, an error or a report.

- Field values (a bad label, an ``acl.id``, a header name) are shown only when they are
  :func:`shown`: a single short token such as ``'offensive'`` or ``'acl123'``. Anything else could
  be a post (a swapped column, a file without its header row) and is described by its length.
- A post is identified by :func:`text_sha1`, its SHA-1, never by its text.
- An exception from a library is reduced to :func:`first_line`.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Iterable

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
