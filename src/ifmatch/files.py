"""Serving files with validators, preconditions and byte ranges (RFC 9110 §8.8, §13, §14).

Framework-free: this module touches the filesystem but no server.  The ASGI
and WSGI apps (:mod:`ifmatch.asgi_files`, :mod:`ifmatch.wsgi_files`) only
translate a :class:`FileReply` into their protocol's messages.

Choices made here, each for a reason:

* **A root no path can escape.**  :func:`resolve_under` rejects ``..`` and
  ``.`` segments, absolute paths, backslashes, NUL bytes and (by default)
  hidden segments, then resolves symlinks and requires the result to lie in
  the resolved root.  The file is opened with ``O_NOFOLLOW`` and, on Linux,
  the open descriptor's own path is checked against the root again, so a
  symlink swapped in after the check is refused.  Every refusal is a 404,
  so a client cannot learn what exists outside the root.
* **Validators that describe the bytes sent.**  The file is opened once
  and the validators come from ``fstat`` of that descriptor; every span is
  read from it with ``pread``.  A file replaced by rename keeps serving the
  old bytes under the old validators.  A file rewritten in place is caught
  by comparing size, mtime and ctime after each read: the response is then
  aborted (:class:`FileChangedError`), so a client sees a short body, never
  a complete-looking one spliced from two versions.
* **A strong ETag from (size, mtime_ns), never from inode or path.**  Inode
  numbers leak filesystem details and differ between servers behind a load
  balancer; the same file deployed with the same mtime gets the same tag
  everywhere.  Small files may be tagged by content instead
  (``content_etag_limit``).
* **The one-second problem.**  A file cannot tell us how often it changed
  within one second, so ``changed_within_second`` stays ``False``; every
  response carries the ETag (nanosecond mtime), which takes precedence
  over dates in §13.2.2, and ``If-Range`` with a date is honoured only when
  the Last-Modified is at least one second old (§8.8.2.2, as Go does).
* **Short errors.**  A 404, 405, 412 or 416 carries a few words of
  ``application/problem+json``; no filesystem error text or path is ever
  echoed (as Go's ``toHTTPError``).
"""

from __future__ import annotations

import io
import mimetypes
import os
import re
import stat
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

from ifmatch.conditions import Conditions
from ifmatch.etag import ETag
from ifmatch.hashing import content_etag, stat_etag
from ifmatch.phrases import status_line
from ifmatch.problem import PROBLEM_JSON, problem
from ifmatch.ranges import ByteRange
from ifmatch.respond import pieces, respond_parts

#: Bytes read per chunk: bounded memory whatever the file size.
CHUNK_SIZE = 64 * 1024
DEFAULT_MEDIA_TYPE = "application/octet-stream"
#: Methods a static file server answers (§9.3.1, §9.3.2); the rest get 405.
ALLOWED_METHODS = ("GET", "HEAD")
_ALLOW = ", ".join(ALLOWED_METHODS)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_PROC_FD = os.path.isdir("/proc/self/fd")
_DRIVE_RE = re.compile(r"[A-Za-z]:")  # a Windows drive: "C:" and "C:x" leave the root
_OPEN_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_CLOEXEC", 0)
    | getattr(os, "O_NONBLOCK", 0)  # a FIFO must not block the open; fstat then refuses it
    | getattr(os, "O_BINARY", 0)
)


class FileChangedError(OSError):
    """The file changed while its bytes were being sent; the response must be aborted."""


def safe_parts(path: str, *, serve_hidden: bool = False) -> tuple[str, ...] | None:
    """The segments of a URL path below a root, or ``None`` when the path is not acceptable.

    ``path`` is the percent-decoded path below the mount point (one leading
    ``/`` is dropped).  Refused: NUL, backslash, an absolute path (``//x``,
    ``C:``), a ``.`` or ``..`` segment, and a hidden (``.name``) segment
    unless ``serve_hidden``.  Percent signs are never decoded a second time.

    >>> safe_parts("/css/site.css")
    ('css', 'site.css')
    >>> safe_parts("/a/../../etc/passwd") is None
    True
    """
    relative = path[1:] if path.startswith("/") else path
    if "\x00" in relative or "\\" in relative or relative.startswith("/"):
        return None
    if _DRIVE_RE.match(relative):
        return None
    parts = tuple(part for part in relative.split("/") if part)
    for part in parts:
        if part in {".", ".."} or (part.startswith(".") and not serve_hidden):
            return None
    return parts


