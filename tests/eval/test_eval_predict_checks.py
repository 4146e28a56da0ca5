"""``dynahate eval`` / ``predict`` refuse bad arguments, paths, adapters and posts in one line, before any model loads.

Most cases run against a copy of the trained run whose adapter config names a base model that
does not exist: a command that got as far as loading the model would fail with "cannot load base
model", so the expected error proves the check came first.
"""

import json
import shutil

import pytest

from dynahate.core.describe import text_sha1
from dynahate.plugin.splits import data_file, meta_file
from dynahate.testing.cli import run_main
from dynahate.testing.cli_refusal import assert_refused, snapshot, temp_files
from dynahate.testing.records import read_jsonl, recorded_splits

pytestmark = pytest.mark.integration

MARKER = "Zqxmarker"  # a word of a refused post; it must never be echoed


@pytest.fixture(scope="module")
def unloadable_run(trained_run, tmp_path_factory):
    """The trained run (tokenizer and adapter intact) pointing at a base model that cannot be loaded."""
    run = tmp_path_factory.mktemp("unloadable") / "run"
    shutil.copytree(trained_run, run)
    config = json.loads((run / "adapter_config.json").read_text())
    config["base_model_name_or_path"] = str(run.parent / "no-such-base-model")
    (run / "adapter_config.json").write_text(json.dumps(config))
    return run


def assert_one_line_error(proc, *fragments):
    """One ``error:`` line with every fragment, exit 2, the refused post's marker nowhere, and no model loaded."""
    line = assert_refused(proc, *fragments, marker=MARKER)
    assert "cannot load base model" not in line
    return line


def assert_usage_error(proc, fragment):
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert proc.stderr.strip().splitlines()[-1].endswith(fragment), proc.stderr


def long_post(words: int) -> str:
    return " ".join(f"{MARKER}{i} lorem ipsum dolor" for i in range(words))


@pytest.fixture(scope="module")
def prompt_tokens(trained_run):
    """``prompt_tokens(post)``: the length of the post's prompt in the trained run's tokens (``unloadable_run``'s
    are the same files)."""
    from transformers import AutoTokenizer

    from dynahate.plugin.prompts import build_prompt

    tokenizer = AutoTokenizer.from_pretrained(trained_run)
    return lambda post: len(tokenizer.encode(build_prompt(post), add_special_tokens=False))


# -- numbers: argparse refuses them before anything runs ---------------------------------------------------------

@pytest.mark.parametrize("command, option, value", [
    ("eval", "--batch-size", "0"), ("eval", "--token-budget", "0"), ("eval", "--token-budget", "-5"),
    ("eval", "--cutoff-len", "0"), ("eval", "--batch-size", "eight"),
    ("predict", "--token-budget", "0"), ("predict", "--cutoff-len", "-1"),
])
def test_non_positive_numbers_are_usage_errors(unloadable_run, prepared_data, command, option, value):
    args = [command, "--adapter", str(unloadable_run), option, value]
    args += ["--data-dir", str(prepared_data)] if command == "eval" else ["a post"]
    proc = run_main(args, check=False)
    expected = "'auto' or a positive integer" if option == "--token-budget" else "a positive integer"
    assert_usage_error(proc, f"argument {option}: must be {expected}, got '{value}'")


@pytest.mark.parametrize("option", ["--show-misclassified", "--show-examples"])
def test_negative_show_misclassified_is_a_usage_error_under_either_spelling(unloadable_run, option):
    proc = run_main(["eval", "--adapter", str(unloadable_run), option, "-1"], check=False)
    assert_usage_error(proc, f"argument {option}: must be a whole number >= 0, got '-1'")


def test_a_path_as_split_name_is_a_usage_error(tmp_path):
    proc = run_main(["eval", "--predictions", str(tmp_path / "p.jsonl"), "--name", "../escape",
                    "--output-dir", str(tmp_path)], check=False)
    assert_usage_error(proc, "argument --name: must be a plain name (no '/', not starting with '.'), got '../escape'")


# -- --show-examples, the deprecated alias of eval --show-misclassified and predict --include-text ----------------

def deprecation_warning(new_name):
    return f"warning: --show-examples is deprecated; use {new_name}"


