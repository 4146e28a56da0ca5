"""The card's per-round table: R1-R4 (as the docs and ``dynahate compare`` say), from ``round_group``; results
written before it give the rounds as the data names them, said so; a round name that is not a code is refused."""

from __future__ import annotations

import pytest

from dynahate.core.errors import DynahateError
from dynahate.publish.card import _rounds

GROUP = {"examples": 10, "accuracy": 0.5, "macro_f1": 0.4}


def test_round_groups_are_the_rows_when_recorded():
    res = {"breakdowns": {"round": {"1": GROUP, "2a": GROUP, "2b": GROUP},
                          "round_group": {"R1": GROUP, "R2": {**GROUP, "examples": 20}}}}
    out = _rounds(res)
    assert out["rounds_grouped"] is True and [(r["round"], r["examples"]) for r in out["rounds"]] == [
        ("R1", 10), ("R2", 20)]


def test_results_before_round_groups_show_the_data_s_names_and_say_so():
    out = _rounds({"breakdowns": {"round": {"1": GROUP, "2a": GROUP}}})
    assert out["rounds_grouped"] is False and [r["round"] for r in out["rounds"]] == ["1", "2a"]
    assert _rounds(None) == {"rounds": [], "rounds_grouped": False}


def test_a_round_name_that_is_not_a_code_is_refused_unshown():
    name = "they should all be gone"
    with pytest.raises(DynahateError) as caught:
        _rounds({"breakdowns": {"round": {name: GROUP}}})
    assert name not in str(caught.value) and "23-character value, not shown" in str(caught.value)
