"""Files publish writes in place of the run's (issue 23, item 8): a tokenizer_config.json that holds the chat
template itself (as transformers wrote it before chat_template.jinja) gets the dynahate template too."""

import json

from dynahate.publish.staging import tokenizer_config_text


def test_a_template_held_in_tokenizer_config_is_replaced_and_the_rest_kept(tmp_path):
    config = {"bos_token": "<|begin_of_text|>", "chat_template": "{{ llama3 }}", "model_max_length": 131072}
    text = json.dumps(config, indent=2) + "\n"
    (tmp_path / "tokenizer_config.json").write_text(text)
    staged = tokenizer_config_text(tmp_path, "{{ dynahate }}")
    assert json.loads(staged) == {**config, "chat_template": "{{ dynahate }}"}
    assert staged == text.replace('"{{ llama3 }}"', '"{{ dynahate }}"')


def test_a_tokenizer_config_without_a_template_is_staged_as_it_is(tmp_path):
    (tmp_path / "tokenizer_config.json").write_text('{"bos_token": "<|begin_of_text|>"}\n')
    assert tokenizer_config_text(tmp_path, "{{ dynahate }}") is None
