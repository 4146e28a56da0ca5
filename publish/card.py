"""The model card (``README.md``) of a published adapter, rendered from a :class:`RunRecord`.

Front matter through ``huggingface_hub``'s ``ModelCardData`` and ``EvalResult`` (so the Hub and
``ModelCard.load`` read the ``model-index``); the body states only what the run's files say, each
number with its source; evaluation splits that ``--force`` let through unverified are marked as such
and left out of the ``model-index``. The usage snippet builds the training prompt from the plugin's prompt
strings; a test runs it against LLaMA-Factory's template, token for token.
"""

from __future__ import annotations

from typing import Any

from dynahate.eval.predictions import PREDICTION_KEYS
from dynahate.plugin import prompts
from dynahate.plugin.labels import LABELS

from .run_record import RunRecord, describe_optimizer

TAGS = ["llama-factory", "qlora", "peft", "lora", "hate-speech-detection", "text-classification"]
DEFAULT_LICENSE = "llama3.1"
DEFAULT_DATASET = "aps/dynahate"
PROMPT_START = "# --- prompt: exactly the prompt the adapter was trained on ---"
PROMPT_END = "# --- model ---"
PLOT_KINDS = (("confusion_matrix", "confusion matrix"), ("roc", "ROC curve"), ("pr", "precision-recall curve"),
              ("reliability", "reliability diagram"))


def eval_result_entries(record: RunRecord, dataset_id: str, unverified: dict[str, str]) -> list[Any]:
    """The ``model-index`` entries: verified splits only (unverified ones are in the body, marked)."""
    from huggingface_hub import EvalResult

    entries = []
    for split, res in (record.eval_results or {}).items():
        if split in unverified:
            continue
        metrics = [("accuracy", "Accuracy", res["accuracy"]), ("f1", "Macro-F1", res["macro_f1"])]
        if res.get("roc_auc") is not None:
            metrics.append(("roc_auc", "ROC-AUC", res["roc_auc"]))
        for metric_type, metric_name, value in metrics:
            entries.append(EvalResult(
                task_type="text-classification", task_name="Hate speech detection",
                dataset_type=dataset_id, dataset_name=f"Dynahate ({split})", dataset_split=split,
                metric_type=metric_type, metric_name=metric_name, metric_value=round(float(value), 4),
                metric_config="macro" if metric_type == "f1" else None,
            ))
    return entries


def card_data(record: RunRecord, repo_id: str, license: str, dataset_id: str, unverified: dict[str, str]) -> Any:
    from huggingface_hub import ModelCardData

    results = eval_result_entries(record, dataset_id, unverified)
    return ModelCardData(
        library_name="peft", base_model=record.base_model, license=license, tags=TAGS, datasets=[dataset_id],
        language=["en"], pipeline_tag="text-generation", model_name=repo_id.split("/")[-1],
        eval_results=results or None,
    )


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    return "n/a" if value is None else str(value)


def _training_rows(record: RunRecord) -> list[tuple[str, str, str]]:
    a, h, r, rp = record.adapter, record.hyperparameters, record.recipe, record.recipe_path.name
    rows = [
        ("LoRA rank / alpha / dropout", f"{a.get('r')} / {a.get('lora_alpha')} / {a.get('lora_dropout')}",
         "adapter_config.json"),
        ("LoRA target modules", ", ".join(sorted(a.get("target_modules") or [])), "adapter_config.json"),
        ("quantization", f"{r.get('quantization_bit', 'none')}-bit {r.get('quantization_method', '')}".strip(), rp),
    ]
    for label, key in (("micro-batch per device", "train_batch_size"),
                       ("gradient accumulation", "gradient_accumulation_steps"),
                       ("effective batch", "total_train_batch_size"), ("learning rate", "learning_rate"),
                       ("schedule", "lr_scheduler_type"), ("warmup", "lr_scheduler_warmup_ratio"),
                       ("warmup", "lr_scheduler_warmup_steps"), ("epochs", "num_epochs"),
                       ("steps", "training_steps"), ("optimizer", "optimizer"), ("seed", "seed")):
        if key in h:
            rows.append((label, describe_optimizer(h[key]) if key == "optimizer" else h[key], "Trainer (README.md)"))
    state = record.trainer_state
    if "global_step" in state:
        rows.append(("steps run / epochs run", f"{state['global_step']} / {_fmt(state.get('epoch'))}",
                     "trainer_state.json"))
    if h:  # transformers lists mixed_precision_training only when fp16/bf16 was on
        rows.append(("mixed precision", h.get("mixed_precision_training", "none (fp32)"), "Trainer (README.md)"))
    for label, key in (("cutoff length", "cutoff_len"), ("template", "template"), ("bf16", "bf16"),
                       ("train / eval data", "dataset")):
        if key in r and not (key == "bf16" and h):
            value = f"{r['dataset']} / {r.get('eval_dataset', '-')}" if key == "dataset" else r[key]
            rows.append((label, str(value), rp))
    for label, key in (("train runtime (s)", "train_runtime"), ("train samples/s", "train_samples_per_second"),
                       ("final train loss", "train_loss"), ("final eval loss", "eval_loss")):
        if key in record.all_results:
            rows.append((label, _fmt(record.all_results[key]), "all_results.json"))
    return rows


