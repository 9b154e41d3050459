"""FileResponse (one file) for ASGI and WSGI, alone and inside Starlette, FastAPI and Flask."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from flask import Flask
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.routing import Mount, Route

from ifmatch import asgi_files, wsgi_files
from ifmatch.files import content_disposition
from tests.files.conftest import BIG, FILES, Call, Site, asgi_caller, wsgi_caller


@pytest.fixture(params=["asgi", "wsgi"])
def response_app(request: pytest.FixtureRequest, site: Site) -> Iterator[Call]:
    """A FileResponse of big.bin with a download name and Cache-Control."""
    options: dict[str, Any] = {
        "filename": 'r\u00e9sum\u00e9 "2024".bin',
        "headers": {"Cache-Control": "max-age=60"},
    }
    if request.param == "asgi":
        yield asgi_caller(asgi_files.FileResponse(site.root / "big.bin", **options))
    else:
        yield wsgi_caller(wsgi_files.FileResponse(site.root / "big.bin", **options))


def test_headers_of_the_200(response_app: Call) -> None:
    answer = response_app("GET", "/anything")
    assert answer.status == 200
    assert answer.body == BIG
    assert answer.headers["cache-control"] == "max-age=60"
    assert answer.headers["content-disposition"] == (
        'attachment; filename="r?sum? _2024_.bin"; '
        "filename*=UTF-8''r%C3%A9sum%C3%A9%20%222024%22.bin"
    )


def test_304_keeps_cache_control(response_app: Call) -> None:
    etag = response_app("HEAD", "/").headers["etag"]
    answer = response_app("GET", "/", {"If-None-Match": etag})
    assert answer.status == 304
    assert answer.headers["cache-control"] == "max-age=60"
    assert answer.headers["etag"] == etag


def test_range_and_multipart(response_app: Call) -> None:
    assert response_app("GET", "/", {"Range": "bytes=-5"}).body == BIG[-5:]
    answer = response_app("GET", "/", {"Range": "bytes=0-0,-1"})
    assert answer.status == 206
    assert answer.headers["content-type"].startswith("multipart/byteranges; boundary=")


@pytest.mark.parametrize(
    ("method", "headers", "status"),
    [
        pytest.param(
            "POST", {"If-None-Match": "*"}, 412, id="§13.1.2 unsafe + If-None-Match * -> 412"
        ),
        pytest.param("POST", {"If-Match": '"x"'}, 412, id="§13.1.1 unsafe + stale If-Match -> 412"),
        pytest.param("POST", {}, 200, id="a POST answered with a file"),
    ],
)
def test_unsafe_methods_are_evaluated(
    response_app: Call, method: str, headers: dict[str, str], status: int
) -> None:
    answer = response_app(method, "/", headers)
    assert answer.status == status
    if status == 412:
        assert json.loads(answer.body)["current_etag"] == answer.headers["etag"]


@pytest.mark.parametrize("kind", ["asgi", "wsgi"])
def test_missing_file_is_404_without_the_path(kind: str, tmp_path: Path) -> None:
    missing = tmp_path / "secret-name" / "gone.txt"
    module = asgi_files if kind == "asgi" else wsgi_files
    caller = asgi_caller if kind == "asgi" else wsgi_caller
    call = caller(module.FileResponse(missing))
    answer = call("GET", "/")
    assert answer.status == 404
    assert b"secret-name" not in answer.body
    assert b"gone" not in answer.body


@pytest.mark.parametrize("kind", ["asgi", "wsgi"])
@pytest.mark.parametrize("relative", ["../outside/secret.txt", "link_out.txt", "hello.txt"])
def test_root_confines_a_user_supplied_name(kind: str, site: Site, relative: str) -> None:
    module = asgi_files if kind == "asgi" else wsgi_files
    caller = asgi_caller if kind == "asgi" else wsgi_caller
    call = caller(module.FileResponse(relative, root=site.root))
    answer = call("GET", "/")
    expected = 200 if relative == "hello.txt" else 404
    assert answer.status == expected


def test_in_starlette_and_fastapi_routes_and_mounts(site: Site) -> None:
    async def report(request: Request) -> asgi_files.FileResponse:
        return asgi_files.FileResponse(site.root / "hello.txt", media_type="text/x-report")

    starlette = Starlette(
        routes=[
            Route("/report", report),
            Mount("/static", app=asgi_files.StaticFiles(site.root, cache_control="no-cache")),
        ]
    )
    fastapi = FastAPI()
    fastapi.add_route("/report", report)
    fastapi.mount("/static", asgi_files.StaticFiles(site.root, cache_control="no-cache"))
    for app in (starlette, fastapi):
        call = asgi_caller(app)
        answer = call("GET", "/report")
        assert answer.status == 200
        assert answer.headers["content-type"] == "text/x-report"
        static = call("GET", "/static/sub/nested.json")
        assert static.body == FILES["sub/nested.json"]
        assert static.headers["cache-control"] == "no-cache"
        assert call("GET", "/static/../hello.txt").status in {404}
        revalidated = call(
            "GET", "/static/sub/nested.json", {"If-None-Match": static.headers["etag"]}
        )
        assert revalidated.status == 304
        assert revalidated.headers["cache-control"] == "no-cache"


def test_in_flask_view_and_dispatcher(site: Site) -> None:
    from werkzeug.middleware.dispatcher import DispatcherMiddleware

    flask = Flask(__name__)

    @flask.get("/report")
    def report() -> wsgi_files.FileResponse:
        return wsgi_files.FileResponse(site.root / "big.bin")

    flask.wsgi_app = DispatcherMiddleware(  # type: ignore[method-assign]
        flask.wsgi_app, {"/static": wsgi_files.StaticFiles(site.root)}
    )
    call = wsgi_caller(flask)
    answer = call("GET", "/report", {"Range": "bytes=10-19"})
    assert answer.status == 206
    assert answer.body == BIG[10:20]
    assert call("GET", "/static/hello.txt").body == FILES["hello.txt"]
    assert call("GET", "/static/sub").status == 404


@pytest.mark.parametrize("kind", ["asgi", "wsgi"])
def test_static_files_extra_headers(kind: str, site: Site) -> None:
    """cache_control and headers go on 200 and 206; the 304 keeps Cache-Control (§15.4.5)."""
    module = asgi_files if kind == "asgi" else wsgi_files
    caller = asgi_caller if kind == "asgi" else wsgi_caller
    app = module.StaticFiles(
        site.root, cache_control="max-age=60", headers={"X-Content-Type-Options": "nosniff"}
    )
    call = caller(app)
    full = call("GET", "/big.bin")
    part = call("GET", "/big.bin", {"Range": "bytes=0-0"})
    for answer in (full, part):
        assert answer.headers["cache-control"] == "max-age=60"
        assert answer.headers["x-content-type-options"] == "nosniff"
    cached = call("GET", "/big.bin", {"If-None-Match": full.headers["etag"]})
    assert cached.status == 304
    assert cached.headers["cache-control"] == "max-age=60"
    assert call("GET", "/nope").headers.get("cache-control") is None


@pytest.mark.parametrize(
    ("filename", "expected"),
    [
        ("report.pdf", 'attachment; filename="report.pdf"'),
        ("a\r\nSet-Cookie: x=1.txt", 'attachment; filename="aSet-Cookie: x=1.txt"'),
        ('back\\slash"quote', 'attachment; filename="back_slash_quote"; '
         "filename*=UTF-8''back%5Cslash%22quote"),
    ],
)  # fmt: skip
def test_content_disposition_cannot_inject_headers(filename: str, expected: str) -> None:
    """RFC 6266: a quoted ASCII fallback, RFC 8187 ``filename*`` when it differs; no CR/LF."""
    assert content_disposition(filename) == expected
