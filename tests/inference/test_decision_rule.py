"""``--threshold`` / ``--calibrated`` (inference/decision_rule.py): read from the adapter's recorded test results,
only when they are of these weights; each refusal one line saying what to run; through `dynahate predict`."""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess

import pytest

from dynahate.core.errors import DynahateError
from dynahate.eval.decision.calibration import apply_temperature
from dynahate.inference.decision_rule import DecisionRule, decision_rule, threshold_value
from dynahate.inference.model_loading import adapter_sha256
from dynahate.testing.cli import run_main
from dynahate.testing.records import recorded_splits, split_results

SHA = "ab" * 32
FIGURES = {"accuracy": 0.7, "macro_f1": 0.7, "precision_hate": 0.7, "recall_hate": 0.7, "fpr": 0.3}
POINTS = [{"name": "default", "threshold": 0.5, "chosen_on": None, **FIGURES},
          {"name": "best_macro_f1", "threshold": 0.41, "chosen_on": "dev", **FIGURES},
          {"name": "recall_0.95", "threshold": 0.12, "chosen_on": "dev", **FIGURES}]
CALIBRATION = {"fitted_on": "dev", "temperature": 2.0, "ece": 0.05, "brier": 0.1}


def provenance(sha=SHA):
    return {"path": "/runs/a", "sha256": sha, "base_model": "org/base"}


def recorded(folder, sha=SHA, split="test", **test):
    parts = {"adapter": provenance(sha), "operating_points": POINTS, "calibration": CALIBRATION, **test}
    results = {"dev": split_results(), split: split_results(**{k: v for k, v in parts.items() if v is not None})}
    (folder / "eval_results.json").write_text(json.dumps(results))
    return folder


def test_no_flag_is_the_default_rule_and_changes_nothing(tmp_path):
    rule = decision_rule(None, False, tmp_path, None)  # no results needed
    assert rule == DecisionRule() and rule.fields() == {} and rule.reported(0.3) == 0.3 and rule.label(0.5) == "hate"


def test_a_name_reads_the_recorded_threshold_and_calibration_its_temperature(tmp_path):
    rule = decision_rule("recall_0.95", True, recorded(tmp_path), SHA)
    assert (rule.threshold, rule.threshold_name, rule.temperature) == (0.12, "recall_0.95", 2.0)
    assert rule.label(0.12) == "hate" and rule.label(0.119) == "not hate"  # on the raw p_hate
    assert rule.reported(0.9) == pytest.approx(apply_temperature([0.9], 2.0)[0])
    assert rule.fields() == {"threshold": 0.12, "threshold_name": "recall_0.95", "temperature": 2.0}
    assert decision_rule(0.3, False, tmp_path / "nowhere", None).fields() == {"threshold": 0.3}  # a number: no file


def test_the_test_split_evaluated_from_its_prepared_file_is_read_too(tmp_path):
    """`eval --data data/dynahate_test.jsonl` names the split by the file's stem; `test` wins when both are there."""
    rule = decision_rule("best_macro_f1", True, recorded(tmp_path, split="dynahate_test"), SHA)
    assert (rule.threshold, rule.temperature) == (0.41, 2.0)
    results = recorded_splits(tmp_path)
    results["test"] = {**results["dynahate_test"], "operating_points": [{**POINTS[1], "threshold": 0.7}]}
    (tmp_path / "eval_results.json").write_text(json.dumps(results))
    assert decision_rule("best_macro_f1", False, tmp_path, SHA).threshold == 0.7
    results["dynahate_test"]["adapter"] = provenance("cd" * 32)  # names the split it read in its errors
    results["test"] = split_results(adapter=provenance("cd" * 32))
    (tmp_path / "eval_results.json").write_text(json.dumps(results))
    with pytest.raises(DynahateError, match="'test' results were computed on other weights"):
        decision_rule("best_macro_f1", False, tmp_path, SHA)
    del results["test"]
    (tmp_path / "eval_results.json").write_text(json.dumps(results))
    with pytest.raises(DynahateError, match="'dynahate_test' results were computed on other weights"):
        decision_rule("best_macro_f1", False, tmp_path, SHA)


