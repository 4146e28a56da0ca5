"""Score mode's tokenization: one post at a time against one batch call, side by side in one run.

The score engine tokenizes every prompt before it batches them by length. It calls
``prompts.encode_prompts`` once for all posts, which hands the whole list to the fast tokenizer
(Rust, parallel over the host's cores). The alternative is ``prompts.encode_prompt`` once per post.
This script times both on the same posts (default 4 120: the test split's size, the bundled sample's
posts repeated) with Llama 3.1's real tokenizer (offline, from ``llama-models``), checks that they
give the same ids, and prints each time (the fastest of ``--repeat`` rounds), the ratio and the
host's core count. The gain depends on the cores and on what else runs on them.

    python benchmarks/tokenize_speed.py [--posts 4120] [--repeat 3]
"""

from __future__ import annotations

import argparse
import csv
import os
import time
from pathlib import Path
from typing import cast

from dynahate.plugin import prompts
from dynahate.plugin.llama3_tokenizer import llama31_tokenizer

SAMPLE = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "dynahate_sample.csv"


def main() -> None:
    parser = argparse.ArgumentParser(description=cast(str, __doc__).splitlines()[0])
    parser.add_argument("--posts", type=int, default=4120, help="posts to tokenize (default: 4120)")
    parser.add_argument("--repeat", type=int, default=3, help="timed rounds; the fastest of each is reported")
    args = parser.parse_args()

    with SAMPLE.open(newline="", encoding="utf-8") as handle:
        unique = [row["text"] for row in csv.DictReader(handle)]
    posts = (unique * (args.posts // len(unique) + 1))[: args.posts]
    tokenizer = llama31_tokenizer()
    prompts.encode_prompts(tokenizer, posts[:8])  # warm-up: the encoders are built once per tokenizer

    one, batch = [], []
    for _ in range(args.repeat):
        start = time.perf_counter()
        singles = [prompts.encode_prompt(tokenizer, post) for post in posts]
        one.append(time.perf_counter() - start)
        start = time.perf_counter()
        batched = prompts.encode_prompts(tokenizer, posts)
        batch.append(time.perf_counter() - start)
        if singles != batched:
            raise SystemExit("the batch call gave other ids than one call per post")
    print(f"{len(posts)} prompts, {os.cpu_count()} cores, fastest of {args.repeat}: one post at a time "
          f"{min(one):.3f} s, one batch call {min(batch):.3f} s, ratio {min(one) / min(batch):.2f}x (ids equal)")


if __name__ == "__main__":
    main()
