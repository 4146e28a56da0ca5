"""The installed ``dynahate`` console script, through a real process: every command answers ``--help``, and a
refusal is exit status 2 with one ``error:`` line. (Everything else calls ``main(argv)`` in-process.)"""

from __future__ import annotations

import tomllib

import pytest

from dynahate.testing.cli import REPO, run_cli

COMMANDS = sorted(tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["entry-points"]["dynahate.commands"])


@pytest.mark.parametrize("command", COMMANDS)
def test_each_command_answers_help_through_the_console_script(command):
    proc = run_cli(["dynahate", command, "--help"])
    assert proc.stdout.startswith(f"usage: dynahate {command} ") and proc.stderr == ""


def test_a_refusal_through_the_console_script_is_exit_2_and_one_error_line(tmp_path):
    proc = run_cli(["dynahate", "eval", "--adapter", str(tmp_path / "missing")], check=False)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr == f"error: {tmp_path / 'missing'}: run directory not found (pass the output_dir of the " \
                          "training run)\n"
