"""``dynahate hatecheck``: the real CLI on the trained tiny adapter with the synthetic HateCheck-format file
(tests/fixtures/hatecheck_sample.csv, fictional groups only), its refusals, and the verified download."""

from __future__ import annotations

import csv
import http.server
import io
from pathlib import Path

import pytest

from dynahate.core.errors import DynahateError
from dynahate.eval.fingerprint import fingerprint
from dynahate.eval.hatecheck.data import DEFAULT_HATECHECK_PATH, HATECHECK_BLOB, read_hatecheck_csv, resolve_source
from dynahate.eval.hatecheck.results import GROUPS, functionality_results, group_of, target_results, weakest
from dynahate.eval.predictions import PREDICTION_KEYS, Prediction
from dynahate.plugin.data.download import git_blob_sha1
from dynahate.testing.cli import FIXTURES, run_main
from dynahate.testing.cli_refusal import assert_refused, snapshot, temp_files
from dynahate.testing.hub_server import serving
from dynahate.testing.records import read_jsonl, recorded_splits

SAMPLE = FIXTURES / "hatecheck_sample.csv"
TEXT_WORDS = ("despise", "disgust", "vermin", "market", "river", "chased")  # in test cases, never in names
POST_MARKER = "Xylophonic"  # put into a bad file's test case: it must not appear in any message
PNG = b"\x89PNG\r\n\x1a\n"


def _rows() -> tuple[list[str], list[list[str]]]:
    header, *rows = list(csv.reader(io.StringIO(SAMPLE.read_text(encoding="utf-8"))))
    return header, rows


