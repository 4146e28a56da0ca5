"""HateCheck's test cases (Röttger et al., ACL 2021; CC BY 4.0): find, verify and read ``test_suite_cases.csv``.

The file is the one of the GitHub repository ``paul-rottger/hatecheck-data`` at commit
:data:`HATECHECK_COMMIT`, identified by its git blob id :data:`HATECHECK_BLOB` (3,728 cases, 29
functional tests). Where it comes from (:func:`resolve_source`):

- ``--download``: fetched with :func:`dynahate.plugin.data.download.download`, verified before anything
  is written, cached at :data:`DEFAULT_HATECHECK_PATH` (a verified cache is not fetched again);
- ``--csv PATH``: a local copy, checked the same way; a different file is accepted with a warning
  that names its blob id, and the results record it (``source.official`` is false);
- neither: the cached copy, which must be the official file.

Columns (pandas ``to_csv``: the first column is an unnamed index): ``functionality``, ``case_id``,
``test_case``, ``label_gold`` and ``target_ident`` are required; the others (``direction``,
``focus_words``, ``templ_id``, ...) are not used. ``label_gold`` maps ``hateful`` to ``hate`` and
``non-hateful`` to ``not hate``. Errors name the file, line and case_id, never a test case's text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from dynahate.core.describe import describe_names, describe_value, duplicated, shown
from dynahate.core.errors import DynahateError
from dynahate.core.text_files import csv_records
from dynahate.plugin.data.download import download, git_blob_sha1
from dynahate.plugin.labels import HATE, NOT_HATE
from dynahate.plugin.post_rule import post_problem

HATECHECK_REPO = "paul-rottger/hatecheck-data"
HATECHECK_COMMIT = "d84302298ceeb34f4b0dde2d8a1f4932c2caa612"
HATECHECK_BLOB = "eb3fa2522dd52d448428269ef40d8ed3e0bf5892"
HATECHECK_URL = f"https://raw.githubusercontent.com/{HATECHECK_REPO}/{HATECHECK_COMMIT}/test_suite_cases.csv"
DEFAULT_HATECHECK_PATH = Path("data/raw/hatecheck_test_suite_cases.csv")
HATECHECK_LABELS = {"hateful": HATE, "non-hateful": NOT_HATE}
REQUIRED_COLUMNS = ("functionality", "case_id", "test_case", "label_gold", "target_ident")
_TARGET = re.compile(r"[A-Za-z][A-Za-z'-]{0,20}(?: [A-Za-z][A-Za-z'-]{0,20}){0,2}")  # a group name, up to 3 words
HUB_DATASET = "Paul/hatecheck"
LICENSE = "CC BY 4.0"
CITATION = ("Paul Röttger, Bertie Vidgen, Dong Nguyen, Zeerak Waseem, Helen Margetts and Janet Pierrehumbert. "
            "2021. HateCheck: Functional Tests for Hate Speech Detection Models. In Proceedings of ACL-IJCNLP 2021.")


@dataclass(frozen=True)
class HateCheckCase:
    case_id: str
    functionality: str
    test_case: str
    gold: str  # "hate" or "not hate"
    target: str | None  # target_ident; None when empty
    line: int  # the line of the CSV its record starts on

    def where(self, path: Path) -> str:
        return f"{path}: line {self.line} (case_id {self.case_id})"


@dataclass(frozen=True)
class HateCheckSource:
    path: Path
    git_blob_sha1: str
    official: bool

    def to_json(self) -> dict:
        return {"path": str(self.path), "git_blob_sha1": self.git_blob_sha1, "official": self.official,
                "expected_git_blob_sha1": HATECHECK_BLOB, "repository": HATECHECK_REPO, "commit": HATECHECK_COMMIT}


def _check_file(path: Path) -> None:
    if path.is_dir():
        raise DynahateError(f"{path}: is a directory; pass HateCheck's test_suite_cases.csv")
    if not path.is_file():
        raise DynahateError(f"{path}: file not found (pass HateCheck's test_suite_cases.csv, or use --download)")


def resolve_source(csv: Path | None, download_it: bool, dest: Path = DEFAULT_HATECHECK_PATH,
                   url: str = HATECHECK_URL) -> tuple[HateCheckSource, str | None]:
    """The file to read and a warning (``None`` for the official file); nothing else is read or written.

    ``--download`` fetches to ``dest`` unless a verified copy is there; ``--csv`` accepts any file
    with a warning; without either, ``dest`` must hold the official file.
    """
    if download_it:
        path = download(url=url, dest=dest, expected_blob=HATECHECK_BLOB)
        return HateCheckSource(path, HATECHECK_BLOB, True), None
    path = csv if csv is not None else dest
    _check_file(path)
    blob = git_blob_sha1(path)
    if blob == HATECHECK_BLOB:
        return HateCheckSource(path, blob, True), None
    if csv is None:
        raise DynahateError(f"{path}: git blob id {blob} is not HateCheck's {HATECHECK_BLOB} "
                            f"({HATECHECK_REPO}@{HATECHECK_COMMIT[:12]}); fetch it again with --download, "
                            "or pass a file of your own with --csv")
    return HateCheckSource(path, blob, False), (
        f"warning: {path} has git blob id {blob}, not HateCheck's {HATECHECK_BLOB}: evaluating it anyway, "
        "and the results record it as not the official file")


def _header_index(path: Path, header: list[str]) -> dict[str, int]:
    missing = [column for column in REQUIRED_COLUMNS if column not in header]
    if missing:
        raise DynahateError(f"{path}: line 1: missing column(s) {', '.join(map(repr, missing))} in the header "
                            f"(found: {describe_names(name for name in header if name)}); "
                            "is this HateCheck's test_suite_cases.csv?")
    repeated = [name for name in duplicated(header) if name in REQUIRED_COLUMNS]
    if repeated:
        raise DynahateError(f"{path}: line 1: column(s) {', '.join(map(repr, repeated))} occur more than once")
    return {name: header.index(name) for name in REQUIRED_COLUMNS}


def _case(path: Path, line: int, fields: list[str], index: dict[str, int], n_header: int) -> HateCheckCase:
    if len(fields) != n_header:
        raise DynahateError(f"{path}: line {line}: has {len(fields)} fields, the header has {n_header}")
    value = {column: fields[position] for column, position in index.items()}
    case_id = value["case_id"]
    if not shown(case_id):
        raise DynahateError(f"{path}: line {line}: case_id is {describe_value(case_id)}, expected a short id")
    where = f"{path}: line {line} (case_id {case_id})"
    label = value["label_gold"]
    if label not in HATECHECK_LABELS:
        allowed = ", ".join(map(repr, HATECHECK_LABELS))
        raise DynahateError(f"{where}: label_gold is {describe_value(label)}, expected one of {allowed}")
    functionality = value["functionality"]
    if not shown(functionality):
        raise DynahateError(f"{where}: functionality is {describe_value(functionality)}, expected a short name "
                            "such as 'derog_neg_emote_h'")
    problem = post_problem(value["test_case"])
    if problem:
        raise DynahateError(f"{where}: test_case {problem}")
    target = value["target_ident"]
    if target and not _TARGET.fullmatch(target):
        raise DynahateError(f"{where}: target_ident is {describe_value(target)}, expected a group name")
    return HateCheckCase(case_id, functionality, value["test_case"], HATECHECK_LABELS[label], target or None, line)


def read_hatecheck_csv(path: str | Path) -> list[HateCheckCase]:
    """Every case of the file, in file order; the first bad record is one error naming file, line and case_id."""
    path = Path(path)
    _check_file(path)
    records = csv_records(path)
    try:
        _, header = next(records)
    except StopIteration:
        raise DynahateError(f"{path}: empty file, expected HateCheck's CSV header") from None
    index = _header_index(path, header)
    cases: list[HateCheckCase] = []
    seen: dict[str, int] = {}
    for line, fields in records:
        if not fields:
            continue
        case = _case(path, line, fields, index, len(header))
        if case.case_id in seen:
            raise DynahateError(f"{case.where(path)}: case_id already used on line {seen[case.case_id]}")
        seen[case.case_id] = line
        cases.append(case)
    if not cases:
        raise DynahateError(f"{path}: the CSV has a header but no test cases")
    return cases
