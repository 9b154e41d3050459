"""Where the cache keeps responses: in memory (LRU), in a SQLite file, or in Redis.

A stored response is an :class:`Entry`: status, headers, body, and the
request header values its ``Vary`` names (RFC 9111 §4.1).  Entries are
filed under the request URL and a *variant* key built from those values,
so several variants of one URL can coexist (``Accept-Language: en`` and
``fr``).  An entry whose ``expires_at`` has passed is gone: lookups skip it
and the stores delete it on their own (Redis by its key expiry).

Every store has the sync methods of :class:`Storage` (for
:class:`~ifmatch.client.CachingTransport`) and the async ones of
:class:`AsyncStorage` (for :class:`~ifmatch.client.AsyncCachingTransport`),
which never block the event loop: the memory store answers at once,
:class:`SQLiteStorage` runs its queries in a worker thread, and
:class:`~ifmatch.client.redis_storage.RedisStorage` uses redis-py's asyncio client.

:class:`SQLiteStorage` is safe between processes: the database runs in WAL
mode with a busy timeout, and every write is one short ``BEGIN IMMEDIATE``
transaction, so two ``ifmatch get`` commands sharing
``~/.cache/ifmatch/cache.sqlite`` never see a half-written entry.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

import anyio.to_thread

from ifmatch.client.entry import Entry, VaryValues

__all__ = ["AsyncStorage", "Entry", "MemoryStorage", "SQLiteStorage", "Storage", "VaryValues"]


def _live(entry: Entry, now: float) -> bool:
    return entry.expires_at is None or entry.expires_at > now


class Storage(Protocol):
    """What :class:`~ifmatch.client.CachingTransport` needs from a store."""

    def variants(self, url: str) -> list[Entry]:
        """All live stored variants of ``url``, most recently stored first."""
        ...

    def store(self, url: str, entry: Entry) -> None:
        """Store ``entry``, replacing the variant with the same Vary values."""
        ...

    def remove(self, url: str, variant: str | None = None) -> None:
        """Forget one variant of ``url``, or all of them when ``variant`` is ``None``."""
        ...


class AsyncStorage(Protocol):
    """What :class:`~ifmatch.client.AsyncCachingTransport` needs: the same, awaitable."""

    async def avariants(self, url: str) -> list[Entry]:
        """All live stored variants of ``url``, most recently stored first."""
        ...

    async def astore(self, url: str, entry: Entry) -> None:
        """Store ``entry``, replacing the variant with the same Vary values."""
        ...

    async def aremove(self, url: str, variant: str | None = None) -> None:
        """Forget one variant of ``url``, or all of them when ``variant`` is ``None``."""
        ...


class _ThreadedAsync:
    """The async methods of a blocking store: each call runs in a worker thread."""

    def variants(self, url: str) -> list[Entry]:
        raise NotImplementedError

    def store(self, url: str, entry: Entry) -> None:
        raise NotImplementedError

    def remove(self, url: str, variant: str | None = None) -> None:
        raise NotImplementedError

    async def avariants(self, url: str) -> list[Entry]:
        """:meth:`variants` in a worker thread."""
        return await anyio.to_thread.run_sync(self.variants, url)

    async def astore(self, url: str, entry: Entry) -> None:
        """:meth:`store` in a worker thread."""
        await anyio.to_thread.run_sync(self.store, url, entry)

    async def aremove(self, url: str, variant: str | None = None) -> None:
        """:meth:`remove` in a worker thread."""
        await anyio.to_thread.run_sync(self.remove, url, variant)


class MemoryStorage:
    """A least-recently-used store bounded by a byte budget (bodies plus headers).

    An entry larger than the whole budget is not stored at all, rather than
    evicting everything else for it.
    """

    def __init__(self, max_bytes: int = 64 * 1024 * 1024) -> None:
        if max_bytes <= 0:
            raise ValueError("max_bytes must be positive")
        self.max_bytes = max_bytes
        self._entries: OrderedDict[tuple[str, str], Entry] = OrderedDict()
        self._by_url: dict[str, set[str]] = {}  # url -> its variants, so lookups need no scan
        self._used = 0
        self._lock = threading.Lock()

    @property
    def used_bytes(self) -> int:
        """Bytes currently held."""
        return self._used

    def __len__(self) -> int:
        return len(self._entries)

    def variants(self, url: str) -> list[Entry]:
        """Live variants of ``url``; looking them up makes them recently used."""
        now = time.time()
        with self._lock:
            found = [
                ((url, variant), self._entries[(url, variant)])
                for variant in self._by_url.get(url, ())
            ]
            for key, entry in found:
                if _live(entry, now):
                    self._entries.move_to_end(key)
                else:
                    self._drop(key)
            return sorted(
                (entry for _, entry in found if _live(entry, now)), key=lambda e: -e.stored_at
            )

    async def avariants(self, url: str) -> list[Entry]:
        """:meth:`variants` (memory never blocks)."""
        return self.variants(url)

    async def astore(self, url: str, entry: Entry) -> None:
        """:meth:`store` (memory never blocks)."""
        self.store(url, entry)

    async def aremove(self, url: str, variant: str | None = None) -> None:
        """:meth:`remove` (memory never blocks)."""
        self.remove(url, variant)

    def store(self, url: str, entry: Entry) -> None:
        """Store ``entry`` and evict the least recently used until within budget."""
        key = (url, entry.variant)
        with self._lock:
            self._drop(key)
            if entry.size > self.max_bytes:
                return
            self._entries[key] = entry
            self._by_url.setdefault(url, set()).add(entry.variant)
            self._used += entry.size
            if self._used > self.max_bytes:  # expired entries go before live ones
                now = time.time()
                for old_key in [k for k, e in self._entries.items() if not _live(e, now)]:
                    self._drop(old_key)
            while self._used > self.max_bytes:
                oldest = next(iter(self._entries))
                self._drop(oldest)

    def remove(self, url: str, variant: str | None = None) -> None:
        """Forget one variant, or all variants of ``url``."""
        with self._lock:
            variants = list(self._by_url.get(url, ())) if variant is None else [variant]
            for name in variants:
                self._drop((url, name))

    def _drop(self, key: tuple[str, str]) -> None:
        old = self._entries.pop(key, None)
        if old is not None:
            self._used -= old.size
            variants = self._by_url.get(key[0])
            if variants is not None:
                variants.discard(key[1])
                if not variants:
                    del self._by_url[key[0]]


_SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    url       TEXT NOT NULL,
    variant   TEXT NOT NULL,
    status    INTEGER NOT NULL,
    headers   TEXT NOT NULL,
    vary      TEXT NOT NULL,
    body      BLOB NOT NULL,
    size      INTEGER NOT NULL,
    stored_at REAL NOT NULL,
    request_time REAL,
    expires_at REAL,
    PRIMARY KEY (url, variant)
);
CREATE INDEX IF NOT EXISTS entries_by_age ON entries (stored_at)
"""
#: Columns added after the first release; a file made before gets them on open.
_ADDED_COLUMNS = (("request_time", "REAL"), ("expires_at", "REAL"))


