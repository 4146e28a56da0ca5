"""``dynahate compare``: the statistics against hand-worked cases, and the real CLI on evaluation folders written by
``dynahate eval``'s own writer (tests/eval_folders.py; no model needed)."""

from __future__ import annotations

import itertools
import json
import os
import shutil
from fractions import Fraction
from math import comb

import numpy as np
import pytest

from dynahate.eval.compare.cli import plot_path
from dynahate.eval.compare.paired_stats import (
    INVALID,
    MAX_RESAMPLES,
    Kinds,
    accuracy,
    macro_f1,
    mcnemar_exact_p,
    paired_comparison,
    resample_counts,
)
from dynahate.eval.predictions import PREDICTION_KEYS
from dynahate.testing.cli import REPO, run_main
from dynahate.testing.cli_refusal import MARKER, assert_refused, snapshot, temp_files
from dynahate.testing.eval_folders import (
    adapter,
    answers,
    hatecheck_answers,
    posts,
    write_eval_folder,
    write_scored_folder,
)
from dynahate.testing.records import read_jsonl, recorded_splits

PNG = b"\x89PNG\r\n\x1a\n"


# ---------------------------------------------------------------- McNemar


@pytest.mark.parametrize("b, c, expected", [
    (0, 5, Fraction(2, 2**5)),                    # 2 * P(X = 0), X ~ Bin(5, 1/2): 0.0625
    (5, 0, Fraction(2, 2**5)),
    (1, 9, Fraction(2 * (1 + 10), 2**10)),        # 2 * (C(10,0) + C(10,1)) / 1024 = 22/1024
    (3, 7, Fraction(2 * (1 + 10 + 45 + 120), 2**10)),
    (4, 4, Fraction(1)),                          # the two tails cover everything
    (0, 0, Fraction(1)),                          # no discordant post: no evidence either way
])
def test_mcnemar_exact_against_hand_worked_cases(b, c, expected):
    assert mcnemar_exact_p(b, c) == pytest.approx(float(expected), rel=1e-12)
    if b + c:  # the binomial tail, summed here without scipy
        k, n = min(b, c), b + c
        assert mcnemar_exact_p(b, c) == pytest.approx(min(1.0, 2 * sum(comb(n, i) for i in range(k + 1)) / 2**n))


# ---------------------------------------------------------------- bootstrap


def _hand_macro_f1(gold, pred, labels):
    scores = []
    for label in labels:
        tp = sum(g == p == label for g, p in zip(gold, pred, strict=False))
        denominator = sum(p == label for p in pred) + sum(g == label for g in gold)
        scores.append(2 * tp / denominator if denominator else 0.0)
    return sum(scores) / len(scores)


def _exact_distribution(gold, pred_a, pred_b, statistic):
    """Every one of the n**n equally likely resamples of the posts, enumerated: value -> probability."""
    n = len(gold)
    distribution: dict[float, int] = {}
    for index in itertools.product(range(n), repeat=n):
        g = [gold[i] for i in index]
        value = round(statistic(g, [pred_b[i] for i in index]) - statistic(g, [pred_a[i] for i in index]), 12)
        distribution[value] = distribution.get(value, 0) + 1
    return {value: count / n**n for value, count in sorted(distribution.items())}


def _exact_quantile(distribution, q):
    """The smallest value whose cumulative probability reaches q; also how far the cdf steps are from q."""
    cumulative = 0.0
    for value, p in distribution.items():
        if cumulative + p >= q:
            return value, min(q - cumulative, cumulative + p - q)
        cumulative += p
    raise AssertionError


GOLD = [0, 0, 1, 1, 1, 0]
PRED_A = [0, 1, 1, 0, INVALID, 0]  # right on posts 0, 2, 5; post 4 is an invalid answer
PRED_B = [0, 0, 1, 1, 0, 1]        # right on posts 0, 1, 2, 3


@pytest.mark.parametrize("metric", ["accuracy", "macro_f1"])
def test_bootstrap_interval_equals_the_enumerated_exact_percentiles(metric):
    """n = 6 posts: all 6**6 = 46,656 resamples enumerated by hand-written formulas give the exact bootstrap
    distribution of B - A; 10,000 multinomial resamples give its 2.5 % and 97.5 % percentiles exactly (the cdf
    steps over each quantile by a wide margin), and the value frequencies match within Monte Carlo error."""
    def stat(gold, pred):
        if metric == "accuracy":
            return sum(g == p for g, p in zip(gold, pred, strict=False)) / len(gold)
        return _hand_macro_f1(gold, pred, [0, 1])

    exact = _exact_distribution(GOLD, PRED_A, PRED_B, stat)
    result = paired_comparison(GOLD, PRED_A, PRED_B, n_labels=2, f1_labels=[0, 1], resamples=10_000, seed=0)
    low, low_margin = _exact_quantile(exact, 0.025)
    high, high_margin = _exact_quantile(exact, 0.975)
    if metric == "accuracy":  # few values: the cdf steps over each quantile far from it, so 10,000 draws hit it
        assert low_margin > 0.005 and high_margin > 0.005
        assert result[metric]["interval"] == [pytest.approx(low), pytest.approx(high)]
    # macro-F1 takes many values, some steps close to 2.5 %: the sample's percentile lies within the exact
    # quantiles 1 % either side (5 standard errors of an empirical cdf of 10,000 draws there)
    got_low, got_high = np.round(result[metric]["interval"], 12)  # the enumeration's values are rounded so
    assert _exact_quantile(exact, 0.015)[0] <= got_low <= _exact_quantile(exact, 0.035)[0]
    assert _exact_quantile(exact, 0.965)[0] <= got_high <= _exact_quantile(exact, 0.985)[0]
    assert result[metric]["difference"] == pytest.approx(stat(GOLD, PRED_B) - stat(GOLD, PRED_A))

    kinds = Kinds.of(GOLD, PRED_A, PRED_B, 2)
    drawn = resample_counts(kinds, 10_000, seed=0)
    if metric == "accuracy":
        values = accuracy(kinds, drawn, "b") - accuracy(kinds, drawn, "a")
    else:
        values = macro_f1(kinds, drawn, "b", [0, 1]) - macro_f1(kinds, drawn, "a", [0, 1])
    values = np.round(values, 12)
    for value, p in exact.items():
        seen = np.mean(values == value)
        assert abs(seen - p) <= 5 * np.sqrt(p * (1 - p) / 10_000) + 1e-4, (value, p, seen)
    assert set(np.unique(values)) <= set(exact)


