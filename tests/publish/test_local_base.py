"""A run trained from a local copy of its base (issue 33, item 11): what publish stages names no path of this machine,
and ``--base-model`` must be a Hub id, not a folder here. A hand-made run (peft's config, one tensor): no training."""

import json

import numpy as np
import pytest

from dynahate.testing.cli import REPO, run_main
from dynahate.testing.cli_refusal import assert_refused


@pytest.fixture
def local_run(tmp_path):
    from peft import LoraConfig
    from safetensors.numpy import save_file

    base = tmp_path / "models" / "tiny-base"
    base.mkdir(parents=True)
    run = tmp_path / "run"
    run.mkdir()
    config = LoraConfig(base_model_name_or_path=str(base), r=8, lora_alpha=16, target_modules=["q_proj"],
                        task_type="CAUSAL_LM").to_dict()
    config["target_modules"] = sorted(config["target_modules"])
    (run / "adapter_config.json").write_text(json.dumps(config, indent=2) + "\n")
    save_file({"base_model.model.layers.0.q_proj.lora_A.weight": np.zeros((8, 4), np.float32)},
              str(run / "adapter_model.safetensors"))
    return run


def publish(run, *args, check=True):
    return run_main(["publish", str(run), "--repo-id", "me/x", "--allow-missing-eval", "--data-dir",
                     str(run.parent / "data"), "--recipe", str(REPO / "recipes" / "dynahate_qlora.yaml"), *args],
                    cwd=run.parent, check=check)


def test_a_dry_run_stages_a_placeholder_not_this_machine_s_path(local_run, tmp_path):
    stage = tmp_path / "stage"
    proc = publish(local_run, "--dry-run", "--stage-dir", str(stage))
    assert "an upload would be refused" in proc.stderr
    staged = json.loads((stage / "adapter_config.json").read_text())
    assert staged["base_model_name_or_path"] == "<local base model: tiny-base>"
    assert {k: v for k, v in staged.items() if k != "base_model_name_or_path"} == {
        k: v for k, v in json.loads((local_run / "adapter_config.json").read_text()).items()
        if k != "base_model_name_or_path"}
    assert not [p for p in stage.rglob("*") if p.is_file() and str(tmp_path).encode() in p.read_bytes()]


def test_a_base_model_that_is_a_folder_here_is_refused(local_run, tmp_path):
    stage = tmp_path / "stage"
    for args in (["--dry-run"], []):
        line = assert_refused(publish(local_run, *args, "--stage-dir", str(stage), "--base-model", "models/tiny-base",
                                      check=False), "--base-model models/tiny-base: a folder on this machine",
                              "Hub id USER/NAME")
        assert line.count("\n") == 0 and not stage.exists()
