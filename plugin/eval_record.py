"""The evaluation record, ``eval_results.json``: its one definition and its one reader.

``dynahate eval`` and ``dynahate hatecheck`` write it (:mod:`dynahate.eval.artifacts`, through
:func:`record_text`); ``compare``, ``publish``, ``predict``/``serve`` (``--threshold NAME``, ``--calibrated``)
and eval itself (merging a new split in, reusing dev's scores) read it, each through :func:`read_record`. The
file travels: a Hub adapter brings its own, and one author can write both the weights and the numbers, so the
SHA-256 check cannot vouch for them. Every value is therefore checked when read: type, range (a threshold is a
finite number in [0, 1], a temperature a finite number in the calibration's search range), the shape of each
part, and the file itself (a regular file of at most :data:`MAX_BYTES`, nesting at most :data:`MAX_DEPTH`
deep, no ``NaN`` or ``Infinity``). A problem is one line naming the file, the split and the key; a value that
could be text is described, never shown (a tampered file may hold a post anywhere).

The file is one JSON object: ``schema_version`` (an integer, :data:`SCHEMA_VERSION`; files written before it was
recorded read as version 0) and one object per evaluated split name, :class:`SplitResults`. Keys the reader does
not know are kept as they are (a newer writer may add some); a newer ``schema_version`` is refused, saying to
upgrade. LLaMA-Factory's trainer writes a flat ``eval_results.json`` of numbers into a run folder too:
:attr:`EvalRecord.trainer_text` holds it when that is what was read.

This module sits in ``plugin`` (the task's definitions: labels, splits, the template) because every room reads
the record: ``inference`` (the decision rule of ``predict`` and ``serve``) may not import ``eval``, and ``core``
knows nothing of labels or operating points.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, NotRequired, TypedDict, TypeGuard, cast

from dynahate.core.describe import describe_json, describe_value
from dynahate.core.errors import DynahateError
from dynahate.core.json_io import json_depth, parse_strict_json
from dynahate.core.text_files import read_bounded_text
from dynahate.plugin.labels import LABELS

RESULTS_NAME = "eval_results.json"
SCHEMA_VERSION = 1
SCHEMA_KEY = "schema_version"
MAX_BYTES = 32 * 1024 * 1024  # a record of four splits with every part is well under 1 MiB
MAX_DEPTH = 16  # the record nests at most 6 levels
MODES = ("score", "generate")
POINT_NAMES = ("default", "best_macro_f1", "recall_0.90", "recall_0.95")
DEFAULT_THRESHOLD = 0.5
LOG_TEMPERATURE_BOUNDS = (-7.0, 7.0)  # the calibration's search range, in log T
TEMPERATURE_RANGE = (math.exp(LOG_TEMPERATURE_BOUNDS[0]), math.exp(LOG_TEMPERATURE_BOUNDS[1]))
PLOT_KINDS = ("confusion_matrix", "roc", "pr", "reliability")
AUC_KEYS = ("subgroup_auc", "bpsn_auc", "bnsp_auc")
CONTRAST_COUNTS = ("pairs", "both_correct", "original_correct_only", "perturbation_correct_only", "both_wrong")
HATECHECK_SPLIT = "hatecheck"  # its source is the verified HateCheck file: an object, never a path
REQUIRED_KEYS = ("mode", "examples", "invalid", "accuracy", "macro_f1", "precision", "recall")
_SPLIT_NAME = re.compile(r"[^./\\\x00-\x1f\x7f][^/\\\x00-\x1f\x7f]{0,127}")  # a file stem: no folder, no control
_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]{0,39}")
_FILE_NAME = re.compile(r"[^./\\\x00-\x1f\x7f][^/\\\x00-\x1f\x7f]{0,254}")  # a name in the folder, not hidden
_HEX = {40: re.compile(r"[0-9a-f]{40}"), 64: re.compile(r"[0-9a-f]{64}")}


# ---- the parts ------------------------------------------------------------------------------------------------


class Interval(TypedDict):
    """``intervals``: percentile bootstrap intervals of the split's headline figures."""

    confidence: float
    resamples: int
    seed: int
    accuracy: list[float]  # [low, high]
    macro_f1: list[float]
    roc_auc: list[float] | None


class OperatingPoint(TypedDict):
    """One entry of ``operating_points``: a threshold on ``p_hate`` and its figures on this split."""

    name: str  # one of POINT_NAMES
    threshold: float  # finite, in [0, 1]
    chosen_on: str | None  # the dev split's name; None for the fixed default
    accuracy: float
    macro_f1: float
    precision_hate: float | None
    recall_hate: float | None
    fpr: float | None


