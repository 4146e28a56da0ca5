"""The options ``dynahate eval`` and ``dynahate hatecheck`` share for the decision-ready entries."""

from __future__ import annotations

import argparse

from dynahate.core.arg_types import positive_int
from dynahate.eval.decision.bias import DEFAULT_MIN_EXAMPLES
from dynahate.eval.decision.entries import DecisionOptions


def add_decision_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--bias-min-examples", type=positive_int, default=DEFAULT_MIN_EXAMPLES, metavar="N",
                        help="a bias AUC is null when either class has fewer than N posts in the set it is computed "
                             f"on (default {DEFAULT_MIN_EXAMPLES})")


def decision_options(args: argparse.Namespace) -> DecisionOptions:
    return DecisionOptions(bias_min_examples=args.bias_min_examples)
