"""The store: preconditions evaluated inside the write transaction, versions, migrations."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from ifmatch import Conditions, Outcome
from ifmatch.service.backends import open_store
from ifmatch.service.store import Content, Current, WriteRequest


def _put(
    space: str,
    name: str,
    data: bytes,
    conditions: Conditions,
    hold: threading.Event | None = None,
    entered: threading.Event | None = None,
) -> WriteRequest:
    """A PUT whose content is made inside the write transaction (after the check).

    ``entered`` is set once the transaction has passed its precondition check;
    ``hold`` keeps it open (its lock held) until set.
    """

    def make(current: Current | None) -> Content:
        if entered is not None:
            entered.set()
        if hold is not None:
            assert hold.wait(30), "the test never released the held transaction"
        return Content.of(data, "application/json")

    return WriteRequest("PUT", space, name, conditions, make)


def test_two_stores_cannot_both_pass_the_same_if_match(db_url: str) -> None:
    """Writer A holds its transaction open; writer B, with the same If-Match, must get 412.

    A and B are separate store objects (separate pools and locks), as two
    instances or worker processes would be.  Were the check made outside the
    write transaction, B would see v1 and overwrite A's write.
    """
    first, second = open_store(db_url, pool_size=2), open_store(db_url, pool_size=2)
    try:
        created = first.write(_put("doc:c", "d", b"0", Conditions(if_none_match="*")))
        assert created.after is not None
        tag = str(created.after.etag)
        release, a_inside = threading.Event(), threading.Event()
        with ThreadPoolExecutor(2) as pool:
            a = pool.submit(
                first.write,
                _put("doc:c", "d", b"1", Conditions(if_match=tag), release, a_inside),
            )
            # A has passed its check and holds its transaction open: B starts only now.
            assert a_inside.wait(30), "writer A never reached its transaction"
            b = pool.submit(second.write, _put("doc:c", "d", b"2", Conditions(if_match=tag)))
            # Give B time to block on A's lock; if it has not got there yet, it runs after
            # A's commit, and the assertions below hold just the same.
            time.sleep(0.2)
            release.set()
            results = a.result(30), b.result(30)
        assert results[0].decision.outcome is Outcome.PROCEED
        assert results[1].decision.outcome is Outcome.PRECONDITION_FAILED
        assert results[1].before == results[0].after  # B was checked against A's write
        found = second.get("doc:c", "d")
        assert found is not None
        assert found[1] == b"1"
    finally:
        first.close()
        second.close()


def test_failed_make_writes_nothing(db_url: str) -> None:
    store = open_store(db_url, pool_size=2)
    try:
        store.write(_put("doc:c", "d", b"0", Conditions()))

        def boom(current: Current | None) -> Content:
            raise RuntimeError("patch failed")

        with pytest.raises(RuntimeError):
            store.write(WriteRequest("PUT", "doc:c", "d", Conditions(if_match="*"), boom))
        listing = store.listing("doc:c")
        assert listing.scope.counter == 1
        assert [body for _, _, body in listing.members] == [b"0"]
    finally:
        store.close()


def test_instances_agree_on_validators(db_url: str) -> None:
    first, second = open_store(db_url, pool_size=2), open_store(db_url, pool_size=2)
    try:
        first.write(_put("doc:c", "d", b"{}", Conditions()))
        one, two = first.get("doc:c", "d"), second.get("doc:c", "d")
        assert one is not None
        assert two is not None
        assert one[0] == two[0]
        assert str(one[0].etag) == '"v1"'
    finally:
        first.close()
        second.close()


def test_changed_within_second_is_recorded(db_url: str) -> None:
    store = open_store(db_url, pool_size=2)
    try:
        first = store.write(_put("doc:c", "d", b"1", Conditions())).after
        second = store.write(_put("doc:c", "d", b"2", Conditions(if_match="*"))).after
        assert first is not None
        assert second is not None
        assert second.version > first.version
        assert second.modified_us >= first.modified_us
        same_second = first.modified_us // 1_000_000 == second.modified_us // 1_000_000
        assert second.changed_within_second is same_second
        assert second.resource().changed_within_second is same_second
    finally:
        store.close()


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    open_store(f"sqlite:///{path}").close()
    with sqlite3.connect(path) as connection:
        connection.execute("UPDATE schema_version SET version = 99")
    with pytest.raises(RuntimeError, match="schema version 99"):
        open_store(f"sqlite:///{path}")


def test_unknown_database_url() -> None:
    with pytest.raises(ValueError, match="sqlite:///PATH or postgresql://"):
        open_store("mysql://localhost/x")
    with pytest.raises(ValueError, match="needs a file path"):
        open_store("sqlite:///:memory:")


def test_racing_creates_make_exactly_one(db_url: str) -> None:
    """Eight If-None-Match: * creates of one new document in a new space, from two stores."""
    stores = [open_store(db_url, pool_size=4), open_store(db_url, pool_size=4)]
    try:
        with ThreadPoolExecutor(8) as pool:
            futures = [
                pool.submit(
                    stores[n % 2].write,
                    _put("doc:fresh", "only", str(n).encode(), Conditions(if_none_match="*")),
                )
                for n in range(8)
            ]
            results = [future.result(30) for future in futures]
        outcomes = [result.decision.outcome for result in results]
        assert outcomes.count(Outcome.PROCEED) == 1
        assert outcomes.count(Outcome.PRECONDITION_FAILED) == 7
        winner = outcomes.index(Outcome.PROCEED)
        made = results[winner].after
        assert made is not None
        # Exactly one write: the one member is the winner's version, with its bytes.
        listing = stores[0].listing("doc:fresh")
        assert [(name, meta.version, body) for name, meta, body in listing.members] == [
            ("only", made.version, str(winner).encode())
        ]
        # SQLite counts a space's writes.  PostgreSQL sums its members' versions, drawn
        # from a sequence that a losing create may have drawn from too (its INSERT takes
        # nextval before it meets the winner's row): there the sum is the one version.
        assert listing.scope.counter == (1 if db_url.startswith("sqlite") else made.version)
    finally:
        for store in stores:
            store.close()


def test_collection_knows_two_writes_in_one_second(db_url: str) -> None:
    store = open_store(db_url, pool_size=2)
    try:
        store.write(_put("doc:c", "a", b"1", Conditions()))
        first = store.listing("doc:c").scope
        assert first.changed_within_second is False  # the space's first write
        store.write(_put("doc:c", "b", b"2", Conditions()))
        second = store.listing("doc:c").scope
        same = first.modified_us // 1_000_000 == second.modified_us // 1_000_000
        assert second.changed_within_second is same
    finally:
        store.close()


def _overwrite(space: str, name: str, data: bytes) -> WriteRequest:
    """A PUT without preconditions (the store not asking for one): it always writes."""
    content = Content.of(data, "application/json")
    return WriteRequest("PUT", space, name, Conditions(), lambda _: content, False)


def _wal_frames(path: Path) -> int:
    """The frames in the WAL of ``path`` (a passive checkpoint reports them)."""
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as connection:
        frames: int = connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()[0][1]
    return frames


class _Racing:
    """A connection whose first statement is followed at once by ``then()``: a writer
    that commits while the checkpointer's first pass is (as far as it knows) running."""

    def __init__(self, connection: sqlite3.Connection, then: Callable[[], object]) -> None:
        self._connection, self._then, self.calls = connection, then, 0

    def execute(self, sql: str) -> sqlite3.Cursor:
        cursor = self._connection.execute(sql)
        self.calls += 1
        if self.calls == 1:
            self._then()
        return cursor


