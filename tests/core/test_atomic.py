"""``temporary_folder``: a folder built beside its target is gone when the block ends, however it ends, a signal at
the moment it is made included."""

from __future__ import annotations

import tempfile

import pytest

from dynahate.core.atomic import temporary_folder
from dynahate.testing.cli_refusal import sigint_right_after


def test_the_folder_and_what_it_holds_are_removed_when_the_block_fails(tmp_path):
    with pytest.raises(RuntimeError, match="midway"), temporary_folder(tmp_path, ".target.") as folder:
        assert folder.parent == tmp_path and folder.name.startswith(".target.") and list(folder.iterdir()) == []
        (folder / "part").mkdir()
        (folder / "part" / "written.txt").write_text("half\n")
        raise RuntimeError("midway")
    assert list(tmp_path.iterdir()) == []


def test_a_signal_the_moment_the_folder_is_made_leaves_nothing(tmp_path, monkeypatch):
    entered = []
    with sigint_right_after(monkeypatch, tempfile, "mkdtemp"), pytest.raises(KeyboardInterrupt):
        with temporary_folder(tmp_path, ".target.") as folder:
            entered.append(folder)
    assert entered == [] and list(tmp_path.iterdir()) == []
