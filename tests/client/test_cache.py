"""The revalidating cache transport (RFC 9111 §3, §4.1, §4.3, §4.4; RFC 9110 §13.1.2-§13.1.3)."""

from __future__ import annotations

import gzip
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from starlette.applications import Starlette

from ifmatch.client import (
    AsyncCachingTransport,
    CachingTransport,
    MemoryStorage,
    merge_not_modified,
    was_revalidated,
)
from tests.client.app import Doc, State
from tests.client.support import Counting, Scripted

URL = "http://example.test/thing"
LM = "Sun, 06 Nov 1994 08:49:37 GMT"
#: The library (httpx or httpx2) of the test that runs: every test here runs on both.
lib: Any = httpx


@pytest.fixture(autouse=True)
def _on_each_library(http: ModuleType) -> Iterator[None]:
    global lib
    lib = http
    yield
    lib = httpx


def ok(body: bytes = b"body", **headers: str) -> Any:
    pairs = [(name.replace("_", "-"), value) for name, value in headers.items()]
    return lib.Response(200, headers=pairs, content=body)


def not_modified(**headers: str) -> Any:
    return lib.Response(304, headers=[(n.replace("_", "-"), v) for n, v in headers.items()])


def cached_client(mock: Any, storage: MemoryStorage | None = None) -> Any:
    store = storage if storage is not None else MemoryStorage()
    return lib.Client(transport=CachingTransport(mock, store))


# -- acceptance: a 304 saves the body --------------------------------------------------------


@pytest.mark.asyncio
async def test_revalidation_saves_the_body_on_304(app: Starlette, state: State) -> None:
    state.docs["a"] = Doc({"text": "x" * 5000})
    counting = Counting(lib.ASGITransport(app))
    transport = AsyncCachingTransport(counting, MemoryStorage())
    async with lib.AsyncClient(transport=transport, base_url="http://test") as client:
        first = await client.get("/docs/a")
        after_first = counting.body_bytes
        second = await client.get("/docs/a")
    assert first.status_code == second.status_code == 200
    assert after_first == len(first.content) > 5000
    assert counting.body_bytes == after_first, "the 304 carried no body; the cache supplied it"
    assert counting.statuses == [200, 304]
    assert state.log[1][2]["if-none-match"] == '"v1"'
    assert second.json() == {"text": "x" * 5000}
    assert was_revalidated(second)
    assert not was_revalidated(first)


def test_revalidation_over_a_real_server_and_a_change(server: str, state: State) -> None:
    state.docs["a"] = Doc({"n": 1})
    counting = Counting(lib.HTTPTransport())
    with lib.Client(transport=CachingTransport(counting), base_url=server) as client:
        assert client.get("/docs/a").json() == {"n": 1}
        assert was_revalidated(client.get("/docs/a"))
        state.docs["a"] = Doc({"n": 2}, version=2)
        changed = client.get("/docs/a")
        assert changed.json() == {"n": 2}
        assert not was_revalidated(changed)
        again = client.get("/docs/a")
    assert was_revalidated(again)
    assert again.json() == {"n": 2}
    assert counting.statuses == [200, 304, 200, 304]


# -- RFC 9111 §4.3.4: updating stored headers from a 304 -----------------------------------


def test_304_updates_stored_headers_and_keeps_the_others() -> None:
    """requests-cache replaces all stored headers on a 304; §4.3.4 says update them."""
    mock = Scripted(
        ok(
            b"hello",
            ETag='"a"',
            Content_Type="text/plain",
            Cache_Control="no-cache",
            X_Request="1",
            Link="</style.css>; rel=preload",
        ),
        not_modified(
            ETag='"a"',
            Cache_Control="max-age=60",
            X_Request="2",
            Date="Mon, 07 Nov 1994 08:49:37 GMT",
        ),
    )
    storage = MemoryStorage()
    with cached_client(mock, storage) as client:
        client.get(URL)
        replayed = client.get(URL)
    assert replayed.status_code == 200
    assert replayed.content == b"hello"
    assert replayed.headers["cache-control"] == "max-age=60"
    assert replayed.headers["x-request"] == "2"
    assert replayed.headers["date"] == "Mon, 07 Nov 1994 08:49:37 GMT"
    assert replayed.headers["content-type"] == "text/plain", "kept: not in the 304"
    assert replayed.headers["link"] == "</style.css>; rel=preload"
    assert replayed.headers["content-length"] == "5"
    stored = storage.variants(URL)[0]
    assert lib.Headers(list(stored.headers))["cache-control"] == "max-age=60", "stored too"


