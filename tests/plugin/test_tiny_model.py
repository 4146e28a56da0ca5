"""The tiny CPU model: Llama architecture, Llama 3.1's own tokenizer (128,256 tokens); its training overrides."""

import os
import subprocess
import sys
from pathlib import Path

from dynahate.plugin.tiny_model import TINY_TRAIN_OVERRIDES, llama3_special_tokens
from dynahate.testing.cli import REPO, run_main
from dynahate.testing.tokenizers import listed_added_tokens


def test_tiny_model_is_llama3_shaped_and_speaks_llama31_tokens(tiny_model):
    from transformers import AutoConfig, AutoTokenizer

    config = AutoConfig.from_pretrained(tiny_model)
    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    assert config.architectures == ["LlamaForCausalLM"] and config.vocab_size == len(tokenizer) == 128_256
    specials = llama3_special_tokens()
    assert len(specials) == 256 and specials[:2] == ["<|begin_of_text|>", "<|end_of_text|>"]
    assert specials[6:10] == ["<|start_header_id|>", "<|end_header_id|>", "<|eom_id|>", "<|eot_id|>"]
    # The special tokens sit at Llama 3.1's ids, after the 128,000 BPE ranks, each a single id.
    ids = [tokenizer.convert_tokens_to_ids(t) for t in specials]
    assert ids == list(range(128_000, 128_256))
    assert tokenizer.bos_token == "<|begin_of_text|>" and tokenizer.eos_token == "<|eot_id|>"
    assert config.bos_token_id == 128000 and set(config.eos_token_id) == {128001, 128008, 128009}
    text = "Ünïcode \x19 post\nwith 123 numbers 🙂"
    encoded = tokenizer.encode(text, add_special_tokens=False)
    assert tokenizer.decode(encoded) == text  # byte-level: every string round-trips
    assert tokenizer.encode("<|eot_id|>", add_special_tokens=False) == [tokenizer.eos_token_id]
    # the ids any Llama 3 tokenizer gives ("hello" 15339, " world" 1917): the real vocabulary
    assert tokenizer.encode("hello world", add_special_tokens=False) == [15339, 1917]
    # the added tokens listed in the config too, as tokenizer.json lists them (transformers' short load)
    in_config, in_tokenizer_json = listed_added_tokens(tiny_model)
    assert len(in_tokenizer_json) == 256 and in_config == in_tokenizer_json


def test_tiny_model_is_reproducible(tiny_model, tmp_path):
    from dynahate.plugin.tiny_model import build_tiny_model

    a, b = tiny_model, build_tiny_model(tmp_path / "b")  # the session's model and one built again
    assert (a / "tokenizer.json").read_bytes() == (b / "tokenizer.json").read_bytes()
    assert (a / "model.safetensors").read_bytes() == (b / "model.safetensors").read_bytes()


def test_the_training_overrides_are_printed_for_the_makefile():
    proc = run_main(["tiny-model", "--print-train-overrides"])
    assert proc.stdout == " ".join(TINY_TRAIN_OVERRIDES) + "\n"
    assert dict(o.split("=", 1) for o in TINY_TRAIN_OVERRIDES)["bf16"] == "false"  # CPU: no bf16
    missing = run_main(["tiny-model"], check=False)
    assert (missing.returncode == 2
            and missing.stderr == "error: pass OUT_DIR, the directory to write the tiny model to\n")


def test_make_demo_trains_with_the_overrides_defined_once():
    """``make -n demo`` prints the training command as make would run it: the overrides are those of the package."""
    venv = Path(sys.executable).parent.parent
    proc = subprocess.run(["make", "-n", "demo", f"VENV={venv}", "DEMO=/nonexistent/demo"], cwd=REPO,
                          capture_output=True, text=True, timeout=120, env={**os.environ, "MAKEFLAGS": ""})
    assert proc.returncode == 0, proc.stderr
    commands = proc.stdout.replace("\\\n", " ").splitlines()
    (train,) = [c for c in commands if "llamafactory-cli train recipes/dynahate_qlora.yaml" in c]
    assert train.split()[-len(TINY_TRAIN_OVERRIDES):] == list(TINY_TRAIN_OVERRIDES)