@pytest.mark.parametrize("first, second", [
    (["--show-misclassified", "2"], ["--show-examples", "3"]),
    (["--show-examples", "3"], ["--show-misclassified", "2"]),
])
def test_eval_old_and_new_spelling_with_different_numbers_is_a_usage_error(unloadable_run, prepared_data, first,
                                                                           second):
    proc = run_main(["eval", "--adapter", str(unloadable_run), "--data-dir", str(prepared_data),
                    *first, *second], check=False)
    assert_usage_error(proc, f"argument {second[0]}: {second[1]} conflicts with {first[0]} {first[1]}: "
                             "give one spelling, or the same value to both")
    assert "cannot load base model" not in proc.stderr and proc.stdout == ""


def test_eval_old_and_new_spelling_that_agree_are_accepted_with_one_warning(unloadable_run, prepared_data, tmp_path):
    target = tmp_path / "results.txt"
    target.write_text("mine\n")
    proc = run_main(["eval", "--adapter", str(unloadable_run), "--data-dir", str(prepared_data),
                    "--show-examples", "2", "--show-misclassified", "2", "--show-examples", "2",
                    "--output-dir", str(target)], check=False)
    # parsed: the run went on to the output directory check (before the model loads)
    assert proc.returncode == 2 and proc.stderr.splitlines() == [
        deprecation_warning("--show-misclassified"), f"error: --output-dir {target}: is a file, not a directory"]


@pytest.mark.parametrize("rank, warned", [("0", True), ("1", False)])
def test_under_torchrun_only_rank_0_prints_the_deprecation_warning(tmp_path, rank, warned):
    proc = run_main(["eval", "--adapter", str(tmp_path), "--show-examples", "2", "--batch-size", "0"],
                   check=False, env={"RANK": rank, "WORLD_SIZE": "2", "LOCAL_RANK": rank})
    assert_usage_error(proc, "argument --batch-size: must be a positive integer, got '0'")
    assert (deprecation_warning("--show-misclassified") in proc.stderr.splitlines()) == warned


@pytest.mark.parametrize("options", [["--show-examples"], ["--include-text", "--show-examples"]])
def test_predict_old_spelling_alone_or_with_the_new_one_warns_once_and_never_echoes_a_post(unloadable_run, options):
    post = f"{MARKER} a post"
    proc = run_main(["predict", "--adapter", str(unloadable_run), *options, post, "  "], check=False)
    # parsed: the run went on to check the posts (before the model loads)
    assert proc.returncode == 2 and proc.stderr.splitlines() == [
        deprecation_warning("--include-text"), "error: TEXT argument 2 (index 1): the post is empty or whitespace only"]
    assert MARKER not in proc.stdout + proc.stderr


@pytest.mark.parametrize("command, new_name, new_help", [
    ("eval", "--show-misclassified N",
     "print up to N misclassified posts per split (default 0: posts are hate speech)"),
    ("predict", "--include-text", "include each post's text in the output (default: off, posts are hate speech)"),
])
def test_help_names_the_new_option_and_the_deprecated_alias(command, new_name, new_help):
    text = " ".join(run_main([command, "--help"]).stdout.split())
    name = new_name.split()[0]
    assert f"{new_name} {new_help}" in text
    alias = "--show-examples N" if command == "eval" else "--show-examples"
    assert f"{alias} (deprecated alias of {name}; removed in 0.2)" in text


# -- output paths ---------------------------------------------------------------------------------------------------

def test_eval_output_dir_that_is_a_file_fails_before_the_work(unloadable_run, prepared_data, tmp_path):
    target = tmp_path / "results.txt"
    target.write_text("mine\n")
    proc = run_main(["eval", "--adapter", str(unloadable_run), "--data-dir", str(prepared_data),
                    "--output-dir", str(target)], check=False)
    assert_one_line_error(proc, f"--output-dir {target}: is a file, not a directory")
    assert target.read_text() == "mine\n"
    proc = run_main(["eval", "--adapter", str(unloadable_run), "--data-dir", str(prepared_data),
                    "--output-dir", str(target / "sub")], check=False)
    assert_one_line_error(proc, f"--output-dir {target / 'sub'}: cannot create it, {target} is a file")


