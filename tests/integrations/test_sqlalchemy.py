"""ifmatch.sqlalchemy on SQLite and the real PostgreSQL, with sync and async sessions:
validators from ``version_id_col`` or ``updated_at``, the locked guarded update, 412/428,
StaleDataError as a 412, and two concurrent writers with the same If-Match (one wins)."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import DateTime, Integer, String, create_engine, text
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from ifmatch import ETag, Resource, format_http_date
from ifmatch.guard import PreconditionFailed, PreconditionRequired
from ifmatch.sqlalchemy import guarded_update, guarded_update_async, resource_of
from tests.support.servers import postgres_dsn


class Base(DeclarativeBase):
    pass


class Note(Base):
    __tablename__ = "ifmatch_notes"
    key: Mapped[str] = mapped_column(String(40), primary_key=True)
    body: Mapped[str] = mapped_column(String(200))
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012


class Page(Base):
    __tablename__ = "ifmatch_pages"
    key: Mapped[str] = mapped_column(String(40), primary_key=True)
    body: Mapped[str] = mapped_column(String(200))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


# --- databases --------------------------------------------------------------------------


def _postgres_url(driver: str) -> Iterator[str]:
    """A URL whose search_path is a fresh schema (dropped afterwards)."""
    base = postgres_dsn().replace("postgresql://", f"postgresql+{driver}://", 1)
    schema = f"ifmatch_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base.replace(f"+{driver}", "+psycopg"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        separator = "&" if "?" in base else "?"
        yield f"{base}{separator}options=-csearch_path%3D{schema}"
    finally:
        with admin.connect() as connection:
            connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        urls: Iterator[str] = iter([f"sqlite:///{tmp_path / 'notes.db'}"])
    else:
        urls = _postgres_url("psycopg")
    url = next(urls)
    engine = create_engine(url)
    Base.metadata.create_all(engine)
    with Session(engine) as session, session.begin():
        session.add(Note(key="a", body="first"))
        session.add(Page(key="p", body="one", updated_at=datetime(2020, 1, 1, tzinfo=UTC)))
    yield engine
    engine.dispose()
    for _ in urls:  # drops the PostgreSQL schema
        pass


def _put(session: Session, headers: dict[str, str], body: str, key: str = "a") -> Resource:
    with guarded_update(session, Note, key, "PUT", headers) as update:
        if update.instance is None:
            update.instance = Note(key=key, body=body)
        update.instance.body = body
    return update.resource


# --- sync -------------------------------------------------------------------------------


def test_resource_of_version_id_col_and_timestamp() -> None:
    assert resource_of(Note(key="x", body="", version=4)).etag == ETag("v4")
    moment = datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC)
    page = resource_of(Page(key="p", body="", updated_at=moment), modified_attr="updated_at")
    assert page.etag == ETag(f"t{int(moment.timestamp()) * 1_000_000 + 6}")
    assert page.last_modified == moment
    assert resource_of(None) == Resource.missing()
    with pytest.raises(ValueError, match="version_id_col"):
        resource_of(Page(key="p", body="", updated_at=moment))


def test_guarded_update_412_428_and_one_write(engine: Engine) -> None:
    with Session(engine) as session:
        with pytest.raises(PreconditionRequired):
            _put(session, {}, "second")
        assert _put(session, {"If-Match": '"v1"'}, "second").etag == ETag("v2")
        with pytest.raises(PreconditionFailed) as stale:
            _put(session, {"If-Match": '"v1"'}, "third")
        assert stale.value.resource.etag == ETag("v2")
    with Session(engine) as session:
        note = session.get(Note, "a")
        assert note is not None
        assert (note.body, note.version) == ("second", 2)


def test_create_only_and_caller_owned_transaction(engine: Engine) -> None:
    with Session(engine) as session:
        assert _put(session, {"If-None-Match": "*"}, "new", key="n").etag == ETag("v1")
        with pytest.raises(PreconditionFailed):
            _put(session, {"If-None-Match": "*"}, "again", key="n")
    # Inside the caller's transaction the helper only flushes: a rollback undoes it.
    with Session(engine) as session:
        session.begin()
        _put(session, {"If-Match": '"v1"'}, "rolled back")
        session.rollback()
    with Session(engine) as session:
        assert session.get(Note, "a").body == "first"  # type: ignore[union-attr]


def test_timestamp_validators(engine: Engine) -> None:
    old = datetime(2020, 1, 1, tzinfo=UTC)
    with Session(engine) as session:
        with (
            pytest.raises(PreconditionFailed),
            guarded_update(
                session,
                Page,
                "p",
                "PUT",
                {"If-Unmodified-Since": format_http_date(old - timedelta(days=1))},
                modified_attr="updated_at",
            ),
        ):
            pass
        with guarded_update(
            session,
            Page,
            "p",
            "PUT",
            {"If-Unmodified-Since": format_http_date(old)},
            modified_attr="updated_at",
        ) as update:
            assert update.instance is not None
            update.instance.body = "two"
        assert update.resource.last_modified is not None
        assert update.resource.last_modified > old
        assert update.resource.etag != update.before.etag


@pytest.mark.parametrize("engine", ["sqlite"], indirect=True)
def test_stale_data_error_is_a_412(engine: Engine) -> None:
    """SQLite has no row lock: a writer on another connection changed the row between the
    read and the flush, SQLAlchemy's versioned UPDATE matches nothing, and that is a 412.
    (On PostgreSQL that writer would wait for the FOR UPDATE lock instead.)"""

    def write_while_another_writes() -> None:
        with (
            Session(engine) as session,
            guarded_update(session, Note, "a", "PUT", {"If-Match": '"v1"'}) as update,
        ):
            assert update.instance is not None
            with engine.begin() as other:  # another connection writes v2 meanwhile
                other.execute(
                    text("UPDATE ifmatch_notes SET version = 2, body = 'other' WHERE key = 'a'")
                )
            update.instance.body = "mine"

    with pytest.raises(PreconditionFailed, match="changed by another request"):
        write_while_another_writes()
    with Session(engine) as session:
        assert session.get(Note, "a").body == "other"  # type: ignore[union-attr]


@pytest.mark.postgres
def test_two_writers_same_if_match_on_postgres() -> None:
    """SELECT ... FOR UPDATE: the second writer waits for the first's lock, then sees v2
    and gets its 412 before writing anything (not a StaleDataError after the fact)."""
    urls = _postgres_url("psycopg")
    engine = create_engine(next(urls))
    Base.metadata.create_all(engine)
    with Session(engine) as session, session.begin():
        session.add(Note(key="a", body="initial"))
    inside = threading.Event()
    results: dict[str, str] = {}

    def writer(name: str, hold: bool) -> None:
        with Session(engine) as session:
            try:
                with guarded_update(session, Note, "a", "PUT", {"If-Match": '"v1"'}) as update:
                    assert update.instance is not None
                    update.instance.body = name
                    if hold:
                        inside.set()
                        threading.Event().wait(0.5)
                results[name] = "written"
            except PreconditionFailed as error:
                results[name] = f"412 {error.resource.etag}"

    try:
        first = threading.Thread(target=writer, args=("first", True))
        first.start()
        assert inside.wait(10)
        second = threading.Thread(target=writer, args=("second", False))
        second.start()
        first.join(20)
        second.join(20)
        assert results == {"first": "written", "second": '412 "v2"'}
    finally:
        engine.dispose()
        for _ in urls:
            pass


# --- async ------------------------------------------------------------------------------


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def async_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'notes.db'}"
    else:
        yield from _postgres_url("psycopg_async")


def test_async_session(async_url: str) -> None:
    async def scenario() -> dict[str, Any]:
        engine = create_async_engine(async_url)
        try:
            async with engine.begin() as connection:
                await connection.run_sync(Base.metadata.create_all)
            async with AsyncSession(engine) as session:
                async with session.begin():
                    session.add(Note(key="a", body="first"))
                seen: dict[str, Any] = {}
                with pytest.raises(PreconditionRequired):
                    async with guarded_update_async(session, Note, "a", "PUT", {}):
                        pass
                async with guarded_update_async(
                    session, Note, "a", "PUT", {"If-Match": '"v1"'}
                ) as update:
                    assert update.instance is not None
                    update.instance.body = "second"
                seen["etag"] = update.resource.etag
                with pytest.raises(PreconditionFailed):
                    async with guarded_update_async(
                        session, Note, "a", "PUT", {"If-Match": '"v1"'}
                    ):
                        pass
                async with guarded_update_async(
                    session, Note, "b", "PUT", {"If-None-Match": "*"}
                ) as created:
                    assert created.instance is None
                    created.instance = Note(key="b", body="new")
                seen["created"] = created.resource.etag
            async with AsyncSession(engine) as session:
                note = await session.get(Note, "a")
                assert note is not None
                seen["row"] = (note.body, note.version)
            return seen
        finally:
            await engine.dispose()

    seen = asyncio.run(scenario())
    assert seen == {"etag": ETag("v2"), "created": ETag("v1"), "row": ("second", 2)}
