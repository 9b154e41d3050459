"""A small Starlette app with correct conditional behaviour, built on the core, for client tests.

* ``/docs/{name}``: versioned JSON documents.  GET (ETag ``"v<N>"``, 304),
  PUT (create or replace, If-Match / If-None-Match, 428 without a
  precondition when ``require_precondition``), PATCH (merge patch), DELETE.
* ``/files/{name}``: bytes with a strong ETag and Last-Modified; Range and
  If-Range through the core.  ``cut_after`` makes the server drop the
  connection after that many body bytes (calling ``on_cut`` first: a test
  can change the file right then).
* ``/vary``: a body chosen by Accept-Language, with ``Vary``.
* ``/nostore``: ``Cache-Control: no-store`` with an ETag.

Every request is logged in ``state.log`` (method, path, request headers).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from ifmatch import (
    Conditions,
    ETag,
    Resource,
    etag_for_version,
    evaluate,
    format_http_date,
    not_modified_headers,
    plan_ranges,
    problem,
)
from ifmatch.client import apply_merge_patch


@dataclass
class Doc:
    body: Any
    version: int = 1
    modified: float = field(default_factory=time.time)


@dataclass
class State:
    docs: dict[str, Doc] = field(default_factory=dict)
    files: dict[str, tuple[bytes, float]] = field(default_factory=dict)
    require_precondition: bool = True
    weak_etags: bool = False
    #: Cache-Control sent with documents (e.g. "max-age=60"); none by default.
    cache_control: str | None = None
    cut_after: int | None = None
    on_cut: Callable[[], None] | None = None
    log: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)

    def put_file(self, name: str, data: bytes) -> None:
        previous = self.files.get(name)
        mtime = time.time() - 10
        if previous is not None and int(previous[1]) >= int(mtime):
            mtime = previous[1] + 1
        self.files[name] = (data, mtime)


def _problem(status: int, detail: str) -> Response:
    return Response(problem(status, detail), status, media_type="application/problem+json")


def make_app(state: State) -> Starlette:
    def doc_etag(doc: Doc) -> ETag:
        tag = etag_for_version(doc.version)
        return tag.as_weak() if state.weak_etags else tag

    def doc_headers(doc: Doc) -> list[tuple[str, str]]:
        return [
            ("ETag", str(doc_etag(doc))),
            ("Last-Modified", format_http_date(doc.modified)),
            ("Content-Type", "application/json"),
            *([("Cache-Control", state.cache_control)] if state.cache_control else []),
        ]

    async def docs(request: Request) -> Response:
        name = request.path_params["name"]
        state.log.append((request.method, request.url.path, dict(request.headers)))
        # Read the body first: no await may come between the check and the write,
        # or two writers could both pass If-Match on the same version.
        raw = await request.body()
        doc = state.docs.get(name)
        conditions = Conditions.from_headers(request.headers.items())
        if doc is None and request.method in {"GET", "PATCH", "DELETE"}:
            return _problem(404, f"no document {name}")
        resource = (
            Resource.missing()
            if doc is None
            else Resource(doc_etag(doc), datetime.fromtimestamp(doc.modified, UTC))
        )
        decision = evaluate(
            request.method, conditions, resource, require_precondition=state.require_precondition
        )
        if decision.status == 304:
            assert doc is not None
            return Response(status_code=304, headers=dict(not_modified_headers(doc_headers(doc))))
        if decision.status is not None:
            return _problem(decision.status, decision.reason)
        if request.method == "GET":
            assert doc is not None
            return Response(json.dumps(doc.body), headers=dict(doc_headers(doc)))
        if request.method == "DELETE":
            del state.docs[name]
            return Response(status_code=204)
        incoming = json.loads(raw)
        if request.method == "PATCH":
            assert doc is not None
            if request.headers.get("content-type") != "application/merge-patch+json":
                return _problem(415, "PATCH takes application/merge-patch+json")
            incoming = apply_merge_patch(doc.body, incoming)
        created = doc is None
        version = 1 if doc is None else doc.version + 1
        new = Doc(incoming, version, time.time())
        state.docs[name] = new
        return Response(
            json.dumps(new.body), 201 if created else 200, headers=dict(doc_headers(new))
        )

    async def files(request: Request) -> Response:
        name = request.path_params["name"]
        state.log.append((request.method, request.url.path, dict(request.headers)))
        if name not in state.files:
            return _problem(404, f"no file {name}")
        data, mtime = state.files[name]
        etag = ETag(hashlib.sha256(data).hexdigest()[:32])
        headers = [
            ("ETag", str(etag)),
            ("Last-Modified", format_http_date(mtime)),
            ("Accept-Ranges", "bytes"),
            ("Content-Type", "application/octet-stream"),
        ]
        resource = Resource(etag, datetime.fromtimestamp(mtime, UTC))
        decision = evaluate("GET", Conditions.from_headers(request.headers.items()), resource)
        if decision.status == 304:
            return Response(status_code=304, headers=dict(not_modified_headers(headers)))
        if decision.status is not None:
            return _problem(decision.status, decision.reason)
        plan = plan_ranges(
            request.headers.get("range") if decision.use_range else None,
            len(data),
            "application/octet-stream",
        )
        all_headers = {**dict(headers), **dict(plan.headers)}
        if plan.status == 416:
            return Response(status_code=416, headers=all_headers)
        body = b"".join(plan.iter_body(lambda start, stop: [data[start:stop]]))
        cut = state.cut_after
        if cut is None or cut >= len(body):
            return Response(body, plan.status, headers=all_headers)
        state.cut_after = None

        async def truncated() -> AsyncIterator[bytes]:
            yield body[:cut]
            if state.on_cut is not None:
                state.on_cut()
            raise ConnectionAbortedError("test server drops the connection mid-body")

        return StreamingResponse(truncated(), plan.status, headers=all_headers)

    async def vary(request: Request) -> Response:
        state.log.append((request.method, request.url.path, dict(request.headers)))
        language = request.headers.get("accept-language", "en")
        body = {"en": b"hello", "fr": b"bonjour"}.get(language[:2], b"hello")
        etag = ETag(language[:2] or "en")
        headers = [("ETag", str(etag)), ("Vary", "Accept-Language"), ("Content-Type", "text/plain")]
        decision = evaluate("GET", Conditions.from_headers(request.headers.items()), Resource(etag))
        if decision.status == 304:
            return Response(status_code=304, headers=dict(not_modified_headers(headers)))
        return Response(body, headers=dict(headers))

    async def nostore(request: Request) -> Response:
        state.log.append((request.method, request.url.path, dict(request.headers)))
        headers = {"ETag": '"secret"', "Cache-Control": "no-store"}
        decision = evaluate(
            "GET", Conditions.from_headers(request.headers.items()), Resource(ETag("secret"))
        )
        if decision.status == 304:
            return Response(status_code=304, headers=headers)
        return Response(b"private data", headers=headers)

    return Starlette(
        routes=[
            Route("/docs/{name}", docs, methods=["GET", "PUT", "PATCH", "DELETE"]),
            Route("/files/{name}", files, methods=["GET"]),
            Route("/vary", vary, methods=["GET"]),
            Route("/nostore", nostore, methods=["GET"]),
        ]
    )
