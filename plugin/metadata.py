"""A post's Dynahate metadata: what each column's value may be, and the rounds R1-R4 (and any later one).

The metadata columns (``acl.id``, ``round``, ``type``, ``target``, ...) reach files that are shared
and published: an ``acl.id`` is a post's id in every predictions file, ``round``, ``type`` and
``target`` name the groups of ``eval_results.json``'s breakdowns and the model card's tables. So a
value must be a code, never text that could be a post (a CSV whose columns are swapped puts posts
there): ``acl.id`` and ``acl.id.matched`` a short token (:func:`dynahate.core.describe.shown`), the
others up to 8 comma-separated codes of at most 30 letters, digits, ``.``, ``_`` or ``-`` (Dynahate's
``target`` names several groups as ``bla, wom``). ``dynahate prepare`` refuses (or, with
``--skip-invalid``, skips) a row that breaks this, and ``dynahate eval`` a metadata line.

Dynahate's rounds are ``1``, ``2a``, ``2b``, ... ``4b`` (``a``: original posts, ``b``: their
perturbations); :func:`round_group` names the round a post belongs to, ``R1`` to ``R4``, which is
how every report groups them. A round collected later (``dynahate collect``, numbered from 8: ``8a``, ``8b``) and
prepared with the release is ``R8``, ordered after ``R4`` by :func:`round_group_order`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from dynahate.core.describe import describe_value, shown

ID_COLUMNS = ("acl.id", "acl.id.matched")
CODE_COLUMNS = ("round", "round.base", "type", "target", "level")
_CODES = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,29}(?: ?, ?[A-Za-z0-9][A-Za-z0-9._-]{0,29}){0,7}")


def metadata_problem(column: str, value: object) -> str | None:
    """Why ``value`` may not be the ``column`` of a post's metadata (never showing it), or None."""
    if value is None or column not in (*ID_COLUMNS, *CODE_COLUMNS):
        return None
    if column in ID_COLUMNS:
        if shown(value):
            return None
        return f"{column} is {describe_value(value)}, expected a short id such as 'acl1'"
    if isinstance(value, str) and _CODES.fullmatch(value):
        return None
    return (f"{column} is {describe_value(value)}, expected a code such as 'wom' or '2a' (up to 8, comma-separated, "
            "of letters, digits, '.', '_' or '-')")


_GROUP = re.compile(r"[A-Za-z0-9][A-Za-z0-9._'-]{0,29}(?: [A-Za-z0-9][A-Za-z0-9._'-]{0,29}){0,2}")


def group_problem(value: object) -> str | None:
    """Why ``value`` may not name a target group (a Dynahate code such as ``wom``, or a HateCheck
    ``target_ident`` of up to three words such as ``trans people``), never showing it; or None."""
    if isinstance(value, str) and _GROUP.fullmatch(value):
        return None
    return f"a group is {describe_value(value)}, expected a code such as 'wom' or a name of up to three words"


def first_metadata_problem(meta: Mapping[str, object]) -> str | None:
    """The first column of ``meta`` whose value :func:`metadata_problem` refuses, as its message."""
    for column in (*ID_COLUMNS, *CODE_COLUMNS):
        problem = metadata_problem(column, meta.get(column))
        if problem:
            return problem
    return None


def round_group(value: str) -> str:
    """Dynahate round ``2a`` -> ``R2``; a value that does not start with a number stays as it is."""
    match = re.match(r"\d+", value)
    return f"R{int(match.group())}" if match else value


def round_group_order(name: str) -> tuple[int, str]:
    """Sort key: ``R1`` < ``R2`` < ... < ``R10``, anything else after them by name."""
    match = re.fullmatch(r"R(\d+)", name)
    return (int(match.group(1)), "") if match else (10**9, name)
