"""The model card (``README.md``) of a published adapter, rendered from a :class:`RunRecord`.

The card's text is the Markdown template ``model_card_template.md``, shipped with the package and
rendered by ``huggingface_hub``'s ``ModelCard.from_template``; this module only assembles what the
template shows (numbers, table rows, flags), each from the run's own files. The front matter comes
from ``ModelCardData`` and ``EvalResult`` (so the Hub and ``ModelCard.load`` read the ``model-index``);
evaluation splits that ``--force`` let through unverified are marked as such and left out of the
``model-index``. Values reach Jinja as data, never as template source, so a value holding ``{{`` or
``{%`` is printed as written; the card is Markdown, so nothing is HTML-escaped. The usage snippet
builds the training prompt from the plugin's prompt strings; a test runs it against LLaMA-Factory's
template, token for token.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dynahate.eval.predictions import PREDICTION_KEYS
from dynahate.plugin import prompts
from dynahate.plugin.labels import LABELS

from .run_record import RunRecord, describe_optimizer

TEMPLATE = Path(__file__).resolve().parent / "model_card_template.md"
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
    """The front matter: ``ModelCardData`` with the verified splits' ``EvalResult`` entries."""
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


def _training_rows(record: RunRecord) -> list[dict[str, str]]:
    """The training table: setting, value, and the file (or record) the value was read from."""
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
    return [{"setting": setting, "value": value, "source": source} for setting, value, source in rows]


def _dataset(record: RunRecord) -> dict[str, Any] | None:
    """prepare_report.json's source, split sizes (per label, in ``LABELS`` order) and skipped rows; None without it."""
    report = record.prepare_report
    if not report:
        return None
    source = report.get("source", {})
    skipped = report.get("skipped")  # ``rows`` (the count) and ``by_kind`` (kind -> count)
    stated = isinstance(skipped, dict) and isinstance(skipped.get("rows"), int)
    return {
        "version": source.get("version"),
        "git_blob_sha1": source.get("git_blob_sha1", "?"),
        "splits": [{"name": split, "rows": counts.get("rows"),
                    "labels": [counts.get("labels", {}).get(label, 0) for label in LABELS]}
                   for split, counts in report.get("splits", {}).items()],
        "skipped": {"rows": skipped["rows"], "by_kind": list((skipped.get("by_kind") or {}).items())}
        if stated else None,
    }


def _evaluation(record: RunRecord, files: set[str], unverified: dict[str, str]) -> dict[str, Any] | None:
    """The evaluation table (numbers formatted as on the card), the modes used, and each split's plots."""
    if not record.eval_results:
        return None
    rows = [{"split": split, "unverified": split in unverified, "mode": res["mode"], "examples": res["examples"],
             "invalid": res["invalid"], "accuracy": _fmt(res["accuracy"]), "macro_f1": _fmt(res["macro_f1"]),
             "roc_auc": _fmt(res.get("roc_auc")),
             "per_label": [(_fmt(res["precision"][label]), _fmt(res["recall"][label])) for label in LABELS]}
            for split, res in record.eval_results.items()]
    plots = [(split, [{"title": title, "file": f"{split}_{kind}.png"} for kind, title in PLOT_KINDS
                      if f"{split}_{kind}.png" in files]) for split in record.eval_results]
    return {"rows": rows, "unverified": list(unverified.items()),
            "modes": sorted({res["mode"] for res in record.eval_results.values()}),
            "plots": [(split, shown) for split, shown in plots if shown]}


def card_context(record: RunRecord, repo_id: str, files: dict[str, int],
                 unverified: dict[str, str]) -> dict[str, Any]:
    """Everything the template shows, as data: strings, numbers, lists and flags."""
    versions = dict(record.framework_versions)
    if record.adapter.get("peft_version"):
        versions.setdefault("PEFT", record.adapter["peft_version"])
    return {
        "model_name": repo_id.split("/")[-1],
        "base_model": record.base_model,
        "labels": list(LABELS),
        "dataset": _dataset(record),
        "prompts": {"system_file": prompts.SYSTEM_FILE, "system_prompt": prompts.SYSTEM_PROMPT,
                    "instruction_file": prompts.INSTRUCTION_FILE, "instruction": prompts.INSTRUCTION},
        "training_rows": _training_rows(record),
        "recipe_name": record.recipe_path.name,
        "notes": list(record.notes),
        "versions": list(versions.items()),
        "evaluation": _evaluation(record, set(files), unverified),
        # the usage snippet's Python literals (repr), and the markers prompt_code() cuts at
        "usage": {"prompt_start": PROMPT_START, "prompt_end": PROMPT_END,
                  "system_prompt": repr(prompts.SYSTEM_PROMPT), "instruction": repr(prompts.INSTRUCTION),
                  "base_model": repr(record.base_model), "repo_id": repr(repo_id)},
        "files": [(name, size) for name, size in sorted(files.items()) if name != "README.md"],
        "prediction_keys": list(PREDICTION_KEYS),
    }


def render_card(record: RunRecord, repo_id: str, files: dict[str, int], *, license: str = DEFAULT_LICENSE,
                dataset_id: str = DEFAULT_DATASET, unverified: dict[str, str] | None = None) -> str:
    """Render the model card (the Hub repo's ``README.md``) of a run from ``model_card_template.md``.

    Args:
        record: what the run's own files say (``load_run_record``); every number on the card comes from it.
        repo_id: the Hub repo, ``USER/NAME``; its name is the card's title and the usage snippet loads it.
        files: staged file name -> size in bytes, listed in the card's Files table (``README.md`` excluded).
        license: the ``license`` of the front matter.
        dataset_id: the Hub dataset named in the front matter and in each ``model-index`` result.
        unverified: split -> why its results are not verified to be this adapter's (let through by
            ``--force``); those splits are marked on the card and left out of the ``model-index``.

    Returns:
        The card's full text: YAML front matter (``ModelCardData``), then the Markdown body.
    """
    from huggingface_hub import ModelCard

    unverified = unverified or {}
    data = card_data(record, repo_id, license, dataset_id, unverified)
    card = ModelCard.from_template(data, template_path=str(TEMPLATE),
                                   **card_context(record, repo_id, files, unverified))
    return str(card)


def prompt_code(card_text: str) -> str:
    """The self-contained prompt-building part of the card's usage snippet."""
    start, end = card_text.index(PROMPT_START), card_text.index(PROMPT_END)
    return card_text[start:end]
