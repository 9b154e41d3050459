"""Acceptance of issue 15 through the real stack: three ``ifmatch serve`` instances on one
PostgreSQL, nginx (balancer + ``proxy_cache``, ``proxy_cache_revalidate on``) and Varnish
in front (``deploy/``).  Shared caches may hold documents for ``TTL`` seconds
(``s-maxage``) and must then revalidate (RFC 9111 §4.3); the origin's access log and the
caches' status headers (``X-Cache-Varnish``, ``X-Cache-Nginx``) show who answered.
"""

from __future__ import annotations

import time
import uuid

import httpx
import pytest

from deploy.stack import Stack
from tests.scale import workload
from tests.scale.conftest import PAST, TTL

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


def _doc() -> str:
    return f"/api/notes/{uuid.uuid4().hex[:12]}"


def _put(base: str, path: str, body: object, etag: str | None = None) -> httpx.Response:
    headers = {"If-Match": etag} if etag else {"If-None-Match": "*"}
    response = httpx.put(base + path, json=body, headers=headers)
    assert response.status_code in {200, 201}, response.text
    return response


def _origin(stack: Stack, path: str, at_least: int = 0) -> list[tuple[int, str]]:
    """The origin's log lines for ``path``: (status, precondition outcome).

    An instance writes its line just after the response, so wait (briefly) for
    ``at_least`` of them."""
    deadline = time.monotonic() + 5
    while True:
        lines = [
            (line["status"], line["precondition"])
            for line in stack.origin_log()
            if line["path"] == path
        ]
        if len(lines) >= at_least or time.monotonic() > deadline:
            return lines
        time.sleep(0.05)


def test_every_instance_gives_the_same_validators(stack: Stack) -> None:
    path = _doc()
    _put(stack.nginx_url, path, {"v": 1})
    for version in (1, 2):
        answers = [httpx.get(node.url + path) for node in stack.nodes]
        answers.append(httpx.get(stack.nginx_url + path))
        answers.append(httpx.get(stack.varnish_url + path))
        etags = {answer.headers["ETag"] for answer in answers}
        modified = {answer.headers["Last-Modified"] for answer in answers[: len(stack.nodes)]}
        assert len(etags) == 1, etags
        assert len(modified) == 1, modified
        assert {answer.content for answer in answers[: len(stack.nodes)]} == {answers[0].content}
        if version == 1:
            time.sleep(PAST)  # let both caches' copies expire before the next version
            _put(stack.nginx_url, path, {"v": 2}, etags.pop())
            time.sleep(PAST)


def test_an_expired_entry_is_revalidated_by_each_cache_and_the_origin_answers_304(
    stack: Stack,
) -> None:
    path = _doc()
    _put(stack.nginx_url, path, {"text": "x" * 2000})
    first = httpx.get(stack.varnish_url + path)
    assert (first.headers["X-Cache-Varnish"], first.headers["X-Cache-Nginx"]) == ("MISS", "MISS")
    hit = httpx.get(stack.varnish_url + path)
    assert hit.headers["X-Cache-Varnish"] == "HIT"
    assert _origin(stack, path, 2) == [(201, "passed"), (200, "absent")]
    time.sleep(PAST)
    # Varnish's copy expired: it asks nginx with a conditional GET; nginx's copy expired
    # too: it asks an instance with If-None-Match, which answers 304 (no body), and nginx
    # answers Varnish's conditional GET with 304 in turn.
    again = httpx.get(stack.varnish_url + path)
    assert again.status_code == 200
    assert again.content == first.content
    assert again.headers["X-Cache-Varnish"] == "REVALIDATED"
    assert again.headers["X-Cache-Nginx"] == "REVALIDATED"
    assert _origin(stack, path, 3)[-1] == (304, "304 If-None-Match")
    revalidations = [line for line in stack.nginx_log() if path in line and " 304 " in line]
    assert revalidations
    assert "cache=REVALIDATED" in revalidations[-1]
    assert "upstream_status=304" in revalidations[-1]
    # The refreshed copies are fresh again: served from Varnish without the origin.
    assert httpx.get(stack.varnish_url + path).headers["X-Cache-Varnish"] == "HIT"
    time.sleep(0.3)
    assert len(_origin(stack, path)) == 3


