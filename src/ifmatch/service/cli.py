"""``ifmatch serve``: run the reference service with uvicorn.

    ifmatch serve --host 127.0.0.1 --port 8000 --db sqlite:///ifmatch.db --workers 2

The database is opened (and its schema created or checked) once before
uvicorn starts, so a bad ``--db`` fails with a clear message instead of in
every worker.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from typing import Any

from ifmatch.service._middleware import MAX_HEADER_BYTES
from ifmatch.service.settings import ENV_SETTINGS, ENV_TOKEN, Settings

_SIZE_RE = re.compile(r"(\d+)\s*(|b|k|kb|kib|m|mb|mib|g|gb|gib)", re.IGNORECASE)
_UNITS = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3}


def uvicorn_options(log_level: str = "info") -> dict[str, Any]:
    """How ``ifmatch serve`` sets uvicorn up besides the application, the address and the
    workers: its own HTTP protocol, no access log of uvicorn's (the service writes its
    own), no ``Server`` field, and no ``Date`` of uvicorn's. Tests and benchmarks that
    drive the protocol in-process build their ``uvicorn.Config`` from the same options."""
    from ifmatch.service._protocol import protocol_class

    return {
        "access_log": False,
        "log_level": log_level,
        "http": protocol_class(),
        "server_header": False,
        # DateHeader sets it per response, never older than Last-Modified.
        "date_header": False,
        # Bounds the request head under h11; httptools has no such limit (HeaderLimits holds).
        "h11_max_incomplete_event_size": MAX_HEADER_BYTES + 16 * 1024,
    }


def parse_size(text: str) -> int:
    """``1048576``, ``512KiB``, ``10M``, ``1GiB`` -> bytes (binary units)."""
    match = _SIZE_RE.fullmatch(text.strip())
    if match is None:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (try 1048576, 512KiB, 10MiB)")
    return int(match.group(1)) * _UNITS[match.group(2)[:1].lower()]


def _format_size(size: int) -> str:
    """Bytes as :func:`parse_size` reads them, in the largest unit that divides them: ``1MiB``."""
    for unit in ("GiB", "MiB", "KiB"):
        scale = _UNITS[unit[0].lower()]
        if size and size % scale == 0:
            return f"{size // scale}{unit}"
    return str(size)


def _add_size(parser: argparse.ArgumentParser, flag: str, default: int, what: str) -> None:
    """A byte-size option (``512KiB``, ``10MiB``); ``--help`` shows its default in those units."""
    parser.add_argument(
        flag,
        type=parse_size,
        default=default,
        metavar="SIZE",
        help=f"{what} (default {_format_size(default)})",
    )


def parse_port(text: str) -> int:
    """A TCP port, 1-65535 (argparse would let 99999 through, and the OS then wraps it)."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"a port is 1-65535, not {port}")
    return port


def redact(url: str) -> str:
    """``url`` with its password (if any) replaced by ``***``, fit for an error message."""
    scheme, sep, rest = url.partition("://")
    userinfo, at, host = rest.rpartition("@")
    if not sep or not at or ":" not in userinfo:
        return url
    return f"{scheme}://{userinfo.split(':', 1)[0]}:***@{host}"


def _one_line(error: BaseException) -> str:
    """An exception's message on one line (psycopg's span several, with tabs)."""
    return " ".join(str(error).split()) or type(error).__name__


def _parser() -> argparse.ArgumentParser:
    defaults = Settings()
    parser = argparse.ArgumentParser(
        prog="ifmatch serve",
        description="The ifmatch reference service: a versioned JSON document and file store "
        "with atomic conditional writes.",
    )
    parser.add_argument("--host", default=defaults.host, help="bind address (default %(default)s)")
    parser.add_argument(
        "--port", type=parse_port, default=defaults.port, help="1-65535 (default %(default)s)"
    )
    parser.add_argument(
        "--db",
        default=defaults.db,
        help="sqlite:///PATH (relative to the working directory) or postgresql://... "
        "(default %(default)s)",
    )
    parser.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    parser.add_argument(
        "--token", default=None, help=f"require 'Authorization: Bearer TOKEN' (or set {ENV_TOKEN})"
    )
    parser.add_argument(
        "--no-require-preconditions",
        dest="require_preconditions",
        action="store_false",
        help="let writes to existing resources through without If-Match (no 428)",
    )
    _add_size(parser, "--max-json-body", defaults.max_json_body, "largest JSON document or patch")
    _add_size(parser, "--max-file-body", defaults.max_file_body, "largest file upload")
    parser.add_argument(
        "--pool-size",
        type=int,
        default=defaults.pool_size,
        help="PostgreSQL connections per worker (default %(default)s)",
    )
    parser.add_argument(
        "--no-access-log",
        dest="access_log",
        action="store_false",
        help="do not write the JSON line per request to stderr",
    )
    parser.add_argument(
        "--cache-control",
        action="append",
        default=[],
        metavar="KEY=DIRECTIVES",
        help="the Cache-Control of a collection ('notes=max-age=0, must-revalidate, "
        "s-maxage=60'), of every collection ('*=...') or of files ('/files=...'); "
        "repeatable; default no-cache (see docs/service.md, 'Caches')",
    )
    parser.add_argument("--log-level", default="info", help="uvicorn's log level")
    return parser


def main(command: str, argv: list[str]) -> int:
    """Parse the options, check the database, and run uvicorn until interrupted."""
    args = _parser().parse_args(argv)
    if args.workers < 1:
        print("ifmatch serve: --workers must be at least 1", file=sys.stderr)
        return 2
    token = args.token or os.environ.get(ENV_TOKEN) or None
    settings = Settings(
        db=args.db,
        host=args.host,
        port=args.port,
        workers=args.workers,
        token=token,
        require_preconditions=args.require_preconditions,
        max_json_body=args.max_json_body,
        max_file_body=args.max_file_body,
        pool_size=args.pool_size,
        access_log=args.access_log,
        cache_control=tuple(args.cache_control),
    )
    from ifmatch.service.cachepolicy import CachePolicy, PolicyError

    try:
        CachePolicy.parse(settings.cache_control)
    except PolicyError as error:
        print(f"ifmatch serve: --cache-control {error}", file=sys.stderr)
        return 2
    from ifmatch.service.backends import open_store

    try:
        open_store(settings.db, pool_size=1).close()
    except Exception as error:
        message = f"cannot open {redact(settings.db)}: {_one_line(error)}"
        print(f"ifmatch serve: {message}", file=sys.stderr)
        return 1

    import uvicorn

    os.environ[ENV_SETTINGS] = settings.to_env()
    if token:
        os.environ[ENV_TOKEN] = token
    uvicorn.run(
        "ifmatch.service.app:app_from_env",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        **uvicorn_options(args.log_level),
    )
    return 0
