"""The PostgreSQL store's own parts: collection validators derived from members and
graves, times that never go back across clocks, and the one-statement write (issue 17).
The schema and its upgrades are in test_postgres_schema.py."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ifmatch import Conditions, Outcome, Resource, etag_for_version, evaluate
from ifmatch.service.store import Content, WriteRequest, expected_version
from tests.service.conftest import postgres_schema


def _put(name: str, data: bytes, conditions: Conditions, space: str = "doc:a") -> WriteRequest:
    content = Content.of(data, "application/json")
    return WriteRequest("PUT", space, name, conditions, lambda _: content, whole=True)


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


#: A second's start plus 0.3 s: the instants below stay inside or cross whole seconds.
_T = 1_700_000_050_300_000


@pytest.mark.postgres
def test_a_clock_behind_never_times_a_write_before_what_a_reader_was_shown(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Instances whose clocks differ (the store's clock is replaced per write): a write is
    timed no earlier than the Last-Modified a listing showed, nor than the entry it
    replaces, so a collection's Last-Modified never goes back and a change in the same
    second is flagged (§13.1.4: no If-Modified-Since gets a stale 304).  Writers never
    write the floor; readers raise it."""
    import psycopg

    from ifmatch.service import store as store_module
    from ifmatch.service.postgres import PostgresStore

    clock: list[int] = []
    monkeypatch.setattr(store_module, "now_us", lambda: clock.pop(0))

    def put(store: PostgresStore, name: str, now: int, etag: str | None = None) -> int:
        clock.append(now)
        conditions = Conditions(if_match=etag) if etag else Conditions()
        after = store.write(_put(name, b"1", conditions)).after
        assert after is not None
        return after.modified_us

    with postgres_schema() as dsn:
        store = PostgresStore(dsn, pool_size=2)

        def floor() -> int | None:
            with psycopg.connect(dsn, autocommit=True) as connection:
                row = connection.execute("SELECT modified_us FROM floors").fetchone()
            return int(row[0]) if row else None

        try:
            assert put(store, "a", _T) == _T
            assert floor() is None  # a writer wrote no shared row
            shown = store.listing("doc:a").scope
            assert (shown.modified_us, shown.changed_within_second, floor()) == (_T, False, _T)
            # 10 s behind: timed at what the listing showed, in its second.
            assert put(store, "b", _T - 10_000_000) == _T
            again = store.listing("doc:a").scope
            assert again.counter > shown.counter
            assert (again.modified_us, again.changed_within_second) == (_T, True)
            # No reader since: an entry is never replaced by an earlier one.
            c = put(store, "c", _T + 5_000_000)
            assert floor() == _T
            found = store.get("doc:a", "c")
            assert found is not None
            assert put(store, "c", _T - 20_000_000, str(found[0].etag)) == c
            assert put(store, "d", _T - 20_000_000) == _T  # the floor, not c's unseen time
            latest = store.listing("doc:a").scope
            assert (latest.modified_us, floor()) == (c, c)
            assert put(store, "e", _T) == c
            assert store.listing("doc:a").scope.changed_within_second is True
            # Replaced and deleted from a clock behind: at the floor too.
            found = store.get("doc:a", "b")
            assert found is not None
            assert put(store, "b", _T - 30_000_000, str(found[0].etag)) == c
            found = store.get("doc:a", "d")
            assert found is not None
            clock.append(_T - 30_000_000)
            gone = WriteRequest(
                "DELETE",
                "doc:a",
                "d",
                Conditions(if_match=str(found[0].etag)),
                lambda _: None,
                must_exist=True,
                whole=True,
            )
            assert store.write(gone).decision.outcome is Outcome.PROCEED
            with psycopg.connect(dsn, autocommit=True) as connection:
                grave = connection.execute("SELECT modified_us FROM graves").fetchall()
            assert grave == [(c,)]
        finally:
            store.close()


@pytest.mark.postgres
def test_a_refused_post_raises_the_floor_to_the_time_it_showed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A POST's 412 carries the collection's Last-Modified (§13.1.1): later writes from a
    clock behind it are timed no earlier."""
    from ifmatch.service import store as store_module
    from ifmatch.service.postgres import PostgresStore

    clock = [_T + 7_000_000, _T]
    monkeypatch.setattr(store_module, "now_us", lambda: clock.pop(0))
    content = Content.of(b"{}", "application/json")
    post = WriteRequest(
        "POST", "doc:a", "p", Conditions(if_match='"c999"'), lambda _: content, against_space=True
    )
    with postgres_schema() as dsn:
        store = PostgresStore(dsn, pool_size=2)
        try:
            assert store.write(_put("x", b"1", Conditions())).after is not None
            refused = store.write(post)
            assert refused.decision.outcome is Outcome.PRECONDITION_FAILED
            assert refused.scope is not None
            assert refused.scope.modified_us == _T + 7_000_000
            later = store.write(_put("y", b"1", Conditions())).after
            assert later is not None
            assert later.modified_us == _T + 7_000_000
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

    async def counted(self: PostgresStore, wire: Any, cursor: Any, batch: list[Any]) -> bool:
        sent.append(len(batch))
        return await flush(self, wire, cursor, batch)

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
