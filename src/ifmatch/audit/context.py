"""What the probes share: the audit's state and how to send reads and writes.

A probe is a function ``(Audit) -> Finding``.  Earlier probes leave what
later ones need in the :class:`Audit` (the parsed ETag, whether it is stable,
whether ranges work, a 304 to inspect), so a probe that does not apply says
why in a ``skip`` finding instead of failing on a missing premise.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ifmatch.audit.exchange import Exchange, Target
from ifmatch.audit.findings import Finding
from ifmatch.errors import HeaderParseError
from ifmatch.etag import ETag


@dataclass(frozen=True, slots=True)
class WriteOptions:
    """How write probes write: the method, and the body to send (default: the current one)."""

    method: str = "PUT"
    body: bytes | None = None
    content_type: str | None = None


@dataclass
class Audit:
    """One audit's state: the target, the first GET, and what probes have learnt."""

    target: Target
    base: Exchange
    write: WriteOptions | None = None
    etag: ETag | None = None
    etag_problem: str | None = "no ETag"
    last_modified: str | None = None
    ranges: bool = False
    not_modified: Exchange | None = None
    inm_works: bool = False
    write_refused: str | None = None

    def get(self, *headers: tuple[str, str], accept_encoding: str = "identity") -> Exchange:
        """A GET with the given conditional headers."""
        return self.target.send("GET", headers, accept_encoding=accept_encoding)

    def current_etag(self) -> ETag | None:
        """The ETag a fresh GET returns now (writes change it)."""
        value = self.get().header("etag")
        try:
            return None if value is None else ETag.parse(value)
        except HeaderParseError:
            return None

    def send_write(self, *headers: tuple[str, str]) -> Exchange:
        """Write the body back with ``headers`` (the conditional fields under test)."""
        options = self.write or WriteOptions()
        body = self.base.body if options.body is None else options.body
        content_type = options.content_type or self.base.header("content-type")
        if options.method == "PATCH" and content_type and "json" in content_type:
            content_type = options.content_type or "application/merge-patch+json"
        extra = {"Content-Type": content_type} if content_type else {}
        return self.target.send(options.method, headers, content=body, extra=extra)


Probe = Callable[[Audit], Finding]


def succeeded(exchange: Exchange) -> bool:
    """A 2xx."""
    return 200 <= exchange.status < 300
