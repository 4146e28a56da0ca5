"""``--adapter`` names that no system call can look at are one ``error:`` line in every command that takes one."""

from __future__ import annotations

import pytest

from dynahate.testing.cli import FIXTURES, run_main
from dynahate.testing.cli_refusal import assert_refused, snapshot

COMMANDS = {
    "eval": ["eval", "--split", "dev"],
    "predict": ["predict", "a post"],
    "hatecheck": ["hatecheck", "--csv", str(FIXTURES / "hatecheck_sample.csv")],
    "serve": ["serve", "--port", "0"],
}


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("spec, needles", [
    ("a" * 300, ["--adapter 'aaaa", "(300 characters)", "run directory not found", "File name too long"]),
    ("~nosuchuser/x", ["--adapter '~nosuchuser/x'", "run directory not found", "no user 'nosuchuser'"]),
], ids=["300-character name", "unknown user"])
def test_an_adapter_path_the_system_cannot_look_at_is_one_line(tmp_path, command, spec, needles):
    proc = run_main([*COMMANDS[command], "--adapter", spec], cwd=tmp_path, check=False)
    assert_refused(proc, *needles)
    assert snapshot(tmp_path) == {}


def test_reading_a_run_directory_whose_name_is_too_long_is_one_error():
    from dynahate.core.errors import DynahateError
    from dynahate.inference.model_loading import read_adapter_config

    with pytest.raises(DynahateError, match="run directory not found .File name too long"):
        read_adapter_config("a" * 300)
