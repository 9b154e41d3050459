"""The PostgreSQL schema: version 3 as created, and databases made by versions 1 and 2
upgraded in place on start (once, however many instances start together) with the
validators, times and orders they had."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from ifmatch import Conditions
from ifmatch.service.store import Content, ScopeState, WriteRequest
from tests.service.conftest import postgres_schema

pytestmark = pytest.mark.postgres

# Schema 1 as ifmatch before issue 17 created it: a counter row per space.
_SCHEMA_1 = [
    "CREATE TABLE schema_version (version integer NOT NULL)",
    "INSERT INTO schema_version VALUES (1)",
    """CREATE TABLE scopes (space text PRIMARY KEY, counter bigint NOT NULL,
        modified_us bigint NOT NULL, changed_within_second boolean NOT NULL DEFAULT false)""",
    """CREATE TABLE resources (id bigserial PRIMARY KEY, space text NOT NULL, name text NOT NULL,
        version bigint NOT NULL, modified_us bigint NOT NULL,
        changed_within_second boolean NOT NULL, content_type text NOT NULL,
        length bigint NOT NULL, data bytea NOT NULL, UNIQUE (space, name))""",
    # doc:a had 7 writes (its last left "x" at v7; "gone" was deleted), doc:b had 2,
    # doc:c had 4 and all its members were deleted.
    "INSERT INTO scopes VALUES ('doc:a', 7, 1700000005000000, false),"
    " ('doc:b', 2, 1700000009000000, true), ('doc:c', 4, 1700000011000000, false)",
    "INSERT INTO resources (space, name, version, modified_us, changed_within_second,"
    " content_type, length, data) VALUES"
    " ('doc:a', 'x', 7, 1700000005000000, false, 'application/json', 2, '{}'),"
    " ('doc:b', 'y', 2, 1700000009000000, true, 'application/json', 2, '[]')",
]

#: Schema 2 as ifmatch created it, statement by statement.
_SCHEMA_2 = (Path(__file__).parent / "pg_schema_2.sql").read_text().split("\n-- ;\n")

#: Names whose bytewise order is not their order in most collations (case, accents,
#: punctuation, a space), in three spaces; some deleted, one re-created.
_SECOND = 1_700_000_100_000_000
_WRITES: list[tuple[str, str, bytes | None, int]] = [
    ("doc:a", "b", b'{"n":1}', _SECOND),
    ("doc:a", "B", b'{"n":2}', _SECOND + 100),
    ("doc:a", "é", b'{"n":3}', _SECOND + 2_000_000),
    ("doc:a", "a b", b'{"n":4}', _SECOND + 3_000_000),
    ("doc:a", "_x", b'{"n":5}', _SECOND + 3_000_000),
    ("doc:a", "Z", b"[]", _SECOND + 4_000_000),
    ("doc:a", "gone", b"1", _SECOND + 4_000_000),
    ("doc:a", "gone", None, _SECOND + 4_500_000),  # a grave, in the latest second
    ("doc:b", "one", b"1", _SECOND + 1_000_000),
    ("doc:b", "one", b"2", _SECOND + 1_200_000),  # twice in one second
    ("doc:b", "two", b"3", _SECOND + 6_000_000),
    ("doc:b", "two", None, _SECOND + 7_000_000),
    ("doc:b", "two", b"4", _SECOND + 9_000_000),  # re-created
    ("doc:c", "only", b"5", _SECOND + 8_000_000),
    ("doc:c", "only", None, _SECOND + 8_000_000),  # deleted: graves only
    ("file:z", "a/b.txt", b"hello", _SECOND + 5_000_000),
]
_SPACES = ["doc:a", "doc:b", "doc:c", "file:z"]


def _run(dsn: str, statements: list[str]) -> None:
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as connection:
        for statement in statements:
            connection.execute(statement.encode())


def _schema_2_with_data(dsn: str) -> None:
    """A version 2 database holding ``_WRITES``, made by version 2's own function."""
    import psycopg

    _run(dsn, _SCHEMA_2)
    with psycopg.connect(dsn, autocommit=True) as connection:
        for space, name, data, now in _WRITES:
            found = connection.execute(
                "SELECT version FROM resources WHERE space = %s AND name = %s", (space, name)
            ).fetchone()
            written = connection.execute(
                "SELECT written FROM ifmatch_write(%s, %s, %s, %s, %s, %s)",
                (space, name, found[0] if found else None, "application/json", data, now),
            ).fetchone()
            assert written == (True,)


