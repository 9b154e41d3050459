"""The ``ifmatch`` command: dispatches to the service, the client and the auditor.

Each subcommand lives with the code it drives and is imported only when
used, so ``ifmatch audit`` does not import the service's database drivers.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Sequence

_COMMANDS: dict[str, tuple[str, str]] = {
    "serve": ("ifmatch.service.cli", "run the reference service (a versioned JSON and file store)"),
    "get": ("ifmatch.client.cli", "GET a URL through the persistent revalidating cache"),
    "download": ("ifmatch.client.cli", "resumable download (Range + If-Range, never spliced)"),
    "audit": ("ifmatch.audit.cli", "check a URL's conditional-request behaviour against RFC 9110"),
}


def _usage() -> str:
    lines = ["usage: ifmatch COMMAND [options]", "", "commands:"]
    lines += [f"  {name:<10} {summary}" for name, (_, summary) in _COMMANDS.items()]
    lines += ["", "ifmatch COMMAND --help shows a command's options."]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the process exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in {"-h", "--help"}:
        print(_usage())
        return 0 if args else 2
    command, rest = args[0], args[1:]
    if command not in _COMMANDS:
        print(f"ifmatch: unknown command {command!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(_COMMANDS[command][0])
    run: Callable[[str, list[str]], int] = module.main
    return run(command, rest)


if __name__ == "__main__":
    sys.exit(main())
