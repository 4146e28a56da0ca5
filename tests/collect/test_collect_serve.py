"""``dynahate collect serve``: what it refuses before the model loads, the decision rule it records, and its stop."""

import signal

import httpx
import pytest

from dynahate.collect.app import EntryRequest, VoteRequest
from dynahate.collect.schema import HATE_TYPES, VERDICTS
from dynahate.collect.store import open_store
from dynahate.plugin.labels import LABELS
from dynahate.testing.cli import run_main
from dynahate.testing.collect_process import add_annotators, bearer, start_collect


def test_the_request_bodies_take_exactly_the_labels_types_and_verdicts_of_the_schema():
    def literal(model, name):
        annotation = model.model_fields[name].annotation
        values = set()
        for arg in getattr(annotation, "__args__", ()):
            values |= set(getattr(arg, "__args__", (arg,))) - {type(None)}
        return values

    assert literal(EntryRequest, "type") == set(HATE_TYPES)
    assert literal(EntryRequest, "label") == set(LABELS) == literal(VoteRequest, "corrected_label")
    assert literal(VoteRequest, "verdict") == set(VERDICTS)


@pytest.mark.parametrize("args, message", [
    (["--round", "round one"], "--round: a round's name is a code"),
    (["--port", "70000"], "--port 70000: not a port number"),
    (["--votes", "0"], "--votes: must be"),
])
def test_bad_arguments_are_one_line_before_anything_loads(made_up_run, args, message):
    tmp_path, run, _, _ = made_up_run
    proc = run_main(["collect", "serve", "--adapter", str(run), "--db", str(tmp_path / "c.sqlite3"), *args],
                    check=False)
    assert proc.returncode == 2 and message in proc.stderr.strip().splitlines()[-1], proc.stderr  # one line


def test_a_missing_run_and_a_round_of_other_settings_are_refused_before_the_model_loads(made_up_run):
    tmp_path, run, _, _ = made_up_run
    db = str(tmp_path / "c.sqlite3")
    missing = run_main(["collect", "serve", "--adapter", str(tmp_path / "nowhere"), "--db", db], check=False)
    assert missing.returncode == 2 and "run directory not found" in missing.stderr
    from dynahate.collect.entries import open_round

    store = open_store(db)
    open_round(store, "8", 3, False)
    store.close()
    other = run_main(["collect", "serve", "--adapter", str(run), "--db", db, "--votes", "2"], check=False)
    assert other.returncode == 2 and "round '8' was opened with --votes 3" in other.stderr


def test_a_start_that_fails_opens_no_round(made_up_run):
    """A threshold the adapter never recorded is refused after the port is bound: round 9 must not be left open."""
    from dynahate.collect.entries import round_names

    tmp_path, run, _, _ = made_up_run
    db = str(tmp_path / "c.sqlite3")
    proc = run_main(["collect", "serve", "--adapter", str(run), "--db", db, "--round", "9", "--port", "0",
                     "--threshold", "best_macro_f1"], check=False)
    assert proc.returncode == 2 and "best_macro_f1" in proc.stderr
    store = open_store(db)
    try:
        assert round_names(store) == []
    finally:
        store.close()


def test_the_served_rule_decides_and_is_recorded_and_sigterm_stops_the_server_calmly(trained_run, tmp_path):
    db = f"sqlite:///{tmp_path / 'c.sqlite3'}"
    token = add_annotators(db, ["alice"])["alice"]
    post = "an ordinary post about the weather in Drellan"
    log = tmp_path / "collect.log"
    proc, url = start_collect(trained_run, db, log, "--threshold", "0", "--round", "R8x")
    try:
        health = httpx.get(f"{url}/health", timeout=10).json()
        assert (health["round"], health["votes_needed"], health["decision_rule"]["threshold"]) == ("R8x", 3, 0.0)
        answer = httpx.post(f"{url}/api/entries", json={"text": post, "label": "not hate"}, headers=bearer(token),
                            timeout=60)
        assert answer.status_code == 201, answer.text
        model = answer.json()["model"]
        # threshold 0: every post is hate, so an entry meant as not hate fools the model and waits for validation
        assert (model["label"], model["wrong"], answer.json()["status"]) == ("hate", True, "pending")
        assert model["decision_rule"] == {"threshold": 0.0, "threshold_name": None, "temperature": None}
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
    text = log.read_text()
    assert "stopped (SIGTERM): the server is down" in text and "collecting round R8x" in text
    assert post not in text and token not in text
