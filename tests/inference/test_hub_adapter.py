"""``--adapter USER/NAME[@REV]``: eval, predict, hatecheck and serve load an adapter from the Hub.

The Hub is the loopback one (tests/helpers/hub_server.py) behind the real huggingface_hub client, reached
through ``HF_ENDPOINT``, with a fresh ``HF_HOME`` cache per test. Evaluations and predictions of the trained adapter
fetched from it, and the refusals, run in-process (``hub_main``); servers run as processes. The trained tiny run is
uploaded whole (with a stand-in base-model weights file), so the tests can see that only the adapter and tokenizer
files are requested. A refusal is one ``error:`` line, exit 2, nothing written, and the token never printed.
"""

from __future__ import annotations

import shutil
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from dynahate.inference.adapter_source import HUB_FILES
from dynahate.testing.cli import FIXTURES, run_main
from dynahate.testing.cli_refusal import assert_refused, snapshot
from dynahate.testing.hub_server import READ_TOKEN, WRITE_TOKEN, LoopbackHub, hub_environment
from dynahate.testing.records import read_jsonl, recorded_splits
from dynahate.testing.serve_process import free_port, start_serve, stop_serve

REPO_ID = "someone/tiny"
POSTS = ["the Drellans next door brought us soup", "a second post about nothing", "x"]


def hub_env(hub_url: str, home: Path, token: str | None = WRITE_TOKEN, offline: bool = False) -> dict[str, str]:
    return {"HF_ENDPOINT": hub_url, "HF_HOME": str(home), "HF_HUB_OFFLINE": "1" if offline else "0",
            "HF_TOKEN": token or "", "HF_HUB_DISABLE_TELEMETRY": "1"}


def hub_main(argv: list[str], env: dict[str, str], *, cwd: Path | None = None, check: bool = True):
    """``dynahate ARGV`` in this process, as a process started with ``env`` (``hub_env``) runs it: huggingface_hub's
    download reads the constants that ``hub_environment`` recomputes, and the adapter it fetched loads from its
    local snapshot."""
    with hub_environment(env):
        return run_main(argv, cwd=cwd, check=check)


@contextmanager
def hub_client(hub: LoopbackHub, token: str = WRITE_TOKEN):
    """The real HfApi pointed at the loopback Hub (conftest makes the test process offline; this is not a download)."""
    from huggingface_hub import HfApi, constants

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(constants, "HF_HUB_OFFLINE", False)
        yield HfApi(endpoint=hub.url, token=token)


def resolved_files(hub: LoopbackHub) -> set[str]:
    """The file names requested through ``/{repo}/resolve/{rev}/{path}`` (HEAD or GET)."""
    return {path.split("?")[0].split("/resolve/", 1)[1].split("/", 1)[1]
            for _, path, _ in hub.state.requests if "/resolve/" in path}


# -- refusals: no trained run needed -------------------------------------------------------------------------------

@pytest.fixture
def hub():
    with LoopbackHub() as server:
        yield server


def upload_files(hub: LoopbackHub, repo_id: str, files: dict[str, bytes], **repo_options) -> str:
    """Create ``repo_id`` and commit ``files``; returns the commit sha."""
    with hub_client(hub) as api:
        api.create_repo(repo_id, **repo_options)
        for name, data in files.items():
            commit = api.upload_file(path_or_fileobj=data, path_in_repo=name, repo_id=repo_id)
    return commit.oid


FAKE_ADAPTER = {"adapter_config.json": b'{"base_model_name_or_path": "nowhere/base"}',
                "adapter_model.safetensors": b"not really weights"}


@pytest.mark.parametrize("spec, needle", [
    ("someone/tiny@", "nothing after '@'"),
    ("some one/tiny", "not a Hub repo id"),
    ("someone/tiny@a..b", "revision 'a..b' is not a branch, tag or commit name"),
    ("someone/tiny@-x", "revision '-x' is not"),
])
def test_a_malformed_hub_spec_is_one_line_before_any_request(hub, tmp_path, spec, needle):
    out = tmp_path / "out"
    proc = hub_main(["eval", "--adapter", spec, "--output-dir", str(out), "--split", "dev"],
                    hub_env(hub.url, tmp_path / "home"), check=False)
    assert_refused(proc, needle, "run directory not found")
    assert not out.exists() and hub.state.requests == []


