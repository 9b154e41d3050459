"""``ifmatch get`` and ``ifmatch download``: the client from the command line.

``ifmatch get URL`` prints the body to stdout through a persistent
revalidating cache (``$XDG_CACHE_HOME/ifmatch/cache.sqlite``, by default
``~/.cache/ifmatch/cache.sqlite``) and says on stderr when the server
answered 304 (that the stored copy was reused), or when the cache answered on
its own (a fresh stored copy, RFC 9111 §4.2), or, when the request carried
the caller's own ``If-None-Match`` / ``If-Modified-Since``, that the caller's
copy is current (the body is empty then, and the exit status 0).

``ifmatch download URL [-o FILE]`` downloads resumably (``FILE`` defaults to
the URL's last path segment, as ``curl -O`` does; a segment that is empty or
not a plain file name is refused): run it again after an
interruption and it continues where it stopped, if and only if the file on
the server is still the same (If-Range); a progress bar goes to stderr when
stderr is a terminal (never ``\r`` frames into a pipe or a CI log; ``--progress``
forces it, ``--quiet`` turns it off).

Failures print one line on stderr and exit non-zero (1 for an HTTP error
status or a network failure, 2 for bad usage, 130 when interrupted); no
traceback.  Both commands run on httpx, or on httpx2 with
``IFMATCH_HTTP=httpx2`` (see :mod:`ifmatch.client.httpx_compat`).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import unquote, urlsplit

from ifmatch.cli import add_header_option, parse_header
from ifmatch.client.cache import CachingTransport, cache_status, was_revalidated
from ifmatch.client.download import download
from ifmatch.client.errors import ClientError
from ifmatch.client.httpx_compat import default_library, errors
from ifmatch.client.storage import SQLiteStorage

#: Size of the command's persistent cache; the least recently revalidated entries go first.
CLI_CACHE_BYTES = 256 * 1024 * 1024


def default_cache_path() -> Path:
    """``$XDG_CACHE_HOME/ifmatch/cache.sqlite``, falling back to ``~/.cache``."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "ifmatch" / "cache.sqlite"


def _parser(command: str) -> argparse.ArgumentParser:
    if command == "get":
        parser = argparse.ArgumentParser(
            prog="ifmatch get",
            description="GET a URL through a persistent revalidating cache; "
            "the body goes to stdout.",
        )
        parser.add_argument(
            "--cache", type=Path, default=None, help=f"cache file (default {default_cache_path()})"
        )
        parser.add_argument("--no-cache", action="store_true", help="bypass the cache")
        parser.add_argument(
            "-i",
            "--include",
            action="store_true",
            help="print the status line and headers to stderr",
        )
    else:
        parser = argparse.ArgumentParser(
            prog="ifmatch download",
            description="Resumable download (Range + If-Range): never splices two versions.",
        )
        parser.add_argument(
            "-o",
            "--output",
            type=Path,
            default=None,
            help="file to write (default: the URL's last path segment, in this directory)",
        )
        parser.add_argument(
            "--retries",
            type=int,
            default=3,
            help="resume this many times after a network error (default 3)",
        )
        bar = parser.add_mutually_exclusive_group()
        bar.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
        bar.add_argument(
            "--progress",
            action="store_true",
            help="a progress bar even when stderr is not a terminal",
        )
    parser.add_argument("url", help="http:// or https:// URL")
    add_header_option(parser)
    parser.add_argument(
        "--timeout", type=float, default=30.0, help="network timeout in seconds (default 30)"
    )
    return parser


def file_name_from_url(url: str) -> str:
    """The last segment of ``url``'s path, percent-decoded, as ``curl -O`` names its file.

    Refused with :class:`ValueError` when it is not a plain file name that
    stays in the current directory: empty (``http://h/`` or ``http://h/dir/``),
    ``.`` or ``..``, hidden (a leading dot: it could overwrite ``.bashrc``),
    or holding a slash, a backslash or a control character once decoded.

    >>> file_name_from_url("https://example.com/isos/big%20file.iso?x=1#top")
    'big file.iso'
    """
    path = urlsplit(url).path
    name = unquote(path.rpartition("/")[2])
    problem = ""
    if not name:
        problem = "its path has no last segment"
    elif name.startswith("."):
        problem = f"{name!r} would be a hidden file or a directory"
    elif any(c in name for c in "/\\") or any(ord(c) < 32 or ord(c) == 127 for c in name):
        problem = f"{name!r} is not a plain file name"
    if problem:
        raise ValueError(f"cannot name the file after {url}: {problem}; pass -o FILE")
    return name


