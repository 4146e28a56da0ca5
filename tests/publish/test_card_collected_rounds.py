"""The card's "Adversarial rounds" section (issue 31, item 4: the verdict), from typed records, without training: per
collected round (``publish --collected-round FILE.round.json``) its size, the error rates of the model it was
collected against and this adapter's accuracy on the round's test posts with a Wilson interval, each figure the one
its source holds; the summary's reader refuses a bad file in one line naming it and the key, and publish then stages
nothing; without the flag the card is unchanged."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy.stats import binomtest

from dynahate.core.errors import DynahateError
from dynahate.plugin.eval_record import RESULTS_NAME, read_record, record_text
from dynahate.plugin.round_summary import MAX_BYTES, RoundSummary, read_round_summary, summary_text
from dynahate.publish.card import render_card, wilson_interval
from dynahate.publish.run_record import RunRecord, read_recipe
from dynahate.testing.cli import REPO, run_main
from dynahate.testing.cli_refusal import assert_refused
from dynahate.testing.records import split_results

RECIPE = REPO / "recipes" / "dynahate_qlora.yaml"
BASE = "meta-llama/Llama-3.1-8B-Instruct"
THEIRS = "a" * 64  # the adapter the round was collected against
OURS = "b" * 64  # the adapter this card publishes
R8 = {"examples": 7, "accuracy": 5 / 7, "macro_f1": 0.7}  # as eval records it: 5 of 7, a full float


def summary(**changes: Any) -> dict[str, Any]:
    """A round's summary as `dynahate collect export` writes it (its figures consistent with each other)."""
    figures = {"round": "8", "votes_needed": 3, "validate_all": False, "entries": 24, "fooled": 13,
               "verified_fooled": 11, "waiting": 1, "verified": 22, "rejected": 1, "not_queued": 0,
               "model_error_rate": 13 / 24, "verified_model_error_rate": 11 / 24, "vote_pairs": 66,
               "agreement": 65 / 66}
    data = {"round": "8", "round_number": 8, "votes_needed": 3, "validate_all": False, "seed": 42,
            "split": [80, 10, 10], "include_unverified": False, "rows": 22,
            "adapters": [{"sha256": THEIRS, "repo_id": "someone/adapter", "commit": "c" * 40}],
            "figures": figures, "splits": {"train": 14, "dev": 1, "test": 7}}
    data.update(changes)
    return data


def write_summary(folder: Path, data: dict[str, Any] | None = None, name: str = "round8") -> Path:
    path = folder / f"{name}.round.json"
    path.write_text(summary_text(RoundSummary(**(data or summary()))))  # export's own writer
    return path


def record_of(tmp_path: Path, round_groups: dict[str, Any] | None = None, *, sha256: str = OURS,
              split: str = "test") -> RunRecord:
    """A run whose test split (written by the record's writer, read by its reader) holds R2 and ``round_groups``."""
    groups = {"R2": {"examples": 21, "accuracy": 0.75, "macro_f1": 0.74}, **(round_groups or {"R8": R8})}
    res = split_results(examples=28, breakdowns={"round_group": groups},
                        adapter={"sha256": sha256, "base_model": BASE}, files=[])
    folder = tmp_path / "eval"
    folder.mkdir(exist_ok=True)
    (folder / RESULTS_NAME).write_text(record_text({split: res}))
    recipe = read_recipe(RECIPE)
    return RunRecord(tmp_path, {"base_model_name_or_path": BASE, "r": 8}, {}, {}, {}, {}, RECIPE,
                     {k: recipe[k] for k in ("quantization_bit", "quantization_method", "template")},
                     dict(read_record(folder / RESULTS_NAME).splits), folder, None)


def card(record: RunRecord, *paths: Path, sha256: str = OURS) -> str:
    return render_card(record, "me/x", {"adapter_model.safetensors": 1},
                       collected_rounds=[read_round_summary(path) for path in paths], adapter_sha256=sha256)


