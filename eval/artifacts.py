"""Write an evaluation's files into the output directory, all or nothing.

- ``eval_results.json``: one object per split name. Splits already in the file and not
  evaluated this time are kept; re-evaluated ones are replaced. Each split records ``files``
  (the names of its predictions file and plots, all this module wrote for it) and ``adapter``
  (``path``, ``sha256`` of ``adapter_model.safetensors``, ``base_model``; ``null`` when a
  predictions file was scored), which ``dynahate publish`` checks and stages from.
- ``eval_metrics.txt``: per split, ``Accuracy: 0.xxxx | Macro-F1: 0.xxxx | Time: N.NNs`` and
  scikit-learn's ``classification_report(digits=4)``, for every split in ``eval_results.json``.
- ``<split>_predictions.jsonl``: one line per post, in input order (id, gold, pred, p_hate/raw).
- ``<split>_*.png``: the split's plots.

No file holds a post's text.

LLaMA-Factory's trainer also writes an ``eval_results.json`` into the run directory (a flat
object: ``eval_loss``, ``eval_runtime``, ...; the same numbers are in its ``all_results.json``).
When evaluating into the run directory, that file is kept, byte for byte, as
``trainer_eval_results.json`` and the caller is told; it is never merged or dropped.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dynahate.plugin.atomic import atomic_files
from dynahate.plugin.errors import DynahateError
from dynahate.plugin.jsonl import dumps_line, read_json

from .plots import split_plots
from .predictions import Prediction

RESULTS_NAME = "eval_results.json"
METRICS_NAME = "eval_metrics.txt"
TRAINER_RESULTS_NAME = "trainer_eval_results.json"


@dataclass
class SplitOutcome:
    predictions: list[Prediction]
    results: dict[str, Any]


def predictions_file(out_dir: Path, name: str) -> Path:
    return out_dir / f"{name}_predictions.jsonl"


def summary_line(results: dict[str, Any]) -> str:
    seconds = results.get("seconds")
    time_text = f"{seconds:.2f}s" if seconds is not None else "n/a"
    return f"Accuracy: {results['accuracy']:.4f} | Macro-F1: {results['macro_f1']:.4f} | Time: {time_text}"


def metrics_text(all_results: dict[str, dict[str, Any]]) -> str:
    parts = []
    for name, results in all_results.items():
        parts.append(f"== {name} ({results['mode']} mode, {results['examples']} posts) ==\n"
                     f"{summary_line(results)}\n\n{results['report']}")
    return "\n".join(parts)


def is_trainer_results(results: dict[str, Any]) -> bool:
    """LLaMA-Factory's flat ``eval_results.json`` (numbers only), not ours (one object per split)."""
    return bool(results) and not any(isinstance(value, dict) for value in results.values())


def read_results(out_dir: Path) -> tuple[dict[str, dict[str, Any]], str | None]:
    """Our results already in ``out_dir``, and the text of LLaMA-Factory's trainer file if that is what is there."""
    path = out_dir / RESULTS_NAME
    if not path.exists():
        return {}, None
    results = read_json(path, "earlier evaluation results")
    if not isinstance(results, dict):
        raise DynahateError(f"{path}: expected an object of splits; move it away to start afresh")
    if is_trainer_results(results):
        return {}, path.read_text(encoding="utf-8")
    if not all(isinstance(value, dict) and "mode" in value for value in results.values()):
        raise DynahateError(f"{path}: neither dynahate's nor LLaMA-Factory's eval results; move it away to start afresh")
    return results, None


def write_eval_outputs(out_dir: str | Path, outcomes: dict[str, SplitOutcome]) -> dict[str, dict[str, Any]]:
    """Write everything for ``outcomes``; return the merged contents of ``eval_results.json``."""
    out_dir = Path(out_dir)
    existing, trainer_text = read_results(out_dir)
    if trainer_text is not None and (out_dir / TRAINER_RESULTS_NAME).exists():
        raise DynahateError(f"{out_dir / RESULTS_NAME} is LLaMA-Factory's and {TRAINER_RESULTS_NAME} exists too; "
                            "move one of them away")
    plots = {name: split_plots(name, outcome.predictions, outcome.results["mode"]) for name, outcome in outcomes.items()}
    for name, outcome in outcomes.items():  # what publish stages for this split, and nothing else
        outcome.results["files"] = [predictions_file(out_dir, name).name, *plots[name]]
    merged = {**existing, **{name: outcome.results for name, outcome in outcomes.items()}}
    with atomic_files() as group:
        if trainer_text is not None:
            group.open(out_dir / TRAINER_RESULTS_NAME).write(trainer_text)
            print(f"kept LLaMA-Factory's trainer {RESULTS_NAME} (eval_loss, ...) as {out_dir / TRAINER_RESULTS_NAME}")
        for name, outcome in outcomes.items():
            with_lines = group.open(predictions_file(out_dir, name))
            for prediction in outcome.predictions:
                with_lines.write(dumps_line(prediction.to_json()))
            for file_name, png in plots[name].items():
                group.open(out_dir / file_name, "wb").write(png)
        group.open(out_dir / RESULTS_NAME).write(json.dumps(merged, indent=2) + "\n")
        group.open(out_dir / METRICS_NAME).write(metrics_text(merged))
    return merged
