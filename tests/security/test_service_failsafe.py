"""The reference service, end to end: hostile conditional fields and Range values.

Properties (the project guide's robustness standard, through the HTTP layer):
no 5xx; a write whose If-Match or If-Unmodified-Since cannot be read never
succeeds and leaves the stored resource as it was; a GET whose validators
cannot be read never gets a 304; a Range request never gets more bytes than
the whole representation.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ifmatch.service._middleware import MAX_FIELD_BYTES
from ifmatch.service.app import create_app
from ifmatch.service.settings import Settings
from tests.security.raw import (
    HOSTILE_PAIRS,
    HOSTILE_RANGES,
    HOSTILE_VALUES,
    Pairs,
    Reply,
    asgi_call,
    no_readable_validator,
    unreadable_if_range,
    unreadable_write_guard,
)

FILE = random.Random(3).randbytes(5000)
DOC = b'{"n":0}'
SMALL = b"0123456789"
LARGE = random.Random(4).randbytes(100_000)  # past the app's 64 KiB: streamed in spans
EXAMPLES = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


class Service:
    """The app on a fresh SQLite file, driven on one event loop."""

    def __init__(self, db: Path, **overrides: Any) -> None:
        self.app = create_app(
            Settings(db=f"sqlite:///{db}", pool_size=2, access_log=False, **overrides)
        )
        self.runner = asyncio.Runner()

    def __call__(
        self,
        method: str,
        path: str,
        headers: Pairs = (),  # type: ignore[assignment]
        body: bytes = b"",
    ) -> Reply:
        return self.runner.run(asgi_call(self.app, method, path, list(headers), body))

    def ensure(self) -> None:
        """Put the document and the file back if a legitimate write changed or removed them."""
        for path, content_type, body in [
            ("/api/c/d", b"application/json", DOC),
            ("/files/f.bin", b"application/octet-stream", FILE),
            ("/files/small", b"text/plain", SMALL),
            ("/files/large", b"application/octet-stream", LARGE),
        ]:
            current = self("GET", path)
            if current.status == 200 and current.body == body:
                continue
            guard = (b"if-match", (current.header("etag") or "").encode())
            if current.status == 404:
                guard = (b"if-none-match", b"*")
            reply = self("PUT", path, [(b"content-type", content_type), guard], body)
            assert reply.status in {200, 201, 204}, reply

    def close(self) -> None:
        self.runner.close()
        self.app.state.store.close()


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    running = Service(tmp_path_factory.mktemp("security") / "service.db")
    running.ensure()
    yield running
    running.close()


WRITES = [
    ("PUT", "/api/c/d", b"application/json", b'{"n":1}'),
    ("PATCH", "/api/c/d", b"application/merge-patch+json", b'{"n":2}'),
    (
        "PATCH",
        "/api/c/d",
        b"application/json-patch+json",
        b'[{"op":"replace","path":"/n","value":3}]',
    ),
    ("DELETE", "/api/c/d", b"application/json", b""),
    ("PUT", "/files/f.bin", b"application/octet-stream", b"replaced"),
    ("DELETE", "/files/f.bin", b"application/octet-stream", b""),
]


@EXAMPLES
@given(
    write=st.sampled_from(WRITES),
    if_match=HOSTILE_VALUES,
    extra=HOSTILE_PAIRS,
    field=st.sampled_from([b"if-match", b"if-unmodified-since", b"if-none-match"]),
)
def test_unreadable_write_guard_never_writes(
    service: Service,
    write: tuple[str, str, bytes, bytes],
    if_match: bytes,
    extra: Pairs,
    field: bytes,
) -> None:
    method, path, content_type, body = write
    service.ensure()
    before = service("GET", path)
    pairs = [(field, if_match), *extra]
    reply = service(method, path, [(b"content-type", content_type), *pairs], body)
    assert reply.status < 500, reply
    if unreadable_write_guard(pairs):
        assert not 200 <= reply.status < 300, (pairs, reply)
        after = service("GET", path)
        assert (after.status, after.header("etag"), after.body) == (
            before.status,
            before.header("etag"),
            before.body,
        ), "a refused write changed the stored resource"


@EXAMPLES
@given(
    path=st.sampled_from(["/api/c/d", "/api/c", "/files/f.bin"]),
    pairs=HOSTILE_PAIRS,
    method=st.sampled_from(["GET", "HEAD"]),
)
def test_unreadable_validators_never_304(
    service: Service, path: str, pairs: Pairs, method: str
) -> None:
    service.ensure()
    reply = service(method, path, pairs)
    assert reply.status < 500, reply
    if no_readable_validator(pairs):
        assert reply.status != 304, (pairs, reply)


@EXAMPLES
@given(
    range_value=HOSTILE_RANGES,
    if_range=st.none() | st.sampled_from([b"", b'"x"']) | HOSTILE_VALUES,
    repeat=st.booleans(),
    file=st.sampled_from(
        [("/files/f.bin", FILE), ("/files/small", SMALL), ("/files/large", LARGE)]
    ),
)
def test_range_never_amplifies(
    service: Service,
    range_value: bytes,
    if_range: bytes | None,
    repeat: bool,
    file: tuple[str, bytes],
) -> None:
    service.ensure()
    path, content = file
    full = service("GET", path)
    assert full.status == 200
    assert full.body == content
    pairs = [(b"range", range_value)] + ([(b"range", range_value)] if repeat else [])
    if if_range is not None:
        pairs.append((b"if-range", if_range))
    reply = service("GET", path, pairs)
    if any(len(name) + len(value) + 2 > MAX_FIELD_BYTES for name, value in pairs):
        assert reply.status == 431, reply  # RFC 6585 §5: the field is over the service's cap
        return
    assert reply.status in {200, 206, 416}, reply
    if unreadable_if_range(pairs):
        assert reply.status == 200, "an unreadable If-Range never lets a Range through"
    assert reply.header("content-length") == str(len(reply.body))
    if reply.status == 416:
        assert len(reply.body) < 512
        assert range_value not in reply.body
    else:
        assert len(reply.body) <= len(full.body), (range_value[:80], len(reply.body))


def test_range_examples_sanity(service: Service) -> None:
    """The properties above are not vacuous: 206, multipart, 416, 412 and writes do occur."""
    service.ensure()
    one = service("GET", "/files/f.bin", [(b"range", b"bytes=0-9")])
    assert (one.status, one.body) == (206, FILE[:10])
    two = service("GET", "/files/f.bin", [(b"range", b"bytes=0-9,100-109")])
    assert two.status == 206
    assert FILE[100:110] in two.body
    assert service("GET", "/files/f.bin", [(b"range", b"bytes=9000-")]).status == 416
    killer = b"bytes=0-," + b",".join(b"5-%d" % i for i in range(1300))
    whole = service("GET", "/files/f.bin", [(b"range", killer)])
    assert (whole.status, whole.body) == (200, FILE)
    current = service("GET", "/api/c/d").header("etag")
    assert current is not None
    torn = service(
        "PUT",
        "/api/c/d",
        [(b"content-type", b"application/json"), (b"if-match", current[:-1].encode())],
        b'{"n":9}',
    )
    assert torn.status == 412, "an unterminated tag is unreadable: refused"
    done = service(
        "PUT",
        "/api/c/d",
        [(b"content-type", b"application/json"), (b"if-match", current.encode())],
        DOC,
    )
    assert done.status == 200, "the write path works when the guard is readable"
    assert json.loads(service("GET", "/api/c/d").body) == {"n": 0}
