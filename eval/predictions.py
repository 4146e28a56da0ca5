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
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# Every key a predictions line may have: none of them holds a post's text (``case_id`` and
# ``functionality`` are HateCheck's short identifiers, in ``hatecheck_predictions.jsonl``; ``round``
# is the Dynahate round from the metadata sidecar).
PREDICTION_KEYS = ("id", "case_id", "functionality", "round", "matched", "groups", "gold", "pred", "p_hate", "raw")


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
        then p_hate and/or raw."""
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
            out["raw"] = self.raw
        return out