def test_resampled_statistics_equal_sklearn_on_the_resampled_posts():
    from sklearn.metrics import accuracy_score, f1_score

    rng = np.random.default_rng(3)
    gold = rng.integers(0, 2, 40)
    pred_a = np.where(rng.random(40) < 0.1, INVALID, np.where(rng.random(40) < 0.7, gold, 1 - gold))
    pred_b = np.where(rng.random(40) < 0.8, gold, 1 - gold)
    kinds = Kinds.of(gold, pred_a, pred_b, 2)
    drawn = resample_counts(kinds, 25, seed=1)
    names = {0: "hate", 1: "not hate", INVALID: "invalid"}
    for row in drawn:
        # the resample as posts: each kind repeated as often as it was drawn
        repeat = np.repeat(np.arange(row.size), row)
        g = [names[v] for v in kinds.gold[repeat]]
        for side in ("a", "b"):
            p = [names[v] for v in getattr(kinds, side)[repeat]]
            assert accuracy(kinds, row[None, :], side)[0] == pytest.approx(accuracy_score(g, p))
            for labels in ([0, 1], [1]):
                expected = f1_score(g, p, labels=[names[x] for x in labels], average="macro", zero_division=0)
                assert macro_f1(kinds, row[None, :], side, labels)[0] == pytest.approx(expected)


def test_identical_predictions_give_a_zero_interval_and_full_agreement():
    gold = [0, 1, 1, 0, 1, 0, 0, 1]
    pred = [0, 1, 0, 0, INVALID, 1, 0, 1]
    result = paired_comparison(gold, pred, pred, n_labels=2, f1_labels=[0, 1])
    for metric in ("accuracy", "macro_f1"):
        assert result[metric]["difference"] == 0 and result[metric]["interval"] == [0.0, 0.0]
    assert result["agreement"] == 1.0 and result["mcnemar_p"] == 1.0
    assert result["discordant"] == {"a_right_b_wrong": 0, "a_wrong_b_right": 0}
    assert result["invalid"] == {"a": 1, "b": 1}


def test_b_right_wherever_a_is_wrong_gives_an_interval_above_zero():
    gold = [0, 1] * 20
    pred_a = [g if i % 2 else INVALID for i, g in enumerate(gold)]  # wrong (invalid) on every other post
    result = paired_comparison(gold, pred_a, gold, n_labels=2, f1_labels=[0, 1])
    low, high = result["accuracy"]["interval"]
    assert 0 < low <= result["accuracy"]["difference"] == 0.5 <= high <= 1
    assert result["discordant"] == {"a_right_b_wrong": 0, "a_wrong_b_right": 20}
    assert result["mcnemar_p"] == pytest.approx(2 / 2**20)
    assert result["agreement"] == 0.5


def test_same_seed_same_interval_other_seed_another():
    rng = np.random.default_rng(0)
    gold = rng.integers(0, 2, 300)
    pred_a, pred_b = (np.where(rng.random(300) < q, gold, 1 - gold) for q in (0.8, 0.85))
    def run(seed):
        return paired_comparison(gold, pred_a, pred_b, n_labels=2, f1_labels=[0, 1], seed=seed, resamples=2000)

    assert run(7) == run(7)
    assert run(7)["accuracy"]["interval"] != run(8)["accuracy"]["interval"]


def test_interval_agrees_with_scipy_paired_bootstrap_within_monte_carlo_error():
    from scipy.stats import bootstrap

    rng = np.random.default_rng(5)
    gold = rng.integers(0, 2, 400)
    pred_a, pred_b = (np.where(rng.random(400) < q, gold, 1 - gold) for q in (0.8, 0.86))
    ours = paired_comparison(gold, pred_a, pred_b, n_labels=2, f1_labels=[0, 1], resamples=20_000)
    right_a, right_b = (pred_a == gold).astype(float), (pred_b == gold).astype(float)
    theirs = bootstrap((right_a, right_b), lambda a, b, axis: b.mean(axis=axis) - a.mean(axis=axis), paired=True,
                       vectorized=True, n_resamples=20_000, method="percentile", random_state=np.random.default_rng(1))
    assert ours["accuracy"]["interval"] == pytest.approx([theirs.confidence_interval.low,
                                                          theirs.confidence_interval.high], abs=0.006)


# ---------------------------------------------------------------- the CLI


def compare(*args, check=True):
    return run_main(["compare", *map(str, args)], check=check)


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """Two evaluations of the same 300 test and 200 dev posts (rounds 1-4b) and the 60 HateCheck sample cases."""
    root = tmp_path_factory.mktemp("compare")
    dev, test = posts(200, 1), posts(300, 2)
    a = write_eval_folder(root / "a", {"dev": answers(dev, 0.8, 3), "test": answers(test, 0.75, 4)},
                          adapter("a", repo_id="someone/original"), hatecheck_answers(0.6, 5))
    b = write_eval_folder(root / "b", {"test": answers(test, 0.85, 6, invalid=0.03), "dev": answers(dev, 0.8, 7)},
                          adapter("b"), hatecheck_answers(0.75, 8))
    return a, b


