"""``dynahate eval`` and ``dynahate predict`` end to end, as a user runs them (real subprocesses)."""

import json
import re
import shutil

import pytest

from dynahate.eval.fingerprint import fingerprint
from dynahate.eval.predictions import raw_entries
from dynahate.plugin.labels import LABELS
from dynahate.plugin.splits import data_file, meta_file
from dynahate.testing.cli import run_main
from dynahate.testing.records import read_jsonl, recorded_splits

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
PER_LABEL = ("precision", "recall", "f1", "support")
SCORE_KEYS = {"accuracy", "macro_f1", *PER_LABEL, "invalid", "examples", "mode", "examples_per_second",
              "roc_auc", "pr_auc", "brier", "ece", "breakdowns"}
SUMMARY = re.compile(r"^Accuracy: (\d\.\d{4}) \| Macro-F1: (\d\.\d{4}) \| Time: \d+\.\d\ds$", re.M)

pytestmark = pytest.mark.integration


def posts_of(prepared_data, split):
    return [r["input"] for r in read_jsonl(data_file(prepared_data, split))]


def assert_no_post_text(prepared_data, *texts):
    posts = [p for split in ("dev", "test") for p in posts_of(prepared_data, split)]
    for text in texts:
        leaked = [p for p in posts if p in text]
        assert not leaked, f"a post was echoed: {leaked[0][:30]}..."


def test_score_eval_writes_the_promised_files(score_eval, prepared_data):
    out, proc = score_eval
    results = recorded_splits(out)
    assert set(results) == {"dev", "test"}
    for split, res in results.items():
        assert SCORE_KEYS <= set(res), SCORE_KEYS - set(res)
        assert res["mode"] == "score" and res["invalid"] == 0
        for key in PER_LABEL:
            assert set(res[key]) == set(LABELS)
        assert set(res["breakdowns"]) == {"round", "round_group", "type", "target"}
        records = read_jsonl(data_file(prepared_data, split))
        metas = read_jsonl(meta_file(data_file(prepared_data, split)))
        # the posts evaluated, named by acl.id, and the CSV they came from (prepare's report beside them)
        report = json.loads((prepared_data / "prepare_report.json").read_text())
        assert res["fingerprint"] == fingerprint(zip((m["acl.id"] for m in metas), (r["input"] for r in records),
                                                     strict=True),
                                                 source_git_blob_sha1=report["source"]["git_blob_sha1"])
        groups = res["breakdowns"]["round_group"]  # R1-R4: a round's a and b posts together
        assert sum(g["examples"] for g in groups.values()) == len(records)
        assert set(groups) == {"R" + m["round"][0] for m in metas}
        lines = read_jsonl(out / f"{split}_predictions.jsonl")
        assert res["examples"] == len(records) == len(lines)
        assert [line["id"] for line in lines] == [m["acl.id"] for m in metas]  # input order, joined ids
        assert [line["round"] for line in lines] == [m["round"] for m in metas]  # for `dynahate compare` per round
        assert [line["gold"] for line in lines] == [r["output"] for r in records]
        assert all(0.0 <= line["p_hate"] <= 1.0 and line["pred"] == ("hate" if line["p_hate"] >= 0.5 else "not hate")
                   for line in lines)
        # the summary numbers are what the predictions file says, recounted here without sklearn
        accuracy = sum(line["pred"] == line["gold"] for line in lines) / len(lines)
        assert res["accuracy"] == pytest.approx(accuracy)
        assert res["support"] == {label: sum(r["output"] == label for r in records) for label in LABELS}
        assert res["accuracy"] > 0.6, "the trained tiny adapter should beat chance on its own synthetic data"
        for plot in ("confusion_matrix", "roc", "pr", "reliability"):
            assert (out / f"{split}_{plot}.png").read_bytes().startswith(PNG_MAGIC)
    text = (out / "eval_metrics.txt").read_text()
    summaries = SUMMARY.findall(text)
    assert [(float(a), float(f)) for a, f in summaries] == [
        (round(results[s]["accuracy"], 4), round(results[s]["macro_f1"], 4)) for s in ("dev", "test")]
    assert text.count("macro avg") == 2 and "    hate" in text and "not hate" in text
    assert "Accuracy:" in proc.stdout and "ROC-AUC" in proc.stdout
    files = "".join(p.read_text() for p in out.iterdir() if p.suffix in (".json", ".jsonl", ".txt"))
    assert_no_post_text(prepared_data, proc.stdout, proc.stderr, files)


