"""The Django stack of the conformance table: URLconf and views (ROOT_URLCONF)."""

from __future__ import annotations

from collections.abc import AsyncIterator

from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from ifmatch import Resource
from ifmatch.django import preconditions
from ifmatch.guard import validator_headers

from .stacks import DOC_BODY, versioned_resource
from .store import DOC_HEADERS, EVENTS, EXPENSIVE, STORE, STREAM_CHUNKS


def doc(request: HttpRequest) -> HttpResponse:
    return HttpResponse(DOC_BODY, content_type="application/json", headers=DOC_HEADERS)


@csrf_exempt
@preconditions(versioned_resource, require=True)
def versioned(request: HttpRequest) -> HttpResponse:
    if request.method == "PUT":
        STORE.put(request.body)
        return HttpResponse(
            STORE.body(),
            content_type="application/json",
            headers=dict(validator_headers(STORE.resource())),
        )
    if not STORE.exists:
        return HttpResponse(status=404)
    if request.method == "DELETE":
        STORE.delete()
        return HttpResponse(status=204)
    return JsonResponse(STORE.data)


@csrf_exempt
@preconditions(versioned_resource, require=True)
def expensive(request: HttpRequest) -> HttpResponse:
    return HttpResponse(EXPENSIVE(), content_type="application/json")


def nostore(request: HttpRequest) -> HttpResponse:
    return HttpResponse(b"secret", headers={"Cache-Control": "no-store"})


def missing(request: HttpRequest) -> HttpResponse:
    return HttpResponse(b"not here", status=404)


def stream(request: HttpRequest) -> StreamingHttpResponse:
    return StreamingHttpResponse(iter(STREAM_CHUNKS), content_type="text/plain")


def events(request: HttpRequest) -> HttpResponse:
    return HttpResponse(EVENTS, content_type="text/event-stream")


def big(request: HttpRequest) -> HttpResponse:
    """A 2 KB compressible body, for the GZipMiddleware tests."""
    return HttpResponse(b"x" * 2048, content_type="text/plain", headers={"ETag": '"big-v1"'})


def big_untagged(request: HttpRequest) -> HttpResponse:
    return HttpResponse(b"y" * 2048, content_type="text/plain")


# --- the same endpoints as async views, served under ASGI (the "django-asgi" stack) ---------


async def current_async(request: HttpRequest) -> Resource:
    return versioned_resource()


async def doc_async(request: HttpRequest) -> HttpResponse:
    return doc(request)


@csrf_exempt
@preconditions(current_async, require=True)
async def versioned_async(request: HttpRequest) -> HttpResponse:
    if request.method == "PUT":
        STORE.put(request.body)
        return HttpResponse(
            STORE.body(),
            content_type="application/json",
            headers=dict(validator_headers(STORE.resource())),
        )
    if not STORE.exists:
        return HttpResponse(status=404)
    if request.method == "DELETE":
        STORE.delete()
        return HttpResponse(status=204)
    return JsonResponse(STORE.data)


@csrf_exempt
@preconditions(versioned_resource, require=True)
async def expensive_async(request: HttpRequest) -> HttpResponse:
    return HttpResponse(EXPENSIVE(), content_type="application/json")


async def nostore_async(request: HttpRequest) -> HttpResponse:
    return nostore(request)


async def missing_async(request: HttpRequest) -> HttpResponse:
    return missing(request)


async def stream_async(request: HttpRequest) -> StreamingHttpResponse:
    async def chunks() -> AsyncIterator[bytes]:
        for chunk in STREAM_CHUNKS:
            yield chunk

    return StreamingHttpResponse(chunks(), content_type="text/plain")


async def events_async(request: HttpRequest) -> HttpResponse:
    return events(request)


urlpatterns = [
    path("async/doc", doc_async),
    path("async/versioned", versioned_async),
    path("async/nostore", nostore_async),
    path("async/missing", missing_async),
    path("async/stream", stream_async),
    path("async/events", events_async),
    path("async/expensive", expensive_async),
    path("doc", doc),
    path("versioned", versioned),
    path("nostore", nostore),
    path("missing", missing),
    path("stream", stream),
    path("events", events),
    path("expensive", expensive),
    path("big", big),
    path("big-untagged", big_untagged),
]
