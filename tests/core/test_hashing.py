"""ETag generation: weak tags from content hashes, strong tags from versions (RFC 9110 §8.8.3)."""

from __future__ import annotations

import hashlib
import re

import pytest
import xxhash

from ifmatch import ContentHasher, ETag, etag_for_content, etag_for_version
from ifmatch.hashing import DEFAULT_HEX_DIGITS

BODY = b'{"id": 42, "name": "answer"}' * 100


def test_default_is_weak_sha256_128_bits() -> None:
    tag = etag_for_content(BODY)
    assert tag.weak
    assert re.fullmatch(r"[0-9a-f]{32}", tag.opaque)
    assert tag.opaque == hashlib.sha256(BODY).hexdigest()[:32]
    assert DEFAULT_HEX_DIGITS * 4 >= 64
    assert str(tag) == f'W/"{tag.opaque}"'
    assert ETag.parse(str(tag)) == tag


def test_different_content_different_tag() -> None:
    assert etag_for_content(BODY) != etag_for_content(BODY + b" ")
    assert etag_for_content(b"") != etag_for_content(b"\x00")


@pytest.mark.parametrize(
    ("factory", "expected"),
    [
        pytest.param(xxhash.xxh3_128, xxhash.xxh3_128(BODY).hexdigest(), id="xxhash.xxh3_128"),
        pytest.param(hashlib.md5, hashlib.md5(BODY).hexdigest(), id="hashlib.md5"),
        pytest.param(hashlib.blake2b, hashlib.blake2b(BODY).hexdigest()[:32], id="blake2b"),
        pytest.param(xxhash.xxh64, xxhash.xxh64(BODY).hexdigest(), id="xxh64: exactly 64 bits"),
    ],
)
def test_pluggable_hash(factory: object, expected: str) -> None:
    tag = etag_for_content(BODY, hash_factory=factory)  # type: ignore[arg-type]
    assert tag == ETag(expected, weak=True)


def test_hash_below_64_bits_refused() -> None:
    with pytest.raises(ValueError, match="64"):
        etag_for_content(BODY, hash_factory=xxhash.xxh32)
    with pytest.raises(ValueError, match="64"):
        etag_for_content(BODY, digits=8)


def test_digits_option() -> None:
    assert len(etag_for_content(BODY, digits=64).opaque) == 64
    assert len(etag_for_content(BODY, digits=16).opaque) == 16


@pytest.mark.parametrize(
    "chunks",
    [
        pytest.param([BODY], id="one chunk"),
        pytest.param([BODY[:1], BODY[1:]], id="two chunks"),
        pytest.param([BODY[i : i + 7] for i in range(0, len(BODY), 7)], id="many chunks"),
        pytest.param([b"", BODY, b""], id="empty chunks"),
        pytest.param((c for c in [BODY[:100], BODY[100:]]), id="a generator"),
    ],
)
def test_chunked_equals_whole(chunks: list[bytes]) -> None:
    assert etag_for_content(chunks) == etag_for_content(BODY)


def test_incremental_hasher() -> None:
    hasher = ContentHasher(xxhash.xxh3_128)
    for index in range(0, len(BODY), 100):
        hasher.update(BODY[index : index + 100])
    assert hasher.etag() == etag_for_content(BODY, hash_factory=xxhash.xxh3_128)


def test_bytearray_and_memoryview() -> None:
    assert etag_for_content(bytearray(BODY)) == etag_for_content(BODY)
    assert etag_for_content(memoryview(BODY)) == etag_for_content(BODY)


@pytest.mark.parametrize(
    ("version", "prefix", "text"),
    [
        pytest.param(42, "v", '"v42"', id="§8.8.3 strong tag from an int version"),
        pytest.param(0, "v", '"v0"', id="version zero"),
        pytest.param("2026-01-01.3", "", '"2026-01-01.3"', id="token version, no prefix"),
    ],
)
def test_etag_for_version(version: int | str, prefix: str, text: str) -> None:
    tag = etag_for_version(version, prefix=prefix)
    assert not tag.weak
    assert str(tag) == text
    assert tag.strong_match(ETag.parse(text))


def test_etag_for_version_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="non-negative"):
        etag_for_version(-1)
    with pytest.raises(ValueError, match="entity-tag"):
        etag_for_version('a"b')