@contextlib.contextmanager
def _transaction(connection: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """``BEGIN IMMEDIATE`` ... ``COMMIT`` (``ROLLBACK`` on error): one writer at a time."""
    connection.execute("BEGIN IMMEDIATE")
    try:
        yield connection
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    connection.execute("COMMIT")


def _row(url: str, entry: Entry) -> dict[str, object]:
    """``entry`` as the named parameters of its row in ``entries``."""
    return {
        "url": url,
        "variant": entry.variant,
        "status": entry.status,
        "headers": json.dumps(entry.headers),
        "vary": json.dumps(entry.vary),
        "body": entry.body,
        "size": entry.size,
        "stored_at": entry.stored_at,
        "request_time": entry.request_time,
        "expires_at": entry.expires_at,
    }


class SQLiteStorage(_ThreadedAsync):
    """A store in one SQLite file that survives restarts and is shared by processes.

    ``max_bytes`` (default: no limit) bounds bodies plus headers; beyond it
    the least recently stored (that is, least recently revalidated) entries go.

    Each thread gets its own connection (SQLite connections are not to be
    shared across threads).  WAL mode lets readers proceed while one writer
    writes; ``busy_timeout`` makes a second writer wait instead of failing.
    """

    def __init__(
        self, path: str | Path, *, max_bytes: int | None = None, busy_timeout: float = 10.0
    ) -> None:
        if max_bytes is not None and max_bytes <= 0:
            raise ValueError("max_bytes must be positive")
        self.max_bytes = max_bytes
        self.path = Path(path).expanduser()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.busy_timeout = busy_timeout
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        connection = self._connection()
        with _transaction(connection):
            for statement in _SCHEMA.split(";"):
                connection.execute(statement)
            present = {row[1] for row in connection.execute("PRAGMA table_info(entries)")}
            for name, kind in _ADDED_COLUMNS:
                if name not in present:
                    connection.execute(f"ALTER TABLE entries ADD COLUMN {name} {kind}")

    def _connection(self) -> sqlite3.Connection:
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is None:
            connection = sqlite3.connect(
                self.path, timeout=self.busy_timeout, isolation_level=None, check_same_thread=False
            )
            connection.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")
            connection.execute("PRAGMA journal_mode = WAL")
            connection.execute("PRAGMA synchronous = NORMAL")
            self._local.connection = connection
            with self._lock:
                self._connections.append(connection)
        return connection

    def variants(self, url: str) -> list[Entry]:
        """Variants of ``url``, most recently stored first."""
        rows = self._connection().execute(
            "SELECT status, headers, vary, body, stored_at, request_time, expires_at "
            "FROM entries WHERE url = ? AND (expires_at IS NULL OR expires_at > ?) "
            "ORDER BY stored_at DESC",
            (url, time.time()),
        )
        return [
            Entry(
                status=status,
                headers=tuple((str(n), str(v)) for n, v in json.loads(headers)),
                body=bytes(body),
                vary=tuple((str(n), None if v is None else str(v)) for n, v in json.loads(vary)),
                stored_at=stored_at,
                request_time=request_time,
                expires_at=expires_at,
            )
            for status, headers, vary, body, stored_at, request_time, expires_at in rows.fetchall()
        ]

    def store(self, url: str, entry: Entry) -> None:
        """Insert or replace one variant, then evict the oldest beyond ``max_bytes``.

        Every use of an entry is a revalidation that stores it again (with the
        headers of the 304), so "oldest stored" is "least recently used".
        """
        if self._refused(url, entry):
            return
        with _transaction(self._connection()) as connection:
            connection.execute(
                "INSERT OR REPLACE INTO entries (url, variant, status, headers, vary, body, "
                "size, stored_at, request_time, expires_at) "
                "VALUES (:url, :variant, :status, :headers, :vary, :body, "
                ":size, :stored_at, :request_time, :expires_at)",
                _row(url, entry),
            )
            connection.execute("DELETE FROM entries WHERE expires_at <= ?", (time.time(),))
            if self.max_bytes is not None:
                self._evict(connection, self.max_bytes)

    def refresh(self, url: str, entry: Entry, previous: Entry) -> None:
        """After a 304: update ``previous``'s headers and times to ``entry``'s, body in place.

        Stores the whole entry when that row is gone or was replaced meanwhile.
        """
        if self._refused(url, entry):
            return
        with _transaction(self._connection()) as connection:
            updated = connection.execute(
                "UPDATE entries SET status = :status, headers = :headers, vary = :vary, "
                "size = :size, stored_at = :stored_at, request_time = :request_time, "
                "expires_at = :expires_at "
                "WHERE url = :url AND variant = :variant AND stored_at = :previous",
                {**_row(url, entry), "previous": previous.stored_at},
            ).rowcount
        if not updated:
            self.store(url, entry)

    def _refused(self, url: str, entry: Entry) -> bool:
        """Whether ``entry`` is over ``max_bytes``: then it is not stored, and its variant goes."""
        if self.max_bytes is not None and entry.size > self.max_bytes:
            self.remove(url, entry.variant)
            return True
        return False

    async def arefresh(self, url: str, entry: Entry, previous: Entry) -> None:
        """:meth:`refresh` in a worker thread."""
        await anyio.to_thread.run_sync(self.refresh, url, entry, previous)

    @staticmethod
    def _evict(connection: sqlite3.Connection, max_bytes: int) -> None:
        (used,) = connection.execute("SELECT COALESCE(SUM(size), 0) FROM entries").fetchone()
        if used <= max_bytes:
            return
        rows = connection.execute(
            "SELECT rowid, size FROM entries ORDER BY stored_at, rowid"
        ).fetchall()
        doomed = []
        for rowid, size in rows:
            if used <= max_bytes:
                break
            doomed.append((rowid,))
            used -= size
        connection.executemany("DELETE FROM entries WHERE rowid = ?", doomed)

    @property
    def used_bytes(self) -> int:
        """Bytes held (bodies plus headers, as :attr:`Entry.size` counts them)."""
        row = self._connection().execute("SELECT COALESCE(SUM(size), 0) FROM entries").fetchone()
        return int(row[0])

    def remove(self, url: str, variant: str | None = None) -> None:
        """Delete one variant, or all variants of ``url``."""
        with _transaction(self._connection()) as connection:
            if variant is None:
                connection.execute("DELETE FROM entries WHERE url = ?", (url,))
            else:
                connection.execute(
                    "DELETE FROM entries WHERE url = ? AND variant = ?", (url, variant)
                )

    def __len__(self) -> int:
        row = self._connection().execute("SELECT COUNT(*) FROM entries").fetchone()
        return int(row[0])

    def close(self) -> None:
        """Close every connection this store opened (in any thread)."""
        with self._lock:
            for connection in self._connections:
                connection.close()
            self._connections.clear()
        self._local = threading.local()
