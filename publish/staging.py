"""The folder that goes to the Hub: an allowlist of the run's files, plus the card.

Only what a user of the adapter needs, and the run's own records: the adapter, tokenizer files,
the two prompt files, the Trainer's and ``dynahate eval``'s results, the plots. Checkpoint folders,
optimizer states and pickles (``training_args.bin``, ``*.pt``, ``*.pkl``) stay out unless
``include_checkpoints`` is set. The folder is built beside its destination and renamed into place,
so an interrupted run never leaves a half-staged folder.
"""

from __future__ import annotations

import fnmatch
import shutil
import tempfile
from pathlib import Path

from dynahate.plugin import prompts
from dynahate.plugin.errors import DynahateError

RUN_FILES = (
    "adapter_model.safetensors", "adapter_config.json",
    "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "tokenizer.model",
    "chat_template.jinja", "generation_config.json",
    "all_results.json", "train_results.json", "trainer_eval_results.json", "trainer_log.jsonl",
    "trainer_state.json", "training_loss.png", "training_eval_loss.png",
)
EVAL_FILES = ("eval_results.json", "eval_metrics.txt", "*_predictions.jsonl", "*_confusion_matrix.png",
              "*_roc.png", "*_pr.png", "*_reliability.png")
CARD = "README.md"
DEFAULT_STAGE = "hub"


def _matches(name: str, patterns: tuple[str, ...]) -> bool:
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns)


def select_files(run_dir: Path, eval_dir: Path, include_checkpoints: bool = False) -> dict[str, Path]:
    """Staged name -> source path."""
    chosen: dict[str, Path] = {}
    for path in sorted(run_dir.iterdir()):
        if path.is_file() and _matches(path.name, RUN_FILES):
            chosen[path.name] = path
        elif include_checkpoints and path.is_dir() and path.name.startswith("checkpoint-"):
            for inner in sorted(path.rglob("*")):
                if inner.is_file():
                    chosen[str(inner.relative_to(run_dir))] = inner
    if include_checkpoints and (run_dir / "training_args.bin").is_file():
        chosen["training_args.bin"] = run_dir / "training_args.bin"
    for path in sorted(eval_dir.iterdir()) if eval_dir.is_dir() else []:
        if path.is_file() and _matches(path.name, EVAL_FILES) and not path.name.startswith("trainer_"):
            chosen[path.name] = path
    for name in (prompts.INSTRUCTION_FILE, prompts.SYSTEM_FILE):
        chosen[name] = prompts.prompt_file_path(name)
    return chosen


def stage(files: dict[str, Path], card_text: str, stage_dir: Path) -> dict[str, int]:
    """Copy ``files`` and write the card into ``stage_dir`` (replaced as a whole); return name -> size."""
    stage_dir = Path(stage_dir)
    stage_dir.parent.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(prefix=f".{stage_dir.name}.", dir=stage_dir.parent))
    try:
        for name, source in files.items():
            target = building / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
        (building / CARD).write_text(card_text, encoding="utf-8")
        if stage_dir.exists():
            if not stage_dir.is_dir():
                raise DynahateError(f"{stage_dir}: exists and is not a directory")
            old = stage_dir.with_name(f".{stage_dir.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            stage_dir.rename(old)
            building.rename(stage_dir)
            shutil.rmtree(old)
        else:
            building.rename(stage_dir)
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise
    return {str(p.relative_to(stage_dir)): p.stat().st_size for p in sorted(stage_dir.rglob("*")) if p.is_file()}


def planned_sizes(files: dict[str, Path]) -> dict[str, int]:
    """Sizes of the files to stage (the card is added later), for the card's file table."""
    return {name: path.stat().st_size for name, path in files.items()}