class ContrastCounts(TypedDict):
    pairs: int
    both_correct: int
    consistency: float | None
    original_correct_only: int
    perturbation_correct_only: int
    both_wrong: int


class Contrast(ContrastCounts):
    """``contrast``: how often a post and its perturbation are both right, overall and per round."""

    rounds: NotRequired[dict[str, ContrastCounts]]


class BiasGroup(TypedDict):
    size: int
    subgroup_auc: float | None
    bpsn_auc: float | None
    bnsp_auc: float | None


class Bias(TypedDict):
    """``bias``: per target group AUCs and their generalized means."""

    min_examples: int
    power: float
    groups: dict[str, BiasGroup]
    generalized_mean: dict[str, float | None]


class Calibration(TypedDict):
    """``calibration``: one temperature fitted on dev, and this split's ECE and Brier score after it."""

    fitted_on: str
    temperature: float  # finite, in TEMPERATURE_RANGE
    meaningful: NotRequired[bool]  # false: dev's log-loss had no minimum to fit (absent in older files: a fit)
    ece: float
    brier: float


class Fingerprint(TypedDict):
    """``fingerprint``: which posts were evaluated (:mod:`dynahate.eval.fingerprint`)."""

    of: Literal["posts", "prompts"]
    count: int
    sha256: str
    source_git_blob_sha1: str | None
    ids_sha256: NotRequired[str]  # the SHA-256 of the sorted ids alone: a predictions file can be checked against it


class AdapterProvenance(TypedDict):
    """``adapter``: the weights the results were computed on (``null`` for a scored predictions file)."""

    sha256: str
    path: NotRequired[str]
    base_model: NotRequired[str]
    repo_id: NotRequired[str | None]
    revision: NotRequired[str | None]
    commit: NotRequired[str | None]


class ModelLoading(TypedDict):
    """``model_loading``: how the base was loaded for this split's answers (they depend on it)."""

    quantization: str | None  # "bnb-4bit-nf4", or null: unquantized
    dtype: str
    device: str
    autocast: str | None


class Group(TypedDict):
    """A breakdown's group (a round, a type, a target)."""

    examples: int
    accuracy: float
    macro_f1: float


class Functionality(TypedDict):
    """HateCheck: one functional test."""

    gold: str
    n: int
    correct: int
    accuracy: float


class SplitResults(TypedDict):
    """One evaluated split. Every evaluation has the first block; the rest depends on mode and data."""

    mode: Literal["score", "generate"]
    examples: int
    invalid: int
    accuracy: float
    macro_f1: float
    precision: dict[str, float]
    recall: dict[str, float]
    f1: NotRequired[dict[str, float]]
    support: NotRequired[dict[str, int]]
    confusion_matrix: NotRequired[dict[str, Any]]
    report: NotRequired[str]
    seconds: NotRequired[float | None]
    examples_per_second: NotRequired[float | None]
    # score mode
    brier: NotRequired[float]
    ece: NotRequired[float]
    ece_bins: NotRequired[int]
    roc_auc: NotRequired[float | None]
    pr_auc: NotRequired[float | None]
    # with metadata
    breakdowns: NotRequired[dict[str, dict[str, Group]]]
    # decision-ready entries (eval/decision)
    intervals: NotRequired[Interval]
    operating_points: NotRequired[list[OperatingPoint]]
    contrast: NotRequired[Contrast]
    bias: NotRequired[Bias]
    calibration: NotRequired[Calibration]
    notes: NotRequired[list[str]]
    # provenance
    fingerprint: NotRequired[Fingerprint]
    adapter: NotRequired[AdapterProvenance | None]
    model_loading: NotRequired[ModelLoading]
    source: NotRequired[str | dict[str, Any]]
    files: NotRequired[list[str]]
    # HateCheck
    functionalities: NotRequired[dict[str, Functionality]]
    targets: NotRequired[dict[str, Any]]
    cases_without_target: NotRequired[int]


@dataclass(frozen=True)
class EvalRecord:
    """A read ``eval_results.json``: its splits, checked. ``trainer_text`` is the whole text when the file is
    LLaMA-Factory's trainer results instead (then ``splits`` is empty)."""

    path: Path
    splits: dict[str, SplitResults]
    schema_version: int = SCHEMA_VERSION
    trainer_text: str | None = None

    def split(self, names: tuple[str, ...]) -> tuple[str, SplitResults] | None:
        """The first of ``names`` the record holds, with its results (None: none of them)."""
        return next(((name, self.splits[name]) for name in names if name in self.splits), None)


