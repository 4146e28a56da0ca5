"""One prediction per post: the shared record of the eval engines, the metrics and the files.

``pred`` is ``None`` when a generated answer was neither label (counted as *invalid*, never
assigned to a class). ``p_hate`` is set in score mode, ``raw`` (the generated text) in generate
mode and when scoring a LLaMA-Factory predictions file. ``round`` is the post's Dynahate round
(``1``, ``2a``, ... from the split's ``.meta.jsonl``), set when the split has metadata, so that
``dynahate compare`` can compare two evaluations per round from their predictions files alone;
``matched`` (the ``acl.id`` of the post's perturbation pair, from ``acl.id.matched``) and ``groups``
(the post's target groups, as the bias AUCs use them) are set by
:func:`dynahate.eval.decision.entries.add_decision_entries`, so that it can compare contrast-pair
consistency and per-group AUCs too. All are ids and codes (:mod:`dynahate.plugin.metadata`).

``raw`` reaches the file only when it is answer-like (:func:`answer_like`: at most
:data:`RAW_MAX_CHARS` characters and :data:`RAW_MAX_WORDS` words, on one line, as ``hate``, ``Not
hate.`` or ``I cannot answer`` are); a longer generation may quote the post (a LLaMA-Factory
``predict`` that repeats the prompt, a chatty answer), so the file holds its ``raw_length``
(characters) and ``raw_sha256`` (of its UTF-8 bytes, hex) instead, enough to tell two answers apart
without holding either.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

# Every key a predictions line may have: none of them holds a post's text (``case_id`` and
# ``functionality`` are HateCheck's short identifiers, in ``hatecheck_predictions.jsonl``; ``round``
# is the Dynahate round from the metadata sidecar).
PREDICTION_KEYS = ("id", "case_id", "functionality", "round", "matched", "groups", "gold", "pred", "p_hate", "raw",
                   "raw_length", "raw_sha256")
RAW_MAX_CHARS = 40  # "not hate" is 8; a sentence that could quote a post is longer
RAW_MAX_WORDS = 4


def answer_like(raw: str) -> bool:
    """Whether a generated answer is short enough to be written as it is: one line, at most
    :data:`RAW_MAX_CHARS` characters and :data:`RAW_MAX_WORDS` words."""
    return len(raw) <= RAW_MAX_CHARS and len(raw.splitlines()) <= 1 and len(raw.split()) <= RAW_MAX_WORDS


def raw_entries(raw: str) -> dict[str, Any]:
    """``{"raw": raw}`` when :func:`answer_like`, else its ``raw_length`` and ``raw_sha256`` (never its text)."""
    if answer_like(raw):
        return {"raw": raw}
    digest = hashlib.sha256(raw.encode("utf-8", errors="surrogatepass")).hexdigest()
    return {"raw_length": len(raw), "raw_sha256": digest}


@dataclass(frozen=True)
class Prediction:
    id: str
    gold: str | None
    pred: str | None
    p_hate: float | None = None
    raw: str | None = None
    round: str | None = None
    matched: str | None = None
    groups: tuple[str, ...] | None = None

    def to_json(self) -> dict[str, Any]:
        """The per-post line of the predictions JSONL: id, round, matched, groups (each when known), gold, pred,
        then p_hate and/or raw (or raw_length and raw_sha256: :func:`raw_entries`)."""
        out: dict[str, Any] = {"id": self.id}
        if self.round is not None:
            out["round"] = self.round
        if self.matched is not None:
            out["matched"] = self.matched
        if self.groups is not None:
            out["groups"] = list(self.groups)
        out.update(gold=self.gold, pred=self.pred)
        if self.p_hate is not None:
            out["p_hate"] = self.p_hate
        if self.raw is not None:
            out.update(raw_entries(self.raw))
        return out
