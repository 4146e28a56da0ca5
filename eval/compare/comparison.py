"""Compare two evaluations of adapters on the same posts: join them by id, refuse mismatches, compute.

For every split both evaluations hold (or those asked for), the two predictions files (read and checked by
:mod:`dynahate.eval.compare.load`) are joined by ``id`` (HateCheck's: ``case_id``) and compared with
:func:`dynahate.eval.compare.paired_stats.paired_comparison`: overall, per Dynahate round (R1-R4: round ``2a`` and
``2b`` are R2; from each line's ``round``, which ``dynahate eval`` records when the split has metadata) and, for
HateCheck, per functional test (accuracy only: a functional test has one gold label); contrast pairs and bias AUCs
when both record them. A ``null`` prediction (an invalid generated answer) counts as wrong.

Refused, one line each (:class:`DynahateError`), before anything is computed or written: no split in common (or an
asked split one side lacks), different post sets (how many posts each side has, how many ids only one side has, and
up to 3 of them), gold labels or rounds that differ for one id (the first, and how many), and posts that differ
behind the same ids: each split's ``fingerprint`` (:mod:`dynahate.eval.fingerprint`) must be the same on both sides
unless ``allow_different_posts``, and then the comparison says so (``posts.same`` false and a note). Results written
before fingerprints were recorded compare with a note that the posts were joined by id only. A value read from
``eval_results.json`` (repo id, digests, paths, modes, fingerprints, split names) is held in its own form or
described (:func:`plain_name`, :func:`_recorded_adapter`); no message and no result holds a post's text.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar, cast

from dynahate.core.describe import describe_names, describe_value, shown
from dynahate.core.errors import DynahateError
from dynahate.eval.bootstrap import paired_auc_differences, percentile_interval, roc_auc
from dynahate.eval.compare.load import (
    SHOWN_IDS,
    Evaluation,
    Post,
    SplitPredictions,
    describe_recorded,
    load_evaluation,
    show_id,
)
from dynahate.eval.compare.paired_stats import (
    DEFAULT_CONFIDENCE,
    DEFAULT_RESAMPLES,
    DEFAULT_SEED,
    paired_comparison,
)
from dynahate.eval.decision.bias import DEFAULT_MIN_EXAMPLES, auc_sets, enough_examples
from dynahate.eval.decision.contrast import contrast_pairs
from dynahate.eval.fingerprint import same_posts
from dynahate.eval.hatecheck.results import SPLIT_NAME as HATECHECK
from dynahate.plugin.labels import HATE, LABELS
from dynahate.plugin.metadata import round_group, round_group_order

INVALID_RULE = "a null prediction (an invalid generated answer) counts as wrong; two null predictions agree"
METHOD = ("paired bootstrap: the posts resampled with replacement, the same posts for A and B; percentile interval "
          "of the resampled differences")
MCNEMAR = "exact two-sided binomial test on the discordant posts (scipy.stats.binomtest); p = 1 when there are none"


def _id_list(ids: list[Any]) -> str:
    return ", ".join(show_id(i) for i in ids[:SHOWN_IDS]) + (", ..." if len(ids) > SHOWN_IDS else "")


def _join(split: str, a: SplitPredictions, b: SplitPredictions) -> list[tuple[Post, Post]]:
    """The posts of both, in A's order; one line naming the difference when the post sets differ."""
    only_a = [i for i in a.posts if i not in b.posts]
    only_b = [i for i in b.posts if i not in a.posts]
    if only_a or only_b:
        parts = [f"cannot compare split {describe_value(split)}: A ({a.path}) has {len(a.posts)} posts, B ({b.path}) "
                 f"{len(b.posts)}"]
        if only_a:
            parts.append(f"{len(only_a)} id(s) only in A ({_id_list(only_a)})")
        if only_b:
            parts.append(f"{len(only_b)} id(s) only in B ({_id_list(only_b)})")
        raise DynahateError("; ".join(parts) + "; compare two evaluations of the same posts")
    pairs = [(post, b.posts[i]) for i, post in a.posts.items()]
    for what in ("gold", "round", "functionality", "matched", "groups"):
        differing = [i for i, (pa, pb) in zip(a.posts, pairs, strict=False)
                     if _differs(getattr(pa, what), getattr(pb, what), what)]
        if differing:
            first = differing[0]
            pa, pb = a.posts[first], b.posts[first]
            values = (LABELS[pa.gold], LABELS[pb.gold]) if what == "gold" else (getattr(pa, what), getattr(pb, what))
            raise DynahateError(f"cannot compare split {describe_value(split)}: the {what} differs for "
                                f"{len(differing)} post(s), first id {show_id(first)} (A: {_value(values[0])}, "
                                f"B: {_value(values[1])}); the two evaluations did not read the same data")
    return pairs


