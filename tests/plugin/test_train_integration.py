"""Real ``llamafactory-cli train recipes/dynahate_qlora.yaml`` on the tiny model, 4-bit, on CPU."""

import json

import pytest
from safetensors import safe_open

from dynahate.testing.cli import lf_train

pytestmark = pytest.mark.integration

PROJECTIONS = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}


@pytest.fixture(scope="module")
def exact_run(lf_workspace, tiny_model, tmp_path_factory):
    out = tmp_path_factory.mktemp("exact") / "run"
    proc = lf_train(lf_workspace, tiny_model, out, "max_steps=2")
    return out, proc.stdout + proc.stderr


def test_exact_recipe_trains_a_4bit_qlora_adapter(exact_run, tiny_model):
    out, log = exact_run
    assert "Quantizing model to 4 bit with bitsandbytes" in log
    config = json.loads((out / "adapter_config.json").read_text())
    assert config["r"] == 8 and config["lora_alpha"] == 16 and config["lora_dropout"] == 0.05
    assert set(config["target_modules"]) == PROJECTIONS
    assert config["base_model_name_or_path"] == str(tiny_model)
    with safe_open(out / "adapter_model.safetensors", "pt") as weights:
        names = list(weights.keys())
    assert {n.split(".")[-3] for n in names} == PROJECTIONS  # ...layers.N.self_attn.q_proj.lora_A.weight
    assert len(names) == 2 * len(PROJECTIONS) * 2  # A and B, seven modules, two layers
    state = json.loads((out / "trainer_state.json").read_text())
    assert state["global_step"] == 2
    args = json.loads((out / "train_results.json").read_text())
    assert args["epoch"] > 0


def test_trained_run_learns_the_labels(trained_run):
    state = json.loads((trained_run / "trainer_state.json").read_text())
    losses = [entry["loss"] for entry in state["log_history"] if "loss" in entry]
    assert losses[0] > 2.0 and losses[-1] < 0.5  # from chance over the vocabulary to the label