def section(text: str) -> str:
    start = text.index("## Adversarial rounds")
    return text[start:text.index("\n## ", start + 1)]


def test_every_figure_of_the_section_equals_its_source(tmp_path):
    path = write_summary(tmp_path)
    source = json.loads(path.read_text())
    record = record_of(tmp_path)
    group = record.eval_results["test"]["breakdowns"]["round_group"]["R8"]
    text = section(card(record, path))
    figures, splits = source["figures"], source["splits"]
    correct = round(group["accuracy"] * group["examples"])
    assert correct / group["examples"] == group["accuracy"]
    ci = binomtest(correct, group["examples"]).proportion_ci(confidence_level=0.95, method="wilson")
    expected = [
        f"### Round {source['round_number']} (R{source['round_number']})",
        f"- Summary: `{path.name}`, round `{source['round']}` of its database: {source['rows']} rows exported "
        f"(train / dev / test: {splits['train']} / {splits['dev']} / {splits['test']}), {splits['test']} of them in "
        "the test split; verified entries only. "
        f"{source['votes_needed']} matching votes (or one owner's) settled an entry; only the entries that fooled the "
        "model went to validation.",
        f"- Collected against: adapter `{THEIRS[:12]}...` ([someone/adapter](https://huggingface.co/someone/adapter) "
        f"@ `{'c' * 12}`).",
        f"- That model's error rate: {figures['model_error_rate']:.4f} ({figures['fooled']} of the "
        f"{figures['entries']} entries written against it fooled it); verified error rate: "
        f"{figures['verified_model_error_rate']:.4f} ({figures['verified_fooled']} of {figures['entries']}, counting "
        "only the errors validators confirmed).",
        f"- This adapter's accuracy on the round's posts in the test split (R8): {group['accuracy']:.4f} ({correct} "
        f"of {group['examples']} posts), 95 % Wilson interval [{ci.low:.4f}, {ci.high:.4f}].",
    ]
    for line in expected:
        assert f"\n{line}\n" in text, line
    assert "(this adapter)" not in text and "This adapter is the one" not in text
    assert "comparable only in kind" in text and "held-out test split of verified entries" in text
    # every number the section states is one of those above, or the confidence level
    stated = {float(n) for n in re.findall(r"(?<![\w.`-])\d+(?:\.\d+)?(?![\w`])", text)}
    sources = {source["round_number"], source["rows"], *splits.values(), source["votes_needed"], figures["entries"],
               figures["fooled"], figures["verified_fooled"], round(figures["model_error_rate"], 4),
               round(figures["verified_model_error_rate"], 4), round(group["accuracy"], 4), correct,
               group["examples"], round(ci.low, 4), round(ci.high, 4), 95, 1}  # 1: "(1 - accuracy)"
    assert stated <= {float(n) for n in sources}, stated - {float(n) for n in sources}


@pytest.mark.parametrize(("correct", "n"), [(0, 7), (5, 7), (7, 7), (1, 1), (130, 200)])
def test_the_wilson_interval_is_scipy_s(correct, n):
    ci = binomtest(correct, n).proportion_ci(confidence_level=0.95, method="wilson")
    assert wilson_interval(correct, n) == (ci.low, ci.high)
    low, high = wilson_interval(correct, n)
    assert 0 <= low <= correct / n <= high <= 1


def test_an_accuracy_recorded_to_fewer_digits_is_read_at_its_precision_and_one_no_count_gives_is_refused(tmp_path):
    path = write_summary(tmp_path)
    text = section(card(record_of(tmp_path, {"R8": {**R8, "accuracy": 0.7143}}), path))
    assert "0.7143 (5 of 7 posts)" in text
    with pytest.raises(DynahateError) as caught:
        card(record_of(tmp_path, {"R8": {**R8, "accuracy": 0.74}}), path)
    message = str(caught.value)
    assert "\n" not in message and "breakdowns.round_group.R8.accuracy is 0.74" in message
    assert "inconsistent" in message


