"""The model in the loop: the adapter ``collect serve`` scores every entry with, and what identifies it.

It is ``dynahate serve``'s ``/v1/classify`` path, reused: the base and adapter loaded as every command loads them
(:mod:`dynahate.inference.adapter_loading`), the score engine micro-batched across concurrent requests
(:class:`dynahate.serve.classify_batcher.ClassifyBatcher`), the post rule and length limits of
:class:`dynahate.serve.post_checks.PostChecks`, and the decision rule of ``--threshold`` / ``--calibrated``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from dynahate.collect.entries import ModelAnswer
from dynahate.inference.adapter_source import AdapterSource
from dynahate.inference.decision_rule import DecisionRule
from dynahate.inference.model_loading import adapter_sha256
from dynahate.serve.classify_batcher import ClassifyBatcher
from dynahate.serve.guard import RequestGuard
from dynahate.serve.post_checks import PostChecks


@dataclass
class ModelInLoop:
    source: AdapterSource
    batcher: ClassifyBatcher
    checks: PostChecks
    rule: DecisionRule = field(default_factory=DecisionRule)
    sha256: str = ""

    def __post_init__(self) -> None:
        self.sha256 = self.sha256 or adapter_sha256(self.source.path)

    def describe(self) -> dict[str, Any]:
        return {"adapter": str(self.source.path), "adapter_sha256": self.sha256, "adapter_hub": (
            self.source.hub_record() if self.source.is_hub else None),
            "decision_rule": self.rule_fields()}

    def rule_fields(self) -> dict[str, Any]:
        return {"threshold": self.rule.threshold, "threshold_name": self.rule.threshold_name,
                "temperature": self.rule.temperature}

    async def check(self, text: object, guard: RequestGuard | None) -> int:
        """Refuse a text that is no post or is over the limits (:class:`~dynahate.serve.guard.ServeError`);
        return its prompt's length in tokens."""
        self.checks.check_text("text", text)
        (length,) = await self.checks.prompt_lengths([str(text)], guard)
        self.checks.check_length("text", length)
        return length

    async def answer(self, text: str, length: int, guard: RequestGuard | None) -> ModelAnswer:
        (result,) = await self.batcher.classify([text], [length], guard)
        answer = self.rule.answer(str(result.pred), float(result.p_hate or 0.0))
        return ModelAnswer(label=answer["label"], p_hate=answer["p_hate"], decision_rule=self.rule_fields(),
                           adapter_sha256=self.sha256, adapter_repo=self.source.repo_id,
                           adapter_commit=self.source.commit)


def load_model_in_loop(source: AdapterSource, options, rule: DecisionRule, *, max_text_chars: int | None = None,
                       max_queue: int = 256) -> ModelInLoop:
    """Load ``source`` (checked: :func:`dynahate.inference.adapter_loading.check_adapter`) with ``options`` (a
    :class:`~dynahate.inference.adapter_loading.ModelOptions`) and wrap it for collecting."""
    from dynahate.inference.adapter_loading import load_checked
    from dynahate.inference.model_loading import load_tokenizer, resolve_adapter
    from dynahate.inference.score_engine import ScoreEngine
    from dynahate.serve.post_checks import default_max_text_chars

    base = resolve_adapter(source.path, options.base, options.force)
    tokenizer = load_tokenizer(source.path, base)
    loaded = load_checked(source, tokenizer, options)
    engine = ScoreEngine(loaded.model, loaded.tokenizer, token_budget=options.token_budget, progress=False)
    batcher = ClassifyBatcher(engine, max_queue=max_queue, chunk_tokens=4 * engine.token_budget)
    checks = PostChecks(loaded.tokenizer, options.cutoff_len,
                        max_text_chars or default_max_text_chars(options.cutoff_len))
    return ModelInLoop(source, batcher, checks, rule)
