"""Evaluate splits with an engine (any mode of :mod:`dynahate.inference.modes`), or score a predictions file.

The library entry points behind ``dynahate eval``: each returns ``{split name: SplitOutcome}``
ready for :func:`dynahate.eval.artifacts.write_eval_outputs`. Every engine has one method,
``predict(posts)``; the split's examples are zipped with its outputs into the per-post
:class:`~dynahate.eval.predictions.Prediction` records. Under torch.distributed
(:mod:`dynahate.eval.distributed`) each rank predicts its shard and rank 0 gathers.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import cast

from dynahate.eval.artifacts import SplitOutcome
from dynahate.eval.distributed import Ranks
from dynahate.eval.eval_data import EvalSplit
from dynahate.eval.fingerprint import fingerprint
from dynahate.eval.lf_generated_predictions import read_generated_predictions
from dynahate.eval.metrics import split_results
from dynahate.eval.predictions import Prediction
from dynahate.inference.engine import Engine, EnginePrediction

ONE_PROCESS = Ranks()


def _timed_predict(engine: Engine, posts: list[str]) -> tuple[list[EnginePrediction], float]:
    start = time.perf_counter()
    outputs = engine.predict(posts)
    return outputs, time.perf_counter() - start


def _round(meta: dict | None) -> str | None:
    """The post's Dynahate round from its metadata (``1``, ``2a``, ...), None without metadata."""
    value = (meta or {}).get("round")
    return None if value is None else str(value)


def predict_split(split: EvalSplit, engine: Engine,
                  ranks: Ranks = ONE_PROCESS) -> tuple[list[Prediction], float] | None:
    """Run the engine over this rank's shard of a split; on rank 0, all predictions in input order and the
    seconds the slowest rank took (``None`` on the other ranks)."""
    posts = [split.examples[index].post for index in ranks.shard(len(split.examples))]
    gathered = ranks.gather(ranks.agree(lambda: _timed_predict(engine, posts)))
    if gathered is None:
        return None
    outputs = [output for shard, _ in gathered for output in shard]
    seconds = max(seconds for _, seconds in gathered)
    predictions = [Prediction(example.id, example.gold, output.pred, p_hate=output.p_hate, raw=output.raw,
                              round=_round(example.meta))
                   for example, output in zip(split.examples, outputs, strict=True)]
    return predictions, seconds


def evaluate_splits(splits: list[EvalSplit], engine: Engine, mode: str,
                    ranks: Ranks = ONE_PROCESS) -> dict[str, SplitOutcome]:
    """Every split through ``engine`` (built for ``mode`` from :data:`dynahate.inference.modes.ENGINES`).

    Under torch.distributed every rank calls this with the same splits; rank 0 returns the outcomes,
    the other ranks an empty dict (they write nothing).

    Args:
        splits: The splits to evaluate, as loaded by :func:`dynahate.eval.eval_data.load_splits`.
        engine: A score or generate engine (``predict(posts) -> list[EnginePrediction]``).
        mode: The engine's mode name, recorded in each split's results.
        ranks: This process's place among torch.distributed ranks (one process by default).

    Returns:
        Split name -> its predictions and the results object ``eval_results.json`` holds for it
        (empty on ranks other than 0).
    """
    predicted = {split.name: predict_split(split, engine, ranks) for split in splits}
    if not ranks.is_main:
        return {}
    outcomes = {}
    for split in splits:
        predictions, seconds = cast("tuple[list[Prediction], float]", predicted[split.name])  # rank 0: all of them
        metas = [example.meta for example in split.examples] if split.has_meta else None
        results = split_results(predictions, mode, seconds, metas)
        results["fingerprint"] = fingerprint([(example.id, example.post) for example in split.examples],
                                             source_git_blob_sha1=split.source_blob)
        outcomes[split.name] = SplitOutcome(predictions, results)
    return outcomes


def predict_runtime(predictions_path: Path) -> float | None:
    """LLaMA-Factory's ``predict_runtime`` from ``predict_results.json`` beside the file, if any."""
    beside = predictions_path.with_name("predict_results.json")
    try:
        value = json.loads(beside.read_text(encoding="utf-8")).get("predict_runtime")
    except (OSError, json.JSONDecodeError, AttributeError):
        return None
    return float(value) if isinstance(value, (int, float)) else None


def score_generated_predictions_file(path: str | Path, name: str) -> dict[str, SplitOutcome]:
    """Metrics of a LLaMA-Factory ``generated_predictions.jsonl`` (``--predictions``) as split ``name``."""
    path = Path(path)
    predictions, prompts = read_generated_predictions(path, name)
    results = split_results(predictions, "generate", predict_runtime(path))
    results["fingerprint"] = fingerprint(zip((p.id for p in predictions), prompts, strict=True), of="prompts")
    results["source"] = str(path)
    results["adapter"] = None  # a predictions file does not say which adapter wrote it
    return {name: SplitOutcome(predictions, results)}
