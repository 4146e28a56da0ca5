"""Load an evaluation split: the prepared JSONL, its gold labels, and its metadata sidecar.

A split is a prepared file (``data/dynahate_dev.jsonl``) or any JSONL with ``input`` and
``output``; it is named by its file stem. When ``NAME.meta.jsonl`` sits beside it (written by
``dynahate prepare``), each metadata line is joined to the record on the same line after
checking ``input_sha1``, so a stale or reordered sidecar is an error, not a silent mismatch, an
``acl.id`` naming two posts or an ``acl.id.matched`` naming its own post is an error (the id is the
post's id in the predictions file; a pair is two posts), and each value is checked against
:mod:`dynahate.plugin.metadata` (codes and short ids only: they reach the results, the predictions
files and the model card).
Posts follow :func:`dynahate.plugin.post_rule.post_problem` (a whitespace-only ``input`` is
refused, naming file and line). Several files are loaded with :func:`load_splits`, which refuses
two files with the same stem (their outputs would overwrite each other).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from dynahate.core.describe import describe_value, text_sha1
from dynahate.core.errors import DynahateError
from dynahate.core.json_io import iter_jsonl
from dynahate.core.text_files import refuse_special_file
from dynahate.eval.fingerprint import prepared_source_blob
from dynahate.plugin import prompts
from dynahate.plugin.labels import LABELS, normalize_gold
from dynahate.plugin.metadata import first_metadata_problem
from dynahate.plugin.post_rule import post_problem
from dynahate.plugin.splits import meta_file


@dataclass(frozen=True)
class EvalExample:
    id: str  # acl.id when metadata is present, else "<split>-<line>"
    post: str
    gold: str  # "hate" or "not hate"
    meta: dict[str, Any] | None = None
    line: int = 0  # its line in the split's file

    def where(self, path: Path) -> str:
        """``file:line``, with the ``acl.id`` when metadata names it (never the post)."""
        acl_id = self.meta.get("acl.id") if self.meta else None
        return f"{path}:{self.line}" + (f" (acl.id {acl_id})" if acl_id else "")


@dataclass(frozen=True)
class EvalSplit:
    name: str
    path: Path
    examples: list[EvalExample]
    source_blob: str | None = None  # the git blob id of the CSV the posts came from, when known

    @property
    def has_meta(self) -> bool:
        return bool(self.examples) and self.examples[0].meta is not None


def _check_prompt_fields(path: Path, line: int, record: dict[str, Any]) -> None:
    for key, expected in (("instruction", prompts.INSTRUCTION), ("system", prompts.SYSTEM_PROMPT)):
        if key in record and record[key] != expected:
            raise DynahateError(
                f"{path}:{line}: {key!r} differs from the Dynahate prompt the adapter was trained with; "
                "evaluation always builds the training prompt"
            )


def load_split(path: str | Path, name: str | None = None) -> EvalSplit:
    """Read and validate a split; every problem names the file and line."""
    path = Path(path)
    name = name or path.stem
    rows: list[tuple[int, str, str]] = []
    for line, record in iter_jsonl(path):
        for key in ("input", "output"):
            if key not in record:
                raise DynahateError(f"{path}:{line}: missing key {key!r}")
        post, output = record["input"], record["output"]
        gold = normalize_gold(output) if isinstance(output, str) else None  # a list or an object is no label
        problem = post_problem(post)
        if problem:
            raise DynahateError(f"{path}:{line}: 'input' {problem}")
        if gold is None:
            raise DynahateError(
                f"{path}:{line}: gold label is {describe_value(output)}, expected one of "
                f"{', '.join(map(repr, LABELS))} (key 'output')"
            )
        _check_prompt_fields(path, line, record)
        rows.append((line, post, gold))
    if not rows:
        raise DynahateError(f"{path}: no examples (empty split)")
    metas = _load_meta(path, rows)
    examples = [
        EvalExample(
            id=cast(str, meta.get("acl.id") if meta and meta.get("acl.id") else f"{name}-{line}"),
            post=post,
            gold=gold,
            meta=meta,
            line=line,
        )
        for (line, post, gold), meta in zip(rows, metas, strict=False)
    ]
    return EvalSplit(name, path, examples, prepared_source_blob(path))


def load_splits(paths: list[Path]) -> list[EvalSplit]:
    """Several files, each named by its stem; two files with one stem are refused before any is read."""
    seen: dict[str, Path] = {}
    for path in paths:
        if path.stem in seen:
            raise DynahateError(f"--data {seen[path.stem]} and {path} are both named {path.stem!r} (a split is named "
                                "by its file stem, and their outputs would overwrite each other); rename one")
        seen[path.stem] = path
    return [load_split(path) for path in paths]


def _load_meta(path: Path, rows: list[tuple[int, str, str]]) -> list[dict[str, Any] | None]:
    sidecar = meta_file(path)
    refuse_special_file(sidecar, "expected the split's metadata sidecar, a JSONL file")
    if not sidecar.is_file():
        return [None] * len(rows)
    metas = [meta for _, meta in iter_jsonl(sidecar)]
    if len(metas) != len(rows):
        raise DynahateError(
            f"{sidecar}: {len(metas)} lines for {len(rows)} records in {path.name}; re-run `dynahate prepare`"
        )
    index_of_id: dict[Any, int] = {}
    for index, ((line, post, _), meta) in enumerate(zip(rows, metas, strict=False), start=1):
        if meta.get("input_sha1") != text_sha1(post):
            raise DynahateError(
                f"{sidecar}:{index}: does not belong to {path.name} line {line} (input_sha1 differs); "
                "re-run `dynahate prepare`"
            )
        problem = first_metadata_problem(meta)
        if problem:
            raise DynahateError(f"{sidecar}:{index}: {problem}; re-run `dynahate prepare`")
        acl_id = meta.get("acl.id")
        if acl_id and acl_id in index_of_id:  # a post's id in the predictions file: compare joins on it
            raise DynahateError(f"{sidecar}: lines {index_of_id[acl_id]} and {index}: acl.id {acl_id!r} names two "
                                "posts; re-run `dynahate prepare`")
        if acl_id and meta.get("acl.id.matched") == acl_id:  # else contrast consistency would count it as a pair
            raise DynahateError(f"{sidecar}:{index}: acl.id.matched names the post's own acl.id {acl_id!r}; "
                                "re-run `dynahate prepare`")
        index_of_id[acl_id] = index
    return cast("list[dict[str, Any] | None]", metas)
