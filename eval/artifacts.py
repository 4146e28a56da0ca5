"""Write an evaluation's files into the output directory, all or nothing.

- ``eval_results.json``: one object per split name. Splits already in the file and not
  evaluated this time are kept; re-evaluated ones are replaced. Each split records ``files``
  (the names of its predictions file and plots, all this module wrote for it) and ``adapter``
  (``path``, ``sha256`` of ``adapter_model.safetensors``, ``base_model``; ``null`` when a
  predictions file was scored), which ``dynahate publish`` checks and stages from.
- ``eval_metrics.txt``: per split, ``Accuracy: 0.xxxx | Macro-F1: 0.xxxx | Time: N.NNs`` and
  scikit-learn's ``classification_report(digits=4)``, for every split in ``eval_results.json``.
- ``<split>_predictions.jsonl``: one line per post, in input order (id, round, gold, pred, p_hate/raw; an
  outcome may give its own lines, keys from ``PREDICTION_KEYS``, as ``dynahate hatecheck`` does).
- ``<split>_*.png``: the split's plots (and an outcome's ``extra_plots``).

No file holds a post's text.

What reads these files back (``dynahate compare``, the reuse of an earlier dev split's scores) reads
only regular files inside the folder: :func:`check_evaluation_file`.

Several evaluations may write into one directory at once (``--split dev`` and ``--split test``
in parallel): the read-merge-write of ``eval_results.json`` and ``eval_metrics.txt``, and the
renames of every file of the evaluation, happen under an exclusive ``fcntl.flock`` on
``.eval_results.lock`` in that directory, so no split is lost. The lock file is removed when the
lock is released (and a waiter that locked a removed file tries again), so none is left behind.
:func:`check_eval_output_dir` checks all of this before a model loads.

LLaMA-Factory's trainer also writes an ``eval_results.json`` into the run directory (a flat
object: ``eval_loss``, ``eval_runtime``, ...; the same numbers are in its ``all_results.json``).
When evaluating into the run directory, that file is kept, byte for byte, as
``trainer_eval_results.json`` and the caller is told; it is never merged or dropped.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from dynahate.core.atomic import atomic_files
from dynahate.core.errors import DynahateError
from dynahate.core.json_io import dumps_line
from dynahate.core.output_paths import check_output_dir
from dynahate.eval.plots import split_plots
from dynahate.eval.predictions import Prediction
from dynahate.plugin.eval_record import PLOT_KINDS, RESULTS_NAME, read_record, record_text

METRICS_NAME = "eval_metrics.txt"
TRAINER_RESULTS_NAME = "trainer_eval_results.json"
LOCK_NAME = ".eval_results.lock"


@dataclass
class SplitOutcome:
    predictions: list[Prediction]
    results: dict[str, Any]
    lines: list[dict[str, Any]] | None = None  # the predictions file's lines, when not ``Prediction.to_json()``
    extra_plots: dict[str, bytes] = field(default_factory=dict)  # file name -> PNG, beside the split's plots


def predictions_file(out_dir: Path, name: str) -> Path:
    return out_dir / f"{name}_predictions.jsonl"


def check_evaluation_file(path: Path, folder: Path, reader: str, missing: str = "missing") -> None:
    """``path``, a file of the evaluation ``folder`` that ``reader`` reads, is a regular file inside ``folder``
    (links resolved): a broken link, a link to a file outside it or anything but a regular file is refused with
    one line naming ``path``; a missing file is ``PATH: {missing}``."""
    if not path.exists():
        if path.is_symlink():
            raise DynahateError(f"{path}: a broken link; {reader} reads only regular files inside {folder}")
        raise DynahateError(f"{path}: {missing}")
    real = path.resolve()
    if not real.is_relative_to(folder.resolve()):
        raise DynahateError(f"{path}: a link to a file outside {folder}; {reader} reads only files inside the "
                            "evaluation folder (copy the file in, or remove the link)")
    if not real.is_file():
        raise DynahateError(f"{path}: not a regular file")


def summary_line(results: dict[str, Any]) -> str:
    seconds = results.get("seconds")
    time_text = f"{seconds:.2f}s" if seconds is not None else "n/a"
    return f"Accuracy: {results['accuracy']:.4f} | Macro-F1: {results['macro_f1']:.4f} | Time: {time_text}"


def metrics_text(all_results: dict[str, dict[str, Any]]) -> str:
    parts = []
    for name, results in all_results.items():
        parts.append(f"== {name} ({results['mode']} mode, {results['examples']} posts) ==\n"
                     f"{summary_line(results)}\n\n{results['report']}")
    return "\n".join(parts)


def read_results(out_dir: Path) -> tuple[dict[str, dict[str, Any]], str | None]:
    """Our results already in ``out_dir`` (read and checked by :func:`dynahate.plugin.eval_record.read_record`),
    and the text of LLaMA-Factory's trainer file if that is what is there."""
    path = out_dir / RESULTS_NAME
    if not path.exists() and not path.is_symlink():
        return {}, None
    try:
        record = read_record(path, allow_trainer=True, what="earlier evaluation results")
    except DynahateError as exc:
        raise DynahateError(f"{exc}; or move it away to start afresh") from None
    return cast("dict[str, dict[str, Any]]", dict(record.splits)), record.trainer_text


