"""Metrics against numbers worked out by hand, and the treatment of invalid answers."""

import pytest

from dynahate.eval.metrics import expected_calibration_error, split_results
from dynahate.eval.predictions import Prediction

H, N = "hate", "not hate"


def scored(golds, p_hates):
    return [Prediction(f"x{i}", g, H if p >= 0.5 else N, p_hate=p)
            for i, (g, p) in enumerate(zip(golds, p_hates, strict=False))]


def test_five_posts_by_hand():
    # gold:   H    H    H    N    N
    # p_hate: .9   .6   .4   .3   .7    -> pred H H N N H
    results = split_results(scored([H, H, H, N, N], [0.9, 0.6, 0.4, 0.3, 0.7]), "score", 2.0)
    assert results["accuracy"] == pytest.approx(3 / 5)
    # hate: P = 2/3, R = 2/3, F1 = 2/3; not hate: P = 1/2, R = 1/2, F1 = 1/2
    assert results["precision"] == pytest.approx({H: 2 / 3, N: 1 / 2})
    assert results["recall"] == pytest.approx({H: 2 / 3, N: 1 / 2})
    assert results["macro_f1"] == pytest.approx((2 / 3 + 1 / 2) / 2)
    assert results["support"] == {H: 3, N: 2}
    # Brier: (.1² + .4² + .6² + .3² + .7²) / 5 = (.01 + .16 + .36 + .09 + .49) / 5
    assert results["brier"] == pytest.approx(1.11 / 5)
    # ROC-AUC: of the 6 (hate, not hate) pairs, hate ranks higher in 4 (.9>.3,.9>.7,.6>.3,.4>.3)
    assert results["roc_auc"] == pytest.approx(4 / 6)
    assert results["examples"] == 5 and results["invalid"] == 0
    assert results["examples_per_second"] == pytest.approx(2.5)
    assert results["confusion_matrix"]["counts"] == [[2, 1, 0], [1, 1, 0]]


def test_ece_by_hand():
    # confidences of the predicted class: .9 (right), .6 (right), .6 (wrong: p=.4 -> N, gold H), .7 (right), .7 (wrong)
    # bins of width .05 on [0.5, 1]: (0.55,0.6]: {.6 right, .6 wrong} -> |.5 - .6| * 2/5 ;
    # (0.65,0.7]: {.7, .7 wrong} -> |.5-.7| * 2/5 ; (0.85,0.9]: {.9 right} -> |1 - .9| * 1/5
    ece = expected_calibration_error([1, 1, 1, 0, 0], [0.9, 0.6, 0.4, 0.3, 0.7])
    assert ece == pytest.approx(0.1 * 2 / 5 + 0.2 * 2 / 5 + 0.1 / 5)


def test_ece_bins_cover_the_confidence_range_half_to_one():
    # The confidence max(p, 1-p) of a two-class prediction lies in [0.5, 1]: 10 bins of width .05.
    # gold:        H     N     H     H
    # p_hate:     .52   .58   1.0   0.0   -> pred H H H N, confidence .52 (right) .58 (wrong) 1 (right) 1 (wrong)
    # [0.5,0.55]: {.52 right}       -> |1 - .52| * 1/4 = .12
    # (0.55,0.6]: {.58 wrong}       -> |0 - .58| * 1/4 = .145
    # (0.95,1]:   {1 right, 1 wrong} -> |.5 - 1| * 2/4 = .25   (the top edge belongs to the last bin)
    # Bins of width .1 on [0, 1] would put .52 and .58 together: |.5 - .55| * 2/4 + .25 = .275.
    ece = expected_calibration_error([1, 0, 1, 1], [0.52, 0.58, 1.0, 0.0])
    assert ece == pytest.approx(0.12 + 0.145 + 0.25)


def test_ece_a_confidence_of_one_half_is_in_the_first_bin():
    # p = .5 is predicted H with confidence .5 (right); p = .54 is H with confidence .54 (wrong):
    # both in [0.5, 0.55] -> |.5 - .52| = .02. On [0, 1] they fell in two bins: .5 * 1/2 + .54 * 1/2 = .52.
    assert expected_calibration_error([1, 0], [0.5, 0.54]) == pytest.approx(0.02)
    # ...and with one bin, ECE is |accuracy - mean confidence| over all posts.
    assert expected_calibration_error([1, 0], [0.5, 0.54], bins=1) == pytest.approx(0.02)


def test_invalid_answers_count_as_wrong_and_are_never_a_class():
    predictions = [Prediction("a", H, H, raw="hate"), Prediction("b", H, None, raw="I cannot"),
                   Prediction("c", N, N, raw="not hate"), Prediction("d", N, None, raw="")]
    results = split_results(predictions, "generate", None)
    assert results["invalid"] == 2
    assert results["accuracy"] == pytest.approx(0.5)
    assert results["recall"] == pytest.approx({H: 0.5, N: 0.5})
    assert results["precision"] == pytest.approx({H: 1.0, N: 1.0})  # invalid answers are not predictions of a class
    assert results["confusion_matrix"]["counts"] == [[1, 0, 1], [0, 1, 1]]
    assert results["examples_per_second"] is None and "roc_auc" not in results


def test_single_class_gold_has_no_auc_but_the_rest():
    results = split_results(scored([H, H, H], [0.9, 0.8, 0.2]), "score", 1.0)
    assert results["roc_auc"] is None and results["pr_auc"] is None and results["notes"]
    assert results["accuracy"] == pytest.approx(2 / 3)


def test_breakdowns_by_metadata():
    predictions = scored([H, N, H, N], [0.9, 0.1, 0.1, 0.9])
    metas = [{"round": "1", "type": "animosity", "target": "wom"}, {"round": "1", "type": "none", "target": None},
             {"round": "2", "type": "animosity", "target": "wom"}, {"round": "2", "type": "none", "target": None}]
    by = split_results(predictions, "score", 1.0, metas)["breakdowns"]
    assert by["round"] == {"1": {"examples": 2, "accuracy": 1.0, "macro_f1": 1.0},
                           "2": {"examples": 2, "accuracy": 0.0, "macro_f1": 0.0}}
    assert by["type"]["animosity"]["examples"] == 2 and by["type"]["animosity"]["accuracy"] == 0.5
    # target 'wom': gold hate, hate; pred hate, not hate -> hate P = 1, R = 1/2, F1 = 2/3 (only 'hate' present)
    assert by["target"] == {"wom": {"examples": 2, "accuracy": 0.5, "macro_f1": pytest.approx(2 / 3)}}


def test_round_groups_put_a_round_s_a_and_b_posts_together_in_numeric_order():
    predictions = scored([H, N, H, N, H], [0.9, 0.1, 0.1, 0.9, 0.9])
    rounds = ["2a", "2b", "10a", "1", "2a"]
    by = split_results(predictions, "score", 1.0, [{"round": r} for r in rounds])["breakdowns"]
    assert list(by["round_group"]) == ["R1", "R2", "R10"]  # numeric, not string, order
    # R2: posts 0, 1, 4 (gold H, N, H; pred H, N, H) -> all right
    assert by["round_group"]["R2"] == {"examples": 3, "accuracy": 1.0, "macro_f1": 1.0}
    assert by["round_group"]["R10"]["examples"] == by["round"]["10a"]["examples"] == 1


def test_no_predictions_is_an_error():
    with pytest.raises(ValueError):
        split_results([], "score", 1.0)
