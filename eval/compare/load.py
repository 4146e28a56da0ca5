"""Read two evaluations for ``dynahate compare``: their records, their predictions files, each line checked.

An evaluation is a folder ``dynahate eval`` (and ``dynahate hatecheck``) wrote, or its ``eval_results.json``
(read and checked by the record's one reader, :func:`dynahate.plugin.eval_record.read_record`): each split there has
``<split>_predictions.jsonl`` beside it, read by :meth:`Evaluation.predictions` into one :class:`Post` per id. Labels
are read through :func:`dynahate.plugin.labels.normalize_gold`, so ``nothate`` and ``not hate`` are one label; a
``null`` prediction (an invalid generated answer) is :data:`INVALID`.

Refused, one line each (:class:`DynahateError`), before anything is computed: no ``eval_results.json`` of
dynahate's, a predictions file missing (saying whether ``eval_results.json`` records it), not a regular file, or a
link out of its folder, a line without an id, gold or pred or with a label that is not one, an id twice in one
file, and a file that does not hold the posts its split's fingerprint records (their ``count``, and their ids when
it records ``ids_sha256``: a predictions file holds no post, so only these can be checked against it). Ids are
``acl.id`` / ``case_id`` values and are shown only when they are short tokens; a line's ``round`` must be a code and
its ``functionality`` a short token (they name the table's rows); no message holds a post's text. Joining the two
and computing the comparison is :mod:`dynahate.eval.compare.comparison`'s job.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from dynahate.core.describe import describe_json, describe_value, shown
from dynahate.core.errors import DynahateError
from dynahate.core.json_io import iter_jsonl
from dynahate.eval.artifacts import METRICS_NAME, TRAINER_RESULTS_NAME, check_evaluation_file, predictions_file
from dynahate.eval.compare.paired_stats import (
    INVALID,
)
from dynahate.eval.fingerprint import ids_sha256
from dynahate.eval.hatecheck.results import SPLIT_NAME as HATECHECK
from dynahate.plugin.eval_record import RESULTS_NAME, SplitResults, read_record
from dynahate.plugin.labels import LABELS, normalize_gold
from dynahate.plugin.metadata import group_problem, metadata_problem

SHOWN_IDS = 3
ADAPTER_KEYS = ("repo_id", "commit", "sha256", "base_model", "path")


@dataclass
class Post:
    gold: int
    pred: int  # INVALID for null
    round: str | None
    functionality: str | None
    matched: str | None = None  # the id of its perturbation pair in the split
    groups: tuple[str, ...] | None = None  # its target groups
    p_hate: float | None = None


@dataclass
class SplitPredictions:
    path: Path
    posts: dict[Any, Post]  # id -> post, in file order
    results: SplitResults


@dataclass
class Evaluation:
    folder: Path
    results_path: Path
    results: dict[str, SplitResults]
    _loaded: dict[str, SplitPredictions] = field(default_factory=dict)

    @property
    def name(self) -> str:
        """The adapter's Hub repo id when a split records one, else the folder's name."""
        for res in self.results.values():
            adapter = res.get("adapter")
            if isinstance(adapter, dict) and (repo_id := adapter.get("repo_id")):
                return str(repo_id)
        return self.folder.resolve().name

    def adapter(self, split: str) -> dict[str, Any] | None:
        adapter = cast("dict[str, Any] | None", self.results[split].get("adapter"))
        if not isinstance(adapter, dict):
            return None
        return {key: adapter[key] for key in ADAPTER_KEYS if adapter.get(key) is not None}

    def recorded_files(self) -> list[Path]:
        """Every file this evaluation records: its results and metrics, and each split's predictions and plots."""
        files = [self.results_path, self.folder / METRICS_NAME, self.folder / TRAINER_RESULTS_NAME]
        for split, res in self.results.items():
            files.append(predictions_file(self.folder, split))
            listed = res.get("files")
            if isinstance(listed, list):
                files += [self.folder / name for name in listed if isinstance(name, str) and name]
        return files

    def predictions(self, split: str) -> SplitPredictions:
        if split not in self._loaded:
            self._loaded[split] = _read_predictions(self, split)
        return self._loaded[split]


def load_evaluation(path: str | Path, side: str) -> Evaluation:
    """An evaluation folder, or its ``eval_results.json`` (read and checked by the one reader,
    :func:`dynahate.plugin.eval_record.read_record`); ``side`` ("A" or "B") names it in errors."""
    path = Path(path)
    if path.is_dir():
        folder, results_path = path, path / RESULTS_NAME
        if not results_path.exists():
            raise DynahateError(f"{side} {path}: no {RESULTS_NAME} in this folder; give a folder `dynahate eval` "
                                "wrote, or its eval_results.json")
    elif path.exists():
        folder, results_path = path.parent, path
    else:
        raise DynahateError(f"{side} {path}: not found; give a folder `dynahate eval` wrote, or its {RESULTS_NAME}")
    try:
        record = read_record(results_path, what="dynahate eval results")
    except DynahateError as exc:
        raise DynahateError(f"{side} {exc}") from None
    if not record.splits:
        raise DynahateError(f"{side} {results_path}: expected an object of evaluated splits")
    return Evaluation(folder, results_path, dict(record.splits))


def _label(value: Any, where: str, key: str, allow_null: bool) -> int:
    if value is None and allow_null:
        return INVALID
    label = normalize_gold(value) if isinstance(value, str) else None
    if label is None:
        what = describe_value(value) if isinstance(value, str) else describe_json(value)
        expected = " or ".join(map(repr, LABELS)) + (" or null" if allow_null else "")
        raise DynahateError(f"{where}: {key} is {what}, expected {expected}")
    return LABELS.index(label)


