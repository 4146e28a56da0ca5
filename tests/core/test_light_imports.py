"""Asking for help, and every refusal that comes before the tokenizer loads, import no torch, transformers,
peft or LLaMA-Factory: ``dynahate --help`` and a wrong path answer in a fraction of a second.

Checked in a fresh interpreter (``sys.modules`` after the calls), since this test session has them all loaded.
"""

from __future__ import annotations

import json
import struct
import subprocess
import sys
import time

from dynahate.testing.cli import OFFLINE_ENV

HEAVY = ("torch", "transformers", "peft", "llamafactory")

SCRIPT = """
import contextlib, io, json, sys
from dynahate.core.cli import build_parser, main

build_parser()  # imports every command module
codes = []
for argv in json.loads(sys.argv[1]):
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()) as err:
        try:
            code = main(argv)
        except SystemExit as exc:
            code = exc.code
    codes.append([code, err.getvalue().strip().splitlines()[-1:]])
print(json.dumps({"codes": codes, "loaded": sorted(name for name in json.loads(sys.argv[2]) if name in sys.modules)}))
"""


def fake_run(folder):
    """A run folder whose files pass every check before the tokenizer: a config and one real safetensors tensor."""
    folder.mkdir()
    (folder / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": "some/base",
                                                            "peft_type": "LORA"}))
    header = json.dumps({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}).encode()
    (folder / "adapter_model.safetensors").write_bytes(struct.pack("<Q", len(header)) + header + b"\0\0\0\0")
    return folder


def test_help_and_early_refusals_load_no_heavy_library(tmp_path):
    run = fake_run(tmp_path / "run")
    (tmp_path / "out").write_text("a file where a folder should be")
    argvs = [
        ["--help"], ["prepare", "--help"], ["eval", "--help"], ["serve", "--help"],
        ["prepare", "--csv", str(tmp_path / "missing.csv"), "--out", str(tmp_path / "data")],
        ["eval", "--adapter", str(tmp_path / "missing"), "--data-dir", str(tmp_path)],
        ["eval", "--adapter", str(run), "--batch-size", "0"],
        ["eval", "--adapter", str(run), "--data-dir", str(tmp_path), "--output-dir", str(tmp_path / "out")],
        ["predict", "--adapter", str(run), "a post", "   "],
        ["hatecheck", "--adapter", str(run), "--csv", str(tmp_path / "missing.csv")],
        ["compare", str(tmp_path / "a"), str(tmp_path / "b")],
        ["register", "--dataset-dir", str(tmp_path / "missing")],
    ]
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-c", SCRIPT, json.dumps(argvs), json.dumps(HEAVY)], capture_output=True,
                          text=True, check=True, env={**OFFLINE_ENV, "PATH": "/usr/bin:/bin"}, timeout=120)
    seconds = time.monotonic() - start
    result = json.loads(proc.stdout)
    codes = [code for code, _ in result["codes"]]
    assert codes == [0, 0, 0, 0] + [2] * (len(argvs) - 4), result["codes"]
    assert "whitespace" in result["codes"][8][1][0]  # predict got as far as the posts
    assert "not a directory" in result["codes"][7][1][0] or "exists" in result["codes"][7][1][0], result["codes"][7]
    assert result["loaded"] == [], f"{result['loaded']} imported before any tokenizer or model was needed"
    print(f"{len(argvs)} calls in a fresh interpreter: {seconds:.2f} s")