def test_generate_mode_replaces_its_split_and_keeps_the_others(score_eval, trained_run, prepared_data, tmp_path):
    out = tmp_path / "merged"
    shutil.copytree(score_eval[0], out)
    run_main(["eval", "--adapter", str(trained_run), "--data-dir", str(prepared_data),
             "--split", "dev", "--mode", "generate", "--output-dir", str(out)])
    results = recorded_splits(out)
    assert results["dev"]["mode"] == "generate" and "p_hate" not in results["dev"] and "roc_auc" not in results["dev"]
    assert results["test"] == recorded_splits(score_eval[0])["test"]
    lines = read_jsonl(out / "dev_predictions.jsonl")
    assert all(("raw" in line or "raw_sha256" in line) and "p_hate" not in line for line in lines)
    scored = read_jsonl(score_eval[0] / "dev_predictions.jsonl")
    agreement = sum(a["pred"] == b["pred"] for a, b in zip(lines, scored, strict=False)) / len(lines)
    assert agreement >= 0.95
    assert len(SUMMARY.findall((out / "eval_metrics.txt").read_text())) == 2


def test_show_misclassified_prints_misclassified_posts_only_when_asked(score_eval, trained_run, prepared_data,
                                                                      tmp_path):
    assert not [line for line in score_eval[1].stdout.splitlines() if line.startswith("  [")]  # not asked
    # The gold labels of dev flipped, so that the tiny adapter gets many wrong however well it learned.
    flipped = tmp_path / "flipped"
    flipped.mkdir()
    shutil.copy(meta_file(data_file(prepared_data, "dev")), meta_file(data_file(flipped, "dev")))
    records = read_jsonl(data_file(prepared_data, "dev"))
    data_file(flipped, "dev").write_text("".join(
        json.dumps({**r, "output": LABELS[1 - LABELS.index(r["output"])]}) + "\n" for r in records))
    args = ["eval", "--adapter", str(trained_run), "--data-dir", str(flipped), "--split", "dev"]
    proc = run_main([*args, "--output-dir", str(tmp_path / "new"), "--show-misclassified", "3"])
    wrong = [line for line in read_jsonl(tmp_path / "new" / "dev_predictions.jsonl") if line["pred"] != line["gold"]]
    shown = [line for line in proc.stdout.splitlines() if line.startswith("  [")]
    assert wrong and len(shown) == min(3, len(wrong))
    assert [line.split("]")[0][3:] for line in shown] == [line["id"] for line in wrong[:3]]
    assert "deprecated" not in proc.stderr

    # the old spelling, a deprecated alias for one release: the same lines, and one warning without post text
    old = run_main([*args, "--output-dir", str(tmp_path / "old"), "--show-examples", "3"])
    assert [line for line in old.stdout.splitlines() if line.startswith("  [")] == shown
    warnings = [line for line in old.stderr.splitlines() if "deprecated" in line]
    assert warnings == ["warning: --show-examples is deprecated; use --show-misclassified"]
    assert old.stderr.splitlines()[0] == warnings[0]
    assert_no_post_text(prepared_data, old.stderr)


def test_score_eval_records_the_decision_ready_entries(score_eval, prepared_data):
    """On the real evaluation: dev's thresholds and temperature serve the test split, never dev itself; the
    contrast pairs are the sample's pairs within the split; the intervals hold the observed figures."""
    from dynahate.eval.decision.calibration import fit_temperature
    from dynahate.eval.decision.contrast import contrast_pairs
    from dynahate.eval.decision.operating_points import choose_thresholds

    out, proc = score_eval
    results = recorded_splits(out)
    dev_lines = read_jsonl(out / "dev_predictions.jsonl")
    dev_gold, dev_p = [line["gold"] == "hate" for line in dev_lines], [line["p_hate"] for line in dev_lines]
    chosen = choose_thresholds(dev_gold, dev_p)
    dev, test = results["dev"], results["test"]
    assert [point["name"] for point in dev["operating_points"]] == ["default"] and "calibration" not in dev
    assert [(point["name"], point["threshold"], point["chosen_on"]) for point in test["operating_points"]] == [
        ("default", 0.5, None), *((name, threshold, "dev") for name, threshold in chosen.items())]
    assert test["operating_points"][0]["accuracy"] == pytest.approx(test["accuracy"])  # the default is the label
    assert test["calibration"]["temperature"] == pytest.approx(fit_temperature(dev_gold, dev_p))
    for res in (dev, test):
        spans = res["intervals"]
        assert spans["resamples"] == 10000 and spans["confidence"] == 0.95
        assert spans["accuracy"][0] <= res["accuracy"] <= spans["accuracy"][1]
        assert spans["roc_auc"][0] <= res["roc_auc"] <= spans["roc_auc"][1]
    metas = read_jsonl(meta_file(data_file(prepared_data, "test")))
    assert test["contrast"]["pairs"] == len(contrast_pairs(metas)) > 0  # the pair across splits is not counted
    assert "fict" in test["bias"]["groups"] and test["bias"]["min_examples"] == 10
    assert "95% intervals: accuracy [" in proc.stdout and "chosen on dev" in proc.stdout


