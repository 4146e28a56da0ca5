"""Edit the top-level members of a JSON object's *text* without reformatting the rest.

``dataset_info.json`` files are hand-maintained; rewriting them with ``json.dump`` would change
every other entry's layout. These helpers find where each top-level value sits in the text and
splice new or replacement values in, in the file's own indentation.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from json import decoder as _json_decoder
from typing import Any, cast

# typeshed does not declare json.decoder.scanstring (the decoder's own string scanner, public since Python 2.6)
scanstring = cast(Callable[[str, int], tuple[str, int]], _json_decoder.scanstring)  # pyright: ignore[reportAttributeAccessIssue]

_WS = re.compile(r"\s*")


@dataclass(frozen=True)
class Member:
    key: str
    value: Any
    start: int  # offset of the key's opening quote
    value_start: int
    value_end: int


class JsonShapeError(ValueError):
    """The text is not a JSON object (message carries line and column)."""


def _skip(text: str, pos: int) -> int:
    match = _WS.match(text, pos)
    assert match is not None  # \s* matches at every position
    return match.end()


def _fail(text: str, pos: int, what: str) -> JsonShapeError:
    line = text.count("\n", 0, pos) + 1
    column = pos - (text.rfind("\n", 0, pos) + 1) + 1
    return JsonShapeError(f"{what} at line {line} column {column}")


def parse_members(text: str) -> tuple[list[Member], int, int]:
    """Members of the top-level object, the offset of ``{`` and of the closing ``}``."""
    decoder = json.JSONDecoder()
    pos = _skip(text, 0)
    if not text.startswith("{", pos):
        raise _fail(text, pos, "expected a JSON object '{'")
    open_at, pos = pos, _skip(text, pos + 1)
    members: list[Member] = []
    while True:
        if text.startswith("}", pos):
            if _skip(text, pos + 1) != len(text):
                raise _fail(text, _skip(text, pos + 1), "unexpected text after the object")
            return members, open_at, pos
        if members:
            if not text.startswith(",", pos):
                raise _fail(text, pos, "expected ',' or '}'")
            pos = _skip(text, pos + 1)
        if not text.startswith('"', pos):
            raise _fail(text, pos, "expected a key string")
        start = pos
        try:
            key, pos = scanstring(text, pos + 1)
            pos = _skip(text, pos)
            if not text.startswith(":", pos):
                raise _fail(text, pos, "expected ':'")
            value_start = _skip(text, pos + 1)
            value, value_end = decoder.raw_decode(text, value_start)
        except json.JSONDecodeError as exc:
            raise _fail(text, exc.pos, exc.msg) from None
        members.append(Member(key, value, start, value_start, value_end))
        pos = _skip(text, value_end)


def _indent_of(text: str, members: list[Member]) -> str | None:
    """The whitespace before the first key on its line; None for a one-line object."""
    if not members:
        return "  "
    line_start = text.rfind("\n", 0, members[0].start)
    if line_start == -1:
        return None
    return text[line_start + 1 : members[0].start]


def _render(value: Any, indent: str | None) -> str:
    if indent is None:
        return json.dumps(value, ensure_ascii=False)
    # The member indent doubles as the unit of nesting (2 spaces, 4 spaces or a tab).
    return json.dumps(value, indent=indent or "  ", ensure_ascii=False).replace("\n", "\n" + indent)


def set_members(text: str, updates: dict[str, Any]) -> str:
    """Return ``text`` with each key of ``updates`` replaced in place or appended at the end."""
    members, _, close_at = parse_members(text)
    indent = _indent_of(text, members)
    by_key = {m.key: m for m in members}
    # Replace existing values back to front so earlier offsets stay valid.
    for member in sorted((by_key[k] for k in updates if k in by_key), key=lambda m: m.start, reverse=True):
        text = text[: member.value_start] + _render(updates[member.key], indent) + text[member.value_end :]
    new_keys = [k for k in updates if k not in by_key]
    if not new_keys:
        return text
    members, open_at, close_at = parse_members(text)
    sep = ",\n" + indent if indent is not None else ", "
    added = sep.join(f"{json.dumps(k)}: {_render(updates[k], indent)}" for k in new_keys)
    if members:
        insert_at = members[-1].value_end
        return text[:insert_at] + sep + added + text[insert_at:]
    closing = "\n" if indent is not None else ""
    lead = "\n" + indent if indent is not None else ""
    return text[: open_at + 1] + lead + added + closing + text[close_at:]
