"""The PostgreSQL backend (psycopg 3 with a connection pool), for several instances.

A write is one statement: ``SELECT * FROM ifmatch_write(space, name,
expected version, content type, data, now)``, a function in the database that
locks the resource's row (``SELECT ... FOR UPDATE``), compares its version
with the one expected (``NULL``: "missing") and, only when they are equal,
replaces, creates or deletes it, in the statement's own transaction.  So the
state a precondition was evaluated against is the state replaced, whichever
instance serves the request, and a write costs one round trip and one commit.

The version expected comes from the request when it names one (a single
``If-Match: "v<N>"``, :func:`~ifmatch.service.store.expected_version`), or
else from a read of the current state; when the function finds another
version, it returns the current state, the preconditions are evaluated
against that, and the write is tried again with its version.  A PATCH, whose
new content depends on the current one, and a POST, whose preconditions are
the collection's, run in an explicit transaction that takes their locks
before reading (see :meth:`PostgresStore.write`).

Versions come from one sequence (``versions``), so they grow across delete and
re-create and two writes never share one.  No row is shared by the writers
of a collection: its validator is derived from its members.  Its ETag is
``"c<sum>"``, the sum of the versions of its members and of its *graves*
(one row per deleted name, holding the version its deletion took): every
write replaces one version by a larger one or adds one, so the sum grows
with every commit, whatever order the writers' versions were drawn in.  Its
Last-Modified is the latest ``modified_us`` among them; a write's is the
store's clock, never before the entry it replaces nor before the
collection's *floor*, the latest Last-Modified a reader (a listing, a
POST) was given, which those readers raise and writers only read.  Writers
of a collection hold a shared advisory lock on it; a listing takes it
exclusively, so it sees no write in flight (see :func:`_scope_of`).  The
async path (:meth:`PostgresStore.write_async`) sends the writes of one turn
of the event loop together (``ifmatch_write_many``).

Each table has one index, its primary key ``(space, name)`` on columns
``COLLATE "C"`` (the bytewise order of listings and pages), and a write
changes no indexed column: an update is HOT (no index entry written) when
its page has room, which ``fillfactor`` keeps (schema version 3).

Reads of a file run in a REPEATABLE READ snapshot and fetch only the spans
asked for with ``substring(data FROM x FOR n)``; the ``data`` column is
stored EXTERNAL (uncompressed), so PostgreSQL reads just the TOAST chunks
that hold the span.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Generator, Iterable
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.pq import TransactionStatus
from psycopg_pool import AsyncConnectionPool, ConnectionPool

from ifmatch import Decision
from ifmatch.service import _pgwire, store
from ifmatch.service._pgwire import Wire
from ifmatch.service.store import (
    Content,
    Listing,
    Meta,
    Page,
    Reader,
    ScopeState,
    Store,
    Transaction,
    WriteDone,
    WriteRequest,
    WriteResult,
    decide,
    expected_version,
)

#: This backend's schema version (SQLite's is ``store.SCHEMA_VERSION``).  Version 1 kept a
#: counter row per space in ``scopes``; version 2 derived a space's state from its members
#: and graves, with an index on ``modified_us`` for every write's ``max()`` and an ``id``;
#: :meth:`PostgresStore._migrate` upgrades both in place.
SCHEMA_VERSION = 3
#: The first key of the advisory locks on spaces (the second is ``hashtext(space)``), as
#: written in the SQL below.
LOCK_CLASS = 7994
#: Version 3's tables.  Names are ``COLLATE "C"``: the primary key is then the bytewise
#: order of the listing and of pages (keyset paging reads it), the same as on SQLite,
#: whatever the database's collation; equality is bytewise under every deterministic
#: collation, so the key is as unique as before.  It is the only index of ``resources``,
#: and a write changes no indexed column, so an update can be HOT (no index entry written)
#: when its page has room: ``fillfactor`` leaves some.
_GRAVES = """CREATE TABLE graves (
        space text COLLATE "C" NOT NULL,
        name text COLLATE "C" NOT NULL,
        version bigint NOT NULL,
        modified_us bigint NOT NULL,
        changed_within_second boolean NOT NULL,
        PRIMARY KEY (space, name))"""
#: Each space's *floor*: the latest ``modified_us`` a reader was given for it (a listing's
#: or a POST's Last-Modified).  No later write of the space is timed before it
#: (:func:`_scope_of`); only those readers write it, under the space's exclusive lock.
_FLOORS = """CREATE TABLE floors (
        space text COLLATE "C" PRIMARY KEY,
        modified_us bigint NOT NULL)"""
_TABLES = [
    "CREATE TABLE schema_version (version integer NOT NULL)",
    "CREATE SEQUENCE versions AS bigint",
    """CREATE TABLE resources (
        space text COLLATE "C" NOT NULL,
        name text COLLATE "C" NOT NULL,
        version bigint NOT NULL,
        modified_us bigint NOT NULL,
        changed_within_second boolean NOT NULL,
        content_type text NOT NULL,
        length bigint NOT NULL,
        data bytea NOT NULL,
        PRIMARY KEY (space, name)) WITH (fillfactor = 80)""",
    "ALTER TABLE resources ALTER COLUMN data SET STORAGE EXTERNAL",
    _GRAVES,
    _FLOORS,
]
#: ``ifmatch_write`` and ``ifmatch_write_many`` (``CREATE OR REPLACE``: an upgrade replaces
#: version 2's, whose signatures they keep).
_FUNCTIONS = [
    """CREATE OR REPLACE FUNCTION ifmatch_write(
        p_space text, p_name text, p_expected bigint, p_type text, p_data bytea, p_now bigint,
        OUT written boolean, OUT old_version bigint, OUT old_modified_us bigint,
        OUT old_within boolean, OUT old_type text, OUT old_length bigint,
        OUT new_version bigint, OUT new_modified_us bigint, OUT new_within boolean)
    LANGUAGE plpgsql AS $$
    DECLARE
        floor_us bigint;
        previous bigint;
    BEGIN
        -- Shared: writers of a space never wait for each other here, only for a reader
        -- raising its floor.  A statement of its own: the next one's snapshot is taken
        -- once the lock is held, so it sees the floor such a reader committed.
        PERFORM pg_advisory_xact_lock_shared(7994, hashtext(p_space));
        SELECT r.version, r.modified_us, r.changed_within_second, r.content_type, r.length,
                (SELECT f.modified_us FROM floors f WHERE f.space = p_space)
            INTO old_version, old_modified_us, old_within, old_type, old_length, floor_us
            FROM resources r WHERE r.space = p_space AND r.name = p_name FOR UPDATE;
        written := false;
        IF old_version IS DISTINCT FROM p_expected OR (old_version IS NULL AND p_data IS NULL)
        THEN
            RETURN;  -- not the state the preconditions were evaluated against
        END IF;
        IF old_version IS NULL THEN
            DELETE FROM graves g WHERE g.space = p_space AND g.name = p_name
                RETURNING g.modified_us INTO previous;
            -- Never before the entry it replaces nor the space's floor (greatest() skips
            -- NULLs): see _scope_of.
            new_modified_us := greatest(p_now, previous,
                (SELECT f.modified_us FROM floors f WHERE f.space = p_space));
            INSERT INTO resources AS r (space, name, version, modified_us,
                    changed_within_second, content_type, length, data)
                VALUES (p_space, p_name, nextval('versions'), new_modified_us,
                    coalesce(previous / 1000000 = new_modified_us / 1000000, false),
                    p_type, length(p_data), p_data)
                ON CONFLICT (space, name) DO NOTHING
                RETURNING r.version, r.changed_within_second INTO new_version, new_within;
            IF new_version IS NULL THEN  -- created meanwhile: say what is there now
                SELECT r.version, r.modified_us, r.changed_within_second, r.content_type,
                        r.length
                    INTO old_version, old_modified_us, old_within, old_type, old_length
                    FROM resources r WHERE r.space = p_space AND r.name = p_name;
                new_modified_us := NULL;
                RETURN;
            END IF;
        ELSE
            new_modified_us := greatest(p_now, old_modified_us, floor_us);
            new_within := old_modified_us / 1000000 = new_modified_us / 1000000;
            IF p_data IS NULL THEN
                DELETE FROM resources r WHERE r.space = p_space AND r.name = p_name;
                INSERT INTO graves AS g VALUES
                    (p_space, p_name, nextval('versions'), new_modified_us, new_within)
                    ON CONFLICT (space, name) DO UPDATE SET version = excluded.version,
                        modified_us = excluded.modified_us,
                        changed_within_second = excluded.changed_within_second
                    RETURNING g.version INTO new_version;
            ELSE
                UPDATE resources r SET version = nextval('versions'),
                        modified_us = new_modified_us, changed_within_second = new_within,
                        content_type = p_type, length = length(p_data), data = p_data
                    WHERE r.space = p_space AND r.name = p_name
                    RETURNING r.version INTO new_version;
            END IF;
        END IF;
        written := true;
    END $$""",
    """CREATE OR REPLACE FUNCTION ifmatch_write_many(
        p_spaces text[], p_names text[], p_expected bigint[], p_types text[], p_data bytea[],
        p_nows bigint[])
    RETURNS SETOF record LANGUAGE plpgsql AS $$
    DECLARE
        k bigint;
        result record;
    BEGIN
        -- One order for every batch (space, name): two batches never wait for each other
        -- in a cycle.
        FOR k IN SELECT o.k FROM unnest(p_spaces, p_names) WITH ORDINALITY AS o(s, n, k)
                ORDER BY o.s COLLATE "C", o.n COLLATE "C", o.k LOOP
            SELECT k::integer, w.* INTO result FROM ifmatch_write(p_spaces[k], p_names[k],
                p_expected[k], p_types[k], p_data[k], p_nows[k]) w;
            RETURN NEXT result;
        END LOOP;
    END $$""",
]
#: Version 2 to 3 (after :func:`_unique_constraints` of ``resources`` are dropped): one
#: index per table, on ``(space, name COLLATE "C")``; no ``id``; the floors, each space's
#: latest time, since a version 2 instance may have shown any of them.
_V3 = [
    "DROP INDEX IF EXISTS resources_space_name_c, resources_modified, graves_modified",
    'ALTER TABLE resources ALTER COLUMN space TYPE text COLLATE "C",'
    ' ALTER COLUMN name TYPE text COLLATE "C"',
    "ALTER TABLE resources ADD PRIMARY KEY (space, name)",
    "ALTER TABLE resources SET (fillfactor = 80)",
    # Its primary key is rebuilt with the columns' collation.
    'ALTER TABLE graves ALTER COLUMN space TYPE text COLLATE "C",'
    ' ALTER COLUMN name TYPE text COLLATE "C"',
    _FLOORS,
    "INSERT INTO floors SELECT space, max(modified_us) FROM ("
    " SELECT space, modified_us FROM resources UNION ALL"
    " SELECT space, modified_us FROM graves) e GROUP BY space",
]
#: Arbitrary key of the advisory lock that serializes schema creation between instances.
_MIGRATION_LOCK = 0x1F3A7C11
_SNAPSHOT = "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY"
_WRITE = "SELECT * FROM ifmatch_write(%s, %s, %s, %s, %s, %s)"
#: Its arrays are sent as text (:func:`_columns`): psycopg's adaptation of six lists costs
#: the client more than the statement's other work, the server's parsing of them less.
_WRITE_MANY = (
    "SELECT * FROM ifmatch_write_many(%s::text[], %s::text[], %s::bigint[], %s::text[],"
    " %s::bytea[], %s::bigint[]) AS w(i integer,"
    " written boolean, old_version bigint, old_modified_us bigint, old_within boolean,"
    " old_type text, old_length bigint, new_version bigint, new_modified_us bigint,"
    " new_within boolean)"
)
#: The same two statements as the writers send them (:class:`~ifmatch.service._pgwire.Wire`).
_WIRE_WRITE = _pgwire.statement("ifmatch_wire_write", _WRITE, _pgwire.WRITE_COLUMNS)
_WIRE_WRITE_MANY = _pgwire.statement(
    "ifmatch_wire_write_many", _WRITE_MANY, _pgwire.WRITE_MANY_COLUMNS
)
_LOCK_SHARED = "SELECT pg_advisory_xact_lock_shared(7994, hashtext(%s))"
_LOCK = "SELECT pg_advisory_xact_lock(7994, hashtext(%s))"
_PEEK = (
    "SELECT version, modified_us, changed_within_second, content_type, length"
    " FROM resources WHERE space = %s AND name = %s"
)
_CURRENT = f"{_PEEK} FOR UPDATE"
#: Every entry of a space that its validator depends on (members, then graves), each with
#: the space's floor.
_ENTRIES = (
    "SELECT version, modified_us, changed_within_second,"
    " (SELECT modified_us FROM floors WHERE space = %(space)s)"
    " FROM resources WHERE space = %(space)s"
    " UNION ALL"
    " SELECT version, modified_us, changed_within_second,"
    " (SELECT modified_us FROM floors WHERE space = %(space)s)"
    " FROM graves WHERE space = %(space)s"
)
#: Raise a space's floor (under its exclusive lock: no other reader raises it meanwhile).
_RAISE_FLOOR = (
    "INSERT INTO floors AS f VALUES (%s, %s) ON CONFLICT (space)"
    " DO UPDATE SET modified_us = greatest(f.modified_us, excluded.modified_us)"
)
#: How often a write whose expected version was overtaken is tried again before it is
#: made under the row's lock instead.
_OPTIMISTIC_TRIES = 8
#: The most writes sent in one statement.  A statement runs in one server process, so
#: more writes go in several, which the server runs side by side.
_BATCH = 8
#: The most writer tasks (:meth:`PostgresStore._writer`), so batch statements in flight;
#: the writes that come meanwhile wait for one of them to finish and go together in the
#: next (fewer, larger commits under load).  Three or four measured no faster.
_IN_FLIGHT = 2
#: Up to how many bytes of contents a batch sends in hex text rather than as bytes: the
#: hex form costs a copy twice the size on both sides, a list of bytes a fixed 40 µs or so.
_HEX_CONTENTS = 64 * 1024
#: How long a writer keeps its pooled connection with no write to send (:meth:`_writer`).
_LINGER_S = 0.05
#: How often a write under the row's lock is tried again when a create raced it.
_LOCKED_TRIES = 100


def _meta(row: Iterable[Any]) -> Meta:
    version, modified_us, within, content_type, length = row
    return Meta(int(version), int(modified_us), bool(within), str(content_type), int(length))


def _scope_of(entries: Iterable[tuple[Any, Any, Any]]) -> ScopeState:
    """A space's state from its entries' ``(version, modified_us, changed_within_second)``.

    The counter (the ETag ``"c<sum>"``) is the sum of the versions: each write
    replaces one by a larger one or adds one, so it grows with every commit.
    The space "changed within the second" of its latest ``modified_us`` when
    two entries fall in that second or one of them says so of itself (it was
    written twice in it, or re-created in the second it was deleted in).
    That is exact only for a state read with no write of the space in
    flight, when every write after the read is timed no earlier than all it
    saw.  Readers of a space's state (a listing, a POST) take the space's
    lock exclusively and, before they commit, raise its *floor* to the
    latest time they saw (:func:`_observed`); writers share that lock from
    before they read the floor until they commit, and take a time no
    earlier than the floor nor than the entry they replace (so the latest
    time of a space never goes back, read or not).  So a writer never reads
    a shared row that other writers write: only those readers write it.
    """
    total, latest, seconds = 0, 0, []
    for version, modified_us, within in entries:
        total += int(version)
        latest = max(latest, int(modified_us))
        seconds.append((int(modified_us) // 1_000_000, bool(within)))
    last = [within for second, within in seconds if second == latest // 1_000_000]
    return ScopeState(total, latest, len(last) > 1 or any(last))


def _observed(
    connection: psycopg.Connection[Any], space: str, rows: list[tuple[Any, ...]]
) -> ScopeState:
    """The state of ``space`` from rows of :data:`_ENTRIES` read under its exclusive lock,
    whose floor is raised to the state's latest time when it is below it (in the caller's
    transaction, which must commit before the state is shown)."""
    scope = _scope_of(row[:3] for row in rows)
    floor = rows[0][3] if rows else None
    if scope.modified_us > (floor or 0):
        connection.execute(_RAISE_FLOOR, (space, scope.modified_us))
    return scope


def _upgrade_from_1(connection: psycopg.Connection[Any]) -> None:
    """Version 1 to 2's data, in the caller's transaction: the ``scopes`` counters go
    (:func:`_upgrade_from_2` follows).

    The sequence starts above every counter, so every new version is larger
    than every version handed out before.  Each space that was written gets
    a grave (name ``''``, which no document or file can have) with a version
    from the sequence and the space's last write time, so its new ETag
    ``"c<sum>"`` is larger than any ``"c<counter>"`` it ever had (no old ETag
    can match a new state) and its Last-Modified does not go back.  Stop the
    instances of the older ifmatch first: they write to ``scopes``.
    """
    row = connection.execute("SELECT coalesce(max(counter), 0) FROM scopes").fetchone()
    top = int(row[0]) if row else 0
    connection.execute(
        sql.SQL("CREATE SEQUENCE versions AS bigint START WITH {}").format(sql.Literal(top + 1))
    )
    connection.execute(_GRAVES.encode())
    connection.execute(
        "INSERT INTO graves (space, name, version, modified_us, changed_within_second)"
        " SELECT space, '', nextval('versions'), modified_us, changed_within_second"
        " FROM scopes WHERE counter > 0"
    )
    connection.execute(b"DROP TABLE scopes")


def _upgrade_from_2(connection: psycopg.Connection[Any]) -> None:
    """Version 2 to 3, in the caller's transaction (under the migration lock).

    ``resources`` loses its ``id`` and its three secondary indexes for one
    primary key on ``(space, name)`` in bytewise order; the floors start at
    each space's latest time (a version 2 instance may have shown it); the
    functions are replaced.  Versions, times and names are kept: every ETag,
    Last-Modified and order stays.  No table is rewritten (dropping a column
    and changing a collation only change the catalog); the key is built
    once.  Stop the instances of the older ifmatch first: they read ``id``.
    """
    connection.execute(b"ALTER TABLE resources DROP COLUMN id")  # and its primary key
    for name in _constraints(connection, "resources"):
        connection.execute(sql.SQL("ALTER TABLE resources DROP CONSTRAINT {}").format(name))
    for statement in _V3 + _FUNCTIONS:
        connection.execute(statement.encode())


def _constraints(connection: psycopg.Connection[Any], table: str) -> list[sql.Identifier]:
    """The names of ``table``'s unique and primary key constraints (``UNIQUE (space, name)``
    in versions 1 and 2, however it was named)."""
    rows = connection.execute(
        "SELECT conname FROM pg_constraint WHERE conrelid = to_regclass(%s)"
        " AND contype IN ('u', 'p')",
        (table,),
    ).fetchall()
    return [sql.Identifier(str(row[0])) for row in rows]


class _Current:
    """The row a locked write (:meth:`PostgresStore._write_locked`) holds: its body is read
    in the same transaction, under the row's lock."""

    def __init__(
        self, connection: psycopg.Connection[Any], space: str, name: str, meta: Meta
    ) -> None:
        self._connection, self._key, self.meta = connection, (space, name), meta

    def body(self) -> bytes:
        row = self._connection.execute(
            "SELECT data FROM resources WHERE space = %s AND name = %s", self._key
        ).fetchone()
        assert row is not None
        return bytes(row[0])


