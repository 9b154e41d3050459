"""The store interface, and the one place where a write's precondition is evaluated.

Every resource (a JSON document or a file) lives in a *space*
(``doc:<collection>`` or ``file``) under a *name*.  Every write gives the
resource a new version, larger than any before for that path, even across
delete and re-create: on SQLite the space's counter, bumped inside the write
transaction (and also the collection's validator); on PostgreSQL a number
from one sequence (see :mod:`ifmatch.service.postgres` for the collection's
validator).  The strong ETag ``"v<N>"`` (:func:`ifmatch.etag_for_version`)
is the same on every instance reading the same database.

:meth:`Store.write` evaluates the preconditions (RFC 9110 §13.2.2, with
:func:`decide`) *inside* the backend's write transaction, against the state
the write replaces (SQLite: under ``BEGIN IMMEDIATE``; PostgreSQL: a
function that locks the row and writes only if it still has the version
that was evaluated), so two writers can never both pass the same
``If-Match``.  A refused or failed write leaves the database untouched.
"""

from __future__ import annotations

import abc
import contextlib
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import BinaryIO, NamedTuple, Protocol

from ifmatch import Conditions, Decision, ETag, Outcome, Resource, etag_for_version, evaluate
from ifmatch.preconditions import SAFE_METHODS

SCHEMA_VERSION = 1
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
CHUNK = 256 * 1024


def now_us() -> int:
    """The current time in whole microseconds since the epoch (what the store keeps)."""
    return time.time_ns() // 1000


# The records a write hands from layer to layer (Meta, ScopeState, Content, WriteRequest,
# WriteResult) are named tuples: immutable and compared by value like frozen dataclasses,
# but built without a frozen dataclass's object.__setattr__ for every field.  A guarded
# PUT builds eight of them; as frozen dataclasses they were 8 % of its instructions.
class Meta(NamedTuple):
    """A stored resource's validators and representation metadata."""

    version: int
    modified_us: int
    changed_within_second: bool
    content_type: str
    length: int

    @property
    def etag(self) -> ETag:
        """The strong ETag, derived from the version alone (the same on every instance)."""
        return etag_for_version(self.version)

    @property
    def last_modified(self) -> datetime:
        """Last-Modified with sub-second precision (only whole seconds go on the wire)."""
        return _EPOCH + timedelta(microseconds=self.modified_us)

    def resource(self) -> Resource:
        """What :func:`ifmatch.evaluate` needs to know."""
        return Resource(self.etag, self.last_modified, True, self.changed_within_second)


class ScopeState(NamedTuple):
    """A space's counter (its validator), the time of its last write, and whether the
    write before that fell in the same second (the collection's one-second problem)."""

    counter: int
    modified_us: int
    changed_within_second: bool = False

    @property
    def etag(self) -> ETag:
        """The collection's strong ETag: changes with every write to any member."""
        return ETag(f"c{self.counter}")

    @property
    def last_modified(self) -> datetime | None:
        """When a member last changed, or ``None`` for a space never written."""
        return _EPOCH + timedelta(microseconds=self.modified_us) if self.counter else None


class Content(NamedTuple):
    """A new representation to store: bytes in memory, or a file of known length."""

    content_type: str
    data: bytes | None = None
    file: BinaryIO | None = None
    length: int = 0

    @classmethod
    def of(cls, data: bytes, content_type: str) -> Content:
        """Content held in memory (JSON documents)."""
        return cls(content_type, data=data, length=len(data))

    def chunks(self, size: int = CHUNK) -> Iterator[bytes]:
        """The bytes in chunks of at most ``size``, read from the start."""
        if self.data is not None:
            for start in range(0, len(self.data), size):
                yield self.data[start : start + size]
            return
        if self.file is not None:
            self.file.seek(0)
            while chunk := self.file.read(size):
                yield chunk


class Current(Protocol):
    """The locked current state of a resource, inside a write transaction."""

    meta: Meta

    def body(self) -> bytes:
        """The whole stored body (used for documents, which are small)."""


class Transaction(abc.ABC):
    """A backend's write transaction on one space; the state it returns is locked."""

    @abc.abstractmethod
    def scope(self) -> ScopeState:
        """Lock the space's counter row (creating it) and return it."""

    @abc.abstractmethod
    def current(self, name: str) -> Current | None:
        """The resource's current state, or ``None`` when it does not exist."""

    @abc.abstractmethod
    def put(self, name: str, meta: Meta, content: Content) -> None:
        """Insert or replace the resource."""

    @abc.abstractmethod
    def delete(self, name: str) -> None:
        """Remove the resource."""

    @abc.abstractmethod
    def set_scope(self, state: ScopeState) -> None:
        """Store the space's new counter and last write time."""


