"""Cache storages: the memory LRU's byte budget, and the SQLite file shared across processes."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from ifmatch.client import (
    CachingTransport,
    Entry,
    MemoryStorage,
    RedisStorage,
    SQLiteStorage,
    was_revalidated,
)
from tests.client.redis_server import redis_url, unique_prefix
from tests.client.support import Scripted


def entry(body: bytes, vary: tuple[tuple[str, str | None], ...] = ()) -> Entry:
    return Entry(200, (("etag", '"x"'),), body, vary)


def test_memory_lru_evicts_the_least_recently_used_within_the_budget() -> None:
    one = entry(b"a" * 400)
    storage = MemoryStorage(max_bytes=3 * one.size)
    for name in "abc":
        storage.store(f"http://h/{name}", entry(name.encode() * 400))
    storage.variants("http://h/a")  # a is now the most recently used
    storage.store("http://h/d", entry(b"d" * 400))
    assert [bool(storage.variants(f"http://h/{n}")) for n in "abcd"] == [True, False, True, True]
    assert storage.used_bytes <= storage.max_bytes


def test_memory_entry_over_budget_is_not_stored_and_evicts_nothing() -> None:
    storage = MemoryStorage(max_bytes=1000)
    storage.store("http://h/small", entry(b"s" * 100))
    storage.store("http://h/huge", entry(b"h" * 5000))
    assert storage.variants("http://h/huge") == []
    assert storage.variants("http://h/small") != []


def test_memory_replacing_a_variant_keeps_the_accounting_right() -> None:
    storage = MemoryStorage()
    for size in (100, 300, 50):
        storage.store("http://h/x", entry(b"x" * size))
    assert len(storage) == 1
    assert storage.used_bytes == entry(b"x" * 50).size


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_variants_are_kept_apart_and_removed_one_by_one(kind: str, tmp_path: Path) -> None:
    storage = MemoryStorage() if kind == "memory" else SQLiteStorage(tmp_path / "c.sqlite")
    english = entry(b"hello", (("accept-language", "en"),))
    french = entry(b"bonjour", (("accept-language", "fr"),))
    storage.store("http://h/x", english)
    storage.store("http://h/x", french)
    assert {e.body for e in storage.variants("http://h/x")} == {b"hello", b"bonjour"}
    storage.remove("http://h/x", french.variant)
    assert [e.body for e in storage.variants("http://h/x")] == [b"hello"]
    storage.remove("http://h/x")
    assert storage.variants("http://h/x") == []


def test_sqlite_survives_reopening(http: ModuleType, tmp_path: Path) -> None:
    path = tmp_path / "cache.sqlite"
    url = "http://example.test/doc"
    first = SQLiteStorage(path)
    with http.Client(
        transport=CachingTransport(
            Scripted(http.Response(200, headers={"ETag": '"a"'}, content=b"kept")), first
        )
    ) as client:
        client.get(url)
    first.close()
    reopened = SQLiteStorage(path)
    mock = Scripted(http.Response(304, headers={"ETag": '"a"'}))
    with http.Client(transport=CachingTransport(mock, reopened)) as client:
        response = client.get(url)
    reopened.close()
    assert response.content == b"kept"
    assert was_revalidated(response)
    assert mock.seen[0].headers["if-none-match"] == '"a"'


def test_sqlite_round_trips_entries_exactly(tmp_path: Path) -> None:
    storage = SQLiteStorage(tmp_path / "c.sqlite")
    original = Entry(
        200,
        (("ETag", '"a"'), ("X-Two", "1"), ("X-Two", "2")),
        bytes(range(256)),
        (("accept", None), ("accept-language", "en")),
    )
    storage.store("http://h/x", original)
    assert storage.variants("http://h/x") == [original]
    storage.close()


def test_sqlite_budget_evicts_the_least_recently_stored(tmp_path: Path) -> None:
    one = entry(b"a" * 1000)
    storage = SQLiteStorage(tmp_path / "c.sqlite", max_bytes=3 * one.size)
    for index, name in enumerate("abc"):
        storage.store(f"http://h/{name}", replace(entry(name.encode() * 1000), stored_at=index))
    revalidated = storage.variants("http://h/a")[0]
    storage.store("http://h/a", replace(revalidated, stored_at=10))  # what a 304 does
    storage.store("http://h/d", replace(entry(b"d" * 1000), stored_at=11))
    assert [bool(storage.variants(f"http://h/{n}")) for n in "abcd"] == [True, False, True, True]
    assert storage.used_bytes <= 3 * one.size
    storage.store("http://h/huge", entry(b"h" * 10_000))
    assert storage.variants("http://h/huge") == []
    assert len(storage) == 3
    storage.close()


def test_sqlite_from_threads(tmp_path: Path) -> None:
    storage = SQLiteStorage(tmp_path / "c.sqlite")

    def work(index: int) -> None:
        for n in range(20):
            storage.store(f"http://h/{index}/{n}", entry(b"%d" % n))
            assert storage.variants(f"http://h/{index}/{n}")

    # Futures, not bare threads: an assertion failing in a worker must fail the test.
    with ThreadPoolExecutor(4) as pool:
        for future in [pool.submit(work, index) for index in range(4)]:
            future.result(timeout=60)
    assert len(storage) == 80
    storage.close()


_WRITER = textwrap.dedent(
    """
    import sys
    from ifmatch.client import Entry, SQLiteStorage
    path, name = sys.argv[1], sys.argv[2]
    storage = SQLiteStorage(path)
    for n in range(150):
        storage.store(f"http://h/{name}/{n}", Entry(200, (("etag", '"x"'),), b"x" * 2000))
        storage.store("http://h/shared", Entry(200, (("etag", f'"{name}{n}"'),), name.encode()))
        assert storage.variants(f"http://h/{name}/{n}")
        assert len(storage.variants("http://h/shared")) == 1
    storage.close()
    """
)


def test_sqlite_is_safe_from_two_processes(tmp_path: Path) -> None:
    """Two processes write the same file at once: no 'database is locked', nothing lost."""
    path = tmp_path / "shared.sqlite"
    SQLiteStorage(path).close()
    processes = [
        subprocess.Popen([sys.executable, "-c", _WRITER, str(path), name], stderr=subprocess.PIPE)
        for name in ("p", "q")
    ]
    for process in processes:
        _, stderr = process.communicate(timeout=60)
        assert process.returncode == 0, stderr.decode()
    storage = SQLiteStorage(path)
    assert len(storage) == 301
    assert storage.variants("http://h/shared")[0].body in {b"p", b"q"}
    storage.close()


# -- every storage: expiry, byte budget, async methods -----------------------------------------


@pytest.fixture(scope="module")
def redis_base() -> Iterator[str]:
    with redis_url() as url:
        yield url


def any_storage(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest, max_bytes: int | None = None
) -> Any:
    if kind == "memory":
        return MemoryStorage(max_bytes=max_bytes or 64 * 1024 * 1024)
    if kind == "sqlite":
        sqlite = SQLiteStorage(tmp_path / "c.sqlite", max_bytes=max_bytes)
        request.addfinalizer(sqlite.close)
        return sqlite
    redis = RedisStorage(
        request.getfixturevalue("redis_base"), prefix=unique_prefix(), max_bytes=max_bytes
    )
    request.addfinalizer(redis.clear)
    return redis


KINDS = ["memory", "sqlite", "redis"]


@pytest.mark.parametrize("kind", KINDS)
def test_entries_expire_on_their_own(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    storage = any_storage(kind, tmp_path, request)
    now = time.time()
    storage.store("http://h/old", replace(entry(b"old"), expires_at=now - 1))
    storage.store("http://h/new", replace(entry(b"new"), expires_at=now + 60))
    assert storage.variants("http://h/old") == []
    assert [e.body for e in storage.variants("http://h/new")] == [b"new"]
    if kind == "redis":
        ttl = storage.client.pttl(storage._key("http://h/new", ""))
        assert 0 < ttl <= 60_000, "Redis itself forgets the entry"
    if kind == "sqlite":
        assert len(storage) == 1, "the expired row is deleted, not only skipped"


@pytest.mark.parametrize("kind", KINDS)
def test_the_byte_budget_holds(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    one = entry(b"x" * 1000)
    storage = any_storage(kind, tmp_path, request, max_bytes=3 * one.size + 10)
    for index in range(10):
        storage.store(f"http://h/{index}", replace(entry(b"x" * 1000), stored_at=1000 + index))
    assert storage.used_bytes <= storage.max_bytes
    assert [bool(storage.variants(f"http://h/{i}")) for i in range(10)] == [False] * 7 + [True] * 3
    storage.store("http://h/huge", entry(b"h" * 10_000))
    assert storage.variants("http://h/huge") == []
    assert storage.variants("http://h/9") != [], "an entry over the budget evicts nothing"


@pytest.mark.parametrize("kind", KINDS)
def test_async_methods_match_the_sync_ones(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    storage = any_storage(kind, tmp_path, request)
    english = entry(b"hello", (("accept-language", "en"),))
    french = entry(b"bonjour", (("accept-language", "fr"),))

    async def scenario() -> None:
        await storage.astore("http://h/x", english)
        await storage.astore("http://h/x", french)
        assert {e.body for e in await storage.avariants("http://h/x")} == {b"hello", b"bonjour"}
        await storage.aremove("http://h/x", french.variant)
        assert [e.body for e in await storage.avariants("http://h/x")] == [b"hello"]
        await storage.aremove("http://h/x")
        assert await storage.avariants("http://h/x") == []
        if kind == "redis":
            await storage.aclose()

    asyncio.run(scenario())


def test_sqlite_file_from_before_gains_the_new_columns(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as connection:
        connection.execute(
            "CREATE TABLE entries (url TEXT NOT NULL, variant TEXT NOT NULL, status INTEGER "
            "NOT NULL, headers TEXT NOT NULL, vary TEXT NOT NULL, body BLOB NOT NULL, size "
            "INTEGER NOT NULL, stored_at REAL NOT NULL, PRIMARY KEY (url, variant))"
        )
        connection.execute(
            "INSERT INTO entries VALUES ('http://h/x', '', 200, "
            "'[[\"etag\", \"\\\"x\\\"\"]]', '[]', x'6869', 10, 1.0)"
        )
    storage = SQLiteStorage(path)
    try:
        assert [e.body for e in storage.variants("http://h/x")] == [b"hi"]
        storage.store("http://h/y", replace(entry(b"y"), expires_at=time.time() + 60))
        assert storage.variants("http://h/y")[0].expires_at is not None
    finally:
        storage.close()
