"""An in-process cache of validators that is never stale, for SQLite.

The fast path (:mod:`ifmatch.service._fastpath`) answers a conditional GET
from what it last read of a document or a collection, plus header bytes
prepared once per version.  What makes a cached entry safe to use is
SQLite's ``PRAGMA data_version``: read on one connection, it changes
whenever *any other* connection has committed to the database file since
the last time it was read on that connection, whether in this thread,
another thread, another worker process or another program on the same file.

So every request first checks whether anything committed and drops every
entry when something did.  The check is first a look at the header of the
WAL index, in the ``-shm`` file SQLite shares between connections, mapped
into memory: every commit rewrites that header, and SQLite itself decides
"has the database changed?" by comparing it (a reader starting a transaction
compares it with the copy it holds).  When the header is exactly what it was
at the last check, nothing committed since and nothing else is asked.  When
it differs (or is being written, or the file cannot be mapped), ``PRAGMA
data_version`` decides, as it always did; that costs a shared lock and its
release (two system calls), the header look a copy of 96 bytes.

Entries are only ever filled from reads made *after* the check they are
tagged with, so an entry can be newer than its tag,
never older: a write that has committed before a request began is always
seen by that request.  The cache's connection never writes, so its own
writes cannot hide from it.  Invalidation is whole-cache and exact, not
per-key: simple enough to be obviously right, and reads of a store that
does not change for a moment are served from memory.
"""

from __future__ import annotations

import contextlib
import mmap
import sqlite3
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from ifmatch.service.store import Meta, ScopeState

#: Entries held at most; a full cache is emptied and refilled (reads are microseconds).
MAX_ENTRIES = 8192
#: Bodies up to this size are kept with their entry; larger ones are re-read for a 200.
MAX_BODY = 256 * 1024
#: The bodies kept, in bytes, at most (a full cache is emptied and refilled).
MAX_BYTES = 64 * 1024 * 1024
_BUSY_TIMEOUT_MS = 5000

Entry = TypeVar("Entry")
Scoped = TypeVar("Scoped")
Paged = TypeVar("Paged")
#: What a page entry is made from: its space, the name it starts after (``None``: from
#: the start), its limit, its members' ids and versions, and whether more follow.
PageEntry = Callable[[str, "str | None", int, list[tuple[str, int]], bool], Paged]


