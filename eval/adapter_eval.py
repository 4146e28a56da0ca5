"""Evaluate splits with an adapter, the one way ``dynahate eval`` and ``dynahate hatecheck`` both do it.

Every rank validates (the caller's ``validate``: adapter, output directory, data, prompt lengths
with the tokenizer alone) before the model loads; then the model is loaded on this rank's device,
the engine of ``--mode`` (:mod:`dynahate.eval.engines`) is built with the token budget, batch size
and cutoff of the arguments, the splits are evaluated, and each split's results record the
adapter's provenance. Rank 0 gets the outcomes.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import Any

from .eval_data import EvalSplit


def check_prompts(args: argparse.Namespace, base: str, posts: Sequence[str], where: Callable[[int], str]):
    """Load the tokenizer (no weights) and refuse any prompt over ``--cutoff-len``; return the tokenizer."""
    from .model_loading import load_tokenizer
    from .post_checks import refuse_overlong_posts

    tokenizer = load_tokenizer(args.adapter, base)
    refuse_overlong_posts(tokenizer, posts, args.cutoff_len, where)
    return tokenizer


def evaluate_with_adapter(args: argparse.Namespace, ranks,
                          validate: Callable[[], tuple[list[EvalSplit], Any]]) -> tuple[dict, list[EvalSplit]]:
    """``validate()`` -> (splits, tokenizer) on every rank; then load, evaluate; return (outcomes, splits)."""
    from .distributed import device_for
    from .engines import EngineOptions, build_engine
    from .evaluate import evaluate_splits
    from .model_loading import adapter_provenance, load_adapter_model

    splits, tokenizer = ranks.agree(validate)
    loaded = ranks.agree(lambda: load_adapter_model(args.adapter, args.base, quantize=not args.no_quantize,
                                                    force=args.force, tokenizer=tokenizer, device=device_for(ranks)))
    processes = f", {ranks.world_size} processes" if ranks.distributed else ""
    print(f"loaded {loaded.base} ({'4-bit NF4' if loaded.quantized else 'unquantized'}, {loaded.device}{processes}) "
          f"+ adapter {args.adapter}")
    options = EngineOptions(token_budget=args.token_budget, batch_size=args.batch_size, cutoff_len=args.cutoff_len,
                            progress=None if ranks.is_main else False)
    engine = ranks.agree(lambda: build_engine(args.mode, loaded.model, loaded.tokenizer, options))
    outcomes = evaluate_splits(splits, engine, args.mode, ranks)
    lowered = getattr(engine, "budget_lowered", None)  # score mode, after an out-of-memory batch
    if lowered:
        print(f"note: {lowered}" + (f" on rank {ranks.rank}" if ranks.distributed else ""), file=sys.stderr)
    if outcomes:
        provenance = adapter_provenance(args.adapter, loaded.base)
        for outcome in outcomes.values():
            outcome.results["adapter"] = provenance
    return outcomes, splits