Step = tuple[str, tuple[Any, ...]]


def _expecting(
    request: WriteRequest,
) -> Generator[Step, tuple[Any, ...] | None, WriteResult | None]:
    """A ``whole`` write as the statements it runs, each sent one row back (sync or async).

    The version expected is the one the request names, or else the one a read
    finds; the preconditions are evaluated against that version's state, and
    ``ifmatch_write`` writes only if the locked row has it.  When it does not,
    the state the function found is evaluated in turn.  Returns ``None`` when
    overtaken ``_OPTIMISTIC_TRIES`` times (the caller then writes under the
    row's lock).
    """
    content = request.make(None)
    data = _data(content)
    kind = content.content_type if content is not None else None
    space, name = request.space, request.name
    predicted = expected_version(request)
    expected: int | None
    if predicted is not None:
        expected, decision = predicted
    else:
        row = yield _PEEK, (space, name)
        checked = decide(request, _meta(row) if row else None, None)
    for _ in range(_OPTIMISTIC_TRIES):
        if predicted is None:
            if checked.decision.status is not None or not checked.found:
                return checked
            before = checked.before
            expected, decision = (before.version if before else None), checked.decision
        row = yield _WRITE, (space, name, expected, kind, data, store.now_us())
        assert row is not None
        if row[0]:
            return _result(decision, content, row)
        # Not the version expected: evaluate against the state the function found.
        predicted = None
        checked = decide(request, _meta(row[1:6]) if row[1] is not None else None, None)
    return None


