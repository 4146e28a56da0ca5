"""The loop of ``make loop-demo`` at a smaller size: collect a round against the trained tiny adapter, export it,
prepare it with the sample, train the next adapter continuing the previous one, evaluate both, compare them, stage
the card; then each file is checked, and every figure the card gives about the round against its source."""

import csv
import json

from dynahate.plugin.tiny_model import TINY_TRAIN_OVERRIDES
from dynahate.testing.cli import SAMPLE_CSV
from dynahate.testing.loop_demo import LoopOptions, continue_overrides, run_loop


def test_a_round_collected_exported_and_trained_on_reaches_the_next_card(trained_run, tracked_run, tmp_path):
    overrides = continue_overrides(TINY_TRAIN_OVERRIDES, max_steps=4, learning_rate="5e-4", logging_steps=1)
    # one writer: writers at once interleave their entries' ids, and with them the export's seeded splits and the
    # next training's first batch, so the losses below would vary from run to run (tests/collect/test_collect_load.py
    # is where annotators write at once)
    paths = run_loop(LoopOptions(out=tmp_path / "loop", adapter=trained_run, sample_csv=SAMPLE_CSV, writers=1,
                                 posts_per_writer=12, validators=2, votes=2, train_overrides=overrides))
    with paths["round_csv"].open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    summary = json.loads(paths["summary"].read_text())
    figures = summary["figures"]
    assert figures["entries"] == 24 and len(rows) == summary["rows"] == figures["verified"] > 0
    assert {row["round"] for row in rows} == {"8a", "8b"}
    voted = {json.loads(line)["acl.id"] for line in paths["votes"].read_text().splitlines()}
    assert voted == {row["acl.id"] for row in rows}  # every exported row's votes are beside it

    report = json.loads((paths["data"] / "prepare_report.json").read_text())
    assert [source["rows_read"] for source in report["source"]["files"]] == [288, summary["rows"]]

    state = json.loads((paths["run_next"] / "trainer_state.json").read_text())
    losses = [entry["loss"] for entry in state["log_history"] if "loss" in entry]
    assert state["global_step"] == 4 and losses[0] < 0.5  # continued the trained adapter: no fresh start
    # a fresh start is at chance: the first step from the base of the exact recipe's run logging every step (its
    # first batch comes from the sample, a round's batch would be no better for a model that learned nothing)
    fresh = json.loads((tracked_run / "trainer_state.json").read_text())
    assert [entry["loss"] for entry in fresh["log_history"] if "loss" in entry][0] > 2.0
    train_rows = (paths["data"] / "dynahate_train.meta.jsonl").read_text()
    assert '"round": "8a"' in train_rows and '"round": "2a"' in train_rows  # dynahate_train holds every round

    results = json.loads((paths["run_next"] / "eval_results.json").read_text())
    r8 = results["test"]["breakdowns"]["round_group"]["R8"]
    assert r8["examples"] == summary["splits"]["test"]
    card = paths["card"].read_text()
    right = round(r8["accuracy"] * r8["examples"])
    from scipy.stats import binomtest

    interval = binomtest(right, r8["examples"]).proportion_ci(method="wilson")
    for line in [
        f"{summary['rows']} rows exported (train / dev / test: {summary['splits']['train']} / "
        f"{summary['splits']['dev']} / {summary['splits']['test']})",
        f"That model's error rate: {figures['model_error_rate']:.4f} ({figures['fooled']} of the "
        f"{figures['entries']} entries",
        f"verified error rate: {figures['verified_model_error_rate']:.4f} ({figures['verified_fooled']} of "
        f"{figures['entries']},",
        f"(R8): {r8['accuracy']:.4f} ({right} of {r8['examples']} posts), 95 % Wilson interval "
        f"[{interval.low:.4f}, {interval.high:.4f}]",
        "## Comparison with eval-previous",
    ]:
        assert line in card, line
    comparison = json.loads(paths["comparison"].read_text())
    assert set(comparison["splits"]) >= {"dev", "test"}
