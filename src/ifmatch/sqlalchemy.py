"""SQLAlchemy 2: validators from ``version_id_col`` or a timestamp, and the guarded update.

>>> class Note(Base):                                                  # doctest: +SKIP
...     __tablename__ = "notes"
...     key: Mapped[str] = mapped_column(primary_key=True)
...     body: Mapped[str]
...     version: Mapped[int] = mapped_column(nullable=False)
...     __mapper_args__ = {"version_id_col": version}
>>> with Session(engine) as session:                                   # doctest: +SKIP
...     with guarded_update(session, Note, key, "PUT", request.headers) as update:
...         update.instance.body = new_body
...     response.headers["ETag"] = str(update.resource.etag)

:func:`guarded_update` (and :func:`guarded_update_async` for an
``AsyncSession``) is the race-free write of RFC 9110 §13.1.1: it loads the
row with ``SELECT ... FOR UPDATE`` (``with_for_update``: a row lock on
PostgreSQL and MySQL), evaluates the request's preconditions against the
locked row and raises :class:`~ifmatch.guard.PreconditionFailed` (412) or
:class:`~ifmatch.guard.PreconditionRequired` (428) before anything is
written; after the block it flushes, and SQLAlchemy's versioning bumps
``version_id_col`` in an ``UPDATE ... WHERE version = <read>``.  Where no
row lock exists (SQLite), that ``WHERE`` is what catches a concurrent
writer: its :class:`~sqlalchemy.orm.exc.StaleDataError` is raised as the
412 it means.  Render the exceptions with the framework's handler
(``ifmatch.starlette.install``, ``ifmatch.fastapi.install``,
``ifmatch.flask.install``, the Django or ASGI/WSGI middleware).

Transactions: when the session is not in a transaction, the helper begins
one and commits it after the block; inside the caller's transaction it
only flushes, and the caller commits (after a 412/428 nothing was written;
after a :class:`~sqlalchemy.orm.exc.StaleDataError` the caller must roll back,
as always).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

import sqlalchemy
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from ifmatch.conditions import HeaderPairs
from ifmatch.guard import PreconditionFailed, check_preconditions
from ifmatch.hashing import etag_for_timestamp, etag_for_version
from ifmatch.preconditions import Decision, Outcome, Resource

Model = TypeVar("Model")

__all__ = ["GuardedUpdate", "guarded_update", "guarded_update_async", "resource_of"]


def version_attribute(entity: Any) -> str | None:
    """The attribute name of the mapper's ``version_id_col``, if it has one."""
    mapper = sqlalchemy.inspect(entity).mapper
    column = mapper.version_id_col
    if column is None:
        return None
    return str(mapper.get_property_by_column(column).key)


def resource_of(
    instance: Any,
    *,
    version_attr: str | None = None,
    modified_attr: str | None = None,
) -> Resource:
    """The validators of a mapped instance (``Resource.missing()`` for ``None``).

    The ETag is strong, ``"v<version>"``, from ``version_attr`` or else the
    mapper's ``version_id_col``.  Without either, ``modified_attr`` (say
    ``updated_at``) gives an ETag from the timestamp to the microsecond (two
    writes within one second still differ); it also gives ``Last-Modified``.
    """
    if instance is None:
        return Resource.missing()
    modified: datetime | None = getattr(instance, modified_attr) if modified_attr else None
    if modified is not None and modified.tzinfo is None:
        modified = modified.replace(tzinfo=UTC)  # naive timestamps are taken as UTC
    attr = version_attr or version_attribute(instance)
    if attr is not None:
        etag = etag_for_version(getattr(instance, attr))
    elif modified is not None:
        etag = etag_for_timestamp(modified)
    else:
        raise ValueError(
            "resource_of needs a version_id_col on the mapper, a version_attr or a modified_attr"
        )
    return Resource(etag, modified)


@dataclass
class GuardedUpdate(Generic[Model]):
    """What the guarded update yields: the locked row and, after the block, its validators.

    ``instance`` is ``None`` when no row has the identity; the block may then
    create one (assign ``instance``; ``If-None-Match: *`` makes that
    create-only).
    """

    instance: Model | None
    #: The resource as the request found it.
    before: Resource
    #: The resource after the write (set when the block exits without an exception).
    resource: Resource = field(default_factory=Resource.missing)


_Headers = Mapping[str, str] | HeaderPairs