class WriteRequest(NamedTuple):
    """A conditional write: which resource, which method, and how to make the new content.

    ``make`` receives the locked current state (``None`` when missing) and
    returns the new content, or ``None`` to delete.  It runs only after the
    preconditions passed, inside the transaction; if it raises, nothing is
    written.  ``must_exist`` answers 404 for a missing resource before any
    precondition is looked at (RFC 9110 §13.2.1).  ``against_space`` evaluates
    the preconditions against the space (the collection a POST targets,
    §13.1.1, §13.1.2), whose representation always exists, instead of
    against the member being created.  ``whole`` says that ``make`` ignores
    the current state (a PUT's new representation, a DELETE's ``None``): a
    backend may then call it before it has read that state, and write in one
    statement that checks the version it expects (:func:`expected_version`).
    """

    method: str
    space: str
    name: str
    conditions: Conditions
    make: Callable[[Current | None], Content | None]
    require_precondition: bool = True
    must_exist: bool = False
    against_space: bool = False
    whole: bool = False


class WriteResult(NamedTuple):
    """What a write did: the decision, the state it was checked against, the new state."""

    decision: Decision
    before: Meta | None
    after: Meta | None = None
    found: bool = True
    scope: ScopeState | None = None

    @property
    def created(self) -> bool:
        """Whether the write created the resource."""
        return self.before is None and self.after is not None


#: Receives a started write's outcome: its result, its exception, or ``None`` (not written).
WriteDone = Callable[[WriteResult | Exception | None], None]


@dataclass(frozen=True, slots=True)
class Listing:
    """A consistent snapshot of a space: its state and its members with their bodies."""

    scope: ScopeState
    members: list[tuple[str, Meta, bytes]]


@dataclass(frozen=True, slots=True)
class Page:
    """Members of a space in name order, with their bodies, and whether more follow.

    ``more`` is true when a member follows the last one (the page after this
    one is not empty), as read in the same statement as the members.
    """

    members: list[tuple[str, Meta, bytes]]
    more: bool


class Reader(abc.ABC):
    """A read snapshot of one resource: metadata, then spans read on demand.

    The snapshot holds until :meth:`close`, so the spans of a long download
    all come from the representation whose validators were checked.
    """

    meta: Meta

    @abc.abstractmethod
    def read(self, start: int, stop: int) -> bytes:
        """Bytes ``[start, stop)`` of the representation (a span of at most a chunk)."""

    @abc.abstractmethod
    def close(self) -> None:
        """End the snapshot and give the connection back."""


class Store(abc.ABC):
    """A versioned resource store with atomic conditional writes."""

    #: The driver's exceptions that mean "the database cannot answer now" (down, restarting,
    #: unreachable, no free connection): the service answers them with 503 and Retry-After.
    unavailable: tuple[type[Exception], ...] = ()

    def recover(self) -> None:  # noqa: B027 - optional hook, nothing to do by default
        """Called after an ``unavailable`` error: drop broken connections (default: nothing)."""

    @abc.abstractmethod
    def transaction(self, space: str) -> contextlib.AbstractContextManager[Transaction]:
        """A write transaction on ``space``; commits on success, rolls back on error."""

    @abc.abstractmethod
    def get(self, space: str, name: str) -> tuple[Meta, bytes] | None:
        """A resource's metadata and whole body (documents)."""

    @abc.abstractmethod
    def open(self, space: str, name: str) -> Reader | None:
        """A read snapshot of a resource (files), or ``None`` when missing."""

    @abc.abstractmethod
    def listing(self, space: str) -> Listing:
        """All members of a space, with the space's state, from one snapshot."""

    @abc.abstractmethod
    def page(self, space: str, after: str | None, limit: int) -> Page:
        """At most ``limit`` members of a space whose names sort after ``after`` (from the
        start when ``None``), in name order (bytewise, as :meth:`listing`), from one
        snapshot.  Backends read it on the ``(space, name)`` index (keyset paging), so
        its cost does not grow with the size of the space."""

    def spaces(self, prefix: str) -> list[tuple[str, int, int]]:
        """The spaces whose names start with ``prefix``, by name, each as
        ``(space, counter, members)`` (the collections list)."""
        raise NotImplementedError(f"{type(self).__name__} cannot list its spaces")

    @abc.abstractmethod
    def ping(self) -> None:
        """Raise if the database cannot be reached."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release connections."""

    def write(self, request: WriteRequest) -> WriteResult:
        """Evaluate the preconditions and write, atomically.

        This is the only place a write's preconditions are evaluated.  The
        check and the write share one transaction holding the space's lock,
        so the state checked is the state replaced.
        """
        with self.transaction(request.space) as tx:
            return apply(tx, request)

    async def write_async(self, request: WriteRequest) -> WriteResult | None:
        """:meth:`write` from an event loop without blocking it, or ``None`` when this store
        cannot do that write so (the caller then runs :meth:`write` in a thread)."""
        return None

    def submit(self, request: WriteRequest, done: WriteDone) -> bool:
        """Start :meth:`write_async`'s write from the event loop with a callback instead of
        a task: ``done`` later receives its result, the exception it raised, or ``None``
        (the store could not write it so).  ``False`` when nothing was started (the
        caller then awaits :meth:`write_async`); by default, always."""
        return False

    async def aclose(self) -> None:  # noqa: B027 - optional hook, nothing to do by default
        """Release what :meth:`write_async` opened, in its event loop (default: nothing)."""

    def try_write(self, request: WriteRequest) -> WriteResult | None:
        """:meth:`write` if it can start without waiting for a lock, else ``None``.

        For callers that must not block (an event loop): they call
        :meth:`write` elsewhere when this returns ``None``.  Backends that
        cannot tell always return ``None``.
        """
        return None


