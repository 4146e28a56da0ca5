"""Every recipe is valid for LLaMA-Factory 0.9.5 (its own parsers), the exact recipe is the original
table, the fast and multi-GPU recipes solve its optimisation problem, every header says how to use its
file with commands that work here, and the predict and merge recipes run for real."""

import functools
import inspect
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from dynahate.plugin import prompts
from dynahate.plugin.splits import data_file
from dynahate.testing.cli import OFFLINE_ENV, RECIPE, REPO, cli_path, run_cli
from dynahate.testing.records import read_jsonl

RECIPES = REPO / "recipes"
FSDP_CONFIG = RECIPES / "accelerate" / "fsdp_qlora.yaml"
TRAIN_RECIPES = ["dynahate_qlora.yaml", "dynahate_qlora_fast.yaml", "dynahate_qlora_multigpu.yaml"]
ALL_YAMLS = [*TRAIN_RECIPES, "dynahate_predict.yaml", "dynahate_merge.yaml", "accelerate/fsdp_qlora.yaml"]
GPUS_IN_RECIPE = {"dynahate_qlora.yaml": 1, "dynahate_qlora_fast.yaml": 1, "dynahate_qlora_multigpu.yaml": 4}
SAME_PROBLEM = ["model_name_or_path", "quantization_bit", "quantization_method", "stage", "finetuning_type",
                "lora_rank", "lora_alpha", "lora_dropout", "lora_target", "dataset", "eval_dataset", "dataset_dir",
                "template", "cutoff_len", "learning_rate", "num_train_epochs", "lr_scheduler_type", "warmup_ratio",
                "optim", "bf16", "eval_steps", "save_steps"]
# The original run's hyperparameters (the exact recipe must equal them).
ORIGINAL = {
    "model_name_or_path": "meta-llama/Meta-Llama-3.1-8B-Instruct",
    "quantization_bit": 4, "quantization_method": "bnb",
    "stage": "sft", "do_train": True, "finetuning_type": "lora",
    "lora_rank": 8, "lora_alpha": 16, "lora_dropout": 0.05, "lora_target": "all",
    "gradient_checkpointing": True,
    "dataset": "dynahate_train", "eval_dataset": "dynahate_dev", "template": "llama3", "cutoff_len": 1024,
    "per_device_train_batch_size": 3, "gradient_accumulation_steps": 8, "learning_rate": 2.0e-5,
    "num_train_epochs": 3.0, "lr_scheduler_type": "cosine", "warmup_ratio": 0.1, "optim": "paged_adamw_32bit",
    "bf16": True, "eval_strategy": "steps", "eval_steps": 500, "save_steps": 500, "report_to": "none",
    "dataset_dir": ".", "per_device_eval_batch_size": 1,
}
HEADER_MAX_LINES = 20  # purpose, prerequisite, launch, override, limits: torchtune's dozen lines or so


def load(name: str) -> dict:
    return yaml.safe_load((RECIPES / name).read_text())


def header(name: str) -> list[str]:
    """The comment lines above the first YAML line (and above the first ``###`` block)."""
    lines = []
    for line in (RECIPES / name).read_text().splitlines():
        if not line.startswith("#") or line.startswith("###"):
            break
        lines.append(line)
    return lines


def header_commands(name: str) -> list[list[str]]:
    """The commands a header shows (lines indented by three spaces after ``#``), as argv lists.

    A trailing ``# or: COMMAND`` comment is a command too; other trailing comments are dropped.
    """
    commands, pending = [], ""
    for line in header(name):
        if not line.startswith("#   ") and not pending:
            continue
        text = pending + line[1:].strip()
        if text.endswith("\\"):
            pending = text[:-1] + " "
            continue
        pending = ""
        command, _, comment = text.partition("  # ")
        commands.append(shlex.split(command))
        if comment.strip().startswith("or: "):
            commands.append(shlex.split(comment.strip()[4:]))
    assert not pending, f"{name}: a header command ends with a line continuation"
    return commands


def test_every_recipe_file_is_covered():
    yamls = {str(p.relative_to(RECIPES)) for p in RECIPES.rglob("*.yaml")}
    assert yamls == set(ALL_YAMLS)


