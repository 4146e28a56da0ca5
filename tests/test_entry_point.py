"""The installed ``dynahate`` console script, through a real process: every command answers ``--help``, a refusal
is exit status 2 with one ``error:`` line, and the objects are frozen for the interpreter's teardown. (Everything
else calls ``main(argv)`` in-process.)"""

from __future__ import annotations

import subprocess
import sys
import tomllib

import pytest

from dynahate.testing.cli import REPO, cli_path, run_cli

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


def test_the_console_script_freezes_the_objects_after_every_other_exit_handler():
    """The installed script as it is, under an exit handler registered before it starts (so run after all of its
    own): the objects are frozen by then, and the command's work and its answer are complete."""
    code = ("import atexit, gc, runpy, sys; "
            "atexit.register(lambda: print('frozen' if gc.get_freeze_count() else 'not frozen', flush=True)); "
            f"sys.argv = ['dynahate', 'prepare', '--help']; runpy.run_path({cli_path('dynahate')!r}, "
            "run_name='__main__')")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert proc.stdout.startswith("usage: dynahate prepare ") and proc.stdout.endswith("\nfrozen\n"), proc.stdout
