"""The one sequence every command that runs an adapter follows: fetch, check, tokenize, load.

1. :func:`check_adapter`: fetch a Hub adapter (a local run is used as it is) and check its files and
   base model, loading nothing.
2. :func:`check_prompts`: load the tokenizer alone and refuse any prompt over the cutoff, naming
   where the post came from.
3. :func:`load_checked`: load the base (4-bit NF4 unless ``quantize=False``) and attach the adapter.

``eval`` and ``hatecheck`` run steps 1-2 on every rank before step 3; ``predict`` runs them in
order. Every option is in :class:`ModelOptions`, which the commands build from their arguments
(:func:`dynahate.inference.cli_args.model_options`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from dynahate.inference.adapter_source import AdapterSource, AdapterSpec, fetch_adapter
from dynahate.inference.model_loading import LoadedModel, load_adapter_model, load_tokenizer, resolve_adapter
from dynahate.inference.token_budget import AUTO
from dynahate.plugin.post_rule import DEFAULT_CUTOFF_LEN, refuse_overlong_posts


@dataclass(frozen=True)
class ModelOptions:
    """How to load and run the base model and adapter: what ``--base``, ``--force``, ``--no-quantize``,
    ``--token-budget`` and ``--cutoff-len`` say."""

    base: str | None = None  # None: the adapter's base_model_name_or_path
    force: bool = False  # load a base the adapter was not trained on
    quantize: bool = True  # 4-bit NF4, as trained
    token_budget: int | str = AUTO  # score mode: padded tokens per batch, or "auto"
    cutoff_len: int = DEFAULT_CUTOFF_LEN  # longest prompt in tokens; longer posts are refused


def check_adapter(spec: AdapterSpec, options: ModelOptions) -> tuple[AdapterSource, str]:
    """Fetch a Hub adapter, check its files; return (source, base model to load). Loads no model."""
    source = fetch_adapter(spec)
    return source, resolve_adapter(source.path, options.base, options.force)


def check_prompts(source: AdapterSource, base: str, posts: Sequence[str], cutoff_len: int,
                  where: Callable[[int], str]) -> Any:
    """Load the tokenizer (no weights) and refuse any prompt over ``cutoff_len``; return the tokenizer."""
    tokenizer = load_tokenizer(source.path, base)
    refuse_overlong_posts(tokenizer, posts, cutoff_len, where)
    return tokenizer


def load_checked(source: AdapterSource, tokenizer: Any, options: ModelOptions,
                 device: str | None = None) -> LoadedModel:
    """The base and the adapter of a checked source, with the tokenizer already loaded."""
    return load_adapter_model(source.path, options.base, quantize=options.quantize, force=options.force,
                              tokenizer=tokenizer, device=device)
