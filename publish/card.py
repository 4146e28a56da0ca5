"""The model card (``README.md``) of a published adapter, rendered from a :class:`RunRecord`.

The card's text is the Markdown template ``model_card_template.md``, shipped with the package and
rendered by ``huggingface_hub``'s ``ModelCard.from_template``; this module only assembles what the
template shows (numbers, table rows, flags), each from the run's own files. The front matter comes
from ``ModelCardData`` and ``EvalResult`` (so the Hub and ``ModelCard.load`` read the ``model-index``);
evaluation splits that ``--force`` let through unverified are marked as such and left out of the
``model-index``. A ``hatecheck`` entry (``dynahate hatecheck``) gets its own section and, for the
official file only, ``model-index`` results for ``Paul/hatecheck``; the Dynahate test split is also
shown per round. With ``publish --collected-round FILE.round.json``, an "Adversarial rounds" section shows per
collected round its size, the error rates of the model it was collected against (from the summary ``dynahate
collect export`` wrote) and this adapter's accuracy on the round's test posts with a Wilson interval. With
``publish --compare-to``, a "Comparison with ..." section shows ``dynahate compare``'s
numbers against another adapter's evaluation, in ``comparison.json``'s and ``dynahate compare``'s own
words throughout (table, notes): A is the other adapter, B this one, the difference B - A. Values
reach Jinja as data, never as template source, so a value holding ``{{`` or ``{%`` is printed as
written; the card is Markdown, so nothing is HTML-escaped. The usage snippet builds the training
prompt from the plugin's prompt strings, and shows the staged chat template doing the same; tests
run both against LLaMA-Factory's template, token for token. It loads the base as training and
``dynahate eval`` did (4-bit NF4, bf16), and computes ``p_hate`` as score mode does (tests compare it
with the score engine's); the card says how each split's base was loaded (``model_loading``). Only
splits of the official Dynahate release (their posts' source blob id, recorded in their fingerprint,
is one ``dynahate prepare`` verifies) are named as ``--dataset-id`` in the ``model-index``; others
are shown under their own name, marked.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, cast

from dynahate.core.describe import describe_value, shown
from dynahate.core.errors import DynahateError
from dynahate.eval.compare.report import difference_text
from dynahate.eval.decision.calibration import NO_FIT, temperature_text
from dynahate.eval.hatecheck.data import CITATION as HATECHECK_CITATION
from dynahate.eval.hatecheck.data import HATECHECK_COMMIT, HATECHECK_REPO
from dynahate.eval.hatecheck.data import HUB_DATASET as HATECHECK_HUB
from dynahate.eval.hatecheck.data import LICENSE as HATECHECK_LICENSE
from dynahate.eval.hatecheck.results import PLOT_NAME, group_of
from dynahate.eval.hatecheck.results import SPLIT_NAME as HATECHECK
from dynahate.eval.predictions import PREDICTION_KEYS
from dynahate.plugin import prompts
from dynahate.plugin.eval_record import AUC_KEYS, PLOT_KINDS, RESULTS_NAME
from dynahate.plugin.labels import LABELS
from dynahate.plugin.metadata import group_problem, metadata_problem
from dynahate.plugin.round_summary import CollectedRound, RoundSummary
from dynahate.plugin.splits import result_names
from dynahate.publish.post_text_check import MAX_VALUE_CHARS, MAX_VALUE_WORDS
from dynahate.publish.run_record import RunRecord, describe_optimizer
from dynahate.publish.staging import CHAT_TEMPLATE

TEMPLATE = Path(__file__).resolve().parent / "model_card_template.md"
TAGS = ["llama-factory", "qlora", "peft", "lora", "hate-speech-detection", "text-classification"]
DEFAULT_LICENSE = "llama3.1"
DEFAULT_DATASET = "aps/dynahate"
PROMPT_START = "# --- prompt: exactly the prompt the adapter was trained on ---"
PROMPT_END = "# --- model ---"
SCORE_START = "# --- p_hate: as `dynahate eval --mode score` computes it ---"
SCORE_END = "# --- use ---"
TEMPLATE_ROW = ("LLaMA-Factory's `{template}` template with each example's system prompt and instruction (the "
                "staged chat template, `dynahate`, builds the same prompt from the post alone)")
GIT_BLOB = re.compile(r"[0-9a-f]{40}")
PLOT_TITLES = {"confusion_matrix": "confusion matrix", "roc": "ROC curve", "pr": "precision-recall curve",
               "reliability": "reliability diagram"}  # one per eval_record.PLOT_KINDS


def unofficial_reason(res: Mapping[str, Any]) -> str | None:
    """Why a split's posts are not shown to be the official Dynahate release's (None: they are): the git blob id
    of the CSV they came from, which ``dynahate eval`` records in the split's ``fingerprint`` from the
    ``prepare_report.json`` beside a prepared split, must be one ``dynahate prepare`` verifies (``KNOWN_BLOBS``)."""
    from dynahate.plugin.data.download import known_version

    fingerprint = res.get("fingerprint")
    if not isinstance(fingerprint, dict):
        return "its results record no fingerprint of the posts (written before `dynahate eval` recorded one)"
    if fingerprint.get("of") != "posts":
        return "scored from a predictions file, which does not say where its posts came from"
    blob = fingerprint.get("source_git_blob_sha1")
    if not isinstance(blob, str) or not blob:
        return ("its posts are not from a file `dynahate prepare` wrote from one CSV (a custom data file, or several "
                "CSVs prepared together)")
    if not GIT_BLOB.fullmatch(blob):
        return "its recorded source blob id is not a git blob id"
    if known_version(blob) is None:
        return f"its posts come from a CSV with git blob id `{blob}`, not a Dynahate release prepare recognises"
    return None


def unofficial_splits(record: RunRecord) -> dict[str, str]:
    """Split -> why it is not the official Dynahate data, for every evaluated split but HateCheck (its own check)."""
    return {split: why for split, res in (record.eval_results or {}).items()
            if split != HATECHECK and (why := unofficial_reason(res))}


def eval_result_entries(record: RunRecord, dataset_id: str, unverified: dict[str, str]) -> list[Any]:
    """The ``model-index`` entries: verified splits of the official data only (the others are in the body, marked);
    HateCheck's for its official file only."""
    from huggingface_hub import EvalResult

    unofficial = unofficial_splits(record)
    entries = []
    for split, res in (record.eval_results or {}).items():
        if split in unverified or split in unofficial:
            continue
        if split == HATECHECK:
            entries += _hatecheck_entries(res)
            continue
        metrics = [("accuracy", "Accuracy", res["accuracy"]), ("f1", "Macro-F1", res["macro_f1"])]
        if (roc_auc := res.get("roc_auc")) is not None:
            metrics.append(("roc_auc", "ROC-AUC", roc_auc))
        for metric_type, metric_name, value in metrics:
            entries.append(EvalResult(
                task_type="text-classification", task_name="Hate speech detection",
                dataset_type=dataset_id, dataset_name=f"Dynahate ({split})", dataset_split=split,
                metric_type=metric_type, metric_name=metric_name, metric_value=round(float(value), 4),
                metric_config="macro" if metric_type == "f1" else None,
            ))
    return entries


