"""The ``dynahate`` LLaMA-Factory template: the post alone encodes like ``llama3`` on the full record."""

import pytest

from dynahate.plugin import prompts
from dynahate.plugin.lf_template import TEMPLATE_NAME, register_dynahate_template
from dynahate.plugin.splits import data_file
from dynahate.testing.records import read_jsonl


@pytest.fixture(scope="module")
def templates(tiny_model, llama3_template):
    from llamafactory.data import get_template_and_fix_tokenizer
    from llamafactory.hparams import DataArguments
    from transformers import AutoTokenizer

    register_dynahate_template()
    assert register_dynahate_template() == TEMPLATE_NAME  # idempotent
    llama3_tok, llama3 = llama3_template
    dyn_tok = AutoTokenizer.from_pretrained(tiny_model)
    dynahate = get_template_and_fix_tokenizer(dyn_tok, DataArguments(template=TEMPLATE_NAME))
    return llama3, llama3_tok, dynahate, dyn_tok


def test_post_alone_equals_full_record(templates, prepared_data):
    llama3, llama3_tok, dynahate, dyn_tok = templates
    records = read_jsonl(data_file(prepared_data, "dev"))
    for record in records:
        full = [{"role": "user", "content": f"{record['instruction']}\n{record['input']}"},
                {"role": "assistant", "content": record["output"]}]
        post_only = [{"role": "user", "content": record["input"]}, {"role": "assistant", "content": record["output"]}]
        expected = llama3.encode_oneturn(llama3_tok, full, system=record["system"])
        assert dynahate.encode_oneturn(dyn_tok, post_only) == expected  # no system given: the default is ours
        assert expected[0] == prompts.encode_prompt(dyn_tok, record["input"])


def test_jinja_chat_template_sends_only_the_post(templates):
    _, _, _, dyn_tok = templates
    post = 'they call the Quelmari "neighbours"'
    rendered = dyn_tok.apply_chat_template([{"role": "user", "content": post}], tokenize=False,
                                           add_generation_prompt=True)
    assert rendered == prompts.build_prompt(post)


def test_dynahate_chat_template_is_the_jinja_llamafactory_writes(templates):
    """What publish stages as chat_template.jinja (issue 23, item 8): the Jinja LLaMA-Factory puts into a tokenizer
    for ``template: dynahate``, taken without changing the tokenizer it is given."""
    from dynahate.plugin.lf_template import dynahate_chat_template

    _, llama3_tok, _, dyn_tok = templates
    before = llama3_tok.chat_template
    assert dynahate_chat_template(llama3_tok) == dyn_tok.chat_template
    assert llama3_tok.chat_template == before