@pytest.mark.parametrize("name", ALL_YAMLS)
def test_recipe_header_says_how_to_use_it(name):
    lines = header(name)
    text = "\n".join(lines)
    assert 8 <= len(lines) <= HEADER_MAX_LINES, (name, len(lines))
    for part in ("Prerequisite", "Launch", "Override", "Limits"):
        assert f"\n# {part}" in text, (name, part)
    commands = header_commands(name)
    assert any(f"recipes/{name}" in command for command in commands), name  # launches its own file
    overrides = [arg for command in commands for arg in command if "=" in arg and arg.split("=")[0].islower()]
    assert overrides, name  # an override example in LLaMA-Factory's key=value syntax
    if name == "dynahate_qlora.yaml":
        assert "dynahate prepare" in text and "output_dir=" in text


READS_POSTS = ["dynahate_qlora.yaml", "dynahate_qlora_fast.yaml", "dynahate_qlora_multigpu.yaml",
               "dynahate_predict.yaml"]


def test_every_recipe_that_reads_posts_says_llamafactory_prints_one():
    """LLaMA-Factory 0.9.5 prints the first example of each dataset it tokenizes, decoded, on the main process with
    no setting to stop it (its source, below; a real log in tests/plugin/test_train_integration.py): every recipe
    that reads a split says so in its header, and points to docs/safety.md, which says so too."""
    from llamafactory.data import loader

    source = inspect.getsource(loader._get_preprocessed_dataset)
    assert "if training_args.should_log:" in source and "print_data_example(" in source  # no option of its own
    assert READS_POSTS == [name for name in ALL_YAMLS if {"dataset", "eval_dataset"} & set(load(name))]
    for name in READS_POSTS:
        text = " ".join(line[1:].strip() for line in header(name))
        assert "post text included, on stdout" in text and "no setting of 0.9.5 turns that off" in text, name
        assert "keep the log as private as the data (docs/safety.md)" in text, name
    safety = " ".join((REPO / "docs" / "safety.md").read_text().split())
    assert "`llamafactory-cli train`** prints the first example of each dataset" in safety
    assert "there is no supported way to keep it out" in safety


def test_the_fast_header_claims_what_its_loss_curves_show():
    """Issue 33: the fast recipe's header said it solves the exact recipe's problem, and its loss on one H200 fell far
    less in 100 steps. Same problem, other batches: its header and docs/recipes.md say so, with the bounds that
    tests/plugin/test_train_integration.py holds the two recipes' loss curves to (5 % with random batches, 25 % as
    it is)."""
    text = " ".join(line[1:].strip() for line in header("dynahate_qlora_fast.yaml"))
    assert "Its batches are length-grouped, so not its loss curve step for step (docs/recipes.md)" in text
    assert "override train_sampling_strategy=random for the exact recipe's batches" in text
    assert "within run-to-run noise" not in text  # never measured
    assert load("dynahate_qlora_fast.yaml")["train_sampling_strategy"] == "group_by_length"
    page = " ".join((REPO / "docs" / "recipes.md").read_text().split())
    assert "every step's loss within **5 %** of the exact recipe's" in page
    assert "every step's loss stays within **25 %** of the exact recipe's" in page


def test_no_header_restates_what_the_tests_keep_equal():
    # The values tests keep equal live in the YAML body; a header that repeats them goes stale.
    for name in ALL_YAMLS:
        text = "\n".join(header(name))
        for fragment in ("rank 8", "alpha 16", "dropout 0.05", "2e-5", "2.0e-5", "10 % warmup", "3 epochs"):
            assert fragment not in text, (name, fragment)
        assert not re.search(r"\b\d+ ?[x×] ?1\b", text), name  # the GPU-count table (docs/recipes.md only)


@functools.cache
def _hf_subcommand_works(*argv: str) -> bool:
    proc = subprocess.run([cli_path("hf"), *argv, "--help"], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **OFFLINE_ENV})
    return proc.returncode == 0


