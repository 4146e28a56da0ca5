"""``dynahate serve``: classify posts over HTTP and chat with the adapter (OpenAI-compatible).

Arguments are checked and the port is bound before the model loads, so a bad value or a port in
use is one ``error:`` line (exit 2) within a second; a Hub adapter (``USER/NAME[@REV]``) is then
fetched (:mod:`dynahate.inference.adapter_source`), and uvicorn serves on that bound socket, with a bound on
the time a request's headers take (:mod:`dynahate.serve.header_timeout`). SIGINT (Ctrl-C) or SIGTERM is a
requested stop, not an error: the server finishes gracefully and the command prints one line and exits 0.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import errno
import signal
import socket
import sys
import threading
from urllib.parse import urlsplit

from dynahate.core.arg_types import positive_float, positive_int
from dynahate.core.cli import Terminated
from dynahate.core.cli_args import add_option_with_deprecated_alias
from dynahate.core.errors import DynahateError
from dynahate.inference.adapter_source import HUB_ENVIRONMENT
from dynahate.inference.cli_args import add_adapter_argument, add_model_arguments
from dynahate.plugin.post_rule import DEFAULT_CUTOFF_LEN

ORDER = 70
DEFAULT_HEADER_TIMEOUT_S = 10.0
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)  # a requested stop: exit 0, not an error
HELP = "serve /v1/classify (micro-batched score mode), OpenAI chat completions and /health over HTTP"

EPILOG = f"""\
environment variables read:
  API_KEY    if set, every /v1/... request (classify, chat, models) needs
             'Authorization: Bearer <API_KEY>' (scheme in any case), else 401, and so do /docs and
             /openapi.json with --api-docs; /health stays open, and so does the page (GET /), which asks for the key
  API_MODEL_NAME  the model name /v1/models lists and chat requests must send as 'model' (default:
             the Hub repo id of a Hub adapter, else the run folder's name)
  LLaMA-Factory's API also reads MAX_CONCURRENT (chat generations at once, default 1) and
  FASTAPI_ROOT_PATH; HF_HUB_OFFLINE as usual.
{HUB_ENVIRONMENT}
status codes: 401 no or wrong key; 404 a chat request naming another model; 408 headers
(--header-timeout) or body (--request-timeout) not received in time; 413 body, text or prompt too long,
or too many texts; 422 a body not UTF-8 JSON, a bad post (empty, blank, not text, a lone surrogate), or a
chat request that is not one user message holding the post (no system, assistant or tool message, no
tools) or has a bad parameter; 429 queue full (with Retry-After); 500 an internal error (logged on stderr
with its traceback, never a post); 503 --request-timeout passed (the request is not scored). Errors are
{{"error": "<one line>"}}, on /v1/chat/completions and /v1/models in OpenAI's shape
{{"error": {{"message", "type", "param", "code"}}}}.

SIGINT (Ctrl-C) or SIGTERM stops the server: it finishes gracefully, prints one line and exits 0.
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from dynahate.inference.decision_rule import add_decision_rule_arguments
    from dynahate.serve.post_checks import CHARS_PER_TOKEN_LIMIT

    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = EPILOG
    add_adapter_argument(parser)
    add_model_arguments(parser, using="use", cutoff_len_help="longest prompt in tokens, on /v1/classify and chat; "
                        f"longer is refused with 413, never truncated (default {DEFAULT_CUTOFF_LEN}, the recipe's "
                        "cutoff_len)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    parser.add_argument("--max-texts", type=positive_int, default=64,
                        help="most posts per /v1/classify request (default 64)")
    parser.add_argument("--max-text-chars", type=positive_int, default=None,
                        help="longest text in characters, refused with 413 before it is tokenized (default "
                             f"{CHARS_PER_TOKEN_LIMIT} x --cutoff-len = {CHARS_PER_TOKEN_LIMIT * DEFAULT_CUTOFF_LEN}: "
                             f"a text fitting the cutoff averages over {CHARS_PER_TOKEN_LIMIT} characters per token "
                             "only if it is filler; English averages about 4)")
    parser.add_argument("--max-body-bytes", type=positive_int, default=1 << 20,
                        help="largest request body, refused with 413 from Content-Length before it is read "
                             "(default 1048576 = 1 MiB)")
    parser.add_argument("--max-queue", type=positive_int, default=256,
                        help="most /v1/classify requests waiting, and most chat requests in progress; beyond "
                             "it 429 with Retry-After (default 256)")
    parser.add_argument("--request-timeout", type=positive_float, default=60.0, metavar="SECONDS",
                        help="answer 503 and drop the request if it is not answered by then (default 60)")
    parser.add_argument("--header-timeout", type=positive_float, default=DEFAULT_HEADER_TIMEOUT_S, metavar="SECONDS",
                        help="close a connection with 408 if a request's headers are not all in by then, from "
                             "its first byte or the connection's start (default 10)")
    parser.add_argument("--window-ms", type=positive_float, default=5.0,
                        help="how long an idle server waits to batch requests arriving together (default 5)")
    add_decision_rule_arguments(parser)  # /v1/classify's labels and p_hate; chat answers are generated
    parser.add_argument("--no-page", action="store_true",
                        help="leave out the browser page (GET /, /page.js, /page.css; served by default); the "
                             "API is the same either way")
    parser.add_argument("--api-docs", action="store_true",
                        help="serve the OpenAPI schema (/openapi.json) and Swagger UI (/docs, its script and style "
                             "from cdn.jsdelivr.net) behind API_KEY when set, with a Content-Security-Policy (off "
                             "by default: 404)")
    parser.add_argument("--cors-origin", action="append", type=cors_origin, default=[], metavar="ORIGIN",
                        help="let browser pages of ORIGIN (scheme://host[:port]) call the API; repeat for more "
                             "(default none: only the server's own page)")
    add_option_with_deprecated_alias(parser, "--log-requests", "--show-examples", action="store_true",
                                     help="let LLaMA-Factory log chat requests (off by default: they contain "
                                          "the posts)")


def cors_origin(text: str) -> str:
    """``--cors-origin``: one origin as a browser sends it in ``Origin``, ``scheme://host[:port]``; never ``*``."""
    parts = urlsplit(text.strip())
    try:
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        parts = parts._replace(netloc="")
    if (parts.scheme.lower() not in ("http", "https") or not parts.hostname or parts.path not in ("", "/")
            or parts.query or parts.fragment or "@" in parts.netloc):
        raise argparse.ArgumentTypeError(f"must be one origin, http(s)://host[:port] with no path, got {text!r}")
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}"