def temperature_text(temperature: float) -> str:
    """A temperature as every output shows it: 3 decimals from 1 up (1.234, 1096.633), 3 significant digits below
    (0.877, 0.00322, 9.12e-05), never rounded to 0.000."""
    return f"{temperature:.3f}" if temperature >= 1 else f"{temperature:#.3g}"


# ---- checking values ------------------------------------------------------------------------------------------


class _Problem(Exception):
    """What is wrong, said of the key path where it was found (``missing``: a required key is absent)."""

    def __init__(self, message: str, *, missing: bool = False) -> None:
        super().__init__(message)
        self.missing = missing


def _is_repo_id(value: Any) -> TypeGuard[str]:
    """A Hub model repo id ``USER/NAME`` by huggingface_hub's own rule (``validate_repo_id``), as ``--adapter`` takes
    one (:func:`dynahate.inference.adapter_source.repo_id_problem`, which this layer may not import)."""
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    if not isinstance(value, str) or value.count("/") != 1:
        return False
    try:
        validate_repo_id(value)
    except HFValidationError:
        return False
    return True


def _is_number(value: Any) -> TypeGuard[float]:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _is_list(value: Any) -> TypeGuard[list[Any]]:
    return isinstance(value, list)


def _is_object(value: Any) -> TypeGuard[dict[str, Any]]:
    return isinstance(value, dict)


