"""Collection pages (issue 17): ``GET /api/{collection}?limit=N&cursor=C``, on SQLite and
PostgreSQL.

A page links to the next with ``Link: <...>; rel="next"`` (RFC 8288 §3, §3.3) and has
its own strong validator (RFC 9110 §8.8.3): a conditional GET of a page gets 304 while
that page is unchanged (§13.1.2), and never after a write that changed it, made
through this app, another app on the same database, or another process on the same
SQLite file.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from starlette.testclient import TestClient

from ifmatch import format_http_date
from ifmatch.service._http import Problem, dump_json, is_name
from ifmatch.service._openapi import openapi_document
from ifmatch.service._pages import (
    MAX_LIMIT,
    decode_cursor,
    encode_cursor,
    page_query,
    parse_limit,
)
from ifmatch.service.app import _items
from ifmatch.service.settings import Settings
from ifmatch.service.store import Meta

# Names whose bytewise order differs from a linguistic collation's (case, punctuation):
# PostgreSQL must page them in the order SQLite and the whole listing use.
NAMES = ["0", "B", "Z", "_x", "a", "a-b", "a.b", "aB", "ab", "b", "z~", "~"]
LINK = re.compile(r'^<(?P<target>[^>]*)>; rel="next"$')


def _fill(client: TestClient, names: list[str] = NAMES, collection: str = "notes") -> None:
    for number, name in enumerate(names):
        response = client.put(f"/api/{collection}/{name}", json={"n": number})
        assert response.status_code == 201, response.text


def _next(response: Any) -> str | None:
    """The target of the page's Link rel="next" (RFC 8288 §3), checked against its body."""
    link = response.headers.get("Link")
    target = response.json()["next"]
    if link is None:
        assert target is None
        return None
    match = LINK.fullmatch(link)
    assert match is not None, link
    assert match["target"] == target
    return str(match["target"])


def _walk(client: TestClient, limit: int, collection: str = "notes") -> list[list[str]]:
    """The ids of every page, following the Link rel="next" from the first page."""
    pages: list[list[str]] = []
    target: str | None = f"/api/{collection}?limit={limit}"
    while target is not None:
        response = client.get(target)
        assert response.status_code == 200, response.text
        body = response.json()
        assert set(body) == {"collection", "items", "next"}
        assert body["collection"] == collection
        assert len(body["items"]) <= limit
        pages.append([item["id"] for item in body["items"]])
        target = _next(response)
        assert len(pages) <= len(NAMES) + 1, "the links go round in circles"
    return pages


@pytest.mark.parametrize("limit", [1, 2, 5, len(NAMES) - 1, len(NAMES), MAX_LIMIT])
def test_pages_follow_links_through_the_whole_listing(client: TestClient, limit: int) -> None:
    """RFC 8288 §3: following rel="next" from the first page visits every member once,
    in the listing's order; only the last page has no next."""
    _fill(client)
    listing = client.get("/api/notes").json()
    assert [item["id"] for item in listing["items"]] == sorted(NAMES)  # bytewise, as ever
    pages = _walk(client, limit)
    assert [name for page in pages for name in page] == sorted(NAMES)
    assert all(len(page) == limit for page in pages[:-1])
    assert 1 <= len(pages[-1]) <= limit  # a full last page has no empty page after it
    first = client.get(f"/api/notes?limit={limit}").json()
    assert first["items"] == listing["items"][:limit]  # the same items as the listing's


def test_first_next_and_last_page(client: TestClient) -> None:
    _fill(client, ["a", "b", "c"])
    first = client.get("/api/notes?limit=2")
    assert first.status_code == 200
    assert first.headers["Content-Type"] == "application/json"
    assert first.headers["Cache-Control"] == "no-cache"
    assert first.headers["Accept-Ranges"] == "none"
    assert "Last-Modified" not in first.headers  # a page's validator is its ETag alone
    assert re.fullmatch(r'"p[0-9a-f]{32}"', first.headers["ETag"])
    target = _next(first)
    assert target == f"/api/notes?limit=2&cursor={encode_cursor('b')}"
    last = client.get(target)
    assert [item["id"] for item in last.json()["items"]] == ["c"]
    assert "Link" not in last.headers
    assert last.json()["next"] is None
    assert last.headers["ETag"] != first.headers["ETag"]