def test_eval_output_name_taken_by_a_directory_or_broken_results_fail_before_the_work(unloadable_run, prepared_data,
                                                                                      tmp_path):
    out = tmp_path / "out"
    (out / "dev_predictions.jsonl").mkdir(parents=True)
    proc = run_main(["eval", "--adapter", str(unloadable_run), "--data-dir", str(prepared_data),
                    "--split", "dev", "--output-dir", str(out)], check=False)
    assert_one_line_error(proc, f"{out / 'dev_predictions.jsonl'}: is a directory")
    (out / "dev_predictions.jsonl").rmdir()
    (out / "eval_results.json").write_text("{broken")
    proc = run_main(["eval", "--adapter", str(unloadable_run), "--data-dir", str(prepared_data),
                    "--split", "dev", "--output-dir", str(out)], check=False)
    assert_one_line_error(proc, f"{out / 'eval_results.json'}", "not valid JSON")
    assert sorted(p.name for p in out.iterdir()) == ["eval_results.json"]


@pytest.mark.parametrize(("content", "needle"), [
    ('{"foo": {"mode": "score"}}', "split 'foo' has no 'examples'"),
    ("[" * 100_000, "nested too deeply"),
    ("/dev/zero", "not a regular file"),
    ('{"test": {"mode": "score", "examples": 2, "invalid": 0, "accuracy": 1, "macro_f1": 1, '
     '"precision": {"hate": 1, "not hate": 1}, "recall": {"hate": 1, "not hate": 1}, "bias": [1]}}',
     "split 'test': bias is a JSON array, expected an object"),
], ids=["not-an-evaluation", "deep", "dev-zero", "bias-list"])
def test_a_tampered_earlier_record_fails_before_the_work(unloadable_run, prepared_data, tmp_path, content, needle):
    """Issue 33 item 8: `{"foo": {"mode": "score"}}` passed the early check and failed with a KeyError after the whole
    evaluation ran; a deep file was a RecursionError, a link to /dev/zero an unbounded read."""
    out = tmp_path / "out"
    out.mkdir()
    if content == "/dev/zero":
        (out / "eval_results.json").symlink_to("/dev/zero")
    else:
        (out / "eval_results.json").write_text(content)
    proc = run_main(["eval", "--adapter", str(unloadable_run), "--data-dir", str(prepared_data),
                    "--split", "dev", "--output-dir", str(out)], check=False)
    assert_one_line_error(proc, str(out / "eval_results.json"), needle)
    assert sorted(p.name for p in out.iterdir()) == ["eval_results.json"]


def test_a_bad_sibling_metadata_sidecar_fails_before_the_model_loads(unloadable_run, prepared_data, tmp_path):
    """Issue 34 item 2: eval read the sibling splits' .meta.jsonl (a post's pair may sit in another split) after
    scoring, so a bad sidecar failed after the model ran."""
    data = tmp_path / "data"
    shutil.copytree(prepared_data, data)
    sidecar = data / "dynahate_train.meta.jsonl"
    sidecar.write_text(sidecar.read_text() + "{broken\n")
    out = tmp_path / "out"
    proc = run_main(["eval", "--adapter", str(unloadable_run), "--data-dir", str(data), "--split", "dev",
                     "--output-dir", str(out)], check=False)
    assert_one_line_error(proc, str(sidecar), "not valid JSON")
    assert not out.exists()


def test_an_earlier_dev_predictions_file_linking_out_of_the_folder_fails_before_the_work(unloadable_run,
                                                                                           prepared_data, tmp_path):
    """An evaluation without its own dev split reuses an earlier one's scores from the output folder: its
    ``dev_predictions.jsonl`` must be a file inside the folder (as ``compare`` reads), for ``eval`` and
    ``hatecheck``; the refusal is one line naming it, before the model loads, and the folder is left as it was."""
    from dynahate.eval.artifacts import SplitOutcome, write_eval_outputs
    from dynahate.eval.metrics import split_results
    from dynahate.eval.predictions import Prediction
    from dynahate.testing.cli import FIXTURES

    out = tmp_path / "out"
    dev = [Prediction(f"acl{i}", gold, "hate" if p_hate >= 0.5 else "not hate", p_hate=p_hate)
           for i, (gold, p_hate) in enumerate([("hate", 0.9), ("not hate", 0.2), ("hate", 0.4), ("not hate", 0.6)])]
    write_eval_outputs(out, {"dev": SplitOutcome(dev, split_results(dev, "score", 1.0))})
    linked, outside = out / "dev_predictions.jsonl", tmp_path / "elsewhere.jsonl"
    linked.rename(outside)
    linked.symlink_to(outside)
    before = snapshot(out)
    needles = (f"{linked}: a link to a file outside {out}",)
    proc = run_main(["eval", "--adapter", str(unloadable_run), "--data-dir", str(prepared_data), "--split", "test",
                     "--output-dir", str(out)], check=False)
    assert_one_line_error(proc, *needles)
    proc = run_main(["hatecheck", "--adapter", str(unloadable_run), "--csv", str(FIXTURES / "hatecheck_sample.csv"),
                     "--output-dir", str(out)], check=False)
    assert_one_line_error(proc, *needles)
    assert snapshot(out) == before and linked.is_symlink() and not temp_files(tmp_path)
    for reads_no_earlier_dev in (["--split", "dev", "test"], ["--split", "test", "--mode", "generate"]):
        proc = run_main(["eval", "--adapter", str(unloadable_run), "--data-dir", str(prepared_data),
                         *reads_no_earlier_dev, "--output-dir", str(out)], check=False)
        assert "cannot load base model" in proc.stderr and "a link to a file outside" not in proc.stderr


