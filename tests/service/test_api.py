"""The HTTP API in-process, on SQLite and on PostgreSQL: validators, 304/412/428, writes, errors."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import format_datetime

import pytest
from starlette.testclient import TestClient

from ifmatch.service import store as store_module
from ifmatch.service._logs import JSONLines

DOC = "/api/notes/first"
JSON_PATCH = {"Content-Type": "application/json-patch+json"}
MERGE_PATCH = {"Content-Type": "application/merge-patch+json"}


def _create(client: TestClient, body: object = None, path: str = DOC) -> str:
    response = client.put(path, json=body or {"title": "a"}, headers={"If-None-Match": "*"})
    assert response.status_code == 201, response.text
    return response.headers["ETag"]


def _is_problem(response: object, status: int) -> dict[str, object]:
    assert response.status_code == status, response.text  # type: ignore[attr-defined]
    assert response.headers["Content-Type"] == "application/problem+json"  # type: ignore[attr-defined]
    body: dict[str, object] = response.json()  # type: ignore[attr-defined]
    assert body["status"] == status
    return body


def test_create_read_revalidate(client: TestClient) -> None:
    created = client.put(DOC, json={"title": "a"}, headers={"If-None-Match": "*"})
    assert created.status_code == 201
    assert created.headers["Location"] == DOC
    assert created.headers["ETag"] == '"v1"'
    read = client.get(DOC)
    assert read.status_code == 200
    assert read.json() == {"title": "a"}
    assert read.headers["ETag"] == created.headers["ETag"]
    assert read.headers["Cache-Control"] == "no-cache"
    assert read.headers["Last-Modified"].endswith(" GMT")
    again = client.get(DOC, headers={"If-None-Match": read.headers["ETag"]})
    assert again.status_code == 304
    assert again.headers["ETag"] == read.headers["ETag"]
    assert again.content == b""
    assert "Content-Type" not in again.headers
    head = client.head(DOC)
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["Content-Length"] == read.headers["Content-Length"]


@pytest.mark.parametrize(
    ("headers", "status", "field"),
    [
        pytest.param({}, 428, None, id="RFC 6585 §3 no precondition -> 428"),
        pytest.param({"If-Match": '"v999"'}, 412, "If-Match", id="§13.1.1 stale If-Match -> 412"),
        pytest.param({"If-Match": 'W/"v1"'}, 412, "If-Match", id="§13.1.1 weak tag never matches"),
        pytest.param({"If-None-Match": "*"}, 412, "If-None-Match", id="§13.1.2 * on existing"),
        pytest.param(
            {"If-Unmodified-Since": "Sun, 06 Nov 1994 08:49:37 GMT"},
            412,
            "If-Unmodified-Since",
            id="§13.1.4 changed since -> 412",
        ),
        pytest.param({"If-Match": "not a tag"}, 412, "If-Match", id="§13.1.1 unreadable -> 412"),
        pytest.param({"If-Match": '"v1"'}, 200, None, id="§13.1.1 current tag -> 200"),
        pytest.param({"If-Match": '"x", "v1"'}, 200, None, id="§13.1.1 tag in a list -> 200"),
        pytest.param({"If-Match": "*"}, 200, None, id="§13.1.1 * on existing -> 200"),
    ],
)
def test_replace_preconditions(
    client: TestClient, headers: dict[str, str], status: int, field: str | None
) -> None:
    _create(client)
    response = client.put(DOC, json={"title": "b"}, headers=headers)
    assert response.status_code == status, response.text
    after = client.get(DOC)
    if status == 200:
        assert response.headers["ETag"] == after.headers["ETag"] == '"v2"'
        assert after.json() == {"title": "b"}
        return
    problem = _is_problem(response, status)
    assert problem.get("precondition") == field
    if status == 412:
        assert response.headers["ETag"] == '"v1"'
        assert problem["current_etag"] == '"v1"'
    assert after.json() == {"title": "a"}  # nothing written
    assert after.headers["ETag"] == '"v1"'


def test_requirement_can_be_turned_off(make_client: Callable[..., TestClient]) -> None:
    client = make_client(require_preconditions=False)
    _create(client)
    assert client.put(DOC, json={"title": "b"}).status_code == 200
    assert client.patch(DOC, content=b'{"x":1}', headers=MERGE_PATCH).status_code == 200
    assert client.delete(DOC).status_code == 204
    assert client.get(DOC).status_code == 404


# Two writes 0.5 s or 1.1 s apart, at fixed instants (the store's clock, ``now_us``, is
# replaced), so both sides of the one-second problem are checked on every run.
FIRST_WRITE_US = 1_700_000_000_100_000


@pytest.mark.parametrize(
    ("gap_us", "status"),
    [
        pytest.param(
            500_000, 412, id="§13.1.4 two writes in one second: IUS = Last-Modified -> 412"
        ),
        pytest.param(
            1_100_000, 200, id="§13.1.4 writes in different seconds: IUS = Last-Modified -> 200"
        ),
    ],
)
def test_if_unmodified_since_after_two_writes(
    client: TestClient, monkeypatch: pytest.MonkeyPatch, gap_us: int, status: int
) -> None:
    """The date cannot tell two changes within one second apart, so the write is refused
    rather than allowed to overwrite a change the client never saw (the one-second problem)."""
    moments = [FIRST_WRITE_US, FIRST_WRITE_US + gap_us, FIRST_WRITE_US + 5_000_000]
    monkeypatch.setattr(store_module, "now_us", lambda: moments.pop(0))
    _create(client)
    first = client.get(DOC)
    replaced = client.put(DOC, json={"t": 2}, headers={"If-Match": first.headers["ETag"]})
    assert replaced.status_code == 200
    second = client.get(DOC)
    stamp = second.headers["Last-Modified"]
    assert (stamp == first.headers["Last-Modified"]) is (gap_us < 1_000_000 - 100_000)
    response = client.put(DOC, json={"t": 3}, headers={"If-Unmodified-Since": stamp})
    assert response.status_code == status, response.text
    if status == 412:
        assert response.json()["precondition"] == "If-Unmodified-Since"
        assert client.get(DOC).json() == {"t": 2}  # nothing lost, nothing written
    else:
        assert client.get(DOC).json() == {"t": 3}


def test_if_unmodified_since_in_the_future_passes(client: TestClient) -> None:
    _create(client)
    later = format_datetime(datetime(2100, 1, 1, tzinfo=UTC), usegmt=True)
    response = client.put(DOC, json={"t": 2}, headers={"If-Unmodified-Since": later})
    assert response.status_code == 200


def test_conditional_get_fields(client: TestClient) -> None:
    etag = _create(client)
    modified = client.get(DOC).headers["Last-Modified"]
    assert client.get(DOC, headers={"If-None-Match": f"W/{etag}"}).status_code == 304
    assert client.get(DOC, headers={"If-None-Match": '"nope"'}).status_code == 200
    assert client.get(DOC, headers={"If-Match": '"nope"'}).status_code == 412
    old = "Sun, 06 Nov 1994 08:49:37 GMT"
    assert client.get(DOC, headers={"If-Modified-Since": old}).status_code == 200
    later = "Fri, 01 Jan 2100 00:00:00 GMT"
    assert client.get(DOC, headers={"If-Modified-Since": later}).status_code == 304
    # §13.1.3: If-None-Match takes precedence over If-Modified-Since.
    both = {"If-None-Match": '"nope"', "If-Modified-Since": modified}
    assert client.get(DOC, headers=both).status_code == 200


def test_put_create_is_guarded_too(client: TestClient) -> None:
    assert client.put(DOC, json=1, headers={"If-Match": '"v1"'}).status_code == 412
    assert client.get(DOC).status_code == 404
    assert client.put(DOC, json=1).status_code == 201  # creating needs no precondition


def test_versions_never_repeat_across_delete(client: TestClient) -> None:
    etag = _create(client)
    assert client.delete(DOC, headers={"If-Match": etag}).status_code == 204
    recreated = _create(client)
    assert recreated != etag
    assert client.put(DOC, json={}, headers={"If-Match": etag}).status_code == 412


@pytest.mark.parametrize(
    ("headers", "body", "status", "result"),
    [
        pytest.param(MERGE_PATCH, {"title": None, "n": 2}, 200, {"n": 2}, id="RFC 7396 merge"),
        pytest.param(
            JSON_PATCH,
            [
                {"op": "test", "path": "/title", "value": "a"},
                {"op": "add", "path": "/n", "value": 1},
            ],
            200,
            {"title": "a", "n": 1},
            id="RFC 6902 test+add",
        ),
        pytest.param(
            JSON_PATCH,
            [
                {"op": "add", "path": "/n", "value": 1},
                {"op": "test", "path": "/title", "value": "z"},
            ],
            409,
            None,
            id="RFC 6902 §5 failed test -> 409, nothing written",
        ),
        pytest.param(
            JSON_PATCH, [{"op": "remove", "path": "/nope"}], 409, None, id="RFC 6902 missing path"
        ),
        pytest.param(JSON_PATCH, {"op": "add"}, 400, None, id="RFC 5789 §2.2 malformed -> 400"),
        pytest.param(
            JSON_PATCH, [{"op": "add", "path": "x", "value": 1}], 400, None, id="bad pointer -> 400"
        ),
        pytest.param(
            {"Content-Type": "application/json"}, {}, 415, None, id="RFC 5789 §2.2 -> 415"
        ),
    ],
)
def test_patch(
    client: TestClient, headers: dict[str, str], body: object, status: int, result: object
) -> None:
    etag = _create(client)
    response = client.patch(
        DOC, content=json.dumps(body).encode(), headers={**headers, "If-Match": etag}
    )
    assert response.status_code == status, response.text
    current = client.get(DOC)
    if status == 200:
        assert response.json() == current.json() == result
        assert response.headers["ETag"] == current.headers["ETag"] != etag
        return
    _is_problem(response, status)
    assert current.json() == {"title": "a"}
    assert current.headers["ETag"] == etag
    if status == 415:
        assert "application/json-patch+json" in response.headers["Accept-Patch"]


def test_patch_guards(client: TestClient) -> None:
    """PATCH is guarded like PUT: 428 without a precondition, 412 with the current ETag."""
    assert client.patch(DOC, content=b"{}", headers=MERGE_PATCH).status_code == 404
    etag = _create(client)
    _is_problem(client.patch(DOC, content=b"{}", headers=MERGE_PATCH), 428)
    stale = {**MERGE_PATCH, "If-Match": '"v0"'}
    refused = client.patch(DOC, content=b"{}", headers=stale)
    assert _is_problem(refused, 412)["current_etag"] == etag == refused.headers["ETag"]
    assert client.get(DOC).headers["ETag"] == etag


def test_patch_result_size_is_bounded(make_client: Callable[..., TestClient]) -> None:
    client = make_client(max_json_body=2000)
    etag = _create(client, {"k": "x" * 500})
    doubling = [{"op": "copy", "from": "", "path": f"/k{n}"} for n in range(20)]
    response = client.patch(
        DOC, content=json.dumps(doubling).encode(), headers={**JSON_PATCH, "If-Match": etag}
    )
    _is_problem(response, 422)
    assert client.get(DOC).headers["ETag"] == etag


def test_delete(client: TestClient) -> None:
    assert client.delete(DOC, headers={"If-Match": "*"}).status_code == 404  # §13.2.1
    etag = _create(client)
    _is_problem(client.delete(DOC), 428)
    refused = client.delete(DOC, headers={"If-Match": '"v0"'})
    assert _is_problem(refused, 412)["current_etag"] == etag == refused.headers["ETag"]
    assert client.delete(DOC, headers={"If-Match": etag}).status_code == 204
    _is_problem(client.get(DOC), 404)


@pytest.mark.parametrize(
    ("content", "content_type", "status"),
    [
        pytest.param(b"{", "application/json", 400, id="invalid JSON -> 400"),
        pytest.param(b"NaN", "application/json", 400, id="RFC 8259 NaN -> 400"),
        pytest.param(b"1e999", "application/json", 400, id="overflowing number -> 400"),
        pytest.param(b"\xff\xfe{}", "application/json", 400, id="RFC 8259 §8.1 not UTF-8 -> 400"),
        pytest.param(b"[" * 1020, "application/json", 400, id="too deep -> 400"),
        pytest.param(b"{}", "text/plain", 415, id="wrong media type -> 415"),
        pytest.param(b"{}", "application/json; charset=latin-1", 415, id="charset -> 415"),
        pytest.param(b"{}", "", 415, id="no media type -> 415"),
        pytest.param(b'"' + b"x" * 2000 + b'"', "application/json", 413, id="too large -> 413"),
    ],
)
def test_bad_json_requests(
    make_client: Callable[..., TestClient], content: bytes, content_type: str, status: int
) -> None:
    client = make_client(max_json_body=1024)
    headers = {"Content-Type": content_type} if content_type else {}
    _is_problem(client.put(DOC, content=content, headers=headers), status)
    assert client.get(DOC).status_code == 404  # nothing written
    assert client.get("/api/notes").json()["items"] == []


def test_content_coding_is_refused(client: TestClient) -> None:
    headers = {"Content-Type": "application/json", "Content-Encoding": "gzip"}
    response = client.put(DOC, content=b"{}", headers=headers)
    _is_problem(response, 415)
    assert response.headers["Accept-Encoding"] == "identity"


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("POST", DOC, "GET, HEAD, PUT, PATCH, DELETE, OPTIONS"),
        ("PUT", "/api/notes", "GET, HEAD, POST, OPTIONS"),
        ("PATCH", "/files/a.txt", "GET, HEAD, PUT, DELETE, OPTIONS"),
        ("DELETE", "/healthz", None),
    ],
)
def test_method_not_allowed(client: TestClient, method: str, path: str, allow: str | None) -> None:
    response = client.request(method, path)
    _is_problem(response, 405)
    if allow:
        assert response.headers["Allow"] == allow
    else:
        assert "GET" in response.headers["Allow"]


@pytest.mark.parametrize(
    "path",
    ["/api/no%20spaces/x", "/api/notes/%2E%2E", "/api/" + "a" * 129 + "/x", "/api/notes/%C3%A9"],
)
def test_invalid_names_are_400(client: TestClient, path: str) -> None:
    _is_problem(client.put(path, json={}), 400)


def test_not_found_is_problem_json(client: TestClient) -> None:
    _is_problem(client.get("/nowhere"), 404)


def test_collection_etag_tracks_every_member(client: TestClient) -> None:
    empty = client.get("/api/notes")
    assert empty.json() == {"collection": "notes", "items": []}
    tags = [empty.headers["ETag"]]
    first = _create(client)
    _create(client, {"b": 1}, "/api/notes/second")
    listing = client.get("/api/notes")
    assert [item["id"] for item in listing.json()["items"]] == ["first", "second"]
    assert listing.json()["items"][0] == {
        "id": "first",
        "etag": first,
        "last_modified": client.get(DOC).headers["Last-Modified"],
        "document": {"title": "a"},
    }
    tags.append(listing.headers["ETag"])
    assert client.get("/api/notes", headers={"If-None-Match": tags[-1]}).status_code == 304
    client.put("/api/other/x", json={})  # another collection does not change this one
    assert client.get("/api/notes", headers={"If-None-Match": tags[-1]}).status_code == 304
    client.put(DOC, json={"title": "b"}, headers={"If-Match": first})
    tags.append(client.get("/api/notes").headers["ETag"])
    client.delete("/api/notes/second", headers={"If-Match": "*"})
    after_delete = client.get("/api/notes", headers={"If-None-Match": tags[-1]})
    assert after_delete.status_code == 200
    tags.append(after_delete.headers["ETag"])
    assert len(set(tags)) == len(tags)
    assert [item["id"] for item in after_delete.json()["items"]] == ["first"]


def test_collection_head_and_preconditions(client: TestClient) -> None:
    _create(client)
    full = client.get("/api/notes")
    head = client.head("/api/notes")
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["Content-Length"] == str(len(full.content))
    assert head.headers["ETag"] == full.headers["ETag"]
    stale = client.get("/api/notes", headers={"If-Match": '"c0"'})
    _is_problem(stale, 412)
    modified = full.headers["Last-Modified"]
    # One write so far: its second proves "unchanged since" (§13.1.3).
    assert client.get("/api/notes", headers={"If-Modified-Since": modified}).status_code == 304
    _create(client, {"b": 1}, "/api/notes/second")
    after = client.get("/api/notes", headers={"If-Modified-Since": modified})
    # Either a later second, or (usually, in a fast test) the same second as the first
    # write, which the date cannot tell apart: changed_within_second makes it a 200,
    # where a plain date comparison would give a stale 304.
    assert after.status_code == 200
    later = "Fri, 01 Jan 2100 00:00:00 GMT"
    assert client.get("/api/notes", headers={"If-Modified-Since": later}).status_code == 304


def test_post_creates_with_a_server_chosen_id(client: TestClient) -> None:
    response = client.post("/api/notes", json={"t": 1})
    assert response.status_code == 201
    location = response.headers["Location"]
    assert location.startswith("/api/notes/")
    read = client.get(location)
    assert read.json() == {"t": 1}
    assert read.headers["ETag"] == response.headers["ETag"]
    assert client.post("/api/notes", json={"t": 2}).headers["Location"] != location


def test_options_lists_methods(client: TestClient) -> None:
    response = client.options(DOC)
    assert response.status_code == 204
    assert "PATCH" in response.headers["Allow"]
    assert "application/merge-patch+json" in response.headers["Accept-Patch"]


def test_bearer_token(make_client: Callable[..., TestClient]) -> None:
    client = make_client(token="s3cret")
    for path in ("/openapi.json", DOC):
        response = client.get(path)
        _is_problem(response, 401)
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    wrong = client.get("/openapi.json", headers={"Authorization": "Bearer nope"})
    assert 'error="invalid_token"' in wrong.headers["WWW-Authenticate"]
    right = client.get("/openapi.json", headers={"Authorization": "Bearer s3cret"})
    assert right.status_code == 200
    assert client.get(DOC, headers={"Authorization": "Bearer s3cret"}).status_code == 404


def test_health_and_openapi(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    document = client.get("/openapi.json").json()
    assert document["openapi"].startswith("3.")
    assert "/api/{collection}/{id}" in document["paths"]


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[dict[str, object]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(json.loads(JSONLines().format(record)))


def test_one_json_log_line_per_request(client: TestClient) -> None:
    etag = _create(client)
    logger = logging.getLogger("ifmatch.service.access")
    collect = _Collect()
    logger.addHandler(collect)
    level = logger.level
    logger.setLevel(logging.INFO)
    try:
        client.get(DOC, headers={"If-None-Match": etag})
        client.put(DOC, json={}, headers={"If-Match": '"v0"'})
        client.put(DOC, json={})
        client.get("/api/notes/missing")
    finally:
        logger.removeHandler(collect)
        logger.setLevel(level)
    lines = collect.lines
    assert [(line["method"], line["status"], line["precondition"]) for line in lines] == [
        ("GET", 304, "304 If-None-Match"),
        ("PUT", 412, "412 If-Match"),
        ("PUT", 428, "428 required"),
        ("GET", 404, "ignored"),
    ]
    for line in lines:
        assert str(line["path"]).startswith("/api/notes/")
        assert isinstance(line["ms"], float)
        assert str(line["ts"]).endswith("Z")
