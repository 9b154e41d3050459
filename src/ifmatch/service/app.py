"""The reference service's HTTP API: a versioned JSON document store and a file store.

Every representation carries a strong ETag, a Last-Modified and the
``Cache-Control`` of the cache policy (:mod:`ifmatch.service.cachepolicy`;
``no-cache`` by default: revalidate before each reuse, RFC 9111 §5.2.2.4).
While the database cannot answer, requests get 503 with ``Retry-After``.
Reads answer 304 and 412 through :func:`ifmatch.evaluate`; writes go through
:meth:`ifmatch.service.store.Store.write`, which evaluates the preconditions
inside the write transaction.  Replacing, patching or deleting an existing
resource without ``If-Match`` or ``If-Unmodified-Since`` answers 428
(RFC 6585 §3) unless the service runs with ``--no-require-preconditions``.

Database calls block, so each runs in Starlette's thread pool; a file
download holds a read snapshot while its spans are streamed from it.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from json.encoder import encode_basestring_ascii
from typing import Any
from urllib.parse import quote

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.convertors import PathConvertor, register_url_convertor
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, request_response
from starlette.types import Receive, Scope, Send

from ifmatch import (
    ByteRange,
    Conditions,
    Decision,
    ETag,
    Outcome,
    Resource,
    evaluate,
    format_http_date,
    patch,
)
from ifmatch.asgi_files import send_segments
from ifmatch.respond import Reply, Representation, pieces, refused, respond, validator_fields
from ifmatch.service import _assets as assets
from ifmatch.service._accesslog import ACCESS
from ifmatch.service._fastpath import WRITE_FAILED, FastPath
from ifmatch.service._http import (
    MAX_JSON_DEPTH,
    Problem,
    check_name,
    dump_json,
    file_path,
    media_type,
    nests_deeper,
    parse_json,
    problem_response,
    read_body,
    refuse_content_coding,
    spool_body,
)
from ifmatch.service._middleware import (
    AccessLog,
    BearerAuth,
    DateHeader,
    HeaderLimits,
    note_disconnect,
    note_precondition,
)
from ifmatch.service._openapi import openapi_document
from ifmatch.service._pages import PageQuery, next_target, page_etag, page_query
from ifmatch.service.backends import open_store
from ifmatch.service.cachepolicy import DEFAULT_HEADERS, CachePolicy, Headers
from ifmatch.service.settings import Settings
from ifmatch.service.store import (
    CHUNK,
    Content,
    Current,
    Meta,
    Reader,
    ScopeState,
    Store,
    WriteRequest,
    WriteResult,
)

_LOG = logging.getLogger("ifmatch.service")
JSON_TYPE = "application/json"
FILE_SPACE = "file"
ACCEPT_PATCH = f"{patch.MEDIA_MERGE_PATCH}, {patch.MEDIA_JSON_PATCH}"
#: Files whose selected bytes fit in this are read in the same thread hop as their metadata.
_SMALL = 64 * 1024
_DOCUMENT_METHODS = "GET, HEAD, PUT, PATCH, DELETE, OPTIONS"
_COLLECTION_METHODS = "GET, HEAD, POST, OPTIONS"
_FILE_METHODS = "GET, HEAD, PUT, DELETE, OPTIONS"
#: Seconds a client is asked to wait while the database cannot answer.
RETRY_AFTER = 2
_USER_FILE = tuple(assets.USER_FILE_HEADERS.items())


def _space(collection: str) -> str:
    return f"doc:{collection}"


def _representation(
    meta: Meta, *, ranges: bool, cache: Headers = DEFAULT_HEADERS, user_file: bool = False
) -> Representation:
    """A stored document or file as the responder sees it (``ranges``: /files offers them;
    ``cache``: the cache policy's fields; ``user_file``: an upload, never sniffed nor
    active in our origin)."""
    return Representation(
        meta.etag,
        meta.last_modified,
        meta.length,
        meta.content_type,
        ranges=ranges,
        fields=cache + _USER_FILE if user_file else cache,
        changed_within_second=meta.changed_within_second,
    )


def collection_representation(
    scope: ScopeState, cache: Headers = DEFAULT_HEADERS
) -> Representation:
    """A collection as the responder sees it: its counter is its validator (``cache``: the
    cache policy's fields)."""
    return Representation(
        scope.etag,
        scope.last_modified,
        content_type=JSON_TYPE,
        ranges=False,  # no byte ranges of a listing; say so (§14.3), as documents do
        fields=cache,
        changed_within_second=scope.changed_within_second,
    )


def page_representation(
    collection: str,
    limit: int,
    members: Sequence[tuple[str, int]],
    more: bool,
    cache: Headers = DEFAULT_HEADERS,
) -> tuple[Representation, str | None]:
    """A collection page (its members' ids and versions, and whether more follow) as the
    responder sees it, and the target of the next page (``None`` on the last).  Its ETag
    is :func:`ifmatch.service._pages.page_etag`; it has no Last-Modified (see
    :mod:`ifmatch.service._pages`); the ``Link`` to the next page (RFC 8288 §3) goes with
    its 200 and 304 alike."""
    etag = page_etag(collection, limit, members, more)
    target = None
    if more and members:
        target = next_target(f"/api/{collection}", limit, members[-1][0])
        cache = (*cache, ("Link", f'<{target}>; rel="next"'))
    representation = Representation(etag, None, content_type=JSON_TYPE, ranges=False, fields=cache)
    return representation, target


def _items(members: list[tuple[str, Meta, bytes]]) -> bytes:
    """The ``items`` of a listing or a page: each member's id, validators and document.

    The bytes are :func:`dump_json`'s (ASCII-only JSON strings), made with the
    encoder's string escaper directly, and each second's HTTP-date is formatted
    once (members written together share it).  This is most of the work of a
    200 page and of a whole listing: two to four times faster than a
    :func:`dump_json` per field, by how many members share a second.
    """
    dates: dict[int, bytes] = {}
    parts = []
    for name, meta, body in members:
        second = meta.modified_us // 1_000_000
        date = dates.get(second)
        if date is None:
            date = dates[second] = _json_string(format_http_date(meta.last_modified))
        parts.append(
            b'{"id":%s,"etag":%s,"last_modified":%s,"document":%s}'
            % (_json_string(name), _json_string(str(meta.etag)), date, body)
        )
    return b",".join(parts)


def _json_string(value: str) -> bytes:
    """A string as :func:`dump_json` writes it (ASCII, escaped)."""
    return encode_basestring_ascii(value).encode("ascii")


def _validators(meta: Meta, cache: Headers = DEFAULT_HEADERS) -> dict[str, str]:
    """The fields of a 200 after a write: the new validators (RFC 9110 §15.3.1, §15.3.2)
    and the cache policy's fields."""
    return dict([*validator_fields(meta.etag, meta.last_modified), *cache])


def _authenticated(request: Request) -> bool:
    """The request carries credentials (RFC 9111 §3.5 then limits shared caches)."""
    return any(name == b"authorization" for name, _ in request.scope["headers"])


def _send(reply: Reply, body: bytes | None = None) -> Response:
    """A Starlette response for a reply of the responder (``body`` for a 200 held in memory)."""
    return Response(reply.body if body is None else body, reply.status, headers=dict(reply.headers))


def _refused(decision: Decision, meta: Meta | ScopeState | None) -> Response:
    """The 412 or 428 for a refused write, with the current validators (if any).

    ``meta`` is the resource's, or the collection's for a POST (its target).
    """
    if meta is None:
        return _send(refused(decision, None))
    return _send(refused(decision, meta.etag, meta.last_modified))


def _conditions(request: Request) -> Conditions:
    return Conditions.from_headers(request.headers.raw)


def _not_allowed(allow: str) -> Problem:
    return Problem(405, "method not allowed", {"Allow": allow})


def _options(allow: str, extra: dict[str, str] | None = None) -> Response:
    return Response(status_code=204, headers={"Allow": allow, **(extra or {})})


class Service:
    """The endpoints, bound to a store and settings."""

    def __init__(self, settings: Settings, store: Store) -> None:
        self.settings, self.store = settings, store
        self.cache = CachePolicy.parse(settings.cache_control)
        self._openapi = dump_json(openapi_document(settings))

    async def _write(self, request: WriteRequest) -> WriteResult:
        result = await self.store.write_async(request)
        if result is None:
            result = await run_in_threadpool(self.store.write, request)
        return result

    def _cache(self, request: Request, space: str) -> Headers:
        """The cache policy's fields for a response from ``space`` to ``request``."""
        return self.cache.headers(space, _authenticated(request))

    def _require(self) -> bool:
        return self.settings.require_preconditions

    # -- service ---------------------------------------------------------------------------

    async def index(self, request: Request) -> Response:
        """Where to start, for JSON clients: links to the API description and the health
        check (browsers get the page, :mod:`ifmatch.service._assets`)."""
        links = {"service": "ifmatch", "openapi": "/openapi.json", "health": "/healthz"}
        return JSONResponse(links, headers={"Vary": "Accept"})

    async def healthz(self, request: Request) -> Response:
        """200 when the database answers."""
        await run_in_threadpool(self.store.ping)
        return JSONResponse({"status": "ok"}, headers={"Cache-Control": "no-store"})

    async def openapi(self, request: Request) -> Response:
        """The OpenAPI 3.1 description of this API."""
        return Response(self._openapi, media_type=JSON_TYPE)

    # -- documents -------------------------------------------------------------------------

    async def document(self, request: Request) -> Response:
        """``/api/{collection}/{id}``: GET, HEAD, PUT, PATCH, DELETE."""
        failed = request.scope.get(WRITE_FAILED)
        if failed is not None:  # the fast path's write of this request raised
            raise failed
        space = _space(check_name(request.path_params["collection"], "collection"))
        name = check_name(request.path_params["id"], "document id")
        method = request.method
        if method in {"GET", "HEAD"}:
            return await self._get_document(request, space, name)
        if method == "PUT":
            return await self._put_document(request, space, name)
        if method == "PATCH":
            return await self._patch_document(request, space, name)
        if method == "DELETE":
            return await self._delete(request, space, name)
        if method == "OPTIONS":
            return _options(_DOCUMENT_METHODS, {"Accept-Patch": ACCEPT_PATCH})
        raise _not_allowed(_DOCUMENT_METHODS)

    async def _get_document(self, request: Request, space: str, name: str) -> Response:
        found = await run_in_threadpool(self.store.get, space, name)
        if found is None:
            note_precondition(request, None, None)
            raise Problem(404, "no such document")
        meta, body = found
        # Byte ranges are offered on /files only; say so (§14.3) rather than ignore Range.
        conditions = _conditions(request)
        representation = _representation(meta, ranges=False, cache=self._cache(request, space))
        reply = respond(request.method, conditions, representation)
        note_precondition(request, conditions, reply.decision)
        if reply.status != 200 or request.method == "HEAD":
            return _send(reply)
        return _send(reply, body)

    async def _json_content(self, request: Request) -> bytes:
        refuse_content_coding(request)
        kind, params = media_type(request)
        if kind != JSON_TYPE or params.get("charset", "utf-8") != "utf-8":
            raise Problem(415, "documents are application/json (UTF-8)", {"Accept": JSON_TYPE})
        data = await read_body(request, self.settings.max_json_body)
        parse_json(data)
        return data

    async def _put_document(self, request: Request, space: str, name: str) -> Response:
        content = Content.of(await self._json_content(request), JSON_TYPE)
        result = await self._write(
            WriteRequest(
                "PUT",
                space,
                name,
                _conditions(request),
                lambda _: content,
                self._require(),
                whole=True,
            )
        )
        return self._finish(request, result, content.data)

    async def _patch_document(self, request: Request, space: str, name: str) -> Response:
        refuse_content_coding(request)
        kind, _ = media_type(request)
        if kind not in {patch.MEDIA_MERGE_PATCH, patch.MEDIA_JSON_PATCH}:
            raise Problem(
                415,
                f"PATCH takes {patch.MEDIA_MERGE_PATCH} or {patch.MEDIA_JSON_PATCH}",
                {"Accept-Patch": ACCEPT_PATCH},
            )
        limit = self.settings.max_json_body
        operations = parse_json(await read_body(request, limit))
        if kind == patch.MEDIA_JSON_PATCH:
            try:
                patch.validate_json_patch(operations)
            except patch.PatchError as error:
                raise Problem(error.status, str(error)) from None
        made: list[bytes] = []

        def make(current: Current | None) -> Content:
            assert current is not None  # must_exist: a missing document is a 404 before this
            document = parse_json(current.body(), strict=False)
            if kind == patch.MEDIA_MERGE_PATCH:
                patched = patch.merge_patch(document, operations)
            else:
                patched = patch.apply_json_patch(document, operations, max_bytes=limit)
            if nests_deeper(patched):
                raise patch.PatchTooLarge(
                    f"the patched document would nest deeper than {MAX_JSON_DEPTH} levels"
                )
            data = dump_json(patched)
            if len(data) > limit:
                raise patch.PatchTooLarge(f"the patched document would exceed {limit} bytes")
            made.append(data)
            return Content.of(data, JSON_TYPE)

        try:
            result = await self._write(
                WriteRequest(
                    "PATCH",
                    space,
                    name,
                    _conditions(request),
                    make,
                    self._require(),
                    must_exist=True,
                )
            )
        except patch.PatchError as error:
            note_precondition(request, _conditions(request), Decision(Outcome.PROCEED))
            raise Problem(error.status, str(error), operation=error.index) from None
        except RecursionError:
            raise Problem(422, "the document is nested too deeply to patch") from None
        return self._finish(request, result, made[0] if made else None)

    async def _delete(self, request: Request, space: str, name: str) -> Response:
        """DELETE a document or file, guarded like every write (404 when it does not exist)."""
        result = await self._write(
            WriteRequest(
                "DELETE",
                space,
                name,
                _conditions(request),
                lambda _: None,
                self._require(),
                must_exist=True,
                whole=True,
            )
        )
        return self._finish(request, result, None)

    def _finish(self, request: Request, result: WriteResult, body: bytes | None) -> Response:
        """The response to a write: 404, 412/428, or the new state (201/200/204)."""
        note_precondition(request, _conditions(request), result.decision if result.found else None)
        if not result.found:
            raise Problem(404, "no such resource")
        if result.decision.status is not None:
            return _refused(result.decision, result.before)
        if result.after is None:
            return Response(status_code=204)
        collection = request.path_params.get("collection")
        space = _space(collection) if collection is not None else FILE_SPACE
        headers = _validators(result.after, self._cache(request, space))
        if result.created:
            # scope["path"] is fully decoded; request.url.path keeps "?" and "#" escaped,
            # which quote() would escape twice ("/files/%3F" -> "%253F", another file).
            headers["Location"] = quote(request.scope["path"])
        status = 201 if result.created else 200
        if body is None:
            return Response(status_code=201 if result.created else 204, headers=headers)
        return Response(body, status, headers=headers, media_type=JSON_TYPE)

    # -- collections -----------------------------------------------------------------------

    async def collections(self, request: Request) -> Response:
        """``/api``: the collections that hold documents, with a strong ETag of the list.

        No Last-Modified: two changes in one second could not be told apart,
        and the ETag (a digest of the list, which names each collection's
        own ETag) changes with every write to any document.
        """
        spaces = await run_in_threadpool(self.store.spaces, "doc:")
        listed = [
            {"name": space[4:], "documents": members, "etag": f'"c{counter}"'}
            for space, counter, members in spaces
            if members
        ]
        body = dump_json({"collections": listed})
        etag = ETag("l" + hashlib.sha256(body).hexdigest()[:32])
        conditions = _conditions(request)
        representation = Representation(etag, None, len(body), JSON_TYPE, fields=DEFAULT_HEADERS)
        reply = respond(request.method, conditions, representation)
        note_precondition(request, conditions, reply.decision)
        if reply.status != 200 or request.method == "HEAD":
            return _send(reply)
        return _send(reply, body)

    async def collection(self, request: Request) -> Response:
        """``/api/{collection}``: GET/HEAD the members (with a collection ETag), POST to create."""
        collection = check_name(request.path_params["collection"], "collection")
        space = _space(collection)
        if request.method == "POST":
            content = Content.of(await self._json_content(request), JSON_TYPE)
            name = uuid.uuid4().hex
            conditions = _conditions(request)
            result = await self._write(
                WriteRequest(
                    "POST", space, name, conditions, lambda _: content, False, against_space=True
                )
            )
            if result.decision.status is not None:  # the collection's validators decided
                note_precondition(request, conditions, result.decision)
                return _refused(result.decision, result.scope)
            response = self._finish(request, result, content.data)
            if result.created:
                response.headers["Location"] = f"/api/{collection}/{name}"
            return response
        if request.method == "OPTIONS":
            return _options(_COLLECTION_METHODS)
        if request.method not in {"GET", "HEAD"}:
            raise _not_allowed(_COLLECTION_METHODS)
        query = page_query(request.query_params.multi_items())
        if query is not None:
            return await self._page(request, collection, query)
        listing = await run_in_threadpool(self.store.listing, space)
        scope = listing.scope
        conditions = _conditions(request)
        representation = collection_representation(scope, self._cache(request, space))
        reply = respond(request.method, conditions, representation)
        note_precondition(request, conditions, reply.decision)
        if reply.status != 200:
            return _send(reply)
        headers = dict(reply.headers)
        items = _items(listing.members)
        body = b'{"collection":%s,"items":[%s]}' % (dump_json(collection), items)
        headers["Content-Length"] = str(len(body))
        if request.method == "HEAD":
            return Response(headers=headers)
        return Response(body, headers=headers)

    async def _page(self, request: Request, collection: str, query: PageQuery) -> Response:
        """``/api/{collection}?limit=N[&cursor=C]``: one page of the collection, with its
        own ETag and a ``Link`` to the next page (:mod:`ifmatch.service._pages`).

        The body is the listing's (``collection``, ``items``) plus ``next``, the
        next page's target or ``null`` on the last page.  It is built only for
        a 200: the page's rows decide a 304 or 412 alone.
        """
        space = _space(collection)
        page = await run_in_threadpool(self.store.page, space, query.after, query.limit)
        conditions = _conditions(request)
        cache = self._cache(request, space)
        members = [(name, meta.version) for name, meta, _ in page.members]
        representation, target = page_representation(
            collection, query.limit, members, page.more, cache
        )
        reply = respond(request.method, conditions, representation)
        note_precondition(request, conditions, reply.decision)
        if reply.status != 200:
            return _send(reply)
        headers = dict(reply.headers)
        body = b'{"collection":%s,"items":[%s],"next":%s}' % (
            dump_json(collection),
            _items(page.members),
            dump_json(target),
        )
        headers["Content-Length"] = str(len(body))
        if request.method == "HEAD":
            return Response(headers=headers)
        return Response(body, headers=headers)

    # -- files -----------------------------------------------------------------------------

    async def file(self, request: Request) -> Response:
        """``/files/{path}``: GET/HEAD (with ranges), PUT, DELETE of raw bytes."""
        path = file_path(request.path_params["path"])
        method = request.method
        if method in {"GET", "HEAD"}:
            return await self._get_file(request, path)
        if method == "PUT":
            return await self._put_file(request, path)
        if method == "DELETE":
            return await self._delete(request, FILE_SPACE, path)
        if method == "OPTIONS":
            return _options(_FILE_METHODS)
        raise _not_allowed(_FILE_METHODS)

    async def _put_file(self, request: Request, path: str) -> Response:
        refuse_content_coding(request)
        content_type = request.headers.get("content-type") or "application/octet-stream"
        early = await run_in_threadpool(self._precheck, path, _conditions(request))
        if early is not None:
            decision, meta = early
            note_precondition(request, _conditions(request), decision)
            return _refused(decision, meta)
        file, length = await spool_body(request, self.settings.max_file_body)
        try:
            content = Content(content_type, file=file, length=length)
            result = await self._write(
                WriteRequest(
                    "PUT",
                    FILE_SPACE,
                    path,
                    _conditions(request),
                    lambda _: content,
                    self._require(),
                    whole=True,
                )
            )
        finally:
            file.close()
        response = self._finish(request, result, None)
        if result.created:  # the stored path: "/files//a" and "/files/a/" store "a"
            response.headers["Location"] = "/files/" + quote(path)
        return response

    def _precheck(self, path: str, conditions: Conditions) -> tuple[Decision, Meta | None] | None:
        """A refusal decided before the upload is read (a 412 or 428 that is already certain).

        Only an optimisation: a client that sent ``Expect: 100-continue`` is
        told before it sends megabytes.  The authoritative check is still
        the one inside the write transaction.
        """
        reader = self.store.open(FILE_SPACE, path)
        meta = reader.meta if reader is not None else None
        if reader is not None:
            reader.close()
        resource = meta.resource() if meta is not None else Resource.missing()
        decision = evaluate("PUT", conditions, resource, require_precondition=self._require())
        return (decision, meta) if decision.status is not None else None

    async def _get_file(self, request: Request, path: str) -> Response:
        conditions = _conditions(request)
        cache = self._cache(request, FILE_SPACE)
        prepared = await run_in_threadpool(
            self._prepare_file, request.method, path, conditions, cache
        )
        if prepared is None:
            note_precondition(request, None, None)
            raise Problem(404, "no such file")
        decision, response, reply, reader = prepared
        note_precondition(request, conditions, decision)
        if response is not None:
            return response
        assert reply is not None
        assert reader is not None
        return _SegmentsResponse(reply, reader)

    def _prepare_file(
        self, method: str, path: str, conditions: Conditions, cache: Headers = ()
    ) -> tuple[Decision | None, Response | None, Reply | None, Reader | None] | None:
        """In one thread hop: open a snapshot, decide, and read the body if it is small."""
        reader = self.store.open(FILE_SPACE, path)
        if reader is None:
            return None
        streaming = False
        try:
            cache = cache or self.cache.headers(FILE_SPACE)
            representation = _representation(reader.meta, ranges=True, cache=cache, user_file=True)
            reply = respond(method, conditions, representation)
            if sum(len(segment) for segment in reply.segments) <= _SMALL:
                read = reader.read
                body = b"".join(
                    piece if isinstance(piece, bytes) else read(piece.start, piece.stop)
                    for piece in pieces(reply.body, reply.segments, CHUNK)
                )
                return reply.decision, _send(reply, body), None, None
            streaming = True
            return reply.decision, None, reply, reader
        finally:
            if not streaming:
                reader.close()


class _SegmentsResponse(Response):
    """Streams a reply's segments from a read snapshot, then closes the snapshot."""

    def __init__(self, reply: Reply, reader: Reader) -> None:
        self.status_code = reply.status
        self.background = None
        self.body = b""
        self.raw_headers = [
            (name.lower().encode("latin-1"), value.encode("latin-1"))
            for name, value in reply.headers
        ]
        self._reply, self._reader = reply, reader

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        reply, reader = self._reply, self._reader

        def read(span: ByteRange) -> bytes:
            return reader.read(span.start, span.stop)

        try:
            start = {"type": "http.response.start", "status": self.status_code}
            await send({**start, "headers": self.raw_headers})
            await send_segments(send, reply.body, reply.segments, read, CHUNK)
        finally:
            await run_in_threadpool(reader.close)


async def _problem_handler(request: Request, error: Exception) -> Response:
    assert isinstance(error, Problem)
    return error.response()


async def _http_handler(request: Request, error: Exception) -> Response:
    assert isinstance(error, HTTPException)
    return problem_response(error.status_code, str(error.detail), dict(error.headers or {}))


def _unavailable(store: Store) -> Callable[[Request, Exception], Awaitable[Response]]:
    """The handler of the store's "database unavailable" errors: 503, never 500.

    It logs one line, not a traceback, and starts the store's recovery.  A
    write that fails this way may or may not have been committed: a client
    retries it with its ``If-Match``, which the store evaluates again.
    """

    async def handler(request: Request, error: Exception) -> Response:
        store.recover()
        _LOG.warning("database unavailable: %s", str(error).splitlines()[0] if str(error) else "")
        return problem_response(
            503,
            "the database is unavailable; retry after Retry-After seconds "
            "(a write's outcome is unknown: re-read, or resend it with its If-Match)",
            {"Retry-After": str(RETRY_AFTER), "Cache-Control": "no-store"},
        )

    return handler


async def _client_gone(request: Request, error: Exception) -> Response:
    """The client closed the connection before its request content was complete.

    Nothing was written (the body is read before any write begins).  The
    answer is never delivered; its status, 499 as nginx logs it, is for
    the access log, which also says ``client closed``.
    """
    note_disconnect(request)
    return Response(status_code=499)


async def _server_error(request: Request, error: Exception) -> Response:
    return problem_response(500, "internal server error")


class _AnyMethod:
    """An endpoint as a plain ASGI app, so its Route takes every method and the
    endpoint answers 405 itself, with a fixed ``Allow``."""

    def __init__(self, endpoint: Callable[[Request], Awaitable[Response]]) -> None:
        self._app = request_response(endpoint)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._app(scope, receive, send)


class _AnyPathConvertor(PathConvertor):
    """Starlette's ``path`` convertor, but matching control characters too.

    Its ``.*`` stops at a newline, so ``/files/a%0Ab`` would miss the route and
    get a bare 404; with this one every path reaches the endpoint, whose own
    check answers 400 with a problem body saying what is wrong with it.
    """

    regex = "(?s:.*)"


register_url_convertor("anypath", _AnyPathConvertor())


class ServiceApp(Starlette):
    """The service's Starlette application, entered through its fast path
    (:mod:`ifmatch.service._fastpath`), which hands it every request it does not answer."""

    fast: FastPath

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.fast(scope, receive, send)

    async def full(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The whole application: middleware, router, endpoints."""
        await super().__call__(scope, receive, send)


def create_app(settings: Settings, store: Store | None = None) -> ServiceApp:
    """The ASGI application for ``settings`` (opens the store unless one is given)."""
    store = store or open_store(settings.db, pool_size=settings.pool_size)
    service = Service(settings, store)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            ACCESS.flush()
            fast.close()
            await store.aclose()
            store.close()

    handler = Callable[[Request, Exception], Awaitable[Response]]
    handlers: dict[Any, handler] = {
        Problem: _problem_handler,
        HTTPException: _http_handler,
        ClientDisconnect: _client_gone,
        Exception: _server_error,
        **{kind: _unavailable(store) for kind in store.unavailable},
    }
    app = ServiceApp(
        routes=[
            *assets.routes(request_response(service.index)),
            Route("/healthz", service.healthz, methods=["GET", "HEAD"]),
            Route("/openapi.json", service.openapi, methods=["GET", "HEAD"]),
            Route("/api", service.collections, methods=["GET", "HEAD"]),
            Route("/api/{collection}", _AnyMethod(service.collection)),
            Route("/api/{collection}/{id}", _AnyMethod(service.document)),
            Route("/files/{path:anypath}", _AnyMethod(service.file)),
        ],
        middleware=[
            Middleware(DateHeader),
            Middleware(AccessLog, enabled=settings.access_log),
            Middleware(HeaderLimits),
            Middleware(BearerAuth, token=settings.token, public=assets.is_public),
        ],
        exception_handlers=handlers,
        lifespan=lifespan,
    )
    app.state.store = store
    fast = FastPath(app.full, settings, store, [entry.cls for entry in app.user_middleware])
    app.fast = fast
    return app


def app_from_env() -> ServiceApp:
    """The uvicorn factory: settings from the environment (see :mod:`ifmatch.service.settings`)."""
    from ifmatch.service._logs import configure_logging

    settings = Settings.from_env()
    configure_logging()
    return create_app(settings)
