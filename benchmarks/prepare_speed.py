"""How fast is ``dynahate prepare`` on a file the size of Dynahate v0.2.3 (41 144 rows)?

Builds a full-size CSV in the official format by repeating the bundled synthetic sample with
fresh ``acl.id`` values, then times, in one run and side by side: parsing the CSV with the
standard library alone (the floor), and the whole ``prepare`` (validation, records, metadata,
report, audit, atomic writes). Prints both, their ratio, and the ratio to the 5 s budget.

With ``--tokenizer NAME`` (e.g. ``llama31-offline``, the CLI's default), it also times loading
that tokenizer and ``prepare`` measuring every prompt's length with it (``prompt_tokens`` in the
report; each run loads the tokenizer, as the CLI does), beside the run without, and prints what
the measurement adds.

    python benchmarks/prepare_speed.py [--rows 41144] [--repeat 3] [--tokenizer llama31-offline]
"""

from __future__ import annotations

import argparse
import csv
import tempfile
import time
from pathlib import Path
from typing import cast

from dynahate.plugin.data.prepare import prepare
from dynahate.plugin.data.prompt_lengths import load_length_tokenizer

SAMPLE = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "dynahate_sample.csv"
BUDGET_S = 5.0


def build_csv(path: Path, rows: int) -> None:
    with SAMPLE.open(newline="", encoding="utf-8") as handle:
        header, *seed = list(csv.reader(handle))
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out, quoting=csv.QUOTE_NONNUMERIC, lineterminator="\n")
        writer.writerow(header)
        for n in range(rows):
            row: list[str | int] = list(seed[n % len(seed)])
            row[0], row[1], row[2] = str(n + 1), f"acl{n + 1}", n + 1
            row[3] = f"{row[3]} {n // len(seed)}"  # distinct texts, like the real file
            row[-1] = "NA"
            writer.writerow(row)


def best_of(repeat: int, fn) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=cast(str, __doc__).splitlines()[0])
    parser.add_argument("--rows", type=int, default=41144)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--tokenizer", default=None, metavar="NAME",
                        help="also time prepare measuring prompt lengths with it (default: not measured)")
    args = parser.parse_args()
    load_s = with_lengths = None
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "dynahate_full.csv"
        build_csv(source, args.rows)

        def parse_only():
            with source.open(newline="", encoding="utf-8") as handle:
                for _ in csv.reader(handle):
                    pass

        floor = best_of(args.repeat, parse_only)
        full = best_of(args.repeat, lambda: prepare(source, Path(tmp) / "out"))
        if args.tokenizer:
            load_s = best_of(1, lambda: load_length_tokenizer(args.tokenizer))  # a first load may build a cache
            with_lengths = best_of(args.repeat, lambda: prepare(source, Path(tmp) / "out",
                                                                tokenizer=args.tokenizer))
        size_mb = source.stat().st_size / 1e6
    print(f"rows: {args.rows}  csv: {size_mb:.1f} MB")
    print(f"csv.reader alone : {floor:7.3f} s")
    print(f"dynahate prepare : {full:7.3f} s  ({args.rows / full:,.0f} rows/s)")
    print(f"prepare / parse  : {full / floor:7.2f}x")
    print(f"budget {BUDGET_S:.0f} s / prepare: {BUDGET_S / full:.1f}x headroom")
    if with_lengths is not None:
        print(f"tokenizer {args.tokenizer} first load : {load_s:7.3f} s")
        print(f"prepare --tokenizer {args.tokenizer} : {with_lengths:7.3f} s  (loading it and measuring "
              f"{args.rows} prompts add {with_lengths - full:.2f} s; {with_lengths / full:.1f}x prepare alone)")


if __name__ == "__main__":
    main()