class _Checker:
    """Checks one split's object; each method returns the checked value or raises :class:`_Problem`."""

    def __init__(self, split: str) -> None:
        self.split = split

    @staticmethod
    def fail(key: str, value: Any, expected: str) -> _Problem:
        return _Problem(f"{key} is {describe_json(value)}, expected {expected}")

    def obj(self, value: Any, key: str) -> dict[str, Any]:
        if not _is_object(value):
            raise self.fail(key, value, "an object")
        return value

    def number(self, value: Any, key: str, low: float = -math.inf, high: float = math.inf, *,
               optional: bool = False) -> float | None:
        if value is None and optional:
            return None
        if not _is_number(value) or not low <= value <= high:
            where = f"a number in [{low:g}, {high:g}]" if math.isfinite(low) and math.isfinite(high) else \
                f"a number >= {low:g}" if math.isfinite(low) else "a finite number"
            raise self.fail(key, value, where + (" or null" if optional else ""))
        return value

    def fraction(self, value: Any, key: str, *, optional: bool = False) -> float | None:
        return self.number(value, key, 0.0, 1.0, optional=optional)

    def count(self, value: Any, key: str, *, low: int = 0, high: int | None = None) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < low or (high is not None and value > high):
            bound = f"an integer >= {low}" + (f" and <= {high}" if high is not None else "")
            raise self.fail(key, value, bound)
        return value

    def text(self, value: Any, key: str, *, optional: bool = False, token: bool = False) -> str | None:
        if value is None and optional:
            return None
        if not isinstance(value, str) or (token and not _SPLIT_NAME.fullmatch(value)):
            raise self.fail(key, value, "a split name" if token else "a string")
        return value

    def hex_digest(self, value: Any, key: str, length: int, *, optional: bool = False) -> str | None:
        if value is None and optional:
            return None
        if not isinstance(value, str) or not _HEX[length].fullmatch(value):
            raise self.fail(key, value, f"{length} lowercase hex digits")
        return value

    def interval(self, value: Any, key: str, *, optional: bool = False) -> None:
        if value is None and optional:
            return
        if not _is_list(value) or len(value) != 2:
            raise self.fail(key, value, "[low, high]" + (" or null" if optional else ""))
        low = self.fraction(value[0], f"{key}[0]")
        high = self.fraction(value[1], f"{key}[1]")
        if cast(float, low) > cast(float, high):
            raise _Problem(f"{key} has its low end above its high end")

    def per_label(self, value: Any, key: str, *, counts: bool = False) -> None:
        per = self.obj(value, key)
        for label in LABELS:
            if label not in per:
                raise _Problem(f"{key} has no {label!r}")
            if counts:
                self.count(per[label], f"{key}.{label}")
            else:
                self.fraction(per[label], f"{key}.{label}")

    # -- the parts --

    def split_results(self, res: Any) -> SplitResults:
        res = self.obj(res, "the split")
        missing = next((key for key in REQUIRED_KEYS if key not in res), None)
        if missing:
            raise _Problem(f"has no {missing!r}", missing=True)
        mode = res.get("mode")
        if mode not in MODES:
            raise self.fail("mode", mode, " or ".join(map(repr, MODES)))
        examples = self.count(res.get("examples"), "examples", low=1)
        self.count(res.get("invalid"), "invalid", high=examples)
        for key in ("accuracy", "macro_f1"):
            self.fraction(res.get(key), key)
        for key in ("precision", "recall"):
            self.per_label(res.get(key), key)
        if "f1" in res:
            self.per_label(res["f1"], "f1")
        if "support" in res:
            self.per_label(res["support"], "support", counts=True)
        if "confusion_matrix" in res:
            self.confusion_matrix(res["confusion_matrix"])
        if "report" in res:
            self.text(res["report"], "report")
        for key in ("seconds", "examples_per_second"):
            if key in res:
                self.number(res[key], key, 0.0, optional=True)
        for key in ("brier", "ece"):
            if key in res:
                self.fraction(res[key], key)
        if "ece_bins" in res:
            self.count(res["ece_bins"], "ece_bins", low=1)
        for key in ("roc_auc", "pr_auc"):
            if key in res:
                self.fraction(res[key], key, optional=True)
        if "notes" in res:
            notes = res["notes"]
            if not _is_list(notes) or not all(isinstance(note, str) for note in notes):
                raise self.fail("notes", notes, "a list of strings")
        checks = {"breakdowns": self.breakdowns, "intervals": self.intervals,
                  "operating_points": self.operating_points, "contrast": self.contrast, "bias": self.bias,
                  "calibration": self.calibration, "fingerprint": self.fingerprint, "adapter": self.adapter,
                  "source": self.source, "files": self.files, "functionalities": self.functionalities}
        for key, check in checks.items():
            if key in res:
                check(res[key])
        if "model_loading" in res:
            for key, value in self.obj(res["model_loading"], "model_loading").items():
                self.text(value, f"model_loading.{self.key_name(key)}", optional=True)
        if "cases_without_target" in res:
            self.count(res["cases_without_target"], "cases_without_target")
        if "targets" in res:
            self.obj(res["targets"], "targets")
        return cast(SplitResults, res)

    def confusion_matrix(self, value: Any) -> None:
        matrix = self.obj(value, "confusion_matrix")
        counts = matrix.get("counts")
        if not _is_list(counts) or not all(_is_list(row) for row in counts):
            raise self.fail("confusion_matrix.counts", counts, "a list of rows")
        for i, row in enumerate(counts):
            for j, cell in enumerate(row):
                self.count(cell, f"confusion_matrix.counts[{i}][{j}]")

    def breakdowns(self, value: Any) -> None:
        for key, groups in self.obj(value, "breakdowns").items():
            for name, group in self.obj(groups, f"breakdowns.{self.key_name(key)}").items():
                where = f"breakdowns.{self.key_name(key)}.{self.key_name(name)}"
                group = self.obj(group, where)
                self.count(group.get("examples"), f"{where}.examples", low=1)
                self.fraction(group.get("accuracy"), f"{where}.accuracy")
                self.fraction(group.get("macro_f1"), f"{where}.macro_f1", optional=True)

    def intervals(self, value: Any) -> None:
        spans = self.obj(value, "intervals")
        self.number(spans.get("confidence"), "intervals.confidence", 0.0, 1.0)
        self.count(spans.get("resamples"), "intervals.resamples", low=1)
        self.count(spans.get("seed"), "intervals.seed")
        self.interval(spans.get("accuracy"), "intervals.accuracy")
        self.interval(spans.get("macro_f1"), "intervals.macro_f1")
        self.interval(spans.get("roc_auc"), "intervals.roc_auc", optional=True)

    def operating_points(self, value: Any) -> None:
        if not _is_list(value):
            raise self.fail("operating_points", value, "a list of operating points")
        seen: set[str] = set()
        for index, point in enumerate(value):
            where = f"operating_points[{index}]"
            point = self.obj(point, where)
            name = point.get("name")
            if name not in POINT_NAMES:
                raise self.fail(f"{where}.name", name, "one of " + ", ".join(POINT_NAMES))
            if name in seen:
                raise _Problem(f"operating point {name!r} is recorded twice")
            seen.add(name)
            where = f"operating_points[{name}]"
            self.fraction(point.get("threshold"), f"{where}.threshold")
            self.text(point.get("chosen_on"), f"{where}.chosen_on", optional=True, token=True)
            for key in ("accuracy", "macro_f1"):
                self.fraction(point.get(key), f"{where}.{key}")
            for key in ("precision_hate", "recall_hate", "fpr"):
                self.fraction(point.get(key), f"{where}.{key}", optional=True)

    def contrast_counts(self, value: Any, where: str) -> None:
        counts = self.obj(value, where)
        pairs = self.count(counts.get("pairs"), f"{where}.pairs")
        for key in CONTRAST_COUNTS[1:]:
            self.count(counts.get(key), f"{where}.{key}", high=pairs)
        self.fraction(counts.get("consistency"), f"{where}.consistency", optional=True)

    def contrast(self, value: Any) -> None:
        self.contrast_counts(value, "contrast")
        if "rounds" in value:
            for name, counts in self.obj(value["rounds"], "contrast.rounds").items():
                self.contrast_counts(counts, f"contrast.rounds.{self.key_name(name)}")

    def bias(self, value: Any) -> None:
        bias = self.obj(value, "bias")
        self.count(bias.get("min_examples"), "bias.min_examples")
        self.number(bias.get("power"), "bias.power")
        for name, group in self.obj(bias.get("groups"), "bias.groups").items():
            where = f"bias.groups.{self.key_name(name)}"
            group = self.obj(group, where)
            self.count(group.get("size"), f"{where}.size")
            for key in AUC_KEYS:
                self.fraction(group.get(key), f"{where}.{key}", optional=True)
        means = self.obj(bias.get("generalized_mean"), "bias.generalized_mean")
        for key in AUC_KEYS:
            self.fraction(means.get(key), f"bias.generalized_mean.{key}", optional=True)

    def calibration(self, value: Any) -> None:
        entry = self.obj(value, "calibration")
        self.text(entry.get("fitted_on"), "calibration.fitted_on", token=True)
        self.number(entry.get("temperature"), "calibration.temperature", *TEMPERATURE_RANGE)
        if "meaningful" in entry and not isinstance(entry["meaningful"], bool):
            raise self.fail("calibration.meaningful", entry["meaningful"], "true or false")
        self.fraction(entry.get("ece"), "calibration.ece")
        self.fraction(entry.get("brier"), "calibration.brier")

    def fingerprint(self, value: Any) -> None:
        entry = self.obj(value, "fingerprint")
        if entry.get("of") not in ("posts", "prompts"):
            raise self.fail("fingerprint.of", entry.get("of"), "'posts' or 'prompts'")
        self.count(entry.get("count"), "fingerprint.count")
        self.hex_digest(entry.get("sha256"), "fingerprint.sha256", 64)
        self.hex_digest(entry.get("source_git_blob_sha1"), "fingerprint.source_git_blob_sha1", 40, optional=True)
        if "ids_sha256" in entry:
            self.hex_digest(entry["ids_sha256"], "fingerprint.ids_sha256", 64)

    def adapter(self, value: Any) -> None:
        if value is None:
            return
        entry = self.obj(value, "adapter")
        self.hex_digest(entry.get("sha256"), "adapter.sha256", 64)
        self.text(entry.get("path"), "adapter.path", optional=True)
        self.text(entry.get("base_model"), "adapter.base_model", optional=True)
        repo_id = entry.get("repo_id")
        if repo_id is not None and not _is_repo_id(repo_id):
            raise self.fail("adapter.repo_id", repo_id, "a Hub repo id USER/NAME or null")
        self.hex_digest(entry.get("commit"), "adapter.commit", 40, optional=True)
        self.text(entry.get("revision"), "adapter.revision", optional=True)

    def source(self, value: Any) -> None:
        if isinstance(value, str) and self.split != HATECHECK_SPLIT:  # a scored predictions file's path
            return
        entry = self.obj(value, "source")
        if "official" in entry and not isinstance(entry["official"], bool):
            raise self.fail("source.official", entry["official"], "true or false")
        self.hex_digest(entry.get("git_blob_sha1"), "source.git_blob_sha1", 40, optional=True)

    def files(self, value: Any) -> None:
        if not _is_list(value):
            raise self.fail("files", value, "a list of file names")
        for index, name in enumerate(value):
            if not isinstance(name, str) or not _FILE_NAME.fullmatch(name) or ".." in name:
                raise self.fail(f"files[{index}]", name, "a file name in the evaluation folder")

    def functionalities(self, value: Any) -> None:
        for name, test in self.obj(value, "functionalities").items():
            where = f"functionalities.{self.key_name(name)}"
            test = self.obj(test, where)
            n = self.count(test.get("n"), f"{where}.n", low=1)
            if "correct" in test:
                self.count(test["correct"], f"{where}.correct", high=n)
            self.fraction(test.get("accuracy"), f"{where}.accuracy")
            self.text(test.get("gold"), f"{where}.gold")

    @staticmethod
    def key_name(key: str) -> str:
        """A key of the file in a message: shown when it is a short token."""
        return key if _TOKEN.fullmatch(key) else "(a key not shown)"