def _result(decision: Decision, content: Content | None, row: tuple[Any, ...]) -> WriteResult:
    """The result of an ``ifmatch_write`` that wrote ``content`` (``None``: deleted)."""
    before = _meta(row[1:6]) if row[1] is not None else None
    if content is None:
        return WriteResult(decision, before)
    after = Meta(int(row[6]), int(row[7]), bool(row[8]), content.content_type, content.length)
    return WriteResult(decision, before, after)


def _columns(writes: list[tuple[Any, ...]]) -> list[str | list[bytes | None]]:
    """``ifmatch_write_many``'s six arrays from the ``ifmatch_write`` parameters of each write,
    as array literals (``{"a","b",NULL}``); the contents stay bytes unless they are small."""
    spaces, names, expected, kinds, data, nows = zip(*writes, strict=True)
    small = sum(len(d) for d in data if d is not None) <= _HEX_CONTENTS
    return [
        _text_array(spaces),
        _text_array(names),
        _number_array(expected),
        _text_array(kinds),
        _bytea_array(data) if small else list(data),
        _number_array(nows),
    ]


def _text_array(values: Iterable[str | None]) -> str:
    quoted = (
        "NULL" if v is None else '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
        for v in values
    )
    return "{" + ",".join(quoted) + "}"


def _number_array(values: Iterable[int | None]) -> str:
    return "{" + ",".join("NULL" if v is None else str(int(v)) for v in values) + "}"


