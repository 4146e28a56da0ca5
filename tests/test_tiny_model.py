"""The tiny CPU model: Llama architecture, Llama 3 special tokens, byte-level BPE."""

from transformers import AutoConfig, AutoTokenizer

from dynahate.plugin.tiny_model import llama3_special_tokens


def test_tiny_model_is_llama3_shaped(tiny_model):
    config = AutoConfig.from_pretrained(tiny_model)
    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    assert config.architectures == ["LlamaForCausalLM"] and config.vocab_size == len(tokenizer)
    specials = llama3_special_tokens()
    assert len(specials) == 256 and specials[:2] == ["<|begin_of_text|>", "<|end_of_text|>"]
    assert specials[6:10] == ["<|start_header_id|>", "<|end_header_id|>", "<|eom_id|>", "<|eot_id|>"]
    # The special tokens come last, in the real order, each a single id.
    ids = [tokenizer.convert_tokens_to_ids(t) for t in specials]
    assert ids == list(range(len(tokenizer) - 256, len(tokenizer)))
    assert tokenizer.bos_token == "<|begin_of_text|>" and tokenizer.eos_token == "<|eot_id|>"
    text = "Ünïcode \x19 post\nwith 123 numbers"
    encoded = tokenizer.encode(text, add_special_tokens=False)
    assert tokenizer.decode(encoded) == text  # byte-level: every string round-trips
    assert tokenizer.encode("<|eot_id|>", add_special_tokens=False) == [tokenizer.eos_token_id]


def test_tiny_model_is_reproducible(tmp_path):
    from dynahate.plugin.tiny_model import build_tiny_model

    a, b = build_tiny_model(tmp_path / "a"), build_tiny_model(tmp_path / "b")
    assert (a / "tokenizer.json").read_bytes() == (b / "tokenizer.json").read_bytes()
    assert (a / "model.safetensors").read_bytes() == (b / "model.safetensors").read_bytes()