def test_scores_llamafactory_generated_predictions(lf_predict_run, lf_workspace, tmp_path):
    source = lf_predict_run / "generated_predictions.jsonl"
    proc = run_main(["eval", "--predictions", str(source), "--name", "lf_test",
                    "--output-dir", str(tmp_path)])
    res = recorded_splits(tmp_path)["lf_test"]
    lf_lines = read_jsonl(source)
    gold = [r["output"] for r in read_jsonl(data_file(lf_workspace / "data", "test"))]
    # independent recount: the rule written out by hand
    def label(text):
        low = text.lower()
        return "not hate" if "not hate" in low else ("hate" if "hate" in low else None)
    preds = [label(line["predict"]) for line in lf_lines]
    assert [line["label"] for line in lf_lines] == gold
    assert res["examples"] == len(gold) and res["mode"] == "generate"
    assert res["fingerprint"] == fingerprint(((f"lf_test-{n}", line["prompt"]) for n, line in enumerate(lf_lines, 1)),
                                             of="prompts")  # the file holds prompts, not posts
    assert res["invalid"] == preds.count(None)
    assert res["accuracy"] == pytest.approx(sum(p == g for p, g in zip(preds, gold, strict=False)) / len(gold))
    runtime = json.loads((lf_predict_run / "predict_results.json").read_text())["predict_runtime"]
    assert res["examples_per_second"] == pytest.approx(len(gold) / runtime)
    ours = read_jsonl(tmp_path / "lf_test_predictions.jsonl")
    answers = [{key: line[key] for key in ("raw", "raw_length", "raw_sha256") if key in line} for line in ours]
    assert answers == [raw_entries(line["predict"]) for line in lf_lines]  # raw only when answer-like
    assert (tmp_path / "lf_test_confusion_matrix.png").read_bytes().startswith(PNG_MAGIC)
    assert "lf_test (generate" in proc.stdout


@pytest.mark.parametrize("content, message", [
    ('{"prompt": "p", "predict": "hate", "label": "hate"}\n{"predict": "hate", "label": \n',
     r"bad\.jsonl:2: not valid JSON"),
    ('{"prompt": "p", "predict": "hate", "label": "offensive"}\n',
     r"bad\.jsonl:1: gold label is 'offensive', expected one of"),
    ('{"prompt": "p", "predict": "hate", "label": "Zorblaxians are the worst"}\n',
     r"bad\.jsonl:1: gold label is a 25-character value, not shown as it may be a post, expected one of"),
    ('{"prompt": "p", "label": "hate"}\n', r"bad\.jsonl:1: missing key\(s\) 'predict'"),
    ("", r"bad\.jsonl: no predictions"),
])
def test_bad_predictions_file_one_line_exit_2_nothing_written(tmp_path, content, message):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(content)
    out = tmp_path / "out"
    out.mkdir()
    proc = run_main(["eval", "--predictions", str(bad), "--output-dir", str(out)], check=False)
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1 and re.search(message, proc.stderr), proc.stderr
    assert list(out.iterdir()) == []


