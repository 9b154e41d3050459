"""Group commit: writes made in one transaction behave exactly as if made one by one."""

from __future__ import annotations

import asyncio
import json
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

from ifmatch import Conditions, Outcome
from ifmatch.service.app import create_app
from ifmatch.service.settings import Settings
from ifmatch.service.sqlite import SQLiteStore
from ifmatch.service.store import Content, Current, WriteRequest, WriteResult

JSON = "application/json"


def _put(name: str, data: bytes, **conditions: str) -> WriteRequest:
    content = Content.of(data, JSON)
    return WriteRequest("PUT", "doc:g", name, Conditions(**conditions), lambda _: content, False)


def _broken(current: Current | None) -> Content:
    raise ValueError("this write fails while it is made")


def test_a_batch_is_its_writes_one_after_the_other(tmp_path: Path) -> None:
    store = SQLiteStore(str(tmp_path / "g.db"))
    try:
        first = store.write(_put("a", b"{}"))
        assert first.after is not None
        tag = str(first.after.etag)
        results = store.try_write_many(
            [
                _put("a", b"[1]", if_match=tag),  # passes
                _put("a", b"[2]", if_match=tag),  # §13.1.1: the first changed it: 412
                WriteRequest("PUT", "doc:g", "c", Conditions(), _broken, False),
                _put("b", b"[3]", if_none_match="*"),  # creates
            ]
        )
        assert results is not None
        replaced, refused, failed, created = results
        assert isinstance(replaced, WriteResult)
        assert replaced.after is not None
        assert isinstance(refused, WriteResult)
        assert refused.decision.outcome is Outcome.PRECONDITION_FAILED
        assert refused.before == replaced.after  # checked against the first one's result
        assert isinstance(failed, ValueError)
        assert isinstance(created, WriteResult)
        assert created.created
        assert created.after is not None
        # Each passed write bumped the counter once; the failed one left nothing.
        assert created.after.version == replaced.after.version + 1
        assert store.get("doc:g", "c") is None
        found = store.get("doc:g", "a")
        assert found is not None
        assert found[1] == b"[1]"
        listing = store.listing("doc:g")
        assert listing.scope.counter == created.after.version
    finally:
        store.close()


def test_concurrent_puts_with_one_if_match_let_exactly_one_through(tmp_path: Path) -> None:
    app = create_app(Settings(db=f"sqlite:///{tmp_path / 'race.db'}", access_log=False))

    async def call(method: str, headers: list[tuple[bytes, bytes]], body: bytes) -> Any:
        scope = {
            "type": "http",
            "method": method,
            "path": "/api/g/race",
            "raw_path": b"/api/g/race",
            "query_string": b"",
            "root_path": "",
            "headers": [(b"content-type", JSON.encode()), *headers],
            "http_version": "1.1",
            "scheme": "http",
            "server": ("127.0.0.1", 80),
            "client": ("127.0.0.1", 1),
            "asgi": {"version": "3.0"},
        }
        sent: list[dict[str, Any]] = []
        messages = [{"type": "http.request", "body": body, "more_body": False}]

        async def receive() -> MutableMapping[str, Any]:
            if messages:
                return messages.pop(0)
            await asyncio.sleep(3600)
            return {"type": "http.disconnect"}

        async def send(message: MutableMapping[str, Any]) -> None:
            sent.append(dict(message))

        await app(scope, receive, send)
        return sent[0]["status"], dict(sent[0]["headers"])

    async def race() -> tuple[list[int], int]:
        status, headers = await call("PUT", [], b'{"n": 0}')
        assert status == 201
        tag = headers[b"etag"]
        before = app.fast.answered
        replies = await asyncio.gather(
            *(call("PUT", [(b"if-match", tag)], json.dumps({"n": n}).encode()) for n in range(16))
        )
        return [status for status, _ in replies], app.fast.answered - before

    statuses, answered = asyncio.run(race())
    assert sorted(statuses) == [200] + [412] * 15
    assert answered >= 1  # the winner was written by the fast path's group commit
