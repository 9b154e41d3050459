"""The auditor's HTTP side: send one request, keep what came back, describe it.

Requests go through a synchronous :class:`httpx.Client`.  Bodies are kept as
the raw bytes on the wire (``iter_raw``), not decoded, because two of the
checks are about bytes: a strong ETag must change with the content coding
(RFC 9110 §8.8.3) and a 206 must carry exactly the requested slice (§14.4).
Every probe asks for ``Accept-Encoding: identity`` unless it is testing
compression, so that ranges and ETags refer to one representation.

Errors from the network become :class:`AuditError` with a one-line message:
the command line prints it and exits 2, never a traceback.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import httpx

#: Largest body the auditor reads; the range checks need the whole representation.
MAX_BODY = 32 * 1024 * 1024


class AuditError(Exception):
    """The audit could not run (bad URL, connection refused, timeout, oversize body)."""


@dataclass(frozen=True, slots=True)
class Exchange:
    """One request the auditor sent and the response it got."""

    method: str
    sent: tuple[tuple[str, str], ...]
    status: int
    headers: httpx.Headers
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
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url = url
        self.timeout = timeout
        try:
            parsed = httpx.URL(url)
        except httpx.InvalidURL as error:
            raise AuditError(f"invalid URL {url!r}: {error}") from None
        if parsed.scheme not in {"http", "https"} or not parsed.host:
            raise AuditError(f"not an http(s) URL: {url!r}")
        self._client = httpx.Client(
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
        request = self._client.build_request(method, self.url, content=content)
        request.headers["Accept-Encoding"] = accept_encoding
        for name, value in [*sent, *(extra or {}).items()]:
            request.headers[name] = value
        try:
            response = self._client.send(request, stream=True)
            try:
                body = self._read(response)
            finally:
                response.close()
        except httpx.TimeoutException:
            raise AuditError(f"{method} {self.url}: timed out after {self.timeout:g}s") from None
        except httpx.ConnectError as error:
            raise AuditError(f"{method} {self.url}: cannot connect: {error}") from None
        except httpx.HTTPError as error:
            raise AuditError(f"{method} {self.url}: {type(error).__name__}: {error}") from None
        return Exchange(method, sent, response.status_code, response.headers, body)

    @staticmethod
    def _read(response: httpx.Response) -> bytes:
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_raw():
            size += len(chunk)
            if size > MAX_BODY:
                raise AuditError(f"the response body is larger than {MAX_BODY} bytes")
            chunks.append(chunk)
        return b"".join(chunks)
