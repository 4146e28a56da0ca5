"""The ``dynahate`` console command: one entry point, one module per subcommand.

Each package declares its subcommands as entry points of the group ``dynahate.commands`` in
``pyproject.toml`` (name = module), so adding a command never touches this package. A subcommand
module defines ``HELP`` (one line), ``ORDER`` (its place in ``--help``), ``add_arguments(parser)`` and
``run(args) -> int``, and imports heavy libraries (torch, transformers) only inside ``run`` so
that ``dynahate --help`` stays fast. Each subcommand's ``--help`` ends with the path of its page in the
documentation, ``docs/commands/<name>.md`` (:class:`CommandParser`). A :class:`DynahateError` becomes one
``error:`` line on stderr and exit status 2. SIGINT and SIGTERM become exceptions, so temporary files are removed
and nothing half-written is left (exit 130 and 143). The installed command (:func:`console_main`) also leaves faster.
"""

from __future__ import annotations

import argparse
import atexit
import functools
import gc
import importlib
import signal
import sys
from importlib.metadata import entry_points
from types import ModuleType
from typing import Any

from dynahate.core import __version__
from dynahate.core.errors import DynahateError

COMMAND_GROUP = "dynahate.commands"
"""The entry-point group each package declares its subcommands in (``pyproject.toml``)."""


DOCS_PAGE = "docs/commands/{name}.md"
"""Where each subcommand is documented, relative to the repository root (the MkDocs site's source)."""


class CommandParser(argparse.ArgumentParser):
    """A subcommand's parser: its ``--help`` ends with ``docs: <the command's page>``, whatever its epilog."""

    def __init__(self, *args: Any, docs_page: str | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.docs_page = docs_page

    def format_help(self) -> str:
        text = super().format_help()
        return text if self.docs_page is None else f"{text.rstrip()}\n\ndocs: {self.docs_page}\n"


@functools.cache
def _declared() -> tuple[tuple[str, str], ...]:
    """(name, module) of each subcommand the installed entry points declare, read once per process: reading them
    scans the metadata of every installed distribution (about 8 ms), and tests call :func:`main` hundreds of times."""
    return tuple((entry.name, entry.value) for entry in entry_points(group=COMMAND_GROUP))


def _available() -> dict[str, ModuleType]:
    """Subcommand name -> module, from the installed entry points, in each module's ``ORDER``.

    A command whose module is not installed is left out; a missing dependency of an installed module
    is a real error and is raised.
    """
    modules: dict[str, ModuleType] = {}
    for name, value in _declared():
        try:
            modules[name] = importlib.import_module(value)
        except ModuleNotFoundError as exc:
            if exc.name != value:
                raise
    return dict(sorted(modules.items(), key=lambda item: (getattr(item[1], "ORDER", 100), item[0])))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dynahate",
        description="Dynahate QLoRA: prepare data, evaluate, predict, publish and serve the adapter.",
        epilog=f"docs: docs/index.md; each command's page is {DOCS_PAGE.format(name='COMMAND')} "
               "(`make docs` builds the site into site/)",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True, parser_class=CommandParser)
    commands = _available()
    if not commands:
        parser.error(f"no subcommands are installed (entry-point group {COMMAND_GROUP!r}); "
                     "reinstall the project: pip install -e .")
    for name, module in commands.items():
        sub = subparsers.add_parser(name, help=module.HELP, description=module.HELP,
                                    docs_page=DOCS_PAGE.format(name=name))
        module.add_arguments(sub)
        sub.set_defaults(_run=module.run)
    return parser


class Terminated(BaseException):
    """SIGTERM, raised where the program is, so that every ``finally`` and temporary-file cleanup runs."""


def _raise_terminated(signum: int, frame: object) -> None:
    raise Terminated()


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    previous = signal.signal(signal.SIGTERM, _raise_terminated)  # like SIGINT's KeyboardInterrupt
    try:
        return int(args._run(args) or 0)
    except DynahateError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except Terminated:
        print("error: terminated", file=sys.stderr)
        return 128 + signal.SIGTERM
    finally:
        signal.signal(signal.SIGTERM, previous)


def console_main() -> int:
    """The installed ``dynahate`` command (``pyproject.toml``'s ``[project.scripts]``): :func:`main`, with
    :func:`gc.freeze` as the process's last exit handler. Once the last handler has run, the interpreter tears every
    object down and collects the garbage several times over; in a process that has loaded torch and transformers that
    took as long as a second or more (``python benchmarks/exit_time.py``), for memory the process gives back anyway.
    Frozen objects are left to it. Every file is written and closed, and every library's exit handler (registered
    later, run earlier) has run, before then."""
    atexit.register(gc.freeze)
    return main()


if __name__ == "__main__":
    raise SystemExit(console_main())
