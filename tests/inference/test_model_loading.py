"""Model loading (4-bit as training loaded it) and generate mode, on the trained tiny adapter."""

import shutil

import pytest

from dynahate.core.errors import DynahateError
from dynahate.inference.generate_engine import GenerateEngine
from dynahate.inference.model_loading import load_adapter_model, read_adapter_config
from dynahate.inference.score_engine import ScoreEngine
from dynahate.plugin import prompts
from dynahate.plugin.labels import normalize_generation


def test_base_is_4bit_nf4_with_the_lora_layers_attached(loaded, trained_run):
    import bitsandbytes as bnb

    linear4 = [m for m in loaded.model.modules() if isinstance(m, bnb.nn.Linear4bit)]
    assert linear4, "no bitsandbytes 4-bit layers: the base was not quantized"
    assert {m.weight.quant_type for m in linear4} == {"nf4"}
    lora_names = {n for n, _ in loaded.model.named_parameters() if "lora_A" in n}
    assert lora_names, "no LoRA weights attached"
    assert loaded.quantized and loaded.base == read_adapter_config(trained_run)["base_model_name_or_path"]
    assert not loaded.model.training


def test_adapter_really_changes_the_model(loaded, dev_posts):
    import torch

    ids = torch.tensor([prompts.encode_prompt(loaded.tokenizer, dev_posts[0])])
    with torch.inference_mode():
        with_adapter = loaded.model(input_ids=ids).logits
        with loaded.model.disable_adapter():
            without = loaded.model(input_ids=ids).logits
    assert (with_adapter - without).abs().max() > 1e-2


def test_run_dir_and_base_errors(trained_run, tmp_path):
    with pytest.raises(DynahateError, match="run directory not found"):
        load_adapter_model(tmp_path / "nope")
    partial = tmp_path / "partial"
    partial.mkdir()
    (partial / "adapter_config.json").write_text("{}")
    with pytest.raises(DynahateError, match="adapter_model.safetensors"):
        load_adapter_model(partial)
    with pytest.raises(DynahateError, match="pass --force"):
        load_adapter_model(trained_run, base="meta-llama/Some-Other-Model")
    copy = tmp_path / "copy"
    shutil.copytree(trained_run, copy)
    (copy / "adapter_config.json").write_text("{not json")
    with pytest.raises(DynahateError, match="not valid JSON"):
        load_adapter_model(copy)


def test_generate_mode_answers_with_labels_and_agrees_with_score_mode(loaded, dev_posts):
    generated = GenerateEngine(loaded.model, loaded.tokenizer, progress=False).generate(dev_posts)
    scored = ScoreEngine(loaded.model, loaded.tokenizer, progress=False).score(dev_posts)
    assert all(g.pred == normalize_generation(g.raw) for g in generated)
    valid = [g for g in generated if g.pred is not None]
    assert len(valid) >= 0.9 * len(dev_posts), [g.raw for g in generated][:10]
    agreement = sum(g.pred == s.pred for g, s in zip(generated, scored, strict=False)) / len(dev_posts)
    print(f"generate vs score agreement on {len(dev_posts)} dev posts: {agreement:.3f}")
    assert agreement >= 0.95


def test_generate_is_independent_of_batch_size(loaded, dev_posts):
    one = GenerateEngine(loaded.model, loaded.tokenizer, batch_size=1, progress=False).generate(dev_posts[:12])
    eight = GenerateEngine(loaded.model, loaded.tokenizer, batch_size=8, progress=False).generate(dev_posts[:12])
    assert [r.pred for r in one] == [r.pred for r in eight]


def test_generate_cuts_overlong_prompts_like_cutoff_len(loaded, dev_posts):
    cutoff = len(prompts.encode_prompt(loaded.tokenizer, dev_posts[0]))
    engine = GenerateEngine(loaded.model, loaded.tokenizer, cutoff_len=cutoff, progress=False)
    long_post = dev_posts[0] + " " + " ".join(dev_posts[1:5])
    results = engine.generate([long_post, dev_posts[0]])
    assert engine.truncated == 1 and len(results) == 2
