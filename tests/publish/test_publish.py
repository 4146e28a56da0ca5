"""``dynahate publish`` against the real huggingface_hub client and a loopback Hub (tests/hub_server.py)."""

import contextlib
import json
import os
import shutil
from functools import partial
from pathlib import Path

import pytest

from dynahate.plugin.splits import data_file
from dynahate.publish.staging import MARKER
from dynahate.testing.cli import REPO, run_main
from dynahate.testing.cli_refusal import assert_refused
from dynahate.testing.hub_server import READ_TOKEN, WRITE_TOKEN, LoopbackHub, hub_environment
from dynahate.testing.records import read_jsonl, recorded_splits

pytestmark = pytest.mark.integration
BASE = ("--base-model", "someone/tiny-base")  # the tiny run's base is a local folder: an upload must name its Hub id
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
    run_main(["eval", "--adapter", str(run), "--data-dir", str(prepared_data)])
    return run


@pytest.fixture(scope="module")
def dry_run_stage(evaluated_run, prepared_data, tmp_path_factory):
    """What ``dynahate publish RUN --repo-id someone/x --dry-run`` staged for the evaluated run: one dry run for the
    tests that only read its card and files."""
    stage = tmp_path_factory.mktemp("dry-run") / "s"
    publish(evaluated_run, "--repo-id", "someone/x", "--dry-run", "--stage-dir", str(stage), data_dir=prepared_data)
    return stage


def publish(run, *args, data_dir, env=None, check=True):
    """``dynahate publish`` in this process; with ``env`` (``hub_env``'s variables) as a process started with them
    would run it, pointed at the loopback Hub (``hub_environment``: huggingface_hub reads HF_* at import)."""
    argv = ["publish", str(run), "--data-dir", str(data_dir), *args]
    with hub_environment(env) if env is not None else contextlib.nullcontext():
        return run_main(argv, check=check)


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
    assert ((stage / "adapter_model.safetensors").read_bytes()
            == (evaluated_run / "adapter_model.safetensors").read_bytes())

    card = ModelCard.load(stage / "README.md")
    adapter = json.loads((evaluated_run / "adapter_config.json").read_text())
    # trained from a local base, no --base-model: the dry run's card names its folder, not as a Hub model
    local_base = adapter["base_model_name_or_path"]
    assert os.path.isabs(local_base) and card.data.base_model is None
    assert (f"A QLoRA adapter for `{Path(local_base).name}` (a local copy of a base model: this card is a dry run's"
            in card.text) and local_base not in card.text and "huggingface.co//" not in card.text
    assert card.data.library_name == "peft" and REQUIRED_TAGS <= set(card.data.tags)
    assert card.data.license and card.data.pipeline_tag
    results = recorded_splits(evaluated_run)
    report = json.loads((prepared_data / "prepare_report.json").read_text())
    text = card.text
    # the synthetic sample is no Dynahate release: its splits are on the card under their names, not in the
    # model-index as aps/dynahate (issue 33, item 3)
    assert report["source"]["version"] is None and not card.data.eval_results and "\nmodel-index:" not in card.content
    assert card.data.datasets is None  # nor trained on it
    blob = report["source"]["git_blob_sha1"]
    for split in ("dev", "test"):
        assert results[split]["fingerprint"]["source_git_blob_sha1"] == blob
        assert (f"| {split} (not the official data) | score | {results[split]['examples']} | "
                f"{results[split]['invalid']} | {results[split]['accuracy']:.4f} |") in text
        assert f"- {split}: its posts come from a CSV with git blob id `{blob}`, not a Dynahate release" in text
        # eval recorded how it loaded the base, and the card says it (item 4)
        assert results[split]["model_loading"] == {"quantization": "bnb-4bit-nf4", "dtype": "float32",
                                                   "device": "cpu", "autocast": None}
    assert ("how the base model was loaded: for every split, 4-bit NF4 (bitsandbytes, double quantization), as in "
            "training; `float32` on `cpu`.") in text
    # nothing staged names this machine: the adapter's base is a placeholder, the tokenizer is not local-only
    staged_config = json.loads((stage / "adapter_config.json").read_text())
    assert staged_config["base_model_name_or_path"] == f"<local base model: {Path(local_base).name}>"
    tokenizer_config = json.loads((stage / "tokenizer_config.json").read_text())
    assert {"local_files_only", "is_local"} <= set(json.loads((evaluated_run / "tokenizer_config.json").read_text()))
    assert not {"local_files_only", "is_local"} & set(tokenizer_config)
    assert not [p for p in stage.rglob("*") if p.is_file() and local_base.encode() in p.read_bytes()]
    for split, counts in report["splits"].items():
        assert f"| {split} | {counts['rows']} |" in text
    assert (f"| LoRA rank / alpha / dropout | {adapter['r']} / {adapter['lora_alpha']} / "
            f"{adapter['lora_dropout']} |") in text
    assert "| learning rate | 0.005 | Trainer (README.md) |" in text  # the run's override, not the recipe's 2e-5
    assert "overridden at launch" in text


def test_card_usage_snippet_builds_the_training_prompt_token_for_token(dry_run_stage, prepared_data, llama3_template):
    from dynahate.publish.card import prompt_code

    namespace: dict = {}
    exec(prompt_code((dry_run_stage / "README.md").read_text()), namespace)  # the card's own code
    tokenizer, template = llama3_template
    records = read_jsonl(data_file(prepared_data, "test"))
    for record in records:
        messages = [{"role": "user", "content": record["instruction"] + "\n" + record["input"]},
                    {"role": "assistant", "content": record["output"]}]
        expected, _ = template.encode_oneturn(tokenizer, messages, system=record["system"])
        ids = tokenizer(namespace["build_prompt"](record["input"]), add_special_tokens=False)["input_ids"]
        assert ids == expected



def test_card_p_hate_is_the_score_engine_s(dry_run_stage, prepared_data, loaded):
    """The card's ``p_hate(model, tokenizer, post)`` (issue 33, item 4) gives score mode's probability."""
    from dynahate.inference.score_engine import ScoreEngine
    from dynahate.publish.card import prompt_code, score_code

    card = (dry_run_stage / "README.md").read_text()
    namespace: dict = {}
    exec(prompt_code(card) + score_code(card), namespace)  # the card's own code
    posts = [record["input"] for record in read_jsonl(data_file(prepared_data, "dev"))[:6]]
    engine = ScoreEngine(loaded.model, loaded.tokenizer, progress=False)
    for post, scored in zip(posts, engine.score(posts), strict=True):
        assert namespace["p_hate"](loaded.model, loaded.tokenizer, post) == pytest.approx(scored.p_hate, abs=1e-4)


