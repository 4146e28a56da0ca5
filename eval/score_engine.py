"""Score mode: the likelihood of each label as the continuation of the training prompt.

For every post and every label, the summed log-probability of the label's full token sequence
(the label, then ``<|eot_id|>``, encoded as training encoded it) after the training prompt.
``p_hate`` is the softmax of these sums over the label set: the model's own odds between the
labels, with no generation and no parsing.

Why it is fast: every prompt starts with the same ~50 tokens (Llama 3 header, system prompt,
instruction). Their key/value cache is computed once and shared by all batches; each sequence
then only carries its post, the assistant header and the labels (~25 tokens instead of ~75). A
post whose token ids do not start with the cached prefix (a tokenizer merge across the
boundary) is scored from scratch instead. Each prompt is computed once for all labels: the
labels' tokens run as continuations of its cache. Prompts are length-sorted and batched under
a token budget, and the vocabulary projection is computed only at the positions that predict a
label token. Works for any label set, also labels that share their first tokens.
"""

from __future__ import annotations

import copy
import math
import sys
from dataclasses import dataclass
from typing import Any

from tqdm import tqdm

from dynahate.plugin import prompts
from dynahate.plugin.errors import DynahateError
from dynahate.plugin.labels import HATE, LABELS

from .token_budget import AUTO, resolve_token_budget


@dataclass(frozen=True)
class ScoreResult:
    label_logprobs: dict[str, float]
    probabilities: dict[str, float]
    pred: str

    @property
    def p_hate(self) -> float | None:
        return self.probabilities.get(HATE)


@dataclass(frozen=True)
class _Item:
    post: int
    tokens: list[int]  # the prompt after the cached prefix (or the whole prompt, if not cached)
    cached: bool


def softmax_over_labels(logprobs: dict[str, float]) -> dict[str, float]:
    top = max(logprobs.values())
    exp = {label: math.exp(value - top) for label, value in logprobs.items()}
    total = sum(exp.values())
    return {label: value / total for label, value in exp.items()}


def causal_lm_of(model: Any) -> Any:
    """The ``*ForCausalLM`` module inside a peft model (LoRA layers stay injected), or the model."""
    return model.get_base_model() if hasattr(model, "get_base_model") else model