@pytest.mark.parametrize(
    ("stored", "fresh", "expected"),
    [
        pytest.param(
            [("Content-Length", "5")],
            [("Content-Length", "0")],
            [("Content-Length", "5")],
            id="§3.2 Content-Length is never updated",
        ),
        pytest.param(
            [("Content-Encoding", "gzip")],
            [("Content-Encoding", "br")],
            [("Content-Encoding", "gzip")],
            id="§3.2 Content-Encoding describes the stored bytes: kept",
        ),
        pytest.param(
            [("X-A", "1"), ("Vary", "Accept"), ("X-A", "2")],
            [("X-A", "3")],
            [("X-A", "3"), ("Vary", "Accept")],
            id="§4.3.4 a field in the 304 replaces all stored instances",
        ),
        pytest.param(
            [("ETag", '"a"')],
            [("Connection", "x-hop"), ("X-Hop", "1"), ("Keep-Alive", "5")],
            [("ETag", '"a"')],
            id="§3.1 hop-by-hop and Connection-listed fields are not stored",
        ),
        pytest.param(
            [("ETag", '"a"')],
            [("Expires", LM)],
            [("ETag", '"a"'), ("Expires", LM)],
            id="§4.3.4 a new field is added",
        ),
    ],
)
def test_merge_not_modified(
    stored: list[tuple[str, str]], fresh: list[tuple[str, str]], expected: list[tuple[str, str]]
) -> None:
    assert list(merge_not_modified(stored, fresh)) == expected


# -- what is sent ------------------------------------------------------------------------------


def test_last_modified_only_revalidates_with_if_modified_since() -> None:
    mock = Scripted(ok(b"x", Last_Modified=LM), not_modified())
    with cached_client(mock) as client:
        client.get(URL)
        assert was_revalidated(client.get(URL))
    assert mock.seen[1].headers["if-modified-since"] == LM
    assert "if-none-match" not in mock.seen[1].headers


@pytest.mark.parametrize(
    "etag",
    [
        pytest.param("unquoted", id="§8.8.3 unquoted ETag is not an entity-tag"),
        pytest.param('"a" "b"', id="§8.8.3 two tags in ETag"),
        pytest.param('W/ "x"', id="§8.8.3 space after W/"),
    ],
)
def test_malformed_etag_is_not_sent_back(etag: str) -> None:
    mock = Scripted(ok(ETag=etag), ok(ETag=etag))
    storage = MemoryStorage()
    with cached_client(mock, storage) as client:
        client.get(URL).read()
        client.get(URL)
    assert "if-none-match" not in mock.seen[1].headers
    assert len(storage) == 0, "no valid validator: nothing stored"


def test_304_for_something_not_stored_passes_through() -> None:
    mock = Scripted(not_modified(ETag='"a"'))
    with cached_client(mock) as client:
        response = client.get(URL, headers={"If-None-Match": '"a"'})
    assert response.status_code == 304
    assert not was_revalidated(response)


def test_application_conditionals_pass_through_untouched() -> None:
    mock = Scripted(ok(ETag='"a"'), not_modified(ETag='"a"'))
    with cached_client(mock) as client:
        client.get(URL)
        response = client.get(URL, headers={"If-None-Match": '"zzz"'})
    assert mock.seen[1].headers["if-none-match"] == '"zzz"'
    assert response.status_code == 304


def test_304_with_a_different_etag_is_not_served_from_the_cache() -> None:
    """A 304 naming another ETag cannot refer to the stored body: ask again unconditionally."""
    mock = Scripted(ok(b"old", ETag='"a"'), not_modified(ETag='"b"'), ok(b"new", ETag='"b"'))
    with cached_client(mock) as client:
        client.get(URL)
        response = client.get(URL)
    assert response.content == b"new"
    assert not was_revalidated(response)
    assert "if-none-match" not in mock.seen[2].headers