def test_bad_adapter_and_data_errors(trained_run, prepared_data, tmp_path):
    proc = run_main(["eval", "--adapter", str(tmp_path / "missing"), "--data-dir", str(prepared_data),
                    "--output-dir", str(tmp_path / "o")], check=False)
    assert proc.returncode == 2 and "run directory not found" in proc.stderr and len(proc.stderr.splitlines()) == 1
    data = tmp_path / "custom.jsonl"
    data.write_text('{"input": "a post", "output": "hate"}\n{"input": "", "output": "hate"}\n')
    proc = run_main(["eval", "--adapter", str(trained_run), "--data", str(data),
                    "--output-dir", str(tmp_path / "o")], check=False)
    assert proc.returncode == 2 and "custom.jsonl:2: 'input' is empty" in proc.stderr
    assert not (tmp_path / "o").exists()
    proc = run_main(["eval", "--predictions", str(data)], check=False)
    assert proc.returncode == 2 and "--output-dir" in proc.stderr


def test_custom_data_file_is_keyed_by_its_stem(trained_run, prepared_data, tmp_path):
    data = tmp_path / "mine.jsonl"
    shutil.copy(data_file(prepared_data, "test"), data)  # no metadata sidecar beside it
    run_main(["eval", "--adapter", str(trained_run), "--data", str(data), "--output-dir", str(tmp_path)])
    res = recorded_splits(tmp_path)
    assert list(res) == ["mine"] and "breakdowns" not in res["mine"]
    assert read_jsonl(tmp_path / "mine_predictions.jsonl")[0]["id"] == "mine-1"


def test_the_prepared_dev_file_given_with_data_is_the_dev_split(trained_run, prepared_data, tmp_path):
    """``--data data/dynahate_dev.jsonl data/dynahate_test.jsonl`` fits the thresholds and the temperature on
    ``dynahate_dev`` as ``--split dev test`` does on ``dev``, and the results name it; without a dev file the
    output says once that there is none."""
    from dynahate.eval.decision.calibration import fit_temperature
    from dynahate.eval.decision.dev_scores import NONE_NOTE
    from dynahate.eval.decision.entries import DEV_NOTE
    from dynahate.eval.decision.operating_points import choose_thresholds

    files = [str(data_file(prepared_data, split)) for split in ("dev", "test")]
    proc = run_main(["eval", "--adapter", str(trained_run), "--data", *files, "--output-dir", str(tmp_path / "both")])
    results = recorded_splits(tmp_path / "both")
    dev_lines = read_jsonl(tmp_path / "both" / "dynahate_dev_predictions.jsonl")
    dev_gold, dev_p = [line["gold"] == "hate" for line in dev_lines], [line["p_hate"] for line in dev_lines]
    dev, test = results["dynahate_dev"], results["dynahate_test"]
    assert [point["name"] for point in dev["operating_points"]] == ["default"] and DEV_NOTE in dev["notes"]
    assert [(point["name"], point["threshold"], point["chosen_on"]) for point in test["operating_points"]] == [
        ("default", 0.5, None), *((name, threshold, "dynahate_dev")
                                  for name, threshold in choose_thresholds(dev_gold, dev_p).items())]
    assert test["calibration"]["fitted_on"] == "dynahate_dev"
    assert test["calibration"]["temperature"] == pytest.approx(fit_temperature(dev_gold, dev_p))
    assert "chosen on dynahate_dev)" in proc.stdout and NONE_NOTE not in proc.stdout

    alone = run_main(["eval", "--adapter", str(trained_run), "--data", files[1], "--output-dir", str(tmp_path / "one")])
    test = recorded_splits(tmp_path / "one")["dynahate_test"]
    assert [point["name"] for point in test["operating_points"]] == ["default"] and "calibration" not in test
    assert test["notes"] == [NONE_NOTE] and alone.stdout.count(NONE_NOTE) == 1