def test_sqlite_wal_starts_over_though_commits_come_during_the_checkpoint(
    tmp_path: Path,
) -> None:
    """A WAL that is written while it is checkpointed still starts over: under a steady
    stream of commits a passive checkpoint alone never leaves it wholly copied, and it
    grew without end (about 37 MB a second under one connection's PUTs)."""
    from ifmatch.service.sqlite import RESTART_FRAMES, SQLiteStore

    path = tmp_path / "w.db"
    store = SQLiteStore(str(path))
    checkpointer = store._checkpointer
    checkpointer.stop()  # its thread never starts: this test runs its passes
    body = b'{"n": 1}'
    try:
        for number in range(RESTART_FRAMES):  # at least two frames each: a long WAL
            store.write(_overwrite("doc:c", f"d{number % 50}", body))
        assert _wal_frames(path) >= RESTART_FRAMES
        with (
            contextlib.closing(sqlite3.connect(path, isolation_level=None)) as plain,
            contextlib.closing(sqlite3.connect(path, isolation_level=None, timeout=1)) as holder,
        ):
            racing = _Racing(plain, lambda: store.write(_overwrite("doc:c", "x", body)))
            checkpointer.checkpoint(racing, holder)  # type: ignore[arg-type]
            assert racing.calls == 2, "a long WAL written meanwhile gets a second pass"
        store.write(_overwrite("doc:c", "y", body))
        assert _wal_frames(path) < 10, "the next writer started the WAL over"
    finally:
        store.close()


def test_sqlite_wal_stays_short_under_a_steady_stream_of_writes(tmp_path: Path) -> None:
    """With the store's own checkpointer thread and a writer that never pauses, the WAL
    file stays a fraction of what was written (bounded: 3 s of writes)."""
    from ifmatch.service.sqlite import SQLiteStore

    path = tmp_path / "s.db"
    store = SQLiteStore(str(path))
    try:
        writes = 0
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            store.write(_overwrite("doc:c", "d", b'{"n": %d}' % writes))
            writes += 1
        written = writes * 2 * 4096  # each write appends its page and the space's
        assert Path(f"{path}-wal").stat().st_size < written / 2, (writes, written)
    finally:
        store.close()


def test_sqlite_checkpoints_on_its_own_thread_not_in_the_commit(tmp_path: Path) -> None:
    """A commit never runs a checkpoint (its fsync would stall the event loop); the
    store's checkpointer copies the WAL into the database file shortly after."""
    from ifmatch.service.sqlite import CHECKPOINT_EVERY_S, SQLiteStore

    path = tmp_path / "c.db"
    store = SQLiteStore(str(path))
    try:
        connection = store.acquire()
        assert connection.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0
        store.release(connection)
        for number in range(20):
            store.write(
                _put("doc:c", f"d{number}", b'{"n": %d}' % number, Conditions(if_none_match="*"))
            )
        # The database file alone (immutable: the WAL is not read) has every row once the
        # checkpointer ran: bounded wait.
        deadline = time.monotonic() + 20 * CHECKPOINT_EVERY_S + 10
        while True:
            alone = sqlite3.connect(f"file:{path}?immutable=1", uri=True)
            try:
                rows = alone.execute("SELECT count(*) FROM resources").fetchone()[0]
            except sqlite3.DatabaseError:
                rows = -1
            finally:
                alone.close()
            if rows == 20 or time.monotonic() > deadline:
                break
            time.sleep(CHECKPOINT_EVERY_S)
        assert rows == 20
    finally:
        store.close()
