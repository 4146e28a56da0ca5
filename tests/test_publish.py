"""``dynahate publish`` against the real huggingface_hub client and a loopback Hub (tests/hub_server.py)."""

import json
import shutil

import pytest

from conftest import run_cli
from hub_server import READ_TOKEN, WRITE_TOKEN, LoopbackHub

pytestmark = pytest.mark.integration
REQUIRED_TAGS = {"llama-factory", "qlora", "peft", "hate-speech-detection", "text-classification"}
EXCLUDED = ("training_args.bin", "checkpoint-")


@pytest.fixture(scope="module")
def evaluated_run(trained_run, prepared_data, tmp_path_factory):
    """The trained tiny run, with a checkpoint folder and `dynahate eval` results in it."""
    run = tmp_path_factory.mktemp("publish") / "run"
    shutil.copytree(trained_run, run)
    (run / "checkpoint-30").mkdir(exist_ok=True)
    (run / "checkpoint-30" / "optimizer.pt").write_bytes(b"optimizer state")
    (run / "training_args.bin").write_bytes(b"pickle")
    run_cli(["dynahate", "eval", "--adapter", str(run), "--data-dir", str(prepared_data)])
    return run


def publish(run, *args, data_dir, env=None, check=True):
    return run_cli(["dynahate", "publish", str(run), "--data-dir", str(data_dir), *args], env=env, check=check)


def hub_env(hub, token=WRITE_TOKEN, tmp_home=None):
    env = {"HF_ENDPOINT": hub.url, "HF_HUB_OFFLINE": "0", "DYNAHATE_UPLOAD_BACKOFF_S": "0.01",
           "HF_HOME": str(tmp_home), "HF_TOKEN": token or ""}
    return env


def test_dry_run_stages_the_allowlist_and_a_card_that_parses(evaluated_run, prepared_data, tmp_path):
    from huggingface_hub import ModelCard

    stage = tmp_path / "stage"
    proc = publish(evaluated_run, "--repo-id", "someone/dynahate-tiny", "--dry-run", "--stage-dir", str(stage),
                   data_dir=prepared_data)
    assert "dry run: nothing uploaded" in proc.stdout and f"model card: {stage / 'README.md'}" in proc.stdout
    names = {p.name for p in stage.rglob("*") if p.is_file()}
    assert {"adapter_model.safetensors", "adapter_config.json", "tokenizer.json", "eval_results.json",
            "eval_metrics.txt", "dynahate_instruction_prompt.txt", "dynahate_system_prompt.txt",
            "trainer_state.json", "dev_roc.png", "README.md"} <= names
    assert not [n for n in names if n.startswith(EXCLUDED) or n.endswith((".pt", ".pkl", ".bin"))]
    assert (stage / "adapter_model.safetensors").read_bytes() == (evaluated_run / "adapter_model.safetensors").read_bytes()

    card = ModelCard.load(stage / "README.md")
    adapter = json.loads((evaluated_run / "adapter_config.json").read_text())
    assert card.data.base_model == adapter["base_model_name_or_path"]
    assert card.data.library_name == "peft" and REQUIRED_TAGS <= set(card.data.tags)
    assert card.data.license and card.data.datasets and card.data.pipeline_tag
    results = json.loads((evaluated_run / "eval_results.json").read_text())
    from_card = {(r.dataset_split, r.metric_type): r.metric_value for r in card.data.eval_results}
    for split in ("dev", "test"):
        assert from_card[(split, "accuracy")] == round(results[split]["accuracy"], 4)
        assert from_card[(split, "f1")] == round(results[split]["macro_f1"], 4)
        assert from_card[(split, "roc_auc")] == round(results[split]["roc_auc"], 4)
    report = json.loads((prepared_data / "prepare_report.json").read_text())
    text = card.text
    for split, counts in report["splits"].items():
        assert f"| {split} | {counts['rows']} |" in text
    assert f"| LoRA rank / alpha / dropout | {adapter['r']} / {adapter['lora_alpha']} / {adapter['lora_dropout']} |" in text
    assert "| learning rate | 0.005 | Trainer (README.md) |" in text  # the run's override, not the recipe's 2e-5
    assert "overridden at launch" in text


def test_card_usage_snippet_builds_the_training_prompt_token_for_token(evaluated_run, prepared_data, tiny_model,
                                                                      tmp_path):
    from llamafactory.data import get_template_and_fix_tokenizer
    from llamafactory.hparams import DataArguments
    from transformers import AutoTokenizer

    from dynahate.publish.card import prompt_code

    publish(evaluated_run, "--repo-id", "someone/x", "--dry-run", "--stage-dir", str(tmp_path / "s"),
            data_dir=prepared_data)
    namespace: dict = {}
    exec(prompt_code((tmp_path / "s" / "README.md").read_text()), namespace)  # the card's own code
    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    template = get_template_and_fix_tokenizer(tokenizer, DataArguments(template="llama3"))
    records = [json.loads(line) for line in (prepared_data / "dynahate_test.jsonl").read_text().splitlines()]
    for record in records:
        messages = [{"role": "user", "content": record["instruction"] + "\n" + record["input"]},
                    {"role": "assistant", "content": record["output"]}]
        expected, _ = template.encode_oneturn(tokenizer, messages, system=record["system"])
        ids = tokenizer(namespace["build_prompt"](record["input"]), add_special_tokens=False)["input_ids"]
        assert ids == expected