def _hatecheck_entries(res: Mapping[str, Any]) -> list[Any]:
    """HateCheck's ``model-index`` results (accuracy, macro-F1), only for the official file (verified blob id)."""
    from huggingface_hub import EvalResult

    if not (res.get("source") or {}).get("official"):
        return []
    return [EvalResult(task_type="text-classification", task_name="Hate speech detection", dataset_type=HATECHECK_HUB,
                       dataset_name="HateCheck", dataset_split="test", metric_type=metric_type,
                       metric_name=metric_name, metric_value=round(float(res[key]), 4),
                       metric_config="macro" if metric_type == "f1" else None)
            for metric_type, metric_name, key in (("accuracy", "Accuracy", "accuracy"), ("f1", "Macro-F1", "macro_f1"))]


def card_data(record: RunRecord, repo_id: str, license: str, dataset_id: str, unverified: dict[str, str],
              base_model: str | None = None, base_on_hub: bool = True) -> Any:
    """The front matter: ``ModelCardData`` with the verified splits' ``EvalResult`` entries; ``base_model`` is the
    Hub id published (``publish --base-model``), by default the run's own; left out when not ``base_on_hub``."""
    from huggingface_hub import ModelCardData

    base_model = (base_model or record.base_model) if base_on_hub else None

    results = eval_result_entries(record, dataset_id, unverified)
    datasets = ([dataset_id] if _trained_on_the_release(record) else []) + (
        [HATECHECK_HUB] if any(r.dataset_type == HATECHECK_HUB for r in results) else [])
    return ModelCardData(
        library_name="peft", base_model=base_model, license=license, tags=TAGS, datasets=datasets or None,
        language=["en"], pipeline_tag="text-generation", model_name=repo_id.split("/")[-1],
        eval_results=results or None,
    )


