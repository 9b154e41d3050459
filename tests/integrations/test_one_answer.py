"""One answer everywhere (issue 12): every path that can answer 304, 412, 428 or 416 sends the
same status and the same header set for the same situation.

The policy is :mod:`ifmatch.respond`'s, and this table holds every path to it:

* 304 (RFC 9110 §15.4.5): the 200's ETag and Cache-Control, nothing about the body.
* 412 (§13.1, §15.5.13) and 428 (RFC 6585 §3): a problem document (RFC 9457) with its
  Content-Type and Content-Length, the current ETag and Last-Modified, and
  ``Cache-Control: no-store``.
* 416 (§14.4, §15.5.17): the same plus ``Content-Range: bytes */<length>`` and
  ``Accept-Ranges: bytes``.

Every path serves one representation whose 200 carries an ETag, a Last-Modified and
``Cache-Control: no-cache``.  ``Date`` and ``Server`` are left out of the comparison: the
server layer adds them to every response whatever its status (§6.6.1), and not every test
client plays a server.  A path that cannot produce a situation says so in ``CANNOT``, with
the reason; the table checks that the exclusion is real (the path then answers otherwise).
"""

from __future__ import annotations

import contextlib
import json
import warnings
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi import Depends, FastAPI
from fastapi import Response as FastResponse

from ifmatch import ETag, Resource, format_http_date
from ifmatch.guard import check_preconditions, validator_headers

from .stacks import Answer, _joined

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

Call = Callable[[str, dict[str, str], bytes], Answer]

CONTENT = b'{"answer": 42}\n'
MODIFIED = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
RESOURCE = Resource(ETag("v7"), MODIFIED)
REVALIDATE = [("Cache-Control", "no-cache")]
IGNORED = {"date", "server"}
#: Exchange fields the service adds to its answers about a user's upload (issue 18: never
#: sniffed, never active in the page's origin); the responder keeps them on 304 and refusals.
USER_FILE_FIELDS = {"x-content-type-options", "content-security-policy"}

REFUSAL = {"content-type", "content-length", "etag", "last-modified", "cache-control"}


@dataclass(frozen=True)
class Situation:
    method: str
    headers: dict[str, str]
    status: int
    fields: frozenset[str]


SITUATIONS = {
    # §13.1.2: a GET whose If-None-Match lists the current tag.
    "304": Situation("GET", {"If-None-Match": "{etag}"}, 304, frozenset({"etag", "cache-control"})),
    # §13.1.1: a GET whose If-Match names another tag.
    "412-read": Situation("GET", {"If-Match": '"other"'}, 412, frozenset(REFUSAL)),
    # §13.1.1: a PUT whose If-Match names another tag (the lost update prevented).
    "412-write": Situation("PUT", {"If-Match": '"other"'}, 412, frozenset(REFUSAL)),
    # RFC 6585 §3: a PUT to an existing resource without any precondition.
    "428": Situation("PUT", {}, 428, frozenset(REFUSAL)),
    # §14.4: a GET whose only range starts past the end.
    "416": Situation(
        "GET",
        {"Range": "bytes=1000-"},
        416,
        frozenset(REFUSAL | {"content-range", "accept-ranges"}),
    ),
}

_READ_ONLY = "a file app is read-only: a PUT is 405 before any precondition"
_SERVES_ONLY = (
    "a FileResponse answers the method its route let through and requires no precondition "
    "(a failed If-Match on any method is still its 412)"
)
_NO_RANGES = "answers preconditions only; the view or app serves the body, without ranges"
_MIDDLEWARE_WRITES = (
    "writes pass the middleware untouched (it tags reads); the guard rows cover how it "
    "renders a write's 412/428"
)
CANNOT: dict[str, dict[str, str]] = {
    "asgi-static": {"412-write": _READ_ONLY, "428": _READ_ONLY},
    "asgi-file-response": {"428": _SERVES_ONLY},
    "wsgi-static": {"412-write": _READ_ONLY, "428": _READ_ONLY},
    "wsgi-file-response": {"428": _SERVES_ONLY},
    "service-document": {"416": "documents offer no ranges (Accept-Ranges: none, §14.3)"},
    "service-file": {},
    "starlette-decorator": {"416": _NO_RANGES},
    "fastapi-dependency": {"416": _NO_RANGES},
    "flask-decorator": {"416": _NO_RANGES},
    "django-decorator": {"416": _NO_RANGES},
    "guard-starlette-install": {"416": _NO_RANGES},
    "guard-asgi-middleware": {"416": _NO_RANGES},
    "guard-wsgi-middleware": {"416": _NO_RANGES},
    "guard-django-middleware": {"416": _NO_RANGES},
    "asgi-middleware": {
        "412-write": _MIDDLEWARE_WRITES,
        "428": _MIDDLEWARE_WRITES,
        "416": _NO_RANGES,
    },
    "wsgi-middleware": {
        "412-write": _MIDDLEWARE_WRITES,
        "428": _MIDDLEWARE_WRITES,
        "416": _NO_RANGES,
    },
    "django-middleware": {
        "412-write": _MIDDLEWARE_WRITES,
        "428": _MIDDLEWARE_WRITES,
        "416": _NO_RANGES,
    },
}