def main(command: str, argv: list[str]) -> int:
    """Run ``ifmatch get`` or ``ifmatch download``; return the exit status."""
    parser = _parser(command)
    args = parser.parse_args(argv)
    try:
        headers = dict(parse_header(value) for value in args.header)
        if not args.url.startswith(("http://", "https://")):
            raise ValueError(f"not an http(s) URL: {args.url!r}")
        if command == "get":
            return _get(args, headers)
        return _download(args, headers)
    except KeyboardInterrupt:
        _say("interrupted" + ("; run the same command again to resume" if command != "get" else ""))
        return 130
    except ValueError as error:
        _say(str(error))
        return 2
    except errors("TimeoutException"):
        _say(f"{args.url}: timed out after {args.timeout:g} s")
        return 1
    except errors("ConnectError") as error:
        _say(f"{args.url}: cannot connect ({error or 'connection refused'})")
        return 1
    except _failures() as error:
        _say(f"{error}" if isinstance(error, ClientError) else f"{args.url}: {error}")
        return 1


def _failures() -> tuple[type[Exception], ...]:
    """What ends a command with status 1 and one line: HTTP and client errors, OS errors."""
    return (*errors("HTTPError"), *errors("InvalidURL"), ClientError, OSError)


def _get(args: argparse.Namespace, headers: dict[str, str]) -> int:
    storage = (
        None
        if args.no_cache
        else SQLiteStorage(args.cache or default_cache_path(), max_bytes=CLI_CACHE_BYTES)
    )
    library = default_library()
    transport: Any = library.HTTPTransport()
    if storage is not None:
        transport = CachingTransport(transport, storage)
    try:
        with library.Client(transport=transport, timeout=args.timeout) as client:
            response = client.get(args.url, headers=headers)
            body = response.content
    finally:
        if storage is not None:
            storage.close()
    if args.include:
        print(f"HTTP/1.1 {response.status_code} {response.reason_phrase}", file=sys.stderr)
        for name, value in response.headers.multi_items():
            print(f"{name}: {value}", file=sys.stderr)
    sys.stdout.buffer.write(body)
    sys.stdout.buffer.flush()
    if response.status_code == 304:  # only to the caller's own If-None-Match / If-Modified-Since
        sent = ", ".join(
            f"{name}: {value}"
            for name, value in headers.items()
            if name.lower() in {"if-none-match", "if-modified-since"}
        )
        _say("304 Not Modified: your copy is current" + (f" ({sent})" if sent else ""))
    elif was_revalidated(response):
        _say(f"304 Not Modified: reused the cached copy ({len(body)} bytes not transferred)")
    elif (status := cache_status(response) or "").startswith(("hit", "stale")):
        _say(f"answered from the cache without asking the server ({status})")
    if response.status_code >= 400:
        _say(f"HTTP {response.status_code} {response.reason_phrase}")
        return 1
    return 0


def _download(args: argparse.Namespace, headers: dict[str, str]) -> int:
    show = not args.quiet and (args.progress or _is_terminal(sys.stderr))
    output = args.output if args.output is not None else Path(file_name_from_url(args.url))
    bar = ProgressBar(sys.stderr) if show else None
    with default_library().Client(timeout=args.timeout) as client:
        try:
            result = download(
                client,
                args.url,
                output,
                headers=headers,
                retries=args.retries,
                progress=bar,
            )
        finally:
            if bar is not None:
                bar.end()
    _say(f"saved {result.path} ({result.summary()})")
    return 0


class ProgressBar:
    """A plain-text progress bar on a stream, redrawn in place at most 10 times a second."""

    width = 30

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.last_draw = 0.0
        self.drawn = False
        self.done = 0
        self.total: int | None = None

    def __call__(self, done: int, total: int | None) -> None:
        self.done, self.total = done, total
        now = time.monotonic()
        if now - self.last_draw >= 0.1 or (total is not None and done >= total):
            self.last_draw = now
            self._draw()

    def _draw(self) -> None:
        if self.total:
            fraction = min(1.0, self.done / self.total)
            filled = int(fraction * self.width)
            line = (
                f"[{'#' * filled}{'.' * (self.width - filled)}] {fraction:4.0%} "
                f"{_size(self.done)} / {_size(self.total)}"
            )
        else:
            line = f"{_size(self.done)}"
        self.stream.write(f"\r{line}  ")
        self.stream.flush()
        self.drawn = True

    def end(self) -> None:
        """Draw the final state and end the line."""
        if self.drawn or self.done:
            self._draw()
            self.stream.write("\n")
            self.stream.flush()


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a replaced or closed stream
        return False


def _size(count: int) -> str:
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{count} B"


def _say(message: str) -> None:
    print(f"ifmatch: {message}", file=sys.stderr)
