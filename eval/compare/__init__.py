"""dynahate.eval.compare: two evaluations of adapters on the same posts, compared (``dynahate compare``).

``load``: read both, join by id, refuse mismatches; ``paired_stats``: paired bootstrap, McNemar's
exact test, agreement; ``report``: the table and the per-round plot; ``cli``: the command.
"""
