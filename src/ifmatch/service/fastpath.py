"""The service's hot reads as plain ASGI: no router, no thread hop, no framework objects.

``GET`` and ``HEAD`` of a document (``/api/{collection}/{id}``) and a
conditional ``GET`` of a collection (``/api/{collection}``) on SQLite are
answered here, in the event loop: a point read from SQLite in WAL mode takes
microseconds, less than a hop to a worker thread, and with the validator
cache (:mod:`ifmatch.service.validators_cache`) a 304 reads no row at all.
Each version's header bytes are prepared once, from the same functions the
full application uses (:func:`ifmatch.service.app.document_headers`,
:func:`ifmatch.service.app.collection_headers`,
:func:`ifmatch.not_modified_headers`), so both answer with the same status and
the same headers; ``tests/service/test_fastpath.py`` compares them request by
request.

Everything else, and anything unusual about a request (a query string, an
invalid name, a missing document, a 412, a bearer token that does not
match, a collection that must be listed), goes to the full application
unchanged.  The fast path only ever answers what the full application would
answer with a 200 or a 304; it never writes.  It stands aside entirely when
the application has middleware it does not know how to stand in for.
"""

from __future__ import annotations

import hmac
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ifmatch import Conditions, Outcome, Resource, evaluate, not_modified_headers
from ifmatch.service.accesslog import ACCESS
from ifmatch.service.http import Problem, check_name, parse_json
from ifmatch.service.middleware import AccessLog, BearerAuth, DateHeader, http_date_now, outcome
from ifmatch.service.settings import Settings
from ifmatch.service.sqlite import SQLiteStore
from ifmatch.service.store import Content, Meta, ScopeState, Store, WriteRequest, WriteResult
from ifmatch.service.validators_cache import SQLiteValidators

Headers = list[tuple[bytes, bytes]]
#: Request fields that make a read's answer depend on more than If-None-Match.
_OTHER_CONDITIONS = frozenset(
    {b"if-match", b"if-unmodified-since", b"if-modified-since", b"range", b"if-range"}
)
#: The middleware the fast path stands in for; any other makes it stand aside.
KNOWN_MIDDLEWARE = frozenset({DateHeader, AccessLog, BearerAuth})
_PASSED = "passed"
_ABSENT = "absent"
_NOT_MODIFIED = "304 If-None-Match"


