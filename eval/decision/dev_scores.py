"""Where dev's scores come from, for the thresholds and the temperature chosen on dev.

The dev split is the one :func:`is_dev` names: ``dev`` (``dynahate eval --split dev``) or the stem of
the prepared file, ``dynahate_dev`` (``--data data/dynahate_dev.jsonl``: ``--data`` names a split by
its file stem), the names :mod:`dynahate.plugin.splits` gives the split and its file; ``dev`` first
when both are there. Its scores come from this evaluation's own dev split (score mode), or else from
the dev split an earlier ``dynahate eval`` wrote into the same output folder, but only when it was
evaluated in score mode with the same adapter (its recorded ``adapter.sha256``): dev scores of another
adapter would choose thresholds for the wrong model. They come with the dev split's name, which the
entries record (``chosen_on``, ``fitted_on``). Otherwise there are none, and the reason says what to run.

An earlier dev split's predictions file is read only when it is a regular file inside the output folder
(:func:`dynahate.eval.artifacts.check_evaluation_file`, the check ``dynahate compare`` applies): a broken
link, a link out of the folder or anything else is refused with one line naming it, before the model
loads (:func:`check_reused_dev_files`) and again when it is read, before anything is written.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from dynahate.core.errors import DynahateError
from dynahate.core.json_io import iter_jsonl
from dynahate.eval.artifacts import SplitOutcome, check_evaluation_file, predictions_file, read_results
from dynahate.plugin.labels import HATE, normalize_gold
from dynahate.plugin.splits import data_file_name, result_names

DEV = "dev"
DEV_NAMES = result_names(DEV)  # --split dev; --data .../dynahate_dev.jsonl (named by its stem)
NONE_NOTE = ("operating points other than default, and calibration, need dev's scores from this adapter: evaluate "
             f"the dev split ('--split dev', or '--data' a file named {data_file_name(DEV)}) in score mode into the "
             "same folder first, or together (--split dev test)")
READER = "dynahate (reusing an earlier evaluation's dev scores)"


@dataclass(frozen=True)
class DevScores:
    gold_hate: list[bool]
    p_hate: list[float]
    source: str  # "this evaluation" or the predictions file they were read from
    split: str  # the dev split's name: "dev" or "dynahate_dev"


def is_dev(name: str) -> bool:
    """Whether a split of this name is the dev split (thresholds and the temperature are chosen on it)."""
    return name in DEV_NAMES


def _adapter_sha(results: dict[str, Any]) -> str | None:
    adapter = results.get("adapter")
    return cast("dict[str, Any]", adapter).get("sha256") if isinstance(adapter, dict) else None


def _earlier_scored_dev(out_dir: Path) -> dict[str, dict[str, Any]]:
    """The dev splits (:data:`DEV_NAMES` order) an earlier evaluation in ``out_dir`` scored, by name."""
    try:
        earlier = read_results(out_dir)[0] if out_dir.is_dir() else {}
    except DynahateError:
        earlier = {}
    return {name: earlier[name] for name in DEV_NAMES if earlier.get(name, {}).get("mode") == "score"}


def _check_reused(path: Path, out_dir: Path) -> bool:
    """False when ``path`` is missing; refused (one line) when it is a link out of ``out_dir`` or not a file."""
    if not path.exists() and not path.is_symlink():
        return False
    check_evaluation_file(path, out_dir, READER)
    return True


def check_reused_dev_files(out_dir: Path, split_names: Iterable[str], mode: str) -> None:
    """Before the model loads: an evaluation in score mode without a dev split of its own may read an earlier dev
    split's predictions file in ``out_dir``; each one there must be a regular file inside ``out_dir``."""
    if mode != "score" or any(is_dev(name) for name in split_names):
        return
    for name in _earlier_scored_dev(Path(out_dir)):
        _check_reused(predictions_file(Path(out_dir), name), Path(out_dir))


def dev_scores(outcomes: dict[str, SplitOutcome], out_dir: Path) -> tuple[DevScores | None, str | None]:
    """Dev's scores and None, or None and the one-line reason there are none."""
    adapter = next((_adapter_sha(o.results) for o in outcomes.values() if _adapter_sha(o.results)), None)
    for name in DEV_NAMES:
        own = outcomes.get(name)
        if own is not None and own.results.get("mode") == "score":
            return DevScores([p.gold == HATE for p in own.predictions],
                             [float(cast(float, p.p_hate)) for p in own.predictions],  # score mode sets p_hate
                             "this evaluation", name), None
    earlier = _earlier_scored_dev(Path(out_dir))
    name = next((name for name, results in earlier.items()
                 if adapter is not None and _adapter_sha(results) == adapter), None)
    if name is None:
        return None, NONE_NOTE
    path = predictions_file(Path(out_dir), name)
    if not _check_reused(path, Path(out_dir)):
        return None, f"{path}: missing; {NONE_NOTE}"
    gold: list[bool] = []
    scores: list[float] = []
    try:
        for _, line in iter_jsonl(path):
            label, p_hate = normalize_gold(given) if isinstance(given := line.get("gold"), str) else None, \
                line.get("p_hate")
            if label is None or not isinstance(p_hate, (int, float)) or isinstance(p_hate, bool):
                return None, f"{path}: a line without a gold label or p_hate; {NONE_NOTE}"
            gold.append(label == HATE)
            scores.append(float(p_hate))
    except (DynahateError, OSError):
        return None, f"{path}: unreadable; {NONE_NOTE}"
    if not gold:
        return None, NONE_NOTE
    return DevScores(gold, scores, str(path), name), None
