"""A loopback stand-in for the three Hub API calls ``create_repo`` + ``upload_folder`` make.

- ``POST /api/repos/create``: creates the repo (409 if it exists, as the Hub answers).
- ``POST /api/models/{repo}/preupload/{rev}``: every file ``uploadMode: "regular"``, so the
  client sends contents base64-encoded inside the commit.
- ``POST /api/models/{repo}/commit/{rev}``: NDJSON (a header line, then one line per file);
  the files are decoded and stored per repo and revision.
- ``POST /api/models/{repo}/branch/{branch}``: creates a branch.
- ``POST /api/validate-yaml``: the client sends a ``README.md``'s text before committing it; the
  front matter is parsed with PyYAML (400 with the error if it does not parse).

It checks the bearer token (401 for an unknown token, 403 for a read-only one), can fail the next
N requests with 503 or by closing the connection, and records every request. Every URL it
returns is on its own host.
"""

from __future__ import annotations

import base64
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote

WRITE_TOKEN = "hf_test_write_token_0123456789"
READ_TOKEN = "hf_test_read_token_0123456789"


@dataclass
class HubState:
    repos: dict[str, dict] = field(default_factory=dict)  # repo -> {"private": bool, "revisions": {rev: {path: bytes}}}
    commits: list[dict] = field(default_factory=list)
    requests: list[tuple[str, str, dict]] = field(default_factory=list)  # method, path, headers (lower-case names)
    fail_next: list[str] = field(default_factory=list)  # "503" or "drop", consumed one per request
    validated: list[str] = field(default_factory=list)  # README texts sent to /api/validate-yaml


class _Handler(BaseHTTPRequestHandler):
    server: "LoopbackHub"

    def log_message(self, *args):  # quiet
        pass

    def _json(self, status: int, payload: dict) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):  # noqa: N802
        self.server.state.requests.append(("GET", self.path, {k.lower(): v for k, v in self.headers.items()}))
        self._json(404, {"error": f"not implemented in the loopback hub: GET {self.path}"})

    def do_POST(self):  # noqa: N802
        state = self.server.state
        length = int(self.headers.get("Content-Length", 0))
        body = self.rfile.read(length)
        state.requests.append(("POST", self.path, {k.lower(): v for k, v in self.headers.items()}))
        if state.fail_next:
            failure = state.fail_next.pop(0)
            if failure == "drop":
                self.close_connection = True
                self.connection.shutdown(2)
                return
            return self._json(503, {"error": "Service temporarily unavailable"})
        auth = self.headers.get("Authorization", "")
        if auth not in (f"Bearer {WRITE_TOKEN}", f"Bearer {READ_TOKEN}"):
            return self._json(401, {"error": "Invalid credentials in Authorization header"})
        if auth == f"Bearer {READ_TOKEN}":
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
            state.repos[repo] = {"private": private, "revisions": {"main": {}}}
            return self._json(200, {"url": f"{base}/{repo}", "name": repo})
        parts = path.split("/")  # ['', 'api', 'models', ns, name, action, rev...]
        if len(parts) >= 7 and parts[1:3] == ["api", "models"]:
            repo, action, rev = f"{parts[3]}/{parts[4]}", parts[5], "/".join(parts[6:])
            if repo not in state.repos:
                return self._json(404, {"error": "Repository not found"})
            revisions = state.repos[repo]["revisions"]
            if action == "branch":
                revisions.setdefault(rev, dict(revisions["main"]))
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
                oid = f"{len(state.commits) + 1:040x}"
                state.commits.append({"repo": repo, "revision": rev, "summary": header.get("summary"),
                                      "files": sorted(stored)})
                return self._json(200, {"commitUrl": f"{base}/{repo}/commit/{oid}", "commitOid": oid,
                                        "success": True})
        return self._json(404, {"error": f"not implemented in the loopback hub: POST {path}"})


class LoopbackHub(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.state = HubState()
        self.url = f"http://127.0.0.1:{self.server_address[1]}"
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self.shutdown()
        self.server_close()
