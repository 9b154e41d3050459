"""The service's hot paths as plain ASGI: no router, no thread hop, no framework objects.

A JSON ``PUT`` of a document is answered here on every store (written in the
event loop on SQLite, grouped into one commit per turn of the loop; on the
store's async path elsewhere, :meth:`ifmatch.service.store.Store.write_async`).
On SQLite, ``GET`` and ``HEAD`` of a document (``/api/{collection}/{id}``),
and a conditional ``GET``/``HEAD`` of a collection (``/api/{collection}``) or
of one of its pages (``?limit=N&cursor=C``) that does not need the listing or
the page's body are answered here too, in the event loop.  A point read from
SQLite in WAL mode takes microseconds, less than a hop to a worker thread,
and with the validator cache (:mod:`ifmatch.service._validators_cache`) a
304 reads no row at all.

The answers come from the same core responder as the full application's
(:func:`ifmatch.respond` on the same :class:`ifmatch.Representation`, built
by the application's own ``_representation``, ``collection_representation``
and ``page_representation``): each version's 200 and 304 header bytes are
prepared once from it, and any request with more than a plain
``If-None-Match`` is answered by calling it.  ``tests/service/test_fastpath.py``
sends a table of requests to both and compares status, headers, body and
log line.

Everything unusual about a request (a query string other than a page's, an
invalid name, a missing document, a collection or page whose body is needed,
a write that is refused, a bearer token that is not exactly right, oversized
header fields) goes to the full application unchanged, which answers it as
always.  The fast
path stands in for the application's middleware (Date, the access log,
header limits, bearer auth) and stands aside entirely when the application
has middleware it does not know.
"""

from __future__ import annotations

import asyncio
import hmac
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl, quote

from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ifmatch import Conditions, format_http_date
from ifmatch.respond import Reply, Representation, respond
from ifmatch.service._accesslog import ACCESS
from ifmatch.service._http import Problem, check_name, parse_json
from ifmatch.service._middleware import (
    MAX_FIELD_BYTES,
    MAX_HEADER_BYTES,
    AccessLog,
    BearerAuth,
    DateHeader,
    HeaderLimits,
    http_date_now,
    outcome,
)
from ifmatch.service._pages import page_query
from ifmatch.service._validators_cache import SQLiteValidators
from ifmatch.service.cachepolicy import DEFAULT_HEADERS, CachePolicy
from ifmatch.service.cachepolicy import Headers as CacheFields
from ifmatch.service.settings import Settings
from ifmatch.service.sqlite import SQLiteStore
from ifmatch.service.store import (
    Content,
    Meta,
    ScopeState,
    Store,
    WriteDone,
    WriteRequest,
    WriteResult,
)

Headers = list[tuple[bytes, bytes]]
Answer = tuple[int, Headers, bytes, str]
#: Request fields that make a read's answer depend on more than If-None-Match.
_OTHER_CONDITIONS = frozenset(
    {b"if-match", b"if-unmodified-since", b"if-modified-since", b"range", b"if-range"}
)
#: The middleware the fast path stands in for; any other makes it stand aside.
KNOWN_MIDDLEWARE = frozenset({DateHeader, AccessLog, HeaderLimits, BearerAuth})
_NO_CONDITIONS = Conditions()
_ABSENT = "absent"
_NOT_MODIFIED = "304 If-None-Match"
#: The scope key under which the fast path hands the application the error its write
#: raised, for it to answer as its own (503 for "database unavailable", else 500).
WRITE_FAILED = "ifmatch.write_failed"
_JSON_TYPE = b"application/json"


def _raw(headers: Iterable[tuple[str, str]]) -> Headers:
    """Header fields as the application's Starlette ``Response`` encodes them."""
    return [
        (name.lower().encode("latin-1"), value.encode("latin-1"))
        for name, value in dict(headers).items()
    ]


