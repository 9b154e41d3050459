"""Validators made from content or from a version number.

A weak ETag from a content hash suits generated representations (JSON from a
view), where equal bytes mean equal content but a re-encoding may change
bytes without changing meaning.  A strong ETag from a version suits stored
resources whose version column changes on every write.

The hash is pluggable: anything with hashlib's ``update``/``hexdigest``
interface works, e.g. ``xxhash.xxh3_128`` for speed.  SHA-256 is the default
because it needs nothing outside the standard library.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Protocol

from ifmatch.etag import ETag

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

#: Hex digits kept from the digest: 32 hex digits are 128 bits, well above the
#: 64 bits below which accidental collisions between versions become plausible.
DEFAULT_HEX_DIGITS = 32
MIN_HEX_DIGITS = 16


class Hash(Protocol):
    """The part of hashlib's interface that ETag generation uses."""

    def update(self, data: bytes, /) -> None: ...

    def hexdigest(self) -> str: ...


HashFactory = Callable[[], Hash]


def weak_etag(opaque: str) -> str:
    """``W/"<opaque>"``: the field value of a weak tag whose opaque part is already valid.

    The one place a hashed body's tag is spelled out (the middleware's hot
    paths skip :class:`~ifmatch.ETag`'s validation: hex digits are always
    ``etagc``, §8.8.3).

    >>> weak_etag("3f2a")
    'W/"3f2a"'
    """
    return f'W/"{opaque}"'  # an f-string: str.format parses its template on every call


def weak_etag_bytes(opaque: str) -> bytes:
    """:func:`weak_etag` as the bytes an ASGI header carries."""
    return f'W/"{opaque}"'.encode("ascii")  # no nested call: the middleware's hot path


def _sha256() -> Hash:
    return hashlib.sha256()


class ContentHasher:
    """Feeds chunks of a body to a hash and yields a weak ETag at the end.

    Middleware that streams a body uses this so the body is hashed as it
    passes, without holding it twice.
    """

    def __init__(self, hash_factory: HashFactory = _sha256, digits: int = DEFAULT_HEX_DIGITS):
        if digits < MIN_HEX_DIGITS:
            raise ValueError(f"an ETag hash needs at least {MIN_HEX_DIGITS} hex digits (64 bits)")
        self._hash = hash_factory()
        self._digits = digits

    def update(self, chunk: bytes) -> None:
        """Add the next chunk of the body."""
        self._hash.update(chunk)

    def etag(self) -> ETag:
        """The weak ETag ``W/"<hex>"`` of everything fed so far."""
        digest = self._hash.hexdigest()
        if len(digest) < MIN_HEX_DIGITS:
            raise ValueError(f"the hash gives {len(digest) * 4} bits; an ETag needs 64 or more")
        return ETag(digest[: self._digits], weak=True)


def etag_for_content(
    content: bytes | bytearray | memoryview | Iterable[bytes],
    *,
    hash_factory: HashFactory = _sha256,
    digits: int = DEFAULT_HEX_DIGITS,
) -> ETag:
    """A weak ETag from the hash of a body, given whole or as chunks.

    >>> str(etag_for_content(b"{}"))
    'W/"44136fa355b3678a1146ad16f7e8649e"'
    """
    hasher = ContentHasher(hash_factory, digits)
    if isinstance(content, bytes | bytearray | memoryview):
        hasher.update(bytes(content))
    else:
        for chunk in content:
            hasher.update(chunk)
    return hasher.etag()


def etag_for_version(version: int | str, *, prefix: str = "v") -> ETag:
    """A strong ETag from a version that changes on every write, e.g. ``"v42"``.

    Strong is right here: a new version is stored for every change of bytes.
    """
    if isinstance(version, int) and version < 0:
        raise ValueError("a version is a non-negative integer or a token")
    return ETag(f"{prefix}{version}")


def etag_for_timestamp(moment: datetime, *, prefix: str = "t") -> ETag:
    """A strong ETag from an ``updated_at`` timestamp, exact to the microsecond.

    For rows that keep a modification time but no version: two writes within
    one second still get different tags (a Last-Modified date could not tell
    them apart).  A naive datetime is taken as UTC; no float on the way.

    >>> from datetime import UTC, datetime
    >>> str(etag_for_timestamp(datetime(1970, 1, 1, 0, 0, 1, 5, tzinfo=UTC)))
    '"t1000005"'
    """
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    delta = moment - _EPOCH
    return ETag(f"{prefix}{(delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds}")


# -- files ------------------------------------------------------------------------------------


def stat_etag(size: int, mtime_ns: int) -> ETag:
    """A strong ETag from size and nanosecond mtime: 128 bits of BLAKE2b, no inode, no path."""
    digest = hashlib.blake2b(f"{size}:{mtime_ns}".encode(), digest_size=16).hexdigest()
    return ETag(digest)


def content_etag(content: bytes) -> ETag:
    """A strong ETag from a file's bytes (SHA-256): equal on every server, whatever the mtime."""
    return ETag(f"c{hashlib.sha256(content).hexdigest()[:DEFAULT_HEX_DIGITS]}")
