"""The decision-ready entries (eval/decision/): every figure against scikit-learn or a case worked by hand."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from sklearn.metrics import (
    accuracy_score,
    brier_score_loss,
    f1_score,
    log_loss,
    precision_score,
    recall_score,
    roc_auc_score,
)

from dynahate.eval.artifacts import SplitOutcome, write_eval_outputs
from dynahate.eval.bootstrap import INVALID, percentile_interval, resampled_roc_auc, roc_auc
from dynahate.eval.decision.bias import bias, dynahate_groups, generalized_mean, target_groups
from dynahate.eval.decision.calibration import apply_temperature, calibration, fit_temperature
from dynahate.eval.decision.contrast import contrast, contrast_pairs
from dynahate.eval.decision.entries import DEV_NOTE, SplitContext, add_decision_entries
from dynahate.eval.decision.intervals import intervals
from dynahate.eval.decision.operating_points import choose_thresholds, operating_point, operating_points
from dynahate.eval.metrics import expected_calibration_error, split_results
from dynahate.eval.predictions import Prediction
from dynahate.plugin.labels import HATE, NOT_HATE

# --- operating points ---------------------------------------------------------------------------------------------
# dev, worked by hand: macro-F1 at each candidate threshold (a post is hate when p >= t)
#   t:     0.1    0.2    0.3    0.4    0.5    0.6    0.7    0.8    0.9
#   TP/FP: 4/4    4/3    4/2    3/2    3/1    3/1    2/1    2/0    1/0
#   F1:    .333   .564   .733   .619   .750   .750   .619   .733   .564
DEV_GOLD = [True, True, True, True, False, False, False, False]
DEV_P = [0.9, 0.8, 0.6, 0.3, 0.7, 0.4, 0.2, 0.1]


def test_thresholds_chosen_on_dev_by_hand():
    chosen = choose_thresholds(DEV_GOLD, DEV_P)
    assert chosen["best_macro_f1"] == 0.6  # 0.5 and 0.6 tie at 0.75: the higher
    # recall >= 0.90 of 4 hate posts needs all 4: the lowest hate score
    assert chosen["recall_0.90"] == chosen["recall_0.95"] == 0.3


def test_recall_thresholds_are_the_highest_that_reach_the_recall():
    p = np.linspace(0.99, 0.01, 20)  # 20 hate posts, distinct scores
    chosen = choose_thresholds([True] * 20 + [False], [*p, 0.5])
    assert chosen["recall_0.90"] == pytest.approx(p[17]) and chosen["recall_0.95"] == pytest.approx(p[18])
    for name, share in (("recall_0.90", 0.90), ("recall_0.95", 0.95)):
        recall = np.mean(p >= chosen[name])
        assert recall >= share and np.mean(p > chosen[name]) < share  # any higher threshold misses it


def test_best_macro_f1_is_the_best_over_every_candidate_by_sklearn():
    rng = np.random.default_rng(3)
    gold = rng.random(300) < 0.4
    p = np.round(np.clip(rng.normal(np.where(gold, 0.6, 0.4), 0.2), 0, 1), 3)
    best = choose_thresholds(gold, p)["best_macro_f1"]
    scores = {t: f1_score(gold, p >= t, average="macro") for t in {*p.tolist(), 0.5}}
    assert scores[best] == pytest.approx(max(scores.values()))
    assert best == max(t for t, s in scores.items() if s == pytest.approx(max(scores.values())))


@pytest.mark.parametrize("threshold", [0.0, 0.3, 0.5, 0.62, 0.65, 1.0])
def test_a_point_s_figures_are_sklearn_s(threshold):
    gold = np.array([True, False, True, False, True, False, False])
    p = np.array([0.65, 0.62, 0.35, 0.1, 0.3, 0.5, 0.7])
    flagged = p >= threshold
    point = operating_point("x", threshold, "dev", gold, p)
    assert point["accuracy"] == pytest.approx(accuracy_score(gold, flagged))
    assert point["macro_f1"] == pytest.approx(f1_score(gold, flagged, labels=[True, False], average="macro",
                                                       zero_division=0))
    if flagged.any():
        assert point["precision_hate"] == pytest.approx(precision_score(gold, flagged))
    else:
        assert point["precision_hate"] is None  # no post flagged: undefined, not 0
    assert point["recall_hate"] == pytest.approx(recall_score(gold, flagged))
    assert point["fpr"] == pytest.approx((flagged & ~gold).sum() / (~gold).sum())


def test_points_are_default_then_those_chosen_in_order():
    points = operating_points([True, False], [0.7, 0.2], choose_thresholds(DEV_GOLD, DEV_P), "dev")
    assert [(p["name"], p["threshold"], p["chosen_on"]) for p in points] == [
        ("default", 0.5, None), ("best_macro_f1", 0.6, "dev"), ("recall_0.90", 0.3, "dev"), ("recall_0.95", 0.3, "dev")]
    assert [p["name"] for p in operating_points([True], [0.7], None)] == ["default"]


# --- contrast pairs -----------------------------------------------------------------------------------------------

def meta(acl_id, matched=None, level=None, round_="1", target=None):
    return {"acl.id": acl_id, "acl.id.matched": matched, "level": level, "round": round_, "target": target}


def test_contrast_pairs_by_hand():
    metas = [
        meta("a1", "a2", "original", "2a"), meta("a2", "a1", "perturbation", "2b"),  # both name each other: once
        meta("a3", None, "original", "3a"), meta("a4", "a3", "perturbation", "3b"),
        meta("a5", "a99", "perturbation", "3b"),  # its original is in another split: not counted
        meta("a6", "a6"),  # names itself: not a pair
        # no level: the row that names the other is the perturbation
        meta("a7", "a8", None, "4b"), meta("a8", round_="4a"),
    ]
    assert contrast_pairs(metas) == [(0, 1, "R2"), (2, 3, "R3"), (7, 6, "R4")]
    correct = [True, True, True, False, True, True, False, True]
    out = contrast(correct, metas)
    assert {k: v for k, v in out.items() if k != "rounds"} == {
        "pairs": 3, "both_correct": 1, "consistency": 1 / 3, "original_correct_only": 2,
        "perturbation_correct_only": 0, "both_wrong": 0}
    assert out["rounds"]["R2"]["both_correct"] == 1 and out["rounds"]["R3"]["original_correct_only"] == 1
    assert out["rounds"]["R4"] == {"pairs": 1, "both_correct": 0, "consistency": 0.0, "original_correct_only": 1,
                                   "perturbation_correct_only": 0, "both_wrong": 0}  # a8 right, a7 wrong
    assert list(out["rounds"]) == ["R2", "R3", "R4"]


def test_no_pair_gives_a_null_consistency():
    assert contrast([True], [meta("a1")])["consistency"] is None


# --- bias AUCs ----------------------------------------------------------------------------------------------------
#   group A: hate .9; not hate .2, .6.   others: hate .7, .4; not hate .3
#   subgroup A: {.9} vs {.2, .6} -> 1;  BPSN A: hate {.7, .4} vs A's not hate {.2, .6} -> 3/4;  BNSP A: {.9} vs {.3}
BIAS_GOLD = [True, False, False, True, True, False]
BIAS_P = [0.9, 0.2, 0.6, 0.7, 0.4, 0.3]
BIAS_GROUPS = [{"A"}, {"A"}, {"A"}, {"B"}, {"B"}, set()]


def test_bias_aucs_by_hand_and_the_minimum_of_examples():
    out = bias(BIAS_GOLD, BIAS_P, BIAS_GROUPS, min_examples=1)
    assert out["groups"]["A"] == {"size": 3, "subgroup_auc": 1.0, "bpsn_auc": 0.75, "bnsp_auc": 1.0}
    # B (hate .7, .4; no not-hate post): subgroup needs both classes -> null; BPSN: A's... none of B's not hate
    assert out["groups"]["B"]["subgroup_auc"] is None and out["groups"]["B"]["bpsn_auc"] is None
    # BNSP B: B's hate {.7, .4} vs the others' not hate {.2, .6, .3}: .7 beats 3, .4 beats 2 -> 5/6
    assert out["groups"]["B"]["bnsp_auc"] == pytest.approx(5 / 6)
    two = bias(BIAS_GOLD, BIAS_P, BIAS_GROUPS, min_examples=2)["groups"]["A"]
    assert two == {"size": 3, "subgroup_auc": None, "bpsn_auc": 0.75, "bnsp_auc": None}  # 1 hate post in A


def test_bias_aucs_are_sklearn_s_on_their_sets():
    rng = np.random.default_rng(5)
    gold = rng.random(400) < 0.5
    p = rng.random(400)
    groups = [{"x"} if rng.random() < 0.3 else {"y", "z"} if rng.random() < 0.5 else set() for _ in range(400)]
    out = bias(gold, p, groups)
    for name in ("x", "y"):
        member = np.array([name in g for g in groups])
        assert out["groups"][name]["subgroup_auc"] == pytest.approx(roc_auc_score(gold[member], p[member]))
        bpsn = (member & ~gold) | (~member & gold)
        assert out["groups"][name]["bpsn_auc"] == pytest.approx(roc_auc_score(gold[bpsn], p[bpsn]))
        bnsp = (member & gold) | (~member & ~gold)
        assert out["groups"][name]["bnsp_auc"] == pytest.approx(roc_auc_score(gold[bnsp], p[bnsp]))
    values = [out["groups"][g]["bpsn_auc"] for g in ("x", "y", "z")]
    assert out["generalized_mean"]["bpsn_auc"] == pytest.approx(np.mean(np.power(values, -5)) ** (-1 / 5))


def test_generalized_mean_by_hand():
    assert generalized_mean([0.75, 0.5]) == pytest.approx(((0.75 ** -5 + 0.5 ** -5) / 2) ** -0.2)
    assert generalized_mean([0.8]) == pytest.approx(0.8) and generalized_mean([]) is None
    assert generalized_mean([0.9, 0.0]) == 0.0


def test_groups_from_targets_and_matched_rows():
    assert target_groups("bla, wom") == {"bla", "wom"} and target_groups("notgiven") == set()
    assert target_groups("none") == set() and target_groups(None) == set()
    metas = [meta("p1", "o1", target="none"), meta("p2", "o1", target="none"), meta("p3", "o9", target="gay")]
    # p1 (not hate, no target) takes o1's; p2 is hate: it does not; p3 has its own
    assert dynahate_groups(metas, [False, True, False], {"o1": "bla,wom"}) == [{"bla", "wom"}, set(), {"gay"}]


# --- calibration --------------------------------------------------------------------------------------------------

def test_the_fitted_temperature_recovers_a_known_one():
    rng = np.random.default_rng(7)
    z = rng.normal(0, 3, 20000)
    gold = rng.random(20000) < 1 / (1 + np.exp(-z / 2))  # the true probability is sigmoid(z / 2)
    p = 1 / (1 + np.exp(-z))  # over-confident scores
    temperature = fit_temperature(gold, p)
    assert temperature == pytest.approx(2.0, abs=0.1)
    for other in (temperature * 1.05, temperature / 1.05):  # a minimum of sklearn's log-loss
        assert log_loss(gold, apply_temperature(p, temperature)) < log_loss(gold, apply_temperature(p, other))


def test_calibration_entry_is_sklearn_s_brier_and_eval_s_ece_after_scaling():
    gold, p = [True, False, True, False, True], [0.99, 0.8, 0.6, 0.1, 0.3]
    out = calibration(gold, p, 2.0, fitted_on="dev")
    scaled = apply_temperature(p, 2.0)
    assert scaled[0] == pytest.approx(1 / (1 + (0.01 / 0.99) ** 0.5))  # sigmoid(logit(p) / 2)
    assert apply_temperature([0.5], 3.0)[0] == 0.5
    assert out == {"fitted_on": "dev", "temperature": 2.0, "meaningful": True,
                   "ece": pytest.approx(expected_calibration_error([1, 0, 1, 0, 1], scaled.tolist())),
                   "brier": pytest.approx(brier_score_loss([1, 0, 1, 0, 1], scaled))}


# --- intervals ----------------------------------------------------------------------------------------------------

def test_roc_auc_with_ties_is_sklearn_s():
    rng = np.random.default_rng(1)
    gold = rng.random(500) < 0.3
    p = np.round(rng.random(500), 1)  # many ties
    assert roc_auc(gold, p) == pytest.approx(roc_auc_score(gold, p))
    assert math.isnan(roc_auc([True, True], [0.1, 0.2]))


def test_each_resample_s_auc_is_sklearn_s_on_the_resampled_posts():
    """The same draws, redone here as post indices: each resample's AUC equals sklearn's on those posts."""
    rng = np.random.default_rng(2)
    gold = rng.random(60) < 0.5
    p = np.round(rng.random(60), 2)
    aucs = resampled_roc_auc(gold, p, 40, seed=4, chunk=7)
    order = np.r_[np.flatnonzero(~gold)[np.argsort(p[~gold], kind="stable")], np.flatnonzero(gold)]
    draws = np.random.default_rng(4)
    expected = []
    for first in range(0, 40, 7):
        rows = min(7, 40 - first)
        for row in draws.integers(0, 60, size=(rows, 60), dtype=np.int32):
            posts = order[row]
            expected.append(roc_auc_score(gold[posts], p[posts]) if len(set(gold[posts])) > 1 else np.nan)
    assert np.allclose(aucs, expected, equal_nan=True)


def test_intervals_entry_and_its_accuracy_interval_from_the_enumerable_case():
    """4 posts, one wrong: a resample's accuracy is 1 - (draws of the wrong post) / 4, the draws Binomial(4, 1/4):
    P(0) = 1/256, P(1/4) = 12/256 (together 5.1 %, so the 2.5 % percentile is 1/4), P(1) = 81/256 (so the
    97.5 % percentile is 1)."""
    out = intervals([0, 1, 1, 0], [0, 1, 0, 0], [0.8, 0.3, 0.6, 0.9], resamples=200_000, seed=3)
    assert out["confidence"] == 0.95 and out["resamples"] == 200_000 and out["seed"] == 3
    assert out["accuracy"] == pytest.approx([0.25, 1.0])
    assert set(out) == {"confidence", "resamples", "seed", "accuracy", "macro_f1", "roc_auc"}


def test_an_invalid_answer_is_wrong_and_generate_mode_has_no_auc_interval():
    out = intervals([0, 1, 0, 1], [INVALID, 1, 0, 1], None, resamples=500)
    assert out["roc_auc"] is None and out["accuracy"][1] == 1.0 and out["accuracy"][0] < 0.75


def test_the_auc_interval_is_the_percentile_interval_of_the_resampled_aucs():
    rng = np.random.default_rng(9)
    gold = rng.integers(0, 2, 300)
    p = rng.random(300)
    out = intervals(gold.tolist(), gold.tolist(), p.tolist(), positive=0, resamples=2000, seed=5)
    expected = percentile_interval(resampled_roc_auc(gold == 0, p, 2000, 5), 0.95)
    assert out["roc_auc"] == expected and out["roc_auc"][0] < roc_auc_score(gold == 0, p) < out["roc_auc"][1]


# --- the entries of an evaluation ---------------------------------------------------------------------------------

def _outcome(gold, p, sha="ab" * 32):
    predictions = [Prediction(f"acl{i}", HATE if g else NOT_HATE, HATE if s >= 0.5 else NOT_HATE, p_hate=s)
                   for i, (g, s) in enumerate(zip(gold, p, strict=True))]
    results = split_results(predictions, "score", 1.0)
    results["adapter"] = {"sha256": sha}
    return SplitOutcome(predictions, results)


TEST_GOLD = [True, False, True, False, True, False]
TEST_P = [0.65, 0.62, 0.35, 0.1, 0.55, 0.3]


def test_thresholds_are_chosen_on_dev_and_never_reported_for_dev(tmp_path):
    outcomes = {"dev": _outcome(DEV_GOLD, DEV_P), "test": _outcome(TEST_GOLD, TEST_P)}
    add_decision_entries(outcomes, {}, tmp_path)
    dev, test = outcomes["dev"].results, outcomes["test"].results
    assert [p["name"] for p in dev["operating_points"]] == ["default"] and "calibration" not in dev
    assert DEV_NOTE in dev["notes"]
    chosen = choose_thresholds(DEV_GOLD, DEV_P)
    assert [(p["name"], p["threshold"]) for p in test["operating_points"][1:]] == list(chosen.items())
    assert test["operating_points"][1] == operating_point("best_macro_f1", 0.6, "dev", TEST_GOLD, TEST_P)
    assert test["calibration"]["temperature"] == pytest.approx(fit_temperature(DEV_GOLD, DEV_P))
    assert "notes" not in test and "contrast" not in test and "bias" not in test  # no metadata, no groups


def test_dev_scores_from_the_folder_only_from_the_same_adapter(tmp_path):
    write_eval_outputs(tmp_path, {"dev": _outcome(DEV_GOLD, DEV_P)})
    same = {"test": _outcome(TEST_GOLD, TEST_P)}
    add_decision_entries(same, {}, tmp_path)
    assert len(same["test"].results["operating_points"]) == 4 and same["test"].results["calibration"]
    other = {"test": _outcome(TEST_GOLD, TEST_P, sha="cd" * 32)}
    add_decision_entries(other, {}, tmp_path)
    results = other["test"].results
    assert [p["name"] for p in results["operating_points"]] == ["default"] and "calibration" not in results
    assert any("need dev's scores from this adapter" in note for note in results["notes"])


def test_the_prepared_dev_file_is_the_dev_split_and_its_name_is_recorded(tmp_path):
    """``--data data/dynahate_dev.jsonl`` names the split ``dynahate_dev`` (its stem): it is dev, in this evaluation
    or an earlier one in the folder, and ``chosen_on`` / ``fitted_on`` record that name."""
    from dynahate.eval.decision.summary import decision_lines

    outcomes = {"dynahate_dev": _outcome(DEV_GOLD, DEV_P), "dynahate_test": _outcome(TEST_GOLD, TEST_P)}
    add_decision_entries(outcomes, {}, tmp_path)
    dev, test = outcomes["dynahate_dev"].results, outcomes["dynahate_test"].results
    assert [p["name"] for p in dev["operating_points"]] == ["default"] and "calibration" not in dev
    assert dev["notes"] == [DEV_NOTE]
    chosen = choose_thresholds(DEV_GOLD, DEV_P)
    assert [(p["name"], p["threshold"], p["chosen_on"]) for p in test["operating_points"]] == [
        ("default", 0.5, None), *((name, threshold, "dynahate_dev") for name, threshold in chosen.items())]
    assert test["calibration"]["fitted_on"] == "dynahate_dev" and "notes" not in test
    assert test["calibration"]["temperature"] == pytest.approx(fit_temperature(DEV_GOLD, DEV_P))
    lines = decision_lines(test)
    assert any("chosen on dynahate_dev)" in line for line in lines)
    assert any("fitted on dynahate_dev)" in line for line in lines)

    write_eval_outputs(tmp_path, {"dynahate_dev": _outcome(DEV_GOLD, DEV_P)})  # an earlier evaluation of dev
    later = {"test": _outcome(TEST_GOLD, TEST_P)}
    add_decision_entries(later, {}, tmp_path)
    assert {p["chosen_on"] for p in later["test"].results["operating_points"][1:]} == {"dynahate_dev"}
    assert later["test"].results["calibration"]["fitted_on"] == "dynahate_dev"


def test_dev_is_preferred_to_dynahate_dev_and_neither_gets_figures_chosen_on_dev(tmp_path):
    other_p = [0.55, 0.8, 0.6, 0.3, 0.7, 0.4, 0.2, 0.1]
    outcomes = {"dynahate_dev": _outcome(DEV_GOLD, other_p), "dev": _outcome(DEV_GOLD, DEV_P),
                "test": _outcome(TEST_GOLD, TEST_P)}
    add_decision_entries(outcomes, {}, tmp_path)
    for name in ("dev", "dynahate_dev"):
        assert [p["name"] for p in outcomes[name].results["operating_points"]] == ["default"]
        assert outcomes[name].results["notes"] == [DEV_NOTE]
    test = outcomes["test"].results
    assert test["calibration"]["fitted_on"] == "dev"
    assert test["calibration"]["temperature"] == pytest.approx(fit_temperature(DEV_GOLD, DEV_P))


def test_without_a_dev_split_each_scored_split_says_so_once(tmp_path):
    from dynahate.eval.decision.dev_scores import NONE_NOTE
    from dynahate.eval.decision.summary import decision_lines

    outcomes = {"dynahate_test": _outcome(TEST_GOLD, TEST_P), "dev_extra": _outcome(DEV_GOLD, DEV_P)}
    add_decision_entries(outcomes, {}, tmp_path)
    for outcome in outcomes.values():
        results = outcome.results
        assert [p["name"] for p in results["operating_points"]] == ["default"] and "calibration" not in results
        assert results["notes"] == [NONE_NOTE]
        assert [line for line in decision_lines(results) if line.startswith("note:")] == [f"note: {NONE_NOTE}"]
    assert "dynahate_dev.jsonl" in NONE_NOTE


def test_an_earlier_dev_predictions_file_must_be_a_file_inside_the_folder(tmp_path):
    """Dev's scores are read from an earlier evaluation's predictions file only when it is a regular file inside the
    folder (compare's check): a link out of it, a broken link or a folder is one error naming it, before and when
    it is read; a missing one leaves a note."""
    from dynahate.core.errors import DynahateError
    from dynahate.eval.decision.dev_scores import NONE_NOTE, check_reused_dev_files

    folder = tmp_path / "out"
    write_eval_outputs(folder, {"dev": _outcome(DEV_GOLD, DEV_P)})
    linked, outside = folder / "dev_predictions.jsonl", tmp_path / "elsewhere.jsonl"
    linked.rename(outside)
    linked.symlink_to(outside)
    for refused in (lambda: add_decision_entries({"test": _outcome(TEST_GOLD, TEST_P)}, {}, folder),
                    lambda: check_reused_dev_files(folder, ["test"], "score"),
                    lambda: check_reused_dev_files(folder, ["hatecheck"], "score")):
        with pytest.raises(DynahateError, match=f"^{linked}: a link to a file outside {folder}; "):
            refused()
    check_reused_dev_files(folder, ["dev", "test"], "score")  # this evaluation's own dev: the file is not read
    check_reused_dev_files(folder, ["test"], "generate")
    answers = [Prediction("a", HATE, HATE, raw="hate"), Prediction("b", NOT_HATE, HATE, raw="hate")]
    add_decision_entries({"test": SplitOutcome(answers, split_results(answers, "generate", 1.0))}, {},
                         folder)  # no split scored: dev's scores are not looked for

    linked.unlink()
    linked.symlink_to(tmp_path / "nowhere.jsonl")
    with pytest.raises(DynahateError, match=f"^{linked}: a broken link; "):
        add_decision_entries({"test": _outcome(TEST_GOLD, TEST_P)}, {}, folder)
    linked.unlink()
    linked.mkdir()
    with pytest.raises(DynahateError, match=f"^{linked}: not a regular file"):
        check_reused_dev_files(folder, ["test"], "score")
    linked.rmdir()
    missing = {"test": _outcome(TEST_GOLD, TEST_P)}
    add_decision_entries(missing, {}, folder)
    assert missing["test"].results["notes"] == [f"{linked}: missing; {NONE_NOTE}"]
    linked.symlink_to(folder / "eval_metrics.txt")  # a link inside the folder is followed, as compare does
    check_reused_dev_files(folder, ["test"], "score")
    linked.unlink()
    outside.rename(linked)
    read = {"test": _outcome(TEST_GOLD, TEST_P)}
    add_decision_entries(read, {}, folder)
    assert read["test"].results["calibration"]["fitted_on"] == "dev"


def test_generate_mode_gets_accuracy_and_macro_f1_intervals_and_a_note(tmp_path):
    predictions = [Prediction("a", HATE, HATE, raw="hate"), Prediction("b", NOT_HATE, None, raw="x")]
    outcomes = {"test": SplitOutcome(predictions, split_results(predictions, "generate", 1.0))}
    add_decision_entries(outcomes, {"test": SplitContext(metas=[meta("a"), meta("b", "a")])}, tmp_path)
    results = outcomes["test"].results
    assert results["intervals"]["roc_auc"] is None and "operating_points" not in results
    assert results["contrast"]["pairs"] == 1 and results["contrast"]["both_wrong"] == 0
    assert any("need score mode" in note for note in results["notes"])
    json.dumps(results)  # JSON-ready


def test_a_perfectly_separated_dev_gives_a_temperature_at_its_bound_and_a_note(tmp_path):
    from dynahate.eval.decision.calibration import SEPARATED, at_bound

    separated = [0.9, 0.8, 0.7, 0.6, 0.4, 0.3, 0.2, 0.1]
    assert at_bound(fit_temperature(DEV_GOLD, separated)) and not at_bound(fit_temperature(DEV_GOLD, DEV_P))
    outcomes = {"dev": _outcome(DEV_GOLD, separated), "test": _outcome(TEST_GOLD, TEST_P)}
    add_decision_entries(outcomes, {}, tmp_path)
    assert SEPARATED in outcomes["test"].results["notes"]
    assert outcomes["test"].results["calibration"]["meaningful"] is False


# every dev post far on its label's side: the log-loss underflows to 0 below T ~ 0.005, where the search stops
UNDERFLOWING = [0.99, 0.995, 0.99, 0.99, 0.01, 0.01, 0.005, 0.01]


def test_a_separated_dev_whose_log_loss_underflows_is_no_fit_though_inside_the_range(tmp_path):
    """Issue 33, item 5: the search stopped at T = 0.00322, inside its range, with no note; the summary showed
    'temperature 0.003' and the plot 'T = 0.00'. Separation is read from dev's scores, not from where T stopped."""
    from scipy.special import log_expit

    from dynahate.eval.decision.calibration import LOG_T_BOUNDS, SEPARATED, at_bound, fit_problem
    from dynahate.eval.decision.summary import decision_lines

    temperature = fit_temperature(DEV_GOLD, UNDERFLOWING)
    assert math.exp(LOG_T_BOUNDS[0]) * 2 < temperature < 0.01 and not at_bound(temperature)  # where it stops
    margins = np.log(0.99 / 0.01) / temperature
    assert log_expit(margins) == 0.0  # the loss there: 0 in floating point, flat, no minimum
    assert fit_problem(DEV_GOLD, UNDERFLOWING, temperature) == SEPARATED
    assert fit_problem(DEV_GOLD, DEV_P, fit_temperature(DEV_GOLD, DEV_P)) is None  # a real minimum
    outcomes = {"dev": _outcome(DEV_GOLD, UNDERFLOWING), "test": _outcome(TEST_GOLD, TEST_P)}
    add_decision_entries(outcomes, {}, tmp_path)
    test = outcomes["test"].results
    assert test["calibration"]["meaningful"] is False and test["notes"] == [SEPARATED]
    assert "not a meaningful probability" in SEPARATED
    shown = f"{temperature:#.3g}"  # three significant digits, e.g. 0.00322
    assert float(shown) != 0 and abs(float(shown) / temperature - 1) < 5e-3
    line = next(line for line in decision_lines(test) if line.startswith("calibrated"))
    assert line.startswith(f"calibrated (T = {shown}, fitted on dev, not meaningful): ECE ")
    assert f"note: {SEPARATED}" in decision_lines(test)


def test_no_dev_post_on_its_side_is_no_fit_either():
    from dynahate.eval.decision.calibration import INVERTED, fit_problem

    inverted = [1 - p for p in UNDERFLOWING]
    assert fit_problem(DEV_GOLD, inverted, fit_temperature(DEV_GOLD, inverted)) == INVERTED
    assert fit_problem(DEV_GOLD, [0.5] * 8, fit_temperature(DEV_GOLD, [0.5] * 8)) == INVERTED  # flat: log 2


@pytest.mark.parametrize(("temperature", "shown"), [
    (0.0032174, "0.00322"), (0.000911882, "0.000912"), (0.05, "0.0500"), (0.8766, "0.877"), (1.0, "1.000"),
    (2.0, "2.000"), (1096.633, "1096.633"), (9.12e-05, "9.12e-05")])
def test_a_temperature_is_shown_with_three_significant_digits_at_least(temperature, shown):
    from dynahate.eval.decision.calibration import temperature_text

    assert temperature_text(temperature) == shown


def test_the_reliability_plot_names_the_temperature_and_whether_it_is_a_fit(monkeypatch):
    """The legend of the calibrated curve (read from the real figure, kept open): its temperature to three
    significant digits, the dev split it was fitted on, and 'not meaningful' for a temperature that is no fit."""
    import matplotlib.pyplot as plt

    from dynahate.eval.plots import split_plots

    close, figures = plt.close, []
    monkeypatch.setattr(plt, "close", figures.append)  # keep each figure open to read its legend
    predictions = _outcome(TEST_GOLD, TEST_P).predictions
    legends = {}
    for meaningful in (True, False):
        entry = {"fitted_on": "dynahate_dev", "temperature": 0.0032174, "meaningful": meaningful}
        split_plots("test", predictions, "score", entry)
        reliability = next(f for f in figures if "reliability" in f.axes[0].get_title())
        legends[meaningful] = [t.get_text() for t in reliability.axes[0].get_legend().get_texts()]
        for figure in figures:
            close(figure)
        figures.clear()
    assert "calibrated (T = 0.00322, fitted on dynahate_dev)" in legends[True]
    assert "calibrated (T = 0.00322, fitted on dynahate_dev, not meaningful)" in legends[False]
