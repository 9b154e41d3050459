"""Resumable downloads that never splice two versions of a file (RFC 9110 §14, §13.1.5).

``download(client, url, path)`` writes to ``path + ".part"`` and keeps, in
``path + ".part.json"``, the URL and the validator of the representation
the part came from.  A later call resumes with ``Range: bytes=N-`` and
``If-Range: <validator>``, so the server sends the rest only if the file is
still the same one:

* a 206 is checked against its ``Content-Range`` (it must start at N and
  agree on the total length) and appended;
* a 200 means the file changed (or the server ignores ranges): the part
  is truncated and the download restarts from zero, never spliced;
* a 416 for a part that is already complete finishes the download;
* at the end the file is fsynced and moved into place with ``os.replace``,
  so ``path`` is either the old file or the whole new one, never partial.

``curl -C -`` and ``wget -c`` send no If-Range, so when the file changed
between attempts they append the new file's tail to the old file's head.

If-Range needs a strong validator (§13.1.5): a strong ETag, or a
Last-Modified at least one second older than the response's Date
(§8.8.2.2).  With only a weak ETag there is nothing safe to send, so a
resume restarts from zero.

The decisions live in :class:`DownloadJob` (no network I/O) and the loop in
:func:`download_flow`, a flow of steps (:mod:`ifmatch.client._flow`) that
:func:`download` drives with an ``httpx.Client`` or ``httpx2.Client`` and
:func:`adownload` with either library's ``AsyncClient``.  Transport errors (a
dropped connection, a timeout, a body shorter than announced) are retried by
resuming, ``retries`` times, and counted in :class:`DownloadResult`; an
exception from the progress callback is not retried, and leaves the part
and its sidecar for the next call.
"""

from __future__ import annotations

import contextlib
import enum
import json
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from http import HTTPStatus
from pathlib import Path
from typing import IO, TYPE_CHECKING

from ifmatch.client._flow import Chunk, Flow, Open, Sleep, adrive, drive
from ifmatch.client.errors import DownloadError as DownloadError
from ifmatch.client.httpx_compat import errors
from ifmatch.dates import parse_http_date
from ifmatch.errors import HeaderParseError
from ifmatch.etag import strong_etag

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

if TYPE_CHECKING:
    from ifmatch.client.httpx_compat import AsyncClient, Client, Headers

Progress = Callable[[int, int | None], object]
_CONTENT_RANGE_RE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)", re.ASCII)
_UNSATISFIED_RE = re.compile(r"bytes \*/(\d+)", re.ASCII)
_MAX_REQUESTS = 1000
CHUNK_SIZE = 64 * 1024


class BodyCutShortError(Exception):
    """A body ended before the bytes its headers announced: resumed like a dropped connection."""


@dataclass(frozen=True, slots=True)
class Sidecar:
    """What ``path.part.json`` records about ``path.part``."""

    url: str
    etag: str | None = None
    last_modified: str | None = None
    date: str | None = None
    total: int | None = None

    def if_range(self) -> str | None:
        """The If-Range value to resume with, or ``None`` when no strong validator exists."""
        tag = strong_etag(self.etag)
        if tag is not None:
            return str(tag)
        if self.last_modified is None or self.date is None:
            return None
        try:
            modified, date = parse_http_date(self.last_modified), parse_http_date(self.date)
        except HeaderParseError:
            return None
        return self.last_modified if (date - modified).total_seconds() >= 1 else None


class PartAction(enum.Enum):
    """What a response means for the part file."""

    APPEND = "append"  # a 206 continuing the part: append its body
    RESTART = "restart"  # a 200: truncate the part, write the body from zero
    COMPLETE = "complete"  # the part already holds the whole file
    RETRY_FROM_ZERO = "retry"  # the part cannot be continued: drop it and ask again


