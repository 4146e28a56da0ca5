"""The files that go to the Hub: an allowlist of the run's files, the evaluation's recorded files, the card.

- From the run directory, only the names in :data:`RUN_FILES`: the adapter, tokenizer files, the
  Trainer's records and loss plots. Checkpoint folders and pickles (``training_args.bin``) stay out
  unless ``include_checkpoints`` is set.
- From the eval directory, ``eval_results.json``, ``eval_metrics.txt`` and exactly the files that
  ``dynahate eval`` recorded under each split's ``files`` (its predictions file and plots), never
  files found by a name pattern: a ``*_predictions.jsonl`` written by ``dynahate predict
  --include-text`` holds posts and is not staged.
- The two prompt files, from the package.
- Files publish writes itself: the card, and with ``--compare-to`` the comparison (``comparison.json``:
  numbers, split, round and test names, paths and adapter hashes; no post).

Each staged file must be a regular file whose real path is inside its folder (the run directory, or
the eval directory): a link out of it, a folder or a device under an allowlisted name is refused,
naming it. Links are never followed out of the run, in checkpoint folders either.
"""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path
from typing import Any

from dynahate.plugin import prompts
from dynahate.plugin.errors import DynahateError

from .stage_dir import MARKER, replace_folder

RUN_FILES = (
    "adapter_model.safetensors", "adapter_config.json",
    "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "tokenizer.model",
    "chat_template.jinja", "generation_config.json",
    "all_results.json", "train_results.json", "trainer_eval_results.json", "trainer_log.jsonl",
    "trainer_state.json", "training_loss.png", "training_eval_loss.png",
)
EVAL_RECORDS = ("eval_results.json", "eval_metrics.txt")
CARD = "README.md"


def contained_file(path: Path, root: Path, what: str) -> Path:
    """``path`` if it is a regular file whose real path is inside ``root``; else one error naming it."""
    try:
        real = path.resolve(strict=True)
        mode = real.stat().st_mode
    except (OSError, RuntimeError):
        raise DynahateError(f"{path}: a broken link or unreadable; publish stages only regular files inside "
                            f"the {what} {root}") from None
    if path.is_symlink() and not real.is_relative_to(root.resolve()):
        raise DynahateError(f"{path}: a link to a file outside the {what} {root}; publish stages only regular files "
                            "inside it (copy the file in, or remove the link)")
    if not stat.S_ISREG(mode):
        raise DynahateError(f"{path}: not a regular file; publish stages only regular files inside the {what} {root}")
    if not real.is_relative_to(root.resolve()):
        raise DynahateError(f"{path}: its real path is outside the {what} {root}; publish stages only files inside it")
    return path


def _checkpoint_files(folder: Path, run_dir: Path) -> dict[str, Path]:
    if folder.is_symlink():
        raise DynahateError(f"{folder}: a link to a folder; publish does not follow links (copy it in, or remove it)")
    chosen = {}
    for top, dirs, names in os.walk(folder, followlinks=False):
        for name in sorted(dirs):
            if (Path(top) / name).is_symlink():
                raise DynahateError(f"{Path(top) / name}: a link to a folder; publish does not follow links "
                                    "(copy it in, or remove it)")
        for name in sorted(names):
            path = contained_file(Path(top) / name, run_dir, "run directory")
            chosen[str(path.relative_to(run_dir))] = path
    return chosen


def select_run_files(run_dir: Path, include_checkpoints: bool = False) -> dict[str, Path]:
    """Staged name -> source path, for the run directory's files (checked: regular, inside the run)."""
    chosen: dict[str, Path] = {}
    for path in sorted(run_dir.iterdir()):
        if path.name in RUN_FILES:
            chosen[path.name] = contained_file(path, run_dir, "run directory")
        elif include_checkpoints and path.name.startswith("checkpoint-") and (path.is_dir() or path.is_symlink()):
            chosen.update(_checkpoint_files(path, run_dir))
    if include_checkpoints and (run_dir / "training_args.bin").exists():
        chosen["training_args.bin"] = contained_file(run_dir / "training_args.bin", run_dir, "run directory")
    return chosen


def _plain_name(name: Any, source: Path, split: str) -> str:
    if not isinstance(name, str) or not name or name in (".", "..") or "/" in name or "\\" in name:
        raise DynahateError(f"{source}: split {split!r} lists {name!r} under 'files', which is not a file name "
                            "in the eval directory; re-run `dynahate eval`")
    return name


def select_eval_files(eval_dir: Path, eval_results: dict[str, dict[str, Any]]) -> tuple[dict[str, Path], set[str]]:
    """Staged name -> source path for what ``dynahate eval`` recorded, and the names of its JSONL files."""
    source = eval_dir / EVAL_RECORDS[0]
    names: list[str] = list(EVAL_RECORDS)
    for split, results in eval_results.items():
        recorded = results.get("files")
        if not isinstance(recorded, list):
            raise DynahateError(f"{source}: split {split!r} does not record the files `dynahate eval` wrote for it "
                                "(written by an older version); re-run `dynahate eval` so publish knows what to stage")
        names += [_plain_name(name, source, split) for name in recorded]
    chosen = {}
    for name in names:
        path = eval_dir / name
        if not path.exists() and not path.is_symlink():
            raise DynahateError(f"{path}: missing, but {source.name} records it; re-run `dynahate eval`")
        chosen[name] = contained_file(path, eval_dir, "eval directory")
    return chosen, {name for name in chosen if name.endswith(".jsonl")}


def prompt_files() -> dict[str, Path]:
    return {name: prompts.prompt_file_path(name) for name in (prompts.INSTRUCTION_FILE, prompts.SYSTEM_FILE)}


def merge_sources(*groups: dict[str, Path]) -> dict[str, Path]:
    """One name -> path mapping; two different files under one staged name is an error."""
    merged: dict[str, Path] = {}
    for group in groups:
        for name, path in group.items():
            if name in merged and merged[name].resolve() != path.resolve():
                raise DynahateError(f"{name}: both {merged[name]} and {path} would be staged under this name")
            merged[name] = path
    return merged


def stage(files: dict[str, Path], card_text: str, stage_dir: Path,
          generated: dict[str, str] | None = None) -> dict[str, int]:
    """Copy ``files``, write the card and the ``generated`` texts (name -> text, e.g. ``comparison.json``) into
    ``stage_dir`` (checked, replaced as a whole); return name -> size."""
    generated = generated or {}
    taken = [name for name in generated if name in files or name == CARD]
    if taken:
        raise DynahateError(f"{taken[0]}: publish writes this file itself, but {files.get(taken[0], CARD)} would "
                            "be staged under the same name")

    def fill(folder: Path) -> None:
        for name, source in files.items():
            target = folder / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
        (folder / CARD).write_text(card_text, encoding="utf-8")
        for name, text in generated.items():
            (folder / name).write_text(text, encoding="utf-8")

    replace_folder(stage_dir, fill)
    sizes = {str(p.relative_to(stage_dir)): p.stat().st_size for p in sorted(stage_dir.rglob("*")) if p.is_file()}
    sizes.pop(MARKER, None)
    return sizes


def planned_sizes(files: dict[str, Path]) -> dict[str, int]:
    """Sizes of the files to stage (the card is added later), for the card's file table."""
    return {name: path.stat().st_size for name, path in files.items()}