def _differs(x: Any, y: Any, what: str) -> bool:
    if what == "gold":
        return x != y
    return x is not None and y is not None and x != y  # recorded by one side only: not a difference


def _value(value: Any) -> str:
    return repr(value) if value is None or shown(value) else "(not shown)"


def _compare(pairs: list[tuple[Post, Post]], f1: str, options: dict[str, Any]) -> dict[str, Any]:
    """``f1``: "all" labels, "present" (labels in these posts' gold, as eval's breakdowns), or "none"."""
    gold = [a.gold for a, _ in pairs]
    labels = {"all": list(range(len(LABELS))), "present": sorted(set(gold)), "none": None}[f1]
    return paired_comparison(gold, [a.pred for a, _ in pairs], [b.pred for _, b in pairs], n_labels=len(LABELS),
                             f1_labels=labels, **options)


_Item = TypeVar("_Item")


def _groups(pairs: list[_Item], key: Callable[[_Item], str]) -> dict[str, list[_Item]]:
    groups: dict[str, list[_Item]] = {}
    for pair in pairs:
        groups.setdefault(key(pair), []).append(pair)
    return groups


def _by_round(pairs: list[tuple[Post, Post]], options: dict[str, Any]) -> tuple[dict[str, Any] | None, str | None]:
    rounds = [a.round if a.round is not None else b.round for a, b in pairs]
    if all(r is None for r in rounds):
        return None, ("per-round comparison omitted: neither predictions file records each post's round (an "
                      "evaluation written before rounds were recorded, or data without its .meta.jsonl); re-run "
                      "`dynahate eval` to get it")
    if any(r is None for r in rounds):
        missing = sum(r is None for r in rounds)
        return None, f"per-round comparison omitted: {missing} of {len(rounds)} posts have no round recorded"
    groups = _groups(list(zip(rounds, pairs, strict=False)), lambda item: round_group(cast(str, item[0])))
    return {name: _compare([pair for _, pair in groups[name]], "present", options)
            for name in sorted(groups, key=round_group_order)}, None


def _by_functionality(pairs: list[tuple[Post, Post]], order: list[str],
                      options: dict[str, Any]) -> tuple[dict[str, Any] | None, str | None]:
    names = [a.functionality if a.functionality is not None else b.functionality for a, b in pairs]
    if any(name is None for name in names):
        return None, "per-functional-test comparison omitted: not every case records its functional test"
    groups = _groups(list(zip(names, pairs, strict=False)), lambda item: cast(str, item[0]))  # none is None
    ordered = [name for name in order if name in groups] + [name for name in groups if name not in order]
    return {name: _compare([pair for _, pair in groups[name]], "none", options) for name in ordered}, None