def test_upload_arrives_byte_identical_and_rerun_is_harmless(evaluated_run, prepared_data, tmp_path):
    stage = tmp_path / "stage"
    with LoopbackHub() as hub:
        env = hub_env(hub, tmp_home=tmp_path / "home")
        args = ["--repo-id", "someone/dynahate-tiny", "--private", "--stage-dir", str(stage)]
        proc = publish(evaluated_run, *args, data_dir=prepared_data, env=env)
        repo = hub.state.repos["someone/dynahate-tiny"]
        assert repo["private"] is True
        stored = repo["revisions"]["main"]
        staged = {str(p.relative_to(stage)): p.read_bytes() for p in stage.rglob("*") if p.is_file()}
        assert stored == staged
        assert not [n for n in stored if n.startswith(EXCLUDED)]
        commit_line = next(line for line in proc.stdout.splitlines() if line.startswith("commit: "))
        assert commit_line.startswith(f"commit: {hub.url}/someone/dynahate-tiny/commit/")
        assert hub.state.validated and hub.state.validated[0] == staged["README.md"].decode()
        # the token was sent, and is nowhere in what the user sees or in what was staged
        assert any(h.get("authorization") == f"Bearer {WRITE_TOKEN}" for _, _, h in hub.state.requests)
        assert WRITE_TOKEN not in proc.stdout + proc.stderr
        assert not any(WRITE_TOKEN.encode() in content for content in staged.values())

        again = publish(evaluated_run, *args, data_dir=prepared_data, env=env)
        assert again.returncode == 0 and hub.state.repos["someone/dynahate-tiny"]["revisions"]["main"] == staged
        assert len(hub.state.commits) == 2


def test_revision_goes_to_a_branch(evaluated_run, prepared_data, tmp_path):
    with LoopbackHub() as hub:
        publish(evaluated_run, "--repo-id", "someone/b", "--revision", "try-1", "--commit-message", "first try",
                "--stage-dir", str(tmp_path / "s"), data_dir=prepared_data, env=hub_env(hub, tmp_home=tmp_path / "h"))
        revisions = hub.state.repos["someone/b"]["revisions"]
        assert "README.md" in revisions["try-1"] and revisions["main"] == {}
        assert hub.state.commits[-1]["summary"] == "first try"


@pytest.mark.parametrize("token, message", [
    ("", "no Hugging Face token: run `hf auth login`"),
    ("hf_wrong", "the Hub rejected the token (401): log in again with `hf auth login`"),
    (READ_TOKEN, "may not write to someone/x (403): use a token with the 'write' role"),
])
def test_auth_failures_are_one_clear_line(evaluated_run, prepared_data, tmp_path, token, message):
    with LoopbackHub() as hub:
        proc = publish(evaluated_run, "--repo-id", "someone/x", "--stage-dir", str(tmp_path / "s"),
                       data_dir=prepared_data, env=hub_env(hub, token=token, tmp_home=tmp_path / "h"), check=False)
        assert proc.returncode == 2
        assert proc.stderr.strip().splitlines() == [f"error: {proc.stderr.strip()[7:]}"]
        assert message in proc.stderr
        assert not token or token not in proc.stdout + proc.stderr
        assert hub.state.commits == []


def test_transient_network_errors_are_retried(evaluated_run, prepared_data, tmp_path):
    with LoopbackHub() as hub:
        hub.state.fail_next = ["503", "drop"]
        proc = publish(evaluated_run, "--repo-id", "someone/r", "--stage-dir", str(tmp_path / "s"),
                       data_dir=prepared_data, env=hub_env(hub, tmp_home=tmp_path / "h"))
        assert proc.stdout.count("retrying") == 2 and len(hub.state.commits) == 1


def test_persistent_network_errors_give_up_with_one_line(evaluated_run, prepared_data, tmp_path):
    with LoopbackHub() as hub:
        hub.state.fail_next = ["503"] * 10
        proc = publish(evaluated_run, "--repo-id", "someone/r", "--stage-dir", str(tmp_path / "s"),
                       data_dir=prepared_data, env=hub_env(hub, tmp_home=tmp_path / "h"), check=False)
        assert proc.returncode == 2 and "creating the repo failed: HTTP 503" in proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1 and hub.state.commits == []


def test_checks_before_anything_is_staged(evaluated_run, trained_run, prepared_data, tmp_path):
    stage = tmp_path / "s"
    cases = [
        (evaluated_run, ["--repo-id", "not a repo id"], "is not a valid Hub repo id"),
        (evaluated_run, ["--repo-id", "noslash"], "expected USER/NAME"),
        (tmp_path / "missing", ["--repo-id", "someone/x"], "missing; is"),
        (evaluated_run, ["--repo-id", "someone/x", "--recipe", str(tmp_path / "nope.yaml")], "recipe not found"),
    ]
    no_eval = tmp_path / "no_eval"
    shutil.copytree(trained_run, no_eval)
    cases.append((no_eval, ["--repo-id", "someone/x"], "pass --allow-missing-eval"))
    for run, args, message in cases:
        proc = publish(run, *args, "--dry-run", "--stage-dir", str(stage), data_dir=prepared_data, check=False)
        assert proc.returncode == 2 and message in proc.stderr, (args, proc.stderr)
        assert len(proc.stderr.strip().splitlines()) == 1
        assert not stage.exists()
    proc = publish(no_eval, "--repo-id", "someone/x", "--dry-run", "--allow-missing-eval", "--stage-dir", str(stage),
                   data_dir=prepared_data)
    assert "published without evaluation results" in (stage / "README.md").read_text()
    assert not (stage / "eval_results.json").exists()  # the run's own is LLaMA-Factory's loss file
    assert (stage / "all_results.json").exists()