def test_the_adapter_the_round_was_collected_against_is_said_to_be_this_one(tmp_path):
    path = write_summary(tmp_path)
    text = section(card(record_of(tmp_path, sha256=THEIRS), path, sha256=THEIRS))
    assert f"adapter `{THEIRS[:12]}...` ([someone/adapter]" in text and "(this adapter)." in text
    assert "**This adapter is the one the round was collected against**" in text
    assert "only the entries that fooled it went to validation" in text
    both = summary(adapters=[{"sha256": THEIRS, "repo_id": None, "commit": None},
                             {"sha256": OURS, "repo_id": None, "commit": None}])
    text = section(card(record_of(tmp_path), write_summary(tmp_path, both, "both"), sha256=OURS))
    assert f"adapter `{THEIRS[:12]}...`, adapter `{OURS[:12]}...` (this adapter)." in text


def test_a_round_not_in_the_evaluated_test_split_says_so(tmp_path):
    nine = write_summary(tmp_path, summary(round="9", round_number=9, figures={**summary()["figures"], "round": "9"}),
                         "round9")
    text = section(card(record_of(tmp_path), write_summary(tmp_path), nine))
    assert "### Round 8 (R8)" in text and "### Round 9 (R9)" in text
    assert ("- This adapter's accuracy on the round's test posts: not in the evaluated test split (the test split's "
            "breakdown has no R9).") in text
    assert text.count("Wilson interval [") == 1


def test_fewer_posts_evaluated_than_exported_are_said_and_more_are_refused(tmp_path):
    path = write_summary(tmp_path)
    text = section(card(record_of(tmp_path, {"R8": {**R8, "examples": 5, "accuracy": 0.6}}), path))
    assert "0.6000 (3 of 5 posts)" in text and "(the test split holds 5 of the 7 rows this round exported" in text
    with pytest.raises(DynahateError) as caught:
        card(record_of(tmp_path, {"R8": {**R8, "examples": 9, "accuracy": 5 / 9}}), path)
    assert f"--collected-round {path}: the test split's R8 holds 9 posts, more than the 7" in str(caught.value)


def test_a_round_given_twice_or_a_test_split_without_rounds_is_refused(tmp_path):
    path = write_summary(tmp_path)
    again = write_summary(tmp_path, name="again")
    with pytest.raises(DynahateError, match="round 8 again"):
        card(record_of(tmp_path), path, again)
    record = record_of(tmp_path)
    del record.eval_results["test"]["breakdowns"]
    with pytest.raises(DynahateError, match="records no per-round breakdown"):
        card(record, path)
    with pytest.raises(DynahateError, match="no `dynahate eval` results on the test split"):
        card(record_of(tmp_path, split="dev"), path)


def test_without_collected_rounds_the_card_is_the_card_with_the_section_left_out(tmp_path):
    record = record_of(tmp_path)
    plain = render_card(record, "me/x", {"adapter_model.safetensors": 1})
    assert "Adversarial rounds" not in plain
    assert plain == card(record) == render_card(record, "me/x", {"adapter_model.safetensors": 1},
                                                 adapter_sha256=OURS)
    full = card(record, write_summary(tmp_path))
    assert full.replace("\n\n" + section(full).rstrip("\n"), "") == plain