def test_empty_pages(client: TestClient) -> None:
    empty = client.get("/api/notes?limit=10")
    assert empty.status_code == 200
    assert empty.json() == {"collection": "notes", "items": [], "next": None}
    assert "ETag" in empty.headers
    _fill(client, ["a"])
    beyond = client.get(f"/api/notes?limit=10&cursor={encode_cursor('zzz')}")
    assert beyond.json() == {"collection": "notes", "items": [], "next": None}


def test_a_cursor_outlives_its_member(client: TestClient) -> None:
    """Keyset paging: the cursor names a position, not a member; deleting the member it
    was taken from does not lose the place."""
    _fill(client, ["a", "b", "c", "d"])
    target = _next(client.get("/api/notes?limit=2"))
    assert target is not None
    assert client.delete("/api/notes/b", headers={"If-Match": "*"}).status_code == 204
    assert [item["id"] for item in client.get(target).json()["items"]] == ["c", "d"]


def test_without_limit_the_listing_is_unchanged(client: TestClient) -> None:
    """Backward compatible: no ``limit``, the whole listing as before (other parameters
    are ignored, as they always were)."""
    _fill(client, ["a", "b"])
    plain = client.get("/api/notes")
    other = client.get("/api/notes?foo=1&page=2")
    assert set(plain.json()) == {"collection", "items"}
    assert other.content == plain.content
    # The collection's own ETag ("c<counter>" on SQLite, "c<sum of versions>" on PostgreSQL).
    assert other.headers["ETag"] == plain.headers["ETag"]
    assert plain.headers["ETag"].startswith('"c')
    assert "Link" not in plain.headers


BAD_QUERIES = [
    pytest.param("limit=0", "invalid limit", id="limit 0"),
    pytest.param(f"limit={MAX_LIMIT + 1}", "invalid limit", id="limit past the maximum"),
    pytest.param("limit=99999999999999999999", "invalid limit", id="limit huge"),
    pytest.param("limit=-1", "invalid limit", id="limit negative"),
    pytest.param("limit=%2B5", "invalid limit", id="limit with a sign"),
    pytest.param("limit=1.5", "invalid limit", id="limit not whole"),
    pytest.param("limit=ten", "invalid limit", id="limit not a number"),
    pytest.param("limit=", "invalid limit", id="limit empty"),
    pytest.param("limit=%205", "invalid limit", id="limit with a space"),
    pytest.param("limit=%EF%BC%95", "invalid limit", id="limit fullwidth digit"),
    pytest.param("limit=2&limit=3", "given once", id="limit repeated"),
    pytest.param("cursor=YQ", "needs a limit", id="cursor without limit"),
    pytest.param("limit=2&cursor=", "invalid cursor", id="cursor empty"),
    pytest.param("limit=2&cursor=YQ%3D%3D", "invalid cursor", id="cursor padded"),
    pytest.param("limit=2&cursor=YR", "invalid cursor", id="cursor not canonical"),
    pytest.param("limit=2&cursor=Y", "invalid cursor", id="cursor truncated"),
    pytest.param("limit=2&cursor=YQ%2B", "invalid cursor", id="cursor standard alphabet"),
    pytest.param("limit=2&cursor=%25%25", "invalid cursor", id="cursor not base64"),
    pytest.param(f"limit=2&cursor={encode_cursor('a')}x", "invalid cursor", id="cursor edited"),
    pytest.param("limit=2&cursor=Li4", "invalid cursor", id="cursor of '..'"),
    pytest.param("limit=2&cursor=4pyT", "invalid cursor", id="cursor of a non-ASCII name"),
    pytest.param("limit=2&cursor=" + "YWFh" * 60, "invalid cursor", id="cursor too long"),
    pytest.param("limit=2&cursor=YQ&cursor=Yg", "given once", id="cursor repeated"),
]


