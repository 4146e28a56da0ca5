"""Generate mode: the original evaluation method, kept for comparison and reproduction.

Greedy decoding of at most 4 new tokens per post, in batches of 8 in input order (left
padding), prompts cut to 1 024 tokens as LLaMA-Factory's ``cutoff_len`` cuts them (the end of
an over-long prompt is dropped), and the original normalization of the text: ``not hate`` before
``hate``, anything else *invalid*. ``dynahate eval`` never lets the cut happen: it refuses a
prompt over ``--cutoff-len`` before the model loads and passes the same limit here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tqdm import tqdm

from dynahate.inference.engine import EnginePrediction
from dynahate.inference.numerics import training_autocast
from dynahate.plugin import prompts
from dynahate.plugin.labels import normalize_generation

STOP_TOKENS = ("<|eot_id|>", "<|eom_id|>", "<|end_of_text|>")


@dataclass(frozen=True)
class GenerateResult:
    raw: str
    pred: str | None


class GenerateEngine:
    def __init__(self, model: Any, tokenizer: Any, batch_size: int = 8, max_new_tokens: int = 4,
                 cutoff_len: int = 1024, progress: bool | None = None):
        self.model, self.tokenizer = model, tokenizer
        self.batch_size, self.max_new_tokens, self.cutoff_len = batch_size, max_new_tokens, cutoff_len
        self.progress = progress
        vocab = tokenizer.get_vocab()
        self.stop_ids = [vocab[t] for t in STOP_TOKENS if t in vocab]
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else self.stop_ids[0]
        self.device = next(model.parameters()).device
        self.truncated = 0  # prompts cut to cutoff_len in the last call

    @property
    def budget_lowered(self) -> str | None:
        """Always None: the generate engine batches by ``batch_size``, with no token budget to lower."""
        return None

    def _generate(self, batch: list[list[int]]) -> list[str]:
        import torch

        width = max(len(ids) for ids in batch)
        ids = torch.full((len(batch), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for b, row in enumerate(batch):  # left padding: every prompt ends where generation starts
            ids[b, width - len(row):] = torch.tensor(row)
            mask[b, width - len(row):] = 1
        with torch.inference_mode(), training_autocast(self.device):
            out = self.model.generate(
                input_ids=ids.to(self.device), attention_mask=mask.to(self.device), do_sample=False,
                max_new_tokens=self.max_new_tokens, eos_token_id=self.stop_ids, pad_token_id=self.pad_id,
            )
        return [self.tokenizer.decode(row[width:], skip_special_tokens=True) for row in out.tolist()]

    def generate(self, posts: list[str]) -> list[GenerateResult]:
        encoded = [prompts.encode_prompt(self.tokenizer, post) for post in posts]
        self.truncated = sum(len(ids) > self.cutoff_len for ids in encoded)
        encoded = [ids[: self.cutoff_len] for ids in encoded]
        results: list[GenerateResult] = []
        with tqdm(total=len(posts), desc="generate", unit="post", disable=self.progress is False,
                  leave=False, mininterval=1.0) as bar:
            for start in range(0, len(encoded), self.batch_size):
                for raw in self._generate(encoded[start : start + self.batch_size]):
                    results.append(GenerateResult(raw, normalize_generation(raw)))
                bar.update(min(self.batch_size, len(encoded) - start))
        return results

    def predict(self, posts: list[str]) -> list[EnginePrediction]:
        """The engine interface (:mod:`dynahate.inference.modes`): label (``None``: invalid) and raw text per post."""
        return [EnginePrediction(result.pred, raw=result.raw) for result in self.generate(posts)]
