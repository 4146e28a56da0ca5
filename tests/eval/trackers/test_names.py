"""The one flattening of the evaluation record into tracker names: every number of a rich record (score mode with
dev: intervals, operating points, breakdowns, contrast, bias, calibration; HateCheck) gets one name and its own value,
the names the issue and docs/trackers.md promise exist, the docs' table and the names agree both ways, and two
figures under one name are refused."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from dynahate.core.errors import DynahateError
from dynahate.eval.trackers.names import ADAPTER_TAG, payload, segment, split_metrics
from dynahate.plugin.eval_record import RESULTS_NAME, read_record
from dynahate.testing.cli import REPO
from dynahate.testing.eval_folders import adapter, hatecheck_answers, write_eval_folder, write_scored_folder

DOC = REPO / "docs" / "trackers.md"


@pytest.fixture(scope="module")
def rich_folder(tmp_path_factory) -> Path:
    """A score-mode evaluation of dev and test (every decision-ready part) and a HateCheck split, in one folder."""
    folder = write_scored_folder(tmp_path_factory.mktemp("rich") / "eval", seed=3, dev=True)
    other = write_eval_folder(tmp_path_factory.mktemp("hc") / "eval", {}, adapter("a"),
                              hatecheck=hatecheck_answers(0.7, 1))
    merged = json.loads((folder / RESULTS_NAME).read_text())
    merged["hatecheck"] = json.loads((other / RESULTS_NAME).read_text())["hatecheck"]
    # the parts the made-up answers leave out: a type breakdown (the real data has one) and HateCheck's source
    merged["test"]["breakdowns"]["type"] = {"derogation": {"examples": 3, "accuracy": 2 / 3, "macro_f1": 0.4}}
    merged["hatecheck"]["source"] = {"path": "hc.csv", "git_blob_sha1": "a" * 40, "official": False}
    (folder / RESULTS_NAME).write_text(json.dumps(merged))
    for name in merged["hatecheck"]["files"]:
        shutil.copy(other / name, folder / name)
    return folder


def _numbers(value, path=()):
    """Every number (true/false as 1/0) of a JSON value, with its path."""
    if isinstance(value, bool):
        yield path, float(value)
    elif isinstance(value, (int, float)):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _numbers(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _numbers(item, (*path, index))


def test_every_number_of_the_record_is_one_metric_with_its_value(rich_folder):
    raw = json.loads((rich_folder / RESULTS_NAME).read_text())
    record = read_record(rich_folder / RESULTS_NAME)
    data = payload(record, ["dev", "test", "hatecheck"])
    numbers = [value for split in ("dev", "test", "hatecheck") for _, value in _numbers(raw[split])]
    assert len(numbers) > 220  # a rich record: every part is there
    assert len(data.metrics) == len(numbers)  # one name per number, none dropped, none made up
    assert sorted(data.metrics.values()) == sorted(numbers)


def test_the_names_the_issue_promises(rich_folder):
    raw = json.loads((rich_folder / RESULTS_NAME).read_text())
    test, hc = raw["test"], raw["hatecheck"]
    metrics = payload(read_record(rich_folder / RESULTS_NAME), ["test", "hatecheck"]).metrics
    points = {point["name"]: point for point in test["operating_points"]}
    functionality = next(iter(hc["functionalities"]))
    expected = {
        "eval/test/accuracy": test["accuracy"],
        "eval/test/macro_f1_ci_low": test["intervals"]["macro_f1"][0],
        "eval/test/macro_f1_ci_high": test["intervals"]["macro_f1"][1],
        "eval/test/operating_points/best_macro_f1/recall_hate": points["best_macro_f1"]["recall_hate"],
        "eval/test/round/R2/accuracy": test["breakdowns"]["round_group"]["R2"]["accuracy"],
        "eval/test/round/2a/macro_f1": test["breakdowns"]["round"]["2a"]["macro_f1"],
        "eval/test/recall/not_hate": test["recall"]["not hate"],
        "eval/test/confusion_matrix/hate/not_hate": test["confusion_matrix"]["counts"][0][1],
        "eval/test/calibration/temperature": test["calibration"]["temperature"],
        "eval/test/bias/generalized_mean/bpsn_auc": test["bias"]["generalized_mean"]["bpsn_auc"],
        f"hatecheck/{functionality}/accuracy": hc["functionalities"][functionality]["accuracy"],
        "hatecheck/accuracy": hc["accuracy"],
    }
    assert {name: metrics[name] for name in expected} == expected


def _doc_patterns() -> list[str]:
    text = DOC.read_text(encoding="utf-8")
    table = text.split("| name | from `eval_results.json` |", 1)[1].split("\n\n", 1)[0]
    first_cells = [line.split(" | ")[0] for line in table.splitlines()[2:]]
    return [name for cell in first_cells for name in re.findall(r"`([^`]+)`", cell)]


def _regex(pattern: str) -> re.Pattern[str]:
    parts = re.split(r"(<[a-z]+>)", pattern)
    body = "".join({"<prefix>": r"(?:eval/[^/]+|hatecheck)"}.get(part, r"[^/]+") if part.startswith("<")
                   else re.escape(part) for part in parts)
    return re.compile(body)


def test_the_docs_table_and_the_names_agree_both_ways(rich_folder):
    names = payload(read_record(rich_folder / RESULTS_NAME), ["dev", "test", "hatecheck"]).metrics
    patterns = {pattern: _regex(pattern) for pattern in _doc_patterns()}
    assert len(patterns) > 30
    undocumented = [name for name in names if not any(regex.fullmatch(name) for regex in patterns.values())]
    assert undocumented == []
    unused = [pattern for pattern, regex in patterns.items() if not any(regex.fullmatch(name) for name in names)]
    assert unused == []


def test_tags_files_and_plots(rich_folder):
    record = read_record(rich_folder / RESULTS_NAME)
    data = payload(record, ["test", "hatecheck"], step=60)
    test = record.splits["test"]
    assert data.step == 60
    assert data.tags[ADAPTER_TAG] == test["adapter"]["sha256"]  # type: ignore[index]
    assert data.tags["eval/test/adapter/sha256"] == test["adapter"]["sha256"]  # type: ignore[index]
    hc = record.splits["hatecheck"]
    assert data.tags["hatecheck/fingerprint/sha256"] == hc["fingerprint"]["sha256"]
    assert data.tags["hatecheck/fingerprint/source_git_blob_sha1"] == hc["fingerprint"]["source_git_blob_sha1"]
    assert {"eval/test/plots/roc", "eval/test/plots/reliability",
            "hatecheck/plots/confusion_matrix"} <= set(data.images)
    assert len(data.images) == sum(name.endswith(".png") for split in ("test", "hatecheck")
                                   for name in record.splits[split]["files"])
    assert all(path.is_file() and path.suffix == ".png" for path in data.images.values())
    assert [path.name for path in data.files] == [RESULTS_NAME, "test_predictions.jsonl",
                                                  "hatecheck_predictions.jsonl"]
    assert not any(name.startswith("eval/dev") for name in [*data.metrics, *data.tags, *data.images])


def test_two_figures_under_one_name_are_refused():
    with pytest.raises(DynahateError, match=r"'eval/x/target/a_b/accuracy'"):
        split_metrics("x", {"breakdowns": {"target": {"a b": {"accuracy": 0.5}, "a_b": {"accuracy": 0.6}}}})


@pytest.mark.parametrize(("key", "name"), [("not hate", "not_hate"), ("recall_0.90", "recall_0.90"), ("", "_"),
                                           ("..", "_"), ("a/b", "a_b"), ("R3", "R3")])
def test_a_key_becomes_one_name_part(key, name):
    assert segment(key) == name