def _stale(before: Resource) -> PreconditionFailed:
    """A concurrent writer got in between (StaleDataError): the 412 it means."""
    decision = Decision(
        Outcome.PRECONDITION_FAILED,
        "If-Match",
        "the resource was changed by another request while this one was being written",
    )
    return PreconditionFailed(decision, Resource(None, None, exists=before.exists))


class _Options:
    """The keyword arguments both variants share."""

    def __init__(
        self,
        version_attr: str | None,
        modified_attr: str | None,
        require: bool,
        extra_headers: Iterable[tuple[str, str]],
    ) -> None:
        self.version_attr = version_attr
        self.modified_attr = modified_attr
        self.require = require
        self.extra_headers = list(extra_headers)

    def resource(self, instance: Any) -> Resource:
        return resource_of(
            instance, version_attr=self.version_attr, modified_attr=self.modified_attr
        )

    def check(self, method: str, headers: _Headers, instance: Any) -> Resource:
        before = self.resource(instance)
        check_preconditions(
            method, headers, before, require=self.require, extra_headers=self.extra_headers
        )
        return before

    def prepare(self, update: GuardedUpdate[Any], created: bool, manual_version: bool) -> None:
        """Before the flush: the timestamp, and a version bump SQLAlchemy will not do."""
        instance = update.instance
        if self.modified_attr is not None:
            setattr(instance, self.modified_attr, datetime.now(UTC))
        if manual_version and not created and self.version_attr is not None:
            setattr(instance, self.version_attr, (getattr(instance, self.version_attr) or 0) + 1)


@contextmanager
def guarded_update(
    session: Session,
    entity: type[Model],
    ident: Any,
    method: str,
    headers: _Headers,
    *,
    version_attr: str | None = None,
    modified_attr: str | None = None,
    require: bool = True,
    extra_headers: Iterable[tuple[str, str]] = (),
) -> Iterator[GuardedUpdate[Model]]:
    """Lock the row ``session.get(entity, ident)``, check the preconditions, write it.

    ``version_attr`` names an integer column to bump by hand when the mapper
    has no ``version_id_col`` (which SQLAlchemy bumps itself).
    """
    options = _Options(version_attr, modified_attr, require, extra_headers)
    manual = version_attr is not None and version_attr != version_attribute(entity)
    # The caller's transaction, when there is one, is used as it is: the checks raise before
    # anything is written, so there is nothing to undo (and pysqlite's SAVEPOINTs misbehave).
    transaction = nullcontext() if session.in_transaction() else session.begin()
    with transaction:
        instance = session.get(entity, ident, with_for_update=True, populate_existing=True)
        before = options.check(method, headers, instance)
        update: GuardedUpdate[Model] = GuardedUpdate(instance, before)
        yield update
        if update.instance is None:
            return
        options.prepare(update, instance is None, manual)
        session.add(update.instance)
        try:
            session.flush()
        except StaleDataError:
            raise _stale(before) from None
        # Read before the commit, which expires the instance (an AsyncSession cannot reload).
        update.resource = options.resource(update.instance)


@asynccontextmanager
async def guarded_update_async(
    session: AsyncSession,
    entity: type[Model],
    ident: Any,
    method: str,
    headers: _Headers,
    *,
    version_attr: str | None = None,
    modified_attr: str | None = None,
    require: bool = True,
    extra_headers: Iterable[tuple[str, str]] = (),
) -> AsyncIterator[GuardedUpdate[Model]]:
    """:func:`guarded_update` for an ``AsyncSession`` (asyncpg, psycopg async, aiosqlite)."""
    options = _Options(version_attr, modified_attr, require, extra_headers)
    manual = version_attr is not None and version_attr != version_attribute(entity)
    transaction = nullcontext() if session.in_transaction() else session.begin()
    async with transaction:
        instance = await session.get(entity, ident, with_for_update=True, populate_existing=True)
        before = options.check(method, headers, instance)
        update: GuardedUpdate[Model] = GuardedUpdate(instance, before)
        yield update
        if update.instance is None:
            return
        options.prepare(update, instance is None, manual)
        session.add(update.instance)
        try:
            await session.flush()
        except StaleDataError:
            raise _stale(before) from None
        # Read before the commit, which expires the instance (an AsyncSession cannot reload).
        update.resource = options.resource(update.instance)
