"""The embedded SQLite backend: WAL mode, ``BEGIN IMMEDIATE`` writes, incremental blob I/O.

``BEGIN IMMEDIATE`` takes SQLite's write lock before the current state is
read, so the state a precondition is checked against cannot change before
the write commits, across threads and across worker processes sharing the
file.  WAL mode lets readers go on while a writer holds that lock, and
``busy_timeout`` makes a waiting writer wait instead of failing (writers of one
process first queue on a lock, so the busy handler only arbitrates between processes).

Checkpoints (copying the WAL back into the database file, the only step
that waits for the disk with ``synchronous = NORMAL``) run on a thread of
their own (:class:`_Checkpointer`) instead of inside whichever commit
crosses SQLite's threshold, so a commit made in the event loop never waits
for an ``fsync``.

Bodies are read and written with incremental blob I/O
(:meth:`sqlite3.Connection.blobopen`), so a range request or a large upload
never holds the whole file in memory.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

from ifmatch.service.store import (
    SCHEMA_VERSION,
    Content,
    Listing,
    Meta,
    Page,
    Reader,
    ScopeState,
    Store,
    Transaction,
    WriteRequest,
    WriteResult,
    apply,
)

_SCHEMA = [
    "CREATE TABLE schema_version (version INTEGER NOT NULL)",
    """CREATE TABLE scopes (
        space TEXT PRIMARY KEY,
        counter INTEGER NOT NULL,
        modified_us INTEGER NOT NULL,
        changed_within_second INTEGER NOT NULL)""",
    """CREATE TABLE resources (
        id INTEGER PRIMARY KEY,
        space TEXT NOT NULL,
        name TEXT NOT NULL,
        version INTEGER NOT NULL,
        modified_us INTEGER NOT NULL,
        changed_within_second INTEGER NOT NULL,
        content_type TEXT NOT NULL,
        length INTEGER NOT NULL,
        data BLOB NOT NULL,
        UNIQUE (space, name))""",
]
_META = "version, modified_us, changed_within_second, content_type, length"
_BUSY_TIMEOUT_S = 30.0
_BUSY = {sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED}


_LOG = logging.getLogger("ifmatch.service")
#: How long the checkpointer lets commits gather before it checkpoints them together.
CHECKPOINT_EVERY_S = 0.2
#: The WAL's length in frames (pages) from which the checkpointer makes it start over,
#: SQLite's own default for its automatic checkpoint (about 4 MB).
RESTART_FRAMES = 1000
#: How long the checkpointer waits for another process's writer before its second pass.
_HOLD_WAIT_S = 0.05
#: A WAL file left longer than this by a burst of writes is cut back when it starts over.
_WAL_SIZE_LIMIT = 64 * 1024 * 1024


class _Checkpointer:
    """Runs ``PRAGMA wal_checkpoint(PASSIVE)`` on a thread of its own, at most every
    :data:`CHECKPOINT_EVERY_S` while there are commits, never in the committing thread.

    The store's connections turn SQLite's automatic checkpoint off; this
    takes its place.  A passive checkpoint neither waits for nor blocks
    readers and writers, and does the slow part (copying the WAL into the
    database file and its ``fsync``) without holding any lock.

    The WAL starts over only when a writer begins while every frame of it is
    in the database file.  Under a steady stream of commits that never
    happens: frames are appended while the checkpoint copies, so the WAL would
    grow without end (about 37 MB a second under one connection's PUTs).
    So once it holds :data:`RESTART_FRAMES` frames, the frames that came
    meanwhile are copied again with writers held off (``hold``, this
    process's write lock, and SQLite's, which other processes' writers wait
    for): few frames, so briefly; the next writer then starts the WAL over.
    The thread starts with the first commit.
    """

    def __init__(self, path: str, hold: threading.Lock) -> None:
        self._path = path
        self._hold = hold
        self._due = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._start = threading.Lock()

    def committed(self) -> None:
        """Note a commit (cheap: sets an event unless it is set already)."""
        if self._thread is None:
            with self._start:
                if self._thread is None and not self._stopping.is_set():
                    self._thread = threading.Thread(
                        target=self._run, name="ifmatch-sqlite-checkpoint", daemon=True
                    )
                    self._thread.start()
        if not self._due.is_set():
            self._due.set()

    def _run(self) -> None:
        connection = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        # Takes the write lock for the short second pass; waits little for another process.
        holder = sqlite3.connect(
            self._path, isolation_level=None, check_same_thread=False, timeout=_HOLD_WAIT_S
        )
        try:
            while self._due.wait() and not self._stopping.wait(CHECKPOINT_EVERY_S):
                self._due.clear()
                try:
                    self.checkpoint(connection, holder)
                except sqlite3.Error as error:  # the next commit brings another try
                    busy = getattr(error, "sqlite_errorcode", 0) & 0xFF in _BUSY
                    _LOG.log(
                        logging.DEBUG if busy else logging.WARNING,
                        "SQLite checkpoint of %s failed: %s",
                        self._path,
                        error,
                    )
        finally:
            connection.close()
            holder.close()

    def checkpoint(self, connection: sqlite3.Connection, holder: sqlite3.Connection) -> None:
        """One passive checkpoint and, when the WAL is long, a second one with writers
        held off (0.4-0.7 ms measured here), so that the next writer starts the WAL
        over.  A write of this process's event loop that finds the lock held meanwhile
        takes the application's path, which waits for it."""
        # Its figures are the WAL as it was when the pass began: they cannot tell whether
        # frames came meanwhile, so a long WAL always gets the second pass.
        frames = connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()[0][1]
        if frames < RESTART_FRAMES:
            return
        with self._hold:
            holder.execute("BEGIN IMMEDIATE")
            try:
                connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            finally:
                holder.execute("ROLLBACK")

    def stop(self) -> None:
        """Stop the thread (SQLite checkpoints when its last connection closes)."""
        self._stopping.set()
        self._due.set()
        if self._thread is not None:
            self._thread.join(timeout=10)


def _meta(row: tuple[int, int, int, str, int]) -> Meta:
    return Meta(row[0], row[1], bool(row[2]), row[3], row[4])


class _Current:
    def __init__(self, connection: sqlite3.Connection, rowid: int, meta: Meta) -> None:
        self._connection, self._rowid, self.meta = connection, rowid, meta

    def body(self) -> bytes:
        row = self._connection.execute(
            "SELECT data FROM resources WHERE id = ?", (self._rowid,)
        ).fetchone()
        return bytes(row[0])


class _Batch:
    """What a group commit's writes share inside their one transaction: each space's
    state, read once and then kept (the transaction holds the write lock, so nothing
    else changes it), and written back once, just before the commit."""

    def __init__(self) -> None:
        self.scopes: dict[str, ScopeState] = {}
        self.dirty: set[str] = set()

    def flush(self, connection: sqlite3.Connection) -> None:
        """Store every changed space's state (call once, before ``COMMIT``)."""
        for space in self.dirty:
            _store_scope(connection, space, self.scopes[space])
        self.dirty.clear()


def _store_scope(
    connection: sqlite3.Connection | sqlite3.Cursor, space: str, state: ScopeState
) -> None:
    connection.execute(
        """INSERT INTO scopes (space, counter, modified_us, changed_within_second)
           VALUES (?, ?, ?, ?)
           ON CONFLICT (space) DO UPDATE SET
               counter = excluded.counter, modified_us = excluded.modified_us,
               changed_within_second = excluded.changed_within_second""",
        (space, state.counter, state.modified_us, int(state.changed_within_second)),
    )


#: A space's state and one resource's current state, in one statement.
_STATE = """SELECT s.counter, s.modified_us, s.changed_within_second,
        r.id, r.version, r.modified_us, r.changed_within_second, r.content_type, r.length
    FROM (SELECT ? AS space, ? AS name) AS k
    LEFT JOIN scopes AS s ON s.space = k.space
    LEFT JOIN resources AS r ON r.space = k.space AND r.name = k.name"""


_UPSERT = """INSERT INTO resources (
        space, name, version, modified_us, changed_within_second, content_type, length, data)
    VALUES (?, ?, ?, ?, ?, ?, ?, %s)
    ON CONFLICT (space, name) DO UPDATE SET
        version = excluded.version, modified_us = excluded.modified_us,
        changed_within_second = excluded.changed_within_second,
        content_type = excluded.content_type, length = excluded.length, data = excluded.data
    RETURNING id"""
_UPDATE = """UPDATE resources SET version = ?, modified_us = ?, changed_within_second = ?,
        content_type = ?, length = ?, data = %s
    WHERE id = ?"""
#: A document's content goes in with its row; a file's is streamed into a zeroblob.
_UPSERT_INLINE, _UPSERT_ZEROBLOB = _UPSERT % "?", _UPSERT % "zeroblob(?)"
_UPDATE_INLINE, _UPDATE_ZEROBLOB = _UPDATE % "?", _UPDATE % "zeroblob(?)"


class _Transaction(Transaction):
    """A write transaction on one space.

    :meth:`scope` reads the space's state and, with ``name`` (the resource the
    write is about), that resource's too, in one statement.  With ``batch``, the
    space's state is shared with the other writes of a group commit and
    written back once by :meth:`_Batch.flush`.
    """

    def __init__(
        self,
        connection: sqlite3.Connection,
        space: str,
        name: str | None = None,
        batch: _Batch | None = None,
    ) -> None:
        self._connection, self._space, self._name, self._batch = connection, space, name, batch
        #: One cursor for the transaction's statements (``Connection.execute`` makes one each).
        self._cursor = connection.cursor()
        #: The named resource's state when :meth:`scope` read it too (``[None]``: missing).
        self._ahead: list[_Current | None] = []
        #: The row ids of the resources read in this transaction (their rows are locked).
        self._rowids: dict[str, int] = {}

    def scope(self) -> ScopeState:
        if self._batch is not None and self._space in self._batch.scopes:
            return self._batch.scopes[self._space]
        # Without a name the join finds no resource (nothing equals NULL): the space alone.
        row = self._cursor.execute(_STATE, (self._space, self._name)).fetchone()
        state = ScopeState(row[0], row[1], bool(row[2])) if row[0] is not None else ScopeState(0, 0)
        if self._name is not None:
            self._ahead = [
                _Current(self._connection, row[3], _meta(row[4:])) if row[3] is not None else None
            ]
            if row[3] is not None:
                self._rowids[self._name] = row[3]
        if self._batch is not None:
            self._batch.scopes[self._space] = state
        return state

    def current(self, name: str) -> _Current | None:
        if name == self._name and self._ahead:
            return self._ahead.pop()
        row = self._cursor.execute(
            "SELECT id, version, modified_us, changed_within_second, content_type, length"
            " FROM resources WHERE space = ? AND name = ?",
            (self._space, name),
        ).fetchone()
        if row is None:
            return None
        self._rowids[name] = row[0]
        return _Current(self._connection, row[0], _meta(row[1:]))

    def put(self, name: str, meta: Meta, content: Content) -> None:
        # Content held in memory (documents) goes in with the row, in one statement; a
        # file is streamed into a zeroblob, so it is never held in memory whole.
        inline = content.data is not None
        given = len(content.data or b"")
        if inline and given != meta.length:
            raise ValueError(f"content gave {given} bytes, {meta.length} announced")
        values = (
            meta.version,
            meta.modified_us,
            int(meta.changed_within_second),
            meta.content_type,
            meta.length,
            content.data if inline else meta.length,
        )
        rowid = self._rowids.get(name)
        if rowid is not None:  # the row this transaction read and locked: by its id
            self._cursor.execute(_UPDATE_INLINE if inline else _UPDATE_ZEROBLOB, (*values, rowid))
        else:
            rowid = self._cursor.execute(
                _UPSERT_INLINE if inline else _UPSERT_ZEROBLOB, (self._space, name, *values)
            ).fetchone()[0]
        if inline or meta.length == 0:
            return
        with self._connection.blobopen("resources", "data", rowid) as blob:
            written = 0
            for chunk in content.chunks():
                blob.write(chunk)
                written += len(chunk)
        if written != meta.length:
            raise ValueError(f"content gave {written} bytes, {meta.length} announced")

    def delete(self, name: str) -> None:
        self._rowids.pop(name, None)
        self._cursor.execute(
            "DELETE FROM resources WHERE space = ? AND name = ?", (self._space, name)
        )

    def set_scope(self, state: ScopeState) -> None:
        if self._batch is None:
            _store_scope(self._cursor, self._space, state)
        else:
            self._batch.scopes[self._space] = state
            self._batch.dirty.add(self._space)


class _Reader(Reader):
    def __init__(self, store: SQLiteStore, connection: sqlite3.Connection, rowid: int, meta: Meta):
        self._store, self._connection, self._rowid, self.meta = store, connection, rowid, meta
        self._closed = False

    def read(self, start: int, stop: int) -> bytes:
        with self._connection.blobopen("resources", "data", self._rowid, readonly=True) as blob:
            blob.seek(start)
            return blob.read(stop - start)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._connection.execute("COMMIT")
            self._store.release(self._connection)


class SQLiteStore(Store):
    """A store in one SQLite file, shared safely by threads and worker processes."""

    def __init__(self, path: str) -> None:
        if not path or path == ":memory:":
            # Every pooled connection would open its own empty in-memory database.
            raise ValueError(
                "sqlite:///PATH needs a file path (an in-memory database cannot be shared)"
            )
        directory = Path(path).parent
        if not directory.is_dir():
            # A typo in --db must not silently create a tree of directories somewhere.
            raise ValueError(f"the directory {str(directory)!r} does not exist (create it first)")
        self._path = path
        self._idle: queue.LifoQueue[sqlite3.Connection] = queue.LifoQueue()
        # Writers of this process queue here rather than in SQLite's busy handler, which
        # sleeps up to 100 ms between tries; only other processes' writers meet it.
        self._write_lock = threading.Lock()
        #: The connection of :meth:`try_write`, which never waits for SQLite's lock, and its cursor.
        self._nowait: tuple[sqlite3.Connection, sqlite3.Cursor] | None = None
        self._checkpointer = _Checkpointer(path, self._write_lock)
        self._migrate()

    @property
    def path(self) -> str:
        """The database file's path."""
        return self._path

    def _connect(self) -> sqlite3.Connection:
        connection = sqlite3.connect(
            self._path, timeout=_BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
        )
        connection.execute(f"PRAGMA busy_timeout = {int(_BUSY_TIMEOUT_S * 1000)}")
        connection.execute("PRAGMA journal_mode = WAL")
        connection.execute("PRAGMA synchronous = NORMAL")
        connection.execute("PRAGMA wal_autocheckpoint = 0")  # the checkpointer's job
        connection.execute(f"PRAGMA journal_size_limit = {_WAL_SIZE_LIMIT}")
        return connection

    def acquire(self) -> sqlite3.Connection:
        """An idle connection, or a new one (connections are used by one thread at a time)."""
        try:
            return self._idle.get_nowait()
        except queue.Empty:
            return self._connect()

    def release(self, connection: sqlite3.Connection) -> None:
        """Give a connection back, rolling back anything left open."""
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        self._idle.put(connection)

    @contextlib.contextmanager
    def _connection(self, begin: str) -> Iterator[sqlite3.Connection]:
        connection = self.acquire()
        try:
            connection.execute(begin)
            yield connection
            connection.execute("COMMIT")
            if begin == "BEGIN IMMEDIATE":
                self._checkpointer.committed()
        except BaseException:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            raise
        finally:
            self.release(connection)

    def _migrate(self) -> None:
        with self._connection("BEGIN IMMEDIATE") as connection:
            exists = connection.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'"
            ).fetchone()
            if not exists:
                for statement in _SCHEMA:
                    connection.execute(statement)
                connection.execute("INSERT INTO schema_version VALUES (?)", (SCHEMA_VERSION,))
                return
            version = connection.execute("SELECT max(version) FROM schema_version").fetchone()[0]
            if version != SCHEMA_VERSION:
                raise RuntimeError(
                    f"{self._path}: schema version {version}, this ifmatch knows {SCHEMA_VERSION}"
                )

    @contextlib.contextmanager
    def transaction(self, space: str) -> Iterator[Transaction]:
        with self._write_lock, self._connection("BEGIN IMMEDIATE") as connection:
            yield _Transaction(connection, space)

    def write(self, request: WriteRequest) -> WriteResult:
        """:meth:`Store.write`, reading the space's and the resource's state in one statement."""
        with self._write_lock, self._connection("BEGIN IMMEDIATE") as connection:
            return apply(_Transaction(connection, request.space, request.name), request)

    def try_write(self, request: WriteRequest) -> WriteResult | None:
        """The write, made at once, or ``None`` when a writer of this or another process
        holds the lock (SQLite answers ``BEGIN IMMEDIATE`` with "busy" at once: no wait)."""
        results = self.try_write_many([request])
        if results is None:
            return None
        if isinstance(results[0], Exception):
            raise results[0]
        return results[0]

    def try_write_many(
        self, requests: Sequence[WriteRequest]
    ) -> list[WriteResult | Exception] | None:
        """Several writes in one transaction and one commit (group commit), or ``None``
        when the lock is held (then nothing was tried).

        Each write is checked and made exactly as if alone, in order, against the
        state the ones before it left (each bumps its space's counter), so the
        outcome is that of running them one after the other.  The writes share
        their spaces' states, read once and stored once (:class:`_Batch`).  Should
        one raise, the batch is rolled back (to a savepoint: the lock stays held)
        and made again with a savepoint around each write, so that one is undone
        alone and its exception is its result.  Results are returned only after
        the commit.
        """
        if not self._write_lock.acquire(blocking=False):
            return None
        try:
            connection, cursor = self._nowait or self._open_nowait()
            try:
                cursor.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as error:
                if error.sqlite_errorcode & 0xFF in _BUSY:
                    return None
                raise
            try:
                results: list[WriteResult | Exception]
                if len(requests) == 1:  # alone: nothing to share, no batch
                    alone = requests[0]
                    results = [apply(_Transaction(connection, alone.space, alone.name), alone)]
                else:
                    connection.execute("SAVEPOINT together")
                    try:
                        results = self._apply_together(connection, requests)
                    except Exception:
                        connection.execute("ROLLBACK TO together")
                        results = [self._apply_alone(connection, request) for request in requests]
                    connection.execute("RELEASE together")
                cursor.execute("COMMIT")
            except BaseException:
                if connection.in_transaction:
                    connection.execute("ROLLBACK")
                raise
            self._checkpointer.committed()
            return results
        finally:
            self._write_lock.release()

    def _open_nowait(self) -> tuple[sqlite3.Connection, sqlite3.Cursor]:
        """:meth:`try_write_many`'s connection, which never waits for SQLite's lock, and a
        cursor for its ``BEGIN`` and ``COMMIT`` (``Connection.execute`` makes one each)."""
        connection = self._connect()
        connection.execute("PRAGMA busy_timeout = 0")
        self._nowait = connection, connection.cursor()
        return self._nowait

    @staticmethod
    def _apply_together(
        connection: sqlite3.Connection, requests: Sequence[WriteRequest]
    ) -> list[WriteResult | Exception]:
        batch = _Batch()
        results: list[WriteResult | Exception] = [
            apply(_Transaction(connection, request.space, request.name, batch), request)
            for request in requests
        ]
        batch.flush(connection)
        return results

    @staticmethod
    def _apply_alone(
        connection: sqlite3.Connection, request: WriteRequest
    ) -> WriteResult | Exception:
        connection.execute("SAVEPOINT one_write")
        try:
            result = apply(_Transaction(connection, request.space, request.name), request)
        except Exception as error:
            connection.execute("ROLLBACK TO one_write")
            connection.execute("RELEASE one_write")
            return error
        connection.execute("RELEASE one_write")
        return result

    def get(self, space: str, name: str) -> tuple[Meta, bytes] | None:
        with self._connection("BEGIN") as connection:
            row = connection.execute(
                "SELECT version, modified_us, changed_within_second, content_type, length,"
                " data FROM resources WHERE space = ? AND name = ?",
                (space, name),
            ).fetchone()
        return (_meta(row[:5]), bytes(row[5])) if row else None

    def open(self, space: str, name: str) -> Reader | None:
        connection = self.acquire()
        try:
            connection.execute("BEGIN")
            row = connection.execute(
                "SELECT id, version, modified_us, changed_within_second, content_type, length"
                " FROM resources WHERE space = ? AND name = ?",
                (space, name),
            ).fetchone()
        except BaseException:
            self.release(connection)
            raise
        if row is None:
            self.release(connection)
            return None
        return _Reader(self, connection, row[0], _meta(row[1:]))

    def listing(self, space: str) -> Listing:
        with self._connection("BEGIN") as connection:
            row = connection.execute(
                "SELECT counter, modified_us, changed_within_second FROM scopes WHERE space = ?",
                (space,),
            ).fetchone()
            rows = connection.execute(
                "SELECT name, version, modified_us, changed_within_second, content_type, length,"
                " data FROM resources WHERE space = ? ORDER BY name",
                (space,),
            ).fetchall()
        scope = ScopeState(row[0], row[1], bool(row[2])) if row else ScopeState(0, 0)
        return Listing(scope, [(r[0], _meta(r[1:6]), bytes(r[6])) for r in rows])

    def page(self, space: str, after: str | None, limit: int) -> Page:
        # One statement is one snapshot; the UNIQUE (space, name) index serves both the
        # range and the order (BINARY collation: bytewise, as the listing), and one row
        # past the limit tells whether another page follows.
        with self._connection("BEGIN") as connection:
            rows = connection.execute(
                "SELECT name, version, modified_us, changed_within_second, content_type, length,"
                " data FROM resources WHERE space = ? AND name > ? ORDER BY name LIMIT ?",
                (space, after or "", limit + 1),
            ).fetchall()
        members = [(str(r[0]), _meta(r[1:6]), bytes(r[6])) for r in rows[:limit]]
        return Page(members, len(rows) > limit)

    def spaces(self, prefix: str) -> list[tuple[str, int, int]]:
        with self._connection("BEGIN") as connection:
            rows = connection.execute(
                "SELECT s.space, s.counter,"
                " (SELECT count(*) FROM resources r WHERE r.space = s.space)"
                " FROM scopes s WHERE substr(s.space, 1, ?) = ? ORDER BY s.space",
                (len(prefix), prefix),
            ).fetchall()
        return [(str(r[0]), int(r[1]), int(r[2])) for r in rows]

    def ping(self) -> None:
        with self._connection("BEGIN") as connection:
            connection.execute("SELECT 1").fetchone()

    def close(self) -> None:
        self._checkpointer.stop()
        if self._nowait is not None:
            self._nowait[0].close()
            self._nowait = None
        while True:
            try:
                self._idle.get_nowait().close()
            except queue.Empty:
                return
