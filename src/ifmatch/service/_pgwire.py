"""The PostgreSQL writers' statements on libpq's own asynchronous calls.

A writer (:meth:`ifmatch.service.postgres.PostgresStore._writer`) holds one
pooled connection and sends nothing but ``ifmatch_write`` and
``ifmatch_write_many`` on it.  Through psycopg's async cursor each of those
statements cost the client about 110 µs of CPU (a generator per statement,
a future and a reader added and removed per wait, rows made by loaders);
sent as a prepared statement with ``PQsendQueryPrepared`` and read back as
text, about 45 µs (3,000 calls of ``ifmatch_write`` on one connection under
uvloop, on the 2-core machine of ``BENCHMARKS.md``).  At one connection that
is most of what separates a PUT from half the rate of a raw psycopg loop.

:class:`Wire` does only that: it prepares its two statements once per
connection, sends one, waits for the socket with a reader registered once per
writer session, and gives the rows as the tuples psycopg would (``bool``,
``int``, ``str``, ``None``).  Errors are psycopg's own exceptions
(:func:`psycopg.errors.error_from_result`; a lost connection is libpq's
:class:`psycopg.OperationalError`), so the callers' handling is unchanged.  A
statement whose prepared form the server no longer knows (SQLSTATE 26000,
after a ``DEALLOCATE``) is prepared again, once.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable, Sequence
from typing import Any

import psycopg
from psycopg import errors, pq

#: ``ifmatch_write``'s columns, as psycopg reads them.
_TEXT, _INT, _BOOL = str, int, bool
WRITE_COLUMNS: tuple[Callable[[str], Any], ...] = (
    _BOOL,  # written
    _INT,  # old_version
    _INT,  # old_modified_us
    _BOOL,  # old_within
    _TEXT,  # old_type
    _INT,  # old_length
    _INT,  # new_version
    _INT,  # new_modified_us
    _BOOL,  # new_within
)
#: ``ifmatch_write_many``'s: the write's number in the batch, then the same.
WRITE_MANY_COLUMNS: tuple[Callable[[str], Any], ...] = (_INT, *WRITE_COLUMNS)
#: A statement's name, text (``$1``...) and column conversions.
Statement = tuple[bytes, bytes, tuple[Callable[[str], Any], ...]]


def statement(name: str, query: str, columns: tuple[Callable[[str], Any], ...]) -> Statement:
    """A statement for :meth:`Wire.rows` from psycopg's text of it (``%s`` placeholders,
    which become ``$1``, ``$2``...: one text for both ways of sending it)."""
    parts = query.split("%s")
    numbered = parts[0] + "".join(f"${index}{part}" for index, part in enumerate(parts[1:], 1))
    return name.encode(), numbered.encode(), columns


#: The statements prepared on each connection (the server keeps them for its session).
_PREPARED: weakref.WeakKeyDictionary[Any, set[bytes]] = weakref.WeakKeyDictionary()
_UNDEFINED_STATEMENT = "26000"


def _value(kind: Callable[[str], Any], raw: bytes | None) -> Any:
    if raw is None:
        return None
    if kind is _BOOL:
        return raw == b"t"
    return kind(raw.decode())


class Wire:
    """A writer's connection while it holds it: ``async with Wire(connection):``."""

    def __init__(self, connection: psycopg.AsyncConnection[Any]) -> None:
        self._connection = connection
        self._pgconn = connection.pgconn
        self._loop = asyncio.get_running_loop()
        self._socket = self._pgconn.socket
        self._waiter: asyncio.Future[None] | None = None
        self._was_nonblocking = 0
        self._registered = False

    async def __aenter__(self) -> Wire:
        self._was_nonblocking = self._pgconn.nonblocking
        self._pgconn.nonblocking = 1
        self.resume()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.pause()
        if self._pgconn.status == pq.ConnStatus.OK:
            self._pgconn.nonblocking = self._was_nonblocking

    def pause(self) -> None:
        """Let psycopg wait on the socket itself (it registers its own reader)."""
        if self._registered:
            self._registered = False
            self._loop.remove_reader(self._socket)

    def resume(self) -> None:
        """Take the socket back after :meth:`pause`."""
        if not self._registered:
            self._registered = True
            self._loop.add_reader(self._socket, self._wake)

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None:
            if not waiter.done():
                waiter.set_result(None)
            return
        # Readable between statements (a notice, or the server closing): read it into
        # libpq's buffer, or the loop would call this again at once, forever.
        try:
            self._pgconn.consume_input()
        except psycopg.OperationalError:  # lost: the next statement says so
            self.pause()

    async def rows(
        self, statement: Statement, params: Sequence[bytes | None], binary: int = -1
    ) -> list[tuple[Any, ...]]:
        """The rows of ``statement`` run with ``params`` (text, or binary at index
        ``binary``), converted as psycopg would."""
        name, sql, kinds = statement
        prepared = _PREPARED.setdefault(self._connection, set())
        formats = [1 if index == binary else 0 for index in range(len(params))]
        for attempt in (1, 2):
            if name not in prepared:
                self._pgconn.send_prepare(name, sql)
                await self._sent()
                await self._result(pq.ExecStatus.COMMAND_OK)
                prepared.add(name)
            self._pgconn.send_query_prepared(name, params, formats)
            await self._sent()
            try:
                result = await self._result(pq.ExecStatus.TUPLES_OK)
            except errors.Error as error:
                if attempt == 1 and error.sqlstate == _UNDEFINED_STATEMENT:
                    prepared.discard(name)  # deallocated meanwhile: prepare it again
                    continue
                raise
            value = result.get_value
            columns = range(len(kinds))
            return [
                tuple([_value(kinds[column], value(row, column)) for column in columns])
                for row in range(result.ntuples)
            ]
        raise AssertionError("unreachable: the second attempt returns or raises")

    async def _sent(self) -> None:
        """Wait until libpq has written the whole statement to the socket."""
        while self._pgconn.flush():
            writable: asyncio.Future[None] = self._loop.create_future()
            self._loop.add_writer(self._socket, writable.set_result, None)
            try:
                await writable
            finally:
                self._loop.remove_writer(self._socket)

    async def _result(self, expected: pq.ExecStatus) -> pq.abc.PGresult:
        """The statement's result once libpq has read all of it; psycopg's exception for
        an error (the results are read to the end first, so the connection stays usable)."""
        pgconn = self._pgconn
        last: pq.abc.PGresult | None = None
        while True:
            pgconn.consume_input()
            if pgconn.is_busy():
                self._waiter = self._loop.create_future()
                try:
                    await self._waiter
                finally:
                    self._waiter = None
                continue
            result = pgconn.get_result()
            if result is None:
                break
            last = result
        if last is None:
            raise psycopg.OperationalError("the server sent no result")
        if last.status != expected:
            raise errors.error_from_result(last, encoding=self._connection.info.encoding)
        return last
