"""No path of this machine in what publish stages (issue 23, item 9): which base names are local, and how
recorded paths are made relative, on made-up records shaped like eval_results.json and comparison.json."""

import json

import pytest

from dynahate.core.errors import DynahateError
from dynahate.publish.portable import (
    local_base_reason,
    portable_json,
    published_base_model,
    staged_adapter_config,
    staged_trainer_state,
)


@pytest.mark.parametrize("name, local", [
    ("meta-llama/Llama-3.1-8B-Instruct", False),
    ("/scratch/models/Llama-3.1-8B-Instruct", True),
    ("./models/llama", True),
    ("../llama", True),
    ("~/models/llama", True),
    ("C:\\models\\llama", True),
    ("llama-local", True),  # not USER/NAME
    ("a/b/c", True),
])
def test_local_base_names(name, local):
    assert (local_base_reason(name) is not None) == local


def test_an_existing_relative_folder_is_local_even_when_it_reads_as_a_repo_id(tmp_path, monkeypatch):
    (tmp_path / "models" / "llama").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    assert local_base_reason("models/llama") == "a folder on this machine"
    assert local_base_reason("models/other") is None


def test_published_base_model_rules(tmp_path):
    config = tmp_path / "adapter_config.json"
    assert published_base_model("org/base", None, config, dry_run=False) == "org/base"
    assert published_base_model("org/base", "org/base", config, dry_run=False) == "org/base"
    with pytest.raises(DynahateError, match="already names the Hub model 'org/base'"):
        published_base_model("org/base", "org/other", config, dry_run=True)
    with pytest.raises(DynahateError, match="is an absolute path.*--base-model REPO_ID"):
        published_base_model("/models/base", None, config, dry_run=False)
    assert published_base_model("/models/base", None, config, dry_run=True) is None
    assert published_base_model("/models/base", "org/base", config, dry_run=False) == "org/base"


def test_staged_adapter_config_changes_only_the_base():
    text = '{\n    "r": 8,\n    "base_model_name_or_path": "/models/base",\n    "lora_alpha": 16\n}\n'
    assert staged_adapter_config(text, "org/base", "c.json") == text.replace('"/models/base"', '"org/base"')


def test_recorded_paths_become_relative_or_names(tmp_path):
    run = (tmp_path / "run").resolve()
    evals = (tmp_path / "evals").resolve()
    results = {
        "dev": {"accuracy": 0.5, "adapter": {"path": str(run), "sha256": "ab" * 32, "base_model": "/models/base"},
                "files": ["dev_predictions.jsonl"]},
        "hatecheck": {"source": {"path": "/data/hatecheck/test_suite_cases.csv", "official": True},
                      "adapter": {"path": "/home/me/.cache/huggingface/hub/models--o--n/snapshots/abc",
                                  "repo_id": "o/n", "base_model": "org/base"}},
    }
    comparison = {"a": {"path": str(evals / "other"), "results": str(evals / "other" / "eval_results.json"),
                        "name": "other"},
                  "b": {"path": str(run), "results": str(run / "eval_results.json"), "name": "run"},
                  "splits": {"dev": {"b": {"adapter": {"path": str(run / "sub")}}, "n": 3,
                                     "note": "A was evaluated in score mode"}},
                  "notes": ["C:\\Users\\me\\eval"]}
    anchors = [evals, run]
    staged = portable_json(results, anchors=anchors, replace={"/models/base": "org/base"})
    assert staged["dev"]["adapter"] == {"path": ".", "sha256": "ab" * 32, "base_model": "org/base"}
    assert staged["hatecheck"]["source"]["path"] == "test_suite_cases.csv"
    assert staged["hatecheck"]["adapter"]["path"] == "abc"
    assert staged["dev"]["files"] == ["dev_predictions.jsonl"] and staged["dev"]["accuracy"] == 0.5
    staged = portable_json(comparison, anchors=anchors, replace={})
    assert staged["a"] == {"path": "other", "results": "other/eval_results.json", "name": "other"}
    assert staged["b"] == {"path": ".", "results": "eval_results.json", "name": "run"}
    assert staged["splits"]["dev"] == {"b": {"adapter": {"path": "sub"}}, "n": 3,
                                       "note": "A was evaluated in score mode"}
    assert staged["notes"] == ["eval"]
    assert str(tmp_path) not in json.dumps(staged) and results["dev"]["adapter"]["path"] == str(run)


def trainer_state(best, **extra):
    """A trainer_state.json's value, keys as transformers writes them (sorted)."""
    return {"best_global_step": 500, "best_metric": 0.41, "best_model_checkpoint": best, "epoch": 2.0,
            "global_step": 600, "log_history": [{"epoch": 1.0, "loss": 0.5, "step": 300}], **extra}


@pytest.mark.parametrize("best", [
    "{run}/checkpoint-500",  # absolute, inside the run
    "/home/me/runs/x/checkpoint-500",  # absolute, the training machine's
    "saves/llama3.1-8b/qlora/dynahate/checkpoint-500",  # relative to where training ran (the recipe's output_dir)
    "C:\\runs\\x\\checkpoint-500",
])
def test_trainer_states_best_checkpoint_becomes_relative_to_the_run(tmp_path, best):
    run = tmp_path / "run"
    (run / "checkpoint-500").mkdir(parents=True)
    state = trainer_state(best.format(run=run), trial_params={"log": "/var/log/trial.txt"})
    text = staged_trainer_state(state, run, replace={})
    assert json.loads(text) == {**state, "best_model_checkpoint": "checkpoint-500",
                                "trial_params": {"log": "trial.txt"}}
    assert text == json.dumps(json.loads(text), indent=2) + "\n"  # as transformers writes it
    assert str(tmp_path) not in text and state["best_model_checkpoint"] == best.format(run=run)  # a copy


def test_a_trainer_state_without_a_path_is_staged_as_it_is(tmp_path):
    assert staged_trainer_state(trainer_state(None), tmp_path, replace={}) is None
    assert staged_trainer_state(trainer_state("checkpoint-500"), tmp_path, replace={}) is None
