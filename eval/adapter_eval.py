"""Evaluate splits with an adapter, the one pipeline ``dynahate eval`` and ``dynahate hatecheck`` both run.

:func:`evaluate_run`: every rank runs the command's ``validate`` (the adapter, fetched first when it is a Hub repo,
the output directory and any ``eval_results.json`` there, the data and its metadata sidecars, prompt lengths with the
tokenizer alone: :mod:`dynahate.inference.adapter_loading`) before the model loads; then the model is loaded on
this rank's device, the engine of ``mode`` (:mod:`dynahate.inference.modes`) is built with the token budget, batch
size and cutoff, the splits are evaluated, and each split's results record the adapter's provenance (path, SHA-256,
base model, and the Hub repo id, revision and commit, null for a local run) and how the base was loaded
(``model_loading``: quantization, dtype, device, autocast). On rank 0 :func:`record_outcomes` adds
the decision-ready entries, the command's ``finish`` adds what only it computes (HateCheck's per-test results, its
predictions lines and plot), and every file is written. The command module then only parses, calls and prints.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dynahate.eval.artifacts import SplitOutcome, write_eval_outputs
from dynahate.eval.decision.entries import DecisionOptions, SplitContext, add_decision_entries
from dynahate.eval.eval_data import EvalSplit
from dynahate.inference.adapter_loading import ModelOptions
from dynahate.inference.adapter_source import AdapterSource

if TYPE_CHECKING:
    from dynahate.eval.hatecheck.data import HateCheckCase, HateCheckSource


@dataclass(frozen=True)
class HateCheckInput:
    """What ``dynahate hatecheck`` read before the model loads: the verified file and its cases."""

    source: HateCheckSource
    cases: list[HateCheckCase]


@dataclass
class Validated:
    """What a command's ``validate`` read, on every rank, before the model loads."""

    source: AdapterSource
    splits: list[EvalSplit]
    tokenizer: Any
    contexts: dict[str, SplitContext] = field(default_factory=dict)  # each split's metadata and target groups
    hatecheck: HateCheckInput | None = None


Finish = Callable[[dict[str, SplitOutcome]], None]


def record_outcomes(outcomes: dict[str, SplitOutcome], contexts: dict[str, SplitContext], out_dir: Path,
                    decision: DecisionOptions, finish: Finish | None = None) -> None:
    """The last steps of every evaluation: the decision-ready entries (each prediction gains its pair and groups),
    the command's own ``finish``, then every file, all or nothing."""
    add_decision_entries(outcomes, contexts, out_dir, decision)
    if finish is not None:
        finish(outcomes)
    write_eval_outputs(out_dir, outcomes)


def evaluate_run(ranks, validate: Callable[[], Validated], *, mode: str, model: ModelOptions, batch_size: int,
                 out_dir: Path, decision: DecisionOptions, finish: Callable[[Validated], Finish] | None = None,
                 ) -> tuple[dict[str, SplitOutcome], Validated]:
    """Validate (every rank), load, evaluate, then on rank 0 :func:`record_outcomes` (``finish(validated)`` gives the
    command's own last step). Returns the outcomes (empty on other ranks) and what ``validate`` read."""
    outcomes, validated = evaluate_with_adapter(ranks, validate, mode=mode, model=model, batch_size=batch_size)
    if not ranks.is_main:
        return {}, validated
    record_outcomes(outcomes, validated.contexts, out_dir, decision, finish(validated) if finish else None)
    return outcomes, validated


def evaluate_with_adapter(ranks, validate: Callable[[], Validated], *, mode: str, model: ModelOptions,
                          batch_size: int) -> tuple[dict[str, SplitOutcome], Validated]:
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
        provenance, loading = source.provenance(loaded.base), model_loading(loaded)
        for outcome in outcomes.values():
            outcome.results["adapter"] = provenance
            outcome.results["model_loading"] = loading
    return outcomes, validated


def model_loading(loaded: Any) -> dict[str, Any]:
    """How the base was loaded, recorded per split as ``model_loading`` (the answers depend on it; the card says it):
    ``quantization`` (``"bnb-4bit-nf4"``: 4-bit NF4 with double quantization, as training; None: unquantized), the
    ``dtype`` of compute, the ``device`` type, and the ``autocast`` dtype of the forward passes (None: none)."""
    import torch

    device = torch.device(loaded.device).type
    return {"quantization": "bnb-4bit-nf4" if loaded.quantized else None,
            "dtype": str(loaded.dtype).removeprefix("torch."), "device": device,
            "autocast": "bfloat16" if device == "cuda" else None}