def _trained_on_the_release(record: RunRecord) -> bool:
    """False when ``prepare_report.json`` says the training data came from a CSV that is no Dynahate release
    (the synthetic demo sample): the front matter's ``datasets`` then does not name ``--dataset-id``."""
    from dynahate.plugin.data.download import known_version

    if not isinstance(record.prepare_report, dict):
        return True  # not known: the run's data is the release unless its report says otherwise
    blob = (record.prepare_report.get("source") or {}).get("git_blob_sha1")
    return isinstance(blob, str) and known_version(blob) is not None


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
            if key == "template":  # the recipe's LLaMA-Factory template, with the data's system prompt and instruction
                label, value = "prompt", TEMPLATE_ROW.format(template=value)
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
    skipped: Any = report.get("skipped")  # ``rows`` (the count) and ``by_kind`` (kind -> count)
    stated = isinstance(skipped, dict) and isinstance(skipped.get("rows"), int)
    return {
        "version": source.get("version"),
        "git_blob_sha1": source.get("git_blob_sha1", "?"),
        "files": _source_files(source),
        "splits": [{"name": split, "rows": counts.get("rows"),
                    "labels": [counts.get("labels", {}).get(label, 0) for label in LABELS]}
                   for split, counts in report.get("splits", {}).items()],
        "skipped": {"rows": skipped["rows"], "by_kind": list((skipped.get("by_kind") or {}).items())}
        if stated else None,
    }


def _source_files(source: Mapping[str, Any]) -> list[dict[str, Any]] | None:
    """Several CSVs prepared together (``prepare --csv A --csv B``): each one's name (when it is a short token; the
    folder is left out), release and blob id; None for one CSV."""
    files = source.get("files")
    if not isinstance(files, list):
        return None
    entries = [entry for entry in files if isinstance(entry, dict)]
    names = [Path(str(entry.get("path", ""))).name for entry in entries]
    return [{"name": name if shown(name) else None,
             "version": entry.get("version") if shown(entry.get("version")) else None,
             "git_blob_sha1": blob if isinstance(blob := entry.get("git_blob_sha1"), str) and GIT_BLOB.fullmatch(blob)
             else "?", "rows_read": entry.get("rows_read") if isinstance(entry.get("rows_read"), int) else "?"}
            for entry, name in zip(entries, names, strict=True)]


def _evaluation(record: RunRecord, files: set[str], unverified: dict[str, str],
                dataset_id: str = DEFAULT_DATASET) -> dict[str, Any] | None:
    """The evaluation table (numbers formatted as on the card), the modes used, and each split's plots."""
    results = {split: res for split, res in (record.eval_results or {}).items() if split != HATECHECK}
    if not results:
        return None
    hatecheck = (record.eval_results or {}).get(HATECHECK)
    unofficial = unofficial_splits(record)
    rows = [{"split": split, "unverified": split in unverified, "unofficial": split in unofficial,
             "mode": res["mode"], "examples": res["examples"],
             "invalid": res["invalid"], "accuracy": _fmt(res["accuracy"]), "macro_f1": _fmt(res["macro_f1"]),
             "roc_auc": _fmt(res.get("roc_auc")),
             "per_label": [(_fmt(res["precision"][label]), _fmt(res["recall"][label])) for label in LABELS]}
            for split, res in results.items()]
    plots = [(split, [{"title": PLOT_TITLES[kind], "file": f"{split}_{kind}.png"} for kind in PLOT_KINDS
                      if f"{split}_{kind}.png" in files]) for split in results]
    return {"rows": rows, "unverified": [(split, why) for split, why in unverified.items() if split in results],
            "unofficial": list(unofficial.items()), "dataset_id": dataset_id,
            "loading": _loading({**results, **({HATECHECK: hatecheck} if hatecheck else {})}),
            "modes": sorted({res["mode"] for res in results.values()}),
            "plots": [(split, shown) for split, shown in plots if shown],
            **_rounds(_test_split(results)), "decision": _decision(results)}


