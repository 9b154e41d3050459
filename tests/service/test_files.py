"""/files: uploads, ranges (RFC 9110 §14), If-Range (§13.1.5), limits, and path safety."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from starlette.testclient import TestClient

from ifmatch.service.store import Reader, Store

FILE = "/files/reports/2026/q1.bin"
DATA = bytes(range(256)) * 12_000  # 3 MB: large enough to be streamed in chunks


def _upload(client: TestClient, data: bytes = DATA, **headers: str) -> str:
    response = client.put(
        FILE, content=data, headers={"Content-Type": "application/x-report", **headers}
    )
    assert response.status_code in {201, 204}, response.text
    return response.headers["ETag"]


def test_upload_and_download(client: TestClient) -> None:
    etag = _upload(client)
    read = client.get(FILE)
    assert read.status_code == 200
    assert read.content == DATA
    assert read.headers["Content-Type"] == "application/x-report"
    assert read.headers["Content-Length"] == str(len(DATA))
    assert read.headers["ETag"] == etag
    assert read.headers["Accept-Ranges"] == "bytes"
    assert read.headers["Cache-Control"] == "no-cache"
    head = client.head(FILE)
    assert head.content == b""
    assert head.headers["Content-Length"] == str(len(DATA))
    assert client.get(FILE, headers={"If-None-Match": etag}).status_code == 304


SIZE, LAST = len(DATA), len(DATA) - 1


@pytest.mark.parametrize(
    ("range_value", "status", "expected", "content_range"),
    [
        pytest.param("bytes=0-9", 206, DATA[:10], f"bytes 0-9/{SIZE}", id="§14.1.2 first ten"),
        pytest.param(
            "bytes=-5", 206, DATA[-5:], f"bytes {SIZE - 5}-{LAST}/{SIZE}", id="§14.1.2 suffix"
        ),
        pytest.param(
            "bytes=3000000-",
            206,
            DATA[3_000_000:],
            f"bytes 3000000-{LAST}/{SIZE}",
            id="§14.1.2 open-ended",
        ),
        pytest.param(
            "bytes=10-9999999",
            206,
            DATA[10:],
            f"bytes 10-{LAST}/{SIZE}",
            id="§14.1.2 last-pos clipped",
        ),
        pytest.param(
            "bytes=4000000-", 416, None, f"bytes */{SIZE}", id="§15.5.17 unsatisfiable -> 416"
        ),
        pytest.param("items=0-1", 200, DATA, None, id="§14.2 other unit ignored"),
        pytest.param("bytes=9-0", 200, DATA, None, id="§14.1.1 invalid -> ignored"),
    ],
)
def test_single_ranges(
    client: TestClient,
    range_value: str,
    status: int,
    expected: bytes | None,
    content_range: str | None,
) -> None:
    _upload(client)
    response = client.get(FILE, headers={"Range": range_value})
    assert response.status_code == status
    # §14.4: a 206 and a 416 say which bytes (of how many); a 200 has no Content-Range.
    assert response.headers.get("Content-Range") == content_range
    if status == 416:
        assert response.headers["Content-Type"] == "application/problem+json"
        return
    assert expected is not None
    assert response.content == expected
    assert response.headers["Content-Length"] == str(len(expected))


def test_multipart_ranges(client: TestClient) -> None:
    _upload(client)
    response = client.get(FILE, headers={"Range": "bytes=0-1, 1000-1003"})
    assert response.status_code == 206
    kind = response.headers["Content-Type"]
    assert kind.startswith("multipart/byteranges; boundary=")
    boundary = kind.split("boundary=")[1].encode()
    parts = response.content.split(b"--" + boundary)
    assert parts[-1] == b"--\r\n"
    bodies = [part.split(b"\r\n\r\n", 1)[1].removesuffix(b"\r\n") for part in parts[1:-1]]
    assert bodies == [DATA[0:2], DATA[1000:1004]]
    assert b"Content-Type: application/x-report" in parts[1]
    assert len(response.content) == int(response.headers["Content-Length"])


def test_resume_with_if_range(client: TestClient) -> None:
    """A resumed download gets the rest only if the file is unchanged, never a splice."""
    etag = _upload(client)
    rest = client.get(FILE, headers={"Range": "bytes=1000-", "If-Range": etag})
    assert rest.status_code == 206
    assert rest.content == DATA[1000:]
    changed = DATA[::-1]
    _upload(client, changed, **{"If-Match": etag})
    stale = client.get(FILE, headers={"Range": "bytes=1000-", "If-Range": etag})
    assert stale.status_code == 200  # §13.1.5: the whole new representation
    assert stale.content == changed
    weak = client.get(
        FILE, headers={"Range": "bytes=0-1", "If-Range": f"W/{stale.headers['ETag']}"}
    )
    assert weak.status_code == 200  # a weak tag never matches If-Range


def test_file_writes_are_guarded(client: TestClient) -> None:
    etag = _upload(client)
    for refused, status in [
        (client.put(FILE, content=b"x"), 428),
        (client.put(FILE, content=b"x", headers={"If-Match": '"v0"'}), 412),
        (client.delete(FILE), 428),
        (client.delete(FILE, headers={"If-Match": '"v0"'}), 412),
    ]:
        assert refused.status_code == status
        assert refused.headers["Content-Type"] == "application/problem+json"
        if status == 412:
            assert refused.headers["ETag"] == refused.json()["current_etag"] == etag
    assert client.get(FILE).content == DATA
    replaced = client.put(FILE, content=b"new", headers={"If-Match": etag})
    assert replaced.status_code == 204
    assert replaced.headers["ETag"] != etag
    assert client.get(FILE).content == b"new"
    assert client.get(FILE).headers["Content-Type"] == "application/octet-stream"
    assert client.delete(FILE, headers={"If-Match": replaced.headers["ETag"]}).status_code == 204
    assert client.get(FILE).status_code == 404
    assert client.delete(FILE, headers={"If-Match": "*"}).status_code == 404


def test_empty_file(client: TestClient) -> None:
    _upload(client, b"")
    response = client.get(FILE)
    assert response.status_code == 200
    assert response.content == b""
    assert client.get(FILE, headers={"Range": "bytes=0-"}).status_code == 416


def test_upload_over_the_limit_writes_nothing(make_client: Callable[..., TestClient]) -> None:
    client = make_client(max_file_body=1000)
    etag = _upload(client, b"small")

    def chunks() -> object:
        for _ in range(20):
            yield b"x" * 100

    response = client.put(FILE, content=chunks(), headers={"If-Match": etag})  # type: ignore[arg-type]
    assert response.status_code == 413
    assert response.headers["Content-Type"] == "application/problem+json"
    declared = client.put(FILE, content=b"x" * 1001, headers={"If-Match": etag})
    assert declared.status_code == 413
    current = client.get(FILE)
    assert current.content == b"small"
    assert current.headers["ETag"] == etag


@pytest.mark.parametrize(
    "path",
    [
        pytest.param("/files/a/%2E%2E/b", id="encoded .. segment"),
        pytest.param("/files/%2E%2E", id="encoded .."),
        pytest.param("/files/a/%2E/b", id=". segment"),
        pytest.param("/files/a%5Cb", id="backslash"),
        pytest.param("/files/a%00b", id="NUL"),
        pytest.param("/files/", id="no path"),
        pytest.param("/files/" + "a" * 1100, id="too long"),
    ],
)
def test_unsafe_paths_are_refused(client: TestClient, path: str) -> None:
    response = client.put(path, content=b"x")
    assert response.status_code == 400, response.text
    assert response.headers["Content-Type"] == "application/problem+json"


def test_paths_are_normalized(client: TestClient) -> None:
    assert client.put("/files//a///b.txt", content=b"x").status_code == 201
    assert client.get("/files/a/b.txt").content == b"x"


class _Spy(Store):
    """Wraps a store and records every span a reader is asked for."""

    def __init__(self, inner: Store) -> None:
        self.inner = inner
        self.spans: list[tuple[int, int]] = []

    def open(self, space: str, name: str) -> Reader | None:
        reader = self.inner.open(space, name)
        if reader is None:
            return None
        spans = self.spans
        original = reader.read

        def read(start: int, stop: int) -> bytes:
            spans.append((start, stop))
            return original(start, stop)

        reader.read = read  # type: ignore[method-assign]
        return reader

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)

    transaction = property(lambda self: self.inner.transaction)
    write = property(lambda self: self.inner.write)
    write_async = property(lambda self: self.inner.write_async)
    get = property(lambda self: self.inner.get)
    listing = property(lambda self: self.inner.listing)
    page = property(lambda self: self.inner.page)
    ping = property(lambda self: self.inner.ping)
    close = property(lambda self: self.inner.close)


def test_ranges_read_only_the_needed_spans(db_url: str) -> None:
    from ifmatch.service.app import create_app
    from ifmatch.service.backends import open_store
    from ifmatch.service.settings import Settings

    spy = _Spy(open_store(db_url, pool_size=2))
    with TestClient(create_app(Settings(db=db_url), spy)) as client:
        _upload(client)
        assert client.get(FILE, headers={"Range": "bytes=2000000-2000009"}).status_code == 206
        assert spy.spans == [(2_000_000, 2_000_010)]
        spy.spans.clear()
        assert client.get(FILE).content == DATA
        assert max(stop - start for start, stop in spy.spans) <= 256 * 1024  # chunked
        assert sum(stop - start for start, stop in spy.spans) == len(DATA)


def test_a_certain_refusal_does_not_read_the_upload(client: TestClient) -> None:
    """With Expect: 100-continue, a client learns of its 428/412 before sending the body."""
    import asyncio

    _upload(client)
    app = client.app
    sent: list[dict[str, object]] = []

    async def receive() -> dict[str, object]:
        raise AssertionError("the body was read")

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "PUT",
        "scheme": "http",
        "path": FILE,
        "raw_path": FILE.encode(),
        "root_path": "",
        "query_string": b"",
        "server": ("127.0.0.1", 80),
        "client": ("127.0.0.1", 1),
        "headers": [(b"expect", b"100-continue"), (b"content-length", b"1000000")],
    }
    asyncio.run(app(scope, receive, send))  # type: ignore[arg-type]
    assert sent[0]["status"] == 428
