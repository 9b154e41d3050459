"""Where the revalidating cache keeps responses: in memory (LRU) or in a SQLite file.

A stored response is an :class:`Entry`: status, headers, body, and the
request header values its ``Vary`` names (RFC 9111 §4.1).  Entries are
filed under the request URL and a *variant* key built from those values,
so several variants of one URL can coexist (``Accept-Language: en`` and
``fr``).

Both stores are safe to share between threads.  :class:`SQLiteStorage` is
also safe between processes: the database runs in WAL mode with a busy
timeout, and every write is one short ``BEGIN IMMEDIATE`` transaction, so
two ``ifmatch get`` commands sharing ``~/.cache/ifmatch/cache.sqlite`` never
see a half-written entry.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol

#: (lower-case request header name, its value or ``None`` if absent), in the order of Vary.
VaryValues = tuple[tuple[str, str | None], ...]


@dataclass(frozen=True, slots=True)
class Entry:
    """A stored response.  ``headers`` are (name, value) pairs as received, order kept."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes
    vary: VaryValues = ()
    stored_at: float = field(default_factory=time.time)

    @property
    def variant(self) -> str:
        """The key that tells this variant apart from the URL's other variants."""
        return json.dumps(self.vary, separators=(",", ":")) if self.vary else ""

    @property
    def size(self) -> int:
        """Bytes this entry costs in a budget: body plus header text."""
        return len(self.body) + sum(len(name) + len(value) + 4 for name, value in self.headers)

    def with_headers(self, headers: tuple[tuple[str, str], ...]) -> Entry:
        """The same entry with updated headers, stamped now (after a 304)."""
        return replace(self, headers=headers, stored_at=time.time())


class Storage(Protocol):
    """What the caching transports need from a store."""

    def variants(self, url: str) -> list[Entry]:
        """All stored variants of ``url``, most recently stored first."""
        ...

    def store(self, url: str, entry: Entry) -> None:
        """Store ``entry``, replacing the variant with the same Vary values."""
        ...

    def remove(self, url: str, variant: str | None = None) -> None:
        """Forget one variant of ``url``, or all of them when ``variant`` is ``None``."""
        ...


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
        self._used = 0
        self._lock = threading.Lock()

    @property
    def used_bytes(self) -> int:
        """Bytes currently held."""
        return self._used

    def __len__(self) -> int:
        return len(self._entries)

    def variants(self, url: str) -> list[Entry]:
        """Variants of ``url``; looking them up makes them recently used."""
        with self._lock:
            found = [(key, entry) for key, entry in self._entries.items() if key[0] == url]
            for key, _ in found:
                self._entries.move_to_end(key)
            return sorted((entry for _, entry in found), key=lambda e: -e.stored_at)

    def store(self, url: str, entry: Entry) -> None:
        """Store ``entry`` and evict the least recently used until within budget."""
        key = (url, entry.variant)
        with self._lock:
            self._drop(key)
            if entry.size > self.max_bytes:
                return
            self._entries[key] = entry
            self._used += entry.size
            while self._used > self.max_bytes:
                oldest = next(iter(self._entries))
                self._drop(oldest)

    def remove(self, url: str, variant: str | None = None) -> None:
        """Forget one variant, or all variants of ``url``."""
        with self._lock:
            keys = [key for key in self._entries if key[0] == url]
            for key in keys:
                if variant is None or key[1] == variant:
                    self._drop(key)

    def _drop(self, key: tuple[str, str]) -> None:
        old = self._entries.pop(key, None)
        if old is not None:
            self._used -= old.size


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
    PRIMARY KEY (url, variant)
);
CREATE INDEX IF NOT EXISTS entries_by_age ON entries (stored_at)
"""


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


class SQLiteStorage:
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
            "SELECT status, headers, vary, body, stored_at FROM entries WHERE url = ? "
            "ORDER BY stored_at DESC",
            (url,),
        )
        return [
            Entry(
                status=status,
                headers=tuple((str(n), str(v)) for n, v in json.loads(headers)),
                body=bytes(body),
                vary=tuple((str(n), None if v is None else str(v)) for n, v in json.loads(vary)),
                stored_at=stored_at,
            )
            for status, headers, vary, body, stored_at in rows.fetchall()
        ]

    def store(self, url: str, entry: Entry) -> None:
        """Insert or replace one variant, then evict the oldest beyond ``max_bytes``.

        Every use of an entry is a revalidation that stores it again (with the
        headers of the 304), so "oldest stored" is "least recently used".
        """
        if self.max_bytes is not None and entry.size > self.max_bytes:
            self.remove(url, entry.variant)
            return
        with _transaction(self._connection()) as connection:
            connection.execute(
                "INSERT OR REPLACE INTO entries "
                "(url, variant, status, headers, vary, body, size, stored_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    url,
                    entry.variant,
                    entry.status,
                    json.dumps(entry.headers),
                    json.dumps(entry.vary),
                    entry.body,
                    entry.size,
                    entry.stored_at,
                ),
            )
            if self.max_bytes is not None:
                self._evict(connection, self.max_bytes)

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