def _raw(headers: dict[str, str]) -> Headers:
    """Header fields as Starlette's Response encodes them (lower-case names, latin-1)."""
    return [
        (name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers.items()
    ]


@dataclass(frozen=True, slots=True)
class DocumentEntry:
    """A document version with its header bytes, prepared once."""

    meta: Meta
    body: bytes | None
    etag: bytes
    full: Headers
    not_modified: Headers

    @classmethod
    def of(cls, meta: Meta, body: bytes | None) -> DocumentEntry:
        """Prepare the headers of ``meta``'s 200/HEAD (without Content-Length) and 304."""
        from ifmatch.service.app import document_headers

        headers = _raw(document_headers(meta))
        return cls(
            meta, body, str(meta.etag).encode("latin-1"), headers, not_modified_headers(headers)
        )

    def ok_headers(self, length: int) -> Headers:
        """The 200's (or HEAD's) headers for a body of ``length`` bytes."""
        return [*self.full, (b"content-length", str(length).encode()), (b"date", http_date_now())]


@dataclass(frozen=True, slots=True)
class ScopeEntry:
    """A collection's state with its 304 header bytes."""

    state: ScopeState
    resource: Resource
    etag: bytes
    not_modified: Headers

    @classmethod
    def of(cls, state: ScopeState) -> ScopeEntry:
        """Prepare the 304 headers of a collection in ``state``."""
        from ifmatch.service.app import JSON_TYPE, collection_headers

        headers = _raw({**collection_headers(state), "Content-Type": JSON_TYPE})
        resource = Resource(state.etag, state.last_modified, True, state.changed_within_second)
        return cls(
            state, resource, str(state.etag).encode("latin-1"), not_modified_headers(headers)
        )


class FastPath:
    """Answers the hot reads itself and hands every other request to ``app``."""

    def __init__(
        self, app: ASGIApp, settings: Settings, store: Store, middleware: list[Any]
    ) -> None:
        self.app, self.settings, self.store = app, settings, store
        self.access_log = settings.access_log
        self.require = settings.require_preconditions
        self.expected = f"Bearer {settings.token}".encode() if settings.token else None
        unknown = [
            str(getattr(kind, "__name__", kind))
            for kind in middleware
            if kind not in KNOWN_MIDDLEWARE
        ]
        #: Why the fast path stands aside (``None`` when it is on).
        self.off_because: str | None = None
        self.cache: SQLiteValidators[DocumentEntry, ScopeEntry] | None = None
        #: Requests answered here (the rest went to the application).
        self.answered = 0
        if unknown:
            self.off_because = f"middleware it cannot stand in for: {', '.join(unknown)}"
        elif not isinstance(store, SQLiteStore):
            self.off_because = f"no validator cache for {type(store).__name__}"
        else:
            self.cache = SQLiteValidators(store.path, DocumentEntry.of, ScopeEntry.of)

    def close(self) -> None:
        """Close the cache's connection; from then on every request goes to the application."""
        if self.cache is not None:
            self.cache.close()
            self.cache = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.cache is None or scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        reply = None
        method = scope["method"]
        path: str = scope["path"]
        if not path.startswith("/api/") or scope["query_string"] or scope.get("root_path"):
            await self.app(scope, receive, send)
            return
        if method == "PUT":
            await self._put(scope, receive, send, started)
            return
        if method == "GET" or method == "HEAD":
            try:
                reply = self._read(method, path[5:], scope["headers"])
            except Exception:  # whatever went wrong, the full application will say it properly
                reply = None
        if reply is None:
            await self.app(scope, receive, send)
            return
        status, headers, body, precondition = reply
        self.answered += 1
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        if self.access_log:
            ACCESS.record(
                method, path, status, precondition, (time.perf_counter() - started) * 1000
            )

    def _authorized(self, authorization: bytes | None) -> bool:
        return self.expected is None or (
            authorization is not None and hmac.compare_digest(authorization, self.expected)
        )

    def _read(
        self, method: str, rest: str, raw: list[tuple[bytes, bytes]]
    ) -> tuple[int, Headers, bytes, str] | None:
        """The reply to a read, or ``None`` to let the full application answer."""
        inm: bytes | None = None
        authorization: bytes | None = None
        general = False
        for field, value in raw:
            if field == b"if-none-match":
                general = general or inm is not None  # several fields: let evaluate() combine
                inm = value
            elif field == b"authorization":
                authorization = value
            elif field in _OTHER_CONDITIONS:
                general = True
        if not self._authorized(authorization):
            return None
        collection, slash, name = rest.partition("/")
        check_name(collection, "collection")
        assert self.cache is not None
        self.cache.refresh()
        if not slash:
            return self._collection(method, f"doc:{collection}", inm, general, raw)
        if "/" in name:
            return None
        check_name(name, "document id")
        entry = self.cache.document(f"doc:{collection}", name)
        if entry is None:
            return None  # the 404 is the application's
        precondition = _ABSENT
        if general or (inm is not None and inm != entry.etag):
            conditions = Conditions.from_headers(raw)
            decision = evaluate(method, conditions, entry.meta.resource())
            if decision.outcome is Outcome.NOT_MODIFIED:
                return (
                    304,
                    [*entry.not_modified, (b"date", http_date_now())],
                    b"",
                    outcome(conditions, decision),
                )
            if decision.status is not None:
                return None  # 412: the application's
            precondition = outcome(conditions, decision)
        elif inm is not None:
            return 304, [*entry.not_modified, (b"date", http_date_now())], b"", _NOT_MODIFIED
        body = entry.body
        if body is None:  # too large to keep: read it, with the metadata it belongs to
            found = self.cache.read_document(f"doc:{collection}", name)
            if found is None or found[0] != entry.meta:
                return None
            body = found[1]
        if method == "HEAD":
            return 200, entry.ok_headers(len(body)), b"", precondition
        return 200, entry.ok_headers(len(body)), body, precondition

    def _collection(
        self, method: str, space: str, inm: bytes | None, general: bool, raw: Headers
    ) -> tuple[int, Headers, bytes, str] | None:
        """A collection's 304 from its state alone; anything else needs the listing."""
        if inm is None and not general:
            return None
        assert self.cache is not None
        entry = self.cache.scope(space)
        if not general and inm == entry.etag:
            return 304, [*entry.not_modified, (b"date", http_date_now())], b"", _NOT_MODIFIED
        conditions = Conditions.from_headers(raw)
        decision = evaluate(method, conditions, entry.resource)
        if decision.outcome is not Outcome.NOT_MODIFIED:
            return None
        headers = [*entry.not_modified, (b"date", http_date_now())]
        return 304, headers, b"", outcome(conditions, decision)

    # -- writes ----------------------------------------------------------------------------

    def _put_target(self, scope: Scope) -> tuple[str, str] | None:
        """The space and name of a plain JSON PUT of a document, or ``None``."""
        collection, slash, name = scope["path"][5:].partition("/")
        if not slash or "/" in name:
            return None
        content_type = authorization = None
        for field, value in scope["headers"]:
            if field == b"content-type":
                content_type = value
            elif field == b"authorization":
                authorization = value
            elif field == b"content-encoding" or field == b"transfer-encoding":
                return None
        if content_type != b"application/json" or not self._authorized(authorization):
            return None
        try:
            return f"doc:{check_name(collection, 'collection')}", check_name(name, "document id")
        except Problem:
            return None

    async def _put(self, scope: Scope, receive: Receive, send: Send, started: float) -> None:
        """A JSON document's PUT, written in the event loop when SQLite's lock is free.

        The write is :meth:`Store.write`'s (preconditions checked inside the
        write transaction); only the way there is shorter.  Whatever the fast
        path does not answer (a refusal, a body that is too large, not JSON or
        cut short) goes to the application with the body it already read.
        """
        target = self._put_target(scope)
        if target is None:
            await self.app(scope, receive, send)
            return
        messages, data = await _body(receive, self.settings.max_json_body)
        if data is not None:
            try:
                parse_json(data)
            except Problem:
                data = None
        if data is None:
            await self.app(scope, _replay(messages, receive), send)
            return
        content = Content.of(data, "application/json")
        conditions = Conditions.from_headers(scope["headers"])
        request = WriteRequest(
            "PUT", target[0], target[1], conditions, lambda _: content, self.require
        )
        result = self.store.try_write(request)
        if result is None:  # another writer holds the lock: wait for it off the loop
            result = await run_in_threadpool(self.store.write, request)
        if result.decision.status is not None or result.after is None:
            # Refused: nothing was written; the application answers (and decides again).
            await self.app(scope, _replay(messages, receive), send)
            return
        status, headers = _written(scope["path"], result, len(data))
        self.answered += 1
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": data})
        if self.access_log:
            ms = (time.perf_counter() - started) * 1000
            ACCESS.record("PUT", scope["path"], status, outcome(conditions, result.decision), ms)


def _written(path: str, result: WriteResult, length: int) -> tuple[int, Headers]:
    """A successful document PUT's status and headers, as the application's ``_finish``."""
    from ifmatch.service.app import JSON_TYPE, _validators

    assert result.after is not None
    headers = _validators(result.after)
    if result.created:
        headers["Location"] = quote(path)
    raw = _raw(headers)
    raw += [
        (b"content-length", str(length).encode()),
        (b"content-type", JSON_TYPE.encode()),
        (b"date", http_date_now()),
    ]
    return (201 if result.created else 200), raw


async def _body(receive: Receive, limit: int) -> tuple[list[Message], bytes | None]:
    """The request's messages, and its whole body (``None`` past ``limit`` or cut short)."""
    messages: list[Message] = []
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            return messages, None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return messages, None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return messages, b"".join(chunks)


def _replay(messages: list[Message], receive: Receive) -> Receive:
    """A ``receive`` that gives ``messages`` again, then what comes next."""
    pending = list(messages)

    async def replayed() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replayed
