"""The prompt builder, the prompt files and the label normalizer."""

import json

import pytest

from dynahate.plugin import prompts
from dynahate.plugin.labels import LABELS, label_from_csv, normalize_generation, normalize_gold
from dynahate.testing.cli import REPO

PLUGIN = REPO / "plugin"


def test_prompt_texts_are_the_original_ones():
    assert prompts.INSTRUCTION == (
        "You are a helpful Assistant. Your task is to classify the social media post as hate or not hate. Post:"
    )
    assert prompts.SYSTEM_PROMPT == "Strictly respond only with the label: 'hate' or 'not hate'."
    assert (PLUGIN / "dynahate_instruction_prompt.txt").read_text() == prompts.INSTRUCTION
    assert (PLUGIN / "dynahate_system_prompt.txt").read_text() == prompts.SYSTEM_PROMPT


def test_record_has_the_original_keys_order_and_serialisation():
    record = prompts.make_record('I\x19ll say "NA"', "not hate")
    assert list(record) == ["instruction", "input", "output", "system"]
    line = json.dumps(record)
    assert line.startswith('{"instruction": "You are a helpful Assistant.')
    assert '"input": "I\\u0019ll say \\"NA\\"", "output": "not hate", "system": "Strictly' in line


def test_prompt_layout_is_llama3_with_newline_join():
    text = prompts.build_prompt("a post")
    assert text == (
        "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n"
        f"{prompts.SYSTEM_PROMPT}<|eot_id|><|start_header_id|>user<|end_header_id|>\n\n"
        f"{prompts.INSTRUCTION}\na post<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"
    )
    assert text.startswith(prompts.shared_prefix())
    assert prompts.shared_prefix().endswith(prompts.INSTRUCTION + "\n")
    assert prompts.label_completion("hate") == "hate<|eot_id|>"


def test_empty_post_is_rejected():
    with pytest.raises(ValueError):
        prompts.build_prompt("")


@pytest.mark.parametrize(
    "text, expected",
    [
        ("hate", "hate"), ("not hate", "not hate"), ("Hate.", "hate"), ("not  hate", "not hate"),
        ("NOT HATE", "not hate"), ("  Not hate\n", "not hate"), ("nothate", "not hate"),
        ("hateful", None), ("", None), ("I cannot", None), ("not hateful", None),
        ("hate, not hate", "not hate"), ("label: hate", "hate"),
    ],
)
def test_generation_normalisation(text, expected):
    assert normalize_generation(text) == expected


def test_csv_and_gold_labels():
    assert LABELS == ("hate", "not hate")
    assert label_from_csv("nothate") == "not hate" and label_from_csv("hate") == "hate"
    with pytest.raises(KeyError):
        label_from_csv("Hate")
    assert normalize_gold("nothate") == "not hate" and normalize_gold("not hate") == "not hate"
    assert normalize_gold("offensive") is None
