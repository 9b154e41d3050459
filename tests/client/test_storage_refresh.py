"""After a 304, SQLite and Redis update an entry's headers in place (the body is not rewritten),
and fall back to storing it whole when the stored row is no longer the one revalidated."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from ifmatch.client import Entry, RedisStorage, SQLiteStorage
from tests.client.redis_server import redis_url, unique_prefix

URL = "http://h/x"


@pytest.fixture(scope="module")
def redis_base() -> Iterator[str]:
    with redis_url() as url:
        yield url


def _storage(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> Any:
    if kind == "sqlite":
        sqlite = SQLiteStorage(tmp_path / "c.sqlite")
        request.addfinalizer(sqlite.close)
        return sqlite
    redis = RedisStorage(request.getfixturevalue("redis_base"), prefix=unique_prefix())
    request.addfinalizer(redis.clear)
    return redis


def _entry(tag: str, body: bytes, stored_at: float) -> Entry:
    return Entry(
        200,
        (("ETag", '"a"'), ("X-Tag", tag)),
        body,
        stored_at=stored_at,
        request_time=stored_at,
        expires_at=time.time() + 60,
    )


@pytest.mark.parametrize("kind", ["sqlite", "redis"])
def test_refresh_updates_headers_and_keeps_the_body(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    storage = _storage(kind, tmp_path, request)
    storage.store(URL, _entry("1", b"body", 1000.0))
    (previous,) = storage.variants(URL)
    refreshed = replace(
        previous,
        headers=(("ETag", '"a"'), ("X-Tag", "2")),
        stored_at=2000.0,
        request_time=1999.0,
        expires_at=time.time() + 120,
    )
    storage.refresh(URL, refreshed, previous)
    (now,) = storage.variants(URL)
    assert (now.body, now.header("x-tag"), now.stored_at) == (b"body", "2", 2000.0)
    assert now.expires_at == refreshed.expires_at
    assert storage.used_bytes == refreshed.size or kind == "sqlite"


@pytest.mark.parametrize("kind", ["sqlite", "redis"])
def test_refresh_of_a_replaced_entry_stores_it_whole(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    storage = _storage(kind, tmp_path, request)
    storage.store(URL, _entry("1", b"old body", 1000.0))
    (previous,) = storage.variants(URL)
    storage.store(URL, _entry("other", b"another process's body", 1500.0))
    refreshed = replace(previous, headers=(("ETag", '"a"'), ("X-Tag", "2")), stored_at=2000.0)
    storage.refresh(URL, refreshed, previous)
    (now,) = storage.variants(URL)
    assert (now.body, now.header("x-tag")) == (b"old body", "2"), "never old headers on a new body"
