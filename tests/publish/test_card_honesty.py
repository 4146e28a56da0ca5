"""What the card claims (issue 33, items 3 and 4): only the official Dynahate release is named as the dataset in the
``model-index``; the card says how the base was loaded for its numbers, and its snippet loads it that way and shows
``p_hate``; one name for the prompt template. On evaluations written by eval's own writer from made-up answers."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from dynahate.eval.fingerprint import fingerprint
from dynahate.plugin.data.download import DYNAHATE_V023_BLOB
from dynahate.plugin.eval_record import read_record
from dynahate.publish.card import render_card, score_code
from dynahate.publish.run_record import RunRecord, read_recipe
from dynahate.testing.cli import REPO
from dynahate.testing.eval_folders import adapter, answers, posts, write_eval_folder

RECIPE = REPO / "recipes" / "dynahate_qlora.yaml"
SYNTHETIC_BLOB = "1" * 40
LOADED_4BIT = {"quantization": "bnb-4bit-nf4", "dtype": "bfloat16", "device": "cuda", "autocast": "bfloat16"}


def of_posts(predictions, blob):
    return fingerprint(((p.id, f"post {p.id}") for p in predictions), source_git_blob_sha1=blob)


def record_of(tmp_path: Path, loading: dict | None = LOADED_4BIT) -> RunRecord:
    """Splits: the official test split, a dev split prepared from another CSV, a custom file ``hc`` (no prepare
    report beside it), and LLaMA-Factory's predictions scored as ``lf`` (a fingerprint of prompts)."""
    splits = {name: answers(posts(30, seed=i), 0.8, seed=i) for i, name in enumerate(("test", "dev", "hc", "lf"))}
    fingerprints = {"test": of_posts(splits["test"], DYNAHATE_V023_BLOB),
                    "dev": of_posts(splits["dev"], SYNTHETIC_BLOB), "hc": of_posts(splits["hc"], None),
                    "lf": fingerprint(((p.id, "prompt") for p in splits["lf"]), of="prompts")}
    folder = write_eval_folder(tmp_path / "eval", splits, provenance=adapter("a"), fingerprints=fingerprints)
    results = dict(read_record(folder / "eval_results.json").splits)
    for name in ("test", "dev", "hc"):
        if loading is not None:
            results[name]["model_loading"] = loading
    recipe = read_recipe(RECIPE)
    return RunRecord(tmp_path, {"base_model_name_or_path": "meta-llama/Llama-3.1-8B-Instruct", "r": 8}, {}, {}, {},
                     {}, RECIPE, {k: recipe[k] for k in ("quantization_bit", "quantization_method", "template")},
                     results, folder, None)


def card_of(record: RunRecord):
    from huggingface_hub import ModelCard

    return ModelCard(render_card(record, "me/x", {"adapter_model.safetensors": 1, "chat_template.jinja": 2}))


def test_only_the_official_release_is_named_as_the_dataset_in_the_model_index(tmp_path):
    card = card_of(record_of(tmp_path))
    indexed = {(r.dataset_type, r.dataset_name, r.dataset_split) for r in card.data.eval_results}
    assert indexed == {("aps/dynahate", "Dynahate (test)", "test")}
    assert "Dynahate (hc)" not in card.content and "Dynahate (dev)" not in card.content
    for split in ("dev", "hc", "lf"):  # in the body, under their own names, marked
        assert f"| {split} (not the official data) | generate | 30 |" in card.text
    assert "| test | generate | 30 |" in card.text
    assert f"- dev: its posts come from a CSV with git blob id `{SYNTHETIC_BLOB}`, not a Dynahate release" in card.text
    assert "- hc: its posts are not from a file `dynahate prepare` wrote" in card.text
    assert "- lf: scored from a predictions file" in card.text


def test_no_official_split_leaves_the_model_index_out(tmp_path):
    record = record_of(tmp_path)
    del record.eval_results["test"]
    assert not card_of(record).data.eval_results


def test_training_data_from_no_release_is_not_named_as_the_dataset(tmp_path):
    record = record_of(tmp_path)
    assert card_of(record).data.datasets == ["aps/dynahate"]  # no prepare report: not known otherwise
    record.prepare_report = {"source": {"git_blob_sha1": DYNAHATE_V023_BLOB, "version": "v0.2.3"}}
    assert card_of(record).data.datasets == ["aps/dynahate"]
    record.prepare_report = {"source": {"git_blob_sha1": SYNTHETIC_BLOB, "version": None}}  # the demo's sample
    assert card_of(record).data.datasets is None