def _in_future(moment: datetime | None) -> bool:
    # respond() clamps a Last-Modified in the future to the response's time: nothing to cache.
    return moment is not None and moment > datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class DocumentEntry:
    """A document version, with its 200 and 304 header bytes prepared once."""

    representation: Representation
    body: bytes | None
    etag: bytes
    full: Headers
    not_modified: Headers
    #: The headers depend on the time of the request: answer each with respond().
    live: bool

    @classmethod
    def of(
        cls, meta: Meta, body: bytes | None, cache: CacheFields = DEFAULT_HEADERS
    ) -> DocumentEntry:
        """Prepare ``meta``'s answers with the application's responder (``cache``: the
        cache policy's fields for the document's collection)."""
        from ifmatch.service.app import _representation

        representation = _representation(meta, ranges=False, cache=cache)
        etag = str(meta.etag)
        ok = respond("GET", _NO_CONDITIONS, representation)
        unchanged = respond("GET", Conditions(if_none_match=etag), representation)
        return cls(
            representation,
            body,
            etag.encode("latin-1"),
            _raw(ok.headers),
            _raw(unchanged.headers),
            _in_future(representation.last_modified),
        )


@dataclass(frozen=True, slots=True)
class ScopeEntry:
    """A collection's state, with its 304 header bytes prepared once."""

    representation: Representation
    etag: bytes
    not_modified: Headers
    live: bool

    @classmethod
    def of(cls, state: ScopeState, cache: CacheFields = DEFAULT_HEADERS) -> ScopeEntry:
        """Prepare the 304 of a collection in ``state`` with the application's responder."""
        from ifmatch.service.app import collection_representation

        representation = collection_representation(state, cache)
        etag = str(state.etag)
        unchanged = respond("GET", Conditions(if_none_match=etag), representation)
        return cls(
            representation,
            etag.encode("latin-1"),
            _raw(unchanged.headers),
            _in_future(representation.last_modified),
        )


@dataclass(frozen=True, slots=True)
class PageEntry:
    """A collection page's validator, with its 304 header bytes prepared once."""

    representation: Representation
    etag: bytes
    not_modified: Headers
    #: Never: a page has no Last-Modified, so nothing in its answers depends on the time.
    live: bool = False

    @classmethod
    def of(
        cls,
        collection: str,
        limit: int,
        members: list[tuple[str, int]],
        more: bool,
        cache: CacheFields = DEFAULT_HEADERS,
    ) -> PageEntry:
        """Prepare the 304 of a page with the application's responder."""
        from ifmatch.service.app import page_representation

        representation, _ = page_representation(collection, limit, members, more, cache)
        etag = str(representation.etag)
        unchanged = respond("GET", Conditions(if_none_match=etag), representation)
        return cls(representation, etag.encode("latin-1"), _raw(unchanged.headers))


