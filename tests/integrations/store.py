"""The one resource every stack in the conformance table serves, kept in memory."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

from ifmatch import Resource, etag_for_version

#: The document GET /doc returns (about 1 KB of JSON), with no validator of its own.
DOC: dict[str, Any] = {"items": [{"id": n, "name": f"item {n}"} for n in range(30)]}
DOC_HEADERS = {"Cache-Control": "max-age=60", "Vary": "Accept"}
STREAM_CHUNKS = [bytes([65 + n % 26]) * 4096 for n in range(16)]  # 64 KiB, past the test limit
EVENTS = b"data: one\n\ndata: two\n\n"
BASE_TIME = datetime(2024, 1, 1, tzinfo=UTC)


class Store:
    """A versioned JSON document: strong ETag ``"v<N>"``, Last-Modified a minute per version."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        self.version = 1
        self.data: dict[str, Any] = {"title": "first"}
        self.exists = True

    @property
    def modified(self) -> datetime:
        return BASE_TIME + timedelta(minutes=self.version)

    def resource(self) -> Resource:
        if not self.exists:
            return Resource.missing()
        return Resource(etag_for_version(self.version), self.modified)

    def body(self) -> bytes:
        return json.dumps(self.data).encode()

    def put(self, body: bytes) -> None:
        self.data = json.loads(body or b"{}")
        self.version += 1
        self.exists = True

    def delete(self) -> None:
        self.exists = False
        self.version += 1


STORE = Store()


class Expensive:
    """Stands for the database read and serialization a precondition should spare."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> bytes:
        self.calls += 1
        return json.dumps({"report": STORE.data, "rows": list(range(100))}).encode()


EXPENSIVE = Expensive()
