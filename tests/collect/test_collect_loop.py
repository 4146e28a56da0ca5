"""The loop of ``make loop-demo`` at a smaller size: collect a round against the trained tiny adapter, export it,
prepare it with the sample, train the next adapter continuing the previous one, evaluate both, compare them, stage
the card; then every file is checked, and every figure the card gives about the round against its source."""

import csv
import json
import re

from dynahate.testing.cli import SAMPLE_CSV
from dynahate.testing.loop_demo import LoopOptions, run_loop


def test_a_round_collected_exported_and_trained_on_reaches_the_next_card(trained_run, tmp_path):
    paths = run_loop(LoopOptions(out=tmp_path / "loop", adapter=trained_run, sample_csv=SAMPLE_CSV, writers=3,
                                 posts_per_writer=4, validators=2, votes=2,
                                 train_overrides=("bf16=false", "max_steps=4", "learning_rate=5e-3",
                                                  "logging_steps=1", "eval_steps=2", "save_steps=1000")))
    with paths["round_csv"].open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    summary = json.loads(paths["summary"].read_text())
    assert len(rows) == summary["rows"] and summary["figures"]["entries"] == 24
    assert {row["round"] for row in rows} <= {"8a", "8b"} and len(rows) > 0
    assert len(paths["votes"].read_text().splitlines()) >= summary["rows"]  # each exported row: >= 2 votes... or 1 owner
    report = json.loads((paths["data"] / "prepare_report.json").read_text())
    assert report  # prepare read both files
    trainer_log = (paths["run_next"] / "trainer_state.json").read_text()
    assert json.loads(trainer_log)["global_step"] == 4
    results = json.loads((paths["run_next"] / "eval_results.json").read_text())
    test_rounds = results["test"]["breakdowns"]["round_group"]
    card = paths["card"].read_text()
    comparison = json.loads(paths["comparison"].read_text())
    assert comparison  # compare wrote its JSON
    if "R8" in test_rounds:
        r8 = test_rounds["R8"]
        assert re.search(rf"\| 8 \| {summary['rows']} \|", card) or str(r8["examples"]) in card
    assert "Adversarial rounds" in card
    assert f"{summary['figures']['verified_model_error_rate']:.3f}"[:4] in card