@pytest.mark.parametrize("command", ["eval", "hatecheck"])
def test_a_hub_adapter_needs_output_dir_and_nothing_is_downloaded(hub, tmp_path, command):
    upload_files(hub, REPO_ID, FAKE_ADAPTER)
    before = len(hub.state.requests)
    extra = ["--csv", str(FIXTURES / "hatecheck_sample.csv")] if command == "hatecheck" else ["--split", "dev"]
    proc = hub_main([command, "--adapter", REPO_ID, *extra], hub_env(hub.url, tmp_path / "home"), check=False)
    assert_refused(proc, f"--adapter {REPO_ID} is a Hub repo", "pass --output-dir DIR")
    assert len(hub.state.requests) == before and not (tmp_path / "home").exists()


@pytest.mark.parametrize("case, needles", [
    ("missing", ["no such local run directory, and no model repo someone/absent", "readable with no token",
                 "hf auth login"]),
    ("private", ["no model repo someone/secret", "readable with no token", "HF_TOKEN"]),
    ("gated, no token", ["someone/gated is a gated repo: request access on", "/someone/gated", "hf auth login"]),
    ("gated, a token without access", ["someone/gated is a gated repo and the token in HF_TOKEN has no access"]),
    ("no adapter files", ["someone/readme-only at commit", "has no adapter_config.json or adapter_model.safetensors",
                          "not a LoRA adapter repo"]),
    ("no such revision", ["someone/tiny has no revision 'v9'"]),
])
def test_hub_failures_are_one_line_and_write_nothing(hub, tmp_path, case, needles):
    spec, token = {"missing": ("someone/absent", None), "private": ("someone/secret", None),
                   "gated, no token": ("someone/gated", None), "gated, a token without access": ("someone/gated",
                                                                                                    READ_TOKEN),
                   "no adapter files": ("someone/readme-only", WRITE_TOKEN),
                   "no such revision": ("someone/tiny@v9", WRITE_TOKEN)}[case]
    upload_files(hub, "someone/secret", FAKE_ADAPTER, private=True)
    upload_files(hub, "someone/gated", FAKE_ADAPTER)
    hub.state.repos["someone/gated"]["gated"] = "manual"
    upload_files(hub, "someone/readme-only", {"README.md": b"# no adapter here\n"})
    upload_files(hub, REPO_ID, FAKE_ADAPTER)
    out = tmp_path / "out"
    proc = hub_main(["eval", "--adapter", spec, "--output-dir", str(out), "--split", "dev"],
                    hub_env(hub.url, tmp_path / "home", token=token), check=False)
    assert_refused(proc, *needles)
    assert not out.exists()
    for secret in (WRITE_TOKEN, READ_TOKEN):
        assert secret not in proc.stdout + proc.stderr
    if token:  # the client sent it, so the messages above are about this token
        assert any(h.get("authorization") == f"Bearer {token}" for _, _, h in hub.state.requests)
    if case == "no adapter files":  # README.md is not among the files fetched
        assert resolved_files(hub) == set()


def test_offline_with_a_cold_cache_is_one_line_without_a_request(hub, tmp_path):
    upload_files(hub, REPO_ID, FAKE_ADAPTER)
    before = len(hub.state.requests)
    proc = hub_main(["predict", "--adapter", f"{REPO_ID}@main", "a post"],
                    hub_env(hub.url, tmp_path / "home", offline=True), check=False)
    assert_refused(proc, f"{REPO_ID}@main is not in the Hugging Face cache", "HF_HUB_OFFLINE")
    assert len(hub.state.requests) == before


def test_no_network_is_one_line(tmp_path):
    closed = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    proc = hub_main(["predict", "--adapter", REPO_ID, "a post"], hub_env(closed, tmp_path / "home"), check=False)
    assert_refused(proc, f"cannot fetch {REPO_ID}@main from {closed}", "check the network and HF_ENDPOINT")


