"""The PostgreSQL backend (psycopg 3 with a connection pool), for several instances.

A write locks the space's counter row with ``SELECT ... FOR UPDATE``
(created first by ``INSERT ... ON CONFLICT DO NOTHING``, so two racing
first writes to a new collection both find one row).  Every write to a space
takes that lock before reading the current state, so the state checked
against the preconditions is the state replaced, whichever instance serves
the request.  Under READ COMMITTED each statement after the lock sees the
rows committed by the writer that held it before.

Reads of a file run in a REPEATABLE READ snapshot and fetch only the spans
asked for with ``substring(data FROM x FOR n)``; the ``data`` column is
stored EXTERNAL (uncompressed), so PostgreSQL reads just the TOAST chunks
that hold the span.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.pq import TransactionStatus
from psycopg_pool import ConnectionPool

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
    "CREATE TABLE schema_version (version integer NOT NULL)",
    """CREATE TABLE scopes (
        space text PRIMARY KEY,
        counter bigint NOT NULL,
        modified_us bigint NOT NULL,
        changed_within_second boolean NOT NULL DEFAULT false)""",
    """CREATE TABLE resources (
        id bigserial PRIMARY KEY,
        space text NOT NULL,
        name text NOT NULL,
        version bigint NOT NULL,
        modified_us bigint NOT NULL,
        changed_within_second boolean NOT NULL,
        content_type text NOT NULL,
        length bigint NOT NULL,
        data bytea NOT NULL,
        UNIQUE (space, name))""",
    "ALTER TABLE resources ALTER COLUMN data SET STORAGE EXTERNAL",
]
#: Names in bytewise ("C") order, whatever the database's collation: the order of the
#: listing and of pages (keyset paging reads it), the same as on SQLite.  A start that
#: finds it missing creates it, so a database made before it gets it too.
_NAME_ORDER_INDEX = "resources_space_name_c"
_CREATE_NAME_ORDER_INDEX = (
    f'CREATE INDEX {_NAME_ORDER_INDEX} ON resources (space, name COLLATE "C")'.encode()
)
_META = "version, modified_us, changed_within_second, content_type, length"
#: Arbitrary key of the advisory lock that serializes schema creation between instances.
_MIGRATION_LOCK = 0x1F3A7C11
_SNAPSHOT = "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY"


def _meta(row: tuple[Any, ...]) -> Meta:
    return Meta(int(row[0]), int(row[1]), bool(row[2]), str(row[3]), int(row[4]))


class _Current:
    def __init__(self, connection: psycopg.Connection[Any], rowid: int, meta: Meta) -> None:
        self._connection, self._rowid, self.meta = connection, rowid, meta

    def body(self) -> bytes:
        row = self._connection.execute(
            "SELECT data FROM resources WHERE id = %s", (self._rowid,)
        ).fetchone()
        assert row is not None
        return bytes(row[0])


_LOCK_SCOPE = (
    "SELECT counter, modified_us, changed_within_second FROM scopes WHERE space = %s FOR UPDATE"
)
_PEEK = (
    "SELECT id, version, modified_us, changed_within_second, content_type, length"
    " FROM resources WHERE space = %s AND name = %s"
)
_CURRENT = f"{_PEEK} FOR UPDATE"


class _Transaction(Transaction):
    """A write transaction; with ``name``, in pipeline mode, the space's lock and that
    resource's current state are asked for in one round trip (see :meth:`PostgresStore.write`)."""

    def __init__(
        self, connection: psycopg.Connection[Any], space: str, name: str | None = None
    ) -> None:
        self._connection, self._space = connection, space
        self._ahead: tuple[str, psycopg.Cursor[Any]] | None = None
        self._name = name

    def scope(self) -> ScopeState:
        locked = self._connection.execute(_LOCK_SCOPE, (self._space,))
        if self._name is not None:
            # Sent behind the lock in the same round trip: the server runs it once the lock
            # is held, in a snapshot of its own (READ COMMITTED), so it sees the last writer's
            # commit.  (One joined statement would not: EvalPlanQual re-reads only locked rows.)
            # It locks nothing: when the space has no counter row yet it runs without the
            # space's lock, and a row lock taken then would deadlock with the lock's holder.
            # Every writer of the row holds the space's lock, so a plain read is as good.
            ahead = self._connection.execute(_PEEK, (self._space, self._name))
            self._ahead = (self._name, ahead)
        row = locked.fetchone()
        if row is None:  # the space's first write; a racing first write may insert it too
            self._ahead = None
            self._connection.execute(
                "INSERT INTO scopes (space, counter, modified_us) VALUES (%s, 0, 0)"
                " ON CONFLICT (space) DO NOTHING",
                (self._space,),
            )
            row = self._connection.execute(_LOCK_SCOPE, (self._space,)).fetchone()
        assert row is not None
        return ScopeState(int(row[0]), int(row[1]), bool(row[2]))

    def current(self, name: str) -> _Current | None:
        if self._ahead is not None and self._ahead[0] == name:
            row = self._ahead[1].fetchone()
            self._ahead = None
        else:
            row = self._connection.execute(_CURRENT, (self._space, name)).fetchone()
        return _Current(self._connection, int(row[0]), _meta(row[1:])) if row else None

    def put(self, name: str, meta: Meta, content: Content) -> None:
        data = content.data if content.data is not None else b"".join(content.chunks())
        if len(data) != meta.length:
            raise ValueError(f"content gave {len(data)} bytes, {meta.length} announced")
        self._connection.execute(
            """INSERT INTO resources (
                    space, name, version, modified_us, changed_within_second,
                    content_type, length, data)
                VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
                ON CONFLICT (space, name) DO UPDATE SET
                    version = excluded.version, modified_us = excluded.modified_us,
                    changed_within_second = excluded.changed_within_second,
                    content_type = excluded.content_type, length = excluded.length,
                    data = excluded.data""",
            (
                self._space,
                name,
                meta.version,
                meta.modified_us,
                meta.changed_within_second,
                meta.content_type,
                meta.length,
                data,
            ),
        )

    def delete(self, name: str) -> None:
        self._connection.execute(
            "DELETE FROM resources WHERE space = %s AND name = %s", (self._space, name)
        )

    def set_scope(self, state: ScopeState) -> None:
        self._connection.execute(
            "UPDATE scopes SET counter = %s, modified_us = %s, changed_within_second = %s"
            " WHERE space = %s",
            (state.counter, state.modified_us, state.changed_within_second, self._space),
        )