def _read_results_for_update(out_dir: Path) -> tuple[dict[str, dict[str, Any]], str | None]:
    existing, trainer_text = read_results(out_dir)
    if trainer_text is not None and (out_dir / TRAINER_RESULTS_NAME).exists():
        raise DynahateError(f"{out_dir / RESULTS_NAME} is LLaMA-Factory's and {TRAINER_RESULTS_NAME} exists too; "
                            "move one of them away")
    return existing, trainer_text


def check_eval_output_dir(out_dir: str | Path, split_names: list[str], option: str = "--output-dir",
                          extra_files: tuple[str, ...] = ()) -> None:
    """Everything :func:`write_eval_outputs` will need, checked before the work: a writable (or creatable)
    directory, no output name (nor one of ``extra_files``) taken by a directory, and an
    ``eval_results.json`` it can merge with."""
    out_dir = Path(out_dir)
    check_output_dir(out_dir, option)
    if not out_dir.is_dir():
        return
    names = [RESULTS_NAME, METRICS_NAME, TRAINER_RESULTS_NAME, LOCK_NAME, *extra_files]
    for name in split_names:
        names += [predictions_file(out_dir, name).name, *(f"{name}_{kind}.png" for kind in PLOT_KINDS)]
    for name in names:
        if (out_dir / name).is_dir():
            raise DynahateError(f"{out_dir / name}: is a directory, where dynahate eval writes a file; move it away")
    _read_results_for_update(out_dir)


@contextlib.contextmanager
def results_lock(out_dir: Path) -> Iterator[None]:
    """Hold an exclusive flock on ``out_dir/.eval_results.lock``; the file is removed on release."""
    path = out_dir / LOCK_NAME
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)  # a signal (SIGTERM, SIGINT) raises out of the wait
            try:
                current = os.stat(path)
            except FileNotFoundError:
                current = None
        except BaseException:
            os.close(fd)
            raise
        if current is not None and os.path.samestat(os.fstat(fd), current):
            break
        os.close(fd)  # the holder before us removed the file we waited on: lock the new one
    try:
        yield
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        os.close(fd)


def _missing_dirs(path: Path) -> list[Path]:
    """``path`` and its ancestors that do not exist yet, deepest first."""
    missing = []
    while not path.exists() and path != path.parent:
        missing.append(path)
        path = path.parent
    return missing


def write_eval_outputs(out_dir: str | Path, outcomes: dict[str, SplitOutcome]) -> dict[str, dict[str, Any]]:
    """Write everything for ``outcomes``; return the merged contents of ``eval_results.json``.

    Predictions and plots go to temporary files first; then, under the directory's lock, the
    results are read, merged and written, and every file is renamed into place.
    """
    out_dir = Path(out_dir)
    plots = {name: {**split_plots(name, outcome.predictions, outcome.results["mode"],
                                  outcome.results.get("calibration")),
                    **outcome.extra_plots}
             for name, outcome in outcomes.items()}
    for name, outcome in outcomes.items():  # what publish stages for this split, and nothing else
        outcome.results["files"] = [predictions_file(out_dir, name).name, *plots[name]]
    created = _missing_dirs(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        with atomic_files() as group:
            for name, outcome in outcomes.items():
                with_lines = group.open(predictions_file(out_dir, name))
                lines = outcome.lines if outcome.lines is not None else [p.to_json() for p in outcome.predictions]
                for line in lines:
                    with_lines.write(dumps_line(line))
                for file_name, png in plots[name].items():
                    group.open(out_dir / file_name, "wb").write(png)
            with results_lock(out_dir):
                existing, trainer_text = _read_results_for_update(out_dir)
                merged = {**existing, **{name: outcome.results for name, outcome in outcomes.items()}}
                if trainer_text is not None:
                    group.open(out_dir / TRAINER_RESULTS_NAME).write(trainer_text)
                group.open(out_dir / RESULTS_NAME).write(record_text(merged, out_dir / RESULTS_NAME))
                group.open(out_dir / METRICS_NAME).write(metrics_text(merged))
                group.commit()  # every rename inside the lock: the next writer reads what we wrote
    except BaseException:
        for directory in created:  # a directory made for this run goes again if nothing was written
            with contextlib.suppress(OSError):
                directory.rmdir()
        raise
    if trainer_text is not None:
        print(f"kept LLaMA-Factory's trainer {RESULTS_NAME} (eval_loss, ...) as {out_dir / TRAINER_RESULTS_NAME}")
    return merged
