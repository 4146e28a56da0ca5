"""The ``dynahate`` console command: one entry point, one module per subcommand.

Each subcommand module defines ``HELP`` (one line), ``add_arguments(parser)`` and
``run(args) -> int``, and imports heavy libraries (torch, transformers) only inside ``run`` so
that ``dynahate --help`` stays fast. A :class:`DynahateError` becomes one ``error:`` line on
stderr and exit status 2. SIGINT and SIGTERM become exceptions, so temporary files are removed
and nothing half-written is left (exit 130 and 143).
"""

from __future__ import annotations

import argparse
import importlib
import signal
import sys

from . import __version__
from .errors import DynahateError

# name -> module implementing it; the order is the order shown by --help.
SUBCOMMANDS: dict[str, str] = {
    "prepare": "dynahate.plugin.prepare_cli",
    "register": "dynahate.plugin.register_cli",
    "tiny-model": "dynahate.plugin.tiny_model_cli",
    "eval": "dynahate.eval.cli",
    "predict": "dynahate.eval.predict_cli",
    "publish": "dynahate.publish.cli",
    "serve": "dynahate.eval.serve_cli",
}


def _available() -> dict[str, object]:
    modules = {}
    for name, module_name in SUBCOMMANDS.items():
        try:
            modules[name] = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:  # a real missing dependency, not a missing subcommand
                raise
    return modules


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dynahate",
        description="Dynahate QLoRA: prepare data, evaluate, predict, publish and serve the adapter.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, module in _available().items():
        sub = subparsers.add_parser(name, help=module.HELP, description=module.HELP)
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


if __name__ == "__main__":
    raise SystemExit(main())