def test_the_section_names_only_what_card_py_gives_it_and_says_each_rule(tmp_path):
    """Rendered with Jinja's StrictUndefined (a misspelt name is an error, where the card's renderer prints nothing),
    the card is the same; each variant of a round (all entries validated, unverified rows, fewer posts evaluated,
    this adapter, not in the test split, the test split not verified) says its own words."""
    import jinja2

    from dynahate.publish.card import TEMPLATE, card_context, card_data

    nine = {"round": "9", "validate_all": True, "votes_needed": 1}
    variants = [summary(), summary(**nine, round_number=9, include_unverified=True,
                                   figures={**summary()["figures"], **nine})]
    paths = [write_summary(tmp_path, data, f"v{i}") for i, data in enumerate(variants)]
    record = record_of(tmp_path, {"R8": {**R8, "examples": 5, "accuracy": 0.6}})
    source = TEMPLATE.read_text(encoding="utf-8")
    for sha256, unverified in ((OURS, {}), (THEIRS, {"test": "computed on another adapter"})):
        collected = [read_round_summary(path) for path in paths]
        context = card_context(record, "me/x", {"a.bin": 1}, unverified, collected_rounds=collected,
                               adapter_sha256=sha256)
        data = card_data(record, "me/x", "llama3.1", "aps/dynahate", unverified)
        strict = jinja2.Template(source, undefined=jinja2.StrictUndefined).render(card_data=data.to_yaml(), **context)
        text = render_card(record, "me/x", {"a.bin": 1}, unverified=unverified, collected_rounds=collected,
                           adapter_sha256=sha256)
        assert text == strict
        said = section(text)
        assert "(the test split holds 5 of the 7 rows this round exported to its test split)" in said
        assert "; entries not verified included (exported with `--include-unverified`)." in said
        assert "1 matching vote (or one owner's) settled an entry; every entry went to validation" in said
        assert ("**This adapter is the one the round was collected against**." in said) == (sha256 == THEIRS)
        assert ("results are not verified to be this adapter's: see Evaluation" in said) == bool(unverified)


def test_the_verdict_with_compare_to_both_sections_from_eval_s_own_records(tmp_path):
    """The loop's last step: the previous adapter (A, the one round 8 was collected against) and the next (B) evaluated
    on a test split holding round 8 (eval's own writer and breakdowns); B's card with the comparison keeps the
    comparison as it was and adds the round, whose accuracy is the one eval computed for R8."""
    from dynahate.eval.compare.comparison import compare_evaluations
    from dynahate.testing.eval_folders import adapter, answers, posts, write_eval_folder

    items = posts(120, seed=5, rounds=("2a", "2b", "8a", "8b"))
    previous = write_eval_folder(tmp_path / "previous", {"test": answers(items, 0.6, seed=1)}, provenance=adapter("a"))
    following = write_eval_folder(tmp_path / "next", {"test": answers(items, 0.8, seed=2)}, provenance=adapter("b"))
    comparison = compare_evaluations(previous, following, resamples=200)
    results = dict(read_record(following / RESULTS_NAME).splits)
    group = results["test"]["breakdowns"]["round_group"]["R8"]
    n = group["examples"]
    figures = {**summary()["figures"], "entries": 200, "fooled": 100, "verified_fooled": 80, "waiting": 10,
               "verified": 160, "rejected": 10, "not_queued": 20, "model_error_rate": 0.5,
               "verified_model_error_rate": 0.4}
    assert n + 10 <= figures["verified"]
    path = write_summary(tmp_path, summary(rows=n + 10, splits={"train": 8, "dev": 2, "test": n}, figures=figures))
    recipe = read_recipe(RECIPE)
    record = RunRecord(tmp_path, {"base_model_name_or_path": "org/base", "r": 8}, {}, {}, {}, {}, RECIPE,
                       {k: recipe[k] for k in ("quantization_bit", "quantization_method", "template")}, results,
                       following, None)
    files = {"adapter_model.safetensors": 1}
    plain = render_card(record, "me/x", files, comparison=comparison, adapter_sha256="b" * 64)
    text = render_card(record, "me/x", files, comparison=comparison, adapter_sha256="b" * 64,
                       collected_rounds=[read_round_summary(path)])
    assert "## Comparison with previous" in plain and text.replace("\n\n" + section(text).rstrip("\n"), "") == plain
    correct = round(group["accuracy"] * n)
    assert correct / n == group["accuracy"]
    low, high = wilson_interval(correct, n)
    assert (f"- This adapter's accuracy on the round's posts in the test split (R8): {group['accuracy']:.4f} "
            f"({correct} of {n} posts), 95 % Wilson interval [{low:.4f}, {high:.4f}].") in section(text)
    assert f"adapter `{'a' * 12}...` ([someone/adapter]" in section(text) and "(this adapter)" not in text