def _contrast(ids: list[Any], pairs: list[tuple[Post, Post]], options: dict[str, Any]) -> dict[str, Any] | None:
    """Contrast-pair consistency of A and B and its paired bootstrap difference (pairs resampled), or None when
    neither file records pairs."""
    matched = [a.matched if a.matched is not None else b.matched for a, b in pairs]
    if all(m is None for m in matched):
        return None
    within = contrast_pairs([{"acl.id": post_id, "acl.id.matched": m} for post_id, m in zip(ids, matched, strict=True)])
    both_a = [all(pairs[k][0].pred == pairs[k][0].gold for k in pair[:2]) for pair in within]
    both_b = [all(pairs[k][1].pred == pairs[k][1].gold for k in pair[:2]) for pair in within]
    if not both_a:
        return {"pairs": 0, "consistency": None}
    # a pair is "right" (code 0) when both its posts are: consistency is the accuracy of that answer
    compared = paired_comparison([0] * len(both_a), [0 if x else 1 for x in both_a], [0 if x else 1 for x in both_b],
                                 n_labels=2, f1_labels=None, **options)
    return {"pairs": len(both_a), "consistency": compared["accuracy"], "discordant": compared["discordant"],
            "mcnemar_p": compared["mcnemar_p"]}


def _bias(pairs: list[tuple[Post, Post]], min_examples: int,
          options: dict[str, Any]) -> tuple[dict[str, Any] | None, str | None]:
    """Each group's BPSN AUC of A and B and its paired bootstrap difference (posts resampled), when both files record
    p_hate and either records groups."""
    import numpy as np

    groups = [a.groups if a.groups is not None else b.groups for a, b in pairs]
    if all(g is None for g in groups):
        return None, None
    if any(a.p_hate is None or b.p_hate is None for a, b in pairs):
        return None, "per-group BPSN AUC differences omitted: they need p_hate on both sides (score mode)"
    hate = np.array([a.gold == LABELS.index(HATE) for a, _ in pairs])
    score_a = np.array([a.p_hate for a, _ in pairs])
    score_b = np.array([b.p_hate for _, b in pairs])
    names = sorted(set().union(*(g for g in groups if g)))
    subsets, sizes = {}, {}
    for name in names:
        member = np.array([bool(g) and name in g for g in groups])
        bpsn = auc_sets(hate, member)["bpsn_auc"]
        sizes[name] = int(member.sum())
        if enough_examples(hate, bpsn, min_examples):
            subsets[name] = bpsn
    differences = paired_auc_differences(hate, score_a, score_b, subsets, options["resamples"], options["seed"])
    out = {}
    for name in names:
        entry: dict[str, Any] = {"size": sizes[name], "bpsn_auc": None}
        if name in subsets:
            a, b = roc_auc(hate[subsets[name]], score_a[subsets[name]]), roc_auc(hate[subsets[name]],
                                                                               score_b[subsets[name]])
            entry["bpsn_auc"] = {"a": a, "b": b, "difference": b - a,
                                 "interval": percentile_interval(differences[name], options["confidence"])}
        out[name] = entry
    return {"min_examples": min_examples, "groups": out}, None


def _min_examples(a: Evaluation, b: Evaluation, split: str) -> int:
    """The larger ``bias.min_examples`` either evaluation recorded (the default when neither did)."""
    recorded = [(ev.results[split].get("bias") or {}).get("min_examples") for ev in (a, b)]
    values = [v for v in recorded if isinstance(v, int) and not isinstance(v, bool) and v > 0]
    return max(values) if values else DEFAULT_MIN_EXAMPLES


def _source(evaluation: Evaluation, path: str | Path) -> dict[str, Any]:
    # the name: the folder's own, or a recorded repo_id, which the record's reader refuses unless it is a Hub repo id
    return {"path": str(path), "results": str(evaluation.results_path), "name": evaluation.name}


def plain_name(value: Any) -> str:
    """A name read from a file (a split, a mode, a round or functional test) for a table or a message: as
    written when it is :func:`shown` (a short token), else described; a tampered file could hold a post there."""
    return value if isinstance(value, str) and shown(value) else describe_value(value)


