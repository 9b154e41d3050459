"""The ``ifmatch`` command: dispatches to the service, the client and the auditor.

Each subcommand lives with the code it drives and is imported only when
used, so ``ifmatch audit`` does not import the service's database drivers.
A subcommand whose optional dependencies are not installed (a bare
``pip install ifmatch``) says which extra to install instead of printing a
traceback.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys
from collections.abc import Callable, Sequence
from typing import NamedTuple


class Command(NamedTuple):
    """Where a subcommand lives, what it does, and what it needs beyond the core."""

    module: str
    summary: str
    extra: str
    #: Modules checked before the subcommand is imported, so it fails before doing anything.
    requires: tuple[str, ...]
    #: Top-level modules the extra installs: a ModuleNotFoundError for one of them means
    #: the extra is missing, any other one is a bug and keeps its traceback.
    needs: frozenset[str]


_CLIENT = frozenset({"httpx", "httpcore", "h11", "anyio", "certifi", "idna", "sniffio"})
_SERVICE = frozenset(
    {
        "starlette",
        "uvicorn",
        "anyio",
        "httptools",
        "uvloop",
        "sniffio",
        "idna",
        "h11",
        "click",
    }
)

_COMMANDS: dict[str, Command] = {
    "serve": Command(
        "ifmatch.service.cli",
        "run the reference service (a versioned JSON and file store)",
        "service",
        ("starlette", "uvicorn"),
        _SERVICE,
    ),
    "get": Command(
        "ifmatch.client.cli",
        "GET a URL through the persistent revalidating cache",
        "client",
        ("httpx",),
        _CLIENT,
    ),
    "download": Command(
        "ifmatch.client.cli",
        "resumable download (Range + If-Range, never spliced)",
        "client",
        ("httpx",),
        _CLIENT,
    ),
    "audit": Command(
        "ifmatch.audit.cli",
        "check a URL's conditional-request behaviour against RFC 9110",
        "audit",
        ("httpx",),
        _CLIENT,
    ),
}


def add_header_option(parser: argparse.ArgumentParser) -> None:
    """The ``-H 'Name: value'`` option the client and the auditor share, as curl spells it.

    Read its values with :func:`parse_header`.
    """
    parser.add_argument(
        "-H",
        "--header",
        action="append",
        default=[],
        metavar="'NAME: VALUE'",
        help="extra request header (repeatable)",
    )


def parse_header(raw: str) -> tuple[str, str]:
    """One ``-H`` value as ``(name, value)``; :class:`ValueError` when it is not ``Name: value``.

    The name must not be empty or hold white space (RFC 9110 §5.1: a field name is a token);
    the value is stripped.
    """
    name, colon, value = raw.partition(":")
    if not colon or not name or any(c.isspace() for c in name):
        raise ValueError(f"bad header {raw!r}: -H expects 'Name: value'")
    return name, value.strip()


def _usage() -> str:
    lines = ["usage: ifmatch [--version] COMMAND [options]", "", "commands:"]
    lines += [f"  {name:<10} {command.summary}" for name, command in _COMMANDS.items()]
    lines += ["", "ifmatch COMMAND --help shows a command's options."]
    return "\n".join(lines)


def version() -> str:
    """The installed version (the one ``ifmatch.__version__`` declares)."""
    from ifmatch import __version__

    return __version__


def missing_extra(command: str, error: ModuleNotFoundError | None = None) -> str | None:
    """Why ``command`` cannot run for want of its extra, or ``None`` when it can.

    Without ``error``, checks that the extra's key modules can be found; with it, says
    whether that import failure is the extra's (any other one is a bug, not a setup step).
    """
    spec = _COMMANDS[command]
    if error is None:
        absent = [name for name in spec.requires if importlib.util.find_spec(name) is None]
        if not absent:
            return None
        top = absent[0]
    else:
        top = (error.name or "").partition(".")[0]
        if top not in spec.needs:
            return None
    return (
        f"ifmatch {command}: needs the '{spec.extra}' extra ({top} is not installed).\n"
        f"Install it with:  pip install 'ifmatch[{spec.extra}]'"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the process exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in {"-h", "--help"}:
        print(_usage())
        return 0 if args else 2
    if args[0] in {"-V", "--version"}:
        print(f"ifmatch {version()}")
        return 0
    command, rest = args[0], args[1:]
    if command not in _COMMANDS:
        print(f"ifmatch: unknown command {command!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    message = missing_extra(command)
    if message is not None:
        print(message, file=sys.stderr)
        return 1
    try:
        module = importlib.import_module(_COMMANDS[command].module)
        run: Callable[[str, list[str]], int] = module.main
        return run(command, rest)
    except ModuleNotFoundError as error:
        message = missing_extra(command, error)
        if message is None:
            raise
        print(message, file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
