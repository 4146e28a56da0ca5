"""Real ``llamafactory-cli train recipes/dynahate_qlora.yaml`` on the tiny model, 4-bit, on CPU."""

import json

import pytest
from safetensors import safe_open

from dynahate.plugin.lf_workspace import DATA_SUBDIR
from dynahate.plugin.splits import data_file
from dynahate.testing.cli import CURVE_OVERRIDES, CURVE_STEPS, RECIPE, lf_train_logged
from dynahate.testing.records import read_jsonl

pytestmark = pytest.mark.integration

PROJECTIONS = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}


@pytest.fixture(scope="module")
def exact_run(tracked_run):
    """The exact recipe's run of the loss curves below, also theirs (the recipe's model, 4-bit quantization, LoRA,
    data and batches; their 6 steps, learning rate and logging, no evaluation or checkpoint), which reports to the
    trackers for tests/eval/trackers (``tracked_run``): its folder and log."""
    return tracked_run, tracked_run.with_name(f"{tracked_run.name}.log").read_text()


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
    assert state["global_step"] == STEPS
    args = json.loads((out / "train_results.json").read_text())
    assert args["epoch"] > 0


def test_the_training_log_holds_the_first_training_and_dev_post(exact_run, lf_workspace):
    """What the training recipes' headers and docs/safety.md say (issue 33): the real `llamafactory-cli train`
    prints the first training and dev example, post included, with the recipe's settings (the sample is synthetic).
    Should this fail, LLaMA-Factory stopped printing them: the headers and docs/safety.md must then say how."""
    _, log = exact_run
    for split, heading in (("train", "training example:"), ("dev", "eval example:")):
        first = read_jsonl(data_file(lf_workspace / DATA_SUBDIR, split))[0]["input"]
        printed = log[log.index(heading):]
        assert f"Post:\n{first}<|eot_id|>" in printed[:printed.index("label_ids:")], split


def test_trained_run_learns_the_labels(trained_run):
    state = json.loads((trained_run / "trainer_state.json").read_text())
    losses = [entry["loss"] for entry in state["log_history"] if "loss" in entry]
    assert losses[0] > 2.0 and losses[-1] < 0.5  # from chance over the vocabulary to the label


# --- the fast recipe against the exact one --------------------------------------------------------------------------
# Both recipes as they are (exact: 8 micro-batches of 3; fast: 1 of 24) from the same seed (the recipes' default, 42)
# for the same samples: 6 optimizer steps of 24 = 144 samples, inside the first epoch of the 204-row sample. The
# tiny model needs a learning rate of 5e-3 (as TINY_TRAIN_OVERRIDES) to move in 6 steps; liger is GPU-only. A loss
# is logged every step: the mean over the step's label tokens.
STEPS = CURVE_STEPS
FAST = RECIPE.with_name("dynahate_qlora_fast.yaml")
RANDOM_BATCHES = "fast, random batches"
# the exact recipe's run is the session's tracked_run (the same overrides, reporting to the trackers as well)
CURVE_RUNS = {"fast": (FAST, ("enable_liger_kernel=false",)),
              RANDOM_BATCHES: (FAST, ("enable_liger_kernel=false", "train_sampling_strategy=random"))}
CURVE_FOLDERS = {"fast": "fast", RANDOM_BATCHES: "fast-random"}
# Measured here (2-core CPU, 2026-12-06), losses of the 6 steps: exact 12.168 12.667 9.382 5.921 4.943 5.159; fast
# with transformers' random sampler 12.168 12.667 9.394 5.930 4.971 5.206 (the exact recipe's 24 samples at each
# step: within 0.9 %; 2.9 % by step 8 of a 10-step run: rounding and dropout draws of other batch shapes, amplified);
# fast as it is, length-grouped, 12.180 12.452 9.122 6.852 4.940 5.229 (other batches from step 1: up to 15.7 %, at
# step 4). The bounds leave room for another CPU's rounding.
SAME_BATCHES_BOUND = 0.05
GROUPED_BOUND = 0.25


def _relative_gaps(curve: list[float], reference: list[float]) -> list[float]:
    assert len(curve) == len(reference) == STEPS
    return [abs(a - b) / b for a, b in zip(curve, reference, strict=True)]


@pytest.fixture(scope="module")
def curve_run(lf_workspace, tiny_model, build_once):
    """``curve_run(name)``: the run of ``CURVE_RUNS[name]``, trained once for the whole test run (whatever the number
    of xdist workers), with its training log beside it (``<folder>.log``)."""

    def run(name: str):
        recipe, extra = CURVE_RUNS[name]
        return build_once(f"curve-{CURVE_FOLDERS[name]}", lambda out: lf_train_logged(
            lf_workspace, tiny_model, out, *CURVE_OVERRIDES, *extra, recipe=recipe))

    return run


@pytest.fixture(scope="module")
def loss_curves(curve_run, tracked_run):
    """Each run's loss at each of its 6 steps."""
    runs = {"exact": (RECIPE, tracked_run)}
    runs |= {name: (recipe, curve_run(name)) for name, (recipe, _) in CURVE_RUNS.items()}
    curves = {}
    for name, (recipe, run) in runs.items():
        state = json.loads((run / "trainer_state.json").read_text())
        assert state["global_step"] == STEPS and state["train_batch_size"] == (3 if recipe == RECIPE else 24)
        curves[name] = [entry["loss"] for entry in state["log_history"] if "loss" in entry]
    return curves


def test_the_fast_recipe_with_random_batches_follows_the_exact_recipe_step_by_step(loss_curves):
    """One micro-batch of 24 is the exact recipe's 8 x 3 (transformers normalizes an accumulated step's loss over
    all its label tokens): the first step, before any update, has the same loss on the same 24 samples, and the
    curves stay within SAME_BATCHES_BOUND."""
    exact, same = loss_curves["exact"], loss_curves[RANDOM_BATCHES]
    assert same[0] == pytest.approx(exact[0], rel=1e-5)
    assert max(_relative_gaps(same, exact)) <= SAME_BATCHES_BOUND
    assert exact[-1] < exact[0] / 2  # it learned: from chance over the vocabulary toward the labels


def test_the_fast_recipe_s_length_grouped_batches_are_other_batches_within_a_bound(loss_curves):
    """What the fast recipe's header says: the exact recipe's problem (objective, 24 samples a step, schedule), but
    length-grouped batches, so not its losses step by step: another batch from step 1, within GROUPED_BOUND."""
    exact, fast = loss_curves["exact"], loss_curves["fast"]
    assert fast[0] != pytest.approx(exact[0], rel=1e-5)  # other samples in the first batch
    assert max(_relative_gaps(fast, exact)) <= GROUPED_BOUND
    assert fast[-1] < fast[0] / 2
