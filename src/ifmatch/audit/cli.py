"""``ifmatch audit URL``: the command line over :func:`ifmatch.audit.run_audit`.

Exit status: 0 when no check failed, 1 when one did, 2 when the audit could
not run (bad arguments or URL, connection refused, timeout, a non-2xx first
GET).  Errors are one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from ifmatch.audit.context import WriteOptions
from ifmatch.audit.exchange import AuditError
from ifmatch.audit.runner import run_audit
from ifmatch.cli import add_header_option, parse_header

_EPILOG = """\
exit status: 0 no failures, 1 failures, 2 could not run.
--write CHANGES THE RESOURCE: the write probes send PUT (or --method PATCH) requests that
write back the representation the first GET returned (or --body), with stale, weak,
current and missing preconditions. A server that ignores If-Match performs those writes.
"""


class _UsageError(Exception):
    """Bad command-line input, reported like argparse's own errors (exit 2)."""


def _parser(command: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=f"ifmatch {command}",
        description="Check a URL's conditional requests (ETag, 304, 412, 428, ranges)\n"
        "against RFC 9110; every finding names its RFC section and a one-line fix.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("url", help="the resource to audit (http or https)")
    parser.add_argument("--write", action="store_true", help="also run the write probes")
    parser.add_argument(
        "--method", choices=("PUT", "PATCH"), default="PUT", help="write method (default PUT)"
    )
    parser.add_argument(
        "--body",
        metavar="FILE|TEXT",
        help="body for the write probes: a file name (or @FILE), else the text itself "
        "(e.g. JSON); default: the representation the first GET returned",
    )
    parser.add_argument("--content-type", help="Content-Type of --body (default: guessed)")
    add_header_option(parser)
    parser.add_argument(
        "--token", default=os.environ.get("IFMATCH_TOKEN"), help="bearer token (env IFMATCH_TOKEN)"
    )
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds per request")
    parser.add_argument("--insecure", action="store_true", help="do not verify TLS certificates")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    return parser


#: Fields the probes set themselves; one given with -H would be sent with every probe.
_PROBE_FIELDS = frozenset(
    {"if-match", "if-none-match", "if-modified-since", "if-unmodified-since", "if-range", "range"}
)


def _headers(args: argparse.Namespace) -> list[tuple[str, str]]:
    headers: list[tuple[str, str]] = []
    for raw in args.header:
        try:
            name, value = parse_header(raw)
        except ValueError as error:
            raise _UsageError(str(error)) from None
        if name.lower() in _PROBE_FIELDS:
            raise _UsageError(f"-H {name}: the probes set the conditional fields themselves")
        headers.append((name, value))
    if args.token:
        headers.append(("Authorization", f"Bearer {args.token}"))
    return headers


def _write_options(args: argparse.Namespace) -> WriteOptions | None:
    if not args.write:
        if args.body is not None or args.content_type is not None:
            raise _UsageError("--body and --content-type need --write")
        return None
    if args.body is None:
        return WriteOptions(method=args.method, content_type=args.content_type)
    text: str = args.body
    path = Path(text[1:] if text.startswith("@") else text)
    content_type = args.content_type
    if text.startswith("@") or path.is_file():
        try:
            body = path.read_bytes()
        except OSError as error:
            raise _UsageError(f"--body: cannot read {path}: {error.strerror}") from None
        if content_type is None and path.suffix == ".json":
            content_type = "application/json"
    else:
        body = text.encode()
        if content_type is None:
            try:
                json.loads(text)
                content_type = "application/json"
            except ValueError:
                content_type = "text/plain; charset=utf-8"
    return WriteOptions(method=args.method, body=body, content_type=content_type)


def main(command: str, argv: list[str]) -> int:
    """Run ``ifmatch audit``; returns the exit status."""
    parser = _parser(command)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:
        return exit_.code if isinstance(exit_.code, int) else 2
    try:
        report = run_audit(
            args.url,
            write=_write_options(args),
            headers=_headers(args),
            timeout=args.timeout,
            verify=not args.insecure,
        )
    except (AuditError, _UsageError) as error:
        print(f"ifmatch {command}: error: {error}", file=sys.stderr)
        return 2
    except Exception as error:  # a bug in a probe: still one line, and "could not run"
        kind = type(error).__name__
        print(f"ifmatch {command}: internal error: {kind}: {error}", file=sys.stderr)
        return 2
    print(report.to_json() if args.json else report.to_text())
    return report.exit_status