def test_compares_every_split_both_hold_overall_per_round_and_per_functional_test(pair, tmp_path):
    a, b = pair
    out = tmp_path / "cmp.json"
    proc = compare(a, b, "--output", out, "--resamples", 2000)
    result = json.loads(out.read_text())
    assert list(result["splits"]) == ["dev", "test", "hatecheck"]  # A's order
    assert result["a"]["name"] == "someone/original" and result["b"]["name"] == "b"
    assert result["method"]["resamples"] == 2000 and result["method"]["seed"] == 0
    assert result["method"]["confidence"] == 0.95 and "null" in result["method"]["invalid"]
    results_a, results_b = (recorded_splits(folder) for folder in (a, b))
    for split, entry in result["splits"].items():
        assert entry["a"]["adapter"]["sha256"] == results_a[split]["adapter"]["sha256"]
        assert entry["b"]["adapter"]["sha256"] == results_b[split]["adapter"]["sha256"]
        # the compared numbers are dynahate eval's own (sklearn's) on each side
        for side, results in (("a", results_a), ("b", results_b)):
            assert entry["accuracy"][side] == pytest.approx(results[split]["accuracy"])
            assert entry["macro_f1"][side] == pytest.approx(results[split]["macro_f1"])
            assert entry["invalid"][side] == results[split]["invalid"]
        lines_a, lines_b = (read_jsonl(folder / f"{split}_predictions.jsonl") for folder in (a, b))
        right_a = [line["pred"] == line["gold"] for line in lines_a]
        right_b = [line["pred"] == line["gold"] for line in lines_b]
        assert entry["discordant"] == {
            "a_right_b_wrong": sum(x and not y for x, y in zip(right_a, right_b, strict=False)),
            "a_wrong_b_right": sum(y and not x for x, y in zip(right_a, right_b, strict=False)),
        }
        assert entry["mcnemar_p"] == pytest.approx(mcnemar_exact_p(*entry["discordant"].values()))
        low, high = entry["accuracy"]["interval"]
        assert low <= entry["accuracy"]["difference"] <= high
    assert result["splits"]["test"]["invalid"]["b"] > 0  # null answers: counted as wrong above

    rounds = result["splits"]["test"]["rounds"]
    assert list(rounds) == ["R1", "R2", "R3", "R4"]  # 2a and 2b are R2, ...
    by_round = results_a["test"]["breakdowns"]["round"]  # eval's breakdown, per 1, 2a, 2b, ...
    assert rounds["R2"]["n"] == by_round["2a"]["examples"] + by_round["2b"]["examples"]
    assert rounds["R1"]["accuracy"]["a"] == pytest.approx(by_round["1"]["accuracy"])
    assert rounds["R1"]["macro_f1"]["a"] == pytest.approx(by_round["1"]["macro_f1"])
    assert sum(group["n"] for group in rounds.values()) == result["splits"]["test"]["n"] == 300

    tests = result["splits"]["hatecheck"]["functionalities"]
    assert list(tests) == list(results_a["hatecheck"]["functionalities"])
    for name, test in tests.items():
        assert test["accuracy"]["a"] == pytest.approx(results_a["hatecheck"]["functionalities"][name]["accuracy"])
        assert test["accuracy"]["b"] == pytest.approx(results_b["hatecheck"]["functionalities"][name]["accuracy"])
        assert "macro_f1" not in test

    assert result["plot"] == "cmp_per_round.png" and (tmp_path / "cmp_per_round.png").read_bytes().startswith(PNG)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cmp.json", "cmp_per_round.png"]  # no temporary file
    table = proc.stdout
    assert "someone/original" in table and "adapter sha256 aaaaaaaaaaaa" in table
    assert "null predictions (invalid answers) count as wrong" in table
    test_row = next(line for line in table.splitlines() if line.startswith("test "))
    entry = result["splits"]["test"]
    assert test_row.split()[1:4] == [str(entry["n"]), f"{entry['accuracy']['a']:.4f}", f"{entry['accuracy']['b']:.4f}"]
    assert f"[{entry['accuracy']['interval'][0]:+.4f}, {entry['accuracy']['interval'][1]:+.4f}]" in test_row
    for name in ("R1", "R4", *tests):
        assert f"    {name} " in table
    assert f"wrote {out} and {tmp_path / 'cmp_per_round.png'}" in table


def test_one_split_same_seed_same_json_and_eval_results_json_accepted(pair, tmp_path):
    a, b = pair
    compare(a / "eval_results.json", b, "--split", "test", "--output", tmp_path / "one.json", "--resamples", 500)
    compare(a, b / "eval_results.json", "--split", "test", "--output", tmp_path / "two.json", "--resamples", 500)
    one, two = (json.loads((tmp_path / name).read_text()) for name in ("one.json", "two.json"))
    assert list(one["splits"]) == ["test"] and one["splits"] == two["splits"]
    proc = compare(a, b, "--split", "test", "--resamples", 500, "--seed", 3, "--confidence", 0.9)
    assert "90% paired bootstrap interval (500 resamples of the posts, seed 3)" in proc.stdout
    assert "wrote" not in proc.stdout  # no --output: the table only


def test_labels_differing_only_in_spelling_compare_and_post_text_never_shows(pair, tmp_path):
    """B's file spells the label as the CSV does (nothate) and carries a post under a key of its own (as
    `predict --include-text` would): the labels are one, and the text appears in no output."""
    a, b = pair
    other = tmp_path / "b"
    shutil.copytree(b, other)
    path = other / "test_predictions.jsonl"
    lines = read_jsonl(path)
    for line in lines:
        line["gold"] = "nothate" if line["gold"] == "not hate" else line["gold"]
        line["text"] = f"the {MARKER} post"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    out = tmp_path / "cmp.json"
    proc = compare(a, other, "--split", "test", "--output", out, "--resamples", 500)
    reference = compare(a, b, "--split", "test", "--resamples", 500)
    def rows(text):  # below the header
        return [line for line in text.splitlines()[5:] if not line.startswith("wrote")]

    assert rows(proc.stdout) == rows(reference.stdout)
    result = json.loads(out.read_text())
    assert result["splits"]["test"]["accuracy"]["b"] == pytest.approx(
        recorded_splits(b)["test"]["accuracy"])
    for text in (proc.stdout, proc.stderr, out.read_text()):
        assert MARKER not in text


def test_evaluations_without_rounds_compare_overall_with_a_note(tmp_path):
    items = posts(80, 9)
    a = write_eval_folder(tmp_path / "a", {"test": answers(items, 0.7, 1, keep_round=False)}, adapter("a"))
    b = write_eval_folder(tmp_path / "b", {"test": answers(items, 0.8, 2, keep_round=False)}, adapter("b"))
    assert "round" not in read_jsonl(a / "test_predictions.jsonl")[0]  # as an evaluation written before rounds
    out = tmp_path / "cmp.json"
    proc = compare(a, b, "--output", out, "--resamples", 500)
    result = json.loads(out.read_text())
    assert "rounds" not in result["splits"]["test"] and result["plot"] is None
    assert "per-round comparison omitted: neither predictions file records each post's round" in \
        result["splits"]["test"]["note"]
    assert proc.stdout.count("note: test: per-round comparison omitted") == 1
    assert not (tmp_path / "cmp_per_round.png").exists()


