"""Headers of a 304 Not Modified response (RFC 9110 §15.4.5).

    The server generating a 304 response MUST generate any of the following
    header fields that would have been sent in a 200 (OK) response to the
    same request: Content-Location, Date, ETag, and Vary; Cache-Control and
    Expires (see [CACHING]).

    [...] a sender SHOULD NOT generate representation metadata other than
    the above listed fields unless said metadata exists for the purpose of
    guiding cache updates (e.g., Last-Modified might be useful if the
    response does not have an ETag field).

So those six are kept, Last-Modified is kept only without an ETag, the
representation metadata and framing fields are dropped, and every other
field (Set-Cookie, CORS, request ids) is left alone: dropping them would
break things that have nothing to do with the body.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeVar

_DROPPED = frozenset(
    {
        "content-type",
        "content-length",
        "content-encoding",
        "content-language",
        "content-range",
        "content-md5",
        "content-digest",
        "repr-digest",
        "digest",
        "transfer-encoding",
        "accept-ranges",
        "trailer",
    }
)

Name = TypeVar("Name", str, bytes)


def not_modified_headers(headers: Iterable[tuple[Name, Name]]) -> list[tuple[Name, Name]]:
    """The headers of the 200 that would have been sent, reduced to those of its 304.

    Names and values may be ``str`` or ``bytes`` (ASGI); order is kept.

    >>> not_modified_headers([("ETag", '"a"'), ("Content-Type", "text/plain"),
    ...                       ("Last-Modified", "Sun, 06 Nov 1994 08:49:37 GMT")])
    [('ETag', '"a"')]
    """
    pairs = list(headers)
    names = {_lower(name) for name, _ in pairs}
    has_etag = "etag" in names
    kept: list[tuple[Name, Name]] = []
    for name, value in pairs:
        lowered = _lower(name)
        if lowered in _DROPPED or (lowered == "last-modified" and has_etag):
            continue
        kept.append((name, value))
    return kept


def _lower(name: str | bytes) -> str:
    return (name.decode("latin-1") if isinstance(name, bytes) else name).lower()