@pytest.mark.parametrize(("query", "says"), BAD_QUERIES)
def test_bad_limit_or_cursor_is_400(client: TestClient, query: str, says: str) -> None:
    """A malformed page request is a 400 problem (RFC 9457) that says what is wrong, never
    a silently different page."""
    _fill(client, ["a", "b", "c"])
    response = client.get(f"/api/notes?{query}")
    assert response.status_code == 400, response.text
    assert response.headers["Content-Type"] == "application/problem+json"
    assert response.headers["Cache-Control"] == "no-store"
    assert says in response.json()["detail"]
    head = client.head(f"/api/notes?{query}")
    assert head.status_code == 400
    assert head.content == b""


@pytest.mark.parametrize(
    ("query", "count"),
    [("limit=1", 1), (f"limit={MAX_LIMIT}", 3), ("limit=007", 3), ("limit=2&other=x", 2)],
)
def test_limit_bounds(client: TestClient, query: str, count: int) -> None:
    _fill(client, ["a", "b", "c"])
    response = client.get(f"/api/notes?{query}")
    assert response.status_code == 200, response.text
    assert len(response.json()["items"]) == count


def test_page_conditional_get(client: TestClient) -> None:
    """RFC 9110 §13.1.2 and §15.4.5: the page's ETag gets a 304 with the ETag, the Link
    and Cache-Control and no body; §13.1.1: If-Match is checked against it too."""
    _fill(client, ["a", "b", "c"])
    page = client.get("/api/notes?limit=2")
    etag = page.headers["ETag"]
    cases: list[tuple[dict[str, str], int]] = [
        ({"If-None-Match": etag}, 304),
        ({"If-None-Match": f'"x", {etag}'}, 304),
        ({"If-None-Match": f"W/{etag}"}, 304),  # §13.1.2: weak comparison
        ({"If-None-Match": "*"}, 304),
        ({"If-None-Match": '"c3"'}, 200),  # the whole listing's ETag is not the page's
        ({"If-Match": etag}, 200),
        ({"If-Match": '"p0"'}, 412),
        ({"If-Modified-Since": "Fri, 01 Jan 2100 00:00:00 GMT"}, 200),  # no Last-Modified
    ]
    for headers, status in cases:
        response = client.get("/api/notes?limit=2", headers=headers)
        assert response.status_code == status, (headers, response.text)
        if status == 304:
            assert response.content == b""
            assert response.headers["ETag"] == etag
            assert response.headers["Link"] == page.headers["Link"]
            assert response.headers["Cache-Control"] == "no-cache"
            assert "Content-Type" not in response.headers
        if status == 200:
            assert response.content == page.content


def test_page_head(client: TestClient) -> None:
    """RFC 9110 §9.3.2: HEAD sends the GET's fields without the content."""
    _fill(client, ["a", "b", "c"])
    page = client.get("/api/notes?limit=2")
    head = client.head("/api/notes?limit=2")
    assert head.status_code == 200
    assert head.content == b""
    for field in ("ETag", "Link", "Content-Length", "Content-Type", "Cache-Control"):
        assert head.headers[field] == page.headers[field]
    assert int(head.headers["Content-Length"]) == len(page.content)
    unchanged = client.head("/api/notes?limit=2", headers={"If-None-Match": page.headers["ETag"]})
    assert unchanged.status_code == 304


# Members a..f in pages of two: [a, b] [c, d] [e, f].  Each write, and which pages it changes
# (every other page keeps answering 304).
WRITES = [
    pytest.param("PUT", "c", {"second"}, id="replace a member: its page"),
    pytest.param("DELETE", "a", {"first"}, id="delete a member: its page only (keyset)"),
    pytest.param("DELETE", "c", {"second"}, id="delete the first of a page"),
    pytest.param("PUT", "bb", {"second"}, id="create within a page's span"),
    pytest.param("PUT", "0", {"first"}, id="create before everything"),
    pytest.param("PUT", "g", {"third"}, id="create after a full last page: it gains a next"),
    pytest.param("DELETE", "f", {"third"}, id="delete from the last page"),
    pytest.param("PUT", "other/x", set(), id="a write to another collection: none"),
]


