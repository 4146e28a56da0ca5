"""The package layering (plugin <- eval <- publish, serve) and the subcommands each package declares."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
import tomllib
from importlib.metadata import entry_points
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# package folder -> the dynahate packages it may import
ALLOWED = {
    "plugin": {"dynahate.plugin"},
    "eval": {"dynahate.plugin", "dynahate.eval"},
    "publish": {"dynahate.plugin", "dynahate.eval", "dynahate.publish"},
    "serve": {"dynahate.plugin", "dynahate.eval", "dynahate.serve"},
}


def _imported_modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def _mentioned_packages(path: Path) -> set[str]:
    """Dynahate packages named in imports or in strings (a module path given to importlib counts too)."""
    text = path.read_text()
    return {f"dynahate.{name}" for name in ALLOWED if f"dynahate.{name}." in text or f"dynahate.{name} " in text
            } | {name for name in _imported_modules(path) if name.startswith("dynahate.")}


def test_each_package_names_only_the_packages_below_it():
    wrong = []
    for folder, allowed in ALLOWED.items():
        for path in sorted((ROOT / folder).glob("*.py")):
            for name in _mentioned_packages(path):
                package = ".".join(name.split(".")[:2])
                if package not in allowed:
                    wrong.append(f"{path.relative_to(ROOT)} names {name}")
    assert not wrong, wrong


def test_every_subcommand_comes_from_its_package_entry_point():
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["entry-points"]["dynahate.commands"]
    installed = {entry.name: entry.value for entry in entry_points(group="dynahate.commands")}
    assert installed == declared
    for name, module_name in declared.items():
        module = importlib.import_module(module_name)
        assert module_name.endswith("_cli") and callable(module.run) and callable(module.add_arguments), name
        assert isinstance(module.HELP, str) and isinstance(module.ORDER, int), name
    out = subprocess.run([str(Path(sys.executable).with_name("dynahate")), "--help"], capture_output=True, text=True,
                         check=True).stdout
    shown = [line.split()[0] for line in out.splitlines() if line.startswith("    ") and line.split()[0] in declared]
    assert shown == sorted(declared, key=lambda name: importlib.import_module(declared[name]).ORDER)


def test_the_readme_layout_table_matches_the_tree():
    readme = (ROOT / "README.md").read_text()
    table = readme.split("## Layout", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in table.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 2 and cells[0].startswith("`"):
            rows[cells[0].split("`")[1].rstrip("/")] = cells[1]
    top = {path.name for path in ROOT.iterdir() if not path.name.startswith(".") and path.name not in {
        "build", "demo", "data", "saves", "dist"} and (path.is_dir() or path.name == "dataset_info.json")
        and not path.name.endswith(".egg-info") and path.name != "__pycache__"}
    assert set(rows) == top, (sorted(rows), sorted(top))
    for folder, text in rows.items():
        named = {name for name in (part.split("`")[0] for part in text.split("`")[1::2]) if name.endswith((".py", ".md", ".txt"))}
        missing = [name for name in named if not (ROOT / folder / name).exists() and not (ROOT / name).exists()]
        assert not missing, f"README's {folder}/ row names files that do not exist: {missing}"