def _write(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows([header, *rows])
    path.write_text(buffer.getvalue(), encoding="utf-8")
    return path


def _no_text(*texts: str) -> None:
    for text in texts:
        for word in TEXT_WORDS:
            assert word not in text, word


def _hatecheck(run_dir: Path, *options: str, cwd: Path | None = None, check: bool = True, env=None):
    return run_main(["hatecheck", "--adapter", str(run_dir), *options], cwd=cwd, check=check, env=env)


def test_score_mode_end_to_end_on_the_synthetic_file(trained_run, tmp_path):
    out = tmp_path / "out"
    proc = _hatecheck(trained_run, "--csv", str(SAMPLE), "--output-dir", str(out))
    blob = git_blob_sha1(SAMPLE)
    assert f"git blob id {blob}" in proc.stderr and HATECHECK_BLOB in proc.stderr  # the warning names both
    results = recorded_splits(out)
    hc = results["hatecheck"]
    cases = read_hatecheck_csv(SAMPLE)
    assert hc["mode"] == "score" and hc["examples"] == len(cases) == 60
    assert hc["source"]["git_blob_sha1"] == blob and hc["source"]["official"] is False
    assert hc["fingerprint"] == fingerprint(((case.case_id, case.test_case) for case in cases),
                                            source_git_blob_sha1=blob)
    assert hc["adapter"]["sha256"] and hc["roc_auc"] is not None
    lines = read_jsonl(out / "hatecheck_predictions.jsonl")
    assert [line["case_id"] for line in lines] == [case.case_id for case in cases]
    assert all(set(line) == {"case_id", "functionality", "groups", "gold", "pred", "p_hate"} for line in lines)
    assert [line["groups"] for line in lines] == [[case.target] if case.target else [] for case in cases]
    assert all(set(line) <= set(PREDICTION_KEYS) for line in lines)  # what publish accepts
    # functional tests: recomputed from the predictions file, in the paper's group order
    tests = hc["functionalities"]
    assert list(tests) == ["derog_neg_emote_h", "threat_dir_h", "negate_neg_nh", "ident_neutral_nh",
                           "counter_quote_nh", "spell_char_swap_h"]
    for name, test in tests.items():
        mine = [line for line in lines if line["functionality"] == name]
        assert test["n"] == len(mine) == 10
        assert test["correct"] == sum(line["pred"] == line["gold"] for line in mine)
        assert test["gold"] == ("hate" if name.endswith("_h") else "not hate")
        assert test["accuracy"] == pytest.approx(test["correct"] / test["n"])
    assert hc["accuracy"] == pytest.approx(sum(t["correct"] for t in tests.values()) / 60)
    for target, by_label in hc["targets"].items():
        mine = [c for c in cases if c.target == target]
        assert {label: v["n"] for label, v in by_label.items()} == {"hate": 6, "not hate": 6} and len(mine) == 12
    assert len(hc["targets"]) == 5 and hc["cases_without_target"] == 0
    assert hc["files"][0] == "hatecheck_predictions.jsonl" and "hatecheck_functionalities.png" in hc["files"]
    for name in hc["files"][1:]:
        assert (out / name).read_bytes().startswith(PNG), name
    # the printed summary: overall accuracy, then the five weakest tests, lowest first
    stdout = proc.stdout.splitlines()
    at = stdout.index("weakest functional tests:")
    assert f"Accuracy: {hc['accuracy']:.4f}" in stdout[at - 1]
    shown = [line.split()[0] for line in stdout[at + 1:at + 6]]
    assert shown == [name for name, _ in weakest(tests)]
    assert [tests[n]["accuracy"] for n in shown] == sorted(tests[n]["accuracy"] for n in shown)
    assert stdout[at + 6] == "decision-ready figures:" and stdout[at + 7].startswith("  95% intervals: accuracy [")
    _no_text(proc.stdout, proc.stderr,
             *(p.read_text() for p in out.iterdir() if p.suffix in (".json", ".jsonl", ".txt")))
    assert not temp_files(out)


def test_generate_mode_keeps_the_other_entries_of_eval_results(trained_run, prepared_data, tmp_path):
    out = tmp_path / "out"
    run_main(["eval", "--adapter", str(trained_run), "--data-dir", str(prepared_data), "--split", "dev",
             "--output-dir", str(out)])
    dev_before = recorded_splits(out)["dev"]
    proc = _hatecheck(trained_run, "--csv", str(SAMPLE), "--output-dir", str(out), "--mode", "generate")
    results = recorded_splits(out)
    assert results["dev"] == dev_before and results["hatecheck"]["mode"] == "generate"
    lines = read_jsonl(out / "hatecheck_predictions.jsonl")
    answer_keys = ({"raw"}, {"raw_length", "raw_sha256"})  # the answer, or its length and hash when not answer-like
    assert all(set(line) - {"case_id", "functionality", "groups", "gold", "pred"} in answer_keys for line in lines)
    assert "== hatecheck (generate mode, 60 posts) ==" in (out / "eval_metrics.txt").read_text()
    assert (out / "dev_predictions.jsonl").is_file() and (out / "hatecheck_functionalities.png").is_file()
    _no_text(proc.stdout, proc.stderr)


@pytest.mark.parametrize("change, needles", [
    ("drop label_gold", ["missing column(s) 'label_gold'"]),
    ("unknown label", ["line 4 (case_id 3)", "label_gold is 'offensive', expected one of 'hateful', 'non-hateful'"]),
    ("empty test case", ["line 5 (case_id 4)", "test_case"]),
    ("duplicate case_id", ["line 3 (case_id 1)", "already used on line 2"]),
])
def test_bad_file_is_one_line_and_nothing_is_written(trained_run, tmp_path, change, needles):
    header, rows = _rows()
    rows = [list(row) for row in rows]
    rows[0][3] = f"{POST_MARKER} {rows[0][3]}"  # a marked test case near every error
    if change == "drop label_gold":
        at = header.index("label_gold")
        header, rows = header[:at] + header[at + 1:], [row[:at] + row[at + 1:] for row in rows]
    elif change == "unknown label":
        rows[2][4] = "offensive"
    elif change == "empty test case":
        rows[3][3] = "  "
    else:
        rows[1][2] = rows[0][2]
    bad = _write(tmp_path / "bad.csv", header, rows)
    out = tmp_path / "out"
    proc = _hatecheck(trained_run, "--csv", str(bad), "--output-dir", str(out), check=False)
    assert_refused(proc, str(bad), *needles, marker=POST_MARKER)
    assert not out.exists()


def test_a_label_that_may_be_a_post_is_described_in_a_sentence_that_reads(tmp_path):
    """It read "label_gold a 25-character value, not shown as it may be a post is not one of ..." (issue 23)."""
    header, rows = _rows()
    rows = [list(row) for row in rows]
    rows[2][4] = "a post in the label column"
    with pytest.raises(DynahateError) as refused:
        read_hatecheck_csv(_write(tmp_path / "bad.csv", header, rows))
    assert str(refused.value).endswith("line 4 (case_id 3): label_gold is a 26-character value, not shown as it may "
                                       "be a post, expected one of 'hateful', 'non-hateful'")


def test_cached_copy_with_a_wrong_blob_id_is_refused_without_csv(trained_run, tmp_path):
    cache = tmp_path / DEFAULT_HATECHECK_PATH
    cache.parent.mkdir(parents=True)
    cache.write_bytes(SAMPLE.read_bytes())
    proc = _hatecheck(trained_run, "--output-dir", "out", cwd=tmp_path, check=False)
    assert_refused(proc, str(DEFAULT_HATECHECK_PATH), git_blob_sha1(SAMPLE), HATECHECK_BLOB, "--download")
    assert not (tmp_path / "out").exists()
    missing = _hatecheck(trained_run, "--output-dir", "out", cwd=tmp_path / "data", check=False)
    assert_refused(missing, "file not found", "--download")


def test_download_that_cannot_connect_is_one_line_and_writes_nothing(trained_run, tmp_path):
    proc = _hatecheck(trained_run, "--download", "--output-dir", "out", cwd=tmp_path, check=False,
                      env={"https_proxy": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9", "no_proxy": ""})
    assert_refused(proc, "could not download", "--csv")
    assert snapshot(tmp_path) == {}


def test_csv_and_download_together_is_a_usage_error(tmp_path):
    proc = run_main(["hatecheck", "--adapter", str(tmp_path), "--csv", str(SAMPLE), "--download"],
                   check=False)
    assert proc.returncode == 2 and "not allowed with argument" in proc.stderr


def test_help_states_defaults_and_source():
    text = run_main(["hatecheck", "--help"]).stdout
    for needle in (str(DEFAULT_HATECHECK_PATH), HATECHECK_BLOB, "score",
                   "HF_TOKEN", "https_proxy", "default 8"):
        assert needle in text, needle


@pytest.fixture
def loopback(tmp_path):
    """A local HTTP server serving ``tmp_path/served``."""
    served = tmp_path / "served"
    served.mkdir()
    handler = lambda *a, **k: http.server.SimpleHTTPRequestHandler(*a, directory=str(served), **k)  # noqa: E731
    http.server.SimpleHTTPRequestHandler.log_message = lambda *a: None
    with serving(http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)) as server:
        yield served, f"http://127.0.0.1:{server.server_address[1]}"


def test_download_with_a_wrong_blob_id_writes_nothing(loopback, tmp_path):
    served, url = loopback
    (served / "test_suite_cases.csv").write_bytes(SAMPLE.read_bytes())
    dest = tmp_path / "cache" / "hatecheck.csv"
    with pytest.raises(DynahateError, match=f"git blob id {git_blob_sha1(SAMPLE)}, expected {HATECHECK_BLOB}"):
        resolve_source(None, True, dest=dest, url=f"{url}/test_suite_cases.csv")
    assert not dest.parent.exists() or not any(dest.parent.iterdir())


def test_csv_of_another_file_is_accepted_with_a_warning_naming_its_blob_id():
    source, warning = resolve_source(SAMPLE, False)
    assert source.official is False and source.git_blob_sha1 == git_blob_sha1(SAMPLE)
    assert warning.startswith("warning:") and source.git_blob_sha1 in warning


def test_per_test_and_per_target_results_count_invalid_answers_as_wrong():
    cases = read_hatecheck_csv(SAMPLE)
    flip = {"hate": "not hate", "not hate": "hate"}
    # every third answer wrong, every fifth invalid
    preds = [Prediction(c.case_id, c.gold, None if i % 5 == 0 else flip[c.gold] if i % 3 == 0 else c.gold)
             for i, c in enumerate(cases)]
    tests = functionality_results(cases, preds)
    for name, test in tests.items():
        expected = sum(p.pred == c.gold for c, p in zip(cases, preds, strict=False) if c.functionality == name)
        assert test["correct"] == expected and test["n"] == 10
    targets = target_results(cases, preds)
    assert sum(v["correct"] for t in targets.values() for v in t.values()) == sum(t["correct"] for t in tests.values())
    assert [group_of(name) for name in tests] == sorted((group_of(n) for n in tests), key=list(GROUPS.values()).index)
    assert (len(weakest(tests)) == 5
            and weakest(tests, 1)[0][1]["accuracy"] == min(t["accuracy"] for t in tests.values()))


def test_card_shows_hatecheck_and_per_round_test_results(trained_run, prepared_data, tmp_path):
    import dataclasses
    import shutil

    from huggingface_hub import ModelCard

    from dynahate.publish.card import render_card
    from dynahate.publish.run_record import load_run_record
    from dynahate.testing.cli import REPO

    run = tmp_path / "run"
    shutil.copytree(trained_run, run)
    run_main(["eval", "--adapter", str(run), "--data-dir", str(prepared_data)])
    _hatecheck(run, "--csv", str(SAMPLE))
    stage = tmp_path / "stage"
    run_main(["publish", str(run), "--data-dir", str(prepared_data), "--repo-id", "me/tiny", "--dry-run",
             "--stage-dir", str(stage)])
    results = recorded_splits(run)
    hc = results["hatecheck"]
    card = ModelCard.load(stage / "README.md")
    text = card.text
    assert ("### HateCheck" in text and "**Not the official HateCheck file**" in text
            and hc["source"]["git_blob_sha1"] in text)
    for name, test in hc["functionalities"].items():
        assert f"| {name} | {group_of(name)} | {test['gold']} | {test['n']} | {test['accuracy']:.4f} |" in text
    assert "![HateCheck accuracy per functional test](hatecheck_functionalities.png)" in text
    assert (stage / "hatecheck_functionalities.png").is_file() and (stage / "hatecheck_predictions.jsonl").is_file()
    assert "CC BY 4.0" in text and "rottger2021hatecheck" in text
    # not the official file: no model-index result for Paul/hatecheck
    assert all(r.dataset_type != "Paul/hatecheck" for r in card.data.eval_results or [])
    groups = results["test"]["breakdowns"]["round_group"]  # R1-R4, as the docs and `dynahate compare` say
    assert list(groups) == sorted(groups) and all(name in ("R1", "R2", "R3", "R4") for name in groups)
    for name, group in groups.items():
        assert f"| {name} | {group['examples']} | {group['accuracy']:.4f} | {group['macro_f1']:.4f} |" in text
    assert "| 2a |" not in text and "R1-R4: a round's original posts and their perturbations together" in text
    _no_text(text)
    # the official file's results (same numbers, verified blob): model-index entries that huggingface_hub parses
    record = load_run_record(run, recipe=REPO / "recipes" / "dynahate_qlora.yaml",
                             prepare_report=prepared_data / "prepare_report.json")
    official = {**hc, "source": {**hc["source"], "official": True, "git_blob_sha1": HATECHECK_BLOB}}
    record = dataclasses.replace(record, eval_results={**record.eval_results, "hatecheck": official})
    parsed = ModelCard(render_card(record, "me/tiny", {"hatecheck_functionalities.png": 1}))
    entries = {(r.dataset_type, r.metric_type): r.metric_value for r in parsed.data.eval_results}
    assert entries[("Paul/hatecheck", "accuracy")] == round(hc["accuracy"], 4)
    assert entries[("Paul/hatecheck", "f1")] == round(hc["macro_f1"], 4)
    assert "Paul/hatecheck" in parsed.data.datasets and "Not the official HateCheck" not in parsed.text