# ---- reading and writing the file -----------------------------------------------------------------------------


def parse_record(text: str, path: Path, *, allow_trainer: bool = False) -> EvalRecord:
    """The record in ``text`` (the contents of ``path``), checked; see :func:`read_record`."""
    data = parse_strict_json(text, path, "an evaluation record")
    if not _is_object(data):
        raise DynahateError(f"{path}: {describe_json(data)}, expected an object of evaluated splits")
    if json_depth(data, MAX_DEPTH + 1) > MAX_DEPTH:
        raise DynahateError(f"{path}: nested more than {MAX_DEPTH} levels deep: not an evaluation record")
    if data and SCHEMA_KEY not in data and not any(isinstance(value, (dict, list)) for value in data.values()):
        if not allow_trainer:
            raise DynahateError(f"{path}: LLaMA-Factory's trainer results (eval_loss, ...), not `dynahate eval`'s; "
                                "give the folder `dynahate eval` wrote")
        return EvalRecord(path, {}, trainer_text=text)
    version = data.pop(SCHEMA_KEY, 0)
    if isinstance(version, bool) or not isinstance(version, int) or version < 0:
        raise DynahateError(f"{path}: {SCHEMA_KEY} is {describe_json(version)}, expected a whole number")
    if version > SCHEMA_VERSION:
        raise DynahateError(f"{path}: written by a newer dynahate (record version {version}; this one reads up to "
                            f"{SCHEMA_VERSION}): upgrade dynahate-qlora to read it")
    return EvalRecord(path, check_splits(data, path), version)