def resolve_under(
    root: str | os.PathLike[str], path: str, *, serve_hidden: bool = False
) -> Path | None:
    """The real path of ``path`` below ``root``, or ``None`` if missing or outside the root.

    Symlinks inside the root are followed only when their target, fully
    resolved, is still inside the resolved root.
    """
    found = _resolve(root, path, serve_hidden)
    return None if found is None else Path(found[1])


def _resolve(root: str | os.PathLike[str], path: str, serve_hidden: bool) -> tuple[str, str] | None:
    """(resolved root, resolved target) as strings: ``os.path`` is several times faster here."""
    parts = safe_parts(path, serve_hidden=serve_hidden)
    if not parts:
        return None
    try:
        base = os.path.realpath(root, strict=True)
        target = os.path.realpath(os.path.join(base, *parts), strict=True)
    except (OSError, ValueError):
        return None
    return (base, target) if _inside(target, base) else None


def _inside(target: str, base: str) -> bool:
    return target.startswith(base if base.endswith(os.sep) else base + os.sep)


def media_type_for(path: str | os.PathLike[str], *, text_charset: str | None = "utf-8") -> str:
    """Content-Type by extension (``mimetypes``); ``application/octet-stream`` if unknown."""
    guessed = mimetypes.guess_type(os.fspath(path), strict=False)[0] or DEFAULT_MEDIA_TYPE
    if text_charset and guessed.startswith("text/"):
        return f"{guessed}; charset={text_charset}"
    return guessed


def content_disposition(filename: str, disposition: str = "attachment") -> str:
    """A Content-Disposition value (RFC 6266) with an ASCII fallback and an RFC 8187 name."""
    clean = "".join(char for char in filename if char >= " " and char != "\x7f")
    fallback = clean.encode("ascii", "replace").decode("ascii").replace("\\", "_").replace('"', "_")
    value = f'{disposition}; filename="{fallback}"'
    if fallback != clean:
        value += f"; filename*=UTF-8''{quote(clean, safe='')}"
    return value


