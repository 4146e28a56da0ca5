"""dynahate.testing: the helpers the tests and the benchmarks share (installed from ``tests/helpers``).

``cli``: run a console script of the venv offline, train with ``llamafactory-cli``, the repository's
paths; ``records``: JSONL and official-CSV text for tests; ``cli_refusal``: what a refusal must look
like; ``hub_server``: a loopback Hub; ``serve_process``: a real ``dynahate serve`` on a free port;
``eval_folders``: evaluation folders from made-up answers; ``browser``: the system's headless
Chromium for the page tests; ``collect_process``: a real ``dynahate collect serve`` and its
annotators; ``postgres_server``: a throwaway PostgreSQL server; ``loop_demo``: ``make loop-demo``.
They expect the source tree (the repository checkout, installed with ``pip install -e``), not an
installed wheel alone.
"""