@dataclass(frozen=True, slots=True)
class DownloadResult:
    """What a finished download did, in this call.

    ``size`` is the file's length; ``requests`` how many GETs were sent;
    ``resumes`` how many of them continued the part instead of starting from
    zero (a part left by an earlier call, or a connection dropped during this
    one), ``resumed_from`` the byte the first of those continued at (0 when
    none did); ``restarted`` is ``True`` when bytes already there had to be
    thrown away because the file changed (then ``resumes`` and
    ``resumed_from`` count only from that restart on); ``received`` is how
    many body bytes arrived in this call.
    """

    path: Path
    size: int
    resumed_from: int
    restarted: bool
    etag: str | None
    requests: int
    resumes: int = 0
    received: int = 0

    def summary(self) -> str:
        """``"3000000 bytes; resumed 2 times, first at byte 1000000; 2000000 received"``."""
        parts = [f"{self.size} bytes"]
        if self.restarted:
            parts.append("restarted from zero: the file changed on the server (If-Range)")
        if self.resumes == 1:
            parts.append(f"resumed at byte {self.resumed_from}")
        elif self.resumes > 1:
            parts.append(f"resumed {self.resumes} times, first at byte {self.resumed_from}")
        if self.resumes or self.restarted:
            parts.append(f"{self.received} bytes received in {self.requests} requests")
        return "; ".join(parts)