@pytest.mark.parametrize("change, flags, needles", [
    (None, ("recall_0.90", False), ["--threshold recall_0.90:", "records no such operating point for 'test'",
                                    "recorded: default, best_macro_f1, recall_0.95"]),
    ({"sha": "cd" * 32}, ("best_macro_f1", False), ["computed on other weights (SHA-256 cdcdcdcdcdcd, these are "
                                                    "abababababab)", "run `dynahate eval --adapter"]),
    ({"calibration": None}, (None, True), ["--calibrated:", "records no calibration for 'test'"]),
    ("missing", ("best_macro_f1", False), ["eval_results.json not found: the adapter has no recorded evaluation"]),
    ({"test": None}, (None, True), ["records no 'test' split (nor 'dynahate_test')"]),
], ids=["no-such-point", "other-weights", "no-calibration", "no-file", "no-test"])
def test_what_the_flags_need_and_is_not_recorded_is_one_line(tmp_path, change, flags, needles):
    if change != "missing":
        change = dict(change or {})
        sha = change.pop("sha", SHA)
        if change.get("test", 1) is None:
            (tmp_path / "eval_results.json").write_text(json.dumps({"dev": split_results()}))
        else:
            recorded(tmp_path, sha, **change)
    with pytest.raises(DynahateError) as caught:
        decision_rule(*flags, tmp_path, SHA)
    assert all(needle in str(caught.value) for needle in needles), str(caught.value)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(("value", "needle"), [
    ("NaN", "not valid JSON (NaN is not a number JSON allows)"), ("5", "threshold is 5, expected a number in [0, 1]"),
    ("-1", "threshold is -1, expected"), ("true", "threshold is true, expected"),
    ('"0.41"', "threshold is the string '0.41', expected a number in [0, 1]"),
])
def test_a_tampered_recorded_threshold_is_refused_naming_the_key(tmp_path, value, needle):
    """A NaN threshold labelled every post `not hate` and printed "threshold": NaN; 5 or -1 labelled every post one
    way; true became 1.0; a string said the point was not recorded."""
    text = (recorded(tmp_path) / "eval_results.json").read_text().replace('"threshold": 0.41', f'"threshold": {value}')
    (tmp_path / "eval_results.json").write_text(text)
    with pytest.raises(DynahateError) as caught:
        decision_rule("best_macro_f1", False, tmp_path, SHA)
    message = str(caught.value)
    assert message.startswith("--threshold best_macro_f1: ") and needle in message and "\n" not in message, message


@pytest.mark.parametrize("value", ["Infinity", "1e308", "1e400", "0", "-1", "1e-30"])
def test_a_tampered_recorded_temperature_is_refused(tmp_path, value):
    """A temperature of Infinity or 1e308 made every p_hate 0.5."""
    text = (recorded(tmp_path) / "eval_results.json").read_text().replace('"temperature": 2.0',
                                                                          f'"temperature": {value}')
    (tmp_path / "eval_results.json").write_text(text)
    with pytest.raises(DynahateError, match="^--calibrated: .*(temperature|not valid JSON)"):
        decision_rule(None, True, tmp_path, SHA)


def test_a_temperature_recorded_as_no_fit_is_applied_with_a_warning(tmp_path):
    """A perfectly separated dev split leaves no minimum to fit (issue 33 item 5): eval records `meaningful: false`,
    and `--calibrated` says that the calibrated p_hate is no meaningful probability."""
    recorded(tmp_path, calibration={**CALIBRATION, "temperature": 0.00322, "meaningful": False})
    rule = decision_rule(None, True, tmp_path, SHA)
    assert rule.temperature == 0.00322 and rule.warning is not None
    assert rule.warning.startswith("--calibrated: ") and "(T = 0.00322) is no fit" in rule.warning
    assert decision_rule(None, True, recorded(tmp_path), SHA).warning is None  # a fit: nothing to say


def test_minus_zero_is_zero():
    assert str(threshold_value("-0")) == "0.0"


@pytest.mark.parametrize("text", ["1.5", "-0.1", "nan", "recall_0.99", "high"])
def test_a_bad_threshold_is_a_usage_error(text):
    with pytest.raises(argparse.ArgumentTypeError, match="a number in \\[0, 1\\] or one of default"):
        threshold_value(text)


@pytest.mark.integration
def test_predict_applies_the_recorded_rule_and_names_it(trained_run, score_eval, tmp_path):
    """The trained run with the evaluation of its own weights beside it: labels follow the recorded threshold on
    the raw p_hate, the reported p_hate is calibrated, each line names the rule."""
    run = tmp_path / "run"
    shutil.copytree(trained_run, run)
    shutil.copy(score_eval[0] / "eval_results.json", run / "eval_results.json")
    test = recorded_splits(run)["test"]
    assert test["adapter"]["sha256"] == adapter_sha256(run)
    posts = ["the Drellans next door brought us soup", "Quelmari should all be thrown out", "a quiet evening"]

    def predict(*flags: str) -> list[dict]:
        proc = run_main(["predict", "--adapter", str(run), *posts, *flags])
        return [json.loads(line) for line in proc.stdout.splitlines()]

    plain = predict()
    assert all(set(line) == {"index", "label", "p_hate"} for line in plain)  # without the flags: unchanged
    point = {p["name"]: p for p in test["operating_points"]}["recall_0.95"]
    temperature = test["calibration"]["temperature"]
    ruled = predict("--threshold", "recall_0.95", "--calibrated")
    for before, after in zip(plain, ruled, strict=True):
        assert after["label"] == ("hate" if before["p_hate"] >= point["threshold"] else "not hate")
        assert after["p_hate"] == pytest.approx(apply_temperature([before["p_hate"]], temperature)[0])
        assert (after["threshold"], after["threshold_name"], after["temperature"]) == (
            point["threshold"], "recall_0.95", temperature)
    (run / "eval_results.json").unlink()
    proc: subprocess.CompletedProcess = run_main(["predict", "--adapter", str(run), posts[0], "--calibrated"],
                                                 check=False)
    assert proc.returncode == 2 and proc.stdout == "" and "eval_results.json not found" in proc.stderr