def split_label(name: str) -> str:
    """A split's name in a message: quoted when it is a short token, else described (a stem can be any text)."""
    return repr(name) if _TOKEN.fullmatch(name) else describe_value(name)


def check_splits(data: dict[str, Any], path: Path | str) -> dict[str, SplitResults]:
    """Every split of a record, checked (one line naming ``path``, the split and the key on the first problem)."""
    splits: dict[str, SplitResults] = {}
    for name, res in data.items():
        if not _SPLIT_NAME.fullmatch(name):
            raise DynahateError(f"{path}: a split named {describe_value(name)}: not a split name (a file stem: no "
                                "'/', no control character, not starting with '.')")
        try:
            splits[name] = _Checker(name).split_results(res)
        except _Problem as problem:
            said = f"split {split_label(name)}{'' if problem.missing else ':'} {problem}"
            raise DynahateError(f"{path}: {said}; re-run `dynahate eval` (a recorded figure is used only when it is "
                                "valid)") from None
    return splits


def read_record(path: str | Path, *, allow_trainer: bool = False, what: str = "evaluation results") -> EvalRecord:
    """Read and check ``eval_results.json`` at ``path``: a regular file (links followed) of at most
    :data:`MAX_BYTES`, UTF-8, valid JSON without ``NaN``/``Infinity``, at most :data:`MAX_DEPTH` levels, and
    every split's every known key of the right type and range. LLaMA-Factory's flat trainer file is refused
    unless ``allow_trainer`` (then :attr:`EvalRecord.trainer_text` holds it). One line on any problem."""
    path = Path(path)
    text = read_bounded_text(path, max_bytes=MAX_BYTES, what=what, holder="an evaluation record")
    return parse_record(text, path, allow_trainer=allow_trainer)


def record_text(splits: dict[str, Any], path: Path | str = RESULTS_NAME) -> str:
    """The text of ``eval_results.json`` holding ``splits``: checked as a reader checks it (a writer's bug is
    refused, never written), with :data:`SCHEMA_VERSION`; ``NaN`` and ``Infinity`` are refused."""
    check_splits(splits, path)
    return json.dumps({SCHEMA_KEY: SCHEMA_VERSION, **splits}, indent=2, allow_nan=False) + "\n"