# ---- the reader ------------------------------------------------------------------------------------------------


def _set(data: dict[str, Any], key: str, value: Any) -> dict[str, Any]:
    *parents, last = key.split(".")
    target: Any = data
    for part in parents:
        target = target[int(part)] if isinstance(target, list) else target[part]
    if value is _DELETE:
        del target[last]
    else:
        target[last] = value
    return data


_DELETE = object()
BAD = [
    ("rows", "22", "rows is the string '22', expected an integer >= 1"),
    ("round_number", 0, "round_number is 0, expected an integer >= 1 and <= 999999"),
    ("validate_all", 1, "validate_all is 1, expected true or false"),
    ("figures.entries", -1, "figures.entries is -1, expected an integer >= 0"),
    ("figures.fooled", 30, "figures.fooled is 30, more than figures.entries (24)"),
    ("figures.model_error_rate", 0.5, "figures.model_error_rate is 0.5, expected figures.fooled / figures.entries"),
    ("figures.verified_model_error_rate", 1.5, "figures.verified_model_error_rate is 1.5, expected a number in [0, 1]"),
    ("figures.agreement", None, "figures.agreement is null with 66 vote pairs"),
    ("figures.waiting", 2, "figures.waiting, verified, rejected and not_queued add up to 25, not figures.entries"),
    ("figures.round", "9", "figures.round is the string '9', not the round's round"),
    ("splits.test", 8, "splits add up to 23, not rows (22)"),
    ("split", [80, 10, 5], "split adds up to 95, not 100"),
    ("adapters.0.sha256", 123, "adapters[0].sha256 is 123, expected 64 lowercase hex digits"),
    ("adapters.0.repo_id", "not a repo", "adapters[0].repo_id is a 10-character value"),
    ("adapters", [], "adapters is a JSON array, expected a non-empty list"),
    ("round", "a post, perhaps", "round is a 15-character value, not shown"),
    ("figures", _DELETE, "has no 'figures'"),
    ("schema_version", 2, "written by a newer dynahate (round summary version 2"),
]


@pytest.mark.parametrize(("key", "value", "said"), BAD, ids=[key for key, _, _ in BAD])
def test_a_bad_summary_is_refused_in_one_line_naming_the_file_and_the_key(tmp_path, key, value, said):
    path = tmp_path / "r8.round.json"
    path.write_text(json.dumps(_set(summary(), key, value)))
    with pytest.raises(DynahateError) as caught:
        read_round_summary(path)
    message = str(caught.value)
    assert "\n" not in message and message.startswith(f"{path}: ") and said in message, message
    assert "a post, perhaps" not in message


@pytest.mark.parametrize(("text", "said"), [
    ('{"rows": NaN}', "NaN is not a number JSON allows"),
    ('{"rows": 1e999}', "a number too large for a float"),
    ("[1, 2]", "a JSON array, expected an object"),
    ('{"a": ' * 20 + "1" + "}" * 20, "nested more than 8 levels deep"),
    ("{", "not valid JSON"),
])
def test_a_file_that_is_no_summary_is_refused_in_one_line(tmp_path, text, said):
    path = tmp_path / "r8.round.json"
    path.write_text(text)
    with pytest.raises(DynahateError) as caught:
        read_round_summary(path)
    assert "\n" not in str(caught.value) and str(caught.value).startswith(f"{path}: ") and said in str(caught.value)


def test_a_huge_file_a_device_and_a_folder_are_refused_unread(tmp_path):
    huge = tmp_path / "huge.round.json"
    with open(huge, "wb") as handle:
        handle.truncate(50 * 1024 * 1024)
    zero = tmp_path / "zero.round.json"
    os.symlink("/dev/zero", zero)
    for path, said in ((huge, f"{50 * 1024 * 1024} bytes, more than a round's summary holds ({MAX_BYTES} at most)"),
                       (zero, "not a regular file"), (tmp_path, "a directory"),
                       (tmp_path / "missing.round.json", "not found")):
        with pytest.raises(DynahateError) as caught:
            read_round_summary(path)
        assert "\n" not in str(caught.value) and str(caught.value).startswith(f"{path}: ") and said in str(caught.value)