class OpenedFile:
    """A regular file opened once; validators from ``fstat`` of that descriptor.

    Spans are read with ``pread`` (the offset is not shared state), and each
    read checks that size, mtime and ctime are unchanged.
    """

    def __init__(self, path: Path, fd: int, content_type: str, etag: ETag | None = None) -> None:
        self.path = path
        self.stat = os.fstat(fd)  # before fdopen: if this raises, the caller closes fd
        self.file: io.FileIO = os.fdopen(fd, "rb", buffering=0)
        self.etag = etag or stat_etag(self.stat.st_size, self.stat.st_mtime_ns)
        self.modified = _EPOCH + timedelta(microseconds=self.stat.st_mtime_ns // 1000)
        self.content_type = content_type

    @property
    def size(self) -> int:
        """The length in bytes when the file was opened."""
        return self.stat.st_size

    def _fingerprint(self, result: os.stat_result) -> tuple[int, int, int, int]:
        return (result.st_size, result.st_mtime_ns, result.st_ctime_ns, result.st_ino)

    def unchanged(self) -> bool:
        """Whether the open file still has the size and times its validators came from.

        The ctime catches a writer that restores the mtime after writing in
        place; but unlinking (a rename over the file) also sets the ctime,
        and an unlinked file can only be written through an already open
        descriptor, so for one with no links left size and mtime decide.
        """
        now = os.fstat(self.file.fileno())
        if now.st_nlink == 0:
            return (now.st_size, now.st_mtime_ns) == (self.stat.st_size, self.stat.st_mtime_ns)
        return self._fingerprint(now) == self._fingerprint(self.stat)

    def path_is_current(self) -> bool:
        """Whether ``self.path`` still names this file, unchanged (checked before pathsend)."""
        try:
            current = os.stat(self.path, follow_symlinks=False)
        except OSError:
            return False
        return (current.st_dev, *self._fingerprint(current)) == (
            self.stat.st_dev,
            *self._fingerprint(self.stat),
        )

    def read(self, span: ByteRange) -> bytes:
        """Exactly the bytes of ``span``; raises :class:`FileChangedError` if the file changed."""
        data = _pread(self.file, len(span), span.start)
        if len(data) != len(span) or not self.unchanged():
            raise FileChangedError("the file changed while it was being sent")
        return data

    def close(self) -> None:
        """Close the descriptor (idempotent)."""
        self.file.close()


def _pread(file: io.FileIO, size: int, offset: int) -> bytes:
    """Up to ``size`` bytes at ``offset``, shorter only at end of file."""
    if not hasattr(os, "pread"):  # pragma: no cover - Windows
        file.seek(offset)
        whole: bytes = file.read(size)
        return whole
    data = os.pread(file.fileno(), size, offset)
    if len(data) in (0, size):
        return data
    pieces = [data]  # a short read before the end (large sizes, signals): keep reading
    done = len(data)
    while done < size and (piece := os.pread(file.fileno(), size - done, offset + done)):
        pieces.append(piece)
        done += len(piece)
    return b"".join(pieces)


def open_file(
    path: str | os.PathLike[str],
    *,
    root: str | os.PathLike[str] | None = None,
    serve_hidden: bool = False,
    content_type: str | None = None,
    content_etag_limit: int = 0,
    text_charset: str | None = "utf-8",
) -> OpenedFile | None:
    """Open a regular file for serving, or ``None`` (missing, not regular, or outside ``root``).

    With ``root``, ``path`` is relative to it and confined by :func:`resolve_under`.
    Files of at most ``content_etag_limit`` bytes get an ETag from a SHA-256
    of their content, equal on every server whatever the mtime.
    """
    base: str | None = None
    if root is not None:
        found = _resolve(root, os.fspath(path), serve_hidden)
        if found is None:
            return None
        base, target = found
    else:
        try:
            target = os.path.realpath(path, strict=True)
        except (OSError, ValueError):
            return None
    try:
        fd = os.open(target, _OPEN_FLAGS)
    except (OSError, ValueError):
        return None
    try:
        # By the name asked for (as nginx does), not the name a symlink points to.
        media_type = content_type or media_type_for(path, text_charset=text_charset)
        opened = OpenedFile(Path(target), fd, media_type)
    except OSError:
        os.close(fd)
        return None
    try:
        if not stat.S_ISREG(opened.stat.st_mode) or not _still_under(fd, base):
            opened.close()
            return None
        if 0 < opened.size <= content_etag_limit:
            opened.etag = _content_etag(opened)
    except OSError:
        opened.close()
        return None
    return opened


def _still_under(fd: int, base: str | None) -> bool:
    """Linux: the descriptor's own path is in the root (no symlink swapped in after resolving)."""
    if base is None or not _PROC_FD:
        return True
    try:
        return _inside(os.readlink(f"/proc/self/fd/{fd}"), base)
    except OSError:
        return False


def _content_etag(opened: OpenedFile) -> ETag:
    return content_etag(opened.read(ByteRange(0, opened.size)))


@dataclass(slots=True)
class FileReply:
    """A response to send: status, headers and body.

    ``segments`` is the body as literal bytes and spans of ``file``
    (multipart framing included); ``body`` is a short literal body (errors).
    ``whole_file`` marks a 200 GET of the entire non-empty file, the only
    response that may go zero-copy (pathsend, ``wsgi.file_wrapper``).
    The adapter must call :meth:`close` when done.
    """

    status: int
    headers: list[tuple[str, str]]
    body: bytes = b""
    segments: tuple[bytes | ByteRange, ...] = ()
    file: OpenedFile | None = None
    whole_file: bool = False

    @property
    def status_line(self) -> str:
        """``"206 Partial Content"``, for WSGI's ``start_response``."""
        return status_line(self.status)

    def pieces(self, chunk_size: int = CHUNK_SIZE) -> Iterator[bytes | ByteRange]:
        """The body in order: literal bytes, and spans of at most ``chunk_size`` bytes to read."""
        return pieces(self.body, self.segments, chunk_size)

    def close(self) -> None:
        """Release the file descriptor."""
        if self.file is not None:
            self.file.close()


def error_reply(
    status: int,
    detail: str,
    method: str,
    headers: Iterable[tuple[str, str]] = (),
    *,
    body: bytes | None = None,
    opened: OpenedFile | None = None,
) -> FileReply:
    """A short problem+json reply (no path, no OS error text); HEAD gets the headers only."""
    if body is None:
        body = problem(status, detail)
    all_headers = [
        ("Content-Type", PROBLEM_JSON),
        ("Content-Length", str(len(body))),
        *headers,
    ]
    return FileReply(status, all_headers, b"" if method == "HEAD" else body, file=opened)


def not_found(method: str) -> FileReply:
    """404: missing, a directory, outside the root or refused: the client cannot tell which."""
    return error_reply(404, "no such file", method)


def method_not_allowed(method: str) -> FileReply:
    """405 with ``Allow: GET, HEAD`` (§15.5.6)."""
    return error_reply(405, "only GET and HEAD are allowed here", method, [("Allow", _ALLOW)])


def file_reply(
    method: str,
    request_headers: Mapping[str, str] | Iterable[tuple[str | bytes, str | bytes]],
    opened: OpenedFile | None,
    *,
    headers: Iterable[tuple[str, str]] = (),
    now: datetime | None = None,
) -> FileReply:
    """Decide the response to ``method`` on a file, through the core (§13.2.2, §14).

    GET/HEAD with a matching If-None-Match or an old enough If-Modified-Since
    get 304; a failed If-Match or If-Unmodified-Since gets 412 with the
    current ETag; a GET with Range (and a true If-Range) gets 206, single or
    ``multipart/byteranges``, or 416.  ``headers`` are added to the 200
    (Cache-Control, Content-Disposition, ...).
    """
    if opened is None:
        return not_found(method)
    reply = respond_parts(
        method,
        Conditions.from_headers(request_headers),
        opened.etag,
        opened.modified,
        opened.size,
        opened.content_type,
        True,
        tuple(headers),
        now=now,
    )
    return FileReply(
        reply.status,
        reply.headers,
        reply.body,
        reply.segments,
        file=opened,
        whole_file=reply.status == 200 and method != "HEAD" and opened.size > 0,
    )


class FileTarget:
    """What the ASGI and WSGI ``FileResponse`` share: which file, and how to answer for it.

    ``path`` is trusted (the application chose it) unless ``root`` is given,
    in which case ``path`` is relative to ``root`` and cannot escape it.
    ``filename`` adds ``Content-Disposition``; ``headers`` are added to the
    200 (e.g. ``Cache-Control``) and those that §15.4.5 keeps stay on the 304.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        root: str | os.PathLike[str] | None = None,
        media_type: str | None = None,
        filename: str | None = None,
        disposition: str = "attachment",
        headers: Mapping[str, str] | Iterable[tuple[str, str]] = (),
        content_etag_limit: int = 0,
        chunk_size: int = CHUNK_SIZE,
    ) -> None:
        self.path = path
        self.root = root
        self.media_type = media_type
        pairs = list(headers.items() if isinstance(headers, Mapping) else headers)
        if filename is not None:
            pairs.append(("Content-Disposition", content_disposition(filename, disposition)))
        self.headers = tuple(pairs)
        self.content_etag_limit = content_etag_limit
        self.chunk_size = chunk_size

    def open(self) -> OpenedFile | None:
        """Open the file and read its validators (blocking: ASGI runs it in a thread)."""
        return open_file(
            self.path,
            root=self.root,
            content_type=self.media_type,
            content_etag_limit=self.content_etag_limit,
        )


class StaticRoot:
    """What the ASGI and WSGI ``StaticFiles`` share: the root, the options, and opening a path.

    ``cache_control`` and ``headers`` are added to 200 and 206; the 304 keeps
    those §15.4.5 lists.  ``check_root`` refuses a root that is not a directory
    at construction, not at the first request.
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        cache_control: str | None = None,
        headers: Mapping[str, str] | Iterable[tuple[str, str]] = (),
        serve_hidden: bool = False,
        content_etag_limit: int = 0,
        chunk_size: int = CHUNK_SIZE,
        check_root: bool = True,
    ) -> None:
        self.root = Path(root)
        if check_root and not self.root.is_dir():
            raise ValueError(f"StaticFiles root {os.fspath(root)!r} is not a directory")
        pairs = list(headers.items() if isinstance(headers, Mapping) else headers)
        if cache_control:
            pairs.append(("Cache-Control", cache_control))
        self.headers = tuple(pairs)
        self.serve_hidden = serve_hidden
        self.content_etag_limit = content_etag_limit
        self.chunk_size = chunk_size

    def open(self, path: str | None) -> OpenedFile | None:
        """Open ``path`` below the root (blocking); ``None`` for anything not a regular file.

        An undecodable path (``None``), an empty one or one naming a
        directory (trailing slash) is refused before touching the disk.
        """
        if not path or path.endswith("/"):
            return None
        return open_file(
            path,
            root=self.root,
            serve_hidden=self.serve_hidden,
            content_etag_limit=self.content_etag_limit,
        )
