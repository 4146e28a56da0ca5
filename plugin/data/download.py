"""Fetch the official Dynahate CSV and verify it by its git blob id before use.

GitHub identifies a file version by its git blob id: SHA-1 of ``b"blob <size>\\0" + bytes``.
A download is written to a temporary file, verified, and only then renamed into place.
"""

from __future__ import annotations

import hashlib
import urllib.error
import urllib.request
from pathlib import Path

from tqdm import tqdm

from dynahate.core.atomic import atomic_write_bytes
from dynahate.core.errors import DynahateError

DYNAHATE_V023_URL = (
    "https://raw.githubusercontent.com/bvidgen/Dynamically-Generated-Hate-Speech-Dataset/main/"
    "Dynamically%20Generated%20Hate%20Dataset%20v0.2.3.csv"
)
DYNAHATE_V023_BLOB = "0e7730bfddf201bd5784c2f9ae9b0de7a9fcae54"
KNOWN_BLOBS = {DYNAHATE_V023_BLOB: "v0.2.3"}
DEFAULT_DOWNLOAD_PATH = Path("data/raw/dynahate_v0.2.3.csv")


def git_blob_sha1(path: str | Path) -> str:
    """The git blob id of a file (what ``git hash-object FILE`` prints)."""
    path = Path(path)
    digest = hashlib.sha1(f"blob {path.stat().st_size}\0".encode())
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def known_version(blob: str) -> str | None:
    """``"v0.2.3"`` for the official file, ``None`` for any other content."""
    return KNOWN_BLOBS.get(blob)


def verify_blob(path: str | Path, expected: str = DYNAHATE_V023_BLOB) -> None:
    """Raise :class:`DynahateError` unless ``path`` has the expected git blob id."""
    actual = git_blob_sha1(path)
    if actual != expected:
        raise DynahateError(
            f"{path}: git blob id {actual} does not match the expected {expected}; "
            "the file is incomplete or not the official Dynahate v0.2.3 CSV"
        )


def blob_id_of_bytes(data: bytes) -> str:
    return hashlib.sha1(f"blob {len(data)}\0".encode() + data).hexdigest()


def download(url: str = DYNAHATE_V023_URL, dest: str | Path = DEFAULT_DOWNLOAD_PATH,
             expected_blob: str = DYNAHATE_V023_BLOB, timeout: float = 60.0) -> Path:
    """Download ``url`` to ``dest`` unless a verified copy is already there; return ``dest``.

    The file (a few MB) is held in memory and written only after its blob id matched.
    """
    dest = Path(dest)
    if dest.is_file() and git_blob_sha1(dest) == expected_blob:
        return dest
    chunks = []
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            total = int(response.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc=f"download {dest.name}", leave=False) as bar:
                for chunk in iter(lambda: response.read(1 << 16), b""):
                    chunks.append(chunk)
                    bar.update(len(chunk))
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DynahateError(f"could not download {url}: {reason}; download it by hand and pass --csv") from None
    data = b"".join(chunks)
    actual = blob_id_of_bytes(data)
    if actual != expected_blob:
        raise DynahateError(
            f"{dest}: downloaded file has git blob id {actual}, expected {expected_blob}; nothing was written"
        )
    atomic_write_bytes(dest, data)
    return dest
