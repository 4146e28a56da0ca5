"""Evaluate splits with an adapter, the one way ``dynahate eval`` and ``dynahate hatecheck`` both do it.

Every rank validates (the caller's ``validate``: the adapter, fetched first when it is a Hub repo
(:mod:`dynahate.eval.adapter_source`), output directory, data, prompt lengths with the tokenizer
alone) before the model loads; then the model is loaded on this rank's device, the engine of
``--mode`` (:mod:`dynahate.eval.engines`) is built with the token budget, batch size and cutoff of
the arguments, the splits are evaluated, and each split's results record the adapter's provenance
(path, SHA-256, base model, and the Hub repo id, revision and commit, null for a local run). Rank 0
gets the outcomes.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import Any

from .adapter_source import AdapterSource, AdapterSpec
from .eval_data import EvalSplit


def check_adapter(args: argparse.Namespace, spec: AdapterSpec) -> tuple[AdapterSource, str]:
    """Fetch a Hub adapter (a local run is used as it is), check its files; return (source, base model to load)."""
    from .adapter_source import fetch_adapter
    from .model_loading import resolve_adapter

    source = fetch_adapter(spec)
    return source, resolve_adapter(source.path, args.base, args.force)


def check_prompts(args: argparse.Namespace, source: AdapterSource, base: str, posts: Sequence[str],
                  where: Callable[[int], str]):
    """Load the tokenizer (no weights) and refuse any prompt over ``--cutoff-len``; return the tokenizer."""
    from .model_loading import load_tokenizer
    from .post_checks import refuse_overlong_posts

    tokenizer = load_tokenizer(source.path, base)
    refuse_overlong_posts(tokenizer, posts, args.cutoff_len, where)
    return tokenizer


Validated = tuple[AdapterSource, list[EvalSplit], Any]
"""What a command's ``validate`` returns: the adapter's source, the splits to evaluate, the tokenizer."""


def evaluate_with_adapter(args: argparse.Namespace, ranks,
                          validate: Callable[[], Validated]) -> tuple[dict, list[EvalSplit]]:
    """``validate()`` -> (source, splits, tokenizer) on every rank; then load, evaluate; return (outcomes, splits)."""
    from .distributed import device_for
    from .engines import EngineOptions, build_engine
    from .evaluate import evaluate_splits
    from .model_loading import load_adapter_model

    source, splits, tokenizer = ranks.agree(validate)
    loaded = ranks.agree(lambda: load_adapter_model(source.path, args.base, quantize=not args.no_quantize,
                                                    force=args.force, tokenizer=tokenizer, device=device_for(ranks)))
    processes = f", {ranks.world_size} processes" if ranks.distributed else ""
    print(f"loaded {loaded.base} ({'4-bit NF4' if loaded.quantized else 'unquantized'}, {loaded.device}{processes}) "
          f"+ adapter {source.describe()}")
    options = EngineOptions(token_budget=args.token_budget, batch_size=args.batch_size, cutoff_len=args.cutoff_len,
                            progress=None if ranks.is_main else False)
    engine = ranks.agree(lambda: build_engine(args.mode, loaded.model, loaded.tokenizer, options))
    outcomes = evaluate_splits(splits, engine, args.mode, ranks)
    lowered = getattr(engine, "budget_lowered", None)  # score mode, after an out-of-memory batch
    if lowered:
        print(f"note: {lowered}" + (f" on rank {ranks.rank}" if ranks.distributed else ""), file=sys.stderr)
    if outcomes:
        provenance = source.provenance(loaded.base)
        for outcome in outcomes.values():
            outcome.results["adapter"] = provenance
    return outcomes, splits