def _bytea_array(values: Iterable[bytes | None]) -> str:
    # Each element is bytea's hex form, \x..., whose backslash the array literal escapes.
    return "{" + ",".join("NULL" if v is None else '"\\\\x' + v.hex() + '"' for v in values) + "}"


def _one(params: tuple[Any, ...]) -> list[bytes | None]:
    """``ifmatch_write``'s parameters for :class:`~ifmatch.service._pgwire.Wire`: text,
    but the content (the fifth), which goes as bytes."""
    space, name, expected, kind, data, now = params
    return [
        space.encode(),
        name.encode(),
        None if expected is None else b"%d" % expected,
        None if kind is None else kind.encode(),
        data,
        b"%d" % now,
    ]


def _text(value: str | list[bytes | None]) -> bytes:
    assert isinstance(value, str), "large contents go through psycopg"
    return value.encode()


def _fail(
    batch: list[tuple[tuple[Any, ...], asyncio.Future[tuple[Any, ...]]]], error: BaseException
) -> None:
    for _, future in batch:
        if not future.done():
            future.set_exception(error)


def _data(content: Content | None) -> bytes | None:
    if content is None:
        return None
    data = content.data if content.data is not None else b"".join(content.chunks())
    if len(data) != content.length:
        raise ValueError(f"content gave {len(data)} bytes, {content.length} announced")
    return data