_HEX = re.compile(r"[0-9a-f]{1,128}")
# The adapter's values the record's reader leaves free (its repo_id, commit and sha256 it refuses in any other form).
_ADAPTER_FORMS: dict[str, Callable[[Any], bool]] = {
    "base_model": lambda value: _is_repo_id(value) or _is_path(value),
    "path": lambda value: _is_path(value),
}


def _is_repo_id(value: Any) -> bool:
    from dynahate.inference.adapter_source import repo_id_problem

    return isinstance(value, str) and repo_id_problem(value) is None


def _is_path(value: Any) -> bool:
    """An absolute path without blanks (``dynahate eval`` records resolved paths): not text that could be a post."""
    return isinstance(value, str) and re.fullmatch(r"\S{1,4096}", value) is not None and Path(value).is_absolute()


def _recorded(value: Any) -> Any:
    """A value ``eval_results.json`` records, as the comparison holds it: null, a number, a boolean, a short token
    or a hex digest as written, anything else described."""
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, str) and (shown(value) or _HEX.fullmatch(value)):
        return value
    return describe_recorded(value)


def _recorded_adapter(adapter: dict[str, Any] | None) -> dict[str, Any] | None:
    """An adapter record (:meth:`Evaluation.adapter`): its repo id, commit and SHA-256 as read (checked by the
    record's reader), its base model and path kept when a Hub repo id or an absolute path, else described."""
    if adapter is None:
        return None
    return {key: describe_recorded(value) if key in _ADAPTER_FORMS and not _ADAPTER_FORMS[key](value) else value
            for key, value in adapter.items()}


def _recorded_fingerprint(recorded: Any) -> dict[str, Any] | None:
    return {key: _recorded(value) for key, value in recorded.items()} if isinstance(recorded, dict) else None


def _posts(split: str, a: Evaluation, b: Evaluation, allow_different: bool) -> tuple[dict[str, Any], str | None]:
    """Whether A and B evaluated the same posts (their fingerprints), and a note when it is not shown to be so;
    different fingerprints are refused unless ``allow_different``."""
    # a Fingerprint each, or None in results written before fingerprints were recorded
    fa: Any = a.results[split].get("fingerprint")
    fb: Any = b.results[split].get("fingerprint")
    same = same_posts(fa, fb)
    posts = {"same": same, "a": _recorded_fingerprint(fa), "b": _recorded_fingerprint(fb)}
    if same is None:
        lacking = [side for side, value in (("A", fa), ("B", fb)) if not isinstance(value, dict)]
        why = (f"{' and '.join(lacking)} recorded no fingerprint of the posts (results written before fingerprints "
               "were); re-run `dynahate eval` to record one" if lacking else
               f"A's fingerprint is of {plain_name(fa.get('of'))}, B's of {plain_name(fb.get('of'))}")
        return posts, f"the posts were joined by id only, not shown to be the same posts: {why}"
    if same:
        return posts, None
    described = "; ".join(f"{side}: {fp['count']} posts, "
                          f"sha256 {fp['sha256'][:12]}" for side, fp in (("A", fa), ("B", fb)))
    if not allow_different:
        raise DynahateError(f"cannot compare split {describe_value(split)}: A and B evaluated different posts "
                            f"behind the same ids (fingerprints differ: {described}; another data version, or data "
                            "prepared with --normalize-text?); compare evaluations of the same data, or pass "
                            "--allow-different-posts to compare them anyway")
    return posts, (f"DIFFERENT POSTS: A and B evaluated different posts behind the same ids ({described}); "
                   "compared anyway (--allow-different-posts), so the differences mix the adapters with the data")