def test_a_test_split_sized_pair_at_the_default_resamples(tmp_path):
    """4,120 posts (the test split's size) in 4 rounds, 10,000 resamples (the default), through the real CLI.
    How long it takes is measured by benchmarks/compare_speed.py, not here."""
    items = posts(4120, 11)
    a = write_eval_folder(tmp_path / "a", {"test": answers(items, 0.915, 1)}, adapter("a"))
    b = write_eval_folder(tmp_path / "b", {"test": answers(items, 0.92, 2)}, adapter("b"))
    compare(a, b, "--output", tmp_path / "cmp.json")
    result = json.loads((tmp_path / "cmp.json").read_text())
    assert result["method"]["resamples"] == 10_000 and result["method"]["seed"] == 0
    test = result["splits"]["test"]
    assert test["n"] == 4120 and sorted(test["rounds"]) == ["R1", "R2", "R3", "R4"]
    assert sum(group["n"] for group in test["rounds"].values()) == 4120
    low, high = test["accuracy"]["interval"]
    assert low < test["accuracy"]["difference"] < high and high - low < 0.05


def test_evaluations_in_different_modes_are_compared_with_a_warning(tmp_path):
    items = posts(60, 4)
    a = write_eval_folder(tmp_path / "a", {"test": answers(items, 0.7, 1)}, adapter("a"))
    b = write_eval_folder(tmp_path / "b", {"test": answers(items, 0.8, 2)}, adapter("b"))
    results = recorded_splits(b)
    results["test"]["mode"] = "score"  # as if B had been evaluated with --mode score
    (b / "eval_results.json").write_text(json.dumps(results))
    proc = compare(a, b, "--resamples", 100)
    assert ("note: test: A was evaluated in generate mode, B in score mode: the difference mixes the adapters with "
            "the methods; evaluate both with the same --mode") in proc.stdout
    proc = compare(a, a, "--resamples", 100)
    assert "mode" not in "".join(line for line in proc.stdout.splitlines() if line.startswith("note:"))


@pytest.mark.parametrize(("tamper", "needle"), [
    (lambda r: r["test"].update(bias=[1]), "split 'test': bias is a JSON array, expected an object"),
    (lambda r: r["test"].update(operating_points=5), "operating_points is 5"),
    (lambda r: r["test"]["fingerprint"].update(count="56"), "fingerprint.count is the string '56'"),
    (lambda r: r["test"]["adapter"].update(repo_id=f"the {MARKER} are vermin"),
     "adapter.repo_id is a 26-character value, not shown"),
    ("deep", "nested too deeply"), ("dev-zero", "not a regular file"),
], ids=["bias-list", "points-number", "count-string", "repo-id-post", "deep", "dev-zero"])
def test_a_tampered_record_is_one_line_before_anything_is_compared(tmp_path, tamper, needle):
    """Issue 33 items 8 and 11: `bias: [1]` was an AttributeError, '[' * 100000 a RecursionError, a link to /dev/zero
    an unbounded read; a fingerprint count of "56" printed "differ" beside an equal 56; a tampered repo_id was
    printed as written."""
    items = posts(40, 9)
    a = write_eval_folder(tmp_path / "a", {"test": answers(items, 0.7, 1)}, adapter("a", repo_id="org/a"))
    b = write_eval_folder(tmp_path / "b", {"test": answers(items, 0.8, 2)}, adapter("b"))
    path = a / "eval_results.json"
    if tamper == "deep":
        path.write_text("[" * 100_000)
    elif tamper == "dev-zero":
        path.unlink()
        path.symlink_to("/dev/zero")
    else:
        results = json.loads(path.read_text())
        tamper(results)
        path.write_text(json.dumps(results))
    out = tmp_path / "cmp.json"
    line = assert_refused(compare(a, b, "--output", out, check=False), "A ", str(path), needle)
    assert MARKER not in line and not out.exists()


def test_help_states_every_default():
    import argparse

    from dynahate.eval.compare import cli as compare_cli

    text = " ".join(compare("--help").stdout.split())
    parser = argparse.ArgumentParser()
    compare_cli.add_arguments(parser)
    for action in parser._actions:
        if action.option_strings and action.dest != "help":
            assert "default" in action.help, action.option_strings
            assert action.option_strings[0] in text
    assert "environment: none read" in text and "B - A" in text


# ---------------------------------------------------------------- refusals


def _rewrite(path, change):
    lines = read_jsonl(path)
    lines = change(lines)
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))


def _fingerprint_as_written(folder, split):
    """``split``'s fingerprint made that of the posts its predictions file now holds (the made-up posts of
    tests/helpers/eval_folders.py): B evaluated other posts, rather than its file being edited afterwards."""
    from dynahate.eval.fingerprint import fingerprint

    results = recorded_splits(folder)
    ids = dict.fromkeys(line["id"] for line in read_jsonl(folder / f"{split}_predictions.jsonl"))
    results[split]["fingerprint"] = fingerprint((i, f"v1:{i}") for i in ids)
    (folder / "eval_results.json").write_text(json.dumps(results))


def _drop_first(lines):
    return lines[1:]


def _rename_ids(lines):
    return [{**line, "id": f"zz{i}"} if i < 5 else line for i, line in enumerate(lines)]


def _duplicate(lines):
    return lines[:-1] + [lines[3]]


def _flip_gold(lines):
    return [{**line, "gold": "hate" if line["gold"] == "not hate" else "not hate"} if i in (7, 9) else line
            for i, line in enumerate(lines)]


def _post_as_pred(lines):
    return [{**line, "pred": f"I think the {MARKER} are fine"} if i == 4 else line for i, line in enumerate(lines)]


def _other_round(lines):
    return [{**line, "round": "9"} if i == 2 else line for i, line in enumerate(lines)]


@pytest.mark.parametrize("change, needles", [
    (_drop_first, ["cannot compare split 'test'", "has 300 posts, B", "299", "1 id(s) only in A (acl10000)"]),
    (_rename_ids, ["5 id(s) only in A (acl10000, acl10001, acl10002, ...)", "5 id(s) only in B (zz0, zz1, zz2, ...)"]),
    (_duplicate, ["test_predictions.jsonl: id acl10003 occurs more than once (first on line 4)", "1 id(s) repeated"]),
    (_flip_gold, ["the gold differs for 2 post(s), first id acl10007 (A: ", "did not read the same data"]),
    (_post_as_pred, ["test_predictions.jsonl:5: pred is a 32-character value, not shown as it may be a post",
                     "expected 'hate' or 'not hate' or null"]),
    (_other_round, ["the round differs for 1 post(s), first id acl10002 (A: ", "B: '9'"]),
], ids=["count", "ids", "duplicate", "gold", "pred-holds-text", "round"])
def test_different_post_sets_are_refused_in_one_line_and_nothing_is_written(pair, tmp_path, change, needles):
    a, b = pair
    other = tmp_path / "b"
    shutil.copytree(b, other)
    _rewrite(other / "test_predictions.jsonl", change)
    _fingerprint_as_written(other, "test")
    out = tmp_path / "out" / "cmp.json"
    out.parent.mkdir()
    out.write_text("earlier comparison\n")
    before = snapshot(tmp_path / "out")
    proc = compare(a, other, "--output", out, check=False)
    assert_refused(proc, *needles)
    assert snapshot(tmp_path / "out") == before and not temp_files(tmp_path)