class _Reader(Reader):
    def __init__(
        self, store: PostgresStore, connection: psycopg.Connection[Any], rowid: int, meta: Meta
    ) -> None:
        self._store, self._connection, self._rowid, self.meta = store, connection, rowid, meta
        self._closed = False

    def read(self, start: int, stop: int) -> bytes:
        # substring() counts from 1.
        row = self._connection.execute(
            "SELECT substring(data FROM %s FOR %s) FROM resources WHERE id = %s",
            (start + 1, stop - start, self._rowid),
        ).fetchone()
        if row is None:
            raise RuntimeError("the snapshot lost its row")
        return bytes(row[0])

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._store.end(self._connection)


class PostgresStore(Store):
    """A store in one PostgreSQL database, shared by any number of instances.

    When the database goes away (a restart, a failover, the network), the
    statements in flight fail with :class:`psycopg.OperationalError` and the
    service answers 503; :meth:`recover` then checks every idle pooled
    connection in the background, so the ones the restart broke are replaced
    at once instead of failing one request each, and the pool reconnects by
    itself once the database is back: no restart of the service is needed.
    """

    unavailable = (psycopg.OperationalError,)

    def __init__(self, dsn: str, *, pool_size: int = 10, timeout: float = 5.0) -> None:
        self._checking = threading.Lock()
        # One direct attempt first, with a short connect timeout: an unreachable server is
        # then one clear error at once, not the pool's 30 s of retries and logged warnings.
        probe = (
            dsn
            if "connect_timeout" in conninfo_to_dict(dsn)
            else make_conninfo(dsn, connect_timeout=5)
        )
        psycopg.connect(probe).close()
        self._pool = ConnectionPool(
            dsn,
            min_size=1,
            max_size=max(pool_size, 2),
            open=True,
            # How long a request waits for a connection before its 503 (the database is
            # down and cannot be reconnected to, or every connection is busy).
            timeout=timeout,
            # One round trip per single-statement read; writes and snapshots open
            # their transactions explicitly.
            kwargs={"autocommit": True},
        )
        try:
            self._migrate()
        except BaseException:
            self._pool.close()
            raise

    def _migrate(self) -> None:
        with self._pool.connection() as connection, connection.transaction():
            connection.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
            exists = connection.execute("SELECT to_regclass('schema_version')").fetchone()
            if exists is None or exists[0] is None:
                for statement in _SCHEMA:
                    connection.execute(statement.encode())
                connection.execute("INSERT INTO schema_version VALUES (%s)", (SCHEMA_VERSION,))
            else:
                row = connection.execute("SELECT max(version) FROM schema_version").fetchone()
                version = row[0] if row else None
                if version != SCHEMA_VERSION:
                    raise RuntimeError(
                        f"schema version {version}, this ifmatch knows {SCHEMA_VERSION}"
                    )
            # Looked up first: CREATE INDEX IF NOT EXISTS would lock the table against
            # writes (briefly) on every start, even when the index is there.
            found = connection.execute("SELECT to_regclass(%s)", (_NAME_ORDER_INDEX,)).fetchone()
            if found is None or found[0] is None:
                connection.execute(_CREATE_NAME_ORDER_INDEX)

    @contextlib.contextmanager
    def transaction(self, space: str) -> Iterator[Transaction]:
        with self._pool.connection() as connection, connection.transaction():
            yield _Transaction(connection, space)

    def write(self, request: WriteRequest) -> WriteResult:
        """:meth:`Store.write` in two round trips instead of six.

        In psycopg's pipeline mode, ``BEGIN``, the lock of the space's counter
        row and the read of the resource's current state go out together; the
        new row, the counter and ``COMMIT`` go out together after the check.
        The statements and their order are those of :func:`apply`, so is the
        lock that makes the check and the write atomic.
        """
        with self._pool.connection() as connection:
            try:
                with connection.pipeline():
                    connection.execute(b"BEGIN")
                    result = apply(_Transaction(connection, request.space, request.name), request)
                    connection.execute(b"COMMIT")
            except BaseException:
                if connection.info.transaction_status != TransactionStatus.IDLE:
                    connection.execute(b"ROLLBACK")
                raise
        return result

    def get(self, space: str, name: str) -> tuple[Meta, bytes] | None:
        with self._pool.connection() as connection:
            row = connection.execute(
                "SELECT version, modified_us, changed_within_second, content_type, length, data"
                " FROM resources WHERE space = %s AND name = %s",
                (space, name),
            ).fetchone()
        return (_meta(row[:5]), bytes(row[5])) if row else None

    def open(self, space: str, name: str) -> Reader | None:
        connection = self._pool.getconn()
        try:
            connection.execute(_SNAPSHOT.encode())
            row = connection.execute(
                "SELECT id, version, modified_us, changed_within_second, content_type, length"
                " FROM resources WHERE space = %s AND name = %s",
                (space, name),
            ).fetchone()
        except BaseException:
            self.end(connection)
            raise
        if row is None:
            self.end(connection)
            return None
        return _Reader(self, connection, int(row[0]), _meta(row[1:]))

    def end(self, connection: psycopg.Connection[Any]) -> None:
        """End a snapshot begun with ``_SNAPSHOT`` and give the connection back."""
        try:
            if connection.info.transaction_status != TransactionStatus.IDLE:
                connection.execute(b"ROLLBACK")
        finally:
            self._pool.putconn(connection)

    def listing(self, space: str) -> Listing:
        connection = self._pool.getconn()
        try:
            connection.execute(_SNAPSHOT.encode())
            row = connection.execute(
                "SELECT counter, modified_us, changed_within_second FROM scopes WHERE space = %s",
                (space,),
            ).fetchone()
            rows = connection.execute(
                "SELECT name, version, modified_us, changed_within_second, content_type, length,"
                ' data FROM resources WHERE space = %s ORDER BY name COLLATE "C"',
                (space,),
            ).fetchall()
        finally:
            self.end(connection)
        scope = ScopeState(int(row[0]), int(row[1]), bool(row[2])) if row else ScopeState(0, 0)
        return Listing(scope, [(str(r[0]), _meta(r[1:6]), bytes(r[6])) for r in rows])

    def page(self, space: str, after: str | None, limit: int) -> Page:
        # One statement is one snapshot (autocommit).  resources_space_name_c serves the
        # range and the bytewise order; one row past the limit tells whether more follow.
        with self._pool.connection() as connection:
            rows = connection.execute(
                "SELECT name, version, modified_us, changed_within_second, content_type, length,"
                ' data FROM resources WHERE space = %s AND name COLLATE "C" > %s'
                ' ORDER BY name COLLATE "C" LIMIT %s',
                (space, after or "", limit + 1),
            ).fetchall()
        members = [(str(r[0]), _meta(r[1:6]), bytes(r[6])) for r in rows[:limit]]
        return Page(members, len(rows) > limit)

    def spaces(self, prefix: str) -> list[tuple[str, int, int]]:
        with self._pool.connection() as connection:
            rows = connection.execute(
                "SELECT s.space, s.counter,"
                " (SELECT count(*) FROM resources r WHERE r.space = s.space)"
                ' FROM scopes s WHERE left(s.space, %s) = %s ORDER BY s.space COLLATE "C"',
                (len(prefix), prefix),
            ).fetchall()
        return [(str(r[0]), int(r[1]), int(r[2])) for r in rows]

    def ping(self) -> None:
        with self._pool.connection() as connection:
            connection.execute("SELECT 1")

    def recover(self) -> None:
        """Check the idle connections in a background thread (one check at a time)."""
        if self._checking.acquire(blocking=False):
            threading.Thread(target=self._check, name="ifmatch-pool-check", daemon=True).start()

    def _check(self) -> None:
        try:
            with contextlib.suppress(Exception):
                self._pool.check()
        finally:
            self._checking.release()

    def close(self) -> None:
        self._pool.close()
