"""The fingerprint of an evaluated set of posts: two evaluations of the same posts have the same one.

``eval_results.json`` records it for each split as ``fingerprint``::

    {"of": "posts", "count": 4120, "sha256": "…", "ids_sha256": "…", "source_git_blob_sha1": "…" or null}

``sha256`` is the SHA-256 of the lines ``<id>\\t<SHA-256 of the post's UTF-8 text>\\n``, sorted by
id: it changes when any post's text changes (another data version, data prepared with
``--normalize-text``), when a post is added or removed, or when an id names another post, and not
when the same posts come in another order (``dynahate compare`` joins posts by id).
``ids_sha256`` (:func:`ids_sha256`) is the SHA-256 of the sorted lines ``<id>\\n`` alone: with
``count`` it is what a predictions file, which holds ids but no posts, can be checked against
(``dynahate compare`` does; results written before ``ids_sha256`` was recorded are checked by count).
``source_git_blob_sha1`` is the git blob id of the file the posts came from, when it is known: the
Dynahate CSV named by ``prepare_report.json`` beside a prepared split, or the HateCheck CSV.
For LLaMA-Factory's ``generated_predictions.jsonl`` (``eval --predictions``), which holds prompts
but not posts, the fingerprint is of the prompts (``"of": "prompts"``), ids being line numbers.
No post is held: only hashes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

from dynahate.core.errors import DynahateError
from dynahate.core.json_io import read_json
from dynahate.plugin.eval_record import Fingerprint

PREPARE_REPORT = "prepare_report.json"


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _sorted_lines_sha256(lines: Iterable[str]) -> str:
    digest = hashlib.sha256()
    for line in sorted(lines):
        digest.update(line.encode("utf-8", "surrogatepass"))
    return digest.hexdigest()


def fingerprint(items: Iterable[tuple[Any, str]], *, of: Literal["posts", "prompts"] = "posts",
                source_git_blob_sha1: str | None = None) -> Fingerprint:
    """The fingerprint of ``(id, text)`` pairs (see the module's docstring)."""
    items = list(items)
    return {"of": of, "count": len(items),
            "sha256": _sorted_lines_sha256(f"{post_id}\t{_sha256(text)}\n" for post_id, text in items),
            "ids_sha256": ids_sha256(post_id for post_id, _ in items), "source_git_blob_sha1": source_git_blob_sha1}


def ids_sha256(ids: Iterable[Any]) -> str:
    """The SHA-256 of the sorted lines ``<id>\\n``: a fingerprint's ``ids_sha256``, from ids alone."""
    return _sorted_lines_sha256(f"{post_id}\n" for post_id in ids)


def prepared_source_blob(split_file: Path) -> str | None:
    """The Dynahate CSV's git blob id, from the ``prepare_report.json`` beside ``split_file`` when that
    report wrote a file of this name; None otherwise (a hand-made split, or a report that does not say)."""
    report_path = split_file.parent / PREPARE_REPORT
    if not report_path.is_file():
        return None
    try:
        report = read_json(report_path, "dynahate prepare's report")
    except DynahateError:  # an unreadable report only costs the blob id, which is informative
        return None
    written = report.get("written") if isinstance(report, dict) else None
    if not isinstance(written, dict):
        return None
    names = {Path(entry["file"]).name for entry in written.values()
             if isinstance(entry, dict) and isinstance(entry.get("file"), str)}
    source = report.get("source")
    blob = source.get("git_blob_sha1") if isinstance(source, dict) else None
    return blob if split_file.name in names and isinstance(blob, str) else None


def same_posts(a: dict[str, Any] | None, b: dict[str, Any] | None) -> bool | None:
    """True or False when both fingerprints are of the same kind; None when either is missing (results
    written before fingerprints were recorded) or they are of different kinds (posts vs prompts)."""
    if not isinstance(a, dict) or not isinstance(b, dict) or a.get("of") != b.get("of"):
        return None
    return a.get("sha256") == b.get("sha256") and a.get("count") == b.get("count")