@pytest.mark.parametrize(("method", "name", "changed"), WRITES)
def test_a_write_changes_exactly_the_pages_it_changes(
    client: TestClient, method: str, name: str, changed: set[str]
) -> None:
    """RFC 9110 §8.8.3: a page's strong ETag changes whenever its content does (never a
    stale 304), and only then (a 304 for every page the write did not touch)."""
    _fill(client, list("abcdef"))
    before: dict[str, tuple[str, str, bytes]] = {}
    target: str | None = "/api/notes?limit=2"
    for label in ("first", "second", "third"):
        assert target is not None
        response = client.get(target)
        before[label] = (target, response.headers["ETag"], response.content)
        target = _next(response)
    assert target is None
    path = f"/api/{name}" if "/" in name else f"/api/notes/{name}"
    if method == "PUT":
        written = client.put(path, json={"new": name}, headers={"If-Match": "*"})
        if written.status_code == 412:  # not there yet: create it
            written = client.put(path, json={"new": name}, headers={"If-None-Match": "*"})
        assert written.status_code in {200, 201}, written.text
    else:
        assert client.delete(path, headers={"If-Match": "*"}).status_code == 204
    for label, (url, etag, content) in before.items():
        again = client.get(url, headers={"If-None-Match": etag})
        if label in changed:
            assert again.status_code == 200, label
            assert again.headers["ETag"] != etag
            assert again.content != content
        else:
            assert again.status_code == 304, label
            assert client.get(url).content == content  # the 304 was right


def test_instances_agree_on_page_etags(make_client: Callable[..., TestClient]) -> None:
    """Two apps on one database (two workers, two instances): the same page has the same
    ETag on both, and a write through one is seen by a conditional GET on the other."""
    one, two = make_client(), make_client()
    _fill(one, ["a", "b", "c"])
    etag = one.get("/api/notes?limit=2").headers["ETag"]
    assert two.get("/api/notes?limit=2").headers["ETag"] == etag
    assert two.get("/api/notes?limit=2", headers={"If-None-Match": etag}).status_code == 304
    assert one.put("/api/notes/b", json={"n": "new"}, headers={"If-Match": "*"}).status_code == 200
    after = two.get("/api/notes?limit=2", headers={"If-None-Match": etag})
    assert after.status_code == 200
    assert after.json()["items"][1]["document"] == {"n": "new"}
    assert after.headers["ETag"] == one.get("/api/notes?limit=2").headers["ETag"]


# Another program on the same SQLite file: one write through the store, then exit.
WRITER = textwrap.dedent(
    """
    import sys
    from ifmatch import Conditions
    from ifmatch.service.sqlite import SQLiteStore
    from ifmatch.service.store import Content, WriteRequest

    store = SQLiteStore(sys.argv[1])
    content = Content.of(sys.argv[3].encode(), "application/json")
    result = store.write(
        WriteRequest("PUT", "doc:notes", sys.argv[2], Conditions.from_headers([]),
                     lambda _: content, False)
    )
    assert result.after is not None
    store.close()
    """
)


def test_a_write_from_another_process_changes_the_page(tmp_path: Path) -> None:
    """SQLite: a write committed by another process on the same file before a request
    began is seen by that request (the fast path's validator cache must not hide it)."""
    from ifmatch.service.app import create_app

    db = tmp_path / "pages.db"
    app = create_app(Settings(db=f"sqlite:///{db}"))
    with TestClient(app) as client:
        assert app.fast.off_because is None  # the fast path and its cache are on
        _fill(client, ["a", "b", "c"])
        page = client.get("/api/notes?limit=2")
        etag = page.headers["ETag"]
        # Warm every cache the app has with the page and its members.
        answered = app.fast.answered
        assert client.get("/api/notes?limit=2", headers={"If-None-Match": etag}).status_code == 304
        assert app.fast.answered == answered + 1
        assert client.get("/api/notes/b").status_code == 200
        for name, document in (("b", '{"from": "elsewhere"}'), ("aa", '{"new": true}')):
            subprocess.run([sys.executable, "-c", WRITER, str(db), name, document], check=True)
            after = client.get("/api/notes?limit=2", headers={"If-None-Match": etag})
            assert after.status_code == 200
            assert after.headers["ETag"] != etag
            assert json.loads(document) in [item["document"] for item in after.json()["items"]]
            etag = after.headers["ETag"]
            answered = app.fast.answered
            again = client.get("/api/notes?limit=2", headers={"If-None-Match": etag})
            assert again.status_code == 304
            assert app.fast.answered == answered + 1  # from the fast path's page cache