def test_predict_output_that_is_a_directory_fails_before_the_work(unloadable_run, tmp_path):
    proc = run_main(["predict", "--adapter", str(unloadable_run), "--output", str(tmp_path), "a post"],
                   check=False)
    assert_one_line_error(proc, f"--output {tmp_path}: is a directory; give a file name")
    blocker = tmp_path / "file"
    blocker.write_text("x")
    proc = run_main(["predict", "--adapter", str(unloadable_run), "--output", str(blocker / "p.jsonl"),
                    "a post"], check=False)
    assert_one_line_error(proc, f"cannot write it, {blocker} is a file, not a directory")


# -- broken adapter weights ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("command", ["eval", "predict"])
def test_truncated_adapter_weights_one_line_naming_the_file(trained_run, prepared_data, tmp_path, command):
    run = tmp_path / "run"
    shutil.copytree(trained_run, run)
    (run / "adapter_model.safetensors").write_bytes(b"12345")
    args = ["--data-dir", str(prepared_data), "--output-dir", str(tmp_path / "out")] if command == "eval" else ["post"]
    proc = run_main([command, "--adapter", str(run), *args], check=False)
    assert_one_line_error(proc, f"{run / 'adapter_model.safetensors'}: not a readable safetensors file")
    assert not (tmp_path / "out").exists()


# -- posts: the one rule, before the model loads --------------------------------------------------------------------