def _check_llamafactory(command: str, recipe: str, overrides: list[str], tmp_path, tiny_model, monkeypatch):
    """The recipe plus the header's key=value overrides, read and parsed as ``llamafactory-cli`` does."""
    from llamafactory.hparams import get_infer_args, get_train_args
    from llamafactory.hparams.parser import read_args

    assert (REPO / recipe).is_file(), recipe
    assert all("=" in arg for arg in overrides), overrides
    monkeypatch.setattr(sys, "argv", ["llamafactory-cli", str(REPO / recipe), *overrides])
    args = read_args()  # LLaMA-Factory's own YAML + OmegaConf key=value merge
    for arg in overrides:
        key = arg.split("=", 1)[0]
        assert key in args, (recipe, key)
    args["model_name_or_path"] = str(tiny_model)  # no download
    if command == "export":
        get_infer_args({**args, "export_dir": str(tmp_path / "export")})
    else:
        assert command == "train", command
        get_train_args({**args, "output_dir": str(tmp_path / "out"), "bf16": False})  # CPU


@pytest.mark.parametrize("name", ALL_YAMLS)
def test_header_commands_work_here(name, lf_workspace, tiny_model, monkeypatch, tmp_path):
    """Every command a header shows: paths exist, options and override keys are accepted by the real parsers."""
    import llamafactory.launcher

    from dynahate.core.cli import build_parser

    monkeypatch.chdir(lf_workspace)
    for argv in header_commands(name):
        env = []
        while argv and "=" in argv[0] and argv[0].split("=")[0].isupper():
            env.append(argv.pop(0).split("=")[0])
        for variable in env:  # LLaMA-Factory's launcher reads it (torchrun set-up)
            assert f'"{variable}"' in inspect.getsource(llamafactory.launcher), (name, variable)
        program, rest = argv[0], argv[1:]
        if program == "llamafactory-cli":
            _check_llamafactory(rest[0], rest[1], rest[2:], tmp_path, tiny_model, monkeypatch)
        elif program == "dynahate":
            build_parser().parse_args(rest)  # exits (fails the test) on an unknown option or value
        elif program == "accelerate":
            from accelerate.commands.launch import launch_command_parser

            assert rest[0] == "launch", argv
            launch = launch_command_parser().parse_args(rest[1:])
            assert (REPO / launch.config_file).resolve() == FSDP_CONFIG
            assert launch.module and launch.training_script == "llamafactory.launcher"
            recipe, overrides = launch.training_script_args[0], launch.training_script_args[1:]
            _check_llamafactory("train", recipe, overrides, tmp_path, tiny_model, monkeypatch)
        elif program == "hf":
            assert _hf_subcommand_works(*rest), argv
        elif program == "pip":
            # LLaMA-Factory imports liger_kernel (the liger-kernel distribution) for enable_liger_kernel
            assert rest == ["install", "liger-kernel"], argv
            from llamafactory.model.model_utils import liger_kernel

            assert "from liger_kernel.transformers import" in inspect.getsource(liger_kernel)
        else:
            pytest.fail(f"{name}: no check for the header command {argv}")


def test_recipe_equals_the_original_table():
    recipe = yaml.safe_load(RECIPE.read_text())
    assert {k: recipe.get(k) for k in ORIGINAL} == ORIGINAL
    assert recipe["output_dir"].startswith("saves/")
    extra = set(recipe) - set(ORIGINAL)
    assert extra <= {"output_dir", "logging_steps", "plot_loss"}, extra  # bookkeeping only


@pytest.mark.parametrize("name", TRAIN_RECIPES[1:])
def test_same_optimisation_problem_as_the_exact_recipe(name):
    exact, other = load("dynahate_qlora.yaml"), load(name)
    assert {k: other[k] for k in SAME_PROBLEM} == {k: exact[k] for k in SAME_PROBLEM}

    def effective(recipe, gpus):
        return recipe["per_device_train_batch_size"] * recipe["gradient_accumulation_steps"] * gpus

    assert effective(other, GPUS_IN_RECIPE[name]) == effective(exact, 1) == 24


def test_docs_gpu_table_keeps_the_effective_batch():
    # The GPU-count table lives in docs/recipes.md ("More than one GPU") only; every row of it must make 24.
    page = (REPO / "docs" / "recipes.md").read_text()
    rows = [line for line in page.splitlines() if line.startswith("| GPUs in total")
            or line.startswith("| `per_device_train_batch_size` ×")]
    assert len(rows) == 2, rows
    gpus = [int(cell) for cell in rows[0].strip("|").split("|")[1:]]
    batches = [cell.strip().split(" × ") for cell in rows[1].strip("|").split("|")[1:]]
    assert gpus == [n for n in range(1, 25) if 24 % n == 0]
    assert [n * int(b) * int(a) for n, (b, a) in zip(gpus, batches, strict=False)] == [24] * len(gpus)
    assert GPUS_IN_RECIPE["dynahate_qlora_multigpu.yaml"] in gpus