def bind(host: str, port: int) -> socket.socket:
    """A listening-ready socket on ``host:port``, or one clear error (port in use, bad address)."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                                             flags=socket.AI_PASSIVE)[0]
    except (socket.gaierror, OverflowError, UnicodeError) as exc:
        raise DynahateError(f"--host {host} --port {port}: not an address to listen on ({exc})") from None
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does: TIME_WAIT is no conflict
        sock.bind(address)
    except OSError as exc:
        sock.close()
        reason = "the port is already in use" if exc.errno == errno.EADDRINUSE else exc.strerror
        raise DynahateError(f"cannot listen on {host}:{port}: {reason}") from None
    sock.set_inheritable(True)
    return sock


def uvicorn_config(app, *, header_timeout_s: float = DEFAULT_HEADER_TIMEOUT_S, **options):
    """uvicorn's settings for ``app``: warnings and errors on stderr, the ``dynahate`` loggers' too (a 500's log),
    and h11 with a bound on the time a request's headers take (:mod:`dynahate.serve.header_timeout`)."""
    import uvicorn
    from uvicorn.config import LOGGING_CONFIG

    from dynahate.serve.header_timeout import header_timeout_protocol

    log_config = copy.deepcopy(LOGGING_CONFIG)
    log_config["loggers"]["dynahate"] = {"handlers": ["default"], "level": "INFO", "propagate": False}
    return uvicorn.Config(app, log_level="warning", log_config=log_config,
                          http=header_timeout_protocol(header_timeout_s),  # pyright: ignore[reportArgumentType]
                          **options)  # uvicorn takes any protocol factory there; its annotation names classes only


def stoppable_server(config):
    """A ``uvicorn.Server`` on which SIGINT or SIGTERM is a requested stop: it finishes gracefully, and the signal
    is recorded in ``stop_signal`` instead of being raised again once the server is down (uvicorn re-raises it,
    which would end the command as an interruption, exit 130 or 143)."""
    import uvicorn

    class StoppableServer(uvicorn.Server):
        stop_signal: int | None = None

        @contextlib.contextmanager
        def capture_signals(self):
            if threading.current_thread() is not threading.main_thread():  # signals reach the main thread only
                yield
                return
            previous = {sig: signal.signal(sig, self.handle_exit) for sig in STOP_SIGNALS}
            try:
                yield
            finally:
                for sig, handler in previous.items():
                    signal.signal(sig, handler)

        def handle_exit(self, sig, frame) -> None:
            self.stop_signal = self.stop_signal or sig
            super().handle_exit(sig, frame)

    return StoppableServer(config)


def _stopped(sig: int) -> int:
    print(f"stopped ({signal.Signals(sig).name}): the server is down", flush=True)
    return 0


def run(args: argparse.Namespace) -> int:
    from dynahate.inference.adapter_source import fetch_adapter, parse_adapter_spec
    from dynahate.inference.decision_rule import decision_rule
    from dynahate.inference.model_loading import read_adapter_config

    spec = parse_adapter_spec(args.adapter)  # no network yet
    if not spec.is_hub:
        read_adapter_config(spec.text)  # a missing or broken run dir: one line, before anything loads
    if not 0 <= args.port <= 65535:
        raise DynahateError(f"--port {args.port}: not a port number (0 to 65535)")
    sock = bind(args.host, args.port)
    with sock:
        source = fetch_adapter(spec)  # a Hub adapter: after the port is ours, before the model loads
        if source.is_hub:
            read_adapter_config(source.path)
        rule = decision_rule(args.threshold, args.calibrated, source.path)
        if rule.warning:
            print(f"warning: {rule.warning}", file=sys.stderr)
        try:
            return _serve(args, source, sock, rule)
        except KeyboardInterrupt:  # Ctrl-C while the model loads: a requested stop too
            return _stopped(signal.SIGINT)
        except Terminated:
            return _stopped(signal.SIGTERM)


def _serve(args: argparse.Namespace, source, sock: socket.socket, rule) -> int:
    from dynahate.serve.app import ServeConfig, create_serve_app

    config = ServeConfig(adapter=source.path, hub=source.hub_record() if source.is_hub else None,
                         base=args.base, quantize=not args.no_quantize, force=args.force,
                         cutoff_len=args.cutoff_len, max_texts=args.max_texts, max_text_chars=args.max_text_chars,
                         max_body_bytes=args.max_body_bytes, max_queue=args.max_queue,
                         request_timeout_s=args.request_timeout, window_s=args.window_ms / 1000,
                         token_budget=args.token_budget, log_requests=args.log_requests, rule=rule,
                         page=not args.no_page, api_docs=args.api_docs, cors_origins=tuple(args.cors_origin))
    app = create_serve_app(config)
    page = "" if args.no_page else ", GET / (a page to try it in a browser)"
    docs = ", GET /docs (the API's documentation)" if args.api_docs else ""
    print(f"serving {source.describe()} on http://{args.host}:{sock.getsockname()[1]} "
          f"(POST /v1/classify, POST /v1/chat/completions, GET /health{page}{docs})", flush=True)
    server = stoppable_server(uvicorn_config(app, header_timeout_s=args.header_timeout))
    server.run(sockets=[sock])
    return 0 if server.stop_signal is None else _stopped(server.stop_signal)