class ScoreEngine:
    """Label log-likelihoods for many posts, with the shared prompt prefix cached once.

    ``token_budget`` is a number (used exactly) or ``auto`` (resolved once the model is loaded,
    see :mod:`dynahate.eval.token_budget`). A batch that runs out of memory is split in two and
    retried, down to one post; the budget is then lowered to the larger half's padded size for
    the rest of the run (:attr:`budget_lowered` says so). One post that does not fit on its own
    is a :class:`DynahateError` naming its index, never its text.
    """

    def __init__(self, model: Any, tokenizer: Any, labels: tuple[str, ...] = LABELS, token_budget: int | str = AUTO,
                 progress: bool | None = None):
        if len(set(labels)) != len(labels) or len(labels) < 2:
            raise ValueError(f"labels must be at least two distinct strings, got {labels!r}")
        self.model = model
        self.lm = causal_lm_of(model)
        self.tokenizer = tokenizer
        self.labels = tuple(labels)
        self.progress = progress
        self.label_ids = [prompts.encode_label(tokenizer, label) for label in self.labels]
        self.prefix_ids = tokenizer.encode(prompts.shared_prefix(), add_special_tokens=False)
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        self.device = next(model.parameters()).device
        self._prefix_cache = None
        self.fallbacks = 0  # posts scored without the cache in the last call
        self.batch_count = 0  # batches scored in the last call (retried halves of a split batch included)
        # vocabulary rows (label positions) per padded token of the shortest possible row: the auto budget's
        # estimate of the label log-probs' memory
        rows = sum(len(ids) for ids in self.label_ids) / (self._extra(True) + 1)
        resolved = resolve_token_budget(token_budget, self.lm, self.device, label_rows_per_token=rows)
        self.token_budget = resolved.tokens  # lowered for the rest of the run after an out-of-memory batch
        self.initial_token_budget = resolved.tokens
        self.token_budget_source = resolved.how

    # -- preparation -------------------------------------------------------------------------
    def _items(self, posts: list[str]) -> list[_Item]:
        items, plen = [], len(self.prefix_ids)
        for i, post in enumerate(posts):
            ids = prompts.encode_prompt(self.tokenizer, post)
            cached = ids[:plen] == self.prefix_ids and len(ids) > plen
            items.append(_Item(i, ids[plen:] if cached else ids, cached))
        self.fallbacks = sum(not item.cached for item in items)
        return items

    def _extra(self, cached: bool) -> int:
        """Padded tokens a row carries besides its prompt: the cached prefix (if cached) and the labels' tokens.

        Every label's tokens are counted: what a row holds when all labels ride in one pass, and
        an upper bound when they run as continuations (the longest label at a time).
        """
        return (len(self.prefix_ids) if cached else 0) + sum(len(ids) for ids in self.label_ids)

    def _padded_tokens(self, batch: list[_Item]) -> int:
        """A batch's padded size as the budget counts it."""
        return len(batch) * (max(len(it.tokens) for it in batch) + self._extra(batch[0].cached))

    def _batches(self, items: list[_Item]) -> list[list[_Item]]:
        """Length-sorted batches whose padded size (cached prefix and labels included) fits the budget.

        A post longer than the budget on its own is a batch of one.
        """
        batches = []
        for cached in (True, False):
            group = sorted((it for it in items if it.cached == cached), key=lambda it: len(it.tokens))
            extra = self._extra(cached)
            batch: list[_Item] = []
            for item in group:
                if batch and (len(batch) + 1) * (len(item.tokens) + extra) > self.token_budget:
                    batches.append(batch)
                    batch = []
                batch.append(item)
            if batch:
                batches.append(batch)
        return batches

    # -- model work --------------------------------------------------------------------------
    def _cache_for(self, batch_size: int):
        import torch

        if self._prefix_cache is None:
            ids = torch.tensor([self.prefix_ids], device=self.device)
            with torch.inference_mode():
                self._prefix_cache = self.lm.model(input_ids=ids, use_cache=True).past_key_values
        cache = copy.deepcopy(self._prefix_cache)
        cache.batch_repeat_interleave(batch_size)
        return cache

    def _label_token_logprobs(self, hidden, token_ids: list[int]):
        """log p(token) for each row of ``hidden`` (one vocabulary projection per needed position)."""
        import torch

        logprobs = torch.log_softmax(self.lm.lm_head(hidden).float(), dim=-1)
        return logprobs[:, token_ids]

    def _score_batch(self, batch: list[_Item]) -> list[list[float]]:
        """Summed label log-probs, ``[post][label]``.

        Pass 1 runs each prompt once (after the cached prefix) and reads the first label token's
        log-prob at its last position. Then, per label, the label's remaining tokens run as a
        continuation of pass 1's cache (cropped back after each label), so the prompt is never
        recomputed per label.
        """
        import torch

        dev = self.device
        past = len(self.prefix_ids) if batch[0].cached else 0
        lengths = [len(it.tokens) for it in batch]
        width = max(lengths)
        ids = torch.full((len(batch), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(batch), past + width), dtype=torch.long)
        mask[:, :past] = 1
        for b, item in enumerate(batch):
            ids[b, : lengths[b]] = torch.tensor(item.tokens)
            mask[b, past : past + lengths[b]] = 1
        rows = torch.arange(len(batch), device=dev)
        last = torch.tensor(lengths, device=dev) - 1
        sums = torch.zeros((len(batch), len(self.labels)), dtype=torch.float64, device=dev)
        with torch.inference_mode():
            out = self.lm.model(
                input_ids=ids.to(dev), attention_mask=mask.to(dev),
                position_ids=(torch.arange(past, past + width).unsqueeze(0).expand(len(batch), -1)).to(dev),
                past_key_values=self._cache_for(len(batch)) if past else None, use_cache=True,
            )
            cache, mask = out.past_key_values, mask.to(dev)
            firsts = self._label_token_logprobs(out.last_hidden_state[rows, last], [t[0] for t in self.label_ids])
            sums += firsts.double()
            for j, label_ids in enumerate(self.label_ids):
                if len(label_ids) == 1:
                    continue
                feed = torch.tensor(label_ids[:-1], device=dev).unsqueeze(0).expand(len(batch), -1)
                steps = feed.shape[1]
                positions = past + last.unsqueeze(1) + 1 + torch.arange(steps, device=dev).unsqueeze(0)
                cont = self.lm.model(
                    input_ids=feed, past_key_values=cache, use_cache=True, position_ids=positions,
                    attention_mask=torch.cat([mask, torch.ones((len(batch), steps), dtype=mask.dtype, device=dev)], 1),
                ).last_hidden_state
                cache.crop(past + width)
                step_logprobs = torch.log_softmax(self.lm.lm_head(cont).float(), dim=-1)
                targets = torch.tensor(label_ids[1:], device=dev)
                sums[:, j] += step_logprobs[:, torch.arange(steps, device=dev), targets].sum(dim=1).double()
        return sums.tolist()

    @property
    def budget_lowered(self) -> str | None:
        """The line to report at the end of a run if an out-of-memory batch lowered the budget, else None."""
        if self.token_budget >= self.initial_token_budget:
            return None
        return (f"token budget lowered from {self.initial_token_budget} to {self.token_budget} "
                "after an out-of-memory batch")

    def _try_batch(self, batch: list[_Item]) -> list[list[float]] | None:
        """:meth:`_score_batch`, or None if it ran out of memory (its tensors are freed before this returns)."""
        import torch

        try:
            return self._score_batch(batch)
        except torch.OutOfMemoryError:
            pass  # leaving the except block drops the traceback, and with it the batch's tensors
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        return None

    def _split_after_oom(self, batch: list[_Item], pending: list[list[_Item]]) -> list[list[_Item]]:
        """The failed batch's two halves, then the other pending posts re-batched under the lowered budget."""
        if len(batch) == 1:
            raise DynahateError(
                f"post {batch[0].post} (index in the input, from 0) does not fit in {self.device} memory on its own "
                f"({self._padded_tokens(batch)} padded tokens with the cached prefix and labels); free memory on "
                "the device, or refuse posts this long with a lower --cutoff-len")
        half = (len(batch) + 1) // 2
        halves = [batch[:half], batch[half:]]
        lowered = max(self._padded_tokens(part) for part in halves)
        tqdm.write(f"score: out of memory on a batch of {len(batch)} posts ({self._padded_tokens(batch)} padded "
                   f"tokens): split in two; token budget lowered from {self.token_budget} to {lowered} for the rest "
                   "of the run", file=sys.stderr)
        self.token_budget = min(self.token_budget, lowered)
        return halves + self._batches([item for rest in pending for item in rest])

    def score(self, posts: list[str]) -> list[ScoreResult]:
        """One :class:`ScoreResult` per post, in input order."""
        self.batch_count = 0
        if not posts:
            return []
        totals: list[list[float]] = [[] for _ in posts]
        pending = self._batches(self._items(posts))
        if self.progress is not False:
            print(f"score: {len(posts)} posts in {len(pending)} batches, token budget {self.token_budget} "
                  f"({self.token_budget_source})", file=sys.stderr, flush=True)
        with tqdm(total=len(posts), desc="score", unit="post", disable=self.progress is False,
                  leave=False, mininterval=1.0) as bar:
            while pending:
                batch = pending.pop(0)
                batch_sums = self._try_batch(batch)
                if batch_sums is None:
                    pending = self._split_after_oom(batch, pending)
                    continue
                for item, sums in zip(batch, batch_sums):
                    totals[item.post] = sums
                self.batch_count += 1
                bar.update(len(batch))
        results = []
        for sums in totals:
            logprobs = dict(zip(self.labels, sums))
            probabilities = softmax_over_labels(logprobs)
            results.append(ScoreResult(logprobs, probabilities, max(probabilities, key=probabilities.get)))
        return results

    def predict(self, posts: list[str]) -> list:
        """The engine interface (:mod:`dynahate.eval.engines`): an ``EnginePrediction`` (label, p_hate) per post."""
        from .engines import EnginePrediction

        return [EnginePrediction(result.pred, p_hate=result.p_hate) for result in self.score(posts)]
