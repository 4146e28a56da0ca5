"""Evaluate splits with an adapter, the one way ``dynahate eval`` and ``dynahate hatecheck`` both do it.

Every rank runs the command's ``validate`` (the adapter, fetched first when it is a Hub repo, the
output directory, the data, prompt lengths with the tokenizer alone:
:mod:`dynahate.inference.adapter_loading`) before the model loads; then the model is loaded on
this rank's device, the engine of ``mode`` (:mod:`dynahate.inference.modes`) is built with the
token budget, batch size and cutoff, the splits are evaluated, and each split's results record the
adapter's provenance (path, SHA-256, base model, and the Hub repo id, revision and commit, null
for a local run). Rank 0 gets the outcomes.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dynahate.eval.eval_data import EvalSplit
from dynahate.inference.adapter_loading import ModelOptions
from dynahate.inference.adapter_source import AdapterSource


@dataclass
class Validated:
    """What a command's ``validate`` read, on every rank, before the model loads."""

    source: AdapterSource
    splits: list[EvalSplit]
    tokenizer: Any
    context: Any = None  # anything else the command read and needs afterwards (hatecheck: its file and cases)


def evaluate_with_adapter(ranks, validate: Callable[[], Validated], *, mode: str, model: ModelOptions,
                          batch_size: int) -> tuple[dict, Validated]:
    """``validate()`` on every rank; then load, evaluate; return (outcomes on rank 0, what validate read)."""
    from dynahate.eval.distributed import device_for
    from dynahate.eval.evaluate import evaluate_splits
    from dynahate.inference.adapter_loading import load_checked
    from dynahate.inference.engine import EngineOptions
    from dynahate.inference.modes import build_engine

    validated = ranks.agree(validate)
    source = validated.source
    loaded = ranks.agree(lambda: load_checked(source, validated.tokenizer, model, device=device_for(ranks)))
    processes = f", {ranks.world_size} processes" if ranks.distributed else ""
    print(f"loaded {loaded.base} ({'4-bit NF4' if loaded.quantized else 'unquantized'}, {loaded.device}{processes}) "
          f"+ adapter {source.describe()}")
    options = EngineOptions(token_budget=model.token_budget, batch_size=batch_size, cutoff_len=model.cutoff_len,
                            progress=None if ranks.is_main else False)
    engine = ranks.agree(lambda: build_engine(mode, loaded.model, loaded.tokenizer, options))
    outcomes = evaluate_splits(validated.splits, engine, mode, ranks)
    lowered = engine.budget_lowered  # score mode, after an out-of-memory batch
    if lowered:
        print(f"note: {lowered}" + (f" on rank {ranks.rank}" if ranks.distributed else ""), file=sys.stderr)
    if outcomes:
        provenance = source.provenance(loaded.base)
        for outcome in outcomes.values():
            outcome.results["adapter"] = provenance
    return outcomes, validated
