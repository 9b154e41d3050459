"""A stored response (:class:`Entry`), the value every cache storage keeps.

Pure data: no I/O, no httpx.  The freshness rules (:mod:`ifmatch.client.freshness`)
and the storages (:mod:`ifmatch.client.storage`, :mod:`ifmatch.client.redis_storage`)
share it.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field, replace

#: (lower-case request header name, its value or ``None`` if absent), in the order of Vary.
VaryValues = tuple[tuple[str, str | None], ...]


@dataclass(frozen=True, slots=True)
class Entry:
    """A stored response.  ``headers`` are (name, value) pairs as received, order kept.

    ``stored_at`` is the *response_time* and ``request_time`` the
    *request_time* of RFC 9111 §4.2.3 (seconds since the epoch): the age
    of the entry is computed from them.  ``expires_at`` is when a storage
    may forget the entry on its own (``None``: never); the transports set
    it from the entry's freshness and the time it stays useful stale.
    """

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes
    vary: VaryValues = ()
    stored_at: float = field(default_factory=time.time)
    request_time: float | None = None
    expires_at: float | None = None

    @property
    def variant(self) -> str:
        """The key that tells this variant apart from the URL's other variants."""
        return json.dumps(self.vary, separators=(",", ":")) if self.vary else ""

    @property
    def size(self) -> int:
        """Bytes this entry costs in a budget: body plus header text."""
        return len(self.body) + sum(len(name) + len(value) + 4 for name, value in self.headers)

    @property
    def sent_at(self) -> float:
        """The request_time of §4.2.3 (the response time when it was not recorded)."""
        return self.stored_at if self.request_time is None else self.request_time

    def with_headers(
        self,
        headers: tuple[tuple[str, str], ...],
        *,
        request_time: float | None = None,
        response_time: float | None = None,
    ) -> Entry:
        """The same entry with updated headers, re-stamped (after a 304 or a HEAD)."""
        now = time.time() if response_time is None else response_time
        return replace(
            self,
            headers=headers,
            stored_at=now,
            request_time=now if request_time is None else request_time,
        )

    def header(self, name: str) -> str | None:
        """The first value of ``name`` (case-insensitive), or ``None``."""
        lowered = name.lower()
        return next((value for key, value in self.headers if key.lower() == lowered), None)

    def to_json(self) -> str:
        """Everything but the body, as JSON (the storages keep the body as bytes beside it)."""
        return json.dumps(
            {
                "status": self.status,
                "headers": self.headers,
                "vary": self.vary,
                "stored_at": self.stored_at,
                "request_time": self.request_time,
                "expires_at": self.expires_at,
            }
        )

    @classmethod
    def from_json(cls, text: str | bytes, body: bytes) -> Entry:
        """Rebuild an entry from :meth:`to_json` and its body."""
        data = json.loads(text)
        return cls(
            status=int(data["status"]),
            headers=tuple((str(n), str(v)) for n, v in data["headers"]),
            body=body,
            vary=tuple((str(n), None if v is None else str(v)) for n, v in data["vary"]),
            stored_at=float(data["stored_at"]),
            request_time=None if data.get("request_time") is None else float(data["request_time"]),
            expires_at=None if data.get("expires_at") is None else float(data["expires_at"]),
        )
