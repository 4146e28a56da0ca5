"""The evaluation modes: one table, name -> engine factory, and the one method every engine has.

An engine turns posts into :class:`EnginePrediction` records, in input order, with
``predict(posts)``. :data:`ENGINES` maps each ``--mode`` name to its help line and factory; the
factory takes the loaded model, its tokenizer and the :class:`EngineOptions` (each mode reads the
options it needs). ``dynahate eval --mode`` takes its choices from this table, ``dynahate predict``
builds its engine from it ("score"). A new engine (vLLM, say) is one module with a ``predict``
method and one entry here; the engine modules are imported only when a factory runs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from dynahate.plugin.post_rules import DEFAULT_CUTOFF_LEN


@dataclass(frozen=True)
class EnginePrediction:
    """What an engine says about one post: the label (``None``: invalid), and p_hate and/or the raw text."""

    pred: str | None
    p_hate: float | None = None
    raw: str | None = None


class Engine(Protocol):
    def predict(self, posts: list[str]) -> list[EnginePrediction]: ...


@dataclass(frozen=True)
class EngineOptions:
    """Every engine knob a command exposes; a mode's factory reads the ones it uses."""

    token_budget: Any = "auto"  # score: padded tokens per batch, or "auto" (eval/token_budget.py)
    batch_size: int = 8  # generate: posts per batch
    cutoff_len: int = DEFAULT_CUTOFF_LEN  # generate: the prompt cut (dynahate refuses longer prompts first)
    progress: bool | None = None  # tqdm bar: None = when on a terminal, False = never


@dataclass(frozen=True)
class Mode:
    help: str
    build: Callable[[Any, Any, EngineOptions], Engine]


def _score(model: Any, tokenizer: Any, options: EngineOptions) -> Engine:
    from .score_engine import ScoreEngine

    return ScoreEngine(model, tokenizer, token_budget=options.token_budget, progress=options.progress)


def _generate(model: Any, tokenizer: Any, options: EngineOptions) -> Engine:
    from .generate_engine import GenerateEngine

    return GenerateEngine(model, tokenizer, batch_size=options.batch_size, cutoff_len=options.cutoff_len,
                          progress=options.progress)


ENGINES: dict[str, Mode] = {
    "score": Mode("label likelihoods, p_hate (default)", _score),
    "generate": Mode("the original greedy method", _generate),
}
DEFAULT_MODE = "score"


def build_engine(mode: str, model: Any, tokenizer: Any, options: EngineOptions = EngineOptions()) -> Engine:
    try:
        factory = ENGINES[mode].build
    except KeyError:
        raise ValueError(f"mode must be one of {tuple(ENGINES)}, got {mode!r}") from None
    return factory(model, tokenizer, options)


def modes_help() -> str:
    """``--mode``'s help: each mode and what it does, from the table."""
    return "; ".join(f"{name}: {mode.help}" for name, mode in ENGINES.items())
