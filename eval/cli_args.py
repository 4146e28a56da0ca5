"""Arguments shared by ``dynahate eval`` and ``dynahate predict``: checked types, model options, help epilog.

Numbers are checked by argparse itself (``--batch-size 0`` is a usage error before anything
loads), and the options both commands share are defined once here, with their defaults.
"""

from __future__ import annotations

import argparse

from dynahate.plugin.post_rules import DEFAULT_CUTOFF_LEN

from .token_budget import AUTO, CPU_TOKEN_BUDGET, token_budget_arg

DEFAULT_TOKEN_BUDGET = AUTO
TOKEN_BUDGET_HELP = (f"score mode: padded tokens per batch, or auto (default {DEFAULT_TOKEN_BUDGET}: on a GPU from "
                     f"the memory free after the model loads, on CPU {CPU_TOKEN_BUDGET}); a number is used exactly; "
                     "a batch that runs out of memory is split and the budget lowered for the rest of the run")

ENVIRONMENT = """\
posts:
  every post needs at least one non-whitespace character, and its prompt may be at most
  --cutoff-len tokens (default %(cutoff)d, the recipe's cutoff_len, the longest prompt training
  saw whole). A longer prompt is refused, never truncated: all posts are checked with the
  tokenizer before the model loads, and the first one over the limit is named (where it came
  from, never its text) with how many exceed it.

environment:
  dynahate itself reads no environment variable here, except RANK, WORLD_SIZE and LOCAL_RANK,
  set by torchrun for a distributed `dynahate eval`. transformers and huggingface_hub, which load
  the base model, read HF_TOKEN (a gated base such as meta-llama/Llama-3.1-8B-Instruct; else
  the cached `hf auth login` token), HF_HOME / HF_HUB_CACHE (where downloaded models are
  cached) and HF_HUB_OFFLINE=1 (use the cache only); CUDA_VISIBLE_DEVICES picks the GPU.
""" % {"cutoff": DEFAULT_CUTOFF_LEN}


def _number_type(kind: type, accept, description: str):
    """An argparse type: ``kind(text)`` that ``accept`` takes, else "must be <description>, got '<text>'"."""
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            value = None
        if value is None or not accept(value):
            raise argparse.ArgumentTypeError(f"must be {description}, got {text!r}")
        return value

    parse.__name__ = kind.__name__  # argparse names the type in its own messages
    return parse


positive_int = _number_type(int, lambda value: value >= 1, "a positive integer")
non_negative_int = _number_type(int, lambda value: value >= 0, "a whole number >= 0")
positive_float = _number_type(float, lambda value: value > 0, "a number greater than 0")


def add_model_arguments(parser: argparse.ArgumentParser, using: str) -> None:
    """``--base``, ``--force``, ``--no-quantize``, ``--token-budget`` and ``--cutoff-len``; ``using`` fills the help."""
    parser.add_argument("--base", help="base model: a local directory or Hub id "
                                       "(default: the adapter's base_model_name_or_path)")
    parser.add_argument("--force", action="store_true", help=f"{using} a --base the adapter was not trained on")
    parser.add_argument("--no-quantize", action="store_true",
                        help="load the base unquantized, bf16 on GPU / fp32 on CPU (default: 4-bit NF4, as trained)")
    parser.add_argument("--token-budget", type=token_budget_arg, default=DEFAULT_TOKEN_BUDGET, metavar="N|auto",
                        help=TOKEN_BUDGET_HELP)
    parser.add_argument("--cutoff-len", type=positive_int, default=DEFAULT_CUTOFF_LEN, metavar="N",
                        help=f"longest prompt in tokens; longer posts are refused, never truncated "
                             f"(default {DEFAULT_CUTOFF_LEN}, the recipe's cutoff_len)")


def set_epilog(parser: argparse.ArgumentParser) -> None:
    """The posts rule and the environment variables, shown verbatim under ``--help``."""
    parser.epilog = ENVIRONMENT
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