def common_splits(a: Evaluation, b: Evaluation, wanted: list[str] | None) -> list[str]:
    """The splits to compare: ``wanted`` (each must be in both), else every split both hold, in A's order."""
    if wanted:
        for split in dict.fromkeys(wanted):
            lacking = [side for side, ev in (("A", a), ("B", b)) if split not in ev.results]
            if lacking:
                ev = a if lacking[0] == "A" else b
                raise DynahateError(f"--split {split}: {' and '.join(lacking)} ({ev.results_path}) "
                                    f"{'has' if len(lacking) == 1 else 'have'} no such split; "
                                    f"A has {describe_names(a.results)}; B has {describe_names(b.results)}")
        return list(dict.fromkeys(wanted))
    common = [split for split in a.results if split in b.results]
    if not common:
        raise DynahateError(f"no split in common: A ({a.results_path}) has {describe_names(a.results)}; "
                            f"B ({b.results_path}) has {describe_names(b.results)}")
    return common


def _mode_note(mode_a: str | None, mode_b: str | None) -> str | None:
    """A warning when A and B were evaluated in different modes (their difference then mixes in the method)."""
    if mode_a == mode_b:
        return None
    return (f"A was evaluated in {plain_name(mode_a)} mode, B in {plain_name(mode_b)} mode: the difference mixes "
            "the adapters with the methods; evaluate both with the same --mode")


def compare_evaluations(path_a: str | Path, path_b: str | Path, splits: list[str] | None = None, *,
                        resamples: int = DEFAULT_RESAMPLES, seed: int = DEFAULT_SEED,
                        confidence: float = DEFAULT_CONFIDENCE, allow_different_posts: bool = False) -> dict[str, Any]:
    """The comparison of evaluation B against evaluation A, as ``dynahate compare`` writes it (JSON-ready).

    Every split is loaded and joined (and every refusal raised) before any statistic is computed;
    ``allow_different_posts`` compares splits whose fingerprints differ, and says so.
    """
    a, b = load_evaluation(path_a, "A"), load_evaluation(path_b, "B")
    names = common_splits(a, b, splits)
    joined = {split: _join(split, a.predictions(split), b.predictions(split)) for split in names}
    posts = {split: _posts(split, a, b, allow_different_posts) for split in names}
    options = {"resamples": resamples, "seed": seed, "confidence": confidence}
    out: dict[str, Any] = {
        "a": _source(a, path_a), "b": _source(b, path_b),
        "method": {"difference": "B - A", "bootstrap": METHOD, "resamples": resamples, "seed": seed,
                   "confidence": confidence, "mcnemar": MCNEMAR, "invalid": INVALID_RULE,
                   "macro_f1": "over both labels for a split, over the labels in the round's gold labels for a "
                               "round (as dynahate eval's breakdowns); not computed per functional test"},
        "splits": {}, "notes": [],
    }
    for split, pairs in joined.items():
        entry: dict[str, Any] = {
            "a": {"mode": _recorded(a.results[split].get("mode")), "adapter": _recorded_adapter(a.adapter(split)),
                  "predictions": a.predictions(split).path.name},
            "b": {"mode": _recorded(b.results[split].get("mode")), "adapter": _recorded_adapter(b.adapter(split)),
                  "predictions": b.predictions(split).path.name},
            "posts": posts[split][0],
            **_compare(pairs, "all", options),
        }
        ids = list(a.predictions(split).posts)
        extra_notes = []
        contrast = _contrast(ids, pairs, options)
        if contrast is not None:
            entry["contrast"] = contrast
        bias, bias_note = _bias(pairs, _min_examples(a, b, split), options)
        if bias is not None:
            entry["bias"] = bias
        if bias_note:
            extra_notes.append(bias_note)
        if split == HATECHECK:
            order = list(a.results[split].get("functionalities") or {})
            groups, note = _by_functionality(pairs, order, options)
            if groups is not None:
                entry["functionalities"] = groups
        else:
            groups, note = _by_round(pairs, options)
            if groups is not None:
                entry["rounds"] = groups
        mode_note = _mode_note(a.results[split].get("mode"), b.results[split].get("mode"))
        notes = [text for text in (posts[split][1], mode_note, note, *extra_notes) if text]
        if notes:
            entry["note"] = "; ".join(notes)
            out["notes"].extend(f"{plain_name(split)}: {text}" for text in notes)
        out["splits"][split] = entry
    return out
