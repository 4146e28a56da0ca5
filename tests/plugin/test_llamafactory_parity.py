"""Token-level parity: LLaMA-Factory's own data pipeline (alpaca converter + ``llama3`` template +
supervised processor) encodes every prepared record to exactly our prompt builder's ids."""

import json

import pytest

from dynahate.plugin import prompts
from dynahate.plugin.splits import data_file


@pytest.fixture(scope="module")
def lf_train_split(lf_workspace, tiny_model, tmp_path_factory, monkeypatch_module):
    from llamafactory.data import get_dataset, get_template_and_fix_tokenizer
    from llamafactory.hparams import get_train_args
    from llamafactory.model import load_tokenizer

    monkeypatch_module.chdir(lf_workspace)
    model_args, data_args, training_args, _, _ = get_train_args({
        "model_name_or_path": str(tiny_model), "stage": "sft", "do_train": True, "finetuning_type": "lora",
        "dataset_dir": ".", "dataset": "dynahate_train,dynahate_test", "template": "llama3", "cutoff_len": 1024,
        "output_dir": str(tmp_path_factory.mktemp("parity")), "report_to": "none", "overwrite_cache": True,
    })
    tokenizer = load_tokenizer(model_args)["tokenizer"]
    template = get_template_and_fix_tokenizer(tokenizer, data_args)
    module = get_dataset(template, model_args, data_args, training_args, stage="sft", tokenizer=tokenizer)
    records = [json.loads(line) for split in ("train", "test")
               for line in data_file(lf_workspace / "data", split).read_text().splitlines()]
    return tokenizer, module["train_dataset"], records


@pytest.fixture(scope="module")
def monkeypatch_module():
    mp = pytest.MonkeyPatch()
    yield mp
    mp.undo()


def test_every_record_encodes_identically(lf_train_split):
    tokenizer, dataset, records = lf_train_split
    assert len(dataset) == len(records) > 200
    for example, record in zip(dataset, records, strict=False):
        prompt_ids = prompts.encode_prompt(tokenizer, record["input"])
        label_ids = prompts.encode_label(tokenizer, record["output"])
        assert example["input_ids"] == prompt_ids + label_ids, record["input"]
        assert example["labels"] == [-100] * len(prompt_ids) + label_ids


def test_awkward_posts_are_covered(lf_train_split):
    _, _, records = lf_train_split
    inputs = {r["input"] for r in records}
    assert {"NA", "null", "  Pelnorites are lovely neighbours  "} & inputs
    assert any("\n" in text for text in inputs) and any("\x19" in text for text in inputs)


def test_label_ids_are_what_training_supervises(lf_train_split):
    tokenizer, _, _ = lf_train_split
    eot = tokenizer.convert_tokens_to_ids("<|eot_id|>")
    for label in ("hate", "not hate"):
        ids = prompts.encode_label(tokenizer, label)
        assert ids[-1] == eot and tokenizer.decode(ids[:-1]) == label