def test_the_writer_refuses_what_the_reader_would(tmp_path):
    with pytest.raises(DynahateError, match="figures.fooled is 30, more than figures.entries"):
        summary_text(RoundSummary(**_set(summary(), "figures.fooled", 30)))
    data = summary()
    assert read_round_summary(write_summary(tmp_path, data)).summary == {"schema_version": 1, **data}


# ---- through `dynahate publish` ----------------------------------------------------------------------------------


@pytest.fixture
def evaluated_run(tmp_path):
    """A hand-made run (peft's config, one tensor) with results recorded as `dynahate eval` records them for its
    adapter: no training."""
    from peft import LoraConfig
    from safetensors.numpy import save_file

    from dynahate.inference.model_loading import adapter_sha256

    run = tmp_path / "run"
    run.mkdir()
    config = LoraConfig(base_model_name_or_path=BASE, r=8, lora_alpha=16, target_modules=["q_proj"],
                        task_type="CAUSAL_LM").to_dict()
    config["target_modules"] = sorted(config["target_modules"])
    (run / "adapter_config.json").write_text(json.dumps(config, indent=2) + "\n")
    save_file({"base_model.model.layers.0.q_proj.lora_A.weight": np.zeros((8, 4), np.float32)},
              str(run / "adapter_model.safetensors"))
    res = split_results(examples=28, breakdowns={"round_group": {"R2": {**R8, "examples": 21, "accuracy": 0.75},
                                                                 "R8": R8}},
                        adapter={"sha256": adapter_sha256(run), "base_model": BASE}, files=[])
    (run / RESULTS_NAME).write_text(record_text({"test": res}))
    (run / "eval_metrics.txt").write_text("metrics\n")
    return run


def publish(run: Path, *args: str | Path, check: bool = True):
    return run_main(["publish", run, "--repo-id", "me/x", "--dry-run", "--data-dir", run.parent / "data", "--recipe",
                     RECIPE, "--stage-dir", run.parent / "stage", *args], cwd=run.parent, check=check)


def test_publish_collected_round_puts_the_section_on_the_staged_card_and_stages_no_summary(evaluated_run, tmp_path):
    path = write_summary(tmp_path)
    publish(evaluated_run, "--collected-round", path)
    staged = tmp_path / "stage"
    text = (staged / "README.md").read_text()
    assert "## Adversarial rounds" in text and "0.7143 (5 of 7 posts)" in text
    assert not list(staged.glob("*.round.json"))
    publish(evaluated_run)  # without it: no section
    assert "Adversarial rounds" not in (staged / "README.md").read_text()


@pytest.mark.parametrize("bad", ["nan", "negative", "huge", "device"])
def test_publish_refuses_a_bad_summary_in_one_line_and_stages_nothing(evaluated_run, tmp_path, bad):
    path = tmp_path / "r8.round.json"
    if bad == "nan":
        path.write_text(json.dumps(summary()).replace('"seed": 42', '"seed": NaN'))
        said = "NaN is not a number JSON allows"
    elif bad == "negative":
        path.write_text(json.dumps(_set(summary(), "figures.rejected", -1)))
        said = "figures.rejected is -1, expected an integer >= 0"
    elif bad == "huge":
        with open(path, "wb") as handle:
            handle.truncate(50 * 1024 * 1024)
        said = "more than a round's summary holds"
    else:
        os.symlink("/dev/zero", path)
        said = "not a regular file"
    line = assert_refused(publish(evaluated_run, "--collected-round", write_summary(tmp_path), "--collected-round",
                                  path, check=False), f"{path}: ", said)
    assert "Traceback" not in line and not (tmp_path / "stage").exists()