def _dataset_section(record: RunRecord) -> str:
    lines = ["## Dataset and prompting", ""]
    report = record.prepare_report
    if report:
        source = report.get("source", {})
        version = source.get("version") or "unrecognised version"
        lines += [f"Data: the Dynahate CSV ({version}, git blob `{source.get('git_blob_sha1', '?')}`), "
                  "converted by `dynahate prepare` (from its `prepare_report.json`):", "",
                  f"| split | posts | {' | '.join(LABELS)} |", "| --- | ---: | ---: | ---: |"]
        for split, counts in report.get("splits", {}).items():
            labels = counts.get("labels", {})
            per_label = " | ".join(str(labels.get(label, 0)) for label in LABELS)
            lines.append(f"| {split} | {counts.get('rows')} | {per_label} |")
        lines += ["", _skipped_line(report.get("skipped")), ""]
    else:
        lines += ["The prepare report was not available when this card was written, so split sizes are not stated.", ""]
    lines += [
        "Each post is one chat turn in LLaMA-Factory's `llama3` template; the instruction and the post are joined "
        "by a newline, and the answer is the label followed by `<|eot_id|>`.", "",
        f"- System prompt (`{prompts.SYSTEM_FILE}`): `{prompts.SYSTEM_PROMPT}`",
        f"- Instruction (`{prompts.INSTRUCTION_FILE}`): `{prompts.INSTRUCTION}`",
        f"- Labels: {', '.join(f'`{label}`' for label in LABELS)}", "",
    ]
    return "\n".join(lines)


def _skipped_line(skipped: Any) -> str:
    """prepare_report.json's ``skipped``: ``rows`` (the count) and ``by_kind`` (kind -> count)."""
    if not isinstance(skipped, dict) or not isinstance(skipped.get("rows"), int):
        return "The prepare report does not state how many rows were skipped."
    kinds = skipped.get("by_kind") or {}
    detail = f" ({', '.join(f'{kind}: {count}' for kind, count in kinds.items())})" if kinds else ""
    return f"Rows skipped by prepare: {skipped['rows']}{detail}."


def _unverified_lines(unverified: dict[str, str]) -> list[str]:
    if not unverified:
        return []
    return ["**Not verified to be this adapter's results** (published with `--force`; left out of the "
            "`model-index`):", "", *[f"- {split}: {why}." for split, why in unverified.items()], ""]