def decide(request: WriteRequest, before: Meta | None, scope: ScopeState | None) -> WriteResult:
    """The preconditions of ``request`` evaluated against a state: the resource's
    (``before``, ``None`` when missing) or, for ``against_space``, the space's.

    A result whose ``decision.status`` is ``None`` and whose ``found`` is true
    means "write"; any other is the answer (404, 304, 412, 428).  Backends
    call it with the state their write will replace, checked in the same
    transaction (:func:`apply`, or the PostgreSQL store's version check).
    """
    return _decided(_decision(request, before, scope), before, scope)


def _decided(
    decision: Decision | None, before: Meta | None, scope: ScopeState | None
) -> WriteResult:
    """:func:`decide`'s result for :func:`_decision`'s answer."""
    if decision is None:
        return WriteResult(_PROCEED, None, found=False)
    return WriteResult(decision, before, scope=scope)


def _decision(
    request: WriteRequest, before: Meta | None, scope: ScopeState | None
) -> Decision | None:
    """The decision :func:`decide` gives, or ``None`` for a missing resource that must
    exist (404, before any precondition is looked at)."""
    if before is None and request.must_exist:
        return None
    if before is not None:
        expected = expected_version(request)
        if expected is not None and before.version == expected[0]:
            # The version an If-Match "v<N>" names is the current one: its decision is known.
            return expected[1]
    if request.against_space:
        assert scope is not None, "a write against its space needs the space's state"
        resource = Resource(scope.etag, scope.last_modified, True, scope.changed_within_second)
    else:
        resource = before.resource() if before is not None else Resource.missing()
    return evaluate(
        request.method,
        request.conditions,
        resource,
        require_precondition=request.require_precondition,
    )


#: One strong entity-tag naming a version, as :func:`ifmatch.etag_for_version` makes them.
_ONE_VERSION = re.compile(r'[ \t]*"v([1-9][0-9]{0,17})"[ \t]*')
_PROCEED = Decision(Outcome.PROCEED)
#: The state a prediction is evaluated against besides its ETag: the oldest date, not changed
#: within its second (the decision does not depend on them: ``tests/service/
#: test_postgres_store.py`` checks it against any date with hypothesis).
_SAMPLE_DATE = _EPOCH


def expected_version(request: WriteRequest) -> tuple[int, Decision] | None:
    """The one version the target must have for ``request`` to pass, and that decision.

    An unsafe method whose ``If-Match`` is a single strong ``"v<N>"`` can only
    pass when the current version is N (§13.1.1, strong comparison); its
    ``If-Unmodified-Since`` is then not evaluated and ``If-Modified-Since`` and
    ``If-Range`` only apply to GET (§13.2.2), so the decision depends on the
    ETag alone.  A backend can then write in one statement "if the version
    is N" and know the decision without reading the state first.  ``None``
    when the conditions name no single version, or when they fail against it.
    """
    if request.against_space or not request.whole or request.conditions.if_match is None:
        return None
    if request.method in SAFE_METHODS:
        return None
    named = _ONE_VERSION.fullmatch(request.conditions.if_match)
    if named is None:
        return None
    version = int(named.group(1))
    if request.conditions.if_none_match is None:
        # If-Match decides alone: If-Unmodified-Since is then not evaluated, and
        # If-Modified-Since, If-Range and Range are for GET (the common case, without
        # evaluate()'s parsing).
        return version, _PROCEED
    decision = evaluate(
        request.method,
        request.conditions,
        Resource(etag_for_version(version), _SAMPLE_DATE, True, False),
        require_precondition=request.require_precondition,
    )
    return (version, decision) if decision.status is None else None


def apply(tx: Transaction, request: WriteRequest) -> WriteResult:
    """Check the preconditions against the locked state and write, inside ``tx``."""
    scope = tx.scope()
    current = tx.current(request.name)
    before = current.meta if current is not None else None
    decision = _decision(request, before, scope)
    if decision is None or decision.status is not None:
        return _decided(decision, before, scope)
    content = request.make(current)
    # Never let time run backwards within a space, whatever the clocks of the instances.
    moment = max(now_us(), scope.modified_us)
    counter = scope.counter + 1
    same_second = scope.counter > 0 and scope.modified_us // 1_000_000 == moment // 1_000_000
    tx.set_scope(ScopeState(counter, moment, same_second))
    if content is None:
        tx.delete(request.name)
        return WriteResult(decision, before)
    previous = before.modified_us if before is not None else scope.modified_us
    meta = Meta(
        version=counter,
        modified_us=moment,
        changed_within_second=previous // 1_000_000 == moment // 1_000_000,
        content_type=content.content_type,
        length=content.length,
    )
    tx.put(request.name, meta, content)
    return WriteResult(decision, before, meta)
