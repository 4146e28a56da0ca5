"""dynahate.eval.trackers: ``--report-to mlflow|tensorboard|wandb|auto`` of ``dynahate eval`` and ``hatecheck``.

``names``: the one flattening of the evaluation record into metric names, tags, plots and files; ``run_folder``:
what the training's run folder says (``report_to``, ``output_dir``, its last step); ``base``: the interface of a
tracker; ``mlflow_tracker``, ``tensorboard_tracker``, ``wandb_tracker``: one each; ``report``: the checks before the
model loads and the logging after the files are written; ``cli_args``: the flags.
"""