QUANTIZATIONS = {"bnb-4bit-nf4": "4-bit NF4 (bitsandbytes, double quantization), as in training"}
LOADING_UNKNOWN = ("not recorded (results written before `dynahate eval` recorded `model_loading`, or scored from a "
                   "predictions file); `dynahate eval` loads it in 4-bit NF4 unless run with `--no-quantize`")


def loading_text(loading: Any) -> str:
    """How the base was loaded for a split, from its ``model_loading`` record (``dynahate eval``)."""
    if not isinstance(loading, dict):
        return LOADING_UNKNOWN
    quantization = loading.get("quantization")
    if quantization is None:
        text = ("unquantized (`--no-quantize`), NOT as in training: the usage snippet's 4-bit base gives other "
                "answers for some posts")
    else:
        text = QUANTIZATIONS.get(quantization, f"quantized as {_code(quantization)}")
    text += f"; {_code(loading.get('dtype'))} on {_code(loading.get('device'))}"
    autocast = loading.get("autocast")
    return text + (f", forward passes under {_code(autocast)} autocast" if autocast else "")


def _code(value: Any) -> str:
    """A recorded token as Markdown code, or what it is when it is not one (never shown: it could be anything)."""
    return f"`{value}`" if shown(value) else describe_value(value)


def _loading(results: Mapping[str, Mapping[str, Any]]) -> list[dict[str, str]]:
    """How the base was loaded, per group of splits loaded the same way (all splits: "every split")."""
    groups: dict[str, list[str]] = {}
    for split, res in results.items():
        groups.setdefault(loading_text(res.get("model_loading")), []).append(split)
    if len(groups) == 1:
        return [{"splits": "every split", "text": next(iter(groups))}]
    return [{"splits": ", ".join(splits), "text": text} for text, splits in groups.items()]


