"""A storage that fails (Redis unreachable) never fails the request: the cache acts as a miss."""

from __future__ import annotations

import asyncio
import logging
import socket

import httpx
import pytest

from ifmatch.client import AsyncCachingTransport, CachingTransport, RedisStorage, cache_status


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port  # nothing listens there any more


def _origin() -> httpx.MockTransport:
    return httpx.MockTransport(
        lambda request: httpx.Response(
            200, headers={"Cache-Control": "max-age=60", "ETag": '"a"'}, content=b"body"
        )
    )


def test_sync_transport_answers_from_the_origin_when_redis_is_down(
    caplog: pytest.LogCaptureFixture,
) -> None:
    storage = RedisStorage(f"redis://127.0.0.1:{_closed_port()}/0")
    caplog.set_level(logging.WARNING, "ifmatch.client.cache")
    with httpx.Client(transport=CachingTransport(_origin(), storage)) as client:
        for _ in range(2):
            response = client.get("http://h/x")
            assert response.content == b"body"
            assert cache_status(response) == "miss; stored"
    assert "lookup failed" in caplog.text
    assert "could not store" in caplog.text


def test_async_transport_answers_from_the_origin_when_redis_is_down(
    caplog: pytest.LogCaptureFixture,
) -> None:
    storage = RedisStorage(f"redis://127.0.0.1:{_closed_port()}/0")
    caplog.set_level(logging.WARNING, "ifmatch.client.cache")

    async def scenario() -> None:
        transport = AsyncCachingTransport(_origin(), storage)
        async with httpx.AsyncClient(transport=transport) as client:
            for _ in range(2):
                response = await client.get("http://h/x")
                assert response.content == b"body"

    asyncio.run(scenario())
    assert "lookup failed" in caplog.text
    assert "could not store" in caplog.text
