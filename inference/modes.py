"""The evaluation modes: one table, ``--mode`` name -> engine factory.

Every engine has the interface of :mod:`dynahate.inference.engine`. :data:`ENGINES` maps each
``--mode`` name to its help line and factory; the factory takes the loaded model, its tokenizer
and the :class:`EngineOptions` (each mode reads the options it needs). ``dynahate eval --mode``
takes its choices from this table, ``dynahate predict`` builds its engine from it ("score"). A
new engine (vLLM, say) is one module with a ``predict`` method and one entry here; the engine
modules are imported only when a factory runs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dynahate.inference.engine import Engine, EngineOptions


@dataclass(frozen=True)
class Mode:
    help: str
    build: Callable[[Any, Any, EngineOptions], Engine]


def _score(model: Any, tokenizer: Any, options: EngineOptions) -> Engine:
    from dynahate.inference.score_engine import ScoreEngine

    return ScoreEngine(model, tokenizer, token_budget=options.token_budget, progress=options.progress)


def _generate(model: Any, tokenizer: Any, options: EngineOptions) -> Engine:
    from dynahate.inference.generate_engine import GenerateEngine

    return GenerateEngine(model, tokenizer, batch_size=options.batch_size, cutoff_len=options.cutoff_len,
                          progress=options.progress)


ENGINES: dict[str, Mode] = {
    "score": Mode("label likelihoods, p_hate (default)", _score),
    "generate": Mode("the original greedy method", _generate),
}
DEFAULT_MODE = "score"


def build_engine(mode: str, model: Any, tokenizer: Any, options: EngineOptions | None = None) -> Engine:
    try:
        factory = ENGINES[mode].build
    except KeyError:
        raise ValueError(f"mode must be one of {tuple(ENGINES)}, got {mode!r}") from None
    return factory(model, tokenizer, options or EngineOptions())


def modes_help() -> str:
    """``--mode``'s help: each mode and what it does, from the table."""
    return "; ".join(f"{name}: {mode.help}" for name, mode in ENGINES.items())