# -- what is stored ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("response", "stored"),
    [
        pytest.param(lambda: ok(ETag='"a"'), True, id="200 with ETag: stored"),
        pytest.param(lambda: ok(), False, id="no validator: nothing to revalidate with"),
        pytest.param(lambda: ok(ETag='"a"', Cache_Control="no-store"), False, id="§3 no-store"),
        pytest.param(lambda: ok(ETag='"a"', Vary="*"), False, id="§4.1 Vary: * never matches"),
        pytest.param(
            lambda: lib.Response(201, headers={"ETag": '"a"'}), False, id="201 not stored"
        ),
        pytest.param(
            lambda: ok(ETag='"a"', Cache_Control="private, max-age=0"),
            True,
            id="private is fine for a private cache",
        ),
    ],
)
def test_what_is_stored(response: Callable[[], Any], stored: bool) -> None:
    storage = MemoryStorage()
    with cached_client(Scripted(response()), storage) as client:
        client.get(URL)
    assert (len(storage) == 1) is stored


def test_request_no_store_bypasses_the_cache() -> None:
    storage = MemoryStorage()
    with cached_client(Scripted(ok(ETag='"a"')), storage) as client:
        client.get(URL, headers={"Cache-Control": "no-store"})
    assert len(storage) == 0


@pytest.mark.asyncio
async def test_no_store_response_is_never_stored_nor_revalidated(
    app: Starlette, state: State
) -> None:
    storage = MemoryStorage()
    transport = AsyncCachingTransport(lib.ASGITransport(app), storage)
    async with lib.AsyncClient(transport=transport, base_url="http://test") as client:
        for _ in range(2):
            response = await client.get("/nostore")
            assert response.content == b"private data"
            assert not was_revalidated(response)
    assert len(storage) == 0
    assert all("if-none-match" not in headers for _, _, headers in state.log)


@pytest.mark.asyncio
async def test_vary_keys_variants_by_the_named_request_headers(
    app: Starlette, state: State
) -> None:
    storage = MemoryStorage()
    transport = AsyncCachingTransport(lib.ASGITransport(app), storage)
    async with lib.AsyncClient(transport=transport, base_url="http://test") as client:
        english = await client.get("/vary", headers={"Accept-Language": "en"})
        french = await client.get("/vary", headers={"Accept-Language": "fr"})
        french_again = await client.get("/vary", headers={"Accept-Language": "fr"})
        english_again = await client.get("/vary", headers={"Accept-Language": "en"})
    assert (english.content, french.content) == (b"hello", b"bonjour")
    assert french_again.content == b"bonjour"
    assert was_revalidated(french_again)
    assert english_again.content == b"hello"
    assert was_revalidated(english_again)
    assert len(storage) == 2
    sent = [headers.get("if-none-match") for _, _, headers in state.log]
    assert sent == [None, None, '"fr"', '"en"'], "each variant revalidates with its own ETag"


def test_vary_normalises_whitespace_in_list_values() -> None:
    mock = Scripted(ok(ETag='"a"', Vary="Accept"), not_modified(ETag='"a"'))
    with cached_client(mock) as client:
        client.get(URL, headers={"Accept": "text/html, application/json"})
        response = client.get(URL, headers={"Accept": "text/html,application/json"})
    assert was_revalidated(response)


def test_body_read_halfway_is_not_stored() -> None:
    """Streaming is not broken, and a body the application did not read whole is not kept."""
    storage = MemoryStorage()
    body = b"x" * 100_000
    with (
        cached_client(Scripted(ok(body, ETag='"a"')), storage) as client,
        client.stream("GET", URL) as response,
    ):
        for _ in response.iter_raw(1000):
            break
    assert len(storage) == 0


def test_streamed_body_is_stored_once_read_whole() -> None:
    storage = MemoryStorage()
    body = bytes(range(256)) * 400
    with (
        cached_client(Scripted(ok(body, ETag='"a"')), storage) as client,
        client.stream("GET", URL) as response,
    ):
        assert b"".join(response.iter_bytes(4096)) == body
    assert storage.variants(URL)[0].body == body


def test_entry_larger_than_the_limit_is_not_stored() -> None:
    storage = MemoryStorage()
    transport = CachingTransport(
        Scripted(ok(b"x" * 2000, ETag='"a"')), storage, max_entry_bytes=1000
    )
    with lib.Client(transport=transport) as client:
        assert len(client.get(URL).content) == 2000
    assert len(storage) == 0