def test_predict_matches_eval_and_hides_posts_by_default(score_eval, trained_run, prepared_data, tmp_path):
    dev = data_file(prepared_data, "dev")
    out_file = tmp_path / "pred.jsonl"
    proc = run_main(["predict", "--adapter", str(trained_run), "--input", str(dev),
                    "--output", str(out_file)])
    assert "wrote" in proc.stdout
    predicted = read_jsonl(out_file)
    evaluated = read_jsonl(score_eval[0] / "dev_predictions.jsonl")
    assert [p["label"] for p in predicted] == [e["pred"] for e in evaluated]
    assert all(p["p_hate"] == pytest.approx(e["p_hate"], abs=1e-4) for p, e in zip(predicted, evaluated, strict=False))
    assert all("text" not in p for p in predicted)
    assert_no_post_text(prepared_data, out_file.read_text(), proc.stdout, proc.stderr)

    posts = posts_of(prepared_data, "dev")[:2]
    shown = run_main(["predict", "--adapter", str(trained_run), "--include-text", *posts])
    lines = [json.loads(line) for line in shown.stdout.splitlines()]
    assert [line["text"] for line in lines] == posts and [line["index"] for line in lines] == [0, 1]
    assert [line["label"] for line in lines] == [p["label"] for p in predicted[:2]]
    assert "deprecated" not in shown.stderr

    # the old spelling, a deprecated alias for one release: the same output, and one warning without post text
    old = run_main(["predict", "--adapter", str(trained_run), "--show-examples", *posts])
    assert old.stdout == shown.stdout
    warnings = [line for line in old.stderr.splitlines() if "deprecated" in line]
    assert warnings == ["warning: --show-examples is deprecated; use --include-text"]
    assert old.stderr.splitlines()[0] == warnings[0]
    assert_no_post_text(prepared_data, old.stderr)


def test_predict_from_csv_needs_a_text_column(trained_run, tmp_path):
    table = tmp_path / "posts.csv"
    table.write_text('id,body\n1,"first post, with a comma"\n2,second post\n')
    proc = run_main(["predict", "--adapter", str(trained_run), "--input", str(table)], check=False)
    assert proc.returncode == 2 and "--text-column" in proc.stderr
    proc = run_main(["predict", "--adapter", str(trained_run), "--input", str(table),
                    "--text-column", "body"])
    assert len(proc.stdout.splitlines()) == 2
    table.write_text("id,body\n1,\n")
    proc = run_main(["predict", "--adapter", str(trained_run), "--input", str(table),
                    "--text-column", "body"], check=False)
    assert proc.returncode == 2 and "posts.csv: line 2: empty 'body'" in proc.stderr


def test_default_output_is_the_run_dir_and_the_trainer_results_are_kept(trained_run, prepared_data, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(trained_run, run)
    trainer_file = (run / "eval_results.json").read_bytes()  # LLaMA-Factory's: eval_loss, eval_runtime, ...
    assert b"eval_loss" in trainer_file
    proc = run_main(["eval", "--adapter", str(run), "--data-dir", str(prepared_data), "--split", "test"])
    assert (run / "trainer_eval_results.json").read_bytes() == trainer_file
    assert "trainer_eval_results.json" in proc.stdout
    assert list(recorded_splits(run)) == ["test"]
    # a second evaluation merges with ours and leaves the kept trainer file alone
    run_main(["eval", "--adapter", str(run), "--data-dir", str(prepared_data), "--split", "dev"])
    assert list(recorded_splits(run)) == ["test", "dev"]
    assert (run / "trainer_eval_results.json").read_bytes() == trainer_file


@pytest.mark.parametrize("name, content, extra, message", [
    ("posts.txt", "first post\n\nthird post\n", [], "posts.txt:2: empty line"),
    ("posts.jsonl", '{"input": "a post"}\n{"text": "no input key"}\n', [],
     "posts.jsonl:2: no non-empty string under key 'input'"),
    ("posts.csv", "id,body\n1,a post\n", ["--text-column", "text"], "posts.csv: no column 'text' (columns: id, body)"),
    ("posts.xlsx", "binary", [], "unsupported input type '.xlsx'"),
])
def test_predict_bad_input_files_one_line_nothing_written(trained_run, tmp_path, name, content, extra, message):
    source = tmp_path / name
    source.write_text(content)
    out = tmp_path / "out.jsonl"
    proc = run_main(["predict", "--adapter", str(trained_run), "--input", str(source), *extra,
                    "--output", str(out)], check=False)
    assert proc.returncode == 2 and message in proc.stderr, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and not out.exists()


def test_predict_needs_posts_from_one_place(trained_run, tmp_path):
    proc = run_main(["predict", "--adapter", str(trained_run)], check=False)
    assert proc.returncode == 2 and "give posts as arguments or with --input FILE" in proc.stderr
    proc = run_main(["predict", "--adapter", str(trained_run), ""], check=False)
    assert proc.returncode == 2 and "TEXT argument 1 (index 0): the post is empty" in proc.stderr