def test_a_local_directory_named_like_the_repo_wins(hub, tmp_path):
    upload_files(hub, REPO_ID, FAKE_ADAPTER)
    (tmp_path / REPO_ID).mkdir(parents=True)  # a local folder spelled like the repo id: it is the one used
    before = len(hub.state.requests)
    proc = hub_main(["predict", "--adapter", REPO_ID, "a post"], hub_env(hub.url, tmp_path / "home"), cwd=tmp_path,
                    check=False)
    assert_refused(proc, f"{REPO_ID}: no adapter_config.json or adapter_model.safetensors")
    assert len(hub.state.requests) == before


# -- the trained tiny adapter through the Hub ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def published(trained_run, tmp_path_factory):
    """The trained run on the loopback Hub: ``main`` is the run as trained (commit ``c1``), branch ``zeroed``
    has its LoRA B matrices zeroed (commit ``c2``, a different adapter). Yields (hub, c1, c2)."""
    from safetensors.torch import load_file, save_file

    upload = tmp_path_factory.mktemp("upload") / "run"
    shutil.copytree(trained_run, upload)
    (upload / "model.safetensors").write_bytes(b"stand-in for base model weights: never to be fetched")
    tensors = load_file(str(trained_run / "adapter_model.safetensors"))
    zeroed = upload.parent / "zeroed.safetensors"
    save_file({name: t * 0 if "lora_B" in name else t for name, t in tensors.items()}, str(zeroed))
    with LoopbackHub() as hub:
        with hub_client(hub) as api:
            api.create_repo(REPO_ID)
            c1 = api.upload_folder(repo_id=REPO_ID, folder_path=str(upload)).oid
            api.create_branch(REPO_ID, branch="zeroed")
            c2 = api.upload_file(path_or_fileobj=str(zeroed), path_in_repo="adapter_model.safetensors",
                                 repo_id=REPO_ID, revision="zeroed").oid
        assert c1 != c2 and hub.state.repos[REPO_ID]["heads"] == {"main": c1, "zeroed": c2}
        hub.state.requests.clear()
        yield hub, c1, c2


def test_eval_from_the_hub_equals_the_local_run_and_records_the_commit(published, trained_run, prepared_data,
                                                                         tmp_path):
    hub, c1, _ = published
    local, remote = tmp_path / "local", tmp_path / "remote"
    common = ["--data-dir", str(prepared_data), "--split", "dev", "--batch-size", "4"]
    run_main(["eval", "--adapter", str(trained_run), "--output-dir", str(local), *common])
    hub.state.requests.clear()
    proc = hub_main(["eval", "--adapter", REPO_ID, "--output-dir", str(remote), *common],
                    hub_env(hub.url, tmp_path / "home"))
    assert f"+ adapter {REPO_ID}@main (commit {c1})" in proc.stdout

    # only the adapter and tokenizer files were requested, the adapter's among them, at the resolved commit
    fetched = resolved_files(hub)
    assert {"adapter_config.json", "adapter_model.safetensors"} <= fetched <= set(HUB_FILES), fetched
    assert all(f"/resolve/{c1}/" in path for _, path, _ in hub.state.requests if "/resolve/" in path)
    assert WRITE_TOKEN not in proc.stdout + proc.stderr

    assert (remote / "dev_predictions.jsonl").read_bytes() == (local / "dev_predictions.jsonl").read_bytes()
    mine, theirs = (recorded_splits(d)["dev"] for d in (remote, local))
    for key in ("accuracy", "macro_f1", "roc_auc", "confusion_matrix", "examples", "invalid"):
        assert mine[key] == theirs[key], key
    assert theirs["adapter"]["repo_id"] is None and theirs["adapter"]["commit"] is None
    assert mine["adapter"]["sha256"] == theirs["adapter"]["sha256"]
    assert mine["adapter"]["base_model"] == theirs["adapter"]["base_model"]
    assert (mine["adapter"]["repo_id"], mine["adapter"]["revision"], mine["adapter"]["commit"]) == (REPO_ID, None, c1)
    assert WRITE_TOKEN not in (remote / "eval_results.json").read_text()


