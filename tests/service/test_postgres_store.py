"""The PostgreSQL store's own parts: schema 1 upgraded in place, collection validators
derived from members and graves, and the one-statement write (issue 17)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ifmatch import Conditions, Outcome, Resource, etag_for_version, evaluate
from ifmatch.service.store import Content, WriteRequest, expected_version
from tests.service.conftest import postgres_schema

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
    # doc:a had 7 writes (its last left "x" at v7; "gone" was deleted), doc:b had 2.
    "INSERT INTO scopes VALUES ('doc:a', 7, 1700000005000000, false),"
    " ('doc:b', 2, 1700000009000000, true)",
    "INSERT INTO resources (space, name, version, modified_us, changed_within_second,"
    " content_type, length, data) VALUES"
    " ('doc:a', 'x', 7, 1700000005000000, false, 'application/json', 2, '{}'),"
    " ('doc:b', 'y', 2, 1700000009000000, true, 'application/json', 2, '[]')",
]


def _put(name: str, data: bytes, conditions: Conditions, space: str = "doc:a") -> WriteRequest:
    content = Content.of(data, "application/json")
    return WriteRequest("PUT", space, name, conditions, lambda _: content, whole=True)


@pytest.mark.postgres
def test_schema_1_is_upgraded_in_place() -> None:
    import psycopg

    from ifmatch.service.postgres import PostgresStore

    with postgres_schema() as dsn:
        with psycopg.connect(dsn, autocommit=True) as connection:
            for statement in _SCHEMA_1:
                connection.execute(statement.encode())
        store = PostgresStore(dsn, pool_size=2)
        try:
            found = store.get("doc:a", "x")
            assert found is not None
            assert (found[0].version, found[1]) == (7, b"{}")  # the same validators as before
            a = store.listing("doc:a").scope
            # Larger than any counter doc:a ever had, so no old "c<N>" can match a new state.
            assert a.counter > 7
            assert a.modified_us == 1_700_000_005_000_000  # Last-Modified did not go back
            written = store.write(_put("x", b"1", Conditions(if_match='"v7"')))
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
        with psycopg.connect(dsn, autocommit=True) as connection:
            assert connection.execute("SELECT version FROM schema_version").fetchall() == [(2,)]
            assert connection.execute("SELECT to_regclass('scopes')").fetchone() == (None,)
        PostgresStore(dsn, pool_size=2).close()  # a second start finds version 2


@pytest.mark.postgres
def test_an_unknown_schema_is_refused() -> None:
    import psycopg

    from ifmatch.service.postgres import PostgresStore

    with postgres_schema() as dsn:
        PostgresStore(dsn, pool_size=2).close()
        with psycopg.connect(dsn, autocommit=True) as connection:
            connection.execute("UPDATE schema_version SET version = 99")
        with pytest.raises(RuntimeError, match="schema version 99"):
            PostgresStore(dsn, pool_size=2)


@pytest.mark.postgres
def test_delete_and_recreate_keep_the_validators_moving() -> None:
    """A deletion leaves a grave holding a new version: the collection's ETag still grows,
    and a re-created document gets a version larger than any its name had."""
    from ifmatch.service.postgres import PostgresStore

    with postgres_schema() as dsn:
        store = PostgresStore(dsn, pool_size=2)
        try:
            first = store.write(_put("d", b"1", Conditions(if_none_match="*"))).after
            assert first is not None
            tags = [store.listing("doc:a").scope.counter]
            gone = WriteRequest(
                "DELETE",
                "doc:a",
                "d",
                Conditions(if_match=str(first.etag)),
                lambda _: None,
                must_exist=True,
                whole=True,
            )
            assert store.write(gone).decision.outcome is Outcome.PROCEED
            assert store.get("doc:a", "d") is None
            assert store.write(gone).found is False  # 404, nothing written
            tags.append(store.listing("doc:a").scope.counter)
            again = store.write(_put("d", b"2", Conditions(if_none_match="*"))).after
            assert again is not None
            assert again.version > first.version
            assert again.modified_us >= first.modified_us
            tags.append(store.listing("doc:a").scope.counter)
            assert tags == sorted(set(tags))  # strictly growing
            assert store.listing("doc:a").members[0][2] == b"2"
        finally:
            store.close()


@pytest.mark.postgres
def test_a_stale_if_match_is_refused_against_the_current_state() -> None:
    from ifmatch.service.postgres import PostgresStore

    with postgres_schema() as dsn:
        store = PostgresStore(dsn, pool_size=2)
        try:
            first = store.write(_put("d", b"1", Conditions())).after
            assert first is not None
            second = store.write(_put("d", b"2", Conditions(if_match=str(first.etag)))).after
            stale = store.write(_put("d", b"3", Conditions(if_match=str(first.etag))))
            assert stale.decision.outcome is Outcome.PRECONDITION_FAILED
            assert stale.before == second  # what the function found, not what was guessed
            found = store.get("doc:a", "d")
            assert found is not None
            assert found[1] == b"2"
        finally:
            store.close()


_HEADER = st.sampled_from(
    ['"v3"', ' "v3" ', '"v03"', 'W/"v3"', '"v3", "v4"', "*", '"x3"', '"v0"', '"v"', "v3"]
)
_DATE = st.sampled_from([None, "Sun, 06 Nov 1994 08:49:37 GMT", "Fri, 01 Jan 2100 00:00:00 GMT"])


@given(
    method=st.sampled_from(["PUT", "DELETE", "PATCH", "POST", "GET"]),
    if_match=_HEADER,
    if_none_match=st.sampled_from([None, "*", '"v3"', '"v9"']),
    since=_DATE,
    modified_since=_DATE,
    ranged=st.booleans(),
    required=st.booleans(),
    modified=st.datetimes(timezones=st.just(UTC)),
    within=st.booleans(),
)
def test_a_predicted_version_is_only_the_one_if_match_names(
    method: str,
    if_match: str,
    if_none_match: str | None,
    since: str | None,
    modified_since: str | None,
    ranged: bool,
    required: bool,
    modified: datetime,
    within: bool,
) -> None:
    """§13.1.1: only a single strong "v<N>" names the version a write needs; the prediction
    then carries the decision evaluate() gives against version N, whatever its date
    (§13.2.2: If-Unmodified-Since is not evaluated when If-Match is present, and
    If-Modified-Since, If-Range and Range only for GET)."""
    conditions = Conditions(
        if_match=if_match,
        if_none_match=if_none_match,
        if_unmodified_since=since,
        if_modified_since=modified_since,
        if_range='"v3"' if ranged else None,
        range="bytes=0-1" if ranged else None,
    )
    request = WriteRequest(method, "doc:a", "d", conditions, lambda _: None, required, whole=True)
    predicted = expected_version(request)
    single = if_match.strip() == '"v3"'
    if predicted is None:
        assert not single or method == "GET" or if_none_match is not None
        return
    assert single
    assert method != "GET"
    version, decision = predicted
    assert version == 3
    assert decision.outcome is Outcome.PROCEED
    state = Resource(etag_for_version(3), modified, True, within)
    assert evaluate(method, conditions, state, require_precondition=required) == decision


@pytest.mark.postgres
def test_batched_async_writes_lose_nothing() -> None:
    """The writes of one turn of the event loop share a statement: each is still checked
    against the row it locks (8 coroutines x 10 read-modify-write increments end at 80),
    and of racing creates exactly one wins."""
    import asyncio

    from ifmatch.service.postgres import PostgresStore

    async def scenario(store: PostgresStore) -> None:
        created = await store.write_async(_put("n", b"0", Conditions()))
        assert created is not None

        async def client() -> None:
            done = 0
            while done < 10:
                found = store.get("doc:a", "n")
                assert found is not None
                meta, body = found
                request = _put("n", b"%d" % (int(body) + 1), Conditions(if_match=str(meta.etag)))
                result = await store.write_async(request)
                assert result is not None
                done += result.decision.outcome is Outcome.PROCEED

        await asyncio.gather(*(client() for _ in range(8)))
        creates = [_put("new", b"%d" % n, Conditions(if_none_match="*")) for n in range(12)]
        results = await asyncio.gather(*(store.write_async(r) for r in creates))
        outcomes = [r.decision.outcome for r in results if r is not None]
        assert outcomes.count(Outcome.PROCEED) == 1
        assert outcomes.count(Outcome.PRECONDITION_FAILED) == 11
        await store.aclose()

    with postgres_schema() as dsn:
        store = PostgresStore(dsn, pool_size=4)
        try:
            asyncio.run(scenario(store))
            found = store.get("doc:a", "n")
            assert found is not None
            assert found[1] == b"80"
        finally:
            store.close()


@pytest.mark.postgres
@pytest.mark.parametrize("size", [40, 40_000])
def test_a_batch_sends_any_name_and_contents_intact(
    size: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch's arrays go as text literals: names with quotes, backslashes, commas, braces
    or spelling NULL, and contents of any bytes (in hex text up to ``_HEX_CONTENTS`` per
    batch, as bytes beyond), reach the database as they were; a delete in the batch too.
    No batch statement fails (its writes would be sent again one by one)."""
    import asyncio
    from typing import Any

    from ifmatch.service import postgres
    from ifmatch.service.postgres import PostgresStore

    names = ['q"uote', "back\\slash", "a,b", "{br}", "NULL", "", " sp ", "ünï", "\\x00"]
    contents = {name: bytes([n % 256 for n in range(i, i + size)]) for i, name in enumerate(names)}
    assert (sum(map(len, contents.values())) <= postgres._HEX_CONTENTS) is (size == 40)

    sent: list[int] = []
    flush = PostgresStore._flush

    async def counted(self: PostgresStore, cursor: Any, batch: list[Any]) -> bool:
        sent.append(len(batch))
        return await flush(self, cursor, batch)

    monkeypatch.setattr(PostgresStore, "_flush", counted)

    async def scenario(store: PostgresStore) -> None:
        first = await asyncio.gather(
            *(store.write_async(_put(n, b"0", Conditions(), space="doc:b")) for n in names)
        )
        assert all(r is not None and r.created for r in first)
        tags = {n: str(r.after.etag) for n, r in zip(names, first, strict=True) if r and r.after}
        gone = WriteRequest(
            "DELETE", "doc:b", "a,b", Conditions(if_match=tags["a,b"]), lambda _: None, whole=True
        )
        results = await asyncio.gather(
            *(
                store.write_async(_put(n, data, Conditions(if_match=tags[n]), space="doc:b"))
                for n, data in contents.items()
                if n != "a,b"
            ),
            store.write_async(gone),
        )
        assert all(r is not None and r.decision.status is None for r in results)
        assert max(sent) > 1
        assert sum(sent) == 2 * len(names)
        await store.aclose()

    with postgres_schema() as dsn:
        store = PostgresStore(dsn, pool_size=4)
        try:
            asyncio.run(scenario(store))
            for name, data in contents.items():
                found = store.get("doc:b", name)
                if name == "a,b":
                    assert found is None
                else:
                    assert found is not None, name
                    assert found[1] == data, name
        finally:
            store.close()


