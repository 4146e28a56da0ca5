"""Add the decision-ready entries to each evaluated split's results, before they are written.

Per split (``dynahate eval`` and ``dynahate hatecheck``): ``intervals`` (both modes: accuracy and
macro-F1; ROC-AUC in score mode); ``contrast`` when the split's metadata pairs posts; in score mode
``operating_points``, ``bias`` when the posts have target groups, and ``calibration``. Thresholds
and the temperature are chosen on dev (:mod:`dynahate.eval.decision.dev_scores`) and reported for
the other splits only: the dev split (``dev`` or ``dynahate_dev``; both, when both are evaluated) gets the
``default`` point and no ``calibration``, with a note; the others record the dev split's name in ``chosen_on``
and ``fitted_on``.
A missing part, or a temperature that is no fit (``meaningful: false``), is explained by a line in the split's
``notes``. Each prediction also gains its
pair's id and its groups (:func:`annotate_predictions`), for ``dynahate compare``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, cast

from dynahate.core.json_io import iter_jsonl
from dynahate.eval.artifacts import SplitOutcome
from dynahate.eval.bootstrap import DEFAULT_CONFIDENCE, DEFAULT_RESAMPLES, DEFAULT_SEED, INVALID
from dynahate.eval.decision.bias import DEFAULT_MIN_EXAMPLES, bias, dynahate_groups
from dynahate.eval.decision.calibration import calibration, fit_problem, fit_temperature
from dynahate.eval.decision.contrast import contrast
from dynahate.eval.decision.dev_scores import dev_scores, is_dev
from dynahate.eval.decision.intervals import intervals
from dynahate.eval.decision.operating_points import choose_thresholds, operating_points
from dynahate.eval.eval_data import EvalSplit
from dynahate.plugin.labels import HATE, LABELS
from dynahate.plugin.splits import SPLITS, data_file, meta_file

DEV_NOTE = ("thresholds and the temperature are chosen on dev, so dev reports only the default operating point and "
            "no calibration (figures on the posts they were chosen on would flatter them)")
SCORE_NOTE = "operating points, bias AUCs and calibration need score mode (p_hate)"


@dataclass(frozen=True)
class DecisionOptions:
    resamples: int = DEFAULT_RESAMPLES
    seed: int = DEFAULT_SEED
    confidence: float = DEFAULT_CONFIDENCE
    bias_min_examples: int = DEFAULT_MIN_EXAMPLES


@dataclass(frozen=True)
class SplitContext:
    """What a split's posts carry besides their labels: Dynahate metadata (contrast pairs) and target groups."""

    metas: list[dict[str, Any] | None] | None = None
    groups: list[set[str]] | None = None


def dynahate_context(split: EvalSplit) -> SplitContext:
    """A Dynahate split's metadata, and each post's target groups (a matched row's target read from any prepared
    split's ``.meta.jsonl`` beside it: a post's pair may sit in another split)."""
    if not split.has_meta:
        return SplitContext()
    metas = [example.meta for example in split.examples]
    targets: dict[str, str | None] = {}
    sidecars = {meta_file(data_file(split.path.parent, name)) for name in SPLITS} - {meta_file(split.path)}
    for sidecar in sorted(path for path in sidecars if path.is_file()):
        for _, meta in iter_jsonl(sidecar):
            if isinstance(meta.get("acl.id"), str):
                targets[meta["acl.id"]] = meta.get("target")
    targets.update({meta["acl.id"]: meta.get("target") for meta in metas if meta and meta.get("acl.id")})
    gold_hate = [example.gold == HATE for example in split.examples]
    return SplitContext(metas, dynahate_groups(metas, gold_hate, targets))


def annotate_predictions(outcome: SplitOutcome, context: SplitContext) -> None:
    """Each prediction gains its pair's id (``matched``, within the split) and its target ``groups``, which the
    predictions file then records for ``dynahate compare`` (in place)."""
    if context.metas is None and context.groups is None:
        return
    in_split = {p.id for p in outcome.predictions}
    metas = context.metas or [None] * len(outcome.predictions)
    groups = context.groups or [None] * len(outcome.predictions)
    outcome.predictions = [
        replace(prediction, matched=matched if matched in in_split and matched != prediction.id else None,
                groups=tuple(sorted(group)) if group is not None else None)
        for prediction, meta, group in zip(outcome.predictions, metas, groups, strict=True)
        for matched in [(meta or {}).get("acl.id.matched")]]


def add_decision_entries(outcomes: dict[str, SplitOutcome], contexts: dict[str, SplitContext], out_dir: Path,
                         options: DecisionOptions = DecisionOptions()) -> None:
    """Add the entries to each outcome's ``results``, and pairs and groups to its predictions (in place)."""
    for name, outcome in outcomes.items():
        annotate_predictions(outcome, contexts.get(name, SplitContext()))
    any_scored = any(outcome.results["mode"] == "score" for outcome in outcomes.values())
    dev, dev_note = dev_scores(outcomes, out_dir) if any_scored else (None, None)  # generate mode reads no dev scores
    chosen = choose_thresholds(dev.gold_hate, dev.p_hate) if dev else None
    temperature = fit_temperature(dev.gold_hate, dev.p_hate) if dev else None
    # the note of a fit that is none
    problem = fit_problem(dev.gold_hate, dev.p_hate, temperature) if dev and temperature is not None else None
    for name, outcome in outcomes.items():
        context = contexts.get(name, SplitContext())
        results, predictions = outcome.results, outcome.predictions
        notes = list(results.get("notes") or [])
        gold = [LABELS.index(p.gold) for p in predictions]
        pred = [LABELS.index(p.pred) if p.pred is not None else INVALID for p in predictions]
        scored = results["mode"] == "score"
        p_hate = [float(cast(float, p.p_hate)) for p in predictions] if scored else None  # score mode sets p_hate
        results["intervals"] = intervals(gold, pred, p_hate, positive=LABELS.index(HATE), resamples=options.resamples,
                                         seed=options.seed, confidence=options.confidence)
        if context.metas is not None and any(meta and meta.get("acl.id.matched") for meta in context.metas):
            results["contrast"] = contrast([g == p for g, p in zip(gold, pred, strict=True)], context.metas)
        if not scored:
            notes.append(SCORE_NOTE)
            _set_notes(results, notes)
            continue
        assert p_hate is not None  # scored
        gold_hate = [p.gold == HATE for p in predictions]
        usable = dev if dev is not None and not is_dev(name) else None
        results["operating_points"] = operating_points(gold_hate, p_hate, chosen if usable else None,
                                                       usable.split if usable else None)
        if context.groups is not None and any(context.groups):
            results["bias"] = bias(gold_hate, p_hate, context.groups, min_examples=options.bias_min_examples)
        if usable:
            assert temperature is not None  # fitted whenever dev's scores are at hand
            results["calibration"] = calibration(gold_hate, p_hate, temperature, fitted_on=usable.split,
                                                 meaningful=problem is None)
            if problem:
                notes.append(problem)
        elif is_dev(name):
            notes.append(DEV_NOTE)
        else:
            notes.append(dev_note)
        _set_notes(results, notes)


def _set_notes(results: dict[str, Any], notes: list[str]) -> None:
    if notes:
        results["notes"] = list(dict.fromkeys(notes))
