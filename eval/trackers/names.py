"""The one flattening of the evaluation record into tracker names: every figure, the tags, the plots, the files.

All three trackers (MLflow, TensorBoard, W&B), for ``dynahate eval`` and ``dynahate hatecheck`` alike, log what
:func:`payload` builds from the record as :func:`dynahate.plugin.eval_record.read_record` read it; nothing else
reads ``eval_results.json``. The names are stable (docs/trackers.md lists them; a test holds that list to this
code):

- a split's prefix is ``eval/<split>``; HateCheck's split is ``hatecheck``;
- every number (and true/false, as 1/0) of the split is a metric named by its path in the record, keys joined by
  ``/`` (``eval/test/accuracy``, ``eval/test/precision/not_hate``, ``eval/test/bias/groups/wom/bpsn_auc``), with
  these parts named for reading rather than by position:
    - ``intervals``: ``<figure>_ci_low`` / ``<figure>_ci_high``, ``ci_confidence``, ``ci_resamples``, ``ci_seed``;
    - ``operating_points``: ``operating_points/<name>/<key>`` (``best_macro_f1/recall_hate``);
    - ``confusion_matrix``: ``confusion_matrix/<gold>/<predicted>``;
    - ``breakdowns``: ``round/<round>/<key>`` (the rounds ``1``, ``2a``, ... and their groups ``R1``-``R4`` side by
      side), ``type/<type>/<key>``, ``target/<target>/<key>``;
    - HateCheck's ``functionalities``: ``hatecheck/<functionality>/<key>``;
- a key is kept as written when it is made of letters, digits, ``_``, ``.`` and ``-``; any other character becomes
  ``_`` (``not hate`` -> ``not_hate``). Two figures that would get one name are refused, never one dropped;
- text (the report, notes, paths, model loading) is not a figure; the adapter's SHA-256 and the data fingerprints
  are tags (:data:`TAG_KEYS`).

The plots are each split's PNG files (``<prefix>/plots/<kind>``); the files are ``eval_results.json`` and each
split's predictions file, which hold no post text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dynahate.core.errors import DynahateError
from dynahate.plugin.eval_record import HATECHECK_SPLIT, EvalRecord

EVAL_PREFIX = "eval"
PLOTS = "plots"
BREAKDOWN_NAMES = {"round_group": "round"}  # R1-R4 beside the rounds 1, 2a, ...: eval/test/round/R3/accuracy
# (key path in a split, tag suffix): short provenance strings, never text a post could be in
TAG_KEYS = (
    (("mode",), "mode"),
    (("adapter", "sha256"), "adapter/sha256"),
    (("adapter", "repo_id"), "adapter/repo_id"),
    (("adapter", "commit"), "adapter/commit"),
    (("fingerprint", "of"), "fingerprint/of"),
    (("fingerprint", "sha256"), "fingerprint/sha256"),
    (("fingerprint", "ids_sha256"), "fingerprint/ids_sha256"),
    (("fingerprint", "source_git_blob_sha1"), "fingerprint/source_git_blob_sha1"),
    (("source", "git_blob_sha1"), "source/git_blob_sha1"),
)
ADAPTER_TAG = "dynahate/adapter_sha256"
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


@dataclass(frozen=True)
class Payload:
    """What every tracker logs for one evaluation: ``metrics`` (name -> number), ``tags`` (name -> short text),
    ``images`` (name -> PNG file), ``files`` (``eval_results.json`` and the predictions files) and ``step`` (the
    training's last step, so the figures sit at the end of its curves; 0 when unknown)."""

    metrics: dict[str, float]
    tags: dict[str, str]
    images: dict[str, Path]
    files: list[Path]
    step: int = 0


def segment(key: str) -> str:
    """A record key as one part of a name: letters, digits, ``_``, ``.``, ``-`` kept, anything else ``_``."""
    text = _UNSAFE.sub("_", key)
    return "_" if text in ("", ".", "..") else text


def split_prefix(split: str) -> str:
    """``eval/<split>``; HateCheck's ``hatecheck``."""
    return HATECHECK_SPLIT if split == HATECHECK_SPLIT else f"{EVAL_PREFIX}/{segment(split)}"


class _Names:
    """Collects ``name -> value`` for one split; a second figure under a name already taken is refused."""

    def __init__(self, split: str) -> None:
        self.split = split
        self.values: dict[str, float] = {}
        self.paths: dict[str, str] = {}

    def add(self, parts: Iterable[str], value: float, where: str) -> None:
        name = "/".join([split_prefix(self.split), *(segment(part) for part in parts)])
        if name in self.values:
            raise DynahateError(f"split {self.split!r}: {self.paths[name]} and {where} would both be logged as "
                                f"{name!r}; rename one of the keys (the evaluation itself is written)")
        self.values[name] = value
        self.paths[name] = where

    def walk(self, parts: list[str], value: Any) -> None:
        """Every number under ``value``, named by its path (lists by index)."""
        where = ".".join(parts)
        if isinstance(value, bool):
            self.add(parts, 1.0 if value else 0.0, where)
        elif isinstance(value, (int, float)):
            self.add(parts, value, where)
        elif isinstance(value, dict):
            for key, item in value.items():
                self.walk([*parts, str(key)], item)
        elif isinstance(value, list):
            for index, item in enumerate(value):
                self.walk([*parts, str(index)], item)


def _intervals(names: _Names, value: dict[str, Any]) -> None:
    for key, item in value.items():
        if isinstance(item, list) and len(item) == 2:
            names.walk([f"{key}_ci_low"], item[0])
            names.walk([f"{key}_ci_high"], item[1])
        else:  # confidence, resamples, seed; a null interval (roc_auc in generate mode) has no number
            names.walk([f"ci_{key}"], item)


def _operating_points(names: _Names, value: list[Any]) -> None:
    for index, point in enumerate(value):
        label = point.get("name", str(index)) if isinstance(point, dict) else str(index)
        names.walk(["operating_points", str(label)],
                   {key: item for key, item in point.items() if key != "name"} if isinstance(point, dict) else point)


def _confusion_matrix(names: _Names, value: dict[str, Any]) -> None:
    rows, columns = value.get("rows (gold)"), value.get("columns (predicted)")
    for i, row in enumerate(value.get("counts") or []):
        for j, cell in enumerate(row):
            gold = rows[i] if isinstance(rows, list) and i < len(rows) else str(i)
            predicted = columns[j] if isinstance(columns, list) and j < len(columns) else str(j)
            names.walk(["confusion_matrix", str(gold), str(predicted)], cell)


def _breakdowns(names: _Names, value: dict[str, Any]) -> None:
    for key, groups in value.items():
        names.walk([BREAKDOWN_NAMES.get(key, key)], groups)


def _functionalities(names: _Names, value: dict[str, Any]) -> None:
    for name, test in value.items():
        names.walk([name], test)


_PARTS = {"intervals": _intervals, "operating_points": _operating_points, "confusion_matrix": _confusion_matrix,
          "breakdowns": _breakdowns, "functionalities": _functionalities}


def split_metrics(split: str, results: Any) -> dict[str, float]:
    """Every number of one split's results, by its stable name."""
    names = _Names(split)
    for key, value in results.items():
        part = _PARTS.get(key)
        if part is not None and isinstance(value, list if key == "operating_points" else dict):
            part(names, value)
        else:
            names.walk([key], value)
    return names.values


def split_tags(split: str, results: Any) -> dict[str, str]:
    """The split's provenance strings (:data:`TAG_KEYS`) that it records."""
    tags: dict[str, str] = {}
    for path, suffix in TAG_KEYS:
        value: Any = results
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        if isinstance(value, str):
            tags[f"{split_prefix(split)}/{suffix}"] = value
    return tags


def payload(record: EvalRecord, splits: Iterable[str], step: int = 0) -> Payload:
    """What the trackers log for ``splits`` of ``record`` (read by the record's reader; the files are those its
    ``files`` name, in the record's folder)."""
    folder = record.path.parent
    metrics: dict[str, float] = {}
    tags: dict[str, str] = {}
    images: dict[str, Path] = {}
    files = [record.path]
    for split in splits:
        results = record.splits[split]
        metrics.update(split_metrics(split, results))
        tags.update(split_tags(split, results))
        adapter = results.get("adapter")
        if adapter is not None:
            tags.setdefault(ADAPTER_TAG, adapter["sha256"])
        for name in results.get("files", []):
            path = folder / name
            if name.endswith(".png"):
                kind = name.removesuffix(".png").removeprefix(f"{split}_")
                images[f"{split_prefix(split)}/{PLOTS}/{segment(kind)}"] = path
            elif name.endswith("_predictions.jsonl"):
                files.append(path)
    return Payload(metrics, tags, images, files, step)


def artifact_files(payload: Payload) -> list[Path]:
    """The files a tracker stores, each checked to be a regular file inside the evaluation folder."""
    from dynahate.eval.artifacts import check_evaluation_file

    folder = payload.files[0].parent
    for path in [*payload.files, *payload.images.values()]:
        check_evaluation_file(path, folder, "the tracker")
    return payload.files