def test_missing_unreadable_and_escaping_files_are_refused(pair, tmp_path):
    a, b = pair
    other = tmp_path / "b"
    shutil.copytree(b, other)
    out = tmp_path / "cmp.json"

    (other / "dev_predictions.jsonl").unlink()
    assert_refused(compare(a, other, "--output", out, check=False),
                   f"{other / 'dev_predictions.jsonl'}: missing, but eval_results.json records it")
    assert_refused(compare(a, other, "--split", "dev", check=False), "missing, but eval_results.json records it")
    compare(a, other, "--split", "test", "--resamples", 100)  # the other splits still compare

    outside = tmp_path / "elsewhere.jsonl"
    shutil.copyfile(b / "dev_predictions.jsonl", outside)
    os.symlink(outside, other / "dev_predictions.jsonl")
    assert_refused(compare(a, other, "--split", "dev", check=False), "a link to a file outside")

    (other / "dev_predictions.jsonl").unlink()
    (other / "dev_predictions.jsonl").mkdir()
    assert_refused(compare(a, other, "--split", "dev", check=False), "dev_predictions.jsonl")
    assert not out.exists() and not temp_files(tmp_path)


def test_no_common_split_unknown_split_and_non_eval_folders_are_refused(pair, tmp_path):
    a, b = pair
    items = posts(20, 4)
    only_val = write_eval_folder(tmp_path / "v", {"val": answers(items, 0.9, 1)}, adapter("c"))
    assert_refused(compare(a, only_val, check=False), "no split in common: A (", "has dev, test, hatecheck",
                   "has val")
    assert_refused(compare(a, b, "--split", "val", check=False), "--split val: A and B", "have no such split")
    assert_refused(compare(a, tmp_path, check=False), "B", "no eval_results.json in this folder")
    assert_refused(compare(a, tmp_path / "nowhere", check=False), "B", "not found")
    trainer = tmp_path / "trainer"
    trainer.mkdir()
    (trainer / "eval_results.json").write_text(json.dumps({"eval_loss": 0.1, "epoch": 3.0}))
    assert_refused(compare(trainer, b, check=False), "A", "LLaMA-Factory's trainer results")
    assert_refused(compare(a, b, "--output", tmp_path, check=False), "--output", "is a directory")
    assert_refused(compare(a, b, "--output", a / "eval_results.json", check=False), "would overwrite",
                   "which this comparison reads")
    usage = compare(a, b, "--confidence", "1", check=False)
    assert usage.returncode == 2 and "must be a number between 0 and 1" in usage.stderr


def test_an_output_that_is_a_file_either_evaluation_records_is_refused(pair, tmp_path):
    """Not only the files compared: every file eval_results.json records (other splits' predictions, plots, the
    metrics text), also through a link; refused before anything is computed or written."""
    a, b = pair
    link = tmp_path / "link.json"
    os.symlink(b / "eval_results.json", link)
    before = snapshot(a.parent)
    for output, recorded in [(b / "hatecheck_predictions.jsonl", b / "hatecheck_predictions.jsonl"),
                             (a / "eval_metrics.txt", a / "eval_metrics.txt"),
                             (b / "dev_confusion_matrix.png", b / "dev_confusion_matrix.png"),
                             (link, b / "eval_results.json")]:
        proc = compare(a, b, "--split", "dev", "--output", output, check=False)
        assert_refused(proc, f"--output {output}: would overwrite {recorded}", "which this comparison reads")
    assert snapshot(a.parent) == before and not temp_files(a.parent)


RUN_FILES = ("adapter_config.json", "adapter_model.safetensors", "tokenizer.json", "tokenizer_config.json",
             "special_tokens_map.json", "trainer_state.json", "training_args.bin", "all_results.json",
             "checkpoint-10/adapter_config.json", "checkpoint-10/optimizer.pt")


def _as_run(folder):
    """``folder`` with an adapter run's files in it (what `dynahate eval` finds when it writes into the run)."""
    for name in RUN_FILES:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(b"run file " + name.encode())
    return folder


def test_an_output_that_is_an_existing_file_of_either_folder_or_of_a_recorded_adapter_run_is_refused(tmp_path):
    """`compare A RUN --output RUN/adapter_config.json` once replaced the adapter's config (and wrote a PNG beside
    it): every existing file of A's or B's folder (subfolders too) and of the adapter run either records is refused,
    --output and its plot alike, before anything is computed; a new file there is still written."""
    items = posts(60, 3)
    run_a = _as_run(tmp_path / "runs" / "a")  # A was evaluated with --output-dir: its run is elsewhere
    a = write_eval_folder(tmp_path / "evals" / "a", {"test": answers(items, 0.7, 1)},
                          {"path": str(run_a.resolve()), "sha256": "a" * 64, "base_model": "org/base"})
    b = _as_run(write_eval_folder(tmp_path / "runs" / "b", {"test": answers(items, 0.8, 2)}, adapter("b")))
    (b / "earlier_per_round.png").write_bytes(PNG)
    (a / "notes.txt").write_text("mine\n")
    (run_a / "adapter_model_per_round.png").write_bytes(PNG)
    link = tmp_path / "link.json"
    os.symlink(b / "adapter_config.json", link)
    refused = [(b / name, "--output", b, "this comparison") for name in RUN_FILES]
    refused += [(run_a / name, "--output", run_a, "the evaluation of A") for name in RUN_FILES]
    refused += [(a / "notes.txt", "--output", a, "this comparison"), (link, "--output", b, "this comparison")]
    before = snapshot(tmp_path)
    for output, option, folder, reader in refused:
        proc = compare(a, b, "--output", output, check=False)
        assert_refused(proc, f"{option} {output}: would overwrite a file of {folder}, which {reader} reads")
    for output, folder, reader in ((b / "earlier.json", b, "this comparison"),  # only the plot beside it exists
                                   (run_a / "adapter_model.json", run_a, "the evaluation of A")):
        proc = compare(a, b, "--output", output, check=False)
        assert_refused(proc, f"--output (its plot) {plot_path(output)}: would overwrite a file of {folder}, "
                             f"which {reader} reads")
    predictions = (b / "test_predictions.jsonl").read_bytes()
    (b / "test_predictions.jsonl").write_text("not json\n")  # refused before any predictions are read
    assert_refused(compare(a, b, "--output", b / "adapter_config.json", check=False), "--output", "would overwrite")
    (b / "test_predictions.jsonl").write_bytes(predictions)
    assert snapshot(tmp_path) == before and not temp_files(tmp_path)
    compare(a, b, "--output", b / "comparison.json", "--resamples", 100)  # a new file in B's folder
    assert (b / "comparison.json").is_file() and (b / "comparison_per_round.png").read_bytes().startswith(PNG)


