"""``--threshold`` and ``--calibrated`` of ``dynahate predict`` and ``dynahate serve``: the decision rule.

A post is ``hate`` when ``p_hate >= threshold``. ``--threshold`` takes a number in [0, 1] or the name
of an operating point ``dynahate eval`` recorded for the adapter's test split (``test``, or ``dynahate_test``
when it was evaluated with ``--data .../dynahate_test.jsonl``; ``test`` first) (``default``,
``best_macro_f1``, ``recall_0.90``, ``recall_0.95``: thresholds chosen on dev); ``--calibrated``
reports ``sigmoid(logit(p_hate) / T)`` with the temperature recorded there (fitted on dev). Both read
``eval_results.json`` in the adapter's folder (a run directory, or the files of a Hub repo, which
``dynahate publish`` uploads), and only when it was computed on these weights (its recorded
``adapter.sha256``); anything missing is one line saying what to run. A temperature recorded as no fit
(``calibration.meaningful`` false: dev's scores separate the classes) is applied with a warning. The threshold
applies to the uncalibrated ``p_hate``, on which it was chosen (calibration keeps 0.5 at 0.5 and the order of posts).
Without the flags the rule is the default one and outputs are unchanged.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dynahate.core.errors import DynahateError
from dynahate.inference.model_loading import adapter_sha256
from dynahate.plugin.eval_record import (
    DEFAULT_THRESHOLD,
    POINT_NAMES,
    RESULTS_NAME,
    SplitResults,
    read_record,
    temperature_text,
)
from dynahate.plugin.labels import HATE, NOT_HATE
from dynahate.plugin.splits import result_names

SPLIT = "test"
# the test split's names in eval_results.json: --split test; --data .../dynahate_test.jsonl (named by its stem)
SPLIT_NAMES = result_names(SPLIT)


EPSILON = 1e-12  # p_hate is clipped to [EPSILON, 1 - EPSILON] before its log-odds are taken


def log_odds(p_hate: Sequence[float]):
    """log(p / (1 - p)) of each ``p_hate`` (a numpy array)."""
    import numpy as np

    p = np.clip(np.asarray(p_hate, dtype=np.float64), EPSILON, 1 - EPSILON)
    return np.log(p) - np.log1p(-p)


def apply_temperature(p_hate: Sequence[float], temperature: float):
    """sigmoid(logit(p_hate) / temperature) of each ``p_hate`` (a numpy array): the calibrated scores."""
    from scipy.special import expit

    return expit(log_odds(p_hate) / temperature)


@dataclass(frozen=True)
class DecisionRule:
    """How a ``p_hate`` becomes a label, and which ``p_hate`` is reported."""

    threshold: float = DEFAULT_THRESHOLD
    threshold_name: str | None = None  # a recorded operating point's name; None for a number or no flag
    temperature: float | None = None  # set with --calibrated
    asked: bool = False  # --threshold or --calibrated was given: outputs name the rule
    warning: str | None = None  # what the command says on stderr before it answers (a temperature that is no fit)

    def label(self, p_hate: float) -> str:
        return HATE if p_hate >= self.threshold else NOT_HATE

    def reported(self, p_hate: float) -> float:
        """``p_hate`` as reported: calibrated with the recorded temperature when asked."""
        return p_hate if self.temperature is None else float(apply_temperature([p_hate], self.temperature)[0])

    def answer(self, label: str, p_hate: float) -> dict[str, Any]:
        """One post's answer, from the score engine's ``label`` (at 0.5) and ``p_hate``: ``label`` and ``p_hate``
        by this rule, then what names the rule (nothing without the flags)."""
        return {"label": self.label(p_hate) if self.asked else label, "p_hate": self.reported(p_hate),
                **self.fields()}

    def fields(self) -> dict[str, Any]:
        """What each output names about the rule (empty without the flags)."""
        if not self.asked:
            return {}
        out: dict[str, Any] = {"threshold": self.threshold}
        if self.threshold_name:
            out["threshold_name"] = self.threshold_name
        if self.temperature is not None:
            out["temperature"] = self.temperature
        return out


def threshold_value(text: str) -> float | str:
    """argparse type of ``--threshold``: a number in [0, 1], or an operating point's name."""
    if text in POINT_NAMES:
        return text
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must be a number in [0, 1] or one of {', '.join(POINT_NAMES)}, "
                                         f"got {text!r}")
    return value + 0.0  # -0 is 0