def _raw_state(dsn: str) -> dict[str, Any]:
    """What each space looks like, read from the tables alone (no ifmatch code but
    ``_scope_of``, unchanged since version 2): its state, its members by name in bytewise
    order, and every member's row."""
    import psycopg

    from ifmatch.service.postgres import _scope_of

    state: dict[str, Any] = {}
    with psycopg.connect(dsn, autocommit=True) as connection:
        for space in _SPACES:
            entries = connection.execute(
                "SELECT version, modified_us, changed_within_second FROM resources"
                " WHERE space = %s UNION ALL SELECT version, modified_us,"
                " changed_within_second FROM graves WHERE space = %s",
                (space, space),
            ).fetchall()
            rows = connection.execute(
                "SELECT name, version, modified_us, changed_within_second, content_type,"
                " length, data FROM resources WHERE space = %s",
                (space,),
            ).fetchall()
            members = sorted(
                ((r[0], tuple(r[1:6]), bytes(r[6])) for r in rows),
                key=lambda member: member[0].encode(),
            )
            state[space] = (_scope_of(entries), members)
    return state


def _seen(store: Any) -> dict[str, Any]:
    """The same, as the store reads it (listing, pages of 2, get)."""
    state: dict[str, Any] = {}
    for space in _SPACES:
        listing = store.listing(space)
        members = [
            (
                name,
                (m.version, m.modified_us, m.changed_within_second, m.content_type, m.length),
                body,
            )
            for name, m, body in listing.members
        ]
        paged, after = [], None
        while True:
            page = store.page(space, after, 2)
            paged += [name for name, _, _ in page.members]
            if not page.more:
                break
            after = paged[-1]
        assert paged == [name for name, _, _ in members]
        for name, meta, body in members:
            found = store.get(space, name)
            assert found is not None
            assert (found[0].version, found[1]) == (meta[0], body)
        state[space] = (listing.scope, members)
    return state


def _indexes(dsn: str) -> dict[str, list[str]]:
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as connection:
        rows = connection.execute(
            "SELECT tablename, indexdef FROM pg_indexes WHERE schemaname = current_schema()"
            " ORDER BY tablename, indexname"
        ).fetchall()
    found: dict[str, list[str]] = {}
    for table, definition in rows:
        found.setdefault(table, []).append(definition.split(" USING ")[1])
    return found


def _columns(dsn: str, table: str) -> list[tuple[str, str | None]]:
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as connection:
        rows = connection.execute(
            "SELECT column_name, collation_name FROM information_schema.columns"
            " WHERE table_schema = current_schema() AND table_name = %s"
            " ORDER BY ordinal_position",
            (table,),
        ).fetchall()
    return [(str(name), collation) for name, collation in rows]


#: Version 3: one index per table, every name bytewise, no ``id``.
_V3_INDEXES = {
    "floors": ["btree (space)"],
    "graves": ["btree (space, name)"],
    "resources": ["btree (space, name)"],
}
_V3_RESOURCES = [
    ("space", "C"),
    ("name", "C"),
    ("version", None),
    ("modified_us", None),
    ("changed_within_second", None),
    ("content_type", None),
    ("length", None),
    ("data", None),
]


def _schema_version(dsn: str) -> list[tuple[Any, ...]]:
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as connection:
        return connection.execute("SELECT version FROM schema_version").fetchall()


def test_a_new_database_gets_version_3() -> None:
    from ifmatch.service.postgres import PostgresStore

    with postgres_schema() as dsn:
        PostgresStore(dsn, pool_size=2).close()
        assert _schema_version(dsn) == [(3,)]
        assert _indexes(dsn) == _V3_INDEXES
        assert _columns(dsn, "resources") == _V3_RESOURCES
        PostgresStore(dsn, pool_size=2).close()  # a second start finds version 3
        assert _schema_version(dsn) == [(3,)]


def test_an_unknown_schema_is_refused() -> None:
    import psycopg

    from ifmatch.service.postgres import PostgresStore

    with postgres_schema() as dsn:
        PostgresStore(dsn, pool_size=2).close()
        with psycopg.connect(dsn, autocommit=True) as connection:
            connection.execute("UPDATE schema_version SET version = 99")
        with pytest.raises(RuntimeError, match="schema version 99"):
            PostgresStore(dsn, pool_size=2)


def _put(space: str, name: str, data: bytes, conditions: Conditions) -> WriteRequest:
    content = Content.of(data, "application/json")
    return WriteRequest("PUT", space, name, conditions, lambda _: content, whole=True)


