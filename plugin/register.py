"""``register``: add the Dynahate datasets to a user's own LLaMA-Factory data directory.

Copies the prepared JSONL files (and their metadata sidecars) into the directory and adds the
three entries to its ``dataset_info.json``, keeping every other entry and the file's layout.
Re-running is a no-op; an existing *different* entry or file is refused unless ``force``, and
whatever is replaced is backed up first. Everything is written all-or-nothing, backups included:
an error (a ``dataset_info.json`` that is a directory or not UTF-8, a full disk, a signal) is
one line and leaves the directory as it was.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from dynahate.core.atomic import atomic_files
from dynahate.core.errors import DynahateError
from dynahate.core.json_edit import JsonShapeError, parse_members, set_members
from dynahate.core.text_files import read_text
from dynahate.plugin.dataset_info import dataset_entries
from dynahate.plugin.splits import SPLITS, data_file, meta_file

INFO_NAME = "dataset_info.json"


@dataclass
class RegisterResult:
    added: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    copied: list[Path] = field(default_factory=list)
    backups: list[Path] = field(default_factory=list)


def _backup_name(path: Path) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    candidate, n = path.with_name(f"{path.name}.{stamp}.bak"), 1
    while candidate.exists():
        candidate, n = path.with_name(f"{path.name}.{stamp}-{n}.bak"), n + 1
    return candidate


def _same_file(a: Path, b: Path) -> bool:
    return a.stat().st_size == b.stat().st_size and a.read_bytes() == b.read_bytes()


def register(dataset_dir: str | Path, data_dir: str | Path = "data", *, force: bool = False) -> RegisterResult:
    """Copy the prepared splits into ``dataset_dir`` and add them to its ``dataset_info.json``.

    Args:
        dataset_dir: The user's LLaMA-Factory data directory (it must exist).
        data_dir: Where ``dynahate prepare`` wrote the JSONL files and their metadata.
        force: Replace a different existing entry or file (each backed up first as ``NAME.STAMP.bak``).

    Returns:
        The entries added, replaced and left unchanged, the files copied and the backups made.

    Raises:
        DynahateError: A missing input, a different existing entry or file without ``force``, or an
            unreadable ``dataset_info.json`` (one line naming the file); nothing is changed then.
    """
    dataset_dir, data_dir = Path(dataset_dir), Path(data_dir)
    if not dataset_dir.is_dir():
        raise DynahateError(f"{dataset_dir}: not a directory (pass your LLaMA-Factory dataset_dir)")
    sources = [p for split in SPLITS for p in (data_file(data_dir, split), meta_file(data_file(data_dir, split)))]
    for source in sources:
        if not source.is_file():
            raise DynahateError(f"{source}: not found; run `dynahate prepare --csv ... --out {data_dir}` first")

    info_path = dataset_dir / INFO_NAME
    text = read_text(info_path, "LLaMA-Factory's dataset list") if info_path.exists() else "{}\n"
    try:
        existing = {m.key: m.value for m in parse_members(text)[0]}
    except JsonShapeError as exc:
        raise DynahateError(f"{info_path}: not a JSON object ({exc}); fix or move it, then re-run") from None

    result = RegisterResult()
    ours = dataset_entries()
    updates = {}
    for name, entry in ours.items():
        if name not in existing:
            result.added.append(name)
            updates[name] = entry
        elif existing[name] == entry:
            result.unchanged.append(name)
        elif force:
            result.replaced.append(name)
            updates[name] = entry
        else:
            raise DynahateError(
                f"{info_path}: key {name!r} already exists with a different definition; "
                "re-run with --force to replace it (the old file is backed up)"
            )

    copies = []
    for source in sources:
        target = dataset_dir / source.name
        if target.exists() and not target.is_file():
            raise DynahateError(f"{target}: exists and is not a regular file; move it, then re-run")
        if target.exists() and _same_file(source, target):
            continue
        if target.exists() and not force:
            raise DynahateError(f"{target}: exists and differs from {source}; re-run with --force to replace it")
        copies.append((source, target))

    try:
        _write(info_path, text, existing, updates, copies, result)
    except OSError as exc:  # every temporary file is gone and nothing was replaced
        where = exc.filename or dataset_dir
        raise DynahateError(f"{where}: cannot write ({exc.strerror or exc}); nothing was changed") from None
    return result


def _write(info_path: Path, text: str, existing: dict, updates: dict, copies: list[tuple[Path, Path]],
           result: RegisterResult) -> None:
    with atomic_files() as group:
        for source, target in copies:
            if target.exists():
                backup = _backup_name(target)
                with target.open("rb") as old:  # through the group: no stray backup if anything fails
                    shutil.copyfileobj(old, group.open(backup, "wb"))
                result.backups.append(backup)
            with source.open("rb") as src:
                shutil.copyfileobj(src, group.open(target, "wb"))
            result.copied.append(target)
        if updates:
            if info_path.exists():
                backup = _backup_name(info_path)
                group.open(backup).write(text)
                result.backups.append(backup)
            new_text = set_members(text, updates)
            if json.loads(new_text) != {**existing, **updates}:  # the splice must change nothing else
                raise RuntimeError(f"internal error: editing {info_path} would alter other entries")
            group.open(info_path).write(new_text)