class DownloadJob:
    """The state of one download: its part file, its sidecar, and every decision.

    Methods take status codes and headers, never sockets, so the sync and
    async drivers share them.
    """

    def __init__(self, url: str, path: str | Path) -> None:
        self.url = url
        self.path = Path(path)
        self.part = self.path.with_name(self.path.name + ".part")
        self.meta = self.path.with_name(self.path.name + ".part.json")
        self.sidecar: Sidecar | None = None
        self.offset = 0
        self.restarted = False
        self.resumes = 0
        self.resumed_from = 0
        self.received = 0
        self.expected_stop: int | None = None
        self._file: IO[bytes] | None = None
        self._load()

    # -- state on disk ------------------------------------------------------

    def _load(self) -> None:
        try:
            raw = json.loads(self.meta.read_text())
            sidecar = Sidecar(**raw)
        except (OSError, ValueError, TypeError):
            sidecar = None
        size = self.part.stat().st_size if self.part.exists() else 0
        if sidecar is not None and sidecar.url == self.url and size > 0:
            self.sidecar, self.offset = sidecar, size
        else:
            self.sidecar, self.offset = None, 0

    def _save_sidecar(self, sidecar: Sidecar) -> None:
        self.sidecar = sidecar
        temporary = self.meta.with_name(self.meta.name + ".tmp")
        temporary.write_text(json.dumps(asdict(sidecar)))
        os.replace(temporary, self.meta)

    # -- decisions ----------------------------------------------------------

    def request_headers(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """Headers for the next request: Range + If-Range when the part can be continued."""
        headers = {**(extra or {}), "Accept-Encoding": "identity"}
        validator = self.sidecar.if_range() if self.sidecar is not None else None
        if self.offset > 0 and validator is not None:
            headers["Range"] = f"bytes={self.offset}-"
            headers["If-Range"] = validator
        elif self.offset > 0:
            self._restart()
        return headers

    def _restart(self) -> None:
        """Bytes already there are thrown away: resumes count again from zero."""
        self.restarted = True
        self.offset = 0
        self.resumes = 0
        self.resumed_from = 0

    def _resumed(self) -> None:
        if self.resumes == 0:
            self.resumed_from = self.offset
        self.resumes += 1

    def on_response(self, status: int, headers: Headers) -> PartAction:
        """Decide what the response means for the part file (raises DownloadError)."""
        if status == 206:
            return self._on_partial(headers)
        if status == 200:
            self._start_over(headers)
            return PartAction.RESTART
        if status == 416 and self.offset > 0:
            match = _UNSATISFIED_RE.fullmatch(headers.get("content-range", "").strip())
            total = int(match.group(1)) if match else None
            known = self.sidecar.total if self.sidecar else None
            if total is not None and total == self.offset and known in (None, total):
                self._resumed()
                return PartAction.COMPLETE
            return self._drop_part()
        raise DownloadError(f"{self.url}: HTTP {status} {_reason(status)}".rstrip())

    def _on_partial(self, headers: Headers) -> PartAction:
        if self.offset == 0 or self.sidecar is None:
            raise DownloadError(f"{self.url}: 206 Partial Content to a request without Range")
        match = _CONTENT_RANGE_RE.fullmatch(headers.get("content-range", "").strip())
        if match is None:
            return self._drop_part()  # multipart or malformed: not something we can append
        if headers.get("content-encoding", "identity").strip().lower() not in {"identity", ""}:
            return self._drop_part()  # we asked for identity: coded bytes are not the file's
        first, last = int(match.group(1)), int(match.group(2))
        total = None if match.group(3) == "*" else int(match.group(3))
        known = self.sidecar.total
        consistent = (
            first == self.offset
            and last >= first
            and (total is None or last < total)
            and (known is None or total is None or total == known)
            and self._same_validator(headers)
        )
        if not consistent:
            return self._drop_part()
        self.expected_stop = last + 1
        self._resumed()
        if total is not None and known is None:
            self._save_sidecar(Sidecar(**{**asdict(self.sidecar), "total": total}))
        return PartAction.APPEND

    def _same_validator(self, headers: Headers) -> bool:
        """A 206 that names a different ETag or Last-Modified is from another file.

        So is one without the ETag we resumed with: a 206 carries the ETag
        a 200 would (RFC 9110 §15.3.7), and a server that ignores If-Range
        and sends a bare 206 of a changed file must not get it spliced.
        """
        assert self.sidecar is not None
        etag, modified = headers.get("etag"), headers.get("last-modified")
        if self.sidecar.etag is not None and etag != self.sidecar.etag:
            return False
        return not (
            modified is not None
            and self.sidecar.last_modified is not None
            and modified != self.sidecar.last_modified
        )

    def _start_over(self, headers: Headers) -> None:
        if self.offset > 0:
            self._restart()
        length = headers.get("content-length")
        encoded = headers.get("content-encoding", "identity").lower() not in {"identity", ""}
        self.expected_stop = int(length) if length and length.isdigit() and not encoded else None
        self._save_sidecar(
            Sidecar(
                self.url,
                # An encoded body's bytes are not the file's: no ranges into it later.
                etag=None if encoded else headers.get("etag"),
                last_modified=None if encoded else headers.get("last-modified"),
                date=headers.get("date"),
                total=self.expected_stop,
            )
        )

    def _drop_part(self) -> PartAction:
        self._restart()
        self.sidecar = None
        with contextlib.suppress(FileNotFoundError):
            self.meta.unlink()
        with contextlib.suppress(FileNotFoundError):
            self.part.unlink()
        return PartAction.RETRY_FROM_ZERO

    # -- the part file --------------------------------------------------------

    def open(self, action: PartAction) -> None:
        """Open the part for appending (APPEND) or truncated (RESTART), locked."""
        self.close()
        # Lock before truncating, so a second download of the same path cannot
        # wipe the part the first one is writing.
        handle = self.part.open("ab")
        if fcntl is not None:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                handle.close()
                raise DownloadError(f"{self.part}: another download is writing it") from None
        if action is not PartAction.APPEND:
            handle.truncate(0)
        self._file = handle

    def write(self, chunk: bytes) -> None:
        """Append a chunk of the body; refuses bytes beyond what Content-Range announced."""
        assert self._file is not None
        if self.expected_stop is not None and self.offset + len(chunk) > self.expected_stop:
            raise DownloadError(f"{self.url}: the server sent more bytes than it announced")
        self._file.write(chunk)
        self.offset += len(chunk)
        self.received += len(chunk)

    def close(self) -> None:
        """Flush and close the part file (kept on disk)."""
        if self._file is not None:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            self._file = None

    @property
    def total(self) -> int | None:
        """The full file size, when known."""
        return self.sidecar.total if self.sidecar is not None else None

    def body_finished(self) -> bool:
        """After a body ended: True if the file is whole, False if more must be requested."""
        self.close()
        if self.expected_stop is not None and self.offset < self.expected_stop:
            raise BodyCutShortError(
                f"body ended at byte {self.offset}, {self.expected_stop} announced"
            )
        return self.total is None or self.offset >= self.total

    def finish(self, requests: int) -> DownloadResult:
        """Move the complete part into place atomically and forget the sidecar."""
        self.close()
        if not self.part.exists():
            self.part.touch()
        os.replace(self.part, self.path)
        _fsync_directory(self.path.parent)
        with contextlib.suppress(FileNotFoundError):
            self.meta.unlink()
        etag = self.sidecar.etag if self.sidecar is not None else None
        return DownloadResult(
            self.path,
            self.offset,
            self.resumed_from,
            self.restarted,
            etag,
            requests,
            self.resumes,
            self.received,
        )


def _fsync_directory(directory: Path) -> None:
    with contextlib.suppress(OSError):
        descriptor = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)


