"""Upload a staged folder to the Hub with ``huggingface_hub``: one commit, retried on network errors.

The token comes from ``HF_TOKEN`` or the cached login (``hf auth login``); it is passed to the
client and never printed, logged or written. The stage folder's marker file is not uploaded.
401 and 403 become one line saying how to log in or which permission is missing; connection
errors and 5xx answers are retried with backoff.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from dynahate.core.errors import DynahateError

RETRIES = 4
BACKOFF_S = 2.0
DEFAULT_COMMIT_MESSAGE = "Upload Dynahate QLoRA adapter (dynahate publish)"


@dataclass(frozen=True)
class UploadResult:
    repo_url: str
    commit_url: str


def _token() -> str:
    from huggingface_hub import get_token

    token = get_token()
    if not token:
        raise DynahateError("no Hugging Face token: run `hf auth login` (write access) or set HF_TOKEN")
    return token


def _auth_message(status: int, repo_id: str) -> str | None:
    if status == 401:
        return "the Hub rejected the token (401): log in again with `hf auth login` or set HF_TOKEN to a valid token"
    if status == 403:
        namespace = repo_id.split("/")[0]
        return (f"the token may not write to {repo_id} (403): use a token with the 'write' role, or a fine-grained "
                f"token with write access to {namespace}'s repositories")
    return None


def _transient(exc: BaseException) -> bool:
    import httpx
    from huggingface_hub.errors import HfHubHTTPError

    if isinstance(exc, HfHubHTTPError):
        response = getattr(exc, "response", None)
        return response is not None and response.status_code >= 500
    return isinstance(exc, (httpx.TransportError, ConnectionError, TimeoutError))


def with_retries(what: str, call, repo_id: str, retries: int = RETRIES, backoff_s: float = BACKOFF_S):
    from huggingface_hub.errors import HfHubHTTPError

    for attempt in range(1, retries + 1):
        try:
            return call()
        except HfHubHTTPError as exc:
            status = exc.response.status_code if getattr(exc, "response", None) is not None else 0
            message = _auth_message(status, repo_id)
            if message:
                raise DynahateError(message) from None
            if not _transient(exc) or attempt == retries:
                raise DynahateError(f"{what} failed: HTTP {status}: {str(exc).splitlines()[0]}") from None
        except Exception as exc:  # only network errors are retried, the rest re-raised
            if not _transient(exc):
                raise
            if attempt == retries:
                raise DynahateError(f"{what} failed after {retries} attempts: {type(exc).__name__}: "
                                    f"{str(exc).splitlines()[0] if str(exc) else 'no answer'}") from None
        delay = backoff_s * 2 ** (attempt - 1)
        print(f"{what}: network error, retrying in {delay:.0f}s (attempt {attempt + 1} of {retries})")
        time.sleep(delay)
    raise AssertionError("unreachable")


def upload(stage_dir: Path, repo_id: str, *, private: bool = False, revision: str | None = None,
           commit_message: str | None = None, endpoint: str | None = None,
           backoff_s: float = BACKOFF_S) -> UploadResult:
    """Upload a staged folder to a Hub model repo as one commit, creating the repo (and branch) if missing.

    Each Hub call is made up to ``RETRIES`` (4) times in all: a connection error or 5xx answer is retried
    after ``backoff_s`` seconds, doubled before each further try.

    Args:
        stage_dir: the folder ``stage`` filled; everything in it but its marker file is uploaded.
        repo_id: the model repo, ``USER/NAME`` or ``ORG/NAME``.
        private: create the repo as private (an existing repo keeps its visibility).
        revision: the branch to commit to, created if missing; None or ``"main"`` for the default branch.
        commit_message: the commit's message; None for ``DEFAULT_COMMIT_MESSAGE``.
        endpoint: the Hub's URL; None for huggingface_hub's default (``HF_ENDPOINT`` or huggingface.co).
        backoff_s: seconds to wait before the first retry.

    Returns:
        The repo's URL and the new commit's URL.

    Raises:
        DynahateError: no token (``HF_TOKEN`` or ``hf auth login``); the Hub refused the token (401) or its
            write access (403); another HTTP error; or a network error or 5xx answer on every attempt.
    """
    from huggingface_hub import HfApi

    from dynahate.publish.staging import MARKER

    api = HfApi(endpoint=endpoint, token=_token())
    repo_url = with_retries("creating the repo", lambda: api.create_repo(
        repo_id, repo_type="model", private=private, exist_ok=True), repo_id, backoff_s=backoff_s)
    if revision and revision != "main":
        with_retries(f"creating branch {revision}", lambda: api.create_branch(
            repo_id, branch=revision, exist_ok=True), repo_id, backoff_s=backoff_s)
    info = with_retries("uploading", lambda: api.upload_folder(
        repo_id=repo_id, folder_path=str(stage_dir), revision=revision, ignore_patterns=[MARKER],
        commit_message=commit_message or DEFAULT_COMMIT_MESSAGE), repo_id,
        backoff_s=backoff_s)
    return UploadResult(str(repo_url), str(getattr(info, "commit_url", info)))
