"""Flask as its users expect it: an ``IfMatch`` extension with ``IFMATCH_*`` configuration in
``app.extensions``, and ``async def`` views (and validators) under the decorator."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask, request

from ifmatch import Resource, etag_for_version
from ifmatch.flask import DEFAULTS, IfMatch, preconditions
from ifmatch.guard import check_preconditions
from ifmatch.wsgi import ConditionalMiddleware

VERSION = {"n": 1}


def current(**kwargs: Any) -> Resource:
    return Resource(etag_for_version(VERSION["n"]))


def build(config: dict[str, Any] | None = None, ext: IfMatch | None = None) -> Flask:
    app = Flask(__name__)
    app.config.update(config or {})
    (ext or IfMatch()).init_app(app)

    @app.get("/report")
    def report() -> dict[str, int]:
        return {"rows": 3}  # no ETag of its own: the middleware hashes one

    @app.route("/note", methods=["GET", "PUT"])
    @IfMatch.preconditions(current)
    def note() -> dict[str, int]:
        if request.method == "PUT":
            VERSION["n"] += 1
        return {"version": VERSION["n"]}

    @app.put("/atomic")
    def atomic() -> str:
        check_preconditions("PUT", list(request.headers), current(), require=True)
        return "written"

    return app


@pytest.fixture(autouse=True)
def _reset() -> None:
    VERSION["n"] = 1


def test_extension_registers_itself_with_defaults() -> None:
    ext = IfMatch()
    app = build(ext=ext)
    assert app.extensions["ifmatch"] is ext
    for key, value in DEFAULTS.items():
        assert app.config[key] == value
    assert isinstance(app.wsgi_app, ConditionalMiddleware)
    client = app.test_client()
    tag = client.get("/report").headers["ETag"]
    assert tag.startswith('W/"')  # the middleware's
    assert client.get("/report", headers={"If-None-Match": tag}).status_code == 304
    # install(): check_preconditions inside a view is rendered as its 428/412.
    assert client.put("/atomic").status_code == 428
    stale = client.put("/atomic", headers={"If-Match": '"v0"'})
    assert stale.status_code == 412
    assert stale.json is not None
    assert stale.json["current_etag"] == '"v1"'


def test_ifmatch_app_form_and_factory_reuse() -> None:
    app = Flask(__name__)
    ext = IfMatch(app)
    assert app.extensions["ifmatch"] is ext
    wrapped = app.wsgi_app
    ext.init_app(app)  # twice: nothing wrapped twice
    assert app.wsgi_app is wrapped
    other = build(ext=ext)  # one instance, several apps (application factory)
    assert other.extensions["ifmatch"] is ext


def test_require_preconditions_from_config() -> None:
    strict = build({"IFMATCH_REQUIRE_PRECONDITIONS": True}).test_client()
    assert strict.put("/note").status_code == 428
    assert strict.put("/note", headers={"If-Match": '"v1"'}).status_code == 200
    assert strict.put("/note", headers={"If-Match": '"v1"'}).status_code == 412
    lax = build().test_client()
    assert lax.put("/note").status_code == 200


def test_extra_headers_from_config_go_on_the_304() -> None:
    client = build(
        {"IFMATCH_EXTRA_HEADERS": [("Cache-Control", "max-age=60"), ("Vary", "Accept")]}
    ).test_client()
    answer = client.get("/note", headers={"If-None-Match": '"v1"'})
    assert answer.status_code == 304
    assert answer.headers["Cache-Control"] == "max-age=60"
    assert answer.headers["Vary"] == "Accept"


def test_middleware_options_from_config() -> None:
    off = build({"IFMATCH_MIDDLEWARE": False})
    assert not isinstance(off.wsgi_app, ConditionalMiddleware)
    assert "ETag" not in off.test_client().get("/report").headers
    tiny = build({"IFMATCH_MAX_BUFFER": 4}).test_client()  # the body is past the buffer
    assert "ETag" not in tiny.get("/report").headers


def test_async_view_under_the_plain_decorator() -> None:
    """The issue's case: an ``async def`` view answered 500; with async validators too."""
    app = Flask(__name__)

    async def validators(key: str) -> Resource:
        return Resource(etag_for_version(len(key)))

    @app.route("/items/<key>", methods=["GET", "PUT"])
    @preconditions(validators, require=True)
    async def item(key: str) -> dict[str, str]:
        return {"key": key}

    @app.get("/sync/<key>")
    @preconditions(validators)
    def sync_item(key: str) -> dict[str, str]:
        return {"key": key}

    client = app.test_client()
    answer = client.get("/items/abc")
    assert answer.status_code == 200
    assert answer.json == {"key": "abc"}
    assert answer.headers["ETag"] == '"v3"'
    assert client.get("/items/abc", headers={"If-None-Match": '"v3"'}).status_code == 304
    assert client.put("/items/abc").status_code == 428
    assert client.put("/items/abc", headers={"If-Match": '"v2"'}).status_code == 412
    assert client.put("/items/abc", headers={"If-Match": '"v3"'}).status_code == 200
    assert client.get("/sync/ab").headers["ETag"] == '"v2"'
    assert client.get("/sync/ab", headers={"If-None-Match": '"v2"'}).status_code == 304
