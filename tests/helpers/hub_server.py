"""A loopback stand-in for the Hub API calls the real ``huggingface_hub`` client makes to upload and download.

Write side (``create_repo`` + ``upload_folder``):

- ``POST /api/repos/create``: creates the repo with one empty first commit (409 if it exists, as
  the Hub answers).
- ``POST /api/models/{repo}/preupload/{rev}``: every file ``uploadMode: "regular"``, so the
  client sends contents base64-encoded inside the commit.
- ``POST /api/models/{repo}/commit/{rev}``: NDJSON (a header line, then one line per file);
  the files are decoded and stored as a new commit (a 40-hex sha) at the head of that branch.
- ``POST /api/models/{repo}/branch/{branch}``: creates a branch.
- ``POST /api/validate-yaml``: the client sends a ``README.md``'s text before committing it; the
  front matter is parsed with PyYAML (400 with the error if it does not parse).

Read side (``snapshot_download``, ``hf_hub_download``):

- ``GET /api/models/{repo}/revision/{rev}`` (``model_info``): ``id``, ``sha`` (the commit the
  branch name or commit sha ``rev`` resolves to), ``private``, ``gated``, ``siblings``.
- ``GET /api/models/{repo}/tree/{rev}`` (``list_repo_tree``, one page): ``type``, ``path``,
  ``size``, ``oid`` (git blob sha1) and, for ``*.safetensors`` (LFS on the Hub), ``lfs``.
- ``HEAD`` / ``GET /{repo}/resolve/{rev}/{path}``: the file, with ``X-Repo-Commit``, ``ETag``
  (its git blob sha1, or the sha256 for LFS files, as the Hub) and ``Content-Length``.
- Errors carry the Hub's ``X-Error-Code`` (``RepoNotFound``, ``RevisionNotFound``,
  ``EntryNotFound``, ``GatedRepo``) and ``X-Error-Message`` headers, which the client maps to its
  exception classes: a missing repo is 404; a private repo is 401 without a token and 404 for a
  token without access; a gated repo (``repos[repo]["gated"]``) shows its info and file list to
  everyone but serves files only to its owner (``WRITE_TOKEN``) and the tokens in
  ``repos[repo]["readers"]``: 401 without a token, 403 with another one.

It checks the bearer token (401 for an unknown token; writing needs ``WRITE_TOKEN``, 403 for the
read-only ``READ_TOKEN``), can fail the next N POST requests with 503 or by closing the connection
(``fail_next``; reads are never failed, so the client's own GETs, such as huggingface_hub's
``/api/agent-harnesses`` probe, do not use them up), and records every request (method, path,
headers). Every URL it returns is on its own host.

:func:`serving` runs it, and the tests' other loopback HTTP servers (the download and HateCheck ones), on a thread
and stops each within :data:`SHUTDOWN_POLL_S`.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import importlib.util
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, HTTPServer, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

from dynahate.testing.cli import environment_added

WRITE_TOKEN = "hf_test_write_token_0123456789"
READ_TOKEN = "hf_test_read_token_0123456789"
TOKENS = (WRITE_TOKEN, READ_TOKEN)
INVALID_CREDENTIALS = "Invalid credentials in Authorization header"
SHUTDOWN_POLL_S = 0.02
"""How often a loopback server's loop looks for a shutdown request: ``serve_forever``'s default, 0.5 s, made each
test that stops one wait up to half a second for it."""


@contextlib.contextmanager
def serving(server: HTTPServer) -> Iterator[HTTPServer]:
    """Runs ``server`` in a daemon thread for the ``with`` block, then stops it (within :data:`SHUTDOWN_POLL_S`) and
    closes its socket."""
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": SHUTDOWN_POLL_S}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class HubState:
    # repo -> {"private": bool, "gated": False | "auto" | "manual", "readers": set of tokens,
    #          "revisions": {branch: {path: bytes}} (each branch's files at its head),
    #          "heads": {branch: commit sha}, "snapshots": {commit sha: {path: bytes}}}
    repos: dict[str, dict] = field(default_factory=dict)
    commits: list[dict] = field(default_factory=list)  # the commits uploaded (not the repos' empty first ones)
    requests: list[tuple[str, str, dict]] = field(default_factory=list)  # method, path, headers (lower-case names)
    fail_next: list[str] = field(default_factory=list)  # "503" or "drop", consumed one per POST request
    validated: list[str] = field(default_factory=list)  # README texts sent to /api/validate-yaml
    shas_made: int = 0

    def new_sha(self) -> str:
        self.shas_made += 1
        return hashlib.sha1(f"loopback hub commit {self.shas_made}".encode()).hexdigest()

    def resolve(self, repo: str, rev: str) -> tuple[str, dict[str, bytes]] | None:
        """(commit sha, files) of a branch name or commit sha of ``repo``; None if it has no such revision."""
        state = self.repos[repo]
        sha = state["heads"].get(rev, rev)
        return (sha, state["snapshots"][sha]) if sha in state["snapshots"] else None


def git_blob_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _is_lfs(path: str) -> bool:
    return path.endswith(".safetensors")


class _Handler(BaseHTTPRequestHandler):
    server: LoopbackHub  # pyright: ignore[reportIncompatibleVariableOverride]  # always the hub that made it

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, payload, headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(payload).encode(), {"Content-Type": "application/json", **(headers or {})})

    def _error(self, status: int, code: str | None, message: str, commit: str | None = None) -> None:
        headers = {"X-Error-Message": message}
        if code:
            headers["X-Error-Code"] = code
        if commit:
            headers["X-Repo-Commit"] = commit
        self._json(status, {"error": message}, headers)

    def _record(self) -> None:
        self.server.state.requests.append((self.command, self.path, {k.lower(): v for k, v in self.headers.items()}))

    def _failure_injected(self) -> bool:
        state = self.server.state
        if not state.fail_next:
            return False
        if state.fail_next.pop(0) == "drop":
            self.close_connection = True
            self.connection.shutdown(2)
        else:
            self._json(503, {"error": "Service temporarily unavailable"})
        return True

    def _token(self) -> str | None:
        auth = self.headers.get("Authorization", "")
        return auth.split(" ", 1)[1] if auth.lower().startswith("bearer ") else None

    # -- read side -----------------------------------------------------------------------------------------------

    def do_HEAD(self):
        self._read()

    def do_GET(self):
        self._read()

    def _read(self) -> None:
        self._record()  # injected failures are for the write side: the client's own GETs must not consume them
        token = self._token()
        if token is not None and token not in TOKENS:
            return self._error(401, None, INVALID_CREDENTIALS)
        parts = [unquote(part) for part in self.path.split("?")[0].split("/")]
        if len(parts) >= 7 and parts[1:3] == ["api", "models"] and parts[5] in ("revision", "tree"):
            return self._api_read(f"{parts[3]}/{parts[4]}", parts[5], "/".join(parts[6:]), token)
        if len(parts) >= 6 and parts[3] == "resolve":
            return self._resolve(f"{parts[1]}/{parts[2]}", parts[4], "/".join(parts[5:]), token)
        self._json(404, {"error": f"not implemented in the loopback hub: {self.command} {self.path}"})

    def _repo_denied(self, repo: str, token: str | None, files: bool) -> bool:
        """Answer (and return True) unless ``token`` may see ``repo`` (its files, if ``files``)."""
        state = self.server.state.repos.get(repo)
        allowed = token == WRITE_TOKEN or (state is not None and token in state["readers"])
        if state is None or (state["private"] and not allowed):
            self._error(401 if state is not None and token is None else 404, "RepoNotFound", "Repository not found")
            return True
        if files and state["gated"] and not allowed:
            if token is None:
                self._error(401, "GatedRepo", "Access to this model is restricted: you must be authenticated")
            else:
                self._error(403, "GatedRepo", f"Access to model {repo} is restricted and you are not in the "
                                              "authorized list")
            return True
        return False

    def _readable(self, repo: str, rev: str, token: str | None, files: bool) -> tuple[str, dict] | None:
        """The revision's commit sha and files, or None once the refusal (401/403/404) has been sent."""
        if self._repo_denied(repo, token, files=files):
            return None
        resolved = self.server.state.resolve(repo, rev)
        if resolved is None:
            self._error(404, "RevisionNotFound", f"Invalid rev id: {rev}")
        return resolved

    def _api_read(self, repo: str, action: str, rev: str, token: str | None) -> None:
        resolved = self._readable(repo, rev, token, files=False)
        if resolved is None:
            return
        sha, files = resolved
        state = self.server.state.repos[repo]
        if action == "revision":
            siblings = [{"rfilename": path} for path in sorted(files)]
            return self._json(200, {"_id": repo, "id": repo, "modelId": repo, "author": repo.split("/")[0],
                                    "sha": sha, "private": state["private"], "gated": state["gated"],
                                    "disabled": False, "tags": [], "siblings": siblings})
        entries = []
        for path, data in sorted(files.items()):
            entry = {"type": "file", "oid": git_blob_sha1(data), "size": len(data), "path": path}
            if _is_lfs(path):
                entry["lfs"] = {"oid": hashlib.sha256(data).hexdigest(), "size": len(data), "pointerSize": 134}
            entries.append(entry)
        self._json(200, entries)

    def _resolve(self, repo: str, rev: str, path: str, token: str | None) -> None:
        resolved = self._readable(repo, rev, token, files=True)
        if resolved is None:
            return
        sha, files = resolved
        if path not in files:
            return self._error(404, "EntryNotFound", f"{path} does not exist on \"{rev}\"", commit=sha)
        data = files[path]
        etag = hashlib.sha256(data).hexdigest() if _is_lfs(path) else git_blob_sha1(data)
        self._send(200, data, {"Content-Type": "application/octet-stream", "X-Repo-Commit": sha,
                               "ETag": f'"{etag}"', "Accept-Ranges": "bytes"})

    # -- write side ----------------------------------------------------------------------------------------------

    def do_POST(self):
        state = self.server.state
        length = int(self.headers.get("Content-Length", 0))
        body = self.rfile.read(length)
        self._record()
        if self._failure_injected():
            return
        token = self._token()
        if token not in TOKENS:
            return self._json(401, {"error": INVALID_CREDENTIALS})
        if token == READ_TOKEN:
            return self._json(403, {"error": "You don't have the rights to create a model under this namespace"})
        path = unquote(self.path.split("?")[0])
        base = self.server.url
        if path == "/api/validate-yaml":
            content = json.loads(body)["content"]
            state.validated.append(content)
            try:
                import yaml

                front = content.split("---\n")[1] if content.startswith("---\n") else ""
                if not isinstance(yaml.safe_load(front) or {}, dict):
                    raise ValueError("front matter is not a mapping")
            except Exception as exc:  # noqa: BLE001
                return self._json(400, {"errors": [{"message": str(exc)}], "warnings": []})
            return self._json(200, {"errors": [], "warnings": []})
        if path == "/api/repos/create":
            request = json.loads(body)
            repo = f"{request.get('organization') or 'user'}/{request['name']}"
            if repo in state.repos:
                return self._json(409, {"error": "You already created this model repo", "url": f"{base}/{repo}"})
            private = bool(request.get("private")) or request.get("visibility") == "private"
            first = state.new_sha()
            state.repos[repo] = {"private": private, "gated": False, "readers": set(), "revisions": {"main": {}},
                                 "heads": {"main": first}, "snapshots": {first: {}}}
            return self._json(200, {"url": f"{base}/{repo}", "name": repo})
        parts = path.split("/")  # ['', 'api', 'models', ns, name, action, rev...]
        if len(parts) >= 7 and parts[1:3] == ["api", "models"]:
            repo, action, rev = f"{parts[3]}/{parts[4]}", parts[5], "/".join(parts[6:])
            if repo not in state.repos:
                return self._json(404, {"error": "Repository not found"})
            repo_state = state.repos[repo]
            revisions = repo_state["revisions"]
            if action == "branch":
                revisions.setdefault(rev, dict(revisions["main"]))
                repo_state["heads"].setdefault(rev, repo_state["heads"]["main"])
                return self._json(200, {})
            if rev not in revisions:
                return self._json(404, {"error": f"Revision not found: {rev}"})
            if action == "preupload":
                files = json.loads(body)["files"]
                return self._json(200, {"files": [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False}
                                                  for f in files]})
            if action == "commit":
                lines = [json.loads(line) for line in body.decode().splitlines() if line.strip()]
                header = next(line["value"] for line in lines if line["key"] == "header")
                stored = {}
                for line in lines:
                    if line["key"] == "file":
                        value = line["value"]
                        stored[value["path"]] = base64.b64decode(value["content"])
                revisions[rev].update(stored)
                oid = state.new_sha()
                repo_state["heads"][rev] = oid
                repo_state["snapshots"][oid] = dict(revisions[rev])
                state.commits.append({"repo": repo, "revision": rev, "summary": header.get("summary"),
                                      "files": sorted(stored), "oid": oid})
                return self._json(200, {"commitUrl": f"{base}/{repo}/commit/{oid}", "commitOid": oid,
                                        "success": True})
        return self._json(404, {"error": f"not implemented in the loopback hub: POST {path}"})


