"""Score mode: the likelihood of each label as the continuation of the training prompt.

For every post and every label, the summed log-probability of the label's full token sequence
(the label, then ``<|eot_id|>``, encoded as training encoded it) after the training prompt.
``p_hate`` is the softmax of these sums over the label set: the model's own odds between the
labels, with no generation and no parsing.

Why it is fast: every prompt starts with the same ~50 tokens (Llama 3 header, system prompt,
instruction). Their key/value cache is computed once and shared by all batches; each sequence
then only carries its post, the assistant header and the labels (~25 tokens instead of ~75). A
post whose token ids do not start with the cached prefix (a tokenizer merge across the
boundary) is scored from scratch instead. Each batch is ONE forward call: after each prompt
ride every label's tokens (the label's ids but its last), under a 4D attention mask under which
each label sees the prefix, its prompt and its own earlier tokens but no other label's, at the
positions that follow the prompt's end; the log-probs equal one pass per label. Prompts are
length-sorted and batched under a token budget, and the vocabulary projection is computed only
at the positions that predict a label token. Works for any label set, also labels that share
their first tokens. On CUDA the forward runs under bf16 autocast, as training did
(:mod:`dynahate.inference.numerics`).
"""

from __future__ import annotations

import copy
import math
import sys
from dataclasses import dataclass
from typing import Any

from tqdm import tqdm

from dynahate.core.errors import DynahateError
from dynahate.inference.engine import EnginePrediction
from dynahate.inference.numerics import training_autocast
from dynahate.inference.token_budget import AUTO, resolve_token_budget
from dynahate.plugin import prompts
from dynahate.plugin.labels import HATE, LABELS

# The vocabulary projection of one batch is split into row chunks above this many logits
# (2**27 fp32 logits: 512 MiB; about 1 000 positions of Llama 3's 128 256-token vocabulary).
_LOGITS_PER_CHUNK = 2**27
# Attention implementations that take a custom 4D mask as it is (flash-attention kernels do not).
_MASKED_ATTENTION = ("sdpa", "eager")


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