def _eval_section(record: RunRecord, files: set[str], unverified: dict[str, str]) -> str:
    if not record.eval_results:
        return "## Evaluation\n\nThis adapter was published without evaluation results.\n"
    method = {
        "score": "score mode: the log-likelihood of each label's tokens (then `<|eot_id|>`) after the training "
                 "prompt; the prediction is the likelier label and `p_hate` its softmax probability",
        "generate": "generate mode: greedy decoding of at most 4 tokens, `not hate` matched before `hate` "
                    "(case-insensitive), any other answer counted as invalid (wrong)",
    }
    lines = ["## Evaluation", "", "Computed by `dynahate eval` (files `eval_results.json`, `eval_metrics.txt`).", "",
             "| split | method | posts | invalid | accuracy | macro-F1 | ROC-AUC | "
             + " | ".join(f"P {label} | R {label}" for label in LABELS) + " |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for split, res in record.eval_results.items():
        p, rc = res["precision"], res["recall"]
        shown_split = f"{split} (not verified)" if split in unverified else split
        lines.append(f"| {shown_split} | {res['mode']} | {res['examples']} | {res['invalid']} | {_fmt(res['accuracy'])} | "
                     f"{_fmt(res['macro_f1'])} | {_fmt(res.get('roc_auc'))} | "
                     + " | ".join(f"{_fmt(p[label])} | {_fmt(rc[label])}" for label in LABELS) + " |")
    lines.append("")
    lines += _unverified_lines(unverified)
    for mode in sorted({res["mode"] for res in record.eval_results.values()}):
        lines.append(f"- {method.get(mode, mode)}.")
    lines.append("")
    for split in record.eval_results:
        shown = [f"![{split} {title}]({split}_{kind}.png)" for kind, title in PLOT_KINDS if f"{split}_{kind}.png" in files]
        if shown:
            lines += [f"Plots, {split}:", "", *shown, ""]
    return "\n".join(lines)


def usage_snippet(repo_id: str, base_model: str) -> str:
    """Python that builds the training prompt and classifies one post with this adapter."""
    return f'''```python
{PROMPT_START}
SYSTEM_PROMPT = {prompts.SYSTEM_PROMPT!r}
INSTRUCTION = {prompts.INSTRUCTION!r}


def build_prompt(post: str) -> str:
    # LLaMA-Factory's llama3 template: instruction and post joined by a newline
    turn = "<|start_header_id|>{{}}<|end_header_id|>\\n\\n{{}}<|eot_id|>"
    return ("<|begin_of_text|>" + turn.format("system", SYSTEM_PROMPT)
            + turn.format("user", INSTRUCTION + "\\n" + post)
            + "<|start_header_id|>assistant<|end_header_id|>\\n\\n")


{PROMPT_END}
import torch
from peft import PeftModel
from transformers import AutoModelForCausalLM, AutoTokenizer, BitsAndBytesConfig

quant = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                           bnb_4bit_compute_dtype=torch.bfloat16)
base = AutoModelForCausalLM.from_pretrained({base_model!r}, quantization_config=quant, device_map="auto")
model = PeftModel.from_pretrained(base, {repo_id!r}).eval()
tokenizer = AutoTokenizer.from_pretrained({repo_id!r})

inputs = tokenizer(build_prompt("a post to classify"), add_special_tokens=False, return_tensors="pt").to(model.device)
output = model.generate(**inputs, max_new_tokens=4, do_sample=False,
                        eos_token_id=tokenizer.convert_tokens_to_ids("<|eot_id|>"))
print(tokenizer.decode(output[0, inputs["input_ids"].shape[1]:], skip_special_tokens=True))  # hate / not hate
```'''


def render_card(record: RunRecord, repo_id: str, files: dict[str, int], *, license: str = DEFAULT_LICENSE,
                dataset_id: str = DEFAULT_DATASET, unverified: dict[str, str] | None = None) -> str:
    """The full README.md text: front matter, then the sections; ``unverified``: split -> why (``--force``)."""
    unverified = unverified or {}
    data = card_data(record, repo_id, license, dataset_id, unverified)
    rows = _training_rows(record)
    versions = dict(record.framework_versions)
    if record.adapter.get("peft_version"):
        versions.setdefault("PEFT", record.adapter["peft_version"])
    body = [
        f"# {repo_id.split('/')[-1]}", "",
        "> **Content warning**: this model was trained on, and classifies, hate speech.", "",
        f"A QLoRA adapter for [{record.base_model}](https://huggingface.co/{record.base_model}) that answers "
        "`hate` or `not hate` for a social media post, trained with LLaMA-Factory on the Dynahate dataset "
        "(Vidgen et al., ACL 2021) and published with dynahate-qlora. Every number below "
        "was read from the training run's own files; the source of each is named.", "",
        _dataset_section(record),
        "## Training configuration", "", "| setting | value | source |", "| --- | --- | --- |",
        *[f"| {label} | {value} | {source} |" for label, value, source in rows], "",
        f"Values whose source is `{record.recipe_path.name}` are as written in that recipe: LLaMA-Factory does not "
        "record them in the run directory, so an override given at launch would not show here.", "",
        *([f"Notes: {'; '.join(record.notes)}.", ""] if record.notes else []),
        "## Framework versions", "",
        *([f"- {name} {version}" for name, version in versions.items()] or ["Not recorded by the run."]), "",
        _eval_section(record, set(files), unverified),
        "## Usage", "",
        "Build the prompt exactly as below: the adapter was trained on this prompt and no other (Llama 3.1's own "
        "chat template adds a date block to the system turn, so do not use `apply_chat_template` with it).", "",
        usage_snippet(repo_id, record.base_model), "",
        "## Files", "", "| file | bytes |", "| --- | ---: |", "| `README.md` | this card |",
        *[f"| `{name}` | {size} |" for name, size in sorted(files.items()) if name != "README.md"], "",
        "## Responsible use and limitations", "",
        "- The model labels posts; it does not explain them. Use it to assist human moderators, not to replace them.",
        "- Dynahate is English and adversarially collected; accuracy on other platforms, dialects, languages and "
        "time periods is unknown and likely lower. Check errors by target group (`breakdowns` in "
        "`eval_results.json`) before deployment.",
        "- Reclaimed slurs, counter-speech and quotations of hate are known hard cases for hate speech classifiers.",
        "- The training data contains hate speech. This repository holds no posts: publish checked that every line "
        f"of the prediction files has no key but {', '.join(f'`{key}`' for key in PREDICTION_KEYS)} (the post's "
        "`acl.id`, gold and predicted label, and the probability or the model's answer of at most 4 tokens), and "
        "that any other JSONL file (LLaMA-Factory's training log) has only LLaMA-Factory's numeric logging keys.", "",
        "## Citations", "",
        "```bibtex",
        "@inproceedings{vidgen2021learning,",
        "  title={Learning from the Worst: Dynamically Generated Datasets to Improve Online Hate Detection},",
        "  author={Vidgen, Bertie and Thrush, Tristan and Waseem, Zeerak and Kiela, Douwe},",
        "  booktitle={Proceedings of ACL 2021}, year={2021}",
        "}",
        "@article{dubey2024llama3,",
        "  title={The Llama 3 Herd of Models}, author={{Llama Team, AI @ Meta}},",
        "  journal={arXiv preprint arXiv:2407.21783}, year={2024}",
        "}",
        "```", "",
    ]
    return f"---\n{data.to_yaml()}\n---\n\n" + "\n".join(body)


def prompt_code(card_text: str) -> str:
    """The self-contained prompt-building part of the card's usage snippet."""
    start, end = card_text.index(PROMPT_START), card_text.index(PROMPT_END)
    return card_text[start:end]

