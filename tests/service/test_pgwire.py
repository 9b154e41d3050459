"""The PostgreSQL writers' libpq calls (``_pgwire.Wire``) answer as psycopg's cursor does.

The writers send ``ifmatch_write`` and ``ifmatch_write_many`` with libpq's
asynchronous calls instead of psycopg's cursor, so each case here runs the
same statement both ways and compares the rows, values and Python types
alike; errors must be psycopg's own exceptions, leave the connection usable,
and a statement the server forgot (``DEALLOCATE``) is prepared again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from ifmatch.service._pgwire import Wire
from ifmatch.service.postgres import (
    _WIRE_WRITE,
    _WIRE_WRITE_MANY,
    _WRITE,
    _WRITE_MANY,
    PostgresStore,
    _columns,
    _one,
)
from tests.service.conftest import postgres_schema

pytestmark = pytest.mark.postgres

NAMES = ['q"uote', "back\\slash", "a,b", "NULL", " sp ", "ünï"]


def _session(
    scenario: Callable[[Any, Wire], Awaitable[None]],
) -> None:
    """Run ``scenario(connection, wire)`` on a fresh schema made by the store."""
    import psycopg

    async def run(dsn: str) -> None:
        connection = await psycopg.AsyncConnection.connect(dsn, autocommit=True)
        try:
            async with Wire(connection) as wire:
                await scenario(connection, wire)
        finally:
            await connection.close()

    with postgres_schema() as dsn:
        PostgresStore(dsn).close()  # creates the schema's tables and functions
        asyncio.run(run(dsn))


async def _cursor_rows(
    connection: Any, wire: Wire, query: str, params: Any, fetch: bool = True
) -> list[Any]:
    """The rows of ``query`` through psycopg's cursor (the wire steps aside meanwhile)."""
    wire.pause()
    try:
        cursor = await connection.execute(query, params)
        rows: list[Any] = await cursor.fetchall() if fetch else []
        return rows
    finally:
        wire.resume()


def _typed(rows: list[Any]) -> list[list[tuple[type, Any]]]:
    return [[(type(value), value) for value in row] for row in rows]


def test_one_write_reads_back_as_from_psycopgs_cursor() -> None:
    async def scenario(connection: Any, wire: Wire) -> None:
        for number, name in enumerate(NAMES):
            data = bytes(range(number, number + 40))
            created = await wire.rows(
                _WIRE_WRITE, _one(("doc:x", name, None, "application/json", data, 10)), 4
            )
            assert created[0][0] is True  # written
            twin = await _cursor_rows(
                connection, wire, _WRITE, ("doc:y", name, None, "application/json", data, 10)
            )
            # The same shape and types as psycopg's (a first write: no old state).
            assert [type(v) for v in created[0]] == [type(v) for v in twin[0]]
            version = created[0][6]
            replaced = await wire.rows(
                _WIRE_WRITE, _one(("doc:x", name, version, "text/plain", b"", 20)), 4
            )
            again = await _cursor_rows(
                connection, wire, _WRITE, ("doc:y", name, twin[0][6], "text/plain", b"", 20)
            )
            # The same values and types but the versions (one sequence for both spaces).
            mine = [(v if i not in (1, 6) else "version") for i, v in enumerate(replaced[0])]
            theirs = [(v if i not in (1, 6) else "version") for i, v in enumerate(again[0])]
            assert _typed([mine]) == _typed([theirs]), name
            stale = await wire.rows(
                _WIRE_WRITE, _one(("doc:x", name, version, "text/plain", b"", 30)), 4
            )
            assert stale[0][0] is False, "the version moved: nothing written"
            assert stale[0][1] == replaced[0][6], "and the row says which version is there"

    _session(scenario)


def test_a_batch_reads_back_as_from_psycopgs_cursor() -> None:
    async def scenario(connection: Any, wire: Wire) -> None:
        writes = [("doc:b", n, None, "application/json", b'{"n": 1}', 5) for n in NAMES]
        mine = await wire.rows(_WIRE_WRITE_MANY, [c.encode() for c in _columns(writes)])  # type: ignore[union-attr]
        twins = [("doc:c", *write[1:]) for write in writes]
        theirs = await _cursor_rows(connection, wire, _WRITE_MANY, _columns(twins))
        assert len(mine) == len(theirs) == len(NAMES)
        for row, twin in zip(sorted(mine), sorted(theirs), strict=True):
            assert [type(v) for v in row] == [type(v) for v in twin]
            assert row[0] == twin[0]  # the same write of the batch
            assert row[1] is twin[1] is True

    _session(scenario)


def test_an_error_is_psycopgs_and_the_connection_goes_on() -> None:
    import psycopg

    async def scenario(connection: Any, wire: Wire) -> None:
        with pytest.raises(psycopg.errors.DataError):  # not an array literal
            await wire.rows(_WIRE_WRITE_MANY, [b"nope", b"{}", b"{}", b"{}", b"{}", b"{}"])
        rows = await wire.rows(
            _WIRE_WRITE, _one(("doc:e", "after", None, "application/json", b"{}", 1)), 4
        )
        assert rows[0][0] is True

    _session(scenario)


def test_a_statement_the_server_forgot_is_prepared_again() -> None:
    async def scenario(connection: Any, wire: Wire) -> None:
        first = await wire.rows(
            _WIRE_WRITE, _one(("doc:d", "a", None, "application/json", b"{}", 1)), 4
        )
        await _cursor_rows(connection, wire, "DEALLOCATE ALL", None, fetch=False)
        second = await wire.rows(
            _WIRE_WRITE, _one(("doc:d", "a", first[0][6], "application/json", b"{}", 2)), 4
        )
        assert second[0][0] is True

    _session(scenario)
