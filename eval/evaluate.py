"""Evaluate splits with an adapter (score or generate mode), or score a predictions file.

The library entry points behind ``dynahate eval``: each returns ``{split name: SplitOutcome}``
ready for :func:`dynahate.eval.artifacts.write_eval_outputs`.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from dynahate.plugin.post_rules import DEFAULT_CUTOFF_LEN

from .artifacts import SplitOutcome
from .eval_data import EvalSplit
from .generated_predictions import read_generated_predictions
from .generate_engine import GenerateEngine
from .metrics import evaluate_predictions
from .predictions import Prediction
from .score_engine import ScoreEngine

MODES = ("score", "generate")


def predict_split(split: EvalSplit, engine: ScoreEngine | GenerateEngine) -> tuple[list[Prediction], float]:
    """Run one engine over a split; return predictions in input order and the seconds it took."""
    posts = [example.post for example in split.examples]
    start = time.perf_counter()
    if isinstance(engine, ScoreEngine):
        results = engine.score(posts)
        seconds = time.perf_counter() - start
        predictions = [Prediction(e.id, e.gold, r.pred, p_hate=r.p_hate) for e, r in zip(split.examples, results)]
    else:
        results = engine.generate(posts)
        seconds = time.perf_counter() - start
        predictions = [Prediction(e.id, e.gold, r.pred, raw=r.raw) for e, r in zip(split.examples, results)]
    return predictions, seconds


def evaluate_splits(splits: list[EvalSplit], model: Any, tokenizer: Any, mode: str = "score", *,
                    batch_size: int = 8, token_budget: int = 8192,
                    cutoff_len: int = DEFAULT_CUTOFF_LEN) -> dict[str, SplitOutcome]:
    """``cutoff_len`` is generate mode's prompt cut; ``dynahate eval`` refuses longer prompts before this runs."""
    if mode == "score":
        engine: ScoreEngine | GenerateEngine = ScoreEngine(model, tokenizer, token_budget=token_budget)
    elif mode == "generate":
        engine = GenerateEngine(model, tokenizer, batch_size=batch_size, cutoff_len=cutoff_len)
    else:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    outcomes = {}
    for split in splits:
        predictions, seconds = predict_split(split, engine)
        metas = [example.meta for example in split.examples] if split.has_meta else None
        outcomes[split.name] = SplitOutcome(predictions, evaluate_predictions(predictions, mode, seconds, metas))
    return outcomes


def predict_runtime(predictions_path: Path) -> float | None:
    """LLaMA-Factory's ``predict_runtime`` from ``predict_results.json`` beside the file, if any."""
    beside = predictions_path.with_name("predict_results.json")
    try:
        value = json.loads(beside.read_text(encoding="utf-8")).get("predict_runtime")
    except (OSError, json.JSONDecodeError, AttributeError):
        return None
    return float(value) if isinstance(value, (int, float)) else None


def evaluate_predictions_file(path: str | Path, name: str) -> dict[str, SplitOutcome]:
    path = Path(path)
    predictions = read_generated_predictions(path, name)
    results = evaluate_predictions(predictions, "generate", predict_runtime(path))
    results["source"] = str(path)
    results["adapter"] = None  # a predictions file does not say which adapter wrote it
    return {name: SplitOutcome(predictions, results)}
