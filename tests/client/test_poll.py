"""Polling with If-None-Match: only changed representations are yielded (RFC 9110 §13.1.2)."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import pytest
from starlette.applications import Starlette

from ifmatch.client import AsyncCachingTransport, CachingTransport, MemoryStorage, apoll, poll
from tests.client.app import Doc, State
from tests.client.support import Counting, Scripted


def test_poll_yields_only_changes_and_sends_the_etag(
    http: ModuleType, server: str, state: State
) -> None:
    state.docs["d"] = Doc({"n": 0})
    seen = []
    counting = Counting(http.HTTPTransport())
    with http.Client(transport=counting, base_url=server) as client:
        for response in poll(client, "/docs/d", 0, max_requests=9):
            seen.append(response.json()["n"])
            if len(seen) < 3:
                state.docs["d"] = Doc({"n": len(seen)}, version=len(seen) + 1)
    assert seen == [0, 1, 2]
    assert counting.statuses == [200, 200, 200] + [304] * 6
    sent = [headers.get("if-none-match") for _, _, headers in state.log]
    assert sent[:4] == [None, '"v1"', '"v2"', '"v3"']


@pytest.mark.asyncio
async def test_apoll_yields_only_changes(http: ModuleType, app: Starlette, state: State) -> None:
    state.docs["d"] = Doc({"n": 0})
    seen = []
    async with http.AsyncClient(
        transport=http.ASGITransport(app), base_url="http://test"
    ) as client:
        async for response in apoll(client, "/docs/d", 0, max_requests=6):
            seen.append(response.json()["n"])
            if len(seen) == 1:
                state.docs["d"] = Doc({"n": 1}, version=2)
    assert seen == [0, 1]
    assert len(state.log) == 6


def test_poll_stops_after_max_changes(http: ModuleType) -> None:
    mock = Scripted(
        *[http.Response(200, headers={"ETag": f'"{i}"'}, content=b"x") for i in range(5)]
    )
    with http.Client(transport=mock) as client:
        got = list(poll(client, "http://h/x", 0, max_changes=2))
    assert len(got) == 2
    assert len(mock.seen) == 2


def test_poll_through_the_caching_transport_still_yields_only_changes(
    http: ModuleType, server: str, state: State
) -> None:
    state.docs["d"] = Doc({"n": 0})
    with http.Client(transport=CachingTransport(), base_url=server) as client:
        got = [r.json() for r in poll(client, "/docs/d", 0, max_requests=4)]
    assert got == [{"n": 0}]


# (status, headers, body) for each answer in turn.
Answer = tuple[int, dict[str, str], bytes]


@pytest.mark.parametrize(
    ("answers", "changes"),
    [
        pytest.param(
            [(200, {"ETag": '"a"'}, b"1")] * 3,
            1,
            id="server ignores If-None-Match: same ETag is no change",
        ),
        pytest.param(
            [(200, {}, b"same")] * 2 + [(200, {}, b"new")],
            2,
            id="no validators: an identical body is no change",
        ),
        pytest.param(
            [(200, {"Last-Modified": "Thu, 03 Dec 2026 10:00:00 GMT"}, b"1")] * 2
            + [(200, {"Last-Modified": "Thu, 03 Dec 2026 10:00:01 GMT"}, b"1")],
            2,
            id="no ETag: the same Last-Modified is no change, a new one is",
        ),
        pytest.param(
            [(200, {"ETag": "unquoted"}, b"same")] * 2 + [(200, {"ETag": "unquoted"}, b"new")],
            2,
            id="an unreadable ETag counts as none: the body decides",
        ),
        pytest.param(
            [
                (200, {"ETag": '"a"'}, b"1"),
                (503, {"Retry-After": "0"}, b""),
                (200, {"ETag": '"b"'}, b"2"),
            ],
            2,
            id="§10.2.3 a 503 with Retry-After is waited out",
        ),
    ],
)
def test_poll_change_detection(http: ModuleType, answers: list[Answer], changes: int) -> None:
    responses = [
        http.Response(status, headers=headers, content=body) for status, headers, body in answers
    ]
    with http.Client(transport=Scripted(*responses)) as client:
        got = list(poll(client, "http://h/x", 0, max_requests=len(responses)))
    assert len(got) == changes


def test_poll_raises_on_an_error_status(http: ModuleType) -> None:
    with (
        http.Client(transport=Scripted(http.Response(404))) as client,
        pytest.raises(http.HTTPStatusError),
    ):
        list(poll(client, "http://h/x", 0, max_requests=1))


def test_poll_timeout_bounds_the_loop(http: ModuleType) -> None:
    def handler(request: Any) -> Any:
        return http.Response(304)

    with http.Client(transport=http.MockTransport(handler)) as client:
        assert list(poll(client, "http://h/x", 0.01, timeout=0.05)) == []


def test_poll_yields_the_current_representation_first_when_the_cache_already_holds_it(
    http: ModuleType, server: str, state: State
) -> None:
    """Issue 14: after client.get(url) the first poll was revalidated (304) and yielded nothing."""
    state.docs["d"] = Doc({"n": 0})
    with http.Client(
        transport=CachingTransport(storage=MemoryStorage()), base_url=server
    ) as client:
        assert client.get("/docs/d").json() == {"n": 0}
        seen = []
        for response in poll(client, "/docs/d", 0, max_requests=4):
            seen.append(response.json())
            if len(seen) == 1:
                state.docs["d"] = Doc({"n": 1}, version=2)
    assert seen == [{"n": 0}, {"n": 1}]


@pytest.mark.asyncio
async def test_apoll_yields_the_current_representation_first_through_a_warm_cache(
    http: ModuleType, app: Starlette, state: State
) -> None:
    state.docs["d"] = Doc({"n": 0})
    transport = AsyncCachingTransport(http.ASGITransport(app), MemoryStorage())
    async with http.AsyncClient(transport=transport, base_url="http://test") as client:
        await client.get("/docs/d")
        seen = [r.json() async for r in apoll(client, "/docs/d", 0, max_requests=2)]
    assert seen == [{"n": 0}]
