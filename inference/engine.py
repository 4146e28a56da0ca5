"""The engine interface: what every evaluation mode's engine takes and returns.

An engine turns posts into :class:`EnginePrediction` records, in input order, with
``predict(posts)``, and says with ``budget_lowered`` whether an out-of-memory batch made it lower its token
budget (the line to report, or None); :class:`EngineOptions` holds every engine knob a command exposes. The engines
(:mod:`dynahate.inference.score_engine`, :mod:`dynahate.inference.generate_engine`) import this
module; the table of modes that builds them is :mod:`dynahate.inference.modes`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from dynahate.plugin.post_rule import DEFAULT_CUTOFF_LEN


@dataclass(frozen=True)
class EnginePrediction:
    """What an engine says about one post: the label (``None``: invalid), and p_hate and/or the raw text."""

    pred: str | None
    p_hate: float | None = None
    raw: str | None = None


@runtime_checkable
class Engine(Protocol):
    def predict(self, posts: list[str]) -> list[EnginePrediction]: ...

    @property
    def budget_lowered(self) -> str | None:
        """The line to report at the end of a run when an out-of-memory batch lowered the token budget, else None
        (only the score engine has a budget)."""
        ...


@dataclass(frozen=True)
class EngineOptions:
    """Every engine knob a command exposes; a mode's factory reads the ones it uses."""

    token_budget: Any = "auto"  # score: padded tokens per batch, or "auto" (inference/token_budget.py)
    batch_size: int = 8  # generate: posts per batch
    cutoff_len: int = DEFAULT_CUTOFF_LEN  # generate: the prompt cut (dynahate refuses longer prompts first)
    progress: bool | None = None  # tqdm bar: None = when on a terminal, False = never