def test_resamples_over_the_maximum_are_a_usage_error_naming_it(pair, tmp_path):
    """A billion resamples once meant a 134 GiB allocation and a traceback; the maximum bounds the memory."""
    a, b = pair
    out = tmp_path / "cmp.json"
    for value in (MAX_RESAMPLES + 1, 1_000_000_000):
        usage = compare(a, b, "--resamples", value, "--output", out, check=False)
        assert usage.returncode == 2 and "Traceback" not in usage.stderr, usage.stderr
        assert usage.stderr.strip().splitlines()[-1].endswith(
            f"argument --resamples: must be a positive integer at most {MAX_RESAMPLES}, got '{value}'")
    assert not out.exists()
    assert f"at most {MAX_RESAMPLES}" in run_main(["compare", "--help"]).stdout
    with pytest.raises(ValueError, match="resamples must be in"):
        paired_comparison([0], [0], [0], n_labels=2, f1_labels=None, resamples=MAX_RESAMPLES + 1)


def test_prediction_lines_carry_the_round_and_only_known_keys(tmp_path):
    items = posts(10, 2)
    folder = write_eval_folder(tmp_path / "a", {"test": answers(items, 0.9, 1)}, adapter("a"))
    lines = read_jsonl(folder / "test_predictions.jsonl")
    assert [line["round"] for line in lines] == [round_ for _, _, round_ in items]
    assert list(lines[0]) == ["id", "round", "gold", "pred", "raw"]
    assert all(set(line) <= set(PREDICTION_KEYS) for line in lines)


def test_the_docs_reproduction_example_is_what_paired_comparison_gives():
    """docs/reproducing.md, "How much 4 120 posts can tell": 0.9153 vs 0.9131 on 4,120 posts, 90 / 81 discordant."""

    rng = np.random.default_rng(1)
    n, right_a, b_only, c_only = 4120, 3771, 90, 81
    gold = rng.integers(0, 2, n)
    order = rng.permutation(n)
    both = right_a - b_only
    correct_a, correct_b = np.zeros(n, bool), np.zeros(n, bool)
    correct_a[order[:both + b_only]] = True
    correct_b[order[:both]] = True
    correct_b[order[both + b_only:both + b_only + c_only]] = True
    pred_a, pred_b = (np.where(correct, gold, 1 - gold) for correct in (correct_a, correct_b))
    result = paired_comparison(gold, pred_a, pred_b, n_labels=2, f1_labels=[0, 1])
    acc = result["accuracy"]
    assert (round(acc["a"], 4), round(acc["b"], 4)) == (0.9153, 0.9131)
    assert result["discordant"] == {"a_right_b_wrong": 90, "a_wrong_b_right": 81}
    low, high = acc["interval"]
    page = (REPO / "docs" / "reproducing.md").read_text(encoding="utf-8")
    sentence = (f"−{abs(acc['difference']):.4f} with a 95 % interval of [−{abs(low):.4f}, +{high:.4f}] and McNemar "
                f"p = {result['mcnemar_p']:.2f}")
    assert sentence in " ".join(page.split()), sentence


def test_the_same_posts_are_shown_to_be_the_same_by_their_fingerprints(pair, tmp_path):
    a, b = pair
    out = tmp_path / "cmp.json"
    proc = compare(a, b, "--output", out, "--resamples", 200)
    result = json.loads(out.read_text())
    for split, entry in result["splits"].items():
        assert entry["posts"]["same"] is True, split
        assert entry["posts"]["a"] == recorded_splits(a)[split]["fingerprint"]
    assert result["notes"] == [] and "note:" not in proc.stdout


def test_different_posts_behind_the_same_ids_are_refused_naming_the_split(tmp_path):
    """Same ids, same gold labels, other texts (another data version, or --normalize-text): refused, one line."""
    items = posts(120, 21)
    a = write_eval_folder(tmp_path / "a", {"dev": answers(items, 0.7, 1), "test": answers(items, 0.7, 2)},
                          adapter("a"))
    b = write_eval_folder(tmp_path / "b", {"test": answers(items, 0.8, 3)}, adapter("b"), data="v2")
    out = tmp_path / "out" / "cmp.json"
    out.parent.mkdir()
    before = snapshot(tmp_path / "out")
    proc = compare(a, b, "--output", out, check=False)
    assert_refused(proc, "cannot compare split 'test': A and B evaluated different posts behind the same ids",
                   "fingerprints differ: A: 120 posts, sha256", "--allow-different-posts")
    assert snapshot(tmp_path / "out") == before


def test_allow_different_posts_compares_and_says_so_in_the_table_and_the_json(tmp_path):
    items = posts(120, 21)
    a = write_eval_folder(tmp_path / "a", {"test": answers(items, 0.7, 1)}, adapter("a"))
    b = write_eval_folder(tmp_path / "b", {"test": answers(items, 0.8, 3)}, adapter("b"), data="v2")
    out = tmp_path / "cmp.json"
    proc = compare(a, b, "--allow-different-posts", "--output", out, "--resamples", 200)
    result = json.loads(out.read_text())
    entry = result["splits"]["test"]
    assert entry["posts"]["same"] is False and entry["posts"]["a"]["sha256"] != entry["posts"]["b"]["sha256"]
    assert "DIFFERENT POSTS" in entry["note"] and any("DIFFERENT POSTS" in note for note in result["notes"])
    assert "note: test: DIFFERENT POSTS: A and B evaluated different posts" in proc.stdout


def _same_change_on_both_sides(tmp_path, pair, change, split="test"):
    """Copies of A and B with ``change`` made to both ``<split>_predictions.jsonl`` alike."""
    folders = []
    for name, folder in zip("ab", pair, strict=True):
        shutil.copytree(folder, tmp_path / name)
        _rewrite(tmp_path / name / f"{split}_predictions.jsonl", change)
        folders.append(tmp_path / name)
    return folders


