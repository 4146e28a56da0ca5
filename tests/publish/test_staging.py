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


def test_what_held_only_on_the_training_machine_is_left_out_of_the_staged_tokenizer_config(tmp_path):
    """As transformers 5 saves a tokenizer loaded from a local folder offline: nobody else could download it."""
    config = {"backend": "tokenizers", "bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>", "is_local": True,
              "local_files_only": True, "model_max_length": 131072, "tokenizer_class": "TokenizersBackend"}
    (tmp_path / "tokenizer_config.json").write_text(json.dumps(config, indent=2) + "\n")
    staged = tokenizer_config_text(tmp_path, "{{ dynahate }}")
    kept = {key: value for key, value in config.items() if key not in ("is_local", "local_files_only")}
    assert staged == json.dumps(kept, indent=2) + "\n"

    (tmp_path / "tokenizer_config.json").write_text(json.dumps({**config, "chat_template": "{{ llama3 }}"}))
    assert json.loads(tokenizer_config_text(tmp_path, "{{ dynahate }}")) == {**kept, "chat_template": "{{ dynahate }}"}