# --- the paths --------------------------------------------------------------------------------


def _asgi(app: Any, path: str = "/target") -> Generator[Call, None, None]:
    client = TestClient(app)  # no lifespan: the bare apps here have none

    def call(method: str, headers: dict[str, str], body: bytes) -> Answer:
        response = client.request(method, path, headers=headers, content=body or None)
        return Answer(
            response.status_code, _joined(response.headers.multi_items()), response.content
        )

    yield call


def _wsgi(app: Any, path: str = "/target") -> Generator[Call, None, None]:
    from werkzeug.test import Client

    client = Client(app)

    def call(method: str, headers: dict[str, str], body: bytes) -> Answer:
        response = client.open(path, method=method, headers=headers, data=body)
        data = response.get_data()
        response.close()
        return Answer(response.status_code, _joined(response.headers.items()), data)

    yield call


def _file(tmp_path: Path) -> Path:
    target = tmp_path / "target"
    target.write_bytes(CONTENT)
    return target


def asgi_static(tmp_path: Path) -> Generator[Call, None, None]:
    from ifmatch.asgi_files import StaticFiles

    _file(tmp_path)
    yield from _asgi(StaticFiles(tmp_path, cache_control="no-cache"))


def asgi_file_response(tmp_path: Path) -> Generator[Call, None, None]:
    from ifmatch.asgi_files import FileResponse

    target = _file(tmp_path)

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await FileResponse(target, headers=REVALIDATE)(scope, receive, send)

    yield from _asgi(app)


def wsgi_static(tmp_path: Path) -> Generator[Call, None, None]:
    from ifmatch.wsgi_files import StaticFiles

    _file(tmp_path)
    yield from _wsgi(StaticFiles(tmp_path, cache_control="no-cache"))


def wsgi_file_response(tmp_path: Path) -> Generator[Call, None, None]:
    from ifmatch.wsgi_files import FileResponse

    yield from _wsgi(FileResponse(_file(tmp_path), headers=REVALIDATE))


def _service(tmp_path: Path, path: str, content_type: str) -> Generator[Call, None, None]:
    from ifmatch.service.app import create_app
    from ifmatch.service.settings import Settings

    settings = Settings(db=f"sqlite:///{tmp_path / 'one-answer.db'}", access_log=False)
    with TestClient(create_app(settings)) as client:
        created = client.put(path, content=CONTENT, headers={"Content-Type": content_type})
        assert created.status_code == 201

        def call(method: str, headers: dict[str, str], body: bytes) -> Answer:
            if method == "PUT":
                headers = {**headers, "Content-Type": content_type}
            response = client.request(method, path, headers=headers, content=body or None)
            return Answer(
                response.status_code, _joined(response.headers.multi_items()), response.content
            )

        yield call


def service_document(tmp_path: Path) -> Generator[Call, None, None]:
    yield from _service(tmp_path, "/api/answers/target", "application/json")


def service_file(tmp_path: Path) -> Generator[Call, None, None]:
    yield from _service(tmp_path, "/files/target", "application/json")


def _resource(*_: object, **__: object) -> Resource:
    return RESOURCE


def _content_response_headers(validated: bool = False) -> dict[str, str]:
    """A view's 200; ``validated``: with the validators a guarded handler sets itself."""
    headers = {"Content-Type": "application/json", "Cache-Control": "no-cache"}
    if validated:
        headers.update(validator_headers(RESOURCE))
    return headers


def starlette_decorator(tmp_path: Path) -> Generator[Call, None, None]:
    from starlette.applications import Starlette
    from starlette.responses import Response
    from starlette.routing import Route

    from ifmatch.starlette import preconditions

    @preconditions(_resource, require=True, extra_headers=REVALIDATE)
    async def target(request: Any) -> Response:
        return Response(CONTENT, headers=_content_response_headers())

    yield from _asgi(Starlette(routes=[Route("/target", target, methods=["GET", "PUT"])]))


