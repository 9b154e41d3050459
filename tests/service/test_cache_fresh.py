"""The validator cache is never stale (issue 17).

A write made anywhere (another process on the same SQLite file, another
worker of the same server, another instance on the same PostgreSQL), followed
at once by a conditional GET carrying the old ETag, gets 200 with the new
ETag and the new body, never a 304 for the old one.
"""

from __future__ import annotations

import http.client
import json
import subprocess
import sys
import textwrap
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ifmatch.service.app import ServiceApp, create_app
from ifmatch.service.settings import Settings
from tests.service.conftest import postgres_schema
from tests.support.servers import serving

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

DOCS = ["/api/fresh/a", "/api/fresh/b"]
COLLECTION = "/api/fresh"
# The page of one that holds each document (a page's ETag changes with its page only).
PAGES = {"/api/fresh/a": "/api/fresh?limit=1", "/api/fresh/b": "/api/fresh?limit=1&cursor=YQ"}
# Another program on the same file: writes through the store, one per line read.
WRITER = textwrap.dedent(
    """
    import sys
    from ifmatch import Conditions
    from ifmatch.service.sqlite import SQLiteStore
    from ifmatch.service.store import Content, WriteRequest

    store = SQLiteStore(sys.argv[1])
    for line in sys.stdin:
        name, text = line.split(" ", 1)
        content = Content.of(text.strip().encode(), "application/json")
        result = store.write(
            WriteRequest("PUT", "doc:fresh", name, Conditions.from_headers([]),
                         lambda _: content, False)
        )
        assert result.after is not None
        print(result.after.etag, flush=True)
    """
)


class World:
    """An app on a SQLite file (fast path on) and a writer process on the same file."""

    def __init__(self, client: TestClient, app: ServiceApp, writer: subprocess.Popen[str]) -> None:
        self.client, self.app, self.writer = client, app, writer
        self.serial = 0

    def body(self) -> str:
        self.serial += 1
        return json.dumps({"n": self.serial})

    def write_elsewhere(self, path: str) -> tuple[str, str]:
        """Write from the other process; returns the new ETag and body."""
        assert self.writer.stdin is not None
        assert self.writer.stdout is not None
        body = self.body()
        self.writer.stdin.write(f"{path.rsplit('/', 1)[1]} {body}\n")
        self.writer.stdin.flush()
        return self.writer.stdout.readline().strip(), body

    def write_here(self, path: str) -> tuple[str, str]:
        """Write through the app (another connection of the same process)."""
        body = self.body()
        response = self.client.put(
            path, content=body, headers={"Content-Type": "application/json", "If-Match": "*"}
        )
        assert response.status_code in {200, 201}, response.text
        return response.headers["ETag"], body


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    db = tmp_path_factory.mktemp("fresh") / "fresh.db"
    app = create_app(Settings(db=f"sqlite:///{db}", access_log=False))
    assert app.fast.off_because is None
    with TestClient(app) as client:
        for path in DOCS:
            created = client.put(path, json={"n": 0}, headers={"If-None-Match": "*"})
            assert created.status_code == 201
        writer = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(db)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            yield World(client, app, writer)
        finally:
            assert writer.stdin is not None
            writer.stdin.close()
            writer.wait(10)


STEPS = st.lists(
    st.tuples(st.sampled_from(["read", "write elsewhere", "write here"]), st.sampled_from(DOCS)),
    min_size=1,
    max_size=12,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=STEPS)
