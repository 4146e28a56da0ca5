"""``dynahate register`` into a user's LLaMA-Factory data directory, and the repo's dataset_info.json."""

import json

import pytest

from dynahate.core.errors import DynahateError
from dynahate.plugin.dataset_info import dataset_entries
from dynahate.plugin.register import register
from dynahate.plugin.splits import data_file
from dynahate.testing.cli import REPO, run_main

USER_INFO = """{
    "alpaca_en_demo": {
        "file_name": "alpaca_en_demo.json"
    },
    "identity": {"file_name": "identity.json"},
    "c4_demo": {"file_name": "c4_demo.jsonl", "columns": {"prompt": "text"}}
}
"""


def test_repo_dataset_info_is_the_single_definition():
    assert json.loads((REPO / "dataset_info.json").read_text()) == dataset_entries("data/")


def test_register_keeps_other_entries_and_layout(prepared_data, tmp_path):
    (tmp_path / "dataset_info.json").write_text(USER_INFO)
    result = register(tmp_path, prepared_data)
    text = (tmp_path / "dataset_info.json").read_text()
    # Every byte of the user's entries is where it was; ours follow in the file's 4-space layout.
    assert text.startswith(USER_INFO[: USER_INFO.rindex("}")].rstrip())
    assert '\n    "dynahate_train": {\n        "file_name": "dynahate_train.jsonl",' in text
    info = json.loads(text)
    assert list(info)[:3] == ["alpaca_en_demo", "identity", "c4_demo"]
    assert {k: info[k] for k in dataset_entries()} == dataset_entries()
    assert result.added == ["dynahate_train", "dynahate_dev", "dynahate_test"]
    assert data_file(tmp_path, "dev").read_bytes() == data_file(prepared_data, "dev").read_bytes()
    assert len(result.backups) == 1 and result.backups[0].read_text() == USER_INFO


def test_register_is_idempotent(prepared_data, tmp_path):
    register(tmp_path, prepared_data)
    snapshot = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    result = register(tmp_path, prepared_data)
    assert result.unchanged == ["dynahate_train", "dynahate_dev", "dynahate_test"]
    assert not (result.added or result.replaced or result.copied or result.backups)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == snapshot


def test_register_refuses_a_different_entry_without_force(prepared_data, tmp_path):
    conflicting = '{\n  "dynahate_dev": {"file_name": "mine.json"},\n  "other": {"file_name": "o.json"}\n}\n'
    (tmp_path / "dataset_info.json").write_text(conflicting)
    with pytest.raises(DynahateError, match=r"dataset_info.json: key 'dynahate_dev' already exists .* --force"):
        register(tmp_path, prepared_data)
    assert (tmp_path / "dataset_info.json").read_text() == conflicting
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dataset_info.json"]  # nothing copied

    result = register(tmp_path, prepared_data, force=True)
    assert result.replaced == ["dynahate_dev"] and result.added == ["dynahate_train", "dynahate_test"]
    info = json.loads((tmp_path / "dataset_info.json").read_text())
    assert info["other"] == {"file_name": "o.json"} and info["dynahate_dev"] == dataset_entries()["dynahate_dev"]
    assert any(b.read_text() == conflicting for b in result.backups)


def test_register_refuses_a_different_data_file_without_force(prepared_data, tmp_path):
    data_file(tmp_path, "train").write_text("{}\n")
    with pytest.raises(DynahateError, match="dynahate_train.jsonl: exists and differs"):
        register(tmp_path, prepared_data)
    assert not (tmp_path / "dataset_info.json").exists()
    result = register(tmp_path, prepared_data, force=True)
    assert data_file(tmp_path, "train").read_bytes() == data_file(prepared_data, "train").read_bytes()
    assert any(b.read_text() == "{}\n" for b in result.backups)


def test_register_bad_inputs(prepared_data, tmp_path):
    with pytest.raises(DynahateError, match="nowhere: not a directory"):
        register(tmp_path / "nowhere", prepared_data)
    with pytest.raises(DynahateError, match="dynahate_train.jsonl: not found; run `dynahate prepare"):
        register(tmp_path, tmp_path / "no-data")
    (tmp_path / "dataset_info.json").write_text('{\n  "a": {"file_name": "x"},\n  "b": \n}\n')
    with pytest.raises(DynahateError,
                       match="dataset_info.json: not a JSON object .*Expecting value at line 4 column 1"):
        register(tmp_path, prepared_data)


def test_register_cli(prepared_data, tmp_path):
    proc = run_main(["register", "--dataset-dir", str(tmp_path), "--data", str(prepared_data)])
    assert "added: dynahate_train, dynahate_dev, dynahate_test" in proc.stdout
    proc = run_main(["register", "--dataset-dir", str(tmp_path), "--data", str(prepared_data)])
    assert "nothing changed" in proc.stdout
    proc = run_main(["register", "--dataset-dir", str(tmp_path / "x"), "--data", str(prepared_data)],
                   check=False)
    assert proc.returncode == 2 and proc.stderr.startswith("error: ") and proc.stderr.count("\n") == 1