def fastapi_dependency(tmp_path: Path) -> Generator[Call, None, None]:
    from ifmatch.fastapi import Preconditions, install

    guard = Preconditions(_resource, require=True, extra_headers=REVALIDATE)
    app = FastAPI()

    @app.api_route("/target", methods=["GET", "PUT"])
    def target(response: FastResponse, resource: Resource = Depends(guard)) -> Any:  # noqa: B008
        # The dependency sets the validators on the injected response; FastAPI merges
        # them into the data it serializes.
        response.headers["Cache-Control"] = "no-cache"
        return json.loads(CONTENT)

    install(app)
    yield from _asgi(app)


def flask_decorator(tmp_path: Path) -> Generator[Call, None, None]:
    from flask import Flask, Response

    from ifmatch.flask import preconditions

    app = Flask("one-answer")

    @app.route("/target", methods=["GET", "PUT"])
    @preconditions(_resource, require=True, extra_headers=REVALIDATE)
    def target() -> Response:
        return Response(CONTENT, headers=_content_response_headers())

    yield from _wsgi(app)


def _django(view: Any) -> Generator[Call, None, None]:
    from django.test import Client
    from django.test.utils import override_settings
    from django.urls import path
    from django.views.decorators.csrf import csrf_exempt

    urls = type("URLs", (), {"urlpatterns": [path("target", csrf_exempt(view))]})
    with override_settings(ROOT_URLCONF=urls):
        client = Client()

        def call(method: str, headers: dict[str, str], body: bytes) -> Answer:
            response = client.generic(
                method, "/target", data=body, headers=headers, content_type="application/json"
            )
            return Answer(response.status_code, _joined(response.items()), response.content)

        yield call


def _django_content(validated: bool = False) -> Any:
    from django.http import HttpResponse

    return HttpResponse(CONTENT, headers=_content_response_headers(validated))


def django_decorator(tmp_path: Path) -> Generator[Call, None, None]:
    from ifmatch.django import preconditions

    @preconditions(_resource, require=True, extra_headers=REVALIDATE)
    def target(request: Any) -> Any:
        return _django_content()

    yield from _django(target)


def guard_django_middleware(tmp_path: Path) -> Generator[Call, None, None]:
    def target(request: Any) -> Any:
        check_preconditions(
            request.method,
            list(request.headers.items()),
            RESOURCE,
            require=True,
            extra_headers=REVALIDATE,
        )
        return _django_content(validated=True)

    yield from _django(target)


def guard_starlette_install(tmp_path: Path) -> Generator[Call, None, None]:
    from starlette.applications import Starlette
    from starlette.responses import Response
    from starlette.routing import Route

    from ifmatch.starlette import install

    async def target(request: Any) -> Response:
        check_preconditions(
            request.method, request.headers.raw, RESOURCE, require=True, extra_headers=REVALIDATE
        )
        return Response(CONTENT, headers=_content_response_headers(validated=True))

    app = Starlette(routes=[Route("/target", target, methods=["GET", "PUT"])])
    install(app)
    yield from _asgi(app)


def _validated_fields() -> list[tuple[str, str]]:
    return [
        ("Content-Type", "application/json"),
        ("Content-Length", str(len(CONTENT))),
        ("ETag", str(RESOURCE.etag)),
        ("Last-Modified", format_http_date(MODIFIED)),
        *REVALIDATE,
    ]


async def _plain_asgi(scope: Any, receive: Any, send: Any, *, guarded: bool) -> None:
    if guarded:
        check_preconditions(
            scope["method"], scope["headers"], RESOURCE, require=True, extra_headers=REVALIDATE
        )
    fields = [(name.lower().encode(), value.encode()) for name, value in _validated_fields()]
    await send({"type": "http.response.start", "status": 200, "headers": fields})
    await send({"type": "http.response.body", "body": CONTENT})


def asgi_middleware(tmp_path: Path) -> Generator[Call, None, None]:
    from ifmatch.asgi import ConditionalMiddleware

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await _plain_asgi(scope, receive, send, guarded=False)

    yield from _asgi(ConditionalMiddleware(app))


def guard_asgi_middleware(tmp_path: Path) -> Generator[Call, None, None]:
    from ifmatch.asgi import ConditionalMiddleware

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await _plain_asgi(scope, receive, send, guarded=True)

    yield from _asgi(ConditionalMiddleware(app))


