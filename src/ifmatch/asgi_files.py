"""File responses for ASGI: :class:`FileResponse` (one file), :class:`StaticFiles` (a directory).

Both are plain ASGI 3 apps, usable with any framework (a Starlette or
FastAPI ``Mount``, a route returning the response) or alone under uvicorn.
The decisions come from :mod:`ifmatch.files` and the core: validators, 304,
412, 206, ``multipart/byteranges``, 416 (RFC 9110 §13, §14).

Zero-copy: when the server offers the ``http.response.pathsend`` extension
and the answer is a 200 with the whole file, the server is handed the path
instead of the bytes.  Otherwise the file is streamed in bounded chunks,
each read in a worker thread (``anyio.to_thread``) so the event loop never
blocks on the disk; ranges read only their spans.

A client that disconnects stops the stream: under ASGI spec 2.4 ``send``
raises; before 2.4 a task watches ``receive`` for ``http.disconnect``.

Drop-in for Starlette's: ``StaticFiles(directory=..., html=True)`` and
``FileResponse(path, status_code, headers, media_type, background, filename)``
take Starlette's argument names, so swapping the import is enough.  When
Starlette is installed, :class:`FileResponse` *is* a
``starlette.responses.Response``: a FastAPI path operation may return it (FastAPI
serialises anything else as JSON), and its ``headers``, ``set_cookie`` and
``background`` behave as Starlette's do.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import anyio
import anyio.to_thread

from ifmatch.asgi import Receive, Scope, Send
from ifmatch.files import (
    ALLOWED_METHODS,
    CHUNK_SIZE,
    FileReply,
    FileTarget,
    OpenedFile,
    StaticRoot,
    file_reply,
    method_not_allowed,
    not_found,
)
from ifmatch.ranges import ByteRange
from ifmatch.respond import pieces

if TYPE_CHECKING:
    from starlette.responses import Response as _ResponseBase
else:
    try:
        from starlette.responses import Response as _ResponseBase
    except ImportError:  # plain ASGI: no Starlette, nothing to be compatible with

        class _ResponseBase:
            """Stands in for ``starlette.responses.Response`` when Starlette is absent."""

            raw_headers: list[tuple[bytes, bytes]]


PATHSEND = "http.response.pathsend"


class FileResponse(_ResponseBase):
    """One file as an ASGI response, with validators, preconditions and ranges.

    >>> response = FileResponse("report.pdf", filename="report.pdf")  # doctest: +SKIP
    >>> await response(scope, receive, send)                           # doctest: +SKIP

    The arguments are Starlette's (``path, status_code, headers, media_type,
    background, filename, stat_result, content_disposition_type``) plus
    :class:`ifmatch.files.FileTarget`'s (``root``, ``content_etag_limit``,
    ``chunk_size``; ``disposition`` is ``content_disposition_type``).  The
    status is decided per request (200, 206, 304, 412, 416); a ``status_code``
    other than 200 (say, a 404 page) sends the whole file with that status and
    no validators, since preconditions and ranges apply only to a 2xx
    (RFC 9110 §13.2.1, §14.2).  ``stat_result`` is accepted and not used: the
    validators come from the descriptor actually sent.  Headers set on
    ``response.headers`` after construction are sent too.  A missing file, or
    one that is not regular, is a 404, never an exception.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        status_code: int = 200,
        headers: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
        media_type: str | None = None,
        background: Any = None,
        filename: str | None = None,
        stat_result: os.stat_result | None = None,
        content_disposition_type: str = "attachment",
        *,
        root: str | os.PathLike[str] | None = None,
        disposition: str | None = None,
        content_etag_limit: int = 0,
        chunk_size: int = CHUNK_SIZE,
    ) -> None:
        # Starlette's Response.__init__ renders a body; there is none to render here.
        self.target = FileTarget(
            path,
            root=root,
            media_type=media_type,
            filename=filename,
            disposition=disposition or content_disposition_type,
            headers=headers or (),
            content_etag_limit=content_etag_limit,
            chunk_size=chunk_size,
        )
        self.path = path
        self.filename = filename
        self.status_code = status_code
        self.media_type = media_type
        self.background = background
        self.stat_result = stat_result
        self.chunk_size = chunk_size
        self.raw_headers = [
            (name.lower().encode("latin-1"), value.encode("latin-1"))
            for name, value in self.target.headers
        ]

    def added_headers(self) -> list[tuple[str, str]]:
        """The fields given or set on the response, for the 200 (and the 304 that keeps them)."""
        return [
            (name.decode("latin-1"), value.decode("latin-1")) for name, value in self.raw_headers
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        method = scope["method"]
        opened = await anyio.to_thread.run_sync(self.target.open)
        if self.status_code == 200:
            reply = file_reply(method, scope["headers"], opened, headers=self.added_headers())
        else:
            reply = whole_file_reply(method, opened, self.status_code, self.added_headers())
        await send_reply(reply, scope, receive, send, self.chunk_size)
        if self.background is not None:
            await self.background()


def whole_file_reply(
    method: str, opened: OpenedFile | None, status: int, headers: Iterable[tuple[str, str]] = ()
) -> FileReply:
    """The whole file with ``status`` and no validators (a 404 page): no precondition applies."""
    if opened is None:
        return not_found(method)
    fields = [
        ("Content-Type", opened.content_type),
        ("Content-Length", str(opened.size)),
        *headers,
    ]
    segments: tuple[ByteRange, ...] = ()
    if method != "HEAD" and opened.size:
        segments = (ByteRange(0, opened.size),)
    return FileReply(status, fields, segments=segments, file=opened)


class StaticFiles(StaticRoot):
    """An ASGI app serving the regular files below ``directory``; nothing else.

    ``StaticFiles(directory="public")`` as with Starlette (``root`` is the same
    thing, positional).  No directory listings: a directory is a 404, as is
    any path that is refused (see :func:`ifmatch.files.safe_parts`), so a
    client cannot probe what exists.  With ``html=True``, as Starlette's, a
    directory serves its ``index.html`` (``/docs`` redirects to ``/docs/``
    first, so relative links work) and anything not found serves the root's
    ``404.html`` with status 404 when there is one.  Methods other than GET
    and HEAD get 405 with ``Allow``.  ``cache_control`` and ``headers`` (say,
    ``X-Content-Type-Options: nosniff``) are added to 200 and 206; the 304
    keeps those §15.4.5 lists (Cache-Control, Expires, Vary, ...).
    Symlinks are followed only while their target stays below the root, so
    Starlette's ``follow_symlink=True`` (escape the root) is refused.
    """

    def __init__(
        self,
        root: str | os.PathLike[str] | None = None,
        *,
        directory: str | os.PathLike[str] | None = None,
        html: bool = False,
        check_dir: bool = True,
        follow_symlink: bool = False,
        **options: Any,
    ) -> None:
        if (root is None) == (directory is None):
            raise TypeError("StaticFiles needs a directory: StaticFiles(directory='public')")
        if follow_symlink:
            raise ValueError(
                "follow_symlink=True would serve files outside the directory; symlinks whose "
                "target stays inside it are already followed"
            )
        if "packages" in options:
            raise TypeError("StaticFiles(packages=...) is not supported: pass directory=")
        options.setdefault("check_root", check_dir)
        base = root if root is not None else directory
        assert base is not None
        super().__init__(base, **options)
        self.directory = self.root
        self.html = html

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            await send({"type": "websocket.close", "code": 1000})
            return
        method = scope["method"]
        if method not in ALLOWED_METHODS:
            reply = method_not_allowed(method)
        else:
            path = route_path(scope)
            opened = await anyio.to_thread.run_sync(self.open, path)
            if opened is None and self.html:
                reply = await self._html_fallback(method, path, scope)
            else:
                reply = file_reply(method, scope["headers"], opened, headers=self.headers)
        await send_reply(reply, scope, receive, send, self.chunk_size)

    async def _html_fallback(self, method: str, path: str, scope: Scope) -> FileReply:
        """``html=True``: a directory's index.html (after a redirect to ``dir/``) or 404.html."""
        index = await anyio.to_thread.run_sync(self.open, _index_of(path))
        if index is not None:
            if (path or scope["path"]).endswith("/"):
                return file_reply(method, scope["headers"], index, headers=self.headers)
            index.close()
            return redirect_reply(_slash_location(scope))
        page = await anyio.to_thread.run_sync(self.open, "404.html")
        return whole_file_reply(method, page, 404, self.headers)


def _index_of(path: str) -> str:
    return f"{path.rstrip('/')}/index.html" if path.strip("/") else "index.html"


def _slash_location(scope: Scope) -> str:
    """The request's own path with a ``/`` appended, as the client sent it (percent-encoded)."""
    raw = scope.get("raw_path")
    path = raw.decode("latin-1") if isinstance(raw, bytes) else quote(scope["path"])
    location = "/" + path.lstrip("/") + "/"  # never "//host": that would leave the site
    query = scope.get("query_string", b"")
    return f"{location}?{query.decode('latin-1')}" if query else location


def redirect_reply(location: str) -> FileReply:
    """307 to ``location`` (what Starlette's ``RedirectResponse`` sends)."""
    return FileReply(307, [("Location", location), ("Content-Length", "0")])


def route_path(scope: Scope) -> str:
    """The path below the mount point: ``path`` minus ``root_path`` when it starts with it."""
    path: str = scope["path"]
    root_path: str = scope.get("root_path", "")
    if root_path and path.startswith(root_path):
        rest = path[len(root_path) :]
        if not rest or rest.startswith("/"):
            return rest
    return path


async def send_reply(
    reply: FileReply, scope: Scope, receive: Receive, send: Send, chunk_size: int = CHUNK_SIZE
) -> None:
    """Send a :class:`FileReply` as ASGI messages, zero-copy when the server allows it."""
    try:
        headers = [
            (name.lower().encode("latin-1"), value.encode("latin-1"))
            for name, value in reply.headers
        ]
        start = {"type": "http.response.start", "status": reply.status, "headers": headers}
        opened = reply.file
        if (
            reply.whole_file
            and opened is not None
            and PATHSEND in scope.get("extensions", {})
            and await anyio.to_thread.run_sync(opened.path_is_current)
        ):
            await send(start)
            await send({"type": PATHSEND, "path": str(opened.path)})
            return
        await send(start)
        if not reply.segments:
            await send({"type": "http.response.body", "body": reply.body, "more_body": False})
            return
        small = sum(len(segment) for segment in reply.segments) <= chunk_size
        if small or _spec_version(scope) >= (2, 4):
            await _stream(reply, send, chunk_size)
        else:
            await _stream_watching(reply, receive, send, chunk_size)
    finally:
        reply.close()


async def _stream(reply: FileReply, send: Send, chunk_size: int) -> None:
    read = _no_spans if reply.file is None else reply.file.read
    await send_segments(send, reply.body, reply.segments, read, chunk_size)


def _no_spans(span: ByteRange) -> bytes:
    raise AssertionError("spans only exist for an opened file")


async def send_segments(
    send: Send,
    body: bytes,
    segments: Iterable[bytes | ByteRange],
    read: Callable[[ByteRange], bytes],
    chunk_size: int = CHUNK_SIZE,
) -> None:
    """Stream a reply's body as ASGI messages: the one streamer of segments for ASGI.

    Literal bytes go as they are; each span is read in chunks of at most
    ``chunk_size`` bytes by ``read`` in a worker thread, so the event loop
    never blocks on a disk or a database (the service streams its stored
    files through this too).
    """
    for piece in pieces(body, segments, chunk_size):
        data = piece if isinstance(piece, bytes) else await anyio.to_thread.run_sync(read, piece)
        await send({"type": "http.response.body", "body": data, "more_body": True})
    await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _stream_watching(reply: FileReply, receive: Receive, send: Send, chunk_size: int) -> None:
    """Stream, and stop as soon as the client disconnects (servers before ASGI spec 2.4)."""
    async with anyio.create_task_group() as group:

        async def watch() -> None:
            body_done = False
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    group.cancel_scope.cancel()
                    return
                if body_done:
                    return  # receive() should block once the body is read: stop, don't spin
                body_done = not message.get("more_body", False)

        group.start_soon(watch)
        await _stream(reply, send, chunk_size)
        group.cancel_scope.cancel()


def _spec_version(scope: Scope) -> tuple[int, ...]:
    text = str(scope.get("asgi", {}).get("spec_version", "2.0"))
    try:
        return tuple(int(part) for part in text.split("."))
    except ValueError:
        return (2, 0)


async def _lifespan(receive: Receive, send: Send) -> None:
    """Answer lifespan events, so ``uvicorn ifmatch_app:static`` starts without warnings."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