def test_nginx_alone_revalidates_with_a_conditional_get(stack: Stack) -> None:
    path = _doc()
    _put(stack.nginx_url, path, {"n": 1})
    assert httpx.get(stack.nginx_url + path).headers["X-Cache-Nginx"] == "MISS"
    assert httpx.get(stack.nginx_url + path).headers["X-Cache-Nginx"] == "HIT"
    time.sleep(PAST)
    refreshed = httpx.get(stack.nginx_url + path)
    assert refreshed.status_code == 200
    assert refreshed.headers["X-Cache-Nginx"] == "REVALIDATED"
    assert _origin(stack, path, 3)[-1] == (304, "304 If-None-Match")


def test_after_a_write_the_first_fetch_past_the_lifetime_is_new_and_the_old_never_returns(
    stack: Stack,
) -> None:
    path = _doc()
    made = _put(stack.nginx_url, path, {"version": 1})
    for base in (stack.varnish_url, stack.nginx_url):
        assert httpx.get(base + path).json() == {"version": 1}
    written = time.monotonic()
    _put(stack.nginx_url, path, {"version": 2}, made.headers["ETag"])
    time.sleep(max(0.0, written + PAST - time.monotonic()))
    seen: list[tuple[str, object]] = []
    deadline = time.monotonic() + TTL + 1
    while time.monotonic() < deadline:
        for base in (stack.varnish_url, stack.nginx_url):
            response = httpx.get(base + path)
            seen.append((base, response.json()))
        time.sleep(0.1)
    assert {body["version"] for _, body in seen} == {2}, seen  # type: ignore[index]


def test_a_clients_if_none_match_through_a_cache_gets_304(stack: Stack) -> None:
    path = _doc()
    _put(stack.nginx_url, path, {"n": 1})
    for base in (stack.varnish_url, stack.nginx_url):
        etag = httpx.get(base + path).headers["ETag"]
        answer = httpx.get(base + path, headers={"If-None-Match": etag})
        assert answer.status_code == 304
        assert answer.headers["ETag"] == etag
        assert answer.content == b""
    assert httpx.get(stack.varnish_url + path, headers={"If-None-Match": '"v0"'}).status_code == 200


def test_a_stale_if_match_through_the_balancer_gets_the_origins_412(stack: Stack) -> None:
    path = _doc()
    old = _put(stack.nginx_url, path, {"n": 1}).headers["ETag"]
    current = _put(stack.nginx_url, path, {"n": 2}, old).headers["ETag"]
    for base in (stack.nginx_url, stack.varnish_url):
        refused = httpx.put(base + path, json={"n": 3}, headers={"If-Match": old})
        assert refused.status_code == 412
        assert refused.headers["ETag"] == current
        assert refused.json()["current_etag"] == current
        assert refused.headers["Content-Type"] == "application/problem+json"
    assert httpx.get(
        stack.nginx_url.replace(str(stack.nginx_port), str(stack.nodes[0].port)) + path
    ).json() == {"n": 2}


def test_an_authenticated_response_is_not_stored_by_either_cache(stack: Stack) -> None:
    # RFC 9111 §3.5: the rule has s-maxage, but an authenticated request gets "private".
    path = _doc()
    _put(stack.nginx_url, path, {"secret": True})
    auth = {"Authorization": "Bearer someone"}
    answers = [httpx.get(stack.varnish_url + path, headers=auth) for _ in range(3)]
    assert {a.headers["Cache-Control"] for a in answers} == {"private, max-age=0, must-revalidate"}
    assert {a.headers["X-Cache-Varnish"] for a in answers} == {"MISS"}
    assert {a.headers["X-Cache-Nginx"] for a in answers} == {"MISS"}
    assert [status for status, _ in _origin(stack, path, 4)].count(200) == 3
    # An anonymous request is not answered from anything the authenticated ones left.
    anonymous = httpx.get(stack.varnish_url + path)
    assert anonymous.headers["Cache-Control"] == f"max-age=0, must-revalidate, s-maxage={TTL}"


def test_16_clients_x_50_increments_through_the_balancer_end_at_800(stack: Stack) -> None:
    doc = f"/api/counters/{uuid.uuid4().hex[:12]}"
    workload.create(stack.nginx_url, doc)
    tally = workload.run([stack.nginx_url], doc, clients=16, increments=50, time_limit=240)
    final = workload.final_value(stack.nginx_url, doc)
    assert (tally.acknowledged, tally.unknown, final) == (800, 0, 800), tally.summary(final)
    assert tally.refused > 0  # the clients really raced
    # The balancer spread the work: every instance served some of it.
    served = {line["instance"] for line in stack.origin_log() if line["path"] == doc}
    assert served == set(range(len(stack.nodes)))
