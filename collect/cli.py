"""``dynahate collect``: run an adversarial round against an adapter, and manage its database.

Subcommands: ``serve`` (the page, the API and the model in the loop), ``add-annotator`` (prints a token once),
``tokens`` (lists them), ``revoke``, ``stats`` (the figures in the terminal or as JSON) and ``upgrade`` (migrates an
older database). Each takes ``--db`` (an SQLAlchemy URL or a file path; default ``collect.sqlite3`` in the working
directory). ``serve`` checks its arguments, the database and the port before the model loads.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from pathlib import Path

from dynahate.core.arg_types import positive_float, positive_int
from dynahate.core.cli import CommandParser, Terminated
from dynahate.core.errors import DynahateError

ORDER = 75
HELP = "adversarial rounds: annotators try to fool the adapter from a page, perturb and validate; kept in a database"
DEFAULT_ROUND = "8"  # Dynahate used rounds 1-4; the platform's later rounds 5-7 became HatemojiBuild

SERVE_EPILOG = """\
status codes: 401 no, unknown or revoked token; 403 validating your own entry; 404 unknown entry or round;
409 a second vote, a settled entry, a second perturbation, another round than the one served; 413 body or
post too long; 422 a bad field (label, type, target, verdict) or post (empty, not text, a lone surrogate);
429 rate limit (--rate-limit) or the model's queue (Retry-After); 503 --request-timeout passed.
Errors are {"error": "..."}; they never quote a post or a token. SIGINT or SIGTERM stops the server (exit 0).
"""


def _db_argument(parser: argparse.ArgumentParser) -> None:
    from dynahate.collect.store import DEFAULT_DB_PATH, database_url_argument

    parser.add_argument("--db", type=database_url_argument, default=None, metavar="URL",
                        help=f"the database: sqlite:///FILE or a file path (SQLite, WAL mode), or "
                             f"postgresql+psycopg://USER[:PASSWORD]@HOST[:PORT]/NAME (pip install "
                             f"'dynahate-qlora[postgres]') (default: {DEFAULT_DB_PATH} in the working directory)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from dynahate.collect.export import DEFAULT_SPLIT
    from dynahate.collect.validation import DEFAULT_VOTES
    from dynahate.inference.cli_args import add_adapter_argument, add_model_arguments
    from dynahate.inference.decision_rule import add_decision_rule_arguments
    from dynahate.serve.post_checks import CHARS_PER_TOKEN_LIMIT

    commands = parser.add_subparsers(dest="collect_command", metavar="SUBCOMMAND", required=True)
    serve = commands.add_parser("serve", help="serve the page and the API with the adapter in the loop",
                                description="Serve the collect page and API; every entry is scored by the adapter.",
                                epilog=SERVE_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_adapter_argument(serve)
    _db_argument(serve)
    serve.add_argument("--round", help=f"the round to collect: opened if new (default: the newest round of the "
                                       f"database, or {DEFAULT_ROUND} in a new one)")
    serve.add_argument("--votes", type=positive_int, default=DEFAULT_VOTES, metavar="N",
                       help=f"matching votes that verify or reject an entry (default {DEFAULT_VOTES}); an owner's "
                            "vote settles it alone. Fixed when the round is opened")
    serve.add_argument("--validate-all", action="store_true",
                       help="send every entry to validation (default: only those that fooled the model). Fixed when "
                            "the round is opened")
    add_model_arguments(serve, using="use")
    add_decision_rule_arguments(serve)
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    serve.add_argument("--max-text-chars", type=positive_int, default=None,
                       help=f"longest post in characters, refused with 413 before it is tokenized (default "
                            f"{CHARS_PER_TOKEN_LIMIT} x --cutoff-len, as dynahate serve)")
    serve.add_argument("--max-body-bytes", type=positive_int, default=1 << 16,
                       help="largest request body (default 65536)")
    serve.add_argument("--rate-limit", type=positive_int, default=120, metavar="PER_MINUTE",
                       help="API requests a minute per token, beyond it 429 (default 120)")
    serve.add_argument("--request-timeout", type=positive_float, default=60.0, metavar="SECONDS",
                       help="answer 503 if a request is not answered by then (default 60)")
    serve.add_argument("--no-page", action="store_true", help="leave out the page (GET /); the API is the same")

    add = commands.add_parser("add-annotator", help="add an annotator and print their token (once)")
    add.add_argument("name", help="letters, digits, '.', '_' or '-' (shown to owners and in the figures)")
    _db_argument(add)
    add.add_argument("--owner", action="store_true", help="an owner sees every entry and their vote settles one")
    add.add_argument("--new-token", action="store_true", help="give an existing annotator another token")

    listing = commands.add_parser("tokens", help="list the tokens (ids, annotators, revoked or not)")
    _db_argument(listing)

    revoke = commands.add_parser("revoke", help="revoke a token at once")
    revoke.add_argument("token_id", metavar="TOKEN_ID", help="the token's id, as `tokens` lists it")
    _db_argument(revoke)

    figures = commands.add_parser("stats", help="the figures per round and per annotator")
    _db_argument(figures)
    figures.add_argument("--round", help="one round only (default: every round)")
    figures.add_argument("--json", action="store_true", help="print JSON (as GET /api/stats gives an owner)")

    export = commands.add_parser("export",
                                 help="write a round as a CSV in Dynahate's layout, its votes beside it",
                                 description="Write a round's entries as a CSV in the official Dynahate v0.2.3 layout "
                                             "(what `dynahate prepare` reads), with FILE.votes.jsonl and "
                                             "FILE.round.json beside it.")
    _db_argument(export)
    export.add_argument("--round", required=True, help="the round to export")
    export.add_argument("--out", type=Path, required=True, metavar="FILE.csv",
                        help="the CSV to write (FILE.votes.jsonl and FILE.round.json are written beside it)")
    export.add_argument("--round-number", type=positive_int, default=None, metavar="N",
                        help="the number the round's rows take (round Na / Nb, round.base N, ids dhcN-...) (default: "
                             "the round's name, which must then be a number; Dynahate used 1-4, new rounds from 8)")
    export.add_argument("--split", type=split_argument, default=DEFAULT_SPLIT, metavar="TRAIN/DEV/TEST",
                        help="percentages of the pairs in each split, summing to 100 (default 80/10/10); an original "
                             "and its perturbation always share one")
    export.add_argument("--seed", type=int, default=42, help="the seed the splits are drawn with (default 42)")
    export.add_argument("--include-unverified", action="store_true",
                        help="also export entries not verified, with a last column 'validation' (default: verified "
                             "entries only)")
    export.add_argument("--force", action="store_true", help="replace existing output files (default: refused)")

    upgrade = commands.add_parser("upgrade", help="migrate an older database to this release's schema")
    _db_argument(upgrade)
    for sub in commands.choices.values():  # each subcommand's --help ends with the command's page too
        if isinstance(sub, CommandParser) and isinstance(parser, CommandParser):
            sub.docs_page = parser.docs_page


def split_argument(text: str) -> tuple[int, int, int]:
    from dynahate.collect.export import split_proportions

    try:
        return split_proportions(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix(f"--split {text!r}: ")) from None


def _url(args: argparse.Namespace) -> str:
    from dynahate.collect.store import DEFAULT_DB

    return args.db or DEFAULT_DB


def run(args: argparse.Namespace) -> int:
    handlers = {"serve": _serve, "add-annotator": _add_annotator, "tokens": _tokens, "revoke": _revoke,
                "stats": _stats, "export": _export, "upgrade": _upgrade}
    return handlers[args.collect_command](args)


def _add_annotator(args: argparse.Namespace) -> int:
    from dynahate.collect.store import open_store
    from dynahate.collect.tokens import add_annotator

    store = open_store(_url(args))
    try:
        token = add_annotator(store, args.name, owner=args.owner, new_token=args.new_token)
    finally:
        store.close()
    print(f"{args.name}: {'another ' if args.new_token else ''}token (shown once; the database keeps only its hash):",
          file=sys.stderr)
    print(token)
    return 0


def _tokens(args: argparse.Namespace) -> int:
    from dynahate.collect.store import open_store
    from dynahate.collect.tokens import list_tokens

    store = open_store(_url(args), create=False)
    try:
        rows = list_tokens(store)
    finally:
        store.close()
    print(f"{'token id':<14} {'annotator':<24} {'role':<9} {'created':<20} revoked")
    for row in rows:
        revoked = "-" if row.revoked_at is None else f"{row.revoked_at:%Y-%m-%d %H:%M:%S}"
        print(f"{row.token_id:<14} {row.annotator[:24]:<24} {'owner' if row.is_owner else 'annotator':<9} "
              f"{row.created_at:%Y-%m-%d %H:%M:%S}  {revoked}")
    return 0


def _revoke(args: argparse.Namespace) -> int:
    from dynahate.collect.store import open_store
    from dynahate.collect.tokens import revoke_token

    store = open_store(_url(args), create=False)
    try:
        row = revoke_token(store, args.token_id)
    finally:
        store.close()
    print(f"revoked token {row.token_id} of {row.annotator}")
    return 0


def _stats(args: argparse.Namespace) -> int:
    from dynahate.collect.entries import Refused
    from dynahate.collect.stats import collect_figures, figures_json, figures_text
    from dynahate.collect.store import open_store

    store = open_store(_url(args), create=False)
    try:
        rounds = collect_figures(store, args.round)
    except Refused as exc:
        raise DynahateError(f"--round: {exc.message}") from None
    finally:
        store.close()
    print(json.dumps(figures_json(rounds), indent=2) if args.json else figures_text(rounds))
    return 0


def _export(args: argparse.Namespace) -> int:
    from dynahate.collect.export import ExportOptions, export_round, summary_text
    from dynahate.collect.store import open_store

    store = open_store(_url(args), create=False)
    try:
        result = export_round(store, ExportOptions(
            round=args.round, out=args.out, round_number=args.round_number, split=args.split, seed=args.seed,
            include_unverified=args.include_unverified, force=args.force))
    finally:
        store.close()
    print(summary_text(result))
    return 0


def _upgrade(args: argparse.Namespace) -> int:
    from dynahate.collect.migrate import upgrade
    from dynahate.collect.store import create_db_engine, redacted

    engine = create_db_engine(_url(args))
    try:
        before, after = upgrade(engine)
    finally:
        engine.dispose()
    if before == after:
        print(f"{redacted(_url(args))}: already at schema revision {after}")
    else:
        print(f"{redacted(_url(args))}: upgraded from schema revision {before or '(new database)'} to {after}")
    return 0


def _stopped(sig: int) -> int:
    print(f"stopped ({signal.Signals(sig).name}): the server is down", flush=True)
    return 0


def _serve(args: argparse.Namespace) -> int:
    from dynahate.collect.entries import check_round, open_round, round_names
    from dynahate.collect.store import open_store, redacted
    from dynahate.inference.adapter_source import fetch_adapter, parse_adapter_spec
    from dynahate.inference.decision_rule import decision_rule
    from dynahate.inference.model_loading import read_adapter_config
    from dynahate.plugin.metadata import metadata_problem
    from dynahate.serve.serve_cli import bind

    if args.round is not None and metadata_problem("round", args.round):
        raise DynahateError("--round: a round's name is a code such as 8 (letters, digits, '.', '_', '-')")
    spec = parse_adapter_spec(args.adapter)
    if not spec.is_hub:
        read_adapter_config(spec.text)
    if not 0 <= args.port <= 65535:
        raise DynahateError(f"--port {args.port}: not a port number (0 to 65535)")
    store = open_store(_url(args))
    try:
        name = args.round or (round_names(store) or [DEFAULT_ROUND])[-1]
        check_round(store, name, args.votes, args.validate_all)  # a round of other settings: before anything loads
        with bind(args.host, args.port) as sock:
            source = fetch_adapter(spec)
            if source.is_hub:
                read_adapter_config(source.path)
            rule = decision_rule(args.threshold, args.calibrated, source.path)
            if rule.warning:
                print(f"warning: {rule.warning}", file=sys.stderr)
            round_info = open_round(store, name, args.votes, args.validate_all)  # every check passed: opened now
            try:
                return _run_server(args, store, round_info, source, rule, sock, redacted(store.url))
            except KeyboardInterrupt:
                return _stopped(signal.SIGINT)
            except Terminated:
                return _stopped(signal.SIGTERM)
    finally:
        store.close()


def _run_server(args, store, round_info, source, rule, sock, where: str) -> int:
    from dynahate.collect.app import CollectConfig, create_collect_app
    from dynahate.collect.model_in_loop import load_model_in_loop
    from dynahate.inference.cli_args import model_options
    from dynahate.serve.serve_cli import stoppable_server, uvicorn_config

    model = load_model_in_loop(source, model_options(args), rule, max_text_chars=args.max_text_chars)
    config = CollectConfig(round=round_info, max_body_bytes=args.max_body_bytes,
                           request_timeout_s=args.request_timeout, rate_per_minute=args.rate_limit,
                           page=not args.no_page)
    app = create_collect_app(store, model, config)
    print(f"collecting round {round_info.name} ({round_info.votes_needed} matching votes settle an entry) against "
          f"{source.describe()} into {where} on http://{args.host}:{sock.getsockname()[1]}"
          f"{'' if args.no_page else ' (GET / is the page)'}", flush=True)
    server = stoppable_server(uvicorn_config(app))
    server.run(sockets=[sock])
    return 0 if server.stop_signal is None else _stopped(server.stop_signal)
