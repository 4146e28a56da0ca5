"""Verification of the Dynahate CSV by git blob id, and download from a loopback server."""

import http.server
import subprocess

import pytest

from dynahate.core.errors import DynahateError
from dynahate.plugin.data.download import DYNAHATE_V023_BLOB, download, git_blob_sha1, known_version, verify_blob
from dynahate.testing.hub_server import serving


def test_blob_id_matches_git_hash_object(sample_csv, tmp_path):
    expected = subprocess.run(["git", "hash-object", str(sample_csv)], capture_output=True, text=True, check=True)
    assert git_blob_sha1(sample_csv) == expected.stdout.strip()
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    assert git_blob_sha1(empty) == "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391"  # git's well-known empty blob


def test_verify_blob(sample_csv):
    verify_blob(sample_csv, git_blob_sha1(sample_csv))
    with pytest.raises(DynahateError, match=f"does not match the expected {DYNAHATE_V023_BLOB}"):
        verify_blob(sample_csv)
    assert known_version(DYNAHATE_V023_BLOB) == "v0.2.3" and known_version(git_blob_sha1(sample_csv)) is None


@pytest.fixture
def server(sample_csv):
    payload = sample_csv.read_bytes()
    hits = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            hits.append(self.path)
            if self.path != "/dynahate.csv":
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args):
            pass

    with serving(http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)) as httpd:
        yield f"http://127.0.0.1:{httpd.server_port}", hits


def test_download_verifies_then_writes(server, sample_csv, tmp_path):
    base, hits = server
    dest = tmp_path / "raw" / "dynahate.csv"
    blob = git_blob_sha1(sample_csv)
    assert download(f"{base}/dynahate.csv", dest, expected_blob=blob) == dest
    assert dest.read_bytes() == sample_csv.read_bytes()
    download(f"{base}/dynahate.csv", dest, expected_blob=blob)  # verified copy present: no second request
    assert hits == ["/dynahate.csv"]


def test_download_with_wrong_content_writes_nothing(server, tmp_path):
    base, _ = server
    dest = tmp_path / "dynahate.csv"
    with pytest.raises(DynahateError, match="expected 0e7730bf.*nothing was written"):
        download(f"{base}/dynahate.csv", dest)
    assert list(tmp_path.iterdir()) == []


def test_download_failure_is_one_clear_line(server, tmp_path):
    base, _ = server
    with pytest.raises(DynahateError, match="could not download .*/nope.csv.*pass --csv"):
        download(f"{base}/nope.csv", tmp_path / "x.csv")
    assert not (tmp_path / "x.csv").exists()