def test_predict_picks_the_revision_and_works_offline_from_the_cache(published, trained_run, tmp_path):
    hub, c1, c2 = published
    home = tmp_path / "home"
    local = run_main(["predict", "--adapter", str(trained_run), *POSTS]).stdout
    zeroed = hub_main(["predict", "--adapter", f"{REPO_ID}@zeroed", *POSTS], hub_env(hub.url, home))
    assert f"adapter {REPO_ID}@zeroed (commit {c2})" in zeroed.stderr
    assert zeroed.stdout != local  # the branch's zeroed adapter, not main's

    hub.state.requests.clear()  # now offline: the cache alone (the branch name resolved through its cached ref)
    offline = hub_main(["predict", "--adapter", f"{REPO_ID}@zeroed", *POSTS], hub_env(hub.url, home, offline=True))
    assert offline.stdout == zeroed.stdout and f"(commit {c2})" in offline.stderr
    assert hub.state.requests == []

    by_commit = hub_main(["predict", "--adapter", f"{REPO_ID}@{c1}", *POSTS], hub_env(hub.url, home))
    assert by_commit.stdout == local and f"adapter {REPO_ID}@{c1} (commit {c1})" in by_commit.stderr


def test_hatecheck_from_the_hub_records_the_repo_and_commit(published, tmp_path):
    hub, c1, _ = published
    out = tmp_path / "out"
    hub_main(["hatecheck", "--adapter", REPO_ID, "--csv", str(FIXTURES / "hatecheck_sample.csv"),
              "--output-dir", str(out), "--batch-size", "4"], hub_env(hub.url, tmp_path / "home"))
    adapter = recorded_splits(out)["hatecheck"]["adapter"]
    assert (adapter["repo_id"], adapter["revision"], adapter["commit"]) == (REPO_ID, None, c1)
    assert len(read_jsonl(out / "hatecheck_predictions.jsonl")) == 60
    assert not snapshot(tmp_path / "home" / "hub" / "models--someone--tiny" / "snapshots" / c1).keys() - set(HUB_FILES)


def test_serve_from_the_hub_names_the_repo_and_commit(published, tmp_path):
    hub, c1, _ = published
    log = tmp_path / "serve.log"
    proc, url = start_serve(REPO_ID, log, env=hub_env(hub.url, tmp_path / "home"))
    try:
        health = httpx.get(f"{url}/health", timeout=10).json()
        assert health["adapter_hub"] == {"repo_id": REPO_ID, "revision": None, "commit": c1}
        assert Path(health["adapter"]).name == c1
        answer = httpx.post(f"{url}/v1/classify", json={"texts": POSTS[:2]}, timeout=60)
        assert answer.status_code == 200 and len(answer.json()) == 2
    finally:
        stop_serve(proc)
    assert f"serving {REPO_ID}@main (commit {c1}) on {url}" in log.read_text()


def test_collect_from_the_hub_records_the_repo_and_commit_in_each_entry(published, trained_run, tmp_path):
    from dynahate.inference.model_loading import adapter_sha256
    from dynahate.testing.collect_process import add_annotators, bearer, start_collect

    hub, c1, _ = published
    db = f"sqlite:///{tmp_path / 'c.sqlite3'}"
    token = add_annotators(db, ["alice"])["alice"]
    proc, url = start_collect(REPO_ID, db, tmp_path / "collect.log", env=hub_env(hub.url, tmp_path / "home"))
    try:
        assert httpx.get(f"{url}/health", timeout=10).json()["adapter_hub"] == {
            "repo_id": REPO_ID, "revision": None, "commit": c1}
        answer = httpx.post(f"{url}/api/entries", json={"text": POSTS[0], "label": "not hate"},
                            headers=bearer(token), timeout=60)
    finally:
        stop_serve(proc)
    assert answer.status_code == 201, answer.text
    assert answer.json()["model"] | {"label": None, "p_hate": None, "wrong": None} == {
        "label": None, "p_hate": None, "wrong": None, "decision_rule": {
            "threshold": 0.5, "threshold_name": None, "temperature": None},
        "adapter_sha256": adapter_sha256(trained_run), "adapter_repo": REPO_ID, "adapter_commit": c1}
    assert f"against {REPO_ID}@main (commit {c1})" in (tmp_path / "collect.log").read_text()
