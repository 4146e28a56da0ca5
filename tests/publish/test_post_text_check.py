"""The staging check that no JSONL file going to the Hub holds a post: keys, and the values of predictions lines."""

import json

import pytest

from dynahate.core.errors import DynahateError
from dynahate.publish.post_text_check import check_no_post_text
from dynahate.testing.cli_refusal import MARKER

POST = f"the {MARKER} people should all be sent away from here, every last one of them"
GOOD = [
    {"id": "acl10001", "round": "2a", "matched": "acl10002", "groups": ["wom", "bla"], "gold": "hate",
     "pred": "not hate", "p_hate": 0.154},
    {"id": "acl10003", "gold": "not hate", "pred": None, "raw": "I cannot answer"},  # an invalid short answer
    {"id": "dynahate_test-7", "gold": "hate", "pred": "hate", "raw": "Hate."},
    {"id": "acl10004", "gold": "hate", "pred": None, "raw_length": 77, "raw_sha256": "0f" * 32},  # a long answer
    {"id": 12, "case_id": 3401, "functionality": "derog_neg_emote_h", "gold": "hate", "pred": "hate", "p_hate": 0.9},
]


def predictions_file(tmp_path, lines):
    path = tmp_path / "test_predictions.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    return path


def test_predictions_of_ids_codes_labels_and_short_answers_pass(tmp_path):
    path = predictions_file(tmp_path, GOOD)
    check_no_post_text({path.name: path}, {path.name})


@pytest.mark.parametrize(("bad", "key", "why"), [
    ({"raw": POST}, "raw", "character text"),  # a generated answer that quotes the post
    ({"raw": f"hate {MARKER} go away now"}, "raw", "a text of 5 words"),
    ({"id": f"{MARKER} are all the same"}, "id", "a text of 5 words"),  # a post in a swapped column
    ({"groups": ["wom", POST]}, "groups", "character text"),
    ({"functionality": {"text": MARKER}}, "functionality", "a JSON object"),
    ({"raw_sha256": POST}, "raw_sha256", "character text"),  # only a hex digest passes there
])
def test_a_predictions_value_that_could_quote_a_post_is_refused_unshown(tmp_path, bad, key, why):
    path = predictions_file(tmp_path, [*GOOD, {**GOOD[1], **bad}])
    with pytest.raises(DynahateError) as caught:
        check_no_post_text({path.name: path}, {path.name})
    message = str(caught.value)
    assert message.startswith(f"{path}:6: the value of key '{key}' is ") and why in message
    assert MARKER not in message and "\n" not in message
