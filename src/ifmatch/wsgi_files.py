"""File responses for WSGI (PEP 3333): :class:`FileResponse` and :class:`StaticFiles`.

The WSGI twins of :mod:`ifmatch.asgi_files`, with the same decisions from
:mod:`ifmatch.files`.  Zero-copy: a 200 with the whole file is handed to
the server's ``wsgi.file_wrapper`` when there is one (gunicorn, uWSGI,
mod_wsgi turn it into ``sendfile``); everything else is streamed in bounded
chunks, and ranges read only their spans.

Mount :class:`StaticFiles` under a prefix with any dispatcher that moves
the prefix into ``SCRIPT_NAME`` (Werkzeug's ``DispatcherMiddleware``, a
server's mount option); ``PATH_INFO`` is what is looked up below the root.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from wsgiref.types import StartResponse, WSGIEnvironment

from ifmatch.files import (
    ALLOWED_METHODS,
    CHUNK_SIZE,
    FileReply,
    FileTarget,
    StaticRoot,
    file_reply,
    method_not_allowed,
)
from ifmatch.ranges import ByteRange

Environ = WSGIEnvironment


_CONDITION_KEYS = (
    ("If-Match", "HTTP_IF_MATCH"),
    ("If-None-Match", "HTTP_IF_NONE_MATCH"),
    ("If-Modified-Since", "HTTP_IF_MODIFIED_SINCE"),
    ("If-Unmodified-Since", "HTTP_IF_UNMODIFIED_SINCE"),
    ("If-Range", "HTTP_IF_RANGE"),
    ("Range", "HTTP_RANGE"),
)


def request_headers(environ: Environ) -> dict[str, str]:
    """The conditional fields of a WSGI request (the server has already joined repeats)."""
    return {name: environ[key] for name, key in _CONDITION_KEYS if key in environ}


class FileResponse(FileTarget):
    """One file as a WSGI app: validators, preconditions, ranges, ``wsgi.file_wrapper``.

    Options as :class:`ifmatch.files.FileTarget`.  A missing or non-regular
    file is a 404.
    A Flask view can ``return FileResponse(path)``: Flask runs WSGI apps
    returned by views (though the file_wrapper shortcut is then lost).
    """

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        opened = self.open()
        method = environ["REQUEST_METHOD"]
        reply = file_reply(method, request_headers(environ), opened, headers=self.headers)
        return send_reply(reply, environ, start_response, self.chunk_size)


class StaticFiles(StaticRoot):
    """A WSGI app serving the regular files below ``root``; nothing else.

    Directories, refused paths and missing files are all 404; methods other
    than GET and HEAD get 405 with ``Allow``.  ``cache_control`` and
    ``headers`` are added to 200 and 206; the 304 keeps those §15.4.5 lists.
    """

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        method = environ["REQUEST_METHOD"]
        if method not in ALLOWED_METHODS:
            reply = method_not_allowed(method)
        else:
            opened = self.open(path_info(environ))
            reply = file_reply(method, request_headers(environ), opened, headers=self.headers)
        return send_reply(reply, environ, start_response, self.chunk_size)


def path_info(environ: Environ) -> str | None:
    """``PATH_INFO`` as text: PEP 3333 carries bytes as latin-1; file names are UTF-8."""
    raw: str = environ.get("PATH_INFO", "")
    try:
        return raw.encode("latin-1").decode("utf-8")
    except UnicodeError:
        return None


def send_reply(
    reply: FileReply,
    environ: Environ,
    start_response: StartResponse,
    chunk_size: int = CHUNK_SIZE,
) -> Iterable[bytes]:
    """Start the response and return its body iterable (which closes the file)."""
    try:
        start_response(reply.status_line, list(reply.headers))
    except BaseException:
        reply.close()
        raise
    wrapper = environ.get("wsgi.file_wrapper")
    if reply.whole_file and reply.file is not None and wrapper is not None:
        reply.file.file.seek(0)
        # The wrapper owns the file from here: its close() closes it (PEP 3333).
        wrapped: Iterable[bytes] = wrapper(reply.file.file, chunk_size)
        return wrapped
    return _Body(reply, chunk_size)


class _Body:
    """The body iterable: reads spans on demand, and ``close()`` releases the file."""

    def __init__(self, reply: FileReply, chunk_size: int) -> None:
        self.reply = reply
        self.chunk_size = chunk_size

    def __iter__(self) -> Iterator[bytes]:
        opened = self.reply.file
        for piece in self.reply.pieces(self.chunk_size):
            if isinstance(piece, ByteRange):
                assert opened is not None  # spans only exist for an opened file
                yield opened.read(piece)
            else:
                yield piece

    def close(self) -> None:
        self.reply.close()
