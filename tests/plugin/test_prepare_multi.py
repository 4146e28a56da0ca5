"""``dynahate prepare --csv A --csv B``: several Dynahate CSVs (the release and a collected round) as one set of
splits: ids unique across files, the leakage audit across files, counts per file and round, each file's hash."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from dynahate.plugin.splits import SPLITS, data_file, meta_file
from dynahate.testing.cli import run_main
from dynahate.testing.records import csv_row, csv_text, read_jsonl


def prepare_cli(csvs: list[Path], out: Path, *extra: str) -> subprocess.CompletedProcess:
    """``dynahate prepare`` with one ``--csv`` per file, without the prompt-length measurement."""
    args = [arg for path in csvs for arg in ("--csv", str(path))]
    return run_main(["prepare", *args, "--out", str(out), "--tokenizer", "none", *extra], check=False)


def write(path: Path, rows: list[list]) -> Path:
    path.write_text(csv_text(rows), encoding="utf-8")
    return path


def release_rows() -> list[list]:
    """A small stand-in for the release: round 1, ids acl1-acl4."""
    return [csv_row(1, "first release post"), csv_row(2, "second release post", label="nothate"),
            csv_row(3, "a release dev post", split="dev"), csv_row(4, "a release test post", split="test")]


def round8_rows() -> list[list]:
    """A collected round as `dynahate collect export` writes it: originals 8a, perturbations 8b, paired."""
    rows = [csv_row(1, "an original of round 8", acl_id="r8-1", matched="r8-2"),
            csv_row(2, "its perturbation", label="nothate", acl_id="r8-2", matched="r8-1"),
            csv_row(3, "a round 8 test original", split="test", acl_id="r8-3", matched="r8-4"),
            csv_row(4, "a round 8 test perturbation", label="nothate", split="test", acl_id="r8-4", matched="r8-3")]
    for row in rows:
        perturbation = row[12] != "NA" and int(row[2]) % 2 == 0
        row[7], row[9], row[11] = ("perturbation" if perturbation else "original"), 8, "8b" if perturbation else "8a"
    return rows


def test_two_csv_files_are_prepared_together_not_the_last_one_alone(tmp_path):
    release, round8 = write(tmp_path / "release.csv", release_rows()), write(tmp_path / "round8.csv", round8_rows())
    out = tmp_path / "out"
    proc = prepare_cli([release, round8], out)
    assert proc.returncode == 0, proc.stderr
    ids = {split: [m["acl.id"] for m in read_jsonl(meta_file(data_file(out, split)))] for split in SPLITS}
    assert ids == {"train": ["acl1", "acl2", "r8-1", "r8-2"], "dev": ["acl3"], "test": ["acl4", "r8-3", "r8-4"]}
    inputs = [r["input"] for r in read_jsonl(data_file(out, "train"))]
    assert inputs == ["first release post", "second release post", "an original of round 8", "its perturbation"]
    report = json.loads((out / "prepare_report.json").read_text())
    assert [f["path"] for f in report["source"]["files"]] == [str(release), str(round8)]