def show_id(value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return cast(str, value) if shown(value) else "(an id not shown: not a short token)"


def _read_predictions(evaluation: Evaluation, split: str) -> SplitPredictions:
    res = evaluation.results[split]
    path = predictions_file(evaluation.folder, split)
    files = res.get("files")
    why = (f"missing, but {evaluation.results_path.name} records it" if isinstance(files, list) and path.name in files
           else "missing")
    check_evaluation_file(path, evaluation.folder, "compare",
                          f"{why}; re-run `dynahate eval` for this split, or leave it out with --split")
    key = "case_id" if split == HATECHECK else "id"
    posts: dict[Any, Post] = {}
    first_line: dict[Any, int] = {}
    duplicates: Counter = Counter()
    try:
        lines = list(iter_jsonl(path))
    except OSError as exc:
        raise DynahateError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    for number, line in lines:
        where = f"{path}:{number}"
        for needed in (key, "gold", "pred"):
            if needed not in line:
                raise DynahateError(f"{where}: missing key {needed!r}")
        post_id = line[key]
        if isinstance(post_id, bool) or not isinstance(post_id, (str, int)):
            raise DynahateError(f"{where}: {key} is {describe_json(post_id)}, expected a string")
        post = Post(_label(line["gold"], where, "gold", allow_null=False),
                    _label(line["pred"], where, "pred", allow_null=True),
                    _optional_text(line, "round", where, _round_problem),
                    _optional_text(line, "functionality", where, _functionality_problem),
                    _optional_text(line, "matched", where), _line_groups(line, where), _p_hate(line, where))
        if post_id in posts:
            duplicates[post_id] += 1
            continue
        posts[post_id] = post
        first_line[post_id] = number
    if duplicates:
        first = next(iter(duplicates))
        raise DynahateError(f"{path}: {key} {show_id(first)} occurs more than once (first on line "
                            f"{first_line[first]}); {len(duplicates)} id(s) repeated; a comparison joins posts by "
                            f"{key}, so each must be unique")
    if not posts:
        raise DynahateError(f"{path}: no predictions")
    _check_fingerprint(path, key, list(posts), res.get("fingerprint"), evaluation.results_path.name)
    return SplitPredictions(path, posts, res)


def _check_fingerprint(path: Path, key: str, ids: list[Any], recorded: Any, results_name: str) -> None:
    """A predictions file holds the posts its split's fingerprint records: as many (``count``) and, when the
    fingerprint records ``ids_sha256``, the same ids (a predictions file holds no post, so the posts' own hash
    cannot be checked here). Results without a fingerprint are joined by id only, with a note (:func:`_posts`)."""
    if not isinstance(recorded, dict):
        return
    count = recorded.get("count")  # an integer: the record's reader refuses anything else
    what = "prompts" if recorded.get("of") == "prompts" else "posts"
    if count != len(ids):
        raise DynahateError(f"{path}: {len(ids)} predictions, but the fingerprint {results_name} records for this "
                            f"split is of {count} {what}; the file was edited or is not this evaluation's: re-run "
                            "`dynahate eval` for this split")
    digest = recorded.get("ids_sha256")
    if digest is not None and digest != ids_sha256(ids):
        raise DynahateError(f"{path}: its {len(ids)} {key}s are not those of the {len(ids)} {what} the fingerprint "
                            f"{results_name} records for this split (ids_sha256 differs); the file was edited or is "
                            "not this evaluation's: re-run `dynahate eval` for this split")


def describe_recorded(value: Any) -> str:
    """A value read from a file, for a message: a string as :func:`describe_value` names it, null, a number or a
    boolean as written, anything else by its kind."""
    return describe_value(value) if isinstance(value, str) else describe_json(value)


def _optional_text(line: dict[str, Any], key: str, where: str,
                   problem: Callable[[str], str | None] | None = None) -> str | None:
    """``line[key]`` as a string (None when absent); ``problem(value)`` says why a value may not be one (it names
    groups in the table and the JSON, so it must be a code, never text that could be a post)."""
    value = line.get(key)
    if value is None:
        return None
    if not isinstance(value, (str, int)) or isinstance(value, bool):
        raise DynahateError(f"{where}: {key} is {describe_json(value)}, expected a string")
    why = problem(str(value)) if problem else None
    if why:
        raise DynahateError(f"{where}: {why}")
    return str(value)


def _round_problem(value: str) -> str | None:
    return metadata_problem("round", value)


def _functionality_problem(value: str) -> str | None:
    return None if shown(value) else (f"functionality is {describe_value(value)}, expected a functional test's "
                                      "short name such as 'derog_neg_emote_h'")


def _line_groups(line: dict[str, Any], where: str) -> tuple[str, ...] | None:
    value = line.get("groups")
    if value is None:
        return None
    if not isinstance(value, list) or any(group_problem(g) for g in value):
        what = "a list holding a value that is not a group code" if isinstance(value, list) else describe_json(value)
        raise DynahateError(f"{where}: groups is {what}, expected a list of group codes")
    return tuple(sorted(value))


def _p_hate(line: dict[str, Any], where: str) -> float | None:
    value = line.get("p_hate")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise DynahateError(f"{where}: p_hate is {describe_json(value)}, expected a number in [0, 1]")
    return float(value)