@pytest.mark.parametrize(
    ("method", "status", "invalidated"),
    [
        pytest.param("PUT", 200, True, id="§4.4 successful PUT invalidates"),
        pytest.param("DELETE", 204, True, id="§4.4 successful DELETE invalidates"),
        pytest.param("POST", 201, True, id="§4.4 successful POST invalidates"),
        pytest.param("PUT", 412, False, id="§4.4 an error response does not"),
        pytest.param("OPTIONS", 200, False, id="a safe method does not"),
    ],
)
def test_unsafe_methods_invalidate(method: str, status: int, invalidated: bool) -> None:
    storage = MemoryStorage()
    mock = Scripted(ok(ETag='"a"'), lib.Response(status))
    with cached_client(mock, storage) as client:
        client.get(URL)
        client.request(method, URL)
    assert (len(storage) == 0) is invalidated


def test_location_of_a_successful_post_is_invalidated() -> None:
    storage = MemoryStorage()
    other = "http://example.test/other"
    mock = Scripted(ok(ETag='"a"'), lib.Response(201, headers={"Location": "/other"}))
    with cached_client(mock, storage) as client:
        client.get(other)
        client.post(URL)
    assert storage.variants(other) == []


def test_404_forgets_the_stored_entry() -> None:
    storage = MemoryStorage()
    with cached_client(Scripted(ok(ETag='"a"'), lib.Response(404)), storage) as client:
        client.get(URL)
        assert client.get(URL).status_code == 404
    assert len(storage) == 0


def test_head_is_passed_through() -> None:
    storage = MemoryStorage()
    mock = Scripted(ok(ETag='"a"'), lib.Response(200, headers={"ETag": '"a"'}))
    with cached_client(mock, storage) as client:
        client.get(URL)
        client.head(URL)
    assert "if-none-match" not in mock.seen[1].headers


def test_compressed_body_is_stored_as_received_and_decoded_on_replay() -> None:
    """The stored bytes are the encoded ones, so the kept Content-Encoding still applies."""
    text = b"squeeze me " * 500
    squeezed = gzip.compress(text)
    storage = MemoryStorage()
    mock = Scripted(
        lib.Response(
            200,
            headers={"ETag": '"g"', "Content-Encoding": "gzip"},
            stream=lib.ByteStream(squeezed),
        ),
        not_modified(ETag='"g"', Content_Encoding="br"),
    )
    with cached_client(mock, storage) as client:
        assert client.get(URL).content == text
        replayed = client.get(URL)
    assert storage.variants(URL)[0].body == squeezed
    assert replayed.content == text
    assert replayed.headers["content-encoding"] == "gzip"


_NAMES = st.sampled_from(
    [
        "ETag",
        "Date",
        "Cache-Control",
        "X-A",
        "x-a",
        "Content-Length",
        "Content-Encoding",
        "Transfer-Encoding",
        "Vary",
        "Link",
    ]
)
_PAIRS = st.lists(st.tuples(_NAMES, st.text("abc ", max_size=4)), max_size=8)
_FIXED = {"content-length", "content-encoding", "transfer-encoding"}


def _values(pairs: list[tuple[str, str]] | tuple[tuple[str, str], ...], name: str) -> list[str]:
    return [value for key, value in pairs if key.lower() == name]


@given(stored=_PAIRS, fresh=_PAIRS)
def test_merge_not_modified_properties(
    stored: list[tuple[str, str]], fresh: list[tuple[str, str]]
) -> None:
    """§4.3.4: fields in the 304 win, all others stay, framing fields never change."""
    merged = merge_not_modified(stored, fresh)
    for name in {key.lower() for key, _ in stored + fresh}:
        updated = name not in _FIXED and _values(fresh, name)
        assert _values(merged, name) == (updated or _values(stored, name))


@pytest.mark.asyncio
async def test_async_transport_follows_the_same_policy() -> None:
    """The async transport shares the sans-IO policy: 304 merge, mismatch retry, no-store."""
    mock = Scripted(
        ok(b"old", ETag='"a"', X_Seen="1"),
        not_modified(ETag='"a"', X_Seen="2"),
        not_modified(ETag='"b"'),
        ok(b"new", ETag='"b"', Cache_Control="no-store"),
    )
    storage = MemoryStorage()
    transport = AsyncCachingTransport(mock, storage)
    async with lib.AsyncClient(transport=transport) as client:
        await client.get(URL)
        replayed = await client.get(URL)
        fresh = await client.get(URL)
    assert replayed.content == b"old"
    assert replayed.headers["x-seen"] == "2"
    assert was_revalidated(replayed)
    assert fresh.content == b"new"
    assert not was_revalidated(fresh)
    assert "if-none-match" not in mock.seen[3].headers
    assert len(storage) == 0
