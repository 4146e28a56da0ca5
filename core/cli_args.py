"""Argument declarations any command may share: an option renamed keeps its old spelling for one release.

:func:`add_option_with_deprecated_alias` declares both spellings; the old one warns once on stderr
and sets the same value. The number types are in :mod:`dynahate.core.arg_types`.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import Any

ALIASES_REMOVED_IN = "0.2"
"""The release that drops the deprecated spellings (``--show-examples``)."""


class _Spelling(argparse.Action):
    """Stores an option given by its name or by its deprecated alias (``alias_of``), which warns once on stderr.

    The two spellings may both be given if they agree; a different value under the other spelling
    is a usage error, whichever comes first.
    """

    def __init__(self, option_strings: Sequence[str], dest: str, alias_of: str | None = None, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, **kwargs)
        self.alias_of = alias_of

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: str | Sequence[Any] | None, option_string: str | None = None) -> None:
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
                                     **kwargs: Any) -> None:
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
