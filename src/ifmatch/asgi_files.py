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
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import anyio
import anyio.to_thread

from ifmatch.asgi import Receive, Scope, Send
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
from ifmatch.respond import pieces

PATHSEND = "http.response.pathsend"


class FileResponse(FileTarget):
    """One file as an ASGI response, with validators, preconditions and ranges.

    >>> response = FileResponse("report.pdf", filename="report.pdf")  # doctest: +SKIP
    >>> await response(scope, receive, send)                           # doctest: +SKIP

    Options as :class:`ifmatch.files.FileTarget`.  A missing file, or one
    that is not regular, is a 404, never an exception.
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        method = scope["method"]
        opened = await anyio.to_thread.run_sync(self.open)
        reply = file_reply(method, scope["headers"], opened, headers=self.headers)
        await send_reply(reply, scope, receive, send, self.chunk_size)


class StaticFiles(StaticRoot):
    """An ASGI app serving the regular files below ``root``; nothing else.

    No directory listings and no index files: a directory is a 404, as is
    any path that is refused (see :func:`ifmatch.files.safe_parts`), so a
    client cannot probe what exists.  Methods other than GET and HEAD get
    405 with ``Allow``.  ``cache_control`` and ``headers`` (say,
    ``X-Content-Type-Options: nosniff``) are added to 200 and 206; the 304
    keeps those §15.4.5 lists (Cache-Control, Expires, Vary, ...).
    """

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
            opened = await anyio.to_thread.run_sync(self.open, route_path(scope))
            reply = file_reply(method, scope["headers"], opened, headers=self.headers)
        await send_reply(reply, scope, receive, send, self.chunk_size)


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
