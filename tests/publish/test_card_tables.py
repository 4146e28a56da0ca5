"""The card's tables from a typed record, without a trained run (issue 34 item 5): the evaluation table, the
decision-ready figures (intervals, operating points chosen on dev, contrast pairs per round, bias by group weakest
first, calibration) and the rounds table, each number the one the record holds. The record is written by eval's own
writer from made-up scores and read back by the one reader."""

from __future__ import annotations

from pathlib import Path

from dynahate.eval.decision.calibration import NO_FIT
from dynahate.plugin.eval_record import RESULTS_NAME, SplitResults, read_record, temperature_text
from dynahate.publish.card import render_card
from dynahate.publish.run_record import RunRecord, read_recipe
from dynahate.testing.cli import REPO
from dynahate.testing.eval_folders import write_scored_folder

RECIPE = REPO / "recipes" / "dynahate_qlora.yaml"


def card_text(tmp_path: Path) -> tuple[str, dict[str, SplitResults]]:
    folder = write_scored_folder(tmp_path / "eval", seed=3, dev=True)
    splits = dict(read_record(folder / RESULTS_NAME).splits)
    recipe = read_recipe(RECIPE)
    record = RunRecord(tmp_path, {"base_model_name_or_path": "meta-llama/Llama-3.1-8B-Instruct", "r": 8}, {}, {}, {},
                       {}, RECIPE, {k: recipe[k] for k in ("quantization_bit", "quantization_method", "template")},
                       splits, folder, None)
    return render_card(record, "me/x", {"adapter_model.safetensors": 1}), splits


def test_the_evaluation_table_states_each_splits_recorded_figures(tmp_path):
    text, splits = card_text(tmp_path)
    for split, res in splits.items():
        row = f"| {split} (not the official data) | score | {res['examples']} | {res['invalid']} | "
        assert row + f"{res['accuracy']:.4f} | {res['macro_f1']:.4f} |" in text, row


def test_the_decision_ready_tables_state_what_the_record_holds(tmp_path):
    text, splits = card_text(tmp_path)
    assert "### Decision-ready figures" in text
    for split, res in splits.items():
        low, high = res["intervals"]["accuracy"]
        assert f"| {split} | {res['accuracy']:.4f} [{low:.4f}, {high:.4f}] |" in text
    test = splits["test"]
    points = test["operating_points"]
    assert [p["name"] for p in points] == ["default", "best_macro_f1", "recall_0.90", "recall_0.95"]
    for point in points:
        assert (f"| {point['name']} | {point['threshold']:.4f} | {point['chosen_on'] or 'fixed'} | "
                f"{point['precision_hate']:.4f} | {point['recall_hate']:.4f} | {point['fpr']:.4f} |") in text
    contrast = test["contrast"]
    assert f"| all | {contrast['pairs']} | {contrast['both_correct']} | {contrast['consistency']:.4f} |" in text
    for name, group in contrast.get("rounds", {}).items():
        assert f"| {name} | {group['pairs']} | {group['both_correct']} |" in text
    groups = test["bias"]["groups"]
    rows = [line.split("|")[1].strip() for line in text.splitlines()
            if line.startswith("| ") and line.split("|")[1].strip() in groups]
    weakest_first = sorted(groups, key=lambda g: (min([v for k, v in groups[g].items()
                                                       if k.endswith("_auc") and v is not None] or [2.0]), g))
    assert rows and rows == weakest_first
    calibration = test["calibration"]
    shown = temperature_text(calibration["temperature"])
    shown += "" if calibration.get("meaningful", True) else f" ({NO_FIT})"
    assert f"T = {shown} on the label log-odds, fitted on the dev split" in text
    assert f"{test['ece']:.4f} before, {calibration['ece']:.4f} after" in text


def test_the_rounds_table_states_each_round_group(tmp_path):
    text, splits = card_text(tmp_path)
    rounds = splits["test"]["breakdowns"]["round_group"]
    assert rounds
    for name, group in rounds.items():
        assert f"| {name} | {group['examples']} | {group['accuracy']:.4f} |" in text, name
