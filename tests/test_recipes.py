"""Every recipe is valid for LLaMA-Factory 0.9.5 (its own parsers), the fast and multi-GPU recipes
solve the exact recipe's optimisation problem, and the predict and merge recipes run for real."""

import json
from pathlib import Path

import pytest
import yaml

from conftest import REPO, read_jsonl, run_cli
from dynahate.plugin import prompts
from dynahate.plugin.splits import data_file

RECIPES = REPO / "recipes"
TRAIN_RECIPES = ["dynahate_qlora.yaml", "dynahate_qlora_fast.yaml", "dynahate_qlora_multigpu.yaml"]
GPUS_IN_RECIPE = {"dynahate_qlora.yaml": 1, "dynahate_qlora_fast.yaml": 1, "dynahate_qlora_multigpu.yaml": 4}
SAME_PROBLEM = ["model_name_or_path", "quantization_bit", "quantization_method", "stage", "finetuning_type",
                "lora_rank", "lora_alpha", "lora_dropout", "lora_target", "dataset", "eval_dataset", "dataset_dir",
                "template", "cutoff_len", "learning_rate", "num_train_epochs", "lr_scheduler_type", "warmup_ratio",
                "optim", "bf16", "eval_steps", "save_steps"]


def load(name: str) -> dict:
    return yaml.safe_load((RECIPES / name).read_text())


def test_every_recipe_file_is_covered():
    yamls = {p.name for p in RECIPES.glob("*.yaml")}
    assert yamls == {*TRAIN_RECIPES, "dynahate_predict.yaml", "dynahate_merge.yaml"}
    for name in yamls:
        header = (RECIPES / name).read_text().split("### model")[0]
        assert "What it is for" in header and "Launch" in header and "Override example" in header, name
        assert "Limits" in header, name


@pytest.mark.parametrize("name", TRAIN_RECIPES[1:])
def test_same_optimisation_problem_as_the_exact_recipe(name):
    exact, other = load("dynahate_qlora.yaml"), load(name)
    assert {k: other[k] for k in SAME_PROBLEM} == {k: exact[k] for k in SAME_PROBLEM}

    def effective(recipe, gpus):
        return recipe["per_device_train_batch_size"] * recipe["gradient_accumulation_steps"] * gpus

    assert effective(other, GPUS_IN_RECIPE[name]) == effective(exact, 1) == 24


def _cpu_overrides(tmp_path, tiny_model, **extra):
    return {"model_name_or_path": str(tiny_model), "output_dir": str(tmp_path / "out"), "bf16": False, **extra}


@pytest.mark.parametrize("name", TRAIN_RECIPES + ["dynahate_predict.yaml"])
def test_llamafactory_parses_the_recipe(name, lf_workspace, tiny_model, trained_run, monkeypatch, tmp_path):
    from llamafactory.hparams import get_train_args

    monkeypatch.chdir(lf_workspace)
    args = {**load(name), **_cpu_overrides(tmp_path, tiny_model)}
    if "adapter_name_or_path" in args:
        args["adapter_name_or_path"] = str(trained_run)
    model_args, data_args, training_args, finetuning_args, generating_args = get_train_args(args)
    assert finetuning_args.finetuning_type == "lora" and model_args.quantization_bit == 4
    if name == "dynahate_predict.yaml":
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

    path = RECIPES / "accelerate" / "fsdp_qlora.yaml"
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
    for line, record in zip(lines, records):
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


@pytest.mark.integration
def test_fast_recipe_trains_on_cpu(lf_workspace, tiny_model, tmp_path):
    out = tmp_path / "fast"
    run_cli(["llamafactory-cli", "train", str(RECIPES / "dynahate_qlora_fast.yaml"), f"model_name_or_path={tiny_model}",
             f"output_dir={out}", "bf16=false", "max_steps=2", "enable_liger_kernel=false"], cwd=lf_workspace)
    state = json.loads((out / "trainer_state.json").read_text())
    assert state["global_step"] == 2 and state["train_batch_size"] == 24
