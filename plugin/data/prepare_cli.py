"""``dynahate prepare``: turn the official Dynahate CSV into LLaMA-Factory JSONL files."""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

from dynahate.core.arg_types import positive_int
from dynahate.plugin.post_rule import DEFAULT_CUTOFF_LEN
from dynahate.plugin.splits import EVERY_SPLIT, SPLITS, data_file_name

ORDER = 10
HELP = f"convert the official Dynahate CSV into data/{data_file_name(EVERY_SPLIT)} plus metadata and a report"


EPILOG = ("Errors name the file, line and acl.id, never a post. Environment: TQDM_* variables set the progress "
          "bar (TQDM_DISABLE=1 hides it); with --download, the standard proxy variables (https_proxy, no_proxy) "
          "are honoured; --tokenizer llama31-offline caches the converted tokenizer in DYNAHATE_CACHE (default "
          "XDG_CACHE_HOME/dynahate, else ~/.cache/dynahate), and a Hub tokenizer name is loaded by transformers "
          "(HF_TOKEN, HF_HOME, HF_HUB_OFFLINE). Nothing else is read.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from dynahate.plugin.data.download import DEFAULT_DOWNLOAD_PATH

    parser.epilog = EPILOG
    parser.add_argument("--csv", type=Path, action="append",
                        help="the Dynahate CSV (v0.2.3 or v0.2.2, UTF-8); required without --download; repeat it "
                             "to prepare several files (the release and a collected round) as one set of splits; "
                             f"with --download, where to save it (default: {DEFAULT_DOWNLOAD_PATH})")
    parser.add_argument("--out", type=Path, default=Path("data"),
                        help="output directory, created if missing; must not be a file (default: data/)")
    parser.add_argument("--download", action="store_true",
                        help="fetch v0.2.3 from its GitHub location and verify its git blob id before use "
                             "(default: off, read --csv)")
    parser.add_argument("--skip-invalid", action="store_true",
                        help="leave bad rows out (listed in the report by line and acl.id) "
                             "(default: off, stop with an error at the first bad row)")
    parser.add_argument("--normalize-text", action="store_true",
                        help="opt-in: Unicode NFC and strip surrounding whitespace (default: off, texts verbatim)")
    parser.add_argument("--tokenizer", metavar="NAME_OR_PATH",
                        help="measure every prompt in tokens with this tokenizer (mean, p50, p95, max per split and "
                             "how many exceed --cutoff-len, in the report): 'llama31-offline' (Llama 3.1's tokenizer "
                             "built from the llama-models package), a local tokenizer folder, a Hub model name, or "
                             "'none' (default: llama31-offline when llama-models is installed, else none)")
    parser.add_argument("--cutoff-len", type=positive_int, default=DEFAULT_CUTOFF_LEN, metavar="N",
                        help=f"the training cutoff_len to count longer prompts against (default: {DEFAULT_CUTOFF_LEN},"
                             " the recipes' value)")




def _described(source: dict) -> str:
    return (f"{source['path']} ({source['version'] or 'unrecognised version'}, git blob "
            f"{source['git_blob_sha1'][:12]}), {source['rows_read']} rows read")


def _file_lines(source: dict) -> list[str]:
    """With several CSVs: each file's rows per split and per round (all splits), and skipped rows."""
    lines = [f"sources: {len(source['files'])} CSV files, {source['rows_read']} rows read, prepared as one set of "
             "splits (not a Dynahate release as a whole)"]
    for entry in source["files"]:
        splits = ", ".join(f"{split} {counts['rows']}" for split, counts in entry["splits"].items())
        rounds: Counter[str] = Counter()
        for counts in entry["splits"].values():
            rounds.update({name: sum(labels.values()) for name, labels in counts["rounds"].items()})
        missing = entry["missing_metadata_columns"]
        lines.append(f"  {_described(entry)}: {splits}; rounds "
                     + ", ".join(f"{name}: {count}" for name, count in sorted(rounds.items()))
                     + (f"; {entry['skipped']} skipped" if entry["skipped"] else "")
                     + (f"; no column {', '.join(missing)}" if missing else ""))
    return lines


def _summary(report: dict) -> str:
    source = report["source"]
    lines = _file_lines(source) if "files" in source else [f"source: {_described(source)}"]
    for split, counts in report["splits"].items():
        labels = ", ".join(f"{k}: {v}" for k, v in counts["labels"].items())
        lines.append(f"  {split:5s} {counts['rows']:6d} rows ({labels}); rounds: {', '.join(counts['rounds'])}")
    skipped = report["skipped"]
    lines.append(f"skipped: {skipped['rows']} rows" + (f" {skipped['by_kind']}" if skipped["rows"] else ""))
    dup = report["audit"]["duplicate_texts_across_splits"]
    pairs = report["audit"]["matched_pairs_across_splits"]
    lines.append(f"audit: {dup['groups']} texts occur in more than one split "
                 f"({dup['dev_or_test_rows_with_text_in_train']} dev/test rows have their exact text in train); "
                 f"{pairs['pairs_across_splits']} of {pairs['pairs']} matched pairs cross splits")
    across = dup.get("across_files")
    if across is not None:
        lines.append(f"audit across files: {across['groups']} of those texts occur in more than one file "
                     f"({across['dev_or_test_rows_with_text_in_another_files_train']} dev/test rows have their exact "
                     "text in another file's train)")
    spelled = report["special_token_spellings"]["posts"]
    lines.append("posts spelling a Llama 3 special token such as <|eot_id|>: "
                 + ", ".join(f"{split} {count}" for split, count in spelled.items())
                 + (" (training reads them as control tokens; eval, predict and serve as text)"
                    if any(spelled.values()) else ""))
    lengths = report.get("prompt_tokens")
    if lengths:
        lines.append(f"prompt tokens ({lengths['tokenizer']}; cutoff_len {lengths['cutoff_len']}):")
        for split, s in lengths["splits"].items():
            lines.append(f"  {split:5s} " + ("no prompts" if not s["prompts"] else
                         f"mean {s['mean']}, p50 {s['p50']}, p95 {s['p95']}, max {s['max']}; "
                         f"{s['over_cutoff']} over cutoff_len"))
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from dynahate.plugin.data.download import DEFAULT_DOWNLOAD_PATH, download
    from dynahate.core.errors import DynahateError
    from dynahate.plugin.data.prepare import prepare
    from dynahate.plugin.data.prompt_lengths import default_tokenizer_name

    csv_paths: list[Path] = args.csv or []
    if not csv_paths and not args.download:
        raise DynahateError("pass --csv PATH to the Dynahate CSV, or --download to fetch v0.2.3")
    if args.download:
        if len(csv_paths) > 1:
            raise DynahateError(f"--download saves one file, and {len(csv_paths)} --csv were given: download it "
                                "first (--download, with at most one --csv), then prepare the files together")
        csv_paths = [download(dest=csv_paths[0] if csv_paths else DEFAULT_DOWNLOAD_PATH)]
        print(f"verified {csv_paths[0]} (Dynahate v0.2.3)")
    result = prepare(csv_paths, args.out, skip_invalid=args.skip_invalid, normalize=args.normalize_text,
                     tokenizer=args.tokenizer or default_tokenizer_name(), cutoff_len=args.cutoff_len)
    print(_summary(result.report))
    for split in SPLITS:
        if result.report["splits"][split]["rows"] == 0:
            print(f"warning: split {split!r} has no rows; {result.files[split]} is empty")
    print(f"wrote {', '.join(str(result.files[s]) for s in SPLITS)} and {result.files['report']}")
    return 0