def add_decision_rule_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--threshold", type=threshold_value, metavar="NUMBER|NAME",
                        help="label a post hate when p_hate >= this: a number in [0, 1], or a threshold "
                             f"`dynahate eval` chose on dev and recorded for the adapter's test split "
                             f"({', '.join(POINT_NAMES)}; read from the adapter's {RESULTS_NAME}) "
                             "(default: 0.5, outputs unchanged)")
    parser.add_argument("--calibrated", action="store_true",
                        help=f"report p_hate calibrated with the temperature recorded in the adapter's {RESULTS_NAME} "
                             "(fitted on dev; the label's threshold still applies to the raw p_hate) (default: off)")


def _recorded(adapter_dir: Path, sha256: str | None, wanted: str) -> tuple[str, SplitResults]:
    """The adapter's recorded test split: its name and its results, read and checked by the one reader of
    ``eval_results.json`` (every threshold finite and in [0, 1], every temperature finite and in the fitting range)
    and checked to be of these weights."""
    path = adapter_dir / RESULTS_NAME
    run = f"run `dynahate eval --adapter {adapter_dir} --split dev test` (score mode) first"
    if not path.exists():
        raise DynahateError(f"{wanted}: {path} not found: the adapter has no recorded evaluation; {run}")
    try:
        record = read_record(path, what="the adapter's evaluation results")
    except DynahateError as exc:
        raise DynahateError(f"{wanted}: {exc}") from None
    found = record.split(SPLIT_NAMES)
    if found is None:
        raise DynahateError(f"{wanted}: {path} records no {SPLIT!r} split (nor {SPLIT_NAMES[1]!r}); {run}")
    name, test = found
    adapter = test.get("adapter")
    recorded = adapter["sha256"] if adapter else None
    sha256 = sha256 or adapter_sha256(adapter_dir)
    if recorded != sha256:
        were = f"other weights (SHA-256 {recorded[:12]}" if recorded else "no recorded weights (a predictions file"
        raise DynahateError(f"{wanted}: {path}'s {name!r} results were computed on {were}, these are "
                            f"{sha256[:12]}); {run}")
    return name, test


def decision_rule(threshold: float | str | None, calibrated: bool, adapter_dir: Path,
                  sha256: str | None = None) -> DecisionRule:
    """The rule the flags ask for, reading what they name from the adapter's recorded test results.

    Args:
        threshold: ``--threshold`` as parsed (a number, a name, or None).
        calibrated: ``--calibrated``.
        adapter_dir: the adapter's folder (a run directory or a fetched Hub snapshot).
        sha256: the SHA-256 of its ``adapter_model.safetensors``, which the results must record (default:
            computed from the folder when the results are read).
    """
    if threshold is None and not calibrated:
        return DecisionRule()
    value, name, temperature, warning = DEFAULT_THRESHOLD, None, None, None
    if isinstance(threshold, str):
        if threshold == "default":
            name = threshold
        else:
            split, test = _recorded(adapter_dir, sha256, f"--threshold {threshold}")
            points = {point["name"]: point for point in test.get("operating_points") or []}
            if threshold not in points:
                raise DynahateError(f"--threshold {threshold}: {adapter_dir / RESULTS_NAME} records no such operating "
                                    f"point for {split!r} (chosen on dev: evaluate dev and test together, in score "
                                    f"mode); recorded: {', '.join(points) or 'none'}")
            value, name = float(points[threshold]["threshold"]), threshold
    elif threshold is not None:
        value = float(threshold)
    if calibrated:
        split, test = _recorded(adapter_dir, sha256, "--calibrated")
        fitted = test.get("calibration")
        if fitted is None:
            raise DynahateError(f"--calibrated: {adapter_dir / RESULTS_NAME} records no calibration for {split!r} "
                                "(fitted on dev: evaluate dev and test together, in score mode)")
        if not fitted.get("meaningful", True):
            warning = (f"--calibrated: the temperature {adapter_dir / RESULTS_NAME} records for {split!r} "
                       f"(T = {temperature_text(fitted['temperature'])}) is no fit: dev's log-loss had no minimum (its "
                       "scores separate the classes perfectly, or not at all), so the calibrated p_hate is not a "
                       "meaningful probability")
        temperature = float(fitted["temperature"])
    return DecisionRule(value, name, temperature, asked=True, warning=warning)