class _Reader(Reader):
    def __init__(
        self,
        store: PostgresStore,
        connection: psycopg.Connection[Any],
        key: tuple[str, str],
        meta: Meta,
    ) -> None:
        self._store, self._connection, self._key, self.meta = store, connection, key, meta
        self._closed = False

    def read(self, start: int, stop: int) -> bytes:
        # substring() counts from 1; the snapshot sees the row it opened.
        row = self._connection.execute(
            "SELECT substring(data FROM %s FOR %s) FROM resources WHERE space = %s AND name = %s",
            (start + 1, stop - start, *self._key),
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
        self._dsn = dsn
        self._async_check: asyncio.Future[None] | None = None
        self._batch: list[tuple[tuple[Any, ...], asyncio.Future[tuple[Any, ...]]]] = []
        #: The tasks sending the queued writes (:meth:`_writer`), and those of them waiting
        #: for one.
        self._writers = 0
        self._tasks: set[asyncio.Future[None]] = set()
        self._idle: list[asyncio.Future[bool]] = []
        #: The event loop, the opening and the pool of :meth:`write_async`.
        self._async: (
            tuple[asyncio.AbstractEventLoop, asyncio.Future[None], AsyncConnectionPool[Any]] | None
        ) = None
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
        """Create the schema, upgrade a version 1 or 2 schema in place, or refuse another
        one; under an advisory lock, so instances starting together upgrade it once."""
        with self._pool.connection() as connection, connection.transaction():
            connection.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
            exists = connection.execute("SELECT to_regclass('schema_version')").fetchone()
            if exists is None or exists[0] is None:
                for statement in _TABLES + _FUNCTIONS:
                    connection.execute(statement.encode())
                connection.execute("INSERT INTO schema_version VALUES (%s)", (SCHEMA_VERSION,))
                return
            row = connection.execute("SELECT max(version) FROM schema_version").fetchone()
            version = row[0] if row else None
            if version not in {1, 2, SCHEMA_VERSION}:
                raise RuntimeError(
                    f"schema version {version}, this ifmatch knows {SCHEMA_VERSION} "
                    "(and upgrades versions 1 and 2)"
                )
            if version == 1:
                _upgrade_from_1(connection)
            if version in {1, 2}:
                _upgrade_from_2(connection)
                connection.execute("UPDATE schema_version SET version = %s", (SCHEMA_VERSION,))

    def transaction(self, space: str) -> contextlib.AbstractContextManager[Transaction]:
        """Not offered: a PostgreSQL write checks and writes in one statement (:meth:`write`)."""
        raise NotImplementedError("PostgresStore writes only through write()")

    def write(self, request: WriteRequest) -> WriteResult:
        """:meth:`Store.write`: one statement, or a transaction holding the locks it needs.

        A ``whole`` write (PUT, DELETE) is ``ifmatch_write`` with the version
        expected: the one its ``If-Match`` names, else the one a plain read
        finds.  The preconditions are evaluated against that version's state
        (:func:`~ifmatch.service.store.decide`), and the function writes only
        if the row it locks still has that version; when it does not, it
        returns the state it found, and the write is evaluated again against
        that.  A PATCH or a POST, and a write overtaken
        ``_OPTIMISTIC_TRIES`` times, go through :meth:`_write_locked`.
        """
        if request.whole and not request.against_space:
            result = self._write_expecting(request)
            if result is not None:
                return result
        return self._write_locked(request)

    def _write_expecting(self, request: WriteRequest) -> WriteResult | None:
        steps = _expecting(request)
        with self._pool.connection() as connection:
            try:
                query, params = next(steps)
                while True:
                    query, params = steps.send(connection.execute(query, params).fetchone())
            except StopIteration as done:
                result: WriteResult | None = done.value
                return result

    async def write_async(self, request: WriteRequest) -> WriteResult | None:
        """A ``whole`` write (see :meth:`write`) on psycopg's native async pool, without a
        thread, committed with the writes that reach this point in the same turn of the
        event loop (:meth:`_flush`); ``None`` for any other write, or when called from a
        second event loop."""
        if not request.whole or request.against_space:
            return None
        pool = await self._async_pool()
        if pool is None:
            return None
        steps = _expecting(request)
        try:
            query, params = next(steps)
            while True:
                if query is _WRITE:
                    row = await self._queue(pool, params)
                else:
                    async with pool.connection() as connection:
                        row = await (await connection.execute(query, params)).fetchone()
                query, params = steps.send(row)
        except StopIteration as done:
            result: WriteResult | None = done.value
            return result

    def submit(self, request: WriteRequest, done: WriteDone) -> bool:
        """:meth:`write_async`'s write driven by callbacks, without a task of its own: for
        a write whose ``If-Match`` names its version (:func:`expected_version`, no read
        first) once this loop's pool is open; ``False`` (nothing started) otherwise.

        A task per request cost the server about a tenth of its CPU per PUT (its
        creation, its steps, and its end in asyncio's weak set of all tasks).
        """
        if expected_version(request) is None:  # also None for any but a whole write
            return False
        opened = self._async
        if opened is None or opened[0] is not asyncio.get_running_loop():
            return False
        if not opened[1].done() or opened[1].cancelled() or opened[1].exception():
            return False
        pool = opened[2]
        steps = _expecting(request)

        def advance(row: tuple[Any, ...] | None) -> None:
            try:
                query, params = next(steps) if row is None else steps.send(row)
            except StopIteration as finished:
                done(finished.value)
                return
            except Exception as error:  # the write's own error, for the caller to answer
                done(error)
                return
            assert query is _WRITE, "a write that names its version reads nothing first"
            self._queue(pool, params).add_done_callback(written)

        def written(future: asyncio.Future[tuple[Any, ...]]) -> None:
            if future.cancelled():
                done(psycopg.OperationalError("the write was cancelled"))
            elif (error := future.exception()) is not None:
                done(error if isinstance(error, Exception) else RuntimeError(str(error)))
            else:
                advance(future.result())

        advance(None)
        return True

    def _queue(
        self, pool: AsyncConnectionPool[Any], params: tuple[Any, ...]
    ) -> asyncio.Future[tuple[Any, ...]]:
        """Queue one ``ifmatch_write`` for a writer (:meth:`_writer`): sent with the writes
        that reach this point in the same turn of the loop, or, when every writer is busy,
        with those that come until one of them is free (group commit)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[tuple[Any, ...]] = loop.create_future()
        self._batch.append((params, future))
        if self._idle:
            # Runs after the callbacks already ready: the writes of this turn go together.
            self._idle.pop().set_result(True)
        elif self._writers < _IN_FLIGHT:
            self._start_writer(pool)
        return future

    def _start_writer(self, pool: AsyncConnectionPool[Any]) -> None:
        self._writers += 1
        task = asyncio.ensure_future(self._writer(pool))
        self._tasks.add(task)  # the loop keeps only a weak reference
        task.add_done_callback(self._tasks.discard)

    async def _writer(self, pool: AsyncConnectionPool[Any]) -> None:
        """Send the queued writes, ``_BATCH`` at most per statement, on one pooled connection.

        The connection is kept while writes keep coming (up to ``_LINGER_S`` without
        any): checking one out of the pool and back for every statement costs more
        than the statement's own work in the client.  The writer leaves when its
        connection fails, and another one takes the writes still queued.
        """
        loop = asyncio.get_running_loop()
        usable = True
        try:
            async with pool.connection() as connection, Wire(connection) as wire:
                cursor = connection.cursor()
                while usable:
                    if not self._batch:
                        if not await self._park(loop):
                            return
                        continue
                    batch = self._batch[:_BATCH]
                    del self._batch[:_BATCH]
                    try:
                        usable = await self._flush(wire, cursor, batch)
                    except BaseException as error:  # a bug, or cancelled: none may hang
                        lost = psycopg.OperationalError("the write was interrupted")
                        _fail(batch, error if isinstance(error, Exception) else lost)
                        raise
        except Exception as error:  # no connection (or none back): the next writes not sent
            _fail(self._batch[:_BATCH], error)
            del self._batch[:_BATCH]
        finally:
            self._writers -= 1
            if self._batch and not self._idle and self._writers < _IN_FLIGHT:
                self._start_writer(pool)

    async def _park(self, loop: asyncio.AbstractEventLoop) -> bool:
        """Wait for a write (``True``), or ``False`` after ``_LINGER_S`` or on close."""
        waiter: asyncio.Future[bool] = loop.create_future()
        self._idle.append(waiter)
        timer = loop.call_later(_LINGER_S, self._dismiss, waiter)
        try:
            return await waiter
        finally:
            timer.cancel()
            if waiter in self._idle:  # cancelled
                self._idle.remove(waiter)

    def _dismiss(self, waiter: asyncio.Future[bool]) -> None:
        if waiter in self._idle:
            self._idle.remove(waiter)
            waiter.set_result(False)

    async def _flush(
        self,
        wire: Wire,
        cursor: psycopg.AsyncCursor[Any],
        batch: list[tuple[tuple[Any, ...], asyncio.Future[tuple[Any, ...]]]],
    ) -> bool:
        """Send a batch of ``ifmatch_write`` calls as one statement: one transaction, one
        commit (``ifmatch_write_many``, which locks the rows in one order: no deadlock).
        Returns whether the connection can still be used.

        Each write is still checked against the row it locks, in that transaction;
        one that follows another of the same document in the batch sees its write.
        If the statement fails for another reason than the database being
        unavailable, each write is sent again alone, so one bad write fails alone.
        """
        rows: list[tuple[Any, ...] | None]
        try:
            if len(batch) == 1:
                one = await wire.rows(_WIRE_WRITE, _one(batch[0][0]), binary=4)
                rows = [one[0] if one else None]
            else:
                columns = _columns([params for params, _ in batch])
                found: list[tuple[Any, ...]]
                if isinstance(columns[4], list):  # large contents go as bytes: psycopg's
                    wire.pause()
                    try:
                        await cursor.execute(_WRITE_MANY, columns)
                        found = await cursor.fetchall()
                    finally:
                        wire.resume()
                else:
                    found = await wire.rows(_WIRE_WRITE_MANY, [_text(c) for c in columns])
                rows = [None for _ in batch]
                for numbered in found:
                    rows[int(numbered[0]) - 1] = numbered[1:]
        except self.unavailable as error:
            _fail(batch, error)
            return False
        except Exception as error:
            if len(batch) == 1:
                _fail(batch, error)
                return True
            for index, item in enumerate(batch):
                if not await self._flush(wire, cursor, [item]):
                    _fail(batch[index + 1 :], psycopg.OperationalError("the connection was lost"))
                    return False
            return True
        for (_, future), row in zip(batch, rows, strict=True):
            if future.done():  # its request was cancelled
                continue
            if row is None:
                future.set_exception(RuntimeError("ifmatch_write_many skipped a write"))
            else:
                future.set_result(row)
        return True

    async def _async_pool(self) -> AsyncConnectionPool[Any] | None:
        """The async pool of the running event loop, opened on first use (one loop only)."""
        loop = asyncio.get_running_loop()
        if self._async is not None and self._async[1].done() and self._async[0] is loop:
            self._async[1].result()  # the pool's opening raised: raise it again
            return self._async[2]
        if self._async is None:
            pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
                self._dsn,
                min_size=1,
                max_size=self._pool.max_size,
                open=False,
                timeout=self._pool.timeout,
                kwargs={"autocommit": True},
            )
            self._async = (loop, asyncio.ensure_future(pool.open()), pool)
        if self._async[0] is not loop:
            return None
        await asyncio.shield(self._async[1])
        return self._async[2]

    async def aclose(self) -> None:
        if self._async is not None and self._async[0] is asyncio.get_running_loop():
            while self._idle:  # give their connections back first
                self._idle.pop().set_result(False)
            await self._async[2].close()
            self._async = None

    def _write_locked(self, request: WriteRequest) -> WriteResult:
        """The write in a transaction that locks what it reads before evaluating.

        The space's advisory lock (shared; exclusive for a write against the
        space, whose state it reads), then the resource's row ``FOR UPDATE``;
        ``make`` runs with both held.  A missing row cannot be locked: when a
        racing create wins, ``ifmatch_write`` refuses and the whole write is
        tried again, so it is evaluated against that creation.
        """
        space, name = request.space, request.name
        for _ in range(_LOCKED_TRIES):
            with self._pool.connection() as connection:
                try:
                    with connection.pipeline():
                        connection.execute(b"BEGIN")
                        lock = _LOCK if request.against_space else _LOCK_SHARED
                        connection.execute(lock, (space,))
                        entries = (
                            connection.execute(_ENTRIES, {"space": space})
                            if request.against_space
                            else None
                        )
                        row = connection.execute(_CURRENT, (space, name)).fetchone()
                        scope = (
                            _observed(connection, space, entries.fetchall())
                            if entries is not None
                            else None
                        )
                        before = _meta(row) if row else None
                        checked = decide(request, before, scope)
                        if checked.decision.status is not None or not checked.found:
                            connection.execute(b"COMMIT")  # the floor a refusal shows
                            return checked
                        current = None
                        if before is not None:
                            current = _Current(connection, space, name, before)
                        content = request.make(current)
                        expected = before.version if before is not None else None
                        kind = content.content_type if content is not None else None
                        written = connection.execute(
                            _WRITE, (space, name, expected, kind, _data(content), store.now_us())
                        ).fetchone()
                        assert written is not None
                        if not written[0]:  # created meanwhile: evaluate against that
                            connection.execute(b"ROLLBACK")
                            continue
                        connection.execute(b"COMMIT")
                except BaseException:
                    if connection.info.transaction_status != TransactionStatus.IDLE:
                        connection.execute(b"ROLLBACK")
                    raise
            return _result(checked.decision, content, written)
        raise RuntimeError(f"{request.method} {space} {name}: overtaken {_LOCKED_TRIES} times")

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
            row = connection.execute(_PEEK, (space, name)).fetchone()
        except BaseException:
            self.end(connection)
            raise
        if row is None:
            self.end(connection)
            return None
        return _Reader(self, connection, (space, name), _meta(row))

    def end(self, connection: psycopg.Connection[Any]) -> None:
        """End a snapshot begun with ``_SNAPSHOT`` and give the connection back."""
        try:
            if connection.info.transaction_status != TransactionStatus.IDLE:
                connection.execute(b"ROLLBACK")
        finally:
            self._pool.putconn(connection)

    def listing(self, space: str) -> Listing:
        """The members and the space's state, read holding the space's lock exclusively
        (no write of the space in flight: :func:`_scope_of`), in one statement's snapshot;
        the space's floor is raised to its state's time before the state is returned."""
        with self._pool.connection() as connection, connection.transaction():
            connection.execute(_LOCK, (space,))
            rows = connection.execute(
                "SELECT version, modified_us, changed_within_second,"
                " (SELECT modified_us FROM floors WHERE space = %(space)s),"
                " name, content_type, length, data FROM ("
                " SELECT name, version, modified_us, changed_within_second, content_type,"
                " length, data FROM resources WHERE space = %(space)s"
                " UNION ALL SELECT NULL, version, modified_us, changed_within_second, NULL,"
                " NULL, NULL FROM graves WHERE space = %(space)s) e ORDER BY name",
                {"space": space},
            ).fetchall()
            scope = _observed(connection, space, rows)
        members = [
            (str(r[4]), _meta((*r[:3], *r[5:7])), bytes(r[7])) for r in rows if r[4] is not None
        ]
        return Listing(scope, members)

    def page(self, space: str, after: str | None, limit: int) -> Page:
        # One statement is one snapshot (autocommit).  The primary key serves the range
        # and the bytewise order (the columns are COLLATE "C"); one row past the limit
        # tells whether more follow.
        with self._pool.connection() as connection:
            rows = connection.execute(
                "SELECT name, version, modified_us, changed_within_second, content_type, length,"
                " data FROM resources WHERE space = %s AND name > %s ORDER BY name LIMIT %s",
                (space, after or "", limit + 1),
            ).fetchall()
        members = [(str(r[0]), _meta(r[1:6]), bytes(r[6])) for r in rows[:limit]]
        return Page(members, len(rows) > limit)

    def spaces(self, prefix: str) -> list[tuple[str, int, int]]:
        with self._pool.connection() as connection:
            rows = connection.execute(
                "SELECT space, sum(version), count(*) FILTER (WHERE member) FROM ("
                " SELECT space, version, true AS member FROM resources WHERE left(space, %s) = %s"
                " UNION ALL"
                " SELECT space, version, false FROM graves WHERE left(space, %s) = %s) e"
                ' GROUP BY space ORDER BY space COLLATE "C"',
                (len(prefix), prefix, len(prefix), prefix),
            ).fetchall()
        return [(str(r[0]), int(r[1]), int(r[2])) for r in rows]

    def ping(self) -> None:
        with self._pool.connection() as connection:
            connection.execute("SELECT 1")

    def recover(self) -> None:
        """Check the idle connections in a background thread (one check at a time), and
        those of the async pool in its event loop when called from there."""
        if self._checking.acquire(blocking=False):
            threading.Thread(target=self._check, name="ifmatch-pool-check", daemon=True).start()
        with contextlib.suppress(RuntimeError):  # not in an event loop
            here = self._async is not None and self._async[0] is asyncio.get_running_loop()
            if here and (self._async_check is None or self._async_check.done()):
                assert self._async is not None
                self._async_check = asyncio.ensure_future(self._async[2].check())

    def _check(self) -> None:
        try:
            with contextlib.suppress(Exception):
                self._pool.check()
        finally:
            self._checking.release()

    def close(self) -> None:
        self._pool.close()