def _cpu_overrides(tmp_path, tiny_model, **extra):
    return {"model_name_or_path": str(tiny_model), "output_dir": str(tmp_path / "out"), "bf16": False, **extra}


@pytest.mark.parametrize("name", TRAIN_RECIPES)
def test_llamafactory_parses_the_recipe(name, lf_workspace, tiny_model, monkeypatch, tmp_path):
    from llamafactory.hparams import get_train_args

    monkeypatch.chdir(lf_workspace)
    args = {**load(name), **_cpu_overrides(tmp_path, tiny_model)}
    model_args, data_args, training_args, finetuning_args, _ = get_train_args(args)
    assert finetuning_args.finetuning_type == "lora" and model_args.quantization_bit == 4
    assert data_args.dataset == ["dynahate_train"] and data_args.eval_dataset == ["dynahate_dev"]
    assert training_args.gradient_accumulation_steps * training_args.per_device_train_batch_size \
        * GPUS_IN_RECIPE[name] == 24


def test_llamafactory_parser_accepts_the_recipe(lf_workspace, tiny_model, monkeypatch, tmp_path):
    # What LLaMA-Factory's parser makes of the exact recipe is the original table (no key ignored or renamed).
    from llamafactory.hparams import get_train_args

    monkeypatch.chdir(lf_workspace)
    args = yaml.safe_load(RECIPE.read_text())
    args.update(model_name_or_path=str(tiny_model), output_dir=str(tmp_path / "out"), bf16=False)
    model_args, data_args, training_args, finetuning_args, _ = get_train_args(args)
    parsed = {
        "quantization_bit": model_args.quantization_bit, "quantization_method": model_args.quantization_method,
        "stage": finetuning_args.stage, "finetuning_type": finetuning_args.finetuning_type,
        "lora_rank": finetuning_args.lora_rank, "lora_alpha": finetuning_args.lora_alpha,
        "lora_dropout": finetuning_args.lora_dropout, "lora_target": finetuning_args.lora_target,
        "gradient_checkpointing": not model_args.disable_gradient_checkpointing,
        "dataset": data_args.dataset, "eval_dataset": data_args.eval_dataset, "template": data_args.template,
        "cutoff_len": data_args.cutoff_len, "dataset_dir": data_args.dataset_dir,
        "per_device_train_batch_size": training_args.per_device_train_batch_size,
        "gradient_accumulation_steps": training_args.gradient_accumulation_steps,
        "learning_rate": training_args.learning_rate, "num_train_epochs": training_args.num_train_epochs,
        "lr_scheduler_type": str(training_args.lr_scheduler_type.value),
        "warmup_ratio": training_args.warmup_ratio, "optim": str(training_args.optim.value),
        "eval_strategy": str(training_args.eval_strategy.value), "eval_steps": training_args.eval_steps,
        "save_steps": training_args.save_steps, "per_device_eval_batch_size": training_args.per_device_eval_batch_size,
    }
    expected = {k: ORIGINAL[k] for k in parsed}
    expected.update(lora_target=[ORIGINAL["lora_target"]], dataset=[ORIGINAL["dataset"]],
                    eval_dataset=[ORIGINAL["eval_dataset"]])
    assert parsed == expected
    assert training_args.do_train and training_args.report_to in ([], "none", ["none"])


def test_llamafactory_parses_the_predict_recipe(lf_workspace, tiny_model, trained_run, monkeypatch, tmp_path):
    from llamafactory.hparams import get_train_args

    monkeypatch.chdir(lf_workspace)
    args = {**load("dynahate_predict.yaml"), **_cpu_overrides(tmp_path, tiny_model),
            "adapter_name_or_path": str(trained_run)}
    model_args, data_args, training_args, finetuning_args, generating_args = get_train_args(args)
    assert finetuning_args.finetuning_type == "lora" and model_args.quantization_bit == 4
    assert training_args.predict_with_generate and generating_args.max_new_tokens == 4
    assert generating_args.do_sample is False and data_args.eval_dataset == ["dynahate_test"]


