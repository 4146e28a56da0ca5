"""Where the test suite's CPU goes: every Python process it starts, grouped by what it runs.

Runs ``python -m pytest`` (by default as ``make test`` does: ``-q -n 2 --dist loadgroup``; other pytest arguments
after ``--``) with a ``sitecustomize`` on ``PYTHONPATH`` that appends, when each Python process exits, its command
line and the CPU time it used itself (user + system, not its children's) to a log. Then prints the wall time, the
CPU of all processes together, and a table: the pytest workers, each ``llamafactory-cli train`` recipe, each
``dynahate`` subcommand, and the rest. A process killed by SIGKILL writes no line (the table says how many lines
it read).

    python benchmarks/suite_cpu.py                  # the whole suite, as make test runs it
    python benchmarks/suite_cpu.py -- -m "not integration"
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import cast

REPO = Path(__file__).resolve().parent.parent
LOG_VARIABLE = "DYNAHATE_SUITE_CPU_LOG"
HOOK = f'''
import atexit, json, os, sys


def _log_cpu():
    times = os.times()
    try:
        with open(os.environ["{LOG_VARIABLE}"], "a", encoding="utf-8") as log:
            log.write(json.dumps({{"argv": sys.argv[:4], "cpu": times.user + times.system}}) + "\\n")
    except (KeyError, OSError):
        pass


atexit.register(_log_cpu)
'''


def kind(argv: list[str]) -> str:
    """What a process ran, from its command line: a pytest process, a training recipe, a dynahate subcommand."""
    names = [Path(arg).name for arg in argv] or ["?"]
    if names[0] == "-c":
        return "python -c: the pytest-xdist workers (and any one-line script)"
    if names[0] == "__main__.py":
        return "pytest (the run, or a pytester run inside it)"
    if names[0] == "llamafactory-cli":
        recipes = [name for name in names if name.endswith(".yaml")]
        return f"llamafactory-cli {recipes[0] if recipes else ' '.join(names[1:2])}"
    if names[0] == "dynahate" and len(names) > 1:
        return f"dynahate {' '.join(names[1:3]) if names[1] == 'collect' else names[1]}"
    return names[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=cast(str, __doc__).splitlines()[0])
    parser.add_argument("--workers", type=int, default=2, help="pytest-xdist workers (default 2, as make test)")
    parser.add_argument("pytest_args", nargs="*", help="more pytest arguments, after --")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="suite-cpu-") as folder:
        hook, log = Path(folder) / "hook", Path(folder) / "cpu.jsonl"
        hook.mkdir()
        (hook / "sitecustomize.py").write_text(HOOK, encoding="utf-8")
        env = {**os.environ, LOG_VARIABLE: str(log), "HF_HUB_OFFLINE": "1", "DISABLE_VERSION_CHECK": "1",
               "PYTHONPATH": os.pathsep.join(filter(None, [str(hook), os.environ.get("PYTHONPATH")]))}
        started = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-n", str(args.workers), "--dist", "loadgroup",
                               "-p", "no:cacheprovider", *args.pytest_args], cwd=REPO, env=env)
        wall = time.perf_counter() - started
        rows = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()] if log.exists() else []
    table: dict[str, list[float]] = defaultdict(lambda: [0, 0.0])
    for row in rows:
        entry = table[kind(row["argv"])]
        entry[0] += 1
        entry[1] += row["cpu"]
    total = sum(cpu for _, cpu in table.values())
    print(f"\npytest exited {proc.returncode}; wall {wall:.1f} s; CPU of {len(rows)} Python processes {total:.1f} s "
          f"({total / wall:.2f} cores busy on average)")
    print(f"{'CPU s':>8} {'share':>6} {'count':>5}  what")
    for name, (count, cpu) in sorted(table.items(), key=lambda item: -item[1][1]):
        print(f"{cpu:8.1f} {cpu / total:6.1%} {int(count):5d}  {name}")
    sys.exit(proc.returncode)


if __name__ == "__main__":
    main()
