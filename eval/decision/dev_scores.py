"""Where dev's scores come from, for the thresholds and the temperature chosen on dev.

From this evaluation's own ``dev`` split (score mode), or else from the ``dev`` split an earlier
``dynahate eval`` wrote into the same output folder, but only when it was evaluated in score mode
with the same adapter (its recorded ``adapter.sha256``): dev scores of another adapter would choose
thresholds for the wrong model. Otherwise there are none, and the reason says what to run.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dynahate.core.errors import DynahateError
from dynahate.core.json_io import iter_jsonl
from dynahate.eval.artifacts import SplitOutcome, predictions_file, read_results
from dynahate.plugin.labels import HATE, normalize_gold

DEV = "dev"
NONE_NOTE = ("operating points other than default, and calibration, need dev's scores from this adapter: evaluate "
             "the dev split in score mode into the same folder first, or together (--split dev test)")


@dataclass(frozen=True)
class DevScores:
    gold_hate: list[bool]
    p_hate: list[float]
    source: str  # "this evaluation" or the predictions file they were read from


def _adapter_sha(results: dict[str, Any]) -> str | None:
    adapter = results.get("adapter")
    return adapter.get("sha256") if isinstance(adapter, dict) else None


def dev_scores(outcomes: dict[str, SplitOutcome], out_dir: Path) -> tuple[DevScores | None, str | None]:
    """Dev's scores and None, or None and the one-line reason there are none."""
    adapter = next((_adapter_sha(o.results) for o in outcomes.values() if _adapter_sha(o.results)), None)
    own = outcomes.get(DEV)
    if own is not None and own.results.get("mode") == "score":
        return DevScores([p.gold == HATE for p in own.predictions], [float(p.p_hate) for p in own.predictions],
                         "this evaluation"), None
    try:
        earlier = read_results(Path(out_dir))[0].get(DEV) if Path(out_dir).is_dir() else None
    except DynahateError:
        earlier = None
    if earlier is None or earlier.get("mode") != "score" or adapter is None or _adapter_sha(earlier) != adapter:
        return None, NONE_NOTE
    path = predictions_file(Path(out_dir), DEV)
    gold, scores = [], []
    try:
        for _, line in iter_jsonl(path):
            label, p_hate = normalize_gold(line.get("gold")) if isinstance(line.get("gold"), str) else None, \
                line.get("p_hate")
            if label is None or not isinstance(p_hate, (int, float)) or isinstance(p_hate, bool):
                return None, f"{path}: a line without a gold label or p_hate; {NONE_NOTE}"
            gold.append(label == HATE)
            scores.append(float(p_hate))
    except (DynahateError, OSError):
        return None, f"{path}: unreadable; {NONE_NOTE}"
    if not gold:
        return None, NONE_NOTE
    return DevScores(gold, scores, str(path)), None
