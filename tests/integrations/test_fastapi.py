"""FastAPI as its users expect it: OpenAPI shows the precondition headers and answers,
``validators`` is a dependency (path parameters, a DB session), ``Request``-style still works."""

from __future__ import annotations

import ast
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import pytest
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.testclient import TestClient

import ifmatch.fastapi
from ifmatch import PROBLEM_JSON, Resource, etag_for_version
from ifmatch.fastapi import PRECONDITION_RESPONSES, Preconditions, install

# FastAPI resolves these annotations at runtime: module level, no closures.
OPENED: list[int] = []
SEEN: list[int] = []
DB_PATH: list[str] = []


def get_db() -> Iterator[sqlite3.Connection]:
    """A per-request session, as a FastAPI app would have."""
    db = sqlite3.connect(DB_PATH[0], check_same_thread=False)  # sync deps run in a pool
    OPENED.append(id(db))
    try:
        yield db
    finally:
        db.close()


Db = Annotated[sqlite3.Connection, Depends(get_db)]


def current(key: str, db: Db) -> Resource:
    """Validators as a dependency: a path parameter and the request's own session."""
    SEEN.append(id(db))
    row = db.execute("SELECT version FROM items WHERE key = ?", (key,)).fetchone()
    return Resource.missing() if row is None else Resource(etag_for_version(row[0]))


async def current_async(key: str, db: Db) -> Resource:
    return current(key, db)


GUARD = Preconditions(current, require=True)
Checked = Annotated[Resource, Depends(GUARD)]
CheckedAsync = Annotated[Resource, Depends(Preconditions(current_async, require=True))]
BY_REQUEST = Preconditions(lambda request: Resource(etag_for_version(request.path_params["n"])))
ByRequest = Annotated[Resource, Depends(BY_REQUEST)]


def build_app(tmp_path: Path) -> FastAPI:
    DB_PATH[:] = [str(tmp_path / "items.db")]
    with sqlite3.connect(DB_PATH[0]) as db:
        db.execute("CREATE TABLE items (key TEXT PRIMARY KEY, version INTEGER, body TEXT)")
        db.execute("INSERT INTO items VALUES ('a', 1, '{\"title\": \"hello\"}')")
    app = FastAPI()
    install(app)

    @app.get("/items/{key}", responses=GUARD.responses)
    def read(key: str, db: Db, resource: Checked) -> Any:
        SEEN.append(id(db))
        if not resource.exists:
            raise HTTPException(404)
        row = db.execute("SELECT body FROM items WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0])

    @app.put("/items/{key}", responses=PRECONDITION_RESPONSES)
    async def write(key: str, request: Request, db: Db, resource: Checked) -> Any:
        body = await request.body()
        db.execute(
            "UPDATE items SET body = ?, version = version + 1 WHERE key = ?", (body.decode(), key)
        )
        db.commit()
        return json.loads(body)

    @app.get("/async/{key}")
    async def read_async(key: str, resource: CheckedAsync) -> Any:
        return {"key": key}

    return app


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    OPENED.clear()
    SEEN.clear()
    with TestClient(build_app(tmp_path)) as client:
        yield client


def test_openapi_declares_the_precondition_headers(client: TestClient) -> None:
    """Swagger's "Try it out" can send If-Match only if the operation declares it."""
    spec = client.get("/openapi.json").json()
    for method in ("get", "put"):
        operation = spec["paths"]["/items/{key}"][method]
        headers = {p["name"]: p for p in operation["parameters"] if p["in"] == "header"}
        assert set(headers) == {
            "If-Match",
            "If-None-Match",
            "If-Modified-Since",
            "If-Unmodified-Since",
        }
        assert not any(p["required"] for p in headers.values())
        assert "412" in headers["If-Match"]["description"]
        path_params = [p["name"] for p in operation["parameters"] if p["in"] == "path"]
        assert path_params == ["key"]  # the validators' own parameter, once


def test_openapi_documents_304_412_428_with_the_problem_schema(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    put = spec["paths"]["/items/{key}"]["put"]["responses"]
    get = spec["paths"]["/items/{key}"]["get"]["responses"]
    assert {"200", "304", "412", "428"} <= set(put)
    assert {"200", "304", "412", "428"} <= set(get)  # require=True: GUARD.responses has 428
    schema = put["412"]["content"][PROBLEM_JSON]["schema"]
    assert {"type", "title", "status", "detail", "precondition", "current_etag"} <= set(
        schema["properties"]
    )
    assert "ETag" in put["412"]["headers"]
    assert "content" not in put["304"]
    assert set(Preconditions(current).responses) == {304, 412}


def test_the_answers_the_documentation_promises(client: TestClient) -> None:
    first = client.get("/items/a")
    assert first.status_code == 200
    assert first.json() == {"title": "hello"}
    etag = first.headers["etag"]
    assert etag == str(etag_for_version(1))
    assert client.get("/items/a", headers={"If-None-Match": etag}).status_code == 304
    missing = client.put("/items/a", content=b'{"title": "x"}')
    assert missing.status_code == 428
    assert missing.headers["content-type"] == PROBLEM_JSON
    assert (
        client.put("/items/a", content=b'{"title": "b"}', headers={"If-Match": etag}).status_code
        == 200
    )
    stale = client.put("/items/a", content=b'{"title": "c"}', headers={"If-Match": etag})
    assert stale.status_code == 412
    assert stale.json()["current_etag"] == str(etag_for_version(2))
    assert stale.json()["precondition"] == "If-Match"
    assert client.get("/items/a").json() == {"title": "b"}
    assert client.get("/items/none", headers={"If-None-Match": "*"}).status_code == 404


def test_repeated_fields_are_all_read(client: TestClient) -> None:
    """The declared Header parameter would keep only one value; the guard reads them all."""
    etag = client.get("/items/a").headers["etag"]
    answer = client.get("/items/a", headers=[("If-None-Match", '"other"'), ("If-None-Match", etag)])
    assert answer.status_code == 304


def test_validators_share_the_request_session(client: TestClient) -> None:
    """FastAPI caches a dependency per request: the validators read through the very
    session the endpoint writes with (so both can be one transaction)."""
    assert client.get("/items/a").status_code == 200
    assert len(OPENED) == 1
    assert SEEN == OPENED * 2


def test_async_validators_dependency(client: TestClient) -> None:
    answer = client.get("/async/a")
    assert answer.status_code == 200
    assert (
        client.get("/async/a", headers={"If-None-Match": answer.headers["etag"]}).status_code == 304
    )


def test_request_validators_still_work() -> None:
    """``validators(request)`` with one unannotated parameter is called with the request."""
    app = FastAPI()
    install(app)

    @app.get("/n/{n}")
    def read(n: int, resource: ByRequest) -> dict[str, int]:
        return {"n": n}

    with TestClient(app) as client:
        tag = client.get("/n/3").headers["etag"]
        assert tag == str(etag_for_version("3"))
        assert client.get("/n/3", headers={"If-None-Match": tag}).status_code == 304


def test_fastapi_module_imports_no_private_name() -> None:
    tree = ast.parse(Path(ifmatch.fastapi.__file__).read_text())
    private = [
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
        if alias.name.startswith("_")
    ]
    assert private == []
