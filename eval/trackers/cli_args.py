"""``--report-to``, ``--mlflow-run-id`` and ``--wandb-run-id``, shared by ``dynahate eval`` and ``hatecheck``."""

from __future__ import annotations

import argparse

from dynahate.eval.trackers.report import CHOICES, NONE, Reporting, ReportOptions, prepare_reporting


def add_report_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("experiment trackers (docs/trackers.md)")
    group.add_argument("--report-to", nargs="+", choices=CHOICES, default=[NONE], metavar="TRACKER",
                       help="log the evaluation's figures, plots and files to mlflow, tensorboard and/or wandb, in "
                            "the training's own run; auto: the trackers the run was trained with; none (default)")
    group.add_argument("--mlflow-run-id", metavar="ID",
                       help="the MLflow run to log to (default: the one whose output_dir parameter is the run folder)")
    group.add_argument("--wandb-run-id", metavar="ID",
                       help="the W&B run to resume (default: the latest under the run folder's wandb/)")


def report_options(args: argparse.Namespace) -> ReportOptions:
    return ReportOptions(tuple(args.report_to), args.mlflow_run_id, args.wandb_run_id)


def prepare_from_args(args: argparse.Namespace, spec, out_dir) -> Reporting:
    """The trackers of the parsed ``args`` found and checked (before the model loads). ``spec``: the parsed
    ``--adapter`` (None with ``--predictions``); a local one is the training's run folder."""
    from pathlib import Path

    local = spec is not None and not spec.is_hub
    return prepare_reporting(report_options(args), run_folder=Path(args.adapter) if local else None,
                             adapter=args.adapter, out_dir=Path(out_dir))