@pytest.mark.postgres
def test_a_writer_keeps_its_connection_while_writes_come_and_gives_it_back_when_idle() -> None:
    """Consecutive writes go through one checkout of a pooled connection, which the writer
    gives back to the pool once no write has come for ``_LINGER_S``."""
    import asyncio

    from ifmatch.service import postgres
    from ifmatch.service.postgres import PostgresStore

    async def scenario(store: PostgresStore) -> None:
        created = await store.write_async(_put("n", b"0", Conditions()))
        assert created is not None
        assert created.after is not None
        version = created.after.version
        assert store._async is not None
        pool = store._async[2]
        checkouts = pool.get_stats().get("requests_num", 0)
        for n in range(1, 6):
            request = _put("n", b"%d" % n, Conditions(if_match=f'"v{version}"'))
            result = await store.write_async(request)
            assert result is not None
            assert result.after is not None
            version = result.after.version
        assert pool.get_stats().get("requests_num", 0) == checkouts
        assert pool.get_stats()["pool_available"] == pool.get_stats()["pool_size"] - 1
        await asyncio.sleep(postgres._LINGER_S)
        for _ in range(100):  # given back just after _LINGER_S, however loaded the machine
            if pool.get_stats()["pool_available"] == pool.get_stats()["pool_size"]:
                break
            await asyncio.sleep(0.02)
        assert pool.get_stats()["pool_available"] == pool.get_stats()["pool_size"]
        assert store._writers == 0
        await store.aclose()

    with postgres_schema() as dsn:
        store = PostgresStore(dsn, pool_size=4)
        try:
            asyncio.run(scenario(store))
        finally:
            store.close()