class SQLiteValidators(Generic[Entry, Scoped, Paged]):
    """Documents, collection states and collection pages of one SQLite file, cached per
    ``data_version``.

    ``document_entry``, ``scope_entry`` and ``page_entry`` turn what was read (and its
    space) into what the caller keeps (for the fast path: the prepared header bytes).
    Use it from one thread at a time (the event loop's).
    """

    def __init__(
        self,
        path: str,
        document_entry: Callable[[str, Meta, bytes | None], Entry],
        scope_entry: Callable[[str, ScopeState], Scoped],
        page_entry: PageEntry[Paged],
    ) -> None:
        self._connection = sqlite3.connect(
            path, isolation_level=None, check_same_thread=False, timeout=_BUSY_TIMEOUT_MS / 1000
        )
        self._connection.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
        self._document_entry, self._scope_entry = document_entry, scope_entry
        self._page_entry = page_entry
        self._version = -1
        self._header: bytes | None = None
        self._shm = _map_wal_index(self._connection, path)
        self._documents: dict[tuple[str, str], Entry] = {}
        #: The bytes of the bodies the entries hold (at most :data:`MAX_BYTES`).
        self._bytes = 0
        self._scopes: dict[str, Scoped] = {}
        self._pages: dict[tuple[str, str | None, int], Paged] = {}
        #: What a caller derives from the entries (the protocol's prepared answers, by
        #: request target, :meth:`derive`): dropped with them, at most :data:`MAX_ENTRIES`.
        self.derived: dict[bytes, Any] = {}

    def refresh(self) -> None:
        """Drop every entry if anything committed since the last call (call once per request)."""
        shm = self._shm
        if shm is not None and shm[: 2 * _HEADER] == self._header:
            return  # the very bytes of a whole header seen before: nothing committed since
        header = _wal_header(shm)
        # Read before data_version: a header kept is never newer than what data_version saw.
        self._header = None if header is None else header + header
        version = self._connection.execute("PRAGMA data_version").fetchone()[0]
        if version != self._version:
            self._version = version
            self._forget_documents()
            self._scopes.clear()
            self._pages.clear()

    def _forget_documents(self) -> None:
        """Drop the documents' entries and what was derived from them (their bodies)."""
        self._documents.clear()
        self.derived.clear()
        self._bytes = 0

    def derive(self, key: bytes, value: Any) -> None:
        """Keep ``value``, derived from entries read since the last :meth:`refresh`, until
        they are dropped (at most :data:`MAX_ENTRIES` values)."""
        if len(self.derived) >= MAX_ENTRIES:
            self.derived.clear()
        self.derived[key] = value

    def cached(self, space: str, name: str) -> Entry | None:
        """The document's entry if it is in memory (nothing is read)."""
        return self._documents.get((space, name))

    def document(self, space: str, name: str) -> Entry | None:
        """The entry of a document (``None`` when it does not exist), from memory if cached."""
        key = (space, name)
        entry = self._documents.get(key)
        if entry is not None:
            return entry
        found = self.read_document(space, name)
        if found is None:
            return None
        meta, body = found
        kept = body if len(body) <= MAX_BODY else None
        entry = self._document_entry(space, meta, kept)
        held = len(kept) if kept is not None else 0
        if len(self._documents) >= MAX_ENTRIES or self._bytes + held > MAX_BYTES:
            self._forget_documents()
        self._documents[key] = entry
        self._bytes += held
        return entry

    def read_document(self, space: str, name: str) -> tuple[Meta, bytes] | None:
        """The document's metadata and body, read now (not from the cache)."""
        row = self._connection.execute(
            "SELECT version, modified_us, changed_within_second, content_type, length, data"
            " FROM resources WHERE space = ? AND name = ?",
            (space, name),
        ).fetchone()
        if row is None:
            return None
        return Meta(row[0], row[1], bool(row[2]), row[3], row[4]), bytes(row[5])

    def scope(self, space: str) -> Scoped:
        """The entry of a collection's state (its counter is its validator)."""
        entry = self._scopes.get(space)
        if entry is not None:
            return entry
        row = self._connection.execute(
            "SELECT counter, modified_us, changed_within_second FROM scopes WHERE space = ?",
            (space,),
        ).fetchone()
        state = ScopeState(row[0], row[1], bool(row[2])) if row else ScopeState(0, 0)
        entry = self._scope_entry(space, state)
        if len(self._scopes) >= MAX_ENTRIES:
            self._scopes.clear()
        self._scopes[space] = entry
        return entry

    def page(self, space: str, after: str | None, limit: int) -> Paged:
        """The entry of a collection page: at most ``limit`` members after ``after``, by
        the ids and versions of its members (keyset read, one row past the limit)."""
        key = (space, after, limit)
        entry = self._pages.get(key)
        if entry is not None:
            return entry
        rows = self._connection.execute(
            "SELECT name, version FROM resources WHERE space = ? AND name > ?"
            " ORDER BY name LIMIT ?",
            (space, after or "", limit + 1),
        ).fetchall()
        members = [(str(name), int(version)) for name, version in rows[:limit]]
        entry = self._page_entry(space, after, limit, members, len(rows) > limit)
        if len(self._pages) >= MAX_ENTRIES:
            self._pages.clear()
        self._pages[key] = entry
        return entry

    def close(self) -> None:
        """Close the cache's connection."""
        if self._shm is not None:
            self._shm.close()
            self._shm = None
        self._connection.close()


#: The two copies of the WAL index header (``WalIndexHdr``, 48 bytes each) at the start of
#: the ``-shm`` file (https://www.sqlite.org/walformat.html, "The WAL-Index Header").
_HEADER = 48


def _map_wal_index(connection: sqlite3.Connection, path: str) -> mmap.mmap | None:
    """The start of the database's WAL index, mapped read-only; ``None`` when the database
    is not in WAL mode or the file cannot be mapped (then only data_version is used).

    The mapping stays valid while ``connection`` is open: SQLite truncates or rebuilds
    the ``-shm`` file only when it is the first connection to open it, and a database
    cannot leave WAL mode while another connection has it open."""
    mode = connection.execute("PRAGMA journal_mode").fetchone()[0]
    if str(mode).lower() != "wal":
        return None
    connection.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()  # opens the -shm
    with contextlib.suppress(OSError, ValueError), open(f"{path}-shm", "rb") as file:
        return mmap.mmap(file.fileno(), 2 * _HEADER, access=mmap.ACCESS_READ)
    return None


def _wal_header(shm: mmap.mmap | None) -> bytes | None:
    """The WAL index header, or ``None`` when unmapped or caught while being written.

    A writer writes the second copy, then the first; the two copies equal means the
    header is whole (SQLite's readers make the same check)."""
    if shm is None:
        return None
    both = shm[: 2 * _HEADER]
    first = both[:_HEADER]
    return first if first == both[_HEADER:] and first[12] else None
