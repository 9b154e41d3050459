"""Request-size abuse and error bodies in the reference service.

Huge bodies are refused with 413 and write nothing (declared and streamed);
JSON bombs (deep nesting, huge numbers) are 400 or 422, never a 500 from a
RecursionError; a JSON Patch cannot amplify a document past the limit with
``copy``; a 500 never echoes the exception text or a filesystem path; no
ETag carries a path.  (Slow request bodies, slowloris-style, are the HTTP
server's concern: uvicorn's timeouts, not the app's.)
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ifmatch import ETag
from ifmatch.service._http import MAX_JSON_DEPTH
from ifmatch.service.app import create_app
from ifmatch.service.backends import open_store
from ifmatch.service.settings import Settings
from tests.security.raw import Pairs, Reply

LIMIT = 64 * 1024
JSON_TYPE = (b"content-type", b"application/json")
CREATE: Pairs = [(b"if-none-match", b"*")]
MERGE = (b"content-type", b"application/merge-patch+json")
JSON_PATCH = (b"content-type", b"application/json-patch+json")


async def _streamed(
    app: Any, method: str, path: str, headers: Pairs, chunks: list[bytes], declare: bool
) -> Reply:
    """A request whose body arrives in chunks, with or without Content-Length."""
    length = sum(len(chunk) for chunk in chunks)
    declared = [(b"content-length", str(length).encode())] if declare else []
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "server": ("testserver", 80),
        "client": ("127.0.0.1", 1),
        "headers": [(b"host", b"testserver"), *declared, *headers],
    }
    pending = list(chunks)
    status = 0
    out: list[tuple[str, str]] = []
    body: list[bytes] = []

    async def receive() -> dict[str, Any]:
        if pending:
            chunk = pending.pop(0)
            return {"type": "http.request", "body": chunk, "more_body": bool(pending)}
        await asyncio.sleep(3600)
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
            out.extend((k.decode(), v.decode()) for k, v in message["headers"])
        else:
            body.append(message.get("body", b""))

    try:
        await app(scope, receive, send)
    except Exception:
        # Starlette re-raises a 500's exception after the response, for the server to log.
        assert status == 500
    return Reply(status, out, b"".join(body))


class Service:
    def __init__(self, db: Path, store: Any = None) -> None:
        settings = Settings(
            db=f"sqlite:///{db}",
            pool_size=2,
            access_log=False,
            max_json_body=LIMIT,
            max_file_body=LIMIT,
        )
        self.app = create_app(settings, store)
        self.runner = asyncio.Runner()

    def __call__(
        self,
        method: str,
        path: str,
        headers: Pairs = (),  # type: ignore[assignment]
        body: bytes | list[bytes] = b"",
        declare: bool = True,
    ) -> Reply:
        chunks = body if isinstance(body, list) else [body]
        return self.runner.run(_streamed(self.app, method, path, list(headers), chunks, declare))

    def close(self) -> None:
        self.runner.close()
        self.app.state.store.close()


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    running = Service(tmp_path / "service.db")
    yield running
    running.close()


def _etag(service: Service, path: str) -> bytes:
    return (service("GET", path).header("etag") or "").encode()


@pytest.mark.parametrize("declare", [True, False], ids=["Content-Length", "chunked"])
@pytest.mark.parametrize(
    ("path", "content_type"),
    [("/api/c/big", JSON_TYPE), ("/files/big.bin", (b"content-type", b"text/plain"))],
)
def test_huge_bodies_are_413_and_write_nothing(
    service: Service, declare: bool, path: str, content_type: tuple[bytes, bytes]
) -> None:
    chunks = [b" " * 16384] * (LIMIT // 16384 + 2)
    reply = service("PUT", path, [content_type, *CREATE], chunks, declare)
    assert reply.status == 413, reply
    assert service("GET", path).status == 404


def test_lying_content_length_is_413(service: Service) -> None:
    reply = service(
        "PUT",
        "/api/c/d",
        [JSON_TYPE, *CREATE, (b"content-length", b"9" * 30)],
        b"{}",
        declare=False,
    )
    assert reply.status == 413
    assert service("GET", "/api/c/d").status == 404


# fmt: off
BOMBS = [
    pytest.param(b"[" * 20_000 + b"]" * 20_000, id="20k nested arrays"),
    pytest.param(b'{"a":' * 5_000 + b"1" + b"}" * 5_000, id="5k nested objects"),
    pytest.param(b"1" * 50_000, id="50k-digit integer"),
    pytest.param(b"1e999999", id="float overflow"),
    pytest.param(b"[NaN]", id="NaN"),
    pytest.param(b'"\xff"', id="not UTF-8"),
]
# fmt: on


@pytest.mark.parametrize("bomb", BOMBS)
def test_json_bombs_are_400(service: Service, bomb: bytes) -> None:
    reply = service("PUT", "/api/c/d", [JSON_TYPE, *CREATE], bomb)
    assert reply.status == 400, reply
    assert service("GET", "/api/c/d").status == 404
    assert service("POST", "/api/c", [JSON_TYPE], bomb).status == 400


@pytest.mark.parametrize("bomb", BOMBS[:2])
def test_deep_patches_are_4xx_and_write_nothing(service: Service, bomb: bytes) -> None:
    assert service("PUT", "/api/c/d", [JSON_TYPE, *CREATE], b'{"a":[]}').status == 201
    etag = _etag(service, "/api/c/d")
    guard = (b"if-match", etag)
    assert service("PATCH", "/api/c/d", [MERGE, guard], bomb).status == 400
    add = b'[{"op":"add","path":"/a/-","value":' + bomb + b"}]"
    assert service("PATCH", "/api/c/d", [JSON_PATCH, guard], add).status == 400
    assert _etag(service, "/api/c/d") == etag


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH - 1, MAX_JSON_DEPTH])
def test_deeply_nested_documents_cannot_make_a_patch_500(service: Service, depth: int) -> None:
    """A document that parses but nests deeper than copying can go: 4xx, nothing written."""
    document = b"[" * depth + b"]" * depth
    assert service("PUT", "/api/c/d", [JSON_TYPE, *CREATE], document).status == 201
    for content_type, patch in [
        (JSON_PATCH, b'[{"op":"copy","from":"/0","path":"/-"}]'),
        (JSON_PATCH, b'[{"op":"test","path":"","value":[]}]'),
        (MERGE, b'{"a":' * depth + b"1" + b"}" * depth),
    ]:
        etag = _etag(service, "/api/c/d")
        reply = service("PATCH", "/api/c/d", [content_type, (b"if-match", etag)], patch)
        assert reply.status < 500, (content_type, reply)
        if reply.status >= 400:
            assert _etag(service, "/api/c/d") == etag
        else:
            service(
                "PUT", "/api/c/d", [JSON_TYPE, (b"if-match", _etag(service, "/api/c/d"))], document
            )


def test_copy_amplification_is_422_and_writes_nothing(service: Service) -> None:
    big = b'{"k":"' + b"a" * 20_000 + b'","l":[]}'
    assert service("PUT", "/api/c/d", [JSON_TYPE, *CREATE], big).status == 201
    etag = _etag(service, "/api/c/d")
    ops = json.dumps([{"op": "copy", "from": "/k", "path": "/l/-"}] * 1000).encode()
    reply = service("PATCH", "/api/c/d", [JSON_PATCH, (b"if-match", etag)], ops)
    assert reply.status == 422, reply
    assert _etag(service, "/api/c/d") == etag


def test_huge_json_patch_documents_are_413(service: Service) -> None:
    assert service("PUT", "/api/c/d", [JSON_TYPE, *CREATE], b'{"l":[]}').status == 201
    etag = _etag(service, "/api/c/d")
    ops = json.dumps([{"op": "add", "path": "/l/-", "value": 1}] * 5000).encode()
    assert len(ops) > LIMIT
    reply = service("PATCH", "/api/c/d", [JSON_PATCH, (b"if-match", etag)], ops)
    assert reply.status == 413
    assert _etag(service, "/api/c/d") == etag


class _BrokenStore:
    """A store whose every read fails with a message naming a secret path."""

    SECRET = "/srv/secret/ifmatch.db"

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        if name in {"get", "open", "listing", "write", "ping"}:

            def broken(*args: Any) -> Any:
                raise OSError(f"{self.SECRET}: disk I/O error")

            return broken
        return getattr(self._inner, name)


def test_500_bodies_echo_neither_exception_text_nor_paths(tmp_path: Path) -> None:
    db = tmp_path / "broken.db"
    store = _BrokenStore(open_store(f"sqlite:///{db}", pool_size=1))
    service = Service(db, store)
    try:
        for method, path, headers, body in [
            ("GET", "/api/c/d", [], b""),
            ("GET", "/files/a/b", [], b""),
            ("GET", "/api/c", [], b""),
            ("GET", "/healthz", [], b""),
            ("PUT", "/api/c/d", [JSON_TYPE, *CREATE], b"{}"),
        ]:
            reply = service(method, path, headers, body)
            assert reply.status == 500, (path, reply)
            assert reply.header("content-type") == "application/problem+json"
            for leak in (_BrokenStore.SECRET, "disk I/O", "OSError", str(tmp_path), "Traceback"):
                assert leak.encode() not in reply.body, (path, leak)
    finally:
        service.close()


def test_error_bodies_and_etags_name_no_server_path(service: Service, tmp_path: Path) -> None:
    replies = [
        service("PUT", "/files/a/b.txt", [*CREATE], b"data"),
        service("GET", "/files/a/b.txt"),
        service("GET", "/files/missing"),
        service("GET", "/files/..%2f..%2fetc"),
        service("PUT", "/api/c/d", [JSON_TYPE, *CREATE], b"{bad"),
        service("PUT", "/api/c/d", [JSON_TYPE, *CREATE], b"{}"),
        service("GET", "/api/c"),
        service("GET", "/nowhere"),
    ]
    for reply in replies:
        assert str(tmp_path).encode() not in reply.body
        etag = reply.header("etag")
        if etag is not None:
            opaque = ETag.parse(etag).opaque
            assert "/" not in opaque
            assert "b.txt" not in opaque
            assert str(tmp_path) not in opaque
