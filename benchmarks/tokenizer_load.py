"""Loading Llama 3.1's tokenizer from a folder: with its added tokens listed in ``tokenizer_config.json`` and without.

transformers 5's ``save_pretrained`` leaves ``added_tokens_decoder`` out of ``tokenizer_config.json`` for a
tokenizers-backed tokenizer; ``from_pretrained`` then finds the added tokens by parsing the whole ``tokenizer.json``
(17 MB) in Python. ``dynahate.plugin.llama3_tokenizer.save_tokenizer`` lists them, as transformers 4 and Meta's own
file do. This script writes the offline Llama 3.1 tokenizer both ways into two folders, loads each with
``AutoTokenizer.from_pretrained`` alternately ``--runs`` times in this one process, checks that the two loads give
the same tokenizer, and prints the median time of each and the ratio.

    python benchmarks/tokenizer_load.py [--runs 7]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import cast

from dynahate.plugin.llama3_tokenizer import llama31_tokenizer, save_tokenizer
from dynahate.testing.tokenizers import tokenizer_identity


def _load(folder: Path):
    from transformers import AutoTokenizer

    start = time.perf_counter()
    tokenizer = AutoTokenizer.from_pretrained(folder)
    return tokenizer, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=cast(str, __doc__).splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="loads of each folder, alternately (default: 7)")
    args = parser.parse_args()
    tokenizer = llama31_tokenizer()
    with tempfile.TemporaryDirectory() as work:
        plain, listed = Path(work) / "save_pretrained", Path(work) / "save_tokenizer"
        tokenizer.save_pretrained(plain)
        save_tokenizer(tokenizer, listed)
        for folder in (plain, listed):  # warm-up: the files in the page cache, transformers' lazy imports done
            _load(folder)
        times: dict[Path, list[float]] = {plain: [], listed: []}
        text = "<|begin_of_text|>they're 12345 naïve 🙂<|eot_id|>"
        for _ in range(args.runs):
            loaded = {}
            for folder in (plain, listed):
                loaded[folder], seconds = _load(folder)
                times[folder].append(seconds)
            a, b = loaded[plain], loaded[listed]
            if tokenizer_identity(a) != tokenizer_identity(b) or a.encode(text) != b.encode(text):
                raise SystemExit("the two folders load as different tokenizers")
    before, after = statistics.median(times[plain]), statistics.median(times[listed])
    print(f"median of {args.runs} loads: save_pretrained's folder {before:.3f} s, with the added tokens listed "
          f"{after:.3f} s, ratio {before / after:.2f}x (same tokenizer)")


if __name__ == "__main__":
    main()