class LoopbackHub(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.state = HubState()
        self.url = f"http://127.0.0.1:{self.server_address[1]}"
        self._serving = serving(self)

    def __enter__(self):
        self._serving.__enter__()
        return self

    def __exit__(self, *exc):
        self._serving.__exit__(*exc)


@contextlib.contextmanager
def hub_environment(env: dict[str, str]) -> Iterator[None]:
    """In this process, what a process started with the ``HF_*`` variables ``env`` sees, for the length of the block:
    ``os.environ`` holds them, and ``huggingface_hub.constants`` holds the values its import computes from them
    (huggingface_hub reads ``HF_ENDPOINT``, ``HF_HOME``, ``HF_HUB_OFFLINE`` ... once, at import): its source is run
    again under ``env`` and every constant that differs is set on the module, then put back.

    For a command that reaches the Hub through ``huggingface_hub`` alone, which reads those constants when called:
    ``dynahate publish``'s upload, and the fetch of a Hub adapter by eval, predict and hatecheck
    (``snapshot_download``; the adapter then loads from its local snapshot). A module that copied a constant at its
    own import would not see the change."""
    from huggingface_hub import constants

    saved: dict[str, object] = {}
    with environment_added(env):
        try:
            spec = importlib.util.spec_from_file_location("_hub_constants_as_started", constants.__file__)
            assert spec is not None and spec.loader is not None
            fresh = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(fresh)
            for name, value in vars(fresh).items():
                if name.isupper() and getattr(constants, name, None) != value:
                    saved[name] = getattr(constants, name)
                    setattr(constants, name, value)
            yield
        finally:
            for name, value in saved.items():
                setattr(constants, name, value)