def test_reads_interleaved_with_writes_from_another_process_are_never_stale(
    world: World, steps: list[tuple[str, str]]
) -> None:
    client = world.client
    known = {path: client.get(path).headers["ETag"] for path in DOCS}
    collection = client.get(COLLECTION).headers["ETag"]
    pages = {doc: client.get(page).headers["ETag"] for doc, page in PAGES.items()}
    answered = world.app.fast.answered
    for action, path in steps:
        if action == "read":
            read = client.get(path, headers={"If-None-Match": known[path]})
            assert read.status_code == 304
            assert read.headers["ETag"] == known[path]
            listed = client.get(COLLECTION, headers={"If-None-Match": collection})
            assert listed.status_code == 304
            for doc, page in PAGES.items():
                assert client.get(page, headers={"If-None-Match": pages[doc]}).status_code == 304
            continue
        old = known[path]
        write = world.write_elsewhere if action == "write elsewhere" else world.write_here
        new, body = write(path)
        assert new != old
        read = client.get(path, headers={"If-None-Match": old})
        assert read.status_code == 200, "a stale 304 after a write"
        assert read.headers["ETag"] == new
        assert read.text == body
        listed = client.get(COLLECTION, headers={"If-None-Match": collection})
        assert listed.status_code == 200, "a stale collection 304 after a write"
        known[path], collection = new, listed.headers["ETag"]
        for doc, page in PAGES.items():
            paged = client.get(page, headers={"If-None-Match": pages[doc]})
            if doc == path:
                assert paged.status_code == 200, "a stale page 304 after a write"
                assert paged.json()["items"][0]["etag"] == new
                pages[doc] = paged.headers["ETag"]
            else:
                assert paged.status_code == 304, "another page's write changed this page"
    # The reads went through the fast path (and its cache), not around it.
    assert world.app.fast.answered > answered


def _fresh(base: str, method: str, path: str, headers: dict[str, str], body: object = None) -> Any:
    """One request on a new connection (so a server's workers each get some), as
    ``(status, ETag, parsed body)``."""
    host, port = base.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        content = None if body is None else json.dumps(body).encode()
        if content is not None:
            headers = {**headers, "Content-Type": "application/json"}
        connection.request(method, path, content, headers)
        response = connection.getresponse()
        data = response.read()
        return response.status, response.getheader("ETag"), json.loads(data) if data else None
    finally:
        connection.close()


def _write_then_read(bases: list[str], rounds: int) -> None:
    """Write on one server, read at once on every server over fresh connections."""
    path = "/api/fresh/shared"
    status, etag, _ = _fresh(bases[0], "PUT", path, {"If-None-Match": "*"}, {"n": 0})
    assert status == 201
    for number in range(1, rounds + 1):
        # Fill every worker's cache with the current version first.
        for index in range(6):
            base = bases[index % len(bases)]
            assert _fresh(base, "GET", path, {"If-None-Match": etag})[0] == 304
        base = bases[number % len(bases)]
        status, written, _ = _fresh(base, "PUT", path, {"If-Match": etag}, {"n": number})
        assert status == 200
        old, etag = etag, written
        for index in range(6):
            base = bases[index % len(bases)]
            status, current, body = _fresh(base, "GET", path, {"If-None-Match": old})
            assert status == 200, "a stale 304 after a write"
            assert current == etag
            assert body == {"n": number}


def test_a_write_by_another_worker_is_seen_at_once(tmp_path: Path) -> None:
    with serving(f"sqlite:///{tmp_path / 'workers.db'}", "--workers", "2") as base:
        _write_then_read([base], rounds=25)


@pytest.mark.postgres
def test_a_write_by_another_instance_is_seen_at_once() -> None:
    with postgres_schema() as dsn, serving(dsn) as first, serving(dsn) as second:
        _write_then_read([first, second], rounds=25)


def test_the_bodies_kept_stay_within_their_byte_budget(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The validator cache keeps documents' bodies up to MAX_BYTES in all; the answers
    prepared from them (``derived``) go with them, so they never hold more."""
    from ifmatch import Conditions
    from ifmatch.service import _validators_cache
    from ifmatch.service.store import Content, WriteRequest

    app = create_app(Settings(db=f"sqlite:///{tmp_path / 'b.db'}", access_log=False))
    try:
        body = b'{"a": "' + b"x" * 1000 + b'"}'
        content = Content.of(body, "application/json")
        for number in range(10):
            app.state.store.write(
                WriteRequest("PUT", "doc:c", f"d{number}", Conditions(), lambda _: content, False)
            )
        monkeypatch.setattr(_validators_cache, "MAX_BYTES", 3 * len(body))
        cache = app.fast.cache
        assert cache is not None
        for number in range(10):
            target = f"/api/c/d{number}".encode()
            assert app.fast.plain("GET", target, None) is not None
            assert cache._bytes <= 3 * len(body)
            assert len(cache.derived) <= 3
            assert target in cache.derived
    finally:
        app.fast.close()
        app.state.store.close()