def test_eval_refuses_overlong_prompts_naming_file_line_and_acl_id(unloadable_run, prepared_data, prompt_tokens,
                                                                    tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    records = read_jsonl(data_file(prepared_data, "dev"))
    metas = read_jsonl(meta_file(data_file(prepared_data, "dev")))
    for index in (2, 5):  # lines 3 and 6 become a ~40,000-character post; the sidecar is kept in step
        records[index]["input"] = long_post(2000)
        metas[index]["input_sha1"] = text_sha1(records[index]["input"])
    data_file(data, "dev").write_text("".join(json.dumps(r) + "\n" for r in records))
    meta_file(data_file(data, "dev")).write_text("".join(json.dumps(m) + "\n" for m in metas))
    shutil.copy(data_file(prepared_data, "test"), data)
    total = len(records) + len(data_file(prepared_data, "test").read_text().splitlines())
    tokens = prompt_tokens(records[2]["input"])
    assert tokens > 1024
    proc = run_main(["eval", "--adapter", str(unloadable_run), "--data-dir", str(data),
                    "--output-dir", str(tmp_path / "out")], check=False)
    line = assert_one_line_error(
        proc, f"{data / 'dynahate_dev.jsonl'}:3 (acl.id {metas[2]['acl.id']}): the post makes a {tokens}-token "
              "prompt, over the cutoff of 1024 tokens", "raise --cutoff-len", f"; 2 of {total} posts exceed it")
    assert MARKER not in proc.stdout + line and not (tmp_path / "out").exists()


def test_eval_scores_a_long_post_in_full_when_the_cutoff_is_raised(trained_run, prompt_tokens, tmp_path):
    post = long_post(150)
    tokens = prompt_tokens(post)
    assert 1024 < tokens < 2048, tokens  # the tiny model has 2048 positions
    data = tmp_path / "long.jsonl"
    data.write_text(json.dumps({"input": "a short post", "output": "hate"}) + "\n"
                    + json.dumps({"input": post, "output": "not hate"}) + "\n")
    proc = run_main(["eval", "--adapter", str(trained_run), "--data", str(data),
                    "--output-dir", str(tmp_path / "out")], check=False)
    assert_one_line_error(proc, f"{data}:2: the post makes a {tokens}-token prompt", "1 of 2 posts exceed it")
    run_main(["eval", "--adapter", str(trained_run), "--data", str(data), "--cutoff-len", "2048",
             "--output-dir", str(tmp_path / "out")])
    assert recorded_splits(tmp_path / "out")["long"]["examples"] == 2


def test_predict_refuses_overlong_prompts_naming_the_argument_or_record(unloadable_run, prompt_tokens, tmp_path):
    post = long_post(2000)
    tokens = prompt_tokens(post)
    proc = run_main(["predict", "--adapter", str(unloadable_run), "short one", post, "short two", post],
                   check=False)
    line = assert_one_line_error(proc, f"TEXT argument 2 (index 1): the post makes a {tokens}-token prompt",
                                 "; 2 of 4 posts exceed it")
    assert MARKER not in line + proc.stdout
    source = tmp_path / "posts.txt"
    source.write_text(f"short one\n{post}\n")
    out = tmp_path / "pred.jsonl"
    proc = run_main(["predict", "--adapter", str(unloadable_run), "--input", str(source),
                    "--output", str(out)], check=False)
    line = assert_one_line_error(proc, f"{source}: post 2 (index 1): the post makes a {tokens}-token prompt",
                                 "1 of 2 posts exceed it")
    assert MARKER not in line + proc.stdout and not out.exists()
    proc = run_main(["predict", "--adapter", str(unloadable_run), "--input", "-"], stdin=f"short one\n{post}\n",
                    check=False)  # standard input is <stdin>, as in the input checks' messages, not "-"
    line = assert_one_line_error(proc, f"error: <stdin>: post 2 (index 1): the post makes a {tokens}-token prompt")
    assert MARKER not in line + proc.stdout


def test_whitespace_only_posts_are_refused_naming_where(unloadable_run, tmp_path):
    proc = run_main(["predict", "--adapter", str(unloadable_run), "a post", " \t "], check=False)
    assert_one_line_error(proc, "TEXT argument 2 (index 1): the post is empty or whitespace only")
    data = tmp_path / "mine.jsonl"
    data.write_text(json.dumps({"input": "a post", "output": "hate"}) + "\n"
                    + json.dumps({"input": "  \n ", "output": "hate"}) + "\n")
    proc = run_main(["eval", "--adapter", str(unloadable_run), "--data", str(data),
                    "--output-dir", str(tmp_path / "out")], check=False)
    assert_one_line_error(proc, f"{data}:2: 'input' is empty or whitespace only")
    table = tmp_path / "posts.csv"
    table.write_text("id,body\n1,a post\n2,   \n")
    proc = run_main(["predict", "--adapter", str(unloadable_run), "--input", str(table),
                    "--text-column", "body"], check=False)
    assert_one_line_error(proc, str(table), "is empty or whitespace only")


def test_two_data_files_with_one_stem_are_refused(unloadable_run, prepared_data, tmp_path):
    first, second = tmp_path / "a" / "dev.jsonl", tmp_path / "b" / "dev.jsonl"
    for path in (first, second):
        path.parent.mkdir()
        shutil.copy(data_file(prepared_data, "dev"), path)
    proc = run_main(["eval", "--adapter", str(unloadable_run), "--data", str(first), str(second),
                    "--output-dir", str(tmp_path / "out")], check=False)
    assert_one_line_error(proc, f"{first} and {second} are both named 'dev'")
    assert not (tmp_path / "out").exists()


# -- help -----------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("command, defaults", [
    ("eval", ["default auto", "default 1024", "default 8,", "default: data/", "default: dev test",
              "default: the adapter's run directory", "default 0", "default: predictions", "(default)"]),
    ("predict", ["default auto", "default 1024", "default: print to stdout", "default 'input'",
                 "default: 4-bit NF4"]),
])
def test_help_states_defaults_the_long_post_rule_and_the_environment(command, defaults):
    text = " ".join(run_main([command, "--help"]).stdout.split())
    for fragment in [*defaults, "refused, never truncated", "HF_TOKEN", "HF_HOME", "HF_HUB_OFFLINE",
                     "reads no environment variable"]:
        assert fragment in text, fragment
