"""A tiny Llama-3-architecture model with a byte-level BPE tokenizer, built locally in seconds.

It stands in for Meta-Llama-3.1-8B-Instruct wherever there is no GPU and no download: tests,
``make demo`` and the benchmarks. It has the Llama architecture (``LlamaForCausalLM``), the real
Llama 3 special tokens (``<|begin_of_text|>``, ``<|start_header_id|>``, ``<|eot_id|>``, ...) at
the end of the vocabulary as in Llama 3, a byte-level BPE trained in-process on the prompts and a
small English corpus, and random weights. It is a pipeline check: it knows nothing about hate.
Build one with ``dynahate tiny-model OUT_DIR``.

Two more definitions live here, each the one source of its kind: :data:`TINY_TRAIN_OVERRIDES`,
the ``llamafactory-cli train`` overrides with which the recipe trains this model on CPU so that it
answers with labels (``make demo``, the tests' ``trained_run``, the benchmarks; ``dynahate
tiny-model --print-train-overrides`` prints them for the Makefile), and :func:`llama31_8b_config`,
the shape of the model it stands in for (the GPU benchmarks build random weights of that shape).
"""

from __future__ import annotations

import json
from pathlib import Path

from typing import Any

from . import prompts
from .labels import LABELS

# `llamafactory-cli train recipes/dynahate_qlora.yaml` with these (plus model_name_or_path, output_dir and, outside
# a workspace, dataset_dir) trains the tiny model in about a minute on CPU until it answers with a label:
# fp32 (no bf16 on CPU), 60 optimizer steps at a learning rate a tiny random model needs, a log every 10 steps,
# one evaluation on the dev split halfway, and no checkpoint.
TINY_TRAIN_OVERRIDES: tuple[str, ...] = (
    "bf16=false", "max_steps=60", "learning_rate=5e-3", "logging_steps=10", "eval_steps=30", "save_steps=1000",
)

# The 256 Llama 3 special tokens in their real order (ids 128000..128255 in the real vocabulary).
_NAMED_SPECIALS = {
    0: "<|begin_of_text|>",
    1: "<|end_of_text|>",
    4: "<|finetune_right_pad_id|>",
    6: "<|start_header_id|>",
    7: "<|end_header_id|>",
    8: "<|eom_id|>",
    9: "<|eot_id|>",
    10: "<|python_tag|>",
}


def llama3_special_tokens() -> list[str]:
    """The 256 special tokens of the Llama 3 tokenizer, in id order."""
    tokens, reserved = [], 0
    for i in range(256):
        if i in _NAMED_SPECIALS:
            tokens.append(_NAMED_SPECIALS[i])
        else:
            tokens.append(f"<|reserved_special_token_{reserved}|>")
            reserved += 1
    return tokens


# Same split rule as the Llama 3 tokenizer's pre-tokenizer (contractions, letters, 1-3 digits, ...).
_LLAMA3_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)

# A Llama 3 style chat template so that apply_chat_template works on the tiny tokenizer.
_CHAT_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}"
    "{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' + message['content'] + '<|eot_id|>' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}"
)

_WORDS = (
    "the a an and or but not no yes is are was were be been it this that these those they them their we us our "
    "you your he she his her people group groups post posts social media online say said says think feel want "
    "should would could can will must never always all every some many most few more less good bad great awful "
    "love like hate hated hating dislike respect welcome support kind friendly rude nasty horrible lovely "
    "community neighbours country city world work school family friends women men children old young new "
    "immigrants refugees muslims jews christians gay trans black white asian disabled workers foreigners "
    "because when where what who why how if then than so very really just only also even still again "
    "classify label assistant helpful task respond strictly only with one word answer question system user"
)


def _training_corpus() -> list[str]:
    words = _WORDS.split()
    corpus = [prompts.INSTRUCTION, prompts.SYSTEM_PROMPT, *LABELS, "nothate", "not hate", "hate"]
    # Deterministic pseudo-sentences so that merges cover common English words and punctuation.
    for i in range(400):
        sentence = " ".join(words[(i * 7 + j * 13) % len(words)] for j in range(6 + i % 9))
        corpus.append(sentence.capitalize() + ".!?,"[i % 4] + f" {i % 1000}")
    # Chat turns: Llama 3 writes "\n\n" after every header, and its tokenizer has it as one token.
    corpus.extend(f"{role}\n\n{text}" for role in ("system", "user", "assistant") for text in corpus[:40])
    corpus.append("".join(chr(c) for c in range(32, 127)))
    return corpus


def build_tokenizer(vocab_size: int = 1024):
    """Train a byte-level BPE with the Llama 3 pre-tokenizer rule and append the special tokens."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(_LLAMA3_SPLIT), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator(_training_corpus(), trainer=trainer)
    bpe.add_special_tokens(llama3_special_tokens())
    return PreTrainedTokenizerFast(
        tokenizer_object=bpe,
        bos_token="<|begin_of_text|>",
        eos_token="<|eot_id|>",
        chat_template=_CHAT_TEMPLATE,
        model_max_length=131072,
        clean_up_tokenization_spaces=False,
    )


def llama31_8b_config(**extra: Any):
    """Meta-Llama-3.1-8B(-Instruct)'s architecture as a ``transformers.LlamaConfig``, no weights.

    Args:
        **extra: further ``LlamaConfig`` fields (token ids, ``torch_dtype``), or overrides.

    Returns:
        The config; the values are those of the model's published ``config.json``.
    """
    from transformers import LlamaConfig

    fields = dict(
        vocab_size=128256, hidden_size=4096, intermediate_size=14336, num_hidden_layers=32, num_attention_heads=32,
        num_key_value_heads=8, max_position_embeddings=131072, rms_norm_eps=1e-5, rope_theta=500000.0,
        rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                      "original_max_position_embeddings": 8192},
    )
    return LlamaConfig(**{**fields, **extra})


def build_tiny_model(
    out_dir: str | Path,
    *,
    hidden_size: int = 64,
    num_layers: int = 2,
    num_heads: int = 4,
    num_kv_heads: int = 2,
    intermediate_size: int = 128,
    lm_head_std: float = 0.3,
    seed: int = 0,
) -> Path:
    """Write a tiny random Llama 3 model and its tokenizer to ``out_dir``; return the path."""
    import torch
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

    out = Path(out_dir)
    tokenizer = build_tokenizer()
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=intermediate_size,
        num_hidden_layers=num_layers,
        num_attention_heads=num_heads,
        num_key_value_heads=num_kv_heads,
        max_position_embeddings=2048,
        rope_theta=500000.0,
        bos_token_id=tokenizer.convert_tokens_to_ids("<|begin_of_text|>"),
        eos_token_id=[tokenizer.convert_tokens_to_ids(t) for t in ("<|end_of_text|>", "<|eom_id|>", "<|eot_id|>")],
        tie_word_embeddings=False,
        torch_dtype="float32",
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    # With the default init (std 0.02) a 64-wide model cannot make any logit stand out, so a
    # LoRA adapter could never learn to answer with a label; a wider output layer lets it.
    with torch.no_grad():
        model.lm_head.weight.normal_(mean=0.0, std=lm_head_std)
    model.generation_config = GenerationConfig(
        bos_token_id=config.bos_token_id, eos_token_id=config.eos_token_id, do_sample=False
    )
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    (out / "TINY_MODEL.json").write_text(
        json.dumps({"note": "tiny random Llama-3-architecture model for pipeline checks, not a real model"}) + "\n"
    )
    return out
