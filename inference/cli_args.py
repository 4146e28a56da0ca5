"""Arguments shared by the commands that load an adapter (``eval``, ``hatecheck``, ``predict``, ``serve``).

Numbers are checked by argparse itself (:mod:`dynahate.core.arg_types`: ``--batch-size 0`` is a
usage error before anything loads), and the options these commands share are defined once here,
with their defaults: ``--adapter`` (:func:`add_adapter_argument`), the model options
(:func:`add_model_arguments`), the engine options of the commands that evaluate
(:func:`add_engine_arguments`) and the epilog on posts and the environment (:func:`set_epilog`).
:func:`model_options` turns parsed arguments into the typed options the library takes.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from dynahate.core.arg_types import positive_int
from dynahate.inference.adapter_loading import ModelOptions
from dynahate.inference.adapter_source import ADAPTER_HELP, ADAPTER_METAVAR, HUB_ENVIRONMENT
from dynahate.inference.modes import DEFAULT_MODE, ENGINES, modes_help
from dynahate.inference.token_budget import AUTO, CPU_TOKEN_BUDGET, token_budget_arg
from dynahate.plugin.post_rule import DEFAULT_CUTOFF_LEN

DEFAULT_BATCH_SIZE = 8

DEFAULT_TOKEN_BUDGET = AUTO
TOKEN_BUDGET_HELP = (f"score mode: padded tokens per batch, or auto (default {DEFAULT_TOKEN_BUDGET}: on a GPU from "
                     f"the memory free after the model loads, on CPU {CPU_TOKEN_BUDGET}); a number is used exactly; "
                     "a batch that runs out of memory is split and the budget lowered for the rest of the run")

ENVIRONMENT = f"""\
posts:
  every post needs at least one non-whitespace character, and its prompt may be at most
  --cutoff-len tokens (default {DEFAULT_CUTOFF_LEN}, the recipe's cutoff_len, the longest prompt training
  saw whole). A longer prompt is refused, never truncated: all posts are checked with the
  tokenizer before the model loads, and the first one over the limit is named (where it came
  from, never its text) with how many exceed it.

environment:
  dynahate itself reads no environment variable here, except RANK, WORLD_SIZE and LOCAL_RANK,
  set by torchrun for a distributed `dynahate eval`. transformers and huggingface_hub, which load
  the base model, read HF_TOKEN (a gated base such as meta-llama/Llama-3.1-8B-Instruct; else
  the cached `hf auth login` token), HF_HOME / HF_HUB_CACHE (where downloaded models are
  cached) and HF_HUB_OFFLINE=1 (use the cache only); CUDA_VISIBLE_DEVICES picks the GPU.
{HUB_ENVIRONMENT}"""


def add_adapter_argument(parser, required: bool = True) -> None:
    """``--adapter RUN_DIR|USER/NAME[@REV]``, a string: :mod:`dynahate.inference.adapter_source` tells a run
    from a Hub repo in ``run``.

    ``parser`` may be a mutually exclusive group, whose members cannot be ``required`` themselves.
    """
    parser.add_argument("--adapter", metavar=ADAPTER_METAVAR, help=ADAPTER_HELP,
                        **({"required": True} if required else {}))


def add_engine_arguments(parser: argparse.ArgumentParser, batch_size_note: str = "") -> None:
    """``--mode``, the model options, ``--batch-size`` and ``--output-dir`` of the commands that evaluate an adapter.

    Args:
        parser: the subcommand's parser (``eval``, ``hatecheck``).
        batch_size_note: appended to the default of ``--batch-size`` (``", as originally"``).
    """
    parser.add_argument("--mode", choices=tuple(ENGINES), default=DEFAULT_MODE, help=modes_help())
    add_model_arguments(parser, using="evaluate on")
    parser.add_argument("--batch-size", type=positive_int, default=DEFAULT_BATCH_SIZE, metavar="N",
                        help=f"generate mode: posts per batch (default {DEFAULT_BATCH_SIZE}{batch_size_note})")
    parser.add_argument("--output-dir", type=Path,
                        help="where to write; created if missing (default: the adapter's run directory; a Hub "
                             "adapter needs it)")


def add_model_arguments(parser: argparse.ArgumentParser, using: str, cutoff_len_help: str | None = None) -> None:
    """``--base``, ``--force``, ``--no-quantize``, ``--token-budget`` and ``--cutoff-len``; ``using`` fills the help.

    ``cutoff_len_help`` replaces the help of ``--cutoff-len`` (serve: what the HTTP answer is).
    """
    parser.add_argument("--base", help="base model: a local directory or Hub id "
                                       "(default: the adapter's base_model_name_or_path)")
    parser.add_argument("--force", action="store_true",
                        help=f"{using} a --base the adapter was not trained on (default: off, refused)")
    parser.add_argument("--no-quantize", action="store_true",
                        help="load the base unquantized, bf16 on GPU / fp32 on CPU (default: 4-bit NF4, as trained)")
    parser.add_argument("--token-budget", type=token_budget_arg, default=DEFAULT_TOKEN_BUDGET, metavar="N|auto",
                        help=TOKEN_BUDGET_HELP)
    parser.add_argument("--cutoff-len", type=positive_int, default=DEFAULT_CUTOFF_LEN, metavar="N",
                        help=cutoff_len_help or f"longest prompt in tokens; longer posts are refused, never truncated "
                                                f"(default {DEFAULT_CUTOFF_LEN}, the recipe's cutoff_len)")


def set_epilog(parser: argparse.ArgumentParser) -> None:
    """The posts rule and the environment variables, shown verbatim under ``--help``."""
    parser.epilog = ENVIRONMENT
    parser.formatter_class = argparse.RawDescriptionHelpFormatter


def model_options(args: argparse.Namespace) -> ModelOptions:
    """The typed options of :func:`add_model_arguments`' arguments, for the library."""
    return ModelOptions(base=args.base, force=args.force, quantize=not args.no_quantize,
                        token_budget=args.token_budget, cutoff_len=args.cutoff_len)
