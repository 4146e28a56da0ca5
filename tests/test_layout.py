"""The house rules: the package layering, no import cycle, small folders, the subcommands each package
declares, and the architecture page's module table matching the tree.

Layering (``docs/architecture.md``): core <- plugin <- inference <- eval <- publish, and serve on core,
plugin and inference only. The import graph is computed from the sources (every ``import`` and
``from ... import``, at module level or inside a function), so a lazy import counts like any other.
"""

from __future__ import annotations

import ast
import importlib
import re
import subprocess
import sys
import tomllib
from importlib.metadata import entry_points
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PACKAGE_DIRS = PYPROJECT["tool"]["setuptools"]["package-dir"]  # dotted package -> folder
LAYERS = ("core", "plugin", "inference", "eval", "publish")
# package (dynahate.X) -> the dynahate packages its modules may import
ALLOWED = {f"dynahate.{name}": {f"dynahate.{below}" for below in LAYERS[:i + 1]} for i, name in enumerate(LAYERS)}
ALLOWED["dynahate.serve"] = {"dynahate.core", "dynahate.plugin", "dynahate.inference", "dynahate.serve"}
ALLOWED["dynahate.collect"] = {"dynahate.core", "dynahate.plugin", "dynahate.inference", "dynahate.serve",
                               "dynahate.collect"}
ALLOWED["dynahate.testing"] = set(ALLOWED) | {"dynahate.serve", "dynahate.collect", "dynahate.testing"}
MAX_MODULES = 16


def modules_of(package_dirs: dict[str, str], root: Path) -> dict[str, Path]:
    """Dotted module name -> source file, for every package folder (``__init__`` named by its package)."""
    modules = {}
    for package, folder in package_dirs.items():
        for path in sorted((root / folder).glob("*.py")):
            modules[package if path.stem == "__init__" else f"{package}.{path.stem}"] = path
    return modules


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """The project modules ``name`` imports (relative imports resolved; ``from P import m`` is module P.m)."""
    package = name if path.stem == "__init__" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            targets = [f"{module}.{alias.name}" if f"{module}.{alias.name}" in known else module
                       for alias in node.names]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in known:
            targets = [node.value]  # a module named for importlib (an entry point, a lazy table)
        else:
            continue
        for target in targets:
            while target and target not in known:  # a name inside a module counts as the module
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def import_graph(package_dirs: dict[str, str], root: Path) -> dict[str, set[str]]:
    modules = modules_of(package_dirs, root)
    graph = {name: imports_of(name, path, set(modules)) for name, path in modules.items()}
    for name in modules:  # importing a.b.c runs a/__init__ and a/b/__init__ first
        parts = name.split(".")
        graph[name] |= {".".join(parts[:i]) for i in range(2, len(parts)) if ".".join(parts[:i]) in modules}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Each strongly connected set of more than one module (Tarjan), sorted: every import cycle."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


def package_of(module: str) -> str:
    return ".".join(module.split(".")[:2])


def upward_imports(graph: dict[str, set[str]], allowed: dict[str, set[str]]) -> list[str]:
    return sorted(f"{module} imports {target}" for module, targets in graph.items() for target in targets
                  if package_of(target) not in allowed.get(package_of(module), set()))


def crowded_folders(package_dirs: dict[str, str], root: Path, limit: int = MAX_MODULES) -> list[str]:
    return [f"{folder}/ holds {n} modules" for folder in package_dirs.values()
            if (n := len(list((root / folder).glob("*.py")))) > limit]


def test_the_project_has_no_import_cycle_no_upward_import_and_no_crowded_folder():
    graph = import_graph(PACKAGE_DIRS, ROOT)
    assert len(graph) > 80 and "dynahate.inference.engine" in graph["dynahate.inference.score_engine"]
    assert cycles(graph) == []
    assert upward_imports(graph, ALLOWED) == []
    assert crowded_folders(PACKAGE_DIRS, ROOT) == []
    assert set(map(package_of, graph)) == set(ALLOWED)  # every package has its place in the layering


def _tree(root: Path, files: dict[str, str]) -> dict[str, str]:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return {"dynahate.core": "core", "dynahate.plugin": "plugin", "dynahate.eval": "eval"}


