"""The fast path answers exactly what the full application answers.

Every request of the table is sent to two applications on one SQLite file:
one entered through its fast path (:mod:`ifmatch.service._fastpath`), one
whose fast path is closed, so the full application (middleware, router,
endpoints) answers.  Status, every header but ``Date``, the body and the
access log's precondition field must be the same; and the requests the fast
path is meant to answer must really have been answered by it, so a change
that quietly sends every request the slow way fails here too.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ifmatch.service._accesslog import ACCESS_LOGGER
from ifmatch.service._middleware import DateHeader
from ifmatch.service._validators_cache import MAX_BODY
from ifmatch.service.app import ServiceApp, create_app
from ifmatch.service.settings import Settings

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

TOKEN = "s3cret"
LARGE = "x" * (MAX_BODY + 10)


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.preconditions: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.preconditions.append(record.fields["precondition"])  # type: ignore[attr-defined]


@pytest.fixture
def lines() -> Iterator[_Lines]:
    handler = _Lines()
    ACCESS_LOGGER.addHandler(handler)
    level = ACCESS_LOGGER.level
    ACCESS_LOGGER.setLevel(logging.INFO)
    try:
        yield handler
    finally:
        ACCESS_LOGGER.removeHandler(handler)
        ACCESS_LOGGER.setLevel(level)


def _pair(db: Path, **overrides: Any) -> Iterator[tuple[TestClient, TestClient, ServiceApp]]:
    settings = Settings(db=f"sqlite:///{db}", **overrides)
    fast_app, full_app = create_app(settings), create_app(settings)
    full_app.fast.close()
    with (
        TestClient(fast_app, follow_redirects=False) as fast,
        TestClient(full_app, follow_redirects=False) as full,
    ):
        yield fast, full, fast_app


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[tuple[TestClient, TestClient, ServiceApp]]:
    yield from _pair(tmp_path / "fast.db")


def _seed(client: TestClient, headers: dict[str, str] | None = None) -> dict[str, str]:
    """Documents and collections to read; returns their ETags."""
    tags = {}
    for path, body in (
        ("/api/notes/a", {"title": "a"}),
        ("/api/notes/b", {"title": "b"}),
        ("/api/big/large", {"body": LARGE}),
    ):
        response = client.put(path, json=body, headers=headers or {})
        assert response.status_code == 201, response.text
        tags[path] = response.headers["ETag"]
    for collection in ("/api/notes", "/api/big", "/api/empty", *PAGES):
        tags[collection] = client.get(collection, headers=headers or {}).headers["ETag"]
    return tags


# Pages of /api/notes (a, b): the first of one (with a next), the last, an empty one, and
# one with a parameter that pages ignore (as the application does).
PAGES = (
    "/api/notes?limit=1",
    "/api/notes?limit=1&cursor=YQ",
    "/api/empty?limit=5",
    "/api/notes?x=y&limit=2",
)


# (method, path, extra headers; "{etag}" is the path's current ETag), whether the fast path answers.
REQUESTS: list[tuple[str, str, dict[str, str], bool]] = [
    ("GET", "/api/notes/a", {}, True),
    ("HEAD", "/api/notes/a", {}, True),
    ("GET", "/api/notes/a", {"If-None-Match": "{etag}"}, True),  # §13.1.2: 304
    ("HEAD", "/api/notes/a", {"If-None-Match": "{etag}"}, True),
    ("GET", "/api/notes/a", {"If-None-Match": '"v999"'}, True),  # no match: 200
    ("GET", "/api/notes/a", {"If-None-Match": '"x", {etag}'}, True),  # a list
    ("GET", "/api/notes/a", {"If-None-Match": "W/{etag}"}, True),  # weak comparison
    ("GET", "/api/notes/a", {"If-None-Match": "*"}, True),
    ("GET", "/api/notes/a", {"If-None-Match": "not an etag"}, True),  # unreadable: fail safe
    ("GET", "/api/notes/a", {"If-Modified-Since": "Fri, 01 Jan 2100 00:00:00 GMT"}, True),
    ("GET", "/api/notes/a", {"If-Modified-Since": "Thu, 01 Jan 1970 00:00:00 GMT"}, True),
    ("GET", "/api/notes/a", {"If-Match": "{etag}"}, True),
    ("GET", "/api/notes/a", {"If-Match": '"v999"'}, True),  # §13.1.1: 412
    ("HEAD", "/api/notes/a", {"If-Match": '"v999"'}, True),
    ("GET", "/api/notes/a", {"If-Unmodified-Since": "Thu, 01 Jan 1970 00:00:00 GMT"}, True),
    ("GET", "/api/notes/a", {"X-Big": "x" * 9000}, False),  # RFC 6585 §5: 431
    ("GET", "/api/notes", {"If-Match": '"c999"'}, True),  # 412 without the listing
    ("GET", "/api/notes/a", {"Range": "bytes=0-3"}, True),  # documents ignore Range
    ("GET", "/api/notes/a", {"Range": "bytes=0-3", "If-Range": "{etag}"}, True),
    ("GET", "/api/notes/a?x=1", {}, False),
    ("GET", "/api/notes/missing", {}, False),  # 404
    ("GET", "/api/notes/missing", {"If-None-Match": "*"}, False),
    ("GET", "/api/no%20tes/a", {}, False),  # 400
    ("GET", "/api/notes/a/b", {}, False),
    ("GET", "/api/notes/", {}, False),
    ("GET", "/api/big/large", {}, True),  # a body too large to keep in the cache
    ("GET", "/api/big/large", {"If-None-Match": "{etag}"}, True),
    ("GET", "/api/notes", {"If-None-Match": "{etag}"}, True),
    ("HEAD", "/api/notes", {"If-None-Match": "{etag}"}, True),
    ("GET", "/api/notes", {"If-None-Match": '"c999"'}, False),  # the listing: the app's
    ("GET", "/api/notes", {}, False),
    ("GET", "/api/notes", {"If-Modified-Since": "Fri, 01 Jan 2100 00:00:00 GMT"}, True),
    ("GET", "/api/empty", {"If-None-Match": "{etag}"}, True),
    ("GET", "/api/big", {"If-None-Match": "{etag}"}, True),
    *[("GET", page, {"If-None-Match": "{etag}"}, True) for page in PAGES],  # §13.1.2: 304
    ("HEAD", PAGES[0], {"If-None-Match": "{etag}"}, True),
    ("GET", PAGES[0], {"If-None-Match": '"x", {etag}'}, True),  # a list: respond() decides
    ("GET", PAGES[0], {"If-None-Match": "W/{etag}"}, True),
    ("GET", PAGES[0], {"If-None-Match": "*"}, True),
    ("GET", PAGES[0], {"If-Match": '"p0"'}, True),  # §13.1.1: 412
    ("HEAD", PAGES[0], {"If-Match": '"p0"'}, True),
    ("GET", PAGES[0], {"If-None-Match": '"p0"'}, False),  # changed: the page is the app's
    ("GET", PAGES[0], {}, False),
    ("GET", PAGES[0], {"If-Match": "{etag}"}, False),  # passes: a 200
    ("GET", PAGES[0], {"If-Modified-Since": "Fri, 01 Jan 2100 00:00:00 GMT"}, False),  # no date
    ("GET", "/api/notes?limit=0", {"If-None-Match": "{etag}"}, False),  # the app's 400
    ("GET", "/api/notes?limit=1&cursor=YR", {"If-None-Match": "{etag}"}, False),  # 400
    ("GET", "/api/notes?cursor=YQ", {"If-None-Match": "{etag}"}, False),  # 400
    ("GET", "/api/notes?x=1", {"If-None-Match": "{etag}"}, False),  # the listing: the app's
    ("GET", "/api/no%20tes?limit=1", {"If-None-Match": '"p0"'}, False),  # 400
    ("GET", "/api/notes/a?limit=1", {"If-None-Match": "{etag}"}, False),
    ("PUT", "/api/notes/a", {"If-None-Match": "{etag}"}, False),
    ("OPTIONS", "/api/notes/a", {}, False),
    ("GET", "/healthz", {}, False),
]


def _send(client: TestClient, method: str, path: str, headers: dict[str, str]) -> Any:
    if method == "PUT":
        return client.request(method, path, json={"title": "a"}, headers=headers)
    return client.request(method, path, headers=headers)


def _same(fast: Any, full: Any) -> None:
    assert fast.status_code == full.status_code
    ours = [(k, v) for k, v in fast.headers.multi_items() if k != "date"]
    theirs = [(k, v) for k, v in full.headers.multi_items() if k != "date"]
    assert ours == theirs
    assert fast.content == full.content
    assert "date" in fast.headers


@pytest.mark.parametrize(("method", "path", "headers", "answered"), REQUESTS)
def test_fast_path_answers_as_the_application_does(
    pair: tuple[TestClient, TestClient, ServiceApp],
    lines: _Lines,
    method: str,
    path: str,
    headers: dict[str, str],
    answered: bool,
) -> None:
    fast, full, app = pair
    tags = _seed(fast)
    etag = tags.get(path, tags.get(path.split("?")[0], '"none"'))
    sent = {name: value.replace("{etag}", etag) for name, value in headers.items()}
    before, logged = app.fast.answered, len(lines.preconditions)
    ours = _send(fast, method, path, sent)
    middle = len(lines.preconditions)
    theirs = _send(full, method, path, sent)
    _same(ours, theirs)
    assert app.fast.answered - before == int(answered)
    # The same log lines, with the same precondition outcomes.
    assert middle > logged
    assert lines.preconditions[logged:middle] == lines.preconditions[middle:]


def test_a_bearer_token_still_applies(tmp_path: Path) -> None:
    for fast, full, app in _pair(tmp_path / "token.db", token=TOKEN):
        good = [("Authorization", f"Bearer {TOKEN}")]
        tags = _seed(fast, dict(good))
        given: list[list[tuple[str, str]]] = [
            [],
            [("Authorization", "Bearer wrong")],
            [("Authorization", f"bearer {TOKEN}")],  # the scheme is case-insensitive
            good + good,  # a singleton field given twice: 400
            good,
        ]
        for extra in given:
            for conditional in ([], [("If-None-Match", tags["/api/notes/a"])]):
                sent = extra + conditional
                ours = fast.get("/api/notes/a", headers=sent)
                _same(ours, full.get("/api/notes/a", headers=sent))
                accepted = len(extra) == 1 and extra[0][1].lower() == f"bearer {TOKEN}"
                assert ours.status_code in ({200, 304} if accepted else {400, 401})
        before = app.fast.answered
        assert fast.get("/api/notes/a", headers=good).status_code == 200
        assert app.fast.answered == before + 1


def test_the_fast_path_is_on_for_the_shipped_app(tmp_path: Path) -> None:
    app = create_app(Settings(db=f"sqlite:///{tmp_path / 'on.db'}"))
    assert app.fast.off_because is None


def test_unknown_middleware_turns_the_fast_path_off(tmp_path: Path) -> None:
    from ifmatch.service._fastpath import FastPath
    from ifmatch.service.sqlite import SQLiteStore

    store = SQLiteStore(str(tmp_path / "off.db"))
    try:
        off = FastPath(lambda *a: None, Settings(), store, [DateHeader, _Lines])  # type: ignore[arg-type]
        assert off.off_because is not None
        assert "_Lines" in off.off_because
        assert off.cache is None
    finally:
        store.close()


# PUTs: (path, body, content type, headers; "{etag}" is the document's current ETag), fast?
WRITES: list[tuple[str, bytes, str, dict[str, str], bool]] = [
    ("/api/notes/a", b'{"n": 1}', "application/json", {"If-Match": "{etag}"}, True),
    ("/api/notes/a", b'{"n": 1}', "application/json", {"If-Match": '"v999"'}, False),  # 412
    ("/api/notes/a", b'{"n": 1}', "application/json", {}, False),  # 428
    ("/api/notes/new", b'{"n": 1}', "application/json", {"If-None-Match": "*"}, True),  # 201
    ("/api/notes/a~b", b'{"n": 1}', "application/json", {}, True),  # 201, Location
    ("/api/notes/a", b'{"n": 1}', "application/json", {"If-None-Match": "*"}, False),  # 412
    ("/api/notes/a", b"{not json", "application/json", {"If-Match": "{etag}"}, False),  # 400
    ("/api/notes/a", b'{"n": 1}', "text/plain", {"If-Match": "{etag}"}, False),  # 415
    ("/api/notes/a", b"[" * 70 + b"]" * 70, "application/json", {"If-Match": "{etag}"}, True),
    ("/api/notes/a", b'{"x": "' + b"y" * 300 + b'"}', "application/json", {"If-Match": "*"}, False),
    ("/api/notes/a?x=1", b'{"n": 1}', "application/json", {"If-Match": "{etag}"}, False),
    ("/api/notes/a/b", b'{"n": 1}', "application/json", {"If-Match": "*"}, False),
]


@pytest.mark.parametrize(("path", "body", "kind", "headers", "answered"), WRITES)
def test_fast_put_answers_as_the_application_does(
    tmp_path: Path, path: str, body: bytes, kind: str, headers: dict[str, str], answered: bool
) -> None:
    # Two files seeded alike, so both apps write the same versions.
    replies = []
    for number in range(2):
        for fast, _, app in _pair(tmp_path / f"put{number}.db", max_json_body=256):
            client = fast
            if number == 1:
                app.fast.close()
            created = client.put("/api/notes/a", json={"title": "a"})
            etag = created.headers["ETag"]
            sent = {name: value.replace("{etag}", etag) for name, value in headers.items()}
            before = app.fast.answered
            reply = client.put(path, content=body, headers={**sent, "Content-Type": kind})
            assert app.fast.answered - before == (int(answered) if number == 0 else 0)
            after = client.get("/api/notes/a")
            replies.append((reply, after))
    (ours, our_state), (theirs, their_state) = replies
    assert ours.status_code == theirs.status_code
    masked = {"date", "last-modified"}
    assert [(k, v) for k, v in ours.headers.multi_items() if k not in masked] == [
        (k, v) for k, v in theirs.headers.multi_items() if k not in masked
    ]
    assert ours.content == theirs.content
    assert our_state.headers["ETag"] == their_state.headers["ETag"]
    assert our_state.content == their_state.content
