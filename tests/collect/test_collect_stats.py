"""The figures per round and per annotator, against counts made by hand."""

import json

import pytest

from dynahate.collect.entries import ModelAnswer, NewEntry, add_entry, add_vote, open_round
from dynahate.collect.stats import collect_figures, figures_json, figures_text
from dynahate.collect.store import open_store
from dynahate.collect.tokens import add_annotator, authenticate
from dynahate.testing.cli import run_main

SAYS_NOT_HATE = ModelAnswer("not hate", 0.1, {}, "a" * 64)
SAYS_HATE = ModelAnswer("hate", 0.9, {}, "a" * 64)


@pytest.fixture
def filled(tmp_path):
    """Round 8 (2 votes): w writes 4 entries, 3 fooling the model; x writes 1 that does not. Votes on w's:
    e1 a+b correct (verified); e2 a correct, b incorrect (waiting); e3 a+b flagged (rejected); e4 not queued.
    Round 9: one entry of x, waiting."""
    db = tmp_path / "c.sqlite3"
    store = open_store(str(db))
    who = {name: authenticate(store, f"Bearer {add_annotator(store, name)}") for name in "wxab"}
    r8, r9 = open_round(store, "8", 2, False), open_round(store, "9", 2, False)
    e1, e2, e3 = (add_entry(store, who["w"], r8, NewEntry(f"p{i}", "hate", "derogation"), SAYS_NOT_HATE)
                  for i in range(3))
    add_entry(store, who["w"], r8, NewEntry("p3", "not hate"), SAYS_NOT_HATE)
    add_entry(store, who["x"], r8, NewEntry("p4", "hate", "animosity"), SAYS_HATE)
    add_entry(store, who["x"], r9, NewEntry("p5", "not hate"), SAYS_HATE)
    add_vote(store, who["a"], e1.id, "correct")
    add_vote(store, who["b"], e1.id, "correct")
    add_vote(store, who["a"], e2.id, "correct")
    add_vote(store, who["b"], e2.id, "incorrect", "not hate")
    add_vote(store, who["a"], e3.id, "flagged", reason="r")
    add_vote(store, who["b"], e3.id, "flagged", reason="s")
    yield db, store
    store.close()


def test_every_figure_equals_its_count_by_hand(filled):
    _, store = filled
    rounds = {figures["round"]: figures for figures in figures_json(collect_figures(store))["rounds"]}
    r8 = rounds["8"]
    assert {key: r8[key] for key in ("entries", "fooled", "verified_fooled", "waiting", "verified", "rejected",
                                     "not_queued", "vote_pairs")} == {
        "entries": 5, "fooled": 3, "verified_fooled": 1, "waiting": 1, "verified": 1, "rejected": 1,
        "not_queued": 2, "vote_pairs": 3}
    assert r8["model_error_rate"] == pytest.approx(3 / 5)
    assert r8["verified_model_error_rate"] == pytest.approx(1 / 5)
    assert r8["agreement"] == pytest.approx(2 / 3)  # e1 and e3 agree, e2 does not
    w, x, a = r8["annotators"]["w"], r8["annotators"]["x"], r8["annotators"]["a"]
    assert (w["entries"], w["fooled"], w["model_error_rate"], w["vote_pairs"], w["agreement"]) == (
        4, 3, 0.75, 0, None)
    assert (x["entries"], x["fooled"], x["model_error_rate"]) == (1, 0, 0.0)
    assert (a["entries"], a["model_error_rate"], a["vote_pairs"]) == (0, None, 3)
    assert a["agreement"] == pytest.approx(2 / 3)
    assert rounds["9"]["entries"] == 1 and rounds["9"]["waiting"] == 1 and rounds["9"]["not_queued"] == 0
    assert rounds["9"]["fooled"] == 1


def test_a_non_owner_sees_the_totals_and_their_own_row_only(filled):
    _, store = filled
    seen = figures_json(collect_figures(store, "8"), only_annotator="x")
    assert [r["round"] for r in seen["rounds"]] == ["8"] and list(seen["rounds"][0]["annotators"]) == ["x"]
    assert seen["rounds"][0]["entries"] == 5


def test_stats_prints_a_table_or_json_and_refuses_an_unknown_round(filled):
    db, store = filled
    table = run_main(["collect", "stats", "--db", str(db)]).stdout
    assert table == figures_text(collect_figures(store)) + "\n"
    assert "round 8" in table and "60.0%" in table and "66.7%" in table
    assert json.loads(run_main(["collect", "stats", "--db", str(db), "--json"]).stdout) == figures_json(
        collect_figures(store))
    refused = run_main(["collect", "stats", "--db", str(db), "--round", "zz"], check=False)
    assert refused.returncode == 2 and "unknown round" in refused.stderr


@pytest.mark.parametrize("command", [["stats"], ["tokens"], ["revoke", "0123456789ab"]])
def test_reading_a_missing_database_says_so_and_creates_nothing(tmp_path, command):
    missing = tmp_path / "none.sqlite3"
    refused = run_main(["collect", *command, "--db", str(missing)], check=False)
    assert refused.returncode == 2 and f"no database at {missing}" in refused.stderr
    assert list(tmp_path.iterdir()) == []