class FastPath:
    """Answers the hot reads and JSON PUTs itself and hands every other request to ``app``."""

    def __init__(
        self, app: ASGIApp, settings: Settings, store: Store, middleware: list[Any]
    ) -> None:
        self.app, self.settings, self.store = app, settings, store
        self.access_log = settings.access_log
        self.require = settings.require_preconditions
        self.expected = f"Bearer {settings.token}".encode() if settings.token else None
        # The cache policy's fields, per space: every request answered here is authenticated
        # when a token is set (the exact one), and carries no Authorization otherwise.
        self.policy = CachePolicy.parse(settings.cache_control)
        self.authenticated = self.expected is not None
        unknown = [
            str(getattr(kind, "__name__", kind))
            for kind in middleware
            if kind not in KNOWN_MIDDLEWARE
        ]
        #: Why the fast path stands aside (``None`` when it is on).
        self.off_because: str | None = None
        self.cache: SQLiteValidators[DocumentEntry, ScopeEntry, PageEntry] | None = None
        #: Whether JSON PUTs are written here (on every store; reads need the cache).
        self.puts = False
        #: Requests answered here (the rest went to the application).
        self.answered = 0
        self._writes: list[tuple[WriteRequest, WriteDone]] = []
        self._written = _WriteHeaders(self.policy, self.authenticated)
        if unknown:
            self.off_because = f"middleware it cannot stand in for: {', '.join(unknown)}"
        else:
            self.puts = True
            if isinstance(store, SQLiteStore):
                self.cache = SQLiteValidators(
                    store.path, self._document_entry, self._scope_entry, self._page_entry
                )

    def _document_entry(self, space: str, meta: Meta, body: bytes | None) -> DocumentEntry:
        return DocumentEntry.of(meta, body, self.policy.headers(space, self.authenticated))

    def _scope_entry(self, space: str, state: ScopeState) -> ScopeEntry:
        return ScopeEntry.of(state, self.policy.headers(space, self.authenticated))

    def _page_entry(
        self, space: str, after: str | None, limit: int, members: list[tuple[str, int]], more: bool
    ) -> PageEntry:
        cache = self.policy.headers(space, self.authenticated)
        return PageEntry.of(space.removeprefix("doc:"), limit, members, more, cache)

    def close(self) -> None:
        """Close the cache's connection; from then on every request goes to the application."""
        self.puts = False
        if self.cache is not None:
            self.cache.close()
            self.cache = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self.puts or scope["type"] != "http" or WRITE_FAILED in scope:
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        reply = None
        method = scope["method"]
        path: str = scope["path"]
        if not path.startswith("/api/") or scope.get("root_path"):
            await self.app(scope, receive, send)
            return
        query: bytes = scope["query_string"]
        if method == "PUT" and not query:
            await self._put(scope, receive, send, started)
            return
        if self.cache is not None and (method == "GET" or method == "HEAD"):
            reply = self.read(method, path, scope["headers"], query)
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

    def read(self, method: str, path: str, raw: Headers, query: bytes = b"") -> Answer | None:
        """The answer to a ``GET`` or ``HEAD`` of ``path`` (under ``/api/``), or ``None``
        when the full application must answer it."""
        try:
            if query:
                return self._read_page(method, path[5:], query, raw)
            return self._read(method, path[5:], raw)
        except Exception:  # whatever went wrong, the full application will say it properly
            return None

    def plain(self, method: str, target: bytes, inm: bytes | None) -> tuple[bytes, int] | None:
        """The whole answer (its bytes and status) to a ``GET`` or ``HEAD`` of the document
        (or collection, or page) at ``target`` whose only condition is ``inm`` (its If-None-Match,
        or ``None``) and that carries no Authorization: a 304 or a 200 from bytes prepared
        once per version (:class:`Plain`), or ``None`` for :meth:`read` to answer.  The
        bytes are those :meth:`read`'s answer is written as."""
        cache = self.cache
        if cache is None or self.expected is not None:
            return None
        cache.refresh()
        prepared: Plain | None = cache.derived.get(target)
        if prepared is None:
            prepared = self._plain(target)
            if prepared is None:
                return None
        if inm is None:
            if prepared.full is None or prepared.body is None:
                return None  # a collection's 200: the application's
            head = prepared.full + http_date_now() + b"\r\n\r\n"
            return (head + prepared.body if method == "GET" else head), 200
        if inm == prepared.etag:
            return prepared.not_modified + http_date_now() + b"\r\n\r\n", 304
        return None

    def _plain(self, target: bytes) -> Plain | None:
        """Prepare (and keep) the plain answers of the document, collection or page at
        ``target`` (a collection's or a page's 304 only: its 200 needs the members)."""
        assert self.cache is not None
        path, question, query = target.partition(b"?")
        collection, slash, name = path[5:].decode("ascii").partition("/")
        if "/" in name or (question and slash):
            return None
        try:
            space = f"doc:{check_name(collection, 'collection')}"
            if question:  # a page: read as the application reads it (latin-1, parse_qsl)
                page = page_query(parse_qsl(query.decode("latin-1"), keep_blank_values=True))
                if page is None:
                    return None
                listed = self.cache.page(space, page.after, page.limit)
                prepared = Plain(listed.etag, _wire(304, listed.not_modified), None, None)
            elif not slash:
                scope = self.cache.scope(space)
                if scope.live:
                    return None
                prepared = Plain(scope.etag, _wire(304, scope.not_modified), None, None)
            else:
                entry = self.cache.document(space, check_name(name, "document id"))
                if entry is None or entry.live or entry.body is None:
                    return None
                prepared = Plain(
                    entry.etag,
                    _wire(304, entry.not_modified),
                    _wire(200, entry.full),
                    entry.body,
                )
        except Problem:
            return None
        self.cache.derive(target, prepared)
        return prepared

    def _scan(self, raw: Headers) -> tuple[bytes | None, bool, bool] | None:
        """One pass over the request's fields: its If-None-Match, whether any other
        condition is present, and whether the content is plain JSON the fast path may
        write (Content-Type exactly JSON, no content or transfer coding, a declared
        length within the limit); ``None`` when the application must answer (size
        limits, auth)."""
        inm: bytes | None = None
        general = typed = other_body = False
        authorizations = []
        total = 0
        for field, value in raw:
            size = len(field) + len(value) + 2
            total += size
            if size > MAX_FIELD_BYTES:
                return None
            if field == b"if-none-match":
                general = general or inm is not None  # several fields: let respond() combine
                inm = value
            elif field in _OTHER_CONDITIONS:
                general = True
            elif field == b"authorization":
                authorizations.append(value)
            elif field == b"content-type":
                other_body = other_body or typed or value != b"application/json"
                typed = True
            elif field == b"content-length":
                # A declared length past the limit is the application's 413, before any reading.
                other_body = other_body or not (
                    value.isdigit() and int(value) <= self.settings.max_json_body
                )
            elif field == b"content-encoding" or field == b"transfer-encoding":
                other_body = True
        if total > MAX_HEADER_BYTES:
            return None
        if self.expected is not None and not (
            len(authorizations) == 1 and hmac.compare_digest(authorizations[0], self.expected)
        ):
            return None
        if self.expected is None and authorizations:
            return None  # credentials the service does not check: the policy makes it private

        return inm, general, typed and not other_body

    def _read(self, method: str, rest: str, raw: Headers) -> Answer | None:
        """The answer to a read, or ``None`` to let the full application answer."""
        scanned = self._scan(raw)
        if scanned is None:
            return None
        inm, general, _ = scanned
        collection, slash, name = rest.partition("/")
        assert self.cache is not None
        self.cache.refresh()
        if not slash:
            check_name(collection, "collection")
            return self._collection(method, f"doc:{collection}", inm, general, raw)
        if "/" in name:
            return None
        # Only names that passed the checks are ever cached.
        entry = self.cache.cached(f"doc:{collection}", name)
        if entry is None:
            check_name(collection, "collection")
            check_name(name, "document id")
            entry = self.cache.document(f"doc:{collection}", name)
            if entry is None:
                return None  # the 404 is the application's
        if general or entry.live or (inm is not None and inm != entry.etag):
            conditions = Conditions.from_headers(raw)
            reply = respond(method, conditions, entry.representation)
            if reply.status != 200:
                return self._reply(reply, conditions)
            body = self._body_of(entry, f"doc:{collection}", name)
            if body is None:
                return None
            sent = b"" if method == "HEAD" else body
            return 200, self._dated(_raw(reply.headers)), sent, outcome(conditions, reply.decision)
        if inm is not None:
            return 304, self._dated(entry.not_modified), b"", _NOT_MODIFIED
        body = self._body_of(entry, f"doc:{collection}", name)
        if body is None:
            return None
        return 200, self._dated(entry.full), b"" if method == "HEAD" else body, _ABSENT

    def _body_of(self, entry: DocumentEntry, space: str, name: str) -> bytes | None:
        """The entry's body; one too large to keep is read again (``None`` if it changed)."""
        if entry.body is not None:
            return entry.body
        assert self.cache is not None
        found = self.cache.read_document(space, name)
        if found is None or str(found[0].etag).encode("latin-1") != entry.etag:
            return None
        return found[1]

    @staticmethod
    def _dated(headers: Headers) -> Headers:
        return [*headers, (b"date", http_date_now())]

    def _reply(self, reply: Reply, conditions: Conditions) -> Answer:
        """A 304, 412 or 428 of the responder, as the application sends it."""
        return (
            reply.status,
            self._dated(_raw(reply.headers)),
            reply.body,
            outcome(conditions, reply.decision),
        )

    def _collection(
        self, method: str, space: str, inm: bytes | None, general: bool, raw: Headers
    ) -> Answer | None:
        """A collection's 304 (or 412) from its state alone; a 200 needs the listing."""
        if inm is None and not general:
            return None
        assert self.cache is not None
        return self._unless_listed(method, self.cache.scope(space), inm, general, raw)

    def _unless_listed(
        self,
        method: str,
        entry: ScopeEntry | PageEntry,
        inm: bytes | None,
        general: bool,
        raw: Headers,
    ) -> Answer | None:
        """The 304 or 412 of a collection or a page from its validator alone; ``None``
        when the answer is a 200, which needs the members (the application's)."""
        if not general and not entry.live and inm == entry.etag:
            return 304, self._dated(entry.not_modified), b"", _NOT_MODIFIED
        conditions = Conditions.from_headers(raw)
        reply = respond(method, conditions, entry.representation)
        if reply.status == 200:
            return None
        return self._reply(reply, conditions)

    def _read_page(self, method: str, rest: str, query: bytes, raw: Headers) -> Answer | None:
        """A collection page's 304 (or 412) from its members' ids and versions alone
        (cached per ``data_version``); a 200, or a query that is not a page, is the
        application's."""
        if "/" in rest:
            return None
        scanned = self._scan(raw)
        if scanned is None:
            return None
        inm, general, _ = scanned
        if inm is None and not general:
            return None
        # The application reads the query as Starlette does: latin-1, then parse_qsl.
        page = page_query(parse_qsl(query.decode("latin-1"), keep_blank_values=True))
        if page is None:  # the whole listing, or the app's 400 (page_query raised)
            return None
        space = f"doc:{check_name(rest, 'collection')}"
        assert self.cache is not None
        self.cache.refresh()
        entry = self.cache.page(space, page.after, page.limit)
        return self._unless_listed(method, entry, inm, general, raw)

    # -- writes ----------------------------------------------------------------------------

    def put_target(self, path: str, raw: Headers) -> tuple[str, str] | None:
        """The space and name of a plain JSON PUT of a document (``path`` under ``/api/``),
        or ``None`` when the application must answer it (not a document, not plain JSON,
        a size limit, auth)."""
        collection, slash, name = path[5:].partition("/")
        if not slash or "/" in name:
            return None
        scanned = self._scan(raw)
        if scanned is None or not scanned[2]:
            return None
        try:
            return f"doc:{check_name(collection, 'collection')}", check_name(name, "document id")
        except Problem:
            return None

    def prepare_put(
        self,
        path: str,
        raw: Headers,
        data: bytes | None,
        target: tuple[str, str] | None = None,
    ) -> PreparedPut | None:
        """The write of a plain JSON PUT of a document (``data``: its whole body, ``None``
        when cut short or too large; ``target``: :meth:`put_target`'s answer, if asked
        already), or ``None`` when the application must answer it (see
        :meth:`put_target`; and a body that is too large or not JSON)."""
        if target is None:
            target = self.put_target(path, raw)
        if target is None or data is None or len(data) > self.settings.max_json_body:
            return None
        try:
            parse_json(data)
        except Problem:
            return None
        content = Content.of(data, "application/json")
        conditions = Conditions.from_headers(raw)
        space, name = target
        request = WriteRequest(
            "PUT", space, name, conditions, lambda _: content, self.require, whole=True
        )
        return PreparedPut(path, request, data)

    def put_answer(self, put: PreparedPut, result: WriteResult) -> Answer | None:
        """The answer to a PUT that was written (status, fields, body, and the outcome its
        log line says), or ``None`` when it was refused (nothing was written: the
        application answers, and decides again)."""
        if result.decision.status is not None or result.after is None:
            return None
        headers = self._written(put.path, put.request.space, result, len(put.data))
        status = 201 if result.created else 200
        return status, headers, put.data, outcome(put.request.conditions, result.decision)

    async def _put(self, scope: Scope, receive: Receive, send: Send, started: float) -> None:
        """A JSON document's PUT, written in the event loop when SQLite's lock is free.

        The write is :meth:`Store.write`'s (preconditions checked inside the
        write transaction); only the way there is shorter.  Whatever the fast
        path does not answer (a refusal, a body that is too large, not JSON or
        cut short) goes to the application with the body it already read.
        """
        path: str = scope["path"]
        target = self.put_target(path, scope["headers"])
        if target is None:
            await self.app(scope, receive, send)
            return
        messages, data = await _body(receive, self.settings.max_json_body)
        put = self.prepare_put(path, scope["headers"], data, target)
        if put is None:
            await self.app(scope, _replay(messages, receive), send)
            return
        request = put.request
        try:
            result = await self._write(request) if self.cache is not None else None
            if result is None:
                result = await self.store.write_async(request)
            if result is None:  # another writer holds SQLite's lock: wait for it off the loop
                result = await run_in_threadpool(self.store.write, request)
        except Exception as error:
            # The application answers (503 with Retry-After, or 500), through its
            # middleware; it does not write again: the outcome of this write is unknown.
            scope[WRITE_FAILED] = error
            await self.app(scope, _replay(messages, receive), send)
            return
        answer = self.put_answer(put, result)
        if answer is None:
            await self.app(scope, _replay(messages, receive), send)
            return
        status, headers, body, precondition = answer
        self.answered += 1
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        if self.access_log:
            ACCESS.record("PUT", path, status, precondition, (time.perf_counter() - started) * 1000)

    def _write(self, request: WriteRequest) -> asyncio.Future[WriteResult | None]:
        """:meth:`queue_write` with a future for its outcome."""
        future: asyncio.Future[WriteResult | None] = asyncio.get_running_loop().create_future()

        def settle(result: WriteResult | Exception | None) -> None:
            if future.done():  # its request was cancelled (the client went away)
                return
            if isinstance(result, Exception):
                future.set_exception(result)
            else:
                future.set_result(result)

        self.queue_write(request, settle)
        return future

    def queue_write(self, request: WriteRequest, done: WriteDone) -> None:
        """Queue a write for the group commit that runs once this turn of the loop is done.

        Every PUT that reaches this point in the same turn of the event loop is
        written in one transaction (:meth:`SQLiteStore.try_write_many`): one
        commit instead of one each.  ``done`` then receives the write's result,
        the exception it raised, or ``None`` when the lock was held (nothing was
        written: the caller writes another way).
        """
        self._writes.append((request, done))
        if len(self._writes) == 1:
            asyncio.get_running_loop().call_soon(self._commit)

    def _commit(self) -> None:
        batch, self._writes = self._writes, []
        assert isinstance(self.store, SQLiteStore)
        try:
            results = self.store.try_write_many([request for request, _ in batch])
        except Exception as error:  # nothing of the batch was written
            for _, done in batch:
                done(error)
            return
        for index, (_, done) in enumerate(batch):
            done(None if results is None else results[index])


