"""How long a ``dynahate`` process takes to leave once its work is done: ``main`` against ``console_main``.

``console_main`` (the installed command) is ``main`` with :func:`gc.freeze` as the last exit handler. This script
runs one real command, ``dynahate tiny-model`` (it loads torch and transformers, builds and writes a model), both
ways, alternately, ``--runs`` times each, in fresh processes. Each child notes the time in an exit handler that
runs after every other one; the parent notes when the process has ended. Prints, for each way, the median time
from that last handler to the end of the process, the median CPU time of the whole process, and the ratios.

    python benchmarks/exit_time.py [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import cast

# The child: an exit handler registered before the command's own (so it runs after it), then the command.
CHILD = """
import atexit, sys, time
from pathlib import Path
stamp = Path(sys.argv[1])
atexit.register(lambda: stamp.write_text(repr(time.monotonic())))
from dynahate.core import cli
sys.argv = ["dynahate", "tiny-model", sys.argv[2]]
sys.exit(getattr(cli, ENTRY)())
"""


def one_run(entry: str, work: Path) -> tuple[float, float]:
    """(seconds from the last exit handler to the end of the process, CPU seconds of the process) for one
    ``dynahate tiny-model`` run through ``dynahate.core.cli.<entry>``."""
    stamp, out = work / f"{entry}.stamp", work / f"{entry}-model"
    code = CHILD.replace("ENTRY", repr(entry))
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    with (work / f"{entry}.stderr").open("w+") as stderr:
        proc = subprocess.Popen([sys.executable, "-c", code, str(stamp), str(out)], env=env,
                                stdout=subprocess.DEVNULL, stderr=stderr)
        _, status, usage = os.wait4(proc.pid, 0)
        ended = time.monotonic()
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            stderr.seek(0)
            raise SystemExit(f"dynahate tiny-model through {entry} failed:\n{stderr.read()}")
    return ended - float(stamp.read_text()), usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=cast(str, __doc__).splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    results: dict[str, list[tuple[float, float]]] = {"main": [], "console_main": []}
    with tempfile.TemporaryDirectory() as folder:
        for _ in range(args.runs):
            for entry, runs in results.items():
                runs.append(one_run(entry, Path(folder)))
    exit_s = {entry: statistics.median(r[0] for r in runs) for entry, runs in results.items()}
    cpu_s = {entry: statistics.median(r[1] for r in runs) for entry, runs in results.items()}
    for entry in results:
        print(f"{entry:12s} {exit_s[entry]:.2f} s from the last exit handler to the end, {cpu_s[entry]:.2f} s of CPU "
              f"(medians of {args.runs} runs of dynahate tiny-model)")
    print(f"leaving: {exit_s['main'] / exit_s['console_main']:.1f}x faster with gc.freeze; the whole process "
          f"{cpu_s['main'] - cpu_s['console_main']:.2f} s of CPU less ({cpu_s['main'] / cpu_s['console_main']:.2f}x)")


if __name__ == "__main__":
    main()