def test_the_card_says_how_the_base_was_loaded_for_its_numbers(tmp_path):
    text = card_of(record_of(tmp_path)).text
    assert ("- test, dev, hc: 4-bit NF4 (bitsandbytes, double quantization), as in training; `bfloat16` on `cuda`, "
            "forward passes under `bfloat16` autocast.") in text
    assert "- lf: not recorded (results written before `dynahate eval` recorded `model_loading`" in text
    unquantized = {"quantization": None, "dtype": "bfloat16", "device": "cuda", "autocast": "bfloat16"}
    record = record_of(tmp_path / "u", unquantized)
    del record.eval_results["lf"]
    assert ("The answers depend on how the base model was loaded: for every split, unquantized (`--no-quantize`), "
            "NOT as in training") in card_of(record).text


def test_the_snippet_loads_the_base_as_evaluation_did_and_shows_p_hate(tmp_path):
    import torch

    from dynahate.inference.model_loading import bnb_4bit_config

    text = card_of(record_of(tmp_path)).text
    quant = re.search(r"^quant = BitsAndBytesConfig\(.*?\)\n", text, re.M | re.S).group(0)
    namespace: dict = {}
    exec("import torch\nfrom transformers import BitsAndBytesConfig\n" + quant, namespace)
    assert namespace["quant"].to_dict() == bnb_4bit_config(torch.bfloat16).to_dict()
    assert 'dtype=torch.bfloat16, device_map="auto")' in text.split("base = AutoModelForCausalLM.from_pretrained(")[1]
    assert "def p_hate(model, tokenizer, post: str) -> float:" in score_code(text)
    assert "print(p_hate(model, tokenizer, post))" in text


def test_the_prompt_template_is_named_once_and_correctly(tmp_path):
    text = card_of(record_of(tmp_path)).text
    assert "| template | llama3 |" not in text
    assert ("| prompt | LLaMA-Factory's `llama3` template with each example's system prompt and instruction (the "
            "staged chat template, `dynahate`, builds the same prompt from the post alone) | dynahate_qlora.yaml |"
            ) in text


@pytest.mark.parametrize("value", ["a post that says something hateful about a group", "x" * 30])
def test_a_recorded_loading_value_that_is_not_a_token_is_not_shown(tmp_path, value):
    text = card_of(record_of(tmp_path, {**LOADED_4BIT, "device": value})).text
    assert value not in text and "-character value, not shown" in text


def test_data_prepared_from_several_csvs_is_named_file_by_file_and_not_as_the_release(tmp_path):
    """``prepare --csv release.csv --csv round8.csv``: the set has no blob id of its own, even with the release in
    it; the card names each file (never its folder) and does not name the set as the dataset."""
    record = record_of(tmp_path)
    single = card_of(record).text
    assert "Data: the Dynahate CSV (unrecognised version, git blob `None`)" not in single
    files = [{"path": "/home/me/data/dynahate_v0.2.3.csv", "git_blob_sha1": DYNAHATE_V023_BLOB, "version": "v0.2.3",
              "rows_read": 41144},
             {"path": "/home/me/Round 8 export.csv", "git_blob_sha1": SYNTHETIC_BLOB, "version": None, "rows_read": 60}]
    record.prepare_report = {"source": {"git_blob_sha1": None, "version": None, "rows_read": 41204, "files": files},
                             "splits": {"train": {"rows": 3, "labels": {"hate": 2, "not hate": 1}}}}
    card = card_of(record)
    assert card.data.datasets is None
    assert ("Data: 2 CSV files converted together by `dynahate prepare` into one set of splits, each row in its own "
            "file's split (from its `prepare_report.json`; together they are not a Dynahate release): "
            f"`dynahate_v0.2.3.csv` (v0.2.3, git blob `{DYNAHATE_V023_BLOB}`, 41144 rows); a file (unrecognised "
            f"version, git blob `{SYNTHETIC_BLOB}`, 60 rows):\n\n| split | posts |") in card.text
    assert "/home/me" not in card.text and "Round 8" not in card.text
    record.prepare_report = {"source": {"git_blob_sha1": DYNAHATE_V023_BLOB, "version": "v0.2.3"}, "splits": {}}
    assert f"Data: the Dynahate CSV (v0.2.3, git blob `{DYNAHATE_V023_BLOB}`), converted by" in card_of(record).text