def _pause(delay: float, failures: int) -> float:
    return float(min(delay * 2 ** (failures - 1), 5.0))


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def download_flow(
    url: str,
    path: str | Path,
    *,
    progress: Progress | None = None,
    retries: int = 3,
    headers: Mapping[str, str] | None = None,
    chunk_size: int = CHUNK_SIZE,
    retry_delay: float = 0.2,
) -> Flow[DownloadResult]:
    """The download as steps: open, decide, write chunks, resume after a failure."""
    job = DownloadJob(url, path)
    failures = 0
    for requests in range(1, _MAX_REQUESTS + 1):
        try:
            response = yield Open("GET", url, job.request_headers(headers), chunk_size)
            action = job.on_response(response.status_code, response.headers)
            if action is PartAction.COMPLETE:
                return job.finish(requests)
            if action is PartAction.RETRY_FROM_ZERO:
                continue
            job.open(action)
            if progress is not None:
                progress(job.offset, job.total)
            while chunk := (yield Chunk()):
                job.write(chunk)
                if progress is not None:
                    progress(job.offset, job.total)
            if job.body_finished():
                return job.finish(requests)
        except _resumable() as error:
            job.close()
            failures += 1
            if failures > retries:
                raise _failure(url, error, job) from error
            yield Sleep(_pause(retry_delay, failures))
        finally:
            job.close()
    raise DownloadError(f"{url}: gave up after {_MAX_REQUESTS} requests")


def download(
    client: Client,
    url: str,
    path: str | Path,
    *,
    progress: Progress | None = None,
    retries: int = 3,
    headers: Mapping[str, str] | None = None,
    chunk_size: int = CHUNK_SIZE,
    retry_delay: float = 0.2,
) -> DownloadResult:
    """Download ``url`` to ``path``, resuming a previous ``path.part`` safely (see module doc).

    ``progress(done, total)`` is called as bytes arrive (``total`` may be
    ``None``).  Transport errors resume up to ``retries`` times, waiting
    ``retry_delay`` seconds doubled at each failure (at most 5 s), before
    :class:`DownloadError` is raised; the part is kept for a later call.
    """
    flow = download_flow(
        url,
        path,
        progress=progress,
        retries=retries,
        headers=headers,
        chunk_size=chunk_size,
        retry_delay=retry_delay,
    )
    return drive(flow, client)


async def adownload(
    client: AsyncClient,
    url: str,
    path: str | Path,
    *,
    progress: Progress | None = None,
    retries: int = 3,
    headers: Mapping[str, str] | None = None,
    chunk_size: int = CHUNK_SIZE,
    retry_delay: float = 0.2,
) -> DownloadResult:
    """:func:`download` for an ``AsyncClient`` (file writes are plain blocking writes)."""
    flow = download_flow(
        url,
        path,
        progress=progress,
        retries=retries,
        headers=headers,
        chunk_size=chunk_size,
        retry_delay=retry_delay,
    )
    return await adrive(flow, client)


def _resumable() -> tuple[type[Exception], ...]:
    """What a download resumes after: a body cut short, any transport error of either library."""
    return (BodyCutShortError, *errors("TransportError"))


def _describe(error: Exception) -> str:
    text = str(error) or type(error).__name__
    if isinstance(error, errors("ConnectError")):
        return f"cannot connect ({text})"
    if isinstance(error, errors("TimeoutException")):
        return f"timed out ({text})"
    return f"connection lost ({text})"


def _failure(url: str, error: Exception, job: DownloadJob) -> DownloadError:
    kept = (
        f"; {job.part} kept, run again to resume"
        if job.part.exists() and job.part.stat().st_size
        else ""
    )
    return DownloadError(f"{url}: {_describe(error)}{kept}")