@dataclass(frozen=True, slots=True)
class Plain:
    """A document version's answers as bytes: its ETag, and the 304's and the 200's status
    line and fields up to the Date value (which :meth:`FastPath.plain` appends), and its
    body; a collection has the 304 only."""

    etag: bytes
    not_modified: bytes
    full: bytes | None
    body: bytes | None


def _wire(status: int, headers: Headers) -> bytes:
    """An answer's status line and fields as HTTP/1.1 writes them, then ``date: `` (its
    value is the time of each answer)."""
    lines = [b"HTTP/1.1 %d %s\r\n" % (status, HTTPStatus(status).phrase.encode("ascii"))]
    lines += [name + b": " + value + b"\r\n" for name, value in headers]
    return b"".join(lines) + b"date: "


@dataclass(frozen=True, slots=True)
class PreparedPut:
    """A plain JSON PUT of a document, ready for the store: its path, write and body."""

    path: str
    request: WriteRequest
    data: bytes


class _WriteHeaders:
    """A document write's 200 or 201 header fields, as the application's ``_finish`` sends
    them (new validators, RFC 9110 §15.3.1, §15.3.2, and the cache policy's fields), built
    from bytes prepared once: each space's cache fields, and Last-Modified per second."""

    def __init__(self, policy: CachePolicy, authenticated: bool) -> None:
        self._policy, self._authenticated = policy, authenticated
        self._fields: dict[str, Headers] = {}
        self._second = -1
        self._modified = b""

    def __call__(self, path: str, space: str, result: WriteResult, length: int) -> Headers:
        after = result.after
        assert after is not None
        fields = self._fields.get(space)
        if fields is None:
            fields = self._fields[space] = _raw(self._policy.headers(space, self._authenticated))
        second = after.modified_us // 1_000_000
        if second != self._second:
            self._second, self._modified = second, format_http_date(second).encode()
        headers = [
            (b"etag", b'"v%d"' % after.version),
            (b"last-modified", self._modified),
            *fields,
        ]
        if result.created:
            headers.append((b"location", quote(path).encode("latin-1")))
        headers += [
            (b"content-length", b"%d" % length),
            (b"content-type", _JSON_TYPE),
            (b"date", http_date_now()),
        ]
        return headers


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
