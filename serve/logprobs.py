"""The log-probabilities chat completions return (``logprobs``, ``top_logprobs``), from the model's own logits.

:class:`StepRecorder` rides along ``model.generate`` twice: as the first of its logits processors, it takes the
logits of each step before anything changes them (LLaMA-Factory's ``presence_penalty``, applied as a repetition
penalty, is moved after it; temperature, top-k and top-p always come after the processors) and keeps their
``log_softmax`` over the whole vocabulary, in float32; as its streamer, it is told the token chosen at that step,
and keeps that token's log-probability and the ``top`` most likely tokens with theirs. So each generated token's
``logprob`` is the model's log-probability of it given the prompt and the tokens before it: the same numbers a
forward pass of the prompt and the answer gives, and the ones ``/v1/classify`` sums
(:mod:`dynahate.inference.score_engine`).
A step's full row is dropped as soon as its token is known, so memory stays one row per sequence.

:class:`TokenTexts` names a token as OpenAI does: ``token``, the text the tokenizer decodes it to on its own (part
of a character decodes to U+FFFD), and ``bytes``, the token's exact UTF-8 bytes (for a byte-level BPE such as
Llama 3's, the bytes it stands for, so a client can join the parts of a character).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from transformers import LogitsProcessor
from transformers.generation.streamers import BaseStreamer

MAX_TOP_LOGPROBS = 20  # OpenAI's bound on top_logprobs


@lru_cache(maxsize=1)
def _byte_decoder() -> dict[str, int]:
    """GPT-2's byte-level alphabet reversed: the character a byte-level BPE writes for each byte -> the byte."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    chars, extra = {}, 0
    for byte in range(256):
        if byte in printable:
            chars[byte] = chr(byte)
        else:
            chars[byte] = chr(256 + extra)
            extra += 1
    return {char: byte for byte, char in chars.items()}


class TokenTexts:
    """Each token's text and bytes, as OpenAI's ``logprobs`` give them (computed once per token id)."""

    def __init__(self, tokenizer: Any):
        self.tokenizer = tokenizer
        self._cache: dict[int, tuple[str, bytes]] = {}

    def of(self, token_id: int) -> tuple[str, bytes]:
        known = self._cache.get(token_id)
        if known is None:
            text = self.tokenizer.decode([token_id])
            known = self._cache[token_id] = (text, self._bytes(token_id, text))
        return known

    def _bytes(self, token_id: int, text: str) -> bytes:
        piece = self.tokenizer.convert_ids_to_tokens(token_id)
        decoder = _byte_decoder()
        if isinstance(piece, str) and piece and all(char in decoder for char in piece):
            raw = bytes(decoder[char] for char in piece)
            if raw.decode("utf-8", errors="replace") == text:  # a byte-level token: its own bytes
                return raw
        return text.encode("utf-8")

    def entry(self, token_id: int, logprob: float) -> dict[str, Any]:
        text, raw = self.of(token_id)
        return {"token": text, "logprob": logprob, "bytes": list(raw)}


@dataclass(frozen=True)
class TokenLogprob:
    """One generated token: its id, its log-probability, and the ``top`` most likely tokens at its step."""

    token_id: int
    logprob: float
    top: tuple[tuple[int, float], ...]

    def as_openai(self, texts: TokenTexts) -> dict[str, Any]:
        return {**texts.entry(self.token_id, self.logprob),
                "top_logprobs": [texts.entry(token_id, logprob) for token_id, logprob in self.top]}


class StepRecorder(LogitsProcessor, BaseStreamer):
    """The logits processor and streamer of one ``generate`` call (see the module's docstring).

    ``logprobs``: keep log-probabilities (else only the tokens are passed on). ``on_step(ids, logprobs)`` is called
    on the generating thread with each step's tokens (one per sequence) and, with ``logprobs``, their
    :class:`TokenLogprob`; ``steps`` keeps them all.
    """

    def __init__(self, logprobs: bool, top: int = 0,
                 on_step: Callable[[list[int], list[TokenLogprob] | None], None] | None = None):
        self.logprobs, self.top, self.on_step = logprobs, top, on_step
        self.steps: list[tuple[list[int], list[TokenLogprob] | None]] = []
        self._row: Any = None  # the last step's log-probs, [sequences, vocabulary]
        self._prompt_seen = False

    def __call__(self, input_ids: Any, scores: Any) -> Any:  # the logits processor: looks, changes nothing
        self._row = scores.float().log_softmax(dim=-1)
        return scores

    def put(self, value: Any) -> None:  # the streamer: the prompt first, then each step's tokens
        if not self._prompt_seen:
            self._prompt_seen = True
            return
        ids = value.view(-1).tolist()
        logprobs = None
        if self.logprobs and self._row is not None:
            row, self._row = self._row, None
            chosen = row.gather(1, value.view(-1, 1).to(row.device)).squeeze(1).tolist()
            if self.top:
                values, indices = row.topk(self.top, dim=-1)
                tops = [tuple(zip(i, v, strict=True)) for i, v in zip(indices.tolist(), values.tolist(), strict=True)]
            else:
                tops = [()] * len(ids)
            logprobs = [TokenLogprob(token, logprob, top)
                        for token, logprob, top in zip(ids, chosen, tops, strict=True)]
        self.steps.append((ids, logprobs))
        if self.on_step is not None:
            self.on_step(ids, logprobs)

    def end(self) -> None:
        pass