def test_schema_2_is_upgraded_in_place_with_the_same_validators_and_order(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import psycopg

    from ifmatch.service import store as store_module
    from ifmatch.service.postgres import PostgresStore

    with postgres_schema() as dsn:
        _schema_2_with_data(dsn)
        before = _raw_state(dsn)
        assert before["doc:a"][0] == ScopeState(
            before["doc:a"][0].counter, _SECOND + 4_500_000, True
        )
        assert [name for name, _, _ in before["doc:a"][1]] == ["B", "Z", "_x", "a b", "b", "é"]
        assert before["doc:c"][1] == []
        store = PostgresStore(dsn, pool_size=2)
        try:
            # Each space's floor starts at its latest time (doc:c's is a grave's), read
            # before any listing raises one.
            with psycopg.connect(dsn, autocommit=True) as connection:
                floors = connection.execute("SELECT space, modified_us FROM floors").fetchall()
            assert sorted(floors) == sorted((s, before[s][0].modified_us) for s in _SPACES)
            assert _seen(store) == before  # same ETags, Last-Modified, rows and order
            # Each space's floor is its latest time: a write from a clock behind it is
            # timed no earlier than what a version 2 instance may have shown.
            latest = before["doc:b"][0].modified_us
            monkeypatch.setattr(store_module, "now_us", lambda: _SECOND)
            written = store.write(_put("doc:b", "new", b"7", Conditions()))
            monkeypatch.undo()
            assert written.after is not None
            assert written.after.modified_us == latest
            after = store.listing("doc:b").scope
            assert after.counter == before["doc:b"][0].counter + written.after.version
            assert (after.modified_us, after.changed_within_second) == (latest, True)
        finally:
            store.close()
        assert _schema_version(dsn) == [(3,)]
        assert _indexes(dsn) == _V3_INDEXES
        assert _columns(dsn, "resources") == _V3_RESOURCES
        with psycopg.connect(dsn, autocommit=True) as connection:
            functions = connection.execute(
                "SELECT count(*) FROM pg_proc WHERE pronamespace = current_schema()::regnamespace"
            ).fetchone()
        assert functions == (2,)  # replaced, not added beside
        PostgresStore(dsn, pool_size=2).close()
        assert _schema_version(dsn) == [(3,)]


def test_schema_1_is_upgraded_in_place() -> None:
    import psycopg

    from ifmatch.service.postgres import PostgresStore

    with postgres_schema() as dsn:
        _run(dsn, _SCHEMA_1)
        store = PostgresStore(dsn, pool_size=2)
        try:
            found = store.get("doc:a", "x")
            assert found is not None
            assert (found[0].version, found[1]) == (7, b"{}")  # the same validators as before
            a = store.listing("doc:a").scope
            # Larger than any counter doc:a ever had, so no old "c<N>" can match a new state.
            assert a.counter > 7
            assert a.modified_us == 1_700_000_005_000_000  # Last-Modified did not go back
            c = store.listing("doc:c")
            assert (c.members, c.scope.modified_us) == ([], 1_700_000_011_000_000)
            assert c.scope.counter > 4
            written = store.write(_put("doc:a", "x", b"1", Conditions(if_match='"v7"')))
            assert written.after is not None
            assert written.after.version > 7
            assert store.listing("doc:a").scope.counter > a.counter
            assert [name for name, _, _ in store.listing("doc:a").members] == ["x"]
            assert [space for space, _, members in store.spaces("doc:") if members] == [
                "doc:a",
                "doc:b",
            ]
        finally:
            store.close()
        assert _schema_version(dsn) == [(3,)]
        assert _indexes(dsn) == _V3_INDEXES
        with psycopg.connect(dsn, autocommit=True) as connection:
            assert connection.execute("SELECT to_regclass('scopes')").fetchone() == (None,)
        PostgresStore(dsn, pool_size=2).close()  # a second start finds version 3


@pytest.mark.parametrize("version", [1, 2])
def test_instances_starting_together_upgrade_once(version: int) -> None:
    """Four instances start at once on an old database: one upgrades it (under the
    migration lock), the others find version 3; all of them serve the same state."""
    import psycopg

    from ifmatch.service.postgres import PostgresStore

    with postgres_schema() as dsn:
        if version == 1:
            _run(dsn, _SCHEMA_1)
        else:
            _schema_2_with_data(dsn)
        expected = _raw_state(dsn) if version == 2 else None
        start = threading.Barrier(4)
        stores: list[PostgresStore] = []
        errors: list[BaseException] = []

        def begin() -> None:
            start.wait()
            try:
                stores.append(PostgresStore(dsn, pool_size=2))
            except BaseException as error:  # reported below
                errors.append(error)

        threads = [threading.Thread(target=begin) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        try:
            assert errors == []
            states = [store.listing("doc:a").scope for store in stores]
            assert len(set(states)) == 1
            if expected is not None:
                assert _seen(stores[0]) == expected
        finally:
            for store in stores:
                store.close()
        assert _schema_version(dsn) == [(3,)]
        with psycopg.connect(dsn, autocommit=True) as connection:
            graves = connection.execute("SELECT count(*) FROM graves WHERE name = ''").fetchone()
            floors = connection.execute("SELECT count(*) FROM floors").fetchone()
        # Version 1's upgrade gives each space it counted one grave named '', once.
        assert graves == ((3,) if version == 1 else (0,))
        assert floors == (3 if version == 1 else len(_SPACES),)
