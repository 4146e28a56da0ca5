"""Arguments shared by ``dynahate eval``, ``hatecheck``, ``predict`` and ``serve``: checked types, options, epilog.

Numbers are checked by argparse itself (``--batch-size 0`` is a usage error before anything
loads), and the options the commands share are defined once here, with their defaults:
``--adapter`` (:func:`add_adapter_argument`), the model options (:func:`add_model_arguments`) and
the engine options of the commands that evaluate (:func:`add_engine_arguments`). An option that
was renamed keeps its old spelling as a deprecated alias for one release
(:func:`add_option_with_deprecated_alias`).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from dynahate.plugin.post_rules import DEFAULT_CUTOFF_LEN

from .adapter_source import ADAPTER_HELP, ADAPTER_METAVAR, HUB_ENVIRONMENT
from .engines import DEFAULT_MODE, ENGINES, modes_help
from .token_budget import AUTO, CPU_TOKEN_BUDGET, token_budget_arg

DEFAULT_BATCH_SIZE = 8

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
%(hub)s""" % {"cutoff": DEFAULT_CUTOFF_LEN, "hub": HUB_ENVIRONMENT}


# the number types live in the base package so that every subcommand shares them
from dynahate.plugin.arg_types import non_negative_int, positive_float, positive_int  # noqa: E402,F401


ALIASES_REMOVED_IN = "0.2"
"""The release that drops the deprecated spellings (``--show-examples``)."""


class _Spelling(argparse.Action):
    """Stores an option given by its name or by its deprecated alias (``alias_of``), which warns once on stderr.

    The two spellings may both be given if they agree; a different value under the other spelling
    is a usage error, whichever comes first.
    """

    def __init__(self, option_strings, dest, alias_of: str | None = None, **kwargs):
        super().__init__(option_strings, dest, **kwargs)
        self.alias_of = alias_of

    def __call__(self, parser, namespace, values, option_string=None):
        value = self.const if self.nargs == 0 else values
        spelling = self.option_strings[0]
        given = vars(namespace).setdefault("_spellings_given", {}).setdefault(self.dest, {})
        for other, other_value in given.items():
            if other != spelling and other_value != value:
                raise argparse.ArgumentError(self, f"{value} conflicts with {other} {other_value}: "
                                                   "give one spelling, or the same value to both")
        # once, and under torchrun by rank 0 alone (the other ranks print nothing but errors)
        if self.alias_of and spelling not in given and os.environ.get("RANK", "0").strip() in ("", "0"):
            print(f"warning: {spelling} is deprecated; use {self.alias_of}", file=sys.stderr)
        given[spelling] = value
        setattr(namespace, self.dest, value)


def add_option_with_deprecated_alias(parser: argparse.ArgumentParser, name: str, alias: str, *, help: str,
                                     **kwargs) -> None:
    """Add option ``name`` and its old spelling ``alias``, deprecated until :data:`ALIASES_REMOVED_IN`.

    Args:
        parser: the subcommand's parser.
        name: the option's name, e.g. ``--show-misclassified``; its ``dest`` is the name in snake case.
        alias: the old spelling, e.g. ``--show-examples``: it sets the same ``dest`` exactly as ``name``
            does, is listed in ``--help`` as a deprecated alias, and when used prints one line
            ``warning: ALIAS is deprecated; use NAME`` to stderr.
        help: the help of ``name``.
        **kwargs: as for ``add_argument``: ``action="store_true"`` for a switch, or ``type``,
            ``default`` and ``metavar`` for a value.
    """
    dest = name.lstrip("-").replace("-", "_")
    if kwargs.pop("action", None) == "store_true":
        kwargs.update(nargs=0, const=True, default=False)
    default = kwargs.pop("default", None)
    parser.add_argument(name, action=_Spelling, dest=dest, default=default, help=help, **kwargs)
    parser.add_argument(alias, action=_Spelling, dest=dest, alias_of=name, default=argparse.SUPPRESS,
                        help=f"(deprecated alias of {name}; removed in {ALIASES_REMOVED_IN})", **kwargs)


def add_adapter_argument(parser, required: bool = True) -> None:
    """``--adapter RUN_DIR|USER/NAME[@REV]`` (a string: :mod:`.adapter_source` tells a run from a Hub repo in ``run``).

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
