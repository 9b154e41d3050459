"""The auditor's HTTP side: send one request, keep what came back, describe it.

Requests go through a synchronous ``Client`` of httpx, or of httpx2 (the
library of the ``transport`` passed in, else ``$IFMATCH_HTTP``, else httpx:
:mod:`ifmatch.client.httpx_compat`).  Bodies are kept as
the raw bytes on the wire (``iter_raw``), not decoded, because two of the
checks are about bytes: a strong ETag must change with the content coding
(RFC 9110 §8.8.3) and a 206 must carry exactly the requested slice (§14.4).
Every probe asks for ``Accept-Encoding: identity`` unless it is testing
compression, so that ranges and ETags refer to one representation.

Every request says ``Connection: close``: a server that sends a body after
a 304 (or a HEAD response) would otherwise leave bytes on a kept-alive
connection that the next probe's response parser trips over.  A client
library cannot see such a body at all (it ends a 304 at its header), so
:meth:`Target.raw_body` replays a request over a plain socket and returns
whatever followed the header block.

Errors from the network become :class:`AuditError` with a one-line message:
the command line prints it and exits 2, never a traceback.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ifmatch.client.httpx_compat import default_library, errors, library_of

if TYPE_CHECKING:
    from ifmatch.client.httpx_compat import Headers, Request, Response

#: Largest body the auditor reads; the range checks need the whole representation.
MAX_BODY = 32 * 1024 * 1024
#: Most bytes :meth:`Target.raw_body` reads, and how long it waits once the head arrived.
_RAW_LIMIT = 64 * 1024
_RAW_LINGER = 1.0


class AuditError(Exception):
    """The audit could not run (bad URL, connection refused, timeout, oversize body)."""


@dataclass(frozen=True, slots=True)
class Exchange:
    """One request the auditor sent and the response it got."""

    method: str
    sent: tuple[tuple[str, str], ...]
    status: int
    headers: Headers
    body: bytes

    def header(self, name: str) -> str | None:
        """A response field's value, or ``None``; repeated fields are joined with ``, ``."""
        value: str | None = self.headers.get(name)
        return value

    def describe(self) -> str:
        """``GET If-None-Match: "v1" -> 200 (123 bytes)``: the evidence for a finding."""
        fields = "".join(f" {name}: {value}" for name, value in self.sent)
        return f"{self.method}{fields} -> {self.status} ({len(self.body)} bytes)"


class Target:
    """The URL under audit, with the caller's headers, token, timeout and transport."""

    def __init__(
        self,
        url: str,
        *,
        headers: Iterable[tuple[str, str]] = (),
        timeout: float = 10.0,
        verify: bool = True,
        transport: Any = None,
    ) -> None:
        self.url = url
        self.timeout = timeout
        self._transport, self._verify = transport, verify
        library = default_library() if transport is None else library_of(transport)
        try:
            parsed = library.URL(url)
        except errors("InvalidURL") as error:
            raise AuditError(f"invalid URL {url!r}: {error}") from None
        if parsed.scheme not in {"http", "https"} or not parsed.host:
            raise AuditError(f"not an http(s) URL: {url!r}")
        self._client = library.Client(
            headers=list(headers),
            timeout=timeout,
            verify=verify,
            transport=transport,
            follow_redirects=False,
        )

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()

    def send(
        self,
        method: str,
        headers: Iterable[tuple[str, str]] = (),
        *,
        content: bytes | None = None,
        accept_encoding: str = "identity",
        extra: Mapping[str, str] | None = None,
    ) -> Exchange:
        """Send ``method`` with ``headers`` (reported as evidence) and ``extra`` (not reported).

        ``extra`` is for fields that are plumbing rather than the point of
        the probe, such as the Content-Type of a written-back body.
        """
        sent = tuple(headers)
        request = self._build(method, sent, content, accept_encoding, extra)
        try:
            response = self._client.send(request, stream=True)
            try:
                body = self._read(response)
            finally:
                response.close()
        except errors("TimeoutException"):
            raise AuditError(f"{method} {self.url}: timed out after {self.timeout:g}s") from None
        except errors("ConnectError") as error:
            raise AuditError(f"{method} {self.url}: cannot connect: {error}") from None
        except errors("HTTPError") as error:
            raise AuditError(f"{method} {self.url}: {type(error).__name__}: {error}") from None
        return Exchange(method, sent, response.status_code, response.headers, body)

    def _build(
        self,
        method: str,
        sent: Iterable[tuple[str, str]],
        content: bytes | None = None,
        accept_encoding: str = "identity",
        extra: Mapping[str, str] | None = None,
    ) -> Request:
        request: Request = self._client.build_request(method, self.url, content=content)
        request.headers["Accept-Encoding"] = accept_encoding
        for name, value in [*sent, *(extra or {}).items()]:
            request.headers[name] = value
        request.headers["Connection"] = "close"
        return request

    def raw_body(self, exchange: Exchange) -> bytes | None:
        """The bytes after the header block when ``exchange``'s request is sent again.

        For responses that cannot have a body (304, HEAD): a client library
        stops reading at their header, so only the socket shows the bytes a
        server sends anyway.  ``None`` when the target is not a real socket
        (an in-process transport), cannot be reached, or answers another status.
        """
        if self._transport is not None:
            return None
        request = self._build(exchange.method, exchange.sent)
        url = request.url
        target = url.raw_path.decode("ascii")
        lines = [f"{request.method} {target} HTTP/1.1".encode()]
        lines += [name + b": " + value for name, value in request.headers.raw]
        data = b"\r\n".join(lines) + b"\r\n\r\n"
        port = url.port or (443 if url.scheme == "https" else 80)
        received = b""
        try:
            with socket.create_connection((url.host, port), timeout=self.timeout) as plain:
                sock = plain
                if url.scheme == "https":
                    context = ssl.create_default_context()
                    if not self._verify:
                        context.check_hostname = False
                        context.verify_mode = ssl.CERT_NONE
                    sock = context.wrap_socket(plain, server_hostname=url.host)
                sock.sendall(data)
                with contextlib.suppress(TimeoutError, OSError):
                    while len(received) < _RAW_LIMIT:
                        chunk = sock.recv(_RAW_LIMIT)
                        if not chunk:
                            break
                        received += chunk
                        if b"\r\n\r\n" in received:
                            sock.settimeout(_RAW_LINGER)  # a server ignoring Connection: close
        except OSError:
            return None
        head, found, rest = received.partition(b"\r\n\r\n")
        status = head.split(b"\r\n", 1)[0].split(b" ")
        if not found or len(status) < 2 or status[1] != str(exchange.status).encode():
            return None
        return rest

    @staticmethod
    def _read(response: Response) -> bytes:
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_raw():
            size += len(chunk)
            if size > MAX_BODY:
                raise AuditError(f"the response body is larger than {MAX_BODY} bytes")
            chunks.append(chunk)
        return b"".join(chunks)
