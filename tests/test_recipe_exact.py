"""The exact recipe: the original hyperparameters, accepted by LLaMA-Factory's own parser."""

import yaml

from conftest import RECIPE

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


def test_recipe_equals_the_original_table():
    recipe = yaml.safe_load(RECIPE.read_text())
    assert {k: recipe.get(k) for k in ORIGINAL} == ORIGINAL
    assert recipe["output_dir"].startswith("saves/")
    extra = set(recipe) - set(ORIGINAL)
    assert extra <= {"output_dir", "logging_steps", "plot_loss"}, extra  # bookkeeping only


def test_recipe_header_says_how_to_use_it():
    header = RECIPE.read_text().split("### model")[0]
    for needle in ("dynahate prepare", "llamafactory-cli train recipes/dynahate_qlora.yaml", "output_dir=",
                   "Limits"):
        assert needle in header


def test_llamafactory_parser_accepts_the_recipe(lf_workspace, tiny_model, monkeypatch, tmp_path):
    from llamafactory.hparams import get_train_args

    monkeypatch.chdir(lf_workspace)
    args = yaml.safe_load(RECIPE.read_text())
    args.update(model_name_or_path=str(tiny_model), output_dir=str(tmp_path / "out"), bf16=False)
    model_args, data_args, training_args, finetuning_args, _ = get_train_args(args)
    assert model_args.quantization_bit == 4 and finetuning_args.lora_rank == 8
    assert training_args.per_device_train_batch_size * training_args.gradient_accumulation_steps == 24
    assert data_args.dataset == ["dynahate_train"] and data_args.eval_dataset == ["dynahate_dev"]
