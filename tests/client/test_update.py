"""Optimistic updates: If-Match writes, re-apply on 412, 428, create-only, conditional delete."""

from __future__ import annotations

import asyncio
import random
import threading
from types import ModuleType
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from starlette.applications import Starlette

from ifmatch.client import (
    AlreadyExistsError,
    Backoff,
    CachingTransport,
    ConflictError,
    MissingValidatorError,
    PreconditionRequiredError,
    acreate,
    adelete,
    apply_merge_patch,
    aupdate,
    create,
    delete,
    merge_patch,
    update,
)
from tests.client.app import Doc, State

FAST = Backoff(base=0.001, cap=0.01, rng=random.Random(7))


def asgi_client(http: ModuleType, app: Starlette) -> Any:
    return http.AsyncClient(transport=http.ASGITransport(app), base_url="http://test")


def add_key(key: str, barrier: threading.Barrier | None = None) -> Any:
    calls = 0

    def change(document: dict[str, Any]) -> dict[str, Any]:
        nonlocal calls
        calls += 1
        if barrier is not None and calls == 1:
            barrier.wait(timeout=10)  # both clients have now read the same version
        return {**document, key: True}

    return change


@pytest.mark.parametrize("patch", [False, True], ids=["PUT", "PATCH merge-patch"])
def test_race_between_two_threads_applies_both_changes(
    http: ModuleType, server: str, state: State, patch: bool
) -> None:
    """Two clients read v1 at the same time and each add a key: both keys end up stored."""
    state.docs["d"] = Doc({"start": True})
    barrier = threading.Barrier(2)
    results: dict[str, Any] = {}

    def run(key: str) -> None:
        with http.Client(base_url=server) as client:
            results[key] = update(
                client, "/docs/d", add_key(key, barrier), patch=patch, backoff=FAST
            )

    threads = [threading.Thread(target=run, args=(key,)) for key in ("alice", "bob")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert state.docs["d"].body == {"start": True, "alice": True, "bob": True}
    assert state.docs["d"].version == 3
    assert sorted(result.attempts for result in results.values()) == [1, 2]
    writes = [headers for method, _, headers in state.log if method != "GET"]
    assert [headers["if-match"] for headers in writes] == ['"v1"', '"v1"', '"v2"']


@pytest.mark.asyncio
async def test_async_race_applies_both_changes(
    http: ModuleType, app: Starlette, state: State
) -> None:
    state.docs["d"] = Doc({})
    barrier = asyncio.Barrier(2)

    def change_for(key: str) -> Any:
        calls = 0

        async def change(document: dict[str, Any]) -> dict[str, Any]:
            nonlocal calls
            calls += 1
            if calls == 1:
                await asyncio.wait_for(barrier.wait(), 10)
            return {**document, key: 1}

        return change

    async with asgi_client(http, app) as client:
        first, second = await asyncio.gather(
            aupdate(client, "/docs/d", change_for("a"), backoff=FAST),
            aupdate(client, "/docs/d", change_for("b"), backoff=FAST),
        )
    assert state.docs["d"].body == {"a": 1, "b": 1}
    assert sorted((first.attempts, second.attempts)) == [1, 2]


def test_update_through_the_caching_transport_sees_the_other_write(
    http: ModuleType, server: str, state: State
) -> None:
    """The re-read after a 412 must not be a stale cached copy."""
    state.docs["d"] = Doc({"n": 0})
    with http.Client(transport=CachingTransport(), base_url=server) as client:
        client.get("/docs/d")

        def change(document: dict[str, int]) -> dict[str, int]:
            if document["n"] == 0 and state.docs["d"].version == 1:
                state.docs["d"] = Doc({"n": 100}, version=2)  # another writer sneaks in
            return {"n": document["n"] + 1}

        result = update(client, "/docs/d", change, backoff=FAST)
    assert state.docs["d"].body == {"n": 101}
    assert result.attempts == 2


@pytest.mark.asyncio
async def test_conflict_error_carries_both_versions_when_retries_run_out(
    http: ModuleType, app: Starlette, state: State
) -> None:
    state.docs["d"] = Doc({"owner": "nobody"})

    def hostile(document: dict[str, Any]) -> dict[str, Any]:
        current = state.docs["d"]
        state.docs["d"] = Doc({"owner": "them"}, version=current.version + 1)
        return {**document, "owner": "me"}

    async with asgi_client(http, app) as client:
        with pytest.raises(ConflictError) as caught:
            await aupdate(client, "/docs/d", hostile, retries=2, backoff=FAST)
    error = caught.value
    assert error.attempts == 3
    assert error.attempted == {"owner": "me"}
    assert error.current is not None
    assert error.current.document == {"owner": "them"}
    assert error.current.etag == '"v4"'
    assert "412" in str(error)


def test_428_from_a_write_is_raised_clearly(http: ModuleType) -> None:
    def handler(request: Any) -> Any:
        if request.method == "GET":
            return http.Response(200, headers={"ETag": '"v1"'}, json={})
        return http.Response(428, json={"detail": "send If-Match"})

    with (
        http.Client(transport=http.MockTransport(handler)) as client,
        pytest.raises(PreconditionRequiredError, match=r"requires a precondition.*send If-Match"),
    ):
        update(client, "http://h/x", lambda d: {**d, "a": 1})


@pytest.mark.asyncio
async def test_428_from_a_write_is_raised_clearly_async(http: ModuleType) -> None:
    def handler(request: Any) -> Any:
        if request.method == "GET":
            return http.Response(200, headers={"ETag": '"v1"'}, json={})
        return http.Response(428)

    async with http.AsyncClient(transport=http.MockTransport(handler)) as client:
        with pytest.raises(PreconditionRequiredError, match=r"PATCH http://h/x.*428"):
            await aupdate(client, "http://h/x", lambda d: {**d, "a": 1}, patch=True)


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        pytest.param({}, "no ETag", id="no validator at all"),
        pytest.param({"ETag": 'W/"v1"'}, "weak ETag", id="§13.1.1 If-Match compares strongly"),
        pytest.param({"ETag": "v1"}, "malformed ETag", id="§8.8.3 unquoted"),
        pytest.param(
            {"Last-Modified": "Sun, 06 Nov 1994 08:49:37 GMT"},
            "use_last_modified=True",
            id="Last-Modified only: suggests the opt-in",
        ),
    ],
)
def test_missing_validator_is_a_clear_error(
    http: ModuleType, headers: dict[str, str], message: str
) -> None:
    transport = http.MockTransport(lambda request: http.Response(200, headers=headers, json={}))
    with (
        http.Client(transport=transport) as client,
        pytest.raises(MissingValidatorError, match=message),
    ):
        update(client, "http://h/x", lambda d: {**d, "a": 1})


