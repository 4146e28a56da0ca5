"""argparse types for numbers, shared by every subcommand: one message shape, "must be …, got '…'"."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from typing import TypeVar

_Number = TypeVar("_Number", int, float)


def _number_type(kind: type[_Number], accept: Callable[[_Number], bool],
                 description: str) -> Callable[[str], _Number]:
    """An argparse type: ``kind(text)`` that ``accept`` takes, else "must be <description>, got '<text>'"."""
    def parse(text: str) -> _Number:
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
positive_float = _number_type(float, lambda value: math.isfinite(value) and value > 0,
                              "a finite number greater than 0")  # inf: a wait that never ends
open_fraction = _number_type(float, lambda value: 0 < value < 1, "a number between 0 and 1 (both excluded)")


def positive_int_at_most(maximum: int) -> Callable[[str], int]:
    """An argparse type: a positive integer no greater than ``maximum`` (a bound on memory or time)."""
    return _number_type(int, lambda value: 1 <= value <= maximum, f"a positive integer at most {maximum}")