def test_llamafactory_parses_the_merge_recipe(tiny_model, trained_run, tmp_path):
    from llamafactory.hparams import get_infer_args

    args = {**load("dynahate_merge.yaml"), "model_name_or_path": str(tiny_model),
            "adapter_name_or_path": str(trained_run), "export_dir": str(tmp_path / "merged")}
    model_args, _, finetuning_args, _ = get_infer_args(args)
    assert model_args.quantization_bit is None  # merged into the bf16 base, not into 4-bit weights
    assert model_args.infer_dtype == "bfloat16" and finetuning_args.finetuning_type == "lora"


def test_a_misspelt_key_is_rejected(lf_workspace, tiny_model, monkeypatch, tmp_path):
    from llamafactory.hparams import get_train_args

    monkeypatch.chdir(lf_workspace)
    args = {**load("dynahate_qlora_fast.yaml"), **_cpu_overrides(tmp_path, tiny_model), "lora_rnak": 8}
    with pytest.raises(ValueError, match="lora_rnak"):
        get_train_args(args)


def test_accelerate_fsdp_config_is_valid_for_accelerate(tmp_path):
    from accelerate.commands.config.config_args import load_config_from_file

    path = FSDP_CONFIG
    config = load_config_from_file(str(path))
    assert config.distributed_type == "FSDP" and config.mixed_precision == "bf16"
    assert config.fsdp_config["fsdp_transformer_layer_cls_to_wrap"] == "LlamaDecoderLayer"
    assert config.fsdp_config["fsdp_offload_params"] is False
    assert load("dynahate_qlora_multigpu.yaml")["bf16"] is True  # same precision as the launcher config
    bad = tmp_path / "bad.yaml"
    bad.write_text(path.read_text().replace("num_machines:", "num_machine:"))
    with pytest.raises(ValueError, match="num_machine"):
        load_config_from_file(str(bad))


@pytest.mark.integration
def test_predict_recipe_runs_and_writes_llamafactory_predictions(lf_workspace, lf_predict_run):
    lines = [json.loads(line) for line in (lf_predict_run / "generated_predictions.jsonl").read_text().splitlines()]
    records = read_jsonl(data_file(lf_workspace / "data", "test"))
    assert len(lines) == len(records)
    for line, record in zip(lines, records, strict=False):
        assert set(line) >= {"prompt", "predict", "label"}
        assert line["prompt"] == prompts.build_prompt(record["input"])  # LLaMA-Factory rendered our prompt
        assert line["label"] == record["output"]
    valid = sum(line["predict"].strip() in ("hate", "not hate") for line in lines)
    assert valid >= 0.9 * len(lines)  # the trained tiny adapter answers with labels


@pytest.mark.integration
def test_merge_recipe_exports_a_bf16_model_that_generates(lf_workspace, tiny_model, trained_run, tmp_path):
    import torch
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM, AutoTokenizer

    merged = tmp_path / "merged"
    run_cli(["llamafactory-cli", "export", str(RECIPES / "dynahate_merge.yaml"), f"model_name_or_path={tiny_model}",
             f"adapter_name_or_path={trained_run}", f"export_dir={merged}"], cwd=lf_workspace)
    config = json.loads((merged / "config.json").read_text())
    assert config.get("dtype", config.get("torch_dtype")) == "bfloat16"
    assert not (merged / "adapter_config.json").exists()
    base = load_file(Path(tiny_model) / "model.safetensors")
    folded = load_file(merged / "model.safetensors")
    name = "model.layers.0.self_attn.q_proj.weight"
    assert not torch.allclose(base[name].to(torch.bfloat16).float(), folded[name].float())  # adapter folded in
    model = AutoModelForCausalLM.from_pretrained(merged)
    tokenizer = AutoTokenizer.from_pretrained(merged)
    ids = torch.tensor([prompts.encode_prompt(tokenizer, "Drellans are lovely neighbours")])
    out = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=4, do_sample=False,
                         pad_token_id=tokenizer.eos_token_id)
    assert tokenizer.decode(out[0, ids.shape[1]:], skip_special_tokens=True).strip() in ("hate", "not hate")