def test_upload_arrives_byte_identical_and_rerun_is_harmless(evaluated_run, prepared_data, tmp_path):
    stage = tmp_path / "stage"
    with LoopbackHub() as hub:
        env = hub_env(hub, tmp_home=tmp_path / "home")
        args = ["--repo-id", "someone/dynahate-tiny", "--private", "--stage-dir", str(stage), *BASE]
        proc = publish(evaluated_run, *args, data_dir=prepared_data, env=env)
        repo = hub.state.repos["someone/dynahate-tiny"]
        assert repo["private"] is True
        stored = repo["revisions"]["main"]
        staged = {str(p.relative_to(stage)): p.read_bytes() for p in stage.rglob("*") if p.is_file()}
        assert staged.pop(MARKER) and MARKER not in stored  # publish's mark on its own folder stays local
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
        publish(evaluated_run, "--repo-id", "someone/b", "--revision", "try-1", "--commit-message", "first try", *BASE,
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
        proc = publish(evaluated_run, "--repo-id", "someone/x", "--stage-dir", str(tmp_path / "s"), *BASE,
                       data_dir=prepared_data, env=hub_env(hub, token=token, tmp_home=tmp_path / "h"), check=False)
        assert proc.returncode == 2
        assert proc.stderr.strip().splitlines() == [f"error: {proc.stderr.strip()[7:]}"]
        assert message in proc.stderr
        assert not token or token not in proc.stdout + proc.stderr
        assert hub.state.commits == []


def test_transient_network_errors_are_retried(evaluated_run, prepared_data, tmp_path):
    with LoopbackHub() as hub:
        hub.state.fail_next = ["503", "drop"]
        proc = publish(evaluated_run, "--repo-id", "someone/r", "--stage-dir", str(tmp_path / "s"), *BASE,
                       data_dir=prepared_data, env=hub_env(hub, tmp_home=tmp_path / "h"))
        assert proc.stdout.count("retrying") == 2 and len(hub.state.commits) == 1


def test_persistent_network_errors_give_up_with_one_line(evaluated_run, prepared_data, tmp_path):
    with LoopbackHub() as hub:
        hub.state.fail_next = ["503"] * 10
        proc = publish(evaluated_run, "--repo-id", "someone/r", "--stage-dir", str(tmp_path / "s"), *BASE,
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


# --- safety off the happy path (issue 9) -------------------------------------------------------------------------

def tree(*roots):
    """Every entry under ``roots`` (links not followed) with its type, size and mtime: what 'untouched' means."""
    import os

    seen = {}
    for root in roots:
        for top, dirs, names in os.walk(root, followlinks=False):
            for name in [".", *dirs, *names]:
                path = os.path.join(top, name)
                st = os.lstat(path)
                seen[os.path.normpath(path)] = (st.st_mode, st.st_size, st.st_mtime_ns)
    return seen


one_line_error = partial(assert_refused, marker=None)  # exit 2, one `error:` line holding each fragment


@pytest.fixture
def run_copy(evaluated_run, tmp_path):
    """A private copy of the evaluated run, to break in one test."""
    run = tmp_path / "run"
    shutil.copytree(evaluated_run, run, symlinks=True)
    shutil.rmtree(run / "hub", ignore_errors=True)
    return run


def test_stage_dir_refuses_folders_it_did_not_make_and_touches_nothing(run_copy, prepared_data, tmp_path):
    data = tmp_path / "data_copy"
    shutil.copytree(prepared_data, data)
    evals = tmp_path / "evals"
    evals.mkdir()
    (evals / "notes.txt").write_text("mine\n")
    (tmp_path / "run_link").symlink_to(run_copy)
    unrelated = tmp_path / "unrelated"
    unrelated.mkdir()
    (unrelated / "thesis.tex").write_text("years of work\n")
    (tmp_path / "a_file").write_text("x\n")
    workdir = tmp_path / "workdir"
    workdir.mkdir()
    (workdir / "keep.txt").write_text("keep\n")
    cases = [  # (stage dir, extra args, cwd, what the error says)
        (run_copy, [], None, "is the run directory"),
        (tmp_path / "run_link", [], None, "is the run directory"),
        (tmp_path, [], None, "contains the run directory"),
        (run_copy / "checkpoint-30", [], None, "is inside the run directory"),
        (data, [], None, "is the data directory"),
        (evals, ["--eval-dir", str(evals)], None, "is the eval directory"),
        (".", [], workdir, "is the current directory"),
        (unrelated, [], None, "was not staged by dynahate publish"),
        (tmp_path / "a_file", [], None, "is not a folder"),
    ]
    before = tree(tmp_path)
    for stage, extra, cwd, message in cases:
        proc = run_main(["publish", str(run_copy), "--repo-id", "someone/x", "--data-dir", str(data),
                        "--dry-run", "--stage-dir", str(stage), *extra], cwd=cwd, check=False)
        one_line_error(proc, message)
        assert tree(tmp_path) == before, stage
    # the issue's own case: a copy of the run staged into itself keeps its checkpoint and pickle
    assert (run_copy / "checkpoint-30" / "optimizer.pt").read_bytes() == b"optimizer state"
    assert (run_copy / "training_args.bin").exists() and data_file(data, "train").exists()


def test_stage_dir_replaces_only_its_own_folder_and_leaves_no_siblings(run_copy, prepared_data, tmp_path):
    parent = tmp_path / "out"
    stage = parent / "stage"
    stage.mkdir(parents=True)  # empty: publish may use it
    sibling = parent / ".stage.old"  # an old name publish used for its transient folder: not publish's to delete
    sibling.mkdir()
    (sibling / "precious.txt").write_text("not yours\n")
    args = ["--repo-id", "someone/x", "--dry-run", "--stage-dir", str(stage)]
    publish(run_copy, *args, data_dir=prepared_data)
    assert (stage / MARKER).is_file() and (stage / "adapter_model.safetensors").is_file()
    (stage / "stale.txt").write_text("from an earlier publish\n")  # publish's own folder is replaced whole
    proc = publish(run_copy, *args, data_dir=prepared_data)
    assert not (stage / "stale.txt").exists() and (stage / MARKER).is_file()
    assert MARKER not in proc.stdout  # the marker is not listed, on the card or as staged
    assert MARKER not in (stage / "README.md").read_text()
    assert sorted(p.name for p in parent.iterdir()) == [".stage.old", "stage"]
    assert (sibling / "precious.txt").read_text() == "not yours\n"


def test_sigterm_while_staging_leaves_the_old_stage_and_no_transient_folder(run_copy, prepared_data, tmp_path):
    import os
    import signal
    import subprocess
    import time

    from dynahate.testing.cli import OFFLINE_ENV, cli_path

    with open(run_copy / "checkpoint-30" / "big.bin", "wb") as handle:  # slow enough to copy to be caught
        handle.truncate(600 * 1024 * 1024)
    parent = tmp_path / "out"
    stage = parent / "stage"
    stage.mkdir(parents=True)
    (stage / MARKER).write_text("{}\n")
    (stage / "previous.txt").write_text("the last good stage\n")
    before = tree(stage)
    proc = subprocess.Popen([cli_path("dynahate"), "publish", str(run_copy), "--repo-id", "someone/x", "--dry-run",
                             "--include-checkpoints", "--stage-dir", str(stage), "--data-dir", str(prepared_data)],
                            env={**os.environ, **OFFLINE_ENV}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    deadline = time.monotonic() + 300
    while not [p for p in parent.iterdir() if p.name.startswith(".stage.publish-")]:
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.002)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143 and err.strip() == "error: terminated", (proc.returncode, err[-2000:])
    assert tree(stage) == before  # the old stage as it was
    assert [p.name for p in parent.iterdir()] == ["stage"]  # no build or old folder beside it


def test_links_out_of_the_run_or_eval_dir_are_refused(run_copy, prepared_data, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("SECRET-CONTENT\n")
    outside = tmp_path / "outside_dir"
    outside.mkdir()
    (outside / "f").write_text("SECRET-CONTENT\n")
    stage = tmp_path / "s"
    cases = [
        (run_copy / "special_tokens_map.json", secret, [], "a link to a file outside the run directory"),
        (run_copy / "checkpoint-30" / "rng_state.pth", secret, ["--include-checkpoints"],
         "a link to a file outside the run directory"),
        (run_copy / "checkpoint-30" / "sub", outside, ["--include-checkpoints"], "a link to a folder"),
        (run_copy / "checkpoint-99", outside, ["--include-checkpoints"], "a link to a folder"),
        (run_copy / "dev_predictions.jsonl", secret, [], "a link to a file outside the eval directory"),
    ]
    for link, target, extra, message in cases:
        kept = link.with_name(link.name + ".kept")
        if link.exists():
            link.rename(kept)
        link.symlink_to(target)
        proc = publish(run_copy, "--repo-id", "someone/x", "--dry-run", "--stage-dir", str(stage), *extra,
                       data_dir=prepared_data, check=False)
        one_line_error(proc, str(link), message)
        assert "SECRET-CONTENT" not in proc.stdout + proc.stderr and not stage.exists()
        link.unlink()
        if kept.exists():
            kept.rename(link)
    # a link whose real path is inside the run is its file: staged as the file's bytes
    (run_copy / "special_tokens_map.json").symlink_to(run_copy / "tokenizer_config.json")
    publish(run_copy, "--repo-id", "someone/x", "--dry-run", "--stage-dir", str(stage), data_dir=prepared_data)
    assert not (stage / "special_tokens_map.json").is_symlink()
    assert (stage / "special_tokens_map.json").read_bytes() == (run_copy / "tokenizer_config.json").read_bytes()


def test_post_text_is_never_staged(run_copy, prepared_data, tmp_path):
    post = "POSTMARKER-7f3a this post must not leave the machine"
    run_main(["predict", "--adapter", str(run_copy), "--include-text",
             "--output", str(run_copy / "new_predictions.jsonl"), post])
    assert "POSTMARKER-7f3a" in (run_copy / "new_predictions.jsonl").read_text()  # the hazard is real
    stage = tmp_path / "s"
    args = ["--repo-id", "someone/x", "--dry-run", "--stage-dir", str(stage)]
    proc = publish(run_copy, *args, data_dir=prepared_data)
    assert "new_predictions.jsonl" not in proc.stdout and not (stage / "new_predictions.jsonl").exists()
    assert not [p for p in stage.rglob("*") if p.is_file() and b"POSTMARKER-7f3a" in p.read_bytes()]
    assert "holds no posts" in (stage / "README.md").read_text()

    results_path = run_copy / "eval_results.json"
    pristine = results_path.read_text()
    results = recorded_splits(results_path)
    results["dev"]["files"].append("new_predictions.jsonl")  # eval's record claims the post file
    results_path.write_text(json.dumps(results))
    line = one_line_error(publish(run_copy, *args, data_dir=prepared_data, check=False),
                          f"{run_copy / 'new_predictions.jsonl'}:1: keys ", "'text'")
    assert "POSTMARKER" not in line

    for split in results.values():
        del split["files"]  # an eval_results.json from before eval recorded its files
    results_path.write_text(json.dumps(results))
    one_line_error(publish(run_copy, *args, data_dir=prepared_data, check=False),
                   "does not record the files", "re-run `dynahate eval`")
    results_path.write_text(pristine)

    log = run_copy / "trainer_log.jsonl"
    count = len(log.read_text().splitlines())
    for bad in ({"current_steps": 61, "text": post}, {"current_steps": 61, "loss": post},
                {"current_steps": 61, "elapsed_time": post}):
        log.write_text(log.read_text() + json.dumps(bad) + "\n")
        key = next(k for k in bad if k != "current_steps")
        line = one_line_error(publish(run_copy, *args, data_dir=prepared_data, check=False),
                              f"{log}:{count + 1}: ", f"key '{key}'")
        assert "POSTMARKER" not in line
        log.write_text("".join(log.read_text().splitlines(keepends=True)[:count]))
    assert not stage.exists() or not [p for p in stage.rglob("*") if p.is_file() and b"POSTMARKER" in p.read_bytes()]


def test_results_of_another_adapter_are_refused_unless_forced(run_copy, prepared_data, tmp_path):
    from huggingface_hub import ModelCard
    from safetensors.torch import load_file, save_file

    other = tmp_path / "other_adapter"
    shutil.copytree(run_copy, other, ignore=shutil.ignore_patterns("checkpoint-*", "*_predictions.jsonl", "*.png",
                                                                     "eval_*"))
    weights = load_file(other / "adapter_model.safetensors")
    first = min(weights)
    weights[first] = weights[first] + 0.01  # another adapter: same shapes, other weights
    save_file(weights, other / "adapter_model.safetensors", metadata={"format": "pt"})
    other_eval = tmp_path / "other_eval"
    run_main(["eval", "--adapter", str(other), "--split", "test", "--data-dir", str(prepared_data),
             "--output-dir", str(other_eval)])
    stage = tmp_path / "s"
    args = ["--repo-id", "someone/x", "--dry-run", "--stage-dir", str(stage), "--eval-dir", str(other_eval)]
    one_line_error(publish(run_copy, *args, data_dir=prepared_data, check=False),
                   "not verified to be this run's adapter", "test: computed on another adapter", "--force")
    assert not stage.exists()

    proc = publish(run_copy, *args, "--force", data_dir=prepared_data)
    assert "note: --force: the test results are not verified" in proc.stdout
    card = ModelCard.load(stage / "README.md")
    assert "| test (not verified) (not the official data) |" in card.text
    assert "- test: computed on another adapter" in card.text
    assert not card.data.eval_results  # unverified numbers stay out of the model-index

    lf_file = tmp_path / "generated_predictions.jsonl"  # LLaMA-Factory's format, scored by `dynahate eval`
    lf_file.write_text("".join(json.dumps({"prompt": "p", "predict": label, "label": label}) + "\n"
                               for label in ("hate", "not hate", "hate", "not hate")))
    scored = tmp_path / "scored_eval"
    run_main(["eval", "--predictions", str(lf_file), "--name", "lf_test", "--output-dir", str(scored)])
    one_line_error(publish(run_copy, "--repo-id", "someone/x", "--dry-run", "--stage-dir", str(tmp_path / "s2"),
                           "--eval-dir", str(scored), data_dir=prepared_data, check=False),
                   "lf_test: scored from a predictions file")

    # --force lets the scored file through, but never a generated answer that quotes the post (issue 33, item 2):
    # eval keeps only its length and hash, and staging refuses such a value in a file written before it did so
    post = "POSTMARKER-7f3a the people of that town are all the same and should leave"
    lf_file.write_text(json.dumps({"prompt": "p", "predict": "hate", "label": "hate"}) + "\n"
                       + json.dumps({"prompt": "p", "predict": f"hate. The post: {post}", "label": "hate"}) + "\n")
    quoted = tmp_path / "quoted_eval"
    run_main(["eval", "--predictions", str(lf_file), "--name", "lf_test", "--output-dir", str(quoted)])
    predictions = quoted / "lf_test_predictions.jsonl"
    assert "POSTMARKER" not in predictions.read_text()
    publish(run_copy, "--repo-id", "someone/x", "--dry-run", "--force", "--stage-dir", str(tmp_path / "s3"),
            "--eval-dir", str(quoted), data_dir=prepared_data)
    assert not [p for p in (tmp_path / "s3").rglob("*") if p.is_file() and b"POSTMARKER" in p.read_bytes()]
    lines = read_jsonl(predictions)
    lines[1] = {key: value for key, value in lines[1].items() if not key.startswith("raw")} | {
        "raw": f"hate. The post: {post}"}  # as an eval from before the hash was recorded wrote it
    predictions.write_text("".join(json.dumps(line) + "\n" for line in lines))
    line = one_line_error(publish(run_copy, "--repo-id", "someone/x", "--dry-run", "--force", "--stage-dir",
                                  str(tmp_path / "s4"), "--eval-dir", str(quoted), data_dir=prepared_data, check=False),
                          f"{predictions}:2: the value of key 'raw' is a ")
    assert "POSTMARKER" not in line and not (tmp_path / "s4").exists()


def test_every_number_on_the_card_equals_its_source(evaluated_run, trained_run, prepared_data, dry_run_stage):
    import torch

    stage = dry_run_stage
    text = (stage / "README.md").read_text()

    def table(first_header):
        lines = text[text.index(f"| {first_header} |"):].splitlines()
        rows = []
        for line in lines[2:]:
            if not line.startswith("|"):
                break
            rows.append([cell.strip() for cell in line.strip("|").split("|")])
        return rows

    def fmt(value):
        return "n/a" if value is None else f"{value:.4f}" if isinstance(value, float) else str(value)

    report = json.loads((prepared_data / "prepare_report.json").read_text())
    assert {row[0]: row[1:] for row in table("split | posts")} == {
        split: [str(c["rows"]), str(c["labels"].get("hate", 0)), str(c["labels"].get("not hate", 0))]
        for split, c in report["splits"].items()}
    assert f"Rows skipped by prepare: {report['skipped']['rows']}." in text

    adapter = json.loads((evaluated_run / "adapter_config.json").read_text())
    state = json.loads((evaluated_run / "trainer_state.json").read_text())
    all_results = json.loads((evaluated_run / "all_results.json").read_text())
    expected = {
        "LoRA rank / alpha / dropout": f"{adapter['r']} / {adapter['lora_alpha']} / {adapter['lora_dropout']}",
        "LoRA target modules": ", ".join(sorted(adapter["target_modules"])),
        "steps run / epochs run": f"{state['global_step']} / {fmt(state['epoch'])}",
        "train runtime (s)": fmt(all_results["train_runtime"]),
        "train samples/s": fmt(all_results["train_samples_per_second"]),
        "final train loss": fmt(all_results["train_loss"]),
        "final eval loss": fmt(all_results["eval_loss"]),
    }
    training = table("setting | value")
    from_files = {row[0]: row[1] for row in training if row[2].endswith(".json")}
    assert from_files == expected  # every row sourced from a JSON file, each equal to it

    args = torch.load(trained_run / "training_args.bin", weights_only=False)  # the Trainer's own arguments
    trainer = {row[0]: row[1] for row in training if row[2] == "Trainer (README.md)"}
    assert trainer["optimizer"] == (f"{args.optim.value}, betas ({args.adam_beta1}, {args.adam_beta2}), "
                                    f"epsilon {args.adam_epsilon}")
    assert args.optim.value == "paged_adamw_32bit"
    assert float(trainer["learning rate"]) == args.learning_rate and int(trainer["seed"]) == args.seed
    assert int(trainer["micro-batch per device"]) == args.per_device_train_batch_size
    assert int(trainer["gradient accumulation"]) == args.gradient_accumulation_steps
    assert int(trainer["steps"]) == args.max_steps

    results = recorded_splits(evaluated_run)
    rows = {row[0]: row[1:] for row in table("split | method")}
    assert rows == {split: [r["mode"], str(r["examples"]), str(r["invalid"]), fmt(r["accuracy"]), fmt(r["macro_f1"]),
                            fmt(r.get("roc_auc")), fmt(r["precision"]["hate"]), fmt(r["recall"]["hate"]),
                            fmt(r["precision"]["not hate"]), fmt(r["recall"]["not hate"])]
                    for split, r in ((f"{name} (not the official data)", r) for name, r in results.items())}
    sizes = {row[0].strip("`"): row[1] for row in table("file | bytes")}
    assert sizes.pop("README.md") == "this card"
    assert sizes == {p.name: f"{p.stat().st_size}" for p in stage.iterdir() if p.name not in ("README.md", MARKER)}


INJECTED = "{{ 7*7 }}-{% if true %}JINJA-RAN{% endif %}"  # Jinja would print "49-JINJA-RAN" if it ran it


def test_values_holding_template_syntax_are_printed_as_written(run_copy, prepared_data, tmp_path):
    from huggingface_hub import ModelCard

    config_path = run_copy / "adapter_config.json"
    config = json.loads(config_path.read_text())
    config["base_model_name_or_path"] = f"org/base-{INJECTED}"
    config_path.write_text(json.dumps(config))
    recipe = tmp_path / f"recipe-{INJECTED}.yaml"  # a file name: stated on the card as the source of rows
    shutil.copyfile(REPO / "recipes" / "dynahate_qlora.yaml", recipe)
    stage = tmp_path / "s"
    # the base model differs from the one eval recorded, so the results need --force
    publish(run_copy, "--repo-id", "someone/x", "--dry-run", "--stage-dir", str(stage), "--force",
            "--recipe", str(recipe), "--dataset-id", f"me/data-{INJECTED}", "--license", f"other-{INJECTED}",
            data_dir=prepared_data)
    text = (stage / "README.md").read_text()
    assert text.count("JINJA-RAN") == text.count(INJECTED) and "49-JINJA" not in text
    # not a Hub repo id (braces), so a local base: a dry run's card names its folder as text, not as a Hub model
    assert f"A QLoRA adapter for `base-{INJECTED}` (a local copy of a base model" in text
    assert f"from_pretrained('base-{INJECTED}'," in text  # the usage snippet's literal
    assert f"| quantization | 4-bit bnb | {recipe.name} |" in text and f"`{recipe.name}` are as written" in text
    card = ModelCard.load(stage / "README.md")
    # the demo's synthetic data is no Dynahate release: the dataset id is named only in the body
    assert card.data.base_model is None and card.data.datasets is None
    assert f"which names `me/data-{INJECTED}` only for posts from a Dynahate release" in text
    assert card.data.license == f"other-{INJECTED}"


def test_template_names_only_what_card_py_gives_it(evaluated_run, prepared_data):
    """Every name the template uses is given, none given is unused, and rendering with Jinja's StrictUndefined
    (an undefined name or attribute is an error, where huggingface_hub's plain Template prints nothing) gives
    the same card; a repo id holding template syntax is printed as written."""
    import dataclasses

    import jinja2
    from jinja2 import meta

    from dynahate.publish.card import TEMPLATE, card_context, card_data, render_card
    from dynahate.publish.run_record import load_run_record

    record = load_run_record(evaluated_run, recipe=REPO / "recipes" / "dynahate_qlora.yaml",
                             prepare_report=prepared_data / "prepare_report.json")
    repo_id = "me/x"
    record = dataclasses.replace(record, notes=[f"note {INJECTED}"],
                                 framework_versions={f"Lib{INJECTED}": f"1.{INJECTED}"})
    files = {"adapter_model.safetensors": 1, f"a{INJECTED}.json": 2, "dev_roc.png": 3}
    from dynahate.eval.compare.comparison import compare_evaluations

    comparison = compare_evaluations(evaluated_run, evaluated_run, resamples=100)  # the run against itself
    comparison["a"]["name"] = f"other/{INJECTED}"
    comparison["notes"] = [f"a note {INJECTED}"]
    for unverified, compared in (({}, None), ({"test": f"why {INJECTED}"}, comparison)):
        context = card_context(record, repo_id, files, unverified, compared)
        source = TEMPLATE.read_text(encoding="utf-8")
        used = meta.find_undeclared_variables(jinja2.Environment().parse(source))
        assert used == set(context) | {"card_data"}
        data = card_data(record, repo_id, "mit", "aps/dynahate", unverified)
        strict = jinja2.Template(source, undefined=jinja2.StrictUndefined).render(card_data=data.to_yaml(), **context)
        text = render_card(record, repo_id, files, license="mit", unverified=unverified, comparison=compared)
        assert text == strict
        assert (f"## Comparison with other/{INJECTED}" in text) == bool(compared)
        assert (f"Note: a note {INJECTED}." in text) == bool(compared)
        for shown in (f"Notes: note {INJECTED}.", f"- Lib{INJECTED} 1.{INJECTED}", f"| `a{INJECTED}.json` | 2 |",
                      "![dev ROC curve](dev_roc.png)"):
            assert shown in text, shown
        assert (f"- test: why {INJECTED}." in text) == bool(unverified)
        assert text.count("JINJA-RAN") == text.count(INJECTED) and "49-JINJA" not in text

    # a repo id is a Hub name (the CLI refuses braces), but the renderer is public: it prints any value as written
    odd = f"me/{INJECTED}"
    text = render_card(record, odd, files)
    assert f"\n# {INJECTED}\n" in text and f"PeftModel.from_pretrained(base, {odd!r})" in text
    assert text.count("JINJA-RAN") == text.count(INJECTED) and "49-JINJA" not in text


@pytest.fixture(scope="module")
def original_eval(evaluated_run, tmp_path_factory):
    """Another adapter's evaluation of the same posts (every third answer of this run's flipped), written by
    `dynahate eval`'s own writer, recording a Hub repo id and commit as the `--adapter` of a Hub adapter does."""
    from dynahate.eval.predictions import Prediction
    from dynahate.testing.eval_folders import write_eval_folder

    flip = {"hate": "not hate", "not hate": "hate"}
    splits = {}
    for split in ("dev", "test"):
        lines = read_jsonl(evaluated_run / f"{split}_predictions.jsonl")
        assert all("round" in line for line in lines)  # dynahate eval recorded each post's round
        splits[split] = [Prediction(line["id"], line["gold"], flip[line["pred"]] if i % 3 == 0 else line["pred"],
                                    round=line["round"]) for i, line in enumerate(lines)]
    provenance = {"path": "/elsewhere", "sha256": "ab" * 32, "base_model": "org/base", "repo_id": "someone/original",
                  "commit": "0123456789abcdef0123456789abcdef01234567"}
    same_posts = {split: res["fingerprint"]
                  for split, res in recorded_splits(evaluated_run).items()}
    return write_eval_folder(tmp_path_factory.mktemp("original") / "eval", splits, provenance,
                             fingerprints=same_posts)


def test_compare_to_adds_the_comparison_to_the_card_and_stages_it(evaluated_run, original_eval, prepared_data,
                                                                  tiny_model, tmp_path):
    stage = tmp_path / "s"
    proc = publish(evaluated_run, "--repo-id", "someone/x", "--dry-run", "--stage-dir", str(stage), "--compare-to",
                   str(original_eval), data_dir=prepared_data)
    assert "comparison.json" in proc.stdout
    staged = json.loads((stage / "comparison.json").read_text())
    # the same numbers as `dynahate compare OTHER THIS` prints and writes; its paths made relative (issue 23, item 9)
    run_main(["compare", str(original_eval), str(evaluated_run), "--output", str(tmp_path / "c.json")])
    expected = json.loads((tmp_path / "c.json").read_text())
    for entry in expected["splits"].values():
        assert entry["b"]["adapter"]["path"] == str(evaluated_run.resolve())
        entry["a"]["adapter"]["path"] = "elsewhere"  # the other adapter's folder: its name
        entry["b"]["adapter"]["path"] = "."  # this run
        entry["b"]["adapter"]["base_model"] = tiny_model.name  # the local base (no --base-model): its folder name
    assert staged["splits"] == expected["splits"]
    assert staged["a"] == {"path": "eval", "results": "eval_results.json", "name": "someone/original"}
    assert staged["b"] == {"path": ".", "results": "eval_results.json", "name": evaluated_run.name}
    assert set(staged["splits"]) == {"dev", "test"} and staged["method"]["resamples"] == 10000

    text = (stage / "README.md").read_text()
    assert "\n## Comparison with someone/original\n" in text
    assert ("This adapter against someone/original (adapter SHA-256 `abababababab...`, commit "
            "`0123456789abcdef0123456789abcdef01234567`) on the same posts (joined by id; each split's fingerprint "
            "of the posts is the same on both sides)") in text
    assert "10000 resamples, seed 0" in text and "file `comparison.json`" in text
    # one wording throughout (issue 23, item 10): comparison.json's and compare's notes say A and B, so does the card
    assert "**A** is someone/original, **B** is this adapter; the difference is B - A" in text
    assert "Note: dev: A was evaluated in generate mode, B in score mode" in text
    assert not [word for word in (", other", ", this", "only other", "this minus other") if word in text]
    header = "| split | posts | accuracy, A | accuracy, B | B - A [CI] | macro-F1, A | macro-F1, B | B - A [CI] |"
    rows = []
    for line in text[text.index(header):].splitlines()[2:]:  # the table: up to its first non-table line
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split("|")])

    def diff(metric):
        low, high = metric["interval"]
        return f"{metric['difference']:+.4f} [{low:+.4f}, {high:+.4f}]"

    assert {row[0]: row[1:] for row in rows} == {  # every number on the card equals comparison.json's
        split: [str(e["n"]), f"{e['accuracy']['a']:.4f}", f"{e['accuracy']['b']:.4f}", diff(e["accuracy"]),
                f"{e['macro_f1']['a']:.4f}", f"{e['macro_f1']['b']:.4f}", diff(e["macro_f1"]), f"{e['agreement']:.4f}",
                f"{e['discordant']['a_right_b_wrong']} / {e['discordant']['a_wrong_b_right']}",
                f"{e['mcnemar_p']:.4g}", f"{e['invalid']['a']} / {e['invalid']['b']}"]
        for split, e in staged["splits"].items()}
    results = recorded_splits(evaluated_run)
    for split, entry in staged["splits"].items():
        assert entry["accuracy"]["b"] == pytest.approx(results[split]["accuracy"])  # this run is B
    assert f"| `comparison.json` | {(stage / 'comparison.json').stat().st_size} |" in text
    posts = [line["input"] for split in ("dev", "test") for line in read_jsonl(data_file(prepared_data, split))]
    staged_text = (stage / "comparison.json").read_text()
    assert not [post for post in posts if post in staged_text or post in text]


def test_compare_to_an_evaluation_of_other_posts_is_refused_and_nothing_is_staged(evaluated_run, original_eval,
                                                                                   prepared_data, tmp_path):
    other = tmp_path / "other"
    shutil.copytree(original_eval, other)
    lines = read_jsonl(other / "test_predictions.jsonl")[1:]
    (other / "test_predictions.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    stage = tmp_path / "s"
    proc = publish(evaluated_run, "--repo-id", "someone/x", "--dry-run", "--stage-dir", str(stage), "--compare-to",
                   str(other), data_dir=prepared_data, check=False)
    # a line deleted from the file: it no longer holds the posts its split's fingerprint records
    assert_refused(proc, f"{other / 'test_predictions.jsonl'}: {len(lines)} predictions, but the fingerprint "
                         f"eval_results.json records for this split is of {len(lines) + 1} posts")
    assert not stage.exists()
    proc = publish(evaluated_run, "--repo-id", "someone/x", "--dry-run", "--stage-dir", str(other), "--compare-to",
                   str(other), data_dir=prepared_data, check=False)
    assert_refused(proc, "is the --compare-to directory")


def test_a_tampered_record_is_one_line_and_nothing_is_staged(evaluated_run, original_eval, prepared_data, tmp_path):
    """Issue 33 item 8: `bias: [1]` in the --compare-to evaluation was an AttributeError, '[' * 100000 in the run's
    own record a RecursionError."""
    other = tmp_path / "other"
    shutil.copytree(original_eval, other)
    results = recorded_splits(other)
    results["test"]["bias"] = [1]
    (other / "eval_results.json").write_text(json.dumps(results))
    stage = tmp_path / "s"
    args = ["--repo-id", "someone/x", "--dry-run", "--stage-dir", str(stage)]
    proc = publish(evaluated_run, *args, "--compare-to", str(other), data_dir=prepared_data, check=False)
    assert_refused(proc, str(other / "eval_results.json"), "split 'test': bias is a JSON array, expected an object")
    assert not stage.exists()
    run = tmp_path / "run"
    shutil.copytree(evaluated_run, run)
    (run / "eval_results.json").write_text("[" * 100_000)
    assert_refused(publish(run, *args, data_dir=prepared_data, check=False), str(run / "eval_results.json"),
                   "nested too deeply")
    assert not stage.exists()


def test_compare_to_other_posts_behind_the_same_ids_is_refused_unless_allowed_and_then_the_card_says_so(
        evaluated_run, original_eval, prepared_data, tmp_path):
    from dynahate.eval.predictions import Prediction
    from dynahate.testing.eval_folders import write_eval_folder

    splits = {split: [Prediction(line["id"], line["gold"], line["pred"], round=line["round"])
                      for line in read_jsonl(original_eval / f"{split}_predictions.jsonl")]
              for split in ("dev", "test")}
    other = write_eval_folder(tmp_path / "other", splits, {"path": "/elsewhere", "sha256": "cd" * 32},
                              data="another version")
    stage = tmp_path / "s"
    args = ["--repo-id", "someone/x", "--dry-run", "--stage-dir", str(stage), "--compare-to", str(other)]
    assert_refused(publish(evaluated_run, *args, data_dir=prepared_data, check=False),
                   "cannot compare split 'dev': A and B evaluated different posts", "--allow-different-posts")
    assert not stage.exists()
    publish(evaluated_run, *args, "--allow-different-posts", data_dir=prepared_data)
    text = (stage / "README.md").read_text()
    assert "on DIFFERENT posts behind the same ids (their fingerprints differ" in text
    assert json.loads((stage / "comparison.json").read_text())["splits"]["test"]["posts"]["same"] is False


def test_compare_to_the_run_itself_or_a_copy_of_its_evaluation_is_refused(evaluated_run, prepared_data, tmp_path):
    """Issue 23, item 10: it was accepted, and the card's comparison was all zeros."""
    copy = tmp_path / "copy"
    copy.mkdir()
    for name in ("eval_results.json", "dev_predictions.jsonl", "test_predictions.jsonl"):
        shutil.copyfile(evaluated_run / name, copy / name)
    for other in (evaluated_run, copy):
        stage = tmp_path / "s"
        proc = publish(evaluated_run, "--repo-id", "someone/x", "--dry-run", "--stage-dir", str(stage),
                       "--compare-to", str(other), data_dir=prepared_data, check=False)
        assert_refused(proc, f"--compare-to {other}: its 'dev' results are of this run's own adapter",
                       "compare with another adapter's evaluation")
        assert not stage.exists()


def test_publish_help_states_defaults_and_environment():
    proc = run_main(["publish", "--help"])
    text = " ".join(proc.stdout.split())
    for name in ("HF_TOKEN", "HF_ENDPOINT", "DYNAHATE_UPLOAD_BACKOFF_S", "hf auth login", "HF_HOME"):
        assert name in text, name
    import argparse

    from dynahate.publish import publish_cli as cli

    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    options = [action for action in parser._actions if action.option_strings and action.dest != "help"]
    for action in options:
        assert "default" in action.help, action.option_strings
        assert action.option_strings[0] in text


# --- safe off the happy path, round two (issue 23, items 8, 9, 10) -----------------------------------------------

def test_staged_chat_template_gives_the_training_prompt_from_the_post_alone(evaluated_run, prepared_data,
                                                                             dry_run_stage, llama3_template):
    """Item 8: the run's chat_template.jinja is LLaMA-Factory's llama3 template (no system prompt, no instruction);
    the staged one is the dynahate template's, so a plain transformers user gets the training prompt."""
    from transformers import AutoTokenizer

    from dynahate.plugin import prompts

    stage = dry_run_stage
    staged = AutoTokenizer.from_pretrained(stage)  # as a user's AutoTokenizer.from_pretrained(repo_id) loads it
    lf_tokenizer, llama3 = llama3_template
    records = read_jsonl(data_file(prepared_data, "test"))
    for record in records:
        messages = [{"role": "user", "content": record["input"]}]
        rendered = staged.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        assert rendered == prompts.build_prompt(record["input"])  # the training prompt string
        training = [{"role": "user", "content": record["instruction"] + "\n" + record["input"]},
                    {"role": "assistant", "content": record["output"]}]
        expected, _ = llama3.encode_oneturn(lf_tokenizer, training, system=record["system"])
        ids = staged.apply_chat_template(messages, add_generation_prompt=True, tokenize=True, return_dict=True)
        assert ids["input_ids"] == expected  # LLaMA-Factory's token ids of the training example's prompt
    assert (stage / "chat_template.jinja").read_text() != (evaluated_run / "chat_template.jinja").read_text()
    assert "apply_chat_template" in (stage / "README.md").read_text()


def _strings(value):
    if isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)
    elif isinstance(value, str):
        yield value


def test_staged_results_hold_no_path_of_this_machine(evaluated_run, original_eval, prepared_data, tmp_path):
    """Item 9: eval_results.json and comparison.json recorded absolute paths (adapter.path, a.path, b.path, the
    local base); staged, each is relative to the run or a folder name, the run's own files unchanged."""
    import os

    before = (evaluated_run / "eval_results.json").read_bytes()
    stage = tmp_path / "s"
    publish(evaluated_run, "--repo-id", "someone/x", "--dry-run", "--stage-dir", str(stage), "--compare-to",
            str(original_eval), data_dir=prepared_data)  # with --base-model: see the next test
    results = recorded_splits(evaluated_run)  # its splits (the file is unchanged: checked below)
    local_base = json.loads((evaluated_run / "adapter_config.json").read_text())["base_model_name_or_path"]
    assert os.path.isabs(results["dev"]["adapter"]["path"]) and results["dev"]["adapter"]["base_model"] == local_base
    for name in ("eval_results.json", "comparison.json"):
        staged = json.loads((stage / name).read_text())
        absolute = [text for text in _strings(staged) if text.startswith(("/", "~"))]
        assert absolute == [], name
        text = (stage / name).read_text()
        assert str(evaluated_run.parent) not in text and local_base not in text and str(original_eval) not in text
    staged = recorded_splits(stage)
    for res in results.values():  # only the paths changed
        res["adapter"] = {**res["adapter"], "path": ".", "base_model": Path(local_base).name}
    assert staged == results
    assert (evaluated_run / "eval_results.json").read_bytes() == before


def test_staged_trainer_state_holds_no_path_of_this_machine(run_copy, prepared_data, tmp_path):
    """transformers records best_model_checkpoint as a path of the training machine (OUTPUT_DIR/checkpoint-N):
    staged relative to the run, whether the path lies in the run or elsewhere; the run's file, and what the card
    reads from it, unchanged. A trainer_state.json that is not JSON is one line naming it, nothing staged."""
    state_path = run_copy / "trainer_state.json"
    original = state_path.read_bytes()
    state = json.loads(original)
    stage = tmp_path / "s"
    args = ["--repo-id", "someone/x", "--dry-run", "--stage-dir", str(stage)]
    publish(run_copy, *args, data_dir=prepared_data)
    assert state["best_model_checkpoint"] is None and (stage / "trainer_state.json").read_bytes() == original
    for best in (str(run_copy / "checkpoint-30"), "/home/me/runs/dynahate/checkpoint-30"):
        text = json.dumps({**state, "best_model_checkpoint": best}, indent=2) + "\n"
        state_path.write_text(text)
        publish(run_copy, *args, data_dir=prepared_data)
        staged = (stage / "trainer_state.json").read_text()
        assert json.loads(staged) == {**state, "best_model_checkpoint": "checkpoint-30"}
        assert staged == text.replace(json.dumps(best), '"checkpoint-30"')  # the rest of the text as it was
        assert str(tmp_path) not in staged and "/home/me" not in staged
        assert state_path.read_text() == text  # the run's own file unchanged
        assert f"| steps run / epochs run | {state['global_step']} / " in (stage / "README.md").read_text()

    state_path.write_text(original.decode()[:-20])
    proc = publish(run_copy, *args[:-1], str(tmp_path / "s2"), data_dir=prepared_data, check=False)
    one_line_error(proc, f"{state_path}: not valid JSON (the Trainer's state)")
    assert not (tmp_path / "s2").exists()


def test_a_run_trained_from_a_local_base_is_not_uploaded_without_base_model(run_copy, prepared_data, tmp_path):
    """Item 9: the run's adapter_config.json names its base by a local path, which nobody else can load."""
    from huggingface_hub import ModelCard

    config_path = run_copy / "adapter_config.json"
    config_text = config_path.read_text()
    local_base = json.loads(config_text)["base_model_name_or_path"]
    stage = tmp_path / "s"
    with LoopbackHub() as hub:
        proc = publish(run_copy, "--repo-id", "someone/x", "--stage-dir", str(stage), data_dir=prepared_data,
                       env=hub_env(hub, tmp_home=tmp_path / "h"), check=False)
        one_line_error(proc, f"{config_path}: base_model_name_or_path {local_base!r} is an absolute path",
                       "--base-model REPO_ID")
        assert hub.state.commits == [] and not stage.exists()

    proc = publish(run_copy, "--repo-id", "someone/x", "--dry-run", "--stage-dir", str(stage), data_dir=prepared_data)
    assert "an upload would be refused" in proc.stderr and "--base-model REPO_ID" in proc.stderr
    staged = json.loads((stage / "adapter_config.json").read_text())  # a placeholder, never this machine's path
    placeholder = f"<local base model: {Path(local_base).name}>"
    assert staged == {**json.loads(config_text), "base_model_name_or_path": placeholder}

    proc = publish(run_copy, "--repo-id", "someone/x", "--dry-run", "--stage-dir", str(stage), *BASE,
                   data_dir=prepared_data)
    assert "warning:" not in proc.stderr
    staged = (stage / "adapter_config.json").read_text()
    assert json.loads(staged) == {**json.loads(config_text), "base_model_name_or_path": "someone/tiny-base"}
    changed = [(a, b) for a, b in zip(config_text.splitlines(), staged.splitlines(), strict=True) if a != b]
    assert changed == [(f'  "base_model_name_or_path": "{local_base}",',
                        '  "base_model_name_or_path": "someone/tiny-base",')]  # the rest of the text as it was
    assert config_path.read_text() == config_text  # the run's own file unchanged
    card = ModelCard.load(stage / "README.md")
    assert card.data.base_model == "someone/tiny-base"
    assert "from_pretrained('someone/tiny-base'," in card.text and local_base not in card.text
    staged_results = recorded_splits(stage)
    assert {res["adapter"]["base_model"] for res in staged_results.values()} == {"someone/tiny-base"}

    one_line_error(publish(run_copy, "--repo-id", "someone/x", "--dry-run", "--stage-dir", str(stage),
                           "--base-model", str(tmp_path), data_dir=prepared_data, check=False),
                   "--base-model", "is not a valid Hub repo id")

    # a run whose base is a Hub id needs no --base-model, and takes no other one
    config_path.write_text(config_text.replace(json.dumps(local_base), json.dumps("org/base")))
    args = ["--repo-id", "someone/x", "--dry-run", "--stage-dir", str(stage), "--force"]  # eval used the old base
    proc = publish(run_copy, *args, data_dir=prepared_data)
    assert "warning:" not in proc.stderr and ModelCard.load(stage / "README.md").data.base_model == "org/base"
    publish(run_copy, *args, "--base-model", "org/base", data_dir=prepared_data)
    one_line_error(publish(run_copy, *args, *BASE, data_dir=prepared_data, check=False),
                   "--base-model someone/tiny-base", "already names the Hub model 'org/base'")


def _without_dac_override(argv):
    """``argv`` run so that file modes apply: as is for a user, under root without the capabilities that let root
    read any file (setpriv); None where that cannot be done."""
    import os
    import shutil as sh
    import subprocess

    if os.geteuid() != 0:
        return argv
    prefix = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search"]
    if not sh.which("setpriv") or subprocess.run([*prefix, "true"], capture_output=True).returncode != 0:
        return None
    return [*prefix, *argv]


def test_files_publish_may_not_read_are_one_line_naming_them(run_copy, prepared_data, tmp_path):
    """Item 10: an unreadable run folder was a traceback (or "missing"); an unreadable file one too."""
    import os

    from dynahate.testing.cli import OFFLINE_ENV, cli_path

    stage = tmp_path / "s"
    argv = _without_dac_override([cli_path("dynahate"), "publish", str(run_copy), "--repo-id", "someone/x",
                                  "--dry-run", "--stage-dir", str(stage), "--data-dir", str(prepared_data)])
    if argv is None:
        pytest.skip("running as root, and setpriv cannot drop the capability to read any file")
    import subprocess

    cases = [(run_copy, 0o000), (run_copy, 0o644), (run_copy / "adapter_model.safetensors", 0o000),
             (run_copy / "tokenizer.json", 0o000), (run_copy / "dev_predictions.jsonl", 0o000)]
    for path, mode in cases:
        kept = path.stat().st_mode
        path.chmod(mode)
        try:
            proc = subprocess.run(argv, capture_output=True, text=True, env={**os.environ, **OFFLINE_ENV},
                                  timeout=600)
        finally:
            path.chmod(kept)
        denied = path if mode == 0o000 else run_copy / "adapter_model.safetensors"
        one_line_error(proc, f"{denied}: permission denied")
        assert "No such file" not in proc.stderr and "missing" not in proc.stderr
        assert not stage.exists()
    (run_copy / "adapter_model.safetensors").chmod(0o600)  # as safetensors 0.8 writes it
    run_main(["publish", *argv[argv.index("publish") + 1:]])  # readable again: staged, every file as a new file is
    mode = 0o666 & ~_umask()
    assert {p.name: p.stat().st_mode & 0o777 for p in stage.iterdir()} == {p.name: mode for p in stage.iterdir()}


def _umask():
    import os

    umask = os.umask(0)
    os.umask(umask)
    return umask


def test_the_run_record_is_checked_before_the_card_is_rendered(run_copy, prepared_data, tmp_path):
    """Item 10: a record lacking a number the card states was found by the renderer (a KeyError traceback)."""
    results_path = run_copy / "eval_results.json"
    results = json.loads(results_path.read_text())
    for key, split in (("macro_f1", "dev"), ("examples", "test")):
        broken = json.loads(json.dumps(results))
        del broken[split][key]
        results_path.write_text(json.dumps(broken))
        proc = publish(run_copy, "--repo-id", "someone/x", "--dry-run", "--stage-dir", str(tmp_path / "s"),
                       data_dir=prepared_data, check=False)
        one_line_error(proc, f"{results_path}: split {split!r} has no", repr(key), "re-run `dynahate eval`")
        assert not (tmp_path / "s").exists()


def test_card_shows_the_decision_ready_figures_as_recorded(evaluated_run, dry_run_stage):
    """Intervals, operating points chosen on dev, contrast pairs per round, bias by group (weakest first) and
    calibration: every number on the card is the one eval_results.json records."""
    from dynahate.eval.decision.calibration import NO_FIT, temperature_text

    stage = dry_run_stage
    text = (stage / "README.md").read_text()
    results = recorded_splits(evaluated_run)
    assert "### Decision-ready figures" in text and "95 % interval (percentile bootstrap over the posts, 10000" in text
    for split, res in results.items():
        lo, hi = res["intervals"]["accuracy"]
        assert f"| {split} | {res['accuracy']:.4f} [{lo:.4f}, {hi:.4f}] |" in text
    test = results["test"]
    for point in test["operating_points"]:
        chosen = point["chosen_on"] or "fixed"
        assert (f"| {point['name']} | {point['threshold']:.4f} | {chosen} | {point['precision_hate']:.4f} | "
                f"{point['recall_hate']:.4f} | {point['fpr']:.4f} |") in text
    contrast = test["contrast"]
    assert (f"| all | {contrast['pairs']} | {contrast['both_correct']} | {contrast['consistency']:.4f} |") in text
    for name, group in contrast["rounds"].items():
        assert f"| {name} | {group['pairs']} | {group['both_correct']} |" in text
    rows = [line for line in text.splitlines() if line.startswith("| ") and line.split("|")[1].strip()
            in test["bias"]["groups"]]
    assert rows and [row.split("|")[1].strip() for row in rows] == sorted(
        test["bias"]["groups"], key=lambda g: (min([v for k, v in test["bias"]["groups"][g].items()
                                                    if k.endswith("_auc") and v is not None] or [2.0]), g))
    calibration = test["calibration"]
    shown = temperature_text(calibration["temperature"])  # the demo's dev is separated: 'not meaningful' after it
    shown += "" if calibration.get("meaningful", True) else f" ({NO_FIT})"
    assert (f"T = {shown} on the label log-odds, fitted on the dev split" in text
            and f"{test['ece']:.4f} before, {calibration['ece']:.4f} after" in text)


def test_card_reads_a_test_split_evaluated_from_its_prepared_file(evaluated_run, prepared_data):
    """`eval --data .../dynahate_test.jsonl` records the test split as `dynahate_test`: the card's operating points,
    calibration and rounds are read from it as from `test`."""
    import dataclasses

    from dynahate.eval.decision.calibration import temperature_text
    from dynahate.publish.card import render_card
    from dynahate.publish.run_record import load_run_record

    record = load_run_record(evaluated_run, recipe=REPO / "recipes" / "dynahate_qlora.yaml",
                             prepare_report=prepared_data / "prepare_report.json")
    files = {"adapter_model.safetensors": 1}
    renamed = {("dynahate_test" if split == "test" else split): res for split, res in record.eval_results.items()}
    as_test = render_card(record, "me/x", files)
    as_file = render_card(dataclasses.replace(record, eval_results=renamed), "me/x", files)
    test = record.eval_results["test"]
    for text in (as_test, as_file):
        for point in test["operating_points"]:
            assert f"| {point['name']} | {point['threshold']:.4f} | {point['chosen_on'] or 'fixed'} |" in text
        assert f"T = {temperature_text(test['calibration']['temperature'])}" in text
    assert "| dynahate_test |" in as_file  # the headline rows name the split as recorded
