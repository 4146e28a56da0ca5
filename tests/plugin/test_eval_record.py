"""The evaluation record (plugin/eval_record.py): what the real writer writes reads back; every tampered value is
refused in one line naming the file, the split and the key, never showing a string that could be a post; and the
file itself is bounded (regular file, size, depth, no NaN/Infinity)."""

from __future__ import annotations

import json
import os

import pytest

from dynahate.core.errors import DynahateError
from dynahate.plugin.eval_record import (
    MAX_BYTES,
    SCHEMA_KEY,
    SCHEMA_VERSION,
    TEMPERATURE_RANGE,
    parse_record,
    read_record,
    record_text,
)
from dynahate.testing.cli_refusal import MARKER
from dynahate.testing.eval_folders import adapter, answers, posts, write_eval_folder
from dynahate.testing.records import split_results

POINT = {"name": "best_macro_f1", "threshold": 0.4, "chosen_on": "dev", "accuracy": 0.7, "macro_f1": 0.7,
         "precision_hate": 0.7, "recall_hate": 0.7, "fpr": 0.3}
CALIBRATION = {"fitted_on": "dev", "temperature": 1.5, "ece": 0.05, "brier": 0.1}
POST = f"the {MARKER} are all the same and should go"


def write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


def refusal(tmp_path, text: str) -> str:
    path = write(tmp_path / "eval_results.json", text)
    with pytest.raises(DynahateError) as caught:
        read_record(path)
    message = str(caught.value)
    assert "\n" not in message and str(path) in message and MARKER not in message, message
    return message


def test_what_the_real_writer_writes_reads_back_with_its_version(tmp_path):
    items = posts(40, seed=3)
    folder = write_eval_folder(tmp_path / "ev", {"test": answers(items, 0.8, 1)}, adapter("a"))
    text = (folder / "eval_results.json").read_text()
    assert json.loads(text)[SCHEMA_KEY] == SCHEMA_VERSION
    record = read_record(folder / "eval_results.json")
    assert record.schema_version == SCHEMA_VERSION and list(record.splits) == ["test"]
    assert record.splits["test"]["examples"] == 40 and record.trainer_text is None


def test_a_file_written_before_the_version_was_recorded_still_reads(tmp_path):
    record = read_record(write(tmp_path / "r.json", json.dumps({"test": split_results()})))
    assert record.schema_version == 0 and record.splits["test"]["mode"] == "score"


def test_a_newer_record_is_refused_saying_to_upgrade(tmp_path):
    message = refusal(tmp_path, json.dumps({SCHEMA_KEY: SCHEMA_VERSION + 1, "test": split_results()}))
    assert "newer dynahate" in message and "upgrade" in message


def test_llama_factorys_trainer_file_is_told_apart(tmp_path):
    path = write(tmp_path / "eval_results.json", json.dumps({"eval_loss": 0.3, "epoch": 3.0}))
    assert read_record(path, allow_trainer=True).trainer_text == path.read_text()
    assert "LLaMA-Factory's trainer results" in refusal(tmp_path, path.read_text())
    record = read_record(write(tmp_path / "empty.json", json.dumps({SCHEMA_KEY: SCHEMA_VERSION})), allow_trainer=True)
    assert record.trainer_text is None and record.splits == {}  # ours, with no split: not the trainer's


@pytest.mark.parametrize(("threshold", "needle"), [
    ("NaN", "NaN is not a number JSON allows"), ("Infinity", "Infinity is not a number JSON allows"),
    ("5", "threshold is 5, expected a number in [0, 1]"), ("-1", "threshold is -1, expected"),
    ("true", "threshold is true, expected"), ('"0.3"', "threshold is the string '0.3', expected a number"),
    ("1e400", "a number too large"), ("null", "threshold is null, expected"),
])
def test_a_recorded_threshold_is_a_finite_number_in_0_1(tmp_path, threshold, needle):
    text = json.dumps({"test": split_results(operating_points=[{**POINT, "threshold": "X"}])})
    message = refusal(tmp_path, text.replace('"X"', threshold))
    assert needle in message, message
    assert ("split 'test'" in message) == (threshold not in ("NaN", "Infinity", "1e400")), message  # JSON vs value


@pytest.mark.parametrize("temperature", ["Infinity", "1e308", "0", "-2", "1e-9", '"2"', "true"])
def test_a_recorded_temperature_is_finite_and_in_the_fitting_range(tmp_path, temperature):
    text = json.dumps({"test": split_results(calibration={**CALIBRATION, "temperature": "X"})})
    message = refusal(tmp_path, text.replace('"X"', temperature))
    assert "temperature" in message, message
    low, high = TEMPERATURE_RANGE
    assert read_record(write(tmp_path / "ok.json", text.replace('"X"', repr(high))))  # the range's ends are valid
    assert read_record(write(tmp_path / "ok.json", text.replace('"X"', repr(low))))


