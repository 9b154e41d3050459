"""Collection pages: ``GET /api/{collection}?limit=N&cursor=C``.

A page is at most ``limit`` members of a collection in name order, after the
member the cursor names (keyset paging: the store reads ``name > after ...
LIMIT limit + 1`` on its ``(space, name)`` index, so a page costs the same in
a collection of ten members or of a million).  When more members follow, the
page links to the next one (``Link: <...>; rel="next"``, RFC 8288 §3) and its
body says the same in ``"next"``.

The cursor is opaque to clients: the unpadded base64url (RFC 4648 §5) of the
last name of the previous page.  It stays valid when that member is deleted
(the next page simply starts after where it was).  Only canonical encodings of
a valid name are accepted, so every position has exactly one cursor, and a
cursor that was edited or truncated is a 400 rather than a page from somewhere.

The page's validator (RFC 9110 §8.8.3) is a digest of everything its
representation is made of: the collection's name, the limit, the id and
version of each member on it (a version is the space's counter at that
member's last write, so it names exactly one body and Last-Modified), and
whether a next page exists (the ``Link`` and ``"next"``).  The page's ETag
therefore changes exactly when its content does (a member on it replaced or
deleted, a member created within its span or, on a short last page, after
it) and stays the same when another page changes.  Computed from the stored
rows alone, it is the same on every worker and instance.  A page has no
Last-Modified: the latest write of its members says nothing about a member
that was deleted from it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ifmatch import ETag
from ifmatch.service._http import Problem, is_name

#: The most members one page may hold (a larger ``limit`` is a 400, not silently cut).
MAX_LIMIT = 1000
_LIMIT_DIGITS = len(str(MAX_LIMIT))
#: The longest cursor: a name of 128 characters, base64url without padding.
_MAX_CURSOR = 172


@dataclass(frozen=True, slots=True)
class PageQuery:
    """What a page request asks for: at most ``limit`` members after the name ``after``
    (``None``: from the start)."""

    limit: int
    after: str | None = None


def page_query(params: Iterable[tuple[str, str]]) -> PageQuery | None:
    """The page a query string asks for, or ``None`` for the whole listing (no ``limit``).

    Raises a 400 :class:`Problem` for a malformed or out-of-range ``limit``,
    a malformed ``cursor``, a repeated parameter, or a ``cursor`` without
    ``limit``.  Other parameters are ignored, as they always were.
    """
    limits: list[str] = []
    cursors: list[str] = []
    for name, value in params:
        if name == "limit":
            limits.append(value)
        elif name == "cursor":
            cursors.append(value)
    if len(limits) > 1 or len(cursors) > 1:
        raise Problem(400, "limit and cursor may each be given once")
    if not limits:
        if cursors:
            raise Problem(
                400,
                'a cursor needs a limit: follow the Link rel="next" of a page as it is',
            )
        return None
    limit = parse_limit(limits[0])
    return PageQuery(limit, decode_cursor(cursors[0]) if cursors else None)


def parse_limit(value: str) -> int:
    """``limit``: a whole number of members per page, 1 to :data:`MAX_LIMIT`."""
    digits = value.lstrip("0") if value.isascii() and value.isdigit() else "x"
    if len(digits) > _LIMIT_DIGITS or not digits.isdigit() or not 1 <= int(digits) <= MAX_LIMIT:
        raise Problem(
            400,
            f"invalid limit {value[:20]!r}: a whole number of members per page,"
            f" from 1 to {MAX_LIMIT}",
            max_limit=MAX_LIMIT,
        )
    return int(digits)


def encode_cursor(name: str) -> str:
    """The cursor of the page that starts after ``name``."""
    return base64.urlsafe_b64encode(name.encode("ascii")).rstrip(b"=").decode("ascii")


def decode_cursor(cursor: str) -> str:
    """The name a cursor of :func:`encode_cursor` stands for (a 400 for anything else)."""
    name = None
    if cursor.isascii() and 0 < len(cursor) <= _MAX_CURSOR:
        padded = cursor + "=" * (-len(cursor) % 4)
        try:
            raw = base64.b64decode(padded, altchars=b"-_", validate=True)
            name = raw.decode("ascii")
        except (binascii.Error, ValueError):
            name = None
    if name is None or not is_name(name) or encode_cursor(name) != cursor:
        raise Problem(
            400,
            'invalid cursor: use the cursor of a page\'s Link rel="next" unchanged',
        )
    return name


def next_target(path: str, limit: int, last: str) -> str:
    """The URI reference of the page after the one that ends with ``last`` (``path``:
    the collection's path, already percent-encoded)."""
    return f"{path}?limit={limit}&cursor={encode_cursor(last)}"


def page_etag(collection: str, limit: int, members: Sequence[tuple[str, int]], more: bool) -> ETag:
    """The page's strong ETag: a digest of its collection, limit, members' ids and
    versions, and whether more follow (all its representation is made of)."""
    digest = hashlib.sha256(f"{collection}\n{limit}\n{int(more)}\n".encode())
    for name, version in members:
        digest.update(f"{name} {version}\n".encode())
    return ETag("p" + digest.hexdigest()[:32])