def _forget_ids_sha256(folder):
    """``eval_results.json`` as results written before fingerprints recorded ``ids_sha256``."""
    results = recorded_splits(folder)
    for res in results.values():
        if isinstance(res, dict):  # not schema_version
            del res["fingerprint"]["ids_sha256"]
    (folder / "eval_results.json").write_text(json.dumps(results))


@pytest.mark.parametrize("split, key", [("test", "id"), ("hatecheck", "case_id")])
def test_predictions_files_are_checked_against_their_splits_fingerprint(pair, tmp_path, split, key):
    """The same line deleted from both predictions files once compared 299 posts with `posts.same: true` while both
    fingerprints say 300: each file's count, and its ids where the fingerprint records ids_sha256, must be the
    fingerprint's; refused in one line naming the file, nothing written."""
    out = tmp_path / "out" / "cmp.json"
    out.parent.mkdir()
    a, b = _same_change_on_both_sides(tmp_path / "deleted", pair, _drop_first, split)
    recorded = recorded_splits(a)[split]["fingerprint"]["count"]
    assert_refused(compare(a, b, "--split", split, "--output", out, check=False),
                   f"{a / f'{split}_predictions.jsonl'}: {recorded - 1} predictions, but the fingerprint "
                   f"eval_results.json records for this split is of {recorded} posts", "re-run `dynahate eval`")
    renamed = _same_change_on_both_sides(tmp_path / "renamed", pair,
                                         lambda lines: [{**line, key: f"zz{i}"} if i < 2 else line
                                                        for i, line in enumerate(lines)], split)
    a, b = renamed
    assert_refused(compare(a, b, "--split", split, "--output", out, check=False),
                   f"{a / f'{split}_predictions.jsonl'}: its {recorded} {key}s are not those of the {recorded} posts "
                   "the fingerprint eval_results.json records for this split (ids_sha256 differs)")
    for folder in renamed:  # results written before ids_sha256: only the count can be checked
        _forget_ids_sha256(folder)
    compare(a, b, "--split", split, "--resamples", 100)
    a, b = _same_change_on_both_sides(tmp_path / "old", pair, _drop_first, split)
    _forget_ids_sha256(a)
    assert_refused(compare(a, b, "--split", split, check=False), f"{recorded - 1} predictions, but the fingerprint")
    assert not out.exists() and not temp_files(tmp_path)


def test_a_tampered_fingerprint_count_is_described_not_shown(pair, tmp_path):
    a, b = (tmp_path / "a", tmp_path / "b")
    shutil.copytree(pair[0], a)
    shutil.copytree(pair[1], b)
    results = recorded_splits(b)
    results["test"]["fingerprint"]["count"] = f"the {MARKER} post"
    (b / "eval_results.json").write_text(json.dumps(results))
    assert_refused(compare(a, b, "--split", "test", check=False), f"{b / 'eval_results.json'}: split 'test': "
                   "fingerprint.count is a 20-character value, not shown as it may be a post, expected an integer")


def test_results_without_fingerprints_compare_with_a_note(tmp_path):
    items = posts(120, 21)
    a = write_eval_folder(tmp_path / "a", {"test": answers(items, 0.7, 1)}, adapter("a"), data=None)
    b = write_eval_folder(tmp_path / "b", {"test": answers(items, 0.8, 3)}, adapter("b"))
    assert "fingerprint" not in recorded_splits(a)["test"]
    out = tmp_path / "cmp.json"
    proc = compare(a, b, "--output", out, "--resamples", 200)
    entry = json.loads(out.read_text())["splits"]["test"]
    assert entry["posts"]["same"] is None and entry["posts"]["a"] is None
    assert "the posts were joined by id only, not shown to be the same posts: A recorded no fingerprint" in proc.stdout


def test_contrast_consistency_and_bpsn_auc_differences_with_paired_intervals(tmp_path):
    a, b = write_scored_folder(tmp_path / "a", 1), write_scored_folder(tmp_path / "b", 2)
    out = tmp_path / "cmp.json"
    proc = compare(a, b, "--output", out, "--resamples", 2000)
    entry = json.loads(out.read_text())["splits"]["test"]
    ra, rb = (recorded_splits(f)["test"] for f in (a, b))
    consistency = entry["contrast"]["consistency"]
    assert entry["contrast"]["pairs"] == ra["contrast"]["pairs"] == 200
    assert consistency["a"] == pytest.approx(ra["contrast"]["consistency"])
    assert consistency["b"] == pytest.approx(rb["contrast"]["consistency"])
    assert consistency["interval"][0] <= consistency["difference"] <= consistency["interval"][1]
    groups = entry["bias"]["groups"]
    assert set(groups) == set(ra["bias"]["groups"]) == {"bla", "jew", "wom"}
    for name, group in groups.items():  # the same AUCs as each evaluation recorded
        assert group["bpsn_auc"]["a"] == pytest.approx(ra["bias"]["groups"][name]["bpsn_auc"])
        assert group["bpsn_auc"]["b"] == pytest.approx(rb["bias"]["groups"][name]["bpsn_auc"])
        low, high = group["bpsn_auc"]["interval"]
        assert low <= group["bpsn_auc"]["difference"] <= high
    assert "contrast pairs" in proc.stdout and "BPSN AUC" in proc.stdout


def test_paired_auc_differences_are_sklearn_s_on_each_resample():
    import numpy as np
    from sklearn.metrics import roc_auc_score

    from dynahate.eval.bootstrap import paired_auc_differences

    rng = np.random.default_rng(4)
    positive = rng.random(50) < 0.5
    score_a, score_b = np.round(rng.random(50), 1), rng.random(50)
    subset = rng.random(50) < 0.7
    got = paired_auc_differences(positive, score_a, score_b, {"s": subset}, 30, seed=6, chunk=8)["s"]
    draws, expected = np.random.default_rng(6), []
    for first in range(0, 30, 8):
        for row in draws.integers(0, 50, size=(min(8, 30 - first), 50), dtype=np.int32):
            posts = row[subset[row]]  # the drawn posts that are in the subset, with repeats
            y = positive[posts]
            expected.append(roc_auc_score(y, score_b[posts]) - roc_auc_score(y, score_a[posts])
                            if 0 < y.sum() < len(y) else np.nan)
    assert np.allclose(got, expected, equal_nan=True)