@pytest.mark.parametrize(("change", "needle"), [
    ({"operating_points": 5}, "operating_points is 5, expected a list"),
    ({"bias": [1]}, "bias is a JSON array, expected an object"),
    ({"operating_points": [POINT, POINT]}, "recorded twice"),
    ({"operating_points": [{**POINT, "name": POST}]}, "operating_points[0].name is a 46-character value, not shown"),
    ({"calibration": {**CALIBRATION, "fitted_on": None}}, "calibration.fitted_on is null"),
    ({"fingerprint": {"of": "posts", "count": "56", "sha256": "0" * 64, "source_git_blob_sha1": None}},
     "fingerprint.count is the string '56'"),
    ({"adapter": {"path": "/r", "sha256": "ab" * 32, "base_model": "b", "repo_id": POST}}, "adapter.repo_id"),
    ({"adapter": {"path": "/r", "sha256": "xyz", "base_model": "b"}}, "adapter.sha256"),
    ({"files": ["../../etc/passwd"]}, "files[0]"),
    ({"invalid": 29}, "invalid is 29, expected an integer >= 0 and <= 28"),
    ({"accuracy": 1.5}, "accuracy is 1.5"),
    ({"precision": {"hate": 0.5}}, "precision has no 'not hate'"),
    ({"mode": "magic"}, "mode is the string 'magic'"),
    ({"intervals": {"confidence": 0.95, "resamples": 10, "seed": 0, "accuracy": [0.9, 0.1], "macro_f1": [0, 1],
                    "roc_auc": None}}, "intervals.accuracy has its low end above its high end"),
    ({"contrast": {"pairs": 2, "both_correct": 3, "consistency": 1.0, "original_correct_only": 0,
                   "perturbation_correct_only": 0, "both_wrong": 0}}, "contrast.both_correct is 3"),
    ({"notes": [1]}, "notes is a JSON array"),
])
def test_each_tampered_part_is_refused_naming_its_key(tmp_path, change, needle):
    message = refusal(tmp_path, json.dumps({"test": {**split_results(), **change}}))
    assert needle in message and "split 'test'" in message, message


def test_hatechecks_source_is_the_verified_file_never_a_path(tmp_path):
    message = refusal(tmp_path, json.dumps({"hatecheck": split_results(source="/some/file.csv")}))
    assert "split 'hatecheck': source is a 14-character value, not shown" in message
    assert "expected an object" in message
    assert read_record(write(tmp_path / "ok.json", json.dumps({"lf": split_results(source="/x/gp.jsonl")})))


ADAPTER = {"path": "/r", "sha256": "ab" * 32, "base_model": "b"}


@pytest.mark.parametrize("repo_id", ["org/na--me", "org/na..me", "org/name.git", "org/name-", "org/name.", "name",
                                     "a/b/c", f"org/{'n' * 97}"])
def test_a_recorded_repo_id_is_one_the_hub_accepts(tmp_path, repo_id):
    """huggingface_hub's rule (validate_repo_id, with one '/'), as `--adapter` takes a repo id: the reader's own
    pattern once took ``org/na--me`` or ``org/name.git``, which no Hub repo can be."""
    message = refusal(tmp_path, json.dumps({"test": split_results(adapter={**ADAPTER, "repo_id": repo_id})}))
    assert "split 'test': adapter.repo_id is" in message and "expected a Hub repo id USER/NAME or null" in message


@pytest.mark.parametrize("repo_id", ["org/name", "Org-1/name_2.v3", f"{'o' * 96}/{'n' * 96}", None])
def test_a_repo_id_the_hub_accepts_reads(tmp_path, repo_id):
    text = json.dumps({"test": split_results(adapter={**ADAPTER, "repo_id": repo_id})})
    assert read_record(write(tmp_path / "r.json", text)).splits["test"]["adapter"]["repo_id"] == repo_id


def test_a_split_that_is_not_an_evaluation_is_refused_before_anything_uses_it(tmp_path):
    """{"foo": {"mode": "score"}} passed the early check and failed with a KeyError after the evaluation ran."""
    assert "split 'foo' has no 'examples'" in refusal(tmp_path, json.dumps({"foo": {"mode": "score"}}))


def test_a_split_name_that_is_a_path_is_refused_and_a_long_one_not_shown(tmp_path):
    assert "not a split name" in refusal(tmp_path, json.dumps({"../x": split_results()}))
    message = refusal(tmp_path, json.dumps({POST: {**split_results(), "accuracy": 2}}))
    assert "accuracy is 2" in message


def test_the_file_itself_is_bounded(tmp_path):
    assert "nested too deeply" in refusal(tmp_path, "[" * 100_000)  # a RecursionError before
    nested: list = [1]
    for _ in range(20):
        nested = [nested]
    assert "nested more than" in refusal(tmp_path, json.dumps({"test": {**split_results(), "x": nested}}))
    big = tmp_path / "big" / "eval_results.json"
    big.parent.mkdir()
    with open(big, "wb") as handle:
        handle.truncate(MAX_BYTES + 1)  # sparse: costs no disk
    with pytest.raises(DynahateError, match="more than an evaluation record holds"):
        read_record(big)
    link = tmp_path / "zero" / "eval_results.json"
    link.parent.mkdir()
    os.symlink("/dev/zero", link)
    with pytest.raises(DynahateError, match="not a regular file"):
        read_record(link)
    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo)
    with pytest.raises(DynahateError, match="not a regular file"):
        read_record(fifo)  # refused without opening it (opening a FIFO blocks)
    with pytest.raises(DynahateError, match="not found"):
        read_record(tmp_path / "missing.json")


def test_not_json_or_not_utf8_is_one_line(tmp_path):
    assert "not valid JSON" in refusal(tmp_path, '{"test": ')
    path = tmp_path / "latin.json"
    path.write_bytes(b'{"t\xe9st": 1}')
    with pytest.raises(DynahateError, match="not UTF-8"):
        read_record(path)
    with pytest.raises(DynahateError, match="expected an object of evaluated splits"):
        parse_record("[1]", tmp_path / "x.json")


def test_the_writer_refuses_what_a_reader_would_refuse(tmp_path):
    with pytest.raises(DynahateError, match="threshold"):
        record_text({"test": split_results(operating_points=[{**POINT, "threshold": float("nan")}])})
    with pytest.raises(ValueError, match="not JSON compliant"):  # NaN where no check looks: never written
        record_text({"test": split_results(extra=float("nan"))})
    text = record_text({"test": split_results(operating_points=[POINT], calibration=CALIBRATION)})
    assert read_record(write(tmp_path / "r.json", text)).splits["test"]["operating_points"] == [POINT]