@given(
    st.lists(
        st.tuples(
            st.text(max_size=12),
            st.integers(min_value=1, max_value=2**40),
            # Mostly a few seconds apart (members sharing a second, and not), sometimes any.
            st.integers(min_value=1_700_000_000_000_000, max_value=1_700_000_004_000_000)
            | st.integers(min_value=0, max_value=4_102_444_800_000_000),
        ),
        max_size=8,
    )
)
def test_items_are_the_bytes_dump_json_makes(
    members: list[tuple[str, int, int]],
) -> None:
    """The listing's and the pages' items, built with a per-second date memo and the
    encoder's string escaper, are byte for byte what ``dump_json`` per field made."""
    stored = [
        (name, Meta(version, modified, False, "application/json", 2), b"{}")
        for name, version, modified in members
    ]
    expected = b",".join(
        b'{"id":%s,"etag":%s,"last_modified":%s,"document":%s}'
        % (
            dump_json(name),
            dump_json(str(meta.etag)),
            dump_json(format_http_date(meta.last_modified)),
            body,
        )
        for name, meta, body in stored
    )
    assert _items(stored) == expected


def test_openapi_documents_paging() -> None:
    operation = openapi_document(Settings())["paths"]["/api/{collection}"]["get"]
    parameters = {p["name"]: p for p in operation["parameters"] if "name" in p}
    assert parameters["limit"]["in"] == "query"
    assert parameters["limit"]["schema"]["maximum"] == MAX_LIMIT
    assert parameters["cursor"]["in"] == "query"
    assert "Link" in operation["responses"]["200"]["headers"]
    assert "400" in operation["responses"]


# -- the parsers (hypothesis) ----------------------------------------------------------------


def _parsed(parse: Callable[..., Any], *args: Any) -> Any:
    """What ``parse`` returns, or the :class:`Problem` it raised."""
    try:
        return parse(*args)
    except Problem as problem:
        return problem


NAME = st.from_regex(r"[A-Za-z0-9._~-]{1,128}", fullmatch=True).filter(is_name)


@given(NAME)
def test_cursor_round_trips(name: str) -> None:
    cursor = encode_cursor(name)
    assert re.fullmatch(r"[A-Za-z0-9_-]+", cursor)
    assert decode_cursor(cursor) == name


@given(st.text(max_size=200))
def test_any_cursor_is_a_name_or_a_400(text: str) -> None:
    """Every string decodes to a valid name whose cursor it is exactly, or is a 400."""
    name = _parsed(decode_cursor, text)
    if isinstance(name, Problem):
        assert name.status == 400
        return
    assert is_name(name)
    assert encode_cursor(name) == text


@given(st.text(max_size=30))
def test_any_limit_is_in_bounds_or_a_400(text: str) -> None:
    limit = _parsed(parse_limit, text)
    if isinstance(limit, Problem):
        assert limit.status == 400
        return
    assert 1 <= limit <= MAX_LIMIT
    assert int(text) == limit


@given(st.lists(st.tuples(st.sampled_from(["limit", "cursor", "x"]), st.text(max_size=12))))
def test_any_query_is_a_page_the_listing_or_a_400(params: list[tuple[str, str]]) -> None:
    query = _parsed(page_query, params)
    if isinstance(query, Problem):
        assert query.status == 400
        return
    names = [name for name, _ in params]
    if query is None:
        assert "limit" not in names
        assert "cursor" not in names
    else:
        assert names.count("limit") == 1
        assert names.count("cursor") <= 1
        assert 1 <= query.limit <= MAX_LIMIT