@dataclass(frozen=True)
class LabelLayout:
    """Where the labels' tokens ride in the one forward pass of a batch, and what they predict.

    Every label's token ids but its last are fed after the prompt, label after label (``fed``);
    ``fed_label`` says whose each is, ``fed_step`` its offset in its label (its position after
    the prompt's end) and ``fed_targets`` the token it predicts (the label's next). Each label's
    first token is predicted at the prompt's last position (``first_targets``). A one-token
    label feeds nothing; labels that share first tokens feed them once each.
    """

    first_targets: tuple[int, ...]
    fed: tuple[int, ...]
    fed_label: tuple[int, ...]
    fed_step: tuple[int, ...]
    fed_targets: tuple[int, ...]

    @classmethod
    def of(cls, label_ids: list[list[int]]) -> LabelLayout:
        fed, fed_label, fed_step, fed_targets = [], [], [], []
        for j, ids in enumerate(label_ids):
            for k in range(len(ids) - 1):
                fed.append(ids[k])
                fed_label.append(j)
                fed_step.append(k)
                fed_targets.append(ids[k + 1])
        return cls(tuple(ids[0] for ids in label_ids), tuple(fed), tuple(fed_label), tuple(fed_step),
                   tuple(fed_targets))


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
    see :mod:`dynahate.inference.token_budget`). A batch that runs out of memory is split in two and
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
        if any(not ids for ids in self.label_ids):
            raise ValueError("every label must encode to at least one token")
        self.layout = LabelLayout.of(self.label_ids)
        attention = getattr(self.lm.config, "_attn_implementation", None)
        if attention not in _MASKED_ATTENTION:
            raise ValueError(f"score mode needs the model's attention implementation to be one of "
                             f"{', '.join(_MASKED_ATTENTION)} (a 4D attention mask), not {attention!r}")
        self.prefix_ids = tokenizer.encode(prompts.shared_prefix(), add_special_tokens=False)
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        self.device = next(model.parameters()).device
        self._prefix_cache = None
        self._layout_tensors = None
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
        for i, ids in enumerate(prompts.encode_prompts(self.tokenizer, posts)):
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
            with torch.inference_mode(), training_autocast(self.device):
                self._prefix_cache = self.lm.model(input_ids=ids, use_cache=True).past_key_values
        cache = copy.deepcopy(self._prefix_cache)
        cache.batch_repeat_interleave(batch_size)
        return cache

    def _layout_on_device(self):
        """The label layout's index tensors on the model's device (built once)."""
        import torch

        if self._layout_tensors is None:
            lay, dev = self.layout, self.device
            self._layout_tensors = {
                "fed": torch.tensor(lay.fed, dtype=torch.long, device=dev),
                "block": torch.tensor(lay.fed_label, dtype=torch.long, device=dev),
                "step": torch.tensor(lay.fed_step, dtype=torch.long, device=dev),
                "targets": torch.tensor(lay.fed_targets, dtype=torch.long, device=dev),
                "firsts": torch.tensor(lay.first_targets, dtype=torch.long, device=dev),
            }
        return self._layout_tensors

    def _attention_mask(self, lengths, width: int, past: int):
        """The 4D mask ``[batch, 1, q_len, past + q_len]`` of the one pass, on the device.

        Query and key columns: the padded prompts (``width``), then every label's fed tokens. A
        prompt token sees the cached prefix and the prompt up to itself; a label token sees the
        prefix, its row's whole prompt (no padding) and its own label's earlier tokens, never
        another label's. A padding query sees its own column too, so no row of the mask is empty.
        """
        import torch

        t = self._layout_on_device()
        cols = torch.arange(width + len(self.layout.fed), device=self.device)
        # Each prompt column is a block of its own; each label's fed tokens share one block.
        block = torch.cat([-1 - cols[:width], t["block"]])
        allowed = (cols[None, :] <= cols[:, None]) & (block[None, :] == block[:, None])  # [q, k]
        is_prompt = cols[None, :] < lengths[:, None]  # [batch, k]: a real prompt token of that row
        allowed = allowed[None] | ((cols[None, :] <= cols[:, None])[None] & is_prompt[:, None, :])
        if past:
            allowed = torch.cat([allowed.new_ones((len(lengths), len(cols), past)), allowed], dim=2)
        allowed = allowed[:, None]
        if self.lm.config._attn_implementation == "eager":  # eager adds the mask to the scores
            dtype = self.lm.model.embed_tokens.weight.dtype
            return torch.zeros(allowed.shape, dtype=dtype, device=self.device).masked_fill_(
                ~allowed, torch.finfo(dtype).min)
        return allowed  # sdpa: True = may attend

    def _label_token_logprobs(self, needed):
        """Summed label log-probs ``[batch, label]`` (float64) from the hidden states that predict them.

        ``needed`` is ``[batch, 1 + fed, hidden]``: the prompt's last position (it predicts every
        label's first token), then every fed label token (each predicts its label's next token).
        The vocabulary projection runs once on these positions only (in row chunks when the logits
        would exceed ``_LOGITS_PER_CHUNK`` elements).
        """
        import torch

        t = self._layout_on_device()
        batch, positions = needed.shape[:2]
        vocab = self.lm.lm_head.out_features
        rows = max(1, _LOGITS_PER_CHUNK // (positions * vocab))
        sums = torch.empty((batch, len(self.labels)), dtype=torch.float64, device=self.device)
        for lo in range(0, batch, rows):
            logits = self.lm.lm_head(needed[lo: lo + rows]).float()  # [rows, 1 + fed, vocab]
            norm = logits.logsumexp(dim=-1)
            chunk = (logits[:, 0, t["firsts"]] - norm[:, :1]).double()
            if positions > 1:
                fed = logits[:, 1:].gather(-1, t["targets"].view(1, -1, 1).expand(len(logits), -1, 1))
                chunk.index_add_(1, t["block"], (fed.squeeze(-1) - norm[:, 1:]).double())
            sums[lo: lo + rows] = chunk
        return sums

    def _score_batch(self, batch: list[_Item]):
        """Summed label log-probs, a ``[post, label]`` float64 tensor on the device, from ONE forward call.

        Each row holds its prompt (after the cached prefix, right-padded to the batch's longest),
        then every label's tokens but its last (``self.layout.fed``). Under the 4D mask of
        :meth:`_attention_mask` each label's tokens continue their row's prompt, at the positions
        that follow the prompt's end (every label starts at the same position), as if they were
        the only continuation: the same log-probs as one pass per label, in one call. Nothing here waits
        for the device: the inputs travel from pinned memory without blocking and the sums stay on the
        device, so the host prepares the next batch while this one runs.
        """
        import torch

        dev, fed = self.device, self.layout.fed
        past = len(self.prefix_ids) if batch[0].cached else 0
        lengths_list = [len(it.tokens) for it in batch]
        width = max(lengths_list)
        pinned = dev.type == "cuda"
        prompts_ids = torch.full((len(batch), width), self.pad_id, dtype=torch.long, pin_memory=pinned)
        for b, item in enumerate(batch):
            prompts_ids[b, : lengths_list[b]] = torch.tensor(item.tokens)
        t = self._layout_on_device()
        lengths = torch.tensor(lengths_list, pin_memory=pinned).to(dev, non_blocking=True)
        ids = torch.cat([prompts_ids.to(dev, non_blocking=True), t["fed"].expand(len(batch), -1)], dim=1)
        cols = torch.arange(width + len(fed), device=dev)
        positions = past + torch.where(
            cols[None, :] < width, cols[None, :], lengths[:, None] + torch.cat([cols[:width] * 0, t["step"]])[None, :])
        with torch.inference_mode(), training_autocast(dev):
            hidden = self.lm.model(
                input_ids=ids, attention_mask=self._attention_mask(lengths, width, past), position_ids=positions,
                past_key_values=self._cache_for(len(batch)) if past else None, use_cache=bool(past),
            ).last_hidden_state
            last = hidden[torch.arange(len(batch), device=dev), lengths - 1]
            return self._label_token_logprobs(torch.cat([last[:, None], hidden[:, width:]], dim=1))

    @property
    def budget_lowered(self) -> str | None:
        """The line to report at the end of a run if an out-of-memory batch lowered the budget, else None."""
        if self.token_budget >= self.initial_token_budget:
            return None
        return (f"token budget lowered from {self.initial_token_budget} to {self.token_budget} "
                "after an out-of-memory batch")

    def _try_batch(self, batch: list[_Item]):
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
        import torch

        scored: list[tuple[list[int], Any]] = []  # (posts' indices, their sums on the device) per batch
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
                scored.append(([item.post for item in batch], batch_sums))
                self.batch_count += 1
                bar.update(len(batch))
        # one copy to the host at the end (the only wait for the device), rows put back in input order
        order = [post for indices, _ in scored for post in indices]
        rows = torch.cat([sums for _, sums in scored]).cpu().tolist()
        totals: list[list[float]] = [[] for _ in posts]
        for post, sums in zip(order, rows, strict=True):
            totals[post] = sums
        results = []
        for sums in totals:
            logprobs = dict(zip(self.labels, sums, strict=False))
            probabilities = softmax_over_labels(logprobs)
            results.append(ScoreResult(logprobs, probabilities, max(probabilities, key=probabilities.__getitem__)))
        return results

    def predict(self, posts: list[str]) -> list:
        """The engine interface (:mod:`dynahate.inference.engine`): an ``EnginePrediction`` (label, p_hate) per post."""

        return [EnginePrediction(result.pred, p_hate=result.p_hate) for result in self.score(posts)]
