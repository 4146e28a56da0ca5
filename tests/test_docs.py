"""The documentation holds to the code: each command's ``--help`` ends with the path of its page, every flag a
command's ``--help`` lists is on that page, every page is in the MkDocs navigation, and the README stays one
screen whose links lead somewhere.

``mkdocs build --strict`` (``make docs``, run by ``.ci/run``) checks the links between pages and fails on a
page left out of the navigation; these tests need no MkDocs and run with the rest.
"""

from __future__ import annotations

import argparse
import re

import pytest
import yaml

from dynahate.core.cli import DOCS_PAGE, build_parser
from dynahate.testing.cli import REPO, run_main

DOCS = REPO / "docs"
README = REPO / "README.md"
README_MAX_LINES = 250


def _subparsers() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    (action,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(action.choices)


COMMANDS = _subparsers()


def _flags(parser: argparse.ArgumentParser) -> list[str]:
    """Every option string the command's ``--help`` lists, ``-h``/``--help`` aside, and those of its subcommands
    (``dynahate collect serve``, ...), each once, in the order they are declared."""
    flags: list[str] = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            flags.extend(flag for sub in dict.fromkeys(action.choices.values()) for flag in _flags(sub))
        flags.extend(flag for flag in action.option_strings if flag not in ("-h", "--help"))
    return list(dict.fromkeys(flags))


def _mentions(text: str, flag: str) -> bool:
    return re.search(rf"(?<![\w-]){re.escape(flag)}(?![\w-])", text) is not None


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_each_command_help_ends_with_the_path_of_its_page(name):
    proc = run_main([name, "--help"])
    assert proc.returncode == 0
    last = proc.stdout.rstrip().splitlines()[-1]
    assert last == f"docs: docs/commands/{name}.md", proc.stdout[-500:]
    assert (REPO / DOCS_PAGE.format(name=name)).is_file()


def test_the_top_level_help_points_to_the_docs():
    text = " ".join(run_main(["--help"]).stdout.split())
    assert "docs: docs/index.md; each command's page is docs/commands/COMMAND.md" in text
    assert (DOCS / "index.md").is_file()


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_flag_of_a_command_is_on_its_page(name):
    page = (REPO / DOCS_PAGE.format(name=name)).read_text(encoding="utf-8")
    flags = _flags(COMMANDS[name])
    assert flags, name
    missing = [flag for flag in flags if not _mentions(page, flag)]
    assert not missing, f"docs/commands/{name}.md does not document {missing}"


def test_the_flag_check_sees_a_flag_that_no_page_names():
    parser = argparse.ArgumentParser()
    parser.add_argument("--split")
    parser.add_argument("--split-seed")
    assert _flags(parser) == ["--split", "--split-seed"]
    assert _mentions("`--split dev test`", "--split") and not _mentions("`--split-seed 3`", "--split")


def test_the_flag_check_sees_the_flags_of_subcommands():
    parser = argparse.ArgumentParser()
    parser.add_argument("--db")
    commands = parser.add_subparsers(dest="command")
    serve = commands.add_parser("serve", aliases=["run"])
    serve.add_argument("--db")
    serve.add_argument("--votes")
    nested = serve.add_subparsers(dest="what").add_parser("more")
    nested.add_argument("--deeper")
    commands.add_parser("stats").add_argument("--json")
    assert _flags(parser) == ["--db", "--votes", "--deeper", "--json"]
    assert "--validate-all" in _flags(COMMANDS["collect"]) and "--new-token" in _flags(COMMANDS["collect"])


def _nav_pages(entries) -> list[str]:
    pages = []
    for entry in entries:
        value = next(iter(entry.values())) if isinstance(entry, dict) else entry
        pages.extend(_nav_pages(value) if isinstance(value, list) else [value])
    return pages


def test_every_page_is_in_the_navigation_and_every_entry_is_a_page():
    config = yaml.safe_load((REPO / "mkdocs.yml").read_text(encoding="utf-8"))
    nav = _nav_pages(config["nav"])
    pages = sorted(str(path.relative_to(DOCS)) for path in DOCS.rglob("*.md"))
    assert sorted(nav) == pages
    assert len(nav) == len(set(nav))
    assert {f"commands/{name}.md" for name in COMMANDS} <= set(nav)


def test_the_readme_is_one_screen_and_links_to_every_command_page():
    text = README.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= README_MAX_LINES
    links = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text)
    local = [link for link in links if "://" not in link]
    assert [link for link in local if not (REPO / link).exists()] == []
    assert {DOCS_PAGE.format(name=name) for name in COMMANDS} <= set(local)
    assert "make demo" in text and "make test" in text


def test_ci_builds_the_docs_strictly_and_runs_the_readme_test_command():
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    assert re.search(r"^make docs$", ci, re.M) and re.search(r"^make test$", ci, re.M)
    assert re.search(r"mkdocs build --strict", makefile)
    assert "/site/" in (REPO / ".gitignore").read_text(encoding="utf-8").splitlines()