def test_the_checks_find_a_cycle_an_upward_import_and_a_crowded_folder(tmp_path):
    dirs = _tree(tmp_path, {
        "core/__init__.py": "",
        "core/a.py": "def f():\n    from dynahate.core import b  # a lazy import is an import\n",
        "core/b.py": "from .a import f\n",
        "plugin/__init__.py": "",
        "plugin/p.py": "from dynahate.eval.e import g\n",  # upward: plugin may not import eval
        "eval/__init__.py": "",
        "eval/e.py": "from dynahate.plugin import p\nfrom dynahate.core.a import f\n",
    })
    graph = import_graph(dirs, tmp_path)
    assert cycles(graph) == [["dynahate.core.a", "dynahate.core.b"],
                             ["dynahate.eval.e", "dynahate.plugin.p"]]
    assert upward_imports(graph, ALLOWED) == ["dynahate.plugin.p imports dynahate.eval.e"]
    for i in range(MAX_MODULES):
        (tmp_path / "eval" / f"m{i}.py").write_text("")
    assert crowded_folders(dirs, tmp_path) == [f"eval/ holds {MAX_MODULES + 2} modules"]
    (tmp_path / "plugin" / "p.py").write_text("")
    (tmp_path / "core" / "b.py").write_text("")
    fixed = import_graph(dirs, tmp_path)
    assert cycles(fixed) == [] and upward_imports(fixed, ALLOWED) == []


def test_a_module_named_in_a_string_counts_as_imported(tmp_path):
    dirs = _tree(tmp_path, {"core/__init__.py": "", "core/table.py": 'LAZY = "dynahate.eval.e"\n',
                            "eval/__init__.py": "", "eval/e.py": ""})
    assert upward_imports(import_graph(dirs, tmp_path), ALLOWED) == ["dynahate.core.table imports dynahate.eval.e"]


def test_core_and_the_packages_import_in_a_fresh_interpreter():
    code = "import dynahate.core, dynahate.inference, dynahate.eval.hatecheck, dynahate.eval.compare"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_every_subcommand_comes_from_its_package_entry_point():
    declared = PYPROJECT["project"]["entry-points"]["dynahate.commands"]
    installed = {entry.name: entry.value for entry in entry_points(group="dynahate.commands")}
    assert installed == declared
    for name, module_name in declared.items():
        module = importlib.import_module(module_name)
        assert module_name.endswith("cli") and callable(module.run) and callable(module.add_arguments), name
        assert isinstance(module.HELP, str) and isinstance(module.ORDER, int), name
    out = subprocess.run([str(Path(sys.executable).with_name("dynahate")), "--help"], capture_output=True, text=True,
                         check=True).stdout
    shown = [line.split()[0] for line in out.splitlines() if line.startswith("    ") and line.split()[0] in declared]
    assert shown == sorted(declared, key=lambda name: importlib.import_module(declared[name]).ORDER)


def test_the_architecture_page_module_table_matches_the_tree():
    page = (ROOT / "docs" / "architecture.md").read_text()
    table = page.split("## Modules", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in table.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 2 and cells[0].startswith("`"):
            rows[cells[0].split("`")[1].rstrip("/")] = cells[1]
    assert set(rows) == set(PACKAGE_DIRS.values()), (sorted(rows), sorted(PACKAGE_DIRS.values()))
    for folder, text in rows.items():
        named = {part.split("`")[0] for part in text.split("`")[1::2]}
        modules = {path.name for path in (ROOT / folder).glob("*.py")} - {"__init__.py"}
        assert {name for name in named if name.endswith(".py")} == modules, f"docs/architecture.md's {folder}/ row"


SOURCE_PATH = re.compile(r"(?<![\w./-])((?:core|plugin|inference|eval|publish|serve)(?:/[a-z_]+)*/[a-z_0-9]+\.py)\b")
MOD_ROLE = re.compile(r":mod:`(dynahate\.[\w.]+)`")


def stale_references(package_dirs: dict[str, str], root: Path) -> list[str]:
    """Every module a docstring or comment names (a path such as ``inference/token_budget.py``, or
    ``:mod:`dynahate.inference.score_engine```) that is not in the tree: a module moved without its mentions."""
    modules = modules_of(package_dirs, root)
    stale = []
    for path in modules.values():
        text = path.read_text(encoding="utf-8")
        where = path.relative_to(root)
        stale += [f"{where}: {m[1]}" for m in SOURCE_PATH.finditer(text) if not (root / m[1]).is_file()]
        stale += [f"{where}: {m[1]}" for m in MOD_ROLE.finditer(text) if m[1] not in modules]
    return sorted(set(stale))


def test_every_module_a_docstring_or_comment_names_exists():
    assert stale_references(PACKAGE_DIRS, ROOT) == []


def test_a_moved_module_still_named_is_found(tmp_path):
    root = tmp_path
    (root / "core").mkdir()
    (root / "core" / "__init__.py").write_text("")
    (root / "core" / "b.py").write_text('"""Sizes from core/a.py and :mod:`dynahate.core.a`, see core/b.py."""\n')
    assert stale_references({"dynahate.core": "core"}, root) == ["core/b.py: core/a.py", "core/b.py: dynahate.core.a"]
