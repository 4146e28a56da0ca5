"""Evaluation folders for comparison tests, written by the real writer of ``dynahate eval``
(:func:`dynahate.eval.artifacts.write_eval_outputs`: eval_results.json, predictions files, plots) from
predictions made up here, so no model is needed; HateCheck folders use the synthetic
tests/fixtures/hatecheck_sample.csv (fictional groups only)."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from dynahate.eval.artifacts import SplitOutcome, write_eval_outputs
from dynahate.eval.fingerprint import fingerprint
from dynahate.eval.hatecheck.data import read_hatecheck_csv
from dynahate.eval.hatecheck.results import hatecheck_results, prediction_lines
from dynahate.eval.metrics import split_results
from dynahate.eval.predictions import Prediction
from dynahate.plugin.data.download import git_blob_sha1
from dynahate.plugin.labels import LABELS
from dynahate.testing.cli import FIXTURES

HATECHECK_SAMPLE = FIXTURES / "hatecheck_sample.csv"
ROUNDS = ("1", "2a", "2b", "3a", "3b", "4a", "4b")


def posts(n: int, seed: int = 0, rounds: tuple[str, ...] | None = ROUNDS) -> list[tuple[str, str, str | None]]:
    """``n`` posts as (acl.id, gold, round): gold labels and rounds drawn with ``seed``."""
    rng = random.Random(seed)
    return [(f"acl{10000 + i}", rng.choice(LABELS), rng.choice(rounds) if rounds else None) for i in range(n)]


def answers(items: list[tuple[str, str, str | None]], accuracy: float, seed: int, invalid: float = 0.0,
            keep_round: bool = True) -> list[Prediction]:
    """A classifier right with probability ``accuracy``, invalid (null) with probability ``invalid``."""
    rng = random.Random(seed)
    out = []
    for post_id, gold, round_ in items:
        draw = rng.random()
        pred = None if draw < invalid else gold if draw < invalid + accuracy else LABELS[1 - LABELS.index(gold)]
        out.append(Prediction(post_id, gold, pred, raw="x", round=round_ if keep_round else None))
    return out


def adapter(tag: str, repo_id: str | None = None) -> dict:
    out = {"path": f"/runs/{tag}", "sha256": (tag * 64)[:64], "base_model": "org/base"}
    if repo_id:
        out["repo_id"] = repo_id
    return out


def write_eval_folder(folder: Path, splits: dict[str, list[Prediction]], provenance: dict | None = None,
                      hatecheck: list[str | None] | None = None, data: str | None = "v1",
                      fingerprints: dict[str, dict] | None = None) -> Path:
    """``folder`` as ``dynahate eval --mode generate`` writes it (and ``dynahate hatecheck``, given each case's
    answer). Each split's fingerprint is of made-up posts ``<data>:<id>``: folders written with one ``data``
    evaluated the same posts, with two different ones different posts behind the same ids; ``data=None``
    records no fingerprint (results written before fingerprints were). ``fingerprints`` gives a split's
    fingerprint as another evaluation recorded it (an evaluation of that one's posts)."""
    outcomes = {}
    for name, predictions in splits.items():
        metas: list[dict[str, Any] | None] | None = (
            [{"round": p.round} for p in predictions] if any(p.round for p in predictions) else None)
        results = split_results(predictions, "generate", 1.0, metas)
        results["adapter"] = provenance
        if fingerprints and name in fingerprints:
            results["fingerprint"] = fingerprints[name]
        elif data is not None:
            results["fingerprint"] = fingerprint((p.id, f"{data}:{p.id}") for p in predictions)
        outcomes[name] = SplitOutcome(predictions, results)
    if hatecheck is not None:
        cases = read_hatecheck_csv(HATECHECK_SAMPLE)
        predictions = [Prediction(case.case_id, case.gold, pred, raw="x") for case, pred in zip(cases, hatecheck,
                                                                                                 strict=True)]
        results = {**split_results(predictions, "generate", 1.0), **hatecheck_results(cases, predictions)}
        results["adapter"] = provenance
        if data is not None:
            results["fingerprint"] = fingerprint(((case.case_id, case.test_case) for case in cases),
                                                 source_git_blob_sha1=git_blob_sha1(HATECHECK_SAMPLE))
        outcomes["hatecheck"] = SplitOutcome(predictions, results, lines=prediction_lines(cases, predictions))
    write_eval_outputs(folder, outcomes)
    return folder


def hatecheck_answers(accuracy: float, seed: int) -> list[str | None]:
    rng = random.Random(seed)
    return [case.gold if rng.random() < accuracy else LABELS[1 - LABELS.index(case.gold)]
            for case in read_hatecheck_csv(HATECHECK_SAMPLE)]


def write_scored_folder(folder: Path, seed: int, dev: bool = False) -> Path:
    """A score-mode evaluation of 400 Dynahate-like posts, written by eval's own writer after
    add_decision_entries (pairs and groups recorded): every odd post perturbs the one before it. ``dev``: a dev
    split of other posts is evaluated with it, so the test split gains thresholds chosen on dev and a calibration."""
    import numpy as np

    from dynahate.eval.artifacts import SplitOutcome, write_eval_outputs
    from dynahate.eval.decision.bias import dynahate_groups
    from dynahate.eval.decision.entries import SplitContext, add_decision_entries
    from dynahate.eval.metrics import split_results
    from dynahate.eval.predictions import Prediction

    rng = np.random.default_rng(100)  # the posts: the same on both sides
    n = 400
    hate = rng.random(n) < 0.5
    targets = rng.choice(["wom", "bla", "jew", "none"], n)
    metas: list[dict[str, Any] | None] = [
        {"acl.id": f"acl{i}", "acl.id.matched": f"acl{i - 1}" if i % 2 else f"acl{i + 1}",
         "level": "perturbation" if i % 2 else "original", "round": "2b" if i % 2 else "2a",
         "target": str(targets[i])} for i in range(n)]
    noise = np.random.default_rng(seed).normal(0, 1.5, n)  # the adapter
    p = 1 / (1 + np.exp(-(np.where(hate, 1.5, -1.5) + noise)))
    predictions = [Prediction(f"acl{i}", "hate" if hate[i] else "not hate", "hate" if p[i] >= 0.5 else "not hate",
                              p_hate=float(p[i]), round="2b" if i % 2 else "2a") for i in range(n)]
    results = split_results(predictions, "score", 1.0, metas)
    results["adapter"] = {"sha256": f"{seed:02d}" * 32}
    outcomes = {"test": SplitOutcome(predictions, results)}
    groups = dynahate_groups(metas, list(hate), {f"acl{i}": str(targets[i]) for i in range(n)})
    if dev:
        dev_hate = np.random.default_rng(200).random(200) < 0.5
        dev_p = 1 / (1 + np.exp(-(np.where(dev_hate, 1.5, -1.5) + np.random.default_rng(seed + 1).normal(0, 1.5, 200))))
        dev_predictions = [Prediction(f"dev{i}", "hate" if dev_hate[i] else "not hate",
                                      "hate" if dev_p[i] >= 0.5 else "not hate", p_hate=float(dev_p[i]))
                           for i in range(200)]
        dev_results = split_results(dev_predictions, "score", 1.0)
        dev_results["adapter"] = results["adapter"]
        outcomes = {"dev": SplitOutcome(dev_predictions, dev_results), **outcomes}
    add_decision_entries(outcomes, {"test": SplitContext(metas, groups)}, folder)
    write_eval_outputs(folder, outcomes)
    return folder