def _plain_wsgi(environ: dict[str, Any], start_response: Any, *, guarded: bool) -> list[bytes]:
    if guarded:
        headers = [
            (key[5:].replace("_", "-"), value)
            for key, value in environ.items()
            if key.startswith("HTTP_")
        ]
        check_preconditions(
            environ["REQUEST_METHOD"], headers, RESOURCE, require=True, extra_headers=REVALIDATE
        )
    start_response("200 OK", _validated_fields())
    return [CONTENT]


def wsgi_middleware(tmp_path: Path) -> Generator[Call, None, None]:
    from ifmatch.wsgi import ConditionalMiddleware

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        return _plain_wsgi(environ, start_response, guarded=False)

    yield from _wsgi(ConditionalMiddleware(app))


def guard_wsgi_middleware(tmp_path: Path) -> Generator[Call, None, None]:
    from ifmatch.wsgi import ConditionalMiddleware

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        return _plain_wsgi(environ, start_response, guarded=True)

    yield from _wsgi(ConditionalMiddleware(app))


def django_middleware(tmp_path: Path) -> Generator[Call, None, None]:
    from django.http import HttpResponse

    def target(request: Any) -> Any:
        response = HttpResponse(CONTENT)
        for name, value in _validated_fields():
            response.headers[name] = value
        return response

    yield from _django(target)


PATHS: dict[str, Callable[[Path], Generator[Call, None, None]]] = {
    "asgi-static": asgi_static,
    "asgi-file-response": asgi_file_response,
    "wsgi-static": wsgi_static,
    "wsgi-file-response": wsgi_file_response,
    "service-document": service_document,
    "service-file": service_file,
    "starlette-decorator": starlette_decorator,
    "fastapi-dependency": fastapi_dependency,
    "flask-decorator": flask_decorator,
    "django-decorator": django_decorator,
    "guard-starlette-install": guard_starlette_install,
    "guard-asgi-middleware": guard_asgi_middleware,
    "guard-wsgi-middleware": guard_wsgi_middleware,
    "guard-django-middleware": guard_django_middleware,
    "asgi-middleware": asgi_middleware,
    "wsgi-middleware": wsgi_middleware,
    "django-middleware": django_middleware,
}


# --- the table ----------------------------------------------------------------------------------


@pytest.fixture(params=sorted(PATHS))
def path(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, Call]]:
    with contextlib.ExitStack() as stack:
        calls = PATHS[request.param](tmp_path)
        stack.callback(calls.close)
        yield request.param, next(calls)


def test_every_path_is_in_the_table() -> None:
    assert set(CANNOT) == set(PATHS)
    for reasons in CANNOT.values():
        assert set(reasons) <= set(SITUATIONS)


@pytest.mark.parametrize("situation", sorted(SITUATIONS))
def test_same_situation_same_answer(path: tuple[str, Call], situation: str) -> None:
    name, call = path
    case = SITUATIONS[situation]
    ok = call("GET", {}, b"")
    assert ok.status == 200, ok
    etag = ok.header("etag")
    assert etag is not None
    assert ok.header("last-modified") is not None
    assert ok.header("cache-control") == "no-cache"
    headers = {key: value.format(etag=etag) for key, value in case.headers.items()}
    answer = call(case.method, headers, CONTENT if case.method == "PUT" else b"")

    if situation in CANNOT[name]:
        # The exclusion is real: this path answers the request some other way.
        assert answer.status != case.status, (name, situation, answer)
        return

    assert answer.status == case.status, (name, answer)
    if name == "service-file":
        if case.method in {"GET", "HEAD"}:  # answers about the stored upload
            assert answer.header("content-security-policy") == "sandbox"
            assert answer.header("x-content-type-options") == "nosniff"
        assert set(answer.headers) - IGNORED - USER_FILE_FIELDS == case.fields, answer.headers
    else:
        assert set(answer.headers) - IGNORED == case.fields, (name, answer.headers)
    assert answer.header("etag") == etag
    if case.status == 304:
        assert answer.body == b""
        assert answer.header("cache-control") == "no-cache"
        return
    assert answer.header("last-modified") == ok.header("last-modified")
    assert answer.header("content-type") == "application/problem+json"
    assert answer.header("cache-control") == "no-store"
    assert answer.header("content-length") == str(len(answer.body))
    document = json.loads(answer.body)
    assert document["status"] == case.status
    assert (
        document["title"]
        == {412: "Precondition Failed", 428: "Precondition Required", 416: "Range Not Satisfiable"}[
            case.status
        ]
    )
    if case.status == 416:
        assert answer.header("content-range") == f"bytes */{len(CONTENT)}"
        assert answer.header("accept-ranges") == "bytes"
    else:
        assert document["current_etag"] == etag