def test_last_modified_opt_in_sends_if_unmodified_since(http: ModuleType) -> None:
    seen: list[httpx.Request] = []
    modified = "Sun, 06 Nov 1994 08:49:37 GMT"

    def handler(request: Any) -> Any:
        seen.append(request)
        return http.Response(200, headers={"Last-Modified": modified}, json={})

    with http.Client(transport=http.MockTransport(handler)) as client:
        update(client, "http://h/x", lambda d: {"a": 1}, use_last_modified=True)
    assert seen[1].headers["if-unmodified-since"] == modified
    assert "if-match" not in seen[1].headers


@pytest.mark.asyncio
async def test_unchanged_document_is_not_written(
    http: ModuleType, app: Starlette, state: State
) -> None:
    state.docs["d"] = Doc({"a": 1})
    async with asgi_client(http, app) as client:
        result = await aupdate(client, "/docs/d", lambda d: d)
    assert not result.changed
    assert result.attempts == 0
    assert [method for method, _, _ in state.log] == ["GET"]


def test_patch_sends_a_merge_patch(http: ModuleType, server: str, state: State) -> None:
    state.docs["d"] = Doc({"keep": 1, "drop": 2, "nested": {"x": 1, "y": 2}})
    with http.Client(base_url=server) as client:
        result = update(
            client, "/docs/d", lambda d: {"keep": 1, "nested": {"x": 1, "y": 3}}, patch=True
        )
    assert result.etag == '"v2"'
    assert state.docs["d"].body == {"keep": 1, "nested": {"x": 1, "y": 3}}
    method, _, headers = state.log[-1]
    assert method == "PATCH"
    assert headers["content-type"] == "application/merge-patch+json"


def test_merge_patch_refuses_to_set_null() -> None:
    with pytest.raises(ValueError, match="null"):
        merge_patch({"a": 1}, {"a": None})


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=3), children, max_size=3)
    ),
    max_leaves=10,
)
_null_free = st.recursive(
    st.booleans() | st.integers() | st.text(max_size=5),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=3), children, max_size=3)
    ),
    max_leaves=10,
)


@given(
    old=st.dictionaries(st.text(max_size=3), _json, max_size=4),
    new=st.dictionaries(st.text(max_size=3), _null_free, max_size=4),
)
def test_merge_patch_round_trips(old: dict[str, Any], new: dict[str, Any]) -> None:
    """RFC 7396 §2: applying the computed patch to the old document gives the new one."""
    assert apply_merge_patch(old, merge_patch(old, new)) == new


@pytest.mark.asyncio
async def test_create_only_when_absent(http: ModuleType, app: Starlette, state: State) -> None:
    async with asgi_client(http, app) as client:
        created = await acreate(client, "/docs/new", {"first": True})
        with pytest.raises(AlreadyExistsError) as caught:
            await acreate(client, "/docs/new", {"second": True})
    assert created.etag == '"v1"'
    assert state.docs["new"].body == {"first": True}
    assert caught.value.current is not None
    assert caught.value.current.document == {"first": True}
    assert state.log[0][2]["if-none-match"] == "*"


def test_create_sync(http: ModuleType, server: str, state: State) -> None:
    with http.Client(base_url=server) as client:
        create(client, "/docs/n", [1, 2])
        with pytest.raises(AlreadyExistsError, match="already exists"):
            create(client, "/docs/n", [3])
    assert state.docs["n"].body == [1, 2]


@pytest.mark.asyncio
async def test_conditional_delete(http: ModuleType, app: Starlette, state: State) -> None:
    state.docs["d"] = Doc({"a": 1}, version=3)
    async with asgi_client(http, app) as client:
        with pytest.raises(ConflictError) as caught:
            await adelete(client, "/docs/d", '"v2"')
        assert "d" in state.docs
        assert caught.value.current is not None
        assert caught.value.current.etag == '"v3"'
        response = await adelete(client, "/docs/d", '"v3"')
    assert response.status_code == 204
    assert "d" not in state.docs


def test_delete_without_etag_reads_it_first(http: ModuleType, server: str, state: State) -> None:
    state.docs["d"] = Doc({"a": 1}, version=5)
    with http.Client(base_url=server) as client:
        delete(client, "/docs/d")
    assert "d" not in state.docs
    assert state.log[-1][2]["if-match"] == '"v5"'


def test_404_is_an_http_status_error(http: ModuleType, server: str) -> None:
    with http.Client(base_url=server) as client, pytest.raises(http.HTTPStatusError):
        update(client, "/docs/missing", lambda d: d)