def _test_split(results: Mapping[str, Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """The test split's results: ``test``, else ``dynahate_test`` (evaluated from ``dynahate_test.jsonl``)."""
    return next((results[name] for name in result_names("test") if isinstance(results.get(name), dict)), None)


def _interval(value: Any, span: list[float] | None) -> str:
    return _fmt(value) + (f" [{span[0]:.4f}, {span[1]:.4f}]" if span else "")


def _weakest_first(item: tuple[str, dict[str, Any]]) -> tuple[float, str]:
    known = [value for key, value in item[1].items() if key.endswith("_auc") and value is not None]
    return (min(known) if known else 2.0, item[0])


def _decision(results: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """The decision-ready figures ``dynahate eval`` recorded: every split's headline figures with their intervals,
    and for the test split its operating points, contrast pairs per round, bias AUCs by group and calibration."""
    headline = [{"split": split, "accuracy": _interval(res["accuracy"], res["intervals"]["accuracy"]),
                 "macro_f1": _interval(res["macro_f1"], res["intervals"]["macro_f1"]),
                 "roc_auc": _interval(res.get("roc_auc"), res["intervals"].get("roc_auc"))}
                for split, res in results.items() if isinstance(res.get("intervals"), dict)]
    test = _test_split(results) or {}
    spans = next((res["intervals"] for res in results.values() if isinstance(res.get("intervals"), dict)), {})
    points = [{"name": p["name"], "threshold": _fmt(p["threshold"]), "chosen_on": p["chosen_on"] or "fixed",
               **{key: _fmt(p[key]) for key in ("precision_hate", "recall_hate", "fpr", "accuracy", "macro_f1")}}
              for p in test.get("operating_points") or []]
    contrast = test.get("contrast") or {}
    rounds = [{"round": "all", **contrast}] if contrast.get("pairs") else []
    rounds += [{"round": name, **group} for name, group in (contrast.get("rounds") or {}).items()]
    for row in rounds:
        row["consistency"] = _fmt(row.get("consistency"))
    bias = test.get("bias") or {}
    groups = [{"name": name, "size": group["size"], **{key: _fmt(group[key]) for key in AUC_KEYS}}
              for name, group in sorted((bias.get("groups") or {}).items(), key=_weakest_first)]
    for name in (g["name"] for g in groups):
        if group_problem(name):
            raise DynahateError(f"{RESULTS_NAME}: the test split's bias names a group that is not a code "
                                f"({describe_value(name)}); re-run `dynahate eval`, which checks the metadata")
    calibration = test.get("calibration")
    return {
        "headline": headline, "confidence": f"{spans.get('confidence', 0.95) * 100:g}",
        "resamples": spans.get("resamples"), "seed": spans.get("seed"),
        "points": points, "contrast": rounds, "groups": groups,
        "bias_means": {key: _fmt(value) for key, value in (bias.get("generalized_mean") or {}).items()},
        "bias_min_examples": bias.get("min_examples"), "bias_power": bias.get("power"),
        "calibration": {"temperature": temperature_text(calibration["temperature"])
                        + ("" if calibration.get("meaningful", True) else f" ({NO_FIT})"), "ece": _fmt(test.get("ece")),
                        "ece_after": _fmt(calibration["ece"]), "brier": _fmt(test.get("brier")),
                        "brier_after": _fmt(calibration["brier"])} if calibration else None,
        "generate_only": bool(test) and test.get("mode") == "generate",
    }


def _rounds(res: Mapping[str, Any] | None) -> dict[str, Any]:
    """The test split per Dynahate round R1-R4, from the breakdowns ``dynahate eval`` computed; results written
    before ``round_group`` was recorded give the rounds as the data names them (1, 2a, 2b, ...), said so."""
    breakdowns = (res or {}).get("breakdowns") or {}
    by_round, grouped = breakdowns.get("round_group"), True
    if not by_round:
        by_round, grouped = breakdowns.get("round") or {}, False
    for name in by_round:
        if metadata_problem("round", name):
            raise DynahateError(f"{RESULTS_NAME}: the test split's breakdowns name a round that is not a code "
                                f"({describe_value(name)}); re-run `dynahate eval`, which checks the metadata")
    rows = [{"round": name, "examples": group["examples"], "accuracy": _fmt(group["accuracy"]),
             "macro_f1": _fmt(group["macro_f1"])} for name, group in by_round.items()]
    return {"rounds": rows, "rounds_grouped": grouped}


def _hatecheck(record: RunRecord, files: set[str], unverified: dict[str, str]) -> dict[str, Any] | None:
    """The HateCheck section: per functional test, the plot, the source (blob id, official or not)."""
    res = (record.eval_results or {}).get(HATECHECK)
    if not res:
        return None
    source = cast("dict[str, Any]", res.get("source") or {})  # HateCheck's: an object (blob id, official or not)
    return {"mode": res["mode"], "examples": res["examples"], "invalid": res["invalid"],
            "accuracy": _fmt(res["accuracy"]), "macro_f1": _fmt(res["macro_f1"]),
            "unverified": unverified.get(HATECHECK),
            "tests": [{"name": name, "group": group_of(name), "gold": test["gold"], "n": test["n"],
                       "accuracy": _fmt(test["accuracy"])} for name, test in res.get("functionalities", {}).items()],
            "plot": PLOT_NAME if PLOT_NAME in files else None,
            "official": bool(source.get("official")), "git_blob_sha1": source.get("git_blob_sha1", "?"),
            "repository": HATECHECK_REPO, "commit": HATECHECK_COMMIT, "license": HATECHECK_LICENSE,
            "citation": HATECHECK_CITATION, "hub": HATECHECK_HUB}


WILSON_CONFIDENCE = 0.95


def _accuracy_count(accuracy: float, n: int) -> int | None:
    """The posts right out of ``n``, ``round(accuracy * n)``, when that count reproduces the recorded accuracy to the
    digits it was recorded with (a full-precision float exactly, ``0.67`` for 2 of 3 to 2 decimals); None when no
    count of ``n`` posts does (the record is inconsistent)."""
    from decimal import Decimal

    correct = round(accuracy * n)
    exponent = Decimal(repr(accuracy)).as_tuple().exponent
    digits = max(-exponent, 0) if isinstance(exponent, int) else 17
    return correct if f"{correct / n:.{digits}f}" == f"{accuracy:.{digits}f}" else None


def wilson_interval(correct: int, n: int, confidence: float = WILSON_CONFIDENCE) -> tuple[float, float]:
    """The Wilson score interval of ``correct`` out of ``n`` (scipy's ``binomtest(...).proportion_ci``)."""
    from scipy.stats import binomtest

    interval = binomtest(correct, n).proportion_ci(confidence_level=confidence, method="wilson")
    return float(interval.low), float(interval.high)


def _collected_against(summary: RoundSummary, adapter_sha256: str | None) -> list[dict[str, Any]]:
    return [{"sha256": adapter["sha256"][:12], "repo_id": adapter["repo_id"],
             "commit": adapter["commit"][:12] if adapter["commit"] else None,
             "this": adapter["sha256"] == adapter_sha256} for adapter in summary["adapters"]]


def _collected_rounds(record: RunRecord, collected: Sequence[CollectedRound], adapter_sha256: str | None,
                      unverified: Mapping[str, str]) -> dict[str, Any] | None:
    """The "Adversarial rounds" section (``publish --collected-round``): per round its size, the error rates of the
    model it was collected against (its summary's figures) and this adapter's accuracy on its posts in the test
    split (``eval_results.json``'s ``round_group`` breakdown ``R<number>``) with a Wilson interval. A round given
    twice, a test split with no per-round breakdown, or a breakdown that cannot be this round's is refused."""
    if not collected:
        return None
    results = {split: res for split, res in (record.eval_results or {}).items() if split != HATECHECK}
    found = next(((name, results[name]) for name in result_names("test") if name in results), None)
    first = collected[0].path
    if found is None:
        raise DynahateError(f"--collected-round {first}: this run has no `dynahate eval` results on the test split "
                            f"in {record.eval_dir} to state this adapter's accuracy on the round; run `dynahate eval`")
    split, test = found
    by_round = (test.get("breakdowns") or {}).get("round_group")
    if not by_round:
        raise DynahateError(f"--collected-round {first}: the {split} split in {RESULTS_NAME} records no per-round "
                            "breakdown (`round_group`); re-run `dynahate eval` on the prepared split (its metadata "
                            "names each post's round)")
    seen: dict[int, Path] = {}
    rows = []
    for entry in collected:
        summary, number = entry.summary, entry.summary["round_number"]
        if number in seen:
            raise DynahateError(f"--collected-round {entry.path}: round {number} again (also {seen[number]}); give "
                                "each round once")
        seen[number] = entry.path
        figures, test_rows, group = summary["figures"], summary["splits"]["test"], entry.group
        accuracy = None
        if group in by_round:
            n, recorded = by_round[group]["examples"], by_round[group]["accuracy"]
            if n > test_rows:
                raise DynahateError(f"--collected-round {entry.path}: the {split} split's {group} holds {n} posts, "
                                    f"more than the {test_rows} this round exported to its test split: its {group} "
                                    "posts are not (only) this round's; give the summary of the export that was "
                                    "prepared")
            correct = _accuracy_count(recorded, n)
            if correct is None:
                raise DynahateError(f"{record.eval_dir / RESULTS_NAME}: the {split} split's "
                                    f"breakdowns.round_group.{group}.accuracy is "
                                    f"{recorded!r}, which no count of its {n} posts gives: inconsistent; re-run "
                                    "`dynahate eval`")
            low, high = wilson_interval(correct, n)
            accuracy = {"value": _fmt(recorded), "correct": correct, "n": n, "low": f"{low:.4f}",
                        "high": f"{high:.4f}"}
        adapters = _collected_against(summary, adapter_sha256)
        rows.append({
            "number": number, "group": group, "name": _code(summary["round"]), "file": _code(entry.path.name),
            "rows": summary["rows"], "splits": [summary["splits"][name] for name in ("train", "dev", "test")],
            "test_rows": test_rows, "include_unverified": summary["include_unverified"],
            "validate_all": summary["validate_all"], "votes_needed": summary["votes_needed"],
            "entries": figures["entries"], "fooled": figures["fooled"], "verified_fooled": figures["verified_fooled"],
            "error_rate": _fmt(figures["model_error_rate"]),
            "verified_error_rate": _fmt(figures["verified_model_error_rate"]),
            "adapters": adapters, "this_adapter": any(adapter["this"] for adapter in adapters),
            "accuracy": accuracy})
    return {"split": split, "unverified": split in unverified, "confidence": f"{WILSON_CONFIDENCE * 100:g}",
            "rows": rows}


COMPARISON_FILE = "comparison.json"


def _comparison(comparison: dict[str, Any] | None) -> dict[str, Any] | None:
    """The comparison section (``publish --compare-to``): per split both evaluations hold, the other adapter's
    numbers (A), this one's (B), B - A with its bootstrap interval, agreement, discordant posts, McNemar's p."""
    if not comparison:
        return None
    method = comparison["method"]
    rows = []
    for split, entry in comparison["splits"].items():
        f1 = entry.get("macro_f1")
        rows.append({"split": split, "n": entry["n"],
                     "accuracy": [_fmt(entry["accuracy"]["a"]), _fmt(entry["accuracy"]["b"]),
                                  difference_text(entry["accuracy"])],
                     "macro_f1": [_fmt(f1["a"]), _fmt(f1["b"]), difference_text(f1)] if f1 else ["n/a"] * 3,
                     "agreement": _fmt(entry["agreement"]),
                     "discordant": "{a_right_b_wrong} / {a_wrong_b_right}".format(**entry["discordant"]),
                     "mcnemar_p": f"{entry['mcnemar_p']:.4g}",
                     "invalid": f"{entry['invalid']['a']} / {entry['invalid']['b']}"})
    first = next(iter(comparison["splits"].values()))
    other = (first["a"].get("adapter") or {})
    parts = (("rounds", "per Dynahate round"), ("functionalities", "per HateCheck functional test"))
    details = [what for key, what in parts if any(entry.get(key) for entry in comparison["splits"].values())]
    same = [entry.get("posts", {}).get("same") for entry in comparison["splits"].values()]
    posts = "different" if False in same else "unproven" if None in same else "same"
    contrast = [{"split": split, "pairs": entry["contrast"]["pairs"],
                 "a": _fmt(entry["contrast"]["consistency"]["a"]), "b": _fmt(entry["contrast"]["consistency"]["b"]),
                 "difference": difference_text(entry["contrast"]["consistency"])}
                for split, entry in comparison["splits"].items() if (entry.get("contrast") or {}).get("consistency")]
    bpsn = [{"split": split, "group": name, "size": group["size"], "a": _fmt(group["bpsn_auc"]["a"]),
             "b": _fmt(group["bpsn_auc"]["b"]), "difference": difference_text(group["bpsn_auc"])}
            for split, entry in comparison["splits"].items()
            for name, group in ((entry.get("bias") or {}).get("groups") or {}).items() if group.get("bpsn_auc")]
    return {"name": comparison["a"]["name"], "file": COMPARISON_FILE, "rows": rows, "posts": posts,
            "contrast": contrast, "bpsn": bpsn,
            "details": " and ".join(details) or None,
            "other_sha256": other.get("sha256"), "other_commit": other.get("commit"),
            "resamples": method["resamples"], "seed": method["seed"], "confidence": f"{method['confidence'] * 100:g}",
            "notes": list(comparison.get("notes") or [])}


def card_context(record: RunRecord, repo_id: str, files: dict[str, int], unverified: dict[str, str],
                 comparison: dict[str, Any] | None = None, base_model: str | None = None,
                 base_on_hub: bool = True, dataset_id: str = DEFAULT_DATASET, *,
                 collected_rounds: Sequence[CollectedRound] = (), adapter_sha256: str | None = None) -> dict[str, Any]:
    """Everything the template shows, as data: strings, numbers, lists and flags."""
    base_model = base_model or record.base_model
    versions = dict(record.framework_versions)
    if record.adapter.get("peft_version"):
        versions.setdefault("PEFT", record.adapter["peft_version"])
    return {
        "model_name": repo_id.split("/")[-1],
        "base_model": base_model,
        "base_on_hub": base_on_hub,
        "labels": list(LABELS),
        "dataset": _dataset(record),
        "prompts": {"system_file": prompts.SYSTEM_FILE, "system_prompt": prompts.SYSTEM_PROMPT,
                    "instruction_file": prompts.INSTRUCTION_FILE, "instruction": prompts.INSTRUCTION},
        "training_rows": _training_rows(record),
        "recipe_name": record.recipe_path.name,
        "notes": list(record.notes),
        "versions": list(versions.items()),
        "evaluation": _evaluation(record, set(files), unverified, dataset_id),
        "hatecheck": _hatecheck(record, set(files), unverified),
        "collected_rounds": _collected_rounds(record, collected_rounds, adapter_sha256, unverified),
        "comparison": _comparison(comparison),
        "chat_template": CHAT_TEMPLATE if CHAT_TEMPLATE in files else None,
        # the usage snippet's Python literals (repr), and the markers prompt_code() cuts at
        "usage": {"prompt_start": PROMPT_START, "prompt_end": PROMPT_END, "score_start": SCORE_START,
                  "score_end": SCORE_END,
                  "system_prompt": repr(prompts.SYSTEM_PROMPT), "instruction": repr(prompts.INSTRUCTION),
                  "base_model": repr(base_model), "repo_id": repr(repo_id)},
        "files": [(name, size) for name, size in sorted(files.items()) if name != "README.md"],
        "prediction_keys": list(PREDICTION_KEYS),
        "max_value_chars": MAX_VALUE_CHARS, "max_value_words": MAX_VALUE_WORDS,
    }


def render_card(record: RunRecord, repo_id: str, files: dict[str, int], *, license: str = DEFAULT_LICENSE,
                dataset_id: str = DEFAULT_DATASET, unverified: dict[str, str] | None = None,
                comparison: dict[str, Any] | None = None, base_model: str | None = None,
                base_on_hub: bool = True, collected_rounds: Sequence[CollectedRound] = (),
                adapter_sha256: str | None = None) -> str:
    """Render the model card (the Hub repo's ``README.md``) of a run from ``model_card_template.md``.

    Args:
        record: what the run's own files say (``load_run_record``); every number on the card comes from it.
        repo_id: the Hub repo, ``USER/NAME``; its name is the card's title and the usage snippet loads it.
        files: staged file name -> size in bytes, listed in the card's Files table (``README.md`` excluded).
        license: the ``license`` of the front matter.
        dataset_id: the Hub dataset named in the front matter and in each ``model-index`` result.
        unverified: split -> why its results are not verified to be this adapter's (let through by
            ``--force``); those splits are marked on the card and left out of the ``model-index``.
        comparison: ``dynahate compare``'s result with the other adapter's evaluation as A and this run's as B
            (``publish --compare-to``): the card gains a "Comparison with ..." section naming ``comparison.json``.
        base_model: the base model's Hub id, in the front matter, the text and the usage snippet (``publish
            --base-model`` for a run trained from a local copy of its base); default: the run's own.
        base_on_hub: False for a local base with no Hub id (``publish --dry-run`` without ``--base-model``): the
            card names ``base_model`` (its folder's name) as text, with no Hub link and not in the front matter.
        collected_rounds: the read summaries of collected rounds (``publish --collected-round``): the card gains an
            "Adversarial rounds" section (none without them: the card is as before).
        adapter_sha256: the published adapter's SHA-256: a round collected against it is said to be.

    Returns:
        The card's full text: YAML front matter (``ModelCardData``), then the Markdown body.
    """
    from huggingface_hub import ModelCard

    unverified = unverified or {}
    data = card_data(record, repo_id, license, dataset_id, unverified, base_model, base_on_hub)
    card = ModelCard.from_template(data, template_path=str(TEMPLATE),
                                   **card_context(record, repo_id, files, unverified, comparison, base_model,
                                                  base_on_hub, dataset_id, collected_rounds=collected_rounds,
                                                  adapter_sha256=adapter_sha256))
    return str(card)


def prompt_code(card_text: str) -> str:
    """The self-contained prompt-building part of the card's usage snippet."""
    start, end = card_text.index(PROMPT_START), card_text.index(PROMPT_END)
    return card_text[start:end]


def score_code(card_text: str) -> str:
    """The card's ``p_hate(model, tokenizer, post)`` (it calls ``build_prompt``, of :func:`prompt_code`)."""
    start, end = card_text.index(SCORE_START), card_text.index(SCORE_END)
    return "import torch\n" + card_text[start:end]
