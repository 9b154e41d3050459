"""Django as its users expect it: the middleware is async-capable (no thread per request under
ASGI), ``async def`` views under ``@preconditions``, class-based views and Django REST
Framework views through ``method_decorator``."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest
from asgiref.sync import iscoroutinefunction
from django.core.handlers.asgi import ASGIHandler
from django.core.handlers.wsgi import WSGIHandler
from django.http import HttpRequest, HttpResponse
from django.test import AsyncClient, Client, override_settings

from ifmatch import PROBLEM_JSON
from ifmatch.django import AsyncConditionalMiddleware, ConditionalMiddleware

from . import django_views
from .stacks import django_asgi_app, uvicorn_client
from .store import STORE


def test_the_middleware_is_async_under_asgi_and_sync_under_wsgi() -> None:
    """Django builds the chain from sync_capable/async_capable: under ASGI it must get our
    async variant itself (not a sync instance behind a thread adapter), and under WSGI the
    plain sync one."""
    asgi_chain = ASGIHandler()._middleware_chain
    assert isinstance(asgi_chain.__wrapped__, AsyncConditionalMiddleware)
    assert iscoroutinefunction(asgi_chain.__wrapped__)
    wsgi_chain = WSGIHandler()._middleware_chain
    assert type(wsgi_chain.__wrapped__) is ConditionalMiddleware
    assert not iscoroutinefunction(wsgi_chain.__wrapped__)


def test_async_middleware_tags_and_answers_304() -> None:
    async def view(request: HttpRequest) -> HttpResponse:
        return HttpResponse(b"hello", content_type="text/plain")

    middleware = ConditionalMiddleware(view)
    assert isinstance(middleware, AsyncConditionalMiddleware)

    async def run(headers: dict[str, str]) -> Any:
        from django.test import AsyncRequestFactory

        return await middleware(AsyncRequestFactory().get("/", headers=headers))

    first = asyncio.run(run({}))
    assert first.status_code == 200
    assert first.headers["ETag"].startswith('W/"')
    again = asyncio.run(run({"If-None-Match": first.headers["ETag"]}))
    assert again.status_code == 304


def test_async_view_under_the_decorator_in_process() -> None:
    """The issue's crash ('coroutine' object has no attribute 'status_code')."""
    client = AsyncClient()
    STORE.reset()

    async def scenario() -> None:
        base = await client.get("/async/versioned")
        assert base.status_code == 200
        tag = base.headers["ETag"]
        assert tag == str(STORE.resource().etag)
        assert (
            await client.get("/async/versioned", headers={"If-None-Match": tag})
        ).status_code == 304
        assert (await client.put("/async/versioned", b"{}")).status_code == 428
        assert (
            await client.put("/async/versioned", b"{}", headers={"If-Match": tag})
        ).status_code == 200

    asyncio.run(scenario())
    STORE.reset()


@pytest.fixture
def notes() -> Iterator[None]:
    django_views.NOTES.clear()
    django_views.NOTES["a"] = {"version": 1, "body": {"title": "hello"}}
    with override_settings(
        ROOT_URLCONF="tests.integrations.django_views",
        REST_FRAMEWORK={
            "UNAUTHENTICATED_USER": None,
            "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
        },
    ):
        yield
    django_views.NOTES.clear()


def _scenario(call: Any, prefix: str) -> None:
    """The guarded read and write, whatever the view style."""
    first = call("GET", f"{prefix}/notes/a", {}, b"")
    assert first.status_code == 200
    assert json.loads(first.content) == {"title": "hello"}
    assert first.headers["ETag"] == '"v1"'
    assert call("GET", f"{prefix}/notes/a", {"If-None-Match": '"v1"'}, b"").status_code == 304
    body = json.dumps({"title": "new"}).encode()
    required = call("PUT", f"{prefix}/notes/a", {}, body)
    assert required.status_code == 428
    assert required.headers["Content-Type"] == PROBLEM_JSON
    written = call("PUT", f"{prefix}/notes/a", {"If-Match": '"v1"'}, body)
    assert written.status_code == 200
    assert written.headers["ETag"] == '"v2"'
    stale = call("PUT", f"{prefix}/notes/a", {"If-Match": '"v1"'}, body)
    assert stale.status_code == 412
    assert json.loads(stale.content)["current_etag"] == '"v2"'
    assert call("GET", f"{prefix}/notes/none", {}, b"").status_code == 404
    assert django_views.NOTES["a"]["version"] == 2


def _django_call(method: str, path: str, headers: dict[str, str], body: bytes) -> Any:
    return Client().generic(
        method, path, data=body, headers=headers, content_type="application/json"
    )


@pytest.mark.usefixtures("notes")
@pytest.mark.parametrize("prefix", ["", "/api"], ids=["View", "DRF-APIView"])
def test_class_based_views_through_method_decorator(prefix: str) -> None:
    _scenario(_django_call, prefix)


@pytest.mark.usefixtures("notes")
def test_drf_view_raising_inside_its_write_gets_the_middlewares_answer() -> None:
    body = json.dumps({"title": "new"}).encode()
    assert _django_call("PUT", "/api/atomic/a", {}, body).status_code == 428
    stale = _django_call("PUT", "/api/atomic/a", {"If-Match": '"v0"'}, body)
    assert stale.status_code == 412
    assert stale.headers["Content-Type"] == PROBLEM_JSON
    assert json.loads(stale.content)["current_etag"] == '"v1"'
    written = _django_call("PUT", "/api/atomic/a", {"If-Match": '"v1"'}, body)
    assert written.status_code == 200
    assert django_views.NOTES["a"] == {"version": 2, "body": {"title": "new"}}


@pytest.mark.usefixtures("notes")
def test_async_class_based_view_in_process() -> None:
    def call(method: str, path: str, headers: dict[str, str], body: bytes) -> Any:
        async def go() -> Any:
            return await AsyncClient().generic(
                method, path, data=body, headers=headers, content_type="application/json"
            )

        return asyncio.run(go())

    _scenario(call, "/async")


def test_async_views_under_uvicorn() -> None:
    """A real ASGI server: uvicorn runs Django's ASGI handler, whose chain is the async
    middleware and async views (the conformance table's "django-asgi" row runs the rest)."""
    for call in uvicorn_client("django-asgi", django_asgi_app):
        doc = call("GET", "/doc", {}, b"")
        assert doc.status == 200
        tag = doc.header("etag")
        assert tag is not None
        assert tag.startswith('W/"')
        assert call("GET", "/doc", {"If-None-Match": tag}, b"").status == 304
        streamed = call("GET", "/stream", {}, b"")
        assert streamed.status == 200
        assert streamed.header("etag") is None  # past the buffer: streamed untagged