def test_hatecheck_group_names_of_several_words_are_read_and_text_is_refused(pair, tmp_path):
    a, b = pair
    for folder, groups in ((tmp_path / "a", ["Vantorish people"]), (tmp_path / "b", [f"the {MARKER} are awful"])):
        shutil.copytree(a, folder)
        lines = read_jsonl(folder / "hatecheck_predictions.jsonl")
        (folder / "hatecheck_predictions.jsonl").write_text("".join(json.dumps({**line, "groups": groups}) + "\n"
                                                                     for line in lines))
    compare(tmp_path / "a", b, "--split", "hatecheck", "--resamples", 100)
    proc = compare(tmp_path / "b", b, "--split", "hatecheck", "--resamples", 100, check=False)
    assert_refused(proc, "hatecheck_predictions.jsonl:1: groups is a list holding a value that is not a group code")


# ---------------------------------------------------------------- values read from the files


POST = f"the {MARKER} are vermin"  # what a tampered file could hold where a name is expected


def _edit_results(folder, change):
    results = recorded_splits(folder)
    change(results)
    (folder / "eval_results.json").write_text(json.dumps(results))


def test_names_digests_and_modes_read_from_the_results_are_described_never_shown(pair, tmp_path):
    """A tampered eval_results.json once put its repo_id (the evaluation's name), its adapter's digests, a mode and a
    fingerprint's kind as written into the table, the notes and comparison.json: each is now shown only in its own
    form (a Hub repo id, a hex digest, a short token) and described otherwise."""
    a, b = tmp_path / "a", tmp_path / "b"
    shutil.copytree(pair[0], a)
    shutil.copytree(pair[1], b)

    def tamper_adapter(results):
        for res in results.values():
            if isinstance(res, dict):  # not schema_version
                res["adapter"] = {**res["adapter"], "base_model": POST, "path": POST}

    _edit_results(a, tamper_adapter)
    out = tmp_path / "cmp.json"
    proc = compare(a, b, "--output", out, "--resamples", 100)
    described = "a 26-character value, not shown as it may be a post"
    result = json.loads(out.read_text())
    assert result["splits"]["test"]["a"]["adapter"]["base_model"] == described
    assert result["splits"]["test"]["a"]["adapter"]["path"] == described
    for text in (proc.stdout, proc.stderr, out.read_text()):
        assert MARKER not in text
    assert result["b"]["name"] == "b" and "adapter sha256 bbbbbbbbbbbb" in proc.stdout
    # the values that have a form of their own are refused when the record is read (plugin/eval_record.py): the
    # comparison holds them as read
    for key, change in (("adapter.repo_id", lambda r: r["test"]["adapter"].update(repo_id=POST)),
                        ("adapter.sha256", lambda r: r["test"]["adapter"].update(sha256=POST)),
                        ("adapter.commit", lambda r: r["test"]["adapter"].update(commit=POST)),
                        ("mode", lambda r: r["test"].update(mode=POST)),
                        ("fingerprint.of", lambda r: r["dev"]["fingerprint"].update(of=POST)),
                        ("fingerprint.sha256", lambda r: r["dev"]["fingerprint"].update(sha256=POST))):
        shutil.rmtree(b)
        shutil.copytree(pair[1], b)
        _edit_results(b, change)
        line = assert_refused(compare(a, b, "--output", tmp_path / "other.json", check=False),
                              f"{b / 'eval_results.json'}: split", f"{key} is {described}")
        assert MARKER not in line


def test_split_names_read_from_the_results_are_described_in_the_table_and_the_messages(pair, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    for source, folder in zip(pair, (a, b), strict=True):
        shutil.copytree(source, folder)
        _edit_results(folder, lambda results: results.update({POST: results.pop("dev")}))
        (folder / "dev_predictions.jsonl").rename(folder / f"{POST}_predictions.jsonl")
    described = "a 26-character value, not shown as it may be a post"
    proc = compare(a, b, "--resamples", 100)
    assert f"\n{described} " in proc.stdout and f"  per round ({described}):" in proc.stdout
    assert MARKER not in proc.stdout + proc.stderr
    _rewrite(b / f"{POST}_predictions.jsonl", _flip_gold)
    assert_refused(compare(a, b, check=False), f"cannot compare split {described}: the gold differs for 2 post(s)")
    only = write_eval_folder(tmp_path / "only", {POST: answers(posts(20, 4), 0.9, 1)}, adapter("c"))
    assert_refused(compare(only, b, "--split", "test", check=False),
                   "--split test: A (", "A has 1 not shown (not a short name: it may be a post)")


@pytest.mark.parametrize("split, key, needle", [
    ("test", "round", "round is a 26-character value, not shown as it may be a post, expected a code"),
    ("hatecheck", "functionality", "functionality is a 26-character value, not shown as it may be a post, expected "
                                   "a functional test's short name"),
])
def test_a_round_or_functional_test_that_could_be_a_post_is_refused(pair, tmp_path, split, key, needle):
    """The same text put in both files' rounds (or functional tests) once became a row of the table and a key of
    comparison.json: refused when read, naming the line."""
    a, b = _same_change_on_both_sides(tmp_path, pair, lambda lines: [{**line, key: POST} for line in lines], split)
    out = tmp_path / "cmp.json"
    assert_refused(compare(a, b, "--split", split, "--output", out, check=False),
                   f"{a / f'{split}_predictions.jsonl'}:1: {needle}")
    assert not out.exists()


@pytest.mark.parametrize("p_hate, described", [
    ("0.93", "the string '0.93'"), (POST, "a 26-character value, not shown as it may be a post"),
    ([0.93], "a JSON array"), (True, "true"), (1.5, "1.5"),
])
def test_a_p_hate_that_is_not_a_probability_is_refused_saying_what_it_is(pair, tmp_path, p_hate, described):
    """A string there was said to be "a JSON object": a value read from a file is named by core/describe.py's
    describe_json, as the evaluation record's reader names one, and never shown when it could be a post."""
    other = tmp_path / "b"
    shutil.copytree(pair[1], other)
    _rewrite(other / "test_predictions.jsonl",
             lambda lines: [{**line, "p_hate": p_hate} if i == 3 else line for i, line in enumerate(lines)])
    assert_refused(compare(pair[0], other, "--split", "test", check=False),
                   f"test_predictions.jsonl:4: p_hate is {described}, expected a number in [0, 1]")
